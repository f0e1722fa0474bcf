//! Watch: the 24-hour watch of a deployment, RB-003 §7.2's four checks ([`handler`]).

mod handler;
mod ports;

use bbws_aws::{Aws, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let app = handler::App {
        settings: Settings::from_env(),
        account: ports::AwsAccount::new(aws),
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
