//! Deploy: for every function of the service, copy the package of the preflight-resolved source
//! version from the source account (GetFunction's Code.Location), prove its CodeSha256, publish it
//! in every target region, prove the published CodeSha256, then move `latest-<target>`.
//!
//! All functions or none: every package is published before any alias moves; if an alias move
//! fails, the aliases already moved go back to their backup versions and the step fails with
//! `Bbws.DeployFailed`, or with `Bbws.AwsUnavailable` when AWS failed transiently and everything is
//! back as it was (the state machine then runs the step again, which finds its published versions).

use bbws_aws::functions::{code_sha256, LatestCode};
use bbws_aws::runtime::{parse, to_value};
use bbws_aws::BbwsError;
use bbws_domain::{
    Backup, Deployed, Deployment, ErrorName, Preflight, PromotionPlan, SourceFunction,
};
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::ports::{Source, Target};

#[derive(Deserialize)]
struct Event {
    promotion: PromotionPlan,
    preflight: Preflight,
    backup: Backup,
}

/// The deploy with its two accounts; `source` is the deployed configuration's error when the
/// source account cannot be reached (every event is then refused with it).
pub struct App<S, T> {
    /// The source account.
    pub source: Result<S, BbwsError>,
    /// This account.
    pub target: T,
}

impl<S: Source, T: Target> App<S, T> {
    /// One deploy event.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let source = self.source.as_ref().map_err(Clone::clone)?;
        let event = parse::<Event>("the deploy event", event)?;
        let plan = &event.promotion;
        let mut published = Vec::new();
        for src in &event.preflight.source {
            if let Err(e) = self
                .publish_one(source, plan, src, &event.backup, &mut published)
                .await
            {
                let (latest, latest_ok) = self.latest_back(&event.backup).await;
                let name = e.retried_or(latest_ok, ErrorName::DeployFailed);
                return Err(nothing_moved(
                    name,
                    plan,
                    &src.target,
                    &e,
                    &published,
                    &latest,
                ));
            }
        }
        if let Err((e, reverted)) = self.move_aliases(plan, &published).await {
            let (latest, latest_ok) = self.latest_back(&event.backup).await;
            return Err(BbwsError::new(
                e.retried_or(reverted && latest_ok, ErrorName::DeployFailed),
                format!("{}; {latest}", e.message),
            ));
        }
        info!(event = "deployed", service = %plan.service, target = %plan.target_env, functions = published.len(),
              "{} deployed to {}: {} function version(s) behind {}", plan.service, plan.target_env,
              published.len(), plan.target_alias);
        to_value(&Deployment {
            functions: published,
            alias: plan.target_alias.clone(),
        })
    }

    /// Copies one source function's package and publishes it in every target region, proving the
    /// CodeSha256 of each published version.
    async fn publish_one(
        &self,
        source: &S,
        plan: &PromotionPlan,
        src: &SourceFunction,
        backup: &Backup,
        published: &mut Vec<Deployed>,
    ) -> Result<(), BbwsError> {
        let package = fetch(source, plan, src).await?;
        for region in &plan.target_regions {
            let description = format!(
                "{} {} from {}",
                plan.service, src.function.version, plan.execution_arn
            );
            let f = self
                .target
                .publish(region, &src.target, package.clone(), &description)
                .await?;
            if f.code_sha256 != src.function.code_sha256 {
                return Err(BbwsError::new(
                    ErrorName::DeployFailed,
                    format!(
                        "version {} published in {region} has CodeSha256 {}, not the source's {}",
                        f.version, f.code_sha256, src.function.code_sha256
                    ),
                ));
            }
            let previous = backup.version_of(region, &src.target);
            info!(event = "published", region = %region, function = %src.target, version = %f.version,
                  code_sha256 = %f.code_sha256, "{} version {} published in {region}", src.target, f.version);
            published.push(Deployed {
                region: region.clone(),
                function: src.target.clone(),
                source_function: src.function.name.clone(),
                source_version: src.function.version.clone(),
                previous_version: previous,
                version: f.version,
                code_sha256: f.code_sha256,
            });
        }
        Ok(())
    }

    /// Moves every alias; on a failure, the aliases already moved go back: the error, and whether
    /// every one of them is back.
    async fn move_aliases(
        &self,
        plan: &PromotionPlan,
        published: &[Deployed],
    ) -> Result<(), (BbwsError, bool)> {
        let description = format!("Promoted by {}", plan.execution_arn);
        for (i, d) in published.iter().enumerate() {
            if let Err(e) = self
                .target
                .put_alias(
                    &d.region,
                    &d.function,
                    &plan.target_alias,
                    &d.version,
                    &description,
                )
                .await
            {
                let (reverted, all_back) = self.revert(plan, &published[..i]).await;
                let error = BbwsError::new(
                    e.error_type,
                    format!(
                        "{}: moving {}:{} to version {} in {} failed ({}); {}",
                        plan.service,
                        d.function,
                        plan.target_alias,
                        d.version,
                        d.region,
                        e.message,
                        reverted
                    ),
                );
                return Err((error, all_back));
            }
            info!(event = "alias_moved", region = %d.region, function = %d.function, version = %d.version,
                  "{}:{} -> {} in {}", d.function, plan.target_alias, d.version, d.region);
        }
        Ok(())
    }

    /// After a failed deploy, the unqualified code (`$LATEST`) of every function in every region
    /// goes back to the package of its backup version: publishing changed it even where no alias
    /// moved. A sentence for the step's cause.
    async fn latest_back(&self, backup: &Backup) -> (String, bool) {
        let mut restored = 0;
        let mut failed = Vec::new();
        for b in backup.functions.iter().filter(|b| !b.version.is_empty()) {
            match self
                .target
                .restore_latest(&b.region, &b.function, &b.version)
                .await
            {
                Ok(done) => {
                    info!(event = "latest_restored", function = %b.function, region = %b.region,
                          version = %b.version, action = ?done.action, code_sha256 = %done.code_sha256,
                          "{} $LATEST in {}: {:?} (version {})", b.function, b.region, done.action, b.version);
                    if done.action == LatestCode::Restore {
                        restored += 1;
                    }
                }
                Err(e) => {
                    warn!(event = "latest_not_restored", function = %b.function, region = %b.region,
                          version = %b.version, error = %e.message,
                          "{} $LATEST in {} could not go back to version {}", b.function, b.region, b.version);
                    failed.push(format!("{} in {} ({})", b.function, b.region, e.message));
                }
            }
        }
        (latest_sentence(restored, &failed), failed.is_empty())
    }

    /// Puts the aliases already moved back: the sentence for the cause, and whether all are back.
    async fn revert(&self, plan: &PromotionPlan, moved: &[Deployed]) -> (String, bool) {
        let mut back = Vec::new();
        let mut failed = Vec::new();
        for d in moved {
            let description = format!("Reverted by {}", plan.execution_arn);
            let result = if d.previous_version.is_empty() {
                Err(BbwsError::new(
                    ErrorName::DeployFailed,
                    "no backup version is known",
                ))
            } else {
                self.target
                    .put_alias(
                        &d.region,
                        &d.function,
                        &plan.target_alias,
                        &d.previous_version,
                        &description,
                    )
                    .await
            };
            match result {
                Ok(()) => {
                    info!(event = "alias_reverted", function = %d.function, region = %d.region,
                          from = %d.version, to = %d.previous_version,
                          "{}:{} back to {} in {}", d.function, plan.target_alias, d.previous_version, d.region);
                    back.push(format!(
                        "{} {} in {}",
                        d.function, d.previous_version, d.region
                    ));
                }
                Err(e) => {
                    warn!(event = "revert_failed", function = %d.function, region = %d.region, error = %e.message,
                          "{}:{} could not go back to {} in {}", d.function, plan.target_alias, d.previous_version, d.region);
                    failed.push(format!("{} in {} ({})", d.function, d.region, e.message));
                }
            }
        }
        let all_back = failed.is_empty();
        let sentence = if all_back {
            format!(
                "the {} alias(es) already moved are back on their previous versions{}; every \
                 function serves what it served before",
                moved.len(),
                if back.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", back.join(", "))
                }
            )
        } else {
            format!(
                "could not move back: {}; point {} back to the backup alias's version by hand \
                 (RB-003 §6.3.2)",
                failed.join(", "),
                plan.target_alias
            )
        };
        (sentence, all_back)
    }
}

/// The package of the source version, proven to be the one the preflight resolved.
async fn fetch<S: Source>(
    source: &S,
    plan: &PromotionPlan,
    src: &SourceFunction,
) -> Result<Vec<u8>, BbwsError> {
    let (name, version) = (&src.function.name, &src.function.version);
    let (f, location) = source.describe(name, version).await?.ok_or_else(|| {
        BbwsError::new(
            ErrorName::DeployFailed,
            format!(
                "the package to copy, {name}:{version} in {}, is gone (deleted after the \
                 preflight); start the promotion again",
                plan.source_env.label()
            ),
        )
    })?;
    let location = location.ok_or_else(|| {
        BbwsError::new(
            ErrorName::DeployFailed,
            format!("{name}:{version} has no Code.Location"),
        )
    })?;
    let package = source
        .download(&location, &format!("{name}:{version}"))
        .await?;
    let sha = code_sha256(&package);
    if sha != src.function.code_sha256 || f.code_sha256 != src.function.code_sha256 {
        return Err(BbwsError::new(
            ErrorName::DeployFailed,
            format!(
                "{name}:{version} changed since the preflight: package CodeSha256 {sha}, \
                 preflight {}",
                src.function.code_sha256
            ),
        ));
    }
    info!(event = "copied", function = %name, version = %version, bytes = package.len(),
          code_sha256 = %sha, "copied {} bytes of {name}:{version}", package.len());
    Ok(package)
}

/// What became of the unqualified code after a failed deploy, in words.
fn latest_sentence(restored: usize, failed: &[String]) -> String {
    if failed.is_empty() {
        format!(
            "$LATEST has the package of the previous version again ({restored} function(s) \
             uploaded again)"
        )
    } else {
        format!(
            "$LATEST could not get its previous package back: {}; an unqualified invoke may run \
             the new build",
            failed.join(", ")
        )
    }
}

/// A failure before any alias moved: every function still serves its previous version.
fn nothing_moved(
    name: ErrorName,
    plan: &PromotionPlan,
    function: &str,
    e: &BbwsError,
    published: &[Deployed],
    latest: &str,
) -> BbwsError {
    let unused = if published.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = published
            .iter()
            .map(|d| format!("{} {} in {}", d.function, d.version, d.region))
            .collect();
        format!(
            "; the versions already published get no traffic: {}",
            list.join(", ")
        )
    };
    warn!(event = "deploy_failed", service = %plan.service, function = %function, published = published.len(),
          error = %e.message, retried = name == ErrorName::AwsUnavailable,
          "deploying {function} failed before any alias moved");
    BbwsError::new(
        name,
        format!(
            "{}: deploying {function} to {} failed: {}. No alias was moved: all {} function(s) \
             still serve their previous versions behind {}{unused}{}",
            plan.service,
            plan.target_env.label(),
            e.message,
            plan.functions.len(),
            plan.target_alias,
            if latest.is_empty() {
                String::new()
            } else {
                format!("; {latest}")
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_aws::functions::LatestRestored;
    use bbws_domain::{BackedUp, Catalog, Config, FunctionVersion, PromotionRequest, WindowCheck};
    use chrono::Utc;
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    fn plan() -> PromotionPlan {
        let request = PromotionRequest::validate(
            &serde_json::json!({"service": "site-management", "source_env": "sit",
                "target_env": "prod", "requested_by": "jane@bbws.io", "reason": "r",
                "change_request": "CHG-1"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        PromotionPlan::new(&request, &Config::runbook(), "arn:x", Utc::now()).expect("plan")
    }

    fn version(name: &str, version: &str, package: &[u8]) -> FunctionVersion {
        FunctionVersion {
            name: name.into(),
            version: version.into(),
            state: "Active".into(),
            last_update_status: "Successful".into(),
            code_sha256: code_sha256(package),
        }
    }

    fn package_of(name: &str) -> Vec<u8> {
        format!("package of {name}").into_bytes()
    }

    /// The source account: version 7 of every source function, with its package.
    struct Packages {
        gone: BTreeSet<String>,
    }

    impl Source for Packages {
        async fn describe(
            &self,
            name: &str,
            v: &str,
        ) -> Result<Option<(FunctionVersion, Option<String>)>, BbwsError> {
            if self.gone.contains(name) {
                return Ok(None);
            }
            Ok(Some((
                version(name, v, &package_of(name)),
                Some(name.to_owned()),
            )))
        }

        async fn download(&self, location: &str, _what: &str) -> Result<Vec<u8>, BbwsError> {
            Ok(package_of(location))
        }
    }

    type Key = (String, String);

    /// The target account: versions, `latest-prod` and `$LATEST` of every function per region.
    #[derive(Default)]
    struct Functions {
        versions: RefCell<BTreeMap<Key, u32>>,
        aliases: RefCell<BTreeMap<Key, String>>,
        restored: RefCell<Vec<Key>>,
        refuse_alias: Option<(Key, ErrorName)>,
        refuse_publish: Option<String>,
    }

    fn key(region: &str, function: &str) -> Key {
        (region.to_owned(), function.to_owned())
    }

    impl Target for Functions {
        async fn publish(
            &self,
            region: &str,
            function: &str,
            package: Vec<u8>,
            _description: &str,
        ) -> Result<FunctionVersion, BbwsError> {
            if self.refuse_publish.as_deref() == Some(function) {
                return Err(BbwsError::new(
                    ErrorName::AwsRefused,
                    "UpdateFunctionCode: no",
                ));
            }
            let mut versions = self.versions.borrow_mut();
            let next = versions.entry(key(region, function)).or_insert(1);
            *next += 1;
            Ok(version(function, &next.to_string(), &package))
        }

        async fn put_alias(
            &self,
            region: &str,
            function: &str,
            _alias: &str,
            version: &str,
            _description: &str,
        ) -> Result<(), BbwsError> {
            let k = key(region, function);
            if let Some((refused, name)) = &self.refuse_alias {
                if *refused == k && version != "1" {
                    return Err(BbwsError::new(*name, format!("UpdateAlias: {name}")));
                }
            }
            self.aliases.borrow_mut().insert(k, version.to_owned());
            Ok(())
        }

        async fn restore_latest(
            &self,
            region: &str,
            function: &str,
            version: &str,
        ) -> Result<LatestRestored, BbwsError> {
            self.restored.borrow_mut().push(key(region, function));
            Ok(LatestRestored {
                function: function.into(),
                version: version.into(),
                code_sha256: "old".into(),
                previous_code_sha256: "new".into(),
                action: LatestCode::Restore,
            })
        }
    }

    /// Every function of the plan on version 1 behind `latest-prod` in both regions.
    fn target(plan: &PromotionPlan) -> Functions {
        let f = Functions::default();
        for region in &plan.target_regions {
            for pair in &plan.functions {
                f.aliases
                    .borrow_mut()
                    .insert(key(region, &pair.target), "1".into());
            }
        }
        f
    }

    fn event(plan: &PromotionPlan) -> Value {
        let source = plan
            .functions
            .iter()
            .map(|p| SourceFunction {
                function: version(&p.source, "7", &package_of(&p.source)),
                target: p.target.clone(),
            })
            .collect();
        let backup = Backup {
            alias: "backup-20261124-200501".into(),
            functions: plan
                .target_regions
                .iter()
                .flat_map(|r| {
                    plan.functions.iter().map(move |p| BackedUp {
                        region: r.clone(),
                        function: p.target.clone(),
                        version: "1".into(),
                    })
                })
                .collect(),
        };
        let preflight = Preflight {
            passed: true,
            checks: Vec::new(),
            source,
            window: WindowCheck::NotRequired,
            emergency: false,
            approval: plan.rules.approval.clone(),
        };
        serde_json::json!({"promotion": plan, "preflight": preflight, "backup": backup})
    }

    fn aliases(target: &Functions) -> BTreeSet<String> {
        target.aliases.borrow().values().cloned().collect()
    }

    #[tokio::test]
    async fn every_function_in_every_region_moves_together() {
        let plan = plan();
        let app = App {
            source: Ok(Packages {
                gone: BTreeSet::new(),
            }),
            target: target(&plan),
        };
        let out = app.handle(event(&plan)).await.expect("deployed");
        let deployed: Deployment = serde_json::from_value(out).expect("a deployment");
        assert_eq!(deployed.alias, "latest-prod");
        assert_eq!(deployed.functions.len(), 8, "4 functions in 2 regions");
        assert!(deployed
            .functions
            .iter()
            .all(|d| d.version == "2" && d.previous_version == "1" && d.source_version == "7"));
        assert_eq!(aliases(&app.target), BTreeSet::from(["2".to_owned()]));
        assert!(app.target.restored.borrow().is_empty());
    }

    #[tokio::test]
    async fn a_failed_alias_move_puts_the_moved_ones_back() {
        for (refusal, ends) in [
            (ErrorName::AwsRefused, ErrorName::DeployFailed),
            (ErrorName::AwsUnavailable, ErrorName::AwsUnavailable),
        ] {
            alias_move_refused(refusal, ends).await;
        }
    }

    /// An alias move refused with `refusal`: the moved ones go back, the step ends `ends`.
    async fn alias_move_refused(refusal: ErrorName, ends: ErrorName) {
        let plan = plan();
        let mut functions = target(&plan);
        functions.refuse_alias = Some((key("af-south-1", &plan.functions[2].target), refusal));
        let app = App {
            source: Ok(Packages {
                gone: BTreeSet::new(),
            }),
            target: functions,
        };
        let e = app.handle(event(&plan)).await.expect_err("refused");
        assert_eq!(e.error_type, ends);
        assert!(
            e.message.contains(&format!(
                "moving prod-bbws-plugins-service:latest-prod to version 2 in af-south-1 failed \
                 (UpdateAlias: {refusal}); the 4 alias(es) already moved are back on their \
                 previous versions"
            )),
            "{}",
            e.message
        );
        assert!(
            e.message.ends_with("(8 function(s) uploaded again)"),
            "{}",
            e.message
        );
        assert_eq!(aliases(&app.target), BTreeSet::from(["1".to_owned()]));
        assert_eq!(app.target.restored.borrow().len(), 8);
    }

    #[tokio::test]
    async fn a_failure_before_the_aliases_moves_none() {
        let plan = plan();
        let mut functions = target(&plan);
        functions.refuse_publish = Some(plan.functions[2].target.clone());
        let app = App {
            source: Ok(Packages {
                gone: BTreeSet::new(),
            }),
            target: functions,
        };
        let e = app.handle(event(&plan)).await.expect_err("refused");
        assert_eq!(e.error_type, ErrorName::DeployFailed);
        assert!(
            e.message.starts_with(
                "site-management: deploying prod-bbws-plugins-service to PROD failed: \
                 UpdateFunctionCode: no. No alias was moved"
            ),
            "{}",
            e.message
        );
        assert_eq!(aliases(&app.target), BTreeSet::from(["1".to_owned()]));

        let gone = App {
            source: Ok(Packages {
                gone: BTreeSet::from([plan.functions[0].source.clone()]),
            }),
            target: target(&plan),
        };
        let e = gone.handle(event(&plan)).await.expect_err("gone");
        assert!(
            e.message.contains("is gone (deleted after the preflight)"),
            "{}",
            e.message
        );
        assert!(
            gone.target.versions.borrow().is_empty(),
            "nothing published"
        );
    }

    #[tokio::test]
    async fn an_unusable_configuration_refuses_every_event() {
        let app = App::<Packages, Functions> {
            source: Err(BbwsError::config("BBWS_SOURCE_READER_ROLE_ARN is not set")),
            target: Functions::default(),
        };
        let e = app
            .handle(serde_json::json!({}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::ConfigInvalid);
    }

    #[test]
    fn a_failure_before_any_alias_moved_says_so_and_names_the_idle_versions() {
        let published = vec![Deployed {
            region: "eu-west-1".into(),
            function: "prod-bbws-sites-service".into(),
            source_function: "sit-bbws-sites-service".into(),
            source_version: "4".into(),
            previous_version: "2".into(),
            version: "3".into(),
            code_sha256: "x".into(),
        }];
        let e = nothing_moved(
            ErrorName::DeployFailed,
            &plan(),
            "prod-bbws-plugins-service",
            &BbwsError::new(ErrorName::DeployFailed, "the package is gone"),
            &published,
            "",
        );
        assert_eq!(e.error_type, ErrorName::DeployFailed);
        assert_eq!(
            e.message,
            "site-management: deploying prod-bbws-plugins-service to PROD failed: the package is \
             gone. No alias was moved: all 4 function(s) still serve their previous versions behind \
             latest-prod; the versions already published get no traffic: prod-bbws-sites-service 3 \
             in eu-west-1"
        );
    }

    #[test]
    fn the_cause_says_whether_latest_has_its_previous_package_again() {
        assert_eq!(
            latest_sentence(2, &[]),
            "$LATEST has the package of the previous version again (2 function(s) uploaded again)"
        );
        let failed = latest_sentence(0, &["f in eu-west-1 (throttled)".to_owned()]);
        assert!(
            failed.starts_with("$LATEST could not get its previous package back: f in eu-west-1"),
            "{failed}"
        );
    }
}
