//! Rollback (RB-003 §6.3.2): a promotion's rollback to its backup ([`promotion`]), and the manual
//! rollback's steps, `bbws-rollback-<env>` ([`manual`]).

mod manual;
mod ports;
mod promotion;

use bbws_aws::Aws;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Ok(bbws_aws::runtime::settings(&aws).await?);
    let app = manual::App {
        functions: ports::AwsFunctions::new(&aws),
        records: ports::AwsRecords(aws.dynamodb()),
        settings,
    };
    bbws_aws::runtime::serve(|event| promotion::handle(&app, event)).await
}
