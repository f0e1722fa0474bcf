//! Record: the promotion lock, the deployment record and the notifications.
//!
//! - `lock`: one promotion per (service, target environment), by conditional write; a lock left
//!   by an execution that no longer runs (stopped by hand) is taken over by the next attempt
//!   (DescribeExecution of the holder, then a conditional write on it), and says so.
//! - `unlock`: releases the lock this execution holds.
//! - `finish`: the outcome (succeeded, failed, rolled back) with the error name callers branch on
//!   and a cause in words; one record per outcome in `bbws-deployments-<env>`, never overwritten;
//!   an SNS notification.
//! - `lock_rollback`, `unlock_rollback`, `finish_rollback`: the same for a manual rollback
//!   (`bbws-rollback-<env>`), which takes the lock a promotion of the service would take.

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::lock::{promotion_hold_seconds, release_hold_seconds, rollback_hold_seconds};
use bbws_domain::{lock_verdict, ErrorName, LockVerdict, PromotionPlan, ReleasePlan, RollbackPlan};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::ports::{Claim, Executions, Functions, Store, Topic};
use crate::{manual, outcome, release};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Lock { promotion: PromotionPlan },
    Unlock { promotion: PromotionPlan },
    Finish { outcome: String, state: Value },
    LockRollback { rollback: RollbackPlan },
    UnlockRollback { rollback: RollbackPlan },
    FinishRollback { outcome: String, state: Value },
    LockRelease { release: ReleasePlan },
    UnlockRelease { release: ReleasePlan },
    NextPhase { release: ReleasePlan },
    PhaseDone { outcome: String, state: Value },
    FinishRelease { outcome: String, state: Value },
}

/// How many times a lock attempt looks at the lock again after losing a takeover.
const LOCK_ATTEMPTS: usize = 3;

/// A lock taken: until when, and from which stale holder when it was taken over.
struct Taken {
    expires_at: i64,
    took_over: Option<Value>,
}

/// The record: this account's tables, executions, events topic and functions, and the deployed
/// settings.
pub struct App<D, X, N, F> {
    /// The lock and deployment tables.
    pub store: D,
    /// The executions holding locks.
    pub executions: X,
    /// The events topic.
    pub topic: N,
    /// This account's functions (where a release ended).
    pub functions: F,
    /// The deployed settings, or why they cannot be used (every event is then refused).
    pub settings: Result<Settings, BbwsError>,
}

impl<D: Store, X: Executions, N: Topic, F: Functions> App<D, X, N, F> {
    /// One record event.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the record event", event)? {
            Event::Lock { promotion } => self.lock(settings, &promotion).await,
            Event::Unlock { promotion } => {
                let released = self
                    .store
                    .release_lock(
                        &settings.locks_table,
                        &promotion.lock_id(),
                        &promotion.execution_arn,
                    )
                    .await?;
                info!(event = "unlock", lock = %promotion.lock_id(), released, "lock {} released: {released}", promotion.lock_id());
                to_value(&json!({"released": released}))
            }
            Event::Finish { outcome, state } => self.finish(settings, &outcome, &state).await,
            Event::LockRollback { rollback } => self.lock_rollback(settings, &rollback).await,
            Event::UnlockRollback { rollback } => {
                let released = self
                    .store
                    .release_lock(
                        &settings.locks_table,
                        &rollback.lock_id,
                        &rollback.execution_arn,
                    )
                    .await?;
                info!(event = "unlock", lock = %rollback.lock_id, released, "lock {} released: {released}", rollback.lock_id);
                to_value(&json!({"released": released}))
            }
            Event::FinishRollback { outcome, state } => {
                self.finish_rollback(settings, &outcome, &state).await
            }
            Event::LockRelease { release } => self.lock_release(settings, &release).await,
            Event::UnlockRelease { release } => {
                let released = self
                    .store
                    .release_lock(
                        &settings.locks_table,
                        &release.lock_id,
                        &release.execution_arn,
                    )
                    .await?;
                info!(event = "unlock", lock = %release.lock_id, released, "lock {} released: {released}", release.lock_id);
                to_value(&json!({"released": released}))
            }
            Event::NextPhase { release } => {
                let progress = release::first(&release);
                info!(
                    event = "phases",
                    phases = release.phases.len(),
                    "release of {} phase(s) starts",
                    release.phases.len()
                );
                Ok(progress)
            }
            Event::PhaseDone { outcome, state } => {
                let release: ReleasePlan = parse("the release plan", state["release"].clone())?;
                let (progress, subject, text) = release::advance(&release, &outcome, &state)?;
                info!(event = "phase_done", outcome = %outcome, done = progress["done"].as_bool().unwrap_or(true),
                      "{subject}");
                let notified = self
                    .announce(settings, "release_phase", &subject, &text)
                    .await;
                let mut progress = progress;
                progress["notified"] = Value::Bool(notified);
                Ok(progress)
            }
            Event::FinishRelease { outcome, state } => {
                self.finish_release(settings, &outcome, &state).await
            }
        }
    }

    /// Takes `lock_id` for `execution_arn` until `hold_seconds` from now (its expiry). When
    /// another execution holds it and still runs: `Bbws.PromotionInProgress`, worded by `refused`
    /// from the holder's words. When the holder no longer runs (stopped by hand, or ended without
    /// releasing it), the lock is stale and taken over by a conditional write on that holder; the
    /// answer then says from whom (`took_over`).
    async fn take_lock(
        &self,
        settings: &Settings,
        lock_id: &str,
        execution_arn: &str,
        hold_seconds: u64,
        refused: impl FnOnce(&str) -> String,
    ) -> Result<Taken, BbwsError> {
        let table = &settings.locks_table;
        // A takeover lost to another contender is looked at again, a bounded number of times.
        let mut last_holder = None;
        for _ in 0..LOCK_ATTEMPTS {
            let now = Utc::now();
            let expires = now.timestamp() + i64::try_from(hold_seconds).unwrap_or(i64::MAX / 2);
            let acquired_at = now.to_rfc3339();
            let claim = Claim {
                lock_id,
                execution_arn,
                expires_at: expires,
                acquired_at: &acquired_at,
            };
            let got = self
                .store
                .acquire_lock(table, &claim, now.timestamp())
                .await?;
            let holder = match got {
                Ok(()) => {
                    info!(event = "lock", lock = %lock_id, expires_at = expires, "lock {lock_id} taken until {expires}");
                    return Ok(Taken {
                        expires_at: expires,
                        took_over: None,
                    });
                }
                Err(holder) if holder.execution_arn.is_empty() => continue, // released meanwhile
                Err(holder) => holder,
            };
            let status = self.executions.status(&holder.execution_arn).await?;
            match lock_verdict(&status) {
                LockVerdict::Held => {
                    last_holder = Some(holder);
                    break;
                }
                LockVerdict::Stale {
                    holder_status: ended,
                } => {
                    let mut from = Map::new();
                    from.insert("execution_arn".into(), json!(holder.execution_arn));
                    from.insert("status".into(), json!(ended));
                    from.insert("acquired_at".into(), json!(holder.acquired_at));
                    from.insert("taken_over_at".into(), json!(now.to_rfc3339()));
                    let won = self
                        .store
                        .take_over_lock(table, &claim, &holder.execution_arn, &from)
                        .await?;
                    info!(event = "lock_stale", lock = %lock_id, holder = %holder.execution_arn,
                          holder_status = %ended, won, expires_at = expires,
                          "lock {lock_id} held by {} ({ended}, not running): taken over: {won}",
                          holder.execution_arn);
                    if won {
                        return Ok(Taken {
                            expires_at: expires,
                            took_over: Some(Value::Object(from)),
                        });
                    }
                    last_holder = Some(holder);
                }
            }
        }
        let holder = last_holder.unwrap_or_default();
        info!(event = "lock_refused", lock = %lock_id, holder = %holder.execution_arn, "lock {lock_id} is held");
        let held = format!(
            "{} by {} (since {}); wait for it to end, or stop it: the next attempt takes over the \
             lock of an execution that no longer runs",
            activity(&holder.execution_arn),
            holder.execution_arn,
            holder.acquired_at
        );
        Err(BbwsError::new(
            ErrorName::PromotionInProgress,
            refused(&held),
        ))
    }

    /// Writes an outcome's record once (never overwritten); the item and whether it was new.
    async fn write_record(
        &self,
        settings: &Settings,
        record: Value,
    ) -> Result<(Map<String, Value>, bool), BbwsError> {
        let Value::Object(item) = record else {
            return Err(BbwsError::invalid_event("the record is not an object"));
        };
        let written = self
            .store
            .put_new(&settings.deployments_table, "deployment_id", &item)
            .await?;
        Ok((item, written))
    }

    async fn lock_rollback(
        &self,
        settings: &Settings,
        plan: &RollbackPlan,
    ) -> Result<Value, BbwsError> {
        let hold = rollback_hold_seconds(plan);
        let taken = self
            .take_lock(settings, &plan.lock_id, &plan.execution_arn, hold, |held| {
                format!(
                    "{} in {} cannot be rolled back now: it is {held}",
                    plan.service,
                    plan.environment.label()
                )
            })
            .await?;
        let r = &plan.request;
        let notified = self
            .announce(
                settings,
                "started",
                &format!("Rollback started: {} in {}", plan.service, plan.environment.label()),
                &format!(
                    "Service: {}\nEnvironment: {}\nTarget: {}\nRequested by: {}\nReason: {}\nIncident: {}\n\
                     Approval: {}\nExecution: {}\n",
                    plan.service,
                    plan.environment.label(),
                    r.target.label(),
                    r.requested_by,
                    r.reason,
                    r.incident.as_deref().unwrap_or("-"),
                    plan.approval.as_ref().map_or_else(|| "none needed".to_owned(), ToString::to_string),
                    plan.execution_arn
                ),
            )
            .await;
        to_value(
            &json!({"lock_id": plan.lock_id, "expires_at": taken.expires_at,
                         "took_over": taken.took_over, "notified": notified}),
        )
    }

    async fn lock_release(
        &self,
        settings: &Settings,
        release: &ReleasePlan,
    ) -> Result<Value, BbwsError> {
        let hold = release_hold_seconds(release);
        let taken = self
            .take_lock(
                settings,
                &release.lock_id,
                &release.execution_arn,
                hold,
                |held| {
                    format!(
                        "another release into {} is running: {held}",
                        release.target_env.label()
                    )
                },
            )
            .await?;
        let r = &release.request;
        let order: Vec<String> = release
            .phases
            .iter()
            .map(|p| {
                format!(
                    "{}. {} (then a {} s health wait)",
                    p.index, p.service, p.health_wait_seconds
                )
            })
            .collect();
        let notified = self
            .announce(
                settings,
                "started",
                &format!("Release started: {} service(s) into {}", release.phases.len(), release.target_env.label()),
                &format!(
                    "Phases:\n{}\nRequested by: {}\nReason: {}\nChange request: {}\nExecution: {}\n",
                    order.join("\n"),
                    r.requested_by,
                    r.reason,
                    r.change_request.as_deref().unwrap_or("-"),
                    release.execution_arn
                ),
            )
            .await;
        to_value(
            &json!({"lock_id": release.lock_id, "expires_at": taken.expires_at,
                         "took_over": taken.took_over, "notified": notified}),
        )
    }

    /// Where every service of the release ended: `latest-<env>` of each function in each region.
    async fn ended_on(&self, release: &ReleasePlan) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let alias = bbws_domain::naming::latest_alias(release.target_env);
        let targets = release
            .targets(&settings.config.catalog)
            .map_err(|e| BbwsError::invalid_event(e.to_string()))?;
        let mut out = Map::new();
        for (service, region, f) in &targets {
            let v = self
                .functions
                .alias_version(region, f, &alias)
                .await?
                .unwrap_or_else(|| "none".to_owned());
            if let Value::Object(versions) = out
                .entry(service.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                versions.insert(format!("{region}/{f}"), Value::String(v));
            }
        }
        Ok(Value::Object(out))
    }

    async fn finish_release(
        &self,
        settings: &Settings,
        outcome: &str,
        state: &Value,
    ) -> Result<Value, BbwsError> {
        let release: ReleasePlan = parse("the release plan", state["release"].clone())?;
        let mut result = release::classify(outcome, state, &release)?;
        let ended_on = self.ended_on(&release).await?;
        let ended = release::ended_sentence(&ended_on);
        if result.error == Some(ErrorName::ReleaseFailed) {
            result.cause = format!("{}. Services now: {ended}", result.cause);
        }
        let deployment_id = outcome::deployment_id(&release.execution_arn, result.status);
        let (_, written) = self
            .write_record(
                settings,
                release::record(
                    &release,
                    state,
                    &result,
                    &ended_on,
                    &deployment_id,
                    Utc::now(),
                ),
            )
            .await?;
        info!(event = "recorded", deployment_id = %deployment_id, status = %result.status, error = ?result.error,
              written, "release into {}: {}; {ended}", release.target_env, result.status);
        let what = format!(
            "{} into {}",
            release.request.services.join(", "),
            release.target_env.label()
        );
        let (event, subject) = match result.error {
            None => ("released", format!("Released: {what}")),
            Some(ErrorName::ApprovalRejected) => ("rejected", format!("Release rejected: {what}")),
            Some(ErrorName::ApprovalTimedOut) => (
                "approval_timed_out",
                format!("Release approval timed out: {what}"),
            ),
            Some(_) => ("failed", format!("Release failed: {what}")),
        };
        let mut text = format!(
            "Services now: {ended}\nRequested by: {}\nReason: {}\nChange request: {}\nOutcome: {}\n",
            release.request.requested_by,
            release.request.reason,
            release.request.change_request.as_deref().unwrap_or("-"),
            result.status
        );
        if let Some(e) = result.error {
            text.push_str(&format!("Error: {e}\nCause: {}\n", result.cause));
        }
        text.push_str(&format!("Execution: {}\n", release.execution_arn));
        let notified = self.announce(settings, event, &subject, &text).await;
        let mut out = outcome::output(&result, deployment_id, notified);
        out.insert("ended_on".into(), ended_on);
        Ok(Value::Object(out))
    }

    async fn finish_rollback(
        &self,
        settings: &Settings,
        outcome: &str,
        state: &Value,
    ) -> Result<Value, BbwsError> {
        let plan: RollbackPlan = parse("the rollback plan", state["rollback"].clone())?;
        let result = manual::classify(outcome, state, &plan)?;
        let deployment_id = outcome::deployment_id(&plan.execution_arn, result.status);
        let (item, written) = self
            .write_record(
                settings,
                manual::record(&plan, state, &result, &deployment_id, Utc::now()),
            )
            .await?;
        info!(event = "recorded", deployment_id = %deployment_id, status = %result.status, error = ?result.error,
              written, "rollback of {} in {}: {}", plan.service, plan.environment, result.status);
        let event = match result.error {
            None => "rolled_back",
            Some(ErrorName::ApprovalRejected) => "rejected",
            Some(ErrorName::ApprovalTimedOut) => "approval_timed_out",
            Some(_) => "failed",
        };
        let notified = self
            .announce(
                settings,
                event,
                &manual::subject(&plan, &result),
                &manual::message(&plan, &item, &result),
            )
            .await;
        Ok(Value::Object(outcome::output(
            &result,
            deployment_id,
            notified,
        )))
    }

    async fn lock(&self, settings: &Settings, plan: &PromotionPlan) -> Result<Value, BbwsError> {
        let hold = promotion_hold_seconds(plan);
        let lock_id = plan.lock_id();
        let taken = self
            .take_lock(settings, &lock_id, &plan.execution_arn, hold, |held| {
                format!(
                    "{} cannot be promoted to {} now: it is {held}",
                    plan.service,
                    plan.target_env.label()
                )
            })
            .await?;
        let request = &plan.request;
        let notified = self
            .announce(
                settings,
                "started",
                &format!(
                    "Promotion started: {} {} -> {}",
                    plan.service,
                    plan.source_env.label(),
                    plan.target_env.label()
                ),
                &format!(
                    "Service: {}\nFrom: {} ({})\nTo: {}\nRequested by: {}\nReason: {}\n\
                     Change request: {}\nIncident: {}\nExecution: {}\n",
                    plan.service,
                    plan.source_env.label(),
                    plan.version,
                    plan.target_env.label(),
                    request.requested_by,
                    request.reason,
                    request.change_request.as_deref().unwrap_or("-"),
                    request
                        .emergency
                        .as_ref()
                        .map_or("-", |e| e.incident.as_str()),
                    plan.execution_arn
                ),
            )
            .await;
        to_value(&json!({"lock_id": lock_id, "expires_at": taken.expires_at,
                         "took_over": taken.took_over, "notified": notified}))
    }

    /// Publishes a notification. A notification that cannot be sent is logged and reported in the
    /// step's output; it never turns the promotion's outcome into another one, nor keeps a lock.
    async fn announce(
        &self,
        settings: &Settings,
        event: &str,
        subject: &str,
        message: &str,
    ) -> bool {
        match self
            .topic
            .notify(&settings.events_topic_arn, event, subject, message)
            .await
        {
            Ok(()) => {
                info!(event = "notified", notification = %event, topic = %settings.events_topic_arn,
                      "notified {event}: {subject}");
                true
            }
            Err(e) => {
                warn!(event = "notify_failed", notification = %event, error = %e.message,
                      "could not notify {event}: {}", e.message);
                false
            }
        }
    }

    async fn finish(
        &self,
        settings: &Settings,
        outcome: &str,
        state: &Value,
    ) -> Result<Value, BbwsError> {
        let result = outcome::classify(outcome, state)?;
        let plan: PromotionPlan = parse("the promotion plan", state["promotion"].clone())?;
        let now = Utc::now();
        let deployment_id = outcome::deployment_id(&plan.execution_arn, result.status);
        let record = outcome::record(&plan, state, &result, &deployment_id, now);
        let (item, written) = self.write_record(settings, record).await?;
        info!(event = "recorded", deployment_id = %deployment_id, status = %result.status, error = ?result.error,
              written, "{} {} -> {}: {}", plan.service, plan.source_env, plan.target_env, result.status);
        let subject = outcome::subject(&plan, &result);
        let message = outcome::message(&plan, &item, &result);
        let notified = self
            .announce(settings, outcome::event_name(&result), &subject, &message)
            .await;
        Ok(Value::Object(outcome::output(
            &result,
            deployment_id,
            notified,
        )))
    }
}

/// What the execution holding a lock is doing, from its state machine's name.
fn activity(execution_arn: &str) -> &'static str {
    let machine = execution_arn.split(':').nth(6).unwrap_or_default();
    if machine.starts_with("bbws-rollback-") {
        "being rolled back"
    } else if machine.starts_with("bbws-release-") {
        "part of a release"
    } else {
        "being promoted"
    }
}
