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

#[cfg(test)]
mod tests {
    use super::*;

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
