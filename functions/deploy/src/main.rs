//! Deploy: for every function of the service, copy the package of the preflight-resolved source
//! version from the source account (GetFunction's Code.Location), prove its CodeSha256, publish it
//! in every target region, prove the published CodeSha256, then move `latest-<target>`.
//!
//! All functions or none: every package is published before any alias moves; if an alias move
//! fails, the aliases already moved go back to their backup versions and the step fails with
//! `Bbws.DeployFailed`, or with `Bbws.AwsUnavailable` when AWS failed transiently and everything is
//! back as it was (the state machine then runs the step again, which finds its published versions).

use std::time::Duration;

use bbws_aws::functions::{
    code_sha256, describe, download, publish_code, put_alias, restore_latest, LatestCode,
};
use bbws_aws::runtime::{parse, serve, to_value};
use bbws_aws::{Aws, BbwsError, Settings};
use bbws_domain::{ErrorName, PromotionPlan};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::{info, warn};

#[derive(Deserialize)]
struct Event {
    promotion: PromotionPlan,
    preflight: Preflight,
    backup: Backup,
}

#[derive(Deserialize)]
struct Preflight {
    source: Vec<SourceFunction>,
}

#[derive(Deserialize)]
struct SourceFunction {
    name: String,
    version: String,
    code_sha256: String,
    target: String,
}

#[derive(Deserialize)]
struct Backup {
    functions: Vec<BackedUp>,
}

#[derive(Deserialize)]
struct BackedUp {
    region: String,
    function: String,
    version: String,
}

/// One function published in one region.
#[derive(Debug, Clone, Serialize)]
struct Deployed {
    region: String,
    function: String,
    source_function: String,
    source_version: String,
    previous_version: String,
    version: String,
    code_sha256: String,
}

struct App {
    aws: Aws,
    settings: Result<Settings, BbwsError>,
    source: OnceCell<Aws>,
    http: bbws_aws::functions::HttpClient,
}

const UPDATE_WAIT: Duration = Duration::from_secs(45);

impl App {
    async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        let event = parse::<Event>("the deploy event", event)?;
        let role = settings.source_reader()?.to_owned();
        let source = self
            .source
            .get_or_init(|| self.aws.assume(&role, "bbws-promotion-deploy"))
            .await;
        let plan = &event.promotion;
        let mut published = Vec::new();
        for src in &event.preflight.source {
            if let Err(e) = self
                .publish_one(source, plan, src, &event.backup, &mut published)
                .await
            {
                let (latest, latest_ok) = self.latest_back(&event.backup).await;
                let name = retry_or_fail(&e, latest_ok);
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
                retry_or_fail(&e, reverted && latest_ok),
                format!("{}; {latest}", e.message),
            ));
        }
        info!(event = "deployed", service = %plan.service, target = %plan.target_env, functions = published.len(),
              "{} deployed to {}: {} function version(s) behind {}", plan.service, plan.target_env,
              published.len(), plan.target_alias);
        to_value(&serde_json::json!({"functions": published, "alias": plan.target_alias}))
    }

    /// Copies one source function's package and publishes it in every target region, proving the
    /// CodeSha256 of each published version.
    async fn publish_one(
        &self,
        source: &Aws,
        plan: &PromotionPlan,
        src: &SourceFunction,
        backup: &Backup,
        published: &mut Vec<Deployed>,
    ) -> Result<(), BbwsError> {
        let package = self.fetch(source, plan, src).await?;
        for region in &plan.target_regions {
            let lambda = self.aws.lambda(Some(region));
            let description = format!(
                "{} {} from {}",
                plan.service, src.version, plan.execution_arn
            );
            let f = publish_code(
                &lambda,
                &src.target,
                package.clone(),
                &description,
                UPDATE_WAIT,
            )
            .await?;
            if f.code_sha256 != src.code_sha256 {
                return Err(BbwsError::new(
                    ErrorName::DeployFailed,
                    format!(
                        "version {} published in {region} has CodeSha256 {}, not the source's {}",
                        f.version, f.code_sha256, src.code_sha256
                    ),
                ));
            }
            let previous = backup
                .functions
                .iter()
                .find(|b| &b.region == region && b.function == src.target)
                .map(|b| b.version.clone())
                .unwrap_or_default();
            info!(event = "published", region = %region, function = %src.target, version = %f.version,
                  code_sha256 = %f.code_sha256, "{} version {} published in {region}", src.target, f.version);
            published.push(Deployed {
                region: region.clone(),
                function: src.target.clone(),
                source_function: src.name.clone(),
                source_version: src.version.clone(),
                previous_version: previous,
                version: f.version,
                code_sha256: f.code_sha256,
            });
        }
        Ok(())
    }

    async fn fetch(
        &self,
        source: &Aws,
        plan: &PromotionPlan,
        src: &SourceFunction,
    ) -> Result<Vec<u8>, BbwsError> {
        let lambda = source.lambda(None);
        let (f, location) = describe(&lambda, &src.name, Some(&src.version))
            .await?
            .ok_or_else(|| {
                BbwsError::typed(
                    ErrorName::DeployFailed.as_str(),
                    format!(
                        "the package to copy, {}:{} in {}, is gone (deleted after the preflight); \
                         start the promotion again",
                        src.name,
                        src.version,
                        plan.source_env.label()
                    ),
                )
            })?;
        let location = location.ok_or_else(|| {
            BbwsError::typed(
                ErrorName::DeployFailed.as_str(),
                format!("{}:{} has no Code.Location", src.name, src.version),
            )
        })?;
        let package = download(
            &self.http,
            &location,
            &format!("{}:{}", src.name, src.version),
        )
        .await?;
        let sha = code_sha256(&package);
        if sha != src.code_sha256 || f.code_sha256 != src.code_sha256 {
            return Err(BbwsError::typed(
                ErrorName::DeployFailed.as_str(),
                format!(
                    "{}:{} changed since the preflight: package CodeSha256 {sha}, preflight {}",
                    src.name, src.version, src.code_sha256
                ),
            ));
        }
        info!(event = "copied", function = %src.name, version = %src.version, bytes = package.len(),
              code_sha256 = %sha, "copied {} bytes of {}:{}", package.len(), src.name, src.version);
        Ok(package)
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
            let lambda = self.aws.lambda(Some(&d.region));
            if let Err(e) = put_alias(
                &lambda,
                &d.function,
                &plan.target_alias,
                &d.version,
                &description,
            )
            .await
            {
                let (reverted, all_back) = self.revert(plan, &published[..i]).await;
                let error = BbwsError::typed(
                    &e.error_type,
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
            let lambda = self.aws.lambda(Some(&b.region));
            match restore_latest(&lambda, &self.http, &b.function, &b.version, UPDATE_WAIT).await {
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

    async fn revert(&self, plan: &PromotionPlan, moved: &[Deployed]) -> (String, bool) {
        let mut back = Vec::new();
        let mut failed = Vec::new();
        for d in moved {
            let lambda = self.aws.lambda(Some(&d.region));
            let description = format!("Reverted by {}", plan.execution_arn);
            let result = if d.previous_version.is_empty() {
                Err(BbwsError::new(
                    ErrorName::DeployFailed,
                    "no backup version is known",
                ))
            } else {
                put_alias(
                    &lambda,
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

/// The name a failed deploy ends with: `Bbws.AwsUnavailable` (the step is run again) when AWS failed
/// transiently and everything is back as it was, else `Bbws.DeployFailed`.
fn retry_or_fail(cause: &BbwsError, all_back: bool) -> ErrorName {
    if all_back && cause.error_type == ErrorName::AwsUnavailable.as_str() {
        ErrorName::AwsUnavailable
    } else {
        ErrorName::DeployFailed
    }
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    bbws_aws::runtime::init_tracing();
    let app = App {
        aws: Aws::load().await,
        settings: Settings::from_env(),
        source: OnceCell::new(),
        http: bbws_aws::functions::http_client(),
    };
    serve(|event| app.handle(event)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::{Catalog, Config, PromotionRequest};
    use chrono::Utc;

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
        assert_eq!(e.error_type, "Bbws.DeployFailed");
        assert_eq!(
            e.message,
            "site-management: deploying prod-bbws-plugins-service to PROD failed: the package is \
             gone. No alias was moved: all 4 function(s) still serve their previous versions behind \
             latest-prod; the versions already published get no traffic: prod-bbws-sites-service 3 \
             in eu-west-1"
        );
    }

    #[test]
    fn a_transient_failure_with_everything_back_is_retried_anything_else_fails_the_deploy() {
        let throttled = BbwsError::new(
            ErrorName::AwsUnavailable,
            "UpdateAlias f: ThrottlingException",
        );
        let refused = BbwsError::new(
            ErrorName::AwsRefused,
            "UpdateAlias f: AccessDeniedException",
        );
        assert_eq!(retry_or_fail(&throttled, true), ErrorName::AwsUnavailable);
        assert_eq!(
            retry_or_fail(&throttled, false),
            ErrorName::DeployFailed,
            "an alias not back"
        );
        assert_eq!(retry_or_fail(&refused, true), ErrorName::DeployFailed);
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
