//! The runbook's checklists as data: one table per checklist, each item in RB-003's words with
//! the [`Rule`] that decides it from the [`Facts`], and the one function that applies a rule.

use serde_json::Value;

use super::facts::Facts;
use super::{ChecklistReport, Evidence, ItemReport, Source, Verdict};
use crate::approvals::Role;
use crate::env::Env;
use crate::gates::Gate;
use crate::metrics::{human_duration, Metric};
use crate::naming::latest_alias;
use crate::windows::WindowCheck;

/// What decides one checklist item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A quality gate, from the preflight's `quality gates` checks and the path's policy.
    Gate(Gate),
    /// Every quality gate the path requires, from the preflight's `quality gates` checks.
    QualityGates,
    /// Every preflight check of the source's `errors` or `throttles`.
    Stability(Metric),
    /// The preflight's `<function> stable in SIT` checks: the version served in SIT for at least
    /// 24 h, judged from SIT's deployment records (see [`crate::served`]).
    StableFor24h,
    /// The source version's `/health`, invoked by the preflight.
    SourceHealth,
    /// The approval of `Role`, when the path requires it.
    Approval(Role),
    /// Release notes exist.
    ReleaseNotes,
    /// The runbook's GitHub step, replaced by the state named: not applicable, with its evidence.
    ReplacedBy(&'static str),
    /// The state was left without entering its failure state.
    Step {
        /// The state that does it.
        state: &'static str,
        /// The state entered when it fails.
        failure: &'static str,
    },
    /// The maintenance window (§4.1.2).
    Window,
    /// The backup alias exists, with the versions it names.
    BackupAlias,
    /// The deploy published every version behind `latest-<target>`.
    Deployed,
    /// Verification and monitor both passed.
    PostDeployVerification,
    /// Every monitor poll healthy and the watch complete.
    MonitorPassed,
    /// `/health` of the target answered 200 after the deploy.
    TargetHealth,
    /// The target's smoke tests passed.
    SmokeTests,
    /// No error counted by any monitor poll.
    NoErrors,
    /// The deployment record was written.
    Record,
    /// The rollback plan: the automatic triggers and the backup alias.
    RollbackPlan,
    /// A change request was given (PROD only); its approval is a person's.
    ChangeRequestApproved,
    /// A change request ticket exists (PROD only).
    ChangeRequestTicket,
    /// The 24 h watch's check after so many hours.
    Watch(u32),
    /// Something only a person knows; the words say what. `after_deploy`: not applicable when
    /// nothing was deployed.
    Person {
        /// What the person checks.
        why: &'static str,
        /// Whether it only applies once something was deployed.
        after_deploy: bool,
    },
    /// §7.3: the incident ticket.
    Incident,
    /// §7.3: the incident alias keeping the versions replaced.
    IncidentAlias,
    /// §7.3: the rollback target.
    RollbackTarget,
    /// §7.3: who approved the rollback.
    RollbackApproval,
    /// §7.3: the rollback ran.
    RollbackExecuted,
    /// §7.3: `latest-<env>` moved to the target versions.
    AliasUpdated,
    /// §7.3: `/health` after the rollback.
    RollbackHealth,
    /// §7.3: the record of the rollback.
    RollbackRecord,
    /// §5.2: every phase of the release succeeded.
    ReleasePhases,
    /// §5.3: the cross-service verification.
    CrossServiceVerification,
    /// §5: completed phases rolled back after a failed one.
    CompletedPhasesRolledBack,
}

/// One item of a checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecklistItem {
    /// The section, in the runbook's words.
    pub section: &'static str,
    /// The item, in the runbook's words.
    pub text: &'static str,
    /// What decides it.
    pub rule: Rule,
}

/// A checklist of the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checklist {
    /// Its title, in the runbook's words.
    pub title: &'static str,
    /// Where it is.
    pub runbook_section: &'static str,
    /// Its items, in order.
    pub items: &'static [ChecklistItem],
}

const fn item(section: &'static str, text: &'static str, rule: Rule) -> ChecklistItem {
    ChecklistItem {
        section,
        text,
        rule,
    }
}

const PRE: &str = "Pre-Promotion Checks";
const EXEC: &str = "Promotion Execution";
const POST: &str = "Post-Promotion Verification";
const WATCH: &str = "Post-Promotion Monitoring (24h)";
const APPROVALS: &str = "Approvals";

/// RB-003 §7.1.
#[rustfmt::skip]
pub const DEV_TO_SIT: Checklist = Checklist {
    title: "DEV to SIT Promotion Checklist",
    runbook_section: "RB-003 §7.1",
    items: &[
        item(PRE, "All unit tests pass (80%+ coverage)", Rule::Gate(Gate::UnitTests)),
        item(PRE, "Code linting passed (ruff, black)", Rule::Gate(Gate::Lint)),
        item(PRE, "Type checking passed (mypy)", Rule::Gate(Gate::TypeCheck)),
        item(PRE, "Security scan passed (bandit)", Rule::Gate(Gate::SecurityScan)),
        item(PRE, "Integration tests pass in DEV", Rule::Gate(Gate::IntegrationTests)),
        item(PRE, "DEV error rate < 10 errors/hour", Rule::Stability(Metric::Errors)),
        item(PRE, "DEV throttle rate = 0/hour", Rule::Stability(Metric::Throttles)),
        item(PRE, "DEV Lambda health check returns 200", Rule::SourceHealth),
        item(PRE, "Release notes documented", Rule::ReleaseNotes),
        item(PRE, "Dev Lead approval obtained", Rule::Approval(Role::DevLead)),
        item(EXEC, "GitHub workflow triggered: `promote-to-sit.yml`", Rule::ReplacedBy("Validate input")),
        item(EXEC, "Workflow inputs configured correctly", Rule::Step { state: "Validate input", failure: "" }),
        item(EXEC, "Pre-flight checks passed", Rule::Step { state: "Preflight checks", failure: "Preflight failed" }),
        item(EXEC, "Deployment completed successfully", Rule::Deployed),
        item(EXEC, "Post-deployment verification passed", Rule::PostDeployVerification),
        item(POST, "SIT Lambda health check returns 200", Rule::TargetHealth),
        item(POST, "SIT smoke tests pass", Rule::SmokeTests),
        item(POST, "No errors in CloudWatch (5-min window)", Rule::NoErrors),
        item(POST, "API Gateway returns expected responses", Rule::Person { why: NOT_API_GATEWAY, after_deploy: true }),
        item(POST, "DynamoDB deployment record created", Rule::Record),
    ],
};

const NOT_API_GATEWAY: &str =
    "the pipeline invokes the functions' aliases, not API Gateway: a person checks the API's answers";

/// RB-003 §7.2.
#[rustfmt::skip]
pub const SIT_TO_PROD: Checklist = Checklist {
    title: "SIT to PROD Promotion Checklist",
    runbook_section: "RB-003 §7.2",
    items: &[
        item(PRE, "SIT stable for 24 hours", Rule::StableFor24h),
        item(PRE, "SIT error count < 5 in last 24h", Rule::Stability(Metric::Errors)),
        item(PRE, "SIT throttle count = 0 in last 24h", Rule::Stability(Metric::Throttles)),
        item(PRE, "All integration tests pass in SIT", Rule::Gate(Gate::IntegrationTests)),
        item(PRE, "Security scan re-run passed", Rule::Gate(Gate::SecurityScan)),
        item(PRE, "Maintenance window confirmed", Rule::Window),
        item(PRE, "Rollback plan documented", Rule::RollbackPlan),
        item(PRE, "Change request approved", Rule::ChangeRequestApproved),
        item(APPROVALS, "Tech Lead approval", Rule::Approval(Role::TechLead)),
        item(APPROVALS, "Operations Lead approval", Rule::Approval(Role::OperationsLead)),
        item(APPROVALS, "CTO approval (Emergency Deployments, §4.1.2)", Rule::Approval(Role::Cto)),
        item(EXEC, "GitHub workflow triggered: `promote-to-prod.yml`", Rule::ReplacedBy("Validate input")),
        item(EXEC, "Maintenance window checkbox confirmed", Rule::Step { state: "Re-check maintenance window", failure: "Window closed" }),
        item(EXEC, "GitHub environment approval received", Rule::ReplacedBy("Request approval")),
        item(EXEC, "Pre-flight checks passed", Rule::Step { state: "Preflight checks", failure: "Preflight failed" }),
        item(EXEC, "Quality gates passed", Rule::QualityGates),
        item(EXEC, "Backup alias created", Rule::BackupAlias),
        item(EXEC, "Deployment completed successfully", Rule::Deployed),
        item(EXEC, "5-minute error monitoring passed", Rule::MonitorPassed),
        item(POST, "PROD Lambda health check returns 200", Rule::TargetHealth),
        item(POST, "PROD smoke tests pass (read-only)", Rule::SmokeTests),
        item(POST, "No errors in CloudWatch (5-min window)", Rule::NoErrors),
        item(POST, "CloudFront distribution healthy", Rule::Person { why: "the pipeline does not look at CloudFront: a person checks the distribution", after_deploy: true }),
        item(POST, "API Gateway returns expected responses", Rule::Person { why: NOT_API_GATEWAY, after_deploy: true }),
        item(POST, "DynamoDB deployment record created", Rule::Record),
        item(POST, "CloudWatch alarms not triggered", Rule::Person { why: "the pipeline reads error and throttle sums, not the account's alarms: a person checks them", after_deploy: true }),
        item(WATCH, "1-hour check: No errors", Rule::Watch(1)),
        item(WATCH, "4-hour check: No errors", Rule::Watch(4)),
        item(WATCH, "12-hour check: No errors", Rule::Watch(12)),
        item(WATCH, "24-hour check: No errors", Rule::Watch(24)),
        item(WATCH, "Customer feedback: No issues reported", Rule::Person { why: "only people hear from customers: the release lead records what was reported", after_deploy: true }),
    ],
};

const PRE_RB: &str = "Pre-Rollback";
const EXEC_RB: &str = "Rollback Execution";
const POST_RB: &str = "Post-Rollback Verification";
const MORTEM: &str = "Post-Mortem";

/// RB-003 §7.3, for a manual rollback and for the automatic rollback of a promotion.
#[rustfmt::skip]
pub const ROLLBACK: Checklist = Checklist {
    title: "Rollback Checklist",
    runbook_section: "RB-003 §7.3",
    items: &[
        item(PRE_RB, "Incident documented", Rule::Incident),
        item(PRE_RB, "Current state backed up (incident alias created)", Rule::IncidentAlias),
        item(PRE_RB, "Rollback target version identified", Rule::RollbackTarget),
        item(PRE_RB, "Rollback approved by", Rule::RollbackApproval),
        item(EXEC_RB, "Rollback command executed", Rule::RollbackExecuted),
        item(EXEC_RB, "Lambda alias updated", Rule::AliasUpdated),
        item(EXEC_RB, "Health check verified", Rule::RollbackHealth),
        item(POST_RB, "Health endpoint returns 200", Rule::RollbackHealth),
        item(POST_RB, "No new errors in CloudWatch", Rule::Person { why: "no error figure is taken after the rollback: a person reads CloudWatch", after_deploy: false }),
        item(POST_RB, "API responses correct", Rule::Person { why: "the pipeline checks /health only: a person checks the API's answers", after_deploy: false }),
        item(POST_RB, "DynamoDB rollback record created", Rule::RollbackRecord),
        item(MORTEM, "Root cause identified", Rule::Person { why: "a person identifies the root cause", after_deploy: false }),
        item(MORTEM, "Fix developed and tested in DEV", Rule::Person { why: "a person links the fix and its DEV tests", after_deploy: false }),
        item(MORTEM, "Post-mortem document created", Rule::Person { why: "a person writes the post-mortem", after_deploy: false }),
        item(MORTEM, "Prevention measures documented", Rule::Person { why: "a person documents the prevention measures", after_deploy: false }),
    ],
};

const DOCS: &str = "Documentation Requirements";
const PHASES: &str = "Coordinated Release Procedure";
const CROSS: &str = "Cross-Service Verification";

/// RB-003 §2.3 and §5.2-§5.3 for a coordinated release (the runbook has no §7 table for it).
#[rustfmt::skip]
pub const RELEASE: Checklist = Checklist {
    title: "Coordinated Release Checklist",
    runbook_section: "RB-003 §2.3, §5.2, §5.3",
    items: &[
        item(DOCS, "Release notes documented in GitHub Release", Rule::ReleaseNotes),
        item(DOCS, "Change request ticket created (PROD only)", Rule::ChangeRequestTicket),
        item(DOCS, "Rollback plan reviewed", Rule::Person { why: "a person reviews the rollback plan (rollback_completed_phases is kept in the record)", after_deploy: false }),
        item(DOCS, "Monitoring dashboards accessible", Rule::Person { why: "a person checks the dashboards", after_deploy: false }),
        item(APPROVALS, "Tech Lead approval", Rule::Approval(Role::TechLead)),
        item(APPROVALS, "Operations Lead approval", Rule::Approval(Role::OperationsLead)),
        item(APPROVALS, "Dev Lead approval obtained", Rule::Approval(Role::DevLead)),
        item(APPROVALS, "CTO approval (Emergency Deployments, §4.1.2)", Rule::Approval(Role::Cto)),
        item(PHASES, "Pre-flight checks passed", Rule::Step { state: "Preflight checks of every service", failure: "Preflight failed" }),
        item(PHASES, "Every phase deployed and its health check passed", Rule::ReleasePhases),
        item(PHASES, "Completed phases rolled back after a failed phase", Rule::CompletedPhasesRolledBack),
        item(CROSS, "Final Verification: every service healthy", Rule::CrossServiceVerification),
        item(CROSS, "Cross-service integration tests pass", Rule::Person { why: "the pipeline checks /health of every service; the §5.3 flows are run by a person", after_deploy: true }),
        item(CROSS, "DynamoDB deployment record created", Rule::Record),
    ],
};

impl Checklist {
    /// Every item decided from `facts`.
    pub fn fill(&self, facts: &Facts) -> ChecklistReport {
        ChecklistReport {
            title: self.title.to_owned(),
            runbook_section: self.runbook_section.to_owned(),
            items: self
                .items
                .iter()
                .map(|i| {
                    let d = decide(i.rule, facts);
                    ItemReport {
                        section: i.section.to_owned(),
                        item: i.text.to_owned(),
                        verdict: d.verdict,
                        note: d.note,
                        evidence: d.evidence,
                    }
                })
                .collect(),
        }
    }
}

/// A rule's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub note: String,
    /// What decided it.
    pub evidence: Vec<Evidence>,
}

fn d(verdict: Verdict, note: impl Into<String>, evidence: Vec<Evidence>) -> Decision {
    Decision {
        verdict,
        note: note.into(),
        evidence,
    }
}

/// The environment the record names.
fn env_of(facts: &Facts) -> Option<Env> {
    match facts.text("environment")? {
        "dev" => Some(Env::Dev),
        "sit" => Some(Env::Sit),
        "prod" => Some(Env::Prod),
        _ => None,
    }
}

/// Why a step was not reached, from the record's error and cause.
fn stopped(facts: &Facts) -> String {
    match (facts.text("error"), facts.text("cause")) {
        (Some(e), Some(c)) => format!("{e}: {c}"),
        (Some(e), None) => e.to_owned(),
        _ => format!("outcome {}", facts.outcome().unwrap_or("unknown")),
    }
}

/// Whether the execution has ended (its record says how).
fn ended(facts: &Facts) -> bool {
    facts.outcome().is_some()
}

/// Whether anything was deployed: the record's `to_version` names a version, or the
/// `Deploy` state was left.
fn deployed(facts: &Facts) -> bool {
    (facts.text("action") == Some("promote") && !facts.versions("to_version").is_empty())
        || facts.state("Deploy").is_some_and(|h| h.exited.is_some())
        || facts
            .record
            .get("phases")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty())
}

fn state_evidence(facts: &Facts, state: &str) -> Option<Evidence> {
    let h = facts.state(state)?;
    let text = match h.exited {
        Some(x) => format!(
            "state '{state}' entered {}, left {} ({} s)",
            h.entered.to_rfc3339(),
            x.to_rfc3339(),
            (x - h.entered).num_seconds()
        ),
        None => format!(
            "state '{state}' entered {}, not left",
            h.entered.to_rfc3339()
        ),
    };
    Some(Evidence::new(Source::State, text).at(h.exited.or(Some(h.entered))))
}

fn step(facts: &Facts, state: &str, failure: &str) -> Decision {
    if !failure.is_empty() {
        if let Some(e) = state_evidence(facts, failure) {
            return d(
                Verdict::Failed,
                format!("failed: {}", stopped(facts)),
                vec![e],
            );
        }
    }
    match facts.state(state) {
        Some(h) if h.exited.is_some() => d(
            Verdict::Ticked,
            format!("'{state}' completed"),
            state_evidence(facts, state).into_iter().collect(),
        ),
        Some(_) => d(
            Verdict::Open,
            format!("'{state}' has not completed yet"),
            state_evidence(facts, state).into_iter().collect(),
        ),
        None if facts.history.is_empty() => d(
            Verdict::Open,
            "the execution's history is not given: the state cannot be shown",
            vec![Evidence::new(
                Source::Missing,
                format!("history of state '{state}'"),
            )],
        ),
        None if ended(facts) => d(
            Verdict::NotApplicable,
            format!("not reached: {}", stopped(facts)),
            vec![],
        ),
        None => d(Verdict::Open, format!("'{state}' not reached yet"), vec![]),
    }
}

/// The preflight checks whose name ends with ` <suffix>`.
fn checks_ending(facts: &Facts, suffix: &str) -> Option<Vec<crate::steps::Check>> {
    let all = facts.preflight_checks()?;
    let tail = format!(" {suffix}");
    Some(
        all.into_iter()
            .filter(|c| c.check.ends_with(&tail))
            .collect(),
    )
}

fn checks_decision(facts: &Facts, suffix: &str, what: &str) -> Decision {
    let Some(checks) = checks_ending(facts, suffix) else {
        if facts.text("error") == Some(crate::errors::ErrorName::PreflightFailed.as_str()) {
            return d(
                Verdict::Failed,
                format!("the preflight failed: {}", stopped(facts)),
                vec![],
            );
        }
        return d(
            Verdict::Open,
            format!("no preflight checks are kept in the record: {what} cannot be shown"),
            vec![Evidence::new(Source::Missing, "record field preflight")],
        );
    };
    if checks.is_empty() {
        return d(
            Verdict::Open,
            format!("the preflight kept no '{suffix}' check"),
            vec![Evidence::new(
                Source::Missing,
                format!("preflight check '… {suffix}'"),
            )],
        );
    }
    let evidence = checks
        .iter()
        .map(|c| Evidence::new(Source::Figure, format!("{}: {}", c.check, c.detail)))
        .collect();
    if checks.iter().all(|c| c.passed) {
        d(Verdict::Ticked, format!("{what} passed"), evidence)
    } else {
        d(Verdict::Failed, format!("{what} failed"), evidence)
    }
}

fn required_roles(facts: &Facts) -> Vec<Role> {
    if let Some(plan) = &facts.plan {
        let req = match facts.window {
            Some(WindowCheck::EmergencyOverride) => &plan.rules.emergency_approval,
            _ => &plan.rules.approval,
        };
        return req.roles().to_vec();
    }
    match env_of(facts) {
        Some(Env::Prod) => vec![Role::TechLead, Role::OperationsLead],
        Some(_) => vec![Role::DevLead],
        None => vec![],
    }
}

fn approval_evidence(a: &super::ApprovalItem) -> Evidence {
    let at = chrono::DateTime::parse_from_rfc3339(&a.at)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc));
    let mut text = format!(
        "{} {} as {} at {}",
        a.person,
        if a.is_rejection() {
            "rejected"
        } else {
            "approved"
        },
        a.role,
        a.at
    );
    match (&a.source_ip, &a.user_agent) {
        (Some(ip), Some(ua)) => text.push_str(&format!(" from {ip} ({ua})")),
        (Some(ip), None) => text.push_str(&format!(" from {ip}")),
        _ => text.push_str(" (address and device not kept)"),
    }
    if let Some(why) = a.detail.as_deref().filter(|_| a.is_rejection()) {
        text.push_str(&format!(": {why}"));
    }
    Evidence::new(Source::Approval, text).at(at)
}

/// Approvals of the record's `approvers` when the approvals table's items are not given.
fn record_approvals(facts: &Facts) -> Vec<super::ApprovalItem> {
    facts
        .record
        .get("approvers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| super::ApprovalItem {
            person: a
                .get("person")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned(),
            role: a
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned(),
            decision: None,
            outcome: None,
            detail: None,
            source_ip: None,
            user_agent: None,
            at: a
                .get("at")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned(),
        })
        .collect()
}

fn all_approvals(facts: &Facts) -> Vec<super::ApprovalItem> {
    if facts.approvals.is_empty() {
        record_approvals(facts)
    } else {
        facts.approvals.clone()
    }
}

fn approval(facts: &Facts, role: Role) -> Decision {
    let required = required_roles(facts);
    if !required.contains(&role) {
        let names: Vec<&str> = required.iter().map(|r| r.label()).collect();
        return d(
            Verdict::NotApplicable,
            format!(
                "not required here (required: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
            vec![],
        );
    }
    let items = all_approvals(facts);
    let of_role: Vec<&super::ApprovalItem> =
        items.iter().filter(|a| a.role() == Some(role)).collect();
    if let Some(r) = of_role.iter().find(|a| a.is_rejection()) {
        return d(
            Verdict::Failed,
            format!("rejected by {}", r.person),
            vec![approval_evidence(r)],
        );
    }
    if let Some(a) = of_role.iter().find(|a| a.is_approval()) {
        return d(
            Verdict::Ticked,
            format!("approved by {}", a.person),
            vec![approval_evidence(a)],
        );
    }
    if let Some(r) = items.iter().find(|a| a.is_rejection()) {
        return d(
            Verdict::Failed,
            format!(
                "not obtained: the request was rejected by {} first",
                r.person
            ),
            vec![approval_evidence(r)],
        );
    }
    let asked = facts
        .history
        .iter()
        .any(|h| h.state.contains("approval") && !h.state.contains("timed out"));
    if ended(facts) && !facts.history.is_empty() && !asked {
        return d(
            Verdict::NotApplicable,
            format!("never asked: {}", stopped(facts)),
            vec![],
        );
    }
    if ended(facts) {
        return d(
            Verdict::Failed,
            format!("not obtained: {}", stopped(facts)),
            vec![Evidence::new(
                Source::Missing,
                format!("an approval as {}", role.as_str()),
            )],
        );
    }
    d(Verdict::Open, "not decided yet", vec![])
}

fn polls_evidence(facts: &Facts) -> Vec<Evidence> {
    let lookback = facts
        .plan
        .as_ref()
        .map(|p| human_duration(p.rules.rollback_triggers.lookback_seconds))
        .unwrap_or_else(|| "the trigger's look-back".to_owned());
    let lookback = lookback.as_str();
    facts
        .polls
        .iter()
        .flat_map(|p| {
            p.figures.iter().map(move |f| {
                Evidence::new(
                    Source::Figure,
                    format!(
                        concat!(
                            "poll {}: {} version {} in {}: health {}, ",
                            "errors {} and throttles {} in the last {}"
                        ),
                        p.polls_done,
                        f.function,
                        f.version,
                        f.region,
                        f.health,
                        f.errors,
                        f.throttles,
                        lookback
                    ),
                )
                .at(p.at)
            })
        })
        .collect()
}

fn monitor_passed(facts: &Facts) -> Decision {
    if let Some(e) = state_evidence(facts, "Unhealthy after deploy") {
        return d(
            Verdict::Failed,
            "the verification after the deploy failed: no monitoring ran",
            vec![e],
        );
    }
    if let Some(p) = facts.polls.iter().find(|p| p.verdict != "healthy") {
        let mut ev = polls_evidence(facts);
        ev.push(
            Evidence::new(
                Source::Figure,
                p.reason
                    .clone()
                    .unwrap_or_else(|| format!("verdict {}", p.verdict)),
            )
            .at(p.at),
        );
        return d(
            Verdict::Failed,
            format!("poll {} called for a rollback", p.polls_done),
            ev,
        );
    }
    match facts.polls.last() {
        None => d(
            Verdict::Open,
            "no monitor poll is given: the monitoring cannot be shown",
            vec![Evidence::new(
                Source::Missing,
                "the monitor polls ($.monitor)",
            )],
        ),
        Some(last) if last.polls_left > 0 => d(
            Verdict::Open,
            format!("{} poll(s) still to make", last.polls_left),
            polls_evidence(facts),
        ),
        Some(last) => d(
            Verdict::Ticked,
            format!("{} poll(s), every one healthy", last.polls_done),
            polls_evidence(facts),
        ),
    }
}

fn target_health(facts: &Facts) -> Decision {
    let mut ev: Vec<Evidence> = Vec::new();
    let mut bad = false;
    if let Some(v) = &facts.verify {
        for c in v.checks.iter().filter(|c| c.check.contains("/health")) {
            bad |= !c.passed;
            ev.push(Evidence::new(
                Source::Figure,
                format!("{}: {}", c.check, c.detail),
            ));
        }
    }
    for p in &facts.polls {
        for f in &p.figures {
            bad |= f.health != 200;
            ev.push(
                Evidence::new(
                    Source::Figure,
                    format!(
                        "poll {}: {} version {} in {}: /health {}",
                        p.polls_done, f.function, f.version, f.region, f.health
                    ),
                )
                .at(p.at),
            );
        }
    }
    if ev.is_empty() {
        return d(
            Verdict::Open,
            concat!(
                "neither the verification nor a monitor poll ",
                "is given: the health check cannot be shown"
            ),
            vec![Evidence::new(Source::Missing, "$.verify and $.monitor")],
        );
    }
    if bad {
        d(Verdict::Failed, "a health check did not answer 200", ev)
    } else {
        d(Verdict::Ticked, "every health check answered 200", ev)
    }
}

fn smoke_tests(facts: &Facts) -> Decision {
    let Some(v) = &facts.verify else {
        return d(
            Verdict::Open,
            concat!(
                "the verification's checks are not given (the record does ",
                "not keep them): the smoke tests cannot be shown"
            ),
            vec![Evidence::new(
                Source::Missing,
                "$.verify of state 'Verify health'",
            )],
        );
    };
    let smoke: Vec<&crate::steps::Check> = v
        .checks
        .iter()
        .filter(|c| c.check.starts_with("smoke test"))
        .collect();
    if smoke.is_empty() {
        return d(
            Verdict::NotApplicable,
            "the service has no smoke test for this environment",
            vec![],
        );
    }
    let ev = smoke
        .iter()
        .map(|c| Evidence::new(Source::Figure, format!("{}: {}", c.check, c.detail)))
        .collect();
    if smoke.iter().all(|c| c.passed) {
        d(
            Verdict::Ticked,
            format!("{} smoke test(s) passed", smoke.len()),
            ev,
        )
    } else {
        d(Verdict::Failed, "a smoke test failed", ev)
    }
}

/// A rollback's facts, from a manual rollback's record or a promotion's `rollback` field.
struct RollbackFacts {
    manual: bool,
    incident_alias: Option<String>,
    target: Option<String>,
    reason: Option<String>,
    moves: Vec<Value>,
    executed_state: &'static str,
    failure_state: &'static str,
}

fn rollback_facts(facts: &Facts) -> RollbackFacts {
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if facts.text("action") == Some("rollback") {
        RollbackFacts {
            manual: true,
            incident_alias: s(&facts.record, "incident_alias"),
            target: s(&facts.record, "target"),
            reason: s(&facts.record, "reason"),
            moves: facts
                .record
                .get("health")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            executed_state: "Roll back to target",
            failure_state: "Rollback not completed",
        }
    } else {
        let r = facts.record.get("rollback").cloned().unwrap_or(Value::Null);
        RollbackFacts {
            manual: false,
            incident_alias: s(&r, "incident_alias"),
            target: s(&r, "backup_alias"),
            reason: s(&r, "reason"),
            moves: r
                .get("functions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            executed_state: "Roll back",
            failure_state: "Rollback failed",
        }
    }
}

fn move_text(m: &Value, alias: &str) -> String {
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("?");
    format!(
        "{}:{alias} in {}: {} -> {}",
        s("function"),
        s("region"),
        s("from_version"),
        s("to_version")
    )
}

fn alias_of(facts: &Facts) -> String {
    env_of(facts)
        .map(latest_alias)
        .unwrap_or_else(|| "latest".to_owned())
}

fn rollback_rule(rule: Rule, facts: &Facts) -> Decision {
    let r = rollback_facts(facts);
    let alias = alias_of(facts);
    match rule {
        Rule::Incident => match facts.text("incident") {
            Some(i) => d(
                Verdict::Ticked,
                format!("incident {i}"),
                vec![Evidence::new(Source::RecordField, format!("incident: {i}"))],
            ),
            None => d(
                Verdict::Open,
                "no incident ticket was given: a person documents the incident",
                r.reason
                    .iter()
                    .map(|why| Evidence::new(Source::RecordField, format!("reason: {why}")))
                    .collect(),
            ),
        },
        Rule::IncidentAlias => {
            if r.moves.is_empty() {
                return no_moves(facts, &r);
            }
            let kept: Vec<Evidence> = r
                .moves
                .iter()
                .filter(|m| m.get("incident_alias").is_some_and(Value::is_string))
                .map(|m| {
                    Evidence::new(
                        Source::Alias,
                        format!(
                            "{} keeps {} as {}",
                            m.get("function").and_then(Value::as_str).unwrap_or("?"),
                            m.get("from_version").and_then(Value::as_str).unwrap_or("?"),
                            m.get("incident_alias")
                                .and_then(Value::as_str)
                                .unwrap_or("?")
                        ),
                    )
                })
                .collect();
            match (&r.incident_alias, kept.is_empty()) {
                (Some(a), false) => d(Verdict::Ticked, format!("{a} created"), kept),
                (Some(a), true) => d(
                    Verdict::NotApplicable,
                    format!("{a} named but not needed: every function already served its target"),
                    vec![],
                ),
                (None, _) => d(
                    Verdict::Failed,
                    "no incident alias is kept",
                    vec![Evidence::new(Source::Missing, "incident_alias")],
                ),
            }
        }
        Rule::RollbackTarget => match &r.target {
            Some(t) => d(
                Verdict::Ticked,
                format!("target {t}"),
                vec![Evidence::new(
                    Source::RecordField,
                    if r.manual {
                        format!("target: {t}")
                    } else {
                        format!("rollback.backup_alias: {t}")
                    },
                )],
            ),
            None => d(
                Verdict::Failed,
                "no rollback target is kept",
                vec![Evidence::new(Source::Missing, "target")],
            ),
        },
        Rule::RollbackApproval => {
            if !r.manual {
                return d(
                    Verdict::NotApplicable,
                    "automatic rollback (RB-003 §6.3.1): no approval is asked",
                    vec![],
                );
            }
            if let Some(e) = state_evidence(facts, "No approval needed") {
                return d(
                    Verdict::NotApplicable,
                    "no approval is needed for a rollback in this environment",
                    vec![e],
                );
            }
            let items = all_approvals(facts);
            if let Some(x) = items.iter().find(|a| a.is_rejection()) {
                return d(
                    Verdict::Failed,
                    format!("rejected by {}", x.person),
                    vec![approval_evidence(x)],
                );
            }
            let given: Vec<Evidence> = items
                .iter()
                .filter(|a| a.is_approval())
                .map(approval_evidence)
                .collect();
            if given.is_empty() {
                d(
                    if ended(facts) {
                        Verdict::Failed
                    } else {
                        Verdict::Open
                    },
                    "no approval is kept",
                    vec![Evidence::new(Source::Missing, "approvers")],
                )
            } else {
                d(Verdict::Ticked, "approved", given)
            }
        }
        Rule::RollbackExecuted => step(facts, r.executed_state, r.failure_state),
        Rule::AliasUpdated => {
            if r.moves.is_empty() {
                return no_moves(facts, &r);
            }
            let ev = r
                .moves
                .iter()
                .map(|m| Evidence::new(Source::Alias, move_text(m, &alias)))
                .collect();
            d(Verdict::Ticked, format!("{alias} moved"), ev)
        }
        Rule::RollbackHealth => {
            if r.moves.is_empty() {
                return no_moves(facts, &r);
            }
            let mut bad = false;
            let ev = r
                .moves
                .iter()
                .map(|m| {
                    let h = m.get("health").and_then(Value::as_u64);
                    bad |= h != Some(200);
                    Evidence::new(
                        Source::Figure,
                        format!(
                            "{}:{alias} in {} answers {}",
                            m.get("function").and_then(Value::as_str).unwrap_or("?"),
                            m.get("region").and_then(Value::as_str).unwrap_or("?"),
                            h.map_or_else(|| "nothing kept".to_owned(), |h| h.to_string())
                        ),
                    )
                })
                .collect();
            if bad {
                d(
                    Verdict::Failed,
                    "a function did not answer 200 after the rollback",
                    ev,
                )
            } else {
                d(Verdict::Ticked, "every function answers 200", ev)
            }
        }
        Rule::RollbackRecord => {
            let id = facts.text("deployment_id");
            let is_rollback =
                facts.text("action") == Some("rollback") || facts.outcome() == Some("rolled_back");
            match (id, is_rollback) {
                (Some(id), true) => d(
                    Verdict::Ticked,
                    format!("record {id}"),
                    vec![Evidence::new(
                        Source::RecordField,
                        format!(
                            "deployment_id {id} ({}) written {}",
                            facts.outcome().unwrap_or("?"),
                            facts.text("timestamp").unwrap_or("?")
                        ),
                    )],
                ),
                (Some(id), false) => d(
                    Verdict::Failed,
                    format!(
                        "record {id} says {}: it does not keep the rollback",
                        facts.outcome().unwrap_or("?")
                    ),
                    vec![],
                ),
                (None, _) => d(
                    Verdict::Failed,
                    "no record",
                    vec![Evidence::new(Source::Missing, "deployment_id")],
                ),
            }
        }
        _ => d(Verdict::Open, "not a rollback rule", vec![]),
    }
}

fn no_moves(facts: &Facts, r: &RollbackFacts) -> Decision {
    if let Some(e) = state_evidence(facts, r.failure_state) {
        return d(
            Verdict::Failed,
            format!("the rollback did not complete: {}", stopped(facts)),
            vec![e],
        );
    }
    if ended(facts) && facts.state(r.executed_state).is_none() && !facts.history.is_empty() {
        return d(
            Verdict::NotApplicable,
            format!("not reached: {}", stopped(facts)),
            vec![],
        );
    }
    d(
        Verdict::Failed,
        "no function moves are kept",
        vec![Evidence::new(Source::Missing, "the rollback's functions")],
    )
}

/// Applies `rule` to `facts`.
pub fn decide(rule: Rule, facts: &Facts) -> Decision {
    let needs_deploy = matches!(
        rule,
        Rule::PostDeployVerification
            | Rule::MonitorPassed
            | Rule::TargetHealth
            | Rule::SmokeTests
            | Rule::NoErrors
            | Rule::Watch(_)
            | Rule::Person {
                after_deploy: true,
                ..
            }
    );
    if needs_deploy && !deployed(facts) {
        return d(
            Verdict::NotApplicable,
            format!("nothing was deployed: {}", stopped(facts)),
            vec![],
        );
    }
    match rule {
        Rule::Gate(gate) => gate_item(facts, gate),
        Rule::QualityGates => {
            let mut dec = checks_decision(facts, "quality gates", "the quality gates");
            if skipped_gates(&dec) {
                dec.verdict = Verdict::NotApplicable;
                dec.note = format!(
                    "skipped: emergency declared (incident {})",
                    facts.text("incident").unwrap_or("-")
                );
            }
            dec
        }
        Rule::Stability(metric) => checks_decision(
            facts,
            metric.as_str(),
            &format!("the {} check", metric.as_str()),
        ),
        Rule::StableFor24h => stable_in_sit(facts),
        Rule::SourceHealth => checks_decision(facts, "/health", "the source version's /health"),
        Rule::Approval(role) => approval(facts, role),
        Rule::ReleaseNotes => match &facts.release_notes {
            Some(at) => d(
                Verdict::Ticked,
                "release notes written",
                vec![Evidence::new(
                    Source::RecordField,
                    format!("release notes: {at}"),
                )],
            ),
            None => d(
                Verdict::Open,
                "no release notes are kept: a person documents them",
                vec![],
            ),
        },
        Rule::ReplacedBy(state) => d(
            Verdict::NotApplicable,
            format!("replaced by the state machine's '{state}'"),
            state_evidence(facts, state).into_iter().collect(),
        ),
        Rule::Step { state, failure } => step(facts, state, failure),
        Rule::Window => match &facts.window {
            Some(WindowCheck::InWindow { closes_at }) => d(
                Verdict::Ticked,
                "inside a maintenance window",
                vec![Evidence::new(
                    Source::Figure,
                    format!(
                        "window closes at {}",
                        closes_at.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
                    ),
                )],
            ),
            Some(WindowCheck::EmergencyOverride) => d(
                Verdict::NotApplicable,
                format!(
                    "outside every window: emergency override (incident {})",
                    facts.text("incident").unwrap_or("-")
                ),
                vec![],
            ),
            Some(WindowCheck::NotRequired) => d(
                Verdict::NotApplicable,
                "no window is required on this path",
                vec![],
            ),
            Some(WindowCheck::Refused { next_start }) => d(
                Verdict::Failed,
                format!(
                    "outside every window; the next opens {}",
                    next_start.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
                ),
                vec![],
            ),
            None => d(
                Verdict::Open,
                "the window check is not given",
                vec![Evidence::new(
                    Source::Missing,
                    "$.preflight.window or $.window",
                )],
            ),
        },
        Rule::BackupAlias => {
            let from = facts.versions("from_version");
            match facts.text("backup_alias") {
                Some(a) => d(
                    Verdict::Ticked,
                    format!("{a} created"),
                    from.iter()
                        .map(|(k, v)| {
                            Evidence::new(Source::Alias, format!("{a} names {k} version {v}"))
                        })
                        .collect(),
                ),
                None => step(facts, "Create backup alias", "Backup failed"),
            }
        }
        Rule::Deployed => {
            let mut dec = step(facts, "Deploy", "Deploy failed");
            let to = facts.versions("to_version");
            let alias = facts
                .plan
                .as_ref()
                .map(|p| p.target_alias.clone())
                .unwrap_or_else(|| alias_of(facts));
            if dec.verdict == Verdict::Ticked || (facts.history.is_empty() && !to.is_empty()) {
                let mut ev: Vec<Evidence> = to
                    .iter()
                    .map(|(k, v)| {
                        Evidence::new(Source::Alias, format!("{alias} of {k} -> version {v}"))
                    })
                    .collect();
                ev.extend(dec.evidence);
                dec = d(
                    Verdict::Ticked,
                    format!("{} version(s) published behind {alias}", to.len()),
                    ev,
                );
            }
            dec
        }
        Rule::PostDeployVerification => {
            if let Some(v) = &facts.verify {
                if !v.healthy {
                    return d(
                        Verdict::Failed,
                        v.reason.clone().unwrap_or_else(|| "unhealthy".to_owned()),
                        vec![],
                    );
                }
            }
            monitor_passed(facts)
        }
        Rule::MonitorPassed => monitor_passed(facts),
        Rule::TargetHealth => target_health(facts),
        Rule::SmokeTests => smoke_tests(facts),
        Rule::NoErrors => {
            // A poll without figures is the verification's verdict (rolled back right after the
            // deploy): nothing was measured.
            let measured = facts.polls.iter().any(|p| !p.figures.is_empty());
            let never_polled =
                !facts.history.is_empty() && facts.state(super::facts::POLL_STATE).is_none();
            if !measured && (never_polled || !facts.polls.is_empty()) {
                let why = facts
                    .polls
                    .iter()
                    .find_map(|p| p.reason.clone())
                    .unwrap_or_else(|| "the promotion ended before its monitoring".to_owned());
                return d(
                    Verdict::NotApplicable,
                    "the monitoring never ran: nothing was measured after the deploy",
                    vec![Evidence::new(Source::State, why)],
                );
            }
            if facts.polls.is_empty() {
                return d(
                    Verdict::Open,
                    "no monitor poll is given",
                    vec![Evidence::new(Source::Missing, "the monitor polls")],
                );
            }
            let any = facts
                .polls
                .iter()
                .flat_map(|p| &p.figures)
                .any(|f| f.errors > 0.0);
            if any {
                d(
                    Verdict::Failed,
                    "errors were counted after the deploy",
                    polls_evidence(facts),
                )
            } else {
                d(
                    Verdict::Ticked,
                    "no error counted by any poll",
                    polls_evidence(facts),
                )
            }
        }
        Rule::Record => match facts.text("deployment_id") {
            Some(id) => d(
                Verdict::Ticked,
                format!("record {id}"),
                vec![Evidence::new(
                    Source::RecordField,
                    format!(
                        "deployment_id {id} written {}",
                        facts.text("timestamp").unwrap_or("?")
                    ),
                )],
            ),
            None => d(
                Verdict::Failed,
                "no deployment record",
                vec![Evidence::new(Source::Missing, "deployment_id")],
            ),
        },
        Rule::RollbackPlan => match &facts.plan {
            Some(p) => {
                let t = &p.rules.rollback_triggers;
                d(
                    Verdict::Ticked,
                    concat!(
                        "automatic rollback triggers and a backup ",
                        "alias are part of every promotion"
                    ),
                    vec![Evidence::new(
                        Source::RecordField,
                        format!(
                            "rollback triggers: health != {}, errors {} or throttles {} in {}",
                            t.healthy_status,
                            t.errors,
                            t.throttles,
                            human_duration(t.lookback_seconds)
                        ),
                    )],
                )
            }
            None => d(
                Verdict::Open,
                "the plan is not given: the rollback triggers cannot be shown",
                vec![Evidence::new(Source::Missing, "$.promotion")],
            ),
        },
        Rule::ChangeRequestApproved => match facts.text("change_request") {
            Some(c) => d(
                Verdict::Open,
                format!(
                    "{c} was given with the request; its approval is kept in the change \
                     system: a person confirms"
                ),
                vec![Evidence::new(
                    Source::RecordField,
                    format!("change_request: {c}"),
                )],
            ),
            None if facts.text("incident").is_some() => d(
                Verdict::Open,
                "emergency without a change request: a person files it",
                vec![],
            ),
            None => d(
                Verdict::Failed,
                "no change request was given",
                vec![Evidence::new(Source::Missing, "change_request")],
            ),
        },
        Rule::ChangeRequestTicket => match (env_of(facts), facts.text("change_request")) {
            (Some(Env::Prod), Some(c)) => d(
                Verdict::Ticked,
                c.to_owned(),
                vec![Evidence::new(
                    Source::RecordField,
                    format!("change_request: {c}"),
                )],
            ),
            (Some(Env::Prod), None) => d(
                Verdict::Failed,
                "no change request for PROD",
                vec![Evidence::new(Source::Missing, "change_request")],
            ),
            _ => d(Verdict::NotApplicable, "PROD only", vec![]),
        },
        Rule::Watch(hours) => {
            if facts.outcome() == Some("rolled_back") {
                return d(
                    Verdict::NotApplicable,
                    "rolled back: the deploy is no longer serving",
                    vec![],
                );
            }
            match facts.watch.iter().find(|w| w.after_hours == hours) {
                Some(w) => {
                    let mut ev = vec![Evidence::new(
                        Source::Figure,
                        format!("errors {} over {}", w.errors, w.window),
                    )
                    .at(Some(w.at))];
                    ev.extend(
                        w.findings
                            .iter()
                            .map(|f| Evidence::new(Source::Figure, f.clone()).at(Some(w.at))),
                    );
                    match w.verdict.as_deref() {
                        Some("superseded") => d(
                            Verdict::NotApplicable,
                            "superseded: a newer deployment serves, this one was no longer watched",
                            ev,
                        ),
                        Some("failed") => d(Verdict::Failed, "the watch's check failed", ev),
                        Some("passed") => d(Verdict::Ticked, "the watch's check passed", ev),
                        _ if w.errors > 0.0 => d(Verdict::Failed, "errors counted", ev),
                        _ => d(Verdict::Ticked, "no errors", ev),
                    }
                }
                None => d(
                    Verdict::Open,
                    format!("the {hours}-hour check has not been made"),
                    vec![Evidence::new(
                        Source::Missing,
                        format!("a {hours}-hour watch check"),
                    )],
                ),
            }
        }
        Rule::Person { why, .. } => d(Verdict::Open, why, vec![]),
        Rule::ReleasePhases => release_phases(facts),
        Rule::CrossServiceVerification => {
            let v = facts
                .record
                .get("verification")
                .cloned()
                .unwrap_or(Value::Null);
            match v.get("healthy").and_then(Value::as_bool) {
                Some(h) => {
                    let ev = v
                        .get("checks")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|c| {
                            Evidence::new(
                                Source::Figure,
                                format!(
                                    "{}: {}",
                                    c.get("check").and_then(Value::as_str).unwrap_or("?"),
                                    c.get("detail").and_then(Value::as_str).unwrap_or("?")
                                ),
                            )
                        })
                        .collect();
                    if h {
                        d(Verdict::Ticked, "every service healthy", ev)
                    } else {
                        d(
                            Verdict::Failed,
                            v.get("reason")
                                .and_then(Value::as_str)
                                .unwrap_or("not healthy")
                                .to_owned(),
                            ev,
                        )
                    }
                }
                None if ended(facts) => d(
                    Verdict::NotApplicable,
                    format!("not reached: {}", stopped(facts)),
                    vec![],
                ),
                None => d(Verdict::Open, "not run yet", vec![]),
            }
        }
        Rule::CompletedPhasesRolledBack => {
            let failed = phases(facts)
                .iter()
                .any(|p| p.get("outcome").and_then(Value::as_str) != Some("succeeded"))
                || facts
                    .record
                    .get("verification")
                    .and_then(|v| v.get("healthy"))
                    .and_then(Value::as_bool)
                    == Some(false);
            if !failed {
                return d(Verdict::NotApplicable, "no phase failed", vec![]);
            }
            let asked = facts
                .record
                .get("rollback_completed_phases")
                .and_then(Value::as_bool)
                == Some(true);
            let done = facts
                .record
                .get("completed_rollback")
                .is_some_and(Value::is_object);
            match (asked, done) {
                (false, _) => d(
                    Verdict::NotApplicable,
                    concat!(
                        "the request did not ask to roll back completed ",
                        "phases: they stay on their new versions"
                    ),
                    vec![Evidence::new(
                        Source::RecordField,
                        "rollback_completed_phases: false",
                    )],
                ),
                (true, true) => d(
                    Verdict::Ticked,
                    "completed phases rolled back",
                    vec![Evidence::new(
                        Source::RecordField,
                        "completed_rollback kept",
                    )],
                ),
                (true, false) => d(
                    Verdict::Failed,
                    "asked, but no rollback of the completed phases is kept",
                    vec![Evidence::new(Source::Missing, "completed_rollback")],
                ),
            }
        }
        Rule::Incident
        | Rule::IncidentAlias
        | Rule::RollbackTarget
        | Rule::RollbackApproval
        | Rule::RollbackExecuted
        | Rule::AliasUpdated
        | Rule::RollbackHealth
        | Rule::RollbackRecord => rollback_rule(rule, facts),
    }
}

/// §7.2 "SIT stable for 24 hours", from the preflight's `stable in SIT` checks: ticked when each
/// passed under a requirement of at least 24 h, failed when one failed (or the deployed
/// requirement was shorter), not applicable when an emergency skipped it, open when the
/// configuration did not require it or the record keeps no such check.
fn stable_in_sit(facts: &Facts) -> Decision {
    use crate::served::{self, NOT_REQUIRED_PREFIX};
    let mut dec = checks_decision(facts, served::CHECK_SUFFIX, "the time in SIT");
    if dec.verdict != Verdict::Ticked {
        return dec;
    }
    let checks = checks_ending(facts, served::CHECK_SUFFIX).unwrap_or_default();
    if checks
        .iter()
        .any(|c| served::skipped_by_emergency(&c.check, &c.detail))
    {
        dec.verdict = Verdict::NotApplicable;
        dec.note = format!(
            "not applicable — emergency skip (incident {})",
            facts.text("incident").unwrap_or("-")
        );
    } else if checks
        .iter()
        .any(|c| c.detail.starts_with(NOT_REQUIRED_PREFIX))
    {
        dec.verdict = Verdict::Open;
        dec.note = format!(
            "the deployed configuration did not require a time in SIT ({} 0): a person confirms",
            served::CONFIG_FIELD
        );
    } else {
        // The plan says what was required; without it, the checks' own words do.
        let day = match facts.plan.as_ref().and_then(|p| p.rules.sit_stable_seconds) {
            Some(required) => required >= 86_400,
            None => checks
                .iter()
                .all(|c| c.detail.ends_with("(required: 24 h)")),
        };
        if day {
            dec.note = "served in SIT for at least 24 h".to_owned();
        } else {
            dec.verdict = Verdict::Failed;
            dec.note = "the time in SIT required was shorter than 24 h".to_owned();
        }
    }
    dec
}

/// Whether the preflight skipped the gates (an emergency).
fn skipped_gates(dec: &Decision) -> bool {
    dec.evidence.iter().any(|e| {
        e.text
            .ends_with("quality gates: skipped: emergency declared")
    })
}

/// One gate: trusted on this path, skipped in an emergency, or read from the gates' summary,
/// which names each gate that failed or has no result (`<gate>: …`).
fn gate_item(facts: &Facts, gate: Gate) -> Decision {
    let trusted = facts
        .plan
        .as_ref()
        .is_some_and(|p| !p.rules.quality_gates.required.contains(&gate));
    if trusted {
        return d(
            Verdict::NotApplicable,
            format!("{gate}: trusted from the source environment on this path"),
            vec![],
        );
    }
    let mut dec = checks_decision(facts, "quality gates", "the quality gates");
    if skipped_gates(&dec) {
        dec.verdict = Verdict::NotApplicable;
        dec.note = format!(
            "{gate}: skipped: emergency declared (incident {})",
            facts.text("incident").unwrap_or("-")
        );
        return dec;
    }
    let named = format!("{gate}: ");
    match dec.verdict {
        Verdict::Ticked => {
            dec.note = format!("{gate}: required and passed for the package promoted");
        }
        Verdict::Failed
            if dec.evidence.iter().all(|e| !e.text.contains(&named))
                && !dec.evidence.is_empty() =>
        {
            dec.verdict = Verdict::Ticked;
            dec.note =
                format!("{gate}: passed (not among the gates that failed or have no result)");
        }
        Verdict::Failed if !dec.evidence.is_empty() => {
            dec.note = format!("{gate}: failed or no result recorded");
        }
        _ => {}
    }
    dec
}

fn phases(facts: &Facts) -> Vec<Value> {
    facts
        .record
        .get("phases")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn release_phases(facts: &Facts) -> Decision {
    let list = phases(facts);
    let not_started: Vec<String> = facts
        .record
        .get("not_started")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .collect();
    if list.is_empty() {
        return if ended(facts) {
            d(
                Verdict::NotApplicable,
                format!("no phase ran: {}", stopped(facts)),
                vec![],
            )
        } else {
            d(Verdict::Open, "no phase has run yet", vec![])
        };
    }
    let mut ev: Vec<Evidence> = list
        .iter()
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("-");
            let mut text = format!(
                "phase {} {}: {} (execution {})",
                p.get("index")
                    .map_or_else(|| "?".to_owned(), Value::to_string),
                s("service"),
                s("outcome"),
                s("execution_arn")
            );
            if let Some(c) = p.get("cause").and_then(Value::as_str) {
                text.push_str(&format!(": {c}"));
            }
            Evidence::new(Source::RecordField, text)
        })
        .collect();
    if !not_started.is_empty() {
        ev.push(Evidence::new(
            Source::RecordField,
            format!("not started: {}", not_started.join(", ")),
        ));
    }
    let failed: Vec<&Value> = list
        .iter()
        .filter(|p| p.get("outcome").and_then(Value::as_str) != Some("succeeded"))
        .collect();
    if failed.is_empty() && not_started.is_empty() {
        d(
            Verdict::Ticked,
            format!("{} phase(s) succeeded", list.len()),
            ev,
        )
    } else {
        let names: Vec<&str> = failed
            .iter()
            .filter_map(|p| p.get("service").and_then(Value::as_str))
            .collect();
        d(
            Verdict::Failed,
            format!(
                "failed: {}",
                if names.is_empty() {
                    "phases not started".to_owned()
                } else {
                    names.join(", ")
                }
            ),
            ev,
        )
    }
}
