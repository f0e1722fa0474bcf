//! Deploy: copy each package from the source account, publish it in every target region, prove
//! its CodeSha256, move `latest-<target>`: all functions or none ([`handler`]).

mod handler;
mod ports;

use bbws_aws::{Aws, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Settings::from_env();
    let source = aws.source_account(&settings, "bbws-promotion-deploy").await;
    let app = handler::App {
        source: source.map(|s| ports::AwsSource::new(&s)),
        target: ports::AwsTarget::new(&aws),
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
