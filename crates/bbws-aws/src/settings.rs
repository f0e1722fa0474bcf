//! The deployed settings of a promotion Lambda: environment variables set by Terraform, and the
//! promotion rules (the catalog, windows, gates, monitor and watch) as one JSON document that
//! Terraform keeps in the evidence bucket (`config/<env>/promotion-config.json`, every version kept):
//! the functions that apply the rules read the version their environment names
//! (`BBWS_CONFIG_OBJECT`, `BBWS_CONFIG_VERSION`) once, when their process starts. A document in S3
//! is not bound by Lambda's 4 KB of environment (a catalog of dozens of services fits), a new
//! version changes the functions' environment (so no process keeps the old rules), and an auditor
//! reads the very rules an execution ran under. Without them, RB-003's rules built in apply.

use std::future::Future;

use bbws_domain::{Config, Env};

use crate::error::BbwsError;

/// The deployed rules: one version of an object of the evidence bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigObject {
    /// The bucket (BBWS_EVIDENCE_BUCKET).
    pub bucket: String,
    /// `config/<env>/promotion-config.json` (BBWS_CONFIG_OBJECT).
    pub key: String,
    /// The version Terraform wrote (BBWS_CONFIG_VERSION).
    pub version: String,
}

impl std::fmt::Display for ConfigObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s3://{}/{} version {}",
            self.bucket, self.key, self.version
        )
    }
}

/// What Terraform tells a function about its account.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The account's environment.
    pub env: Env,
    /// The role in the source account that this account's pipeline roles may assume.
    pub source_reader_role_arn: Option<String>,
    /// `bbws-deployments-<env>`.
    pub deployments_table: String,
    /// `bbws-promotion-locks-<env>`.
    pub locks_table: String,
    /// `bbws-approvals-<env>`.
    pub approvals_table: String,
    /// Promotion notifications.
    pub events_topic_arn: String,
    /// Approval emails.
    pub approval_topic_arn: String,
    /// PROD's failover region.
    pub failover_region: Option<String>,
    /// `bbws-promotion-evidence-<account-id>`: where each execution's evidence is written.
    pub evidence_bucket: Option<String>,
    /// The CodeBuild project that plans and applies tenants (BBWS_TENANT_PROJECT).
    pub tenant_project: Option<String>,
    /// The bucket the tenant builds keep their plans in (BBWS_TENANT_ARTIFACTS_BUCKET).
    pub tenant_artifacts_bucket: Option<String>,
    /// The rules (the deployed rules object, or RB-003's values when there is none).
    pub config: Config,
}

impl Settings {
    /// Reads the settings from the process environment, for a function that does not apply the
    /// promotion rules (a deployed rules object is refused: [`Settings::load`] reads it).
    pub fn from_env() -> Result<Settings, BbwsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings from the process environment and the deployed rules from S3, once, when
    /// the process starts. `Err` when they cannot be read or used ([`crate::runtime::settings`] then
    /// fails the start).
    pub async fn load(aws: &crate::Aws) -> Result<Settings, BbwsError> {
        let objects = crate::objects::Objects::new(aws);
        Settings::load_with(
            |name| std::env::var(name).ok(),
            |object: ConfigObject| {
                let objects = objects.clone();
                async move {
                    objects
                        .get_version(&object.bucket, &object.key, &object.version)
                        .await
                }
            },
        )
        .await
    }

    /// [`Settings::load`] through `get` and `fetch` (tests pass a map and a document); `fetch`'s
    /// errors name the call and the object.
    pub async fn load_with<F, Fut>(
        get: impl Fn(&str) -> Option<String>,
        fetch: F,
    ) -> Result<Settings, BbwsError>
    where
        F: FnOnce(ConfigObject) -> Fut,
        Fut: Future<Output = Result<Vec<u8>, BbwsError>>,
    {
        let (mut settings, object) = Settings::read(get)?;
        if let Some(object) = object {
            // The fetch's error names the call and the object.
            let document = fetch(object.clone()).await.map_err(|e| {
                BbwsError::new(e.error_type, format!("the promotion rules: {}", e.message))
            })?;
            let text = std::str::from_utf8(&document).map_err(|e| {
                BbwsError::config(format!("the promotion rules at {object}: not UTF-8: {e}"))
            })?;
            settings.config = Config::from_json(text)
                .map_err(|e| BbwsError::config(format!("the promotion rules at {object}: {e}")))?;
            tracing::info!(
                config = %object,
                services = settings.config.catalog.services.len(),
                bytes = document.len(),
                "promotion rules read"
            );
        }
        Ok(settings)
    }

    /// Reads the settings through `get` (tests pass a map), for a function that does not apply
    /// the promotion rules: a deployed rules object is refused (it would be silently unused).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, BbwsError> {
        match Settings::read(get)? {
            (settings, None) => Ok(settings),
            (_, Some(object)) => Err(BbwsError::config(format!(
                "BBWS_CONFIG_OBJECT is set ({object}) but this function reads its settings \
                 without the promotion rules: read them with Settings::load"
            ))),
        }
    }

    /// The environment's settings (RB-003's rules) and where the deployed rules are, if anywhere.
    fn read(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(Settings, Option<ConfigObject>), BbwsError> {
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| BbwsError::config(format!("{name} is not set")))
        };
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let env_text = required("BBWS_ENV")?;
        let env =
            Env::parse("BBWS_ENV", &env_text).map_err(|e| BbwsError::config(e.to_string()))?;
        let evidence_bucket = optional("BBWS_EVIDENCE_BUCKET");
        let object =
            match (
                optional("BBWS_CONFIG_OBJECT"),
                optional("BBWS_CONFIG_VERSION"),
            ) {
                (None, None) => None,
                (Some(key), Some(version)) => Some(ConfigObject {
                    bucket: evidence_bucket.clone().ok_or_else(|| {
                        BbwsError::config(
                        "BBWS_CONFIG_OBJECT is set but BBWS_EVIDENCE_BUCKET, its bucket, is not",
                    )
                    })?,
                    key,
                    version,
                }),
                (Some(_), None) => return Err(BbwsError::config(
                    "BBWS_CONFIG_OBJECT is set without BBWS_CONFIG_VERSION: the version of the \
                     rules must be named",
                )),
                (None, Some(_)) => {
                    return Err(BbwsError::config(
                        "BBWS_CONFIG_VERSION is set without BBWS_CONFIG_OBJECT",
                    ))
                }
            };
        let settings = Settings {
            env,
            source_reader_role_arn: optional("BBWS_SOURCE_READER_ROLE_ARN"),
            deployments_table: optional("BBWS_DEPLOYMENTS_TABLE")
                .unwrap_or_else(|| format!("bbws-deployments-{}", env.as_str())),
            locks_table: optional("BBWS_LOCKS_TABLE")
                .unwrap_or_else(|| format!("bbws-promotion-locks-{}", env.as_str())),
            approvals_table: optional("BBWS_APPROVALS_TABLE")
                .unwrap_or_else(|| format!("bbws-approvals-{}", env.as_str())),
            events_topic_arn: optional("BBWS_EVENTS_TOPIC_ARN").unwrap_or_default(),
            approval_topic_arn: optional("BBWS_APPROVAL_TOPIC_ARN").unwrap_or_default(),
            failover_region: optional("BBWS_FAILOVER_REGION"),
            evidence_bucket,
            tenant_project: optional("BBWS_TENANT_PROJECT"),
            tenant_artifacts_bucket: optional("BBWS_TENANT_ARTIFACTS_BUCKET"),
            config: Config::runbook(),
        };
        Ok((settings, object))
    }

    /// The evidence bucket, required by the functions that write or read evidence.
    pub fn evidence_bucket(&self) -> Result<&str, BbwsError> {
        self.evidence_bucket
            .as_deref()
            .ok_or_else(|| BbwsError::config("BBWS_EVIDENCE_BUCKET is not set"))
    }

    /// The source reader role, required by functions that read the source account.
    pub fn source_reader(&self) -> Result<&str, BbwsError> {
        self.source_reader_role_arn.as_deref().ok_or_else(|| {
            BbwsError::config(format!(
                "BBWS_SOURCE_READER_ROLE_ARN is not set: {} has no source environment",
                self.env.label()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::ErrorName;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_follow_the_runbook_names() {
        let s = Settings::from_lookup(lookup(&[("BBWS_ENV", "sit")])).expect("settings");
        assert_eq!(s.env, Env::Sit);
        assert_eq!(s.deployments_table, "bbws-deployments-sit");
        assert_eq!(s.locks_table, "bbws-promotion-locks-sit");
        assert_eq!(s.config, Config::runbook());
        assert!(s.source_reader().is_err());
    }

    #[test]
    fn missing_or_wrong_settings_name_the_variable() {
        let e = Settings::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(e.message, "BBWS_ENV is not set");
        let e = Settings::from_lookup(lookup(&[("BBWS_ENV", "uat")])).unwrap_err();
        assert!(e.message.starts_with("BBWS_ENV: "), "{}", e.message);
    }

    const DEPLOYED: &[(&str, &str)] = &[
        ("BBWS_ENV", "sit"),
        (
            "BBWS_EVIDENCE_BUCKET",
            "bbws-promotion-evidence-815856636111",
        ),
        ("BBWS_CONFIG_OBJECT", "config/sit/promotion-config.json"),
        ("BBWS_CONFIG_VERSION", "v2"),
    ];

    /// RB-003's rules with one service only, as a deployed document.
    fn one_service_rules() -> Vec<u8> {
        let mut config = serde_json::to_value(Config::runbook()).expect("runbook as JSON");
        let catalog = config["catalog"].as_array_mut().expect("a catalog");
        catalog.truncate(1);
        serde_json::to_vec(&config).expect("JSON")
    }

    #[tokio::test]
    async fn the_deployed_rules_are_the_version_the_environment_names() {
        let asked = std::cell::RefCell::new(Vec::new());
        let s = Settings::load_with(lookup(DEPLOYED), |object| {
            asked.borrow_mut().push(object);
            async { Ok(one_service_rules()) }
        })
        .await
        .expect("settings");
        assert_eq!(s.config.catalog.services.len(), 1);
        assert_ne!(s.config, Config::runbook());
        assert_eq!(
            asked.into_inner(),
            vec![ConfigObject {
                bucket: "bbws-promotion-evidence-815856636111".into(),
                key: "config/sit/promotion-config.json".into(),
                version: "v2".into(),
            }]
        );
    }

    #[tokio::test]
    async fn without_a_rules_object_nothing_is_read_and_the_runbook_applies() {
        let s = Settings::load_with(lookup(&[("BBWS_ENV", "prod")]), |_| async {
            Err(BbwsError::config("read although no object is deployed"))
        })
        .await
        .expect("settings");
        assert_eq!(s.config, Config::runbook());
    }

    #[tokio::test]
    async fn rules_that_cannot_be_read_or_used_name_the_object_and_keep_their_kind() {
        let unavailable = Settings::load_with(lookup(DEPLOYED), |_| async {
            Err(BbwsError::new(ErrorName::AwsUnavailable, "SlowDown"))
        })
        .await
        .unwrap_err();
        assert_eq!(unavailable.error_type, ErrorName::AwsUnavailable);
        assert_eq!(unavailable.message, "the promotion rules: SlowDown");
        let refused = Settings::load_with(lookup(DEPLOYED), |_| async {
            Err(BbwsError::new(ErrorName::AwsRefused, "AccessDenied"))
        })
        .await
        .unwrap_err();
        assert_eq!(refused.error_type, ErrorName::AwsRefused);
        let broken = Settings::load_with(lookup(DEPLOYED), |_| async { Ok(b"{".to_vec()) })
            .await
            .unwrap_err();
        assert_eq!(broken.error_type, ErrorName::ConfigInvalid);
        assert!(
            broken
                .message
                .starts_with("the promotion rules at s3://bbws-promotion-evidence-815856636111/"),
            "{}",
            broken.message
        );
    }

    #[tokio::test]
    async fn a_rules_object_needs_its_version_and_its_bucket() {
        let fetch = |_| async { Ok(one_service_rules()) };
        let no_version = lookup(&DEPLOYED[..3]);
        let e = Settings::load_with(no_version, fetch).await.unwrap_err();
        assert_eq!(e.error_type, ErrorName::ConfigInvalid);
        assert!(
            e.message.contains("without BBWS_CONFIG_VERSION"),
            "{}",
            e.message
        );
        let no_bucket = lookup(&[DEPLOYED[0], DEPLOYED[2], DEPLOYED[3]]);
        let e = Settings::load_with(no_bucket, fetch).await.unwrap_err();
        assert!(e.message.contains("BBWS_EVIDENCE_BUCKET"), "{}", e.message);
        let no_object = lookup(&[DEPLOYED[0], DEPLOYED[3]]);
        let e = Settings::load_with(no_object, fetch).await.unwrap_err();
        assert!(
            e.message.contains("without BBWS_CONFIG_OBJECT"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_function_that_does_not_read_the_rules_refuses_a_rules_object() {
        let e = Settings::from_lookup(lookup(DEPLOYED)).unwrap_err();
        assert_eq!(e.error_type, ErrorName::ConfigInvalid);
        assert!(e.message.contains("Settings::load"), "{}", e.message);
    }
}
