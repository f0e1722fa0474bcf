//! Record: the promotion lock, the deployment record and the notifications ([`handler`]).

mod evidence;
mod handler;
mod manual;
mod outcome;
mod ports;
mod release;
mod tenant;

use bbws_aws::objects::Objects;
use bbws_aws::{Aws, LambdaClients};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Ok(bbws_aws::runtime::settings(&aws).await?);
    let (dynamodb, sfn) = (aws.dynamodb(), aws.sfn());
    let app = handler::App {
        store: ports::AwsStore(dynamodb.clone()),
        executions: ports::AwsExecutions(sfn.clone()),
        topic: ports::AwsTopic(aws.sns()),
        functions: ports::AwsFunctions(LambdaClients::new(&aws)),
        evidence: ports::AwsEvidence {
            sfn,
            dynamodb,
            objects: Objects::new(&aws),
            ssm: aws.ssm(),
            approval_url_param: std::env::var("BBWS_APPROVAL_URL_PARAM").ok(),
        },
        settings,
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
