//! Evidence for auditors: the runbook's §7 checklists filled from what an execution left.
//!
//! [`build`] reads the [`Facts`] of one execution (the deployment record, the plan, the
//! verification, the monitor polls, the approvals and the execution's history) and fills the
//! checklist that applies: RB-003 §7.1 (DEV to SIT), §7.2 (SIT to PROD) or §7.3 (rollback, also
//! after an automatic rollback), or the coordinated release's steps (§5.2). Every item is
//! [`Verdict::Ticked`], [`Verdict::Failed`], [`Verdict::NotApplicable`] or [`Verdict::Open`] (for
//! a person), with the evidence that decided it. The items and their rules are data, in
//! [`checklists`]; the renderings are in [`render`] and the release notes in [`notes`].

pub mod checklists;
pub mod facts;
pub mod notes;
pub mod render;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approvals::Role;
pub use checklists::{Checklist, ChecklistItem, Rule};
pub use facts::{
    history_entries, polls_of, ApprovalItem, Facts, HistoryEntry, Poll, PollFigure, StateEvent,
    WatchCheck, POLL_STATE,
};
pub use notes::{FunctionChange, PhaseOutcome, ReleaseNotes, ServiceNotes};

/// How one checklist item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The evidence shows the item was done and passed.
    Ticked,
    /// The evidence shows it failed, or was not done when it had to be.
    Failed,
    /// It does not apply to this execution (another path, or never reached), with the reason.
    NotApplicable,
    /// The pipeline cannot know it: a person decides and signs it.
    Open,
}

impl Verdict {
    /// The verdict in words, for the renderings.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ticked => "Ticked",
            Verdict::Failed => "Failed",
            Verdict::NotApplicable => "Not applicable",
            Verdict::Open => "Open",
        }
    }

    /// The Markdown check box: `[x]` ticked, `[ ]` otherwise.
    pub fn check_box(self) -> &'static str {
        match self {
            Verdict::Ticked => "[x]",
            _ => "[ ]",
        }
    }
}

/// Where a piece of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A measured figure, with its time window.
    Figure,
    /// A state of the execution's history, with its time.
    State,
    /// A field of the deployment record.
    RecordField,
    /// An alias and the version it names.
    Alias,
    /// An approval or a rejection from the approvals table.
    Approval,
    /// A fact the decision needed and did not find.
    Missing,
}

impl Source {
    /// The source in words.
    pub fn label(self) -> &'static str {
        match self {
            Source::Figure => "figure",
            Source::State => "state",
            Source::RecordField => "record",
            Source::Alias => "alias",
            Source::Approval => "approval",
            Source::Missing => "missing",
        }
    }
}

/// One piece of evidence behind a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Where it comes from.
    pub source: Source,
    /// What it says, e.g. `errors in the last 24 h: 0 (limit: fewer than 5)`.
    pub text: String,
    /// When it was taken, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

impl Evidence {
    /// Evidence from `source` saying `text`.
    pub fn new(source: Source, text: impl Into<String>) -> Evidence {
        Evidence {
            source,
            text: text.into(),
            at: None,
        }
    }

    /// The same, taken at `at`.
    pub fn at(mut self, at: Option<DateTime<Utc>>) -> Evidence {
        self.at = at;
        self
    }
}

/// One item of a checklist, decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemReport {
    /// The checklist's section, in the runbook's words (`Pre-Promotion Checks`).
    pub section: String,
    /// The item, in the runbook's words.
    pub item: String,
    /// How it stands.
    pub verdict: Verdict,
    /// Why, in words.
    pub note: String,
    /// What decided it.
    pub evidence: Vec<Evidence>,
}

/// One checklist of the runbook, filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistReport {
    /// The checklist's title (`SIT to PROD Promotion Checklist`).
    pub title: String,
    /// Where it is in the runbook (`RB-003 §7.2`).
    pub runbook_section: String,
    /// Every item, in the runbook's order.
    pub items: Vec<ItemReport>,
}

impl ChecklistReport {
    /// The item whose words are `item`.
    pub fn item(&self, item: &str) -> Option<&ItemReport> {
        self.items.iter().find(|i| i.item == item)
    }
}

/// One line of the sign-off block: a decision on the approval, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOff {
    /// The role in words (`Tech Lead`), or as kept when not one of the runbook's.
    pub role: String,
    /// Who.
    pub person: String,
    /// `approved` or `rejected`.
    pub decision: String,
    /// When, as kept.
    pub at: String,
    /// From which address; `None` when not kept.
    pub source_ip: Option<String>,
    /// From which browser or client; `None` when not kept.
    pub user_agent: Option<String>,
    /// The reason given with a rejection.
    pub detail: Option<String>,
}

/// One state of the execution, with how long it lasted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The state's name.
    pub state: String,
    /// When it was entered.
    pub entered: DateTime<Utc>,
    /// When it was left; `None` while still in it.
    pub exited: Option<DateTime<Utc>>,
    /// Seconds spent in it, when it was left.
    pub duration_seconds: Option<i64>,
    /// Its output, summarised.
    pub output: Option<String>,
}

/// What the report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// A promotion of one service (DEV to SIT, SIT to PROD).
    Promotion,
    /// A coordinated release of several services (§5).
    Release,
    /// A manual rollback (§6).
    Rollback,
    /// A record whose `action` is none of these.
    Unknown,
}

/// A name and a value of the checklist's header (`Service(s)`, `SIT Version`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderField {
    /// The runbook's label.
    pub label: String,
    /// The value; `-` when the facts do not say.
    pub value: String,
}

/// The evidence of one execution: the model the three renderings show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceReport {
    /// What the execution did.
    pub kind: ReportKind,
    /// `SIT to PROD promotion of site-management`.
    pub title: String,
    /// The service, or `release`.
    pub service: String,
    /// The environment changed.
    pub environment: String,
    /// The execution.
    pub execution_arn: String,
    /// The deployment record's id.
    pub deployment_id: String,
    /// `succeeded`, `failed` or `rolled_back`.
    pub outcome: String,
    /// The error name it ended with, if any.
    pub error: Option<String>,
    /// What happened, in words.
    pub cause: Option<String>,
    /// Who asked for it.
    pub requester: String,
    /// Why.
    pub reason: String,
    /// The change request ticket.
    pub change_request: Option<String>,
    /// The incident (emergency promotion, rollback).
    pub incident: Option<String>,
    /// The checklist's header, filled.
    pub header: Vec<HeaderField>,
    /// The checklists, filled (a rolled-back promotion also has §7.3).
    pub checklists: Vec<ChecklistReport>,
    /// Every decision on the approval, in order.
    pub sign_off: Vec<SignOff>,
    /// Every state, with durations.
    pub timeline: Vec<TimelineEntry>,
    /// Facts that could not be read, in words.
    pub problems: Vec<String>,
}

impl EvidenceReport {
    /// The checklist titled `title`.
    pub fn checklist(&self, title: &str) -> Option<&ChecklistReport> {
        self.checklists.iter().find(|c| c.title == title)
    }

    /// How many items stand at `verdict`, over every checklist.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.checklists
            .iter()
            .flat_map(|c| &c.items)
            .filter(|i| i.verdict == verdict)
            .count()
    }
}

/// The report of the execution `facts` describe.
pub fn build(facts: &Facts) -> EvidenceReport {
    let mut problems = Vec::new();
    if !facts.record.is_object() {
        problems.push("no deployment record: the record is missing or not an object".to_owned());
    }
    let action = facts.text("action").unwrap_or("");
    let env = facts.text("environment").unwrap_or("-").to_owned();
    let service = facts.text("service").unwrap_or("-").to_owned();
    let kind = match action {
        "promote" => ReportKind::Promotion,
        "release" => ReportKind::Release,
        "rollback" => ReportKind::Rollback,
        other => {
            problems.push(format!(
                "the record's action '{other}' is not promote, release or rollback: no checklist applies"
            ));
            ReportKind::Unknown
        }
    };
    let tables: Vec<&Checklist> = match kind {
        ReportKind::Promotion => {
            let mut t = vec![if env == "prod" {
                &checklists::SIT_TO_PROD
            } else {
                &checklists::DEV_TO_SIT
            }];
            if facts.outcome() == Some("rolled_back")
                || facts.record.get("rollback").is_some_and(Value::is_object)
                || facts.state("Roll back").is_some()
            {
                t.push(&checklists::ROLLBACK);
            }
            t
        }
        ReportKind::Release => vec![&checklists::RELEASE],
        ReportKind::Rollback => vec![&checklists::ROLLBACK],
        ReportKind::Unknown => vec![],
    };
    let filled = tables.iter().map(|t| t.fill(facts)).collect();
    let source_env = facts.text("source_environment").unwrap_or("-");
    let title = match kind {
        ReportKind::Promotion => format!(
            "{} to {} promotion of {service}",
            source_env.to_uppercase(),
            env.to_uppercase()
        ),
        ReportKind::Release => format!("Release into {}", env.to_uppercase()),
        ReportKind::Rollback => format!("Rollback of {service} in {}", env.to_uppercase()),
        ReportKind::Unknown => format!("Execution of {service} in {}", env.to_uppercase()),
    };
    EvidenceReport {
        kind,
        title,
        header: header(kind, facts),
        service,
        environment: env,
        execution_arn: facts.text("execution_arn").unwrap_or("-").to_owned(),
        deployment_id: facts.text("deployment_id").unwrap_or("-").to_owned(),
        outcome: facts.outcome().unwrap_or("-").to_owned(),
        error: facts.text("error").map(str::to_owned),
        cause: facts.text("cause").map(str::to_owned),
        requester: facts.text("actor").unwrap_or("-").to_owned(),
        reason: facts.text("reason").unwrap_or("-").to_owned(),
        change_request: facts.text("change_request").map(str::to_owned),
        incident: facts.text("incident").map(str::to_owned),
        checklists: filled,
        sign_off: sign_off(facts),
        timeline: timeline(&facts.history),
        problems,
    }
}

/// The checklist header of the runbook's template, filled from the record.
fn header(kind: ReportKind, facts: &Facts) -> Vec<HeaderField> {
    let field = |label: &str, value: Option<String>| HeaderField {
        label: label.to_owned(),
        value: value
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "-".to_owned()),
    };
    let text = |f: &str| facts.text(f).map(str::to_owned);
    let versions = |f: &str| {
        let list: Vec<String> = facts
            .versions(f)
            .into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        Some(list.join(", "))
    };
    let date = text("timestamp");
    match kind {
        ReportKind::Promotion => {
            let source = facts
                .text("source_environment")
                .unwrap_or("source")
                .to_uppercase();
            let mut h = vec![
                field("Date", date),
                field("Promoter", text("actor")),
                field("Service(s)", text("service")),
                field(&format!("{source} Version"), text("source_version")),
            ];
            if facts.text("environment") == Some("prod") {
                h.push(field("Change Request Ticket", text("change_request")));
            }
            h
        }
        ReportKind::Release => {
            let services = facts
                .record
                .get("services")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            vec![
                field("Date", date),
                field("Release Lead", text("actor")),
                field("Service(s)", services),
                field("Change Request Ticket", text("change_request")),
            ]
        }
        ReportKind::Rollback | ReportKind::Unknown => vec![
            field("Date/Time", date),
            field("Environment", text("environment").map(|e| e.to_uppercase())),
            field("Service", text("service")),
            field("Current Version", versions("from_version")),
            field(
                "Rollback Target Version",
                text("target").or_else(|| versions("to_version")),
            ),
            field("Incident Ticket", text("incident")),
        ],
    }
}

/// The sign-off block: every approval and rejection, from the approvals table when its items
/// are given (with address and device), else from the record's `approvers`.
pub(crate) fn sign_off(facts: &Facts) -> Vec<SignOff> {
    let role_label = |role: &str| -> String {
        serde_json::from_value::<Role>(Value::String(role.to_owned()))
            .map(|r| r.label().to_owned())
            .unwrap_or_else(|_| role.to_owned())
    };
    let decided: Vec<SignOff> = facts
        .approvals
        .iter()
        .filter(|a| a.is_approval() || a.is_rejection())
        // An approval is kept twice (its approval item and its audit item): keep one.
        .filter(|a| {
            a.outcome.is_some()
                || !facts.approvals.iter().any(|b| {
                    b.outcome.as_deref() == Some("approved")
                        && b.person == a.person
                        && b.role == a.role
                })
        })
        .map(|a| SignOff {
            role: role_label(&a.role),
            person: a.person.clone(),
            decision: if a.is_rejection() {
                "rejected"
            } else {
                "approved"
            }
            .to_owned(),
            at: a.at.clone(),
            source_ip: a.source_ip.clone(),
            user_agent: a.user_agent.clone(),
            detail: a.detail.clone().filter(|_| a.is_rejection()),
        })
        .collect();
    if !decided.is_empty() {
        return decided;
    }
    facts
        .record
        .get("approvers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| SignOff {
            role: role_label(a.get("role").and_then(Value::as_str).unwrap_or("-")),
            person: a
                .get("person")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned(),
            decision: "approved".to_owned(),
            at: a
                .get("at")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned(),
            source_ip: None,
            user_agent: None,
            detail: None,
        })
        .collect()
}

/// The history as a timeline with durations.
fn timeline(history: &[HistoryEntry]) -> Vec<TimelineEntry> {
    history
        .iter()
        .map(|h| TimelineEntry {
            state: h.state.clone(),
            entered: h.entered,
            exited: h.exited,
            duration_seconds: h.exited.map(|x| (x - h.entered).num_seconds()),
            output: h.output.clone(),
        })
        .collect()
}

/// Where one execution's evidence is kept in the account's evidence bucket:
/// `evidence/<env>/<service>/<execution name>/` (`release` for a release). The execution's name is
/// the last part of its ARN; a name that is not one (no ARN at all) is kept as `unknown`.
pub fn prefix(env: &str, service: &str, execution_arn: &str) -> String {
    let name = execution_arn
        .rsplit(':')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("unknown");
    format!("evidence/{env}/{service}/{name}/")
}

/// One object of an execution's evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFile {
    /// Its name under the execution's [`prefix`] (`report.html`).
    pub name: &'static str,
    /// Its content type.
    pub content_type: &'static str,
    /// Its content.
    pub body: String,
}

/// The objects of one execution's evidence: the report in its three renderings (`report.json`, the
/// model; `report.md`; `report.html`, self-contained), the facts it was built from (`facts.json`:
/// the watch adds its checks to them and builds the report again), and for a PROD promotion or a
/// release the release notes (`release-notes.md`, RB-003 §5.3).
pub fn files(facts: &Facts) -> Vec<EvidenceFile> {
    let report = build(facts);
    let mut out = vec![
        EvidenceFile {
            name: "report.json",
            content_type: "application/json",
            body: render::json(&report),
        },
        EvidenceFile {
            name: "report.md",
            content_type: "text/markdown; charset=utf-8",
            body: render::markdown(&report),
        },
        EvidenceFile {
            name: "report.html",
            content_type: "text/html; charset=utf-8",
            body: render::html(&report),
        },
        EvidenceFile {
            name: "facts.json",
            content_type: "application/json",
            body: serde_json::to_string_pretty(facts).unwrap_or_else(|_| "{}".to_owned()),
        },
    ];
    let notes = match report.kind {
        ReportKind::Promotion if report.environment == "prod" => Some(notes::for_promotion(facts)),
        ReportKind::Release => Some(notes::for_release(facts, &facts.phase_records)),
        _ => None,
    };
    if let Some(n) = notes {
        out.push(EvidenceFile {
            name: "release-notes.md",
            content_type: "text/markdown; charset=utf-8",
            body: notes::markdown(&n),
        });
    }
    out
}

/// How long the link to an execution's report in its completion email opens it: 7 days from the
/// deployment record's time. The auditors' role reads the evidence for as long as it is kept.
pub const LINK_DAYS: i64 = 7;

/// Why an evidence link does not open its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRefusal {
    /// No such record, a record without a link, or a key that is not the record's.
    Unknown,
    /// The link was valid until then.
    Expired(DateTime<Utc>),
}

/// Whether `key` opens the report of `record` (its `evidence.link_key`, its `timestamp` plus
/// [`LINK_DAYS`]) at `now`. The keys are compared in constant time.
pub fn link_opens(record: &Value, key: &str, now: DateTime<Utc>) -> Result<(), LinkRefusal> {
    let kept = record
        .get("evidence")
        .and_then(|e| e.get("link_key"))
        .and_then(Value::as_str)
        .filter(|k| k.len() >= 32)
        .ok_or(LinkRefusal::Unknown)?;
    let same = kept.len() == key.len()
        && kept
            .bytes()
            .zip(key.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err(LinkRefusal::Unknown);
    }
    let written = record
        .get("timestamp")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or(LinkRefusal::Unknown)?;
    let until = written + chrono::Duration::days(LINK_DAYS);
    if now >= until {
        return Err(LinkRefusal::Expired(until));
    }
    Ok(())
}
