//! Terraform GitOps tenants (RB-003 §3.2.4, §4.3.4, §5.2.1 phase 4, §6.2.3): the request of a
//! tenant execution, the summary of a Terraform plan as `terraform show -json` renders it, and the
//! rule "DESTROY action is BLOCKED in PROD".
//!
//! The input names the tenants (directories `tenants/<tenant_id>/` of `2_bbws_tenants_instances_dev`)
//! and the commit of that repository to apply:
//!
//! ```json
//! {"environment": "prod", "tenants": ["tenant-001"], "reason": "New PHP memory limit",
//!  "requested_by": "ops@bbws.io", "change_request": "CHG-4411"}
//! ```
//!
//! `commit` is a full 40-character SHA. In DEV and SIT it is required (what to apply); in PROD it
//! may be left out, and each tenant then gets the commit SIT last applied for it (a commit given
//! for PROD must have been applied in SIT). `"action": "rollback"` applies, through the same plan,
//! approval and apply, the commit the tenant had before its latest apply (§6.2.3 option 2), or the
//! commit given; a PROD rollback needs an incident as a Lambda rollback does.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::env::Env;
use crate::errors::FieldError;
use crate::fields::{InvalidRequest, Validator};

/// The top-level fields a tenant request may have.
pub const TENANT_FIELDS: [&str; 8] = [
    "environment",
    "tenants",
    "commit",
    "action",
    "reason",
    "requested_by",
    "change_request",
    "incident",
];

/// The most tenants one execution plans and applies (each plan is a build; each is reviewed).
pub const MAX_TENANTS: usize = 10;
/// The longest tenant directory name (the ECS service `<tenant_id>-wordpress` stays well inside
/// ECS's 255 characters, and the name reads in a subject line).
pub const MAX_TENANT_ID_LEN: usize = 40;

/// What a tenant execution does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantAction {
    /// Plan, approve and apply the given (or SIT's) commit.
    Apply,
    /// Plan, approve and apply the commit before the tenant's latest apply (or the one given).
    Rollback,
}

/// A validated tenant request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRequest {
    /// Where the tenants are applied.
    pub environment: Env,
    /// The tenant directories, in the order given, each once.
    pub tenants: Vec<String>,
    /// The commit to apply; `None` in PROD (SIT's last applied commit per tenant) or for a
    /// rollback (the commit before the latest apply).
    pub commit: Option<String>,
    /// Apply or roll back.
    pub action: TenantAction,
    /// Why, in words.
    pub reason: String,
    /// Who asked.
    pub requested_by: String,
    /// `CHG-<digits>`; required for an apply in PROD.
    pub change_request: Option<String>,
    /// `INC-<digits>`; required for a rollback in PROD.
    pub incident: Option<String>,
}

impl TenantRequest {
    /// Validates a tenant request, reporting every problem at once.
    pub fn validate(input: &Value) -> Result<TenantRequest, InvalidRequest> {
        let mut v = Validator::of(input)?;
        let environment = v.env("environment");
        let tenants = tenants(&mut v);
        let action = action(&mut v);
        let commit = commit(&mut v, environment, action);
        let reason = v.reason();
        let requested_by = v.requested_by();
        let change_request = v.ticket("change_request", "CHG-");
        let incident = v.ticket("incident", "INC-");
        if environment == Some(Env::Prod) {
            if action == Some(TenantAction::Apply) && change_request == Some(None) {
                v.fail(
                    "change_request",
                    "is required to apply tenants in prod (CHG-<digits>)",
                );
            }
            if action == Some(TenantAction::Rollback) && incident == Some(None) {
                v.fail(
                    "incident",
                    "is required for a rollback in prod (INC-<digits>, RB-003 §7.3)",
                );
            }
        }
        v.unknown_fields_of(&TENANT_FIELDS);
        let errors = std::mem::take(&mut v.errors);
        match (
            environment,
            tenants,
            commit,
            action,
            reason,
            requested_by,
            change_request,
            incident,
        ) {
            (
                Some(environment),
                Some(tenants),
                Some(commit),
                Some(action),
                Some(reason),
                Some(requested_by),
                Some(change_request),
                Some(incident),
            ) if errors.is_empty() => Ok(TenantRequest {
                environment,
                tenants,
                commit,
                action,
                reason,
                requested_by,
                change_request,
                incident,
            }),
            _ if errors.is_empty() => Err(InvalidRequest {
                errors: vec![FieldError::new("request", "is incomplete")],
            }),
            _ => Err(InvalidRequest { errors }),
        }
    }
}

/// Whether `id` is a tenant directory name: lowercase letters, digits and single inner hyphens,
/// starting with a letter, at most [`MAX_TENANT_ID_LEN`] characters (`tenant-001`).
pub fn is_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TENANT_ID_LEN
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && !id.ends_with('-')
        && !id.contains("--")
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `sha` is a full commit SHA: 40 lowercase hexadecimal digits.
pub fn is_commit_sha(sha: &str) -> bool {
    sha.len() == 40
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn tenants(v: &mut Validator<'_>) -> Option<Vec<String>> {
    let field = "tenants";
    let Some(value) = v.get(field) else {
        v.fail(
            field,
            "is required (a list of tenant directory names, e.g. [\"tenant-001\"])",
        );
        return None;
    };
    let Some(items) = value.as_array() else {
        v.fail(
            field,
            "must be a list of tenant directory names, e.g. [\"tenant-001\"]",
        );
        return None;
    };
    if items.is_empty() || items.len() > MAX_TENANTS {
        v.fail(
            field,
            format!("must name 1 to {MAX_TENANTS} tenants (got {})", items.len()),
        );
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        match item.as_str() {
            Some(id) if !is_tenant_id(id) => {
                v.fail(
                    &at,
                    format!(
                        "'{}' is not a tenant directory name (lowercase letters, digits and \
                         single hyphens, starting with a letter, at most {MAX_TENANT_ID_LEN} \
                         characters, e.g. tenant-001)",
                        crate::errors::shorten(id.to_owned(), 60)
                    ),
                );
                ok = false;
            }
            Some(id) if !seen.insert(id.to_owned()) => {
                v.fail(&at, format!("'{id}' is named twice"));
                ok = false;
            }
            Some(id) => out.push(id.to_owned()),
            None => {
                v.fail(&at, "must be a string");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn action(v: &mut Validator<'_>) -> Option<TenantAction> {
    match v.optional_str("action").ok()? {
        None | Some("apply") => Some(TenantAction::Apply),
        Some("rollback") => Some(TenantAction::Rollback),
        Some("destroy") => {
            v.fail(
                "action",
                "'destroy' is not an action of this pipeline (RB-003 §4.3.4: DESTROY is blocked \
                 in PROD; elsewhere a tenant is retired by a commit that removes it, planned and \
                 approved like any other)",
            );
            None
        }
        Some(other) => {
            v.fail(
                "action",
                format!(
                    "'{}' must be apply or rollback",
                    crate::errors::shorten(other.to_owned(), 40)
                ),
            );
            None
        }
    }
}

/// `Some(None)` when validly absent; `None` when there was a problem.
fn commit(
    v: &mut Validator<'_>,
    environment: Option<Env>,
    action: Option<TenantAction>,
) -> Option<Option<String>> {
    let field = "commit";
    match v.optional_str(field).ok()? {
        Some(sha) if is_commit_sha(sha) => Some(Some(sha.to_owned())),
        Some(sha) => {
            v.fail(
                field,
                format!(
                    "'{}' must be a full commit SHA of 2_bbws_tenants_instances_dev (40 lowercase \
                     hexadecimal digits; a short SHA can name two commits)",
                    crate::errors::shorten(sha.to_owned(), 60)
                ),
            );
            None
        }
        None if action == Some(TenantAction::Apply)
            && matches!(environment, Some(Env::Dev) | Some(Env::Sit)) =>
        {
            v.fail(
                field,
                format!(
                    "is required to apply tenants in {} (the commit of \
                     2_bbws_tenants_instances_dev to apply; only prod defaults to what SIT applied)",
                    environment.map(Env::as_str).unwrap_or_default()
                ),
            );
            None
        }
        None => Some(None),
    }
}

/// What Terraform will do to one resource, from a plan's `change.actions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// `["create"]`.
    Create,
    /// `["update"]`: in place.
    Update,
    /// `["delete", "create"]` or `["create", "delete"]`: the resource is destroyed and made again.
    Replace,
    /// `["delete"]`.
    Delete,
    /// `["forget"]`: removed from the state, left in the account.
    Forget,
}

impl ChangeKind {
    /// The kind of a plan's `actions` list; `Ok(None)` for `no-op` and `read`.
    pub fn of(actions: &[&str]) -> Result<Option<ChangeKind>, String> {
        Ok(Some(match actions {
            ["no-op"] | ["read"] => return Ok(None),
            ["create"] => ChangeKind::Create,
            ["update"] => ChangeKind::Update,
            ["delete", "create"] | ["create", "delete"] => ChangeKind::Replace,
            ["delete"] => ChangeKind::Delete,
            ["forget"] => ChangeKind::Forget,
            other => return Err(format!("unknown actions {other:?}")),
        }))
    }

    /// Whether the resource stops existing (for a while or for good): what PROD refuses.
    pub fn destroys(self) -> bool {
        matches!(self, ChangeKind::Delete | ChangeKind::Replace)
    }

    /// The word a reviewer reads.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Replace => "replace",
            ChangeKind::Delete => "delete",
            ChangeKind::Forget => "forget",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource the plan changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// The resource address (`module.wordpress.aws_ecs_service.this`).
    pub address: String,
    /// What happens to it.
    pub kind: ChangeKind,
}

/// A plan as a reviewer reads it: Terraform's own "to add, to change, to destroy" counts and each
/// changed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// Resources created, replacements included (Terraform's "to add").
    pub add: usize,
    /// Resources updated in place.
    pub change: usize,
    /// Resources destroyed, replacements included (Terraform's "to destroy").
    pub destroy: usize,
    /// Resources removed from the state only.
    pub forget: usize,
    /// Every changed resource, by address.
    pub changes: Vec<ResourceChange>,
}

/// A plan JSON that cannot be read as `terraform show -json` writes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plan is not a Terraform JSON plan: {0}")]
pub struct PlanFormatError(pub String);

impl PlanSummary {
    /// Reads `resource_changes` of a `terraform show -json <planfile>` document.
    pub fn from_plan_json(plan: &Value) -> Result<PlanSummary, PlanFormatError> {
        let bad = |what: String| PlanFormatError(what);
        if plan.get("format_version").and_then(Value::as_str).is_none() {
            return Err(bad("format_version is missing".into()));
        }
        let changes = match plan.get("resource_changes") {
            None | Some(Value::Null) => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(_) => return Err(bad("resource_changes must be a list".into())),
        };
        let mut out = Vec::new();
        for (i, rc) in changes.iter().enumerate() {
            let address = rc
                .get("address")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("resource_changes[{i}].address is missing")))?;
            let actions: Vec<&str> = rc
                .pointer("/change/actions")
                .and_then(Value::as_array)
                .ok_or_else(|| bad(format!("{address}: change.actions is missing")))?
                .iter()
                .map(|a| a.as_str().unwrap_or("?"))
                .collect();
            if let Some(kind) =
                ChangeKind::of(&actions).map_err(|e| bad(format!("{address}: {e}")))?
            {
                out.push(ResourceChange {
                    address: address.to_owned(),
                    kind,
                });
            }
        }
        out.sort_by(|a, b| a.address.cmp(&b.address));
        let count = |f: fn(ChangeKind) -> bool| out.iter().filter(|c| f(c.kind)).count();
        Ok(PlanSummary {
            add: count(|k| matches!(k, ChangeKind::Create | ChangeKind::Replace)),
            change: count(|k| k == ChangeKind::Update),
            destroy: count(ChangeKind::destroys),
            forget: count(|k| k == ChangeKind::Forget),
            changes: out,
        })
    }

    /// Whether applying it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The resources it deletes or replaces, by address.
    pub fn destructions(&self) -> Vec<&ResourceChange> {
        self.changes.iter().filter(|c| c.kind.destroys()).collect()
    }

    /// Terraform's line: "Plan: 1 to add, 2 to change, 0 to destroy."
    pub fn headline(&self) -> String {
        let mut line = format!(
            "Plan: {} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        );
        if self.forget > 0 {
            line = format!("{} {} to forget.", line, self.forget);
        }
        line
    }
}

/// What the approvers are shown about a plan's destructions, or why it goes no further.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum DestroyVerdict {
    /// Nothing is deleted or replaced.
    NoDestruction,
    /// Outside PROD: the approvers must see these called out before they approve.
    CallOut {
        /// "<address> (delete)" per destroyed resource.
        destructions: Vec<String>,
    },
    /// PROD: the plan is refused before anyone is asked.
    Blocked {
        /// "<address> (delete)" per destroyed resource.
        destructions: Vec<String>,
        /// The refusal, naming each address.
        message: String,
    },
}

/// RB-003 §4.3.4, "DESTROY action is BLOCKED in PROD": a PROD plan that deletes or replaces any
/// resource is refused, naming each; elsewhere the destructions are called out for the approvers.
pub fn destroy_verdict(environment: Env, tenant: &str, plan: &PlanSummary) -> DestroyVerdict {
    let destructions: Vec<String> = plan
        .destructions()
        .iter()
        .map(|c| format!("{} ({})", c.address, c.kind))
        .collect();
    if destructions.is_empty() {
        DestroyVerdict::NoDestruction
    } else if environment == Env::Prod {
        let message = format!(
            "DESTROY is blocked in PROD (RB-003 §4.3.4): the plan of {tenant} would destroy {}: {}",
            destructions.len(),
            destructions.join(", ")
        );
        DestroyVerdict::Blocked {
            destructions,
            message,
        }
    } else {
        DestroyVerdict::CallOut { destructions }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn sit_apply() -> Value {
        json!({"environment": "sit", "tenants": ["tenant-001", "tenant-002"], "commit": SHA,
               "reason": "PHP memory limit", "requested_by": "ops@bbws.io"})
    }

    fn with(mut input: Value, field: &str, value: Value) -> Value {
        input[field] = value;
        input
    }

    fn without(mut input: Value, field: &str) -> Value {
        input.as_object_mut().map(|o| o.remove(field));
        input
    }

    fn errors_of(input: &Value) -> Vec<String> {
        match TenantRequest::validate(input) {
            Ok(r) => panic!("accepted: {r:?}"),
            Err(e) => e.errors.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn a_sit_apply_reads_back_as_given() {
        let r = TenantRequest::validate(&sit_apply()).expect("valid");
        assert_eq!(r.environment, Env::Sit);
        assert_eq!(r.tenants, ["tenant-001", "tenant-002"]);
        assert_eq!(r.commit.as_deref(), Some(SHA));
        assert_eq!(r.action, TenantAction::Apply);
        assert_eq!((r.change_request, r.incident), (None, None));
    }

    #[test]
    fn prod_may_leave_the_commit_to_sit_but_needs_a_change_request() {
        let prod = with(without(sit_apply(), "commit"), "environment", json!("prod"));
        assert_eq!(
            errors_of(&prod),
            ["change_request: is required to apply tenants in prod (CHG-<digits>)"]
        );
        let ok = with(prod, "change_request", json!("CHG-4411"));
        let r = TenantRequest::validate(&ok).expect("valid");
        assert_eq!(
            (r.commit, r.change_request.as_deref()),
            (None, Some("CHG-4411"))
        );
    }

    #[test]
    fn dev_and_sit_need_the_commit_they_apply() {
        for env in ["dev", "sit"] {
            let input = with(without(sit_apply(), "commit"), "environment", json!(env));
            let errors = errors_of(&input);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(
                errors[0].starts_with(&format!("commit: is required to apply tenants in {env}")),
                "{errors:?}"
            );
        }
    }

    #[test]
    fn a_rollback_needs_no_commit_and_in_prod_an_incident() {
        let sit = with(without(sit_apply(), "commit"), "action", json!("rollback"));
        assert_eq!(
            TenantRequest::validate(&sit).expect("valid").action,
            TenantAction::Rollback
        );
        let prod = with(sit, "environment", json!("prod"));
        assert_eq!(
            errors_of(&prod),
            ["incident: is required for a rollback in prod (INC-<digits>, RB-003 §7.3)"]
        );
        assert!(TenantRequest::validate(&with(prod, "incident", json!("INC-9"))).is_ok());
    }

    #[test]
    fn destroy_is_not_an_action_and_says_why() {
        let errors = errors_of(&with(sit_apply(), "action", json!("destroy")));
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("action: 'destroy' is not an action of this pipeline"));
        assert_eq!(
            errors_of(&with(sit_apply(), "action", json!("plan"))),
            ["action: 'plan' must be apply or rollback"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_naming_its_field() {
        let input = json!({"environment": "qa", "tenants": ["Tenant_1", "tenant-001", "tenant-001", 7],
                           "commit": "abc123", "reason": " ", "requested_by": "nobody",
                           "change_request": "CR-1", "extra": true});
        let errors = errors_of(&input);
        let fields: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            fields,
            [
                "environment",
                "tenants[0]",
                "tenants[2]",
                "tenants[3]",
                "commit",
                "reason",
                "requested_by",
                "change_request",
                "extra"
            ],
            "{errors:?}"
        );
        assert!(
            errors[2].contains("'tenant-001' is named twice"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_tenant_list_has_bounds() {
        for bad in [json!([]), json!("tenant-001"), json!(null)] {
            let errors = errors_of(&with(sit_apply(), "tenants", bad));
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].starts_with("tenants: "), "{errors:?}");
        }
        let eleven: Vec<String> = (1..=11).map(|i| format!("tenant-{i:03}")).collect();
        assert_eq!(
            errors_of(&with(sit_apply(), "tenants", json!(eleven))),
            ["tenants: must name 1 to 10 tenants (got 11)"]
        );
    }

    #[test]
    fn tenant_ids_and_commits_have_one_spelling() {
        for good in ["tenant-001", "t", "acme-wp-2"] {
            assert!(is_tenant_id(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "Tenant",
            "1abc",
            "a_b",
            "a/b",
            "../x",
            &"a".repeat(41),
        ] {
            assert!(!is_tenant_id(bad), "{bad}");
        }
        assert!(is_commit_sha(SHA));
        for bad in [
            &SHA[..39],
            &SHA.to_uppercase()[..],
            "g123456789abcdef0123456789abcdef01234567",
        ] {
            assert!(!is_commit_sha(bad), "{bad}");
        }
    }

    fn plan(changes: &[(&str, &[&str])]) -> Value {
        let rc: Vec<Value> = changes
            .iter()
            .map(|(address, actions)| {
                json!({"address": address, "mode": "managed",
                                            "change": {"actions": actions}})
            })
            .collect();
        json!({"format_version": "1.2", "terraform_version": "1.11.4", "resource_changes": rc})
    }

    #[test]
    fn a_plan_counts_as_terraform_prints_it() {
        let summary = PlanSummary::from_plan_json(&plan(&[
            ("module.wp.aws_ecs_service.this", &["update"]),
            ("module.wp.aws_ssm_parameter.settings", &["delete"]),
            (
                "module.wp.aws_ecs_task_definition.this",
                &["delete", "create"],
            ),
            ("module.wp.aws_cloudwatch_log_group.this", &["no-op"]),
            ("data.aws_ecs_cluster.this", &["read"]),
            ("module.wp.aws_iam_role.task", &["create"]),
        ]))
        .expect("a plan");
        assert_eq!(
            (summary.add, summary.change, summary.destroy, summary.forget),
            (2, 1, 2, 0)
        );
        assert_eq!(
            summary.headline(),
            "Plan: 2 to add, 1 to change, 2 to destroy."
        );
        let addresses: Vec<&str> = summary.changes.iter().map(|c| c.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "module.wp.aws_ecs_service.this",
                "module.wp.aws_ecs_task_definition.this",
                "module.wp.aws_iam_role.task",
                "module.wp.aws_ssm_parameter.settings"
            ]
        );
    }

    #[test]
    fn prod_blocks_every_destruction_by_address_and_sit_calls_them_out() {
        let summary = PlanSummary::from_plan_json(&plan(&[
            ("aws_ssm_parameter.settings", &["delete"]),
            ("aws_ecs_task_definition.this", &["create", "delete"]),
            ("aws_ecs_service.this", &["update"]),
        ]))
        .expect("a plan");
        match destroy_verdict(Env::Prod, "tenant-002", &summary) {
            DestroyVerdict::Blocked {
                destructions,
                message,
            } => {
                assert_eq!(
                    destructions,
                    [
                        "aws_ecs_task_definition.this (replace)",
                        "aws_ssm_parameter.settings (delete)"
                    ]
                );
                assert_eq!(
                    message,
                    "DESTROY is blocked in PROD (RB-003 §4.3.4): the plan of tenant-002 would \
                     destroy 2: aws_ecs_task_definition.this (replace), aws_ssm_parameter.settings (delete)"
                );
            }
            other => panic!("not blocked: {other:?}"),
        }
        assert_eq!(
            destroy_verdict(Env::Sit, "tenant-002", &summary),
            DestroyVerdict::CallOut {
                destructions: vec![
                    "aws_ecs_task_definition.this (replace)".into(),
                    "aws_ssm_parameter.settings (delete)".into()
                ]
            }
        );
        let update_only =
            PlanSummary::from_plan_json(&plan(&[("aws_ecs_service.this", &["update"])]))
                .expect("a plan");
        assert_eq!(
            destroy_verdict(Env::Prod, "tenant-001", &update_only),
            DestroyVerdict::NoDestruction
        );
    }

    #[test]
    fn forgetting_is_counted_but_destroys_nothing() {
        let summary = PlanSummary::from_plan_json(&plan(&[("aws_ssm_parameter.old", &["forget"])]))
            .expect("a plan");
        assert_eq!(
            summary.headline(),
            "Plan: 0 to add, 0 to change, 0 to destroy. 1 to forget."
        );
        assert_eq!(
            destroy_verdict(Env::Prod, "t", &summary),
            DestroyVerdict::NoDestruction
        );
    }

    #[test]
    fn an_empty_plan_has_no_resource_changes() {
        let empty = json!({"format_version": "1.2"});
        let summary = PlanSummary::from_plan_json(&empty).expect("a plan");
        assert!(summary.is_empty());
        assert_eq!(
            summary.headline(),
            "Plan: 0 to add, 0 to change, 0 to destroy."
        );
    }

    #[test]
    fn what_is_not_a_plan_is_refused_with_the_reason() {
        let cases = [
            (json!({}), "format_version is missing"),
            (
                json!({"format_version": "1.2", "resource_changes": {}}),
                "resource_changes must be a list",
            ),
            (
                json!({"format_version": "1.2", "resource_changes": [{"change": {"actions": ["create"]}}]}),
                "resource_changes[0].address is missing",
            ),
            (
                json!({"format_version": "1.2", "resource_changes": [{"address": "a.b"}]}),
                "a.b: change.actions is missing",
            ),
            (
                json!({"format_version": "1.2", "resource_changes": [{"address": "a.b",
                    "change": {"actions": ["explode"]}}]}),
                "a.b: unknown actions [\"explode\"]",
            ),
        ];
        for (doc, why) in cases {
            assert_eq!(
                PlanSummary::from_plan_json(&doc),
                Err(PlanFormatError(why.to_owned())),
                "{doc}"
            );
        }
    }
}
