//! Environments (RB-003 §1.3) and the promotion paths between them (§1.2).

use crate::errors::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The primary AWS region of every environment.
pub const PRIMARY_REGION: &str = "af-south-1";
/// The failover AWS region, which only PROD has.
pub const PROD_FAILOVER_REGION: &str = "eu-west-1";

/// One of the three BBWS environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// Development: account 536580886816.
    Dev,
    /// System integration testing: account 815856636111.
    Sit,
    /// Production: account 093646564004.
    Prod,
}

impl Env {
    /// Every environment, in promotion order.
    pub const ALL: [Env; 3] = [Env::Dev, Env::Sit, Env::Prod];

    /// The lower-case name used in resource names: `"dev"`, `"sit"`, `"prod"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Dev => "dev",
            Env::Sit => "sit",
            Env::Prod => "prod",
        }
    }

    /// The upper-case name used in sentences: `"DEV"`, `"SIT"`, `"PROD"`.
    pub fn label(self) -> &'static str {
        match self {
            Env::Dev => "DEV",
            Env::Sit => "SIT",
            Env::Prod => "PROD",
        }
    }

    /// The AWS account id (kept as a string: PROD's starts with a zero).
    pub fn account_id(self) -> &'static str {
        match self {
            Env::Dev => "536580886816",
            Env::Sit => "815856636111",
            Env::Prod => "093646564004",
        }
    }

    /// The region the environment's workloads run in.
    pub fn primary_region(self) -> &'static str {
        PRIMARY_REGION
    }

    /// The failover region, where the environment has one (PROD only).
    pub fn failover_region(self) -> Option<&'static str> {
        match self {
            Env::Prod => Some(PROD_FAILOVER_REGION),
            Env::Dev | Env::Sit => None,
        }
    }

    /// Every region the environment's workloads run in: the primary first, then the failover.
    pub fn regions(self) -> Vec<String> {
        let mut regions = vec![self.primary_region().to_owned()];
        regions.extend(self.failover_region().map(str::to_owned));
        regions
    }

    /// Parses `"dev"`, `"sit"` or `"prod"` (exactly, lower case); the error names `field`.
    pub fn parse(field: &str, value: &str) -> Result<Env, FieldError> {
        Env::ALL
            .into_iter()
            .find(|env| env.as_str() == value)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("unknown environment '{value}' (known: dev, sit, prod)"),
                )
            })
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Env {
    type Err = FieldError;

    fn from_str(s: &str) -> Result<Env, FieldError> {
        Env::parse("env", s)
    }
}

/// A promotion between two environments that is not one of the allowed paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot promote {from} -> {to} (allowed: dev -> sit, sit -> prod)")]
pub struct InvalidPath {
    /// The environment promoted from.
    pub from: Env,
    /// The environment promoted to.
    pub to: Env,
}

/// One of the two allowed promotions: DEV -> SIT or SIT -> PROD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromotionPath {
    /// DEV -> SIT (RB-003 §3).
    DevToSit,
    /// SIT -> PROD (RB-003 §4).
    SitToProd,
}

impl PromotionPath {
    /// Both paths, in promotion order.
    pub const ALL: [PromotionPath; 2] = [PromotionPath::DevToSit, PromotionPath::SitToProd];

    /// The path from `source` to `target`, if it is an allowed one.
    pub fn new(source: Env, target: Env) -> Result<PromotionPath, InvalidPath> {
        match (source, target) {
            (Env::Dev, Env::Sit) => Ok(PromotionPath::DevToSit),
            (Env::Sit, Env::Prod) => Ok(PromotionPath::SitToProd),
            (from, to) => Err(InvalidPath { from, to }),
        }
    }

    /// The path that promotes into `target`; `None` for DEV, which nothing is promoted into.
    pub fn into_env(target: Env) -> Option<PromotionPath> {
        PromotionPath::ALL
            .into_iter()
            .find(|p| p.target() == target)
    }

    /// The environment the workload is taken from.
    pub fn source(self) -> Env {
        match self {
            PromotionPath::DevToSit => Env::Dev,
            PromotionPath::SitToProd => Env::Sit,
        }
    }

    /// The environment the workload is deployed to.
    pub fn target(self) -> Env {
        match self {
            PromotionPath::DevToSit => Env::Sit,
            PromotionPath::SitToProd => Env::Prod,
        }
    }

    /// The snake_case key, as in JSON: `"dev_to_sit"`, `"sit_to_prod"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PromotionPath::DevToSit => "dev_to_sit",
            PromotionPath::SitToProd => "sit_to_prod",
        }
    }

    /// Whether deployments on this path must happen in a maintenance window (PROD only).
    pub fn requires_maintenance_window(self) -> bool {
        self.target() == Env::Prod
    }
}

impl fmt::Display for PromotionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.source(), self.target())
    }
}

/// What one of an environment's state machines is asked to do, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvRequest {
    /// A promotion (`bbws-promote-<target>`).
    Promotion(PromotionPath),
    /// A release into an environment (`bbws-release-<env>`).
    Release(Env),
    /// A manual rollback in an environment (`bbws-rollback-<env>`).
    Rollback(Env),
}

impl EnvRequest {
    /// The environment the request changes.
    pub fn env(self) -> Env {
        match self {
            EnvRequest::Promotion(path) => path.target(),
            EnvRequest::Release(env) | EnvRequest::Rollback(env) => env,
        }
    }
}

/// Every environment runs its own state machines, which change only that environment (`here`):
/// a request for another one is refused with the field it came from and the state machine that
/// serves it.
pub fn own_environment(here: Env, asked: EnvRequest) -> Result<(), FieldError> {
    let there = asked.env();
    if there == here {
        return Ok(());
    }
    let (field, rule) = match asked {
        EnvRequest::Promotion(path) => (
            "target_env",
            format!(
                "this state machine promotes into {}; {} -> {} runs on bbws-promote-{}",
                here.label(),
                path.source().label(),
                there.label(),
                there.as_str()
            ),
        ),
        EnvRequest::Release(_) => (
            "target_env",
            format!(
                "this state machine releases into {}; a release into {} runs on bbws-release-{}",
                here.label(),
                there.label(),
                there.as_str()
            ),
        ),
        EnvRequest::Rollback(_) => (
            "environment",
            format!(
                "this state machine rolls back in {}; a rollback in {} runs on bbws-rollback-{}",
                here.label(),
                there.label(),
                there.as_str()
            ),
        ),
    };
    Err(FieldError::new(field, rule))
}

/// A value per promotion path, e.g. the thresholds that apply to each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRules<T> {
    /// The value for DEV -> SIT.
    pub dev_to_sit: T,
    /// The value for SIT -> PROD.
    pub sit_to_prod: T,
}

impl<T> PathRules<T> {
    /// The value for `path`.
    pub fn get(&self, path: PromotionPath) -> &T {
        match path {
            PromotionPath::DevToSit => &self.dev_to_sit,
            PromotionPath::SitToProd => &self.sit_to_prod,
        }
    }

    /// Each path with its value, in promotion order.
    pub fn iter(&self) -> impl Iterator<Item = (PromotionPath, &T)> {
        PromotionPath::ALL.into_iter().map(|p| (p, self.get(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_machine_changes_its_own_environment_only() {
        assert_eq!(
            own_environment(Env::Sit, EnvRequest::Promotion(PromotionPath::DevToSit)),
            Ok(())
        );
        assert_eq!(
            own_environment(Env::Prod, EnvRequest::Release(Env::Prod)),
            Ok(())
        );
        assert_eq!(
            own_environment(Env::Dev, EnvRequest::Rollback(Env::Dev)),
            Ok(())
        );
        let refused = |here, asked| own_environment(here, asked).map_err(|e| e.to_string());
        assert_eq!(
            refused(Env::Sit, EnvRequest::Promotion(PromotionPath::SitToProd)),
            Err(
                "target_env: this state machine promotes into SIT; SIT -> PROD runs on \
                 bbws-promote-prod"
                    .to_owned()
            )
        );
        assert_eq!(
            refused(Env::Prod, EnvRequest::Release(Env::Sit)),
            Err(
                "target_env: this state machine releases into PROD; a release into SIT runs on \
                 bbws-release-sit"
                    .to_owned()
            )
        );
        assert_eq!(
            refused(Env::Sit, EnvRequest::Rollback(Env::Prod)),
            Err(
                "environment: this state machine rolls back in SIT; a rollback in PROD runs on \
                 bbws-rollback-prod"
                    .to_owned()
            )
        );
    }

    #[test]
    fn each_environment_but_dev_has_one_path_into_it() {
        assert_eq!(PromotionPath::into_env(Env::Dev), None);
        assert_eq!(
            PromotionPath::into_env(Env::Sit),
            Some(PromotionPath::DevToSit)
        );
        assert_eq!(
            PromotionPath::into_env(Env::Prod),
            Some(PromotionPath::SitToProd)
        );
        for path in PromotionPath::ALL {
            assert_eq!(PromotionPath::into_env(path.target()), Some(path));
        }
    }

    #[test]
    fn parses_the_three_lower_case_names() {
        assert_eq!(Env::parse("source_env", "dev"), Ok(Env::Dev));
        assert_eq!(Env::parse("source_env", "sit"), Ok(Env::Sit));
        assert_eq!("prod".parse::<Env>(), Ok(Env::Prod));
    }

    #[test]
    fn parse_errors_name_the_field_and_reject_other_spellings() {
        let err = Env::parse("target_env", "qa").unwrap_err();
        assert_eq!(
            err.to_string(),
            "target_env: unknown environment 'qa' (known: dev, sit, prod)"
        );
        assert!(Env::parse("target_env", "PROD").is_err());
        assert!(Env::parse("target_env", " dev").is_err());
        assert!(Env::parse("target_env", "").is_err());
    }

    #[test]
    fn accounts_match_the_runbook() {
        assert_eq!(Env::Dev.account_id(), "536580886816");
        assert_eq!(Env::Sit.account_id(), "815856636111");
        assert_eq!(Env::Prod.account_id(), "093646564004");
    }

    #[test]
    fn regions_are_af_south_1_with_eu_west_1_failover_for_prod_only() {
        for env in Env::ALL {
            assert_eq!(env.primary_region(), "af-south-1");
        }
        assert_eq!(Env::Prod.failover_region(), Some("eu-west-1"));
        assert_eq!(Env::Sit.failover_region(), None);
        assert_eq!(Env::Dev.failover_region(), None);
    }

    #[test]
    fn names_and_serde_use_lower_case() {
        assert_eq!(Env::Sit.as_str(), "sit");
        assert_eq!(Env::Sit.label(), "SIT");
        assert_eq!(Env::Prod.to_string(), "prod");
        assert_eq!(
            serde_json::to_value(Env::Prod).ok(),
            Some(serde_json::json!("prod"))
        );
        assert_eq!(
            serde_json::from_value::<Env>(serde_json::json!("dev")).ok(),
            Some(Env::Dev)
        );
    }

    #[test]
    fn only_dev_to_sit_and_sit_to_prod_are_paths() {
        assert_eq!(
            PromotionPath::new(Env::Dev, Env::Sit),
            Ok(PromotionPath::DevToSit)
        );
        assert_eq!(
            PromotionPath::new(Env::Sit, Env::Prod),
            Ok(PromotionPath::SitToProd)
        );
        let invalid = [
            (Env::Dev, Env::Dev),
            (Env::Dev, Env::Prod),
            (Env::Sit, Env::Sit),
            (Env::Sit, Env::Dev),
            (Env::Prod, Env::Prod),
            (Env::Prod, Env::Sit),
            (Env::Prod, Env::Dev),
        ];
        for (from, to) in invalid {
            assert_eq!(
                PromotionPath::new(from, to),
                Err(InvalidPath { from, to }),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn invalid_path_says_what_is_allowed() {
        let err = PromotionPath::new(Env::Dev, Env::Prod).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot promote dev -> prod (allowed: dev -> sit, sit -> prod)"
        );
    }

    #[test]
    fn paths_know_their_ends_and_whether_a_window_is_needed() {
        let p = PromotionPath::SitToProd;
        assert_eq!((p.source(), p.target()), (Env::Sit, Env::Prod));
        assert!(p.requires_maintenance_window());
        assert!(!PromotionPath::DevToSit.requires_maintenance_window());
        assert_eq!(PromotionPath::DevToSit.to_string(), "dev -> sit");
        assert_eq!(PromotionPath::SitToProd.as_str(), "sit_to_prod");
        assert_eq!(
            serde_json::to_value(PromotionPath::SitToProd).ok(),
            Some(serde_json::json!("sit_to_prod"))
        );
    }

    #[test]
    fn path_rules_pick_the_value_for_a_path() {
        let rules = PathRules {
            dev_to_sit: 10,
            sit_to_prod: 5,
        };
        assert_eq!(*rules.get(PromotionPath::DevToSit), 10);
        assert_eq!(*rules.get(PromotionPath::SitToProd), 5);
        let all: Vec<_> = rules.iter().map(|(p, v)| (p, *v)).collect();
        assert_eq!(
            all,
            [(PromotionPath::DevToSit, 10), (PromotionPath::SitToProd, 5)]
        );
    }
}
