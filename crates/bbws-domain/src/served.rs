//! How long the version being promoted to PROD has served in SIT (RB-003 §7.1 and §7.2: "SIT stable
//! for 24 hours"), judged from SIT's deployment records (`bbws-deployments-sit`).
//!
//! What "served" means: a version serves in SIT from the newest deployment record whose outcome left
//! it serving — a promotion or a manual rollback that `succeeded` and whose `to_version` names that
//! version of the function in SIT's region, or a promotion whose `code_sha256` names that package for
//! the function — until the first later record that left another package serving (or until now). A
//! promotion that was rolled back or failed left the version before it serving, so it neither starts
//! nor ends a period. Only the newest period counts: a version rolled back to starts again.
//!
//! No record at all (a version deployed into SIT by hand, or before the pipeline kept records) is
//! refused, with what to do. A deployed configuration of 0 seconds turns the rule off; an emergency
//! turns a refusal into a skip that says so, with the figures.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::metrics::human_duration;

/// The preflight check's name after the function's: `<function> stable in SIT`.
pub const CHECK_SUFFIX: &str = "stable in SIT";
/// How the detail of a check skipped by an emergency starts.
pub const SKIPPED_PREFIX: &str = "skipped: emergency declared";
/// How the detail of a check the configuration does not require starts.
pub const NOT_REQUIRED_PREFIX: &str = "not required";
/// The configuration field that holds the duration, named in the sentences.
pub const CONFIG_FIELD: &str = "sit_stable_seconds";

/// RB-003 §7.2's words for the rule, as the approval page and the evidence name it.
pub const RUNBOOK_ITEM: &str = "SIT stable for 24 hours";

/// Whether a preflight check (its name and detail) is this rule, skipped by an emergency.
pub fn skipped_by_emergency(check: &str, detail: &str) -> bool {
    check.ends_with(&format!(" {CHECK_SUFFIX}")) && detail.starts_with(SKIPPED_PREFIX)
}

/// The function version being promoted, as the preflight resolved it in SIT.
#[derive(Debug, Clone, Copy)]
pub struct Promoted<'a> {
    /// The function's name in SIT.
    pub function: &'a str,
    /// SIT's region, as the records key `to_version` (`<region>/<function>`).
    pub region: &'a str,
    /// The published version being promoted.
    pub version: &'a str,
    /// Its package's CodeSha256.
    pub code_sha256: &'a str,
}

/// One period during which the version served in SIT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// When the record that put it live was written.
    pub since: DateTime<Utc>,
    /// That record: `<action> <deployment_id>`.
    pub started_by: String,
    /// When a later record left another package serving, and that record; `None`: it serves now.
    pub until: Option<(DateTime<Utc>, String)>,
}

impl Period {
    /// How long it served, up to `now` when it still serves (never negative).
    pub fn seconds(&self, now: DateTime<Utc>) -> u64 {
        let end = self.until.as_ref().map_or(now, |(at, _)| *at);
        u64::try_from((end - self.since).num_seconds()).unwrap_or(0)
    }
}

/// A record that left something serving: its time, its name, and whether what it left serving is
/// `promoted`; `None` for a record that changed nothing (not succeeded, another action, no time,
/// or no version for this function).
fn effect(record: &Value, promoted: &Promoted<'_>) -> Option<(DateTime<Utc>, String, bool)> {
    let action = record["action"].as_str()?;
    if !matches!(action, "promote" | "rollback") || record["outcome"].as_str()? != "succeeded" {
        return None;
    }
    let at = DateTime::parse_from_rfc3339(record["timestamp"].as_str()?)
        .ok()?
        .with_timezone(&Utc);
    let key = format!("{}/{}", promoted.region, promoted.function);
    let version = record["to_version"][key.as_str()].as_str()?;
    let same_package = record["code_sha256"].as_array().is_some_and(|list| {
        list.iter().any(|p| {
            p["target"].as_str() == Some(promoted.function)
                && p["code_sha256"].as_str() == Some(promoted.code_sha256)
        })
    });
    let name = format!(
        "{action} {}",
        record["deployment_id"]
            .as_str()
            .unwrap_or("(no deployment_id)")
    );
    Some((at, name, version == promoted.version || same_package))
}

/// The newest period during which `promoted` served, from the environment's deployment records (in
/// any order); `None` when no record ever left it serving.
pub fn served_period(records: &[Value], promoted: &Promoted<'_>) -> Option<Period> {
    let mut effects: Vec<(DateTime<Utc>, String, bool)> =
        records.iter().filter_map(|r| effect(r, promoted)).collect();
    effects.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let start = effects.iter().rposition(|(_, _, serves)| *serves)?;
    let (since, started_by, _) = effects[start].clone();
    let until = effects[start + 1..]
        .iter()
        .find(|(_, _, serves)| !serves)
        .map(|(at, name, _)| (*at, name.clone()));
    Some(Period {
        since,
        started_by,
        until,
    })
}

/// The rule's answer for one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Whether the promotion may go on (also when an emergency skipped the rule).
    pub passed: bool,
    /// Whether an emergency skipped a rule that would have refused.
    pub skipped: bool,
    /// The figures, and what to do when refused.
    pub sentence: String,
}

/// `3 d 4 h`, `25 h 3 min`, `3 min 12 s`, `40 s`: an elapsed time in words.
pub fn elapsed_words(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3_600, seconds % 3_600 / 60, seconds % 60);
    match (h, m) {
        _ if seconds >= 2 * 86_400 => format!("{} d {} h", seconds / 86_400, h % 24),
        (0, 0) => format!("{s} s"),
        (0, _) if s == 0 => format!("{m} min"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    }
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// Judges how long `promoted` has served in SIT against `required_seconds` (the configuration's
/// [`CONFIG_FIELD`]; 0: not required, and `period` is not looked at). `incident` is the emergency's,
/// when one was declared: a refusal becomes a skip that keeps its figures.
pub fn check_served(
    promoted: &Promoted<'_>,
    period: Option<&Period>,
    required_seconds: u64,
    now: DateTime<Utc>,
    incident: Option<&str>,
) -> Served {
    let required = human_duration(required_seconds);
    if required_seconds == 0 {
        return Served {
            passed: true,
            skipped: false,
            sentence: format!(
                "{NOT_REQUIRED_PREFIX}: the deployed configuration's {CONFIG_FIELD} is 0 \
                 (RB-003: 86400, 24 h)"
            ),
        };
    }
    let what = format!(
        "version {} (CodeSha256 {})",
        promoted.version, promoted.code_sha256
    );
    let (figure, refusal) = match period {
        None => (
            format!(
                "no succeeded promotion or rollback in SIT's deployment records put {what} live"
            ),
            format!(
                "a version reaches SIT through bbws-promote-sit (or bbws-rollback-sit), which \
                 records it, and goes to PROD after serving there for {required}; promote it into \
                 SIT first"
            ),
        ),
        Some(p) => {
            let served = p.seconds(now);
            let figure = match &p.until {
                None => format!(
                    "{what} has served in SIT since {} ({}), for {}",
                    utc(p.since),
                    p.started_by,
                    elapsed_words(served)
                ),
                Some((at, by)) => format!(
                    "{what} served in SIT from {} ({}) until {} ({}), for {}",
                    utc(p.since),
                    p.started_by,
                    utc(*at),
                    by,
                    elapsed_words(served)
                ),
            };
            if served >= required_seconds {
                return Served {
                    passed: true,
                    skipped: false,
                    sentence: format!("{figure} (required: {required})"),
                };
            }
            let ready = i64::try_from(required_seconds)
                .ok()
                .and_then(chrono::Duration::try_seconds)
                .and_then(|d| p.since.checked_add_signed(d));
            let advice = if let (None, Some(ready)) = (&p.until, ready) {
                format!(
                    "start the promotion again after {} (or declare an emergency)",
                    utc(ready)
                )
            } else if p.until.is_none() {
                format!("start the promotion again once it has served {required} (or declare an emergency)")
            } else {
                "it no longer serves in SIT; promote what serves there once it has served long \
                 enough (or declare an emergency)"
                    .to_owned()
            };
            (figure, advice)
        }
    };
    match incident {
        Some(incident) => Served {
            passed: true,
            skipped: true,
            sentence: format!(
                "{SKIPPED_PREFIX} (incident {incident}): {required} in SIT is not required; \
                 {figure}"
            ),
        },
        None => Served {
            passed: false,
            skipped: false,
            sentence: format!(
                "{figure}; required: {required} in SIT before PROD ({CONFIG_FIELD} \
                 {required_seconds}): {refusal}"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    const FN: &str = "bbws-tenant-instance-management-sit";
    const REGION: &str = "af-south-1";

    fn promoted() -> Promoted<'static> {
        Promoted {
            function: FN,
            region: REGION,
            version: "12",
            code_sha256: "sha-12",
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, m, 0)
            .single()
            .expect("valid time")
    }

    fn record(id: &str, action: &str, outcome: &str, when: DateTime<Utc>, version: &str) -> Value {
        json!({"deployment_id": id, "action": action, "outcome": outcome,
               "timestamp": when.to_rfc3339(), "to_version": {format!("{REGION}/{FN}"): version}})
    }

    #[test]
    fn a_version_serves_from_the_newest_record_that_put_it_live() {
        let records = [
            record("p1:succeeded", "promote", "succeeded", at(1, 0), "12"),
            record("p2:succeeded", "promote", "succeeded", at(2, 0), "13"),
            record("r1:succeeded", "rollback", "succeeded", at(3, 0), "12"),
            // Rolled back and failed promotions changed nothing that stayed.
            record("p3:rolled_back", "promote", "rolled_back", at(4, 0), "14"),
            record("p4:failed", "promote", "failed", at(5, 0), "14"),
        ];
        let p = served_period(&records, &promoted()).expect("a period");
        assert_eq!(p.since, at(3, 0));
        assert_eq!(p.started_by, "rollback r1:succeeded");
        assert_eq!(p.until, None);
        assert_eq!(p.seconds(at(4, 30)), 5_400);
    }

    #[test]
    fn a_later_record_of_another_version_ends_the_period() {
        let records = [
            record("p2:succeeded", "promote", "succeeded", at(2, 0), "13"),
            record("p1:succeeded", "promote", "succeeded", at(1, 0), "12"),
        ];
        let p = served_period(&records, &promoted()).expect("a period");
        assert_eq!(p.since, at(1, 0));
        assert_eq!(p.until, Some((at(2, 0), "promote p2:succeeded".to_owned())));
        assert_eq!(p.seconds(at(9, 0)), 3_600);
    }

    #[test]
    fn the_same_package_under_another_version_number_still_serves() {
        let mut r = record("p1:succeeded", "promote", "succeeded", at(1, 0), "11");
        r["code_sha256"] = json!([{"function": "bbws-tenant-instance-management-dev",
                                   "version": "40", "code_sha256": "sha-12", "target": FN}]);
        let p = served_period(&[r], &promoted()).expect("a period");
        assert_eq!(p.since, at(1, 0));
        // Another function's package of the same hash is not this one's.
        let mut other = record("p1:succeeded", "promote", "succeeded", at(1, 0), "11");
        other["code_sha256"] =
            json!([{"function": "x-dev", "version": "4", "code_sha256": "sha-12", "target": "x"}]);
        assert_eq!(served_period(&[other], &promoted()), None);
    }

    #[test]
    fn records_without_a_record_of_the_version_or_unreadable_ones_give_no_period() {
        let records = [
            record("p1:succeeded", "promote", "succeeded", at(1, 0), "11"),
            json!({"action": "promote", "outcome": "succeeded", "timestamp": "yesterday",
                   "to_version": {format!("{REGION}/{FN}"): "12"}}),
            json!({"action": "release", "outcome": "succeeded", "timestamp": at(2, 0).to_rfc3339(),
                   "to_version": {format!("{REGION}/{FN}"): "12"}}),
            json!("not a record"),
        ];
        assert_eq!(served_period(&records, &promoted()), None);
        assert_eq!(served_period(&[], &promoted()), None);
    }

    fn period(since: DateTime<Utc>) -> Period {
        Period {
            since,
            started_by: "promote p1:succeeded".into(),
            until: None,
        }
    }

    #[test]
    fn a_version_that_served_long_enough_passes_with_its_figures() {
        let s = check_served(
            &promoted(),
            Some(&period(at(1, 0))),
            86_400,
            at(1, 0) + chrono::Duration::seconds(90_180),
            None,
        );
        assert!(s.passed && !s.skipped);
        assert_eq!(
            s.sentence,
            "version 12 (CodeSha256 sha-12) has served in SIT since 2026-12-03 01:00:00 UTC \
             (promote p1:succeeded), for 25 h 3 min (required: 24 h)"
        );
    }

    #[test]
    fn a_version_that_served_too_briefly_is_refused_with_the_time_it_may_go() {
        let s = check_served(&promoted(), Some(&period(at(1, 0))), 3_600, at(1, 3), None);
        assert!(!s.passed && !s.skipped);
        assert_eq!(
            s.sentence,
            "version 12 (CodeSha256 sha-12) has served in SIT since 2026-12-03 01:00:00 UTC \
             (promote p1:succeeded), for 3 min; required: 1 h in SIT before PROD \
             (sit_stable_seconds 3600): start the promotion again after 2026-12-03 02:00:00 UTC \
             (or declare an emergency)"
        );
        // One second short is short.
        let s = check_served(
            &promoted(),
            Some(&period(at(1, 0))),
            3_600,
            at(1, 59) + chrono::Duration::seconds(59),
            None,
        );
        assert!(!s.passed);
        assert!(check_served(&promoted(), Some(&period(at(1, 0))), 3_600, at(2, 0), None).passed);
    }

    #[test]
    fn no_record_is_refused_and_says_what_to_do() {
        let s = check_served(&promoted(), None, 86_400, at(1, 0), None);
        assert!(!s.passed);
        assert_eq!(
            s.sentence,
            "no succeeded promotion or rollback in SIT's deployment records put version 12 \
             (CodeSha256 sha-12) live; required: 24 h in SIT before PROD (sit_stable_seconds \
             86400): a version reaches SIT through bbws-promote-sit (or bbws-rollback-sit), which \
             records it, and goes to PROD after serving there for 24 h; promote it into SIT first"
        );
    }

    #[test]
    fn a_period_that_ended_too_briefly_is_refused() {
        let ended = Period {
            until: Some((at(1, 30), "promote p2:succeeded".into())),
            ..period(at(1, 0))
        };
        let s = check_served(&promoted(), Some(&ended), 3_600, at(9, 0), None);
        assert!(!s.passed);
        assert!(s.sentence.starts_with(
            "version 12 (CodeSha256 sha-12) served in SIT from 2026-12-03 01:00:00 UTC \
             (promote p1:succeeded) until 2026-12-03 01:30:00 UTC (promote p2:succeeded), for 30 min;"
        ));
        assert!(s.sentence.contains("it no longer serves in SIT"));
    }

    #[test]
    fn an_emergency_skips_a_refusal_and_keeps_the_figures() {
        let s = check_served(
            &promoted(),
            Some(&period(at(1, 0))),
            86_400,
            at(1, 3),
            Some("INC-7"),
        );
        assert!(s.passed && s.skipped);
        assert_eq!(
            s.sentence,
            "skipped: emergency declared (incident INC-7): 24 h in SIT is not required; version 12 \
             (CodeSha256 sha-12) has served in SIT since 2026-12-03 01:00:00 UTC (promote \
             p1:succeeded), for 3 min"
        );
        let none = check_served(&promoted(), None, 86_400, at(1, 3), Some("INC-7"));
        assert!(none.passed && none.skipped);
        assert!(none
            .sentence
            .ends_with("put version 12 (CodeSha256 sha-12) live"));
        // An emergency whose version served long enough is not a skip.
        let long = check_served(
            &promoted(),
            Some(&period(at(1, 0))),
            60,
            at(1, 3),
            Some("INC-7"),
        );
        assert!(long.passed && !long.skipped);
    }

    #[test]
    fn a_skipped_check_is_told_by_its_name_and_detail() {
        let skipped = check_served(&promoted(), None, 86_400, at(1, 0), Some("INC-7"));
        let check = format!("{FN} {CHECK_SUFFIX}");
        assert!(skipped_by_emergency(&check, &skipped.sentence));
        let refused = check_served(&promoted(), None, 86_400, at(1, 0), None);
        assert!(!skipped_by_emergency(&check, &refused.sentence));
        assert!(!skipped_by_emergency(
            &format!("{FN} quality gates"),
            &skipped.sentence
        ));
    }

    #[test]
    fn zero_turns_the_rule_off() {
        let s = check_served(&promoted(), None, 0, at(1, 0), None);
        assert!(s.passed && !s.skipped);
        assert_eq!(
            s.sentence,
            "not required: the deployed configuration's sit_stable_seconds is 0 (RB-003: 86400, 24 h)"
        );
    }

    #[test]
    fn elapsed_times_read_as_words() {
        assert_eq!(elapsed_words(0), "0 s");
        assert_eq!(elapsed_words(40), "40 s");
        assert_eq!(elapsed_words(180), "3 min");
        assert_eq!(elapsed_words(192), "3 min 12 s");
        assert_eq!(elapsed_words(90_180 - 86_400), "1 h 3 min");
        assert_eq!(elapsed_words(90_180), "25 h 3 min");
        assert_eq!(elapsed_words(3 * 86_400 + 7_300), "3 d 2 h");
    }
}
