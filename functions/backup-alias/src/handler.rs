//! Backup alias (RB-003 §6.3.2): `backup-YYYYMMDD-HHMMSS` (UTC) on the version behind
//! `latest-<target>` of every function of the service, in every target region, described with the
//! execution ARN, so a rollback has a named version to return to.

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::BbwsError;
use bbws_domain::naming::backup_alias;
use bbws_domain::{BackedUp, Backup, ErrorName, PromotionPlan};
use serde::Deserialize;
use serde_json::Value;
use tracing::info;

use crate::ports::Aliases;

#[derive(Deserialize)]
struct Event {
    promotion: PromotionPlan,
}

/// One backup event. The alias is named after the execution's start, not the moment of this
/// attempt: a retried step (the answer of the first attempt lost) finds and keeps its own alias
/// instead of making a second one.
pub async fn handle<A: Aliases>(aliases: &A, event: Value) -> Result<Value, BbwsError> {
    let plan = parse::<Event>("the backup event", event)?.promotion;
    let alias = backup_alias(plan.started_at);
    let description = format!("Backup before {}", plan.execution_arn);
    let mut backed = Vec::new();
    for region in &plan.target_regions {
        for pair in &plan.functions {
            let version = aliases
                .version(region, &pair.target, &plan.target_alias)
                .await?
                .ok_or_else(|| {
                    BbwsError::new(
                        ErrorName::DeployFailed,
                        format!(
                            "{} in {region} has no alias {}: nothing to back up, nothing to roll back to",
                            pair.target, plan.target_alias
                        ),
                    )
                })?;
            aliases
                .put(region, &pair.target, &alias, &version, &description)
                .await?;
            info!(event = "backup", region = %region, function = %pair.target, version = %version,
                  alias = %alias, "{}:{alias} -> version {version} in {region}", pair.target);
            backed.push(BackedUp {
                region: region.clone(),
                function: pair.target.clone(),
                version,
            });
        }
    }
    to_value(&Backup {
        alias,
        functions: backed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::{Catalog, Config, PromotionRequest};
    use chrono::{DateTime, TimeZone, Utc};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// Aliases in memory: (region, function, alias) -> version.
    #[derive(Default)]
    struct Memory(RefCell<BTreeMap<(String, String, String), String>>);

    impl Aliases for Memory {
        async fn version(
            &self,
            region: &str,
            function: &str,
            alias: &str,
        ) -> Result<Option<String>, BbwsError> {
            let k = (region.to_owned(), function.to_owned(), alias.to_owned());
            Ok(self.0.borrow().get(&k).cloned())
        }

        async fn put(
            &self,
            region: &str,
            function: &str,
            alias: &str,
            version: &str,
            _description: &str,
        ) -> Result<(), BbwsError> {
            let k = (region.to_owned(), function.to_owned(), alias.to_owned());
            self.0.borrow_mut().insert(k, version.to_owned());
            Ok(())
        }
    }

    fn plan() -> PromotionPlan {
        let request = PromotionRequest::validate(
            &serde_json::json!({"service": "tenant-instance-management", "source_env": "dev",
                "target_env": "sit", "requested_by": "jane@bbws.io", "reason": "r"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        PromotionPlan::new(&request, &Config::runbook(), "arn:x", at()).expect("plan")
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 20, 5, 1)
            .single()
            .expect("valid time")
    }

    #[tokio::test]
    async fn the_backup_alias_names_what_latest_serves_in_every_region() {
        let plan = plan();
        let memory = Memory::default();
        for pair in &plan.functions {
            let k = (
                "af-south-1".to_owned(),
                pair.target.clone(),
                "latest-sit".to_owned(),
            );
            memory.0.borrow_mut().insert(k, "3".into());
        }
        let event = serde_json::json!({"promotion": plan});
        let out = handle(&memory, event).await.expect("backed up");
        let backup: Backup = serde_json::from_value(out).expect("a backup");
        assert_eq!(backup.alias, "backup-20261124-200501");
        assert_eq!(backup.functions.len(), plan.functions.len());
        assert!(backup.functions.iter().all(|b| b.version == "3"));
        for pair in &plan.functions {
            let k = (
                "af-south-1".to_owned(),
                pair.target.clone(),
                backup.alias.clone(),
            );
            assert_eq!(memory.0.borrow().get(&k).map(String::as_str), Some("3"));
        }
    }

    #[tokio::test]
    async fn a_function_without_latest_has_nothing_to_back_up() {
        let event = serde_json::json!({"promotion": plan()});
        let e = handle(&Memory::default(), event)
            .await
            .expect_err("nothing to back up");
        assert_eq!(e.error_type, ErrorName::DeployFailed);
        assert!(
            e.message
                .ends_with("nothing to back up, nothing to roll back to"),
            "{}",
            e.message
        );
    }
}
