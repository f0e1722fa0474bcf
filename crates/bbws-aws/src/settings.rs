//! The deployed settings of a promotion Lambda: environment variables set by Terraform.

use bbws_domain::{Config, Env};

use crate::error::BbwsError;

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
    /// The rules (BBWS_CONFIG, or RB-003's values when unset).
    pub config: Config,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Settings, BbwsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Settings, BbwsError> {
        let required = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| BbwsError::config(format!("{name} is not set")))
        };
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let env_text = required("BBWS_ENV")?;
        let env =
            Env::parse("BBWS_ENV", &env_text).map_err(|e| BbwsError::config(e.to_string()))?;
        let config = match optional("BBWS_CONFIG") {
            Some(text) => Config::from_json(&text)
                .map_err(|e| BbwsError::config(format!("BBWS_CONFIG: {e}")))?,
            None => Config::runbook(),
        };
        Ok(Settings {
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
            evidence_bucket: optional("BBWS_EVIDENCE_BUCKET"),
            tenant_project: optional("BBWS_TENANT_PROJECT"),
            tenant_artifacts_bucket: optional("BBWS_TENANT_ARTIFACTS_BUCKET"),
            config,
        })
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
        let e = Settings::from_lookup(lookup(&[("BBWS_ENV", "sit"), ("BBWS_CONFIG", "{")]))
            .unwrap_err();
        assert_eq!(e.error_type, bbws_domain::ErrorName::ConfigInvalid);
        assert!(e.message.starts_with("BBWS_CONFIG: "), "{}", e.message);
    }
}
