//! Post-deployment monitoring and the automatic rollback triggers (RB-003 §6.3.1).

use crate::env::Env;
use crate::errors::FieldError;
use crate::metrics::{check_metric, validate_lookback, Limit, Metric};
use serde::{Deserialize, Serialize};

/// The longest monitoring period accepted (one hour).
pub const MAX_MONITOR_SECONDS: u64 = 3_600;

/// The conditions that roll a fresh deployment back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackTriggers {
    /// The only health-check status that counts as healthy.
    pub healthy_status: u16,
    /// How far back the error and throttle sums reach (120 s).
    pub lookback_seconds: u64,
    /// The most errors tolerated in the look-back.
    pub errors: Limit,
    /// The most throttles tolerated in the look-back.
    pub throttles: Limit,
}

impl RollbackTriggers {
    /// §6.3.1: status != 200, more than 5 errors or more than 10 throttles in 2 minutes.
    pub fn runbook() -> RollbackTriggers {
        RollbackTriggers {
            healthy_status: 200,
            lookback_seconds: 120,
            errors: Limit::AtMost(5),
            throttles: Limit::AtMost(10),
        }
    }

    /// Problems with the triggers' data.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if !(100..=599).contains(&self.healthy_status) {
            errors.push(FieldError::new(
                format!("{field}.healthy_status"),
                "must be an HTTP status between 100 and 599",
            ));
        }
        errors.extend(validate_lookback(
            &format!("{field}.lookback_seconds"),
            self.lookback_seconds,
        ));
        errors.extend(self.errors.validate(&format!("{field}.errors")));
        errors.extend(self.throttles.validate(&format!("{field}.throttles")));
        errors
    }
}

/// How long a deployment is watched, how often, and what rolls it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPolicy {
    /// Monitoring after a SIT deployment (§3.2.1: 30 s).
    pub sit_seconds: u64,
    /// Monitoring after a PROD deployment (§4.3.1: 5 min).
    pub prod_seconds: u64,
    /// Time between two assessments.
    pub poll_seconds: u64,
    /// What rolls the deployment back.
    pub triggers: RollbackTriggers,
}

impl MonitorPolicy {
    /// RB-003's values: SIT 30 s, PROD 300 s, every 30 s.
    pub fn runbook() -> MonitorPolicy {
        MonitorPolicy {
            sit_seconds: 30,
            prod_seconds: 300,
            poll_seconds: 30,
            triggers: RollbackTriggers::runbook(),
        }
    }

    /// How long a deployment to `target` is monitored; DEV is never a promotion target.
    pub fn duration_for(&self, target: Env) -> Option<u64> {
        match target {
            Env::Dev => None,
            Env::Sit => Some(self.sit_seconds),
            Env::Prod => Some(self.prod_seconds),
        }
    }

    /// How many assessments a deployment to `target` gets: one per poll, at least one.
    pub fn polls_for(&self, target: Env) -> Option<u64> {
        let duration = self.duration_for(target)?;
        let poll = self.poll_seconds.max(1);
        Some(duration.div_ceil(poll).max(1))
    }

    /// Problems with the policy's data.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for (name, seconds) in [
            ("sit_seconds", self.sit_seconds),
            ("prod_seconds", self.prod_seconds),
        ] {
            if seconds == 0 || seconds > MAX_MONITOR_SECONDS {
                errors.push(FieldError::new(
                    format!("{field}.{name}"),
                    format!("must be between 1 and {MAX_MONITOR_SECONDS}"),
                ));
            }
        }
        let shortest = self.sit_seconds.min(self.prod_seconds).max(1);
        if self.poll_seconds == 0 || self.poll_seconds > shortest {
            errors.push(FieldError::new(
                format!("{field}.poll_seconds"),
                "must be at least 1 and no longer than the shortest monitoring period",
            ));
        }
        errors.extend(self.triggers.validate(&format!("{field}.triggers")));
        errors
    }
}

/// What fired a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The health check did not return the healthy status.
    HealthCheck,
    /// Too many errors in the look-back.
    ErrorSpike,
    /// Too many throttles in the look-back.
    ThrottleSpike,
    /// A CloudWatch alarm of the promoted functions went to ALARM since the monitor started.
    Alarm,
}

impl Trigger {
    /// Whether §6.3.1 says to roll back at once (health) rather than after the monitoring
    /// period (error and throttle spikes).
    pub fn is_immediate(self) -> bool {
        matches!(self, Trigger::HealthCheck)
    }
}

/// The result of one assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing fired.
    Healthy,
    /// Roll back.
    Rollback {
        /// The first condition that fired, in the order health, errors, throttles.
        trigger: Trigger,
        /// Every condition that fired, with figures, joined with `"; "`.
        reason: String,
    },
}

/// The alarms of `functions` (Terraform's `bbws-<function>-errors` / `-throttles`) among
/// `in_alarm` (name, when it went to ALARM, Unix seconds) that went to ALARM at or after `since`:
/// one sentence each. The monitor passes its start plus one alarm period (the triggers' look-back,
/// Terraform's alarm period): an alarm on `latest-<env>` sums the alias's data over its period, so
/// until one period after the deploy it also counts the version before, which is not this one's doing.
pub fn fired_alarms(functions: &[&str], in_alarm: &[(String, i64)], since: i64) -> Vec<String> {
    let own: Vec<String> = functions
        .iter()
        .flat_map(|f| crate::watch::function_alarm_names(f))
        .collect();
    let mut out: Vec<String> = in_alarm
        .iter()
        .filter(|(name, at)| own.contains(name) && *at >= since)
        .map(|(name, at)| {
            let when = chrono::DateTime::from_timestamp(*at, 0)
                .map_or_else(|| at.to_string(), |t| t.format("%H:%M:%S UTC").to_string());
            format!("alarm {name} went to ALARM at {when}")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// How far back a poll reads the throttles of the alias: the look-back, but not before the watch
/// started (`watched_seconds` ago). Throttles are read on the alias, since a throttled request
/// never ran a version; before the watch, the alias's throttles were the previous version's.
pub fn throttle_lookback_seconds(lookback_seconds: u64, watched_seconds: Option<u64>) -> u64 {
    match watched_seconds {
        Some(watched) => lookback_seconds.min(watched.max(1)),
        None => lookback_seconds,
    }
}

/// Assesses one poll of a fresh deployment; missing sums (no datapoints) count as 0.
pub fn assess(
    health_status: u16,
    errors: Option<f64>,
    throttles: Option<f64>,
    triggers: &RollbackTriggers,
) -> Verdict {
    let mut fired: Vec<(Trigger, String)> = Vec::new();
    if health_status != triggers.healthy_status {
        fired.push((
            Trigger::HealthCheck,
            format!(
                "health check returned status {health_status} (expected {})",
                triggers.healthy_status
            ),
        ));
    }
    let lookback = triggers.lookback_seconds;
    for (trigger, metric, observed, limit) in [
        (Trigger::ErrorSpike, Metric::Errors, errors, triggers.errors),
        (
            Trigger::ThrottleSpike,
            Metric::Throttles,
            throttles,
            triggers.throttles,
        ),
    ] {
        let check = check_metric(metric, lookback, observed, limit);
        if !check.passed {
            fired.push((trigger, check.sentence));
        }
    }
    match fired.first() {
        None => Verdict::Healthy,
        Some((trigger, _)) => Verdict::Rollback {
            trigger: *trigger,
            reason: fired
                .iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> RollbackTriggers {
        RollbackTriggers::runbook()
    }

    #[test]
    fn a_quiet_healthy_deployment_is_healthy() {
        assert_eq!(assess(200, Some(0.0), Some(0.0), &t()), Verdict::Healthy);
        assert_eq!(assess(200, None, None, &t()), Verdict::Healthy);
    }

    #[test]
    fn five_errors_are_tolerated_six_roll_back() {
        assert_eq!(assess(200, Some(5.0), None, &t()), Verdict::Healthy);
        assert_eq!(
            assess(200, Some(6.0), None, &t()),
            Verdict::Rollback {
                trigger: Trigger::ErrorSpike,
                reason: "errors in the last 2 min: 6 (limit: at most 5)".into()
            }
        );
    }

    #[test]
    fn throttles_are_read_since_the_watch_started_at_most_the_look_back() {
        assert_eq!(throttle_lookback_seconds(120, Some(30)), 30);
        assert_eq!(throttle_lookback_seconds(120, Some(600)), 120);
        assert_eq!(throttle_lookback_seconds(120, Some(0)), 1);
        assert_eq!(throttle_lookback_seconds(120, None), 120);
    }

    #[test]
    fn ten_throttles_are_tolerated_eleven_roll_back() {
        assert_eq!(assess(200, None, Some(10.0), &t()), Verdict::Healthy);
        assert_eq!(
            assess(200, None, Some(11.0), &t()),
            Verdict::Rollback {
                trigger: Trigger::ThrottleSpike,
                reason: "throttles in the last 2 min: 11 (limit: at most 10)".into()
            }
        );
    }

    #[test]
    fn any_status_but_200_rolls_back_immediately() {
        for status in [0, 201, 204, 302, 500, 503] {
            let verdict = assess(status, None, None, &t());
            assert!(
                matches!(
                    verdict,
                    Verdict::Rollback {
                        trigger: Trigger::HealthCheck,
                        ..
                    }
                ),
                "{status}"
            );
        }
        assert!(Trigger::HealthCheck.is_immediate());
        assert!(!Trigger::ErrorSpike.is_immediate());
        assert!(!Trigger::ThrottleSpike.is_immediate());
    }

    #[test]
    fn several_triggers_are_all_reported_health_first() {
        let verdict = assess(503, Some(7.0), Some(12.0), &t());
        assert_eq!(
            verdict,
            Verdict::Rollback {
                trigger: Trigger::HealthCheck,
                reason: "health check returned status 503 (expected 200); \
                         errors in the last 2 min: 7 (limit: at most 5); \
                         throttles in the last 2 min: 12 (limit: at most 10)"
                    .into()
            }
        );
    }

    #[test]
    fn an_invalid_measurement_rolls_back() {
        assert!(matches!(
            assess(200, Some(f64::NAN), None, &t()),
            Verdict::Rollback {
                trigger: Trigger::ErrorSpike,
                ..
            }
        ));
    }

    #[test]
    fn monitor_durations_and_poll_counts() {
        let m = MonitorPolicy::runbook();
        assert_eq!(m.duration_for(Env::Sit), Some(30));
        assert_eq!(m.duration_for(Env::Prod), Some(300));
        assert_eq!(m.duration_for(Env::Dev), None);
        assert_eq!(m.polls_for(Env::Sit), Some(1));
        assert_eq!(m.polls_for(Env::Prod), Some(10));
        let odd = MonitorPolicy {
            prod_seconds: 301,
            ..m
        };
        assert_eq!(odd.polls_for(Env::Prod), Some(11));
    }

    #[test]
    fn verdicts_serialize_with_a_tag() {
        let json = serde_json::to_value(assess(200, Some(6.0), None, &t())).unwrap();
        assert_eq!(json["verdict"], "rollback");
        assert_eq!(json["trigger"], "error_spike");
        assert_eq!(
            serde_json::to_value(Verdict::Healthy).unwrap(),
            serde_json::json!({"verdict": "healthy"})
        );
    }

    #[test]
    fn policy_validation_catches_bad_periods() {
        assert_eq!(MonitorPolicy::runbook().validate("monitor"), []);
        let bad = MonitorPolicy {
            sit_seconds: 0,
            prod_seconds: 300,
            poll_seconds: 60,
            triggers: RollbackTriggers {
                healthy_status: 42,
                lookback_seconds: 100,
                errors: Limit::AtMost(5),
                throttles: Limit::FewerThan(0),
            },
        };
        let fields: Vec<String> = bad
            .validate("monitor")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "monitor.sit_seconds",
                "monitor.poll_seconds",
                "monitor.triggers.healthy_status",
                "monitor.triggers.lookback_seconds",
                "monitor.triggers.throttles",
            ]
        );
    }

    #[test]
    fn only_the_promoted_functions_alarms_that_fired_since_the_start_count() {
        let in_alarm = vec![
            ("bbws-prod-bbws-sites-service-errors".to_owned(), 1_000),
            ("bbws-prod-bbws-sites-service-throttles".to_owned(), 999),
            (
                "bbws-tenant-instance-management-prod-errors".to_owned(),
                2_000,
            ),
            ("bbws-promote-prod-executions-failed".to_owned(), 2_000),
        ];
        assert_eq!(
            fired_alarms(&["prod-bbws-sites-service"], &in_alarm, 1_000),
            ["alarm bbws-prod-bbws-sites-service-errors went to ALARM at 00:16:40 UTC"]
        );
        assert!(fired_alarms(&["prod-bbws-sites-service"], &in_alarm, 1_001).is_empty());
        assert_eq!(
            fired_alarms(&["bbws-tenant-instance-management-prod"], &in_alarm, 0),
            ["alarm bbws-tenant-instance-management-prod-errors went to ALARM at 00:33:20 UTC"]
        );
    }
}
