//! Preflight: the request validated into the promotion plan, the source checked (readiness,
//! stability, quality gates), the maintenance window ([`handler`]).

mod handler;
mod ports;

use bbws_aws::{Aws, LambdaClients};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Ok(bbws_aws::runtime::settings(&aws).await?);
    let source = aws
        .source_account(&settings, "bbws-promotion-preflight")
        .await;
    let source = source.map(|s| ports::AwsSource::new(&s));
    let target = ports::AwsTarget(LambdaClients::new(&aws));
    let app = handler::App {
        settings,
        source,
        target,
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
