//! The 24-hour watch after a deploy (RB-003 §4.3.1 "Monitor 24h", §7.2 "Post-Promotion
//! Monitoring (24h)": the 1-hour, 4-hour, 12-hour and 24-hour checks, "No errors").
//!
//! Every successful promotion, release phase and manual rollback starts one execution of
//! `bbws-watch-<env>` for what it put live. Each check judges, since the previous one, the errors
//! and throttles of the watched versions, `/health` of `latest-<env>` in every region, and the
//! CloudWatch alarms of the watched functions. A failed check tells people how to roll back (and,
//! where the configuration says so for the environment, starts the rollback); a newer deployment
//! of the same service ends the older watch: it never judges a version that no longer serves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::env::Env;
use crate::errors::FieldError;
use crate::metrics::{check_metric, format_figure, Limit, Metric};

/// The checks of RB-003 §7.2, in order: their names are the watch's state names.
pub const CHECK_NAMES: [&str; 4] = [
    "1-hour check",
    "4-hour check",
    "12-hour check",
    "24-hour check",
];

/// The latest a check may be set after the deploy: 30 days (a Standard workflow runs a year).
pub const MAX_CHECK_AFTER_SECONDS: u64 = 30 * 86_400;

/// Who the watch's rollbacks and notifications are for, and what is judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchPolicy {
    /// Seconds after the deploy at which each of the four checks runs (RB-003: 1, 4, 12, 24 h).
    pub check_after_seconds: [u64; 4],
    /// The most errors of the watched versions tolerated between two checks ("No errors").
    pub errors: Limit,
    /// The most throttles of `latest-<env>` tolerated between two checks.
    pub throttles: Limit,
    /// Environments where a failed check starts the rollback to the promotion's backup itself;
    /// elsewhere it only tells people, with the command (RB-003 leaves PROD rollbacks after the
    /// monitor to people).
    pub automatic_rollback: Vec<Env>,
}

impl WatchPolicy {
    /// RB-003 §7.2: checks at 1, 4, 12 and 24 hours, no errors and no throttles; a failed check
    /// rolls DEV and SIT back by itself and only notifies in PROD.
    pub fn runbook() -> WatchPolicy {
        WatchPolicy {
            check_after_seconds: [3_600, 4 * 3_600, 12 * 3_600, 24 * 3_600],
            errors: Limit::AtMost(0),
            throttles: Limit::AtMost(0),
            automatic_rollback: vec![Env::Dev, Env::Sit],
        }
    }

    /// Problems with the policy's data.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut previous = 0;
        for (i, &after) in self.check_after_seconds.iter().enumerate() {
            if after <= previous || after > MAX_CHECK_AFTER_SECONDS {
                errors.push(FieldError::new(
                    format!("{field}.check_after_seconds[{i}]"),
                    format!(
                        "must be later than the check before it ({previous} s) and at most \
                         {MAX_CHECK_AFTER_SECONDS} s after the deploy"
                    ),
                ));
            }
            previous = previous.max(after);
        }
        errors.extend(self.errors.validate(&format!("{field}.errors")));
        errors.extend(self.throttles.validate(&format!("{field}.throttles")));
        let mut seen = Vec::new();
        for env in &self.automatic_rollback {
            if *env == Env::Prod {
                errors.push(FieldError::new(
                    format!("{field}.automatic_rollback"),
                    "may not list prod: a PROD rollback needs an incident and an approval (RB-003 \
                     §7.3), so in PROD a failed check tells people with the command",
                ));
            } else if seen.contains(env) {
                errors.push(FieldError::new(
                    format!("{field}.automatic_rollback"),
                    format!("lists {env} twice"),
                ));
            }
            seen.push(*env);
        }
        errors
    }

    /// Whether a failed check of a deployment in `env` starts the rollback itself. Only a
    /// promotion's watch does: a rollback's own watch never rolls back again by itself.
    pub fn rolls_back(&self, env: Env, action: Action) -> bool {
        action == Action::Promote && self.automatic_rollback.contains(&env)
    }
}

/// What put the watched versions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A promotion (alone or as a release's phase).
    Promote,
    /// A manual rollback.
    Rollback,
}

/// One function version the watch judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    /// The region it serves in.
    pub region: String,
    /// The function.
    pub function: String,
    /// The version `latest-<env>` was put on.
    pub version: String,
}

/// The watch between two checks (`$.watch` of `bbws-watch-<env>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchState {
    /// The deployment record watched (`bbws-deployments-<env>`).
    pub deployment_id: String,
    /// The service.
    pub service: String,
    /// Where.
    pub environment: Env,
    /// What put the versions live.
    pub action: Action,
    /// `latest-<env>`.
    pub alias: String,
    /// Every function version in every region.
    pub functions: Vec<Watched>,
    /// The backup alias the promotion made (`backup-YYYYMMDD-HHMMSS`); `None` for a rollback's.
    pub backup_alias: Option<String>,
    /// Who asked for the deployment (the rollback's `requested_by`, when one is started).
    pub actor: String,
    /// When the versions went live (Unix seconds): the checks are counted from here.
    pub deployed_at: i64,
    /// The policy at the start of the watch.
    pub policy: WatchPolicy,
    /// The only `/health` status that counts as healthy.
    pub healthy_status: u16,
    /// Checks made so far.
    pub checks_done: usize,
    /// Until when the previous check read the metrics (the deploy, before the first check).
    pub judged_until: i64,
    /// Seconds to wait before the next check (the Wait state's `SecondsPath`).
    pub wait_seconds: u64,
    /// `watching`, `passed` (all four checks), `failed` or `superseded`.
    pub verdict: WatchVerdict,
    /// What the last check found, in words (failed or superseded), for the history.
    #[serde(default)]
    pub reason: Option<String>,
    /// When a check failed and the policy rolls back: the input of `bbws-rollback-<env>`.
    #[serde(default)]
    pub rollback: Option<Value>,
    /// The name of that rollback's execution (the state machine's Choice reads it: null, none).
    #[serde(default)]
    pub rollback_name: Option<String>,
    /// The last check's result.
    #[serde(default)]
    pub last_check: Option<CheckResult>,
}

/// Where a watch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchVerdict {
    /// More checks to come.
    Watching,
    /// All four checks passed.
    Passed,
    /// A check failed: people were told (and, if configured, the rollback started).
    Failed,
    /// A newer deployment of the same service serves now: the watch ends without judging.
    Superseded,
}

/// The seconds from `now` to the check `index` (0-based) of a deploy at `deployed_at`; 0 when it
/// is due already.
pub fn seconds_until_check(policy: &WatchPolicy, deployed_at: i64, index: usize, now: i64) -> u64 {
    let Some(&after) = policy.check_after_seconds.get(index) else {
        return 0;
    };
    let due = deployed_at.saturating_add(i64::try_from(after).unwrap_or(i64::MAX));
    u64::try_from(due.saturating_sub(now)).unwrap_or(0)
}

/// The most characters of an execution name.
pub const MAX_EXECUTION_NAME: usize = 80;

/// The length of a watch name's tail after the service: `--yyyymmddThhmmss-<8 hex>`.
const NAME_TAIL: usize = 2 + 15 + 1 + 8;

/// The service as it appears in its watches' names: characters an execution name may not have
/// replaced with `_`, cut to leave room for the tail.
fn name_prefix(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_EXECUTION_NAME - NAME_TAIL)
        .collect()
}

/// The watch's execution name: `<service>--<yyyymmddThhmmss>-<8 hex of the record id>`, at most 80
/// characters, the time being the start of the execution that deployed (of the same service and
/// environment, the later one always deploys later: the lock refuses a second one while the first
/// runs). The same deployment always gets the same name (StartExecution is idempotent by name), and
/// a service's watches share the prefix `<service>--`.
pub fn watch_name(service: &str, deployment_id: &str, started_at: DateTime<Utc>) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(deployment_id.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}--{}-{hex}",
        name_prefix(service),
        started_at.format("%Y%m%dT%H%M%S")
    )
}

/// Whether the execution named `name` watches `service` (the names [`watch_name`] gives).
pub fn watches_service(name: &str, service: &str) -> bool {
    name_tail(name, service).is_some()
}

/// `--yyyymmddThhmmss-<hex>` of a watch name of `service`.
fn name_tail<'a>(name: &'a str, service: &str) -> Option<&'a str> {
    name.strip_prefix(name_prefix(service).as_str())
        .filter(|tail| tail.len() == NAME_TAIL && tail.starts_with("--") && tail.is_ascii())
}

/// Whether the watch named `own` ends the running watch `other`: both watch `service`, and
/// `other` watches a deployment that went live no later than `own`'s. A watch of a newer
/// deployment is left alone (its own checks find that the alias moved).
pub fn supersedes(own: &str, other: &str, service: &str) -> bool {
    match (name_tail(own, service), name_tail(other, service)) {
        (Some(mine), Some(theirs)) => own != other && theirs[2..17] <= mine[2..17],
        _ => false,
    }
}

/// The name of the rollback a failed check of the watch `watch_execution_name` starts: the same for
/// every retry of that step (StartExecution is idempotent by name), at most 80 characters.
pub fn rollback_execution_name(watch_execution_name: &str) -> String {
    let head: String = watch_execution_name
        .chars()
        .take(MAX_EXECUTION_NAME - "-rollback".len())
        .collect();
    format!("{head}-rollback")
}

/// The alarms Terraform creates for a function (infra/modules/pipeline/alarms.tf): `bbws-<f>-errors`
/// and `bbws-<f>-throttles`, a function name that starts with `bbws-` not prefixed twice.
pub fn function_alarm_names(function: &str) -> [String; 2] {
    let base = function.strip_prefix("bbws-").unwrap_or(function);
    [
        format!("bbws-{base}-errors"),
        format!("bbws-{base}-throttles"),
    ]
}

/// What one function showed between two checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The region.
    pub region: String,
    /// The function.
    pub function: String,
    /// The watched version.
    pub version: String,
    /// The version `latest-<env>` points at now; `None` when the alias is gone.
    pub serving: Option<String>,
    /// `/health` of `latest-<env>`.
    pub health: u16,
    /// Errors of the watched version since the previous check (`None`: no datapoints).
    pub errors: Option<f64>,
    /// Throttles of `latest-<env>` since the previous check.
    pub throttles: Option<f64>,
}

/// One check's result, as it is kept on the deployment record (`checks`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `1-hour check` …
    pub name: String,
    /// When it ran (RFC 3339).
    pub at: String,
    /// `passed`, `failed` or `superseded`.
    pub verdict: String,
    /// The period the sums cover, in seconds.
    pub window_seconds: u64,
    /// Per function and region: health, errors, throttles.
    pub figures: Vec<Value>,
    /// Alarms of the watched functions in ALARM.
    pub alarms: Vec<String>,
    /// Other `bbws-` alarms of the environment in ALARM (told, not judged: they are not this
    /// deployment's).
    pub other_alarms: Vec<String>,
    /// What failed, in words; empty when passed.
    pub findings: Vec<String>,
}

/// Judges one check. `observed` covers every watched function; `alarms_in_alarm` every `bbws-`
/// alarm of the environment in ALARM (all regions). A check whose alias no longer serves the
/// watched version is `superseded`: it judges nothing.
pub fn judge(
    state: &WatchState,
    name: &str,
    observed: &[Observed],
    alarms_in_alarm: &[String],
    now: DateTime<Utc>,
) -> CheckResult {
    let window_seconds = u64::try_from(now.timestamp() - state.judged_until)
        .unwrap_or(0)
        .max(1);
    let moved: Vec<String> = observed
        .iter()
        .filter(|o| o.serving.as_deref() != Some(o.version.as_str()))
        .map(|o| {
            format!(
                "{} {} in {} now serves {} (watched: {})",
                o.function,
                state.alias,
                o.region,
                o.serving.as_deref().unwrap_or("nothing"),
                o.version
            )
        })
        .collect();
    let own: Vec<String> = state
        .functions
        .iter()
        .flat_map(|f| function_alarm_names(&f.function))
        .collect();
    let (alarms, other_alarms): (Vec<String>, Vec<String>) = alarms_in_alarm
        .iter()
        .cloned()
        .partition(|a| own.contains(a));
    let mut alarms = alarms;
    alarms.dedup();
    let figures = observed
        .iter()
        .map(|o| {
            json!({"function": o.function, "region": o.region, "version": o.version,
                   "serving": o.serving, "health": o.health,
                   "errors": o.errors.unwrap_or(0.0), "throttles": o.throttles.unwrap_or(0.0)})
        })
        .collect();
    if !moved.is_empty() {
        return CheckResult {
            name: name.to_owned(),
            at: now.to_rfc3339(),
            verdict: "superseded".into(),
            window_seconds,
            figures,
            alarms,
            other_alarms,
            findings: moved,
        };
    }
    let mut findings = Vec::new();
    for o in observed {
        let at = format!("{} version {} in {}", o.function, o.version, o.region);
        if o.health != state.healthy_status {
            findings.push(format!(
                "{at}: /health of {} returned {} (expected {})",
                state.alias, o.health, state.healthy_status
            ));
        }
        for (metric, value, limit) in [
            (Metric::Errors, o.errors, state.policy.errors),
            (Metric::Throttles, o.throttles, state.policy.throttles),
        ] {
            let c = check_metric(metric, window_seconds, value, limit);
            if !c.passed {
                findings.push(format!("{at}: {}", c.sentence));
            }
        }
    }
    for a in &alarms {
        findings.push(format!("alarm {a} is in ALARM"));
    }
    CheckResult {
        name: name.to_owned(),
        at: now.to_rfc3339(),
        verdict: if findings.is_empty() {
            "passed"
        } else {
            "failed"
        }
        .into(),
        window_seconds,
        figures,
        alarms,
        other_alarms,
        findings,
    }
}

/// The state after check `result` (the `checks_done`-th) at `now`: the next wait, or the end. A
/// failed check that rolls back names the rollback after the watch `execution_name`.
pub fn advance(
    state: &WatchState,
    result: &CheckResult,
    now: DateTime<Utc>,
    execution_name: &str,
) -> WatchState {
    let mut next = state.clone();
    next.checks_done = state.checks_done + 1;
    next.judged_until = now.timestamp();
    next.reason = None;
    next.rollback = None;
    next.rollback_name = None;
    next.last_check = Some(result.clone());
    next.wait_seconds = 0;
    match result.verdict.as_str() {
        "superseded" => {
            next.verdict = WatchVerdict::Superseded;
            next.reason = Some(format!(
                "{} of {}: superseded, nothing judged: {}",
                result.name,
                state.deployment_id,
                result.findings.join("; ")
            ));
        }
        "failed" => {
            next.verdict = WatchVerdict::Failed;
            let reason = format!(
                "{} of {} failed: {}",
                result.name,
                state.deployment_id,
                result.findings.join("; ")
            );
            if state.policy.rolls_back(state.environment, state.action) {
                next.rollback = Some(rollback_input(state, &reason));
                next.rollback_name = Some(rollback_execution_name(execution_name));
            }
            next.reason = Some(reason);
        }
        _ if next.checks_done >= CHECK_NAMES.len() => next.verdict = WatchVerdict::Passed,
        _ => {
            next.verdict = WatchVerdict::Watching;
            next.wait_seconds = seconds_until_check(
                &state.policy,
                state.deployed_at,
                next.checks_done,
                now.timestamp(),
            );
        }
    }
    next
}

/// The longest reason a rollback request accepts (crate::fields::MAX_REASON_CHARS).
const ROLLBACK_REASON_CHARS: usize = crate::fields::MAX_REASON_CHARS;

/// The input of `bbws-rollback-<env>` that puts the watched service back on the promotion's backup
/// (the newest backup that differs from what serves, for a rollback's watch), asked for on behalf
/// of the deployment's requester.
pub fn rollback_input(state: &WatchState, reason: &str) -> Value {
    let reason = crate::errors::shorten(format!("24-hour watch: {reason}"), ROLLBACK_REASON_CHARS);
    let mut input = json!({
        "service": state.service,
        "environment": state.environment.as_str(),
        "reason": reason,
        "requested_by": state.actor,
    });
    if let Some(backup) = &state.backup_alias {
        input["target_version"] = json!(backup);
    }
    if state.environment == Env::Prod {
        input["incident"] = json!("INC-<number>");
    }
    input
}

/// The AWS CLI command that rolls the watched deployment back, for the failed check's notification.
pub fn rollback_command(state: &WatchState, rollback_state_machine_arn: &str) -> String {
    let reason = format!("{} failed after the deploy", state.deployment_id);
    let input = rollback_input(state, &reason);
    format!(
        "aws stepfunctions start-execution --region {} --state-machine-arn {rollback_state_machine_arn} \
         --input '{}'",
        state.environment.primary_region(),
        input.to_string().replace('\'', "'\\''")
    )
}

/// The notification of a failed check: subject and text with the figures and the command.
pub fn failure_notice(
    state: &WatchState,
    result: &CheckResult,
    rollback_state_machine_arn: &str,
    rollback_started: Option<&str>,
) -> (String, String) {
    let subject = format!(
        "{} failed: {} in {}",
        result.name,
        state.service,
        state.environment.label()
    );
    let mut text = format!(
        "Service: {}\nEnvironment: {}\nDeployment: {}\nCheck: {} at {} (covering the last {} s)\n\nFindings:\n",
        state.service,
        state.environment.label(),
        state.deployment_id,
        result.name,
        result.at,
        result.window_seconds,
    );
    for f in &result.findings {
        text.push_str(&format!("- {f}\n"));
    }
    text.push_str("\nFigures:\n");
    for f in &result.figures {
        text.push_str(&format!(
            "- {} {} in {}: health {}, errors {}, throttles {}\n",
            f["function"].as_str().unwrap_or("?"),
            f["version"].as_str().unwrap_or("?"),
            f["region"].as_str().unwrap_or("?"),
            f["health"],
            format_figure(f["errors"].as_f64().unwrap_or(0.0)),
            format_figure(f["throttles"].as_f64().unwrap_or(0.0)),
        ));
    }
    if !result.other_alarms.is_empty() {
        text.push_str(&format!(
            "\nOther alarms in ALARM (not judged here): {}\n",
            result.other_alarms.join(", ")
        ));
    }
    match rollback_started {
        Some(execution) => text.push_str(&format!(
            "\nThe rollback started by itself ({} rolls back on a failed check): {execution}\n",
            state.environment.label()
        )),
        None => text.push_str(&format!(
            "\nNothing was rolled back. To roll back to {}:\n{}\n",
            state
                .backup_alias
                .as_deref()
                .unwrap_or("the newest backup that differs from what serves"),
            rollback_command(state, rollback_state_machine_arn)
        )),
    }
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn state(env: Env) -> WatchState {
        WatchState {
            deployment_id: "sites-sit-1:succeeded".into(),
            service: "site-management".into(),
            environment: env,
            action: Action::Promote,
            alias: format!("latest-{env}"),
            functions: vec![
                Watched {
                    region: "af-south-1".into(),
                    function: format!("{env}-bbws-sites-service"),
                    version: "4".into(),
                },
                Watched {
                    region: "eu-west-1".into(),
                    function: format!("{env}-bbws-sites-service"),
                    version: "3".into(),
                },
            ],
            backup_alias: Some("backup-20261203-064000".into()),
            actor: "jane@bbws.io".into(),
            deployed_at: 1_000_000,
            policy: WatchPolicy::runbook(),
            healthy_status: 200,
            checks_done: 0,
            judged_until: 1_000_000,
            wait_seconds: 3_600,
            verdict: WatchVerdict::Watching,
            reason: None,
            rollback: None,
            rollback_name: None,
            last_check: None,
        }
    }

    fn observed(s: &WatchState, errors: f64) -> Vec<Observed> {
        s.functions
            .iter()
            .map(|f| Observed {
                region: f.region.clone(),
                function: f.function.clone(),
                version: f.version.clone(),
                serving: Some(f.version.clone()),
                health: 200,
                errors: Some(errors),
                throttles: None,
            })
            .collect()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().expect("valid time")
    }

    #[test]
    fn the_runbook_policy_is_valid_and_checks_at_1_4_12_24_hours() {
        let p = WatchPolicy::runbook();
        assert_eq!(p.validate("watch"), []);
        assert_eq!(p.check_after_seconds, [3_600, 14_400, 43_200, 86_400]);
        assert!(p.rolls_back(Env::Sit, Action::Promote));
        assert!(!p.rolls_back(Env::Prod, Action::Promote));
        assert!(!p.rolls_back(Env::Sit, Action::Rollback));
    }

    #[test]
    fn checks_out_of_order_or_too_late_are_named() {
        let mut p = WatchPolicy::runbook();
        p.check_after_seconds = [60, 60, 0, MAX_CHECK_AFTER_SECONDS + 1];
        p.automatic_rollback = vec![Env::Sit, Env::Sit, Env::Prod];
        p.errors = Limit::FewerThan(0);
        let fields: Vec<String> = p.validate("watch").into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "watch.check_after_seconds[1]",
                "watch.check_after_seconds[2]",
                "watch.check_after_seconds[3]",
                "watch.errors",
                "watch.automatic_rollback",
                "watch.automatic_rollback"
            ]
        );
    }

    #[test]
    fn the_waits_count_from_the_deploy_not_from_the_previous_check() {
        let p = WatchPolicy::runbook();
        assert_eq!(seconds_until_check(&p, 1_000, 0, 1_000), 3_600);
        // The first check ran 10 minutes late: the 4-hour check still comes at +4 h.
        assert_eq!(
            seconds_until_check(&p, 1_000, 1, 1_000 + 4_200),
            14_400 - 4_200
        );
        assert_eq!(seconds_until_check(&p, 1_000, 1, 1_000 + 20_000), 0);
        assert_eq!(seconds_until_check(&p, 1_000, 9, 1_000), 0);
    }

    #[test]
    fn watch_names_are_stable_short_and_keep_the_service() {
        let t = at(1_796_000_000);
        let a = watch_name("site-management", "site-management-prod-1:succeeded", t);
        assert_eq!(
            a,
            watch_name("site-management", "site-management-prod-1:succeeded", t)
        );
        assert_ne!(
            a,
            watch_name("site-management", "site-management-prod-2:succeeded", t)
        );
        assert_eq!(a, "site-management--20261130T005320-edf6713c");
        assert!(watches_service(&a, "site-management"));
        assert!(!watches_service(&a, "site"));
        assert!(!watches_service(&a, "site-management-x"));
        let long = "s".repeat(200);
        let n = watch_name(&long, "d", t);
        assert_eq!(n.len(), MAX_EXECUTION_NAME);
        assert!(watches_service(&n, &long));
        let odd = watch_name("a.b c", "d", t);
        assert!(odd.starts_with("a_b_c--"), "{odd}");
    }

    #[test]
    fn a_watch_ends_older_watches_of_its_service_only() {
        let old = watch_name("site-management", "a", at(1_000));
        let new = watch_name("site-management", "b", at(2_000));
        let other = watch_name("tenant-instance-management", "c", at(500));
        assert!(supersedes(&new, &old, "site-management"));
        assert!(!supersedes(&old, &new, "site-management"));
        assert!(!supersedes(&new, &new, "site-management"));
        assert!(!supersedes(&new, &other, "site-management"));
        assert!(!supersedes(
            &new,
            "site-management--by-hand",
            "site-management"
        ));
        assert!(!supersedes("started-by-hand", &old, "site-management"));
    }

    #[test]
    fn the_rollback_of_a_watch_has_one_name_of_at_most_80_characters() {
        let long = watch_name(&"s".repeat(200), "d", at(0));
        let r = rollback_execution_name(&long);
        assert_eq!(r.len(), MAX_EXECUTION_NAME);
        assert!(r.ends_with("-rollback"));
        assert_eq!(rollback_execution_name("w"), "w-rollback");
    }

    #[test]
    fn alarm_names_follow_terraform() {
        assert_eq!(
            function_alarm_names("sit-bbws-sites-service"),
            [
                "bbws-sit-bbws-sites-service-errors",
                "bbws-sit-bbws-sites-service-throttles"
            ]
        );
        assert_eq!(
            function_alarm_names("bbws-tenant-x"),
            ["bbws-tenant-x-errors", "bbws-tenant-x-throttles"]
        );
    }

    #[test]
    fn a_quiet_check_passes_and_waits_for_the_next_one() {
        let s = state(Env::Sit);
        let now = at(s.deployed_at + 3_610);
        let r = judge(&s, CHECK_NAMES[0], &observed(&s, 0.0), &[], now);
        assert_eq!(r.verdict, "passed", "{r:?}");
        assert_eq!(r.window_seconds, 3_610);
        assert_eq!(r.figures.len(), 2);
        let next = advance(&s, &r, now, "w");
        assert_eq!(next.verdict, WatchVerdict::Watching);
        assert_eq!(next.checks_done, 1);
        assert_eq!(next.judged_until, now.timestamp());
        assert_eq!(next.wait_seconds, 14_400 - 3_610);
    }

    #[test]
    fn one_error_fails_the_check_with_its_figure() {
        let s = state(Env::Sit);
        let r = judge(
            &s,
            CHECK_NAMES[1],
            &observed(&s, 1.0),
            &[],
            at(s.deployed_at + 100),
        );
        assert_eq!(r.verdict, "failed");
        assert_eq!(r.findings.len(), 2, "{:?}", r.findings);
        assert!(
            r.findings[0]
                .starts_with("sit-bbws-sites-service version 4 in af-south-1: errors in the last ")
                && r.findings[0].ends_with(": 1 (limit: none allowed)"),
            "{:?}",
            r.findings
        );
        let next = advance(&s, &r, at(s.deployed_at + 100), "w");
        assert_eq!(next.verdict, WatchVerdict::Failed);
        assert_eq!(next.rollback_name.as_deref(), Some("w-rollback"));
        let rollback = next.rollback.expect("SIT rolls back by itself");
        assert_eq!(rollback["target_version"], "backup-20261203-064000");
        assert_eq!(rollback["requested_by"], "jane@bbws.io");
        assert_eq!(rollback["environment"], "sit");
        assert!(rollback["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("24-hour watch: 4-hour check of sites-sit-1:succeeded failed"));
    }

    #[test]
    fn prod_only_notifies_with_the_command() {
        let s = state(Env::Prod);
        let r = judge(
            &s,
            CHECK_NAMES[0],
            &observed(&s, 3.0),
            &[],
            at(s.deployed_at + 60),
        );
        let next = advance(&s, &r, at(s.deployed_at + 60), "w");
        assert_eq!(next.verdict, WatchVerdict::Failed);
        assert_eq!(next.rollback, None);
        let arn = "arn:aws:states:af-south-1:093646564004:stateMachine:bbws-rollback-prod";
        let (subject, text) = failure_notice(&s, &r, arn, None);
        assert_eq!(subject, "1-hour check failed: site-management in PROD");
        assert!(text.contains(&format!("aws stepfunctions start-execution --region af-south-1 --state-machine-arn {arn} --input '")), "{text}");
        assert!(
            text.contains("\"target_version\":\"backup-20261203-064000\""),
            "{text}"
        );
        assert!(text.contains("\"incident\":\"INC-<number>\""), "{text}");
        assert!(text.contains("health 200, errors 3, throttles 0"), "{text}");
        assert!(text.contains("Nothing was rolled back"), "{text}");
    }

    #[test]
    fn only_the_watched_functions_alarms_are_judged() {
        let s = state(Env::Sit);
        let alarms = vec![
            "bbws-sit-bbws-sites-service-errors".to_owned(),
            "bbws-promote-sit-executions-failed".to_owned(),
        ];
        let r = judge(
            &s,
            CHECK_NAMES[2],
            &observed(&s, 0.0),
            &alarms,
            at(s.deployed_at + 10),
        );
        assert_eq!(r.verdict, "failed");
        assert_eq!(r.alarms, ["bbws-sit-bbws-sites-service-errors"]);
        assert_eq!(r.other_alarms, ["bbws-promote-sit-executions-failed"]);
        assert_eq!(
            r.findings,
            ["alarm bbws-sit-bbws-sites-service-errors is in ALARM"]
        );
        let quiet = judge(
            &s,
            CHECK_NAMES[2],
            &observed(&s, 0.0),
            &alarms[1..],
            at(s.deployed_at + 10),
        );
        assert_eq!(quiet.verdict, "passed");
    }

    #[test]
    fn an_unhealthy_alias_fails_the_check() {
        let s = state(Env::Sit);
        let mut o = observed(&s, 0.0);
        o[1].health = 502;
        let r = judge(&s, CHECK_NAMES[0], &o, &[], at(s.deployed_at + 10));
        assert_eq!(r.findings, ["sit-bbws-sites-service version 3 in eu-west-1: /health of latest-sit returned 502 (expected 200)"]);
    }

    #[test]
    fn a_version_that_no_longer_serves_is_not_judged() {
        let s = state(Env::Sit);
        let mut o = observed(&s, 50.0);
        o[0].serving = Some("5".into());
        let r = judge(&s, CHECK_NAMES[3], &o, &[], at(s.deployed_at + 10));
        assert_eq!(r.verdict, "superseded");
        assert_eq!(
            r.findings,
            ["sit-bbws-sites-service latest-sit in af-south-1 now serves 5 (watched: 4)"]
        );
        let next = advance(&s, &r, at(s.deployed_at + 10), "w");
        assert_eq!(next.verdict, WatchVerdict::Superseded);
        assert_eq!(next.rollback, None);
    }

    #[test]
    fn the_fourth_passed_check_ends_the_watch() {
        let mut s = state(Env::Prod);
        s.checks_done = 3;
        let now = at(s.deployed_at + 86_400);
        let r = judge(&s, CHECK_NAMES[3], &observed(&s, 0.0), &[], now);
        let next = advance(&s, &r, now, "w");
        assert_eq!(next.verdict, WatchVerdict::Passed);
        assert_eq!(next.wait_seconds, 0);
    }

    #[test]
    fn a_rollbacks_watch_suggests_the_newest_backup_and_never_rolls_back_itself() {
        let mut s = state(Env::Sit);
        s.action = Action::Rollback;
        s.backup_alias = None;
        let input = rollback_input(&s, "x");
        assert!(input.get("target_version").is_none());
        let r = judge(
            &s,
            CHECK_NAMES[0],
            &observed(&s, 9.0),
            &[],
            at(s.deployed_at + 10),
        );
        assert_eq!(advance(&s, &r, at(s.deployed_at + 10), "w").rollback, None);
    }

    #[test]
    fn a_long_reason_is_shortened_to_what_a_rollback_accepts() {
        let s = state(Env::Sit);
        let input = rollback_input(&s, &"e".repeat(2_000));
        assert_eq!(
            input["reason"].as_str().map(|r| r.chars().count()),
            Some(ROLLBACK_REASON_CHARS)
        );
    }
}
