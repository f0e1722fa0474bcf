//! The 24-hour watch of a deployment (RB-003 §4.3.1 "Monitor 24h", §7.2), as the steps of
//! `bbws-watch-<env>`:
//!
//! - `start`: reads the deployment record named by the execution's input (`{"deployment_id":
//!   "…"}`), takes the watched versions, backup alias and requester from it, the checks' times
//!   from the deployed configuration, and ends the older running watches of the same service
//!   (StopExecution, `Bbws.Superseded`);
//! - `check`: one of the four checks: `latest-<env>` still on the watched versions, `/health`,
//!   errors and throttles since the previous check, the watched functions' alarms; the result is
//!   appended to the record's `checks` (once: a retried step finds it there);
//! - `notify`: a failed check's notification, with the figures and the rollback's command or the
//!   rollback the watch started.

use std::collections::BTreeSet;
use std::time::Duration;

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::evidence::{self, Facts};
use bbws_domain::naming::{latest_alias, rollback_state_machine_name, state_machine_arn};
use bbws_domain::watch::{
    advance, failure_notice, judge, seconds_until_check, supersedes, Action, CheckResult, Observed,
    WatchState, WatchVerdict, Watched, CHECK_NAMES,
};
use bbws_domain::{ErrorName, Metric};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::ports::Account;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Start {
        input: Value,
        execution_arn: String,
        state_machine_arn: String,
    },
    Check {
        watch: Box<WatchState>,
        execution_name: String,
    },
    Notify {
        state: Value,
    },
}

/// How many times a check is appended again when another writer changed the record meanwhile.
const APPEND_ATTEMPTS: usize = 3;

/// The watch: the deployed settings and the account.
pub struct App<A> {
    /// The deployed settings, or why they cannot be used (every event is then refused).
    pub settings: Result<Settings, BbwsError>,
    /// This account.
    pub account: A,
}

impl<A: Account> App<A> {
    /// One step of `bbws-watch-<env>`.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the watch event", event)? {
            Event::Start {
                input,
                execution_arn,
                state_machine_arn,
            } => {
                self.start(
                    settings,
                    &input,
                    &execution_arn,
                    &state_machine_arn,
                    Utc::now(),
                )
                .await
            }
            Event::Check {
                watch,
                execution_name,
            } => {
                self.check(settings, *watch, &execution_name, Utc::now())
                    .await
            }
            Event::Notify { state } => self.notify(settings, &state).await,
        }
    }

    async fn start(
        &self,
        settings: &Settings,
        input: &Value,
        execution_arn: &str,
        state_machine_arn: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let deployment_id = deployment_id_of(input)?;
        let record = self
            .account
            .record(&settings.deployments_table, &deployment_id)
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "deployment_id: there is no record '{deployment_id}' in {}",
                    settings.deployments_table
                ))
            })?;
        let state = watch_state(settings, &deployment_id, &record, now)?;
        let own = execution_arn.rsplit(':').next().unwrap_or_default();
        let mut ended = Vec::new();
        for (name, arn) in self.account.running(state_machine_arn).await? {
            if supersedes(own, &name, &state.service) {
                let cause = format!(
                    "superseded by {execution_arn}: a newer deployment of {} in {} ({deployment_id}) is watched now",
                    state.service,
                    state.environment.label()
                );
                self.account
                    .stop(&arn, ErrorName::Superseded.as_str(), &cause)
                    .await?;
                ended.push(arn);
            }
        }
        info!(event = "watch_start", deployment_id = %deployment_id, service = %state.service,
              functions = state.functions.len(), first_check_in = state.wait_seconds,
              superseded = ended.len(),
              "watching {deployment_id}: {} in {}, first check in {} s; ended {} older watch(es){}",
              state.service, state.environment, state.wait_seconds, ended.len(),
              if ended.is_empty() { String::new() } else { format!(": {}", ended.join(", ")) });
        to_value(&state)
    }

    async fn check(
        &self,
        settings: &Settings,
        watch: WatchState,
        execution_name: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let name = *CHECK_NAMES.get(watch.checks_done).ok_or_else(|| {
            BbwsError::invalid_event(format!(
                "the watch has made {} checks; there are only {}",
                watch.checks_done,
                CHECK_NAMES.len()
            ))
        })?;
        let table = &settings.deployments_table;
        let mut fresh: Option<CheckResult> = None;
        let mut kept: Option<CheckResult> = None;
        for _ in 0..APPEND_ATTEMPTS {
            let checks = self.recorded_checks(table, &watch.deployment_id).await?;
            if let Some(done) = checks.iter().find(|c| c["name"] == name) {
                // A retried step: the check was made and kept; it is not made twice.
                kept = Some(parse("the recorded check", done.clone())?);
                break;
            }
            let result = match fresh.take() {
                Some(r) => r,
                None => self.judge(&watch, name, now).await?,
            };
            if self
                .account
                .append_check(
                    table,
                    &watch.deployment_id,
                    &to_value(&result)?,
                    checks.len(),
                )
                .await?
            {
                kept = Some(result);
                break;
            }
            warn!(event = "watch_check_retry", deployment_id = %watch.deployment_id, check = name,
                  "the record changed while the {name} was appended; reading it again");
            fresh = Some(result);
        }
        let Some(result) = kept else {
            return Err(BbwsError::new(
                ErrorName::AwsUnavailable,
                format!(
                    "the {name} of {} could not be kept: the record changed under each of {APPEND_ATTEMPTS} writes",
                    watch.deployment_id
                ),
            ));
        };
        let next = advance(&watch, &result, now, execution_name);
        // The deployment's evidence gets this check (RB-003 §7.2's post-promotion monitoring items);
        // evidence that cannot be updated changes nothing of the watch.
        if let Err(e) = self.update_evidence(table, &watch.deployment_id).await {
            warn!(event = "evidence_not_updated", deployment_id = %watch.deployment_id, check = name,
                  error = %e.error_type, "the evidence of {} was not updated with the {name}: {}",
                  watch.deployment_id, e.message);
        }
        let figures = Value::Array(result.figures.clone()).to_string();
        info!(event = "watch_check", deployment_id = %watch.deployment_id, check = name,
              verdict = %result.verdict, window_seconds = result.window_seconds,
              alarms = result.alarms.len(), other_alarms = result.other_alarms.len(),
              figures = %figures, next_in = next.wait_seconds,
              rolls_back = next.rollback_name.is_some(),
              "{name} of {}: {}{}", watch.deployment_id, result.verdict,
              if result.findings.is_empty() { String::new() } else { format!(": {}", result.findings.join("; ")) });
        to_value(&next)
    }

    /// Builds the deployment's evidence again from the facts it was built from and the record as it
    /// is now (its `checks`): every file under the prefix the record names.
    async fn update_evidence(&self, table: &str, deployment_id: &str) -> Result<(), BbwsError> {
        let record = self
            .account
            .record(table, deployment_id)
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "deployment_id: the record '{deployment_id}' is gone"
                ))
            })?;
        let place = record.get("evidence").cloned().unwrap_or(Value::Null);
        let (Some(bucket), Some(prefix)) = (
            place.get("bucket").and_then(Value::as_str),
            place.get("prefix").and_then(Value::as_str),
        ) else {
            return Err(BbwsError::config(format!(
                "the record {deployment_id} names no evidence bucket and prefix"
            )));
        };
        let key = format!("{prefix}facts.json");
        let kept = self
            .account
            .get_object(bucket, &key)
            .await?
            .ok_or_else(|| {
                BbwsError::new(
                    ErrorName::AwsRefused,
                    format!("s3://{bucket}/{key} does not exist: the evidence was not written"),
                )
            })?;
        let facts: Facts = serde_json::from_slice(&kept).map_err(|e| {
            BbwsError::invalid_event(format!(
                "s3://{bucket}/{key} is not the facts of an execution: {e}"
            ))
        })?;
        let facts = Facts {
            record: Value::Object(record),
            ..facts
        }
        .with_watch_from_record();
        let files = evidence::files(&facts);
        for file in &files {
            self.account
                .put_object(
                    bucket,
                    &format!("{prefix}{}", file.name),
                    file.body.clone().into_bytes(),
                    file.content_type,
                )
                .await?;
        }
        info!(event = "evidence_updated", deployment_id = %deployment_id, prefix = %prefix,
              checks = facts.watch.len(), "the evidence of {deployment_id} has {} watch check(s)",
              facts.watch.len());
        Ok(())
    }

    /// The `checks` the record has now.
    async fn recorded_checks(
        &self,
        table: &str,
        deployment_id: &str,
    ) -> Result<Vec<Value>, BbwsError> {
        let record = self
            .account
            .record(table, deployment_id)
            .await?
            .ok_or_else(|| {
                invalid(format!(
                    "deployment_id: the record '{deployment_id}' is gone from {table}"
                ))
            })?;
        Ok(record
            .get("checks")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// The figures of one check, judged.
    async fn judge(
        &self,
        watch: &WatchState,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<CheckResult, BbwsError> {
        let window = u64::try_from(now.timestamp() - watch.judged_until)
            .unwrap_or(0)
            .max(1);
        let lookback = Duration::from_secs(window);
        let mut observed = Vec::new();
        for f in &watch.functions {
            let serving = self
                .account
                .serving(&f.region, &f.function, &watch.alias)
                .await?;
            if serving.as_deref() != Some(f.version.as_str()) {
                // No longer this deployment's: nothing of it is judged.
                observed.push(Observed {
                    region: f.region.clone(),
                    function: f.function.clone(),
                    version: f.version.clone(),
                    serving,
                    health: 0,
                    errors: None,
                    throttles: None,
                });
                continue;
            }
            let health = self
                .account
                .health(&f.region, &f.function, &watch.alias)
                .await?;
            let resource = format!("{}:{}", f.function, watch.alias);
            let errors = self
                .account
                .sum(
                    &f.region,
                    Metric::Errors.cloudwatch_name(),
                    &Metric::Errors.alias_dimensions(&f.function, &resource, &f.version),
                    lookback,
                )
                .await?;
            let throttles = self
                .account
                .sum(
                    &f.region,
                    Metric::Throttles.cloudwatch_name(),
                    &Metric::Throttles.alias_dimensions(&f.function, &resource, &f.version),
                    lookback,
                )
                .await?;
            observed.push(Observed {
                region: f.region.clone(),
                function: f.function.clone(),
                version: f.version.clone(),
                serving,
                health: health.status,
                errors,
                throttles,
            });
        }
        let regions: BTreeSet<&str> = watch.functions.iter().map(|f| f.region.as_str()).collect();
        let mut alarms = Vec::new();
        for region in regions {
            alarms.extend(self.account.alarms_in_alarm(region, "bbws-").await?);
        }
        Ok(judge(watch, name, &observed, &alarms, now))
    }

    async fn notify(&self, settings: &Settings, state: &Value) -> Result<Value, BbwsError> {
        let watch: WatchState = parse("the watch", state["watch"].clone())?;
        let result = watch
            .last_check
            .clone()
            .ok_or_else(|| BbwsError::invalid_event("the watch has no check to tell of"))?;
        let rollback_machine = state_machine_arn(
            watch.environment,
            &rollback_state_machine_name(watch.environment),
        );
        let started = state["rollback_started"]["ExecutionArn"].as_str();
        let (subject, mut message) = failure_notice(&watch, &result, &rollback_machine, started);
        if let Some(error) = state["rollback_error"]["Error"].as_str() {
            message.push_str(&format!(
                "\nThe rollback could not be started ({error}: {}); start it with the command above.\n",
                state["rollback_error"]["Cause"].as_str().unwrap_or("-")
            ));
        }
        self.account
            .notify(
                &settings.events_topic_arn,
                "watch_check_failed",
                &subject,
                &message,
            )
            .await?;
        info!(event = "watch_notified", deployment_id = %watch.deployment_id, check = %result.name,
              rollback_started = started.is_some(), "told of the failed {}: {subject}", result.name);
        Ok(json!({"notified": true}))
    }
}

/// A refusal of the watch's input.
fn invalid(message: String) -> BbwsError {
    BbwsError::new(ErrorName::InvalidInput, message)
}

/// The execution's input: `{"deployment_id": "<id>"}` and nothing else.
fn deployment_id_of(input: &Value) -> Result<String, BbwsError> {
    let Some(obj) = input.as_object() else {
        return Err(invalid(
            "input: must be a JSON object {\"deployment_id\": \"<record id>\"}".into(),
        ));
    };
    let mut problems = Vec::new();
    let id = match obj.get("deployment_id") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => Some(s.clone()),
        Some(_) => {
            problems.push("deployment_id: must be a record id of 1 to 256 characters".to_owned());
            None
        }
        None => {
            problems.push("deployment_id: is required (the deployment record to watch)".to_owned());
            None
        }
    };
    for k in obj.keys().filter(|k| k.as_str() != "deployment_id") {
        let shown: String = k.chars().take(64).collect();
        problems.push(format!(
            "{shown}: unknown field (only deployment_id is accepted)"
        ));
    }
    match id {
        Some(id) if problems.is_empty() => Ok(id),
        _ => Err(invalid(problems.join("; "))),
    }
}

/// The watch's first state, from the record and the deployed configuration.
fn watch_state(
    settings: &Settings,
    deployment_id: &str,
    record: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<WatchState, BbwsError> {
    let text = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let here = settings.env;
    if text("environment") != here.as_str() {
        return Err(invalid(format!(
            "deployment_id: '{deployment_id}' is a deployment of '{}', and this is {}'s watch",
            text("environment"),
            here.label()
        )));
    }
    if text("outcome") != "succeeded" {
        return Err(invalid(format!(
            "deployment_id: '{deployment_id}' ended '{}': only a deployment that succeeded put \
             something live to watch",
            text("outcome")
        )));
    }
    let action = match text("action") {
        "promote" => Action::Promote,
        "rollback" => Action::Rollback,
        other => {
            return Err(invalid(format!(
                "deployment_id: '{deployment_id}' is a '{other}' record; a promotion's or a \
                 rollback's is watched"
            )))
        }
    };
    let deployed_at = DateTime::parse_from_rfc3339(text("timestamp"))
        .map_err(|e| {
            invalid(format!(
                "deployment_id: the record's timestamp '{}' is not RFC 3339: {e}",
                text("timestamp")
            ))
        })?
        .with_timezone(&Utc)
        .timestamp();
    let mut functions = Vec::new();
    if let Some(Value::Object(versions)) = record.get("to_version") {
        for (key, version) in versions {
            let (Some((region, function)), Some(version)) = (key.split_once('/'), version.as_str())
            else {
                return Err(invalid(format!(
                    "deployment_id: the record's to_version has '{key}': {version}, not \
                     \"<region>/<function>\": \"<version>\""
                )));
            };
            functions.push(Watched {
                region: region.to_owned(),
                function: function.to_owned(),
                version: version.to_owned(),
            });
        }
    }
    if functions.is_empty() {
        return Err(invalid(format!(
            "deployment_id: '{deployment_id}' names no version it put live (to_version is empty)"
        )));
    }
    let policy = settings.config.watch.clone();
    let wait_seconds = seconds_until_check(&policy, deployed_at, 0, now.timestamp());
    Ok(WatchState {
        deployment_id: deployment_id.to_owned(),
        service: text("service").to_owned(),
        environment: here,
        action,
        alias: latest_alias(here),
        functions,
        backup_alias: record
            .get("backup_alias")
            .and_then(Value::as_str)
            .map(str::to_owned),
        actor: text("actor").to_owned(),
        deployed_at,
        policy,
        healthy_status: settings.config.monitor.triggers.healthy_status,
        checks_done: 0,
        judged_until: deployed_at,
        wait_seconds,
        verdict: WatchVerdict::Watching,
        reason: None,
        rollback: None,
        rollback_name: None,
        last_check: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_aws::functions::Health;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    const MACHINE: &str = "arn:aws:states:af-south-1:815856636111:stateMachine:bbws-watch-sit";

    /// The account in memory: records, aliases, health, error sums, alarms, running watches and
    /// what was stopped and published.
    #[derive(Default)]
    struct Memory {
        records: RefCell<BTreeMap<String, Map<String, Value>>>,
        serving: BTreeMap<String, String>,
        health: BTreeMap<String, u16>,
        errors: BTreeMap<String, f64>,
        alarms: Vec<String>,
        running: Vec<(String, String)>,
        stopped: RefCell<Vec<(String, String, String)>>,
        published: RefCell<Vec<(String, String, String)>>,
        sums: RefCell<Vec<(String, Vec<String>, u64)>>,
        /// Appends refused before one is accepted (another writer changed the record).
        conflicts: RefCell<usize>,
        /// The evidence bucket: key -> body.
        objects: RefCell<BTreeMap<String, Vec<u8>>>,
    }

    impl Account for Memory {
        async fn get_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
            Ok(self
                .objects
                .borrow()
                .get(&format!("{bucket}/{key}"))
                .cloned())
        }

        async fn put_object(
            &self,
            bucket: &str,
            key: &str,
            body: Vec<u8>,
            _content_type: &str,
        ) -> Result<(), BbwsError> {
            self.objects
                .borrow_mut()
                .insert(format!("{bucket}/{key}"), body);
            Ok(())
        }

        async fn record(
            &self,
            _table: &str,
            deployment_id: &str,
        ) -> Result<Option<Map<String, Value>>, BbwsError> {
            Ok(self.records.borrow().get(deployment_id).cloned())
        }

        async fn append_check(
            &self,
            _table: &str,
            deployment_id: &str,
            check: &Value,
            known: usize,
        ) -> Result<bool, BbwsError> {
            if *self.conflicts.borrow() > 0 {
                *self.conflicts.borrow_mut() -= 1;
                return Ok(false);
            }
            let mut records = self.records.borrow_mut();
            let Some(record) = records.get_mut(deployment_id) else {
                return Ok(false);
            };
            let list = record
                .entry("checks")
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = list else {
                return Ok(false);
            };
            if items.len() != known {
                return Ok(false);
            }
            items.push(check.clone());
            Ok(true)
        }

        async fn serving(
            &self,
            region: &str,
            function: &str,
            _alias: &str,
        ) -> Result<Option<String>, BbwsError> {
            Ok(self.serving.get(&format!("{region}/{function}")).cloned())
        }

        async fn health(
            &self,
            region: &str,
            function: &str,
            alias: &str,
        ) -> Result<Health, BbwsError> {
            let status = self
                .health
                .get(&format!("{region}/{function}"))
                .copied()
                .unwrap_or(200);
            Ok(Health {
                target: format!("{function}:{alias}"),
                status,
                detail: format!("statusCode {status}"),
            })
        }

        async fn sum(
            &self,
            region: &str,
            metric: &str,
            dimensions: &[(&str, &str)],
            lookback: Duration,
        ) -> Result<Option<f64>, BbwsError> {
            self.sums.borrow_mut().push((
                metric.to_owned(),
                dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                lookback.as_secs(),
            ));
            let function = dimensions.first().map(|(_, f)| *f).unwrap_or_default();
            Ok(match metric {
                "Errors" => self.errors.get(&format!("{region}/{function}")).copied(),
                _ => None,
            })
        }

        async fn alarms_in_alarm(
            &self,
            _region: &str,
            prefix: &str,
        ) -> Result<Vec<String>, BbwsError> {
            Ok(self
                .alarms
                .iter()
                .filter(|a| a.starts_with(prefix))
                .cloned()
                .collect())
        }

        async fn running(
            &self,
            _state_machine_arn: &str,
        ) -> Result<Vec<(String, String)>, BbwsError> {
            Ok(self.running.clone())
        }

        async fn stop(
            &self,
            execution_arn: &str,
            error: &str,
            cause: &str,
        ) -> Result<(), BbwsError> {
            self.stopped
                .borrow_mut()
                .push((execution_arn.into(), error.into(), cause.into()));
            Ok(())
        }

        async fn notify(
            &self,
            _topic_arn: &str,
            event: &str,
            subject: &str,
            message: &str,
        ) -> Result<(), BbwsError> {
            self.published
                .borrow_mut()
                .push((event.into(), subject.into(), message.into()));
            Ok(())
        }
    }

    fn app(memory: Memory) -> App<Memory> {
        let settings = Settings::from_lookup(|k| match k {
            "BBWS_ENV" => Some("sit".to_owned()),
            "BBWS_EVENTS_TOPIC_ARN" => Some("arn:aws:sns:af-south-1:815856636111:events".into()),
            _ => None,
        });
        App {
            settings,
            account: memory,
        }
    }

    fn deployed_at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T06:00:00+00:00")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn record() -> Map<String, Value> {
        let v = json!({
            "deployment_id": "sm-sit-1:succeeded", "timestamp": deployed_at().to_rfc3339(),
            "environment": "sit", "action": "promote", "service": "site-management",
            "to_version": {"af-south-1/sit-bbws-sites-service": "4"},
            "backup_alias": "backup-20261203-055900", "actor": "jane@bbws.io", "outcome": "succeeded"});
        v.as_object().cloned().unwrap_or_default()
    }

    fn memory() -> Memory {
        let m = Memory::default();
        m.records
            .borrow_mut()
            .insert("sm-sit-1:succeeded".into(), record());
        Memory {
            serving: BTreeMap::from([(
                "af-south-1/sit-bbws-sites-service".to_owned(),
                "4".to_owned(),
            )]),
            ..m
        }
    }

    fn own_name() -> String {
        bbws_domain::watch::watch_name("site-management", "sm-sit-1:succeeded", deployed_at())
    }

    async fn started(app: &App<Memory>, now: DateTime<Utc>) -> WatchState {
        let settings = app.settings.as_ref().expect("settings");
        let arn = format!(
            "{}:{}",
            MACHINE.replace("stateMachine", "execution"),
            own_name()
        );
        let out = app
            .start(
                settings,
                &json!({"deployment_id": "sm-sit-1:succeeded"}),
                &arn,
                MACHINE,
                now,
            )
            .await
            .expect("started");
        serde_json::from_value(out).expect("a watch state")
    }

    async fn checked(app: &App<Memory>, watch: WatchState, now: DateTime<Utc>) -> WatchState {
        let settings = app.settings.as_ref().expect("settings");
        let out = app
            .check(settings, watch, &own_name(), now)
            .await
            .expect("checked");
        serde_json::from_value(out).expect("a watch state")
    }

    fn later(seconds: i64) -> DateTime<Utc> {
        deployed_at() + chrono::Duration::seconds(seconds)
    }

    #[tokio::test]
    async fn each_check_is_added_to_the_deployments_evidence() {
        let m = memory();
        let prefix = "evidence/sit/site-management/sm-sit-1/";
        m.records
            .borrow_mut()
            .entry("sm-sit-1:succeeded".into())
            .and_modify(|r| {
                r.insert("evidence".into(), json!({"bucket": "b", "prefix": prefix}));
            });
        let facts = Facts {
            record: Value::Object(record()),
            ..Facts::default()
        };
        m.objects.borrow_mut().insert(
            format!("b/{prefix}facts.json"),
            serde_json::to_vec(&facts).expect("facts"),
        );
        let app = app(m);
        let w = started(&app, later(60)).await;
        checked(&app, w, later(3_600)).await;
        let objects = app.account.objects.borrow();
        let report: Value = serde_json::from_slice(&objects[&format!("b/{prefix}report.json")])
            .expect("the report was written again");
        let items: Vec<(String, String)> = report["checklists"][0]["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|i| {
                i["item"]
                    .as_str()
                    .is_some_and(|t| t.contains("-hour check"))
            })
            .map(|i| {
                (
                    i["item"].as_str().unwrap_or("").to_owned(),
                    i["verdict"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        // A SIT promotion's checklist (§7.1) has no watch items: the facts carry the check all the same.
        assert!(items.is_empty(), "{items:?}");
        let kept: Facts =
            serde_json::from_slice(&objects[&format!("b/{prefix}facts.json")]).expect("facts");
        assert_eq!(kept.watch.len(), 1);
        assert_eq!(
            (kept.watch[0].after_hours, kept.watch[0].verdict.as_deref()),
            (1, Some("passed"))
        );
    }

    #[tokio::test]
    async fn evidence_that_cannot_be_updated_changes_nothing_of_the_watch() {
        // The record names no evidence (written before evidence was kept): the check is made and kept.
        let app = app(memory());
        let w = started(&app, later(60)).await;
        let next = checked(&app, w, later(3_600)).await;
        assert_eq!(next.checks_done, 1);
        assert!(app.account.objects.borrow().is_empty());
    }

    #[tokio::test]
    async fn the_watch_starts_from_the_record_and_waits_for_the_first_check() {
        let app = app(memory());
        let w = started(&app, later(60)).await;
        assert_eq!(w.service, "site-management");
        assert_eq!(w.functions.len(), 1);
        assert_eq!(w.functions[0].version, "4");
        assert_eq!(w.backup_alias.as_deref(), Some("backup-20261203-055900"));
        assert_eq!(w.wait_seconds, 3_600 - 60);
        assert_eq!(w.judged_until, deployed_at().timestamp());
    }

    #[tokio::test]
    async fn the_watch_ends_older_watches_of_the_same_service_only() {
        let older = bbws_domain::watch::watch_name("site-management", "x", later(-3_600));
        let newer = bbws_domain::watch::watch_name("site-management", "y", later(3_600));
        let other = bbws_domain::watch::watch_name("tenant-instance-management", "z", later(-60));
        let mut m = memory();
        m.running = vec![
            (older.clone(), format!("arn:old:{older}")),
            (newer.clone(), format!("arn:new:{newer}")),
            (other.clone(), format!("arn:other:{other}")),
            (own_name(), format!("arn:own:{}", own_name())),
        ];
        let app = app(m);
        started(&app, later(1)).await;
        let stopped = app.account.stopped.borrow();
        assert_eq!(stopped.len(), 1, "{stopped:?}");
        assert_eq!(stopped[0].0, format!("arn:old:{older}"));
        assert_eq!(stopped[0].1, "Bbws.Superseded");
        assert!(
            stopped[0].2.starts_with("superseded by arn:aws:states:"),
            "{}",
            stopped[0].2
        );
    }

    #[tokio::test]
    async fn bad_input_and_unusable_records_are_refused_with_the_field() {
        let app = app(memory());
        let settings = app.settings.as_ref().expect("settings");
        for (input, words) in [
            (json!("x"), "input: must be a JSON object"),
            (json!({}), "deployment_id: is required"),
            (
                json!({"deployment_id": 5, "x": 1}),
                "deployment_id: must be a record id of 1 to 256 characters; x: unknown field",
            ),
            (
                json!({"deployment_id": "nope"}),
                "deployment_id: there is no record 'nope' in bbws-deployments-sit",
            ),
        ] {
            let e = app
                .start(settings, &input, "arn:e", MACHINE, later(1))
                .await
                .expect_err("refused");
            assert_eq!(e.error_type, ErrorName::InvalidInput);
            assert!(e.message.contains(words), "{}", e.message);
        }
        let mut failed = record();
        failed.insert("outcome".into(), json!("rolled_back"));
        app.account.records.borrow_mut().insert("f".into(), failed);
        let e = app
            .start(
                settings,
                &json!({"deployment_id": "f"}),
                "arn:e",
                MACHINE,
                later(1),
            )
            .await
            .expect_err("refused");
        assert!(e.message.contains("ended 'rolled_back'"), "{}", e.message);
        assert!(app.account.stopped.borrow().is_empty());
    }

    #[tokio::test]
    async fn four_quiet_checks_leave_four_passed_checks_on_the_record() {
        let app = app(memory());
        let mut w = started(&app, later(1)).await;
        for (i, at) in [3_600, 14_400, 43_200, 86_400].into_iter().enumerate() {
            w = checked(&app, w, later(at)).await;
            assert_eq!(w.checks_done, i + 1);
        }
        assert_eq!(w.verdict, WatchVerdict::Passed);
        let checks = app.account.records.borrow()["sm-sit-1:succeeded"]["checks"].clone();
        let names: Vec<&str> = checks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, CHECK_NAMES);
        assert!(checks
            .as_array()
            .into_iter()
            .flatten()
            .all(|c| c["verdict"] == "passed"));
        // Each check reads the sums since the previous one: 1 h, then 3 h, 8 h and 12 h.
        let windows: Vec<u64> = app
            .account
            .sums
            .borrow()
            .iter()
            .filter(|s| s.0 == "Errors")
            .map(|s| s.2)
            .collect();
        assert_eq!(windows, [3_600, 10_800, 28_800, 43_200]);
        let dims = &app.account.sums.borrow()[0].1;
        assert_eq!(
            dims,
            &[
                "FunctionName=sit-bbws-sites-service",
                "Resource=sit-bbws-sites-service:latest-sit",
                "ExecutedVersion=4"
            ]
        );
    }

    #[tokio::test]
    async fn a_retried_check_is_not_made_twice() {
        let app = app(memory());
        let w = started(&app, later(1)).await;
        let first = checked(&app, w.clone(), later(3_600)).await;
        // The errors appear after the check was kept: the retry still reports what was kept.
        let mut m = app.account;
        m.errors
            .insert("af-south-1/sit-bbws-sites-service".into(), 9.0);
        let app = App {
            settings: app.settings,
            account: m,
        };
        let again = checked(&app, w, later(3_700)).await;
        assert_eq!(again.verdict, first.verdict);
        assert_eq!(again.last_check, first.last_check);
        let n = app.account.records.borrow()["sm-sit-1:succeeded"]["checks"]
            .as_array()
            .map(Vec::len);
        assert_eq!(n, Some(1));
    }

    #[tokio::test]
    async fn a_check_is_appended_again_when_the_record_changed_meanwhile() {
        let m = memory();
        *m.conflicts.borrow_mut() = 2;
        let app = app(m);
        let w = started(&app, later(1)).await;
        let w = checked(&app, w, later(3_600)).await;
        assert_eq!(w.checks_done, 1);
        let m = memory();
        *m.conflicts.borrow_mut() = 3;
        let app2 = self::app(m);
        let w = started(&app2, later(1)).await;
        let settings = app2.settings.as_ref().expect("settings");
        let e = app2
            .check(settings, w, &own_name(), later(3_600))
            .await
            .expect_err("gave up");
        assert_eq!(e.error_type, ErrorName::AwsUnavailable);
    }

    #[tokio::test]
    async fn errors_after_the_first_check_fail_the_second_and_sit_rolls_back() {
        let app = app(memory());
        let w = started(&app, later(1)).await;
        let w = checked(&app, w, later(3_600)).await;
        let mut m = app.account;
        m.errors
            .insert("af-south-1/sit-bbws-sites-service".into(), 2.0);
        let app = App {
            settings: app.settings,
            account: m,
        };
        let w = checked(&app, w, later(14_400)).await;
        assert_eq!(w.verdict, WatchVerdict::Failed);
        assert_eq!(w.rollback_name, Some(format!("{}-rollback", own_name())));
        let input = w.rollback.clone().expect("a rollback input");
        assert_eq!(input["target_version"], "backup-20261203-055900");
        let reason = w.reason.clone().unwrap_or_default();
        assert!(reason.starts_with("4-hour check of sm-sit-1:succeeded failed: sit-bbws-sites-service version 4 in af-south-1: errors in the last 3 h: 2"), "{reason}");
        // The failed check is told of, with the rollback the watch started.
        let settings = app.settings.as_ref().expect("settings");
        let state = json!({"watch": w, "rollback_started": {"ExecutionArn": "arn:rb"}});
        app.notify(settings, &state).await.expect("told");
        let published = app.account.published.borrow();
        assert_eq!(published[0].0, "watch_check_failed");
        assert_eq!(
            published[0].1,
            "4-hour check failed: site-management in SIT"
        );
        assert!(
            published[0].2.contains(
                "The rollback started by itself (SIT rolls back on a failed check): arn:rb"
            ),
            "{}",
            published[0].2
        );
    }

    #[tokio::test]
    async fn a_rollback_that_could_not_start_is_told_with_the_command() {
        let mut m = memory();
        m.health
            .insert("af-south-1/sit-bbws-sites-service".into(), 503);
        let app = app(m);
        let w = started(&app, later(1)).await;
        let w = checked(&app, w, later(3_600)).await;
        assert_eq!(w.verdict, WatchVerdict::Failed);
        let settings = app.settings.as_ref().expect("settings");
        let state = json!({"watch": w, "rollback_error": {"Error": "StepFunctions.ExecutionLimitExceededException", "Cause": "limit"}});
        app.notify(settings, &state).await.expect("told");
        let text = app.account.published.borrow()[0].2.clone();
        assert!(
            text.contains("/health of latest-sit returned 503 (expected 200)"),
            "{text}"
        );
        assert!(text.contains("aws stepfunctions start-execution --region af-south-1 --state-machine-arn arn:aws:states:af-south-1:815856636111:stateMachine:bbws-rollback-sit"), "{text}");
        assert!(text.contains("The rollback could not be started (StepFunctions.ExecutionLimitExceededException: limit)"), "{text}");
    }

    #[tokio::test]
    async fn a_moved_alias_supersedes_the_watch_without_judging() {
        let mut m = memory();
        m.serving
            .insert("af-south-1/sit-bbws-sites-service".into(), "5".into());
        m.errors
            .insert("af-south-1/sit-bbws-sites-service".into(), 40.0);
        let app = app(m);
        let w = started(&app, later(1)).await;
        let w = checked(&app, w, later(3_600)).await;
        assert_eq!(w.verdict, WatchVerdict::Superseded);
        assert!(
            app.account.sums.borrow().is_empty(),
            "nothing of the new version is read"
        );
        let checks = app.account.records.borrow()["sm-sit-1:succeeded"]["checks"].clone();
        assert_eq!(checks[0]["verdict"], "superseded");
    }

    #[tokio::test]
    async fn another_services_alarm_is_told_but_not_judged() {
        let mut m = memory();
        m.alarms = vec!["bbws-sit-bbws-tenant-service-errors".into()];
        let app = app(m);
        let w = started(&app, later(1)).await;
        let w = checked(&app, w, later(3_600)).await;
        assert_eq!(w.verdict, WatchVerdict::Watching);
        let last = w.last_check.expect("a check");
        assert_eq!(last.other_alarms, ["bbws-sit-bbws-tenant-service-errors"]);
        let mut m = memory();
        m.alarms = vec!["bbws-sit-bbws-sites-service-throttles".into()];
        let app = self::app(m);
        let w = started(&app, later(1)).await;
        let w = checked(&app, w, later(3_600)).await;
        assert_eq!(w.verdict, WatchVerdict::Failed);
    }
}
