//! The whole `Bbws.*` error vocabulary, and the field-level validation error shared by every
//! module.
//!
//! Every error a BBWS Lambda raises, and every error name a promotion, a release or a manual
//! rollback ends with, is one [`ErrorName`]: the state machines' `Retry` and `Catch` clauses match
//! these strings, operators search for them, and the README's tables list them (a test of this
//! crate reads `statemachine/*.asl.json` and `README.md` and checks both against the enum). This
//! module is the only place that spells a `Bbws.` name.

use serde::{Serialize, Serializer};

/// Whether retrying the step that raised an error may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permanence {
    /// A retry may succeed (an AWS call failed in passing); the state machines retry it.
    Transient,
    /// The same step with the same input fails again; no state machine retries it.
    Permanent,
}

/// Every `Bbws.*` error name: what a promotion, a release or a manual rollback can end with, and
/// what one step can fail with.
///
/// These strings are what Step Functions `Catch`/`Retry` clauses match on and what operators
/// search for, so they must never change once released. Only [`ErrorName::AwsUnavailable`] is
/// [transient](ErrorName::permanence); every other name is permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ErrorName {
    /// The request failed validation.
    #[error("Bbws.InvalidInput")]
    InvalidInput,
    /// Another promotion of the same service to the same environment is running.
    #[error("Bbws.PromotionInProgress")]
    PromotionInProgress,
    /// Stability, quality-gate or other pre-flight checks failed.
    #[error("Bbws.PreflightFailed")]
    PreflightFailed,
    /// A PROD promotion was attempted outside a maintenance window without an emergency.
    #[error("Bbws.OutsideMaintenanceWindow")]
    OutsideMaintenanceWindow,
    /// An approver rejected the promotion.
    #[error("Bbws.ApprovalRejected")]
    ApprovalRejected,
    /// The approvals were not complete before the approval timeout.
    #[error("Bbws.ApprovalTimedOut")]
    ApprovalTimedOut,
    /// Updating code or aliases in the target environment failed.
    #[error("Bbws.DeployFailed")]
    DeployFailed,
    /// The post-deployment monitor triggered a rollback.
    #[error("Bbws.RolledBack")]
    RolledBack,
    /// A manual rollback's target cannot be used: it does not resolve in every function, it was
    /// never live (without `force`), or the service already runs it.
    #[error("Bbws.RollbackRefused")]
    RollbackRefused,
    /// A manual rollback could not move the aliases, or the target is unhealthy after the move.
    #[error("Bbws.RollbackFailed")]
    RollbackFailed,
    /// A release stopped at a failed phase (or failed its cross-service verification); the cause
    /// says which services ended on which versions.
    #[error("Bbws.ReleaseFailed")]
    ReleaseFailed,
    /// The execution was stopped (StopExecution) by the workflow whose run was cancelled, or by an
    /// operator with this name: it ends ABORTED; the lock it held is stale and the next attempt
    /// takes it over.
    #[error("Bbws.Cancelled")]
    Cancelled,
    /// An AWS call failed in a way a retry may fix (throttling, a 5xx, a timeout, a connection
    /// error) and kept failing through the state's retries. The only transient name.
    #[error("Bbws.AwsUnavailable")]
    AwsUnavailable,
    /// AWS refused a call for good (access denied, a missing resource, a validation error, a
    /// conflict): retrying cannot help. The cause names the call and AWS's own words (the denied
    /// action and the resource).
    #[error("Bbws.AwsRefused")]
    AwsRefused,
    /// A check of the 24-hour watch found errors, throttles, an unhealthy alias or an alarm of the
    /// watched functions: people were told with the rollback command, and where the
    /// configuration says so the rollback started. A watch's ending only.
    #[error("Bbws.WatchCheckFailed")]
    WatchCheckFailed,
    /// A newer promotion or a rollback of the same service and environment ended this watch
    /// (StopExecution with this error): the version it watched no longer serves.
    #[error("Bbws.Superseded")]
    Superseded,
    /// RB-003 §4.3.4, "DESTROY action is BLOCKED in PROD": a tenant plan in PROD deletes or
    /// replaces a resource; the cause names each tenant and address. Nothing was applied.
    #[error("Bbws.DestroyBlocked")]
    DestroyBlocked,
    /// A tenant build (Terraform plan or apply in CodeBuild) failed, stopped or timed out: the
    /// cause names the build and its phase; an apply that refused a plan file other than the one
    /// approved ends here too.
    #[error("Bbws.TenantBuildFailed")]
    TenantBuildFailed,
    /// A tenant's plan artifacts are not the plan the execution asked for (another tenant,
    /// environment or commit; a plan.json whose SHA-256 is not the one recorded; not a plan).
    #[error("Bbws.PlanArtifactInvalid")]
    PlanArtifactInvalid,
    /// After the apply, a tenant's ECS service was not ACTIVE with running = desired within the
    /// configured time (RB-003 §3.2.4 step 7), or its deployment failed.
    #[error("Bbws.TenantNotVerified")]
    TenantNotVerified,
    /// The execution did its work (a promotion, release or manual rollback succeeded) but its
    /// deployment record could not be written; the cause says what was done and why the record
    /// failed.
    #[error("Bbws.RecordNotWritten")]
    RecordNotWritten,
    /// A step received a payload it cannot read: a defect of the state machine or of the function,
    /// not an operator's error. A step's error only: the execution ends under the step's name.
    #[error("Bbws.InvalidEvent")]
    InvalidEvent,
    /// The deployed configuration of a function (its environment, or the promotion rules it names) cannot be used.
    /// A step's error only: the execution ends under the step's name.
    #[error("Bbws.ConfigInvalid")]
    ConfigInvalid,
}

impl ErrorName {
    /// Every error name: those a promotion can end with, in the order it can reach them, then the
    /// defects a step can fail with.
    pub const ALL: [ErrorName; 23] = [
        ErrorName::InvalidInput,
        ErrorName::PromotionInProgress,
        ErrorName::PreflightFailed,
        ErrorName::OutsideMaintenanceWindow,
        ErrorName::ApprovalRejected,
        ErrorName::ApprovalTimedOut,
        ErrorName::DeployFailed,
        ErrorName::RolledBack,
        ErrorName::RollbackRefused,
        ErrorName::RollbackFailed,
        ErrorName::ReleaseFailed,
        ErrorName::Cancelled,
        ErrorName::AwsUnavailable,
        ErrorName::AwsRefused,
        ErrorName::WatchCheckFailed,
        ErrorName::Superseded,
        ErrorName::DestroyBlocked,
        ErrorName::TenantBuildFailed,
        ErrorName::PlanArtifactInvalid,
        ErrorName::TenantNotVerified,
        ErrorName::RecordNotWritten,
        ErrorName::InvalidEvent,
        ErrorName::ConfigInvalid,
    ];

    /// The stable wire name, e.g. `"Bbws.InvalidInput"` (the same as its `Display`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "Bbws.InvalidInput",
            ErrorName::PromotionInProgress => "Bbws.PromotionInProgress",
            ErrorName::PreflightFailed => "Bbws.PreflightFailed",
            ErrorName::OutsideMaintenanceWindow => "Bbws.OutsideMaintenanceWindow",
            ErrorName::ApprovalRejected => "Bbws.ApprovalRejected",
            ErrorName::ApprovalTimedOut => "Bbws.ApprovalTimedOut",
            ErrorName::DeployFailed => "Bbws.DeployFailed",
            ErrorName::RolledBack => "Bbws.RolledBack",
            ErrorName::RollbackRefused => "Bbws.RollbackRefused",
            ErrorName::RollbackFailed => "Bbws.RollbackFailed",
            ErrorName::ReleaseFailed => "Bbws.ReleaseFailed",
            ErrorName::Cancelled => "Bbws.Cancelled",
            ErrorName::AwsUnavailable => "Bbws.AwsUnavailable",
            ErrorName::AwsRefused => "Bbws.AwsRefused",
            ErrorName::WatchCheckFailed => "Bbws.WatchCheckFailed",
            ErrorName::Superseded => "Bbws.Superseded",
            ErrorName::DestroyBlocked => "Bbws.DestroyBlocked",
            ErrorName::TenantBuildFailed => "Bbws.TenantBuildFailed",
            ErrorName::PlanArtifactInvalid => "Bbws.PlanArtifactInvalid",
            ErrorName::TenantNotVerified => "Bbws.TenantNotVerified",
            ErrorName::RecordNotWritten => "Bbws.RecordNotWritten",
            ErrorName::InvalidEvent => "Bbws.InvalidEvent",
            ErrorName::ConfigInvalid => "Bbws.ConfigInvalid",
        }
    }

    /// Whether a retry may help: transient for [`ErrorName::AwsUnavailable`] only (the state
    /// machines retry it with backoff), permanent for every other name.
    pub const fn permanence(self) -> Permanence {
        match self {
            ErrorName::AwsUnavailable => Permanence::Transient,
            _ => Permanence::Permanent,
        }
    }

    /// Whether this name says that an AWS call failed (rather than what became of the execution).
    pub fn is_aws_failure(self) -> bool {
        matches!(self, ErrorName::AwsUnavailable | ErrorName::AwsRefused)
    }

    /// Whether an execution can end with this name; not a step's defect (an unreadable event, an
    /// unusable configuration), which ends under the name of the step it happened in.
    pub fn ends_executions(self) -> bool {
        !matches!(self, ErrorName::InvalidEvent | ErrorName::ConfigInvalid)
    }

    /// The caught error's name when it is one of the execution-level names that says what became
    /// of the execution; `None` for anything else, the AWS failures and the defects included.
    pub fn caught_outcome(caught: &str) -> Option<ErrorName> {
        ErrorName::from_name(caught).filter(|name| name.ends_executions() && !name.is_aws_failure())
    }

    /// Whether this name tells of a decision or a fact about the request (an approver's, the
    /// clock's, the rollback target's) that an AWS failure in the same step did not make.
    fn tells_of_a_decision(self) -> bool {
        matches!(
            self,
            ErrorName::ApprovalRejected
                | ErrorName::ApprovalTimedOut
                | ErrorName::OutsideMaintenanceWindow
                | ErrorName::RollbackRefused
        )
    }

    /// The name an execution ends with when the step named `stage` (its own error name) caught
    /// `caught`: one of our outcome names stays; an AWS failure ends under the step's name when
    /// that name stays true (the preflight, the deploy, the rollback failed), and under its own
    /// name where the step's name would tell of a decision nobody made (a rejection, a closed
    /// window, a refused rollback target); anything else (a defect, a foreign error) under the
    /// step's name.
    pub fn ending(caught: &str, stage: ErrorName) -> ErrorName {
        match ErrorName::from_name(caught).filter(|name| name.ends_executions()) {
            Some(aws) if aws.is_aws_failure() && stage.tells_of_a_decision() => aws,
            Some(aws) if aws.is_aws_failure() => stage,
            Some(ours) => ours,
            None => stage,
        }
    }

    /// Looks an error name up by its wire name; `None` for anything else.
    pub fn from_name(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl Serialize for ErrorName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One problem with one field of an input document.
///
/// Displays as `"<field>: <rule>"`, e.g.
/// `service: unknown service 'x' (known: ecs-event-handler, site-management)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct FieldError {
    /// The field's name or path (`emergency.incident`, `catalog[0].name`).
    pub field: String,
    /// What the field breaks, as a sentence fragment.
    pub rule: String,
}

/// The longest field name an error carries, in characters (an unknown field's name is the
/// caller's text and may be of any length).
pub const MAX_FIELD_CHARS: usize = 64;
/// The longest rule an error carries, in characters (a rule may quote the caller's value).
pub const MAX_RULE_CHARS: usize = 300;
/// The most problems [`join_field_errors`] lists; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 10;

impl FieldError {
    /// A problem with `field`, described by `rule`. A field longer than [`MAX_FIELD_CHARS`] or a
    /// rule longer than [`MAX_RULE_CHARS`] is shortened in the middle (`…`), so the start (the
    /// field, the quoted value) and the end (what the rule asks for) stay readable.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> FieldError {
        FieldError {
            field: shorten(field.into(), MAX_FIELD_CHARS),
            rule: shorten(rule.into(), MAX_RULE_CHARS),
        }
    }
}

/// `text` unchanged when it has at most `max` characters; else its first and last characters
/// around a `…`, `max` characters in all.
pub fn shorten(text: String, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    let keep = max.saturating_sub(1);
    let head = keep - keep / 2;
    let tail = keep / 2;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(count - tail));
    out
}

/// Joins several field errors into one line, separated by `"; "`: at most
/// [`MAX_LISTED_ERRORS`] of them, then how many more there are.
pub fn join_field_errors(errors: &[FieldError]) -> String {
    let mut line = errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if errors.len() > MAX_LISTED_ERRORS {
        let more = errors.len() - MAX_LISTED_ERRORS;
        let noun = if more == 1 { "problem" } else { "problems" };
        line.push_str(&format!("; and {more} more {noun}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_the_stable_wire_names() {
        let names: Vec<&str> = ErrorName::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "Bbws.InvalidInput",
                "Bbws.PromotionInProgress",
                "Bbws.PreflightFailed",
                "Bbws.OutsideMaintenanceWindow",
                "Bbws.ApprovalRejected",
                "Bbws.ApprovalTimedOut",
                "Bbws.DeployFailed",
                "Bbws.RolledBack",
                "Bbws.RollbackRefused",
                "Bbws.RollbackFailed",
                "Bbws.ReleaseFailed",
                "Bbws.Cancelled",
                "Bbws.AwsUnavailable",
                "Bbws.AwsRefused",
                "Bbws.WatchCheckFailed",
                "Bbws.Superseded",
                "Bbws.DestroyBlocked",
                "Bbws.TenantBuildFailed",
                "Bbws.PlanArtifactInvalid",
                "Bbws.TenantNotVerified",
                "Bbws.RecordNotWritten",
                "Bbws.InvalidEvent",
                "Bbws.ConfigInvalid",
            ]
        );
        let transient: Vec<ErrorName> = ErrorName::ALL
            .into_iter()
            .filter(|n| n.permanence() == Permanence::Transient)
            .collect();
        assert_eq!(transient, [ErrorName::AwsUnavailable]);
    }

    #[test]
    fn a_steps_defect_ends_the_execution_under_the_steps_name() {
        for defect in [ErrorName::InvalidEvent, ErrorName::ConfigInvalid] {
            assert!(!defect.ends_executions());
            assert_eq!(ErrorName::caught_outcome(defect.as_str()), None);
            assert_eq!(
                ErrorName::ending(defect.as_str(), ErrorName::DeployFailed),
                ErrorName::DeployFailed
            );
            assert_eq!(
                ErrorName::ending(defect.as_str(), ErrorName::ApprovalRejected),
                ErrorName::ApprovalRejected
            );
        }
    }

    #[test]
    fn aws_failures_are_not_the_outcome_of_a_later_stage() {
        assert_eq!(
            ErrorName::caught_outcome("Bbws.DeployFailed"),
            Some(ErrorName::DeployFailed)
        );
        assert_eq!(ErrorName::caught_outcome("Bbws.AwsRefused"), None);
        assert_eq!(ErrorName::caught_outcome("Bbws.AwsUnavailable"), None);
        assert_eq!(ErrorName::caught_outcome("States.TaskFailed"), None);
        assert_eq!(
            ErrorName::from_name("Bbws.AwsRefused"),
            Some(ErrorName::AwsRefused)
        );
        assert_eq!(
            ErrorName::ending("Bbws.AwsRefused", ErrorName::PreflightFailed),
            ErrorName::PreflightFailed
        );
        assert_eq!(
            ErrorName::ending("Bbws.AwsUnavailable", ErrorName::DeployFailed),
            ErrorName::DeployFailed
        );
        for decision in [
            ErrorName::ApprovalRejected,
            ErrorName::OutsideMaintenanceWindow,
            ErrorName::RollbackRefused,
        ] {
            assert_eq!(
                ErrorName::ending("Bbws.AwsRefused", decision),
                ErrorName::AwsRefused,
                "nobody decided {decision}"
            );
        }
        assert_eq!(
            ErrorName::ending("Bbws.ApprovalRejected", ErrorName::ApprovalRejected),
            ErrorName::ApprovalRejected
        );
        assert_eq!(
            ErrorName::ending("Bbws.OutsideMaintenanceWindow", ErrorName::PreflightFailed),
            ErrorName::OutsideMaintenanceWindow
        );
        assert_eq!(
            ErrorName::ending("States.TaskFailed", ErrorName::ApprovalRejected),
            ErrorName::ApprovalRejected
        );
        let aws: Vec<ErrorName> = ErrorName::ALL
            .into_iter()
            .filter(|n| n.is_aws_failure())
            .collect();
        assert_eq!(aws, [ErrorName::AwsUnavailable, ErrorName::AwsRefused]);
    }

    #[test]
    fn error_names_round_trip_and_serialize_as_strings() {
        for name in ErrorName::ALL {
            assert_eq!(ErrorName::from_name(name.as_str()), Some(name));
            assert_eq!(name.to_string(), name.as_str());
        }
        assert_eq!(ErrorName::from_name("InvalidInput"), None);
        assert_eq!(
            serde_json::to_value(ErrorName::RolledBack).ok(),
            Some(serde_json::json!("Bbws.RolledBack"))
        );
    }

    #[test]
    fn long_fields_and_rules_are_shortened_in_the_middle() {
        let key = "k".repeat(10_000);
        let rule = format!("'{}' must look like CHG-<digits>", "x".repeat(100_000));
        let e = FieldError::new(key, rule);
        assert_eq!(e.field.chars().count(), MAX_FIELD_CHARS);
        assert!(e.field.starts_with("kkk") && e.field.contains('…'));
        assert_eq!(e.rule.chars().count(), MAX_RULE_CHARS);
        assert!(e.rule.starts_with("'xxx"), "{}", e.rule);
        assert!(
            e.rule.ends_with("' must look like CHG-<digits>"),
            "{}",
            e.rule
        );
        let short = FieldError::new("reason", "must not be blank");
        assert_eq!(short.rule, "must not be blank");
        assert_eq!(shorten("é".repeat(5), 3), "é…é");
    }

    #[test]
    fn at_most_ten_problems_are_listed_and_the_rest_counted() {
        let errors: Vec<FieldError> = (0..5_000)
            .map(|i| FieldError::new(format!("f{i}"), "unknown field"))
            .collect();
        let line = join_field_errors(&errors);
        assert!(
            line.starts_with("f0: unknown field; f1: unknown field"),
            "{line}"
        );
        assert!(
            line.ends_with("; f9: unknown field; and 4990 more problems"),
            "{line}"
        );
        assert!(!line.contains("f10:"));
        let eleven: Vec<FieldError> = (0..11)
            .map(|i| FieldError::new(format!("f{i}"), "x"))
            .collect();
        assert!(join_field_errors(&eleven).ends_with("; and 1 more problem"));
    }

    #[test]
    fn field_errors_display_field_then_rule_and_join_with_semicolons() {
        let a = FieldError::new("service", "is required");
        let b = FieldError::new("reason", "must not be blank");
        assert_eq!(a.to_string(), "service: is required");
        assert_eq!(
            join_field_errors(&[a, b]),
            "service: is required; reason: must not be blank"
        );
    }
}
