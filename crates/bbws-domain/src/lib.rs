//! The BBWS promotion rules of runbook RB-003 as data and pure functions.
//!
//! Nothing here performs I/O: the Lambda functions of the promotion state machine gather
//! figures from AWS and hand them to these functions, which decide.
//!
//! - [`env`](mod@env): environments, accounts, regions and the two promotion paths (§1.3);
//! - [`catalog`]: services, their functions, release order, health waits and smoke tests (§1.4, §5);
//! - [`readiness`]: whether a source function's State and LastUpdateStatus allow a promotion;
//! - [`served`]: how long the version promoted to PROD has served in SIT (§7.1, §7.2);
//! - [`metrics`]: error and throttle limits and the stability check (§2.1, §4.1.1);
//! - [`gates`]: quality gates per path (§2.1);
//! - [`windows`]: PROD maintenance windows (§4.1.2);
//! - [`approvals`]: approver roles and the quorum rule (§2.2, §4.1.2, §4.2);
//! - [`monitor`]: post-deployment monitoring and rollback triggers (§6.3.1);
//! - [`watch`]: the 24-hour watch after a deploy, its four checks and what a failed one does (§7.2);
//! - [`lock`]: when a lock held by an execution that no longer runs may be taken over;
//! - [`naming`]: alias, table, state-machine and execution names, and the `version` value;
//! - [`fields`]: the generic reader of a request object, shared by the requests below;
//! - [`request`]: validation of a promotion request;
//! - [`release`]: a coordinated release of several services, its phases and approval (§5);
//! - [`rollback`]: a manual rollback's request, plan and target version (§6);
//! - [`stage`]: the step an execution failed at and the error name it then ends with;
//! - [`steps`]: the data one step of a promotion hands to the next;
//! - [`tenant`]: Terraform GitOps tenants: the request, a plan's summary and "DESTROY is blocked in
//!   PROD" (§3.2.4, §4.3.4, §6.2.3);
//! - [`errors`]: stable error names and field errors;
//! - [`evidence`]: the §7 checklists filled from an execution's facts, and release notes;
//! - [`delivery`]: delivery metrics from the deployment records (frequency, lead time, change
//!   failure rate, time to restore) for auditors;
//! - [`config`]: all tunable data in one document, with RB-003's values as the default.

#![warn(missing_docs)]

pub mod approvals;
pub mod catalog;
pub mod config;
pub mod delivery;
pub mod env;
pub mod errors;
pub mod evidence;
pub mod fields;
pub mod gates;
pub mod links;
pub mod lock;
pub mod metrics;
pub mod monitor;
pub mod naming;
pub mod plan;
pub mod readiness;
pub mod release;
pub mod request;
pub mod rollback;
pub mod served;
pub mod stage;
pub mod steps;
pub mod tenant;
pub mod tenant_flow;
pub mod watch;
pub mod windows;

pub use approvals::{
    decide, link_refusal, not_counted, reason_ok, reject_refusal, rule, Act, Approval,
    ApprovalAttempt, ApprovalPolicy, Asked, Decision, Directory, QuorumStatus, Refusal,
    Requirement, Role, Ruling, Standing, REASON_MAX_CHARS,
};
pub use catalog::{Catalog, CatalogError, ServiceSpec, SmokeTest};
pub use config::{Config, ConfigError};
pub use env::{own_environment, Env, EnvRequest, InvalidPath, PathRules, PromotionPath};
pub use errors::{ErrorName, FieldError, Permanence};
pub use gates::{
    evaluate_gates, Gate, GateOutcome, GatePolicy, GateReport, GateResult, GateStatus,
};
pub use links::{LinkClaims, LinkDecision, LinkError};
pub use lock::{lock_verdict, HolderStatus, LockVerdict};
pub use metrics::{
    evaluate_stability, Limit, Metric, MetricCheck, StabilityReport, StabilityThresholds,
};
pub use monitor::{
    assess, throttle_lookback_seconds, MonitorPolicy, RollbackTriggers, Trigger, Verdict,
};
pub use naming::VersionRef;
pub use plan::{lock_id, AppliedRules, FunctionPair, Limits, PromotionPlan};
pub use readiness::{check_readiness, check_source_health, Readiness};
pub use release::{
    covers, phase_execution_name, ApprovedPackage, Phase, ReleasePlan, ReleaseRequest,
};
pub use request::{validate_request, Emergency, InvalidRequest, PromotionRequest, ReleaseRef};
pub use rollback::{
    resolve_target, FunctionState, Move, Resolution, RollbackPlan, RollbackRequest, RollbackTarget,
};
pub use served::{check_served, served_period, Period, Promoted, Served};
pub use stage::Stage;
pub use steps::{
    BackedUp, Backup, Check, Deployed, Deployment, FunctionVersion, Preflight, SourceFunction,
    Verification, Watch,
};
pub use windows::{
    check_window, next_window_start, window_at, Day, TimeOfDay, Window, WindowCheck, WindowError,
};
