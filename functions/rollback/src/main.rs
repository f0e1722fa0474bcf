//! Rollback (RB-003 §6.3.2 steps 4-6): an `incident-YYYYMMDD-HHMMSS` alias on the bad version,
//! `latest-<target>` back to the backup version for every function in every region, health verified.
//!
//! Two callers:
//! - the promotion (no `op`): back to the backup alias the promotion took, after a failed check;
//! - the manual rollback, `bbws-rollback-<env>` (RB-003 §6.2.1, §6.3.2, §6.4):
//!   `plan` validates the request, `resolve` chooses the version of every function in every region
//!   (a named backup, the newest backup, or a version number that was live), `manual` moves the
//!   aliases and verifies health; a move that fails puts the ones already moved back.

mod manual;

use std::time::Duration;

use bbws_aws::functions::{
    alias_version, health, http_client, put_alias, restore_latest, HttpClient, LatestRestored,
};
use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::{Aws, BbwsError};
use bbws_domain::naming::incident_alias;
use bbws_domain::{ErrorName, PromotionPlan};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

#[derive(Deserialize)]
struct Event {
    promotion: PromotionPlan,
    backup: Backup,
    #[serde(default)]
    monitor: Value,
    #[serde(default)]
    verify: Value,
}

#[derive(Deserialize)]
struct Backup {
    alias: String,
    functions: Vec<BackedUp>,
}

#[derive(Deserialize)]
struct BackedUp {
    region: String,
    function: String,
    version: String,
}

async fn handle(app: &manual::App, event: Value) -> Result<Value, BbwsError> {
    if event.get("op").is_some() {
        return app.handle(event).await;
    }
    back_to_backup(&app.aws, event).await
}

/// A promotion's rollback: back to the backup alias the promotion took.
pub(crate) async fn back_to_backup(aws: &Aws, event: Value) -> Result<Value, BbwsError> {
    let event = parse::<Event>("the rollback event", event)?;
    let plan = &event.promotion;
    let reason = event.monitor["reason"]
        .as_str()
        .or_else(|| event.verify["reason"].as_str())
        .map(readable)
        .unwrap_or_else(|| "rollback requested".to_owned());
    // Named after the execution's start: a retried rollback keeps the one incident alias it made.
    let incident = incident_alias(plan.started_at);
    info!(event = "rollback_start", service = %plan.service, target = %plan.target_env,
          functions = event.backup.functions.len(), incident = %incident, reason = %reason,
          "rolling {} back in {} to {}: {reason}", plan.service, plan.target_env, event.backup.alias);
    let mut restored = Vec::new();
    let mut unhealthy = Vec::new();
    let http = http_client();
    for b in &event.backup.functions {
        let lambda = aws.lambda(Some(&b.region));
        let current = alias_version(&lambda, &b.function, &plan.target_alias)
            .await?
            .unwrap_or_default();
        // The version that failed keeps a name (RB-003 §6.3.2 step 4), unless nothing moved.
        let kept = !current.is_empty() && current != b.version;
        if kept {
            put_alias(
                &lambda,
                &b.function,
                &incident,
                &current,
                &format!("Incident backup before rollback by {}", plan.execution_arn),
            )
            .await?;
        }
        put_alias(
            &lambda,
            &b.function,
            &plan.target_alias,
            &b.version,
            &format!("Rollback from {incident} by {}", plan.execution_arn),
        )
        .await?;
        let latest = latest_back_on(aws, &http, &b.region, &b.function, &b.version).await;
        let h = health(&lambda, &b.function, &plan.target_alias).await?;
        if h.status != 200 {
            warn!(event = "rollback_unhealthy", function = %b.function, region = %b.region, status = h.status,
                  "{}:{} version {} in {} answers {}", b.function, plan.target_alias, b.version, b.region, h.detail);
            unhealthy.push(format!(
                "{} version {} in {}: {}",
                b.function, b.version, b.region, h.detail
            ));
        }
        info!(event = "rolled_back", function = %b.function, region = %b.region, from = %current, to = %b.version,
              health = h.status, "{}:{} {current} -> {} in {}", b.function, plan.target_alias, b.version, b.region);
        restored.push(json!({"region": b.region, "function": b.function, "from_version": current,
                             "to_version": b.version,
                             "incident_alias": if kept { Value::String(incident.clone()) } else { Value::Null },
                             "health": h.status, "latest": latest}));
    }
    if !unhealthy.is_empty() {
        return Err(BbwsError::new(
            ErrorName::DeployFailed,
            format!(
                "{} was rolled back ({reason}), {} is back on the versions of {}, but they are \
                 still unhealthy: {}; escalate to the on-call engineer (RB-003 §6.1)",
                plan.service,
                plan.target_alias,
                event.backup.alias,
                unhealthy.join("; ")
            ),
        ));
    }
    to_value(
        &json!({"reason": reason, "incident_alias": incident, "backup_alias": event.backup.alias, "functions": restored}),
    )
}

/// How long an upload of `$LATEST` may take to become Successful.
const LATEST_WAIT: Duration = Duration::from_secs(20);

/// Puts the package of `version` (the one the alias is back on) into the unqualified function
/// (`$LATEST`), so an invoke without a qualifier answers as the rolled-back version does. What it
/// did, or why it could not: a `$LATEST` left on another package does not undo the rollback of
/// the alias that serves traffic, so it is reported (in the step's output and log), not raised.
pub(crate) async fn latest_back_on(
    aws: &Aws,
    http: &HttpClient,
    region: &str,
    function: &str,
    version: &str,
) -> Value {
    let lambda = aws.lambda(Some(region));
    match restore_latest(&lambda, http, function, version, LATEST_WAIT).await {
        Ok(done) => {
            log_latest(region, &done);
            serde_json::to_value(&done).unwrap_or(Value::Null)
        }
        Err(e) => {
            warn!(event = "latest_not_restored", function = %function, region = %region, version = %version,
                  error = %e.message, "{function} $LATEST in {region} could not get version {version}'s package: {}",
                  e.message);
            json!({"function": function, "version": version, "error": e.message})
        }
    }
}

fn log_latest(region: &str, done: &LatestRestored) {
    info!(event = "latest_restored", function = %done.function, region = %region, version = %done.version,
          action = ?done.action, code_sha256 = %done.code_sha256, previous_code_sha256 = %done.previous_code_sha256,
          "{} $LATEST in {region}: {:?} (version {}, CodeSha256 {})", done.function, done.action,
          done.version, done.code_sha256);
}

/// A caught Lambda error arrives as its JSON error document; people read its errorMessage.
fn readable(reason: &str) -> String {
    serde_json::from_str::<Value>(reason)
        .ok()
        .and_then(|v| {
            let kind = v["errorType"].as_str().unwrap_or("error");
            v["errorMessage"]
                .as_str()
                .map(|m| format!("the post-deploy check could not run ({kind}): {m}"))
        })
        .unwrap_or_else(|| reason.to_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = manual::App {
        aws: Aws::load().await,
        settings: bbws_aws::Settings::from_env(),
    };
    serve(|event| handle(&app, event)).await
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn a_caught_error_document_reads_as_its_message() {
        let doc = r#"{"errorType":"Bbws.AwsUnavailable","errorMessage":"Invoke x:latest-sit: timed out"}"#;
        assert_eq!(
            readable(doc),
            "the post-deploy check could not run (Bbws.AwsUnavailable): Invoke x:latest-sit: timed out"
        );
        assert_eq!(readable("health 500"), "health 500");
    }
}
