//! A release's bookkeeping (`bbws-release-<env>`): the phase cursor, each phase's outcome and
//! notification, and the release record with where every service ended.

use bbws_aws::BbwsError;
use bbws_domain::metrics::human_duration;
use bbws_domain::tenant_flow::TenantPlan;
use bbws_domain::{ErrorName, ReleasePlan, Stage};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::outcome::{cause_text, versions_by_function, Outcome};

/// The cursor before the first phase.
pub fn first(release: &ReleasePlan) -> Value {
    json!({"index": 0, "next": release.phases.first(), "done": release.phases.is_empty(),
           "completed": [], "rollback_order": [], "roll_back_completed": false, "failed": null})
}

/// The cursor after the current phase ended with `outcome` (`succeeded`, `failed` or
/// `verification_failed`); with the notification's subject and text.
pub fn advance(
    release: &ReleasePlan,
    outcome: &str,
    state: &Value,
) -> Result<(Value, String, String), BbwsError> {
    let progress = &state["progress"];
    let index = progress["index"].as_u64().unwrap_or(0) as usize;
    let mut completed: Vec<Value> = progress["completed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let total = release.phases.len();
    let env = release.target_env.label();
    let phase = release.phases.get(index);
    let service = phase.map(|p| p.service.as_str()).unwrap_or("-");
    match outcome {
        "succeeded" => {
            let output = &state["child"]["Output"];
            let versions = versions_of(&output["deploy"]["functions"]);
            let entry = json!({
                "index": index + 1, "service": service,
                "execution_arn": state["child"]["ExecutionArn"],
                "outcome": "succeeded", "to_version": versions,
                "from_version": versions_of(&output["backup"]["functions"]),
                "health_wait": {"polls": state["health"]["polls_done"], "verdict": state["health"]["verdict"]},
                "promotion": output["promotion"], "backup": output["backup"], "deploy": output["deploy"],
            });
            completed.push(entry);
            let next = release.phases.get(index + 1);
            let subject = format!(
                "Release phase {} of {total} done: {service} in {env}",
                index + 1
            );
            let text = format!(
                "Phase {} of {total}: {service} promoted into {env} and healthy through its wait.\nVersions: {}\nPhase execution: {}\nRelease: {}\n{}",
                index + 1,
                versions,
                state["child"]["ExecutionArn"].as_str().unwrap_or("-"),
                release.execution_arn,
                match next {
                    Some(n) => format!("Next: phase {} of {total}, {}.\n", n.index, n.service),
                    None => "All phases done; cross-service verification next.\n".to_owned(),
                }
            );
            let progress = json!({"index": index + 1, "next": next, "done": next.is_none(),
                "completed": completed, "rollback_order": [], "roll_back_completed": false, "failed": null});
            Ok((progress, subject, text))
        }
        "failed" | "verification_failed" => {
            let failed = if outcome == "failed" {
                let name = phase.map(|p| p.execution_name.as_str()).unwrap_or_default();
                failed_phase(index, service, name, state)
            } else {
                let reason = state["verification"]["reason"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        cause_text(state["child_error"]["Cause"].as_str().unwrap_or(""))
                    });
                json!({"index": null, "service": null, "outcome": "verification_failed",
                       "error": ErrorName::ReleaseFailed.as_str(),
                       "cause": format!("cross-service verification failed: {reason}")})
            };
            let mut rollback_order = completed.clone();
            rollback_order.reverse();
            let roll_back = release.request.rollback_completed_phases && !completed.is_empty();
            let later: Vec<&str> = release
                .phases
                .iter()
                .skip(if outcome == "failed" {
                    index + 1
                } else {
                    total
                })
                .map(|p| p.service.as_str())
                .collect();
            let subject = if outcome == "failed" {
                format!(
                    "Release phase {} of {total} failed: {service} in {env}",
                    index + 1
                )
            } else {
                format!("Release verification failed in {env}")
            };
            let text = format!(
                "{}\nLater phases not started: {}\nCompleted phases: {}\n{}Release: {}\n",
                failed["cause"].as_str().unwrap_or("-"),
                if later.is_empty() {
                    "none".to_owned()
                } else {
                    later.join(", ")
                },
                if completed.is_empty() {
                    "none".to_owned()
                } else {
                    completed
                        .iter()
                        .map(|c| c["service"].as_str().unwrap_or("?").to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                if roll_back {
                    "They are rolled back now (rollback_completed_phases).\n"
                } else if completed.is_empty() {
                    ""
                } else {
                    "They stay on their new versions (fix forward, RB-003 §6.1).\n"
                },
                release.execution_arn
            );
            let progress = json!({"index": index, "next": null, "done": true, "completed": completed,
                "rollback_order": rollback_order, "roll_back_completed": roll_back, "failed": failed,
                "not_started": later});
            Ok((progress, subject, text))
        }
        other => Err(BbwsError::invalid_event(format!(
            "phase outcome '{other}' is not succeeded, failed or verification_failed"
        ))),
    }
}

/// What went wrong in the phase at `index` (child execution `name`): the child's own failure (it
/// rolled itself back or deployed nothing), or the release's health wait. The state still holds
/// the previous phase's child and health figures, so each is read only when it is this phase's.
fn failed_phase(index: usize, service: &str, name: &str, state: &Value) -> Value {
    let this_child = state["child"]["ExecutionArn"]
        .as_str()
        .is_some_and(|arn| arn.rsplit(':').next() == Some(name));
    if !this_child {
        // startExecution.sync:2 fails with the child's DescribeExecution as the cause.
        let cause = state["child_error"]["Cause"].as_str().unwrap_or("");
        let described: Value = serde_json::from_str(cause).unwrap_or(Value::Null);
        let error = described["Error"]
            .as_str()
            .or_else(|| described["error"].as_str())
            .or_else(|| state["child_error"]["Error"].as_str())
            .unwrap_or("States.TaskFailed");
        let why = described["Cause"]
            .as_str()
            .or_else(|| described["cause"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| cause_text(cause));
        let arn = described["ExecutionArn"]
            .as_str()
            .or_else(|| described["executionArn"].as_str());
        return json!({"index": index + 1, "service": service, "outcome": "failed",
                      "execution_arn": arn, "error": error,
                      "cause": format!("phase {} ({service}) failed with {error}: {why}", index + 1)});
    }
    let arn = &state["child"]["ExecutionArn"];
    if let Some(reason) = state["health"]["reason"].as_str() {
        let rolled = state["phase_rollback"]["backup_alias"].as_str();
        let (outcome, tail) =
            match rolled {
                Some(b) => ("rolled_back", format!("{service} is back on {b}")),
                None => (
                    "rollback_failed",
                    format!(
                    "its rollback failed: {}; check latest of {service} by hand (RB-003 §6.3.2)",
                    cause_text(state["phase_rollback_error"]["Cause"].as_str().unwrap_or(""))
                ),
                ),
            };
        return json!({"index": index + 1, "service": service, "outcome": outcome, "execution_arn": arn,
                      "error": ErrorName::RolledBack.as_str(),
                      "cause": format!("phase {} ({service}) failed its health wait: {reason}; {tail}", index + 1)});
    }
    let why = cause_text(state["child_error"]["Cause"].as_str().unwrap_or(""));
    json!({"index": index + 1, "service": service, "outcome": "failed", "execution_arn": arn,
           "error": state["child_error"]["Error"],
           "cause": format!("phase {} ({service}): the health wait could not run ({why}); the service stays on its new version", index + 1)})
}

fn versions_of(functions: &Value) -> Value {
    versions_by_function(
        functions.as_array().map(Vec::as_slice).unwrap_or_default(),
        "version",
    )
}

/// How the release ended.
pub fn classify(outcome: &str, state: &Value, release: &ReleasePlan) -> Result<Outcome, BbwsError> {
    match outcome {
        "succeeded" => Ok(Outcome {
            status: "succeeded",
            error: None,
            cause: String::new(),
        }),
        "failed" => {
            let stage = state["failed_stage"].as_str().unwrap_or("");
            let caught = state["error"]["Error"].as_str().unwrap_or("");
            let raw = cause_text(state["error"]["Cause"].as_str().unwrap_or(""));
            // Phase 4: a tenant's plan, review, window, apply or verification failed; the tenant
            // execution's words, and what became of the services.
            let tenant_stage = matches!(
                Stage::parse(stage),
                Some(Stage::Plan | Stage::Review | Stage::Window | Stage::Apply | Stage::Verify)
            );
            if let (true, Ok(plan)) = (
                tenant_stage,
                serde_json::from_value::<TenantPlan>(state["tenant"].clone()),
            ) {
                let t = crate::tenant::classify("failed", state, &plan)?;
                let after = if Stage::tenant_applied(Stage::parse(stage))
                    || Stage::parse(stage) == Some(Stage::Window)
                {
                    format!(
                        "phase 4 (tenants) failed: {}; {}",
                        t.cause,
                        phases_sentence(state)
                    )
                } else {
                    format!("{}; nothing was deployed", t.cause)
                };
                return Ok(Outcome {
                    status: "failed",
                    error: t.error,
                    cause: after,
                });
            }
            let (error, cause) = match Stage::parse(stage) {
                Some(Stage::ApprovalTimeout) => (
                    ErrorName::ApprovalTimedOut,
                    format!(
                        "no approval decision within {} ({} s); nothing was deployed",
                        human_duration(release.approval_timeout_seconds),
                        release.approval_timeout_seconds
                    ),
                ),
                Some(Stage::Approval) => {
                    match ErrorName::ending(caught, ErrorName::ApprovalRejected) {
                        ErrorName::ApprovalRejected => (
                            ErrorName::ApprovalRejected,
                            format!("the release was rejected: {raw}; nothing was deployed"),
                        ),
                        aws => (
                            aws,
                            format!("{caught} during approval: {raw}; nothing was deployed"),
                        ),
                    }
                }
                Some(Stage::Preflight) => match ErrorName::caught_outcome(caught) {
                    Some(name) => (name, format!("{raw}; nothing was deployed")),
                    None => (
                        ErrorName::PreflightFailed,
                        format!("{caught} during preflight: {raw}; nothing was deployed"),
                    ),
                },
                Some(Stage::Bookkeeping) => (
                    ErrorName::ReleaseFailed,
                    format!(
                        "the release stopped: its phase bookkeeping failed ({caught}: {raw}); {}",
                        phases_sentence(state)
                    ),
                ),
                _ => (ErrorName::ReleaseFailed, phases_sentence(state)),
            };
            Ok(Outcome {
                status: "failed",
                error: Some(error),
                cause,
            })
        }
        other => Err(BbwsError::invalid_event(format!(
            "release outcome '{other}' is not succeeded or failed"
        ))),
    }
}

fn phases_sentence(state: &Value) -> String {
    let progress = &state["progress"];
    let failed = progress["failed"]["cause"]
        .as_str()
        .unwrap_or("a phase failed");
    let completed: Vec<String> = progress["completed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["service"].as_str().unwrap_or("?").to_owned())
        .collect();
    let later: Vec<String> = progress["not_started"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    let mut s = failed.to_owned();
    if !completed.is_empty() {
        if progress["roll_back_completed"].as_bool() == Some(true) {
            if state["completed_rollback"].is_object() {
                s.push_str(&format!(
                    "; the completed phases were rolled back: {}",
                    completed.join(", ")
                ));
            } else {
                s.push_str(&format!(
                    "; rolling back the completed phases failed ({}): check {} by hand",
                    cause_text(
                        state["completed_rollback_error"]["Cause"]
                            .as_str()
                            .unwrap_or("")
                    ),
                    completed.join(", ")
                ));
            }
        } else {
            s.push_str(&format!(
                "; the completed phases stay on their new versions (fix forward): {}",
                completed.join(", ")
            ));
        }
    }
    if !later.is_empty() {
        s.push_str(&format!("; not started: {}", later.join(", ")));
    }
    s
}

/// The release record: its phases with their child executions and outcomes, and where every
/// service of the release ended (`ended_on`, read from the aliases after the release).
pub fn record(
    release: &ReleasePlan,
    state: &Value,
    outcome: &Outcome,
    ended_on: &Value,
    deployment_id: &str,
    now: DateTime<Utc>,
) -> Value {
    let strip = |c: &Value| -> Value {
        json!({"index": c["index"], "service": c["service"], "execution_arn": c["execution_arn"],
               "outcome": c["outcome"], "from_version": c["from_version"], "to_version": c["to_version"]})
    };
    let mut phases: Vec<Value> = state["progress"]["completed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(strip)
        .collect();
    let failed = &state["progress"]["failed"];
    if failed["service"].is_string() {
        phases.push(failed.clone());
    }
    let r = &release.request;
    json!({
        "deployment_id": deployment_id,
        "timestamp": now.to_rfc3339(),
        "environment": release.target_env.as_str(),
        "action": "release",
        "service": "release",
        "services": r.services,
        "phases": phases,
        "not_started": state["progress"]["not_started"],
        "verification": state["verification"],
        "rollback_completed_phases": r.rollback_completed_phases,
        "completed_rollback": state["completed_rollback"],
        "ended_on": ended_on,
        "actor": r.requested_by,
        "reason": r.reason,
        "change_request": r.change_request,
        "incident": r.emergency.as_ref().map(|e| e["incident"].clone()),
        "approvers": state["approval"]["approvers"],
        "execution_arn": release.execution_arn,
        "outcome": outcome.status,
        "error": outcome.error.map(|e| e.as_str()),
        "cause": if outcome.cause.is_empty() { Value::Null } else { Value::String(outcome.cause.clone()) },
    })
}

/// "service: f 7 in af-south-1, g 3 in af-south-1" per service.
pub fn ended_sentence(ended_on: &Value) -> String {
    ended_on
        .as_object()
        .into_iter()
        .flatten()
        .map(|(service, versions)| {
            let list: Vec<String> = versions
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let (region, function) = k.split_once('/').unwrap_or(("?", k));
                    format!("{function} {} in {region}", v.as_str().unwrap_or("?"))
                })
                .collect();
            format!("{service}: {}", list.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
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
    use bbws_domain::{Config, ReleaseRequest};

    fn plan(rollback: bool) -> ReleasePlan {
        let request = ReleaseRequest::validate(
            &json!({"target_env": "sit", "services": ["site-management", "tenant-instance-management",
                "ecs-event-handler"], "requested_by": "lead@bbws.io", "reason": "Release 2026.12",
                "rollback_completed_phases": rollback}),
            &Config::runbook().catalog,
        )
        .expect("valid");
        ReleasePlan::new(
            request,
            &Config::runbook(),
            "arn:aws:states:af-south-1:815856636111:execution:bbws-release-sit:rel",
            Utc::now(),
        )
        .expect("plan")
    }

    fn child(service: &str, version: &str) -> Value {
        let index = [
            "tenant-instance-management",
            "ecs-event-handler",
            "site-management",
        ]
        .iter()
        .position(|s| *s == service)
        .unwrap_or(0)
            + 1;
        json!({"ExecutionArn": format!("arn:aws:states:af-south-1:815856636111:execution:bbws-promote-sit:rel-p{index}"), "Output": {
            "promotion": {"service": service},
            "backup": {"functions": [{"region": "af-south-1", "function": service, "version": "1"}]},
            "deploy": {"functions": [{"region": "af-south-1", "function": service, "version": version}]}}})
    }

    #[test]
    fn a_failed_tenant_phase_ends_under_the_tenant_execution_name_and_says_where_services_are() {
        let tenant = json!({"execution_arn": "arn:aws:states:af-south-1:815856636111:execution:bbws-release-sit:rel",
            "execution_name": "rel", "started_at": "2026-12-01T20:05:00Z",
            "request": {"environment": "sit", "tenants": ["tenant-001"], "commit": "1111111111111111111111111111111111111111",
                "action": "apply", "reason": "r", "requested_by": "lead@bbws.io", "change_request": null, "incident": null},
            "targets": [{"tenant_id": "tenant-001", "commit": "1111111111111111111111111111111111111111",
                "commit_source": "given", "current_commit": null, "artifacts_prefix": "tenant/sit/rel/tenant-001"}],
            "approval": null, "approval_timeout_seconds": 60, "project": "p", "artifacts_bucket": "b",
            "artifacts_root": "tenant/sit/rel", "policy": {"verify_timeout_seconds": 60, "verify_poll_seconds": 5}});
        let verify = json!({"failed_stage": "verify", "tenant": tenant, "error": {"Error": "Bbws.TenantNotVerified",
            "Cause": json!({"errorMessage": "in bbws-cluster-sit: tenant-001-wordpress: ACTIVE, 0 of 1 running"}).to_string()}});
        let o = classify("failed", &verify, &plan(false)).expect("classified");
        assert_eq!(o.error, Some(ErrorName::TenantNotVerified));
        assert!(
            o.cause
                .starts_with("phase 4 (tenants) failed: tenant-001 in SIT"),
            "{}",
            o.cause
        );
        let mut refused = verify.clone();
        refused["failed_stage"] = json!("review");
        refused["error"] = json!({"Error": "Bbws.DestroyBlocked", "Cause": json!({"errorMessage": "DESTROY is blocked in PROD: x"}).to_string()});
        let o = classify("failed", &refused, &plan(false)).expect("classified");
        assert_eq!(o.error, Some(ErrorName::DestroyBlocked));
        assert!(o.cause.ends_with("nothing was deployed"), "{}", o.cause);
    }

    #[test]
    fn a_completed_phase_moves_the_cursor_and_the_last_one_ends_it() {
        let release = plan(false);
        let mut progress = first(&release);
        assert_eq!(progress["next"]["service"], "tenant-instance-management");
        for (i, service) in [
            "tenant-instance-management",
            "ecs-event-handler",
            "site-management",
        ]
        .iter()
        .enumerate()
        {
            let state = json!({"progress": progress, "child": child(service, "7"),
                               "health": {"polls_done": 2, "verdict": "healthy"}});
            let (next, subject, _) = advance(&release, "succeeded", &state).expect("advanced");
            assert_eq!(
                subject,
                format!("Release phase {} of 3 done: {service} in SIT", i + 1)
            );
            progress = next;
        }
        assert_eq!(progress["done"], true);
        assert_eq!(progress["completed"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            progress["completed"][1]["to_version"],
            json!({"af-south-1/ecs-event-handler": "7"})
        );
    }

    #[test]
    fn a_failed_child_stops_the_release_and_names_what_did_not_start() {
        let release = plan(true);
        let state = json!({"progress": first(&release), "child": child("tenant-instance-management", "7"),
                           "health": {"verdict": "healthy"}});
        let (progress, _, _) = advance(&release, "succeeded", &state).expect("advanced");
        let described = json!({"ExecutionArn": "arn:child:ecs", "Error": ErrorName::RolledBack.as_str(),
                               "Cause": "verification failed right after the deploy"});
        let state = json!({"progress": progress, "child": child("tenant-instance-management", "7"),
                           "health": {"verdict": "healthy", "reason": null},
                           "child_error": {"Error": "States.TaskFailed", "Cause": described.to_string()}});
        let (progress, subject, text) = advance(&release, "failed", &state).expect("advanced");
        assert_eq!(
            subject,
            "Release phase 2 of 3 failed: ecs-event-handler in SIT"
        );
        assert_eq!(progress["failed"]["error"], ErrorName::RolledBack.as_str());
        assert_eq!(progress["not_started"], json!(["site-management"]));
        assert_eq!(progress["roll_back_completed"], true);
        assert_eq!(
            progress["rollback_order"][0]["service"],
            "tenant-instance-management"
        );
        assert!(text.contains("They are rolled back now"), "{text}");

        let ended = json!({"progress": progress, "failed_stage": "phases",
                           "completed_rollback": {"phases": []}});
        let o = classify("failed", &ended, &release).expect("classified");
        assert_eq!(o.error, Some(ErrorName::ReleaseFailed));
        assert_eq!(
            o.cause,
            format!(
                "phase 2 (ecs-event-handler) failed with {}: verification failed right after \
                 the deploy; the completed phases were rolled back: tenant-instance-management; \
                 not started: site-management",
                ErrorName::RolledBack
            )
        );
    }

    #[test]
    fn a_bookkeeping_failure_still_says_where_the_release_stopped() {
        let release = plan(false);
        let state = json!({"failed_stage": "bookkeeping", "error": caught(ErrorName::AwsUnavailable, "SNS timed out"),
            "progress": {"failed": {"cause": "phase 1 (tenant-instance-management) failed"}, "completed": []}});
        let o = classify("failed", &state, &release).expect("classified");
        assert_eq!(o.error, Some(ErrorName::ReleaseFailed));
        let stopped = format!(
            "the release stopped: its phase bookkeeping failed ({}: SNS timed out)",
            ErrorName::AwsUnavailable
        );
        assert!(o.cause.starts_with(&stopped), "{}", o.cause);
    }

    #[test]
    fn a_preflight_stopped_by_aws_is_preflight_failed_naming_the_aws_error() {
        let release = plan(false);
        let refused = json!({"failed_stage": "preflight", "error": caught(ErrorName::AwsRefused, "Query t: AccessDeniedException: no")});
        let o = classify("failed", &refused, &release).expect("classified");
        assert_eq!(o.error, Some(ErrorName::PreflightFailed));
        assert_eq!(
            o.cause,
            format!(
                "{} during preflight: Query t: AccessDeniedException: no; nothing was deployed",
                ErrorName::AwsRefused
            )
        );
        let ours = json!({"failed_stage": "preflight", "error": caught(ErrorName::OutsideMaintenanceWindow, "closed")});
        let o = classify("failed", &ours, &release).expect("classified");
        assert_eq!(o.error, Some(ErrorName::OutsideMaintenanceWindow));
        assert_eq!(o.cause, "closed; nothing was deployed");
    }

    #[test]
    fn a_refused_approval_ends_the_release_before_anything_deployed() {
        let release = plan(false);
        let state = json!({"failed_stage": "approval", "error": {"Error": ErrorName::ApprovalRejected.as_str(),
            "Cause": "dev-lead@bbws.io (Dev Lead) rejected: not this week"}});
        let o = classify("failed", &state, &release).expect("classified");
        assert_eq!(o.error, Some(ErrorName::ApprovalRejected));
        assert!(
            o.cause.ends_with("not this week; nothing was deployed"),
            "{}",
            o.cause
        );
        assert_eq!(
            ended_sentence(&json!({"s": {"af-south-1/f": "3"}})),
            "s: f 3 in af-south-1"
        );
    }
}
