//! A tenant execution's approval (`op: request_tenant`): the Terraform plans of
//! `2_bbws_tenants_instances_dev` the execution reviewed, shown to the approvers with the same
//! signed links, roles and page as a Lambda promotion. The approval answers the wait as every
//! other approval does (`{"request_id", "approvers"}`); the apply builds then apply exactly the
//! plan files whose SHA-256 the approvers saw.
//!
//! ```json
//! {"op": "request_tenant", "task_token": "<$$.Task.Token>",
//!  "tenant": <bbws_domain::tenant_flow::TenantPlan>,
//!  "review": <bbws_domain::tenant_flow::TenantReview>,
//!  "entered_at": "<$$.State.EnteredTime>"}
//! ```
//!
//! Refused with `Bbws.InvalidEvent` when the plan names no approvers (`tenant.approval` null),
//! when no plan changes anything, or when the review's plans are not the execution's tenants and
//! commits. The request item (`kind: tenant`) keeps per plan at most [`MAX_LISTED_CHANGES`]
//! changed addresses and destructions, fewer when the plans would take more than
//! [`PLANS_BUDGET_BYTES`], and says how many more the plan has.

use bbws_aws::{BbwsError, Settings};
use bbws_domain::errors::shorten;
use bbws_domain::tenant::{DestroyVerdict, TenantAction};
use bbws_domain::tenant_flow::{CommitSource, PlanReview, TenantPlan, TenantReview};
use chrono::Utc;
use serde_json::{json, Value};

use crate::handler::{App, Ask};
use crate::ports::{Callbacks, Mail, Parameters, Store};

/// The most changed addresses (and, apart, destructions) the request keeps per plan; the page
/// says how many more the plan has.
pub(crate) const MAX_LISTED_CHANGES: usize = 200;

/// The most bytes (as JSON) the plans may take in the request item: DynamoDB keeps at most 400 KB
/// an item, and the request grows later (approvers, the decision). Over it, fewer addresses are
/// kept per plan.
pub(crate) const PLANS_BUDGET_BYTES: usize = 300_000;

/// The longest address, commit author or subject kept (longer ones keep their ends around a `…`).
const MAX_TEXT_CHARS: usize = 1_000;

/// The most destructions an email lists per tenant (an SNS message holds 256 KB); the page lists
/// up to [`MAX_LISTED_CHANGES`].
const MAX_MAILED_DESTRUCTIONS: usize = 50;

/// How many characters of a commit SHA an email or a one-line summary shows.
const SHORT_SHA: usize = 12;

fn short(sha: &str) -> &str {
    sha.get(..SHORT_SHA).unwrap_or(sha)
}

/// Where a tenant's commit came from, in words.
pub(crate) fn source_words(source: CommitSource) -> &'static str {
    match source {
        CommitSource::Given => "given in the request",
        CommitSource::Sit => "SIT's last apply",
        CommitSource::Previous => "the one before the latest apply",
    }
}

/// The destructions a plan's review calls out, "<address> (kind)".
fn destructions(plan: &PlanReview) -> &[String] {
    match &plan.verdict {
        DestroyVerdict::NoDestruction => &[],
        DestroyVerdict::CallOut { destructions } | DestroyVerdict::Blocked { destructions, .. } => {
            destructions
        }
    }
}

/// One plan as the request keeps it, with at most `cap` changed addresses (destructions first,
/// then the others, shown in address order) and at most `cap` destructions.
fn plan_fields(plan: &PlanReview, cap: usize) -> Value {
    let s = &plan.summary;
    let destroying = s.changes.iter().filter(|c| c.kind.destroys()).count();
    let keep_destroying = destroying.min(cap);
    let keep_others = cap - keep_destroying;
    let (mut kept_destroying, mut kept_others) = (0, 0);
    let mut changes = Vec::new();
    for c in &s.changes {
        let keep = if c.kind.destroys() {
            kept_destroying += 1;
            kept_destroying <= keep_destroying
        } else {
            kept_others += 1;
            kept_others <= keep_others
        };
        if keep {
            changes.push(
                json!({"address": shorten(c.address.clone(), MAX_TEXT_CHARS),
                                "kind": c.kind.as_str()}),
            );
        }
    }
    let all_destructions = destructions(plan);
    let listed_destructions: Vec<String> = all_destructions
        .iter()
        .take(cap)
        .map(|d| shorten(d.clone(), MAX_TEXT_CHARS))
        .collect();
    let text = |t: &Option<String>| t.clone().map(|t| shorten(t, MAX_TEXT_CHARS));
    json!({
        "tenant_id": plan.tenant_id,
        "commit": plan.commit,
        "commit_source": plan.commit_source,
        "current_commit": plan.current_commit,
        "commit_author": text(&plan.commit_author),
        "commit_subject": text(&plan.commit_subject),
        "tfplan_sha256": plan.tfplan_sha256,
        "plan_json_sha256": plan.plan_json_sha256,
        "artifacts_prefix": plan.artifacts_prefix,
        "summary": {"add": s.add, "change": s.change, "destroy": s.destroy, "forget": s.forget,
                    "headline": s.headline()},
        "changes": changes,
        "changes_not_listed": s.changes.len() - changes.len() + plan.changes_not_listed,
        "destructions": listed_destructions,
        "destructions_not_listed": all_destructions.len().saturating_sub(cap),
    })
}

/// Every plan as the request keeps it: [`MAX_LISTED_CHANGES`] addresses per plan, fewer when the
/// plans would take more than `budget` bytes.
pub(crate) fn plans_fields(plans: &[PlanReview], budget: usize) -> Value {
    let mut cap = MAX_LISTED_CHANGES;
    loop {
        let fields = Value::Array(plans.iter().map(|p| plan_fields(p, cap)).collect());
        let size = serde_json::to_vec(&fields).map(|b| b.len()).unwrap_or(0);
        if size <= budget || cap == 0 {
            return fields;
        }
        cap /= 2;
    }
}

/// "tenant-001, tenant-002" (after four, "and 6 more"), for subject lines.
fn tenant_list(tenants: &[String]) -> String {
    const SHOWN: usize = 4;
    if tenants.len() <= SHOWN {
        tenants.join(", ")
    } else {
        format!(
            "{} and {} more",
            tenants[..SHOWN - 1].join(", "),
            tenants.len() - (SHOWN - 1)
        )
    }
}

/// "tenant tenant-001" or "tenants tenant-001, tenant-002".
fn tenants_words(tenants: &[String]) -> String {
    let noun = if tenants.len() == 1 {
        "tenant"
    } else {
        "tenants"
    };
    format!("{noun} {}", tenant_list(tenants))
}

/// The email's first paragraphs: who asks what, why, and per tenant Terraform's headline, the
/// commit, the plan's SHA-256 and every destruction in capitals.
pub(crate) fn intro(plan: &TenantPlan, review: &TenantReview) -> String {
    let r = &plan.request;
    let env = r.environment.label();
    let repo = "2_bbws_tenants_instances_dev";
    let mut commits: Vec<&str> = review.plans.iter().map(|p| p.commit.as_str()).collect();
    commits.sort_unstable();
    commits.dedup();
    let one_commit = commits.len() == 1;
    let tenants = r.tenants.join(", ");
    let per_tenant = || {
        review
            .plans
            .iter()
            .map(|p| format!("{} (commit {})", p.tenant_id, short(&p.commit)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let asks = match (r.action, one_commit) {
        (TenantAction::Apply, true) => format!(
            "{} asks to apply {repo} commit {} to {tenants} in {env}.",
            r.requested_by,
            short(commits[0])
        ),
        (TenantAction::Apply, false) => format!(
            "{} asks to apply {repo} to {} in {env}.",
            r.requested_by,
            per_tenant()
        ),
        (TenantAction::Rollback, true) => format!(
            "{} asks to roll {tenants} back in {env} to {repo} commit {}.",
            r.requested_by,
            short(commits[0])
        ),
        (TenantAction::Rollback, false) => format!(
            "{} asks to roll back {} in {env}.",
            r.requested_by,
            per_tenant()
        ),
    };
    let mut out = vec![
        asks,
        String::new(),
        format!("Reason: {}", r.reason),
        format!(
            "Change request: {}",
            r.change_request.as_deref().unwrap_or("-")
        ),
    ];
    if let Some(incident) = &r.incident {
        out.push(format!("Incident: {incident}"));
    }
    let destroyed: usize = review.plans.iter().map(|p| destructions(p).len()).sum();
    if destroyed > 0 {
        out.push(String::new());
        out.push(format!(
            "DESTROYS {destroyed} RESOURCE(S): deleted or replaced, listed under each tenant."
        ));
    }
    out.extend(plan_lines(review));
    out.push(String::new());
    out.push(
        "The apply uses exactly the plan files with these SHA-256s; the approval page lists every \
         changed resource."
            .to_owned(),
    );
    out.join("\n")
}

/// Per tenant: Terraform's headline, the commit with its author and subject, what the tenant has
/// now, the plan's SHA-256 and every destruction in capitals (the email of a tenant execution and
/// of a release's phase 4).
pub(crate) fn plan_lines(review: &TenantReview) -> Vec<String> {
    let mut out = Vec::new();
    for p in &review.plans {
        out.push(String::new());
        if p.summary.is_empty() {
            out.push(format!(
                "{}: No changes. Nothing is applied to it.",
                p.tenant_id
            ));
        } else {
            out.push(format!("{}: {}", p.tenant_id, p.summary.headline()));
        }
        out.push(format!(
            "  Commit: {} by {}: {} ({})",
            short(&p.commit),
            p.commit_author.as_deref().unwrap_or("unknown author"),
            p.commit_subject.as_deref().unwrap_or("-"),
            source_words(p.commit_source)
        ));
        out.push(format!(
            "  Now at: {}",
            p.current_commit
                .as_deref()
                .map(short)
                .unwrap_or("no apply recorded")
        ));
        out.push(format!("  Plan SHA-256: {}", p.tfplan_sha256));
        let all = destructions(p);
        for d in all.iter().take(MAX_MAILED_DESTRUCTIONS) {
            out.push(format!("  DESTROYS: {d}"));
        }
        if all.len() > MAX_MAILED_DESTRUCTIONS {
            out.push(format!(
                "  DESTROYS {} MORE (the approval page lists them)",
                all.len() - MAX_MAILED_DESTRUCTIONS
            ));
        }
    }
    out
}

/// What is asked, in a few words: "tenants tenant-001, tenant-002 in SIT" (a rollback:
/// "rollback of tenant tenant-001 in PROD").
pub(crate) fn what(plan: &TenantPlan) -> String {
    let r = &plan.request;
    let words = format!("{} in {}", tenants_words(&r.tenants), r.environment.label());
    match r.action {
        TenantAction::Apply => words,
        TenantAction::Rollback => format!("rollback of {words}"),
    }
}

impl<S: Store, C: Callbacks, M: Mail, P: Parameters> App<S, C, M, P> {
    /// A tenant execution's approval of its reviewed plans (RB-003 §3.2.4, §4.3.4).
    pub(crate) async fn request_tenant(
        &self,
        settings: &Settings,
        token: &str,
        plan: &TenantPlan,
        review: &TenantReview,
        started: chrono::DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let r = &plan.request;
        let Some(requirement) = plan.approval.clone() else {
            return Err(BbwsError::invalid_event(format!(
                "a tenant execution in {} needs no approval; the state machine should not ask",
                r.environment.label()
            )));
        };
        if review.nothing_to_apply {
            return Err(BbwsError::invalid_event(
                "no plan changes anything: there is nothing to approve; the state machine should \
                 not ask",
            ));
        }
        let planned: Vec<(&str, &str)> = review
            .plans
            .iter()
            .map(|p| (p.tenant_id.as_str(), p.commit.as_str()))
            .collect();
        let targets: Vec<(&str, &str)> = plan
            .targets
            .iter()
            .map(|t| (t.tenant_id.as_str(), t.commit.as_str()))
            .collect();
        if planned != targets {
            return Err(BbwsError::invalid_event(format!(
                "the review's plans ({planned:?}) are not those of the execution's tenants and \
                 commits ({targets:?})"
            )));
        }
        let fields = json!({
            "kind": "tenant",
            "environment": r.environment.as_str(),
            // As every other kind's request names where it goes (the page's "Into PROD").
            "target_env": r.environment.as_str(),
            "action": match r.action {
                TenantAction::Apply => "apply",
                TenantAction::Rollback => "rollback",
            },
            "tenants": r.tenants,
            "to_apply": review.to_apply,
            "reason": r.reason,
            "change_request": r.change_request,
            "incident": r.incident,
            "plans": plans_fields(&review.plans, PLANS_BUDGET_BYTES),
        });
        let what = what(plan);
        self.ask(
            settings,
            token,
            Ask {
                execution_arn: &plan.execution_arn,
                requirement,
                requester: r.requested_by.clone(),
                timeout_seconds: plan.approval_timeout_seconds,
                started,
                fields,
                intro: intro(plan, review),
                email_subject: format!("Approval wanted: {what}"),
                notify_subject: format!("Approval wanted: {what}"),
                what,
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::tenant::{ChangeKind, PlanSummary, ResourceChange};

    const A: &str = "1111111111111111111111111111111111111111";

    fn review_of(changes: &[(&str, ChangeKind)]) -> PlanReview {
        let changes: Vec<ResourceChange> = changes
            .iter()
            .map(|(a, k)| ResourceChange {
                address: (*a).to_owned(),
                kind: *k,
            })
            .collect();
        let summary = PlanSummary {
            add: 0,
            change: 0,
            destroy: changes.iter().filter(|c| c.kind.destroys()).count(),
            forget: 0,
            changes,
        };
        let destructions: Vec<String> = summary
            .destructions()
            .iter()
            .map(|c| format!("{} ({})", c.address, c.kind))
            .collect();
        PlanReview {
            tenant_id: "tenant-001".into(),
            commit: A.into(),
            commit_source: CommitSource::Given,
            current_commit: None,
            commit_author: None,
            commit_subject: None,
            tfplan_sha256: "a".repeat(64),
            plan_json_sha256: "b".repeat(64),
            artifacts_prefix: "tenant/sit/x/tenant-001".into(),
            changes_not_listed: 0,
            verdict: if destructions.is_empty() {
                DestroyVerdict::NoDestruction
            } else {
                DestroyVerdict::CallOut { destructions }
            },
            summary,
        }
    }

    #[test]
    fn a_long_plan_keeps_its_destructions_among_the_addresses_it_lists() {
        let addresses: Vec<String> = (0..300)
            .map(|i| format!("aws_ssm_parameter.p{i:03}"))
            .collect();
        let mut changes: Vec<(&str, ChangeKind)> = addresses
            .iter()
            .map(|a| (a.as_str(), ChangeKind::Update))
            .collect();
        changes[299].1 = ChangeKind::Delete;
        let fields = plan_fields(&review_of(&changes), MAX_LISTED_CHANGES);
        let listed = fields["changes"].as_array().expect("changes");
        assert_eq!(listed.len(), 200);
        assert_eq!(fields["changes_not_listed"], 100);
        assert!(
            listed
                .iter()
                .any(|c| c["address"] == "aws_ssm_parameter.p299" && c["kind"] == "delete"),
            "the destruction beyond the first 200 is kept"
        );
        let shown: Vec<&str> = listed
            .iter()
            .filter_map(|c| c["address"].as_str())
            .collect();
        let mut sorted = shown.clone();
        sorted.sort_unstable();
        assert_eq!(shown, sorted, "in address order");
        assert_eq!(
            fields["destructions"],
            json!(["aws_ssm_parameter.p299 (delete)"])
        );
        assert_eq!(fields["destructions_not_listed"], 0);
    }

    #[test]
    fn plans_over_the_budget_keep_fewer_addresses_and_say_how_many_more() {
        let long: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "module.wordpress.aws_ssm_parameter.{}{i:03}",
                    "x".repeat(400)
                )
            })
            .collect();
        let changes: Vec<(&str, ChangeKind)> = long
            .iter()
            .map(|a| (a.as_str(), ChangeKind::Create))
            .collect();
        let plans = vec![review_of(&changes); 10];
        let fields = plans_fields(&plans, PLANS_BUDGET_BYTES);
        let size = serde_json::to_vec(&fields).expect("json").len();
        assert!(size <= PLANS_BUDGET_BYTES, "{size} bytes");
        let first = &fields[0];
        let listed = first["changes"].as_array().expect("changes").len();
        assert!(listed < 200 && listed > 0, "{listed}");
        assert_eq!(first["changes_not_listed"], 200 - listed);
        // A plan within the budget keeps all of its addresses.
        let one = plans_fields(&plans[..1], PLANS_BUDGET_BYTES);
        assert_eq!(one[0]["changes"].as_array().map(Vec::len), Some(200));
        assert_eq!(one[0]["changes_not_listed"], 0);
    }

    #[test]
    fn subject_lines_name_the_tenants_and_stay_short() {
        let ten: Vec<String> = (1..=10).map(|i| format!("tenant-{i:03}")).collect();
        assert_eq!(tenants_words(&ten[..2]), "tenants tenant-001, tenant-002");
        assert_eq!(tenants_words(&ten[..1]), "tenant tenant-001");
        assert_eq!(
            tenants_words(&ten),
            "tenants tenant-001, tenant-002, tenant-003 and 7 more"
        );
    }
}

/// A tenant execution's approval over the in-memory ports: the ask, the email, the page, the
/// decision.
#[cfg(test)]
mod flows {
    use super::*;
    use crate::handler::flows::{
        app, approvers_of, ask, confirm, http, link, mailed_to, open, reject, TestApp, OPS_LEAD,
        REQUESTER, SECOND_TECH_LEAD, TECH_LEAD,
    };
    use crate::ports::memory::{Sent, MAX_ITEM_BYTES};
    use bbws_domain::naming::approval_request_id;
    use bbws_domain::tenant::TenantRequest;
    use bbws_domain::tenant_flow::{review, PlanArtifact, TenantPolicy, TenantTarget};
    use bbws_domain::{ApprovalPolicy, Env, ErrorName};

    const DEV_LEAD: &str = "dev-lead@bbws.io";
    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const BEFORE: &str = "fedcba9876543210fedcba9876543210fedcba98";
    const PLAN_SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const JSON_SHA: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
    const HOSTILE: &str = "<script>alert('approved')</script> & more";

    /// `terraform show -json` of a plan changing `changes` (address, actions).
    fn terraform(changes: &[(&str, &[&str])]) -> Value {
        json!({"format_version": "1.2", "resource_changes": changes.iter().map(|(a, actions)| json!({
            "address": a, "mode": "managed", "change": {"actions": actions}})).collect::<Vec<_>>()})
    }

    /// Jane's tenant execution in `env` of COMMIT, each tenant with its plan, reviewed as the
    /// tenant function reviews it; asked of whom the runbook says.
    fn execution(env: Env, plans: &[(&str, Value)], subject: &str) -> (TenantPlan, TenantReview) {
        let tenants: Vec<&str> = plans.iter().map(|p| p.0).collect();
        let mut input = json!({"environment": env.as_str(), "tenants": tenants, "commit": COMMIT,
                               "reason": "PHP memory limit 512M", "requested_by": REQUESTER});
        if env == Env::Prod {
            input["change_request"] = json!("CHG-4411");
        }
        let request = TenantRequest::validate(&input).expect("a valid request");
        let name = "tenants-20261203-200500";
        let execution_arn = format!(
            "arn:aws:states:af-south-1:1:execution:bbws-tenant-{}:{name}",
            env.as_str()
        );
        let root = format!("tenant/{}/{name}", env.as_str());
        let targets: Vec<TenantTarget> = tenants
            .iter()
            .map(|t| TenantTarget {
                tenant_id: (*t).to_owned(),
                commit: COMMIT.into(),
                commit_source: CommitSource::Given,
                current_commit: Some(BEFORE.into()),
                artifacts_prefix: format!("{root}/{t}"),
            })
            .collect();
        let artifacts: Vec<(PlanArtifact, String, Value)> = plans
            .iter()
            .map(|(t, json)| {
                let artifact = PlanArtifact {
                    tenant_id: (*t).to_owned(),
                    env: env.as_str().into(),
                    commit: COMMIT.into(),
                    tfplan_sha256: PLAN_SHA.into(),
                    plan_json_sha256: JSON_SHA.into(),
                    commit_author: Some("Dev Eloper <dev@bbws.io>".into()),
                    commit_subject: Some(subject.into()),
                };
                (artifact, JSON_SHA.to_owned(), json.clone())
            })
            .collect();
        let reviewed = review(env, &targets, &artifacts).expect("reviewed");
        let plan = TenantPlan {
            execution_arn,
            execution_name: name.into(),
            started_at: Utc::now().to_rfc3339(),
            request,
            targets,
            approval: ApprovalPolicy::runbook()
                .for_tenant(env, TenantAction::Apply)
                .cloned(),
            approval_timeout_seconds: 86_400,
            project: "bbws-tenant-terraform".into(),
            artifacts_bucket: "bbws-tenant-artifacts".into(),
            artifacts_root: root,
            policy: TenantPolicy::default(),
        };
        (plan, reviewed)
    }

    /// A PROD apply: tenant-001 updates its service and makes a role, tenant-002 makes a parameter.
    fn prod() -> (TenantPlan, TenantReview) {
        execution(
            Env::Prod,
            &[
                (
                    "tenant-001",
                    terraform(&[
                        ("module.wordpress.aws_ecs_service.this", &["update"]),
                        ("module.wordpress.aws_iam_role.task", &["create"]),
                    ]),
                ),
                (
                    "tenant-002",
                    terraform(&[("aws_ssm_parameter.php_memory", &["create"])]),
                ),
            ],
            "tenants: PHP memory limit 512M",
        )
    }

    /// A SIT apply whose plan of tenant-002 deletes a parameter and replaces a task definition,
    /// with an address and a commit subject that are not safe as HTML.
    fn sit_destroying() -> (TenantPlan, TenantReview) {
        execution(
            Env::Sit,
            &[
                (
                    "tenant-001",
                    terraform(&[("module.wordpress.aws_ecs_service.this", &["update"])]),
                ),
                (
                    "tenant-002",
                    terraform(&[
                        ("aws_ssm_parameter.settings", &["delete"]),
                        ("aws_ecs_task_definition.this", &["delete", "create"]),
                        ("aws_ssm_parameter.p[\"<img src=x>\"]", &["create"]),
                        ("aws_ssm_parameter.old", &["forget"]),
                    ]),
                ),
            ],
            HOSTILE,
        )
    }

    async fn ask_tenant(
        app: &TestApp,
        (plan, review): &(TenantPlan, TenantReview),
        token: &str,
    ) -> Result<Value, BbwsError> {
        app.handle(
            json!({"op": "request_tenant", "task_token": token, "tenant": plan,
                          "review": review, "entered_at": Utc::now().to_rfc3339()}),
        )
        .await
    }

    fn stored(app: &TestApp, plan: &TenantPlan) -> Value {
        let id = approval_request_id(&plan.execution_arn, "tenant");
        Value::Object(app.store.request(&id).expect("stored"))
    }

    fn email_to(app: &TestApp, to: &str) -> String {
        let emails = app.mail.emails.borrow();
        emails
            .iter()
            .find(|e| e.to == to)
            .map(|e| e.text.clone())
            .expect("mailed")
    }

    /// The page a link opens: its status and its HTML.
    async fn page_of(app: &TestApp, t: &str) -> (u64, String) {
        let out = app.handle(http("GET", t, &[])).await.expect("a page");
        (
            out["statusCode"].as_u64().unwrap_or(0),
            out["body"].as_str().unwrap_or_default().to_owned(),
        )
    }

    #[tokio::test]
    async fn a_tenant_request_keeps_each_plan_and_mails_every_approver_but_the_requester() {
        let app = app();
        let execution = prod();
        let (plan, _) = &execution;
        let asked = ask_tenant(&app, &execution, "tenant-token-1")
            .await
            .expect("asked");
        let id = approval_request_id(&plan.execution_arn, "tenant");
        assert_eq!(asked["request_id"], id);
        assert!(id.starts_with("tenants-20261203-200500-tenant-"), "{id}");
        assert_ne!(id, approval_request_id(&plan.execution_arn, "promotion"));
        assert_eq!(asked["emails"], 3);
        assert_eq!(
            mailed_to(&app),
            [OPS_LEAD, SECOND_TECH_LEAD, TECH_LEAD],
            "Jane is a Tech Lead but asked"
        );
        let r = stored(&app, plan);
        for (field, value) in [
            ("kind", json!("tenant")),
            ("status", json!("pending")),
            ("environment", json!("prod")),
            ("target_env", json!("prod")),
            ("action", json!("apply")),
            ("tenants", json!(["tenant-001", "tenant-002"])),
            ("to_apply", json!(["tenant-001", "tenant-002"])),
            ("reason", json!("PHP memory limit 512M")),
            ("requested_by", json!(REQUESTER)),
            ("change_request", json!("CHG-4411")),
            ("incident", Value::Null),
            ("task_token", json!("tenant-token-1")),
            (
                "required",
                json!({"all_of": ["tech_lead", "operations_lead"]}),
            ),
        ] {
            assert_eq!(r[field], value, "{field}");
        }
        let p = &r["plans"][0];
        for (field, value) in [
            ("tenant_id", json!("tenant-001")),
            ("commit", json!(COMMIT)),
            ("commit_source", json!("given")),
            ("current_commit", json!(BEFORE)),
            ("commit_author", json!("Dev Eloper <dev@bbws.io>")),
            ("commit_subject", json!("tenants: PHP memory limit 512M")),
            ("tfplan_sha256", json!(PLAN_SHA)),
            ("plan_json_sha256", json!(JSON_SHA)),
            (
                "summary",
                json!({"add": 1, "change": 1, "destroy": 0, "forget": 0,
                       "headline": "Plan: 1 to add, 1 to change, 0 to destroy."}),
            ),
            (
                "changes",
                json!([{"address": "module.wordpress.aws_ecs_service.this", "kind": "update"},
                       {"address": "module.wordpress.aws_iam_role.task", "kind": "create"}]),
            ),
            ("changes_not_listed", json!(0)),
            ("destructions", json!([])),
        ] {
            assert_eq!(p[field], value, "plans[0].{field}");
        }
        assert_eq!(r["plans"][1]["tenant_id"], "tenant-002");
        let email = app.mail.emails.borrow()[0].clone();
        assert_eq!(
            email.subject,
            "Approval wanted: tenants tenant-001, tenant-002 in PROD"
        );
        assert_eq!(
            *app.mail.notices.borrow(),
            [(
                "approval_wanted".to_owned(),
                "Approval wanted: tenants tenant-001, tenant-002 in PROD".to_owned()
            )]
        );
        for email in app.mail.emails.borrow().iter() {
            assert!(!email.text.contains("tenant-token-1"), "no task token");
        }

        // A retried step (new token) mails nobody again and keeps the same request.
        let again = ask_tenant(&app, &execution, "tenant-token-2")
            .await
            .expect("asked again");
        assert_eq!(again["request_id"], id);
        assert_eq!(again["emails"], 0);
        assert_eq!(app.mail.emails.borrow().len(), 3);
        assert_eq!(stored(&app, plan)["task_token"], "tenant-token-2");
    }

    #[tokio::test]
    async fn the_email_gives_each_headline_commit_plan_sha256_and_destruction() {
        let app = app();
        let execution = sit_destroying();
        ask_tenant(&app, &execution, "tenant-token")
            .await
            .expect("asked");
        assert_eq!(mailed_to(&app), [DEV_LEAD], "DEV -> SIT's approver");
        assert_eq!(
            app.mail.emails.borrow()[0].subject,
            "Approval wanted: tenants tenant-001, tenant-002 in SIT"
        );
        let text = email_to(&app, DEV_LEAD);
        for shown in [
            "jane@bbws.io asks to apply 2_bbws_tenants_instances_dev commit 0123456789ab to \
             tenant-001, tenant-002 in SIT.",
            "Reason: PHP memory limit 512M",
            "Change request: -",
            "DESTROYS 2 RESOURCE(S)",
            "tenant-001: Plan: 0 to add, 1 to change, 0 to destroy.",
            "tenant-002: Plan: 2 to add, 0 to change, 2 to destroy. 1 to forget.",
            &format!(
                "  Commit: 0123456789ab by Dev Eloper <dev@bbws.io>: {HOSTILE} (given in the request)"
            ),
            "  Now at: fedcba987654",
            &format!("  Plan SHA-256: {PLAN_SHA}"),
            "  DESTROYS: aws_ecs_task_definition.this (replace)",
            "  DESTROYS: aws_ssm_parameter.settings (delete)",
        ] {
            assert!(text.contains(shown), "{shown:?} missing from:\n{text}");
        }
        let tenant_001 = text.find("tenant-001: Plan").expect("tenant-001");
        let tenant_002 = text.find("tenant-002: Plan").expect("tenant-002");
        let destroys = text.find("  DESTROYS: aws_ssm").expect("destroys");
        assert!(
            tenant_001 < tenant_002 && tenant_002 < destroys,
            "each destruction under its tenant"
        );
        assert!(!text.contains("tenant-token"), "no task token");
    }

    #[tokio::test]
    async fn the_page_lists_each_address_and_action_escaped_with_destructions_above_the_button() {
        let app = app();
        let execution = sit_destroying();
        ask_tenant(&app, &execution, "tenant-token")
            .await
            .expect("asked");
        let t = link(&app, DEV_LEAD, "Approve");
        let (status, page) = page_of(&app, &t).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("<title>Approve this tenant apply?</title>"));
        assert!(
            page.contains("Apply commit 0123456789ab to tenant-001, tenant-002 in SIT"),
            "{page}"
        );
        for row in [
            "<tr><td><code>module.wordpress.aws_ecs_service.this</code></td><td>update</td></tr>",
            "<tr class=\"destroy\"><td><code>aws_ecs_task_definition.this</code></td><td>replace</td></tr>",
            "<tr class=\"destroy\"><td><code>aws_ssm_parameter.settings</code></td><td>delete</td></tr>",
            "<tr><td><code>aws_ssm_parameter.p[&quot;&lt;img src=x&gt;&quot;]</code></td><td>create</td></tr>",
            "<tr><td><code>aws_ssm_parameter.old</code></td><td>forget</td></tr>",
        ] {
            assert!(page.contains(row), "{row} missing from {page}");
        }
        // Commit subjects and addresses are text, never markup.
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;approved&#39;)&lt;/script&gt; &amp; more"));
        // The commit and the plan's SHA-256 in full, the plan SHA-256 as the build log prints it.
        assert!(page.contains(&format!("<code class=\"sha\">{COMMIT}</code>")));
        assert!(page.contains(&format!("<code class=\"sha\">{PLAN_SHA}</code>")));
        assert!(page.contains(&format!("<code class=\"sha\">{BEFORE}</code>")));
        assert!(page.contains("<dd>given in the request</dd>"));
        assert!(page.contains("Plan: 2 to add, 0 to change, 2 to destroy. 1 to forget."));
        assert!(page.contains("<li>DESTROYS: aws_ssm_parameter.settings (delete)</li>"));
        // Destructions are flagged and called out before the button, the tables after it.
        let button = page.find("<button").expect("a button");
        let flag = page
            .find("<li class=\"warn\">Destroys 2 resources</li>")
            .expect("flagged");
        let callout = page.find("DESTROYS 2 RESOURCES").expect("called out");
        let named = page
            .find("<li>tenant-002: aws_ecs_task_definition.this (replace)</li>")
            .expect("named");
        let table = page.find("<table class=\"changes\">").expect("a table");
        assert!(flag < callout && callout < named && named < button && button < table);
        // On a phone the tables stack as the page's other lists do.
        assert!(page.contains("@media (max-width:600px){table.changes"));
    }

    #[tokio::test]
    async fn a_tenant_execution_without_approvers_is_refused_and_asks_nobody() {
        let app = app();
        let (mut plan, review) = sit_destroying();
        plan.approval = None;
        let e = ask_tenant(&app, &(plan, review), "tenant-token")
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::InvalidEvent);
        assert!(e.message.contains("needs no approval"), "{}", e.message);
        assert!(app.mail.emails.borrow().is_empty());
        assert!(app.mail.notices.borrow().is_empty());
        assert!(app.store.state().is_empty(), "nothing stored");
    }

    #[tokio::test]
    async fn a_review_that_is_not_the_executions_or_changes_nothing_is_refused() {
        let app = app();
        let (plan, mut review) = prod();
        review.plans.swap(0, 1);
        let e = ask_tenant(&app, &(plan, review), "t")
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::InvalidEvent);
        assert!(
            e.message.contains("not those of the execution"),
            "{}",
            e.message
        );
        let nothing = execution(
            Env::Sit,
            &[(
                "tenant-001",
                terraform(&[("aws_ssm_parameter.a", &["no-op"])]),
            )],
            "s",
        );
        let e = ask_tenant(&app, &nothing, "t").await.expect_err("refused");
        assert_eq!(e.error_type, ErrorName::InvalidEvent);
        assert!(e.message.contains("nothing to approve"), "{}", e.message);
        assert!(app.mail.emails.borrow().is_empty());
        assert!(app.store.state().is_empty());
    }

    /// What a promotion's approval gives its wait, for the shape a tenant's must have too.
    async fn promotion_output() -> Value {
        let app = app();
        ask(&app, "promotion-token").await.expect("asked");
        for who in [TECH_LEAD, OPS_LEAD] {
            assert_eq!(confirm(&app, &link(&app, who, "Approve")).await.0, 200);
        }
        let sent = app.callbacks.sent.borrow().clone();
        match &sent[..] {
            [(_, Sent::Success(output))] => output.clone(),
            other => panic!("not one success: {other:?}"),
        }
    }

    /// The keys of an object and of its approvers' entries.
    fn shape(output: &Value) -> (Vec<String>, Vec<Vec<String>>) {
        let keys = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let approvers = output["approvers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(keys)
            .collect();
        (keys(output), approvers)
    }

    #[tokio::test]
    async fn approving_a_tenant_request_answers_the_wait_as_a_promotions_approval_does() {
        let app = app();
        let execution = prod();
        ask_tenant(&app, &execution, "tenant-token")
            .await
            .expect("asked");
        assert_eq!(
            confirm(&app, &link(&app, TECH_LEAD, "Approve")).await,
            (200, "Approved".into())
        );
        assert!(app.callbacks.sent.borrow().is_empty(), "one role of two");
        let t = link(&app, OPS_LEAD, "Approve");
        let out = app
            .handle(http("POST", &t, &[("confirm", "yes")]))
            .await
            .expect("a page");
        let body = out["body"].as_str().unwrap_or_default();
        assert!(
            body.contains("Approved — 2 of 2 approvals; the tenant apply continues."),
            "{body}"
        );
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, "tenant-token");
        assert_eq!(
            approvers_of(&sent[0].1),
            [
                format!("{TECH_LEAD}/\"tech_lead\""),
                format!("{OPS_LEAD}/\"operations_lead\"")
            ]
        );
        let Sent::Success(output) = &sent[0].1 else {
            panic!("not a success")
        };
        assert_eq!(
            output["request_id"],
            approval_request_id(&execution.0.execution_arn, "tenant")
        );
        assert_eq!(shape(output), shape(&promotion_output().await));
        assert_eq!(stored(&app, &execution.0)["status"], "approved");
        // Decided: a later link says so in the tenant's words.
        assert_eq!(
            open(&app, &link(&app, SECOND_TECH_LEAD, "Approve")).await,
            (409, "Already approved".into())
        );
    }

    #[tokio::test]
    async fn rejecting_a_tenant_request_fails_the_wait_with_the_reason() {
        let app = app();
        let execution = sit_destroying();
        ask_tenant(&app, &execution, "tenant-token")
            .await
            .expect("asked");
        let t = link(&app, DEV_LEAD, "Reject");
        assert_eq!(
            open(&app, &t).await,
            (200, "Reject this tenant apply?".into())
        );
        assert_eq!(
            reject(&app, &t, "keep the settings parameter").await,
            (200, "Rejected".into())
        );
        assert_eq!(
            *app.callbacks.sent.borrow(),
            vec![(
                "tenant-token".to_owned(),
                Sent::Failure(
                    ErrorName::ApprovalRejected,
                    format!("{DEV_LEAD} (Dev Lead) rejected: keep the settings parameter")
                )
            )]
        );
        let audit = app
            .store
            .audit(&approval_request_id(&execution.0.execution_arn, "tenant"));
        assert!(
            audit.iter().any(|a| a["outcome"] == "rejected"),
            "{audit:?}"
        );
    }

    /// Ten plans of 1,000 long addresses: 200 of each would not fit in one item.
    #[tokio::test]
    async fn a_plan_of_many_addresses_keeps_200_per_tenant_within_an_item() {
        let app = app();
        let long_key = "wordpress-multisite-".repeat(10);
        let addresses: Vec<String> = (0..1_000)
            .map(|i| {
                format!("module.wordpress.module.sites.aws_ssm_parameter.site[\"site-{i:04}-{long_key}\"]")
            })
            .collect();
        let mut changes: Vec<(&str, &[&str])> = addresses
            .iter()
            .map(|a| (a.as_str(), &["create"][..]))
            .collect();
        changes[999].1 = &["delete"];
        let plan = terraform(&changes);
        let tenants: Vec<String> = (1..=10).map(|i| format!("tenant-{i:03}")).collect();
        let plans: Vec<(&str, Value)> =
            tenants.iter().map(|t| (t.as_str(), plan.clone())).collect();
        let execution = execution(Env::Sit, &plans, "many sites");
        ask_tenant(&app, &execution, "tenant-token")
            .await
            .expect("asked within 400 KB");
        let r = stored(&app, &execution.0);
        let size = serde_json::to_vec(&r).expect("json").len();
        assert!(size < MAX_ITEM_BYTES, "{size} bytes");
        let p = &r["plans"][0];
        let listed = p["changes"].as_array().map(Vec::len).unwrap_or(0);
        assert!((1..=MAX_LISTED_CHANGES).contains(&listed), "{listed}");
        assert_eq!(p["changes_not_listed"], 1_000 - listed);
        assert!(
            p["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["kind"] == "delete"),
            "the destruction is among those listed"
        );
        assert_eq!(p["summary"]["add"], 999, "the counts are the plan's own");
        assert_eq!(
            app.mail.emails.borrow()[0].subject,
            "Approval wanted: tenants tenant-001, tenant-002, tenant-003 and 7 more in SIT"
        );
        let (_, page) = page_of(&app, &link(&app, DEV_LEAD, "Approve")).await;
        assert!(
            page.contains(&format!(
                "{} more changed resources are not listed here",
                1_000 - listed
            )),
            "{page}"
        );

        // One tenant's plan keeps the first 200 addresses (and its destruction).
        let app = self::app();
        let one = self::execution(Env::Sit, &plans[..1], "many sites");
        ask_tenant(&app, &one, "tenant-token").await.expect("asked");
        let p = &stored(&app, &one.0)["plans"][0];
        assert_eq!(p["changes"].as_array().map(Vec::len), Some(200));
        assert_eq!(p["changes_not_listed"], 800);
        assert_eq!(p["changes"][199]["kind"], "delete");
    }
}
