//! Approval: the promotion's task-token wait (RB-003 §2.2, §4.2), answered by signed email links
//! ([`handler`]; the function URL's face in [`http`]).

mod deliver;
mod handler;
mod http;
mod pages;
mod ports;
mod release;
mod tenant;

use bbws_aws::{Aws, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let app = handler::App::new(
        ports::AwsStore(aws.dynamodb(), bbws_aws::objects::Objects::new(&aws)),
        ports::AwsCallbacks(aws.sfn()),
        ports::AwsMail(aws.sns()),
        ports::AwsParameters(aws.ssm()),
        Settings::from_env(),
    );
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
