//! The data one step of a promotion hands to the next, as the state machines carry it.
//!
//! Each type here is the output of one step (or one part of it) and the input of the later steps
//! that read it: `$.preflight` ([`Preflight`]), `$.backup` ([`Backup`]), `$.deploy`
//! ([`Deployment`]), `$.verify` ([`Verification`]) and `$.monitor` ([`Watch`]). Their JSON shape is
//! what executions in flight, the state machines' paths and the record read: a field renamed here
//! changes the wire, so the tests below pin each shape against a JSON literal.

use serde::{Deserialize, Serialize};

use crate::approvals::Requirement;
use crate::windows::WindowCheck;

/// One check of a step (preflight, verification), with its figure, as the execution shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked, e.g. `sit-bbws-sites-service is ready`.
    pub check: String,
    /// Whether it passed.
    pub passed: bool,
    /// The figure or the reason, in words.
    pub detail: String,
}

impl Check {
    /// `<check>: <detail>` of every check that failed.
    pub fn failures(checks: &[Check]) -> Vec<String> {
        checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.check, c.detail))
            .collect()
    }
}

/// What Lambda's GetFunction says of one function version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionVersion {
    /// Function name.
    pub name: String,
    /// The published version the qualifier resolves to (`$LATEST` if unqualified).
    pub version: String,
    /// `Active`, `Pending`, `Inactive` or `Failed`.
    pub state: String,
    /// `Successful`, `InProgress` or `Failed`.
    pub last_update_status: String,
    /// Base64 SHA-256 of the package.
    pub code_sha256: String,
}

/// A source function version the preflight resolved, and the function it goes to in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFunction {
    /// The source version, as the preflight read it.
    #[serde(flatten)]
    pub function: FunctionVersion,
    /// The function's name in the target environment.
    pub target: String,
}

/// The preflight's answer (`$.preflight`): every check passed, what the deploy copies, the
/// maintenance window and the approvals that apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preflight {
    /// Always `true`: a failed preflight is an error, not an answer.
    pub passed: bool,
    /// Every check, with its figure.
    pub checks: Vec<Check>,
    /// The resolved source versions, one per function of the service.
    pub source: Vec<SourceFunction>,
    /// The maintenance window at the preflight.
    pub window: WindowCheck,
    /// Whether the emergency override applies (outside a window, emergency declared).
    pub emergency: bool,
    /// The approvals the promotion needs.
    pub approval: Requirement,
}

/// The version one function ran before the deploy, in one region, named by the backup alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUp {
    /// The target region.
    pub region: String,
    /// The function's name in the target.
    pub function: String,
    /// The version `latest-<target>` pointed at.
    pub version: String,
}

/// The backup step's answer (`$.backup`): the backup alias and what it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// `backup-YYYYMMDD-HHMMSS`.
    pub alias: String,
    /// Every function in every target region.
    pub functions: Vec<BackedUp>,
}

impl Backup {
    /// The backed-up version of `function` in `region`; empty when none is known.
    pub fn version_of(&self, region: &str, function: &str) -> String {
        self.functions
            .iter()
            .find(|b| b.region == region && b.function == function)
            .map(|b| b.version.clone())
            .unwrap_or_default()
    }
}

/// One function version published by the deploy, in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// The target region.
    pub region: String,
    /// The function's name in the target.
    pub function: String,
    /// The source function it was copied from.
    pub source_function: String,
    /// The source version copied.
    pub source_version: String,
    /// The version `latest-<target>` pointed at before (the backup's); empty when unknown.
    pub previous_version: String,
    /// The version published in the target.
    pub version: String,
    /// Base64 SHA-256 of the published package (the source's).
    pub code_sha256: String,
}

/// The deploy's answer (`$.deploy`): every version published, all behind `alias`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Every function in every target region.
    pub functions: Vec<Deployed>,
    /// The alias moved, `latest-<target>`.
    pub alias: String,
}

/// A verification's answer (`$.verify`, a release's cross-service check): healthy or the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether every check passed.
    pub healthy: bool,
    /// Every check, with its figure.
    pub checks: Vec<Check>,
    /// Why not healthy, for the rollback's record; `null` when healthy.
    pub reason: Option<String>,
}

/// The post-deploy watch between two polls (`$.monitor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// Seconds to the next poll (the state machine's Wait `SecondsPath`).
    pub wait_seconds: u64,
    /// Polls still to make.
    pub polls_left: u64,
    /// Polls made.
    #[serde(default)]
    pub polls_done: u64,
    /// When the watch started (Unix seconds): the alias's throttles are read from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    /// `literal` reads as a `T` that writes back exactly `literal`.
    fn round_trip<T: Serialize + DeserializeOwned>(literal: Value) -> T {
        let typed: T = serde_json::from_value(literal.clone()).expect("reads");
        assert_eq!(serde_json::to_value(&typed).expect("writes"), literal);
        typed
    }

    #[test]
    fn the_backup_keeps_its_shape() {
        let backup: Backup = round_trip(json!({"alias": "backup-20261124-200501", "functions": [
            {"region": "af-south-1", "function": "prod-bbws-sites-service", "version": "3"},
            {"region": "eu-west-1", "function": "prod-bbws-sites-service", "version": "2"}]}));
        assert_eq!(
            backup.version_of("eu-west-1", "prod-bbws-sites-service"),
            "2"
        );
        assert_eq!(backup.version_of("eu-west-1", "prod-bbws-other"), "");
    }

    #[test]
    fn the_deployment_keeps_its_shape() {
        let d: Deployment = round_trip(json!({"alias": "latest-sit", "functions": [{
            "region": "af-south-1", "function": "sit-bbws-sites-service",
            "source_function": "dev-bbws-sites-service", "source_version": "7",
            "previous_version": "3", "version": "4", "code_sha256": "abc="}]}));
        assert_eq!(d.functions[0].previous_version, "3");
    }

    #[test]
    fn the_preflight_keeps_its_shape() {
        let p: Preflight = round_trip(json!({
            "passed": true,
            "checks": [{"check": "sit-bbws-x is ready", "passed": true, "detail": "Active"}],
            "source": [{"name": "sit-bbws-x", "version": "5", "state": "Active",
                        "last_update_status": "Successful", "code_sha256": "abc=",
                        "target": "prod-bbws-x"}],
            "window": {"outcome": "in_window", "closes_at": "2026-11-24T22:00:00Z"},
            "emergency": false,
            "approval": {"all_of": ["tech_lead", "operations_lead"]}
        }));
        assert_eq!(p.source[0].function.code_sha256, "abc=");
        assert_eq!(p.source[0].target, "prod-bbws-x");
        let _: Preflight = round_trip(json!({
            "passed": true, "checks": [], "source": [],
            "window": {"outcome": "not_required"}, "emergency": false,
            "approval": {"any_of": ["dev_lead"]}
        }));
    }

    #[test]
    fn the_verification_and_the_watch_keep_their_shapes() {
        let v: Verification = round_trip(json!({"healthy": false, "checks": [
            {"check": "f:latest-sit /health in af-south-1", "passed": false,
             "detail": "500 (expected 200)"}],
            "reason": "verification failed"}));
        assert_eq!(
            Check::failures(&v.checks),
            ["f:latest-sit /health in af-south-1: 500 (expected 200)"]
        );
        let _: Verification = round_trip(json!({"healthy": true, "checks": [], "reason": null}));
        let w: Watch = round_trip(
            json!({"wait_seconds": 30, "polls_left": 10, "polls_done": 0,
                                         "started_at": 1_790_000_000}),
        );
        assert_eq!(w.started_at, Some(1_790_000_000));
        let _: Watch = round_trip(json!({"wait_seconds": 30, "polls_left": 10, "polls_done": 2}));
        let old: Watch =
            serde_json::from_value(json!({"wait_seconds": 5, "polls_left": 1})).expect("reads");
        assert_eq!(old.polls_done, 0);
    }
}
