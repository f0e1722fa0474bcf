//! Whether a source function can be promoted (RB-003 §2.1, §3.1.1, §4.1.1): Lambda reports its
//! `State` as `Active` and its `LastUpdateStatus` as `Successful`; anything else fails the
//! preflight with words saying what to do.

use crate::env::Env;
use serde::Serialize;

/// The readiness of one source function version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Whether it may be promoted.
    pub passed: bool,
    /// E.g. `version 7: State Active, LastUpdateStatus Successful`.
    pub sentence: String,
}

/// Judges the `State` and `LastUpdateStatus` Lambda reports for `version` of a function in
/// `source`.
pub fn check_readiness(
    version: &str,
    state: &str,
    last_update_status: &str,
    source: Env,
) -> Readiness {
    let figures =
        format!("version {version}: State {state}, LastUpdateStatus {last_update_status}");
    let env = source.label();
    let advice = match (state, last_update_status) {
        ("Active", "Successful") => None,
        ("Inactive", _) => Some(format!(
            "Lambda deactivated the idle function; invoke or update it in {env} and wait until \
             it is Active, then start the promotion again"
        )),
        ("Pending", _) => Some(
            "the function is still being created; wait until it is Active, then start the \
             promotion again"
                .to_owned(),
        ),
        ("Failed", _) => Some(format!(
            "Lambda could not create or restore the function; redeploy it in {env} first"
        )),
        (_, "InProgress") => Some(
            "an update is still in progress; wait until it is Successful, then start the \
             promotion again"
                .to_owned(),
        ),
        (_, "Failed") => Some(format!(
            "its last update failed; fix and redeploy it in {env} first"
        )),
        _ => Some("it must be State Active with LastUpdateStatus Successful".to_owned()),
    };
    match advice {
        None => Readiness {
            passed: true,
            sentence: figures,
        },
        Some(advice) => Readiness {
            passed: false,
            sentence: format!("{figures}: {advice}"),
        },
    }
}

/// Judges the answer of the source version to RB-003's health request before it is promoted
/// (§7.1: "DEV Lambda health check returns 200"): `status` is the statusCode it answered (0 when it
/// failed, was throttled or answered something else, `detail` saying which).
pub fn check_source_health(
    target: &str,
    status: u16,
    detail: &str,
    healthy_status: u16,
    source: Env,
) -> Readiness {
    if status == healthy_status {
        return Readiness {
            passed: true,
            sentence: format!("{target} answered GET /health with {status}"),
        };
    }
    // A statusCode speaks for itself; 0 means there was none, and `detail` says why.
    let answered = if status == 0 {
        detail.to_owned()
    } else {
        status.to_string()
    };
    Readiness {
        passed: false,
        sentence: format!(
            "{target} answered GET /health with {answered}, not {healthy_status}: a version that \
             is not healthy in {env} is not promoted; fix and redeploy it in {env} first",
            env = source.label()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_health_check_passes_only_on_the_healthy_status_and_names_the_answer() {
        let ok = check_source_health("fn:7", 200, "200", 200, Env::Dev);
        assert!(ok.passed);
        assert_eq!(ok.sentence, "fn:7 answered GET /health with 200");
        let bad = check_source_health("fn:7", 500, "statusCode 500", 200, Env::Dev);
        assert!(!bad.passed);
        assert_eq!(
            bad.sentence,
            "fn:7 answered GET /health with 500, not 200: a version that is not healthy in DEV is \
             not promoted; fix and redeploy it in DEV first"
        );
        let failed = check_source_health("fn:7", 0, "function error Unhandled", 200, Env::Sit);
        assert!(!failed.passed);
        assert!(failed
            .sentence
            .starts_with("fn:7 answered GET /health with function error Unhandled, not 200"));
        assert!(failed.sentence.contains("healthy in SIT"));
    }

    #[test]
    fn active_and_successful_is_ready() {
        let r = check_readiness("7", "Active", "Successful", Env::Dev);
        assert!(r.passed);
        assert_eq!(
            r.sentence,
            "version 7: State Active, LastUpdateStatus Successful"
        );
    }

    #[test]
    fn an_inactive_function_is_not_ready_and_the_cause_says_what_to_do() {
        let r = check_readiness("7", "Inactive", "Successful", Env::Sit);
        assert!(!r.passed);
        assert_eq!(
            r.sentence,
            "version 7: State Inactive, LastUpdateStatus Successful: Lambda deactivated the idle \
             function; invoke or update it in SIT and wait until it is Active, then start the \
             promotion again"
        );
    }

    #[test]
    fn every_other_state_or_update_status_is_not_ready() {
        for (state, update, words) in [
            ("Pending", "Successful", "still being created"),
            ("Failed", "Successful", "redeploy it in DEV"),
            ("Active", "InProgress", "update is still in progress"),
            ("Active", "Failed", "last update failed"),
            ("Active", "Unknown", "must be State Active"),
            ("Unknown", "Successful", "must be State Active"),
        ] {
            let r = check_readiness("3", state, update, Env::Dev);
            assert!(!r.passed, "{state}/{update}");
            assert!(r.sentence.contains(words), "{}", r.sentence);
            assert!(r.sentence.starts_with(&format!(
                "version 3: State {state}, LastUpdateStatus {update}: "
            )));
        }
    }
}
