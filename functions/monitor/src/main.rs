//! Monitor: health right after the deploy, then the post-deploy watch of RB-003 §6.3.1.
//!
//! - `verify`: `/health` on `latest-<target>` of every function in every region returns 200; the
//!   service's smoke tests from the catalog (only the read-only ones in PROD) answer as expected;
//!   the event handler's EventBridge rules exist and are enabled in every region (§3.3, §4.3.3).
//! - `start`: the watch's length and poll interval, from the deployed configuration only.
//! - `poll`: health, errors and throttles of the new versions over the last two minutes, judged by
//!   the domain's rollback triggers; the state machine rolls back at the first poll that says so.
//!   A release's health wait (§5.2.1) is the same watch, `start` given the phase's `seconds`.
//! - `verify_release`: §5.3's cross-service verification, `/health` of every service of a release.

use std::time::Duration;

use bbws_aws::functions::{health, http_request};
use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::{metrics, store, Aws, BbwsError, Settings};
use bbws_domain::{assess, throttle_lookback_seconds, Metric, PromotionPlan, ReleasePlan, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::info;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Verify {
        promotion: PromotionPlan,
        deploy: Deploy,
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
        deploy: Deploy,
        monitor: Watch,
    },
}

#[derive(Deserialize)]
struct Deploy {
    functions: Vec<Deployed>,
}

#[derive(Deserialize)]
struct Deployed {
    region: String,
    function: String,
    version: String,
}

/// One verification check, with its figure, as the execution shows it.
#[derive(Debug, Serialize)]
struct Check {
    check: String,
    passed: bool,
    detail: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Watch {
    wait_seconds: u64,
    polls_left: u64,
    #[serde(default)]
    polls_done: u64,
    /// When the watch started (Unix seconds): the alias's throttles are read from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    started_at: Option<i64>,
}

struct App {
    aws: Aws,
    settings: Result<Settings, BbwsError>,
}

impl App {
    async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        // A function with unusable deployed settings refuses every event, as the others do.
        self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the monitor event", event)? {
            Event::Verify { promotion, deploy } => self.verify(&promotion, &deploy).await,
            Event::Start { promotion, seconds } => start(&promotion, seconds),
            Event::VerifyRelease { release } => self.verify_release(&release).await,
            Event::Poll {
                promotion,
                deploy,
                monitor,
            } => self.poll(&promotion, &deploy, monitor).await,
        }
    }

    async fn verify(&self, plan: &PromotionPlan, deploy: &Deploy) -> Result<Value, BbwsError> {
        let healthy_status = plan.rules.rollback_triggers.healthy_status;
        let mut checks = Vec::new();
        for d in &deploy.functions {
            let lambda = self.aws.lambda(Some(&d.region));
            let h = health(&lambda, &d.function, &plan.target_alias).await?;
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
                let answer =
                    http_request(&lambda, &d.function, &plan.target_alias, request).await?;
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
                let events = store::eventbridge_in(&self.aws.config, region);
                let rules = store::rules_containing(&events, &fragment).await?;
                checks.push(rules_check(&fragment, region, &rules));
            }
        }
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect();
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
        to_value(&json!({"healthy": healthy, "checks": checks, "reason": reason}))
    }

    async fn poll(
        &self,
        plan: &PromotionPlan,
        deploy: &Deploy,
        watch: Watch,
    ) -> Result<Value, BbwsError> {
        let triggers = &plan.rules.rollback_triggers;
        let lookback = Duration::from_secs(triggers.lookback_seconds);
        let watched = watch
            .started_at
            .and_then(|t| u64::try_from(chrono::Utc::now().timestamp() - t).ok());
        let throttle_lookback = Duration::from_secs(throttle_lookback_seconds(
            triggers.lookback_seconds,
            watched,
        ));
        let mut figures = Vec::new();
        let mut verdict = Verdict::Healthy;
        for d in &deploy.functions {
            let lambda = self.aws.lambda(Some(&d.region));
            let h = health(&lambda, &d.function, &plan.target_alias).await?;
            let resource = format!("{}:{}", d.function, plan.target_alias);
            let errors_on = Metric::Errors.alias_dimensions(&d.function, &resource, &d.version);
            let throttles_on =
                Metric::Throttles.alias_dimensions(&d.function, &resource, &d.version);
            let cw = if Some(d.region.as_str()) == plan.target_regions.first().map(String::as_str) {
                self.aws.cloudwatch()
            } else {
                self.aws.cloudwatch_in(&d.region)
            };
            let errors =
                metrics::sum(&cw, Metric::Errors.cloudwatch_name(), &errors_on, lookback).await?;
            let throttles = metrics::sum(
                &cw,
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
              figures = %figures_text, "poll {polls_done} of {}: {name}", plan.service);
        to_value(
            &json!({"verdict": name, "reason": reason, "figures": figures,
                         "wait_seconds": watch.wait_seconds, "polls_left": polls_left, "polls_done": polls_done,
                         "started_at": watch.started_at}),
        )
    }
}

impl App {
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
            let h = health(&self.aws.lambda(Some(region)), f, &alias).await?;
            checks.push(Check {
                check: format!("{service} {} /health in {region}", h.target),
                passed: h.status == healthy_status,
                detail: format!("{} (expected {healthy_status})", h.detail),
            });
        }
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect();
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
        to_value(&json!({"healthy": healthy, "checks": checks, "reason": reason}))
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

fn start(plan: &PromotionPlan, seconds: Option<u64>) -> Result<Value, BbwsError> {
    let poll = plan.limits.poll_seconds.max(1);
    let total = seconds.unwrap_or(plan.limits.monitor_seconds);
    let polls = total.div_ceil(poll).max(1);
    info!(event = "monitor_start", service = %plan.service, seconds = total, poll,
          "monitoring {} in {} for {total} s, a poll every {poll} s", plan.service, plan.target_env);
    to_value(&Watch {
        wait_seconds: poll,
        polls_left: polls,
        polls_done: 0,
        started_at: Some(chrono::Utc::now().timestamp()),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = App {
        aws: Aws::load().await,
        settings: Settings::from_env(),
    };
    serve(|event| app.handle(event)).await
}

#[cfg(test)]
mod tests {
    use super::rules_check;

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
