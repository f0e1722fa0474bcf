//! Preflight: the first and third steps of a promotion.
//!
//! - `validate`: the execution input against RB-003's rules; the promotion plan every later step uses.
//! - `check`: every source function exists, is Active and Successful; the version and CodeSha256;
//!   errors and throttles of the source; quality gates; the maintenance window (PROD).
//! - `window`: the maintenance window again, right before the deploy.

use std::time::Duration;

use bbws_aws::functions::{alias_version, describe, FunctionVersion};
use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::{metrics, store, Aws, BbwsError, Settings};
use bbws_domain::windows::outside_window_cause;
use bbws_domain::{
    check_readiness, check_window, evaluate_gates, evaluate_stability, validate_request, ErrorName,
    PromotionPlan, PromotionRequest, ReleasePlan, ReleaseRequest, WindowCheck,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::info;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Validate {
        input: Value,
        execution_arn: String,
        started_at: String,
    },
    Check {
        promotion: PromotionPlan,
    },
    Window {
        promotion: PromotionPlan,
    },
    /// A release (`bbws-release-<env>`): the request and its phases.
    ValidateRelease {
        input: Value,
        execution_arn: String,
        started_at: String,
    },
    /// A release: every phase's preflight, and what serves in the target now.
    CheckRelease {
        release: ReleasePlan,
    },
}

/// One check of the preflight, with its figure, as the execution shows it.
#[derive(Debug, Serialize)]
struct Check {
    check: String,
    passed: bool,
    detail: String,
}

#[derive(Debug, Serialize)]
struct SourceFunction {
    #[serde(flatten)]
    function: FunctionVersion,
    target: String,
}

struct App {
    aws: Aws,
    settings: Result<Settings, BbwsError>,
    source: OnceCell<Aws>,
}

impl App {
    async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the preflight event", event)? {
            Event::Validate {
                input,
                execution_arn,
                started_at,
            } => validate(settings, &input, &execution_arn, &started_at),
            Event::Check { promotion } => self.check(settings, &promotion).await,
            Event::Window { promotion } => window(settings, &promotion, Utc::now()),
            Event::ValidateRelease {
                input,
                execution_arn,
                started_at,
            } => validate_release(settings, &input, &execution_arn, &started_at),
            Event::CheckRelease { release } => self.check_release(settings, &release).await,
        }
    }

    async fn source(&self, settings: &Settings) -> Result<&Aws, BbwsError> {
        let role = settings.source_reader()?.to_owned();
        Ok(self
            .source
            .get_or_init(|| self.aws.assume(&role, "bbws-promotion-preflight"))
            .await)
    }

    async fn check(&self, settings: &Settings, plan: &PromotionPlan) -> Result<Value, BbwsError> {
        let request = request_of(settings, plan)?;
        let source = self.source(settings).await?;
        let lambda = source.lambda(None);
        let cloudwatch = source.cloudwatch();
        let ddb = source.dynamodb();
        let gates_table = format!("bbws-quality-gates-{}", plan.source_env.as_str());
        let mut checks = Vec::new();
        let mut resolved = Vec::new();
        for pair in &plan.functions {
            let found = describe(&lambda, &pair.source, Some(&plan.version)).await?;
            let Some((f, _)) = found else {
                checks.push(Check {
                    check: format!("{} exists", pair.source),
                    passed: false,
                    detail: format!(
                        "{}:{} not found in {}: give a published version number or an alias of \
                         {} (default latest-{})",
                        pair.source,
                        plan.version,
                        plan.source_env.label(),
                        pair.source,
                        plan.source_env.as_str()
                    ),
                });
                continue;
            };
            let ready =
                check_readiness(&f.version, &f.state, &f.last_update_status, plan.source_env);
            checks.push(Check {
                check: format!("{} is ready", pair.source),
                passed: ready.passed,
                detail: format!("{}, CodeSha256 {}", ready.sentence, f.code_sha256),
            });
            let lookback = Duration::from_secs(plan.rules.stability.lookback_seconds);
            let dims = [("FunctionName", pair.source.as_str())];
            let errors = metrics::sum(&cloudwatch, "Errors", &dims, lookback).await?;
            let throttles = metrics::sum(&cloudwatch, "Throttles", &dims, lookback).await?;
            let report = evaluate_stability(&plan.rules.stability, errors, throttles);
            for c in &report.checks {
                checks.push(Check {
                    check: format!("{} {}", pair.source, c.metric.as_str()),
                    passed: c.passed,
                    detail: c.sentence.clone(),
                });
            }
            if request.skip_quality_gates {
                checks.push(Check {
                    check: format!("{} quality gates", pair.source),
                    passed: true,
                    detail: "skipped: emergency declared".into(),
                });
            } else {
                let results = store::gate_results(&ddb, &gates_table, &f.code_sha256).await?;
                let report = evaluate_gates(request.path, &plan.rules.quality_gates, &results);
                checks.push(Check {
                    check: format!("{} quality gates", pair.source),
                    passed: report.passed,
                    detail: if report.passed {
                        format!("{} for CodeSha256 {}", report.summary(), f.code_sha256)
                    } else {
                        format!(
                            "{} for CodeSha256 {} in {gates_table}: CI records each gate for the \
                             package it built",
                            report.summary(),
                            f.code_sha256
                        )
                    },
                });
            }
            resolved.push(SourceFunction {
                function: f,
                target: pair.target.clone(),
            });
        }
        let now = Utc::now();
        let window = check_window(
            request.path,
            now,
            &plan.rules.maintenance_windows,
            request.is_emergency(),
        );
        let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
        let what: Vec<String> = failed
            .iter()
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect();
        info!(
            event = "preflight",
            service = %plan.service,
            path = %request.path,
            version = %plan.version,
            checks = checks.len(),
            failed = failed.len(),
            window = ?window,
            "preflight of {} {} {} -> {}: {} checks, {} failed{}",
            plan.service,
            plan.version,
            plan.source_env,
            plan.target_env,
            checks.len(),
            failed.len(),
            if what.is_empty() { String::new() } else { format!(": {}", what.join("; ")) }
        );
        if !failed.is_empty() {
            return Err(BbwsError::new(
                ErrorName::PreflightFailed,
                format!(
                    "{} of {} preflight checks failed for {} {} -> {} ({}): {}",
                    failed.len(),
                    checks.len(),
                    plan.service,
                    plan.source_env.label(),
                    plan.target_env.label(),
                    plan.version,
                    what.join("; ")
                ),
            ));
        }
        refuse_outside_window(plan, &window, now)?;
        let emergency = matches!(window, WindowCheck::EmergencyOverride);
        to_value(&serde_json::json!({
            "passed": true,
            "checks": checks,
            "source": resolved,
            "window": window,
            "emergency": emergency,
            "approval": if emergency { &plan.rules.emergency_approval } else { &plan.rules.approval },
        }))
    }
}

impl App {
    /// Every phase's preflight (all are run, so one answer names every problem), with the versions
    /// serving in the target now: what the approvers see as "from" and "to".
    async fn check_release(
        &self,
        settings: &Settings,
        release: &ReleasePlan,
    ) -> Result<Value, BbwsError> {
        let mut phases = Vec::new();
        let mut failures = Vec::new();
        let mut names = Vec::new();
        let mut approval = Value::Null;
        for phase in &release.phases {
            let request = validate_request(&phase.input, &settings.config.catalog)
                .map_err(|e| BbwsError::invalid_event(format!("phase {}: {e}", phase.index)))?;
            let plan = PromotionPlan::new(
                &request,
                &settings.config,
                &release.execution_arn,
                release.started_at,
            )
            .map_err(|e| BbwsError::invalid_event(format!("phase {}: {e}", phase.index)))?;
            match self.check(settings, &plan).await {
                Ok(checked) => {
                    let mut current = Vec::new();
                    for region in &plan.target_regions {
                        let lambda = self.aws.lambda(Some(region));
                        for pair in &plan.functions {
                            let version = alias_version(&lambda, &pair.target, &plan.target_alias)
                                .await?
                                .unwrap_or_else(|| "none".to_owned());
                            current.push(
                                serde_json::json!({"region": region, "function": pair.target,
                                                            "version": version}),
                            );
                        }
                    }
                    if approval.is_null() {
                        approval = checked["approval"].clone();
                    }
                    phases.push(serde_json::json!({"index": phase.index, "service": phase.service,
                        "execution_name": phase.execution_name, "source": checked["source"],
                        "checks": checked["checks"], "current": current, "emergency": checked["emergency"]}));
                }
                Err(e)
                    if e.error_type.starts_with("Bbws.")
                        && e.error_type != "Bbws.AwsUnavailable" =>
                {
                    names.push(e.error_type.clone());
                    failures.push(format!(
                        "phase {} ({}): {}",
                        phase.index, phase.service, e.message
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        info!(
            event = "release_preflight",
            phases = release.phases.len(),
            failed = failures.len(),
            "release preflight: {} of {} phases passed",
            release.phases.len() - failures.len(),
            release.phases.len()
        );
        if !failures.is_empty() {
            names.dedup();
            let name = match names.as_slice() {
                [one] => one.clone(),
                _ => ErrorName::PreflightFailed.as_str().to_owned(),
            };
            return Err(BbwsError::typed(
                &name,
                format!(
                    "{} of {} phases of the release into {} cannot start: {}",
                    failures.len(),
                    release.phases.len(),
                    release.target_env.label(),
                    failures.join(" | ")
                ),
            ));
        }
        to_value(&serde_json::json!({"passed": true, "phases": phases, "approval": approval}))
    }
}

fn validate_release(
    settings: &Settings,
    input: &Value,
    execution_arn: &str,
    started_at: &str,
) -> Result<Value, BbwsError> {
    let request = ReleaseRequest::validate(input, &settings.config.catalog).map_err(|e| {
        info!(
            event = "input_rejected",
            problems = e.errors.len(),
            "release input rejected: {e}"
        );
        BbwsError::new(ErrorName::InvalidInput, e.to_string())
    })?;
    if request.target_env != settings.env {
        return Err(BbwsError::new(
            ErrorName::InvalidInput,
            format!(
                "target_env: this state machine releases into {}; a release into {} runs on bbws-release-{}",
                settings.env.label(),
                request.target_env.label(),
                request.target_env.as_str()
            ),
        ));
    }
    let started = DateTime::parse_from_rfc3339(started_at)
        .map_err(|e| BbwsError::invalid_event(format!("started_at '{started_at}': {e}")))?
        .with_timezone(&Utc);
    let plan = ReleasePlan::new(request, &settings.config, execution_arn, started)
        .map_err(|e| BbwsError::new(ErrorName::InvalidInput, e.to_string()))?;
    let order: Vec<&str> = plan.phases.iter().map(|p| p.service.as_str()).collect();
    info!(event = "validated", target = %plan.target_env, phases = plan.phases.len(), order = %order.join(", "),
          "release into {} accepted: {}", plan.target_env, order.join(" -> "));
    to_value(&plan)
}

fn request_of(settings: &Settings, plan: &PromotionPlan) -> Result<PromotionRequest, BbwsError> {
    validate_request(&plan.request, &settings.config.catalog)
        .map_err(|e| BbwsError::invalid_event(format!("the plan's request: {e}")))
}

fn validate(
    settings: &Settings,
    input: &Value,
    execution_arn: &str,
    started_at: &str,
) -> Result<Value, BbwsError> {
    let request = validate_request(input, &settings.config.catalog).map_err(|e| {
        info!(
            event = "input_rejected",
            problems = e.errors.len(),
            "input rejected: {e}"
        );
        BbwsError::new(ErrorName::InvalidInput, e.to_string())
    })?;
    if request.target() != settings.env {
        return Err(BbwsError::new(
            ErrorName::InvalidInput,
            format!(
                "target_env: this state machine promotes into {}; {} -> {} runs on bbws-promote-{}",
                settings.env.label(),
                request.source().label(),
                request.target().label(),
                request.target().as_str()
            ),
        ));
    }
    let started = DateTime::parse_from_rfc3339(started_at)
        .map_err(|e| BbwsError::invalid_event(format!("started_at '{started_at}': {e}")))?
        .with_timezone(&Utc);
    let plan = PromotionPlan::new(&request, &settings.config, execution_arn, started)
        .map_err(|e| BbwsError::new(ErrorName::InvalidInput, e.to_string()))?;
    info!(
        event = "validated",
        service = %plan.service,
        version = %plan.version,
        functions = plan.functions.len(),
        "promotion of {} {} from {} to {} accepted",
        plan.service,
        plan.version,
        plan.source_env,
        plan.target_env
    );
    to_value(&plan)
}

fn window(
    settings: &Settings,
    plan: &PromotionPlan,
    now: DateTime<Utc>,
) -> Result<Value, BbwsError> {
    let request = request_of(settings, plan)?;
    let check = check_window(
        request.path,
        now,
        &plan.rules.maintenance_windows,
        request.is_emergency(),
    );
    info!(event = "window", service = %plan.service, check = ?check, "maintenance window at {now}: {check:?}");
    refuse_outside_window(plan, &check, now)?;
    to_value(&check)
}

fn refuse_outside_window(
    plan: &PromotionPlan,
    check: &WindowCheck,
    now: DateTime<Utc>,
) -> Result<(), BbwsError> {
    if let WindowCheck::Refused { .. } = check {
        return Err(BbwsError::new(
            ErrorName::OutsideMaintenanceWindow,
            outside_window_cause(
                plan.target_env,
                now,
                &plan.rules.maintenance_windows,
                &plan.rules.emergency_approval,
            ),
        ));
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = App {
        aws: Aws::load().await,
        settings: Settings::from_env(),
        source: OnceCell::new(),
    };
    serve(|event| app.handle(event)).await
}
