//! A tenant execution from request to record (RB-003 §3.2.4, §4.3.4, §6.2.3): which commit each
//! tenant gets, what the approvers are shown of each plan, when the plans go no further, and when a
//! tenant's ECS service counts as verified.
//!
//! The execution (`bbws-tenant-<env>`) runs, per tenant, a plan build and, once approved, an apply
//! build of exactly the plan file the approvers saw (its SHA-256). Everything here is pure: the
//! tenant function reads the records, the plan summaries and ECS and asks these functions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approvals::{ApprovalPolicy, Requirement};
use crate::env::Env;
use crate::errors::FieldError;
use crate::tenant::{
    destroy_verdict, is_commit_sha, DestroyVerdict, PlanSummary, TenantAction, TenantRequest,
};

/// The default time a tenant's ECS service has to reach its desired count after the apply.
pub const DEFAULT_VERIFY_TIMEOUT_SECONDS: u64 = 600;
/// The default pause between two looks at the services.
pub const DEFAULT_VERIFY_POLL_SECONDS: u64 = 15;

/// How tenant executions verify what they applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TenantPolicy {
    /// How long each tenant's `<tenant_id>-wordpress` service may take to be ACTIVE with its
    /// running count at the desired count (RB-003 §3.2.4 step 7).
    pub verify_timeout_seconds: u64,
    /// The pause between two DescribeServices.
    pub verify_poll_seconds: u64,
}

impl Default for TenantPolicy {
    fn default() -> Self {
        TenantPolicy {
            verify_timeout_seconds: DEFAULT_VERIFY_TIMEOUT_SECONDS,
            verify_poll_seconds: DEFAULT_VERIFY_POLL_SECONDS,
        }
    }
}

impl TenantPolicy {
    /// Problems with the policy's values.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(1..=3_600).contains(&self.verify_poll_seconds) {
            errors.push(FieldError::new(
                format!("{field}.verify_poll_seconds"),
                "must be between 1 and 3600",
            ));
        }
        if !(self.verify_poll_seconds..=86_400).contains(&self.verify_timeout_seconds) {
            errors.push(FieldError::new(
                format!("{field}.verify_timeout_seconds"),
                "must be between verify_poll_seconds and 86400",
            ));
        }
        errors
    }
}

impl ApprovalPolicy {
    /// Who approves a tenant execution in `env`: an apply as a promotion into that environment
    /// does (SIT: DEV -> SIT's approvers, PROD: SIT -> PROD's), a rollback as a manual rollback
    /// there does, falling back to the apply's approvers (every tenant plan outside DEV is seen by
    /// a person before it is applied). `None` in DEV unless a DEV rollback approval is configured.
    pub fn for_tenant(&self, env: Env, action: TenantAction) -> Option<&Requirement> {
        let apply = match env {
            Env::Dev => None,
            Env::Sit => Some(&self.dev_to_sit),
            Env::Prod => Some(&self.sit_to_prod),
        };
        match action {
            TenantAction::Apply => apply,
            TenantAction::Rollback => self.for_rollback(env).or(apply),
        }
    }
}

/// Where a tenant's commit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommitSource {
    /// Named in the request.
    Given,
    /// PROD: the commit SIT last applied for the tenant.
    Sit,
    /// A rollback: the commit the tenant had before its latest apply.
    Previous,
}

/// A tenant's applied commits, as this environment's (or SIT's) records tell them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantHistory {
    /// The commit of the newest successful apply.
    pub current: Option<String>,
    /// The commit that newest apply replaced.
    pub previous: Option<String>,
    /// Every commit a successful apply applied, newest first.
    pub applied: Vec<String>,
}

/// One tenant of an execution, with the commit it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTarget {
    /// The tenant directory.
    pub tenant_id: String,
    /// The commit planned and applied.
    pub commit: String,
    /// Why that commit.
    pub commit_source: CommitSource,
    /// What the tenant has now in this environment (its newest successful apply), if recorded.
    pub current_commit: Option<String>,
    /// Where its build puts the plan: `<artifacts_root>/<tenant_id>`.
    pub artifacts_prefix: String,
}

/// A tenant execution's plan, as its first step leaves it in the state (`$.tenant`): what every
/// later step (the builds, the review, the approval, the verification, the record) works from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantPlan {
    /// The execution.
    pub execution_arn: String,
    /// Its name (the artifacts' folder).
    pub execution_name: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The validated request.
    pub request: TenantRequest,
    /// Each tenant with its commit, in the request's order.
    pub targets: Vec<TenantTarget>,
    /// Who must approve; `None`: no approval (DEV, by default).
    pub approval: Option<Requirement>,
    /// How long the approval may take.
    pub approval_timeout_seconds: u64,
    /// The CodeBuild project that plans and applies.
    pub project: String,
    /// The bucket the builds keep the plans in.
    pub artifacts_bucket: String,
    /// `tenant/<env>/<execution name>`: each tenant's plan is under `<root>/<tenant_id>/`.
    pub artifacts_root: String,
    /// The verification's timing.
    pub policy: TenantPolicy,
}

/// Resolves each tenant's commit; every tenant that has none is named at once.
///
/// - an apply with a commit: that commit (in PROD it must be one SIT applied for the tenant);
/// - an apply in PROD without one: SIT's current commit;
/// - a rollback with a commit: that commit; without: the commit before the tenant's latest apply.
pub fn resolve_targets(
    request: &TenantRequest,
    here: &dyn Fn(&str) -> TenantHistory,
    sit: &dyn Fn(&str) -> TenantHistory,
    artifacts_root: &str,
) -> Result<Vec<TenantTarget>, Vec<FieldError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, tenant) in request.tenants.iter().enumerate() {
        let field = format!("tenants[{i}]");
        let mine = here(tenant);
        let resolved = match (request.action, &request.commit) {
            (TenantAction::Apply, Some(c)) if request.environment == Env::Prod => {
                let in_sit = sit(tenant);
                if in_sit.applied.iter().any(|a| a == c) {
                    Ok((c.clone(), CommitSource::Given))
                } else {
                    Err(format!(
                        "commit {c} was never applied to {tenant} in SIT (SIT applied {}): PROD \
                         applies only what SIT applied; leave commit out to take SIT's current one",
                        list_or_none(&in_sit.applied)
                    ))
                }
            }
            (_, Some(c)) => Ok((c.clone(), CommitSource::Given)),
            (TenantAction::Apply, None) => match sit(tenant).current {
                Some(c) => Ok((c, CommitSource::Sit)),
                None => Err(format!(
                    "{tenant} has no successful apply recorded in SIT: apply it in SIT first, \
                     or name the commit"
                )),
            },
            (TenantAction::Rollback, None) => match &mine.previous {
                Some(c) => Ok((c.clone(), CommitSource::Previous)),
                None => Err(format!(
                    "{tenant} has no earlier commit recorded in {} to roll back to (give \
                     \"commit\": the commit to go back to)",
                    request.environment.label()
                )),
            },
        };
        match resolved {
            Ok((commit, commit_source)) if is_commit_sha(&commit) => out.push(TenantTarget {
                tenant_id: tenant.clone(),
                commit,
                commit_source,
                current_commit: mine.current.clone(),
                artifacts_prefix: format!("{artifacts_root}/{tenant}"),
            }),
            Ok((commit, _)) => errors.push(FieldError::new(
                field,
                format!("the recorded commit '{commit}' of {tenant} is not a full commit SHA"),
            )),
            Err(why) => errors.push(FieldError::new(field, why)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The history of a tenant from its records (items of the deployments table with
/// `action = tenant`, any order): successful applies only, newest first. The previous commit is
/// the newest one applied before that differs from the current one (an apply that changed
/// nothing leaves it as it was).
pub fn history_from_records(records: &[Value]) -> TenantHistory {
    let mut applied: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r.get("action").and_then(Value::as_str) == Some("tenant"))
        .filter(|r| r.get("outcome").and_then(Value::as_str) == Some("succeeded"))
        .filter_map(|r| Some((r.get("timestamp")?.as_str()?, r.get("commit")?.as_str()?)))
        .collect();
    applied.sort_by(|a, b| b.0.cmp(a.0));
    let current = applied.first().map(|a| a.1.to_owned());
    let previous = applied
        .iter()
        .map(|a| a.1)
        .find(|c| Some(*c) != current.as_deref())
        .map(str::to_owned);
    TenantHistory {
        current,
        previous,
        applied: applied.iter().map(|a| a.1.to_owned()).collect(),
    }
}

/// The deployments table's `service` key of a tenant's records (its service-timestamp index is
/// how a tenant's history is read).
pub fn record_service(tenant_id: &str) -> String {
    format!("tenant:{tenant_id}")
}

/// What a plan build left beside its plan (`plan-summary.json`, written by
/// infra/tenant-build/plan.sh).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanArtifact {
    /// The tenant planned.
    pub tenant_id: String,
    /// The environment planned.
    pub env: String,
    /// The commit planned.
    pub commit: String,
    /// SHA-256 of the binary plan file (`tfplan`): what the approvers approve and the apply checks.
    pub tfplan_sha256: String,
    /// SHA-256 of `plan.json`.
    pub plan_json_sha256: String,
    /// The commit's author, "Name <email>".
    #[serde(default)]
    pub commit_author: Option<String>,
    /// The commit's subject line.
    #[serde(default)]
    pub commit_subject: Option<String>,
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The most changed addresses a reviewed plan keeps in the execution's state (Step Functions keeps
/// at most 256 KB of it, and ten tenants' plans could list thousands): destructions first, then the
/// others; the counts stay whole and `changes_not_listed` says how many addresses are left out (the
/// plan itself, in the plans bucket, has them all).
pub const MAX_REVIEWED_CHANGES: usize = 200;

/// A tenant's plan as reviewed: where it is, what it does, and what the approvers must see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanReview {
    /// The tenant.
    pub tenant_id: String,
    /// The commit planned.
    pub commit: String,
    /// Why that commit.
    pub commit_source: CommitSource,
    /// The commit the tenant has now, if recorded.
    pub current_commit: Option<String>,
    /// The commit's author.
    pub commit_author: Option<String>,
    /// The commit's subject line.
    pub commit_subject: Option<String>,
    /// SHA-256 of the plan file the apply must find.
    pub tfplan_sha256: String,
    /// SHA-256 of its JSON rendering.
    pub plan_json_sha256: String,
    /// Where the plan lies.
    pub artifacts_prefix: String,
    /// What it does (at most [`MAX_REVIEWED_CHANGES`] addresses; the counts are whole).
    pub summary: PlanSummary,
    /// The changed addresses not listed in `summary.changes`.
    #[serde(default)]
    pub changes_not_listed: usize,
    /// Its destructions and what they mean here.
    pub verdict: DestroyVerdict,
}

/// `summary` with at most `max` addresses (destructions first, then in address order), and how many
/// were left out.
fn capped(mut summary: PlanSummary, max: usize) -> (PlanSummary, usize) {
    let total = summary.changes.len();
    if total <= max {
        return (summary, 0);
    }
    summary.changes.sort_by_key(|c| !c.kind.destroys());
    summary.changes.truncate(max);
    summary.changes.sort_by(|a, b| a.address.cmp(&b.address));
    (summary, total - max)
}

/// A verdict whose called-out destructions are at most `max`, the rest counted in one line.
fn capped_verdict(verdict: DestroyVerdict, max: usize) -> DestroyVerdict {
    match verdict {
        DestroyVerdict::CallOut { mut destructions } if destructions.len() > max => {
            let more = destructions.len() - max;
            destructions.truncate(max);
            destructions.push(format!("... and {more} more (the plan lists them)"));
            DestroyVerdict::CallOut { destructions }
        }
        other => other,
    }
}

/// Every plan of an execution, reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantReview {
    /// One per tenant, in the request's order.
    pub plans: Vec<PlanReview>,
    /// No plan changes anything: nothing to approve or apply.
    pub nothing_to_apply: bool,
    /// The tenants whose plan changes something (those the apply builds run for).
    pub to_apply: Vec<String>,
    /// "tenant-001=<sha> tenant-002=<sha>": the apply builds' expected plan hashes.
    pub tfplan_sha256s: String,
    /// Destroyed resources called out to the approvers (outside PROD), "<tenant>: <address> (kind)".
    pub callouts: Vec<String>,
}

/// Why the plans go no further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewRefusal {
    /// A plan's artifacts do not match what the execution asked for, or do not parse.
    BadArtifact(String),
    /// PROD: at least one plan deletes or replaces; each is named.
    DestroyBlocked(String),
}

/// Reviews each tenant's plan: the artifact must be the plan of that tenant, environment and
/// commit, its JSON must hash as recorded and parse as a Terraform plan; then RB-003 §4.3.4.
///
/// `plans` holds, per target, its `plan-summary.json`, the SHA-256 of `plan.json` as read and the
/// parsed `plan.json`.
pub fn review(
    env: Env,
    targets: &[TenantTarget],
    plans: &[(PlanArtifact, String, Value)],
) -> Result<TenantReview, ReviewRefusal> {
    if targets.len() != plans.len() {
        return Err(ReviewRefusal::BadArtifact(format!(
            "{} tenants but {} plans",
            targets.len(),
            plans.len()
        )));
    }
    let mut reviews = Vec::new();
    let mut blocked = Vec::new();
    for (target, (artifact, json_sha, json)) in targets.iter().zip(plans) {
        let t = &target.tenant_id;
        let mismatch = |what: &str, got: &str, want: &str| {
            ReviewRefusal::BadArtifact(format!(
                "the plan of {t} at {}: {what} is '{got}', not '{want}'",
                target.artifacts_prefix
            ))
        };
        if &artifact.tenant_id != t {
            return Err(mismatch("tenant_id", &artifact.tenant_id, t));
        }
        if artifact.env != env.as_str() {
            return Err(mismatch("env", &artifact.env, env.as_str()));
        }
        if artifact.commit != target.commit {
            return Err(mismatch("commit", &artifact.commit, &target.commit));
        }
        if !is_sha256(&artifact.tfplan_sha256) {
            return Err(mismatch(
                "tfplan_sha256",
                &artifact.tfplan_sha256,
                "64 hexadecimal digits",
            ));
        }
        if &artifact.plan_json_sha256 != json_sha {
            return Err(mismatch(
                "the SHA-256 of plan.json",
                json_sha,
                &artifact.plan_json_sha256,
            ));
        }
        let summary = PlanSummary::from_plan_json(json)
            .map_err(|e| ReviewRefusal::BadArtifact(format!("the plan of {t}: {e}")))?;
        let verdict = destroy_verdict(env, t, &summary);
        if let DestroyVerdict::Blocked { message, .. } = &verdict {
            blocked.push(message.clone());
        }
        let verdict = capped_verdict(verdict, MAX_REVIEWED_CHANGES);
        let (summary, changes_not_listed) = capped(summary, MAX_REVIEWED_CHANGES);
        reviews.push(PlanReview {
            tenant_id: t.clone(),
            commit: target.commit.clone(),
            commit_source: target.commit_source,
            current_commit: target.current_commit.clone(),
            commit_author: artifact.commit_author.clone(),
            commit_subject: artifact.commit_subject.clone(),
            tfplan_sha256: artifact.tfplan_sha256.clone(),
            plan_json_sha256: artifact.plan_json_sha256.clone(),
            artifacts_prefix: target.artifacts_prefix.clone(),
            summary,
            changes_not_listed,
            verdict,
        });
    }
    if !blocked.is_empty() {
        return Err(ReviewRefusal::DestroyBlocked(format!(
            "{}; nothing was applied",
            blocked.join("; ")
        )));
    }
    let to_apply: Vec<&PlanReview> = reviews.iter().filter(|r| !r.summary.is_empty()).collect();
    let callouts = reviews
        .iter()
        .filter_map(|r| match &r.verdict {
            DestroyVerdict::CallOut { destructions } => Some(
                destructions
                    .iter()
                    .map(|d| format!("{}: {d}", r.tenant_id))
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    Ok(TenantReview {
        nothing_to_apply: to_apply.is_empty(),
        to_apply: to_apply.iter().map(|r| r.tenant_id.clone()).collect(),
        tfplan_sha256s: to_apply
            .iter()
            .map(|r| format!("{}={}", r.tenant_id, r.tfplan_sha256))
            .collect::<Vec<_>>()
            .join(" "),
        callouts,
        plans: reviews,
    })
}

/// A tenant's ECS service as DescribeServices shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceObservation {
    /// The tenant.
    pub tenant_id: String,
    /// `<tenant_id>-wordpress`.
    pub service: String,
    /// ACTIVE, DRAINING, INACTIVE; `None` when the service was not found.
    pub status: Option<String>,
    /// The desired count.
    pub desired: i64,
    /// The running count.
    pub running: i64,
    /// The primary deployment's rollout state (COMPLETED, IN_PROGRESS, FAILED), when shown.
    pub rollout: Option<String>,
}

impl ServiceObservation {
    /// RB-003 §3.2.4 step 7: ACTIVE and running = desired (and the rollout not failed).
    pub fn settled(&self) -> bool {
        self.status.as_deref() == Some("ACTIVE")
            && self.running == self.desired
            && self.rollout.as_deref() != Some("FAILED")
    }

    /// "tenant-001-wordpress: ACTIVE, 1 of 2 running".
    pub fn describe(&self) -> String {
        match &self.status {
            None => format!("{}: not found in the cluster", self.service),
            Some(s) => format!(
                "{}: {s}, {} of {} running{}",
                self.service,
                self.running,
                self.desired,
                self.rollout
                    .as_deref()
                    .map(|r| format!(", rollout {r}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// What a look at the services decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum VerifyVerdict {
    /// Every service is ACTIVE with running = desired.
    Verified {
        /// One line per service.
        services: Vec<String>,
    },
    /// Not yet; look again after the poll interval.
    Waiting {
        /// The services not settled, one line each.
        pending: Vec<String>,
        /// Seconds left before the verification fails.
        seconds_left: u64,
    },
    /// The time is up (or a service failed its rollout).
    Failed {
        /// Why, naming each service.
        message: String,
    },
}

/// Decides the verification after an apply that ended at `applied_at`.
pub fn verify(
    services: &[ServiceObservation],
    applied_at: DateTime<Utc>,
    now: DateTime<Utc>,
    policy: &TenantPolicy,
) -> VerifyVerdict {
    let failed: Vec<String> = services
        .iter()
        .filter(|s| s.rollout.as_deref() == Some("FAILED"))
        .map(ServiceObservation::describe)
        .collect();
    if !failed.is_empty() {
        return VerifyVerdict::Failed {
            message: format!("a tenant's deployment failed: {}", failed.join("; ")),
        };
    }
    let pending: Vec<String> = services
        .iter()
        .filter(|s| !s.settled())
        .map(ServiceObservation::describe)
        .collect();
    if pending.is_empty() {
        return VerifyVerdict::Verified {
            services: services.iter().map(ServiceObservation::describe).collect(),
        };
    }
    let elapsed = u64::try_from((now - applied_at).num_seconds().max(0)).unwrap_or(0);
    if elapsed >= policy.verify_timeout_seconds {
        VerifyVerdict::Failed {
            message: format!(
                "not ACTIVE with running = desired {elapsed} s after the apply (allowed {} s, \
                 RB-003 §3.2.4): {}",
                policy.verify_timeout_seconds,
                pending.join("; ")
            ),
        }
    } else {
        VerifyVerdict::Waiting {
            pending,
            seconds_left: policy.verify_timeout_seconds - elapsed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";
    const C: &str = "3333333333333333333333333333333333333333";
    const SHA_PLAN: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SHA_JSON: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn request(v: Value) -> TenantRequest {
        TenantRequest::validate(&v).expect("valid request")
    }

    fn hist(current: Option<&str>, previous: Option<&str>, applied: &[&str]) -> TenantHistory {
        TenantHistory {
            current: current.map(str::to_owned),
            previous: previous.map(str::to_owned),
            applied: applied.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn none(_: &str) -> TenantHistory {
        TenantHistory::default()
    }

    #[test]
    fn prod_takes_sits_current_commit_per_tenant() {
        let r = request(
            json!({"environment": "prod", "tenants": ["tenant-001", "tenant-002"],
            "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
        );
        let sit = |t: &str| {
            if t == "tenant-001" {
                hist(Some(B), Some(A), &[B, A])
            } else {
                hist(Some(C), None, &[C])
            }
        };
        let here = |_: &str| hist(Some(A), None, &[A]);
        let got = resolve_targets(&r, &here, &sit, "tenant/prod/x").expect("resolved");
        assert_eq!(got[0].commit, B);
        assert_eq!(got[0].commit_source, CommitSource::Sit);
        assert_eq!(got[0].current_commit.as_deref(), Some(A));
        assert_eq!(got[0].artifacts_prefix, "tenant/prod/x/tenant-001");
        assert_eq!(got[1].commit, C);
    }

    #[test]
    fn prod_refuses_a_commit_sit_never_applied_and_names_what_sit_did() {
        let r = request(
            json!({"environment": "prod", "tenants": ["tenant-001"], "commit": C,
            "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
        );
        let sit = |_: &str| hist(Some(B), Some(A), &[B, A]);
        let err = resolve_targets(&r, &none, &sit, "p").expect_err("refused");
        assert_eq!(err[0].field, "tenants[0]");
        assert!(err[0]
            .rule
            .contains(&format!("commit {C} was never applied")));
        assert!(err[0].rule.contains(&format!("{B}, {A}")));
        let ok = request(
            json!({"environment": "prod", "tenants": ["tenant-001"], "commit": A,
            "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
        );
        assert_eq!(
            resolve_targets(&ok, &none, &sit, "p").expect("ok")[0].commit,
            A
        );
    }

    #[test]
    fn prod_without_a_sit_apply_names_each_tenant() {
        let r = request(
            json!({"environment": "prod", "tenants": ["tenant-001", "tenant-002"],
            "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
        );
        let err = resolve_targets(&r, &none, &none, "p").expect_err("refused");
        assert_eq!(err.len(), 2);
        assert!(err[1]
            .rule
            .starts_with("tenant-002 has no successful apply recorded in SIT"));
    }

    #[test]
    fn a_rollback_goes_to_the_commit_before_the_latest_apply() {
        let r = request(
            json!({"environment": "sit", "tenants": ["tenant-001"], "action": "rollback",
            "reason": "r", "requested_by": "ops@bbws.io"}),
        );
        let here = |_: &str| hist(Some(B), Some(A), &[B, A]);
        let got = resolve_targets(&r, &here, &none, "p").expect("resolved");
        assert_eq!(
            (got[0].commit.as_str(), got[0].commit_source),
            (A, CommitSource::Previous)
        );
        let err = resolve_targets(&r, &none, &none, "p").expect_err("nothing to go back to");
        assert!(err[0].rule.contains("no earlier commit recorded in SIT"));
    }

    #[test]
    fn history_counts_successful_tenant_records_newest_first() {
        let records = vec![
            json!({"action": "tenant", "outcome": "succeeded", "timestamp": "2026-12-01T10:00:00Z", "commit": A}),
            json!({"action": "tenant", "outcome": "failed", "timestamp": "2026-12-03T10:00:00Z", "commit": C}),
            json!({"action": "tenant", "outcome": "succeeded", "timestamp": "2026-12-02T10:00:00Z", "commit": B, "previous_commit": A}),
            json!({"action": "promote", "outcome": "succeeded", "timestamp": "2026-12-04T10:00:00Z", "commit": C}),
        ];
        let h = history_from_records(&records);
        assert_eq!(h, hist(Some(B), Some(A), &[B, A]));
        // An apply of the same commit again (an empty plan) keeps the commit before.
        let mut again = records.clone();
        again.push(json!({"action": "tenant", "outcome": "succeeded", "timestamp": "2026-12-05T10:00:00Z", "commit": B}));
        assert_eq!(
            history_from_records(&again),
            hist(Some(B), Some(A), &[B, B, A])
        );
    }

    fn target(t: &str) -> TenantTarget {
        TenantTarget {
            tenant_id: t.into(),
            commit: A.into(),
            commit_source: CommitSource::Given,
            current_commit: None,
            artifacts_prefix: format!("tenant/sit/x/{t}"),
        }
    }

    fn artifact(t: &str, env: &str) -> PlanArtifact {
        PlanArtifact {
            tenant_id: t.into(),
            env: env.into(),
            commit: A.into(),
            tfplan_sha256: SHA_PLAN.into(),
            plan_json_sha256: SHA_JSON.into(),
            commit_author: Some("Dev <dev@bbws.io>".into()),
            commit_subject: Some("tenant-001: more memory".into()),
        }
    }

    fn plan(actions: &[(&str, &[&str])]) -> Value {
        json!({"format_version": "1.2", "resource_changes": actions.iter().map(|(a, acts)| json!({
            "address": a, "change": {"actions": acts}})).collect::<Vec<_>>()})
    }

    #[test]
    fn a_sit_review_calls_out_destructions_and_lists_what_to_apply() {
        let plans = vec![
            (
                artifact("tenant-001", "sit"),
                SHA_JSON.to_owned(),
                plan(&[("aws_ecs_service.a", &["update"])]),
            ),
            (
                artifact("tenant-002", "sit"),
                SHA_JSON.to_owned(),
                plan(&[("aws_ssm_parameter.b", &["delete"])]),
            ),
            (
                artifact("tenant-003", "sit"),
                SHA_JSON.to_owned(),
                plan(&[("aws_ssm_parameter.c", &["no-op"])]),
            ),
        ];
        let r = review(
            Env::Sit,
            &[
                target("tenant-001"),
                target("tenant-002"),
                target("tenant-003"),
            ],
            &plans,
        )
        .expect("reviewed");
        assert!(!r.nothing_to_apply);
        assert_eq!(r.to_apply, ["tenant-001", "tenant-002"]);
        assert_eq!(
            r.tfplan_sha256s,
            format!("tenant-001={SHA_PLAN} tenant-002={SHA_PLAN}")
        );
        assert_eq!(r.callouts, ["tenant-002: aws_ssm_parameter.b (delete)"]);
        assert_eq!(
            r.plans[0].commit_author.as_deref(),
            Some("Dev <dev@bbws.io>")
        );
    }

    #[test]
    fn a_prod_review_with_a_destruction_is_blocked_naming_tenant_and_address() {
        let plans = vec![
            (
                artifact("tenant-001", "prod"),
                SHA_JSON.to_owned(),
                plan(&[("aws_ecs_service.a", &["update"])]),
            ),
            (
                artifact("tenant-002", "prod"),
                SHA_JSON.to_owned(),
                plan(&[
                    ("aws_ssm_parameter.b", &["delete"]),
                    ("aws_ecs_task_definition.t", &["create", "delete"]),
                ]),
            ),
        ];
        let Err(ReviewRefusal::DestroyBlocked(m)) = review(
            Env::Prod,
            &[target("tenant-001"), target("tenant-002")],
            &plans,
        ) else {
            panic!("not blocked")
        };
        assert!(m.starts_with("DESTROY is blocked in PROD"), "{m}");
        assert!(m.contains("tenant-002"));
        assert!(m.contains("aws_ssm_parameter.b (delete)"));
        assert!(m.contains("aws_ecs_task_definition.t (replace)"), "{m}");
        assert!(m.ends_with("nothing was applied"));
    }

    #[test]
    fn an_artifact_of_another_tenant_env_commit_or_hash_is_refused() {
        let t = [target("tenant-001")];
        let p = plan(&[]);
        let bad = |a: PlanArtifact, json_sha: &str| match review(
            Env::Sit,
            &t,
            &[(a, json_sha.to_owned(), p.clone())],
        ) {
            Err(ReviewRefusal::BadArtifact(m)) => m,
            other => panic!("not refused: {other:?}"),
        };
        assert!(bad(artifact("tenant-002", "sit"), SHA_JSON).contains("tenant_id is 'tenant-002'"));
        assert!(bad(artifact("tenant-001", "prod"), SHA_JSON).contains("env is 'prod'"));
        let mut other_commit = artifact("tenant-001", "sit");
        other_commit.commit = B.into();
        assert!(bad(other_commit, SHA_JSON).contains("commit is"));
        assert!(bad(artifact("tenant-001", "sit"), SHA_PLAN).contains("SHA-256 of plan.json"));
        let mut short = artifact("tenant-001", "sit");
        short.tfplan_sha256 = "abc".into();
        assert!(bad(short, SHA_JSON).contains("tfplan_sha256"));
    }

    #[test]
    fn a_huge_plan_keeps_its_counts_and_its_destructions_within_the_states_limit() {
        let mut actions: Vec<(String, &[&str])> = (0..1_000)
            .map(|i| (format!("aws_ssm_parameter.p{i:04}"), &["update"][..]))
            .collect();
        actions[999].1 = &["delete"];
        let refs: Vec<(&str, &[&str])> = actions.iter().map(|(a, k)| (a.as_str(), *k)).collect();
        let r = review(
            Env::Sit,
            &[target("tenant-001")],
            &[(
                artifact("tenant-001", "sit"),
                SHA_JSON.to_owned(),
                plan(&refs),
            )],
        )
        .expect("ok");
        let p = &r.plans[0];
        assert_eq!(
            (p.summary.change, p.summary.destroy),
            (999, 1),
            "whole counts"
        );
        assert_eq!(p.summary.changes.len(), MAX_REVIEWED_CHANGES);
        assert_eq!(p.changes_not_listed, 800);
        assert!(
            p.summary
                .changes
                .iter()
                .any(|c| c.address == "aws_ssm_parameter.p0999"),
            "destructions first"
        );
        assert!(
            serde_json::to_vec(&r)
                .map(|b| b.len())
                .unwrap_or(usize::MAX)
                < 64 * 1024
        );
    }

    #[test]
    fn empty_plans_leave_nothing_to_apply() {
        let r = review(
            Env::Prod,
            &[target("tenant-001")],
            &[(
                artifact("tenant-001", "prod"),
                SHA_JSON.to_owned(),
                plan(&[]),
            )],
        )
        .expect("ok");
        assert!(r.nothing_to_apply);
        assert!(r.tfplan_sha256s.is_empty());
    }

    fn svc(
        status: Option<&str>,
        desired: i64,
        running: i64,
        rollout: Option<&str>,
    ) -> ServiceObservation {
        ServiceObservation {
            tenant_id: "tenant-001".into(),
            service: "tenant-001-wordpress".into(),
            status: status.map(str::to_owned),
            desired,
            running,
            rollout: rollout.map(str::to_owned),
        }
    }

    #[test]
    fn verification_waits_then_fails_at_the_deadline_naming_the_service() {
        let policy = TenantPolicy {
            verify_timeout_seconds: 60,
            verify_poll_seconds: 5,
        };
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T20:05:00Z")
            .expect("time")
            .to_utc();
        let waiting = verify(
            &[svc(Some("ACTIVE"), 2, 1, Some("IN_PROGRESS"))],
            t0,
            t0 + chrono::Duration::seconds(10),
            &policy,
        );
        assert_eq!(
            waiting,
            VerifyVerdict::Waiting {
                pending: vec![
                    "tenant-001-wordpress: ACTIVE, 1 of 2 running, rollout IN_PROGRESS".into()
                ],
                seconds_left: 50,
            }
        );
        let VerifyVerdict::Failed { message } = verify(
            &[svc(Some("ACTIVE"), 2, 1, None)],
            t0,
            t0 + chrono::Duration::seconds(60),
            &policy,
        ) else {
            panic!("not failed")
        };
        assert!(
            message.contains("tenant-001-wordpress: ACTIVE, 1 of 2 running"),
            "{message}"
        );
        assert!(matches!(
            verify(
                &[svc(Some("ACTIVE"), 2, 2, Some("COMPLETED"))],
                t0,
                t0,
                &policy
            ),
            VerifyVerdict::Verified { .. }
        ));
        assert!(matches!(
            verify(&[svc(None, 0, 0, None)], t0, t0, &policy),
            VerifyVerdict::Waiting { .. }
        ));
        assert!(matches!(
            verify(
                &[svc(Some("ACTIVE"), 1, 0, Some("FAILED"))],
                t0,
                t0,
                &policy
            ),
            VerifyVerdict::Failed { .. }
        ));
    }

    #[test]
    fn tenant_approvals_follow_the_promotion_into_the_environment() {
        let p = ApprovalPolicy::runbook();
        assert_eq!(p.for_tenant(Env::Dev, TenantAction::Apply), None);
        assert_eq!(
            p.for_tenant(Env::Sit, TenantAction::Apply),
            Some(&p.dev_to_sit)
        );
        assert_eq!(
            p.for_tenant(Env::Prod, TenantAction::Apply),
            Some(&p.sit_to_prod)
        );
        assert_eq!(
            p.for_tenant(Env::Prod, TenantAction::Rollback),
            Some(&p.prod_rollback)
        );
        assert_eq!(
            p.for_tenant(Env::Sit, TenantAction::Rollback),
            Some(&p.dev_to_sit)
        );
    }

    #[test]
    fn the_policy_refuses_a_timeout_shorter_than_its_poll() {
        let bad = TenantPolicy {
            verify_timeout_seconds: 5,
            verify_poll_seconds: 10,
        };
        assert_eq!(
            bad.validate("tenants")[0].field,
            "tenants.verify_timeout_seconds"
        );
        assert!(TenantPolicy::default().validate("tenants").is_empty());
    }
}
