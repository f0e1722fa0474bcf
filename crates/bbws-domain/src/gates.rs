//! Quality gates (RB-003 §2.1) and their evaluation over recorded results.

use crate::env::PromotionPath;
use crate::errors::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// One quality gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Unit tests, with a coverage figure.
    UnitTests,
    /// Code linting.
    Lint,
    /// Type checking.
    TypeCheck,
    /// Security scan.
    SecurityScan,
    /// Integration tests.
    IntegrationTests,
}

impl Gate {
    /// Every gate, in the runbook's pipeline order.
    pub const ALL: [Gate; 5] = [
        Gate::UnitTests,
        Gate::Lint,
        Gate::TypeCheck,
        Gate::SecurityScan,
        Gate::IntegrationTests,
    ];

    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::UnitTests => "unit_tests",
            Gate::Lint => "lint",
            Gate::TypeCheck => "type_check",
            Gate::SecurityScan => "security_scan",
            Gate::IntegrationTests => "integration_tests",
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One recorded run of a gate, as CI reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateResult {
    /// Which gate ran.
    pub gate: Gate,
    /// Whether the run succeeded.
    pub passed: bool,
    /// Line coverage in percent; only read for `unit_tests`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_percent: Option<f64>,
}

/// Which gates a promotion path requires, and the coverage floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    /// The gates that must have passed; the others are trusted from the source environment.
    pub required: Vec<Gate>,
    /// The lowest accepted unit-test coverage, in percent.
    pub min_coverage_percent: f64,
}

impl GatePolicy {
    /// DEV -> SIT: all five gates, 80% coverage.
    pub fn runbook_dev_to_sit() -> GatePolicy {
        GatePolicy {
            required: Gate::ALL.to_vec(),
            min_coverage_percent: 80.0,
        }
    }

    /// SIT -> PROD: security scan (re-run) and integration tests; the rest trusted from SIT.
    pub fn runbook_sit_to_prod() -> GatePolicy {
        GatePolicy {
            required: vec![Gate::SecurityScan, Gate::IntegrationTests],
            min_coverage_percent: 80.0,
        }
    }

    /// Problems with the policy's data.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut seen = BTreeSet::new();
        for gate in &self.required {
            if !seen.insert(*gate) {
                errors.push(FieldError::new(
                    format!("{field}.required"),
                    format!("gate {gate} is listed twice"),
                ));
            }
        }
        let floor = self.min_coverage_percent;
        if !(0.0..=100.0).contains(&floor) {
            errors.push(FieldError::new(
                format!("{field}.min_coverage_percent"),
                "must be between 0 and 100",
            ));
        }
        errors
    }
}

/// How one gate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GateStatus {
    /// Required and passed.
    Passed,
    /// Required and failed (or passed with too little coverage).
    Failed,
    /// Required and no result was recorded.
    Missing,
    /// Not required on this path: trusted from the source environment.
    Trusted,
}

/// One gate's outcome with words for the operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateOutcome {
    /// The gate.
    pub gate: Gate,
    /// How it stands.
    pub status: GateStatus,
    /// E.g. `unit_tests: coverage 75% is below the minimum 80%`.
    pub detail: String,
}

/// All gates' outcomes for a promotion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    /// One outcome per gate, in pipeline order.
    pub outcomes: Vec<GateOutcome>,
    /// Whether no required gate is failed or missing.
    pub passed: bool,
}

impl GateReport {
    /// `quality gates passed`, or the failed and missing gates' details.
    pub fn summary(&self) -> String {
        if self.passed {
            return "quality gates passed".into();
        }
        let problems: Vec<&str> = self
            .outcomes
            .iter()
            .filter(|o| matches!(o.status, GateStatus::Failed | GateStatus::Missing))
            .map(|o| o.detail.as_str())
            .collect();
        format!("quality gates not met: {}", problems.join("; "))
    }
}

/// Evaluates recorded gate results against the policy for `path`.
///
/// When a gate has several results the last one counts (a re-run replaces the earlier run).
pub fn evaluate_gates(
    path: PromotionPath,
    policy: &GatePolicy,
    results: &[GateResult],
) -> GateReport {
    let outcomes: Vec<GateOutcome> = Gate::ALL
        .into_iter()
        .map(|gate| {
            if !policy.required.contains(&gate) {
                return GateOutcome {
                    gate,
                    status: GateStatus::Trusted,
                    detail: format!("{gate}: trusted from {}", path.source().label()),
                };
            }
            let latest = results.iter().rev().find(|r| r.gate == gate);
            outcome(gate, latest, policy.min_coverage_percent)
        })
        .collect();
    let passed = outcomes
        .iter()
        .all(|o| matches!(o.status, GateStatus::Passed | GateStatus::Trusted));
    GateReport { outcomes, passed }
}

fn outcome(gate: Gate, result: Option<&GateResult>, floor: f64) -> GateOutcome {
    let (status, detail) = match result {
        None => (GateStatus::Missing, format!("{gate}: no result recorded")),
        Some(r) if !r.passed => (GateStatus::Failed, format!("{gate}: failed")),
        Some(r) if gate == Gate::UnitTests => coverage_outcome(r.coverage_percent, floor),
        Some(_) => (GateStatus::Passed, format!("{gate}: passed")),
    };
    GateOutcome {
        gate,
        status,
        detail,
    }
}

fn coverage_outcome(coverage: Option<f64>, floor: f64) -> (GateStatus, String) {
    let gate = Gate::UnitTests;
    match coverage {
        None => (
            GateStatus::Failed,
            format!("{gate}: coverage not reported (minimum {floor}%)"),
        ),
        Some(c) if !(0.0..=100.0).contains(&c) => (
            GateStatus::Failed,
            format!("{gate}: coverage {c}% is not a percentage"),
        ),
        Some(c) if c < floor => (
            GateStatus::Failed,
            format!("{gate}: coverage {c}% is below the minimum {floor}%"),
        ),
        Some(c) => (
            GateStatus::Passed,
            format!("{gate}: passed (coverage {c}%, minimum {floor}%)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(gate: Gate) -> GateResult {
        GateResult {
            gate,
            passed: true,
            coverage_percent: None,
        }
    }

    fn unit(coverage: f64) -> GateResult {
        GateResult {
            gate: Gate::UnitTests,
            passed: true,
            coverage_percent: Some(coverage),
        }
    }

    fn all_passing(coverage: f64) -> Vec<GateResult> {
        vec![
            unit(coverage),
            ok(Gate::Lint),
            ok(Gate::TypeCheck),
            ok(Gate::SecurityScan),
            ok(Gate::IntegrationTests),
        ]
    }

    fn statuses(report: &GateReport) -> Vec<GateStatus> {
        report.outcomes.iter().map(|o| o.status).collect()
    }

    #[test]
    fn dev_to_sit_passes_with_all_five_and_exactly_80_percent() {
        let report = evaluate_gates(
            PromotionPath::DevToSit,
            &GatePolicy::runbook_dev_to_sit(),
            &all_passing(80.0),
        );
        assert!(report.passed);
        assert_eq!(report.summary(), "quality gates passed");
        assert_eq!(
            report.outcomes[0].detail,
            "unit_tests: passed (coverage 80%, minimum 80%)"
        );
    }

    #[test]
    fn coverage_just_below_80_fails_unit_tests() {
        let report = evaluate_gates(
            PromotionPath::DevToSit,
            &GatePolicy::runbook_dev_to_sit(),
            &all_passing(79.9),
        );
        assert!(!report.passed);
        assert_eq!(report.outcomes[0].status, GateStatus::Failed);
        assert_eq!(
            report.summary(),
            "quality gates not met: unit_tests: coverage 79.9% is below the minimum 80%"
        );
    }

    #[test]
    fn missing_coverage_or_impossible_coverage_fails() {
        let policy = GatePolicy::runbook_dev_to_sit();
        let mut results = all_passing(90.0);
        results[0].coverage_percent = None;
        let report = evaluate_gates(PromotionPath::DevToSit, &policy, &results);
        assert_eq!(
            report.outcomes[0].detail,
            "unit_tests: coverage not reported (minimum 80%)"
        );
        results[0].coverage_percent = Some(120.0);
        let report = evaluate_gates(PromotionPath::DevToSit, &policy, &results);
        assert_eq!(report.outcomes[0].status, GateStatus::Failed);
        results[0].coverage_percent = Some(f64::NAN);
        assert!(!evaluate_gates(PromotionPath::DevToSit, &policy, &results).passed);
    }

    #[test]
    fn dev_to_sit_names_missing_and_failed_gates() {
        let results = vec![
            unit(85.0),
            GateResult {
                gate: Gate::Lint,
                passed: false,
                coverage_percent: None,
            },
            ok(Gate::TypeCheck),
            ok(Gate::IntegrationTests),
        ];
        let report = evaluate_gates(
            PromotionPath::DevToSit,
            &GatePolicy::runbook_dev_to_sit(),
            &results,
        );
        assert_eq!(
            statuses(&report),
            [
                GateStatus::Passed,
                GateStatus::Failed,
                GateStatus::Passed,
                GateStatus::Missing,
                GateStatus::Passed
            ]
        );
        assert_eq!(
            report.summary(),
            "quality gates not met: lint: failed; security_scan: no result recorded"
        );
    }

    #[test]
    fn sit_to_prod_needs_only_security_scan_and_integration_tests() {
        let results = vec![ok(Gate::SecurityScan), ok(Gate::IntegrationTests)];
        let report = evaluate_gates(
            PromotionPath::SitToProd,
            &GatePolicy::runbook_sit_to_prod(),
            &results,
        );
        assert!(report.passed);
        assert_eq!(
            statuses(&report),
            [
                GateStatus::Trusted,
                GateStatus::Trusted,
                GateStatus::Trusted,
                GateStatus::Passed,
                GateStatus::Passed
            ]
        );
        assert_eq!(report.outcomes[1].detail, "lint: trusted from SIT");
    }

    #[test]
    fn sit_to_prod_without_a_security_rescan_fails() {
        let report = evaluate_gates(
            PromotionPath::SitToProd,
            &GatePolicy::runbook_sit_to_prod(),
            &[ok(Gate::IntegrationTests)],
        );
        assert!(!report.passed);
        assert_eq!(report.outcomes[3].status, GateStatus::Missing);
    }

    #[test]
    fn the_last_result_for_a_gate_counts() {
        let policy = GatePolicy::runbook_sit_to_prod();
        let failed = GateResult {
            gate: Gate::SecurityScan,
            passed: false,
            coverage_percent: None,
        };
        let rerun_passes = vec![
            failed.clone(),
            ok(Gate::SecurityScan),
            ok(Gate::IntegrationTests),
        ];
        assert!(evaluate_gates(PromotionPath::SitToProd, &policy, &rerun_passes).passed);
        let rerun_fails = vec![ok(Gate::SecurityScan), failed, ok(Gate::IntegrationTests)];
        assert!(!evaluate_gates(PromotionPath::SitToProd, &policy, &rerun_fails).passed);
    }

    #[test]
    fn results_deserialize_from_ci_json() {
        let r: GateResult =
            serde_json::from_str(r#"{"gate":"unit_tests","passed":true,"coverage_percent":81.5}"#)
                .unwrap();
        assert_eq!(r, unit(81.5));
        assert!(serde_json::from_str::<GateResult>(r#"{"gate":"fuzzing","passed":true}"#).is_err());
        assert!(
            serde_json::from_str::<GateResult>(r#"{"gate":"lint","passed":true,"extra":1}"#)
                .is_err()
        );
    }

    #[test]
    fn policy_validation_rejects_duplicates_and_bad_floors() {
        assert_eq!(GatePolicy::runbook_dev_to_sit().validate("g"), []);
        let bad = GatePolicy {
            required: vec![Gate::Lint, Gate::Lint],
            min_coverage_percent: 101.0,
        };
        let fields: Vec<String> = bad.validate("g").into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["g.required", "g.min_coverage_percent"]);
        let nan = GatePolicy {
            required: vec![],
            min_coverage_percent: f64::NAN,
        };
        assert_eq!(nan.validate("g").len(), 1);
    }
}
