//! Rollback (RB-003 §6.3.2 steps 4-6): an `incident-YYYYMMDD-HHMMSS` alias on the bad version,
//! `latest-<target>` back to the backup version for every function in every region, health verified.
//!
//! Two callers:
//! - the promotion (no `op`): back to the backup alias the promotion took, after a failed check;
//! - the manual rollback, `bbws-rollback-<env>` (RB-003 §6.2.1, §6.3.2, §6.4):
//!   `plan` validates the request, `resolve` chooses the version of every function in every region
//!   (a named backup, the newest backup, or a version number that was live), `manual` moves the
//!   aliases and verifies health; a move that fails puts the ones already moved back.

use bbws_aws::functions::LatestRestored;
use bbws_aws::runtime::{parse, to_value};
use bbws_aws::BbwsError;
use bbws_domain::naming::incident_alias;
use bbws_domain::{Backup, ErrorName, PromotionPlan};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::manual;
use crate::ports::{Functions, Records};

#[derive(Deserialize)]
struct Event {
    promotion: PromotionPlan,
    backup: Backup,
    #[serde(default)]
    monitor: Value,
    #[serde(default)]
    verify: Value,
}

/// One rollback event: a manual rollback's step (`op`), else a promotion's rollback.
pub async fn handle<F: Functions, R: Records>(
    app: &manual::App<F, R>,
    event: Value,
) -> Result<Value, BbwsError> {
    if event.get("op").is_some() {
        return app.handle(event).await;
    }
    back_to_backup(&app.functions, event).await
}

/// A promotion's rollback: back to the backup alias the promotion took.
pub(crate) async fn back_to_backup<F: Functions>(
    functions: &F,
    event: Value,
) -> Result<Value, BbwsError> {
    let event = parse::<Event>("the rollback event", event)?;
    let plan = &event.promotion;
    let reason = event.monitor["reason"]
        .as_str()
        .or_else(|| event.verify["reason"].as_str())
        .map(readable)
        .unwrap_or_else(|| "rollback requested".to_owned());
    // Named after the execution's start: a retried rollback keeps the one incident alias it made.
    let incident = incident_alias(plan.started_at);
    info!(event = "rollback_start", service = %plan.service, target = %plan.target_env,
          functions = event.backup.functions.len(), incident = %incident, reason = %reason,
          "rolling {} back in {} to {}: {reason}", plan.service, plan.target_env, event.backup.alias);
    let mut restored = Vec::new();
    let mut unhealthy = Vec::new();
    let mut latest_misses = LatestMisses::default();
    for b in &event.backup.functions {
        let current = functions
            .alias_version(&b.region, &b.function, &plan.target_alias)
            .await?
            .unwrap_or_default();
        // The version that failed keeps a name (RB-003 §6.3.2 step 4), unless nothing moved.
        let kept = !current.is_empty() && current != b.version;
        if kept {
            functions
                .put_alias(
                    &b.region,
                    &b.function,
                    &incident,
                    &current,
                    &format!("Incident backup before rollback by {}", plan.execution_arn),
                )
                .await?;
        }
        functions
            .put_alias(
                &b.region,
                &b.function,
                &plan.target_alias,
                &b.version,
                &format!("Rollback from {incident} by {}", plan.execution_arn),
            )
            .await?;
        let latest = latest_misses
            .restore(functions, &b.region, &b.function, &b.version)
            .await;
        let h = functions
            .health(&b.region, &b.function, &plan.target_alias)
            .await?;
        if h.status != 200 {
            warn!(event = "rollback_unhealthy", function = %b.function, region = %b.region, status = h.status,
                  "{}:{} version {} in {} answers {}", b.function, plan.target_alias, b.version, b.region, h.detail);
            unhealthy.push(format!(
                "{} version {} in {}: {}",
                b.function, b.version, b.region, h.detail
            ));
        }
        info!(event = "rolled_back", function = %b.function, region = %b.region, from = %current, to = %b.version,
              health = h.status, "{}:{} {current} -> {} in {}", b.function, plan.target_alias, b.version, b.region);
        restored.push(json!({"region": b.region, "function": b.function, "from_version": current,
                             "to_version": b.version,
                             "incident_alias": if kept { Value::String(incident.clone()) } else { Value::Null },
                             "health": h.status, "latest": latest}));
    }
    let done = format!(
        "{} was rolled back ({reason}): {} is back on the versions of {}",
        plan.service, plan.target_alias, event.backup.alias
    );
    if !unhealthy.is_empty() {
        return Err(BbwsError::new(
            ErrorName::DeployFailed,
            format!(
                "{done}, but they are still unhealthy: {}; escalate to the on-call engineer \
                 (RB-003 §6.1){}",
                unhealthy.join("; "),
                latest_misses.also()
            ),
        ));
    }
    if let Some(e) = latest_misses.into_error(&done) {
        return Err(e);
    }
    to_value(
        &json!({"reason": reason, "incident_alias": incident, "backup_alias": event.backup.alias, "functions": restored}),
    )
}

/// The `$LATEST` uploads of one rollback step that failed. A rollback moves every alias first
/// (that is what serves traffic) and then gives each unqualified function (`$LATEST`) the package
/// of the version its alias is back on, so an invoke without a qualifier answers as that version
/// does; a `$LATEST` left on the bad build fails the step, naming the call.
#[derive(Default)]
pub(crate) struct LatestMisses(Vec<BbwsError>);

impl LatestMisses {
    /// Puts the package of `version` into `function`'s `$LATEST` in `region`: what it did, for the
    /// step's output; a failure is kept for [`LatestMisses::into_error`].
    pub(crate) async fn restore<F: Functions>(
        &mut self,
        functions: &F,
        region: &str,
        function: &str,
        version: &str,
    ) -> Value {
        match functions.restore_latest(region, function, version).await {
            Ok(done) => {
                log_latest(region, &done);
                serde_json::to_value(&done).unwrap_or(Value::Null)
            }
            Err(e) => {
                warn!(event = "latest_not_restored", function = %function, region = %region, version = %version,
                      error = %e.message, transient = e.error_type == ErrorName::AwsUnavailable,
                      "{function} $LATEST in {region} could not get version {version}'s package: {}", e.message);
                let out = json!({"function": function, "version": version, "error": e.message});
                self.0.push(BbwsError::new(
                    e.error_type,
                    format!("{function} in {region} ({})", e.message),
                ));
                out
            }
        }
    }

    /// The step's error when a `$LATEST` kept another package: `Bbws.AwsUnavailable` when every
    /// failure was transient (the state machine runs the step again; it finds its aliases in
    /// place and uploads again), else `Bbws.RollbackFailed`. `done` says what the step did.
    pub(crate) fn into_error(self, done: &str) -> Option<BbwsError> {
        if self.0.is_empty() {
            return None;
        }
        let transient = self
            .0
            .iter()
            .all(|e| e.error_type == ErrorName::AwsUnavailable);
        let (name, advice) = if transient {
            (ErrorName::AwsUnavailable, "the step runs again")
        } else {
            (
                ErrorName::RollbackFailed,
                "give each the package of the version its alias serves by hand (aws lambda \
                 get-function --qualifier <version>, then update-function-code)",
            )
        };
        Some(BbwsError::new(
            name,
            format!(
                "{done}, but the unqualified code ($LATEST) still has another package in {}; an \
                 invoke without a qualifier may run the bad build: {advice}",
                self.list()
            ),
        ))
    }

    /// The failures as a clause to append to another error's cause ("" when none).
    pub(crate) fn also(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!(
                "; also, $LATEST still has another package in {}",
                self.list()
            )
        }
    }

    fn list(&self) -> String {
        let each: Vec<&str> = self.0.iter().map(|e| e.message.as_str()).collect();
        each.join(", ")
    }
}

fn log_latest(region: &str, done: &LatestRestored) {
    info!(event = "latest_restored", function = %done.function, region = %region, version = %done.version,
          action = ?done.action, code_sha256 = %done.code_sha256, previous_code_sha256 = %done.previous_code_sha256,
          "{} $LATEST in {region}: {:?} (version {}, CodeSha256 {})", done.function, done.action,
          done.version, done.code_sha256);
}

/// A caught Lambda error arrives as its JSON error document; people read its errorMessage.
fn readable(reason: &str) -> String {
    serde_json::from_str::<Value>(reason)
        .ok()
        .and_then(|v| {
            let kind = v["errorType"].as_str().unwrap_or("error");
            v["errorMessage"]
                .as_str()
                .map(|m| format!("the post-deploy check could not run ({kind}): {m}"))
        })
        .unwrap_or_else(|| reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{Functions, Records};
    use bbws_aws::functions::{Health, LatestCode};
    use bbws_aws::Settings;
    use bbws_domain::{
        BackedUp, Catalog, Config, Move, PromotionRequest, Resolution, RollbackPlan,
        RollbackRequest,
    };
    use chrono::{DateTime, TimeZone, Utc};
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    type Key = (String, String, String);

    /// This account in memory: aliases, sick functions and aliases that cannot move.
    #[derive(Default)]
    struct Memory {
        aliases: RefCell<BTreeMap<Key, String>>,
        sick: BTreeSet<String>,
        stuck: BTreeSet<String>,
        /// Refused for good rather than throttled.
        stuck_for_good: bool,
        /// UpdateFunctionCode of `$LATEST` fails with this for the named function.
        latest_fails: Option<(String, ErrorName)>,
        restored: RefCell<Vec<String>>,
    }

    fn key(region: &str, function: &str, alias: &str) -> Key {
        (region.to_owned(), function.to_owned(), alias.to_owned())
    }

    impl Memory {
        fn alias(&self, region: &str, function: &str, alias: &str) -> Option<String> {
            self.aliases
                .borrow()
                .get(&key(region, function, alias))
                .cloned()
        }
    }

    impl Functions for Memory {
        async fn alias_version(
            &self,
            region: &str,
            function: &str,
            alias: &str,
        ) -> Result<Option<String>, BbwsError> {
            Ok(self.alias(region, function, alias))
        }

        async fn put_alias(
            &self,
            region: &str,
            function: &str,
            alias: &str,
            version: &str,
            _description: &str,
        ) -> Result<(), BbwsError> {
            if self.stuck.contains(function) && alias.starts_with("latest-") {
                return Err(if self.stuck_for_good {
                    BbwsError::new(ErrorName::AwsRefused, "UpdateAlias: AccessDeniedException")
                } else {
                    BbwsError::new(ErrorName::AwsUnavailable, "UpdateAlias: 503")
                });
            }
            let k = key(region, function, alias);
            self.aliases.borrow_mut().insert(k, version.to_owned());
            Ok(())
        }

        async fn aliases(
            &self,
            _region: &str,
            _function: &str,
        ) -> Result<Vec<(String, String)>, BbwsError> {
            Ok(Vec::new())
        }

        async fn versions(
            &self,
            _region: &str,
            _function: &str,
        ) -> Result<Vec<(String, String)>, BbwsError> {
            Ok(Vec::new())
        }

        async fn health(
            &self,
            _region: &str,
            function: &str,
            alias: &str,
        ) -> Result<Health, BbwsError> {
            let status = if self.sick.contains(function) {
                500
            } else {
                200
            };
            Ok(Health {
                target: format!("{function}:{alias}"),
                status,
                detail: format!("statusCode {status}"),
            })
        }

        async fn restore_latest(
            &self,
            _region: &str,
            function: &str,
            version: &str,
        ) -> Result<LatestRestored, BbwsError> {
            if let Some((f, name)) = &self.latest_fails {
                if f == function {
                    return Err(BbwsError::new(
                        *name,
                        format!("UpdateFunctionCode {f}: {name}"),
                    ));
                }
            }
            self.restored.borrow_mut().push(function.to_owned());
            Ok(LatestRestored {
                function: function.into(),
                version: version.into(),
                code_sha256: "old".into(),
                previous_code_sha256: "new".into(),
                action: LatestCode::Restore,
            })
        }
    }

    struct NoRecords;

    impl Records for NoRecords {
        async fn of_service(&self, _table: &str, _service: &str) -> Result<Vec<Value>, BbwsError> {
            Ok(Vec::new())
        }
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 20, 7, 31)
            .single()
            .expect("valid time")
    }

    fn promotion() -> PromotionPlan {
        let request = PromotionRequest::validate(
            &json!({"service": "site-management", "source_env": "sit", "target_env": "prod",
                    "requested_by": "jane@bbws.io", "reason": "r", "change_request": "CHG-1"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        PromotionPlan::new(&request, &Config::runbook(), "arn:x", at()).expect("plan")
    }

    /// Every function of the plan on version 2 behind `latest-prod`, backed up on version 1.
    fn deployed(plan: &PromotionPlan) -> (Memory, Backup) {
        let memory = Memory::default();
        let mut functions = Vec::new();
        for region in &plan.target_regions {
            for pair in &plan.functions {
                let k = key(region, &pair.target, &plan.target_alias);
                memory.aliases.borrow_mut().insert(k, "2".into());
                functions.push(BackedUp {
                    region: region.clone(),
                    function: pair.target.clone(),
                    version: "1".into(),
                });
            }
        }
        let backup = Backup {
            alias: "backup-20261124-200501".into(),
            functions,
        };
        (memory, backup)
    }

    #[tokio::test]
    async fn a_promotions_rollback_keeps_the_bad_version_and_goes_back_to_the_backup() {
        let plan = promotion();
        let (memory, backup) = deployed(&plan);
        let event = json!({"promotion": plan, "backup": backup,
                           "monitor": {"reason": "errors 12 over 5"}});
        let out = back_to_backup(&memory, event).await.expect("rolled back");
        assert_eq!(out["reason"], "errors 12 over 5");
        assert_eq!(out["incident_alias"], "incident-20261124-200731");
        assert_eq!(out["functions"].as_array().map(Vec::len), Some(8));
        for b in &backup.functions {
            assert_eq!(
                memory
                    .alias(&b.region, &b.function, "latest-prod")
                    .as_deref(),
                Some("1")
            );
            let kept = memory.alias(&b.region, &b.function, "incident-20261124-200731");
            assert_eq!(kept.as_deref(), Some("2"));
        }
        assert_eq!(memory.restored.borrow().len(), 8);
    }

    #[tokio::test]
    async fn a_rollback_to_versions_that_stay_sick_says_so() {
        let plan = promotion();
        let (mut memory, backup) = deployed(&plan);
        memory.sick.insert(plan.functions[1].target.clone());
        let event = json!({"promotion": plan, "backup": backup});
        let e = back_to_backup(&memory, event)
            .await
            .expect_err("still sick");
        assert_eq!(e.error_type, ErrorName::DeployFailed);
        assert!(
            e.message.starts_with(
                "site-management was rolled back (rollback requested): latest-prod is back on the \
                 versions of backup-20261124-200501, but they are still unhealthy: \
                 prod-bbws-templates-service version 1 in af-south-1: statusCode 500"
            ),
            "{}",
            e.message
        );
    }

    /// A PROD manual rollback's `manual` step over `memory`, moving `moves` back to
    /// backup-20261124-200501: the app (to read what it left) and the step's answer.
    async fn manual_rollback(
        memory: Memory,
        plan: &RollbackPlan,
        moves: Vec<Move>,
    ) -> (manual::App<Memory, NoRecords>, Result<Value, BbwsError>) {
        let app = manual::App {
            functions: memory,
            records: NoRecords,
            settings: Settings::from_lookup(|k| (k == "BBWS_ENV").then(|| "prod".to_owned())),
        };
        let target = Resolution {
            target: "backup-20261124-200501".into(),
            moves,
            forced: Vec::new(),
        };
        let event = json!({"op": "manual", "rollback": plan, "target": target});
        let result = app.handle(event).await;
        (app, result)
    }

    fn manual_plan() -> RollbackPlan {
        let request = RollbackRequest::validate(
            &json!({"service": "site-management", "environment": "prod",
                "target_version": "backup-20261124-200501", "reason": "API errors",
                "requested_by": "ops@bbws.io", "incident": "INC-91"}),
            &Config::runbook().catalog,
        )
        .expect("valid");
        RollbackPlan::new(
            request,
            &Config::runbook(),
            "arn:aws:states:af-south-1:1:execution:bbws-rollback-prod:r1",
            at(),
        )
        .expect("plan")
    }

    #[tokio::test]
    async fn a_manual_rollback_that_cannot_move_an_alias_puts_the_moved_ones_back() {
        // Throttled: everything is back, the step is run again; refused: the rollback failed.
        for (for_good, ends) in [
            (false, ErrorName::AwsUnavailable),
            (true, ErrorName::RollbackFailed),
        ] {
            alias_stuck(for_good, ends).await;
        }
    }

    async fn alias_stuck(for_good: bool, ends: ErrorName) {
        let plan = manual_plan();
        let memory = Memory::default();
        let mut moves = Vec::new();
        for region in &plan.regions {
            for function in &plan.functions {
                let k = key(region, function, &plan.alias);
                memory.aliases.borrow_mut().insert(k, "2".into());
                moves.push(Move {
                    region: region.clone(),
                    function: function.clone(),
                    from_version: "2".into(),
                    to_version: "1".into(),
                });
            }
        }
        let mut memory = memory;
        memory.stuck.insert(plan.functions[2].clone());
        memory.stuck_for_good = for_good;
        let (app, result) = manual_rollback(memory, &plan, moves.clone()).await;
        let e = result.expect_err("stuck");
        assert_eq!(e.error_type, ends);
        assert!(
            e.message.ends_with(
                "the 2 alias(es) already moved are back where they were; nothing changed"
            ),
            "{}",
            e.message
        );
        for m in &moves {
            let now = app.functions.alias(&m.region, &m.function, &plan.alias);
            assert_eq!(now.as_deref(), Some("2"), "{} in {}", m.function, m.region);
        }
    }

    #[tokio::test]
    async fn a_manual_rollback_moves_every_function_in_every_region() {
        let plan = manual_plan();
        let memory = Memory::default();
        let moves: Vec<Move> = plan
            .regions
            .iter()
            .flat_map(|r| {
                plan.functions.iter().map(move |f| Move {
                    region: r.clone(),
                    function: f.clone(),
                    from_version: "2".into(),
                    to_version: "1".into(),
                })
            })
            .collect();
        let (app, result) = manual_rollback(memory, &plan, moves.clone()).await;
        let out = result.expect("rolled back");
        assert_eq!(out["functions"].as_array().map(Vec::len), Some(moves.len()));
        for m in &moves {
            let now = app.functions.alias(&m.region, &m.function, &plan.alias);
            assert_eq!(now.as_deref(), Some("1"));
        }
    }

    #[tokio::test]
    async fn latest_left_on_the_bad_build_fails_the_rollback_naming_the_call() {
        // Throttled: the step runs again; refused: the rollback fails. Either way every alias is
        // back first.
        for (name, ends) in [
            (ErrorName::AwsUnavailable, ErrorName::AwsUnavailable),
            (ErrorName::AwsRefused, ErrorName::RollbackFailed),
        ] {
            let plan = promotion();
            let (mut memory, backup) = deployed(&plan);
            let bad = plan.functions[1].target.clone();
            memory.latest_fails = Some((bad.clone(), name));
            let event = json!({"promotion": plan, "backup": backup});
            let e = back_to_backup(&memory, event)
                .await
                .expect_err("$LATEST not back");
            assert_eq!(e.error_type, ends);
            assert!(
                e.message.contains(&format!(
                    "latest-prod is back on the versions of backup-20261124-200501, but the \
                     unqualified code ($LATEST) still has another package in {bad} in af-south-1 \
                     (UpdateFunctionCode {bad}: {name})"
                )),
                "{}",
                e.message
            );
            for b in &backup.functions {
                let now = memory.alias(&b.region, &b.function, "latest-prod");
                assert_eq!(now.as_deref(), Some("1"), "{} in {}", b.function, b.region);
            }

            let plan = manual_plan();
            let moves = vec![Move {
                region: "af-south-1".into(),
                function: plan.functions[0].clone(),
                from_version: "2".into(),
                to_version: "1".into(),
            }];
            let memory = Memory {
                latest_fails: Some((plan.functions[0].clone(), name)),
                ..Memory::default()
            };
            let (app, result) = manual_rollback(memory, &plan, moves).await;
            let e = result.expect_err("$LATEST not back");
            assert_eq!(e.error_type, ends);
            assert!(
                e.message
                    .contains("serves backup-20261124-200501 again, but the unqualified code"),
                "{}",
                e.message
            );
            let now = app
                .functions
                .alias("af-south-1", &plan.functions[0], &plan.alias);
            assert_eq!(now.as_deref(), Some("1"));
        }
    }

    #[test]
    fn a_caught_error_document_reads_as_its_message() {
        let name = ErrorName::AwsUnavailable;
        let doc =
            json!({"errorType": name.as_str(), "errorMessage": "Invoke x:latest-sit: timed out"});
        assert_eq!(
            readable(&doc.to_string()),
            format!("the post-deploy check could not run ({name}): Invoke x:latest-sit: timed out")
        );
        assert_eq!(readable("health 500"), "health 500");
    }
}
