//! CloudWatch metric limits and the pre-promotion stability check (RB-003 §2.1, §4.1.1).

use crate::errors::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest look-back accepted for a metric check (CloudWatch keeps 1-minute data 15 days;
/// one week is far beyond any rule in RB-003).
pub const MAX_LOOKBACK_SECONDS: u64 = 7 * 86_400;

/// An upper bound on a metric's sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The sum must be strictly below this figure (`{"fewer_than": 10}`).
    FewerThan(u64),
    /// The sum must not exceed this figure (`{"at_most": 5}`).
    AtMost(u64),
}

impl Limit {
    /// Whether `value` is within the limit. NaN, infinite and negative values never are.
    pub fn allows(self, value: f64) -> bool {
        if !is_valid_measurement(value) {
            return false;
        }
        match self {
            Limit::FewerThan(n) => value < n as f64,
            Limit::AtMost(n) => value <= n as f64,
        }
    }

    /// Problems with the limit itself: `fewer than 0` can never be met.
    pub fn validate(self, field: &str) -> Vec<FieldError> {
        match self {
            Limit::FewerThan(0) => vec![FieldError::new(
                field,
                "fewer_than must be 1 or more (0 can never be met)",
            )],
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::FewerThan(n) => write!(f, "fewer than {n}"),
            Limit::AtMost(0) => f.write_str("none allowed"),
            Limit::AtMost(n) => write!(f, "at most {n}"),
        }
    }
}

/// The Lambda metrics RB-003 checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// `AWS/Lambda` `Errors`.
    Errors,
    /// `AWS/Lambda` `Throttles`.
    Throttles,
}

impl Metric {
    /// The lower-case word used in sentences.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Errors => "errors",
            Metric::Throttles => "throttles",
        }
    }

    /// The CloudWatch metric name in the `AWS/Lambda` namespace.
    pub fn cloudwatch_name(self) -> &'static str {
        match self {
            Metric::Errors => "Errors",
            Metric::Throttles => "Throttles",
        }
    }

    /// The dimensions that read this metric for what an alias (`function:alias`) served, once it
    /// points at `version`. Errors are read on the version the alias executed
    /// (`FunctionName`, `Resource`, `ExecutedVersion`): the new version's own errors. Throttles
    /// are read on the alias (`FunctionName`, `Resource`): AWS documents `ExecutedVersion` for
    /// invocations that ran a version through an alias, and a throttled request never ran one.
    pub fn alias_dimensions<'a>(
        self,
        function: &'a str,
        resource: &'a str,
        version: &'a str,
    ) -> Vec<(&'static str, &'a str)> {
        let mut dims = vec![("FunctionName", function), ("Resource", resource)];
        if self == Metric::Errors {
            dims.push(("ExecutedVersion", version));
        }
        dims
    }
}

/// The outcome of comparing one measured sum with its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricCheck {
    /// What was measured.
    pub metric: Metric,
    /// The period the sum covers.
    pub lookback_seconds: u64,
    /// The sum; a missing sum ("no datapoints") is recorded as 0.
    pub observed: f64,
    /// The bound it was compared with.
    pub limit: Limit,
    /// Whether the sum is within the bound.
    pub passed: bool,
    /// E.g. `errors in the last 1 h: 3 (limit: fewer than 10)`.
    pub sentence: String,
}

/// Compares a measured sum with `limit`; `None` (no datapoints) counts as 0.
pub fn check_metric(
    metric: Metric,
    lookback_seconds: u64,
    observed: Option<f64>,
    limit: Limit,
) -> MetricCheck {
    let observed = observed.unwrap_or(0.0);
    let figure = if is_valid_measurement(observed) {
        format_figure(observed)
    } else {
        format!("invalid measurement {observed}")
    };
    MetricCheck {
        metric,
        lookback_seconds,
        observed,
        limit,
        passed: limit.allows(observed),
        sentence: format!(
            "{} in the last {}: {figure} (limit: {limit})",
            metric.as_str(),
            human_duration(lookback_seconds)
        ),
    }
}

/// The source environment's stability rule for one promotion path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StabilityThresholds {
    /// How far back the sums reach (3600 for DEV -> SIT, 86400 for SIT -> PROD).
    pub lookback_seconds: u64,
    /// The bound on `Errors`.
    pub errors: Limit,
    /// The bound on `Throttles`.
    pub throttles: Limit,
}

impl StabilityThresholds {
    /// DEV -> SIT (§2.1): fewer than 10 errors and no throttles in the last hour.
    pub fn runbook_dev_to_sit() -> StabilityThresholds {
        StabilityThresholds {
            lookback_seconds: 3_600,
            errors: Limit::FewerThan(10),
            throttles: Limit::AtMost(0),
        }
    }

    /// SIT -> PROD (§2.1, §4.1.1): fewer than 5 errors and no throttles in the last 24 hours.
    pub fn runbook_sit_to_prod() -> StabilityThresholds {
        StabilityThresholds {
            lookback_seconds: 86_400,
            errors: Limit::FewerThan(5),
            throttles: Limit::AtMost(0),
        }
    }

    /// Problems with the thresholds' data.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors =
            validate_lookback(&format!("{field}.lookback_seconds"), self.lookback_seconds);
        errors.extend(self.errors.validate(&format!("{field}.errors")));
        errors.extend(self.throttles.validate(&format!("{field}.throttles")));
        errors
    }
}

/// The outcome of the stability check over both metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StabilityReport {
    /// The errors check, then the throttles check.
    pub checks: Vec<MetricCheck>,
    /// Whether every check passed.
    pub passed: bool,
}

impl StabilityReport {
    /// The checks' sentences joined with `"; "`.
    pub fn summary(&self) -> String {
        self.checks
            .iter()
            .map(|c| c.sentence.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Evaluates the source environment's error and throttle sums against `thresholds`.
pub fn evaluate_stability(
    thresholds: &StabilityThresholds,
    errors: Option<f64>,
    throttles: Option<f64>,
) -> StabilityReport {
    let lookback = thresholds.lookback_seconds;
    let checks = vec![
        check_metric(Metric::Errors, lookback, errors, thresholds.errors),
        check_metric(Metric::Throttles, lookback, throttles, thresholds.throttles),
    ];
    let passed = checks.iter().all(|c| c.passed);
    StabilityReport { checks, passed }
}

/// A look-back must be a whole number of minutes (a CloudWatch period) up to one week.
pub(crate) fn validate_lookback(field: &str, seconds: u64) -> Vec<FieldError> {
    if seconds == 0 || seconds % 60 != 0 || seconds > MAX_LOOKBACK_SECONDS {
        vec![FieldError::new(
            field,
            format!("must be a positive multiple of 60 up to {MAX_LOOKBACK_SECONDS}"),
        )]
    } else {
        Vec::new()
    }
}

/// A duration for sentences: `30 s`, `2 min`, `1 h`, `24 h`.
pub fn human_duration(seconds: u64) -> String {
    if seconds > 0 && seconds % 3_600 == 0 {
        format!("{} h", seconds / 3_600)
    } else if seconds > 0 && seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

/// A metric figure for sentences: whole numbers without a decimal point (`3`, not `3.0`).
pub fn format_figure(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn is_valid_measurement(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_to_sit_allows_nine_errors_but_not_ten() {
        let t = StabilityThresholds::runbook_dev_to_sit();
        assert!(evaluate_stability(&t, Some(9.0), Some(0.0)).passed);
        let report = evaluate_stability(&t, Some(10.0), Some(0.0));
        assert!(!report.passed);
        assert!(!report.checks[0].passed);
        assert!(report.checks[1].passed);
    }

    #[test]
    fn sit_to_prod_allows_four_errors_but_not_five() {
        let t = StabilityThresholds::runbook_sit_to_prod();
        assert_eq!(t.lookback_seconds, 86_400);
        assert!(evaluate_stability(&t, Some(4.0), None).passed);
        assert!(!evaluate_stability(&t, Some(5.0), None).passed);
    }

    #[test]
    fn any_throttle_fails_both_paths() {
        for t in [
            StabilityThresholds::runbook_dev_to_sit(),
            StabilityThresholds::runbook_sit_to_prod(),
        ] {
            let report = evaluate_stability(&t, Some(0.0), Some(1.0));
            assert!(!report.passed);
            assert!(!report.checks[1].passed);
        }
    }

    #[test]
    fn no_datapoints_counts_as_zero() {
        let report = evaluate_stability(&StabilityThresholds::runbook_sit_to_prod(), None, None);
        assert!(report.passed);
        assert_eq!(report.checks[0].observed, 0.0);
        assert_eq!(
            report.checks[1].sentence,
            "throttles in the last 24 h: 0 (limit: none allowed)"
        );
    }

    #[test]
    fn sentences_carry_figure_period_and_limit() {
        let report = evaluate_stability(
            &StabilityThresholds::runbook_dev_to_sit(),
            Some(3.0),
            Some(0.0),
        );
        assert_eq!(
            report.checks[0].sentence,
            "errors in the last 1 h: 3 (limit: fewer than 10)"
        );
        assert_eq!(
            report.summary(),
            "errors in the last 1 h: 3 (limit: fewer than 10); \
             throttles in the last 1 h: 0 (limit: none allowed)"
        );
    }

    #[test]
    fn invalid_measurements_fail_and_say_so() {
        let t = StabilityThresholds::runbook_dev_to_sit();
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            let report = evaluate_stability(&t, Some(bad), None);
            assert!(!report.passed, "{bad}");
            assert!(report.checks[0].sentence.contains("invalid measurement"));
        }
    }

    #[test]
    fn limits_compare_at_their_edges() {
        assert!(Limit::FewerThan(10).allows(9.999));
        assert!(!Limit::FewerThan(10).allows(10.0));
        assert!(Limit::AtMost(5).allows(5.0));
        assert!(!Limit::AtMost(5).allows(5.5));
        assert!(Limit::AtMost(0).allows(0.0));
        assert_eq!(Limit::AtMost(5).to_string(), "at most 5");
        assert_eq!(Limit::FewerThan(5).to_string(), "fewer than 5");
    }

    #[test]
    fn limits_serialize_as_tagged_objects() {
        assert_eq!(
            serde_json::to_value(Limit::FewerThan(10)).unwrap(),
            serde_json::json!({"fewer_than": 10})
        );
        assert_eq!(
            serde_json::from_str::<Limit>(r#"{"at_most": 0}"#).unwrap(),
            Limit::AtMost(0)
        );
        assert!(serde_json::from_str::<Limit>(r#"{"below": 3}"#).is_err());
    }

    #[test]
    fn durations_and_figures_read_naturally() {
        assert_eq!(human_duration(3_600), "1 h");
        assert_eq!(human_duration(86_400), "24 h");
        assert_eq!(human_duration(120), "2 min");
        assert_eq!(human_duration(30), "30 s");
        assert_eq!(human_duration(90), "90 s");
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(format_figure(3.0), "3");
        assert_eq!(format_figure(2.5), "2.5");
        assert_eq!(format_figure(0.0), "0");
    }

    #[test]
    fn threshold_validation_rejects_odd_lookbacks_and_unmeetable_limits() {
        let mut t = StabilityThresholds::runbook_dev_to_sit();
        assert_eq!(t.validate("s"), []);
        t.lookback_seconds = 90;
        t.errors = Limit::FewerThan(0);
        let fields: Vec<String> = t.validate("s").into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["s.lookback_seconds", "s.errors"]);
        t.lookback_seconds = 0;
        assert_eq!(t.validate("s").len(), 2);
        t.lookback_seconds = MAX_LOOKBACK_SECONDS + 60;
        assert_eq!(t.validate("s").len(), 2);
    }

    #[test]
    fn metrics_know_their_cloudwatch_names() {
        assert_eq!(Metric::Errors.cloudwatch_name(), "Errors");
        assert_eq!(Metric::Throttles.cloudwatch_name(), "Throttles");
        assert_eq!(
            Metric::Throttles.alias_dimensions("f", "f:latest-prod", "7"),
            [("FunctionName", "f"), ("Resource", "f:latest-prod")],
            "a throttled request never ran a version: throttles are read on the alias"
        );
        assert_eq!(
            Metric::Errors.alias_dimensions("f", "f:latest-prod", "7"),
            [
                ("FunctionName", "f"),
                ("Resource", "f:latest-prod"),
                ("ExecutedVersion", "7")
            ]
        );
    }
}
