//! Monitor: health right after the deploy, then the post-deploy watch of RB-003 §6.3.1.
//!
//! - `verify`: `/health` on `latest-<target>` of every function in every region returns 200; the
//!   event handler's EventBridge rules exist and are enabled (§4.3.3).
//! - `start`: the watch's length and poll interval, from the deployed configuration only.
//! - `poll`: health, errors and throttles of the new versions over the last two minutes, judged by
//!   the domain's rollback triggers; the state machine rolls back at the first poll that says so.

use std::time::Duration;

use bbws_aws::functions::health;
use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::{metrics, store, Aws, BbwsError, Settings};
use bbws_domain::{assess, PromotionPlan, Verdict};
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

#[derive(Debug, Serialize, Deserialize)]
struct Watch {
    wait_seconds: u64,
    polls_left: u64,
    #[serde(default)]
    polls_done: u64,
}

struct App {
    aws: Aws,
    settings: Result<Settings, BbwsError>,
}

impl App {
    async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the monitor event", event)? {
            Event::Verify { promotion, deploy } => self.verify(settings, &promotion, &deploy).await,
            Event::Start { promotion } => start(&promotion),
            Event::Poll {
                promotion,
                deploy,
                monitor,
            } => self.poll(&promotion, &deploy, monitor).await,
        }
    }

    async fn verify(
        &self,
        settings: &Settings,
        plan: &PromotionPlan,
        deploy: &Deploy,
    ) -> Result<Value, BbwsError> {
        let mut checks = Vec::new();
        for d in &deploy.functions {
            let h = health(
                &self.aws.lambda(Some(&d.region)),
                &d.function,
                &plan.target_alias,
            )
            .await?;
            checks.push(
                json!({"check": format!("{} /health in {}", h.target, d.region),
                               "passed": h.status == 200, "detail": h.detail}),
            );
        }
        let spec = settings.config.catalog.get(&plan.service);
        if let Some(fragment) = spec.and_then(|s| s.eventbridge_rule_contains.clone()) {
            let fragment = format!("{fragment}-{}", plan.target_env.as_str());
            let rules = store::rules_containing(&self.aws.eventbridge(), &fragment).await?;
            let disabled: Vec<&str> = rules
                .iter()
                .filter(|(_, s)| s != "ENABLED")
                .map(|(n, _)| n.as_str())
                .collect();
            let passed = !rules.is_empty() && disabled.is_empty();
            let detail = if rules.is_empty() {
                format!("no EventBridge rule named like '{fragment}'")
            } else if disabled.is_empty() {
                format!("{} rule(s) enabled", rules.len())
            } else {
                format!("disabled: {}", disabled.join(", "))
            };
            checks.push(json!({"check": "EventBridge rules", "passed": passed, "detail": detail}));
        }
        let healthy = checks.iter().all(|c| c["passed"] == json!(true));
        let failed: Vec<String> = checks
            .iter()
            .filter(|c| c["passed"] != json!(true))
            .map(|c| {
                format!(
                    "{}: {}",
                    c["check"].as_str().unwrap_or(""),
                    c["detail"].as_str().unwrap_or("")
                )
            })
            .collect();
        info!(event = "verify", service = %plan.service, healthy, checks = checks.len(),
              "verification of {} in {}: {}", plan.service, plan.target_env,
              if healthy { "healthy".to_owned() } else { failed.join("; ") });
        to_value(&json!({"healthy": healthy, "checks": checks,
                         "reason": if healthy { Value::Null } else { Value::String(format!("health check failed right after the deploy: {}", failed.join("; "))) }}))
    }

    async fn poll(
        &self,
        plan: &PromotionPlan,
        deploy: &Deploy,
        watch: Watch,
    ) -> Result<Value, BbwsError> {
        let triggers = &plan.rules.rollback_triggers;
        let lookback = Duration::from_secs(triggers.lookback_seconds);
        let mut figures = Vec::new();
        let mut verdict = Verdict::Healthy;
        for d in &deploy.functions {
            let lambda = self.aws.lambda(Some(&d.region));
            let h = health(&lambda, &d.function, &plan.target_alias).await?;
            let resource = format!("{}:{}", d.function, plan.target_alias);
            let dims = [
                ("FunctionName", d.function.as_str()),
                ("Resource", resource.as_str()),
                ("ExecutedVersion", d.version.as_str()),
            ];
            let cw = if Some(d.region.as_str()) == plan.target_regions.first().map(String::as_str) {
                self.aws.cloudwatch()
            } else {
                self.aws.cloudwatch_in(&d.region)
            };
            let errors = metrics::sum(&cw, "Errors", &dims, lookback).await?;
            let throttles = metrics::sum(&cw, "Throttles", &dims, lookback).await?;
            let v = assess(h.status, errors, throttles, triggers);
            figures.push(
                json!({"function": d.function, "region": d.region, "version": d.version,
                                "health": h.status, "errors": errors.unwrap_or(0.0),
                                "throttles": throttles.unwrap_or(0.0)}),
            );
            if let (Verdict::Healthy, Verdict::Rollback { trigger, reason }) = (&verdict, v) {
                verdict = Verdict::Rollback {
                    trigger,
                    reason: format!("{} in {}: {reason}", d.function, d.region),
                };
            }
        }
        let polls_done = watch.polls_done + 1;
        let polls_left = watch.polls_left.saturating_sub(1);
        let (name, reason) = match &verdict {
            Verdict::Healthy => ("healthy", Value::Null),
            Verdict::Rollback { reason, .. } => ("rollback", Value::String(reason.clone())),
        };
        let figures_text = Value::Array(figures.clone()).to_string();
        info!(event = "monitor_poll", service = %plan.service, verdict = name, polls_done, polls_left,
              figures = %figures_text, "poll {polls_done} of {}: {name}", plan.service);
        to_value(
            &json!({"verdict": name, "reason": reason, "figures": figures,
                         "wait_seconds": watch.wait_seconds, "polls_left": polls_left, "polls_done": polls_done}),
        )
    }
}

fn start(plan: &PromotionPlan) -> Result<Value, BbwsError> {
    let poll = plan.limits.poll_seconds.max(1);
    let polls = plan.limits.monitor_seconds.div_ceil(poll).max(1);
    info!(event = "monitor_start", service = %plan.service, seconds = plan.limits.monitor_seconds, poll,
          "monitoring {} in {} for {} s, a poll every {poll} s", plan.service, plan.target_env, plan.limits.monitor_seconds);
    to_value(&Watch {
        wait_seconds: poll,
        polls_left: polls,
        polls_done: 0,
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
