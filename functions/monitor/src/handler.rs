//! Monitor: health right after the deploy, then the post-deploy watch of RB-003 §6.3.1.
//!
//! - `verify`: `/health` on `latest-<target>` of every function in every region returns 200; the
//!   service's smoke tests from the catalog (only the read-only ones in PROD) answer as expected;
//!   the event handler's EventBridge rules exist and are enabled in every region (§3.3, §4.3.3).
//! - `start`: the watch's length and poll interval, from the deployed configuration only.
//! - `poll`: health, errors and throttles of the new versions over the last two minutes, judged by
//!   the domain's rollback triggers, and the alarms of the promoted functions that went to ALARM
//!   since the start; the state machine rolls back at the first poll that says so.
//!   A release's health wait (§5.2.1) is the same watch, `start` given the phase's `seconds`.
//! - `verify_release`: §5.3's cross-service verification, `/health` of every service of a release.

use std::time::Duration;

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::monitor::fired_alarms;
use bbws_domain::{
    assess, throttle_lookback_seconds, Check, Deployment, Metric, PromotionPlan, ReleasePlan,
    Trigger, Verdict, Verification, Watch,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::info;

use crate::ports::Watched;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Verify {
        promotion: PromotionPlan,
        deploy: Deployment,
    },
    Start {
        promotion: PromotionPlan,
        /// A release's health wait for this phase, from the deployed catalog (§5.2.1); the
        /// promotion's own monitor period when absent.
        #[serde(default)]
        seconds: Option<u64>,
    },
    VerifyRelease {
        release: ReleasePlan,
    },
    Poll {
        promotion: PromotionPlan,
        deploy: Deployment,
        monitor: Watch,
    },
}

/// The monitor: the deployed settings and the target account.
pub struct App<W> {
    /// The deployed settings, or why they cannot be used (every event is then refused).
    pub settings: Result<Settings, BbwsError>,
    /// The target account.
    pub target: W,
}

impl<W: Watched> App<W> {
    /// One monitor event.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        // A function with unusable deployed settings refuses every event, as the others do.
        self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the monitor event", event)? {
            Event::Verify { promotion, deploy } => self.verify(&promotion, &deploy).await,
            Event::Start { promotion, seconds } => start(&promotion, seconds, Utc::now()),
            Event::VerifyRelease { release } => self.verify_release(&release).await,
            Event::Poll {
                promotion,
                deploy,
                monitor,
            } => self.poll(&promotion, &deploy, monitor).await,
        }
    }

    async fn verify(&self, plan: &PromotionPlan, deploy: &Deployment) -> Result<Value, BbwsError> {
        let healthy_status = plan.rules.rollback_triggers.healthy_status;
        let mut checks = Vec::new();
        for d in &deploy.functions {
            let h = self
                .target
                .health(&d.region, &d.function, &plan.target_alias)
                .await?;
            checks.push(Check {
                check: format!("{} /health in {}", h.target, d.region),
                passed: h.status == healthy_status,
                detail: format!("{} (expected {healthy_status})", h.detail),
            });
            for test in plan
                .rules
                .smoke_tests
                .iter()
                .filter(|t| t.function == d.function)
            {
                let request = test.request().to_string().into_bytes();
                let answer = self
                    .target
                    .request(&d.region, &d.function, &plan.target_alias, request)
                    .await?;
                checks.push(Check {
                    check: format!(
                        "smoke test {} {} on {} in {}",
                        test.method, test.path, answer.target, d.region
                    ),
                    passed: answer.status == test.expected_status,
                    detail: format!("{} (expected {})", answer.detail, test.expected_status),
                });
            }
        }
        if let Some(fragment) = &plan.rules.eventbridge_rule_contains {
            let fragment = format!("{fragment}-{}", plan.target_env.as_str());
            for region in &plan.target_regions {
                let rules = self.target.rules(region, &fragment).await?;
                checks.push(rules_check(&fragment, region, &rules));
            }
        }
        let failed = Check::failures(&checks);
        let healthy = failed.is_empty();
        info!(event = "verify", service = %plan.service, healthy, checks = checks.len(), failed = failed.len(),
              "verification of {} in {}: {} of {} checks passed{}", plan.service, plan.target_env,
              checks.len() - failed.len(), checks.len(),
              if healthy { String::new() } else { format!(": {}", failed.join("; ")) });
        let reason = (!healthy).then(|| {
            format!(
                "verification failed right after the deploy ({} of {} checks): {}",
                failed.len(),
                checks.len(),
                failed.join("; ")
            )
        });
        to_value(&Verification {
            healthy,
            checks,
            reason,
        })
    }

    async fn poll(
        &self,
        plan: &PromotionPlan,
        deploy: &Deployment,
        watch: Watch,
    ) -> Result<Value, BbwsError> {
        let triggers = &plan.rules.rollback_triggers;
        let lookback = Duration::from_secs(triggers.lookback_seconds);
        let watched = watch
            .started_at
            .and_then(|t| u64::try_from(Utc::now().timestamp() - t).ok());
        let throttle_lookback = Duration::from_secs(throttle_lookback_seconds(
            triggers.lookback_seconds,
            watched,
        ));
        let mut figures = Vec::new();
        let mut verdict = Verdict::Healthy;
        for d in &deploy.functions {
            let h = self
                .target
                .health(&d.region, &d.function, &plan.target_alias)
                .await?;
            let resource = format!("{}:{}", d.function, plan.target_alias);
            let errors_on = Metric::Errors.alias_dimensions(&d.function, &resource, &d.version);
            let throttles_on =
                Metric::Throttles.alias_dimensions(&d.function, &resource, &d.version);
            // The primary region is this account's own: its CloudWatch is the default one.
            let region = (Some(d.region.as_str())
                != plan.target_regions.first().map(String::as_str))
            .then_some(d.region.as_str());
            let errors = self
                .target
                .sum(
                    region,
                    Metric::Errors.cloudwatch_name(),
                    &errors_on,
                    lookback,
                )
                .await?;
            let throttles = self
                .target
                .sum(
                    region,
                    Metric::Throttles.cloudwatch_name(),
                    &throttles_on,
                    throttle_lookback,
                )
                .await?;
            let v = assess(h.status, errors, throttles, triggers);
            figures.push(
                json!({"function": d.function, "region": d.region, "version": d.version,
                                "health": h.status, "errors": errors.unwrap_or(0.0),
                                "throttles": throttles.unwrap_or(0.0)}),
            );
            if let Verdict::Rollback { trigger, reason } = v {
                let reason = format!(
                    "{} version {} in {}: {reason}",
                    d.function, d.version, d.region
                );
                verdict = match verdict {
                    Verdict::Healthy => Verdict::Rollback { trigger, reason },
                    Verdict::Rollback {
                        trigger: first,
                        reason: before,
                    } => Verdict::Rollback {
                        trigger: first,
                        reason: format!("{before}; {reason}"),
                    },
                };
            }
        }
        // §7.2 "CloudWatch alarms not triggered": an alarm of the promoted functions that went to
        // ALARM once a whole alarm period of the new version's data lies behind it rolls back too
        // (its threshold may differ from the monitor's own, as Terraform deployed it).
        let mut regions: Vec<&str> = deploy.functions.iter().map(|d| d.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let mut in_alarm = Vec::new();
        for region in regions {
            in_alarm.extend(self.target.alarms_in_alarm(region).await?);
        }
        let functions: Vec<&str> = deploy
            .functions
            .iter()
            .map(|d| d.function.as_str())
            .collect();
        let period = i64::try_from(triggers.lookback_seconds).unwrap_or(i64::MAX);
        let since = watch
            .started_at
            .unwrap_or_else(|| Utc::now().timestamp())
            .saturating_add(period);
        let fired = fired_alarms(&functions, &in_alarm, since);
        if !fired.is_empty() {
            let reason = fired.join("; ");
            verdict = match verdict {
                Verdict::Healthy => Verdict::Rollback {
                    trigger: Trigger::Alarm,
                    reason,
                },
                Verdict::Rollback {
                    trigger,
                    reason: before,
                } => Verdict::Rollback {
                    trigger,
                    reason: format!("{before}; {reason}"),
                },
            };
        }
        let polls_done = watch.polls_done + 1;
        let polls_left = watch.polls_left.saturating_sub(1);
        let (name, reason) = match &verdict {
            Verdict::Healthy => ("healthy", Value::Null),
            Verdict::Rollback { reason, .. } => (
                "rollback",
                Value::String(format!(
                    "monitor poll {polls_done} after the deploy of {} to {}: {reason}",
                    plan.service,
                    plan.target_env.label()
                )),
            ),
        };
        let figures_text = Value::Array(figures.clone()).to_string();
        info!(event = "monitor_poll", service = %plan.service, verdict = name, polls_done, polls_left,
              figures = %figures_text, alarms = fired.len(), "poll {polls_done} of {}: {name}", plan.service);
        to_value(
            &json!({"verdict": name, "reason": reason, "figures": figures, "alarms": fired,
                         "wait_seconds": watch.wait_seconds, "polls_left": polls_left, "polls_done": polls_done,
                         "started_at": watch.started_at}),
        )
    }
}

impl<W: Watched> App<W> {
    /// RB-003 §5.3: `/health` of `latest-<env>` of every function of every service of the
    /// release, in every region.
    async fn verify_release(&self, release: &ReleasePlan) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let env = release.target_env;
        let alias = bbws_domain::naming::latest_alias(env);
        let healthy_status = settings.config.monitor.triggers.healthy_status;
        let targets = release
            .targets(&settings.config.catalog)
            .map_err(|e| BbwsError::invalid_event(e.to_string()))?;
        let mut checks = Vec::new();
        for (service, region, f) in &targets {
            let h = self.target.health(region, f, &alias).await?;
            checks.push(Check {
                check: format!("{service} {} /health in {region}", h.target),
                passed: h.status == healthy_status,
                detail: format!("{} (expected {healthy_status})", h.detail),
            });
        }
        let failed = Check::failures(&checks);
        let healthy = failed.is_empty();
        info!(
            event = "verify_release",
            healthy,
            checks = checks.len(),
            failed = failed.len(),
            "cross-service verification in {env}: {} of {} checks passed",
            checks.len() - failed.len(),
            checks.len()
        );
        let reason = (!healthy).then(|| failed.join("; "));
        to_value(&Verification {
            healthy,
            checks,
            reason,
        })
    }
}

/// The event handler's EventBridge rules in one region: at least one, all enabled (§4.3.3).
fn rules_check(fragment: &str, region: &str, rules: &[(String, String)]) -> Check {
    let disabled: Vec<&str> = rules
        .iter()
        .filter(|(_, state)| state != "ENABLED")
        .map(|(name, _)| name.as_str())
        .collect();
    let detail = if rules.is_empty() {
        format!("no EventBridge rule named like '{fragment}'")
    } else if disabled.is_empty() {
        let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
        format!("{} rule(s) enabled: {}", rules.len(), names.join(", "))
    } else {
        format!("disabled: {}", disabled.join(", "))
    };
    Check {
        check: format!("EventBridge rules '{fragment}' in {region}"),
        passed: !rules.is_empty() && disabled.is_empty(),
        detail,
    }
}

fn start(
    plan: &PromotionPlan,
    seconds: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Value, BbwsError> {
    let poll = plan.limits.poll_seconds.max(1);
    let total = seconds.unwrap_or(plan.limits.monitor_seconds);
    let polls = total.div_ceil(poll).max(1);
    info!(event = "monitor_start", service = %plan.service, seconds = total, poll,
          "monitoring {} in {} for {total} s, a poll every {poll} s", plan.service, plan.target_env);
    to_value(&Watch {
        wait_seconds: poll,
        polls_left: polls,
        polls_done: 0,
        started_at: Some(now.timestamp()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_aws::functions::Health;
    use bbws_domain::{Catalog, Config, Deployed, PromotionRequest};
    use std::collections::BTreeMap;

    /// The target account in memory: a status per function, errors per function, rules per region.
    #[derive(Default)]
    struct Memory {
        status: BTreeMap<String, u16>,
        errors: BTreeMap<String, f64>,
        rules: BTreeMap<String, Vec<(String, String)>>,
        alarms: Vec<(String, i64)>,
    }

    impl Watched for Memory {
        async fn health(
            &self,
            _region: &str,
            function: &str,
            alias: &str,
        ) -> Result<Health, BbwsError> {
            let status = self.status.get(function).copied().unwrap_or(200);
            Ok(Health {
                target: format!("{function}:{alias}"),
                status,
                detail: format!("statusCode {status}"),
            })
        }

        async fn request(
            &self,
            region: &str,
            function: &str,
            alias: &str,
            _request: Vec<u8>,
        ) -> Result<Health, BbwsError> {
            self.health(region, function, alias).await
        }

        async fn sum(
            &self,
            _region: Option<&str>,
            metric: &str,
            dimensions: &[(&str, &str)],
            _lookback: Duration,
        ) -> Result<Option<f64>, BbwsError> {
            let function = dimensions.first().map(|(_, f)| *f).unwrap_or_default();
            Ok(match metric {
                "Errors" => self.errors.get(function).copied(),
                _ => None,
            })
        }

        async fn rules(
            &self,
            region: &str,
            _fragment: &str,
        ) -> Result<Vec<(String, String)>, BbwsError> {
            Ok(self.rules.get(region).cloned().unwrap_or_default())
        }

        async fn alarms_in_alarm(&self, _region: &str) -> Result<Vec<(String, i64)>, BbwsError> {
            Ok(self.alarms.clone())
        }
    }

    fn app(target: Memory) -> App<Memory> {
        let settings = Settings::from_lookup(|k| (k == "BBWS_ENV").then(|| "prod".to_owned()));
        App { settings, target }
    }

    fn plan(service: &str) -> PromotionPlan {
        let request = PromotionRequest::validate(
            &json!({"service": service, "source_env": "sit", "target_env": "prod",
                    "requested_by": "jane@bbws.io", "reason": "r", "change_request": "CHG-1"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        PromotionPlan::new(&request, &Config::runbook(), "arn:x", Utc::now()).expect("plan")
    }

    fn deployment(plan: &PromotionPlan) -> Deployment {
        let functions = plan
            .target_regions
            .iter()
            .flat_map(|r| {
                plan.functions.iter().map(move |p| Deployed {
                    region: r.clone(),
                    function: p.target.clone(),
                    source_function: p.source.clone(),
                    source_version: "7".into(),
                    previous_version: "1".into(),
                    version: "2".into(),
                    code_sha256: "abc=".into(),
                })
            })
            .collect();
        Deployment {
            functions,
            alias: plan.target_alias.clone(),
        }
    }

    #[tokio::test]
    async fn verification_passes_only_when_every_check_in_every_region_passes() {
        let plan = plan("site-management");
        let event = json!({"op": "verify", "promotion": plan, "deploy": deployment(&plan)});
        let healthy = app(Memory::default())
            .handle(event.clone())
            .await
            .expect("verified");
        let healthy: Verification = serde_json::from_value(healthy).expect("a verification");
        assert!(healthy.healthy);
        // Health and one smoke test per function, in both regions.
        assert_eq!(healthy.checks.len(), 16);
        assert_eq!(healthy.reason, None);

        let sick = Memory {
            status: BTreeMap::from([("prod-bbws-templates-service".to_owned(), 500)]),
            ..Memory::default()
        };
        let out = app(sick).handle(event).await.expect("verified");
        let sick: Verification = serde_json::from_value(out).expect("a verification");
        assert!(!sick.healthy);
        let reason = sick.reason.unwrap_or_default();
        assert!(
            reason.starts_with("verification failed right after the deploy (4 of 16 checks): "),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn the_event_handlers_rules_are_checked_in_every_region() {
        let plan = plan("ecs-event-handler");
        let event = json!({"op": "verify", "promotion": plan, "deploy": deployment(&plan)});
        let rule = vec![(
            "bbws-ecs-event-handler-prod-task-state".to_owned(),
            "ENABLED".to_owned(),
        )];
        let one_region = Memory {
            rules: BTreeMap::from([("af-south-1".to_owned(), rule)]),
            ..Memory::default()
        };
        let out = app(one_region).handle(event).await.expect("verified");
        let v: Verification = serde_json::from_value(out).expect("a verification");
        assert!(!v.healthy);
        let failed = Check::failures(&v.checks);
        assert_eq!(
            failed,
            ["EventBridge rules 'ecs-event-handler-prod' in eu-west-1: no EventBridge rule named \
              like 'ecs-event-handler-prod'"]
        );
    }

    #[tokio::test]
    async fn a_poll_rolls_back_on_errors_and_counts_down() {
        let plan = plan("site-management");
        let watch = Watch {
            wait_seconds: 30,
            polls_left: 10,
            polls_done: 0,
            started_at: Some(Utc::now().timestamp()),
        };
        let event = json!({"op": "poll", "promotion": plan, "deploy": deployment(&plan),
                           "monitor": watch});
        let out = app(Memory::default())
            .handle(event.clone())
            .await
            .expect("polled");
        assert_eq!(out["verdict"], "healthy");
        assert_eq!(out["polls_left"], 9);
        assert_eq!(out["polls_done"], 1);
        let failing = Memory {
            errors: BTreeMap::from([("prod-bbws-plugins-service".to_owned(), 50.0)]),
            ..Memory::default()
        };
        let out = app(failing).handle(event).await.expect("polled");
        assert_eq!(out["verdict"], "rollback");
        let reason = out["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(
                "monitor poll 1 after the deploy of site-management to PROD: \
                 prod-bbws-plugins-service version 2 in af-south-1: "
            ),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn an_alarm_of_a_promoted_function_that_fired_a_period_after_the_start_rolls_back() {
        let plan = plan("site-management");
        let start = Utc::now().timestamp() - 600;
        let watch = Watch {
            wait_seconds: 30,
            polls_left: 10,
            polls_done: 0,
            started_at: Some(start),
        };
        let event = json!({"op": "poll", "promotion": plan, "deploy": deployment(&plan),
                           "monitor": watch});
        // Within one alarm period (120 s) of the start the alarm still sums the version before;
        // another service's alarm is not this deployment's.
        let earlier = Memory {
            alarms: vec![
                (
                    "bbws-prod-bbws-sites-service-errors".to_owned(),
                    start + 119,
                ),
                (
                    "bbws-tenant-instance-management-prod-errors".to_owned(),
                    start + 300,
                ),
            ],
            ..Memory::default()
        };
        let out = app(earlier).handle(event.clone()).await.expect("polled");
        assert_eq!(out["verdict"], "healthy", "{out}");
        assert_eq!(out["alarms"], json!([]));
        let fired = Memory {
            alarms: vec![(
                "bbws-prod-bbws-sites-service-throttles".to_owned(),
                start + 120,
            )],
            ..Memory::default()
        };
        let out = app(fired).handle(event).await.expect("polled");
        assert_eq!(out["verdict"], "rollback");
        let reason = out["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(
                "monitor poll 1 after the deploy of site-management to PROD: alarm \
                 bbws-prod-bbws-sites-service-throttles went to ALARM at "
            ),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn the_watch_lasts_the_plans_monitor_period_in_polls() {
        let plan = plan("site-management");
        let out = app(Memory::default())
            .handle(json!({"op": "start", "promotion": plan}))
            .await
            .expect("started");
        let watch: Watch = serde_json::from_value(out).expect("a watch");
        assert_eq!(
            watch.polls_left,
            plan.limits
                .monitor_seconds
                .div_ceil(plan.limits.poll_seconds)
        );
        assert_eq!(watch.polls_done, 0);
    }

    #[tokio::test]
    async fn unusable_settings_refuse_every_event() {
        let app = App {
            settings: Settings::from_lookup(|_| None),
            target: Memory::default(),
        };
        let e = app
            .handle(json!({"op": "start"}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, bbws_domain::ErrorName::ConfigInvalid);
    }

    fn rules(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect()
    }

    #[test]
    fn the_event_handler_needs_at_least_one_rule_and_all_enabled() {
        let fragment = "ecs-event-handler-prod";
        let ok = rules_check(
            fragment,
            "eu-west-1",
            &rules(&[
                ("bbws-ecs-event-handler-prod-task-state", "ENABLED"),
                ("bbws-ecs-event-handler-prod-service-action", "ENABLED"),
            ]),
        );
        assert!(ok.passed);
        assert_eq!(
            ok.check,
            "EventBridge rules 'ecs-event-handler-prod' in eu-west-1"
        );
        assert!(ok.detail.starts_with("2 rule(s) enabled: "));
        let off = rules_check(
            fragment,
            "af-south-1",
            &rules(&[
                ("bbws-ecs-event-handler-prod-task-state", "ENABLED"),
                ("bbws-ecs-event-handler-prod-service-action", "DISABLED"),
            ]),
        );
        assert!(!off.passed);
        assert_eq!(
            off.detail,
            "disabled: bbws-ecs-event-handler-prod-service-action"
        );
        let none = rules_check(fragment, "af-south-1", &[]);
        assert!(!none.passed);
        assert_eq!(
            none.detail,
            "no EventBridge rule named like 'ecs-event-handler-prod'"
        );
    }
}
