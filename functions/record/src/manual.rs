//! How a manual rollback (`bbws-rollback-<env>`) ended, and its record (RB-003 §6.3.2 step 7).

use bbws_aws::BbwsError;
use bbws_domain::metrics::human_duration;
use bbws_domain::{ErrorName, RollbackPlan, Stage};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::outcome::{cause_text, versions_by_function, Outcome};

/// Classifies the rollback execution's state at its end.
pub fn classify(outcome: &str, state: &Value, plan: &RollbackPlan) -> Result<Outcome, BbwsError> {
    match outcome {
        "succeeded" => Ok(Outcome {
            status: "succeeded",
            error: None,
            cause: String::new(),
        }),
        "failed" => {
            let caught = state["error"]["Error"].as_str().unwrap_or("");
            let stage = state["failed_stage"].as_str().unwrap_or("");
            let name = ErrorName::ending(caught, Stage::rollback_error(Stage::parse(stage)));
            let raw = cause_text(state["error"]["Cause"].as_str().unwrap_or(""));
            let what = format!("{} in {}", plan.service, plan.environment.label());
            let cause = match name {
                ErrorName::ApprovalTimedOut => format!(
                    "{what}: no approval decision within {} ({} s); nothing was changed; start the \
                     rollback again when an approver can answer",
                    human_duration(plan.approval_timeout_seconds),
                    plan.approval_timeout_seconds
                ),
                ErrorName::ApprovalRejected if raw.is_empty() => {
                    format!("{what}: the rollback was rejected; nothing was changed")
                }
                ErrorName::ApprovalRejected => {
                    format!("{what}: the rollback was rejected: {raw}; nothing was changed")
                }
                _ if raw.is_empty() => format!("{what}: {caught} during {stage}"),
                _ if ErrorName::caught_outcome(caught).is_none() => {
                    format!("{what}: {caught} during {stage}: {raw}")
                }
                _ => raw,
            };
            Ok(Outcome {
                status: "failed",
                error: Some(name),
                cause,
            })
        }
        other => Err(BbwsError::invalid_event(format!(
            "outcome '{other}' of a rollback is not succeeded or failed"
        ))),
    }
}

/// The record: §6.3.2 step 7's fields (action `rollback`, from/to versions, actor, reason) and
/// what an auditor needs besides (approvers, incident, target, health, execution).
pub fn record(
    plan: &RollbackPlan,
    state: &Value,
    outcome: &Outcome,
    deployment_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let moves = state["target"]["moves"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let versions = |key: &str| versions_by_function(&moves, key);
    let succeeded = outcome.status == "succeeded";
    json!({
        "deployment_id": deployment_id,
        "timestamp": now.to_rfc3339(),
        "environment": plan.environment.as_str(),
        "action": "rollback",
        "service": plan.service,
        "functions": plan.functions,
        "from_version": versions("from_version"),
        "to_version": if succeeded { versions("to_version") } else { json!({}) },
        "target": state["target"]["target"],
        "requested_target": plan.request.target.label(),
        "forced": plan.request.force,
        "actor": plan.request.requested_by,
        "reason": plan.request.reason,
        "incident": plan.request.incident,
        "approvers": state["approval"]["approvers"],
        "incident_alias": state["result"]["incident_alias"],
        "health": state["result"]["functions"],
        "execution_arn": plan.execution_arn,
        "outcome": outcome.status,
        "error": outcome.error.map(|e| e.as_str()),
        "cause": if outcome.cause.is_empty() { Value::Null } else { Value::String(outcome.cause.clone()) },
        "lock_taken_over_from": state["lock"]["took_over"],
    })
}

/// The notification's subject.
pub fn subject(plan: &RollbackPlan, outcome: &Outcome) -> String {
    let what = format!("{} in {}", plan.service, plan.environment.label());
    match outcome.error {
        None => format!("Rolled back: {what}"),
        Some(ErrorName::ApprovalRejected) => format!("Rollback rejected: {what}"),
        Some(ErrorName::ApprovalTimedOut) => format!("Rollback approval timed out: {what}"),
        Some(ErrorName::RollbackRefused) => format!("Rollback refused: {what}"),
        Some(_) => format!("Rollback failed: {what}"),
    }
}

/// The notification's text.
pub fn message(plan: &RollbackPlan, record: &Map<String, Value>, outcome: &Outcome) -> String {
    let text = |k: &str| match record.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(v) => v.to_string(),
    };
    let approvers: Vec<String> = record
        .get("approvers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{} ({})",
                a["person"].as_str().unwrap_or("?"),
                a["role"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let mut body = format!(
        "Service: {}\nEnvironment: {}\nTarget: {}\nFrom: {}\nTo: {}\nRequested by: {}\nReason: {}\n\
         Incident: {}\nApproved by: {}\nOutcome: {}\n",
        plan.service,
        plan.environment.label(),
        text("target"),
        text("from_version"),
        text("to_version"),
        plan.request.requested_by,
        plan.request.reason,
        plan.request.incident.as_deref().unwrap_or("-"),
        if approvers.is_empty() {
            "nobody needed".to_owned()
        } else {
            approvers.join(", ")
        },
        outcome.status
    );
    if let Some(e) = outcome.error {
        body.push_str(&format!("Error: {e}\nCause: {}\n", outcome.cause));
    }
    body.push_str(&format!("Execution: {}\n", plan.execution_arn));
    body
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
    use bbws_domain::{Config, RollbackRequest};

    fn plan() -> RollbackPlan {
        let request = RollbackRequest::validate(
            &json!({"service": "tenant-instance-management", "environment": "prod",
                "target_version": "backup-20260125-220000", "reason": "API errors",
                "requested_by": "ops@bbws.io", "incident": "INC-91"}),
            &Config::runbook().catalog,
        )
        .expect("valid");
        RollbackPlan::new(
            request,
            &Config::runbook(),
            "arn:aws:states:af-south-1:1:execution:bbws-rollback-prod:r1",
            Utc::now(),
        )
        .expect("plan")
    }

    #[test]
    fn a_refused_target_keeps_its_words_and_name() {
        let state = json!({"error": caught(ErrorName::RollbackRefused, "x: version 2 was never live"),
            "failed_stage": "resolve"});
        let o = classify("failed", &state, &plan()).expect("classified");
        assert_eq!(
            (o.error, o.cause.as_str()),
            (
                Some(ErrorName::RollbackRefused),
                "x: version 2 was never live"
            )
        );
    }

    #[test]
    fn an_aws_refusal_while_resolving_is_not_a_refused_target() {
        let state = json!({"error": caught(ErrorName::AwsRefused, "ListAliases f: AccessDeniedException: no"),
            "failed_stage": "resolve"});
        let o = classify("failed", &state, &plan()).expect("classified");
        assert_eq!(o.error, Some(ErrorName::AwsRefused));
        assert_eq!(
            o.cause,
            format!(
                "tenant-instance-management in PROD: {} during resolve: ListAliases f: \
                 AccessDeniedException: no",
                ErrorName::AwsRefused
            )
        );
        let state = json!({"error": caught(ErrorName::AwsUnavailable, "UpdateAlias f: 503"),
            "failed_stage": "rollback"});
        let o = classify("failed", &state, &plan()).expect("classified");
        assert_eq!(o.error, Some(ErrorName::RollbackFailed));
    }

    #[test]
    fn a_timed_out_approval_says_nothing_changed() {
        let state = json!({"error": {"Error": "States.Timeout", "Cause": ""}, "failed_stage": "approval-timeout"});
        let o = classify("failed", &state, &plan()).expect("classified");
        assert_eq!(o.error, Some(ErrorName::ApprovalTimedOut));
        assert!(
            o.cause.starts_with(
                "tenant-instance-management in PROD: no approval decision within 24 h (86400 s)"
            ),
            "{}",
            o.cause
        );
    }

    #[test]
    fn the_record_has_the_runbooks_fields_and_the_moves() {
        let state = json!({"target": {"target": "backup-20260125-220000", "moves": [
            {"region": "af-south-1", "function": "f", "from_version": "5", "to_version": "3"},
            {"region": "eu-west-1", "function": "f", "from_version": "6", "to_version": "2"}]},
            "approval": {"approvers": [{"person": "tl@bbws.io", "role": "tech_lead"}]},
            "result": {"incident_alias": "incident-20260127-101010"}});
        let o = classify("succeeded", &state, &plan()).expect("classified");
        let r = record(&plan(), &state, &o, "r1:succeeded", Utc::now());
        assert_eq!(r["action"], "rollback");
        assert_eq!(
            r["from_version"],
            json!({"af-south-1/f": "5", "eu-west-1/f": "6"})
        );
        assert_eq!(
            r["to_version"],
            json!({"af-south-1/f": "3", "eu-west-1/f": "2"})
        );
        assert_eq!(
            (r["actor"].as_str(), r["incident"].as_str()),
            (Some("ops@bbws.io"), Some("INC-91"))
        );
        let Value::Object(map) = r else {
            panic!("object")
        };
        let text = message(&plan(), &map, &o);
        assert!(
            text.contains("Approved by: tl@bbws.io (tech_lead)"),
            "{text}"
        );
        assert_eq!(
            subject(&plan(), &o),
            "Rolled back: tenant-instance-management in PROD"
        );
    }
}
