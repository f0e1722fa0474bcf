//! Backup alias (RB-003 §6.3.2): `backup-YYYYMMDD-HHMMSS` (UTC, the execution's start) on the version behind
//! `latest-<target>` of every function of the service, in every target region, described with the
//! execution ARN, so a rollback has a named version to return to.

use bbws_aws::functions::{alias_version, put_alias};
use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::{Aws, BbwsError};
use bbws_domain::naming::backup_alias;
use bbws_domain::{ErrorName, PromotionPlan};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::info;

#[derive(Deserialize)]
struct Event {
    promotion: PromotionPlan,
}

/// The version a function ran before the deploy, now also named by the backup alias.
#[derive(Debug, Serialize)]
struct Backed {
    region: String,
    function: String,
    version: String,
}

async fn handle(aws: &Aws, event: Value) -> Result<Value, BbwsError> {
    let plan = parse::<Event>("the backup event", event)?.promotion;
    // Named after the execution's start, not the moment of this attempt: a retried step (the answer of
    // the first attempt lost) finds and keeps its own alias instead of making a second one.
    let alias = backup_alias(plan.started_at);
    let description = format!("Backup before {}", plan.execution_arn);
    let mut backed = Vec::new();
    for region in &plan.target_regions {
        let lambda = aws.lambda(Some(region));
        for pair in &plan.functions {
            let version = alias_version(&lambda, &pair.target, &plan.target_alias)
                .await?
                .ok_or_else(|| {
                    BbwsError::new(
                        ErrorName::DeployFailed,
                        format!(
                            "{} in {region} has no alias {}: nothing to back up, nothing to roll back to",
                            pair.target, plan.target_alias
                        ),
                    )
                })?;
            put_alias(&lambda, &pair.target, &alias, &version, &description).await?;
            info!(event = "backup", region = %region, function = %pair.target, version = %version,
                  alias = %alias, "{}:{alias} -> version {version} in {region}", pair.target);
            backed.push(Backed {
                region: region.clone(),
                function: pair.target.clone(),
                version,
            });
        }
    }
    to_value(&serde_json::json!({"alias": alias, "functions": backed}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let aws = Aws::load().await;
    serve(|event| handle(&aws, event)).await
}
