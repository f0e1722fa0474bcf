//! Monitor: health right after the deploy, then the post-deploy watch of RB-003 §6.3.1
//! ([`handler`]).

mod handler;
mod ports;

use bbws_aws::{Aws, LambdaClients};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Ok(bbws_aws::runtime::settings(&aws).await?);
    let target = ports::AwsTarget {
        lambda: LambdaClients::new(&aws),
        cloudwatch: aws.cloudwatch(),
        aws,
    };
    let app = handler::App { settings, target };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
