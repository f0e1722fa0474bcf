//! Record: the promotion lock, the deployment record and the notifications.
//!
//! - `lock`: one promotion per (service, target environment), by conditional write; a lock left
//!   by a stopped execution expires by itself.
//! - `unlock`: releases the lock this execution holds.
//! - `finish`: the outcome (succeeded, failed, rolled back) with the error name callers branch on
//!   and a cause in words; one record per outcome in `bbws-deployments-<env>`, never overwritten;
//!   an SNS notification.

use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::store::{acquire_lock, notify, put_new, release_lock};
use bbws_aws::{Aws, BbwsError, Settings};
use bbws_domain::{ErrorName, PromotionPlan};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

mod outcome;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Lock { promotion: PromotionPlan },
    Unlock { promotion: PromotionPlan },
    Finish { outcome: String, state: Value },
}

/// Margin past the longest wait an execution can make, before its lock expires by itself.
const LOCK_MARGIN_SECONDS: u64 = 2 * 3600;

struct App {
    aws: Aws,
    settings: Result<Settings, BbwsError>,
}

impl App {
    async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the record event", event)? {
            Event::Lock { promotion } => self.lock(settings, &promotion).await,
            Event::Unlock { promotion } => {
                let released = release_lock(
                    &self.aws.dynamodb(),
                    &settings.locks_table,
                    &promotion.lock_id(),
                    &promotion.execution_arn,
                )
                .await?;
                info!(event = "unlock", lock = %promotion.lock_id(), released, "lock {} released: {released}", promotion.lock_id());
                to_value(&json!({"released": released}))
            }
            Event::Finish { outcome, state } => self.finish(settings, &outcome, &state).await,
        }
    }

    async fn lock(&self, settings: &Settings, plan: &PromotionPlan) -> Result<Value, BbwsError> {
        let now = Utc::now();
        let hold = plan.limits.approval_timeout_seconds
            + plan.limits.monitor_seconds
            + LOCK_MARGIN_SECONDS;
        let expires = now.timestamp() + i64::try_from(hold).unwrap_or(i64::MAX / 2);
        let lock_id = plan.lock_id();
        let got = acquire_lock(
            &self.aws.dynamodb(),
            &settings.locks_table,
            &lock_id,
            &plan.execution_arn,
            now.timestamp(),
            expires,
            &now.to_rfc3339(),
        )
        .await?;
        if let Err(holder) = got {
            info!(event = "lock_refused", lock = %lock_id, holder = %holder.execution_arn, "lock {lock_id} is held");
            return Err(BbwsError::new(
                ErrorName::PromotionInProgress,
                format!("{} is already being promoted to {} by {} (since {}); wait for it to end, or stop it: its lock expires by itself",
                        plan.service, plan.target_env.label(), holder.execution_arn, holder.acquired_at),
            ));
        }
        info!(event = "lock", lock = %lock_id, expires_at = expires, "lock {lock_id} taken until {expires}");
        let request = &plan.request;
        let notified = self
            .announce(
                settings,
                "started",
                &format!(
                    "Promotion started: {} {} -> {}",
                    plan.service,
                    plan.source_env.label(),
                    plan.target_env.label()
                ),
                &format!(
                    "Service: {}\nFrom: {} ({})\nTo: {}\nRequested by: {}\nReason: {}\n\
                     Change request: {}\nIncident: {}\nExecution: {}\n",
                    plan.service,
                    plan.source_env.label(),
                    plan.version,
                    plan.target_env.label(),
                    request["requested_by"].as_str().unwrap_or(""),
                    request["reason"].as_str().unwrap_or(""),
                    request["change_request"].as_str().unwrap_or("-"),
                    request["emergency"]["incident"].as_str().unwrap_or("-"),
                    plan.execution_arn
                ),
            )
            .await;
        to_value(&json!({"lock_id": lock_id, "expires_at": expires, "notified": notified}))
    }

    /// Publishes a notification. A notification that cannot be sent is logged and reported in the
    /// step's output; it never turns the promotion's outcome into another one, nor keeps a lock.
    async fn announce(
        &self,
        settings: &Settings,
        event: &str,
        subject: &str,
        message: &str,
    ) -> bool {
        match notify(
            &self.aws.sns(),
            &settings.events_topic_arn,
            event,
            subject,
            message,
        )
        .await
        {
            Ok(()) => {
                info!(event = "notified", notification = %event, topic = %settings.events_topic_arn,
                      "notified {event}: {subject}");
                true
            }
            Err(e) => {
                warn!(event = "notify_failed", notification = %event, error = %e.message,
                      "could not notify {event}: {}", e.message);
                false
            }
        }
    }

    async fn finish(
        &self,
        settings: &Settings,
        outcome: &str,
        state: &Value,
    ) -> Result<Value, BbwsError> {
        let result = outcome::classify(outcome, state)?;
        let plan: PromotionPlan = parse("the promotion plan", state["promotion"].clone())?;
        let now = Utc::now();
        let execution_name = plan
            .execution_arn
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        let deployment_id = format!("{execution_name}:{}", result.status);
        let record = outcome::record(&plan, state, &result, &deployment_id, now);
        let Value::Object(item) = record else {
            return Err(BbwsError::invalid_event(
                "the deployment record is not an object",
            ));
        };
        let written = put_new(
            &self.aws.dynamodb(),
            &settings.deployments_table,
            "deployment_id",
            &item,
        )
        .await?;
        info!(event = "recorded", deployment_id = %deployment_id, status = %result.status, error = ?result.error,
              written, "{} {} -> {}: {}", plan.service, plan.source_env, plan.target_env, result.status);
        let subject = outcome::subject(&plan, &result);
        let message = outcome::message(&plan, &item, &result);
        let notified = self
            .announce(settings, outcome::event_name(&result), &subject, &message)
            .await;
        let mut out = Map::new();
        out.insert("status".into(), Value::String(result.status.into()));
        out.insert("deployment_id".into(), Value::String(deployment_id));
        out.insert("notified".into(), Value::Bool(notified));
        if let Some(e) = result.error {
            out.insert("error".into(), Value::String(e.as_str().into()));
            out.insert("cause".into(), Value::String(result.cause.clone()));
        }
        Ok(Value::Object(out))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = App {
        aws: Aws::load().await,
        settings: Settings::from_env(),
    };
    serve(|event| app.handle(event)).await
}
