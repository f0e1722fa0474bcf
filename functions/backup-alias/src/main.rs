//! Backup alias (RB-003 §6.3.2): `backup-<UTC time>` on what `latest-<target>` serves now, in
//! every target region ([`handler`]).

mod handler;
mod ports;

use bbws_aws::{Aws, LambdaClients};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aliases = ports::AwsAliases(LambdaClients::new(&Aws::load().await));
    bbws_aws::runtime::serve(|event| handler::handle(&aliases, event)).await
}
