//! Delivery metrics from the deployment records (issue 14): per service and environment over a
//! period, the deployment frequency, the lead time into PROD, the change failure rate and the time
//! to restore, each with the counts behind it.
//!
//! The input is the records as the record function writes them in `bbws-deployments-<env>` (JSON:
//! `action` `promote`, `rollback` or `release`, `outcome` `succeeded`, `failed` or `rolled_back`,
//! `timestamp` in RFC 3339, `code_sha256`, `checks` of the 24-hour watch, a release's `phases`), and
//! for the lead time the records of the environment promoted from (SIT's for PROD). A record that
//! does not read is reported as a [`Problem`] and left out; nothing here panics on a record.
//!
//! The definitions, as the report prints them ([`DEFINITIONS`]):
//!
//! - **deployments**: promotions into the environment that ended `succeeded`. A release's phases
//!   count once each: a phase is a promotion with its own record; only a phase whose own record
//!   was not read counts from the release record (at the release record's time).
//! - **deployment frequency**: deployments per day of the period `[since, until)`, and per week
//!   (per day × 7).
//! - **lead time**: the pipeline does not see a package's deploy into DEV; the closest evidence
//!   it keeps is when that package (its CodeSha256) was first promoted out of DEV, the earliest
//!   SIT promotion record that `succeeded` and lists that CodeSha256. A deployment's lead time is
//!   its record's time minus that time, for the newest package it carried (a service's unchanged
//!   functions carry older packages, which would not say when this change left DEV). Deployments
//!   whose packages no SIT record names are counted as without evidence.
//! - **change failure rate**: failed changes ÷ changes. A change is a deployment, or a promotion
//!   that deployed and then failed (it rolled itself back, `rolled_back`, or ended `failed` with
//!   versions deployed). A change failed when it rolled itself back or failed after its deploy, its
//!   release rolled it back, a check of its 24-hour watch failed, or a manual rollback of the same
//!   service and environment succeeded within 24 hours of it while it was the deployment serving.
//! - **time to restore**: per failed change, from the first sign of the failure (its first failed
//!   watch check; for a promotion that rolled itself back or failed after its deploy, when its
//!   versions went live, the stamp of the backup alias taken just before its deploy; else its own
//!   record's time) to the record that put a healthy version back (its own rollback, its release's
//!   record, a succeeded rollback, or a later deployment that did not fail). Without a start (a
//!   release phase known only from the release record, a promotion that rolled itself back whose
//!   backup alias does not read) it is restored but not measured; without such a record it is
//!   open.
//!
//! Median and p90 are taken by the nearest rank (the smallest figure with at least half, or 90 %,
//! of the figures at or below it: always one of the figures). Times are whole seconds, with a
//! human form of the two largest units (`2 h 5 min`, cut, not rounded).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::env::Env;
use crate::naming::parse_backup_alias;

/// How long after a change a manual rollback still counts as the change's failure.
pub const CHANGE_FAILURE_WINDOW_SECONDS: i64 = 24 * 3_600;

/// The definitions behind the figures, as the report prints them: (figure, definition).
pub const DEFINITIONS: [(&str, &str); 5] = [
    (
        "deployments",
        "promotions into the environment that ended succeeded; a release's phase counts once, from \
         its own promotion record, or from the release record when that record was not read",
    ),
    (
        "deployment frequency",
        "deployments per day of the period [since, until), and per week (per day x 7)",
    ),
    (
        "lead time",
        "the pipeline does not see the deploy into DEV; the closest evidence is the package's first \
         promotion out of DEV: the earliest succeeded SIT promotion record listing the same \
         CodeSha256. Lead time = the deployment record's time - that SIT record's time, for the \
         newest package the deployment carried; deployments whose packages no SIT record names are \
         counted as without evidence",
    ),
    (
        "change failure rate",
        "failed changes / changes. A change: a deployment, or a promotion that deployed and then \
         rolled itself back or failed. Failed: it rolled itself back or failed after its deploy, its \
         release rolled it back, a check of its 24-hour watch failed, or a manual rollback of the \
         same service and environment succeeded within 24 h while it was the deployment serving",
    ),
    (
        "time to restore",
        "per failed change, from its first failed watch check (else, for a promotion that rolled \
         itself back or failed after its deploy, the backup alias stamp taken just before the \
         deploy; else its record) to the record that put a healthy version back: its own rollback, \
         its release's record, a succeeded rollback, or a later deployment that did not fail. \
         Unmeasured: restored, but no start is known; open: no such record was read",
    ),
];

/// The period reported: from `since` (inclusive) to `until` (exclusive), whole UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriod {
    /// The first instant counted (00:00 UTC of the first day).
    pub since: DateTime<Utc>,
    /// The first instant no longer counted (00:00 UTC of the day after the last).
    pub until: DateTime<Utc>,
}

impl ReportPeriod {
    /// The days `since` (inclusive) to `until` (exclusive); an error when `until` is not later.
    pub fn new(since: NaiveDate, until: NaiveDate) -> Result<ReportPeriod, String> {
        if until <= since {
            return Err(format!(
                "the period's end ({until}) must be later than its start ({since}): a period is \
                 [since, until)"
            ));
        }
        Ok(ReportPeriod {
            since: since.and_time(chrono::NaiveTime::MIN).and_utc(),
            until: until.and_time(chrono::NaiveTime::MIN).and_utc(),
        })
    }

    /// Whether `at` is in the period.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.since <= at && at < self.until
    }

    /// The period's length in days (whole days, as it is made of dates).
    pub fn days(&self) -> f64 {
        (self.until - self.since).num_seconds() as f64 / 86_400.0
    }
}

/// What to report: the environment, and the services to give a row (every one, even without a
/// record; `None`: every service with a change or rollback in the period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The environment whose records are measured.
    pub environment: Env,
    /// The services, in the order of the rows.
    pub services: Option<Vec<String>>,
}

/// A set of records and where they came from (a table's name), for the problems' sake.
#[derive(Debug, Clone, Copy)]
pub struct RecordSet<'a> {
    /// Where they were read (`bbws-deployments-prod`).
    pub name: &'a str,
    /// The records.
    pub records: &'a [Value],
}

/// A record that does not read, left out of every figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Where it was read.
    pub records: String,
    /// Its `deployment_id`, when it has one.
    pub deployment_id: Option<String>,
    /// What is wrong with it.
    pub problem: String,
}

/// A duration in whole seconds, with its human form (`2 h 5 min`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    /// Whole seconds.
    pub seconds: u64,
    /// The two largest units, cut (not rounded).
    pub human: String,
}

impl Span {
    /// `seconds` with its human form.
    pub fn of(seconds: u64) -> Span {
        Span {
            seconds,
            human: human_span(seconds),
        }
    }
}

/// Median, p90 and max of a set of durations (nearest rank), with how many there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spread {
    /// How many durations.
    pub count: u64,
    /// The median (nearest rank).
    pub median: Span,
    /// The 90th percentile (nearest rank).
    pub p90: Span,
    /// The longest.
    pub max: Span,
}

impl Spread {
    /// The spread of `figures`; `None` when there are none.
    pub fn of(figures: &[u64]) -> Option<Spread> {
        let mut sorted = figures.to_vec();
        sorted.sort_unstable();
        let max = *sorted.last()?;
        Some(Spread {
            count: sorted.len() as u64,
            median: Span::of(nearest_rank(&sorted, 50)),
            p90: Span::of(nearest_rank(&sorted, 90)),
            max: Span::of(max),
        })
    }
}

/// The `percent`th percentile of non-empty `sorted` by the nearest rank: the figure at rank
/// ⌈percent/100 × n⌉ (1-based).
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    let n = sorted.len();
    let rank = (percent * n).div_ceil(100).clamp(1, n.max(1));
    sorted.get(rank - 1).copied().unwrap_or(0)
}

/// Deployments and how often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frequency {
    /// Deployments in the period.
    pub deployments: u64,
    /// Of them, release phases counted from the release record (their own record not read).
    pub from_release_records: u64,
    /// Per day of the period (two decimals).
    pub per_day: f64,
    /// Per week (two decimals).
    pub per_week: f64,
}

/// The lead time into the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadTime {
    /// Whether it could be measured at all (the source environment's records were given).
    pub known: bool,
    /// Why not, when it could not.
    pub unknown_because: Option<String>,
    /// Deployments measured.
    pub measured: u64,
    /// Deployments whose packages no source record names (or that carry no CodeSha256).
    pub without_evidence: u64,
    /// Median, p90 and max of the measured ones.
    pub spread: Option<Spread>,
}

/// What made each failed change count, the first that applies in this order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FailureCauses {
    /// The promotion rolled itself back (`rolled_back`: verification or monitoring).
    pub rolled_itself_back: u64,
    /// The promotion ended `failed` after its deploy.
    pub failed_after_deploy: u64,
    /// Its release rolled it back (a failed health wait, or `rollback_completed_phases`).
    pub release_rollback: u64,
    /// A check of its 24-hour watch failed.
    pub failed_watch_check: u64,
    /// A manual rollback succeeded within 24 hours.
    pub manual_rollback: u64,
}

impl FailureCauses {
    /// Their sum: every failed change once.
    pub fn total(&self) -> u64 {
        self.rolled_itself_back
            + self.failed_after_deploy
            + self.release_rollback
            + self.failed_watch_check
            + self.manual_rollback
    }
}

/// The change failure rate with its counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeFailure {
    /// Changes in the period.
    pub changes: u64,
    /// Of them, failed.
    pub failed: u64,
    /// failed ÷ changes, within 0..=1 (four decimals); `None` without changes.
    pub rate: Option<f64>,
    /// Why each failed change counts.
    pub causes: FailureCauses,
}

/// The time to restore with its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeToRestore {
    /// Failed changes in the period (as in [`ChangeFailure`]).
    pub failures: u64,
    /// Restored, with a measured time.
    pub measured: u64,
    /// Restored, but when the failure started is not known.
    pub unmeasured: u64,
    /// Not restored by any record read.
    pub open: u64,
    /// Median, p90 and max of the measured ones.
    pub spread: Option<Spread>,
}

/// The figures of one service in one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceMetrics {
    /// The service.
    pub service: String,
    /// The environment (`prod`).
    pub environment: String,
    /// Deployments and their frequency.
    pub frequency: Frequency,
    /// Lead time.
    pub lead_time: LeadTime,
    /// Change failure rate.
    pub change_failure: ChangeFailure,
    /// Time to restore.
    pub time_to_restore: TimeToRestore,
    /// Manual rollbacks that succeeded in the period (whatever they rolled back).
    pub rollbacks: u64,
}

/// The report: the period, the definitions, a row per service, and the records that did not read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The environment.
    pub environment: String,
    /// The first day (`YYYY-MM-DD`).
    pub since: String,
    /// The day after the last (`YYYY-MM-DD`, not included).
    pub until: String,
    /// The period's days.
    pub days: f64,
    /// Figure → definition.
    pub definitions: BTreeMap<String, String>,
    /// A row per service.
    pub services: Vec<ServiceMetrics>,
    /// Records left out, and why.
    pub problems: Vec<Problem>,
}

// ------------------------------------------------------------------------------------------------
// Reading the records
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Promote,
    Rollback,
    Release,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    RolledBack,
}

#[derive(Debug, Clone)]
struct Phase {
    service: String,
    execution_arn: Option<String>,
    outcome: String,
}

/// A record that reads.
#[derive(Debug, Clone)]
struct Record {
    at: DateTime<Utc>,
    environment: String,
    service: String,
    action: Action,
    outcome: Outcome,
    execution_arn: Option<String>,
    packages: Vec<String>,
    deployed: bool,
    live_since: Option<DateTime<Utc>>,
    /// `Some` when a watch check failed: the first failed check's time, if it reads.
    failed_check: Option<Option<DateTime<Utc>>>,
    phases: Vec<Phase>,
    completed_rolled_back: bool,
}

fn rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The record, or the problem that keeps it out.
fn read(value: &Value, set: &str, problems: &mut Vec<Problem>) -> Option<Record> {
    let id = text(value, "deployment_id");
    let mut problem = |what: String| {
        problems.push(Problem {
            records: set.to_owned(),
            deployment_id: id.clone(),
            problem: what,
        });
    };
    if !value.is_object() {
        problem(format!("not a record (a JSON {})", kind_of(value)));
        return None;
    }
    if id.is_none() {
        problem("no deployment_id".into());
        return None;
    }
    let at = match value.get("timestamp") {
        None | Some(Value::Null) => {
            problem("no timestamp: it cannot be placed in time".into());
            return None;
        }
        Some(Value::String(s)) => match rfc3339(s) {
            Some(at) => at,
            None => {
                problem(format!("timestamp '{s}' is not an RFC 3339 time"));
                return None;
            }
        },
        Some(other) => {
            problem(format!(
                "timestamp is a {}, not an RFC 3339 text",
                kind_of(other)
            ));
            return None;
        }
    };
    let action = match value.get("action").and_then(Value::as_str) {
        Some("promote") => Action::Promote,
        Some("rollback") => Action::Rollback,
        Some("release") => Action::Release,
        other => {
            problem(format!(
                "action {} is not promote, rollback or release",
                shown(other)
            ));
            return None;
        }
    };
    let outcome = match value.get("outcome").and_then(Value::as_str) {
        Some("succeeded") => Outcome::Succeeded,
        Some("failed") => Outcome::Failed,
        Some("rolled_back") => Outcome::RolledBack,
        other => {
            problem(format!(
                "outcome {} is not succeeded, failed or rolled_back",
                shown(other)
            ));
            return None;
        }
    };
    let Some(service) = text(value, "service") else {
        problem("no service".into());
        return None;
    };
    let Some(environment) = text(value, "environment") else {
        problem("no environment".into());
        return None;
    };
    let packages = value
        .get("code_sha256")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| text(p, "code_sha256"))
        .collect();
    let deployed = value
        .get("to_version")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty());
    let live_since = value
        .get("backup_alias")
        .and_then(Value::as_str)
        .or_else(|| {
            value
                .pointer("/rollback/backup_alias")
                .and_then(Value::as_str)
        })
        .and_then(parse_backup_alias);
    let mut failed_check: Option<Option<DateTime<Utc>>> = None;
    for check in value
        .get("checks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if check.get("verdict").and_then(Value::as_str) != Some("failed") {
            continue;
        }
        let when = check.get("at").and_then(Value::as_str).and_then(rfc3339);
        if when.is_none() {
            problem(format!(
                "its failed {} has no readable time: the failure is counted from the record's time",
                check
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("watch check")
            ));
        }
        failed_check = Some(match (failed_check.flatten(), when) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        });
    }
    let phases = value
        .get("phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Phase {
                service: text(p, "service")?,
                execution_arn: text(p, "execution_arn"),
                outcome: text(p, "outcome").unwrap_or_default(),
            })
        })
        .collect();
    let completed_rolled_back = value.get("rollback_completed_phases") == Some(&Value::Bool(true))
        && value
            .get("completed_rollback")
            .is_some_and(Value::is_object);
    Some(Record {
        at,
        environment,
        service,
        action,
        outcome,
        execution_arn: text(value, "execution_arn"),
        packages,
        deployed,
        live_since,
        failed_check,
        phases,
        completed_rolled_back,
    })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "(missing)".to_owned(), |v| format!("'{v}'"))
}

/// Every record of `set` that reads; the others as problems.
fn read_all(set: RecordSet<'_>, problems: &mut Vec<Problem>) -> Vec<Record> {
    set.records
        .iter()
        // A tenant's Terraform apply (`bbws-tenant-<env>`) is not a deployment of a service's
        // code: the delivery metrics are the services'.
        .filter(|v| v.get("action").and_then(Value::as_str) != Some("tenant"))
        .filter_map(|v| read(v, set.name, problems))
        .collect()
}

// ------------------------------------------------------------------------------------------------
// Changes, their failures and restores
// ------------------------------------------------------------------------------------------------

/// What a release did to one of its phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReleaseEffect {
    /// Put back on its backup by the release, by the time of the release record.
    RolledBack(DateTime<Utc>),
    /// The release's rollback of it failed (the record's time).
    RollbackFailed(DateTime<Utc>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    RolledItselfBack,
    FailedAfterDeploy,
    Release(ReleaseEffect),
    WatchCheck(Option<DateTime<Utc>>),
    Manual(DateTime<Utc>),
}

/// Something that reached the environment.
#[derive(Debug, Clone)]
struct Change {
    service: String,
    at: DateTime<Utc>,
    /// A deployment: it ended succeeded (or is a release phase whose promotion did).
    deployment: bool,
    /// Counted from the release record (its own record was not read).
    from_release: bool,
    packages: Vec<String>,
    live_since: Option<DateTime<Utc>>,
    own: Option<Cause>,
    release: Option<ReleaseEffect>,
    failed_check: Option<Option<DateTime<Utc>>>,
    cause: Option<Cause>,
}

/// The changes of `records` (one environment), oldest first.
fn changes_of(records: &[Record]) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    let mut by_execution: HashMap<String, usize> = HashMap::new();
    for r in records.iter().filter(|r| r.action == Action::Promote) {
        let own = match r.outcome {
            Outcome::Succeeded => None,
            Outcome::RolledBack => Some(Cause::RolledItselfBack),
            Outcome::Failed if r.deployed => Some(Cause::FailedAfterDeploy),
            Outcome::Failed => continue,
        };
        if let Some(arn) = &r.execution_arn {
            by_execution.insert(arn.clone(), changes.len());
        }
        changes.push(Change {
            service: r.service.clone(),
            at: r.at,
            deployment: r.outcome == Outcome::Succeeded,
            from_release: false,
            packages: r.packages.clone(),
            live_since: r.live_since,
            own,
            release: None,
            failed_check: r.failed_check,
            cause: None,
        });
    }
    for r in records.iter().filter(|r| r.action == Action::Release) {
        for phase in &r.phases {
            let effect = match phase.outcome.as_str() {
                "succeeded" if r.completed_rolled_back => Some(ReleaseEffect::RolledBack(r.at)),
                "succeeded" => None,
                "rolled_back" => Some(ReleaseEffect::RolledBack(r.at)),
                "rollback_failed" => Some(ReleaseEffect::RollbackFailed(r.at)),
                // The phase's promotion failed by itself: its own record tells.
                _ => continue,
            };
            let own = phase
                .execution_arn
                .as_ref()
                .and_then(|arn| by_execution.get(arn).copied());
            match own {
                Some(i) => {
                    if let Some(change) = changes.get_mut(i) {
                        change.release = change.release.or(effect);
                    }
                }
                None => changes.push(Change {
                    service: phase.service.clone(),
                    at: r.at,
                    deployment: true,
                    from_release: true,
                    packages: Vec::new(),
                    live_since: None,
                    own: None,
                    release: effect,
                    failed_check: None,
                    cause: None,
                }),
            }
        }
    }
    changes.sort_by_key(|c| c.at);
    changes
}

/// Manual rollbacks that succeeded, per service, oldest first.
fn rollbacks_of(records: &[Record]) -> HashMap<String, Vec<DateTime<Utc>>> {
    let mut out: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for r in records
        .iter()
        .filter(|r| r.action == Action::Rollback && r.outcome == Outcome::Succeeded)
    {
        out.entry(r.service.clone()).or_default().push(r.at);
    }
    for list in out.values_mut() {
        list.sort_unstable();
    }
    out
}

/// Decides each change's cause of failure (the first that applies): its own outcome, its release,
/// its watch, then a manual rollback within 24 hours of it while it was the deployment serving.
fn judge(changes: &mut [Change], rollbacks: &HashMap<String, Vec<DateTime<Utc>>>) {
    let mut manual: HashMap<usize, DateTime<Utc>> = HashMap::new();
    for (service, list) in rollbacks {
        for &at in list {
            // The deployment serving when the rollback ran: the latest one before it that had not
            // been put back already by itself or by its release.
            let serving = changes
                .iter()
                .enumerate()
                .filter(|(_, c)| &c.service == service && c.deployment && c.at < at)
                .filter(|(_, c)| {
                    !matches!(c.release, Some(ReleaseEffect::RolledBack(back)) if back <= at)
                })
                .max_by_key(|(_, c)| c.at);
            if let Some((i, c)) = serving {
                if (at - c.at).num_seconds() <= CHANGE_FAILURE_WINDOW_SECONDS {
                    manual.entry(i).or_insert(at);
                }
            }
        }
    }
    for (i, c) in changes.iter_mut().enumerate() {
        c.cause = c
            .own
            .or(c.release.map(Cause::Release))
            .or(c.failed_check.map(Cause::WatchCheck))
            .or(manual.get(&i).copied().map(Cause::Manual));
    }
}

/// When the failure of `c` started and when a record put a healthy version back (each `None`
/// when unknown), given the succeeded rollbacks and the changes of its service.
fn restore(
    c: &Change,
    cause: Cause,
    rollbacks: &[DateTime<Utc>],
    changes: &[Change],
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let healthy_after = |t: DateTime<Utc>| -> Option<DateTime<Utc>> {
        let rollback = rollbacks.iter().copied().find(|&r| r >= t);
        let fixed = changes
            .iter()
            .filter(|o| o.service == c.service && o.deployment && o.cause.is_none() && o.at > t)
            .map(|o| o.at)
            .min();
        match (rollback, fixed) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };
    let own_record = (!c.from_release).then_some(c.at);
    match cause {
        Cause::RolledItselfBack => (c.live_since, Some(c.at)),
        Cause::FailedAfterDeploy => (c.live_since.or(Some(c.at)), healthy_after(c.at)),
        Cause::Release(ReleaseEffect::RolledBack(back)) => (own_record, Some(back)),
        Cause::Release(ReleaseEffect::RollbackFailed(at)) => (own_record, healthy_after(at)),
        Cause::WatchCheck(first) => {
            let start = first.unwrap_or(c.at);
            (Some(start), healthy_after(start))
        }
        Cause::Manual(back) => (Some(c.at), Some(back)),
    }
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    u64::try_from((to - from).num_seconds()).unwrap_or(0)
}

fn two_decimals(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ------------------------------------------------------------------------------------------------
// The report
// ------------------------------------------------------------------------------------------------

/// The delivery metrics of `scope` over `period` from the environment's records (`target`) and,
/// for the lead time, the records of the environment promoted from (`source`: SIT's for PROD), or
/// why there are none.
pub fn report(
    target: RecordSet<'_>,
    source: Result<RecordSet<'_>, String>,
    period: &ReportPeriod,
    scope: &Scope,
) -> Report {
    let mut problems = Vec::new();
    let env = scope.environment.as_str();
    let records: Vec<Record> = read_all(target, &mut problems)
        .into_iter()
        .filter(|r| r.environment == env)
        .collect();
    let first_out_of_dev: Result<HashMap<(String, String), DateTime<Utc>>, String> =
        source.map(|set| {
            let mut first: HashMap<(String, String), DateTime<Utc>> = HashMap::new();
            for r in read_all(set, &mut problems) {
                if r.action != Action::Promote || r.outcome != Outcome::Succeeded {
                    continue;
                }
                for sha in r.packages {
                    let at = first.entry((r.service.clone(), sha)).or_insert(r.at);
                    *at = (*at).min(r.at);
                }
            }
            first
        });

    let mut changes = changes_of(&records);
    let rollbacks = rollbacks_of(&records);
    judge(&mut changes, &rollbacks);

    let services: Vec<String> = match &scope.services {
        Some(list) => {
            let mut seen = HashSet::new();
            list.iter()
                .filter(|s| seen.insert(s.as_str()))
                .cloned()
                .collect()
        }
        None => {
            let mut names: BTreeSet<String> = changes
                .iter()
                .filter(|c| period.contains(c.at))
                .map(|c| c.service.clone())
                .collect();
            for (service, list) in &rollbacks {
                if list.iter().any(|&at| period.contains(at)) {
                    names.insert(service.clone());
                }
            }
            names.into_iter().collect()
        }
    };
    let none: Vec<DateTime<Utc>> = Vec::new();
    let rows = services
        .into_iter()
        .map(|service| {
            let in_period: Vec<&Change> = changes
                .iter()
                .filter(|c| c.service == service && period.contains(c.at))
                .collect();
            let service_rollbacks = rollbacks.get(&service).unwrap_or(&none);
            let deployments: Vec<&&Change> = in_period.iter().filter(|c| c.deployment).collect();
            let count = deployments.len() as u64;
            let per_day = count as f64 / period.days();
            let frequency = Frequency {
                deployments: count,
                from_release_records: deployments.iter().filter(|c| c.from_release).count() as u64,
                per_day: two_decimals(per_day),
                per_week: two_decimals(per_day * 7.0),
            };

            let lead_time = match &first_out_of_dev {
                Ok(first) => {
                    let mut figures = Vec::new();
                    for d in &deployments {
                        let newest = d
                            .packages
                            .iter()
                            .filter_map(|sha| first.get(&(service.clone(), sha.clone())))
                            .filter(|&&at| at <= d.at)
                            .max();
                        if let Some(&left_dev) = newest {
                            figures.push(seconds_between(left_dev, d.at));
                        }
                    }
                    LeadTime {
                        known: true,
                        unknown_because: None,
                        measured: figures.len() as u64,
                        without_evidence: count - figures.len() as u64,
                        spread: Spread::of(&figures),
                    }
                }
                Err(why) => LeadTime {
                    known: false,
                    unknown_because: Some(why.clone()),
                    measured: 0,
                    without_evidence: count,
                    spread: None,
                },
            };

            let mut causes = FailureCauses::default();
            let (mut measured, mut unmeasured, mut open) = (0, 0, 0);
            let mut restore_figures = Vec::new();
            for c in &in_period {
                let Some(cause) = c.cause else { continue };
                match cause {
                    Cause::RolledItselfBack => causes.rolled_itself_back += 1,
                    Cause::FailedAfterDeploy => causes.failed_after_deploy += 1,
                    Cause::Release(_) => causes.release_rollback += 1,
                    Cause::WatchCheck(_) => causes.failed_watch_check += 1,
                    Cause::Manual(_) => causes.manual_rollback += 1,
                }
                match restore(c, cause, service_rollbacks, &changes) {
                    (_, None) => open += 1,
                    (None, Some(_)) => unmeasured += 1,
                    (Some(start), Some(end)) => {
                        measured += 1;
                        restore_figures.push(seconds_between(start, end));
                    }
                }
            }
            let changes_count = in_period.len() as u64;
            let failed = causes.total();
            let change_failure = ChangeFailure {
                changes: changes_count,
                failed,
                rate: (changes_count > 0)
                    .then(|| (failed as f64 / changes_count as f64 * 10_000.0).round() / 10_000.0),
                causes,
            };
            let time_to_restore = TimeToRestore {
                failures: failed,
                measured,
                unmeasured,
                open,
                spread: Spread::of(&restore_figures),
            };
            ServiceMetrics {
                rollbacks: service_rollbacks
                    .iter()
                    .filter(|&&at| period.contains(at))
                    .count() as u64,
                service,
                environment: env.to_owned(),
                frequency,
                lead_time,
                change_failure,
                time_to_restore,
            }
        })
        .collect();
    Report {
        environment: env.to_owned(),
        since: period.since.format("%Y-%m-%d").to_string(),
        until: period.until.format("%Y-%m-%d").to_string(),
        days: two_decimals(period.days()),
        definitions: DEFINITIONS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        services: rows,
        problems,
    }
}

/// A duration in its two largest units, cut: `0 s`, `45 s`, `1 min 1 s`, `2 h 5 min`, `3 d`,
/// `1 d 10 h`.
pub fn human_span(seconds: u64) -> String {
    let parts = [
        (seconds / 86_400, "d"),
        (seconds % 86_400 / 3_600, "h"),
        (seconds % 3_600 / 60, "min"),
        (seconds % 60, "s"),
    ];
    let Some(first) = parts.iter().position(|(n, _)| *n > 0) else {
        return "0 s".to_owned();
    };
    let mut out = format!("{} {}", parts[first].0, parts[first].1);
    if let Some((n, unit)) = parts.get(first + 1).filter(|(n, _)| *n > 0) {
        out.push_str(&format!(" {n} {unit}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    fn period(since: &str, until: &str) -> ReportPeriod {
        ReportPeriod::new(date(since), date(until)).expect("a period")
    }

    /// A promotion record as the record function writes it (the fields the metrics read).
    fn promote(id: &str, service: &str, at: &str, outcome: &str, shas: &[&str]) -> Value {
        json!({
            "deployment_id": format!("{id}:{outcome}"), "timestamp": at, "environment": "prod",
            "action": "promote", "service": service, "source_environment": "sit",
            "from_version": {"af-south-1/f": "1"},
            "to_version": if outcome == "failed" { json!({}) } else { json!({"af-south-1/f": "2"}) },
            "code_sha256": shas.iter().map(|s| json!({"function": "f-sit", "version": "3",
                "code_sha256": s, "target": "f-prod"})).collect::<Vec<_>>(),
            "execution_arn": format!("arn:aws:states:af-south-1:1:execution:bbws-promote-prod:{id}"),
            "outcome": outcome, "error": null, "rollback": null,
        })
    }

    fn sit(id: &str, service: &str, at: &str, outcome: &str, shas: &[&str]) -> Value {
        let mut r = promote(id, service, at, outcome, shas);
        r["environment"] = json!("sit");
        r["source_environment"] = json!("dev");
        r
    }

    fn rollback(id: &str, service: &str, at: &str, outcome: &str) -> Value {
        json!({"deployment_id": format!("{id}:{outcome}"), "timestamp": at, "environment": "prod",
               "action": "rollback", "service": service, "from_version": {"af-south-1/f": "2"},
               "to_version": {"af-south-1/f": "1"}, "outcome": outcome,
               "execution_arn": format!("arn:aws:states:af-south-1:1:execution:bbws-rollback-prod:{id}")})
    }

    fn check(name: &str, at: &str, verdict: &str) -> Value {
        json!({"name": name, "at": at, "verdict": verdict, "window_seconds": 3600, "figures": [],
               "alarms": [], "other_alarms": [], "findings": []})
    }

    fn arn(id: &str) -> String {
        format!("arn:aws:states:af-south-1:1:execution:bbws-promote-prod:{id}")
    }

    /// The seeded set: PROD records of alpha, beta and gamma in October 2026, with SIT's.
    fn seeded() -> (Vec<Value>, Vec<Value>) {
        let mut p2 = promote(
            "p2",
            "alpha",
            "2026-10-03T12:00:00Z",
            "succeeded",
            &["a2", "a1"],
        );
        p2["checks"] = json!([
            check("1-hour check", "2026-10-03T13:00:00Z", "passed"),
            check("4-hour check", "2026-10-03T16:00:00Z", "failed")
        ]);
        let mut p3 = promote(
            "p3",
            "alpha",
            "2026-10-06T09:00:00+00:00",
            "rolled_back",
            &["a9"],
        );
        p3["backup_alias"] = json!("backup-20261006-084500");
        p3["error"] = json!("Bbws.RolledBack");
        let mut p1 = promote("p1", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a1"]);
        p1["checks"] = json!([check("1-hour check", "2026-10-01T11:00:00Z", "passed")]);
        let prod = vec![
            promote("p0", "alpha", "2026-09-30T23:59:59Z", "succeeded", &["a0"]),
            p1,
            p2,
            rollback("r1", "alpha", "2026-10-03T18:05:00Z", "succeeded"),
            p3,
            promote("p4", "alpha", "2026-10-08T10:00:00Z", "succeeded", &["a3"]),
            // 25 h after p4: not its failure.
            rollback("r2", "alpha", "2026-10-09T11:00:00Z", "succeeded"),
            // A promotion rejected before its deploy: not a change.
            promote("p5", "alpha", "2026-10-10T10:00:00Z", "failed", &["a4"]),
            promote("p6", "alpha", "2026-10-12T10:00:00Z", "succeeded", &["zz"]),
            rollback("r3", "alpha", "2026-10-12T20:00:00Z", "succeeded"),
            // A rollback that was rejected rolls nothing back.
            rollback("r4", "alpha", "2026-10-13T20:00:00Z", "failed"),
            promote("p7", "alpha", "2026-10-15T00:00:00Z", "succeeded", &["a5"]),
            // beta's own record of release 1's phase; gamma's phase has none.
            {
                let mut b1 = promote("b1", "beta", "2026-10-04T09:30:00Z", "succeeded", &["b1"]);
                b1["execution_arn"] = json!(arn("rel1-p1"));
                b1
            },
            json!({"deployment_id": "rel1:succeeded", "timestamp": "2026-10-04T10:00:00Z",
                   "environment": "prod", "action": "release", "service": "release",
                   "services": ["beta", "gamma"], "outcome": "succeeded",
                   "phases": [
                       {"index": 1, "service": "beta", "execution_arn": arn("rel1-p1"), "outcome": "succeeded"},
                       {"index": 2, "service": "gamma", "execution_arn": arn("rel1-p2"), "outcome": "succeeded"}],
                   "rollback_completed_phases": false, "completed_rollback": null}),
            {
                let mut b2 = promote("b2", "beta", "2026-10-11T09:00:00Z", "succeeded", &["b2"]);
                b2["execution_arn"] = json!(arn("rel2-p1"));
                b2
            },
            json!({"deployment_id": "rel2:failed", "timestamp": "2026-10-11T10:00:00Z",
                   "environment": "prod", "action": "release", "service": "release",
                   "services": ["beta", "gamma"], "outcome": "failed",
                   "phases": [
                       {"index": 1, "service": "beta", "execution_arn": arn("rel2-p1"), "outcome": "succeeded"},
                       {"index": 2, "service": "gamma", "execution_arn": arn("rel2-p2"), "outcome": "rolled_back",
                        "error": "Bbws.RolledBack", "cause": "phase 2 (gamma) failed its health wait"}],
                   "rollback_completed_phases": true, "completed_rollback": {"phases": []}}),
            json!({"deployment_id": "nt:succeeded", "environment": "prod", "action": "promote",
                   "service": "alpha", "outcome": "succeeded"}),
        ];
        let sit = vec![
            sit("s1", "alpha", "2026-09-28T10:00:00Z", "succeeded", &["a1"]),
            sit("s2", "alpha", "2026-10-02T08:00:00Z", "succeeded", &["a2"]),
            sit("s3", "alpha", "2026-10-05T09:00:00Z", "succeeded", &["a2"]),
            sit(
                "s4",
                "alpha",
                "2026-10-06T00:00:00Z",
                "rolled_back",
                &["a3"],
            ),
            sit("s5", "alpha", "2026-10-07T00:00:00Z", "succeeded", &["a3"]),
            // The same package under another service is not alpha's.
            sit("s6", "beta", "2026-09-01T00:00:00Z", "succeeded", &["zz"]),
        ];
        (prod, sit)
    }

    fn scope(services: &[&str]) -> Scope {
        Scope {
            environment: Env::Prod,
            services: Some(services.iter().map(|s| (*s).to_owned()).collect()),
        }
    }

    fn run(prod: &[Value], sit: Option<&[Value]>, p: &ReportPeriod, services: &[&str]) -> Report {
        let source = sit
            .map(|records| RecordSet {
                name: "bbws-deployments-sit",
                records,
            })
            .ok_or_else(|| "no SIT records were given".to_owned());
        report(
            RecordSet {
                name: "bbws-deployments-prod",
                records: prod,
            },
            source,
            p,
            &scope(services),
        )
    }

    fn row<'a>(r: &'a Report, service: &str) -> &'a ServiceMetrics {
        r.services
            .iter()
            .find(|s| s.service == service)
            .expect("a row of the service")
    }

    /// (seconds of median, p90, max, count) of a spread.
    fn figures(s: &Option<Spread>) -> Option<(u64, u64, u64, u64)> {
        s.as_ref()
            .map(|s| (s.median.seconds, s.p90.seconds, s.max.seconds, s.count))
    }

    #[test]
    fn the_seeded_records_give_the_hand_computed_figures() {
        let (prod, sit) = seeded();
        let p = period("2026-10-01", "2026-10-15");
        let r = run(&prod, Some(&sit), &p, &["alpha", "beta", "gamma", "delta"]);
        assert_eq!(
            (r.since.as_str(), r.until.as_str(), r.days),
            ("2026-10-01", "2026-10-15", 14.0)
        );

        let alpha = row(&r, "alpha");
        // p1, p2, p4, p6 (p0 before, p7 at the end of the period, p3 rolled back, p5 rejected).
        assert_eq!(alpha.frequency.deployments, 4);
        assert_eq!(
            (alpha.frequency.per_week, alpha.frequency.per_day),
            (2.0, 0.29)
        );
        // p1: 3 d after s1; p2: 28 h after s2 (its newest package; a1 is older); p4: 34 h after s5
        // (s4 rolled back); p6's package is only beta's in SIT.
        assert_eq!(
            (
                alpha.lead_time.known,
                alpha.lead_time.measured,
                alpha.lead_time.without_evidence
            ),
            (true, 3, 1)
        );
        assert_eq!(
            figures(&alpha.lead_time.spread),
            Some((122_400, 259_200, 259_200, 3))
        );
        let spread = alpha.lead_time.spread.as_ref().expect("a spread");
        assert_eq!(
            (spread.median.human.as_str(), spread.max.human.as_str()),
            ("1 d 10 h", "3 d")
        );
        // Changes: p1, p2, p3, p4, p6; failed: p2 (its 4-hour check), p3 (rolled itself back), p6
        // (rolled back by hand 10 h later); p4's rollback came 25 h later.
        let cf = &alpha.change_failure;
        assert_eq!((cf.changes, cf.failed, cf.rate), (5, 3, Some(0.6)));
        assert_eq!(
            cf.causes,
            FailureCauses {
                rolled_itself_back: 1,
                failed_after_deploy: 0,
                release_rollback: 0,
                failed_watch_check: 1,
                manual_rollback: 1,
            }
        );
        // p2: 16:00 check to r1 at 18:05; p3: backup 08:45 to its record 09:00; p6: 10 h to r3.
        let ttr = &alpha.time_to_restore;
        assert_eq!(
            (ttr.failures, ttr.measured, ttr.unmeasured, ttr.open),
            (3, 3, 0, 0)
        );
        assert_eq!(figures(&ttr.spread), Some((7_500, 36_000, 36_000, 3)));
        assert_eq!(
            ttr.spread.as_ref().map(|s| s.median.human.as_str()),
            Some("2 h 5 min")
        );
        assert_eq!(alpha.rollbacks, 3);

        // beta: b1 (release 1's phase, its own record) and b2, which release 2 rolled back with its
        // completed phases an hour later; counted once each, not again from the release records.
        let beta = row(&r, "beta");
        assert_eq!(
            (
                beta.frequency.deployments,
                beta.frequency.from_release_records
            ),
            (2, 0)
        );
        assert_eq!(
            (beta.change_failure.changes, beta.change_failure.failed),
            (2, 1)
        );
        assert_eq!(beta.change_failure.causes.release_rollback, 1);
        assert_eq!(
            figures(&beta.time_to_restore.spread),
            Some((3_600, 3_600, 3_600, 1))
        );
        assert_eq!(
            (beta.lead_time.measured, beta.lead_time.without_evidence),
            (0, 2)
        );

        // gamma: known only from the release records: two deployments, one rolled back by its
        // release, restored at the release record but with no start to measure from.
        let gamma = row(&r, "gamma");
        assert_eq!(
            (
                gamma.frequency.deployments,
                gamma.frequency.from_release_records
            ),
            (2, 2)
        );
        assert_eq!(gamma.change_failure.rate, Some(0.5));
        let ttr = &gamma.time_to_restore;
        assert_eq!(
            (
                ttr.failures,
                ttr.measured,
                ttr.unmeasured,
                ttr.open,
                ttr.spread.is_none()
            ),
            (1, 0, 1, 0, true)
        );

        // delta: asked for, no record.
        let delta = row(&r, "delta");
        assert_eq!(delta.frequency.deployments, 0);
        assert_eq!(delta.change_failure.rate, None);
        assert!(delta.lead_time.spread.is_none() && delta.time_to_restore.spread.is_none());
        assert_eq!(
            r.services
                .iter()
                .map(|s| s.service.as_str())
                .collect::<Vec<_>>(),
            ["alpha", "beta", "gamma", "delta"]
        );

        // The record without a timestamp is a problem, not a figure.
        assert_eq!(
            r.problems,
            vec![Problem {
                records: "bbws-deployments-prod".into(),
                deployment_id: Some("nt:succeeded".into()),
                problem: "no timestamp: it cannot be placed in time".into(),
            }]
        );
    }

    #[test]
    fn without_the_source_records_the_lead_time_is_unknown_and_says_why() {
        let (prod, _) = seeded();
        let r = run(&prod, None, &period("2026-10-01", "2026-10-15"), &["alpha"]);
        let lead = &row(&r, "alpha").lead_time;
        assert_eq!(
            (
                lead.known,
                lead.unknown_because.as_deref(),
                lead.measured,
                lead.without_evidence
            ),
            (false, Some("no SIT records were given"), 0, 4)
        );
        assert!(lead.spread.is_none());
        // Everything else is as with them.
        assert_eq!(row(&r, "alpha").change_failure.failed, 3);
    }

    #[test]
    fn a_period_without_deployments_gives_zeros_and_no_rates() {
        let (prod, sit) = seeded();
        let r = run(
            &prod,
            Some(&sit),
            &period("2027-01-01", "2027-01-08"),
            &["alpha"],
        );
        let alpha = row(&r, "alpha");
        assert_eq!(
            (
                alpha.frequency.deployments,
                alpha.frequency.per_week,
                alpha.change_failure.changes,
                alpha.change_failure.rate,
                alpha.time_to_restore.failures,
                alpha.rollbacks
            ),
            (0, 0.0, 0, None, 0, 0)
        );
        // Without a service list, only services with something in the period get a row.
        let all = report(
            RecordSet {
                name: "t",
                records: &prod,
            },
            Err("not given".into()),
            &period("2027-01-01", "2027-01-08"),
            &Scope {
                environment: Env::Prod,
                services: None,
            },
        );
        assert!(all.services.is_empty());
        let october = report(
            RecordSet {
                name: "t",
                records: &prod,
            },
            Err("not given".into()),
            &period("2026-10-01", "2026-10-15"),
            &Scope {
                environment: Env::Prod,
                services: None,
            },
        );
        assert_eq!(
            october
                .services
                .iter()
                .map(|s| s.service.as_str())
                .collect::<Vec<_>>(),
            ["alpha", "beta", "gamma"]
        );
    }

    #[test]
    fn records_that_do_not_read_are_problems_named_by_their_id() {
        let cases: [(Value, Option<&str>, &str); 8] = [
            (json!("text"), None, "not a record (a JSON string)"),
            (
                json!({"timestamp": "2026-10-01T00:00:00Z"}),
                None,
                "no deployment_id",
            ),
            (
                json!({"deployment_id": "a", "timestamp": "yesterday"}),
                Some("a"),
                "timestamp 'yesterday' is not an RFC 3339 time",
            ),
            (
                json!({"deployment_id": "b", "timestamp": 1_700_000_000}),
                Some("b"),
                "timestamp is a number, not an RFC 3339 text",
            ),
            (
                json!({"deployment_id": "c", "timestamp": "2026-10-01T00:00:00Z", "action": "deploy"}),
                Some("c"),
                "action 'deploy' is not promote, rollback or release",
            ),
            (
                json!({"deployment_id": "d", "timestamp": "2026-10-01T00:00:00Z", "action": "promote"}),
                Some("d"),
                "outcome (missing) is not succeeded, failed or rolled_back",
            ),
            (
                json!({"deployment_id": "e", "timestamp": "2026-10-01T00:00:00Z", "action": "promote",
                    "outcome": "succeeded", "environment": "prod"}),
                Some("e"),
                "no service",
            ),
            (
                json!({"deployment_id": "f", "timestamp": "2026-10-01T00:00:00Z", "action": "promote",
                    "outcome": "succeeded", "service": "alpha"}),
                Some("f"),
                "no environment",
            ),
        ];
        for (record, id, problem) in cases {
            let r = run(
                &[record],
                None,
                &period("2026-10-01", "2026-10-02"),
                &["alpha"],
            );
            assert_eq!(
                r.problems,
                vec![Problem {
                    records: "bbws-deployments-prod".into(),
                    deployment_id: id.map(str::to_owned),
                    problem: problem.to_owned(),
                }],
                "{problem}"
            );
            assert_eq!(row(&r, "alpha").frequency.deployments, 0);
        }
    }

    #[test]
    fn tenant_records_are_not_service_deployments_and_no_problem() {
        let tenant = json!({"deployment_id": "t:succeeded", "timestamp": "2026-10-01T10:00:00Z",
            "action": "tenant", "outcome": "succeeded", "service": "tenant:tenant-001",
            "environment": "prod", "commit": "1111111111111111111111111111111111111111"});
        let r = run(
            &[tenant],
            None,
            &period("2026-10-01", "2026-10-02"),
            &["alpha"],
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(row(&r, "alpha").frequency.deployments, 0);
    }

    #[test]
    fn a_failed_check_without_a_time_still_fails_the_change_and_is_reported() {
        let mut p = promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]);
        p["checks"] = json!([{"name": "12-hour check", "verdict": "failed", "at": "soon"}]);
        let prod = vec![
            p,
            rollback("r", "alpha", "2026-10-01T12:30:00Z", "succeeded"),
        ];
        let r = run(&prod, None, &period("2026-10-01", "2026-10-02"), &["alpha"]);
        let alpha = row(&r, "alpha");
        assert_eq!(alpha.change_failure.causes.failed_watch_check, 1);
        // Counted from the record's time: 2 h 30 min.
        assert_eq!(
            figures(&alpha.time_to_restore.spread),
            Some((9_000, 9_000, 9_000, 1))
        );
        assert_eq!(r.problems.len(), 1);
        assert!(r.problems[0]
            .problem
            .starts_with("its failed 12-hour check has no readable time"));
    }

    #[test]
    fn restores_and_failures_follow_the_records_that_came_after() {
        // (what, records, expected (changes, failed, measured, unmeasured, open, the measured
        // restore's seconds))
        type Case = (
            &'static str,
            Vec<Value>,
            (u64, u64, u64, u64, u64, Option<u64>),
        );
        let failed_after_deploy = {
            let mut p = promote("p", "alpha", "2026-10-01T10:00:00Z", "failed", &["a"]);
            p["to_version"] = json!({"af-south-1/f": "2"});
            p["backup_alias"] = json!("backup-20261001-095000");
            p
        };
        let watched_then_fixed = {
            let mut p = promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]);
            p["checks"] = json!([check("1-hour check", "2026-10-01T11:00:00Z", "failed")]);
            p
        };
        let cases: Vec<Case> = vec![
            (
                "a promotion that failed after its deploy, fixed forward 3 h later",
                vec![
                    failed_after_deploy.clone(),
                    promote("q", "alpha", "2026-10-01T13:00:00Z", "succeeded", &["b"]),
                ],
                (2, 1, 1, 0, 0, Some(11_400)),
            ),
            (
                "a promotion that failed after its deploy, nothing since",
                vec![failed_after_deploy],
                (1, 1, 0, 0, 1, None),
            ),
            (
                "a failed check, then a deployment that also failed, then a rollback",
                vec![
                    watched_then_fixed.clone(),
                    promote("q", "alpha", "2026-10-01T12:00:00Z", "rolled_back", &["b"]),
                    rollback("r", "alpha", "2026-10-01T14:00:00Z", "succeeded"),
                ],
                // p: 11:00 to 14:00; q has no backup alias: restored, unmeasured.
                (2, 2, 1, 1, 0, Some(10_800)),
            ),
            (
                "a rollback exactly 24 h later counts",
                vec![
                    promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]),
                    rollback("r", "alpha", "2026-10-02T10:00:00Z", "succeeded"),
                ],
                (1, 1, 1, 0, 0, Some(86_400)),
            ),
            (
                "a rollback 24 h and 1 s later does not",
                vec![
                    promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]),
                    rollback("r", "alpha", "2026-10-02T10:00:01Z", "succeeded"),
                ],
                (1, 0, 0, 0, 0, None),
            ),
            (
                "a rollback counts against the deployment serving, not the one before it",
                vec![
                    promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]),
                    promote("q", "alpha", "2026-10-01T11:00:00Z", "succeeded", &["b"]),
                    rollback("r", "alpha", "2026-10-01T12:00:00Z", "succeeded"),
                ],
                (2, 1, 1, 0, 0, Some(3_600)),
            ),
            (
                "a promotion that rolled itself back leaves the one before it serving",
                vec![
                    promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]),
                    promote("q", "alpha", "2026-10-01T11:00:00Z", "rolled_back", &["b"]),
                    rollback("r", "alpha", "2026-10-01T12:00:00Z", "succeeded"),
                ],
                // q has no backup alias: restored, unmeasured; p: 2 h.
                (2, 2, 1, 1, 0, Some(7_200)),
            ),
            (
                "another service's rollback is not this one's",
                vec![
                    promote("p", "alpha", "2026-10-01T10:00:00Z", "succeeded", &["a"]),
                    rollback("r", "beta", "2026-10-01T12:00:00Z", "succeeded"),
                ],
                (1, 0, 0, 0, 0, None),
            ),
            (
                "a failed check never followed by a healthy record stays open",
                vec![watched_then_fixed],
                (1, 1, 0, 0, 1, None),
            ),
        ];
        for (what, prod, (changes, failed, measured, unmeasured, open, restore)) in cases {
            let r = run(&prod, None, &period("2026-10-01", "2026-10-02"), &["alpha"]);
            let a = row(&r, "alpha");
            let ttr = &a.time_to_restore;
            assert_eq!(
                (
                    a.change_failure.changes,
                    a.change_failure.failed,
                    ttr.measured,
                    ttr.unmeasured,
                    ttr.open
                ),
                (changes, failed, measured, unmeasured, open),
                "{what}"
            );
            assert_eq!(
                figures(&ttr.spread),
                restore.map(|s| (s, s, s, 1)),
                "{what}"
            );
            assert!(r.problems.is_empty(), "{what}: {:?}", r.problems);
        }
    }

    #[test]
    fn records_of_another_environment_are_left_out() {
        let (_, sit) = seeded();
        let r = run(&sit, None, &period("2026-09-01", "2026-11-01"), &["alpha"]);
        assert_eq!(row(&r, "alpha").frequency.deployments, 0);
        assert!(r.problems.is_empty());
    }

    #[test]
    fn percentiles_are_nearest_ranks_and_durations_read_as_people_say_them() {
        for (figures, median, p90) in [
            (vec![5], 5, 5),
            (vec![1, 2], 1, 2),
            (vec![3, 1, 2], 2, 3),
            ((1..=10).collect::<Vec<u64>>(), 5, 9),
            ((1..=11).collect::<Vec<u64>>(), 6, 10),
        ] {
            let s = Spread::of(&figures).expect("figures");
            assert_eq!(
                (s.median.seconds, s.p90.seconds),
                (median, p90),
                "{figures:?}"
            );
        }
        assert_eq!(Spread::of(&[]), None);
        for (seconds, words) in [
            (0, "0 s"),
            (45, "45 s"),
            (60, "1 min"),
            (61, "1 min 1 s"),
            (3_600, "1 h"),
            (7_500, "2 h 5 min"),
            (7_505, "2 h 5 min"),
            (7_205, "2 h"),
            (86_400, "1 d"),
            (122_400, "1 d 10 h"),
            (90_061, "1 d 1 h"),
        ] {
            assert_eq!(human_span(seconds), words, "{seconds}");
        }
    }

    #[test]
    fn a_period_must_end_after_it_starts() {
        assert_eq!(
            ReportPeriod::new(date("2026-10-02"), date("2026-10-02")),
            Err(
                "the period's end (2026-10-02) must be later than its start (2026-10-02): a \
                 period is [since, until)"
                    .into()
            )
        );
        let p = period("2026-10-01", "2026-10-02");
        assert!(p.contains(p.since) && !p.contains(p.until));
    }
}
