//! The step an execution failed at, as the state machines' Catch states name it in
//! `$.failed_stage`, and the error name the execution then ends with.

use crate::errors::ErrorName;

/// A step of a promotion, a release or a manual rollback that can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The preflight checks (`preflight`).
    Preflight,
    /// The approval wait that timed out (`approval-timeout`).
    ApprovalTimeout,
    /// Asking the approvers, or their rejection (`approval`).
    Approval,
    /// The maintenance window's re-check right before the deploy (`window`).
    Window,
    /// The backup alias (`backup`).
    Backup,
    /// The deploy (`deploy`).
    Deploy,
    /// A rollback, the promotion's or a manual one (`rollback`).
    Rollback,
    /// A manual rollback's target resolution (`resolve`).
    Resolve,
    /// A release's phase bookkeeping (`bookkeeping`).
    Bookkeeping,
    /// A tenant execution's plan builds.
    Plan,
    /// A tenant execution's review of the plans (artifacts, RB-003 §4.3.4).
    Review,
    /// A tenant execution's apply builds.
    Apply,
    /// A tenant execution's ECS verification (RB-003 §3.2.4 step 7).
    Verify,
}

impl Stage {
    /// Every stage.
    pub const ALL: [Stage; 13] = [
        Stage::Preflight,
        Stage::ApprovalTimeout,
        Stage::Approval,
        Stage::Window,
        Stage::Backup,
        Stage::Deploy,
        Stage::Rollback,
        Stage::Resolve,
        Stage::Bookkeeping,
        Stage::Plan,
        Stage::Review,
        Stage::Apply,
        Stage::Verify,
    ];

    /// The name the state machines write into `$.failed_stage`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::ApprovalTimeout => "approval-timeout",
            Stage::Approval => "approval",
            Stage::Window => "window",
            Stage::Backup => "backup",
            Stage::Deploy => "deploy",
            Stage::Rollback => "rollback",
            Stage::Resolve => "resolve",
            Stage::Bookkeeping => "bookkeeping",
            Stage::Plan => "plan",
            Stage::Review => "review",
            Stage::Apply => "apply",
            Stage::Verify => "verify",
        }
    }

    /// The stage named `name`; `None` for any other text (no stage recorded, or a new one).
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The name of a promotion that failed at `stage` (before [`ErrorName::ending`] looks at the
    /// caught error): the step's own name where it has one, `Bbws.DeployFailed` for the backup,
    /// the deploy, the rollback and anything unknown.
    pub fn promotion_error(stage: Option<Stage>) -> ErrorName {
        match stage {
            Some(Stage::ApprovalTimeout) => ErrorName::ApprovalTimedOut,
            Some(Stage::Approval) => ErrorName::ApprovalRejected,
            Some(Stage::Window) => ErrorName::OutsideMaintenanceWindow,
            Some(Stage::Preflight) => ErrorName::PreflightFailed,
            _ => ErrorName::DeployFailed,
        }
    }

    /// The name of a manual rollback that failed at `stage`: a timed-out or rejected approval, a
    /// refused target (its resolution), else `Bbws.RollbackFailed`.
    pub fn rollback_error(stage: Option<Stage>) -> ErrorName {
        match stage {
            Some(Stage::ApprovalTimeout) => ErrorName::ApprovalTimedOut,
            Some(Stage::Approval) => ErrorName::ApprovalRejected,
            Some(Stage::Resolve) => ErrorName::RollbackRefused,
            _ => ErrorName::RollbackFailed,
        }
    }

    /// The name of a tenant execution that failed at `stage`: the approval's and window's own
    /// names, the review's, the verification's, and `Bbws.TenantBuildFailed` for the builds.
    pub fn tenant_error(stage: Option<Stage>) -> ErrorName {
        match stage {
            Some(Stage::ApprovalTimeout) => ErrorName::ApprovalTimedOut,
            Some(Stage::Approval) => ErrorName::ApprovalRejected,
            Some(Stage::Window) => ErrorName::OutsideMaintenanceWindow,
            Some(Stage::Review) => ErrorName::PlanArtifactInvalid,
            Some(Stage::Verify) => ErrorName::TenantNotVerified,
            _ => ErrorName::TenantBuildFailed,
        }
    }

    /// Whether a tenant execution that failed at `stage` may have changed a tenant (an apply
    /// build ran): the failure notice then says the tenant's state must be looked at.
    pub fn tenant_applied(stage: Option<Stage>) -> bool {
        matches!(stage, Some(Stage::Apply | Stage::Verify))
    }

    /// Whether a promotion that failed here had not deployed anything yet.
    pub fn before_deploy(stage: Option<Stage>) -> bool {
        matches!(
            stage,
            Some(
                Stage::Preflight
                    | Stage::Approval
                    | Stage::ApprovalTimeout
                    | Stage::Window
                    | Stage::Backup
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_execution_ends_under_its_failed_steps_name() {
        let named: Vec<ErrorName> = [
            "plan", "review", "approval", "window", "apply", "verify", "",
        ]
        .into_iter()
        .map(|s| Stage::tenant_error(Stage::parse(s)))
        .collect();
        assert_eq!(
            named,
            [
                ErrorName::TenantBuildFailed,
                ErrorName::PlanArtifactInvalid,
                ErrorName::ApprovalRejected,
                ErrorName::OutsideMaintenanceWindow,
                ErrorName::TenantBuildFailed,
                ErrorName::TenantNotVerified,
                ErrorName::TenantBuildFailed,
            ]
        );
        assert!(Stage::tenant_applied(Stage::parse("verify")));
        assert!(!Stage::tenant_applied(Stage::parse("review")));
    }

    #[test]
    fn stage_names_round_trip_and_unknown_ones_are_none() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
        }
        assert_eq!(Stage::parse(""), None);
        assert_eq!(Stage::parse("Preflight"), None);
    }

    #[test]
    fn a_promotion_ends_under_its_failed_steps_name_or_deploy_failed() {
        let named: Vec<(Option<Stage>, ErrorName)> = [
            "preflight",
            "approval-timeout",
            "approval",
            "window",
            "backup",
            "deploy",
            "rollback",
            "",
        ]
        .into_iter()
        .map(|s| (Stage::parse(s), Stage::promotion_error(Stage::parse(s))))
        .collect();
        assert_eq!(
            named.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
            [
                ErrorName::PreflightFailed,
                ErrorName::ApprovalTimedOut,
                ErrorName::ApprovalRejected,
                ErrorName::OutsideMaintenanceWindow,
                ErrorName::DeployFailed,
                ErrorName::DeployFailed,
                ErrorName::DeployFailed,
                ErrorName::DeployFailed,
            ]
        );
        let before: Vec<bool> = named
            .iter()
            .map(|(s, _)| Stage::before_deploy(*s))
            .collect();
        assert_eq!(before, [true, true, true, true, true, false, false, false]);
    }

    #[test]
    fn a_manual_rollback_ends_refused_at_its_resolution_else_failed() {
        let names: Vec<ErrorName> = ["approval-timeout", "approval", "resolve", "rollback", "x"]
            .into_iter()
            .map(|s| Stage::rollback_error(Stage::parse(s)))
            .collect();
        assert_eq!(
            names,
            [
                ErrorName::ApprovalTimedOut,
                ErrorName::ApprovalRejected,
                ErrorName::RollbackRefused,
                ErrorName::RollbackFailed,
                ErrorName::RollbackFailed,
            ]
        );
    }
}
