//! Tenant: the steps of `bbws-tenant-<env>` that are not builds, approvals or records
//! ([`handler`]).

mod handler;
mod ports;

use bbws_aws::Aws;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    let settings = Ok(bbws_aws::runtime::settings(&aws).await?);
    // PROD reads SIT's tenant records through SIT's reader role; DEV and SIT have no source.
    let sit = match &settings {
        Ok(s) if s.env == bbws_domain::env::Env::Prod => Some(
            aws.source_account(&settings, "bbws-tenant")
                .await
                .map(|a| ports::AwsRecords::new(&a)),
        ),
        _ => None,
    };
    let app = handler::App {
        here: ports::AwsRecords::new(&aws),
        sit,
        plans: ports::AwsPlans(bbws_aws::objects::Objects::new(&aws)),
        services: ports::AwsServices(bbws_aws::ecs::Ecs::new(&aws)),
        settings,
    };
    bbws_aws::runtime::serve(|event| app.handle(event)).await
}
