//! Property tests of the delivery metrics (bbws_domain::delivery) over generated deployment
//! records: whatever the records, no panic, every rate within 0..=1, and the counts add up (failed
//! changes by cause, restores measured, unmeasured and open, deployments with and without
//! lead-time evidence). `PROPTEST_CASES` runs more cases.

mod common;
use common::cases;

use bbws_domain::delivery::{report, RecordSet, ReportPeriod, Scope};
use bbws_domain::Env;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

const SERVICES: [&str; 3] = ["alpha", "beta", "gamma"];

/// A time in the ten days from 2026-10-01, to the second.
fn time() -> impl Strategy<Value = String> {
    (0i64..10 * 86_400).prop_map(|s| {
        (Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + Duration::seconds(s)).to_rfc3339()
    })
}

fn backup() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (0i64..10 * 86_400).prop_map(|s| {
            let at = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap() + Duration::seconds(s);
            json!(at.format("backup-%Y%m%d-%H%M%S").to_string())
        }),
        Just(json!("backup-garbage")),
    ]
}

fn check() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["passed", "failed", "superseded"]),
        prop_oneof![time(), Just("soon".to_owned())],
    )
        .prop_map(|(verdict, at)| json!({"name": "1-hour check", "at": at, "verdict": verdict}))
}

/// A record as the record function writes one (promotion, rollback, release), now and then with a
/// field missing or wrong.
fn record() -> impl Strategy<Value = Value> {
    let promote_or_rollback = (
        "[a-z0-9]{1,6}",
        prop::sample::select(SERVICES.to_vec()),
        time(),
        prop::sample::select(vec!["promote", "rollback"]),
        prop::sample::select(vec!["succeeded", "failed", "rolled_back"]),
        prop::collection::vec(prop::sample::select(vec!["s1", "s2", "s3", "s4"]), 0..3),
        any::<bool>(),
        backup(),
        prop::collection::vec(check(), 0..3),
        prop::option::of("[a-z]{1,3}"),
    )
        .prop_map(
            |(id, service, at, action, outcome, shas, deployed, backup, checks, arn)| {
                json!({
                    "deployment_id": format!("{id}:{outcome}"), "timestamp": at,
                    "environment": "prod", "action": action, "service": service,
                    "to_version": if deployed { json!({"af-south-1/f": "2"}) } else { json!({}) },
                    "code_sha256": shas.iter().map(|s| json!({"code_sha256": s})).collect::<Vec<_>>(),
                    "backup_alias": backup, "checks": checks, "outcome": outcome,
                    "execution_arn": arn,
                })
            },
        );
    let phase = (
        prop::sample::select(SERVICES.to_vec()),
        prop::option::of("[a-z]{1,3}"),
        prop::sample::select(vec![
            "succeeded",
            "rolled_back",
            "rollback_failed",
            "failed",
        ]),
    )
        .prop_map(|(service, arn, outcome)| {
            json!({"service": service, "execution_arn": arn, "outcome": outcome})
        });
    let release = (
        "[a-z0-9]{1,6}",
        time(),
        prop::collection::vec(phase, 0..4),
        any::<bool>(),
    )
        .prop_map(|(id, at, phases, back)| {
            json!({"deployment_id": format!("rel-{id}"), "timestamp": at, "environment": "prod",
                   "action": "release", "service": "release", "outcome": "succeeded",
                   "phases": phases, "rollback_completed_phases": back,
                   "completed_rollback": if back { json!({"phases": []}) } else { Value::Null }})
        });
    let broken = prop_oneof![
        Just(json!("text")),
        Just(json!({"deployment_id": "x"})),
        Just(json!({"deployment_id": "y", "timestamp": "later", "action": "promote"})),
        Just(json!(42)),
    ];
    prop_oneof![6 => promote_or_rollback, 2 => release, 1 => broken]
}

/// Any JSON, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "deployment_id",
                    "timestamp",
                    "action",
                    "outcome",
                    "service",
                    "environment",
                    "checks",
                    "phases",
                    "code_sha256",
                    "to_version",
                    "backup_alias",
                ])
                .prop_map(str::to_owned),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn period(since_day: u32, days: u32) -> ReportPeriod {
    let since = NaiveDate::from_ymd_opt(2026, 10, since_day).unwrap();
    ReportPeriod::new(since, since + chrono::Days::new(u64::from(days))).unwrap()
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn rates_stay_within_bounds_and_counts_add_up(
        prod in prop::collection::vec(record(), 0..25),
        sit in prop::collection::vec(record(), 0..10),
        since_day in 1u32..10,
        days in 1u32..12,
        listed in any::<bool>(),
    ) {
        let sit: Vec<Value> = sit.into_iter().map(|mut r| {
            if r.is_object() { r["environment"] = json!("sit"); }
            r
        }).collect();
        let scope = Scope {
            environment: Env::Prod,
            services: listed.then(|| SERVICES.iter().map(|s| (*s).to_owned()).collect()),
        };
        let r = report(
            RecordSet { name: "prod", records: &prod },
            Ok(RecordSet { name: "sit", records: &sit }),
            &period(since_day, days),
            &scope,
        );
        let rollback_records = prod.iter().filter(|v| v["action"] == "rollback").count() as u64;
        for s in &r.services {
            let cf = &s.change_failure;
            prop_assert!(cf.failed <= cf.changes);
            prop_assert_eq!(cf.causes.total(), cf.failed);
            match cf.rate {
                Some(rate) => prop_assert!((0.0..=1.0).contains(&rate) && cf.changes > 0),
                None => prop_assert_eq!(cf.changes, 0),
            }
            prop_assert!(s.frequency.deployments <= cf.changes);
            prop_assert!(s.frequency.from_release_records <= s.frequency.deployments);
            prop_assert!(s.frequency.per_day >= 0.0 && s.frequency.per_week >= s.frequency.per_day);
            let ttr = &s.time_to_restore;
            prop_assert_eq!(ttr.failures, cf.failed);
            prop_assert_eq!(ttr.measured + ttr.unmeasured + ttr.open, ttr.failures);
            prop_assert_eq!(ttr.spread.as_ref().map_or(0, |x| x.count), ttr.measured);
            let lead = &s.lead_time;
            prop_assert!(lead.known);
            prop_assert_eq!(lead.measured + lead.without_evidence, s.frequency.deployments);
            prop_assert_eq!(lead.spread.as_ref().map_or(0, |x| x.count), lead.measured);
            for spread in [&lead.spread, &ttr.spread].into_iter().flatten() {
                prop_assert!(spread.median.seconds <= spread.p90.seconds);
                prop_assert!(spread.p90.seconds <= spread.max.seconds);
            }
            prop_assert!(s.rollbacks <= rollback_records);
        }
        if listed {
            prop_assert_eq!(r.services.len(), SERVICES.len());
        }
    }

    #[test]
    fn any_json_is_a_record_or_a_problem_never_a_panic(
        values in prop::collection::vec(any_json(), 0..12),
    ) {
        let r = report(
            RecordSet { name: "prod", records: &values },
            Err("not given".into()),
            &period(1, 7),
            &Scope { environment: Env::Prod, services: None },
        );
        let non_objects = values.iter().filter(|v| !v.is_object()).count();
        prop_assert!(r.problems.len() >= non_objects);
        for p in &r.problems {
            prop_assert!(!p.problem.is_empty());
        }
    }
}
