//! The promotion plan: what one execution will do, derived from a validated request and the
//! deployed configuration. Every step of the state machine receives it, so each decides from the
//! same facts, and the execution's history shows the rules that applied.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::approvals::Requirement;
use crate::catalog::SmokeTest;
use crate::config::Config;
use crate::gates::GatePolicy;
use crate::metrics::StabilityThresholds;
use crate::monitor::RollbackTriggers;
use crate::naming::latest_alias;
use crate::request::PromotionRequest;
use crate::windows::Window;
use crate::{Env, FieldError, PromotionPath};

/// One function moved by the promotion: its name in the source and in the target environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionPair {
    /// Name in the source account.
    pub source: String,
    /// Name in the target account.
    pub target: String,
}

/// The limits of this execution, read by the state machine through `*Path` fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// How long the approval wait lasts (Task `TimeoutSecondsPath`).
    pub approval_timeout_seconds: u64,
    /// How long the target is watched after the deploy.
    pub monitor_seconds: u64,
    /// Seconds between two monitor polls (Wait `SecondsPath`).
    pub poll_seconds: u64,
}

/// The rules of the configuration that apply to this promotion, shown in the execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedRules {
    /// Source stability thresholds (errors and throttles over the look-back).
    pub stability: StabilityThresholds,
    /// Quality gates required for this path.
    pub quality_gates: GatePolicy,
    /// Maintenance windows (enforced for PROD only).
    pub maintenance_windows: Vec<Window>,
    /// Whether the path requires a window.
    pub window_required: bool,
    /// Approvers needed inside a window.
    pub approval: Requirement,
    /// Approvers needed for an emergency outside a window.
    pub emergency_approval: Requirement,
    /// What rolls the deploy back during the monitor.
    pub rollback_triggers: RollbackTriggers,
    /// The service's smoke tests for the target (only the read-only ones for PROD), named with
    /// the target's function names; run right after the deploy.
    #[serde(default)]
    pub smoke_tests: Vec<SmokeTest>,
    /// EventBridge rules whose names contain this text (and the target environment) must exist
    /// and be enabled after the deploy (the event handler, RB-003 §4.3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eventbridge_rule_contains: Option<String>,
    /// SIT -> PROD: how long the version must have served in SIT (0: not required); `None` on a
    /// path that has no such rule (DEV -> SIT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sit_stable_seconds: Option<u64>,
}

/// Everything a promotion execution carries from step to step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionPlan {
    /// The validated request (in its input shape on the wire).
    pub request: PromotionRequest,
    /// The service promoted.
    pub service: String,
    /// Source environment (`dev` or `sit`).
    pub source_env: Env,
    /// Target environment (`sit` or `prod`).
    pub target_env: Env,
    /// The source version or alias to promote.
    pub version: String,
    /// The alias moved in the target, `latest-<target>`.
    pub target_alias: String,
    /// Every function of the service, moved together.
    pub functions: Vec<FunctionPair>,
    /// Regions of the target to deploy to: the primary first, then the failover (PROD).
    pub target_regions: Vec<String>,
    /// The execution that runs this plan.
    pub execution_arn: String,
    /// When the execution started.
    pub started_at: DateTime<Utc>,
    /// Limits the state machine reads.
    pub limits: Limits,
    /// The rules that apply.
    pub rules: AppliedRules,
}

impl PromotionPlan {
    /// Builds the plan of `request` under `config`.
    pub fn new(
        request: &PromotionRequest,
        config: &Config,
        execution_arn: &str,
        started_at: DateTime<Utc>,
    ) -> Result<PromotionPlan, FieldError> {
        let source = request.source();
        let target = request.target();
        let spec = config
            .catalog
            .require(&request.service)
            .map_err(|e| FieldError::new("service", e.to_string()))?;
        let functions = spec
            .function_names(source)
            .into_iter()
            .zip(spec.function_names(target))
            .map(|(source, target)| FunctionPair { source, target })
            .collect();
        let monitor_seconds = config.monitor.duration_for(target).ok_or_else(|| {
            FieldError::new(
                "target_env",
                format!("no monitor duration for {}", target.as_str()),
            )
        })?;
        let mut target_regions = vec![target.primary_region().to_owned()];
        target_regions.extend(target.failover_region().map(str::to_owned));
        Ok(PromotionPlan {
            request: request.clone(),
            service: request.service.clone(),
            source_env: source,
            target_env: target,
            version: request.version.qualifier(),
            target_alias: latest_alias(target),
            functions,
            target_regions,
            execution_arn: execution_arn.to_owned(),
            started_at,
            limits: Limits {
                approval_timeout_seconds: config.approval_timeout_seconds,
                monitor_seconds,
                poll_seconds: config.monitor.poll_seconds,
            },
            rules: AppliedRules {
                stability: *config.stability.get(request.path),
                quality_gates: config.quality_gates.get(request.path).clone(),
                maintenance_windows: config.maintenance_windows.clone(),
                window_required: request.path.requires_maintenance_window(),
                approval: config.approvals.for_promotion(request.path, false).clone(),
                emergency_approval: config.approvals.emergency.clone(),
                rollback_triggers: config.monitor.triggers,
                smoke_tests: spec.smoke_tests_for(target),
                eventbridge_rule_contains: spec.eventbridge_rule_contains.clone(),
                sit_stable_seconds: (request.path == PromotionPath::SitToProd)
                    .then_some(config.sit_stable_seconds),
            },
        })
    }

    /// The lock key of this promotion: one promotion per service and target environment.
    pub fn lock_id(&self) -> String {
        lock_id(&self.service, self.target_env)
    }
}

/// The lock key of a (service, target environment) pair, shared with manual rollbacks.
pub fn lock_id(service: &str, target: Env) -> String {
    format!("{service}#{}", target.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use chrono::TimeZone;
    use serde_json::json;

    fn request(value: serde_json::Value) -> PromotionRequest {
        PromotionRequest::validate(&value, &Catalog::runbook()).expect("valid request")
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 20, 5, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn site_management_moves_its_four_functions_from_sit_to_prod_in_both_regions() {
        let req = request(json!({"service": "site-management", "source_env": "sit",
            "target_env": "prod", "requested_by": "jane@bbws.io", "reason": "Release 1.4.2",
            "change_request": "CHG-1234"}));
        let plan = PromotionPlan::new(&req, &Config::runbook(), "arn:x", at()).expect("plan");
        let targets: Vec<&str> = plan.functions.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "prod-bbws-sites-service",
                "prod-bbws-templates-service",
                "prod-bbws-plugins-service",
                "prod-bbws-async-processor"
            ]
        );
        assert_eq!(plan.functions[0].source, "sit-bbws-sites-service");
        assert_eq!(plan.target_regions, ["af-south-1", "eu-west-1"]);
        assert_eq!(plan.version, "latest-sit");
        assert_eq!(plan.target_alias, "latest-prod");
        assert_eq!(plan.limits.monitor_seconds, 300);
        assert!(plan.rules.window_required);
        assert_eq!(plan.lock_id(), "site-management#prod");
        let smoke: Vec<String> = plan.rules.smoke_tests.iter().map(|t| t.label()).collect();
        assert_eq!(
            smoke,
            [
                "GET /sites on prod-bbws-sites-service",
                "GET /templates on prod-bbws-templates-service",
                "GET /plugins on prod-bbws-plugins-service",
                "GET /jobs/job-001 on prod-bbws-async-processor"
            ]
        );
        assert_eq!(plan.rules.eventbridge_rule_contains, None);
        assert_eq!(plan.rules.sit_stable_seconds, Some(86_400));
    }

    #[test]
    fn dev_to_sit_is_one_region_thirty_seconds_of_monitoring_and_a_dev_lead() {
        let req = request(
            json!({"service": "tenant-instance-management", "source_env": "dev",
            "target_env": "sit", "version": "7", "requested_by": "jane@bbws.io", "reason": "r"}),
        );
        let plan = PromotionPlan::new(&req, &Config::runbook(), "arn:x", at()).expect("plan");
        assert_eq!(plan.target_regions, ["af-south-1"]);
        assert_eq!(plan.version, "7");
        assert_eq!(plan.limits.monitor_seconds, 30);
        assert_eq!(plan.limits.approval_timeout_seconds, 86_400);
        assert!(!plan.rules.window_required);
        assert_eq!(plan.rules.sit_stable_seconds, None);
        assert_eq!(
            plan.rules.smoke_tests,
            [SmokeTest::get(
                "bbws-tenant-instance-management-sit",
                "/tenants"
            )]
        );
        let round_trip: PromotionPlan =
            serde_json::from_value(serde_json::to_value(&plan).expect("json")).expect("back");
        assert_eq!(round_trip, plan);
    }
}
