//! Deploy: for every function of the service, copy the package of the preflight-resolved source
//! version from the source account (GetFunction's Code.Location), prove its CodeSha256, publish it
//! in every target region, prove the published CodeSha256, then move `latest-<target>`.
//!
//! All functions or none: every package is published before any alias moves; if an alias move
//! fails, the aliases already moved go back to their backup versions and the step fails with
//! `Bbws.DeployFailed`.

use std::time::Duration;

use bbws_aws::functions::{code_sha256, describe, download, publish_code, put_alias};
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
            let package = self
                .fetch(source, src)
                .await
                .map_err(|e| deploy_failed(plan, &src.target, e))?;
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
                .await
                .map_err(|e| deploy_failed(plan, &src.target, e))?;
                if f.code_sha256 != src.code_sha256 {
                    return Err(deploy_failed(
                        plan,
                        &src.target,
                        BbwsError::typed(
                            ErrorName::DeployFailed.as_str(),
                            format!(
                                "published CodeSha256 {} differs from the source's {}",
                                f.code_sha256, src.code_sha256
                            ),
                        ),
                    ));
                }
                let previous = event
                    .backup
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
        }
        self.move_aliases(plan, &published).await?;
        to_value(&serde_json::json!({"functions": published, "alias": plan.target_alias}))
    }

    async fn fetch(&self, source: &Aws, src: &SourceFunction) -> Result<Vec<u8>, BbwsError> {
        let lambda = source.lambda(None);
        let (f, location) = describe(&lambda, &src.name, Some(&src.version))
            .await?
            .ok_or_else(|| {
                BbwsError::typed(
                    ErrorName::DeployFailed.as_str(),
                    format!("{}:{} is gone from the source", src.name, src.version),
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

    async fn move_aliases(
        &self,
        plan: &PromotionPlan,
        published: &[Deployed],
    ) -> Result<(), BbwsError> {
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
                let reverted = self.revert(plan, &published[..i]).await;
                return Err(BbwsError::new(
                    ErrorName::DeployFailed,
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
                ));
            }
            info!(event = "alias_moved", region = %d.region, function = %d.function, version = %d.version,
                  "{}:{} -> {} in {}", d.function, plan.target_alias, d.version, d.region);
        }
        Ok(())
    }

    async fn revert(&self, plan: &PromotionPlan, moved: &[Deployed]) -> String {
        let mut failed = Vec::new();
        for d in moved {
            let lambda = self.aws.lambda(Some(&d.region));
            let description = format!("Reverted by {}", plan.execution_arn);
            if let Err(e) = put_alias(
                &lambda,
                &d.function,
                &plan.target_alias,
                &d.previous_version,
                &description,
            )
            .await
            {
                warn!(event = "revert_failed", function = %d.function, region = %d.region, error = %e.message);
                failed.push(format!("{} in {}", d.function, d.region));
            }
        }
        if failed.is_empty() {
            format!(
                "the {} function(s) already moved are back on their previous versions",
                moved.len()
            )
        } else {
            format!(
                "could not move back: {} — roll back by hand (RB-003 §6.3.2)",
                failed.join(", ")
            )
        }
    }
}

fn deploy_failed(plan: &PromotionPlan, function: &str, e: BbwsError) -> BbwsError {
    BbwsError::new(
        ErrorName::DeployFailed,
        format!(
            "{}: {function}: {}; no alias was moved",
            plan.service, e.message
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
