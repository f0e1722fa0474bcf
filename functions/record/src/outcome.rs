//! How an execution ended, in the terms callers branch on, and the record that keeps it.

use bbws_aws::BbwsError;
use bbws_domain::metrics::human_duration;
use bbws_domain::{Backup, Deployment, ErrorName, Preflight, PromotionPlan, Stage};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// The outcome of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `succeeded`, `failed` or `rolled_back`.
    pub status: &'static str,
    /// The execution's error name, when it did not succeed.
    pub error: Option<ErrorName>,
    /// What happened, in words.
    pub cause: String,
}

/// Classifies the execution state at its end. `failed_stage` (set by the state machine's Catch
/// states) and the caught error decide the name when the error is not already one of ours.
pub fn classify(outcome: &str, state: &Value) -> Result<Outcome, BbwsError> {
    match outcome {
        "succeeded" => Ok(Outcome {
            status: "succeeded",
            error: None,
            cause: String::new(),
        }),
        "rolled_back" => {
            let reason = state["rollback"]["reason"]
                .as_str()
                .or_else(|| state["monitor"]["reason"].as_str())
                .or_else(|| state["verify"]["reason"].as_str())
                .unwrap_or("the deploy was rolled back");
            Ok(Outcome {
                status: "rolled_back",
                error: Some(ErrorName::RolledBack),
                cause: format!("{reason}. {}", restored_sentence(state)),
            })
        }
        "failed" => {
            let caught = state["error"]["Error"].as_str().unwrap_or("");
            let stage = state["failed_stage"].as_str().unwrap_or("");
            let failed_at = Stage::parse(stage);
            let name = ErrorName::ending(caught, Stage::promotion_error(failed_at));
            let raw = cause_text(state["error"]["Cause"].as_str().unwrap_or(""));
            let mut cause = match (name, raw.is_empty()) {
                (ErrorName::ApprovalTimedOut, _) => {
                    let seconds = state["promotion"]["limits"]["approval_timeout_seconds"]
                        .as_u64()
                        .unwrap_or(0);
                    format!(
                        "no approval decision within {} ({seconds} s); start the promotion \
                         again when the approvers can answer",
                        human_duration(seconds)
                    )
                }
                (ErrorName::ApprovalRejected, true) => "the promotion was rejected".to_owned(),
                (ErrorName::ApprovalRejected, false) if caught == name.as_str() => {
                    format!("the promotion was rejected: {raw}")
                }
                (_, true) => format!("{caught} during {stage}"),
                (_, false) if ErrorName::caught_outcome(caught).is_none() => {
                    format!("{caught} during {stage}: {raw}")
                }
                _ => raw,
            };
            if Stage::before_deploy(failed_at) && !cause.contains("nothing was deployed") {
                cause.push_str("; nothing was deployed");
            }
            Ok(Outcome {
                status: "failed",
                error: Some(name),
                cause,
            })
        }
        other => Err(BbwsError::invalid_event(format!(
            "outcome '{other}' is not succeeded, failed or rolled_back"
        ))),
    }
}

/// Where a rollback left each function: `latest-prod is back on the backup versions
/// (backup-…): f 3 in af-south-1; the bad versions are kept as incident-…: f 4 in af-south-1`.
fn restored_sentence(state: &Value) -> String {
    let alias = state["promotion"]["target_alias"]
        .as_str()
        .unwrap_or("latest");
    let backup = state["rollback"]["backup_alias"]
        .as_str()
        .unwrap_or("the backup");
    let functions = state["rollback"]["functions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let list = |key: &str| -> Vec<String> {
        functions
            .iter()
            .filter_map(|f| {
                let version = f[key].as_str().filter(|v| !v.is_empty())?;
                Some(format!(
                    "{} {version} in {}",
                    f["function"].as_str().unwrap_or("?"),
                    f["region"].as_str().unwrap_or("?")
                ))
            })
            .collect()
    };
    let restored = list("to_version");
    let mut sentence = if restored.is_empty() {
        format!("{alias} is back on {backup}")
    } else {
        format!(
            "{alias} is back on the backup versions ({backup}): {}",
            restored.join(", ")
        )
    };
    if let Some(incident) = state["rollback"]["incident_alias"].as_str() {
        let bad: Vec<String> = functions
            .iter()
            .filter(|f| f["incident_alias"].is_string())
            .filter_map(|f| {
                Some(format!(
                    "{} {} in {}",
                    f["function"].as_str()?,
                    f["from_version"].as_str()?,
                    f["region"].as_str().unwrap_or("?")
                ))
            })
            .collect();
        if !bad.is_empty() {
            sentence.push_str(&format!(
                "; the bad versions are kept as {incident}: {}",
                bad.join(", ")
            ));
        }
    }
    sentence
}

/// The event a notification announces, for subscribers' filters: `succeeded`, `rolled_back`,
/// `rejected`, `approval_timed_out` or `failed`.
pub fn event_name(outcome: &Outcome) -> &'static str {
    match (outcome.status, outcome.error) {
        (_, Some(ErrorName::ApprovalRejected)) => "rejected",
        (_, Some(ErrorName::ApprovalTimedOut)) => "approval_timed_out",
        (status, _) => status,
    }
}

/// The notification's subject.
pub fn subject(plan: &PromotionPlan, outcome: &Outcome) -> String {
    let what = format!("{} to {}", plan.service, plan.target_env.label());
    match (outcome.status, outcome.error) {
        ("succeeded", _) => format!("Promoted: {what}"),
        ("rolled_back", _) => format!("Rolled back: {what}"),
        (_, Some(ErrorName::ApprovalRejected)) => format!("Promotion rejected: {what}"),
        (_, Some(ErrorName::ApprovalTimedOut)) => format!("Approval timed out: {what}"),
        _ => format!("Promotion failed: {what}"),
    }
}

/// `{"<region>/<function>": "<version>"}` from a list of `{region, function, <key>}`: how every
/// record keeps from_version and to_version.
pub fn versions_by_function(list: &[Value], key: &str) -> Value {
    let mut m = Map::new();
    for f in list {
        if let (Some(name), Some(region), Some(v)) = (
            f["function"].as_str(),
            f["region"].as_str(),
            f[key].as_str(),
        ) {
            m.insert(format!("{region}/{name}"), Value::String(v.to_owned()));
        }
    }
    Value::Object(m)
}

/// `<execution name>:<status>`: one record per execution and outcome.
pub fn deployment_id(execution_arn: &str, status: &str) -> String {
    let execution_name = execution_arn.rsplit(':').next().unwrap_or_default();
    format!("{execution_name}:{status}")
}

/// What a `finish` step returns: the status, the record's id, whether SNS took the
/// notification, and the error name and cause the state machine ends with.
pub fn output(result: &Outcome, deployment_id: String, notified: bool) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("status".into(), Value::String(result.status.into()));
    out.insert("deployment_id".into(), Value::String(deployment_id));
    out.insert("notified".into(), Value::Bool(notified));
    if let Some(e) = result.error {
        out.insert("error".into(), Value::String(e.as_str().into()));
        out.insert("cause".into(), Value::String(result.cause.clone()));
    }
    out
}

/// A Lambda error's Cause is its JSON error document; people read its errorMessage.
pub fn cause_text(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
        .unwrap_or_else(|| cause.to_owned())
}

/// The answer of the step at `key` of the execution's state; `None` when that step did not run.
fn step<T: DeserializeOwned>(state: &Value, key: &str) -> Option<T> {
    serde_json::from_value(state[key].clone()).ok()
}

/// The deployment record: RB-003 §6.3.2 step 7's fields and what an auditor needs besides.
pub fn record(
    plan: &PromotionPlan,
    state: &Value,
    outcome: &Outcome,
    deployment_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let backup: Option<Backup> = step(state, "backup");
    let deployment: Option<Deployment> = step(state, "deploy");
    let preflight: Option<Preflight> = step(state, "preflight");
    let from_version: Map<String, Value> = backup
        .iter()
        .flat_map(|b| &b.functions)
        .map(|f| (format!("{}/{}", f.region, f.function), json!(f.version)))
        .collect();
    let to_version: Map<String, Value> = deployment
        .iter()
        .flat_map(|d| &d.functions)
        .map(|f| (format!("{}/{}", f.region, f.function), json!(f.version)))
        .collect();
    let code_sha256: Vec<Value> = preflight
        .iter()
        .flat_map(|p| &p.source)
        .map(|s| {
            // `target`: the function it went to, so a later preflight finds the package by its
            // CodeSha256 (how long it has served in this environment).
            json!({"function": s.function.name, "version": s.function.version,
                   "code_sha256": s.function.code_sha256, "target": s.target})
        })
        .collect();
    let request = &plan.request;
    json!({
        "deployment_id": deployment_id,
        "timestamp": now.to_rfc3339(),
        "environment": plan.target_env.as_str(),
        "action": "promote",
        "service": plan.service,
        "source_environment": plan.source_env.as_str(),
        "functions": plan.functions.iter().map(|f| f.target.clone()).collect::<Vec<_>>(),
        "from_version": from_version,
        "to_version": to_version,
        "source_version": plan.version,
        "code_sha256": code_sha256,
        "actor": request.requested_by,
        "reason": request.reason,
        "change_request": request.change_request,
        "incident": request.emergency.as_ref().map(|e| &e.incident),
        "approvers": state["approval"]["approvers"],
        "preflight": preflight.map(|p| p.checks),
        "backup_alias": backup.map(|b| b.alias),
        "execution_arn": plan.execution_arn,
        "outcome": outcome.status,
        "error": outcome.error.map(|e| e.as_str()),
        "cause": if outcome.cause.is_empty() { Value::Null } else { Value::String(outcome.cause.clone()) },
        "rollback": state["rollback"],
        "lock_taken_over_from": state["lock"]["took_over"],
    })
}

/// The notification's text: service, versions, people, outcome and the execution.
pub fn message(plan: &PromotionPlan, record: &Map<String, Value>, outcome: &Outcome) -> String {
    let request = &plan.request;
    let text_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    };
    let mut text = format!(
        "Service: {}\nFrom: {} {}\nTo: {}\nOutcome: {}\n",
        plan.service,
        plan.source_env.label(),
        plan.version,
        plan.target_env.label(),
        outcome.status
    );
    if let Some(e) = outcome.error {
        text.push_str(&format!(
            "Error: {}\nCause: {}\n",
            e.as_str(),
            outcome.cause
        ));
    }
    let sources: Vec<String> = record
        .get("code_sha256")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| {
                    format!(
                        "{} {} (CodeSha256 {})",
                        f["function"].as_str().unwrap_or("?"),
                        f["version"].as_str().unwrap_or("?"),
                        f["code_sha256"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !sources.is_empty() {
        text.push_str(&format!("Source versions: {}\n", sources.join(", ")));
    }
    text.push_str(&format!(
        "Versions before: {}\nVersions after: {}\nRequested by: {}\nChange request: {}\n\
         Incident: {}\nExecution: {}\n",
        text_of(record.get("from_version")),
        text_of(record.get("to_version")),
        request.requested_by,
        request.change_request.as_deref().unwrap_or("-"),
        request
            .emergency
            .as_ref()
            .map_or("-", |e| e.incident.as_str()),
        plan.execution_arn
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caught Lambda error as the state machine keeps it: the error's name, and its error
    /// document as the cause.
    fn caught(name: ErrorName, message: &str) -> Value {
        let document = json!({"errorType": name.as_str(), "errorMessage": message});
        json!({"Error": name.as_str(), "Cause": document.to_string()})
    }

    #[test]
    fn our_error_names_pass_through_with_their_message() {
        let state = json!({"failed_stage": "preflight", "error": caught(ErrorName::PreflightFailed, "1 of 9 checks failed: errors 12")});
        let o = classify("failed", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::PreflightFailed));
        assert_eq!(
            o.cause,
            "1 of 9 checks failed: errors 12; nothing was deployed"
        );
    }

    #[test]
    fn an_approval_wait_that_times_out_is_approval_timed_out() {
        let state = json!({"failed_stage": "approval-timeout", "error": {"Error": "States.Timeout", "Cause": ""},
            "promotion": {"limits": {"approval_timeout_seconds": 86400}}});
        let o = classify("failed", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::ApprovalTimedOut));
        assert_eq!(
            o.cause,
            "no approval decision within 24 h (86400 s); start the promotion again when the \
             approvers can answer; nothing was deployed"
        );
        assert_eq!(event_name(&o), "approval_timed_out");
    }

    #[test]
    fn a_foreign_error_during_the_deploy_is_deploy_failed_and_says_what_it_was() {
        let state = json!({"failed_stage": "deploy", "error": {"Error": "Sandbox.Timedout",
            "Cause": "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"Task timed out after 60.00 seconds\"}"}});
        let o = classify("failed", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::DeployFailed));
        assert_eq!(
            o.cause,
            "Sandbox.Timedout during deploy: Task timed out after 60.00 seconds"
        );
    }

    #[test]
    fn an_aws_refusal_in_a_later_stage_ends_under_the_stage_and_names_the_call() {
        let state = json!({"failed_stage": "preflight", "error": caught(ErrorName::AwsRefused, "GetFunction bbws-x-dev: \
AccessDeniedException: not authorized to perform: lambda:GetFunction on resource: arn:x")});
        let o = classify("failed", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::PreflightFailed));
        assert_eq!(
            o.cause,
            format!(
                "{} during preflight: GetFunction bbws-x-dev: AccessDeniedException: not \
                 authorized to perform: lambda:GetFunction on resource: arn:x; nothing was deployed",
                ErrorName::AwsRefused
            )
        );
    }

    #[test]
    fn an_aws_refusal_while_asking_the_approvers_is_not_a_rejection() {
        let state = json!({"failed_stage": "approval", "error": caught(ErrorName::AwsRefused, "Publish approval email to a@b.io: \
AuthorizationError: not authorized to perform: SNS:Publish")});
        let o = classify("failed", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::AwsRefused));
        assert_eq!(
            o.cause,
            format!(
                "{} during approval: Publish approval email to a@b.io: AuthorizationError: \
                 not authorized to perform: SNS:Publish; nothing was deployed",
                ErrorName::AwsRefused
            )
        );
    }

    #[test]
    fn a_rollback_says_why_and_where_latest_went() {
        let state = json!({"promotion": {"target_alias": "latest-prod"},
            "rollback": {"reason": "health 500", "backup_alias": "backup-20261124-200501",
                "incident_alias": "incident-20261124-200731",
                "functions": [
                    {"function": "f", "region": "af-south-1", "from_version": "4", "to_version": "3",
                     "incident_alias": "incident-20261124-200731"},
                    {"function": "f", "region": "eu-west-1", "from_version": "2", "to_version": "1",
                     "incident_alias": "incident-20261124-200731"}]}});
        let o = classify("rolled_back", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::RolledBack));
        assert_eq!(
            o.cause,
            "health 500. latest-prod is back on the backup versions (backup-20261124-200501): \
             f 3 in af-south-1, f 1 in eu-west-1; the bad versions are kept as \
             incident-20261124-200731: f 4 in af-south-1, f 2 in eu-west-1"
        );
        assert_eq!(event_name(&o), "rolled_back");
        assert!(classify("maybe", &state).is_err());
    }

    #[test]
    fn a_rejection_says_so_with_the_approvers_words() {
        let state = json!({"failed_stage": "approval", "error": {"Error": ErrorName::ApprovalRejected.as_str(),
            "Cause": "ops-lead@bbws.io: not during the freeze"}});
        let o = classify("failed", &state).expect("outcome");
        assert_eq!(o.error, Some(ErrorName::ApprovalRejected));
        assert_eq!(
            o.cause,
            "the promotion was rejected: ops-lead@bbws.io: not during the freeze; nothing was \
             deployed"
        );
        assert_eq!(event_name(&o), "rejected");
    }
}
