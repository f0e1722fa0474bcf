//! Approval: the promotion's task-token wait (RB-003 §2.2, §4.2).
//!
//! `request` keeps the wait's task token server-side in `bbws-approvals-<env>` (never in an email, a
//! log line or an output), with what is being approved, who must approve and the deadline, and
//! announces the request on SNS. The wait ends when the quorum answers with SendTaskSuccess, a
//! rejection answers with SendTaskFailure, or the Task's timeout passes.

use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::store::{notify, put_new};
use bbws_aws::{Aws, BbwsError, Settings};
use bbws_domain::PromotionPlan;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::info;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Request {
        task_token: String,
        promotion: PromotionPlan,
        preflight: Value,
    },
}

struct App {
    aws: Aws,
    settings: Result<Settings, BbwsError>,
}

impl App {
    async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the approval event", event)? {
            Event::Request {
                task_token,
                promotion,
                preflight,
            } => {
                self.request(settings, &task_token, &promotion, &preflight)
                    .await
            }
        }
    }

    async fn request(
        &self,
        settings: &Settings,
        token: &str,
        plan: &PromotionPlan,
        preflight: &Value,
    ) -> Result<Value, BbwsError> {
        let now = Utc::now();
        let timeout = i64::try_from(plan.limits.approval_timeout_seconds).unwrap_or(i64::MAX / 2);
        let deadline = now + Duration::seconds(timeout);
        let execution_name = plan.execution_arn.rsplit(':').next().unwrap_or_default();
        let request_id = format!("{execution_name}-{}", now.format("%Y%m%dT%H%M%S%.3fZ"));
        let required = preflight
            .get("approval")
            .cloned()
            .unwrap_or_else(|| json!(plan.rules.approval));
        let item = json!({
            "request_id": request_id,
            "item": "request",
            "status": "pending",
            "task_token": token,
            "execution_arn": plan.execution_arn,
            "service": plan.service,
            "source_env": plan.source_env.as_str(),
            "target_env": plan.target_env.as_str(),
            "version": plan.version,
            "requested_by": plan.request["requested_by"],
            "reason": plan.request["reason"],
            "change_request": plan.request["change_request"],
            "required": required,
            "emergency": preflight.get("emergency").cloned().unwrap_or(Value::Bool(false)),
            "created_at": now.to_rfc3339(),
            "deadline": deadline.to_rfc3339(),
            "expires_at": deadline.timestamp() + 86_400,
        });
        let Value::Object(map) = item else {
            return Err(BbwsError::invalid_event(
                "the approval request is not an object",
            ));
        };
        put_new(
            &self.aws.dynamodb(),
            &settings.approvals_table,
            "request_id",
            &map,
        )
        .await?;
        info!(event = "approval_requested", request_id = %request_id, service = %plan.service,
              deadline = %deadline.to_rfc3339(), "approval {request_id} wanted from {required} until {deadline}");
        notify(
            &self.aws.sns(),
            &settings.events_topic_arn,
            "approval_wanted",
            &format!("Approval wanted: {} to {}", plan.service, plan.target_env.label()),
            &format!(
                "Service: {}\nFrom: {} {}\nTo: {}\nRequested by: {}\nReason: {}\nChange request: {}\nApprovers: {}\nDeadline: {}\nRequest: {}\nExecution: {}\n",
                plan.service, plan.source_env.label(), plan.version, plan.target_env.label(),
                plan.request["requested_by"].as_str().unwrap_or(""), plan.request["reason"].as_str().unwrap_or(""),
                plan.request["change_request"].as_str().unwrap_or("-"), required, deadline.to_rfc3339(), request_id,
                plan.execution_arn
            ),
        )
        .await?;
        to_value(&json!({"request_id": request_id, "deadline": deadline.to_rfc3339()}))
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
