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
use bbws_domain::{naming, watch};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::evidence::{self, Place};
use crate::ports::{Claim, EvidenceStore, Executions, Functions, Store, Topic};
use crate::{manual, outcome, release, tenant};
use bbws_domain::evidence::Facts;
use bbws_domain::tenant_flow::TenantPlan;

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
    LockTenant { tenant: TenantPlan },
    UnlockTenant { tenant: TenantPlan },
    FinishTenant { outcome: String, state: Value },
}

/// How many times a lock attempt looks at the lock again after losing a takeover.
const LOCK_ATTEMPTS: usize = 3;

/// A lock taken: until when, and from which stale holder when it was taken over.
struct Taken {
    expires_at: i64,
    took_over: Option<Value>,
}

/// The record: this account's tables, executions, events topic and functions, where evidence is
/// gathered and written, and the deployed settings.
pub struct App<D, X, N, F, E> {
    /// The lock and deployment tables.
    pub store: D,
    /// The executions holding locks.
    pub executions: X,
    /// The events topic.
    pub topic: N,
    /// This account's functions (where a release ended).
    pub functions: F,
    /// The executions' histories, the approvals and the evidence bucket.
    pub evidence: E,
    /// The deployed settings, or why they cannot be used (every event is then refused).
    pub settings: Result<Settings, BbwsError>,
}

impl<D: Store, X: Executions, N: Topic, F: Functions, E: EvidenceStore> App<D, X, N, F, E> {
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
            Event::LockTenant { tenant } => self.lock_tenant(settings, &tenant).await,
            Event::UnlockTenant { tenant } => {
                let mut released = Vec::new();
                for t in &tenant.targets {
                    let lock_id = tenant::lock_id(&t.tenant_id, &tenant);
                    if self
                        .store
                        .release_lock(&settings.locks_table, &lock_id, &tenant.execution_arn)
                        .await?
                    {
                        released.push(lock_id);
                    }
                }
                info!(event = "unlock", locks = ?released, "tenant locks released: {}", released.len());
                to_value(&json!({"released": released}))
            }
            Event::FinishTenant { outcome, state } => {
                self.finish_tenant(settings, &outcome, &state).await
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

    /// Writes an outcome's record once (never overwritten); the record as it stands (the first
    /// attempt's when one was written already) and whether it was new.
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
        if !written {
            // A retried step: the record of the first attempt is the one that stands.
            let id = item
                .get("deployment_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(kept) = self
                .store
                .get_record(&settings.deployments_table, &id)
                .await?
            {
                return Ok((kept, false));
            }
        }
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

    /// The deployment records of a release's phases (each phase's promotion writes its own), for its
    /// release notes; a phase whose record cannot be read is left out (the notes then say its versions
    /// are not kept).
    async fn phase_records(&self, settings: &Settings, release: &Map<String, Value>) -> Vec<Value> {
        let mut out = Vec::new();
        let phases = release
            .get("phases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for phase in phases {
            let Some(name) = phase["execution_arn"]
                .as_str()
                .and_then(|a| a.rsplit(':').next())
            else {
                continue;
            };
            for status in ["succeeded", "rolled_back", "failed"] {
                match self
                    .store
                    .get_record(&settings.deployments_table, &format!("{name}:{status}"))
                    .await
                {
                    Ok(Some(r)) => {
                        out.push(Value::Object(r));
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(event = "phase_record_unread", phase = %name, error = %e.error_type,
                              "the record of phase {name} was not read: {}", e.message);
                        break;
                    }
                }
            }
        }
        out
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
        let place = Place::of(settings, "release", &release.execution_arn);
        let mut record = release::record(
            &release,
            state,
            &result,
            &ended_on,
            &deployment_id,
            Utc::now(),
        );
        record["evidence"] = place.field();
        let (item, written) = self.write_record(settings, record).await?;
        let place = place.kept(&item);
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
        let phase_records = self.phase_records(settings, &item).await;
        let facts = Facts {
            record: Value::Object(item),
            phase_records,
            ..Facts::default()
        };
        let (kept, line) = evidence::write(
            &self.evidence,
            settings,
            &place,
            facts,
            &release.execution_arn,
            "release",
        )
        .await;
        text.push_str(&line);
        let notified = self.announce(settings, event, &subject, &text).await;
        let mut out = outcome::output(&result, deployment_id, notified);
        out.insert("ended_on".into(), ended_on);
        out.insert("evidence".into(), kept);
        Ok(Value::Object(out))
    }

    /// Takes the lock of every tenant of the execution (one execution applies to a tenant at a
    /// time); when one is held, the locks already taken are released and the execution is
    /// refused naming the holder.
    async fn lock_tenant(
        &self,
        settings: &Settings,
        plan: &TenantPlan,
    ) -> Result<Value, BbwsError> {
        let hold = tenant::hold_seconds(plan);
        let env = plan.request.environment;
        let mut taken: Vec<String> = Vec::new();
        let mut took_over = Vec::new();
        let mut expires_at = 0;
        for t in &plan.targets {
            let lock_id = tenant::lock_id(&t.tenant_id, plan);
            let got = self
                .take_lock(settings, &lock_id, &plan.execution_arn, hold, |held| {
                    format!(
                        "{} cannot be applied in {} now: it is {held}",
                        t.tenant_id,
                        env.label()
                    )
                })
                .await;
            match got {
                Ok(lock) => {
                    expires_at = lock.expires_at;
                    took_over.extend(lock.took_over);
                    taken.push(lock_id);
                }
                Err(e) => {
                    for id in &taken {
                        // Best effort: a lock left here expires, or the next attempt takes it over.
                        let _ = self
                            .store
                            .release_lock(&settings.locks_table, id, &plan.execution_arn)
                            .await;
                    }
                    return Err(e);
                }
            }
        }
        let r = &plan.request;
        let commits: Vec<String> = plan
            .targets
            .iter()
            .map(|t| format!("{} at {}", t.tenant_id, t.commit))
            .collect();
        let notified = self
            .announce(
                settings,
                "started",
                &format!("Tenant execution started: {} in {}", r.tenants.join(", "), env.label()),
                &format!(
                    "Tenants: {}\nEnvironment: {}\nRequested by: {}\nReason: {}\nChange request: {}\n\
                     Incident: {}\nExecution: {}\n",
                    commits.join(", "),
                    env.label(),
                    r.requested_by,
                    r.reason,
                    r.change_request.as_deref().unwrap_or("-"),
                    r.incident.as_deref().unwrap_or("-"),
                    plan.execution_arn
                ),
            )
            .await;
        let took_over = took_over.into_iter().next().unwrap_or(Value::Null);
        to_value(&json!({"lock_ids": taken, "expires_at": expires_at,
                         "took_over": took_over, "notified": notified}))
    }

    /// One record per tenant (action `tenant`), never overwritten, and the notification.
    async fn finish_tenant(
        &self,
        settings: &Settings,
        outcome: &str,
        state: &Value,
    ) -> Result<Value, BbwsError> {
        let plan: TenantPlan = parse("the tenant plan", state["tenant"].clone())?;
        let result = tenant::classify(outcome, state, &plan)?;
        let mut kept = Vec::new();
        let mut all_written = true;
        for record in tenant::records(&plan, state, &result, Utc::now()) {
            let (item, written) = self.write_record(settings, record).await?;
            all_written &= written;
            kept.push(Value::Object(item));
        }
        info!(event = "recorded", records = kept.len(), status = %result.status, error = ?result.error,
              written = all_written, "tenants {} in {}: {}", plan.request.tenants.join(", "),
              plan.request.environment, result.status);
        let event = match result.error {
            None => "tenant_applied",
            Some(ErrorName::ApprovalRejected) => "rejected",
            Some(ErrorName::ApprovalTimedOut) => "approval_timed_out",
            Some(_) => "failed",
        };
        let notified = self
            .announce(
                settings,
                event,
                &tenant::subject(&plan, &result),
                &tenant::message(&plan, &kept, &result),
            )
            .await;
        let first = plan
            .targets
            .first()
            .map(|t| t.tenant_id.as_str())
            .unwrap_or("-");
        let mut out = outcome::output(
            &result,
            tenant::deployment_id(&plan, first, result.status),
            notified,
        );
        out.insert(
            "deployment_ids".into(),
            kept.iter().map(|r| r["deployment_id"].clone()).collect(),
        );
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
        let mut record = manual::record(&plan, state, &result, &deployment_id, Utc::now());
        let watch = (result.status == "succeeded")
            .then(|| Watch::of(settings, &plan.service, &deployment_id, plan.started_at));
        if let Some(w) = &watch {
            record["watch_execution_arn"] = Value::String(w.execution_arn.clone());
        }
        let place = Place::of(settings, &plan.service, &plan.execution_arn);
        record["evidence"] = place.field();
        let (item, written) = self.write_record(settings, record).await?;
        let place = place.kept(&item);
        info!(event = "recorded", deployment_id = %deployment_id, status = %result.status, error = ?result.error,
              written, "rollback of {} in {}: {}", plan.service, plan.environment, result.status);
        let event = match result.error {
            None => "rolled_back",
            Some(ErrorName::ApprovalRejected) => "rejected",
            Some(ErrorName::ApprovalTimedOut) => "approval_timed_out",
            Some(_) => "failed",
        };
        let mut message = manual::message(&plan, &item, &result);
        let watched = match &watch {
            Some(w) => Some(self.start_watch(w, &mut message).await),
            None => None,
        };
        let facts = Facts {
            record: Value::Object(item),
            ..Facts::default()
        };
        let (kept, line) = evidence::write(
            &self.evidence,
            settings,
            &place,
            facts,
            &plan.execution_arn,
            "rollback",
        )
        .await;
        message.push_str(&line);
        let notified = self
            .announce(settings, event, &manual::subject(&plan, &result), &message)
            .await;
        let mut out = outcome::output(&result, deployment_id, notified);
        if let Some(w) = watched {
            out.insert("watch".into(), w);
        }
        out.insert("evidence".into(), kept);
        Ok(Value::Object(out))
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
        let mut record = outcome::record(&plan, state, &result, &deployment_id, now);
        let watch = (result.status == "succeeded")
            .then(|| Watch::of(settings, &plan.service, &deployment_id, plan.started_at));
        if let Some(w) = &watch {
            record["watch_execution_arn"] = Value::String(w.execution_arn.clone());
        }
        let place = Place::of(settings, &plan.service, &plan.execution_arn);
        record["evidence"] = place.field();
        let (item, written) = self.write_record(settings, record).await?;
        let place = place.kept(&item);
        info!(event = "recorded", deployment_id = %deployment_id, status = %result.status, error = ?result.error,
              written, "{} {} -> {}: {}", plan.service, plan.source_env, plan.target_env, result.status);
        let subject = outcome::subject(&plan, &result);
        let mut message = outcome::message(&plan, &item, &result);
        let watched = match &watch {
            Some(w) => Some(self.start_watch(w, &mut message).await),
            None => None,
        };
        let facts = Facts::from_promotion_state(Value::Object(item), state);
        let (kept, line) = evidence::write(
            &self.evidence,
            settings,
            &place,
            facts,
            &plan.execution_arn,
            "promotion",
        )
        .await;
        message.push_str(&line);
        let notified = self
            .announce(settings, outcome::event_name(&result), &subject, &message)
            .await;
        let mut out = outcome::output(&result, deployment_id, notified);
        if let Some(w) = watched {
            out.insert("watch".into(), w);
        }
        out.insert("evidence".into(), kept);
        Ok(Value::Object(out))
    }

    /// Starts the 24-hour watch of a deployment that succeeded and says so in `message`: its
    /// execution, or why it did not start and the command that starts it. A watch that cannot start
    /// never changes the outcome: the versions serve, and the record says which watch was meant.
    async fn start_watch(&self, watch: &Watch, message: &mut String) -> Value {
        let input = json!({"deployment_id": watch.deployment_id}).to_string();
        match self
            .executions
            .start(&watch.state_machine_arn, &watch.name, &input)
            .await
        {
            Ok(started) => {
                info!(event = "watch_started", deployment_id = %watch.deployment_id,
                      execution = %started.execution_arn, already = started.already,
                      "24-hour watch of {}: {}{}", watch.deployment_id, started.execution_arn,
                      if started.already { " (already started)" } else { "" });
                message.push_str(&format!(
                    "24-hour watch (RB-003 §7.2): {}\n",
                    started.execution_arn
                ));
                json!({"name": watch.name, "execution_arn": started.execution_arn, "started": true})
            }
            Err(e) => {
                warn!(event = "watch_not_started", deployment_id = %watch.deployment_id,
                      error = %e.error_type, "the 24-hour watch of {} did not start: {}",
                      watch.deployment_id, e.message);
                message.push_str(&format!(
                    "The 24-hour watch did NOT start ({}: {}). Start it:\naws stepfunctions start-execution \
                     --state-machine-arn {} --name {} --input '{input}'\n",
                    e.error_type, e.message, watch.state_machine_arn, watch.name
                ));
                json!({"name": watch.name, "execution_arn": watch.execution_arn, "started": false,
                       "error": e.error_type.as_str(), "cause": e.message})
            }
        }
    }
}

/// The 24-hour watch a deployment that succeeded gets: one execution of `bbws-watch-<env>`, named
/// after the service, the deploying execution's start and the record (bbws_domain::watch).
struct Watch {
    deployment_id: String,
    state_machine_arn: String,
    name: String,
    execution_arn: String,
}

impl Watch {
    fn of(
        settings: &Settings,
        service: &str,
        deployment_id: &str,
        started_at: DateTime<Utc>,
    ) -> Watch {
        let state_machine_arn = naming::state_machine_arn(
            settings.env,
            &naming::watch_state_machine_name(settings.env),
        );
        let name = watch::watch_name(service, deployment_id, started_at);
        Watch {
            deployment_id: deployment_id.to_owned(),
            execution_arn: bbws_aws::executions::execution_arn(&state_machine_arn, &name),
            state_machine_arn,
            name,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_aws::executions::Started;
    use bbws_aws::store::LockHolder;
    use bbws_domain::{Catalog, Config, HolderStatus, PromotionRequest, ReleaseRequest};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    const TOPIC: &str = "arn:aws:sns:af-south-1:1:bbws-events-prod";

    fn arn(machine: &str, name: &str) -> String {
        format!("arn:aws:states:af-south-1:1:execution:{machine}:{name}")
    }

    /// One lock item as DynamoDB keeps it.
    #[derive(Debug, Clone, PartialEq)]
    struct Lock {
        execution_arn: String,
        acquired_at: String,
        expires_at: i64,
        took_over_from: Option<Map<String, Value>>,
    }

    /// The lock and deployment tables, with DynamoDB's conditions.
    #[derive(Default)]
    struct Tables {
        locks: RefCell<BTreeMap<String, Lock>>,
        records: RefCell<BTreeMap<String, Map<String, Value>>>,
        record_writes: RefCell<usize>,
        /// An execution that takes the lock between this one's look at it and its takeover.
        contender: RefCell<Option<String>>,
    }

    impl Tables {
        fn lock(&self, lock_id: &str) -> Option<Lock> {
            self.locks.borrow().get(lock_id).cloned()
        }

        fn hold(&self, lock_id: &str, execution_arn: &str, expires_at: i64) {
            self.locks.borrow_mut().insert(
                lock_id.to_owned(),
                Lock {
                    execution_arn: execution_arn.to_owned(),
                    acquired_at: "2026-11-24T20:00:00+00:00".into(),
                    expires_at,
                    took_over_from: None,
                },
            );
        }
    }

    impl Store for Tables {
        async fn acquire_lock(
            &self,
            _table: &str,
            claim: &Claim<'_>,
            now_epoch: i64,
        ) -> Result<Result<(), LockHolder>, BbwsError> {
            let mut locks = self.locks.borrow_mut();
            if let Some(held) = locks.get(claim.lock_id) {
                if held.expires_at >= now_epoch && held.execution_arn != claim.execution_arn {
                    return Ok(Err(LockHolder {
                        execution_arn: held.execution_arn.clone(),
                        acquired_at: held.acquired_at.clone(),
                    }));
                }
            }
            locks.insert(
                claim.lock_id.to_owned(),
                Lock {
                    execution_arn: claim.execution_arn.to_owned(),
                    acquired_at: claim.acquired_at.to_owned(),
                    expires_at: claim.expires_at,
                    took_over_from: None,
                },
            );
            Ok(Ok(()))
        }

        async fn take_over_lock(
            &self,
            _table: &str,
            claim: &Claim<'_>,
            stale_holder: &str,
            took_over_from: &Map<String, Value>,
        ) -> Result<bool, BbwsError> {
            if let Some(contender) = self.contender.borrow_mut().take() {
                self.hold(claim.lock_id, &contender, claim.expires_at);
            }
            let mut locks = self.locks.borrow_mut();
            match locks.get(claim.lock_id) {
                Some(held) if held.execution_arn == stale_holder => {
                    locks.insert(
                        claim.lock_id.to_owned(),
                        Lock {
                            execution_arn: claim.execution_arn.to_owned(),
                            acquired_at: claim.acquired_at.to_owned(),
                            expires_at: claim.expires_at,
                            took_over_from: Some(took_over_from.clone()),
                        },
                    );
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        async fn release_lock(
            &self,
            _table: &str,
            lock_id: &str,
            execution_arn: &str,
        ) -> Result<bool, BbwsError> {
            let mut locks = self.locks.borrow_mut();
            match locks.get(lock_id) {
                Some(held) if held.execution_arn == execution_arn => {
                    locks.remove(lock_id);
                    Ok(true)
                }
                _ => Ok(false),
            }
        }

        async fn put_new(
            &self,
            table: &str,
            key_attr: &str,
            record: &Map<String, Value>,
        ) -> Result<bool, BbwsError> {
            assert_eq!(table, "bbws-deployments-prod");
            *self.record_writes.borrow_mut() += 1;
            let key = record[key_attr].as_str().unwrap_or_default().to_owned();
            let mut records = self.records.borrow_mut();
            if records.contains_key(&key) {
                return Ok(false);
            }
            records.insert(key, record.clone());
            Ok(true)
        }

        async fn get_record(
            &self,
            table: &str,
            deployment_id: &str,
        ) -> Result<Option<Map<String, Value>>, BbwsError> {
            assert_eq!(table, "bbws-deployments-prod");
            Ok(self.records.borrow().get(deployment_id).cloned())
        }
    }

    /// What Step Functions says of each execution; any other does not exist.
    #[derive(Default)]
    struct Runs {
        status: BTreeMap<String, &'static str>,
        asked: RefCell<Vec<String>>,
        /// The watches started: name and input.
        started: RefCell<Vec<(String, String)>>,
        refuse_start: bool,
    }

    impl Executions for Runs {
        async fn status(&self, execution_arn: &str) -> Result<HolderStatus, BbwsError> {
            self.asked.borrow_mut().push(execution_arn.to_owned());
            Ok(self
                .status
                .get(execution_arn)
                .map_or(HolderStatus::Missing, |s| HolderStatus::Status((*s).into())))
        }

        async fn start(
            &self,
            state_machine_arn: &str,
            name: &str,
            input: &str,
        ) -> Result<Started, BbwsError> {
            if self.refuse_start {
                return Err(BbwsError::new(
                    ErrorName::AwsRefused,
                    format!("StartExecution {state_machine_arn} {name}: AccessDeniedException"),
                ));
            }
            let mut started = self.started.borrow_mut();
            let already = started.iter().any(|(n, _)| n == name);
            started.push((name.to_owned(), input.to_owned()));
            Ok(Started {
                execution_arn: bbws_aws::executions::execution_arn(state_machine_arn, name),
                already,
            })
        }
    }

    /// One notification published: the topic, the event attribute, the subject and the text.
    type Notice = (String, String, String, String);

    /// The events topic; `refuse` makes every publish fail.
    #[derive(Default)]
    struct Notices {
        sent: RefCell<Vec<Notice>>,
        refuse: bool,
    }

    impl Topic for Notices {
        async fn notify(
            &self,
            topic_arn: &str,
            event: &str,
            subject: &str,
            message: &str,
        ) -> Result<(), BbwsError> {
            if self.refuse {
                return Err(BbwsError::new(
                    ErrorName::AwsRefused,
                    format!("Publish {event} to {topic_arn}: AuthorizationError"),
                ));
            }
            self.sent.borrow_mut().push((
                topic_arn.into(),
                event.into(),
                subject.into(),
                message.into(),
            ));
            Ok(())
        }
    }

    /// `latest-<env>` of each (region, function).
    #[derive(Default)]
    struct Aliases(BTreeMap<(String, String), String>);

    impl Functions for Aliases {
        async fn alias_version(
            &self,
            region: &str,
            function: &str,
            alias: &str,
        ) -> Result<Option<String>, BbwsError> {
            assert_eq!(alias, "latest-sit");
            Ok(self.0.get(&(region.into(), function.into())).cloned())
        }
    }

    /// Histories, approvals and the bucket; `refuse_put` makes every write fail as S3 refusing it.
    #[derive(Default)]
    struct Evidence {
        history: Vec<bbws_domain::evidence::StateEvent>,
        approvals: Vec<Value>,
        objects: RefCell<BTreeMap<String, (String, String)>>,
        refuse_put: bool,
    }

    impl EvidenceStore for Evidence {
        async fn history(
            &self,
            _execution_arn: &str,
        ) -> Result<Vec<bbws_domain::evidence::StateEvent>, BbwsError> {
            Ok(self.history.clone())
        }

        async fn approval_items(
            &self,
            _table: &str,
            _request_id: &str,
        ) -> Result<Vec<Value>, BbwsError> {
            Ok(self.approvals.clone())
        }

        async fn put(
            &self,
            bucket: &str,
            key: &str,
            body: Vec<u8>,
            content_type: &str,
        ) -> Result<(), BbwsError> {
            if self.refuse_put {
                return Err(BbwsError::new(
                    ErrorName::AwsRefused,
                    format!("s3:PutObject s3://{bucket}/{key}: AccessDenied: denied"),
                ));
            }
            self.objects.borrow_mut().insert(
                format!("{bucket}/{key}"),
                (
                    content_type.into(),
                    String::from_utf8_lossy(&body).into_owned(),
                ),
            );
            Ok(())
        }

        async fn approval_url(&self) -> Result<String, BbwsError> {
            Ok("https://approve.example/".into())
        }
    }

    const BUCKET: &str = "bbws-promotion-evidence-093646564004";

    type TestApp = App<Tables, Runs, Notices, Aliases, Evidence>;

    fn app() -> TestApp {
        let settings = Settings::from_lookup(|name| match name {
            "BBWS_ENV" => Some("prod".into()),
            "BBWS_EVENTS_TOPIC_ARN" => Some(TOPIC.into()),
            "BBWS_EVIDENCE_BUCKET" => Some(BUCKET.into()),
            _ => None,
        });
        App {
            store: Tables::default(),
            executions: Runs::default(),
            topic: Notices::default(),
            functions: Aliases::default(),
            evidence: Evidence::default(),
            settings,
        }
    }

    /// A promotion of site-management from SIT to PROD by the execution `name`.
    fn plan(name: &str) -> PromotionPlan {
        let request = PromotionRequest::validate(
            &json!({"service": "site-management", "source_env": "sit", "target_env": "prod",
                "requested_by": "jane@bbws.io", "reason": "r", "change_request": "CHG-1"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        let execution = arn("bbws-promotion-prod", name);
        PromotionPlan::new(&request, &Config::runbook(), &execution, Utc::now()).expect("plan")
    }

    const LOCK: &str = "site-management#prod";

    fn later() -> i64 {
        Utc::now().timestamp() + 3600
    }

    async fn lock(app: &TestApp, plan: &PromotionPlan) -> Result<Value, BbwsError> {
        app.handle(json!({"op": "lock", "promotion": plan})).await
    }

    async fn unlock(app: &TestApp, plan: &PromotionPlan) -> Value {
        app.handle(json!({"op": "unlock", "promotion": plan}))
            .await
            .expect("unlock answers")
    }

    #[tokio::test]
    async fn a_free_lock_is_taken_and_the_start_announced() {
        let app = app();
        let plan = plan("run-1");
        let out = lock(&app, &plan).await.expect("taken");
        assert_eq!(out["lock_id"], LOCK);
        assert_eq!(out["took_over"], Value::Null);
        assert_eq!(out["notified"], true);
        let held = app.store.lock(LOCK).expect("a lock item");
        assert_eq!(held.execution_arn, plan.execution_arn);
        assert_eq!(out["expires_at"], held.expires_at);
        assert!(held.expires_at > Utc::now().timestamp());
        assert!(app.executions.asked.borrow().is_empty(), "nobody to ask");
        {
            let sent = app.topic.sent.borrow();
            assert_eq!(sent.len(), 1);
            let (topic, event, subject, text) = &sent[0];
            assert_eq!(
                (topic.as_str(), event.as_str(), subject.as_str()),
                (
                    TOPIC,
                    "started",
                    "Promotion started: site-management SIT -> PROD"
                )
            );
            assert!(text.contains("Change request: CHG-1\n"), "{text}");
        }

        // The same execution asking again (a retried step) keeps its lock.
        let again = lock(&app, &plan).await.expect("its own lock");
        assert_eq!(again["took_over"], Value::Null);
        assert_eq!(
            app.store.lock(LOCK).map(|l| l.execution_arn),
            Some(plan.execution_arn)
        );
    }

    #[tokio::test]
    async fn a_lock_held_by_a_running_execution_is_refused_and_left_alone() {
        let mut app = app();
        let holder = arn("bbws-rollback-prod", "rb-1");
        app.executions.status.insert(holder.clone(), "RUNNING");
        app.store.hold(LOCK, &holder, later());
        let before = app.store.lock(LOCK);
        let e = lock(&app, &plan("run-2")).await.expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PromotionInProgress);
        assert_eq!(
            e.message,
            format!(
                "site-management cannot be promoted to PROD now: it is being rolled back by \
                 {holder} (since 2026-11-24T20:00:00+00:00); wait for it to end, or stop it: the \
                 next attempt takes over the lock of an execution that no longer runs"
            )
        );
        assert_eq!(app.store.lock(LOCK), before, "the holder keeps its lock");
        assert_eq!(*app.executions.asked.borrow(), vec![holder]);
        assert!(app.topic.sent.borrow().is_empty(), "nothing announced");
    }

    #[tokio::test]
    async fn a_lock_whose_holder_no_longer_runs_is_taken_over_and_the_takeover_recorded() {
        for (status, said) in [(Some("ABORTED"), "ABORTED"), (None, "MISSING")] {
            let mut app = app();
            let holder = arn("bbws-promotion-prod", "stopped-by-hand");
            if let Some(s) = status {
                app.executions.status.insert(holder.clone(), s);
            }
            app.store.hold(LOCK, &holder, later());
            let plan = plan("run-2");
            let out = lock(&app, &plan).await.expect("taken over");
            let from = &out["took_over"];
            assert_eq!(from["execution_arn"], holder.as_str(), "{said}");
            assert_eq!(from["status"], said);
            assert_eq!(from["acquired_at"], "2026-11-24T20:00:00+00:00");
            let held = app.store.lock(LOCK).expect("a lock item");
            assert_eq!(held.execution_arn, plan.execution_arn);
            assert_eq!(
                held.took_over_from.map(Value::Object).as_ref(),
                Some(from),
                "the lock item records the takeover too"
            );
        }
    }

    #[tokio::test]
    async fn a_takeover_lost_to_another_contender_looks_again_and_finds_it_running() {
        let mut app = app();
        let stale = arn("bbws-promotion-prod", "stopped-by-hand");
        let winner = arn("bbws-release-prod", "rel-9");
        app.executions.status.insert(stale.clone(), "ABORTED");
        app.executions.status.insert(winner.clone(), "RUNNING");
        app.store.hold(LOCK, &stale, later());
        *app.store.contender.borrow_mut() = Some(winner.clone());
        let e = lock(&app, &plan("run-2")).await.expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PromotionInProgress);
        assert!(
            e.message
                .contains(&format!("it is part of a release by {winner}")),
            "{}",
            e.message
        );
        assert_eq!(*app.executions.asked.borrow(), vec![stale, winner.clone()]);
        assert_eq!(app.store.lock(LOCK).map(|l| l.execution_arn), Some(winner));
    }

    #[tokio::test]
    async fn only_the_own_lock_is_released_and_releasing_twice_is_fine() {
        let app = app();
        let (mine, other) = (plan("run-1"), plan("run-2"));
        lock(&app, &mine).await.expect("taken");
        assert_eq!(unlock(&app, &other).await, json!({"released": false}));
        assert_eq!(
            app.store.lock(LOCK).map(|l| l.execution_arn),
            Some(mine.execution_arn.clone()),
            "another execution's unlock leaves the lock alone"
        );
        assert_eq!(unlock(&app, &mine).await, json!({"released": true}));
        assert_eq!(app.store.lock(LOCK), None);
        assert_eq!(unlock(&app, &mine).await, json!({"released": false}));
        assert_eq!(app.store.lock(LOCK), None);
    }

    /// The state of a promotion that failed at `stage` with `error` (its name and message).
    fn failed(plan: &PromotionPlan, stage: &str, error: &str, message: &str) -> Value {
        let cause = json!({"errorType": error, "errorMessage": message}).to_string();
        json!({"promotion": plan, "failed_stage": stage, "error": {"Error": error, "Cause": cause},
               "lock": {"took_over": null}})
    }

    async fn finish(app: &TestApp, outcome: &str, state: &Value) -> Value {
        app.handle(json!({"op": "finish", "outcome": outcome, "state": state}))
            .await
            .expect("recorded")
    }

    #[tokio::test]
    async fn an_outcome_recorded_twice_is_written_once() {
        let app = app();
        let plan = plan("run-1");
        let state = failed(
            &plan,
            "deploy",
            "Sandbox.Timedout",
            "Task timed out after 60.00 seconds",
        );
        let first = finish(&app, "failed", &state).await;
        assert_eq!(first["deployment_id"], "run-1:failed");
        let kept = app.store.records.borrow().get("run-1:failed").cloned();
        assert!(kept.is_some(), "the record is written");
        let second = finish(&app, "failed", &state).await;
        assert_eq!(second, first, "the retried step answers the same");
        assert_eq!(*app.store.record_writes.borrow(), 2, "both tried to write");
        assert_eq!(app.store.records.borrow().len(), 1, "one record");
        assert_eq!(
            app.store.records.borrow().get("run-1:failed").cloned(),
            kept,
            "never overwritten (its timestamp is the first attempt's)"
        );
        // Another outcome of the same execution is a record of its own.
        finish(&app, "succeeded", &json!({"promotion": plan})).await;
        assert_eq!(app.store.records.borrow().len(), 2);
    }

    #[tokio::test]
    async fn the_evidence_is_written_under_the_execution_and_linked_from_the_record_and_email() {
        let mut app = app();
        app.evidence.approvals = vec![json!({"item": "audit#2026-12-03T09:00:00Z#1",
            "person": "tech-lead@bbws.io", "role": "tech_lead", "decision": "approve",
            "outcome": "approved", "source_ip": "203.0.113.7", "user_agent": "Mobile Safari",
            "at": "2026-12-03T09:00:00Z"})];
        let plan = plan("run-1");
        let out = finish(&app, "succeeded", &json!({"promotion": plan})).await;
        let prefix = "evidence/prod/site-management/run-1/";
        assert_eq!(
            out["evidence"],
            json!({"written": true, "prefix": prefix, "files":
                   ["report.json", "report.md", "report.html", "facts.json", "release-notes.md"]})
        );
        let objects = app.evidence.objects.borrow().clone();
        let (content_type, html) = objects
            .get(&format!("{BUCKET}/{prefix}report.html"))
            .expect("the HTML report");
        assert_eq!(content_type, "text/html; charset=utf-8");
        assert!(
            html.contains("tech-lead@bbws.io") && html.contains("203.0.113.7"),
            "the sign-off"
        );
        let report: Value =
            serde_json::from_str(&objects[&format!("{BUCKET}/{prefix}report.json")].1)
                .expect("the JSON report");
        assert_eq!(report["outcome"], "succeeded");
        assert_eq!(report["deployment_id"], "run-1:succeeded");
        let record = app
            .store
            .records
            .borrow()
            .get("run-1:succeeded")
            .cloned()
            .expect("record");
        assert_eq!(
            record["evidence"]["report"],
            format!("s3://{BUCKET}/{prefix}report.html").as_str()
        );
        let text = app.topic.sent.borrow()[0].3.clone();
        assert!(
            text.contains(&format!("Evidence (RB-003 §7 checklist, release notes): s3://{BUCKET}/{prefix}report.html\n")),
            "{text}"
        );
        let key = record["evidence"]["link_key"]
            .as_str()
            .expect("a link key")
            .to_owned();
        assert_eq!(key.len(), 32, "128 bits, hex");
        assert!(text.contains(&format!(
            "Open the report (for 7 days, no sign-in): https://approve.example/evidence?d=run-1%3Asucceeded&k={key}\n"
        )), "{text}");
        assert!(
            !objects.values().any(|(_, body)| body.contains(&key)),
            "the key is no part of the evidence"
        );
        // A retried step links with the key of the record that stands, not a new one.
        finish(&app, "succeeded", &json!({"promotion": plan})).await;
        let again = app.topic.sent.borrow()[1].3.clone();
        assert!(again.contains(&format!("&k={key}\n")), "{again}");
    }

    #[tokio::test]
    async fn evidence_that_cannot_be_written_changes_no_outcome_and_says_why() {
        let mut app = app();
        app.evidence.refuse_put = true;
        let plan = plan("run-1");
        let out = finish(&app, "succeeded", &json!({"promotion": plan})).await;
        assert_eq!(out["status"], "succeeded");
        assert_eq!(out["evidence"]["written"], false);
        assert_eq!(out["evidence"]["error"], "Bbws.AwsRefused");
        assert!(app.evidence.objects.borrow().is_empty());
        assert!(app.store.records.borrow().contains_key("run-1:succeeded"));
        let text = app.topic.sent.borrow()[0].3.clone();
        assert!(
            text.contains("The evidence report was NOT written (Bbws.AwsRefused: "),
            "{text}"
        );
        // Without a bucket configured, the same: said, never fatal.
        let mut unset = self::app();
        unset.settings = Settings::from_lookup(|name| match name {
            "BBWS_ENV" => Some("prod".into()),
            _ => None,
        });
        let out = finish(&unset, "succeeded", &json!({"promotion": plan})).await;
        assert_eq!(out["evidence"]["error"], "Bbws.ConfigInvalid");
    }

    #[tokio::test]
    async fn a_success_starts_its_24_hour_watch_once_and_says_so() {
        let app = app();
        let plan = plan("run-1");
        let out = finish(&app, "succeeded", &json!({"promotion": plan})).await;
        let name = watch::watch_name("site-management", "run-1:succeeded", plan.started_at);
        let arn =
            format!("arn:aws:states:af-south-1:093646564004:execution:bbws-watch-prod:{name}");
        assert_eq!(
            out["watch"],
            json!({"name": name, "execution_arn": arn, "started": true})
        );
        assert_eq!(
            *app.executions.started.borrow(),
            vec![(
                name.clone(),
                r#"{"deployment_id":"run-1:succeeded"}"#.to_owned()
            )]
        );
        let record = app
            .store
            .records
            .borrow()
            .get("run-1:succeeded")
            .cloned()
            .expect("record");
        assert_eq!(record["watch_execution_arn"], arn.as_str());
        let text = app.topic.sent.borrow()[0].3.clone();
        assert!(
            text.contains(&format!("24-hour watch (RB-003 §7.2): {arn}\n")),
            "{text}"
        );
        // A retried step starts the same watch (StartExecution answers with the running one).
        let again = finish(&app, "succeeded", &json!({"promotion": plan})).await;
        assert_eq!(again["watch"]["execution_arn"], arn.as_str());
        {
            let started = app.executions.started.borrow();
            assert_eq!(started.len(), 2);
            assert_eq!(started[0], started[1], "the same name and input both times");
        }
        // Nothing failed is watched.
        let failed_app = self::app();
        let state = failed(&plan, "deploy", "Sandbox.Timedout", "timed out");
        let out = finish(&failed_app, "failed", &state).await;
        assert!(out.get("watch").is_none());
        assert!(failed_app.executions.started.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_watch_that_cannot_start_changes_no_outcome_and_gives_the_command() {
        let mut app = app();
        app.executions.refuse_start = true;
        let plan = plan("run-1");
        let out = finish(&app, "succeeded", &json!({"promotion": plan})).await;
        assert_eq!(out["status"], "succeeded");
        assert_eq!(out["watch"]["started"], false);
        assert_eq!(out["watch"]["error"], "Bbws.AwsRefused");
        let text = app.topic.sent.borrow()[0].3.clone();
        assert!(
            text.contains("The 24-hour watch did NOT start (Bbws.AwsRefused: StartExecution"),
            "{text}"
        );
        assert!(
            text.contains(r#"--input '{"deployment_id":"run-1:succeeded"}'"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_failure_is_named_by_the_stage_it_happened_in() {
        let refused = ErrorName::AwsRefused.as_str();
        for (stage, error, name, event, subject) in [
            (
                "deploy",
                "Sandbox.Timedout",
                ErrorName::DeployFailed,
                "failed",
                "Promotion failed: site-management to PROD",
            ),
            (
                "backup",
                refused,
                ErrorName::DeployFailed,
                "failed",
                "Promotion failed: site-management to PROD",
            ),
            (
                "preflight",
                refused,
                ErrorName::PreflightFailed,
                "failed",
                "Promotion failed: site-management to PROD",
            ),
            (
                "window",
                "States.TaskFailed",
                ErrorName::OutsideMaintenanceWindow,
                "failed",
                "Promotion failed: site-management to PROD",
            ),
            (
                "approval-timeout",
                "States.Timeout",
                ErrorName::ApprovalTimedOut,
                "approval_timed_out",
                "Approval timed out: site-management to PROD",
            ),
        ] {
            let app = app();
            let plan = plan("run-1");
            let out = finish(&app, "failed", &failed(&plan, stage, error, "it broke")).await;
            assert_eq!(out["status"], "failed", "{stage}");
            assert_eq!(out["error"], name.as_str(), "{stage}");
            let records = app.store.records.borrow();
            let record = records.get("run-1:failed").expect("a record");
            assert_eq!(record["error"], name.as_str(), "{stage}");
            assert_eq!(record["cause"], out["cause"], "{stage}");
            assert_eq!(record["outcome"], "failed");
            let sent = app.topic.sent.borrow();
            let (_, sent_event, sent_subject, text) = &sent[0];
            assert_eq!(
                (sent_event.as_str(), sent_subject.as_str()),
                (event, subject),
                "{stage}"
            );
            assert!(
                text.contains(&format!("Error: {name}\n")),
                "{stage}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_notification_that_cannot_be_sent_changes_no_outcome() {
        let mut app = app();
        app.topic.refuse = true;
        let plan = plan("run-1");
        let taken = lock(&app, &plan).await.expect("taken all the same");
        assert_eq!(taken["notified"], false);
        assert!(app.store.lock(LOCK).is_some());
        let state = failed(&plan, "deploy", "Sandbox.Timedout", "timed out");
        let out = finish(&app, "failed", &state).await;
        assert_eq!(out["notified"], false);
        assert_eq!(out["error"], ErrorName::DeployFailed.as_str());
        assert_eq!(app.store.records.borrow().len(), 1, "the record is kept");
        // What a successful notification of the same outcome carries.
        let app = self::app();
        let out = finish(
            &app,
            "rolled_back",
            &json!({"promotion": plan, "rollback": {"reason": "health 500"}}),
        )
        .await;
        assert_eq!(out["notified"], true);
        let sent = app.topic.sent.borrow();
        assert_eq!(sent.len(), 1);
        let (topic, event, subject, text) = &sent[0];
        assert_eq!(
            (topic.as_str(), event.as_str(), subject.as_str()),
            (TOPIC, "rolled_back", "Rolled back: site-management to PROD")
        );
        assert!(
            text.contains("Outcome: rolled_back\nError: Bbws.RolledBack\nCause: health 500."),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "Execution: {}\nEvidence (RB-003 §7 checklist, release notes): \
                 s3://{BUCKET}/evidence/prod/site-management/run-1/report.html\n\
                 Open the report (for 7 days, no sign-in): https://approve.example/evidence?d=run-1%3Arolled_back&k=",
                plan.execution_arn
            )),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_finished_release_records_where_every_service_ended() {
        let mut app = app();
        let request = ReleaseRequest::validate(
            &json!({"target_env": "sit", "services": ["site-management"],
                "requested_by": "lead@bbws.io", "reason": "Release 2026.12"}),
            &Config::runbook().catalog,
        )
        .expect("valid");
        let execution = arn("bbws-release-sit", "rel");
        let release =
            ReleasePlan::new(request, &Config::runbook(), &execution, Utc::now()).expect("plan");
        let targets = release
            .targets(&Config::runbook().catalog)
            .expect("targets");
        let (_, region, missing) = targets.first().cloned().expect("a function");
        for (_, region, f) in &targets[1..] {
            app.functions
                .0
                .insert((region.clone(), f.clone()), "5".into());
        }
        let out = app
            .handle(json!({"op": "finish_release", "outcome": "succeeded",
                           "state": {"release": release}}))
            .await
            .expect("recorded");
        let ended = &out["ended_on"]["site-management"];
        assert_eq!(ended[format!("{region}/{missing}")], "none");
        for (_, region, f) in &targets[1..] {
            assert_eq!(ended[format!("{region}/{f}")], "5");
        }
        let records = app.store.records.borrow();
        assert_eq!(records["rel:succeeded"]["ended_on"], out["ended_on"]);
        let sent = app.topic.sent.borrow();
        assert_eq!(sent[0].1, "released");
    }
}
