//! Table tests: one per scenario, item -> expected verdict, from facts shaped as the pipeline
//! writes them (the record function's records, the monitor's polls, the approval function's
//! items, the state machines' state names).

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::render::{html, html_escape, json as to_json, markdown, md_escape};
use super::*;
use crate::config::Config;
use crate::plan::PromotionPlan;
use crate::request::PromotionRequest;
use crate::steps::Verification;
use crate::windows::WindowCheck;
use crate::Catalog;

const PROD_ARN: &str =
    "arn:aws:states:af-south-1:093646564004:execution:bbws-promote-prod:tim-20261124-2005";
const TIM_SIT: &str = "bbws-tenant-instance-management-sit";
const TIM_PROD: &str = "bbws-tenant-instance-management-prod";

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s)
        .single()
        .expect("valid time")
}

fn prod_plan() -> PromotionPlan {
    let request = PromotionRequest::validate(
        &json!({"service": "tenant-instance-management", "source_env": "sit",
                "target_env": "prod", "requested_by": "jane@bbws.io",
                "reason": "Release 1.4.2", "change_request": "CHG-1234"}),
        &Catalog::runbook(),
    )
    .expect("valid request");
    PromotionPlan::new(&request, &Config::runbook(), PROD_ARN, at(20, 5, 0)).expect("plan")
}

/// The preflight's checks for one source function, as the preflight words them.
fn prod_preflight(errors: u32) -> Value {
    json!([
        {"check": format!("{TIM_SIT} is ready"), "passed": true,
         "detail": "State Active, LastUpdateStatus Successful, CodeSha256 abc="},
        {"check": format!("{TIM_SIT} errors"), "passed": errors < 5,
         "detail": format!("errors in the last 24 h: {errors} (limit: fewer than 5)")},
        {"check": format!("{TIM_SIT} throttles"), "passed": true,
         "detail": "throttles in the last 24 h: 0 (limit: 0)"},
        {"check": format!("{TIM_SIT} quality gates"), "passed": true,
         "detail": "quality gates passed for CodeSha256 abc="},
        {"check": format!("{TIM_SIT} stable in SIT"), "passed": true,
         "detail": "version 12 (CodeSha256 abc=) has served in SIT since 2026-11-23 09:00:00 UTC \
                    (promote tim-20261123-0855:succeeded), for 35 h 5 min (required: 24 h)"}
    ])
}

/// A promotion record as `outcome::record` writes it.
fn promotion_record(outcome: &str, deployed: bool) -> Value {
    let (from, to, backup) = if deployed {
        (
            json!({format!("af-south-1/{TIM_PROD}"): "3", format!("eu-west-1/{TIM_PROD}"): "2"}),
            json!({format!("af-south-1/{TIM_PROD}"): "4", format!("eu-west-1/{TIM_PROD}"): "3"}),
            json!("backup-20261124-200501"),
        )
    } else {
        (json!({}), json!({}), Value::Null)
    };
    json!({
        "deployment_id": format!("tim-20261124-2005:{outcome}"),
        "timestamp": "2026-11-24T20:20:00+00:00",
        "environment": "prod",
        "action": "promote",
        "service": "tenant-instance-management",
        "source_environment": "sit",
        "functions": [TIM_PROD],
        "from_version": from,
        "to_version": to,
        "source_version": "latest-sit",
        "code_sha256": [{"function": TIM_SIT, "version": "12", "code_sha256": "abc="}],
        "actor": "jane@bbws.io",
        "reason": "Release 1.4.2",
        "change_request": "CHG-1234",
        "incident": null,
        "approvers": [
            {"person": "tech@bbws.io", "role": "tech_lead", "at": "2026-11-24T20:07:00+00:00"},
            {"person": "ops@bbws.io", "role": "operations_lead", "at": "2026-11-24T20:08:00+00:00"}],
        "preflight": prod_preflight(0),
        "backup_alias": backup,
        "execution_arn": PROD_ARN,
        "outcome": outcome,
        "error": null,
        "cause": null,
        "rollback": null,
        "lock_taken_over_from": null
    })
}

/// An approval item (`approval#<role>`) and its audit item, as the approval function keeps them.
fn approved(person: &str, role: &str, when: &str) -> Vec<ApprovalItem> {
    let item = json!({"request_id": "r-1", "item": format!("approval#{role}"), "person": person,
        "role": role, "at": when, "source_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11)"});
    let audit = json!({"request_id": "r-1", "item": format!("audit#{when}#0000beef"), "person": person,
        "role": role, "decision": "approve", "outcome": "approved", "detail": "approval recorded",
        "source_ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11)", "at": when,
        "expires_at": 1_800_000_000});
    vec![
        serde_json::from_value(item).expect("approval item"),
        serde_json::from_value(audit).expect("audit item"),
    ]
}

/// An hour, minute and second of 2026-11-24.
type Hms = (u32, u32, u32);
/// A state, when it was entered and when left.
type Stay = (&'static str, Hms, Option<Hms>);

fn history(states: &[Stay]) -> Vec<HistoryEntry> {
    states
        .iter()
        .map(|(s, e, x)| HistoryEntry {
            state: (*s).to_owned(),
            entered: at(e.0, e.1, e.2),
            exited: x.map(|x| at(x.0, x.1, x.2)),
            output: None,
        })
        .collect()
}

fn poll(n: u64, left: u64, errors: f64, health: u16, when: DateTime<Utc>) -> Poll {
    let verdict = if errors > 5.0 || health != 200 {
        "rollback"
    } else {
        "healthy"
    };
    let reason = (verdict == "rollback").then(|| {
        format!("monitor poll {n} after the deploy of tenant-instance-management to PROD: {TIM_PROD} version 4 in af-south-1: errors {errors} in the last 2 min (more than 5)")
    });
    let mut p: Poll = serde_json::from_value(json!({
        "verdict": verdict, "reason": reason,
        "figures": [
            {"function": TIM_PROD, "region": "af-south-1", "version": "4", "health": health,
             "errors": errors, "throttles": 0.0},
            {"function": TIM_PROD, "region": "eu-west-1", "version": "3", "health": 200,
             "errors": 0.0, "throttles": 0.0}],
        "wait_seconds": 30, "polls_left": left, "polls_done": n, "started_at": 1_795_551_000
    }))
    .expect("poll");
    p.at = Some(when);
    p
}

fn healthy_verify() -> Verification {
    serde_json::from_value(json!({"healthy": true, "reason": null, "checks": [
        {"check": format!("{TIM_PROD}:latest-prod /health in af-south-1"), "passed": true, "detail": "200"},
        {"check": format!("{TIM_PROD}:latest-prod /health in eu-west-1"), "passed": true, "detail": "200"},
        {"check": format!("smoke test GET /tenants on {TIM_PROD}:latest-prod in af-south-1"), "passed": true,
         "detail": "200 (expected 200)"}]}))
    .expect("verification")
}

const PROMOTED_STATES: &[Stay] = &[
    ("Validate input", (20, 5, 0), Some((20, 5, 1))),
    ("Lock promotion", (20, 5, 1), Some((20, 5, 2))),
    ("Preflight checks", (20, 5, 2), Some((20, 5, 9))),
    ("Request approval", (20, 5, 9), Some((20, 8, 1))),
    ("Re-check maintenance window", (20, 8, 1), Some((20, 8, 2))),
    ("Create backup alias", (20, 8, 2), Some((20, 8, 4))),
    ("Deploy", (20, 8, 4), Some((20, 9, 30))),
    ("Verify health", (20, 9, 30), Some((20, 9, 40))),
    ("Start monitoring", (20, 9, 40), Some((20, 9, 41))),
    (
        "Check health, errors and throttles",
        (20, 10, 11),
        Some((20, 10, 15)),
    ),
    ("Record success", (20, 14, 50), Some((20, 14, 51))),
    ("Release lock", (20, 14, 51), Some((20, 14, 52))),
    ("Promoted", (20, 14, 52), Some((20, 14, 52))),
];

fn successful_prod() -> Facts {
    let mut approvals = approved("tech@bbws.io", "tech_lead", "2026-11-24T20:07:00+00:00");
    approvals.extend(approved(
        "ops@bbws.io",
        "operations_lead",
        "2026-11-24T20:08:00+00:00",
    ));
    Facts {
        record: promotion_record("succeeded", true),
        plan: Some(prod_plan()),
        window: Some(WindowCheck::InWindow {
            closes_at: Some(at(22, 0, 0)),
        }),
        verify: Some(healthy_verify()),
        polls: vec![
            poll(1, 1, 0.0, 200, at(20, 10, 15)),
            poll(2, 0, 0.0, 200, at(20, 14, 45)),
        ],
        approvals,
        history: history(PROMOTED_STATES),
        watch: vec![],
        release_notes: None,
        phase_records: vec![],
    }
}

fn assert_verdicts(report: &EvidenceReport, title: &str, expected: &[(&str, Verdict)]) {
    let list = report.checklist(title).expect("checklist present");
    assert_eq!(
        list.items.len(),
        expected.len(),
        "every item of {title} is in the table"
    );
    for (item, verdict) in expected {
        let got = list
            .item(item)
            .unwrap_or_else(|| panic!("no item '{item}'"));
        assert_eq!(
            got.verdict, *verdict,
            "{title}: '{item}': {} {:?}",
            got.note, got.evidence
        );
    }
}

use Verdict::{Failed as F, NotApplicable as NA, Open as O, Ticked as T};

#[test]
fn a_successful_sit_to_prod_promotion_ticks_what_its_evidence_supports() {
    let report = build(&successful_prod());
    assert_eq!(report.kind, ReportKind::Promotion);
    assert_eq!(
        report.title,
        "SIT to PROD promotion of tenant-instance-management"
    );
    assert_eq!(report.checklists.len(), 1, "no rollback checklist");
    assert_verdicts(
        &report,
        "SIT to PROD Promotion Checklist",
        &[
            ("SIT stable for 24 hours", T),
            ("SIT error count < 5 in last 24h", T),
            ("SIT throttle count = 0 in last 24h", T),
            ("All integration tests pass in SIT", T),
            ("Security scan re-run passed", T),
            ("Maintenance window confirmed", T),
            ("Rollback plan documented", T),
            ("Change request approved", O),
            ("Tech Lead approval", T),
            ("Operations Lead approval", T),
            ("CTO approval (Emergency Deployments, §4.1.2)", NA),
            ("GitHub workflow triggered: `promote-to-prod.yml`", NA),
            ("Maintenance window checkbox confirmed", T),
            ("GitHub environment approval received", NA),
            ("Pre-flight checks passed", T),
            ("Quality gates passed", T),
            ("Backup alias created", T),
            ("Deployment completed successfully", T),
            ("5-minute error monitoring passed", T),
            ("PROD Lambda health check returns 200", T),
            ("PROD smoke tests pass (read-only)", T),
            ("No errors in CloudWatch (5-min window)", T),
            ("CloudFront distribution healthy", O),
            ("API Gateway returns expected responses", O),
            ("DynamoDB deployment record created", T),
            ("CloudWatch alarms not triggered", O),
            ("1-hour check: No errors", O),
            ("4-hour check: No errors", O),
            ("12-hour check: No errors", O),
            ("24-hour check: No errors", O),
            ("Customer feedback: No issues reported", O),
        ],
    );
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    let backup = list.item("Backup alias created").expect("item");
    assert!(backup.evidence.iter().any(|e| e.source == Source::Alias
        && e.text == format!("backup-20261124-200501 names af-south-1/{TIM_PROD} version 3")));
    let errors = list.item("SIT error count < 5 in last 24h").expect("item");
    assert_eq!(
        errors.evidence[0].text,
        format!("{TIM_SIT} errors: errors in the last 24 h: 0 (limit: fewer than 5)")
    );
    let tech = list.item("Tech Lead approval").expect("item");
    assert!(tech.evidence[0]
        .text
        .contains("from 203.0.113.7 (Mozilla/5.0 (X11))"));
    // One sign-off line per decision, not one per kept item.
    assert_eq!(report.sign_off.len(), 2);
    assert_eq!(report.sign_off[0].role, "Tech Lead");
    assert_eq!(report.sign_off[0].source_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(report.timeline.len(), PROMOTED_STATES.len());
    assert_eq!(report.timeline[6].state, "Deploy");
    assert_eq!(report.timeline[6].duration_seconds, Some(86));
}

#[test]
fn the_watch_checks_tick_or_fail_on_their_figures() {
    let mut facts = successful_prod();
    facts.watch = vec![
        WatchCheck {
            after_hours: 1,
            at: at(21, 10, 0),
            errors: 0.0,
            window: "20:10 to 21:10 UTC".into(),
            verdict: None,
            findings: vec![],
        },
        WatchCheck {
            after_hours: 4,
            at: at(23, 59, 0),
            errors: 2.0,
            window: "20:10 to 00:10 UTC".into(),
            verdict: None,
            findings: vec![],
        },
    ];
    facts.release_notes = Some("https://github.com/bbws/tenant/releases/tag/v1.4.2".into());
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    assert_eq!(
        list.item("1-hour check: No errors").expect("item").verdict,
        T
    );
    let four = list.item("4-hour check: No errors").expect("item");
    assert_eq!(four.verdict, F);
    assert_eq!(four.evidence[0].text, "errors 2 over 20:10 to 00:10 UTC");
    assert_eq!(
        list.item("12-hour check: No errors").expect("item").verdict,
        O
    );
}

fn rejected_prod() -> Facts {
    let mut record = promotion_record("failed", false);
    record["error"] = json!("Bbws.ApprovalRejected");
    record["cause"] = json!(
        "the promotion was rejected: tech@bbws.io: not during the freeze; nothing was deployed"
    );
    record["approvers"] = Value::Null;
    let rejection: ApprovalItem = serde_json::from_value(json!({"request_id": "r-1",
        "item": "audit#2026-11-24T20:07:00+00:00#0000cafe", "person": "tech@bbws.io", "role": "tech_lead",
        "decision": "reject", "outcome": "rejected", "detail": "not during the freeze <b>",
        "source_ip": "198.51.100.4", "user_agent": "curl/8.5", "at": "2026-11-24T20:07:00+00:00"}))
    .expect("audit item");
    Facts {
        record,
        plan: Some(prod_plan()),
        window: Some(WindowCheck::InWindow {
            closes_at: Some(at(22, 0, 0)),
        }),
        verify: None,
        polls: vec![],
        approvals: vec![rejection],
        history: history(&[
            ("Validate input", (20, 5, 0), Some((20, 5, 1))),
            ("Lock promotion", (20, 5, 1), Some((20, 5, 2))),
            ("Preflight checks", (20, 5, 2), Some((20, 5, 9))),
            ("Request approval", (20, 5, 9), Some((20, 7, 1))),
            ("Approval not given", (20, 7, 1), Some((20, 7, 1))),
            ("Record failure", (20, 7, 1), Some((20, 7, 2))),
            ("Release lock after failure", (20, 7, 2), Some((20, 7, 3))),
            ("Promotion failed", (20, 7, 3), None),
        ]),
        watch: vec![],
        release_notes: None,
        phase_records: vec![],
    }
}

#[test]
fn a_rejected_promotion_fails_its_approvals_and_deploys_nothing() {
    let report = build(&rejected_prod());
    assert_eq!(report.error.as_deref(), Some("Bbws.ApprovalRejected"));
    assert_verdicts(
        &report,
        "SIT to PROD Promotion Checklist",
        &[
            ("SIT stable for 24 hours", T),
            ("SIT error count < 5 in last 24h", T),
            ("SIT throttle count = 0 in last 24h", T),
            ("All integration tests pass in SIT", T),
            ("Security scan re-run passed", T),
            ("Maintenance window confirmed", T),
            ("Rollback plan documented", T),
            ("Change request approved", O),
            ("Tech Lead approval", F),
            ("Operations Lead approval", F),
            ("CTO approval (Emergency Deployments, §4.1.2)", NA),
            ("GitHub workflow triggered: `promote-to-prod.yml`", NA),
            ("Maintenance window checkbox confirmed", NA),
            ("GitHub environment approval received", NA),
            ("Pre-flight checks passed", T),
            ("Quality gates passed", T),
            ("Backup alias created", NA),
            ("Deployment completed successfully", NA),
            ("5-minute error monitoring passed", NA),
            ("PROD Lambda health check returns 200", NA),
            ("PROD smoke tests pass (read-only)", NA),
            ("No errors in CloudWatch (5-min window)", NA),
            ("CloudFront distribution healthy", NA),
            ("API Gateway returns expected responses", NA),
            ("DynamoDB deployment record created", T),
            ("CloudWatch alarms not triggered", NA),
            ("1-hour check: No errors", NA),
            ("4-hour check: No errors", NA),
            ("12-hour check: No errors", NA),
            ("24-hour check: No errors", NA),
            ("Customer feedback: No issues reported", NA),
        ],
    );
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    assert_eq!(
        list.item("Operations Lead approval").expect("item").note,
        "not obtained: the request was rejected by tech@bbws.io first"
    );
    assert_eq!(report.sign_off.len(), 1);
    assert_eq!(report.sign_off[0].decision, "rejected");
    assert_eq!(
        report.sign_off[0].detail.as_deref(),
        Some("not during the freeze <b>")
    );
}

fn rolled_back_prod() -> Facts {
    let mut facts = successful_prod();
    let mut record = promotion_record("rolled_back", true);
    record["error"] = json!("Bbws.RolledBack");
    record["cause"] = json!("monitor poll 2 …. latest-prod is back on the backup versions");
    record["rollback"] = json!({"reason": "monitor poll 2 after the deploy: errors 7", "incident_alias": "incident-20261124-201210",
        "backup_alias": "backup-20261124-200501", "functions": [
            {"region": "af-south-1", "function": TIM_PROD, "from_version": "4", "to_version": "3",
             "incident_alias": "incident-20261124-201210", "health": 200, "latest": null},
            {"region": "eu-west-1", "function": TIM_PROD, "from_version": "3", "to_version": "2",
             "incident_alias": "incident-20261124-201210", "health": 200, "latest": null}]});
    facts.record = record;
    facts.polls = vec![
        poll(1, 9, 0.0, 200, at(20, 10, 15)),
        poll(2, 8, 7.0, 200, at(20, 10, 45)),
    ];
    facts.history = history(&[
        ("Validate input", (20, 5, 0), Some((20, 5, 1))),
        ("Preflight checks", (20, 5, 2), Some((20, 5, 9))),
        ("Request approval", (20, 5, 9), Some((20, 8, 1))),
        ("Re-check maintenance window", (20, 8, 1), Some((20, 8, 2))),
        ("Create backup alias", (20, 8, 2), Some((20, 8, 4))),
        ("Deploy", (20, 8, 4), Some((20, 9, 30))),
        ("Verify health", (20, 9, 30), Some((20, 9, 40))),
        (
            "Check health, errors and throttles",
            (20, 10, 41),
            Some((20, 10, 45)),
        ),
        ("Roll back after error", (20, 10, 45), Some((20, 10, 45))),
        ("Roll back", (20, 10, 45), Some((20, 12, 10))),
        ("Record rollback", (20, 12, 10), Some((20, 12, 11))),
        ("Promotion failed", (20, 12, 12), None),
    ]);
    facts
}

#[test]
fn an_automatic_rollback_fails_the_monitoring_and_fills_the_rollback_checklist() {
    let report = build(&rolled_back_prod());
    assert_eq!(report.checklists.len(), 2);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    for (item, verdict) in [
        ("Backup alias created", T),
        ("Deployment completed successfully", T),
        ("5-minute error monitoring passed", F),
        ("PROD Lambda health check returns 200", T),
        ("No errors in CloudWatch (5-min window)", F),
        ("1-hour check: No errors", NA),
        ("24-hour check: No errors", NA),
        ("Customer feedback: No issues reported", O),
    ] {
        assert_eq!(list.item(item).expect("item").verdict, verdict, "{item}");
    }
    let monitoring = list.item("5-minute error monitoring passed").expect("item");
    assert_eq!(monitoring.note, "poll 2 called for a rollback");
    assert!(monitoring
        .evidence
        .iter()
        .any(|e| e.text.contains("errors 7")));
    assert_verdicts(
        &report,
        "Rollback Checklist",
        &[
            ("Incident documented", O),
            ("Current state backed up (incident alias created)", T),
            ("Rollback target version identified", T),
            ("Rollback approved by", NA),
            ("Rollback command executed", T),
            ("Lambda alias updated", T),
            ("Health check verified", T),
            ("Health endpoint returns 200", T),
            ("No new errors in CloudWatch", O),
            ("API responses correct", O),
            ("DynamoDB rollback record created", T),
            ("Root cause identified", O),
            ("Fix developed and tested in DEV", O),
            ("Post-mortem document created", O),
            ("Prevention measures documented", O),
        ],
    );
    let rb = report.checklist("Rollback Checklist").expect("7.3");
    assert_eq!(
        rb.item("Lambda alias updated").expect("item").evidence[0].text,
        format!("{TIM_PROD}:latest-prod in af-south-1: 4 -> 3")
    );
}

fn failed_release() -> Facts {
    let arn = "arn:aws:states:af-south-1:093646564004:execution:bbws-release-prod:rel-1";
    Facts {
        record: json!({
            "deployment_id": "rel-1:failed", "timestamp": "2026-11-24T21:00:00+00:00",
            "environment": "prod", "action": "release", "service": "release",
            "services": ["tenant-instance-management", "ecs-event-handler", "site-management"],
            "phases": [
                {"index": 1, "service": "tenant-instance-management", "execution_arn": PROD_ARN,
                 "outcome": "succeeded", "from_version": {format!("af-south-1/{TIM_PROD}"): "3"},
                 "to_version": {format!("af-south-1/{TIM_PROD}"): "4"}},
                {"index": 2, "service": "ecs-event-handler", "outcome": "rolled_back",
                 "execution_arn": "arn:aws:states:af-south-1:093646564004:execution:bbws-promote-prod:rel-1-p2",
                 "error": "Bbws.RolledBack",
                 "cause": "phase 2 (ecs-event-handler) failed its health wait: errors 9; ecs-event-handler is back on backup-20261124-204000"}],
            "not_started": ["site-management"],
            "verification": null,
            "rollback_completed_phases": true,
            "completed_rollback": {"phases": [{"service": "tenant-instance-management", "rollback": {}}]},
            "ended_on": {},
            "actor": "lead@bbws.io", "reason": "Release 2026.12", "change_request": "CHG-2001",
            "incident": null,
            "approvers": [
                {"person": "tech@bbws.io", "role": "tech_lead", "at": "2026-11-24T20:31:00+00:00"},
                {"person": "ops@bbws.io", "role": "operations_lead", "at": "2026-11-24T20:32:00+00:00"}],
            "execution_arn": arn, "outcome": "failed", "error": "Bbws.ReleaseFailed",
            "cause": "phase 2 (ecs-event-handler) failed its health wait"
        }),
        history: history(&[
            ("Validate release request", (20, 30, 0), Some((20, 30, 1))),
            (
                "Preflight checks of every service",
                (20, 30, 2),
                Some((20, 30, 20)),
            ),
            ("Request release approval", (20, 30, 20), Some((20, 32, 1))),
            ("Promote the next service", (20, 32, 2), Some((20, 40, 0))),
            ("Phase failed", (20, 50, 0), Some((20, 50, 1))),
            ("Roll back completed phases", (20, 50, 1), Some((20, 52, 0))),
            ("Record release failure", (20, 52, 0), Some((20, 52, 1))),
        ]),
        ..Facts::default()
    }
}

#[test]
fn a_release_with_a_failed_phase_fails_its_phases_and_shows_the_completed_rollback() {
    let report = build(&failed_release());
    assert_eq!(report.kind, ReportKind::Release);
    assert_verdicts(
        &report,
        "Coordinated Release Checklist",
        &[
            ("Release notes documented in GitHub Release", O),
            ("Change request ticket created (PROD only)", T),
            ("Rollback plan reviewed", O),
            ("Monitoring dashboards accessible", O),
            ("Tech Lead approval", T),
            ("Operations Lead approval", T),
            ("Dev Lead approval obtained", NA),
            ("CTO approval (Emergency Deployments, §4.1.2)", NA),
            ("Pre-flight checks passed", T),
            ("Every phase deployed and its health check passed", F),
            ("Completed phases rolled back after a failed phase", T),
            ("Final Verification: every service healthy", NA),
            ("Cross-service integration tests pass", O),
            ("DynamoDB deployment record created", T),
        ],
    );
    let list = report
        .checklist("Coordinated Release Checklist")
        .expect("release");
    let phases = list
        .item("Every phase deployed and its health check passed")
        .expect("item");
    assert_eq!(phases.note, "failed: ecs-event-handler");
    assert_eq!(
        phases.evidence.last().expect("evidence").text,
        "not started: site-management"
    );
    // Without the approvals table's items, the record's approvers sign off, saying what is not kept.
    assert_eq!(report.sign_off.len(), 2);
    assert_eq!(report.sign_off[1].source_ip, None);
}

fn manual_prod_rollback() -> Facts {
    let arn = "arn:aws:states:af-south-1:093646564004:execution:bbws-rollback-prod:rb-1";
    let mut approvals = approved("tech@bbws.io", "tech_lead", "2026-11-25T08:02:00+00:00");
    approvals.extend(approved(
        "ops@bbws.io",
        "operations_lead",
        "2026-11-25T08:03:00+00:00",
    ));
    Facts {
        record: json!({
            "deployment_id": "rb-1:succeeded", "timestamp": "2026-11-25T08:06:00+00:00",
            "environment": "prod", "action": "rollback", "service": "tenant-instance-management",
            "functions": [TIM_PROD],
            "from_version": {format!("af-south-1/{TIM_PROD}"): "4", format!("eu-west-1/{TIM_PROD}"): "3"},
            "to_version": {format!("af-south-1/{TIM_PROD}"): "3", format!("eu-west-1/{TIM_PROD}"): "2"},
            "target": "backup-20261124-200501", "requested_target": "backup-20261124-200501",
            "forced": false, "actor": "oncall@bbws.io", "reason": "API errors after 1.4.2",
            "incident": "INC-4711",
            "approvers": [
                {"person": "tech@bbws.io", "role": "tech_lead", "at": "2026-11-25T08:02:00+00:00"},
                {"person": "ops@bbws.io", "role": "operations_lead", "at": "2026-11-25T08:03:00+00:00"}],
            "incident_alias": "incident-20261125-080400",
            "health": [
                {"region": "af-south-1", "function": TIM_PROD, "from_version": "4", "to_version": "3",
                 "incident_alias": "incident-20261125-080400", "health": 200, "latest": null},
                {"region": "eu-west-1", "function": TIM_PROD, "from_version": "3", "to_version": "2",
                 "incident_alias": "incident-20261125-080400", "health": 200, "latest": null}],
            "execution_arn": arn, "outcome": "succeeded", "error": null, "cause": null,
            "lock_taken_over_from": null
        }),
        approvals,
        history: history(&[
            ("Validate rollback request", (8, 0, 0), Some((8, 0, 1))),
            ("Lock service", (8, 0, 1), Some((8, 0, 2))),
            ("Resolve target version", (8, 0, 2), Some((8, 0, 5))),
            ("Request rollback approval", (8, 0, 5), Some((8, 3, 1))),
            ("Roll back to target", (8, 3, 1), Some((8, 5, 59))),
            ("Record rollback", (8, 5, 59), Some((8, 6, 0))),
            ("Rolled back", (8, 6, 1), Some((8, 6, 1))),
        ]),
        ..Facts::default()
    }
}

#[test]
fn a_manual_prod_rollback_ticks_its_execution_and_leaves_the_post_mortem_open() {
    let report = build(&manual_prod_rollback());
    assert_eq!(report.kind, ReportKind::Rollback);
    assert_eq!(report.incident.as_deref(), Some("INC-4711"));
    assert_verdicts(
        &report,
        "Rollback Checklist",
        &[
            ("Incident documented", T),
            ("Current state backed up (incident alias created)", T),
            ("Rollback target version identified", T),
            ("Rollback approved by", T),
            ("Rollback command executed", T),
            ("Lambda alias updated", T),
            ("Health check verified", T),
            ("Health endpoint returns 200", T),
            ("No new errors in CloudWatch", O),
            ("API responses correct", O),
            ("DynamoDB rollback record created", T),
            ("Root cause identified", O),
            ("Fix developed and tested in DEV", O),
            ("Post-mortem document created", O),
            ("Prevention measures documented", O),
        ],
    );
    let header: Vec<(&str, &str)> = report
        .header
        .iter()
        .map(|h| (h.label.as_str(), h.value.as_str()))
        .collect();
    assert!(header.contains(&("Rollback Target Version", "backup-20261124-200501")));
    assert!(header.contains(&("Incident Ticket", "INC-4711")));
}

#[test]
fn an_unhealthy_function_after_a_manual_rollback_fails_the_health_items() {
    let mut facts = manual_prod_rollback();
    facts.record["health"][1]["health"] = json!(502);
    let report = build(&facts);
    let list = report.checklist("Rollback Checklist").expect("7.3");
    assert_eq!(list.item("Health check verified").expect("item").verdict, F);
    assert_eq!(
        list.item("Health endpoint returns 200")
            .expect("item")
            .verdict,
        F
    );
}

#[test]
fn missing_or_malformed_facts_give_open_or_failed_items_with_words_never_a_panic() {
    let facts = Facts {
        record: json!({"action": "promote", "environment": "prod",
        "preflight": "not a list", "to_version": 7, "approvers": {"x": 1}}),
        ..Facts::default()
    };
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    let errors = list.item("SIT error count < 5 in last 24h").expect("item");
    assert_eq!(errors.verdict, O);
    assert!(errors.note.contains("no preflight checks are kept"));
    assert_eq!(
        list.item("DynamoDB deployment record created")
            .expect("item")
            .verdict,
        F
    );
    assert_eq!(
        list.item("Rollback plan documented").expect("item").verdict,
        O
    );
    let nothing = build(&Facts::default());
    assert_eq!(nothing.kind, ReportKind::Unknown);
    assert!(nothing.checklists.is_empty());
    assert_eq!(nothing.problems.len(), 2, "{:?}", nothing.problems);
    assert!(html(&nothing).contains("Problem: no deployment record"));
}

#[test]
fn every_item_of_every_table_is_decided_with_words() {
    for facts in [
        successful_prod(),
        rejected_prod(),
        rolled_back_prod(),
        failed_release(),
        manual_prod_rollback(),
    ] {
        let report = build(&facts);
        for item in report.checklists.iter().flat_map(|c| &c.items) {
            assert!(!item.note.is_empty(), "{}: no words", item.item);
            if item.verdict == T {
                assert!(
                    !item.evidence.is_empty(),
                    "{}: ticked without evidence",
                    item.item
                );
            }
        }
    }
}

#[test]
fn the_dev_to_sit_table_uses_the_dev_lead_and_trusts_nothing() {
    let mut facts = successful_prod();
    let request = PromotionRequest::validate(
        &json!({"service": "tenant-instance-management", "source_env": "dev",
                "target_env": "sit", "version": "12", "requested_by": "jane@bbws.io", "reason": "r"}),
        &Catalog::runbook(),
    )
    .expect("valid");
    facts.plan = Some(
        PromotionPlan::new(&request, &Config::runbook(), "arn:x", at(20, 5, 0)).expect("plan"),
    );
    facts.record["environment"] = json!("sit");
    facts.record["source_environment"] = json!("dev");
    let report = build(&facts);
    let list = report
        .checklist("DEV to SIT Promotion Checklist")
        .expect("7.1");
    assert_eq!(list.items.len(), 20);
    assert_eq!(
        list.item("All unit tests pass (80%+ coverage)")
            .expect("item")
            .verdict,
        T
    );
    // The approvals kept are a Tech Lead's and an Operations Lead's: no Dev Lead approved.
    assert_eq!(
        list.item("Dev Lead approval obtained")
            .expect("item")
            .verdict,
        F
    );
    // A record from before the preflight invoked /health keeps no such check: a person decides.
    assert_eq!(
        list.item("DEV Lambda health check returns 200")
            .expect("item")
            .verdict,
        O
    );
    assert_eq!(
        list.item("Release notes documented").expect("item").verdict,
        O
    );
    for (passed, verdict) in [(true, T), (false, F)] {
        let mut facts = facts.clone();
        let checks = facts.record["preflight"].as_array_mut().expect("checks");
        checks.push(
            json!({"check": format!("{TIM_SIT} /health"), "passed": passed,
                           "detail": format!("{TIM_SIT}:12 answered GET /health with 200")}),
        );
        let report = build(&facts);
        let item = report
            .checklist("DEV to SIT Promotion Checklist")
            .and_then(|l| l.item("DEV Lambda health check returns 200"))
            .expect("item");
        assert_eq!(item.verdict, verdict);
        assert!(item
            .evidence
            .iter()
            .any(|e| e.text.contains("answered GET /health")));
    }
}

#[test]
fn the_html_page_escapes_everything_it_echoes_and_needs_nothing_outside() {
    let mut facts = rejected_prod();
    facts.record["reason"] = json!("<script>alert('x')</script> & \"quotes\"");
    facts.record["actor"] = json!("<img src=x onerror=alert(1)>@bbws.io");
    let page = html(&build(&facts));
    assert!(!page.contains("<script>"));
    assert!(!page.contains("<img"));
    assert!(
        page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;")
    );
    assert!(page.contains("not during the freeze &lt;b&gt;"));
    for outside in [
        "<link", "src=\"", "href=", "url(", "@import", "http://", "https://",
    ] {
        assert!(
            !page.contains(outside),
            "the page refers outside: {outside}"
        );
    }
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("@page{size:A4"));
    assert!(page.contains("<td class=\"v failed\">Failed</td>"));
    assert_eq!(html_escape("a<b>&'\""), "a&lt;b&gt;&amp;&#39;&quot;");
}

#[test]
fn the_markdown_carries_the_boxes_the_verdicts_and_the_sign_off() {
    let md = markdown(&build(&successful_prod()));
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(
        lines[0],
        "# SIT to PROD promotion of tenant\\-instance\\-management".replace("\\-", "-")
    );
    assert!(lines.contains(&"**Change Request Ticket**: CHG-1234  "));
    assert!(lines.contains(&"## SIT to PROD Promotion Checklist (RB-003 §7.2)"));
    assert!(lines.contains(&"### Post-Promotion Monitoring (24h)"));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("- [x] Backup alias created — backup-20261124-200501 created")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("- [ ] Customer feedback: No issues reported **OPEN** — ")));
    assert!(lines.iter().any(|l| l.starts_with(
        "- [ ] GitHub workflow triggered: \\`promote-to-prod.yml\\` **NOT APPLICABLE**"
    )));
    assert!(lines.contains(&"| Tech Lead | tech@bbws.io | approved | 2026-11-24T20:07:00+00:00 | 203.0.113.7 | Mozilla/5.0 (X11) |"));
    assert!(lines.contains(
        &"| Deploy | 2026-11-24T20:08:04+00:00 | 2026-11-24T20:09:30+00:00 | 1 min 26 s |"
    ));
    let counts = lines
        .iter()
        .find(|l| l.starts_with("Ticked "))
        .expect("counts");
    assert_eq!(*counts, "Ticked 19, failed 0, not applicable 3, open 9.");
    assert_eq!(md_escape("a|b\n*c*"), "a\\|b \\*c\\*");
}

#[test]
fn the_json_is_the_model() {
    let report = build(&rolled_back_prod());
    let text = to_json(&report);
    let back: EvidenceReport = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, report);
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["checklists"][0]["items"][0]["verdict"], "ticked");
    assert_eq!(v["kind"], "promotion");
}

#[test]
fn release_notes_of_a_prod_promotion_name_versions_packages_and_approvers() {
    let notes = notes::for_promotion(&successful_prod());
    assert_eq!(
        notes.title,
        "Promotion of tenant-instance-management to PROD"
    );
    let f = &notes.services[0].functions;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].region, "af-south-1");
    assert_eq!(
        (f[0].from_version.as_deref(), f[0].to_version.as_deref()),
        (Some("3"), Some("4"))
    );
    assert_eq!(f[1].code_sha256.as_deref(), Some("abc="));
    assert_eq!(
        notes.services[0].quality_gates,
        [format!(
            "{TIM_SIT} quality gates: quality gates passed for CodeSha256 abc="
        )]
    );
    assert!(notes.gaps.iter().any(|g| g.contains("CI runs")));
    let md = notes::markdown(&notes);
    assert!(md.contains(&format!(
        "| {} | eu-west-1 | 2 | 3 | `abc=` |",
        md_escape(TIM_PROD)
    )));
    assert!(md.contains("**Change request**: CHG-1234  "));
    assert!(md.contains("- Tech Lead: tech@bbws.io approved at 2026-11-24T20:07:00+00:00"));
    assert!(md.contains("- CI runs: not kept"));
}

#[test]
fn release_notes_of_a_failed_release_give_each_phase_its_outcome() {
    let phase_one = promotion_record("succeeded", true);
    let notes = notes::for_release(&failed_release(), &[phase_one]);
    assert_eq!(notes.title, "Release into PROD");
    let outcomes: Vec<(Option<u64>, &str, &str)> = notes
        .phases
        .iter()
        .map(|p| (p.phase, p.service.as_str(), p.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some(1), "tenant-instance-management", "succeeded"),
            (Some(2), "ecs-event-handler", "rolled_back"),
            (None, "site-management", "not started"),
        ]
    );
    assert_eq!(
        notes.services[0].functions[0].code_sha256.as_deref(),
        Some("abc=")
    );
    assert!(notes.gaps.iter().any(
        |g| g.starts_with("ecs-event-handler: the phase's own deployment record is not given")
    ));
    let md = notes::markdown(&notes);
    assert!(md.contains(
        "- Phase 2: ecs-event-handler — rolled\\_back: phase 2 (ecs-event-handler) failed its health wait"
    ));
    assert!(md.contains("**Outcome**: failed  "));
}

#[test]
fn an_emergency_outside_every_window_needs_the_tech_lead_and_the_cto() {
    let mut facts = successful_prod();
    facts.window = Some(WindowCheck::EmergencyOverride);
    facts.record["incident"] = json!("INC-9001");
    facts.record["change_request"] = Value::Null;
    let mut approvals = approved("tech@bbws.io", "tech_lead", "2026-11-24T03:01:00+00:00");
    approvals.extend(approved("cto@bbws.io", "cto", "2026-11-24T03:02:00+00:00"));
    facts.approvals = approvals;
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    for (item, verdict) in [
        ("Tech Lead approval", T),
        ("Operations Lead approval", NA),
        ("CTO approval (Emergency Deployments, §4.1.2)", T),
        ("Maintenance window confirmed", NA),
        ("Change request approved", O),
    ] {
        assert_eq!(list.item(item).expect("item").verdict, verdict, "{item}");
    }
    assert_eq!(
        list.item("Maintenance window confirmed")
            .expect("item")
            .note,
        "outside every window: emergency override (incident INC-9001)"
    );
    assert_eq!(report.sign_off[1].role, "CTO");
}

#[test]
fn sit_stable_for_24_hours_is_decided_by_the_preflights_time_in_sit() {
    let item = |facts: &Facts| {
        build(facts)
            .checklist("SIT to PROD Promotion Checklist")
            .and_then(|l| l.item("SIT stable for 24 hours").cloned())
            .expect("item")
    };
    let ticked = item(&successful_prod());
    assert_eq!(
        (ticked.verdict, ticked.note.as_str()),
        (T, "served in SIT for at least 24 h")
    );
    assert!(ticked.evidence[0]
        .text
        .contains("for 35 h 5 min (required: 24 h)"));
    // Refused: failed with its figure. (Its errors checks passed: they no longer decide it.)
    let mut facts = successful_prod();
    facts.record["preflight"][4] = json!({"check": format!("{TIM_SIT} stable in SIT"), "passed": false,
        "detail": "version 12 (CodeSha256 abc=) has served in SIT since 2026-11-24 20:00:00 UTC (promote \
                   p:succeeded), for 5 min; required: 24 h in SIT before PROD (sit_stable_seconds 86400): \
                   start the promotion again after 2026-11-25 20:00:00 UTC (or declare an emergency)"});
    let failed = item(&facts);
    assert_eq!(failed.verdict, F);
    assert!(failed.evidence[0]
        .text
        .contains("for 5 min; required: 24 h"));
    // An emergency skipped it: not applicable, with the figure it skipped.
    let mut facts = successful_prod();
    facts.record["incident"] = json!("INC-9001");
    facts.record["preflight"][4]["detail"] = json!("skipped: emergency declared (incident INC-9001): 24 h in \
        SIT is not required; version 12 (CodeSha256 abc=) has served in SIT since 2026-11-24 20:00:00 UTC \
        (promote p:succeeded), for 5 min");
    let skipped = item(&facts);
    assert_eq!(
        (skipped.verdict, skipped.note.as_str()),
        (NA, "not applicable — emergency skip (incident INC-9001)")
    );
    assert!(skipped.evidence[0]
        .text
        .contains("served in SIT since 2026-11-24 20:00:00 UTC"));
    assert!(skipped.evidence[0].text.contains("for 5 min"));
    // Not required by the deployed configuration: a person confirms.
    let mut facts = successful_prod();
    facts.record["preflight"][4]["detail"] = json!(
        "not required: the deployed configuration's sit_stable_seconds is 0 (RB-003: 86400, 24 h)"
    );
    assert_eq!(item(&facts).verdict, O);
    // Required for less than 24 h: the item is not met, though the check passed.
    let mut facts = successful_prod();
    if let Some(plan) = facts.plan.as_mut() {
        plan.rules.sit_stable_seconds = Some(3_600);
    }
    let short = item(&facts);
    assert_eq!(
        (short.verdict, short.note.as_str()),
        (F, "the time in SIT required was shorter than 24 h")
    );
    // A record from before the preflight checked it keeps no such check: a person decides.
    let mut facts = successful_prod();
    if let Some(checks) = facts.record["preflight"].as_array_mut() {
        checks.truncate(4);
    }
    assert_eq!(item(&facts).verdict, O);
}

#[test]
fn a_failed_preflight_fails_its_checks_and_reaches_nothing_after() {
    let mut facts = rejected_prod();
    facts.record["error"] = json!("Bbws.PreflightFailed");
    facts.record["cause"] = json!("1 of 4 checks failed: errors in the last 24 h: 12 (limit: fewer than 5); nothing was deployed");
    facts.record["preflight"] = Value::Null;
    facts.approvals.clear();
    facts.history = history(&[
        ("Validate input", (20, 5, 0), Some((20, 5, 1))),
        ("Preflight checks", (20, 5, 2), Some((20, 5, 9))),
        ("Preflight failed", (20, 5, 9), Some((20, 5, 9))),
        ("Record failure", (20, 5, 9), Some((20, 5, 10))),
    ]);
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    for (item, verdict) in [
        ("SIT error count < 5 in last 24h", F),
        ("Pre-flight checks passed", F),
        ("Tech Lead approval", NA),
        ("Backup alias created", NA),
        ("Deployment completed successfully", NA),
        ("PROD Lambda health check returns 200", NA),
    ] {
        assert_eq!(list.item(item).expect("item").verdict, verdict, "{item}");
    }
    assert!(list
        .item("Pre-flight checks passed")
        .expect("item")
        .note
        .contains("errors in the last 24 h: 12"));
}

#[test]
fn each_gate_reads_its_own_words_in_the_gates_summary_and_an_emergency_skips_them() {
    let mut facts = successful_prod();
    facts.record["preflight"][3] = json!({"check": format!("{TIM_SIT} quality gates"), "passed": false,
        "detail": "quality gates not met: security_scan: failed for CodeSha256 abc= in bbws-quality-gates-sit: CI records each gate for the package it built"});
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    assert_eq!(
        list.item("Security scan re-run passed")
            .expect("item")
            .verdict,
        F
    );
    assert_eq!(
        list.item("All integration tests pass in SIT")
            .expect("item")
            .verdict,
        T
    );
    assert_eq!(list.item("Quality gates passed").expect("item").verdict, F);

    facts.record["preflight"][3] = json!({"check": format!("{TIM_SIT} quality gates"), "passed": true,
        "detail": "skipped: emergency declared"});
    facts.record["incident"] = json!("INC-9001");
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    for item in [
        "Security scan re-run passed",
        "All integration tests pass in SIT",
        "Quality gates passed",
    ] {
        let got = list.item(item).expect("item");
        assert_eq!(got.verdict, NA, "{item}");
        assert!(
            got.note
                .contains("skipped: emergency declared (incident INC-9001)"),
            "{}",
            got.note
        );
    }
}

#[test]
fn the_last_state_of_a_promotion_gives_its_plan_window_verification_and_last_poll() {
    let plan = prod_plan();
    let state = json!({
        "promotion": plan,
        "preflight": {"passed": true, "checks": [], "source": [], "emergency": false,
                      "window": {"outcome": "in_window", "closes_at": "2026-11-24T22:00:00Z"},
                      "approval": {"all_of": ["tech_lead", "operations_lead"]}},
        "window": {"outcome": "in_window", "closes_at": "2026-11-24T21:59:00Z"},
        "verify": {"healthy": true, "checks": [], "reason": null},
        "monitor": {"verdict": "healthy", "reason": null, "figures": [], "wait_seconds": 30,
                    "polls_left": 0, "polls_done": 10, "started_at": 1_795_551_000}
    });
    let facts = Facts::from_promotion_state(promotion_record("succeeded", true), &state);
    assert_eq!(facts.plan.as_ref(), Some(&plan));
    assert_eq!(
        facts.window,
        Some(WindowCheck::InWindow {
            closes_at: Some(at(21, 59, 0))
        })
    );
    assert_eq!(facts.verify.as_ref().map(|v| v.healthy), Some(true));
    assert_eq!(facts.polls.len(), 1);
    assert_eq!(facts.polls[0].polls_done, 10);
    // A watch that has not polled yet (no verdict) is no poll; a broken plan is left out.
    let early =
        json!({"promotion": {"service": 3}, "monitor": {"wait_seconds": 30, "polls_left": 10}});
    let facts = Facts::from_promotion_state(Value::Null, &early);
    assert!(facts.plan.is_none() && facts.polls.is_empty() && facts.window.is_none());
}

#[test]
fn the_html_page_closes_every_element_it_opens() {
    for facts in [
        successful_prod(),
        rejected_prod(),
        rolled_back_prod(),
        failed_release(),
        manual_prod_rollback(),
        Facts::default(),
    ] {
        let page = html(&build(&facts));
        for tag in [
            "html", "head", "body", "table", "thead", "tbody", "tr", "td", "th", "ul", "li", "dl",
            "dt", "dd", "h1", "h2", "h3", "p", "small", "span",
        ] {
            let opened = page.matches(&format!("<{tag}>")).count()
                + page.matches(&format!("<{tag} ")).count();
            let closed = page.matches(&format!("</{tag}>")).count();
            assert_eq!(opened, closed, "<{tag}> in {}", build(&facts).title);
        }
    }
}

#[test]
fn a_rollback_that_failed_still_gets_the_rollback_checklist_with_its_failures() {
    let mut facts = rolled_back_prod();
    facts.record["outcome"] = json!("failed");
    facts.record["error"] = json!("Bbws.DeployFailed");
    facts.record["cause"] = json!("tenant-instance-management was rolled back (errors 7): latest-prod is back on the versions of backup-20261124-200501, but they are still unhealthy");
    facts.record["rollback"] = Value::Null;
    facts.history.truncate(9);
    facts.history.extend(history(&[
        ("Roll back", (20, 10, 45), Some((20, 12, 10))),
        ("Rollback failed", (20, 12, 10), Some((20, 12, 10))),
        ("Record failure", (20, 12, 10), Some((20, 12, 11))),
    ]));
    let report = build(&facts);
    let rb = report
        .checklist("Rollback Checklist")
        .expect("7.3 for an attempted rollback");
    for (item, verdict) in [
        ("Rollback command executed", F),
        ("Lambda alias updated", F),
        ("Health check verified", F),
        ("DynamoDB rollback record created", F),
    ] {
        assert_eq!(rb.item(item).expect("item").verdict, verdict, "{item}");
    }
    assert!(rb
        .item("Health check verified")
        .expect("item")
        .note
        .contains("still unhealthy"));
}

fn event(entered: bool, state: &str, t: DateTime<Utc>, output: Option<Value>) -> StateEvent {
    StateEvent {
        entered,
        state: state.into(),
        at: t,
        output,
    }
}

#[test]
fn the_history_pairs_entries_and_exits_and_keeps_every_poll() {
    let poll = |verdict: &str, done: u64| {
        json!({"monitor": {"verdict": verdict, "figures": [{"function": TIM_PROD, "region": "af-south-1",
               "version": "7", "health": 200, "errors": 0.0, "throttles": 0.0}],
               "polls_done": done, "polls_left": 3 - done}})
    };
    let events = vec![
        event(true, "Deploy", at(20, 0, 0), None),
        event(false, "Deploy", at(20, 1, 26), Some(json!({}))),
        event(true, POLL_STATE, at(20, 2, 0), None),
        event(false, POLL_STATE, at(20, 2, 1), Some(poll("healthy", 1))),
        event(true, "Wait between polls", at(20, 2, 1), None),
        event(false, "Wait between polls", at(20, 3, 1), None),
        event(true, POLL_STATE, at(20, 3, 1), None),
        event(false, POLL_STATE, at(20, 3, 2), Some(poll("healthy", 2))),
        // A poll whose output has no verdict yet (the start) is not a poll.
        event(true, POLL_STATE, at(20, 4, 0), None),
        event(
            false,
            POLL_STATE,
            at(20, 4, 1),
            Some(json!({"monitor": {"polls_done": 0}})),
        ),
        event(true, "Record success", at(20, 5, 0), None),
    ];
    let entries = history_entries(&events);
    let names: Vec<&str> = entries.iter().map(|h| h.state.as_str()).collect();
    assert_eq!(
        names,
        [
            "Deploy",
            POLL_STATE,
            "Wait between polls",
            POLL_STATE,
            POLL_STATE,
            "Record success"
        ]
    );
    assert_eq!(entries[0].exited, Some(at(20, 1, 26)));
    assert_eq!(entries[3].entered, at(20, 3, 1));
    assert_eq!(entries[3].exited, Some(at(20, 3, 2)));
    assert_eq!(
        entries[5].exited, None,
        "the state still running has no exit"
    );
    let polls = polls_of(&events);
    assert_eq!(polls.len(), 2);
    assert_eq!(polls[1].polls_done, 2);
    assert_eq!(polls[1].at, Some(at(20, 3, 2)));
    let facts = Facts::default().with_history(&events);
    assert_eq!(facts.polls.len(), 2);
    assert_eq!(facts.history.len(), 6);
}

#[test]
fn the_watch_checks_are_read_from_the_record() {
    let mut facts = successful_prod();
    facts.record["checks"] = json!([
        {"name": "1-hour check", "at": "2026-11-24T21:10:00+00:00", "verdict": "passed",
         "window_seconds": 3600, "figures": [{"errors": 0.0}, {"errors": 0.0}], "findings": []},
        {"name": "4-hour check", "at": "2026-11-25T00:10:00+00:00", "verdict": "failed",
         "window_seconds": 10800, "figures": [{"errors": 0.0, "throttles": 3.0}],
         "findings": ["bbws-tenant-instance-management-prod version 7 in af-south-1: 3 throttles (allowed: at most 0)"]},
        {"name": "12-hour check", "at": "2026-11-25T08:10:00+00:00", "verdict": "superseded",
         "window_seconds": 28800, "figures": [], "findings": ["latest-prod now serves 8"]},
        {"name": "not a check"}
    ]);
    let facts = facts.with_watch_from_record();
    assert_eq!(facts.watch.len(), 3, "the unreadable entry is left out");
    assert_eq!(facts.watch[1].after_hours, 4);
    assert_eq!(
        facts.watch[1].window,
        "2026-11-24 21:10 to 2026-11-25 00:10 UTC"
    );
    let report = build(&facts);
    let list = report
        .checklist("SIT to PROD Promotion Checklist")
        .expect("7.2");
    assert_eq!(list.item("1-hour check: No errors").expect("1").verdict, T);
    let four = list.item("4-hour check: No errors").expect("4");
    assert_eq!(
        four.verdict, F,
        "a failed check fails its item, whatever failed"
    );
    assert!(
        four.evidence[1].text.contains("3 throttles"),
        "{:?}",
        four.evidence
    );
    assert_eq!(
        list.item("12-hour check: No errors").expect("12").verdict,
        NA
    );
    assert_eq!(
        list.item("24-hour check: No errors").expect("24").verdict,
        O
    );
}

#[test]
fn an_executions_evidence_is_kept_under_its_environment_service_and_name() {
    assert_eq!(
        prefix("prod", "tenant-instance-management", PROD_ARN),
        format!(
            "evidence/prod/tenant-instance-management/{}/",
            PROD_ARN.rsplit(':').next().expect("name")
        )
    );
    assert_eq!(
        prefix("sit", "release", ""),
        "evidence/sit/release/unknown/"
    );
    let facts = successful_prod();
    let names: Vec<&str> = files(&facts).iter().map(|f| f.name).collect();
    assert_eq!(
        names,
        [
            "report.json",
            "report.md",
            "report.html",
            "facts.json",
            "release-notes.md"
        ]
    );
    let back: Facts = serde_json::from_str(&files(&facts)[3].body).expect("facts.json reads back");
    assert_eq!(
        back, facts,
        "the facts kept are the facts the report was built from"
    );
    let mut sit = facts.clone();
    sit.record["environment"] = json!("sit");
    assert_eq!(files(&sit).len(), 4, "no release notes for a SIT promotion");
}

#[test]
fn an_evidence_link_opens_its_report_for_seven_days_with_its_key_only() {
    let key = "0123456789abcdef0123456789abcdef";
    let record = json!({"timestamp": "2026-11-24T20:00:00+00:00", "evidence": {"link_key": key}});
    assert_eq!(link_opens(&record, key, at(20, 0, 1)), Ok(()));
    let last = at(20, 0, 0) + chrono::Duration::days(7) - chrono::Duration::seconds(1);
    assert_eq!(link_opens(&record, key, last), Ok(()));
    assert_eq!(
        link_opens(&record, key, last + chrono::Duration::seconds(1)),
        Err(LinkRefusal::Expired(
            at(20, 0, 0) + chrono::Duration::days(7)
        ))
    );
    let other = "0123456789abcdef0123456789abcdee";
    assert_eq!(
        link_opens(&record, other, at(21, 0, 0)),
        Err(LinkRefusal::Unknown)
    );
    assert_eq!(
        link_opens(&record, "", at(21, 0, 0)),
        Err(LinkRefusal::Unknown)
    );
    assert_eq!(
        link_opens(&record, &key[..31], at(21, 0, 0)),
        Err(LinkRefusal::Unknown)
    );
    // A record without a key (or with a short one) opens with nothing.
    assert_eq!(
        link_opens(
            &json!({"timestamp": "2026-11-24T20:00:00+00:00"}),
            "",
            at(21, 0, 0)
        ),
        Err(LinkRefusal::Unknown)
    );
    let short = json!({"timestamp": "2026-11-24T20:00:00+00:00", "evidence": {"link_key": "ab"}});
    assert_eq!(
        link_opens(&short, "ab", at(21, 0, 0)),
        Err(LinkRefusal::Unknown)
    );
}
