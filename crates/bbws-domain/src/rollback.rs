//! A manual rollback (RB-003 §6.2.1, §6.3.2, §6.4, §7.3): its request, its plan, and the choice of
//! the version each function goes back to.
//!
//! The input mirrors §6.4's `gh workflow run rollback.yml` fields:
//!
//! ```json
//! {"service": "tenant-instance-management", "environment": "prod",
//!  "target_version": "backup-20260125-220000", "reason": "Rollback due to API errors",
//!  "requested_by": "ops@bbws.io", "incident": "INC-91"}
//! ```
//!
//! `target_version` is a version number, a `backup-YYYYMMDD-HHMMSS` alias, or absent (the newest
//! backup that differs from what serves now). A version that was never live for the service is
//! refused unless `"force": true` comes with an incident. PROD needs an incident (§7.3 "Incident
//! Ticket") and, by default, one approval from a Tech Lead or an Operations Lead.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::approvals::Requirement;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::env::Env;
use crate::errors::FieldError;
use crate::fields::{InvalidRequest, Validator};
use crate::naming::{latest_alias, parse_backup_alias, VersionRef};
use crate::plan::lock_id;

/// The top-level fields a rollback request may have.
pub const ROLLBACK_FIELDS: [&str; 7] = [
    "service",
    "environment",
    "target_version",
    "reason",
    "requested_by",
    "incident",
    "force",
];

/// What to roll back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackTarget {
    /// A published version number (the same package in the failover region).
    Version(u32),
    /// A `backup-YYYYMMDD-HHMMSS` alias, resolved in each function and region.
    Backup(String),
    /// The newest backup alias whose versions differ from what serves now.
    NewestBackup,
}

impl RollbackTarget {
    /// How the target reads in a cause or an email.
    pub fn label(&self) -> String {
        match self {
            RollbackTarget::Version(n) => format!("version {n}"),
            RollbackTarget::Backup(name) => name.clone(),
            RollbackTarget::NewestBackup => "the newest backup".to_owned(),
        }
    }
}

/// A validated rollback request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackRequest {
    /// The catalog service rolled back.
    pub service: String,
    /// Where.
    pub environment: Env,
    /// To what.
    pub target: RollbackTarget,
    /// Why, in words.
    pub reason: String,
    /// Who asked (the record's actor).
    pub requested_by: String,
    /// `INC-<digits>`; required for PROD and with `force`.
    pub incident: Option<String>,
    /// Roll back to a version that was never live.
    pub force: bool,
}

impl RollbackRequest {
    /// Validates a rollback request, reporting every problem at once.
    pub fn validate(input: &Value, catalog: &Catalog) -> Result<RollbackRequest, InvalidRequest> {
        let mut v = Validator::of(input)?;
        let service = v.service(catalog);
        let environment = v.env("environment");
        let target = target(&mut v);
        let reason = v.reason();
        let requested_by = v.requested_by();
        let incident = v.ticket("incident", "INC-");
        let force = v.flag("force");
        if let Some(None) = incident {
            if environment == Some(Env::Prod) {
                v.fail(
                    "incident",
                    "is required for a rollback in prod (INC-<digits>, RB-003 §7.3)",
                );
            } else if force == Some(true) {
                v.fail(
                    "incident",
                    "is required with force (INC-<digits>): say which incident needs a version that was never live",
                );
            }
        }
        v.unknown_fields_of(&ROLLBACK_FIELDS);
        let errors = std::mem::take(&mut v.errors);
        match (
            service,
            environment,
            target,
            reason,
            requested_by,
            incident,
            force,
        ) {
            (
                Some(service),
                Some(environment),
                Some(target),
                Some(reason),
                Some(requested_by),
                Some(incident),
                Some(force),
            ) if errors.is_empty() => Ok(RollbackRequest {
                service,
                environment,
                target,
                reason,
                requested_by,
                incident,
                force,
            }),
            _ if errors.is_empty() => Err(InvalidRequest {
                errors: vec![FieldError::new("request", "is incomplete")],
            }),
            _ => Err(InvalidRequest { errors }),
        }
    }
}

fn target(v: &mut Validator<'_>) -> Option<RollbackTarget> {
    let field = "target_version";
    let rule = "must be a version number (1 to 9999) or a backup alias (backup-YYYYMMDD-HHMMSS)";
    let text = match v.get(field) {
        None => return Some(RollbackTarget::NewestBackup),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            v.fail(field, rule);
            return None;
        }
    };
    match VersionRef::parse(&text) {
        Ok(VersionRef::Number(n)) => Some(RollbackTarget::Version(n)),
        Ok(VersionRef::Alias(a)) if parse_backup_alias(&a).is_some() => {
            Some(RollbackTarget::Backup(a))
        }
        Ok(VersionRef::Alias(a)) => {
            v.fail(field, format!("'{a}' {rule}"));
            None
        }
        Err(e) => {
            v.fail(field, format!("{e}; it {rule}"));
            None
        }
    }
}

/// Everything a rollback execution carries from step to step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackPlan {
    /// The validated request.
    pub request: RollbackRequest,
    /// The service rolled back.
    pub service: String,
    /// Where.
    pub environment: Env,
    /// The alias moved, `latest-<env>`.
    pub alias: String,
    /// The service's functions in `environment`, in catalog order.
    pub functions: Vec<String>,
    /// The regions the alias moves in (PROD: af-south-1 and eu-west-1).
    pub regions: Vec<String>,
    /// Who must approve; `None` when nobody needs to.
    pub approval: Option<Requirement>,
    /// Whether the approval wait runs (the state machine's Choice reads it).
    pub approval_required: bool,
    /// The approval wait's timeout (Task `TimeoutSecondsPath`).
    pub approval_timeout_seconds: u64,
    /// The lock shared with promotions of the service into `environment`.
    pub lock_id: String,
    /// The execution.
    pub execution_arn: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

impl RollbackPlan {
    /// The plan of a validated request under `config`.
    pub fn new(
        request: RollbackRequest,
        config: &Config,
        execution_arn: &str,
        started_at: DateTime<Utc>,
    ) -> Result<RollbackPlan, FieldError> {
        let env = request.environment;
        let functions = config
            .catalog
            .function_names(&request.service, env)
            .map_err(|e| FieldError::new("service", e.to_string()))?;
        let approval = config.approvals.for_rollback(env).cloned();
        Ok(RollbackPlan {
            service: request.service.clone(),
            environment: env,
            alias: latest_alias(env),
            functions,
            regions: env.regions(),
            approval_required: approval.is_some(),
            approval,
            approval_timeout_seconds: config.approval_timeout_seconds,
            lock_id: lock_id(&request.service, env),
            execution_arn: execution_arn.to_owned(),
            started_at,
            request,
        })
    }
}

/// What AWS says of one function in one region, gathered before choosing the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionState {
    /// Region.
    pub region: String,
    /// Function name.
    pub function: String,
    /// The version behind `latest-<env>`; `None` when the alias is missing.
    pub current: Option<String>,
    /// `backup-*` aliases: (name, version).
    pub backups: Vec<(String, String)>,
    /// Published versions: (version, CodeSha256).
    pub versions: Vec<(String, String)>,
    /// Versions the deployment records show as having served (from or to of a deployment).
    pub recorded: BTreeSet<String>,
}

/// One alias move of the rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// Region.
    pub region: String,
    /// Function name.
    pub function: String,
    /// The version serving now (kept as `incident-<timestamp>`).
    pub from_version: String,
    /// The version `latest-<env>` goes to.
    pub to_version: String,
}

/// The chosen target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// What the target is, in words: `backup-20260125-220000`, `version 7`.
    pub target: String,
    /// Every function in every region, in catalog order then region.
    pub moves: Vec<Move>,
    /// Versions that never served and are used because of `force`, in words.
    pub forced: Vec<String>,
}

/// Chooses the version each function goes back to, or says in words why the target is refused.
///
/// `states` holds every function of the service in every region; the primary region is
/// `primary`. A version number is looked up in the primary region; in the other regions the
/// version with the same CodeSha256 is the target.
pub fn resolve_target(
    target: &RollbackTarget,
    force: bool,
    env: Env,
    primary: &str,
    states: &[FunctionState],
) -> Result<Resolution, String> {
    let alias = latest_alias(env);
    let mut current = Vec::new();
    for s in states {
        match &s.current {
            Some(v) => current.push(v.clone()),
            None => {
                return Err(format!(
                    "{} has no {alias} alias in {}: nothing serves there to roll back",
                    s.function, s.region
                ))
            }
        }
    }
    let (label, to, forced) = match target {
        RollbackTarget::Backup(name) => (name.clone(), by_backup(name, states)?, Vec::new()),
        RollbackTarget::NewestBackup => newest_backup(states, &current)?,
        RollbackTarget::Version(n) => {
            let (to, never) = by_number(*n, primary, states)?;
            if !never.is_empty() && !force {
                return Err(format!(
                    "version {n} was never live in {}: {} (no backup alias and no deployment record \
                     points at it); name a backup alias, or add \"force\": true with the incident",
                    env.label(),
                    never.join(", ")
                ));
            }
            (format!("version {n}"), to, never)
        }
    };
    let moves: Vec<Move> = states
        .iter()
        .zip(current)
        .zip(to)
        .map(|((s, from), to)| Move {
            region: s.region.clone(),
            function: s.function.clone(),
            from_version: from,
            to_version: to,
        })
        .collect();
    if moves.iter().all(|m| m.from_version == m.to_version) {
        return Err(format!(
            "{alias} already serves {label} in every function ({}); nothing to roll back",
            moves
                .iter()
                .map(|m| format!("{} {} in {}", m.function, m.to_version, m.region))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Resolution {
        target: label,
        moves,
        forced,
    })
}

fn by_backup(name: &str, states: &[FunctionState]) -> Result<Vec<String>, String> {
    states
        .iter()
        .map(|s| {
            s.backups
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    let mut known: Vec<&str> = s.backups.iter().map(|(n, _)| n.as_str()).collect();
                    known.sort_unstable();
                    known.reverse();
                    format!(
                        "{name} does not exist for {} in {} (its backups: {})",
                        s.function,
                        s.region,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )
                })
        })
        .collect()
}

type Chosen = (String, Vec<String>, Vec<String>);

fn newest_backup(states: &[FunctionState], current: &[String]) -> Result<Chosen, String> {
    let mut common: Option<BTreeSet<&str>> = None;
    for s in states {
        let names: BTreeSet<&str> = s.backups.iter().map(|(n, _)| n.as_str()).collect();
        common = Some(match common {
            None => names,
            Some(c) => c.intersection(&names).copied().collect(),
        });
    }
    let mut candidates: Vec<&str> = common
        .unwrap_or_default()
        .into_iter()
        .filter(|n| parse_backup_alias(n).is_some())
        .collect();
    if candidates.is_empty() {
        return Err(
            "no backup alias exists in every function and region of the service; name a version"
                .to_owned(),
        );
    }
    candidates.sort_unstable_by_key(|n| std::cmp::Reverse(parse_backup_alias(n)));
    for name in &candidates {
        let to = by_backup(name, states)?;
        if to.iter().zip(current).any(|(t, c)| t != c) {
            return Ok(((*name).to_owned(), to, Vec::new()));
        }
    }
    Err(format!(
        "every backup ({}) points at the versions that serve now; nothing to roll back",
        candidates.join(", ")
    ))
}

fn by_number(
    n: u32,
    primary: &str,
    states: &[FunctionState],
) -> Result<(Vec<String>, Vec<String>), String> {
    let number = n.to_string();
    let mut shas = std::collections::BTreeMap::new();
    let mut never = Vec::new();
    for s in states.iter().filter(|s| s.region == primary) {
        let Some((_, sha)) = s.versions.iter().find(|(v, _)| *v == number) else {
            return Err(format!(
                "version {n} does not exist for {} in {}",
                s.function, s.region
            ));
        };
        let live = s.recorded.contains(&number)
            || s.backups.iter().any(|(_, v)| *v == number)
            || s.current.as_deref() == Some(number.as_str());
        if !live {
            never.push(format!("{} {n} in {}", s.function, s.region));
        }
        shas.insert(s.function.clone(), sha.clone());
    }
    let mut to = Vec::new();
    for s in states {
        if s.region == primary {
            to.push(number.clone());
            continue;
        }
        let sha = shas.get(&s.function).cloned().unwrap_or_default();
        // The newest version in this region with the same package.
        let found = s
            .versions
            .iter()
            .filter(|(_, c)| *c == sha)
            .max_by_key(|(v, _)| v.parse::<u64>().unwrap_or(0))
            .map(|(v, _)| v.clone());
        match found {
            Some(v) => to.push(v),
            None => {
                return Err(format!(
                    "{} in {} has no version with the package of version {n} in {primary} \
                     (CodeSha256 {sha})",
                    s.function, s.region
                ))
            }
        }
    }
    Ok((to, never))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(v: Value) -> Result<RollbackRequest, String> {
        RollbackRequest::validate(&v, &Catalog::runbook()).map_err(|e| e.to_string())
    }

    fn prod(extra: Value) -> Value {
        let mut base = json!({"service": "tenant-instance-management", "environment": "prod",
            "target_version": "backup-20260125-220000", "reason": "Rollback due to API errors",
            "requested_by": "ops@bbws.io", "incident": "INC-91"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        base
    }

    #[test]
    fn the_runbook_example_is_valid_and_names_a_backup() {
        let r = validate(prod(json!({}))).expect("valid");
        assert_eq!(
            r.target,
            RollbackTarget::Backup("backup-20260125-220000".into())
        );
        assert_eq!(r.environment, Env::Prod);
        assert!(!r.force);
    }

    #[test]
    fn target_version_is_a_number_a_backup_alias_or_absent() {
        assert_eq!(
            validate(prod(json!({"target_version": "7"}))).map(|r| r.target),
            Ok(RollbackTarget::Version(7))
        );
        assert_eq!(
            validate(prod(json!({"target_version": 12}))).map(|r| r.target),
            Ok(RollbackTarget::Version(12))
        );
        assert_eq!(
            validate(prod(json!({"target_version": null}))).map(|r| r.target),
            Ok(RollbackTarget::NewestBackup)
        );
        for bad in [
            json!("latest-prod"),
            json!("backup-2026"),
            json!("0"),
            json!(true),
        ] {
            let e = validate(prod(json!({ "target_version": bad }))).expect_err("refused");
            assert!(e.starts_with("target_version: "), "{e}");
        }
    }

    #[test]
    fn prod_needs_an_incident_and_force_needs_one_anywhere() {
        let e = validate(prod(json!({"incident": null}))).expect_err("refused");
        assert_eq!(
            e,
            "incident: is required for a rollback in prod (INC-<digits>, RB-003 §7.3)"
        );
        let sit = json!({"service": "site-management", "environment": "sit",
            "reason": "bad build", "requested_by": "eng@bbws.io", "force": true,
            "target_version": 3});
        let e = validate(sit.clone()).expect_err("refused");
        assert!(e.starts_with("incident: is required with force"), "{e}");
        let mut ok = sit;
        ok["force"] = json!(false);
        assert!(validate(ok).is_ok(), "SIT without force needs no incident");
    }

    #[test]
    fn every_problem_is_named_at_once_and_unknown_fields_are_refused() {
        let e = validate(
            json!({"service": "billing", "environment": "qa", "reason": " ",
            "requested_by": "nobody", "incident": "91", "force": "yes", "extra": 1}),
        )
        .expect_err("refused");
        for field in [
            "service:",
            "environment:",
            "reason:",
            "requested_by:",
            "incident:",
            "force:",
            "extra: unknown field",
        ] {
            assert!(e.contains(field), "{field} in {e}");
        }
        assert_eq!(
            validate(json!([])).expect_err("refused"),
            "request: must be a JSON object"
        );
    }

    #[test]
    fn the_plan_shares_the_promotions_lock_and_needs_approval_in_prod_only() {
        let at = Utc::now();
        let config = Config::runbook();
        let p = RollbackPlan::new(
            validate(prod(json!({}))).expect("valid"),
            &config,
            "arn:x",
            at,
        )
        .expect("plan");
        assert_eq!(p.lock_id, "tenant-instance-management#prod");
        assert_eq!(p.regions, ["af-south-1", "eu-west-1"]);
        assert_eq!(p.alias, "latest-prod");
        assert!(p.approval_required);
        assert_eq!(
            p.approval.map(|r| r.to_string()),
            Some(config.approvals.prod_rollback.to_string())
        );
        let sit = validate(json!({"service": "site-management", "environment": "sit",
            "reason": "bad build", "requested_by": "eng@bbws.io"}))
        .expect("valid");
        let p = RollbackPlan::new(sit, &config, "arn:y", at).expect("plan");
        assert!(!p.approval_required && p.approval.is_none());
        assert_eq!(p.functions.len(), 4);
        assert_eq!(p.regions, ["af-south-1"]);
    }

    fn state(
        region: &str,
        function: &str,
        current: &str,
        backups: &[(&str, &str)],
    ) -> FunctionState {
        FunctionState {
            region: region.into(),
            function: function.into(),
            current: Some(current.into()),
            backups: backups
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect(),
            versions: (1..=9)
                .map(|v| (v.to_string(), format!("sha-{function}-{region}-{v}")))
                .collect(),
            recorded: BTreeSet::new(),
        }
    }

    const OLD: &str = "backup-20260101-200000";
    const NEW: &str = "backup-20260125-220000";

    #[test]
    fn a_named_backup_resolves_in_every_function_and_region() {
        let states = [
            state("af-south-1", "f", "5", &[(OLD, "3"), (NEW, "4")]),
            state("eu-west-1", "f", "6", &[(OLD, "2"), (NEW, "5")]),
        ];
        let r = resolve_target(
            &RollbackTarget::Backup(OLD.into()),
            false,
            Env::Prod,
            "af-south-1",
            &states,
        )
        .expect("resolved");
        let to: Vec<&str> = r.moves.iter().map(|m| m.to_version.as_str()).collect();
        assert_eq!(to, ["3", "2"]);
        assert_eq!(r.moves[1].from_version, "6");
        let e = resolve_target(
            &RollbackTarget::Backup("backup-20250101-000000".into()),
            false,
            Env::Prod,
            "af-south-1",
            &states,
        )
        .expect_err("missing");
        assert_eq!(
            e,
            format!("backup-20250101-000000 does not exist for f in af-south-1 (its backups: {NEW}, {OLD})")
        );
    }

    #[test]
    fn the_newest_backup_skips_one_that_is_what_serves_now() {
        let states = [state("af-south-1", "f", "4", &[(OLD, "3"), (NEW, "4")])];
        let r = resolve_target(
            &RollbackTarget::NewestBackup,
            false,
            Env::Sit,
            "af-south-1",
            &states,
        )
        .expect("resolved");
        assert_eq!(
            (r.target.as_str(), r.moves[0].to_version.as_str()),
            (OLD, "3")
        );
        let states = [state("af-south-1", "f", "5", &[(OLD, "3"), (NEW, "4")])];
        let r = resolve_target(
            &RollbackTarget::NewestBackup,
            false,
            Env::Sit,
            "af-south-1",
            &states,
        )
        .expect("resolved");
        assert_eq!(r.target, NEW);
        let none = [state("af-south-1", "f", "5", &[])];
        assert!(resolve_target(
            &RollbackTarget::NewestBackup,
            false,
            Env::Sit,
            "af-south-1",
            &none
        )
        .expect_err("no backup")
        .starts_with("no backup alias exists"));
    }

    #[test]
    fn a_newest_backup_must_exist_in_every_function() {
        let states = [
            state("af-south-1", "a", "5", &[(OLD, "3"), (NEW, "4")]),
            state("af-south-1", "b", "5", &[(OLD, "2")]),
        ];
        let r = resolve_target(
            &RollbackTarget::NewestBackup,
            false,
            Env::Sit,
            "af-south-1",
            &states,
        )
        .expect("resolved");
        assert_eq!(r.target, OLD);
    }

    #[test]
    fn a_version_never_live_is_refused_unless_forced() {
        let mut s = state("af-south-1", "f", "5", &[(NEW, "4")]);
        let e = resolve_target(
            &RollbackTarget::Version(2),
            false,
            Env::Sit,
            "af-south-1",
            &[s.clone()],
        )
        .expect_err("never live");
        assert!(
            e.starts_with("version 2 was never live in SIT: f 2 in af-south-1"),
            "{e}"
        );
        let r = resolve_target(
            &RollbackTarget::Version(2),
            true,
            Env::Sit,
            "af-south-1",
            &[s.clone()],
        )
        .expect("forced");
        assert_eq!(r.forced, ["f 2 in af-south-1"]);
        let r = resolve_target(
            &RollbackTarget::Version(4),
            false,
            Env::Sit,
            "af-south-1",
            &[s.clone()],
        )
        .expect("a backup points at it");
        assert_eq!(r.moves[0].to_version, "4");
        s.recorded.insert("2".into());
        assert!(resolve_target(
            &RollbackTarget::Version(2),
            false,
            Env::Sit,
            "af-south-1",
            &[s]
        )
        .is_ok());
    }

    #[test]
    fn a_version_number_maps_to_the_same_package_in_the_failover_region() {
        let primary = state("af-south-1", "f", "5", &[(NEW, "4")]);
        let mut failover = state("eu-west-1", "f", "7", &[(NEW, "6")]);
        failover
            .versions
            .push(("6".into(), "sha-f-af-south-1-4".into()));
        let r = resolve_target(
            &RollbackTarget::Version(4),
            false,
            Env::Prod,
            "af-south-1",
            &[primary.clone(), failover],
        )
        .expect("resolved");
        let to: Vec<&str> = r.moves.iter().map(|m| m.to_version.as_str()).collect();
        assert_eq!(to, ["4", "6"]);
        let other = state("eu-west-1", "f", "7", &[(NEW, "6")]);
        let e = resolve_target(
            &RollbackTarget::Version(4),
            false,
            Env::Prod,
            "af-south-1",
            &[primary, other],
        )
        .expect_err("no such package");
        assert!(
            e.starts_with("f in eu-west-1 has no version with the package of version 4"),
            "{e}"
        );
    }

    #[test]
    fn a_target_that_serves_already_or_a_missing_alias_is_refused() {
        let s = state("af-south-1", "f", "4", &[(NEW, "4")]);
        let e = resolve_target(
            &RollbackTarget::Backup(NEW.into()),
            false,
            Env::Sit,
            "af-south-1",
            &[s],
        )
        .expect_err("no-op");
        assert_eq!(e, format!("latest-sit already serves {NEW} in every function (f 4 in af-south-1); nothing to roll back"));
        let mut s = state("af-south-1", "f", "4", &[(NEW, "3")]);
        s.current = None;
        let e = resolve_target(
            &RollbackTarget::Backup(NEW.into()),
            false,
            Env::Sit,
            "af-south-1",
            &[s],
        )
        .expect_err("no alias");
        assert!(
            e.starts_with("f has no latest-sit alias in af-south-1"),
            "{e}"
        );
        let s = state("af-south-1", "f", "5", &[]);
        let e = resolve_target(
            &RollbackTarget::Version(42),
            true,
            Env::Sit,
            "af-south-1",
            &[s],
        )
        .expect_err("missing");
        assert_eq!(e, "version 42 does not exist for f in af-south-1");
    }
}
