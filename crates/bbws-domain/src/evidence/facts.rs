//! The facts an execution leaves, as the evidence reads them.
//!
//! The deployment record is kept as the JSON the record function writes (one shape per
//! `action`: `promote`, `release`, `rollback`), read field by field: a field missing or of
//! another type makes the items that need it open or failed, with words, never a panic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approvals::Role;
use crate::plan::PromotionPlan;
use crate::steps::{Check, Verification};
use crate::windows::WindowCheck;

/// One state of the execution's history: when it was entered and left, and its output in short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The state's name, as in the state machine (`Create backup alias`).
    pub state: String,
    /// When the execution entered it.
    pub entered: DateTime<Utc>,
    /// When it left it; `None` while it is still in it.
    #[serde(default)]
    pub exited: Option<DateTime<Utc>>,
    /// The state's output, summarised.
    #[serde(default)]
    pub output: Option<String>,
}

/// One item of the approvals table for this execution: an approval (`approval#<role>`, no
/// `outcome`) or an audit item (`audit#…`, with its `outcome`), as the approval function keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalItem {
    /// Who (the address in the signed link; `unknown` for a link that did not verify).
    #[serde(default)]
    pub person: String,
    /// The role, snake_case (`tech_lead`), or `-` when unknown.
    #[serde(default)]
    pub role: String,
    /// `approve` or `reject`, as the link asked (audit items only).
    #[serde(default)]
    pub decision: Option<String>,
    /// `approved`, `rejected`, `refused`, `not_counted` or `passed_on` (audit items only);
    /// `None` on an approval item, which is an approval.
    #[serde(default)]
    pub outcome: Option<String>,
    /// The reason given, or why the attempt was not counted.
    #[serde(default)]
    pub detail: Option<String>,
    /// The address the decision came from.
    #[serde(default)]
    pub source_ip: Option<String>,
    /// The browser or client that sent it.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// When, RFC 3339, as kept.
    #[serde(default)]
    pub at: String,
}

impl ApprovalItem {
    /// The role, when it is one of the runbook's.
    pub fn role(&self) -> Option<Role> {
        serde_json::from_value(Value::String(self.role.clone())).ok()
    }

    /// Whether this item is a counted approval.
    pub fn is_approval(&self) -> bool {
        matches!(self.outcome.as_deref(), None | Some("approved"))
    }

    /// Whether this item is a rejection.
    pub fn is_rejection(&self) -> bool {
        self.outcome.as_deref() == Some("rejected")
    }
}

/// One figure of a monitor poll: a function version in a region, as the monitor's `poll` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollFigure {
    /// The target function.
    #[serde(default)]
    pub function: String,
    /// The region.
    #[serde(default)]
    pub region: String,
    /// The version behind the alias.
    #[serde(default)]
    pub version: String,
    /// The `/health` status.
    #[serde(default)]
    pub health: u16,
    /// Errors over the trigger's look-back.
    #[serde(default)]
    pub errors: f64,
    /// Throttles over the look-back.
    #[serde(default)]
    pub throttles: f64,
}

/// One monitor poll's answer (`$.monitor` after `Check health, errors and throttles`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    /// `healthy` or `rollback`.
    #[serde(default)]
    pub verdict: String,
    /// Why a rollback, in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// One figure per function and region.
    #[serde(default)]
    pub figures: Vec<PollFigure>,
    /// Polls made, this one included.
    #[serde(default)]
    pub polls_done: u64,
    /// Polls still to make.
    #[serde(default)]
    pub polls_left: u64,
    /// When the state that returned it ended (from the history), when known.
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// One check of the 24 h watch after a PROD promotion (RB-003 §7.2 "Post-Promotion Monitoring").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchCheck {
    /// Hours after the deploy: 1, 4, 12 or 24.
    pub after_hours: u32,
    /// When the check ran.
    pub at: DateTime<Utc>,
    /// Errors counted since the deploy.
    pub errors: f64,
    /// The window the figure covers, in words (`2026-11-24 20:10 to 21:10 UTC`).
    pub window: String,
    /// The watch's verdict (`passed`, `failed`, `superseded`); `None` when only the figure is known.
    #[serde(default)]
    pub verdict: Option<String>,
    /// What the check found wrong, in words.
    #[serde(default)]
    pub findings: Vec<String>,
}

impl WatchCheck {
    /// One check as the watch keeps it in the record's `checks` (`name` `1-hour check`, `at`,
    /// `verdict`, `window_seconds`, `figures` with `errors`, `findings`); `None` when it does not read.
    pub fn from_result(check: &Value) -> Option<WatchCheck> {
        let name = check.get("name")?.as_str()?;
        let after_hours: u32 = name.split('-').next()?.trim().parse().ok()?;
        let at = DateTime::parse_from_rfc3339(check.get("at")?.as_str()?)
            .ok()?
            .with_timezone(&Utc);
        let seconds = check
            .get("window_seconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let from = at - chrono::Duration::seconds(seconds);
        let errors = check
            .get("figures")
            .and_then(Value::as_array)
            .map(|f| f.iter().filter_map(|x| x.get("errors")?.as_f64()).sum())
            .unwrap_or(0.0);
        let findings = check
            .get("findings")
            .and_then(Value::as_array)
            .map(|f| {
                f.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Some(WatchCheck {
            after_hours,
            at,
            errors,
            window: format!(
                "{} to {} UTC",
                from.format("%Y-%m-%d %H:%M"),
                at.format("%Y-%m-%d %H:%M")
            ),
            verdict: check
                .get("verdict")
                .and_then(Value::as_str)
                .map(str::to_owned),
            findings,
        })
    }
}

/// Everything one execution left that the evidence reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Facts {
    /// The deployment record, as written to `bbws-deployments-<env>`.
    pub record: Value,
    /// The promotion plan (`$.promotion`), for a promotion.
    #[serde(default)]
    pub plan: Option<PromotionPlan>,
    /// The maintenance window as the preflight or the re-check found it.
    #[serde(default)]
    pub window: Option<WindowCheck>,
    /// The verification right after the deploy (`$.verify`).
    #[serde(default)]
    pub verify: Option<Verification>,
    /// The monitor polls, in order.
    #[serde(default)]
    pub polls: Vec<Poll>,
    /// The approvals table's items for this execution.
    #[serde(default)]
    pub approvals: Vec<ApprovalItem>,
    /// The execution's history, in order.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// The checks of the 24 h watch made so far.
    #[serde(default)]
    pub watch: Vec<WatchCheck>,
    /// Where the release notes are, when a person or the pipeline wrote them.
    #[serde(default)]
    pub release_notes: Option<String>,
    /// A release's phases' own deployment records (their versions and CodeSha256 for the notes).
    #[serde(default)]
    pub phase_records: Vec<Value>,
}

impl Facts {
    /// A text field of the record; `None` when missing, null, empty or not text.
    pub fn text(&self, field: &str) -> Option<&str> {
        self.record
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The record's `outcome`: `succeeded`, `failed` or `rolled_back`.
    pub fn outcome(&self) -> Option<&str> {
        self.text("outcome")
    }

    /// The record's preflight checks; `None` when the preflight did not run or was not kept.
    pub fn preflight_checks(&self) -> Option<Vec<Check>> {
        let value = self.record.get("preflight")?;
        serde_json::from_value(value.clone()).ok()
    }

    /// `{"<region>/<function>": "<version>"}` of a record field, in order.
    pub fn versions(&self, field: &str) -> Vec<(String, String)> {
        self.record
            .get(field)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("?").to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first history entry of `state`.
    pub fn state(&self, state: &str) -> Option<&HistoryEntry> {
        self.history.iter().find(|h| h.state == state)
    }

    /// The last state the execution entered.
    pub fn last_state(&self) -> Option<&HistoryEntry> {
        self.history.last()
    }
}

impl Facts {
    /// The facts a promotion's last state carries beside its `record`: the plan
    /// (`$.promotion`), the window (`$.window` of the re-check, else `$.preflight.window`), the
    /// verification (`$.verify`) and the last monitor poll (`$.monitor` once it has a verdict).
    /// What the state does not carry (the history, the earlier polls, the approvals table's
    /// items, the 24 h watch) stays empty for the caller to add. A part that does not read is
    /// left out: the items that need it then say what is missing.
    pub fn from_promotion_state(record: Value, state: &Value) -> Facts {
        fn part<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> Option<T> {
            v.and_then(|v| serde_json::from_value(v.clone()).ok())
        }
        let window = part(state.get("window"))
            .or_else(|| part(state.get("preflight").and_then(|p| p.get("window"))));
        let last_poll: Option<Poll> = state
            .get("monitor")
            .filter(|m| m.get("verdict").is_some_and(Value::is_string))
            .and_then(|m| part(Some(m)));
        Facts {
            record,
            plan: part(state.get("promotion")),
            window,
            verify: part(state.get("verify")),
            polls: last_poll.into_iter().collect(),
            ..Facts::default()
        }
    }
}

/// The state of a promotion whose output carries each monitor poll (`$.monitor`).
pub const POLL_STATE: &str = "Check health, errors and throttles";

/// One event of an execution's history that the evidence reads: a state entered or exited, when,
/// and (exited) its output.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEvent {
    /// `true` when the state was entered, `false` when it was exited.
    pub entered: bool,
    /// The state's name.
    pub state: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The state's output (exited events), when it is JSON.
    pub output: Option<Value>,
}

/// The states of an execution in the order they were entered, each with when it was left: an exit
/// closes the newest open entry of the same state (a state entered again, a retried Task, gets an
/// entry each time).
pub fn history_entries(events: &[StateEvent]) -> Vec<HistoryEntry> {
    let mut entries: Vec<HistoryEntry> = Vec::new();
    for e in events {
        if e.entered {
            entries.push(HistoryEntry {
                state: e.state.clone(),
                entered: e.at,
                exited: None,
                output: None,
            });
        } else if let Some(open) = entries
            .iter_mut()
            .rev()
            .find(|h| h.state == e.state && h.exited.is_none())
        {
            open.exited = Some(e.at);
        }
    }
    entries
}

/// Every monitor poll of the history, in order: the `monitor` of each exit of [`POLL_STATE`]
/// that has a verdict, with the time of that exit.
pub fn polls_of(events: &[StateEvent]) -> Vec<Poll> {
    events
        .iter()
        .filter(|e| !e.entered && e.state == POLL_STATE)
        .filter_map(|e| {
            let monitor = e.output.as_ref()?.get("monitor")?;
            monitor.get("verdict").filter(|v| v.is_string())?;
            let mut poll: Poll = serde_json::from_value(monitor.clone()).ok()?;
            poll.at = Some(e.at);
            Some(poll)
        })
        .collect()
}

impl Facts {
    /// These facts with the 24 h watch's checks kept on the record (`checks`), in order.
    pub fn with_watch_from_record(mut self) -> Facts {
        self.watch = self
            .record
            .get("checks")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(WatchCheck::from_result).collect())
            .unwrap_or_default();
        self
    }

    /// These facts with the execution's history (its states and their times) and, when the history
    /// has them, every monitor poll in place of the last one alone.
    pub fn with_history(mut self, events: &[StateEvent]) -> Facts {
        self.history = history_entries(events);
        let polls = polls_of(events);
        if !polls.is_empty() {
            self.polls = polls;
        }
        self
    }
}
