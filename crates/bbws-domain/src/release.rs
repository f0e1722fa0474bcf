//! A coordinated release (RB-003 §5): several services promoted into one environment, one phase
//! per service in the catalog's dependency order (§5.1), one approval round for all of them, a
//! health wait between phases (§5.2.1), and a cross-service check at the end (§5.3).
//!
//! ```json
//! {"target_env": "prod", "services": ["tenant-instance-management", "ecs-event-handler", "site-management"],
//!  "requested_by": "lead@bbws.io", "reason": "Release 2026.12", "change_request": "CHG-2001"}
//! ```
//!
//! Each phase is a child execution of `bbws-promote-<env>` whose input names the release and the
//! phase; the child accepts the release's approval instead of asking again, but only an approval of
//! its own parent release that covers its service and the exact versions it is about to deploy
//! ([`covers`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, CatalogError};
use crate::config::Config;
use crate::env::{Env, PromotionPath};
use crate::errors::FieldError;
use crate::fields::{InvalidRequest, Validator};
use crate::request::{validate_request, ReleaseRef};

/// The top-level fields a release request may have.
pub const RELEASE_FIELDS: [&str; 9] = [
    "target_env",
    "services",
    "requested_by",
    "reason",
    "change_request",
    "rollback_completed_phases",
    "emergency",
    "tenants",
    "tenants_commit",
];

/// The longest Step Functions execution name.
pub const MAX_EXECUTION_NAME: usize = 80;

/// A validated release request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    /// `sit` or `prod`.
    pub target_env: Env,
    /// The services, in release order (whatever order the input gave).
    pub services: Vec<String>,
    /// Who leads the release.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// `CHG-<digits>`, required for PROD.
    pub change_request: Option<String>,
    /// When a phase fails: roll the earlier, healthy phases back too (default: keep them, fix
    /// forward, RB-003 §6.1).
    pub rollback_completed_phases: bool,
    /// `{"incident": "INC-<digits>"}`: PROD outside a window (Tech Lead + CTO approve).
    pub emergency: Option<Value>,
    /// RB-003 §5.2.1 phase 4, "last to avoid race conditions": the tenants whose Terraform is
    /// applied after the three services (empty: no tenant phase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<String>,
    /// The tenants repository's commit for them (required into SIT; into PROD each tenant takes
    /// the commit SIT last applied unless this names one SIT applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants_commit: Option<String>,
}

/// The source environment a release into `target` pulls from: the promotion path into it.
pub fn source_of(target: Env) -> Option<Env> {
    PromotionPath::into_env(target).map(PromotionPath::source)
}

impl ReleaseRequest {
    /// Validates a release request, reporting every problem at once. Each phase's promotion
    /// request is validated too, so a child never refuses what the release accepted.
    pub fn validate(input: &Value, catalog: &Catalog) -> Result<ReleaseRequest, InvalidRequest> {
        let mut v = Validator::of(input)?;
        let target = v.env("target_env").and_then(|env| {
            if source_of(env).is_none() {
                v.fail(
                    "target_env",
                    "a release goes into sit (from dev) or prod (from sit)",
                );
                None
            } else {
                Some(env)
            }
        });
        let services = services(&mut v, catalog);
        let requested_by = v.requested_by();
        let reason = v.reason();
        let change_request = v.ticket("change_request", "CHG-");
        let rollback = v.flag("rollback_completed_phases");
        let emergency = v.get("emergency").cloned();
        let tenants = v.get("tenants").cloned();
        let tenants_commit = v.get("tenants_commit").cloned();
        if let (Some(Env::Prod), Some(None)) = (target, &change_request) {
            v.fail(
                "change_request",
                "is required for a release to prod (CHG-<digits>)",
            );
        }
        v.unknown_fields_of(&RELEASE_FIELDS);
        let mut errors = std::mem::take(&mut v.errors);
        let request = match (
            target,
            services,
            requested_by,
            reason,
            change_request,
            rollback,
        ) {
            (Some(t), Some(s), Some(by), Some(reason), Some(chg), Some(rb)) => {
                Some(ReleaseRequest {
                    target_env: t,
                    services: s,
                    requested_by: by,
                    reason,
                    change_request: chg,
                    rollback_completed_phases: rb,
                    emergency,
                    tenants: Vec::new(),
                    tenants_commit: None,
                })
            }
            _ => None,
        };
        // Phase 4: the tenants' request, validated as a tenant execution's (its fields renamed).
        let request = match (request, tenants) {
            (Some(mut r), Some(list)) => {
                let mut input = json!({"environment": r.target_env.as_str(), "tenants": list,
                    "reason": r.reason, "requested_by": r.requested_by});
                if let Some(c) = &tenants_commit {
                    input["commit"] = c.clone();
                }
                if let Some(c) = &r.change_request {
                    input["change_request"] = json!(c);
                }
                match crate::tenant::TenantRequest::validate(&input) {
                    Ok(t) => {
                        r.tenants = t.tenants;
                        r.tenants_commit = t.commit;
                        Some(r)
                    }
                    Err(e) => {
                        errors.extend(e.errors.into_iter().map(|f| {
                            let field = match f.field.as_str() {
                                "commit" => "tenants_commit".to_owned(),
                                other => other.to_owned(),
                            };
                            FieldError::new(field, f.rule)
                        }));
                        None
                    }
                }
            }
            (Some(r), None) if tenants_commit.is_some() => {
                errors.push(FieldError::new(
                    "tenants_commit",
                    "names the tenants' commit: it needs \"tenants\"",
                ));
                Some(r)
            }
            (r, _) => r,
        };
        if let (Some(r), true) = (&request, errors.is_empty()) {
            // The first phase's promotion request stands for all: they differ only in the service.
            if let Some(first) = r.services.first() {
                if let Err(e) = validate_request(&r.promotion_input(first, None), catalog) {
                    errors.extend(e.errors.into_iter().filter(|e| e.field != "service"));
                }
            }
        }
        match request {
            Some(r) if errors.is_empty() => Ok(r),
            _ if errors.is_empty() => Err(InvalidRequest {
                errors: vec![FieldError::new("request", "is incomplete")],
            }),
            _ => Err(InvalidRequest { errors }),
        }
    }

    /// The tenant phase's request (a tenant execution's input, `bbws_domain::tenant`), when the
    /// release has tenants.
    pub fn tenant_input(&self) -> Option<Value> {
        if self.tenants.is_empty() {
            return None;
        }
        let mut input = json!({"environment": self.target_env.as_str(), "tenants": self.tenants,
            "reason": self.reason, "requested_by": self.requested_by});
        if let Some(c) = &self.tenants_commit {
            input["commit"] = json!(c);
        }
        if let Some(c) = &self.change_request {
            input["change_request"] = json!(c);
        }
        Some(input)
    }

    /// The promotion request of one phase (the child execution's input).
    pub fn promotion_input(&self, service: &str, release: Option<&ReleaseRef>) -> Value {
        let source = source_of(self.target_env).unwrap_or(Env::Dev);
        let mut input = json!({
            "service": service,
            "source_env": source.as_str(),
            "target_env": self.target_env.as_str(),
            "requested_by": self.requested_by,
            "reason": self.reason,
        });
        if let Some(obj) = input.as_object_mut() {
            if let Some(c) = &self.change_request {
                obj.insert("change_request".into(), json!(c));
            }
            if let Some(e) = &self.emergency {
                obj.insert("emergency".into(), e.clone());
            }
            if let Some(r) = release {
                obj.insert("release".into(), json!(r));
            }
        }
        input
    }
}

fn services(v: &mut Validator<'_>, catalog: &Catalog) -> Option<Vec<String>> {
    let field = "services";
    let list = match v.get(field) {
        None => {
            v.fail(field, "is required: a list of catalog services");
            return None;
        }
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            v.fail(field, "must be a list of service names");
            return None;
        }
    };
    let mut names = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some(s) => names.push(s.to_owned()),
            None => {
                v.fail(&format!("{field}[{i}]"), "must be a service name");
                return None;
            }
        }
    }
    match catalog.release_order(&names) {
        Ok(specs) => Some(specs.into_iter().map(|s| s.name.clone()).collect()),
        Err(e) => {
            let rule = match e {
                CatalogError::Empty => "must name at least one service".to_owned(),
                other => other.to_string(),
            };
            v.fail(field, rule);
            None
        }
    }
}

/// The name of phase `index` (from 1) of the release execution `release_name`: the release's name
/// and `-p<index>`, shortened with a hash when the result would pass 80 characters.
pub fn phase_execution_name(release_name: &str, index: u32) -> String {
    let suffix = format!("-p{index}");
    if release_name.len() + suffix.len() <= MAX_EXECUTION_NAME {
        return format!("{release_name}{suffix}");
    }
    let digest = Sha256::digest(release_name.as_bytes());
    let hash: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    let keep = MAX_EXECUTION_NAME - suffix.len() - hash.len() - 1;
    let head: String = release_name.chars().take(keep).collect();
    format!("{head}-{hash}{suffix}")
}

/// One phase of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// From 1, in release order.
    pub index: u32,
    /// The service promoted.
    pub service: String,
    /// The child execution's name ([`phase_execution_name`]).
    pub execution_name: String,
    /// The child execution's input.
    pub input: Value,
    /// The wait after the phase (RB-003 §5.2.1), watched with the monitor's triggers.
    pub health_wait_seconds: u64,
}

/// Everything a release execution carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasePlan {
    /// The validated request.
    pub request: ReleaseRequest,
    /// Where.
    pub target_env: Env,
    /// From where.
    pub source_env: Env,
    /// The phases in release order.
    pub phases: Vec<Phase>,
    /// One release per environment at a time.
    pub lock_id: String,
    /// The approval wait's timeout.
    pub approval_timeout_seconds: u64,
    /// Seconds between two health checks during a health wait.
    pub poll_seconds: u64,
    /// The release execution.
    pub execution_arn: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Phase 4's request: the tenant execution input of the release's tenants (`None`: none).
    #[serde(default)]
    pub tenant_input: Option<Value>,
}

impl ReleasePlan {
    /// The plan of a validated request under `config`.
    pub fn new(
        request: ReleaseRequest,
        config: &Config,
        execution_arn: &str,
        started_at: DateTime<Utc>,
    ) -> Result<ReleasePlan, FieldError> {
        let target = request.target_env;
        let source = source_of(target)
            .ok_or_else(|| FieldError::new("target_env", "a release goes into sit or prod"))?;
        let release_name = execution_arn.rsplit(':').next().unwrap_or_default();
        let mut phases = Vec::new();
        for (i, service) in request.services.iter().enumerate() {
            let spec = config
                .catalog
                .require(service)
                .map_err(|e| FieldError::new("services", e.to_string()))?;
            let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let release = ReleaseRef {
                execution_arn: execution_arn.to_owned(),
                phase: index,
            };
            phases.push(Phase {
                index,
                service: service.clone(),
                execution_name: phase_execution_name(release_name, index),
                input: request.promotion_input(service, Some(&release)),
                health_wait_seconds: spec.health_wait_seconds,
            });
        }
        Ok(ReleasePlan {
            target_env: target,
            source_env: source,
            phases,
            lock_id: format!("release#{}", target.as_str()),
            approval_timeout_seconds: config.approval_timeout_seconds,
            poll_seconds: config.monitor.poll_seconds,
            execution_arn: execution_arn.to_owned(),
            started_at,
            tenant_input: request.tenant_input(),
            request,
        })
    }
}

impl ReleasePlan {
    /// Every function of every service of the release in every target region, in release
    /// order: `(service, region, function)`.
    pub fn targets(
        &self,
        catalog: &Catalog,
    ) -> Result<Vec<(String, String, String)>, CatalogError> {
        let mut out = Vec::new();
        for phase in &self.phases {
            let functions = catalog.function_names(&phase.service, self.target_env)?;
            for region in self.target_env.regions() {
                for f in &functions {
                    out.push((phase.service.clone(), region.clone(), f.clone()));
                }
            }
        }
        Ok(out)
    }
}

/// One package a release's approvers saw: the source function, its version and CodeSha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedPackage {
    /// Source function.
    pub name: String,
    /// Source version.
    pub version: String,
    /// CodeSha256.
    pub code_sha256: String,
}

/// Whether a release's approval covers a child promotion: the child is the phase the release
/// planned (its service and its execution name), and it is about to deploy exactly the packages
/// the approvers saw. `None` when it does; otherwise why not.
pub fn covers(
    approved_service: &str,
    approved_packages: &[ApprovedPackage],
    planned_execution_name: &str,
    service: &str,
    execution_name: &str,
    packages: &[ApprovedPackage],
) -> Option<String> {
    if approved_service != service {
        return Some(format!(
            "the release approved {approved_service} in this phase, not {service}"
        ));
    }
    if planned_execution_name != execution_name {
        return Some(format!(
            "this execution ({execution_name}) is not the release's phase execution \
             ({planned_execution_name})"
        ));
    }
    let mut want = approved_packages.to_vec();
    let mut got = packages.to_vec();
    want.sort_by(|a, b| a.name.cmp(&b.name));
    got.sort_by(|a, b| a.name.cmp(&b.name));
    if want != got {
        let show = |list: &[ApprovedPackage]| {
            list.iter()
                .map(|p| format!("{} {} ({})", p.name, p.version, p.code_sha256))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Some(format!(
            "the approvers saw {}; this promotion would deploy {}",
            show(&want),
            show(&got)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(v: Value) -> Result<ReleaseRequest, String> {
        ReleaseRequest::validate(&v, &Catalog::runbook()).map_err(|e| e.to_string())
    }

    fn prod() -> Value {
        json!({"target_env": "prod", "services": ["site-management", "tenant-instance-management",
            "ecs-event-handler"], "requested_by": "lead@bbws.io", "reason": "Release 2026.12",
            "change_request": "CHG-2001"})
    }

    #[test]
    fn tenants_are_phase_four_validated_as_a_tenant_execution() {
        let mut input = prod();
        input["tenants"] = json!(["tenant-001", "tenant-002"]);
        let r = validate(input.clone()).expect("valid");
        assert_eq!(r.tenants, ["tenant-001", "tenant-002"]);
        assert_eq!(r.tenants_commit, None, "PROD takes SIT's commits");
        let arn = "arn:aws:states:af-south-1:093646564004:execution:bbws-release-prod:rel-1";
        let plan = ReleasePlan::new(r, &Config::runbook(), arn, Utc::now()).expect("plan");
        assert_eq!(
            plan.tenant_input,
            Some(
                json!({"environment": "prod", "tenants": ["tenant-001", "tenant-002"],
                "reason": "Release 2026.12", "requested_by": "lead@bbws.io",
                "change_request": "CHG-2001"})
            )
        );
        input["tenants"] = json!(["Tenant 1"]);
        input["tenants_commit"] = json!("abc");
        let e = validate(input).expect_err("refused");
        assert!(
            e.contains("tenants[0]: 'Tenant 1' is not a tenant directory name"),
            "{e}"
        );
        assert!(
            e.contains("tenants_commit: 'abc' must be a full commit SHA"),
            "{e}"
        );
        let mut sit = prod();
        sit["target_env"] = json!("sit");
        sit["tenants"] = json!(["tenant-001"]);
        let e = validate(sit).expect_err("SIT needs the commit");
        assert!(
            e.contains("tenants_commit: is required to apply tenants in sit"),
            "{e}"
        );
        let mut orphan = prod();
        orphan["tenants_commit"] = json!("0123456789abcdef0123456789abcdef01234567");
        assert!(validate(orphan)
            .expect_err("refused")
            .contains("it needs \"tenants\""));
        let none = ReleasePlan::new(
            validate(prod()).expect("valid"),
            &Config::runbook(),
            arn,
            Utc::now(),
        )
        .expect("plan");
        assert_eq!(none.tenant_input, None);
    }

    #[test]
    fn phases_follow_the_catalog_order_whatever_the_input_order() {
        let r = validate(prod()).expect("valid");
        assert_eq!(
            r.services,
            [
                "tenant-instance-management",
                "ecs-event-handler",
                "site-management"
            ]
        );
        assert!(!r.rollback_completed_phases);
        let arn = "arn:aws:states:af-south-1:093646564004:execution:bbws-release-prod:rel-1";
        let plan = ReleasePlan::new(r, &Config::runbook(), arn, Utc::now()).expect("plan");
        let waits: Vec<u64> = plan.phases.iter().map(|p| p.health_wait_seconds).collect();
        assert_eq!(waits, [300, 300, 600], "RB-003 §5.2.1");
        assert_eq!(plan.phases[2].execution_name, "rel-1-p3");
        assert_eq!(
            plan.phases[0].input["release"],
            json!({"execution_arn": arn, "phase": 1})
        );
        assert_eq!(plan.phases[0].input["source_env"], "sit");
        assert_eq!(plan.lock_id, "release#prod");
    }

    #[test]
    fn the_targets_are_every_function_of_every_service_in_both_prod_regions() {
        let arn = "arn:aws:states:af-south-1:093646564004:execution:bbws-release-prod:rel-1";
        let plan = ReleasePlan::new(
            validate(prod()).expect("valid"),
            &Config::runbook(),
            arn,
            Utc::now(),
        )
        .expect("plan");
        let targets = plan.targets(&Catalog::runbook()).expect("targets");
        assert_eq!(targets.len(), (1 + 1 + 4) * 2);
        assert_eq!(
            targets[0],
            (
                "tenant-instance-management".into(),
                "af-south-1".into(),
                "bbws-tenant-instance-management-prod".into()
            )
        );
        assert_eq!(targets[1].1, "eu-west-1");
        assert_eq!(targets[11].2, "prod-bbws-async-processor");
    }

    #[test]
    fn unknown_repeated_or_no_services_are_refused() {
        let mut v = prod();
        v["services"] = json!(["tenant-instance-management", "billing"]);
        assert!(validate(v).expect_err("unknown").starts_with("services: "));
        let mut v = prod();
        v["services"] = json!(["site-management", "site-management"]);
        let e = validate(v).expect_err("repeated");
        assert!(
            e.starts_with("services: ") && e.contains("site-management"),
            "{e}"
        );
        let mut v = prod();
        v["services"] = json!([]);
        assert_eq!(
            validate(v).expect_err("empty"),
            "services: must name at least one service"
        );
    }

    #[test]
    fn prod_needs_a_change_request_and_dev_is_no_target() {
        let mut v = prod();
        v["change_request"] = Value::Null;
        assert_eq!(
            validate(v).expect_err("refused"),
            "change_request: is required for a release to prod (CHG-<digits>)"
        );
        let mut v = prod();
        v["target_env"] = json!("dev");
        assert!(validate(v)
            .expect_err("refused")
            .starts_with("target_env: "));
        let mut v = prod();
        v["emergency"] = json!({"incident": "nope"});
        assert!(validate(v)
            .expect_err("refused")
            .contains("emergency.incident"));
        let mut v = prod();
        v["extra"] = json!(1);
        assert!(validate(v)
            .expect_err("refused")
            .starts_with("extra: unknown field"));
    }

    #[test]
    fn phase_names_fit_in_eighty_characters_and_stay_distinct() {
        assert_eq!(phase_execution_name("r", 2), "r-p2");
        let long = "x".repeat(80);
        let a = phase_execution_name(&long, 1);
        let b = phase_execution_name(&long, 2);
        assert!(a.len() <= 80 && b.len() <= 80 && a != b, "{a} {b}");
        let other = format!("{}y", "x".repeat(79));
        assert_ne!(
            phase_execution_name(&other, 1),
            a,
            "the hash tells long names apart"
        );
    }

    #[test]
    fn a_release_reference_names_a_release_execution_of_the_same_environment() {
        let ok = ReleaseRef {
            execution_arn: "arn:aws:states:af-south-1:815856636111:execution:bbws-release-sit:r1"
                .into(),
            phase: 1,
        };
        assert_eq!(ok.validate(Env::Sit), Ok(()));
        assert!(ok.validate(Env::Prod).is_err());
        let bad = ReleaseRef {
            execution_arn: "arn:aws:states:af-south-1:815856636111:execution:bbws-promote-sit:r1"
                .into(),
            phase: 1,
        };
        assert!(bad.validate(Env::Sit).is_err());
    }

    fn pkg(name: &str, version: &str) -> ApprovedPackage {
        ApprovedPackage {
            name: name.into(),
            version: version.into(),
            code_sha256: format!("sha-{name}-{version}"),
        }
    }

    #[test]
    fn an_approval_covers_only_its_phase_service_and_packages() {
        let approved = [pkg("a", "3"), pkg("b", "7")];
        assert_eq!(
            covers(
                "s",
                &approved,
                "r-p1",
                "s",
                "r-p1",
                &[pkg("b", "7"), pkg("a", "3")]
            ),
            None
        );
        assert!(covers("s", &approved, "r-p1", "t", "r-p1", &approved).is_some());
        let e =
            covers("s", &approved, "r-p1", "s", "manual-run", &approved).expect("not the phase");
        assert!(e.contains("not the release's phase execution"), "{e}");
        let e = covers(
            "s",
            &approved,
            "r-p1",
            "s",
            "r-p1",
            &[pkg("a", "4"), pkg("b", "7")],
        )
        .expect("moved");
        assert!(e.contains("this promotion would deploy a 4"), "{e}");
    }
}
