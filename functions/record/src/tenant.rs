//! How a tenant execution (`bbws-tenant-<env>`) ended, its records (one per tenant, action
//! `tenant`) and its notification.

use bbws_aws::BbwsError;
use bbws_domain::metrics::human_duration;
use bbws_domain::tenant::TenantAction;
use bbws_domain::tenant_flow::{record_service, TenantPlan};
use bbws_domain::{ErrorName, Stage};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::outcome::{cause_text, Outcome};

/// The lock of a tenant in an environment: one execution at a time applies to a tenant.
/// The key is a promotion lock's (`<service>#<env>`) with the tenant's record service as the service.
pub fn lock_id(tenant_id: &str, plan: &TenantPlan) -> String {
    bbws_domain::plan::lock_id(&record_service(tenant_id), plan.request.environment)
}

/// How long a tenant execution holds its locks: the approval, two builds of at most an hour
/// each, the verification, and a margin. A lock left by an execution that no longer runs is
/// taken over before that.
pub fn hold_seconds(plan: &TenantPlan) -> u64 {
    plan.approval_timeout_seconds + 2 * 3_600 + plan.policy.verify_timeout_seconds + 900
}

/// The words of a failed build as Step Functions' `codebuild:startBuild.sync` reports it (the
/// cause is the build as BatchGetBuilds shows it): its id, status and the phase that failed with
/// CodeBuild's message. `None` when the cause is not a build.
pub fn build_cause(cause: &str) -> Option<String> {
    let v: Value = serde_json::from_str(cause).ok()?;
    let build = if v.get("Build").is_some() {
        &v["Build"]
    } else {
        &v
    };
    let id = build.get("Id").or_else(|| build.get("id"))?.as_str()?;
    let status = build
        .get("BuildStatus")
        .or_else(|| build.get("buildStatus"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let phases = build
        .get("Phases")
        .or_else(|| build.get("phases"))
        .and_then(Value::as_array);
    let failed = phases.into_iter().flatten().find(|p| {
        let s = p
            .get("PhaseStatus")
            .or_else(|| p.get("phaseStatus"))
            .and_then(Value::as_str);
        matches!(
            s,
            Some("FAILED" | "FAULT" | "TIMED_OUT" | "STOPPED" | "CLIENT_ERROR")
        )
    });
    let phase = failed.map(|p| {
        let name = p
            .get("PhaseType")
            .or_else(|| p.get("phaseType"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let message = p
            .get("Contexts")
            .or_else(|| p.get("contexts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                c.get("Message")
                    .or_else(|| c.get("message"))
                    .and_then(Value::as_str)
            })
            .filter(|m| !m.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if message.is_empty() {
            format!(" in phase {name}")
        } else {
            format!(" in phase {name}: {message}")
        }
    });
    Some(format!("build {id} {status}{}", phase.unwrap_or_default()))
}

/// Classifies the tenant execution's state at its end.
pub fn classify(outcome: &str, state: &Value, plan: &TenantPlan) -> Result<Outcome, BbwsError> {
    match outcome {
        "succeeded" => Ok(Outcome {
            status: "succeeded",
            error: None,
            cause: String::new(),
        }),
        "failed" => {
            let caught = state["error"]["Error"].as_str().unwrap_or("");
            let stage_name = state["failed_stage"].as_str().unwrap_or("");
            let stage = Stage::parse(stage_name);
            let name = ErrorName::ending(caught, Stage::tenant_error(stage));
            let raw_cause = state["error"]["Cause"].as_str().unwrap_or("");
            let raw = build_cause(raw_cause).unwrap_or_else(|| cause_text(raw_cause));
            let what = format!(
                "{} in {}",
                plan.request.tenants.join(", "),
                plan.request.environment.label()
            );
            let unchanged = if Stage::tenant_applied(stage) {
                "; the apply ran: look at the tenant's state and service before the next attempt"
            } else {
                "; nothing was applied"
            };
            let cause = match name {
                ErrorName::ApprovalTimedOut => format!(
                    "{what}: no approval decision within {} ({} s){unchanged}",
                    human_duration(plan.approval_timeout_seconds),
                    plan.approval_timeout_seconds
                ),
                ErrorName::ApprovalRejected if raw.is_empty() => {
                    format!("{what}: the plans were rejected{unchanged}")
                }
                ErrorName::ApprovalRejected => {
                    format!("{what}: the plans were rejected: {raw}{unchanged}")
                }
                ErrorName::DestroyBlocked => raw,
                _ if raw.is_empty() => format!("{what}: {caught} during {stage_name}{unchanged}"),
                _ if ErrorName::caught_outcome(caught).is_none() => {
                    format!("{what}: {caught} during {stage_name}: {raw}{unchanged}")
                }
                _ => format!("{what}: {raw}{unchanged}"),
            };
            Ok(Outcome {
                status: "failed",
                error: Some(name),
                cause,
            })
        }
        other => Err(BbwsError::invalid_event(format!(
            "outcome '{other}' of a tenant execution is not succeeded or failed"
        ))),
    }
}

/// The record id of one tenant's outcome in this execution.
pub fn deployment_id(plan: &TenantPlan, tenant_id: &str, status: &str) -> String {
    format!("{}:{status}:{tenant_id}", plan.execution_name)
}

/// One record per tenant: the commit applied (or not), the plan's SHA-256 and summary, who asked
/// and approved, the verification, and the outcome.
pub fn records(
    plan: &TenantPlan,
    state: &Value,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let applied: Vec<&str> = state["review"]["to_apply"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let reviews = state["review"]["plans"].as_array();
    let verified = state["verify"]["services"].as_array();
    plan.targets
        .iter()
        .map(|t| {
            let review = reviews
                .into_iter()
                .flatten()
                .find(|r| r["tenant_id"] == t.tenant_id.as_str());
            let service = verified
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|s| s.starts_with(&format!("{}-wordpress:", t.tenant_id)));
            json!({
                "deployment_id": deployment_id(plan, &t.tenant_id, outcome.status),
                "timestamp": now.to_rfc3339(),
                "environment": plan.request.environment.as_str(),
                "action": "tenant",
                "tenant_action": match plan.request.action {
                    TenantAction::Apply => "apply",
                    TenantAction::Rollback => "rollback",
                },
                "service": record_service(&t.tenant_id),
                "tenant_id": t.tenant_id,
                "commit": t.commit,
                "commit_source": t.commit_source,
                "previous_commit": t.current_commit,
                "commit_author": review.map(|r| r["commit_author"].clone()),
                "tfplan_sha256": review.map(|r| r["tfplan_sha256"].clone()),
                "plan": review.map(|r| json!({
                    "add": r["summary"]["add"], "change": r["summary"]["change"],
                    "destroy": r["summary"]["destroy"], "forget": r["summary"]["forget"],
                    "artifacts": format!("s3://{}/{}/", plan.artifacts_bucket, t.artifacts_prefix),
                })),
                "applied": outcome.status == "succeeded" && applied.contains(&t.tenant_id.as_str()),
                "verification": service,
                "actor": plan.request.requested_by,
                "reason": plan.request.reason,
                "change_request": plan.request.change_request,
                "incident": plan.request.incident,
                "approvers": state["approval"]["approvers"],
                "execution_arn": plan.execution_arn,
                "outcome": outcome.status,
                "error": outcome.error.map(|e| e.as_str()),
                "cause": if outcome.cause.is_empty() { Value::Null } else { Value::String(outcome.cause.clone()) },
                "lock_taken_over_from": state["lock"]["took_over"],
            })
        })
        .collect()
}

/// The notification's subject.
pub fn subject(plan: &TenantPlan, outcome: &Outcome) -> String {
    let what = format!(
        "{} in {}",
        plan.request.tenants.join(", "),
        plan.request.environment.label()
    );
    let verb = match plan.request.action {
        TenantAction::Apply => "Tenants applied",
        TenantAction::Rollback => "Tenants rolled back",
    };
    match outcome.error {
        None => format!("{verb}: {what}"),
        Some(ErrorName::ApprovalRejected) => format!("Tenant plans rejected: {what}"),
        Some(ErrorName::ApprovalTimedOut) => format!("Tenant approval timed out: {what}"),
        Some(ErrorName::DestroyBlocked) => format!("Tenant plan refused (destroy): {what}"),
        Some(_) => format!("Tenant execution failed: {what}"),
    }
}

/// The notification's text: per tenant the commit, the plan and whether it was applied.
pub fn message(plan: &TenantPlan, records: &[Value], outcome: &Outcome) -> String {
    let mut body = format!(
        "Environment: {}\nAction: {}\nRequested by: {}\nReason: {}\nChange request: {}\n\
         Incident: {}\nOutcome: {}\n",
        plan.request.environment.label(),
        records
            .first()
            .and_then(|r| r["tenant_action"].as_str())
            .unwrap_or("apply"),
        plan.request.requested_by,
        plan.request.reason,
        plan.request.change_request.as_deref().unwrap_or("-"),
        plan.request.incident.as_deref().unwrap_or("-"),
        outcome.status,
    );
    for r in records {
        let plan_line = match r.get("plan") {
            Some(p) if p.is_object() => format!(
                "{} to add, {} to change, {} to destroy; SHA-256 {}",
                p["add"],
                p["change"],
                p["destroy"],
                r["tfplan_sha256"].as_str().unwrap_or("-")
            ),
            _ => "not planned".to_owned(),
        };
        body.push_str(&format!(
            "\n{}: commit {} ({})\n  Plan: {plan_line}\n  Applied: {}\n  Service: {}\n",
            r["tenant_id"].as_str().unwrap_or("?"),
            r["commit"].as_str().unwrap_or("?"),
            r["commit_source"].as_str().unwrap_or("?"),
            if r["applied"] == true { "yes" } else { "no" },
            r["verification"].as_str().unwrap_or("-"),
        ));
    }
    if let Some(e) = outcome.error {
        body.push_str(&format!("\nError: {e}\nCause: {}\n", outcome.cause));
    }
    body.push_str(&format!("\nExecution: {}\n", plan.execution_arn));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::tenant::TenantRequest;
    use bbws_domain::tenant_flow::{CommitSource, TenantPolicy, TenantTarget};

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    fn plan(env: &str) -> TenantPlan {
        let request = TenantRequest::validate(&json!({"environment": env,
            "tenants": ["tenant-001", "tenant-002"], "commit": B, "reason": "memory",
            "requested_by": "ops@bbws.io", "change_request": "CHG-7"}))
        .expect("valid");
        TenantPlan {
            execution_arn: "arn:aws:states:af-south-1:815856636111:execution:bbws-tenant-sit:t1"
                .into(),
            execution_name: "t1".into(),
            started_at: "2026-12-01T20:05:00Z".into(),
            targets: request
                .tenants
                .iter()
                .map(|t| TenantTarget {
                    tenant_id: t.clone(),
                    commit: B.into(),
                    commit_source: CommitSource::Given,
                    current_commit: Some(A.into()),
                    artifacts_prefix: format!("tenant/sit/t1/{t}"),
                })
                .collect(),
            request,
            approval: None,
            approval_timeout_seconds: 3_600,
            project: "bbws-tenant-build-sit".into(),
            artifacts_bucket: "bbws-tenant-plans-815856636111".into(),
            artifacts_root: "tenant/sit/t1".into(),
            policy: TenantPolicy::default(),
        }
    }

    #[test]
    fn a_failed_build_reads_as_its_phase_and_codebuilds_words() {
        let cause = json!({"Build": {"Id": "bbws-tenant-build-sit:9f", "BuildStatus": "FAILED",
            "Phases": [{"PhaseType": "INSTALL", "PhaseStatus": "SUCCEEDED"},
                       {"PhaseType": "BUILD", "PhaseStatus": "FAILED", "Contexts": [
                           {"StatusCode": "COMMAND_EXECUTION_ERROR",
                            "Message": "Error while executing command: bash apply.sh. Reason: exit status 1"}]}]}});
        assert_eq!(
            build_cause(&cause.to_string()).as_deref(),
            Some("build bbws-tenant-build-sit:9f FAILED in phase BUILD: Error while executing command: bash apply.sh. Reason: exit status 1")
        );
        assert_eq!(build_cause("plain words"), None);
    }

    #[test]
    fn a_failed_apply_build_ends_tenant_build_failed_and_warns_the_state_changed() {
        let state = json!({"failed_stage": "apply", "error": {"Error": "States.TaskFailed",
            "Cause": json!({"Build": {"Id": "b:1", "BuildStatus": "FAILED", "Phases": []}}).to_string()}});
        let o = classify("failed", &state, &plan("sit")).expect("classified");
        assert_eq!(o.error, Some(ErrorName::TenantBuildFailed));
        assert!(o.cause.contains("build b:1 FAILED"), "{}", o.cause);
        assert!(o.cause.contains("the apply ran"), "{}", o.cause);
    }

    #[test]
    fn a_destroy_refusal_keeps_its_name_and_words() {
        let words = "DESTROY is blocked in PROD (RB-003 §4.3.4): the plan of tenant-002 would destroy 1: x (delete); nothing was applied";
        let state = json!({"failed_stage": "review", "error": {"Error": "Bbws.DestroyBlocked",
            "Cause": json!({"errorType": "Bbws.DestroyBlocked", "errorMessage": words}).to_string()}});
        let o = classify("failed", &state, &plan("prod")).expect("classified");
        assert_eq!(o.error, Some(ErrorName::DestroyBlocked));
        assert_eq!(o.cause, words);
        assert_eq!(
            subject(&plan("prod"), &o),
            "Tenant plan refused (destroy): tenant-001, tenant-002 in PROD"
        );
    }

    #[test]
    fn records_say_per_tenant_what_was_applied() {
        let state = json!({
            "review": {"to_apply": ["tenant-001"], "plans": [
                {"tenant_id": "tenant-001", "tfplan_sha256": "ab", "commit_author": "Dev <d@b.io>",
                 "summary": {"add": 0, "change": 1, "destroy": 0, "forget": 0}},
                {"tenant_id": "tenant-002", "tfplan_sha256": "cd",
                 "summary": {"add": 0, "change": 0, "destroy": 0, "forget": 0}}]},
            "verify": {"services": ["tenant-001-wordpress: ACTIVE, 1 of 1 running", "tenant-002-wordpress: ACTIVE, 1 of 1 running"]},
            "approval": {"approvers": [{"person": "lead@bbws.io", "role": "dev_lead"}]}});
        let ok = Outcome {
            status: "succeeded",
            error: None,
            cause: String::new(),
        };
        let now = DateTime::parse_from_rfc3339("2026-12-01T20:30:00Z")
            .expect("t")
            .to_utc();
        let rs = records(&plan("sit"), &state, &ok, now);
        assert_eq!(lock_id("tenant-001", &plan("sit")), "tenant:tenant-001#sit");
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0]["deployment_id"], "t1:succeeded:tenant-001");
        assert_eq!(rs[0]["service"], "tenant:tenant-001");
        assert_eq!(rs[0]["action"], "tenant");
        assert_eq!(rs[0]["commit"], B);
        assert_eq!(rs[0]["previous_commit"], A);
        assert_eq!(rs[0]["applied"], true);
        assert_eq!(rs[1]["applied"], false);
        assert_eq!(rs[0]["plan"]["change"], 1);
        assert_eq!(
            rs[1]["verification"],
            "tenant-002-wordpress: ACTIVE, 1 of 1 running"
        );
        let text = message(&plan("sit"), &rs, &ok);
        assert!(text.contains("tenant-001: commit 2222"), "{text}");
        assert!(text.contains("Applied: yes"));
        assert!(text.contains("SHA-256 ab"));
        // The records feed the next execution's history.
        let h = bbws_domain::tenant_flow::history_from_records(&rs[..1]);
        assert_eq!(h.current.as_deref(), Some(B));
    }

    #[test]
    fn a_rejection_says_nothing_was_applied() {
        let state = json!({"failed_stage": "approval", "error": {"Error": "Bbws.ApprovalRejected",
            "Cause": json!({"errorMessage": "rejected by lead@bbws.io (dev_lead): not today"}).to_string()}});
        let o = classify("failed", &state, &plan("sit")).expect("classified");
        assert_eq!(o.error, Some(ErrorName::ApprovalRejected));
        assert!(o.cause.ends_with("nothing was applied"), "{}", o.cause);
        assert!(o.cause.contains("not today"));
    }
}
