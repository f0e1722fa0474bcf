//! Record: the promotion lock, the deployment record and the notifications ([`handler`]).

mod handler;
mod manual;
mod outcome;
mod ports;
mod release;

use bbws_aws::{Aws, LambdaClients, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let app = handler::App {
        store: ports::AwsStore(aws.dynamodb()),
        executions: ports::AwsExecutions(aws.sfn()),
        topic: ports::AwsTopic(aws.sns()),
        functions: ports::AwsFunctions(LambdaClients::new(&aws)),
        settings: Settings::from_env(),
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
