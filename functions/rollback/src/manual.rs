//! The manual rollback's steps (`bbws-rollback-<env>`): plan, resolve, manual.

use std::collections::{BTreeMap, BTreeSet};

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::naming::{incident_alias, parse_backup_alias};
use bbws_domain::{
    own_environment, resolve_target, EnvRequest, ErrorName, FunctionState, Move, ReleasePlan,
    Resolution, RollbackPlan, RollbackRequest,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::ports::{Functions, Records};
use crate::promotion::LatestMisses;

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Plan {
        input: Value,
        execution_arn: String,
        started_at: String,
    },
    Resolve {
        rollback: RollbackPlan,
    },
    Manual {
        rollback: RollbackPlan,
        target: Resolution,
    },
    /// A release's completed phases, last first (`rollback_completed_phases`): each back to the
    /// backup its own promotion took.
    Phases {
        release: ReleasePlan,
        phases: Vec<Value>,
    },
}

/// The rollback: this account's functions and records, and the deployed settings.
pub struct App<F, R> {
    /// This account's functions.
    pub functions: F,
    /// This account's deployment records.
    pub records: R,
    /// The deployed settings, or why they cannot be used (every manual step is then refused).
    pub settings: Result<Settings, BbwsError>,
}

impl<F: Functions, R: Records> App<F, R> {
    /// One step of a manual rollback.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Op>("the rollback event", event)? {
            Op::Plan {
                input,
                execution_arn,
                started_at,
            } => plan(settings, &input, &execution_arn, &started_at),
            Op::Resolve { rollback } => self.resolve(settings, &rollback).await,
            Op::Manual { rollback, target } => self.manual(&rollback, &target).await,
            Op::Phases { release, phases } => self.phases(&release, &phases).await,
        }
    }

    async fn phases(&self, release: &ReleasePlan, phases: &[Value]) -> Result<Value, BbwsError> {
        let mut done = Vec::new();
        let mut failed = Vec::new();
        for p in phases {
            let service = p["service"].as_str().unwrap_or("?");
            let reason = format!(
                "the release {} stopped at a later phase and asked for its completed phases to roll back",
                release.execution_arn.rsplit(':').next().unwrap_or_default()
            );
            let event = json!({"promotion": p["promotion"], "backup": p["backup"], "deploy": p["deploy"],
                               "monitor": {"reason": reason}});
            match crate::promotion::back_to_backup(&self.functions, event).await {
                Ok(out) => {
                    info!(event = "phase_rolled_back", service = %service, backup = %out["backup_alias"],
                          "release phase {service} rolled back to {}", out["backup_alias"]);
                    done.push(json!({"service": service, "rollback": out}));
                }
                Err(e) => {
                    warn!(event = "phase_rollback_failed", service = %service, error = %e.message,
                          "release phase {service} could not roll back: {}", e.message);
                    failed.push(format!("{service}: {}", e.message));
                }
            }
        }
        if !failed.is_empty() {
            return Err(BbwsError::new(
                ErrorName::RollbackFailed,
                format!(
                    "{} of {} completed phases could not roll back: {}",
                    failed.len(),
                    phases.len(),
                    failed.join("; ")
                ),
            ));
        }
        to_value(&json!({"phases": done}))
    }

    /// What serves now, the backups, the published versions and the records, then the domain's
    /// choice of target.
    async fn resolve(&self, settings: &Settings, plan: &RollbackPlan) -> Result<Value, BbwsError> {
        let records = self
            .records
            .of_service(&settings.deployments_table, &plan.service)
            .await?;
        let recorded = served_versions(&records);
        let mut states = Vec::new();
        for region in &plan.regions {
            for function in &plan.functions {
                let current = self
                    .functions
                    .alias_version(region, function, &plan.alias)
                    .await?;
                let backups = self
                    .functions
                    .aliases(region, function)
                    .await?
                    .into_iter()
                    .filter(|(name, _)| parse_backup_alias(name).is_some())
                    .collect();
                let versions = self.functions.versions(region, function).await?;
                states.push(FunctionState {
                    region: region.clone(),
                    function: function.clone(),
                    current,
                    backups,
                    versions,
                    recorded: recorded
                        .get(&format!("{region}/{function}"))
                        .cloned()
                        .unwrap_or_default(),
                });
            }
        }
        let primary = plan.environment.primary_region();
        let resolution = resolve_target(
            &plan.request.target,
            plan.request.force,
            plan.environment,
            primary,
            &states,
        )
        .map_err(|cause| {
            info!(event = "target_refused", service = %plan.service, env = %plan.environment,
                  target = %plan.request.target.label(), "rollback target refused: {cause}");
            BbwsError::new(
                ErrorName::RollbackRefused,
                format!(
                    "{} in {}: {cause}; nothing was changed",
                    plan.service,
                    plan.environment.label()
                ),
            )
        })?;
        for m in &resolution.moves {
            info!(event = "target_resolved", function = %m.function, region = %m.region, from = %m.from_version,
                  to = %m.to_version, target = %resolution.target,
                  "{}:{} {} -> {} in {} ({})", m.function, plan.alias, m.from_version, m.to_version, m.region,
                  resolution.target);
        }
        if !resolution.forced.is_empty() {
            warn!(event = "forced_target", incident = ?plan.request.incident, versions = %resolution.forced.join(", "),
                  "rolling back to versions that never served, by force: {}", resolution.forced.join(", "));
        }
        to_value(&resolution)
    }

    /// RB-003 §6.3.2 steps 4-6 for every function in every region.
    async fn manual(&self, plan: &RollbackPlan, target: &Resolution) -> Result<Value, BbwsError> {
        // Named after the execution's start: a retried step keeps the one incident alias it made.
        let incident = incident_alias(plan.started_at);
        let mut moved: Vec<&Move> = Vec::new();
        for m in &target.moves {
            if let Err(e) = self.move_one(plan, m, &incident).await {
                let (back, all_back) = self.put_back(plan, &moved).await;
                // AWS failed transiently and nothing changed: the state machine runs the step again.
                let name = e.retried_or(all_back, ErrorName::RollbackFailed);
                return Err(BbwsError::new(
                    name,
                    format!(
                        "{} in {}: moving {}:{} to {} in {} failed ({}); {back}",
                        plan.service,
                        plan.environment.label(),
                        m.function,
                        plan.alias,
                        m.to_version,
                        m.region,
                        e.message
                    ),
                ));
            }
            moved.push(m);
        }
        let mut functions = Vec::new();
        let mut unhealthy = Vec::new();
        let mut latest_misses = LatestMisses::default();
        for m in &target.moves {
            let latest = latest_misses
                .restore(&self.functions, &m.region, &m.function, &m.to_version)
                .await;
            let h = self
                .functions
                .health(&m.region, &m.function, &plan.alias)
                .await?;
            info!(event = "rollback_health", function = %m.function, region = %m.region, version = %m.to_version,
                  status = h.status, "{}:{} version {} in {} answers {}", m.function, plan.alias, m.to_version,
                  m.region, h.detail);
            if h.status != 200 {
                unhealthy.push(format!(
                    "{} version {} in {}: {}",
                    m.function, m.to_version, m.region, h.detail
                ));
            }
            functions.push(json!({"region": m.region, "function": m.function, "from_version": m.from_version,
                                  "to_version": m.to_version,
                                  "incident_alias": if m.from_version == m.to_version { Value::Null } else { Value::String(incident.clone()) },
                                  "health": h.status, "latest": latest}));
        }
        if !unhealthy.is_empty() {
            return Err(BbwsError::new(
                ErrorName::RollbackFailed,
                format!(
                    "{} in {}: {} now serves {} but does not answer health: {}; the versions it \
                     replaced are kept as {incident}; escalate to the on-call engineer (RB-003 §6.1){}",
                    plan.service,
                    plan.environment.label(),
                    plan.alias,
                    target.target,
                    unhealthy.join("; "),
                    latest_misses.also()
                ),
            ));
        }
        let done = format!(
            "{} in {}: {} serves {} again",
            plan.service,
            plan.environment.label(),
            plan.alias,
            target.target
        );
        if let Some(e) = latest_misses.into_error(&done) {
            return Err(e);
        }
        info!(event = "rolled_back", service = %plan.service, env = %plan.environment, target = %target.target,
              functions = functions.len(), incident = %incident,
              "{} in {} rolled back to {}", plan.service, plan.environment, target.target);
        to_value(
            &json!({"target": target.target, "incident_alias": incident, "functions": functions,
                         "forced": target.forced}),
        )
    }

    async fn move_one(
        &self,
        plan: &RollbackPlan,
        m: &Move,
        incident: &str,
    ) -> Result<(), BbwsError> {
        if m.from_version == m.to_version {
            return Ok(());
        }
        self.functions
            .put_alias(
                &m.region,
                &m.function,
                incident,
                &m.from_version,
                &format!("Incident backup before rollback by {}", plan.execution_arn),
            )
            .await?;
        self.functions
            .put_alias(
                &m.region,
                &m.function,
                &plan.alias,
                &m.to_version,
                &format!("Rollback from {incident} by {}", plan.execution_arn),
            )
            .await?;
        info!(event = "alias_moved", function = %m.function, region = %m.region, from = %m.from_version,
              to = %m.to_version, "{}:{} {} -> {} in {}", m.function, plan.alias, m.from_version, m.to_version,
              m.region);
        Ok(())
    }

    /// The aliases already moved go back; the sentence for the cause, and whether all are back.
    async fn put_back(&self, plan: &RollbackPlan, moved: &[&Move]) -> (String, bool) {
        let mut failed = Vec::new();
        for m in moved.iter().filter(|m| m.from_version != m.to_version) {
            let description = format!("Rollback undone by {}", plan.execution_arn);
            if let Err(e) = self
                .functions
                .put_alias(
                    &m.region,
                    &m.function,
                    &plan.alias,
                    &m.from_version,
                    &description,
                )
                .await
            {
                warn!(event = "put_back_failed", function = %m.function, region = %m.region, error = %e.message,
                      "{}:{} could not go back to {}", m.function, plan.alias, m.from_version);
                failed.push(format!("{} in {} ({})", m.function, m.region, e.message));
            }
        }
        if failed.is_empty() {
            let sentence = format!(
                "the {} alias(es) already moved are back where they were; nothing changed",
                moved.len()
            );
            (sentence, true)
        } else {
            let sentence = format!(
                "could not put back: {}; check {} of every function by hand",
                failed.join(", "),
                plan.alias
            );
            (sentence, false)
        }
    }
}

fn plan(
    settings: &Settings,
    input: &Value,
    execution_arn: &str,
    started_at: &str,
) -> Result<Value, BbwsError> {
    let request = RollbackRequest::validate(input, &settings.config.catalog).map_err(|e| {
        info!(
            event = "input_rejected",
            problems = e.errors.len(),
            "input rejected: {e}"
        );
        BbwsError::new(ErrorName::InvalidInput, e.to_string())
    })?;
    own_environment(settings.env, EnvRequest::Rollback(request.environment))
        .map_err(|e| BbwsError::new(ErrorName::InvalidInput, e.to_string()))?;
    let started: DateTime<Utc> = DateTime::parse_from_rfc3339(started_at)
        .map_err(|e| BbwsError::invalid_event(format!("started_at '{started_at}': {e}")))?
        .with_timezone(&Utc);
    let plan = RollbackPlan::new(request, &settings.config, execution_arn, started)
        .map_err(|e| BbwsError::new(ErrorName::InvalidInput, e.to_string()))?;
    info!(event = "validated", service = %plan.service, env = %plan.environment,
          target = %plan.request.target.label(), approval = plan.approval_required,
          "rollback of {} in {} to {} accepted", plan.service, plan.environment, plan.request.target.label());
    to_value(&plan)
}

/// The versions each `region/function` served according to the records: what a deployment
/// replaced (`from_version`), and what it or a rollback put live (`to_version`) when it did.
fn served_versions(records: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        let went_live = matches!(r["outcome"].as_str(), Some("succeeded" | "rolled_back"));
        let mut add = |field: &str| {
            for (key, v) in r[field].as_object().into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    out.entry(key.clone()).or_default().insert(v.to_owned());
                }
            }
        };
        add("from_version");
        if went_live {
            add("to_version");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::served_versions;
    use serde_json::json;

    #[test]
    fn records_show_what_served_before_and_what_went_live() {
        let records = [
            json!({"outcome": "succeeded", "from_version": {"af-south-1/f": "3"}, "to_version": {"af-south-1/f": "4"}}),
            json!({"outcome": "failed", "from_version": {"af-south-1/f": "4"}, "to_version": {"af-south-1/f": "5"}}),
            json!({"outcome": "rolled_back", "from_version": {}, "to_version": {"eu-west-1/f": "2"}}),
        ];
        let s = served_versions(&records);
        let f: Vec<&str> = s["af-south-1/f"].iter().map(String::as_str).collect();
        assert_eq!(f, ["3", "4"], "5 never served: its deploy failed");
        assert!(s["eu-west-1/f"].contains("2"));
    }
}
