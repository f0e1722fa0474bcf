//! Resource and alias names (RB-003 §3.2.1, §6.2.1, §6.3.2) and the `version` value.

use crate::env::Env;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

const STAMP_FORMAT: &str = "%Y%m%d-%H%M%S";
const BACKUP_PREFIX: &str = "backup-";
const INCIDENT_PREFIX: &str = "incident-";

/// The longest Lambda alias name.
pub const MAX_ALIAS_LEN: usize = 128;
/// The highest version number accepted.
pub const MAX_VERSION_NUMBER: u32 = 9_999;

/// `latest-{env}`: the alias that serves traffic in `env`.
pub fn latest_alias(env: Env) -> String {
    format!("latest-{env}")
}

/// `YYYYMMDD-HHMMSS` in UTC.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format(STAMP_FORMAT).to_string()
}

/// `backup-YYYYMMDD-HHMMSS`: the alias kept on the version replaced by a deployment.
pub fn backup_alias(at: DateTime<Utc>) -> String {
    format!("{BACKUP_PREFIX}{}", timestamp(at))
}

/// `incident-YYYYMMDD-HHMMSS`: the alias kept on the version a rollback replaces.
pub fn incident_alias(at: DateTime<Utc>) -> String {
    format!("{INCIDENT_PREFIX}{}", timestamp(at))
}

/// When a `backup-YYYYMMDD-HHMMSS` alias was taken; `None` for any other name.
pub fn parse_backup_alias(name: &str) -> Option<DateTime<Utc>> {
    let stamp = name.strip_prefix(BACKUP_PREFIX)?;
    if stamp.len() != "YYYYMMDD-HHMMSS".len() {
        return None;
    }
    NaiveDateTime::parse_from_str(stamp, STAMP_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// The most recent backup alias among `aliases`; other names are ignored.
pub fn latest_backup<'a, I>(aliases: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    aliases
        .into_iter()
        .filter_map(|name| parse_backup_alias(name).map(|at| (at, name)))
        .max()
        .map(|(_, name)| name)
}

/// `bbws-deployments-{env}`: the table deployments and rollbacks are recorded in.
pub fn deployments_table(env: Env) -> String {
    format!("bbws-deployments-{env}")
}

/// `bbws-promote-{env}`: the promotion state machine deployed in `env`.
pub fn state_machine_name(env: Env) -> String {
    format!("bbws-promote-{env}")
}

/// `bbws-watch-{env}`: the 24-hour watch of each deployment in `env`.
pub fn watch_state_machine_name(env: Env) -> String {
    format!("bbws-watch-{env}")
}

/// `bbws-rollback-{env}`: the manual rollback of `env`.
pub fn rollback_state_machine_name(env: Env) -> String {
    format!("bbws-rollback-{env}")
}

/// The ARN of the state machine `name` of `env`'s account, in its primary region.
pub fn state_machine_arn(env: Env, name: &str) -> String {
    format!(
        "arn:aws:states:{}:{}:stateMachine:{name}",
        env.primary_region(),
        env.account_id()
    )
}

/// `<service>-<target>-<yyyymmdd-hhmmss>`: a promotion's execution name.
pub fn execution_name(service: &str, target: Env, at: DateTime<Utc>) -> String {
    format!("{service}-{target}-{}", timestamp(at))
}

/// The id of the approval request of one execution's approval step: the execution's name, what is
/// approved (`promotion`, `rollback`, `release`: one approval step each) and the first 8 hex digits
/// of the SHA-256 of the execution ARN (the same name may run on two state machines). Every retry
/// of that step computes the same id, so a retried request finds its earlier self.
pub fn approval_request_id(execution_arn: &str, kind: &str) -> String {
    use sha2::{Digest, Sha256};
    let name = execution_arn.rsplit(':').next().unwrap_or_default();
    let digest = Sha256::digest(execution_arn.as_bytes());
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{name}-{kind}-{short}")
}

/// What the `version` field names: a published version number or an alias.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum VersionRef {
    /// A published version, `1` to `9999`.
    Number(u32),
    /// An alias, e.g. `latest-dev` or `backup-20260125-103045`.
    Alias(String),
}

impl VersionRef {
    /// Parses a version number (digits only, no leading zero, 1 to 9999) or a Lambda alias
    /// name (1 to 128 of `A-Z a-z 0-9 - _`, not all digits).
    pub fn parse(text: &str) -> Result<VersionRef, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return parse_number(text).map(VersionRef::Number);
        }
        if text.len() > MAX_ALIAS_LEN {
            return Err(format!(
                "alias '{text}' is longer than {MAX_ALIAS_LEN} characters"
            ));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "'{text}' is neither a version number (1 to {MAX_VERSION_NUMBER}) nor an alias \
                 (letters, digits, '-' and '_')"
            ));
        }
        Ok(VersionRef::Alias(text.to_owned()))
    }

    /// The version Lambda qualifier to pass to AWS.
    pub fn qualifier(&self) -> String {
        self.to_string()
    }
}

fn parse_number(digits: &str) -> Result<u32, String> {
    let out_of_range = || format!("version number '{digits}' must be 1 to {MAX_VERSION_NUMBER}");
    if digits.bytes().all(|b| b == b'0') {
        return Err(out_of_range());
    }
    if digits.starts_with('0') {
        return Err(format!(
            "version number '{digits}' must not start with 0 (1 to {MAX_VERSION_NUMBER})"
        ));
    }
    if digits.len() > 4 {
        return Err(out_of_range());
    }
    digits
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_VERSION_NUMBER).contains(n))
        .ok_or_else(out_of_range)
}

impl fmt::Display for VersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionRef::Number(n) => write!(f, "{n}"),
            VersionRef::Alias(a) => f.write_str(a),
        }
    }
}

impl TryFrom<String> for VersionRef {
    type Error = String;

    fn try_from(text: String) -> Result<VersionRef, String> {
        VersionRef::parse(&text)
    }
}

impl From<VersionRef> for String {
    fn from(v: VersionRef) -> String {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 25, 10, 30, 45).unwrap()
    }

    #[test]
    fn per_environment_names() {
        assert_eq!(latest_alias(Env::Sit), "latest-sit");
        assert_eq!(deployments_table(Env::Prod), "bbws-deployments-prod");
        assert_eq!(state_machine_name(Env::Dev), "bbws-promote-dev");
    }

    #[test]
    fn backup_and_incident_aliases_are_utc_stamped() {
        assert_eq!(backup_alias(at()), "backup-20260125-103045");
        assert_eq!(incident_alias(at()), "incident-20260125-103045");
        let single_digits = Utc.with_ymd_and_hms(2026, 2, 3, 4, 5, 6).unwrap();
        assert_eq!(backup_alias(single_digits), "backup-20260203-040506");
    }

    #[test]
    fn execution_names_join_service_target_and_time() {
        assert_eq!(
            execution_name("site-management", Env::Prod, at()),
            "site-management-prod-20260125-103045"
        );
    }

    #[test]
    fn backup_aliases_parse_back_and_the_latest_is_found() {
        assert_eq!(parse_backup_alias("backup-20260125-103045"), Some(at()));
        for other in [
            "latest-prod",
            "incident-20260125-103045",
            "backup-20261325-103045",
            "backup-20260125-1030451",
            "backup-20260125",
        ] {
            assert_eq!(parse_backup_alias(other), None, "{other}");
        }
        let names = [
            "latest-prod",
            "backup-20260125-220000",
            "backup-20260201-040000",
            "backup-20251231-235959",
        ];
        assert_eq!(latest_backup(names), Some("backup-20260201-040000"));
        assert_eq!(latest_backup(["latest-prod"]), None);
    }

    #[test]
    fn version_numbers_parse_within_range() {
        assert_eq!(VersionRef::parse("7"), Ok(VersionRef::Number(7)));
        assert_eq!(VersionRef::parse("1"), Ok(VersionRef::Number(1)));
        assert_eq!(VersionRef::parse("9999"), Ok(VersionRef::Number(9_999)));
        for bad in ["0", "10000", "007", "99999999999999999999"] {
            assert!(VersionRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_follow_the_lambda_pattern() {
        assert_eq!(
            VersionRef::parse("latest-dev"),
            Ok(VersionRef::Alias("latest-dev".into()))
        );
        assert_eq!(
            VersionRef::parse("v1_0-5"),
            Ok(VersionRef::Alias("v1_0-5".into()))
        );
        let longest = "a".repeat(MAX_ALIAS_LEN);
        assert_eq!(
            VersionRef::parse(&longest),
            Ok(VersionRef::Alias(longest.clone()))
        );
        let too_long = format!("{longest}a");
        for bad in [
            "",
            "$LATEST",
            "v1.0.5",
            "latest dev",
            "café",
            too_long.as_str(),
        ] {
            assert!(VersionRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn version_parse_errors_read_well() {
        assert_eq!(
            VersionRef::parse("v1.0.5").unwrap_err(),
            "'v1.0.5' is neither a version number (1 to 9999) nor an alias \
             (letters, digits, '-' and '_')"
        );
        assert_eq!(
            VersionRef::parse("10000").unwrap_err(),
            "version number '10000' must be 1 to 9999"
        );
    }

    #[test]
    fn versions_serialize_as_strings() {
        assert_eq!(
            serde_json::to_value(VersionRef::Number(7)).unwrap(),
            serde_json::json!("7")
        );
        assert_eq!(
            serde_json::from_value::<VersionRef>(serde_json::json!("latest-sit")).unwrap(),
            VersionRef::Alias("latest-sit".into())
        );
        assert!(serde_json::from_value::<VersionRef>(serde_json::json!("a b")).is_err());
        assert_eq!(VersionRef::Number(12).qualifier(), "12");
    }

    #[test]
    fn an_approval_request_id_is_the_same_for_every_retry_of_one_step() {
        let arn = "arn:aws:states:af-south-1:815856636111:execution:bbws-promote-sit:tim-sit-1";
        let id = approval_request_id(arn, "promotion");
        assert_eq!(id, approval_request_id(arn, "promotion"));
        assert!(id.starts_with("tim-sit-1-promotion-"), "{id}");
        assert_eq!(id.len(), "tim-sit-1-promotion-".len() + 8);
        assert_ne!(id, approval_request_id(arn, "rollback"), "another step");
        let other = "arn:aws:states:af-south-1:815856636111:execution:bbws-rollback-sit:tim-sit-1";
        assert_ne!(
            approval_request_id(other, "promotion"),
            id,
            "the same name on another state machine"
        );
    }
}
