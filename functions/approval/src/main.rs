//! Approval: the promotion's task-token wait (RB-003 §2.2, §4.2), answered by signed email links
//! ([`handler`]; the function URL's face in [`http`]).

mod deliver;
mod handler;
mod http;
mod pages;
mod release;

use bbws_aws::{Aws, Clients, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = handler::App::new(Clients::new(&Aws::load().await), Settings::from_env());
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
