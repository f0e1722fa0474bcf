//! Preflight: the first and third steps of a promotion.
//!
//! - `validate`: the execution input against RB-003's rules; the promotion plan every later step uses.
//! - `check`: every source function exists, is Active and Successful and answers `/health` with
//!   200 (the version that is promoted); the version and CodeSha256; SIT -> PROD: the version has
//!   served in SIT long enough (SIT's deployment records); errors and throttles of the source;
//!   quality gates; the maintenance window (PROD).
//! - `window`: the maintenance window again, right before the deploy.

use std::time::Duration;

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::naming::deployments_table;
use bbws_domain::served::CHECK_SUFFIX;
use bbws_domain::windows::outside_window_cause;
use bbws_domain::{
    check_readiness, check_served, check_source_health, check_window, evaluate_gates,
    evaluate_stability, own_environment, served_period, validate_request, Check, EnvRequest,
    ErrorName, Preflight, Promoted, PromotionPlan, ReleasePlan, ReleaseRequest, SourceFunction,
    WindowCheck,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tracing::info;

use crate::ports::{Source, Target};

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

/// The preflight: the deployed settings, the source account and this (the target) account.
pub struct App<S, T> {
    /// The deployed settings, or why they cannot be used (every event is then refused).
    pub settings: Result<Settings, BbwsError>,
    /// The source account, or why it cannot be reached (its checks are then refused).
    pub source: Result<S, BbwsError>,
    /// This account.
    pub target: T,
}

impl<S: Source, T: Target> App<S, T> {
    /// One preflight event.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the preflight event", event)? {
            Event::Validate {
                input,
                execution_arn,
                started_at,
            } => validate(settings, &input, &execution_arn, &started_at),
            Event::Check { promotion } => to_value(&self.check(&promotion).await?),
            Event::Window { promotion } => window(&promotion, Utc::now()),
            Event::ValidateRelease {
                input,
                execution_arn,
                started_at,
            } => validate_release(settings, &input, &execution_arn, &started_at),
            Event::CheckRelease { release } => self.check_release(settings, &release).await,
        }
    }

    async fn check(&self, plan: &PromotionPlan) -> Result<Preflight, BbwsError> {
        let request = &plan.request;
        let source = self.source.as_ref().map_err(Clone::clone)?;
        let gates_table = format!("bbws-quality-gates-{}", plan.source_env.as_str());
        // SIT -> PROD: SIT's deployment records, read once for every function of the service; not
        // read when the configuration does not require a time in SIT.
        let required_in_source = plan.rules.sit_stable_seconds;
        let records_table = deployments_table(plan.source_env);
        let records = match required_in_source {
            Some(required) if required > 0 => Some(
                source
                    .deployment_records(&records_table, &plan.service)
                    .await?,
            ),
            _ => None,
        };
        let now = Utc::now();
        let mut checks = Vec::new();
        let mut resolved = Vec::new();
        for pair in &plan.functions {
            let found = source.describe(&pair.source, &plan.version).await?;
            let Some(f) = found else {
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
            // The version itself, not the alias: what is checked is what the deploy copies. A
            // version that is not ready is not invoked (its readiness already fails).
            if ready.passed {
                let answer = source.health(&pair.source, &f.version).await?;
                let health = check_source_health(
                    &answer.target,
                    answer.status,
                    &answer.detail,
                    plan.rules.rollback_triggers.healthy_status,
                    plan.source_env,
                );
                checks.push(Check {
                    check: format!("{} /health", pair.source),
                    passed: health.passed,
                    detail: health.sentence,
                });
            }
            if let Some(required) = required_in_source {
                let promoted = Promoted {
                    function: &pair.source,
                    region: plan.source_env.primary_region(),
                    version: &f.version,
                    code_sha256: &f.code_sha256,
                };
                let period = records
                    .as_deref()
                    .and_then(|records| served_period(records, &promoted));
                let incident = request.emergency.as_ref().map(|e| e.incident.as_str());
                let served = check_served(&promoted, period.as_ref(), required, now, incident);
                let since = period.as_ref().map(|p| p.since.to_rfc3339());
                info!(
                    event = "served_in_source",
                    function = %pair.source,
                    version = %f.version,
                    table = %records_table,
                    records = records.as_ref().map_or(0, Vec::len),
                    since = since.as_deref(),
                    served_seconds = period.as_ref().map(|p| p.seconds(now)),
                    required_seconds = required,
                    passed = served.passed,
                    skipped = served.skipped,
                    "{} {} {}: {}",
                    pair.source,
                    CHECK_SUFFIX,
                    if served.skipped { "skipped" } else if served.passed { "passed" } else { "failed" },
                    served.sentence
                );
                checks.push(Check {
                    check: format!("{} {CHECK_SUFFIX}", pair.source),
                    passed: served.passed,
                    detail: served.sentence,
                });
            }
            let lookback = Duration::from_secs(plan.rules.stability.lookback_seconds);
            let dims = [("FunctionName", pair.source.as_str())];
            let errors = source.sum("Errors", &dims, lookback).await?;
            let throttles = source.sum("Throttles", &dims, lookback).await?;
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
                let results = source.gate_results(&gates_table, &f.code_sha256).await?;
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
        Ok(Preflight {
            passed: true,
            checks,
            source: resolved,
            window,
            emergency,
            approval: if emergency {
                plan.rules.emergency_approval.clone()
            } else {
                plan.rules.approval.clone()
            },
        })
    }
}

impl<S: Source, T: Target> App<S, T> {
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
        let mut approval = None;
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
            match self.check(&plan).await {
                Ok(checked) => {
                    let mut current = Vec::new();
                    for region in &plan.target_regions {
                        for pair in &plan.functions {
                            let version = self
                                .target
                                .alias_version(region, &pair.target, &plan.target_alias)
                                .await?
                                .unwrap_or_else(|| "none".to_owned());
                            current.push(
                                serde_json::json!({"region": region, "function": pair.target,
                                                            "version": version}),
                            );
                        }
                    }
                    if approval.is_none() {
                        approval = Some(checked.approval.clone());
                    }
                    phases.push(serde_json::json!({"index": phase.index, "service": phase.service,
                        "execution_name": phase.execution_name, "source": checked.source,
                        "checks": checked.checks, "current": current, "emergency": checked.emergency}));
                }
                Err(e) if e.error_type != ErrorName::AwsUnavailable => {
                    names.push(e.error_type);
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
                [one] => *one,
                _ => ErrorName::PreflightFailed,
            };
            return Err(BbwsError::new(
                name,
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
    own_environment(settings.env, EnvRequest::Release(request.target_env))
        .map_err(|e| BbwsError::new(ErrorName::InvalidInput, e.to_string()))?;
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
    own_environment(settings.env, EnvRequest::Promotion(request.path))
        .map_err(|e| BbwsError::new(ErrorName::InvalidInput, e.to_string()))?;
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

fn window(plan: &PromotionPlan, now: DateTime<Utc>) -> Result<Value, BbwsError> {
    let request = &plan.request;
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

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::{Catalog, Config, FunctionVersion, Gate, GateResult};
    use serde_json::json;
    use std::collections::{BTreeMap, BTreeSet};

    /// The source account in memory: every function on version 7, Active and Successful, with
    /// every gate passed, but for what a test takes away.
    #[derive(Default)]
    struct Memory {
        missing: BTreeSet<String>,
        errors: BTreeMap<String, f64>,
        failed_gate: BTreeMap<String, Gate>,
        /// Functions whose version 7 answers /health with this status (else 200).
        health: BTreeMap<String, u16>,
        /// Every health request, `name:version`.
        asked: std::sync::Mutex<Vec<String>>,
        /// The source's deployment records.
        records: Vec<Value>,
        /// Every read of the deployment records, `table service`.
        records_read: std::sync::Mutex<Vec<String>>,
    }

    impl Source for Memory {
        async fn describe(
            &self,
            name: &str,
            _qualifier: &str,
        ) -> Result<Option<FunctionVersion>, BbwsError> {
            Ok((!self.missing.contains(name)).then(|| FunctionVersion {
                name: name.into(),
                version: "7".into(),
                state: "Active".into(),
                last_update_status: "Successful".into(),
                code_sha256: name.into(),
            }))
        }

        async fn sum(
            &self,
            metric: &str,
            dimensions: &[(&str, &str)],
            _lookback: Duration,
        ) -> Result<Option<f64>, BbwsError> {
            let function = dimensions.first().map(|(_, f)| *f).unwrap_or_default();
            Ok((metric == "Errors")
                .then(|| self.errors.get(function).copied())
                .flatten())
        }

        async fn gate_results(
            &self,
            _table: &str,
            code_sha256: &str,
        ) -> Result<Vec<GateResult>, BbwsError> {
            let failed = self.failed_gate.get(code_sha256);
            Ok(Gate::ALL
                .into_iter()
                .map(|gate| GateResult {
                    gate,
                    passed: failed != Some(&gate),
                    coverage_percent: Some(90.0),
                })
                .collect())
        }

        async fn health(
            &self,
            name: &str,
            version: &str,
        ) -> Result<bbws_aws::functions::Health, BbwsError> {
            let target = format!("{name}:{version}");
            if let Ok(mut asked) = self.asked.lock() {
                asked.push(target.clone());
            }
            let status = self.health.get(name).copied().unwrap_or(200);
            Ok(bbws_aws::functions::Health {
                target,
                status,
                detail: format!("statusCode {status}"),
            })
        }

        async fn deployment_records(
            &self,
            table: &str,
            service: &str,
        ) -> Result<Vec<Value>, BbwsError> {
            if let Ok(mut read) = self.records_read.lock() {
                read.push(format!("{table} {service}"));
            }
            Ok(self.records.clone())
        }
    }

    impl Memory {
        fn records_read(&self) -> Vec<String> {
            self.records_read
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default()
        }
    }

    /// The target: version 3 behind every alias.
    struct Serving;

    impl Target for Serving {
        async fn alias_version(
            &self,
            _region: &str,
            _function: &str,
            _alias: &str,
        ) -> Result<Option<String>, BbwsError> {
            Ok(Some("3".into()))
        }
    }

    fn app(source: Memory) -> App<Memory, Serving> {
        App {
            settings: Settings::from_lookup(|k| (k == "BBWS_ENV").then(|| "sit".to_owned())),
            source: Ok(source),
            target: Serving,
        }
    }

    fn plan(service: &str) -> PromotionPlan {
        let request = validate_request(
            &json!({"service": service, "source_env": "dev", "target_env": "sit",
                    "requested_by": "jane@bbws.io", "reason": "r"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        PromotionPlan::new(&request, &Config::runbook(), "arn:x", Utc::now()).expect("plan")
    }

    /// A SIT -> PROD plan under the runbook's rules, but `sit_stable_seconds` and a maintenance
    /// window all week.
    fn prod_plan(service: &str, sit_stable_seconds: u64, incident: Option<&str>) -> PromotionPlan {
        let mut input = json!({"service": service, "source_env": "sit", "target_env": "prod",
                               "requested_by": "jane@bbws.io", "reason": "r",
                               "change_request": "CHG-1"});
        if let Some(incident) = incident {
            input["emergency"] = json!({"incident": incident});
        }
        let request = validate_request(&input, &Catalog::runbook()).expect("valid request");
        let mut config = serde_json::to_value(Config::runbook()).expect("the runbook as JSON");
        config["maintenance_windows"] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|day| json!({"day": day, "start": "00:00", "end": "24:00"}))
            .collect();
        config["sit_stable_seconds"] = json!(sit_stable_seconds);
        let config = Config::from_value(config).expect("a valid configuration");
        PromotionPlan::new(&request, &config, "arn:x", Utc::now()).expect("plan")
    }

    /// A succeeded promotion into SIT `ago` before now that put version 7 of every function of
    /// `plan` (named in SIT) live.
    fn promoted_into_sit(plan: &PromotionPlan, ago: chrono::Duration) -> Value {
        let to: serde_json::Map<String, Value> = plan
            .functions
            .iter()
            .map(|f| (format!("af-south-1/{}", f.source), json!("7")))
            .collect();
        json!({"deployment_id": "p1:succeeded", "action": "promote", "outcome": "succeeded",
               "timestamp": (Utc::now() - ago).to_rfc3339(), "to_version": to})
    }

    fn prod_app(records: Vec<Value>) -> App<Memory, Serving> {
        App {
            settings: Settings::from_lookup(|k| (k == "BBWS_ENV").then(|| "prod".to_owned())),
            source: Ok(Memory {
                records,
                ..Memory::default()
            }),
            target: Serving,
        }
    }

    fn read_of(app: &App<Memory, Serving>) -> Vec<String> {
        app.source
            .as_ref()
            .map(Memory::records_read)
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn a_version_promoted_into_sit_moments_ago_is_refused_going_to_prod() {
        let plan = prod_plan("tenant-instance-management", 86_400, None);
        let sit = plan.functions[0].source.clone();
        let app = prod_app(vec![promoted_into_sit(&plan, chrono::Duration::minutes(3))]);
        let e = app
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PreflightFailed);
        assert!(e.message.starts_with("1 of "), "{}", e.message);
        assert!(
            e.message.contains(&format!(
                "{sit} stable in SIT: version 7 (CodeSha256 {sit}) has served in SIT since "
            )),
            "{}",
            e.message
        );
        assert!(
            e.message.contains(
                " (promote p1:succeeded), for 3 min; required: 24 h in SIT before PROD \
                 (sit_stable_seconds 86400): start the promotion again after "
            ),
            "{}",
            e.message
        );
        // SIT's records, read once, by service.
        assert_eq!(
            read_of(&app),
            ["bbws-deployments-sit tenant-instance-management"]
        );
    }

    #[tokio::test]
    async fn a_version_that_served_long_enough_goes_on_with_its_figures() {
        let plan = prod_plan("site-management", 86_400, None);
        let app = prod_app(vec![promoted_into_sit(&plan, chrono::Duration::hours(25))]);
        let out = app
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect("passed");
        let preflight: Preflight = serde_json::from_value(out).expect("a preflight");
        let served: Vec<&Check> = preflight
            .checks
            .iter()
            .filter(|c| c.check.ends_with(" stable in SIT"))
            .collect();
        assert_eq!(served.len(), 4, "one per function");
        for c in served {
            assert!(c.passed, "{c:?}");
            assert!(
                c.detail.ends_with(", for 25 h 0 min (required: 24 h)"),
                "{}",
                c.detail
            );
        }
        assert_eq!(read_of(&app).len(), 1, "read once for the four functions");
    }

    #[tokio::test]
    async fn a_version_with_no_record_in_sit_is_refused_and_told_what_to_do() {
        let plan = prod_plan("tenant-instance-management", 3_600, None);
        let e = prod_app(vec![])
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PreflightFailed);
        assert!(
            e.message.contains(
                "no succeeded promotion or rollback in SIT's deployment records put version 7"
            ),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("promote it into SIT first"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn an_emergency_skips_the_time_in_sit_and_says_so() {
        let plan = prod_plan("tenant-instance-management", 86_400, Some("INC-7"));
        let app = prod_app(vec![promoted_into_sit(&plan, chrono::Duration::minutes(3))]);
        let out = app
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect("an emergency goes on");
        let preflight: Preflight = serde_json::from_value(out).expect("a preflight");
        let [served] = preflight
            .checks
            .iter()
            .filter(|c| c.check.ends_with(" stable in SIT"))
            .collect::<Vec<_>>()[..]
        else {
            panic!("one check: {:?}", preflight.checks)
        };
        assert!(served.passed);
        assert!(
            served.detail.starts_with(
                "skipped: emergency declared (incident INC-7): 24 h in SIT is not required; \
                 version 7 "
            ),
            "{}",
            served.detail
        );
        assert!(served.detail.ends_with(", for 3 min"), "{}", served.detail);
    }

    #[tokio::test]
    async fn no_time_in_sit_configured_reads_no_records() {
        let to_prod = prod_plan("tenant-instance-management", 0, None);
        let app = prod_app(vec![]);
        let out = app
            .handle(json!({"op": "check", "promotion": to_prod}))
            .await
            .expect("passed");
        let preflight: Preflight = serde_json::from_value(out).expect("a preflight");
        assert!(preflight
            .checks
            .iter()
            .any(|c| c.check.ends_with(" stable in SIT")
                && c.passed
                && c.detail.starts_with("not required: ")));
        assert!(read_of(&app).is_empty());
        // DEV -> SIT has no such rule: no check, no read.
        let app = prod_app(vec![]);
        let out = app
            .handle(json!({"op": "check", "promotion": plan("tenant-instance-management")}))
            .await
            .expect("passed");
        let preflight: Preflight = serde_json::from_value(out).expect("a preflight");
        assert!(preflight
            .checks
            .iter()
            .all(|c| !c.check.ends_with(" stable in SIT")));
        assert!(read_of(&app).is_empty());
    }

    #[tokio::test]
    async fn a_healthy_source_passes_with_what_the_deploy_copies() {
        let plan = plan("site-management");
        let out = app(Memory::default())
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect("passed");
        let preflight: Preflight = serde_json::from_value(out).expect("a preflight");
        assert!(preflight.passed && preflight.checks.iter().all(|c| c.passed));
        let targets: Vec<&str> = preflight.source.iter().map(|s| s.target.as_str()).collect();
        let planned: Vec<&str> = plan.functions.iter().map(|f| f.target.as_str()).collect();
        assert_eq!(targets, planned);
        assert_eq!(preflight.window, WindowCheck::NotRequired);
        assert_eq!(preflight.approval, plan.rules.approval);
    }

    #[tokio::test]
    async fn every_failed_check_of_every_function_is_named_at_once() {
        let plan = plan("site-management");
        let [a, b, c] = [0, 1, 2].map(|i| plan.functions[i].source.clone());
        let source = Memory {
            missing: BTreeSet::from([a.clone()]),
            errors: BTreeMap::from([(b.clone(), 1000.0)]),
            failed_gate: BTreeMap::from([(c.clone(), Gate::Lint)]),
            ..Memory::default()
        };
        let e = app(source)
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PreflightFailed);
        assert!(
            e.message.starts_with("3 of "),
            "three checks failed: {}",
            e.message
        );
        assert!(e
            .message
            .contains(" preflight checks failed for site-management DEV -> SIT (latest-dev): "));
        for (function, what) in [(&a, "exists"), (&b, "errors"), (&c, "quality gates")] {
            assert!(
                e.message.contains(&format!("{function} {what}")),
                "{function} {what}: {}",
                e.message
            );
        }
    }

    #[tokio::test]
    async fn a_source_version_whose_health_check_fails_is_not_promoted() {
        let plan = plan("site-management");
        let sick = plan.functions[1].source.clone();
        let source = Memory {
            health: BTreeMap::from([(sick.clone(), 500)]),
            ..Memory::default()
        };
        let app = app(source);
        let e = app
            .handle(json!({"op": "check", "promotion": plan}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PreflightFailed);
        assert!(e.message.starts_with("1 of "), "{}", e.message);
        assert!(
            e.message.contains(&format!(
                "{sick} /health: {sick}:7 answered GET /health with 500, not 200"
            )),
            "{}",
            e.message
        );
        // Each function's version itself was asked, once.
        let asked = app
            .source
            .as_ref()
            .map(|s| s.asked.lock().map(|a| a.clone()).unwrap_or_default())
            .unwrap_or_default();
        let wanted: Vec<String> = plan
            .functions
            .iter()
            .map(|f| format!("{}:7", f.source))
            .collect();
        assert_eq!(asked, wanted);
    }

    #[tokio::test]
    async fn a_release_names_every_phase_that_cannot_start() {
        let request = ReleaseRequest::validate(
            &json!({"target_env": "sit", "services": ["tenant-instance-management", "site-management"],
                    "requested_by": "jane@bbws.io", "reason": "r"}),
            &Catalog::runbook(),
        )
        .expect("valid release");
        let arn = "arn:aws:states:af-south-1:815856636111:execution:bbws-release-sit:r1";
        let release =
            ReleasePlan::new(request, &Config::runbook(), arn, Utc::now()).expect("release plan");
        let event = json!({"op": "check_release", "release": release});
        let out = app(Memory::default())
            .handle(event.clone())
            .await
            .expect("passed");
        assert_eq!(out["phases"].as_array().map(Vec::len), Some(2));
        assert_eq!(out["phases"][0]["current"][0]["version"], "3");

        let site = plan("site-management").functions[0].source.clone();
        let source = Memory {
            missing: BTreeSet::from([site]),
            ..Memory::default()
        };
        let e = app(source).handle(event).await.expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PreflightFailed);
        assert!(
            e.message
                .starts_with("1 of 2 phases of the release into SIT cannot start: phase "),
            "{}",
            e.message
        );
        assert!(e.message.contains("(site-management): "), "{}", e.message);
    }

    #[tokio::test]
    async fn a_promotion_into_another_environment_is_refused() {
        let e = app(Memory::default())
            .handle(
                json!({"op": "validate", "input": {"service": "site-management",
                "source_env": "sit", "target_env": "prod", "requested_by": "jane@bbws.io",
                "reason": "r", "change_request": "CHG-1"},
                "execution_arn": "arn:x", "started_at": "2026-11-24T20:05:00Z"}),
            )
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::InvalidInput);
        assert_eq!(
            e.message,
            "target_env: this state machine promotes into SIT; SIT -> PROD runs on bbws-promote-prod"
        );
    }
}
