//! Watch: the 24-hour watch of a deployment, RB-003 §7.2's four checks ([`handler`]).

mod handler;
mod ports;

use bbws_aws::Aws;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Ok(bbws_aws::runtime::settings(&aws).await?);
    let app = handler::App {
        settings,
        account: ports::AwsAccount::new(aws),
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
