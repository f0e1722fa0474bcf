//! Every tunable rule in one document, with RB-003's values as the default.
//!
//! A deployed configuration is a complete JSON document (no field may be left out and no
//! unknown field is accepted), usually produced by serializing [`Config::runbook`] and editing.

use crate::approvals::ApprovalPolicy;
use crate::catalog::Catalog;
use crate::env::PathRules;
use crate::errors::{join_field_errors, FieldError};
use crate::gates::GatePolicy;
use crate::metrics::StabilityThresholds;
use crate::monitor::MonitorPolicy;
use crate::watch::WatchPolicy;
use crate::windows::Window;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default time allowed for approvals: one day.
pub const DEFAULT_APPROVAL_TIMEOUT_SECONDS: u64 = 86_400;
/// The shortest approval timeout accepted.
pub const MIN_APPROVAL_TIMEOUT_SECONDS: u64 = 5;
/// The longest approval timeout accepted: one year, the longest a Step Functions execution runs.
pub const MAX_APPROVAL_TIMEOUT_SECONDS: u64 = 365 * 86_400;
/// How long a version must have served in SIT before it goes to PROD (RB-003 §7.2: "SIT stable
/// for 24 hours").
pub const DEFAULT_SIT_STABLE_SECONDS: u64 = 86_400;
/// The longest such duration accepted: 30 days.
pub const MAX_SIT_STABLE_SECONDS: u64 = 30 * 86_400;

/// The promotion rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The promotable services, their functions, release order and health waits.
    pub catalog: Catalog,
    /// The source environment's error and throttle limits per path.
    pub stability: PathRules<StabilityThresholds>,
    /// The quality gates required per path.
    pub quality_gates: PathRules<GatePolicy>,
    /// When PROD may be deployed to.
    pub maintenance_windows: Vec<Window>,
    /// Who must approve what.
    pub approvals: ApprovalPolicy,
    /// How long approvals may take before the promotion times out.
    pub approval_timeout_seconds: u64,
    /// Post-deployment monitoring and rollback triggers.
    pub monitor: MonitorPolicy,
    /// The 24-hour watch after the monitor: its checks and what a failed one does.
    pub watch: WatchPolicy,
    /// How long the version promoted to PROD must have served in SIT, judged from SIT's
    /// deployment records (see [`crate::served`]); 0 turns the rule off.
    pub sit_stable_seconds: u64,
    /// How tenant executions verify what they applied (optional; RB-003 §3.2.4's check with
    /// [`crate::tenant_flow::TenantPolicy`]'s defaults).
    #[serde(default)]
    pub tenants: crate::tenant_flow::TenantPolicy,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON, or not the configuration's shape (missing, unknown or mistyped fields): the
    /// path of the field (`catalog[0].functions[1]`, `.` for the document) and what is wrong.
    #[error("configuration does not parse: {0}")]
    Parse(FieldError),
    /// Well-formed, but some values break the rules.
    #[error("configuration is invalid: {}", join_field_errors(.0))]
    Invalid(Vec<FieldError>),
}

impl Config {
    /// RB-003's rules.
    pub fn runbook() -> Config {
        Config {
            catalog: Catalog::runbook(),
            stability: PathRules {
                dev_to_sit: StabilityThresholds::runbook_dev_to_sit(),
                sit_to_prod: StabilityThresholds::runbook_sit_to_prod(),
            },
            quality_gates: PathRules {
                dev_to_sit: GatePolicy::runbook_dev_to_sit(),
                sit_to_prod: GatePolicy::runbook_sit_to_prod(),
            },
            maintenance_windows: Window::runbook(),
            approvals: ApprovalPolicy::runbook(),
            approval_timeout_seconds: DEFAULT_APPROVAL_TIMEOUT_SECONDS,
            monitor: MonitorPolicy::runbook(),
            watch: WatchPolicy::runbook(),
            sit_stable_seconds: DEFAULT_SIT_STABLE_SECONDS,
            tenants: crate::tenant_flow::TenantPolicy::default(),
        }
    }

    /// Parses and validates a configuration document.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(&mut de).map_err(parse_error)?;
        de.end()
            .map_err(|e| ConfigError::Parse(FieldError::new(".", e.to_string())))?;
        config.validated()
    }

    /// Parses and validates an already-decoded configuration document.
    pub fn from_value(value: Value) -> Result<Config, ConfigError> {
        let config: Config = serde_path_to_error::deserialize(value).map_err(parse_error)?;
        config.validated()
    }

    /// The configuration as pretty JSON.
    pub fn to_json_pretty(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string_pretty(self)
    }

    /// Every problem with the configuration's values; empty when it is usable.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = self.catalog.validate("catalog");
        for (path, t) in self.stability.iter() {
            errors.extend(t.validate(&format!("stability.{}", path.as_str())));
        }
        for (path, g) in self.quality_gates.iter() {
            errors.extend(g.validate(&format!("quality_gates.{}", path.as_str())));
        }
        if self.maintenance_windows.is_empty() {
            errors.push(FieldError::new(
                "maintenance_windows",
                "must list at least one window",
            ));
        }
        errors.extend(self.approvals.validate("approvals"));
        let timeout = self.approval_timeout_seconds;
        if !(MIN_APPROVAL_TIMEOUT_SECONDS..=MAX_APPROVAL_TIMEOUT_SECONDS).contains(&timeout) {
            errors.push(FieldError::new(
                "approval_timeout_seconds",
                format!(
                    "must be between {MIN_APPROVAL_TIMEOUT_SECONDS} and \
                     {MAX_APPROVAL_TIMEOUT_SECONDS}"
                ),
            ));
        }
        errors.extend(self.monitor.validate("monitor"));
        errors.extend(self.watch.validate("watch"));
        errors.extend(self.tenants.validate("tenants"));
        if self.sit_stable_seconds > MAX_SIT_STABLE_SECONDS {
            errors.push(FieldError::new(
                "sit_stable_seconds",
                format!(
                    "must be at most {MAX_SIT_STABLE_SECONDS} (30 days; 0 turns the rule off, \
                     RB-003: {DEFAULT_SIT_STABLE_SECONDS})"
                ),
            ));
        }
        errors
    }

    fn validated(self) -> Result<Config, ConfigError> {
        let errors = self.validate();
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }
}

/// A shape error, named by the path of the field it is in.
fn parse_error(e: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    ConfigError::Parse(FieldError::new(e.path().to_string(), e.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Env, PromotionPath};
    use crate::metrics::Limit;
    use serde_json::json;

    fn runbook_json() -> Value {
        serde_json::to_value(Config::runbook()).unwrap()
    }

    fn invalid_fields(value: Value) -> Vec<String> {
        match Config::from_value(value) {
            Err(ConfigError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid values, got {other:?}"),
        }
    }

    #[test]
    fn the_runbook_configuration_is_valid() {
        assert_eq!(Config::runbook().validate(), []);
    }

    #[test]
    fn the_runbook_configuration_round_trips_through_json() {
        let text = Config::runbook().to_json_pretty().unwrap();
        assert_eq!(Config::from_json(&text).unwrap(), Config::runbook());
    }

    #[test]
    fn the_json_shape_is_readable() {
        let json = runbook_json();
        assert_eq!(json["approval_timeout_seconds"], 86_400);
        assert_eq!(
            json["maintenance_windows"][2],
            json!({"day": "sat", "start": "04:00", "end": "08:00"})
        );
        assert_eq!(
            json["stability"]["dev_to_sit"],
            json!({"lookback_seconds": 3600, "errors": {"fewer_than": 10}, "throttles": {"at_most": 0}})
        );
        assert_eq!(json["catalog"][2]["health_wait_seconds"], 600);
        assert_eq!(json["monitor"]["triggers"]["errors"], json!({"at_most": 5}));
        assert_eq!(json["sit_stable_seconds"], 86_400);
    }

    #[test]
    fn runbook_values_are_reachable_from_the_config() {
        let c = Config::runbook();
        assert_eq!(
            c.stability.get(PromotionPath::SitToProd).errors,
            Limit::FewerThan(5)
        );
        assert_eq!(c.monitor.duration_for(Env::Prod), Some(300));
        assert_eq!(
            c.quality_gates.get(PromotionPath::SitToProd).required.len(),
            2
        );
        assert_eq!(c.maintenance_windows.len(), 3);
    }

    #[test]
    fn a_deployed_configuration_can_change_the_windows() {
        let mut json = runbook_json();
        json["maintenance_windows"] = json!([{"day": "wed", "start": "21:00", "end": "23:30"}]);
        let c = Config::from_value(json).unwrap();
        assert_eq!(c.maintenance_windows[0].to_string(), "wed 21:00-23:30 UTC");
    }

    #[test]
    fn unknown_and_missing_fields_do_not_parse() {
        let mut extra = runbook_json();
        extra["maintenance_window"] = json!([]);
        assert!(matches!(
            Config::from_value(extra),
            Err(ConfigError::Parse(_))
        ));
        let mut missing = runbook_json();
        missing.as_object_mut().unwrap().remove("monitor");
        assert!(matches!(
            Config::from_value(missing),
            Err(ConfigError::Parse(_))
        ));
        assert!(matches!(
            Config::from_json("{not json"),
            Err(ConfigError::Parse(_))
        ));
    }

    #[test]
    fn a_shape_error_names_the_path_of_its_field() {
        let mut json = runbook_json();
        json["catalog"][1]["functions"][0] = json!(7);
        let err = Config::from_value(json).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("configuration does not parse: catalog[1].functions[0]: invalid type"),
            "{err}"
        );
        let text = runbook_json()
            .to_string()
            .replace("\"poll_seconds\":", "\"poll_seconds\":\"x\",\"y\":");
        let err = Config::from_json(&text).unwrap_err();
        assert!(
            err.to_string()
                .contains("monitor.poll_seconds: invalid type"),
            "{err}"
        );
        let huge = format!("{{\"catalog\": \"{}\"}}", "x".repeat(100_000));
        assert!(Config::from_json(&huge).unwrap_err().to_string().len() < 500);
        let trailing = format!("{} x", runbook_json());
        assert!(Config::from_json(&trailing)
            .unwrap_err()
            .to_string()
            .starts_with("configuration does not parse: .: trailing characters"));
    }

    #[test]
    fn a_bad_window_does_not_parse() {
        let mut json = runbook_json();
        json["maintenance_windows"][0]["end"] = json!("19:00");
        let err = Config::from_value(json).unwrap_err();
        assert!(
            err.to_string()
                .contains("window end 19:00 must be after its start 20:00"),
            "{err}"
        );
    }

    #[test]
    fn invalid_values_are_all_reported_with_their_paths() {
        let mut json = runbook_json();
        json["maintenance_windows"] = json!([]);
        json["approval_timeout_seconds"] = json!(0);
        json["stability"]["sit_to_prod"]["lookback_seconds"] = json!(100);
        json["quality_gates"]["dev_to_sit"]["min_coverage_percent"] = json!(150.0);
        json["approvals"]["emergency"] = json!({"all_of": []});
        json["monitor"]["poll_seconds"] = json!(0);
        json["catalog"][0]["functions"] = json!(["static-name"]);
        json["sit_stable_seconds"] = json!(30 * 86_400 + 1);
        assert_eq!(
            invalid_fields(json),
            [
                "catalog[0].functions[0]",
                "catalog[0].smoke_tests[0].function",
                "stability.sit_to_prod.lookback_seconds",
                "quality_gates.dev_to_sit.min_coverage_percent",
                "maintenance_windows",
                "approvals.emergency",
                "approval_timeout_seconds",
                "monitor.poll_seconds",
                "sit_stable_seconds",
            ]
        );
    }

    #[test]
    fn the_time_in_sit_may_be_turned_off_or_shortened_but_not_made_endless() {
        for seconds in [0, 5, 86_400, 30 * 86_400] {
            let mut json = runbook_json();
            json["sit_stable_seconds"] = json!(seconds);
            assert_eq!(
                Config::from_value(json).map(|c| c.sit_stable_seconds).ok(),
                Some(seconds)
            );
        }
        let mut json = runbook_json();
        json["sit_stable_seconds"] = json!(-1);
        assert!(matches!(
            Config::from_value(json),
            Err(ConfigError::Parse(e)) if e.field == "sit_stable_seconds"
        ));
    }

    #[test]
    fn invalid_config_error_reads_as_one_line() {
        let mut json = runbook_json();
        json["approval_timeout_seconds"] = json!(2);
        let err = Config::from_value(json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "configuration is invalid: approval_timeout_seconds: must be between 5 and 31536000"
        );
    }
}
