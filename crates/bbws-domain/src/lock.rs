//! The promotion lock: when a lock another execution holds may be taken over.
//!
//! A lock is held by an execution (its ARN). While that execution is `RUNNING` the lock is held,
//! whatever its expiry says; once the execution has ended in any other way (stopped by hand,
//! failed, timed out, succeeded without releasing it, or gone), the lock is stale and the next
//! lock attempt takes it over, by a conditional write on the stale holder.
//!
//! A lock also expires by itself, after the longest time its execution can take plus a margin
//! ([`promotion_hold_seconds`], [`rollback_hold_seconds`], [`release_hold_seconds`]).

use serde::{Deserialize, Serialize};

use crate::plan::PromotionPlan;
use crate::release::ReleasePlan;
use crate::rollback::RollbackPlan;

/// The margin past the longest wait an execution can make, before its lock expires by itself.
pub const LOCK_MARGIN_SECONDS: u64 = 2 * 3600;

/// How long a promotion holds its lock: its approval wait, its monitoring, and the margin.
pub fn promotion_hold_seconds(plan: &PromotionPlan) -> u64 {
    plan.limits.approval_timeout_seconds + plan.limits.monitor_seconds + LOCK_MARGIN_SECONDS
}

/// How long a manual rollback holds the service's lock: its approval wait and the margin.
pub fn rollback_hold_seconds(plan: &RollbackPlan) -> u64 {
    plan.approval_timeout_seconds + LOCK_MARGIN_SECONDS
}

/// How long a release holds its lock: its approval wait, every phase's health wait, and a margin
/// for the release and for each phase (a child promotion of its own).
pub fn release_hold_seconds(release: &ReleasePlan) -> u64 {
    let waits: u64 = release.phases.iter().map(|p| p.health_wait_seconds).sum();
    let phases = u64::try_from(release.phases.len()).unwrap_or(u64::MAX / LOCK_MARGIN_SECONDS);
    release.approval_timeout_seconds
        + waits
        + LOCK_MARGIN_SECONDS.saturating_mul(phases.saturating_add(1))
}

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
    use crate::{Catalog, Config, PromotionRequest, ReleaseRequest};
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    #[test]
    fn a_lock_lasts_the_longest_wait_of_its_execution_and_two_hours() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 24, 20, 5, 0)
            .single()
            .expect("valid time");
        let config = Config::runbook();
        let request = PromotionRequest::validate(
            &json!({"service": "site-management", "source_env": "sit", "target_env": "prod",
                    "requested_by": "jane@bbws.io", "reason": "r", "change_request": "CHG-1"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        let plan = PromotionPlan::new(&request, &config, "arn:x", at).expect("plan");
        assert_eq!(promotion_hold_seconds(&plan), 86_400 + 300 + 7_200);
        let release = ReleaseRequest::validate(
            &json!({"target_env": "sit", "services": ["tenant-instance-management", "site-management"],
                    "requested_by": "jane@bbws.io", "reason": "r"}),
            &Catalog::runbook(),
        )
        .expect("valid release");
        let release = ReleasePlan::new(
            release,
            &config,
            "arn:aws:states:af-south-1:815856636111:execution:bbws-release-sit:r1",
            at,
        )
        .expect("release plan");
        let waits: u64 = release.phases.iter().map(|p| p.health_wait_seconds).sum();
        assert_eq!(
            release_hold_seconds(&release),
            release.approval_timeout_seconds + waits + 3 * 7_200
        );
    }

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
