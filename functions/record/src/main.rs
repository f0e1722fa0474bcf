//! Record: the promotion lock, the deployment record and the notifications ([`handler`]).

mod handler;
mod manual;
mod outcome;
mod release;

use bbws_aws::{Aws, Clients, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = handler::App {
        clients: Clients::new(&Aws::load().await),
        settings: Settings::from_env(),
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
