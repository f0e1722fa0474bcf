//! Approvals (RB-003 §2.2, §4.1.2, §4.2) and the quorum rule that decides each new approval.

use crate::env::{Env, PromotionPath};
use crate::errors::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A role that can approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Dev Lead.
    DevLead,
    /// Tech Lead.
    TechLead,
    /// Operations Lead.
    OperationsLead,
    /// Chief Technology Officer.
    Cto,
}

impl Role {
    /// The snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::DevLead => "dev_lead",
            Role::TechLead => "tech_lead",
            Role::OperationsLead => "operations_lead",
            Role::Cto => "cto",
        }
    }

    /// The role in words, as an approver reads it.
    pub fn label(self) -> &'static str {
        match self {
            Role::DevLead => "Dev Lead",
            Role::TechLead => "Tech Lead",
            Role::OperationsLead => "Operations Lead",
            Role::Cto => "CTO",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which roles must approve: every one of them, or any single one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// One approval per listed role, each from a different person (`{"all_of": [...]}`).
    AllOf(Vec<Role>),
    /// One approval from a holder of any listed role (`{"any_of": [...]}`).
    AnyOf(Vec<Role>),
}

impl Requirement {
    /// The roles named by the requirement.
    pub fn roles(&self) -> &[Role] {
        match self {
            Requirement::AllOf(roles) | Requirement::AnyOf(roles) => roles,
        }
    }

    /// Where the requirement stands given the approvals recorded so far.
    pub fn status(&self, so_far: &[Approval]) -> QuorumStatus {
        self.status_given(&so_far.iter().map(|a| a.role).collect())
    }

    fn status_given(&self, given: &BTreeSet<Role>) -> QuorumStatus {
        match self {
            Requirement::AllOf(roles) => {
                let still_needed: Vec<Role> = roles
                    .iter()
                    .copied()
                    .filter(|r| !given.contains(r))
                    .collect();
                QuorumStatus {
                    met: still_needed.is_empty(),
                    still_needed,
                }
            }
            Requirement::AnyOf(roles) => {
                let met = roles.iter().any(|r| given.contains(r));
                QuorumStatus {
                    met,
                    still_needed: if met { Vec::new() } else { roles.clone() },
                }
            }
        }
    }

    fn validate(&self, field: &str) -> Vec<FieldError> {
        let roles = self.roles();
        let mut errors = Vec::new();
        if roles.is_empty() {
            errors.push(FieldError::new(field, "must name at least one role"));
        }
        let distinct: BTreeSet<&Role> = roles.iter().collect();
        if distinct.len() != roles.len() {
            errors.push(FieldError::new(field, "names a role twice"));
        }
        errors
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.roles().iter().map(|r| r.as_str()).collect();
        match self {
            Requirement::AllOf(_) => write!(f, "all of: {}", names.join(", ")),
            Requirement::AnyOf(_) => write!(f, "any of: {}", names.join(", ")),
        }
    }
}

/// Where a requirement stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumStatus {
    /// Whether the requirement is satisfied.
    pub met: bool,
    /// For `all_of`: the roles with no approval yet. For `any_of`: empty once met, otherwise the
    /// roles any one of which would satisfy it.
    pub still_needed: Vec<Role>,
}

/// The approvals each situation needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// DEV -> SIT (§2.2): Dev Lead.
    pub dev_to_sit: Requirement,
    /// SIT -> PROD (§2.2, §4.2): Tech Lead and Operations Lead.
    pub sit_to_prod: Requirement,
    /// PROD outside a maintenance window (§4.1.2): Tech Lead and CTO.
    pub emergency: Requirement,
    /// A manual PROD rollback: Tech Lead or Operations Lead.
    pub prod_rollback: Requirement,
    /// A manual SIT rollback: none by default (RB-003 §6.2 has the engineer roll back alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sit_rollback: Option<Requirement>,
    /// A manual DEV rollback: none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_rollback: Option<Requirement>,
}

impl ApprovalPolicy {
    /// RB-003's approvers.
    pub fn runbook() -> ApprovalPolicy {
        ApprovalPolicy {
            dev_to_sit: Requirement::AllOf(vec![Role::DevLead]),
            sit_to_prod: Requirement::AllOf(vec![Role::TechLead, Role::OperationsLead]),
            emergency: Requirement::AllOf(vec![Role::TechLead, Role::Cto]),
            prod_rollback: Requirement::AnyOf(vec![Role::TechLead, Role::OperationsLead]),
            sit_rollback: None,
            dev_rollback: None,
        }
    }

    /// The approvals a manual rollback in `env` needs; `None` when it needs none.
    pub fn for_rollback(&self, env: Env) -> Option<&Requirement> {
        match env {
            Env::Prod => Some(&self.prod_rollback),
            Env::Sit => self.sit_rollback.as_ref(),
            Env::Dev => self.dev_rollback.as_ref(),
        }
    }

    /// The requirement for promoting along `path`; `outside_window` selects the emergency
    /// approvers for PROD (it has no effect on DEV -> SIT, which needs no window).
    pub fn for_promotion(&self, path: PromotionPath, outside_window: bool) -> &Requirement {
        match path {
            PromotionPath::DevToSit => &self.dev_to_sit,
            PromotionPath::SitToProd if outside_window => &self.emergency,
            PromotionPath::SitToProd => &self.sit_to_prod,
        }
    }

    /// Problems with the policy's data.
    pub fn validate(&self, field: &str) -> Vec<FieldError> {
        let parts = [
            ("dev_to_sit", &self.dev_to_sit),
            ("sit_to_prod", &self.sit_to_prod),
            ("emergency", &self.emergency),
            ("prod_rollback", &self.prod_rollback),
        ];
        let optional = [
            ("sit_rollback", self.sit_rollback.as_ref()),
            ("dev_rollback", self.dev_rollback.as_ref()),
        ];
        parts
            .into_iter()
            .chain(optional.into_iter().filter_map(|(n, r)| r.map(|r| (n, r))))
            .flat_map(|(name, req)| req.validate(&format!("{field}.{name}")))
            .collect()
    }
}

/// Who holds which role: `{"tech_lead": ["tl@bbws.io"], ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Directory {
    /// The people (email addresses) holding each role.
    pub members: BTreeMap<Role, Vec<String>>,
}

impl Directory {
    /// Whether `email` holds `role` (addresses compare case-insensitively).
    pub fn holds(&self, email: &str, role: Role) -> bool {
        self.members
            .get(&role)
            .is_some_and(|people| people.iter().any(|p| same_person(p, email)))
    }
}

/// An approval already recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Who approved.
    pub email: String,
    /// In which role.
    pub role: Role,
    /// When.
    pub at: DateTime<Utc>,
}

/// Someone asking to approve in a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalAttempt {
    /// Who is approving.
    pub email: String,
    /// The role they approve as.
    pub role: Role,
}

/// Why an approval was not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The requester cannot approve their own promotion.
    #[error("{email} requested this promotion and cannot approve it")]
    SelfApproval {
        /// The requester's address.
        email: String,
    },
    /// The role is not one this approval needs.
    #[error("role {role} is not required here (required: {required})")]
    RoleNotRequired {
        /// The role offered.
        role: Role,
        /// The requirement, in words.
        required: String,
    },
    /// The person does not hold the role in the directory.
    #[error("{email} does not hold the role {role}")]
    NotInRole {
        /// The approver's address.
        email: String,
        /// The role offered.
        role: Role,
    },
    /// The person has already approved (each role needs a different person).
    #[error("{email} has already approved as {role}; each role needs a different person")]
    AlreadyApproved {
        /// The approver's address.
        email: String,
        /// The role of their earlier approval.
        role: Role,
    },
    /// Someone else has already approved in this role.
    #[error("role {role} has already been approved by {by}")]
    RoleAlreadySatisfied {
        /// The role offered.
        role: Role,
        /// Who approved in it.
        by: String,
    },
}

/// The result of one approval attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The approval counts.
    Accepted {
        /// Whether the requirement is now satisfied.
        met: bool,
        /// What is still missing after this approval (see [`QuorumStatus::still_needed`]).
        still_needed: Vec<Role>,
    },
    /// The approval does not count.
    Refused(Refusal),
}

/// Decides whether `attempt` counts towards `requirement`.
///
/// Checks, in order: the approver is not the requester; the role is required; the approver
/// holds it in `directory`; the approver has not already approved; the role (or, for
/// `any_of`, the whole requirement) is not already satisfied.
pub fn decide(
    requirement: &Requirement,
    requester: &str,
    directory: &Directory,
    so_far: &[Approval],
    attempt: &ApprovalAttempt,
) -> Decision {
    match refusal(requirement, requester, directory, so_far, attempt) {
        Some(reason) => Decision::Refused(reason),
        None => {
            let mut given: BTreeSet<Role> = so_far.iter().map(|a| a.role).collect();
            given.insert(attempt.role);
            let status = requirement.status_given(&given);
            Decision::Accepted {
                met: status.met,
                still_needed: status.still_needed,
            }
        }
    }
}

fn refusal(
    requirement: &Requirement,
    requester: &str,
    directory: &Directory,
    so_far: &[Approval],
    attempt: &ApprovalAttempt,
) -> Option<Refusal> {
    let (email, role) = (&attempt.email, attempt.role);
    if same_person(email, requester) {
        return Some(Refusal::SelfApproval {
            email: email.clone(),
        });
    }
    if !requirement.roles().contains(&role) {
        return Some(Refusal::RoleNotRequired {
            role,
            required: requirement.to_string(),
        });
    }
    if !directory.holds(email, role) {
        return Some(Refusal::NotInRole {
            email: email.clone(),
            role,
        });
    }
    if let Some(earlier) = so_far.iter().find(|a| same_person(&a.email, email)) {
        return Some(Refusal::AlreadyApproved {
            email: email.clone(),
            role: earlier.role,
        });
    }
    let satisfied_by = match requirement {
        Requirement::AllOf(_) => so_far.iter().find(|a| a.role == role),
        Requirement::AnyOf(roles) => so_far.iter().find(|a| roles.contains(&a.role)),
    };
    satisfied_by.map(|a| Refusal::RoleAlreadySatisfied {
        role: a.role,
        by: a.email.clone(),
    })
}

/// The most characters a rejection's reason may have (RB-003's reason limit).
pub const REASON_MAX_CHARS: usize = 500;

/// Whether a rejection's reason (already trimmed) is acceptable: 1 to [`REASON_MAX_CHARS`] characters.
pub fn reason_ok(reason: &str) -> bool {
    let n = reason.chars().count();
    (1..=REASON_MAX_CHARS).contains(&n)
}

/// Why `email` may not reject in `role`: the role must be one the requirement names and the person
/// must hold it. (Anyone asked may stop a promotion, the requester included; an approver who
/// already approved may still reject while the request is pending.)
pub fn reject_refusal(
    requirement: &Requirement,
    directory: &Directory,
    email: &str,
    role: Role,
) -> Option<Refusal> {
    if !requirement.roles().contains(&role) {
        return Some(Refusal::RoleNotRequired {
            role,
            required: requirement.to_string(),
        });
    }
    if !directory.holds(email, role) {
        return Some(Refusal::NotInRole {
            email: email.to_owned(),
            role,
        });
    }
    None
}

/// What a link asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

/// The one rule for both decisions: why the holder of a link may not use it now (`None`: they may).
/// Opening the link and confirming it answer the same, so a link its holder cannot use is refused
/// before anyone types a reason.
pub fn link_refusal(
    asked: Asked,
    requirement: &Requirement,
    requester: &str,
    directory: &Directory,
    so_far: &[Approval],
    attempt: &ApprovalAttempt,
) -> Option<Refusal> {
    match asked {
        Asked::Approve => refusal(requirement, requester, directory, so_far, attempt),
        Asked::Reject => reject_refusal(requirement, directory, &attempt.email, attempt.role),
    }
}

/// What the holder of a link does with it: approve, or reject with a reason (already trimmed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act<'a> {
    /// Approve.
    Approve,
    /// Reject, saying why.
    Reject {
        /// The reason, trimmed.
        reason: &'a str,
    },
}

impl Act<'_> {
    /// What the link asks.
    pub fn asked(self) -> Asked {
        match self {
            Act::Approve => Asked::Approve,
            Act::Reject { .. } => Asked::Reject,
        }
    }
}

/// The ruling on one act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    /// The approval counts.
    Approved {
        /// Whether the requirement is now satisfied.
        met: bool,
        /// What is still missing after this approval.
        still_needed: Vec<Role>,
    },
    /// The rejection counts: the request stops.
    Rejected,
    /// The holder of the link may not use it ([`link_refusal`]).
    Refused(Refusal),
    /// A rejection without a usable reason: the words to show, the link still usable.
    ReasonInvalid(String),
}

/// The one decision function for approving and rejecting: who may act is [`link_refusal`]'s rule
/// (for an approval, [`decide`]'s quorum too); a rejection needs a reason of 1 to
/// [`REASON_MAX_CHARS`] characters.
pub fn rule(
    act: Act<'_>,
    requirement: &Requirement,
    requester: &str,
    directory: &Directory,
    so_far: &[Approval],
    attempt: &ApprovalAttempt,
) -> Ruling {
    match act {
        Act::Approve => match decide(requirement, requester, directory, so_far, attempt) {
            Decision::Accepted { met, still_needed } => Ruling::Approved { met, still_needed },
            Decision::Refused(why) => Ruling::Refused(why),
        },
        Act::Reject { reason } => {
            let refused = link_refusal(
                Asked::Reject,
                requirement,
                requester,
                directory,
                so_far,
                attempt,
            );
            match refused {
                Some(why) => Ruling::Refused(why),
                None if !reason_ok(reason) => Ruling::ReasonInvalid(format!(
                    "Say why you reject (1 to {REASON_MAX_CHARS} characters)."
                )),
                None => Ruling::Rejected,
            }
        }
    }
}

/// Where a request stands, as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Still waiting for decisions.
    Pending,
    /// The quorum was met.
    Approved {
        /// Who approved, in which role.
        approvers: Vec<(String, Role)>,
        /// When the quorum was met (RFC 3339), if known.
        at: Option<String>,
    },
    /// Someone rejected.
    Rejected {
        /// Who.
        by: String,
        /// In which role.
        role: Option<Role>,
        /// When (RFC 3339), if known.
        at: Option<String>,
    },
    /// The wait ended without a decision (timed out, or the execution ended).
    Closed,
}

/// The answer to a decision that lost: the request left `pending` before it could be written, so
/// it was not counted. `noun` is what is approved (`promotion`, `rollback`, `release`).
pub fn not_counted(noun: &str, standing: &Standing, asked: Asked) -> String {
    let yours = match asked {
        Asked::Approve => "your approval was not counted",
        Asked::Reject => "your rejection was not counted",
    };
    let when = |at: &Option<String>| {
        at.as_deref()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok())
            .map(|t| {
                format!(
                    " at {} UTC on {}",
                    t.format("%H:%M:%S"),
                    t.format("%a %-d %b")
                )
            })
            .unwrap_or_default()
    };
    match standing {
        Standing::Rejected { by, role, at } => {
            let role = role.map(|r| format!(" ({})", r.label())).unwrap_or_default();
            format!(
                "This {noun} was rejected by {by}{role}{} — {yours}; the {noun} stops.",
                when(at)
            )
        }
        Standing::Approved { approvers, at } => {
            let who: Vec<String> = approvers
                .iter()
                .map(|(p, r)| format!("{p} ({})", r.label()))
                .collect();
            let who = if who.is_empty() {
                String::from("its approvers")
            } else {
                who.join(" and ")
            };
            format!(
                "This {noun} was already approved by {who}{} — {yours}; the {noun} continues.",
                when(at)
            )
        }
        Standing::Closed | Standing::Pending => format!(
            "This {noun} is no longer waiting for approval (it timed out or ended) — {yours}; nothing was changed."
        ),
    }
}

/// Whether two email addresses name the same person (trimmed, case-insensitive).
pub fn same_person(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const REQUESTER: &str = "dev@bbws.io";

    fn directory() -> Directory {
        let mut members = BTreeMap::new();
        members.insert(Role::DevLead, vec!["devlead@bbws.io".to_string()]);
        members.insert(
            Role::TechLead,
            vec!["tech-lead@bbws.io".to_string(), "both@bbws.io".to_string()],
        );
        members.insert(
            Role::OperationsLead,
            vec!["ops-lead@bbws.io".to_string(), "both@bbws.io".to_string()],
        );
        members.insert(Role::Cto, vec!["cto@bbws.io".to_string()]);
        Directory { members }
    }

    fn approval(email: &str, role: Role) -> Approval {
        Approval {
            email: email.into(),
            role,
            at: Utc.with_ymd_and_hms(2026, 1, 27, 20, 5, 0).unwrap(),
        }
    }

    fn attempt(email: &str, role: Role) -> ApprovalAttempt {
        ApprovalAttempt {
            email: email.into(),
            role,
        }
    }

    fn prod() -> Requirement {
        ApprovalPolicy::runbook().sit_to_prod
    }

    #[test]
    fn dev_lead_alone_satisfies_dev_to_sit() {
        let req = ApprovalPolicy::runbook().dev_to_sit;
        let d = decide(
            &req,
            REQUESTER,
            &directory(),
            &[],
            &attempt("devlead@bbws.io", Role::DevLead),
        );
        assert_eq!(
            d,
            Decision::Accepted {
                met: true,
                still_needed: vec![]
            }
        );
    }

    #[test]
    fn prod_needs_tech_lead_then_operations_lead() {
        let dir = directory();
        let first = decide(
            &prod(),
            REQUESTER,
            &dir,
            &[],
            &attempt("tech-lead@bbws.io", Role::TechLead),
        );
        assert_eq!(
            first,
            Decision::Accepted {
                met: false,
                still_needed: vec![Role::OperationsLead]
            }
        );
        let so_far = [approval("tech-lead@bbws.io", Role::TechLead)];
        let second = decide(
            &prod(),
            REQUESTER,
            &dir,
            &so_far,
            &attempt("ops-lead@bbws.io", Role::OperationsLead),
        );
        assert_eq!(
            second,
            Decision::Accepted {
                met: true,
                still_needed: vec![]
            }
        );
    }

    #[test]
    fn requester_cannot_approve_even_holding_the_role() {
        let d = decide(
            &prod(),
            "Tech-Lead@BBWS.io",
            &directory(),
            &[],
            &attempt("tech-lead@bbws.io", Role::TechLead),
        );
        assert_eq!(
            d,
            Decision::Refused(Refusal::SelfApproval {
                email: "tech-lead@bbws.io".into()
            })
        );
    }

    #[test]
    fn a_role_outside_the_requirement_is_refused() {
        let d = decide(
            &prod(),
            REQUESTER,
            &directory(),
            &[],
            &attempt("cto@bbws.io", Role::Cto),
        );
        let Decision::Refused(reason) = d else {
            panic!("expected a refusal, got {d:?}");
        };
        assert_eq!(
            reason.to_string(),
            "role cto is not required here (required: all of: tech_lead, operations_lead)"
        );
    }

    #[test]
    fn claiming_a_role_not_held_is_refused() {
        let d = decide(
            &prod(),
            REQUESTER,
            &directory(),
            &[],
            &attempt("devlead@bbws.io", Role::TechLead),
        );
        assert_eq!(
            d,
            Decision::Refused(Refusal::NotInRole {
                email: "devlead@bbws.io".into(),
                role: Role::TechLead
            })
        );
    }

    #[test]
    fn one_person_cannot_fill_both_prod_roles() {
        let so_far = [approval("both@bbws.io", Role::TechLead)];
        let d = decide(
            &prod(),
            REQUESTER,
            &directory(),
            &so_far,
            &attempt("BOTH@bbws.io", Role::OperationsLead),
        );
        let Decision::Refused(reason) = d else {
            panic!("expected a refusal, got {d:?}");
        };
        assert_eq!(
            reason.to_string(),
            "BOTH@bbws.io has already approved as tech_lead; each role needs a different person"
        );
    }

    #[test]
    fn a_second_holder_of_a_satisfied_role_is_refused() {
        let so_far = [approval("tech-lead@bbws.io", Role::TechLead)];
        let d = decide(
            &prod(),
            REQUESTER,
            &directory(),
            &so_far,
            &attempt("both@bbws.io", Role::TechLead),
        );
        assert_eq!(
            d,
            Decision::Refused(Refusal::RoleAlreadySatisfied {
                role: Role::TechLead,
                by: "tech-lead@bbws.io".into()
            })
        );
    }

    #[test]
    fn emergency_needs_tech_lead_and_cto() {
        let policy = ApprovalPolicy::runbook();
        let req = policy.for_promotion(PromotionPath::SitToProd, true);
        assert_eq!(req, &Requirement::AllOf(vec![Role::TechLead, Role::Cto]));
        let so_far = [approval("cto@bbws.io", Role::Cto)];
        let d = decide(
            req,
            REQUESTER,
            &directory(),
            &so_far,
            &attempt("tech-lead@bbws.io", Role::TechLead),
        );
        assert_eq!(
            d,
            Decision::Accepted {
                met: true,
                still_needed: vec![]
            }
        );
    }

    #[test]
    fn requirement_selection_by_path_and_window() {
        let p = ApprovalPolicy::runbook();
        assert_eq!(
            p.for_promotion(PromotionPath::DevToSit, true),
            &Requirement::AllOf(vec![Role::DevLead])
        );
        assert_eq!(
            p.for_promotion(PromotionPath::SitToProd, false),
            &Requirement::AllOf(vec![Role::TechLead, Role::OperationsLead])
        );
    }

    #[test]
    fn rollback_needs_any_one_of_tech_lead_or_operations_lead() {
        let req = ApprovalPolicy::runbook().prod_rollback;
        let dir = directory();
        for (email, role) in [
            ("tech-lead@bbws.io", Role::TechLead),
            ("ops-lead@bbws.io", Role::OperationsLead),
        ] {
            assert_eq!(
                decide(&req, REQUESTER, &dir, &[], &attempt(email, role)),
                Decision::Accepted {
                    met: true,
                    still_needed: vec![]
                }
            );
        }
        let so_far = [approval("ops-lead@bbws.io", Role::OperationsLead)];
        assert!(matches!(
            decide(
                &req,
                REQUESTER,
                &dir,
                &so_far,
                &attempt("tech-lead@bbws.io", Role::TechLead)
            ),
            Decision::Refused(Refusal::RoleAlreadySatisfied {
                role: Role::OperationsLead,
                ..
            })
        ));
    }

    #[test]
    fn status_lists_what_is_still_needed() {
        assert_eq!(
            prod().status(&[]),
            QuorumStatus {
                met: false,
                still_needed: vec![Role::TechLead, Role::OperationsLead]
            }
        );
        let any = ApprovalPolicy::runbook().prod_rollback;
        assert_eq!(
            any.status(&[]).still_needed,
            [Role::TechLead, Role::OperationsLead]
        );
        let unrelated = [approval("cto@bbws.io", Role::Cto)];
        assert!(!any.status(&unrelated).met);
    }

    #[test]
    fn roles_and_requirements_use_snake_case_json() {
        let json = serde_json::to_value(ApprovalPolicy::runbook()).unwrap();
        assert_eq!(
            json["sit_to_prod"],
            serde_json::json!({"all_of": ["tech_lead", "operations_lead"]})
        );
        assert_eq!(
            json["prod_rollback"],
            serde_json::json!({"any_of": ["tech_lead", "operations_lead"]})
        );
        let dir: Directory =
            serde_json::from_str(r#"{"cto": ["cto@bbws.io"], "dev_lead": []}"#).unwrap();
        assert!(dir.holds("CTO@bbws.io", Role::Cto));
        assert!(!dir.holds("cto@bbws.io", Role::DevLead));
        assert!(serde_json::from_str::<Role>(r#""ceo""#).is_err());
    }

    #[test]
    fn policy_validation_rejects_empty_and_repeated_roles() {
        assert_eq!(ApprovalPolicy::runbook().validate("approvals"), []);
        let mut p = ApprovalPolicy::runbook();
        p.emergency = Requirement::AllOf(vec![]);
        p.prod_rollback = Requirement::AnyOf(vec![Role::Cto, Role::Cto]);
        let fields: Vec<String> = p
            .validate("approvals")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["approvals.emergency", "approvals.prod_rollback"]);
    }

    #[test]
    fn a_reason_has_one_to_five_hundred_characters() {
        assert!(!reason_ok(""));
        assert!(reason_ok("x"));
        assert!(reason_ok(&"é".repeat(REASON_MAX_CHARS)));
        assert!(!reason_ok(&"é".repeat(REASON_MAX_CHARS + 1)));
    }

    #[test]
    fn a_link_is_refused_the_same_way_whichever_decision_it_carries() {
        let dir = directory();
        // Someone who does not hold the role: refused for both decisions.
        for asked in [Asked::Approve, Asked::Reject] {
            let r = link_refusal(
                asked,
                &prod(),
                REQUESTER,
                &dir,
                &[],
                &attempt("devlead@bbws.io", Role::TechLead),
            );
            assert!(matches!(r, Some(Refusal::NotInRole { .. })), "{asked:?}");
            let r = link_refusal(
                asked,
                &prod(),
                REQUESTER,
                &dir,
                &[],
                &attempt("devlead@bbws.io", Role::DevLead),
            );
            assert!(
                matches!(r, Some(Refusal::RoleNotRequired { .. })),
                "{asked:?}"
            );
        }
        // An approver who already approved may still stop the promotion, not approve twice.
        let so_far = [approval("tech-lead@bbws.io", Role::TechLead)];
        let a = attempt("tech-lead@bbws.io", Role::TechLead);
        assert!(link_refusal(Asked::Approve, &prod(), REQUESTER, &dir, &so_far, &a).is_some());
        assert_eq!(
            link_refusal(Asked::Reject, &prod(), REQUESTER, &dir, &so_far, &a),
            None
        );
    }

    #[test]
    fn approving_and_rejecting_are_ruled_by_one_function() {
        let dir = directory();
        let so_far = Vec::new();
        let lead = attempt("ops-lead@bbws.io", Role::OperationsLead);
        let ruling = |act| rule(act, &prod(), REQUESTER, &dir, &so_far, &lead);
        assert!(matches!(
            ruling(Act::Approve),
            Ruling::Approved { met: false, .. }
        ));
        assert_eq!(ruling(Act::Reject { reason: "not now" }), Ruling::Rejected);
        assert_eq!(
            ruling(Act::Reject { reason: "" }),
            Ruling::ReasonInvalid("Say why you reject (1 to 500 characters).".into())
        );
        let long = "x".repeat(REASON_MAX_CHARS + 1);
        assert!(matches!(
            ruling(Act::Reject { reason: &long }),
            Ruling::ReasonInvalid(_)
        ));
        let stranger = attempt("nobody@bbws.io", Role::OperationsLead);
        // Who may not act is refused before the reason is looked at.
        assert!(matches!(
            rule(
                Act::Reject { reason: "" },
                &prod(),
                REQUESTER,
                &dir,
                &so_far,
                &stranger
            ),
            Ruling::Refused(Refusal::NotInRole { .. })
        ));
        assert_eq!(Act::Reject { reason: "r" }.asked(), Asked::Reject);
    }

    #[test]
    fn a_decision_that_lost_says_who_won_and_that_it_was_not_counted() {
        let rejected = Standing::Rejected {
            by: "duty-lead@bbws.io".into(),
            role: Some(Role::OperationsLead),
            at: Some("2026-12-03T04:35:54.676962+00:00".into()),
        };
        assert_eq!(
            not_counted("promotion", &rejected, Asked::Approve),
            "This promotion was rejected by duty-lead@bbws.io (Operations Lead) at 04:35:54 UTC on Thu 3 Dec \
             — your approval was not counted; the promotion stops."
        );
        let approved = Standing::Approved {
            approvers: vec![
                ("tech-lead@bbws.io".into(), Role::TechLead),
                ("ops-lead@bbws.io".into(), Role::OperationsLead),
            ],
            at: None,
        };
        let text = not_counted("rollback", &approved, Asked::Reject);
        assert!(text.starts_with(
            "This rollback was already approved by tech-lead@bbws.io (Tech Lead) and ops-lead@bbws.io (Operations Lead)"
        ));
        assert!(text.contains("your rejection was not counted"));
        assert!(not_counted("release", &Standing::Closed, Asked::Approve)
            .contains("no longer waiting for approval"));
    }
}
