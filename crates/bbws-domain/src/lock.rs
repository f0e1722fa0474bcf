//! The promotion lock: when a lock another execution holds may be taken over.
//!
//! A lock is held by an execution (its ARN). While that execution is `RUNNING` the lock is held,
//! whatever its expiry says; once the execution has ended in any other way (stopped by hand,
//! failed, timed out, succeeded without releasing it, or gone), the lock is stale and the next
//! lock attempt takes it over, by a conditional write on the stale holder.

use serde::{Deserialize, Serialize};

/// The one execution status under which a lock is still held.
pub const RUNNING: &str = "RUNNING";

/// What Step Functions says of the execution holding a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderStatus {
    /// DescribeExecution answered with this status (`RUNNING`, `SUCCEEDED`, `FAILED`,
    /// `TIMED_OUT`, `ABORTED`, `PENDING_REDRIVE`).
    Status(String),
    /// The execution does not exist (ExecutionDoesNotExist).
    Missing,
}

/// Whether a held lock may be taken over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum LockVerdict {
    /// The holder is running: the lock is refused.
    Held,
    /// The holder is no longer running: the lock may be taken over.
    Stale {
        /// The holder's status (`ABORTED`, `FAILED`, ... or `MISSING`).
        holder_status: String,
    },
}

/// The verdict on a lock held by another execution whose status is `status`.
pub fn lock_verdict(status: &HolderStatus) -> LockVerdict {
    match status {
        HolderStatus::Status(s) if s == RUNNING => LockVerdict::Held,
        HolderStatus::Status(s) => LockVerdict::Stale {
            holder_status: s.clone(),
        },
        HolderStatus::Missing => LockVerdict::Stale {
            holder_status: "MISSING".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_holder_keeps_its_lock() {
        assert_eq!(
            lock_verdict(&HolderStatus::Status("RUNNING".into())),
            LockVerdict::Held
        );
    }

    #[test]
    fn a_holder_that_ended_in_any_way_leaves_a_stale_lock() {
        for s in [
            "ABORTED",
            "FAILED",
            "TIMED_OUT",
            "SUCCEEDED",
            "PENDING_REDRIVE",
        ] {
            assert_eq!(
                lock_verdict(&HolderStatus::Status(s.into())),
                LockVerdict::Stale {
                    holder_status: s.into()
                },
                "{s}"
            );
        }
    }

    #[test]
    fn a_holder_that_does_not_exist_leaves_a_stale_lock() {
        assert_eq!(
            lock_verdict(&HolderStatus::Missing),
            LockVerdict::Stale {
                holder_status: "MISSING".into()
            }
        );
    }

    #[test]
    fn only_the_exact_running_status_holds() {
        // A status Step Functions does not send is not taken for RUNNING.
        assert!(matches!(
            lock_verdict(&HolderStatus::Status("running".into())),
            LockVerdict::Stale { .. }
        ));
    }
}
