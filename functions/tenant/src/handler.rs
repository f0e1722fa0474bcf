//! The tenant steps of `bbws-tenant-<env>` (RB-003 §3.2.4, §4.3.4, §6.2.3):
//!
//! - `plan`: the request validated, each tenant's commit resolved (given; in PROD SIT's current
//!   one, or a given one SIT applied; for a rollback the one before the latest apply), who
//!   approves, where the builds put the plans: the [`TenantPlan`] every later step works from;
//! - `review`: each plan build's `plan-summary.json` and `plan.json` read back and checked against
//!   the plan asked for, then RB-003 §4.3.4 (PROD refuses deletes and replaces, naming each
//!   address; elsewhere they are called out to the approvers);
//! - `window`: PROD's maintenance window, right before the apply (an approval can come hours
//!   later); a rollback (which carries an incident) may run outside it;
//! - `verify`: each tenant's `<tenant_id>-wordpress` service in `bbws-cluster-<env>`, ACTIVE with
//!   running = desired, within the configured time.
//!
//! Every step only reads: it is safe to run again.

use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::env::{Env, PromotionPath};
use bbws_domain::errors::join_field_errors;
use bbws_domain::naming::deployments_table;
use bbws_domain::tenant::{TenantAction, TenantRequest};
use bbws_domain::tenant_flow::{
    history_from_records, record_service, resolve_targets, review, PlanArtifact, ReviewRefusal,
    TenantHistory, TenantPlan, VerifyVerdict,
};
use bbws_domain::windows::{check_window, outside_window_cause, WindowCheck};
use bbws_domain::ErrorName;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tracing::info;

use crate::ports::{Plans, Records, Services};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Plan {
        input: Value,
        execution_arn: String,
        execution_name: String,
        started_at: String,
    },
    Review {
        tenant: TenantPlan,
    },
    Window {
        tenant: TenantPlan,
    },
    Verify {
        tenant: TenantPlan,
        applied_at: String,
    },
}

/// The tenant steps, with what they read.
pub struct App<R, S, P, E> {
    /// This account's deployment records.
    pub here: R,
    /// SIT's records (PROD only; `None` elsewhere, an error when the reader cannot be reached).
    pub sit: Option<Result<S, BbwsError>>,
    /// The plans' artifacts.
    pub plans: P,
    /// The tenants' ECS services.
    pub services: E,
    /// The deployed settings, or why they cannot be used.
    pub settings: Result<Settings, BbwsError>,
}

impl<R: Records, S: Records, P: Plans, E: Services> App<R, S, P, E> {
    /// One tenant step.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the tenant event", event)? {
            Event::Plan {
                input,
                execution_arn,
                execution_name,
                started_at,
            } => {
                let plan = self
                    .plan(settings, &input, execution_arn, execution_name, started_at)
                    .await?;
                to_value(&plan)
            }
            Event::Review { tenant } => self.review(settings, &tenant).await,
            Event::Window { tenant } => window(settings, &tenant, Utc::now()),
            Event::Verify { tenant, applied_at } => {
                self.verify(&tenant, &applied_at, Utc::now()).await
            }
        }
    }

    async fn plan(
        &self,
        settings: &Settings,
        input: &Value,
        execution_arn: String,
        execution_name: String,
        started_at: String,
    ) -> Result<TenantPlan, BbwsError> {
        let invalid = |m: String| BbwsError::new(ErrorName::InvalidInput, m);
        let request = TenantRequest::validate(input).map_err(|e| invalid(e.to_string()))?;
        if request.environment != settings.env {
            return Err(invalid(format!(
                "environment: '{}' is not this state machine's environment (bbws-tenant-{} \
                 applies to {} only)",
                request.environment.as_str(),
                settings.env.as_str(),
                settings.env.as_str()
            )));
        }
        let project = settings
            .tenant_project
            .clone()
            .ok_or_else(|| BbwsError::config("BBWS_TENANT_PROJECT is not set"))?;
        let artifacts_bucket = settings
            .tenant_artifacts_bucket
            .clone()
            .ok_or_else(|| BbwsError::config("BBWS_TENANT_ARTIFACTS_BUCKET is not set"))?;
        let table = &settings.deployments_table;
        let mut here = BTreeMap::new();
        for t in &request.tenants {
            let records = self.here.of_service(table, &record_service(t)).await?;
            here.insert(t.clone(), history_from_records(&records));
        }
        // SIT's records matter to a PROD apply only; SIT's table has SIT's name.
        let mut sit = BTreeMap::new();
        if request.environment == Env::Prod && request.action == TenantAction::Apply {
            let reader =
                match &self.sit {
                    Some(Ok(r)) => r,
                    Some(Err(e)) => return Err(e.clone()),
                    None => return Err(BbwsError::config(
                        "BBWS_SOURCE_READER_ROLE_ARN is not set: PROD reads SIT's tenant records \
                         through SIT's reader role",
                    )),
                };
            for t in &request.tenants {
                let records = reader
                    .of_service(&deployments_table(Env::Sit), &record_service(t))
                    .await?;
                sit.insert(t.clone(), history_from_records(&records));
            }
        }
        let artifacts_root = format!("tenant/{}/{}", request.environment.as_str(), execution_name);
        let history =
            |m: &BTreeMap<String, TenantHistory>, t: &str| m.get(t).cloned().unwrap_or_default();
        let targets = resolve_targets(
            &request,
            &|t| history(&here, t),
            &|t| history(&sit, t),
            &artifacts_root,
        )
        .map_err(|errors| invalid(join_field_errors(&errors)))?;
        let config = &settings.config;
        let plan = TenantPlan {
            execution_arn,
            execution_name,
            started_at,
            approval: config
                .approvals
                .for_tenant(request.environment, request.action)
                .cloned(),
            approval_timeout_seconds: config.approval_timeout_seconds,
            project,
            artifacts_bucket,
            artifacts_root,
            policy: config.tenants.clone(),
            targets,
            request,
        };
        for t in &plan.targets {
            info!(event = "tenant_target", tenant = %t.tenant_id, commit = %t.commit,
                  source = ?t.commit_source, current = ?t.current_commit,
                  "{} gets {} ({:?}); it has {}", t.tenant_id, t.commit, t.commit_source,
                  t.current_commit.as_deref().unwrap_or("no recorded commit"));
        }
        Ok(plan)
    }

    async fn review(&self, settings: &Settings, plan: &TenantPlan) -> Result<Value, BbwsError> {
        let bucket = &plan.artifacts_bucket;
        let mut read = Vec::new();
        for t in &plan.targets {
            let summary_key = format!("{}/plan-summary.json", t.artifacts_prefix);
            let json_key = format!("{}/plan.json", t.artifacts_prefix);
            let missing = |key: &str| {
                BbwsError::new(
                    ErrorName::PlanArtifactInvalid,
                    format!(
                        "the plan of {}: s3://{bucket}/{key} is missing (did its plan build \
                         run?)",
                        t.tenant_id
                    ),
                )
            };
            let summary = self
                .plans
                .get(bucket, &summary_key)
                .await?
                .ok_or_else(|| missing(&summary_key))?;
            let artifact: PlanArtifact = serde_json::from_slice(&summary).map_err(|e| {
                BbwsError::new(
                    ErrorName::PlanArtifactInvalid,
                    format!(
                        "the plan of {}: {summary_key} does not read: {e}",
                        t.tenant_id
                    ),
                )
            })?;
            let body = self
                .plans
                .get(bucket, &json_key)
                .await?
                .ok_or_else(|| missing(&json_key))?;
            let sha = hex(&Sha256::digest(&body));
            let json: Value = serde_json::from_slice(&body).map_err(|e| {
                BbwsError::new(
                    ErrorName::PlanArtifactInvalid,
                    format!("the plan of {}: {json_key} is not JSON: {e}", t.tenant_id),
                )
            })?;
            read.push((artifact, sha, json));
        }
        let reviewed = review(settings.env, &plan.targets, &read).map_err(|r| match r {
            ReviewRefusal::BadArtifact(m) => BbwsError::new(ErrorName::PlanArtifactInvalid, m),
            ReviewRefusal::DestroyBlocked(m) => BbwsError::new(ErrorName::DestroyBlocked, m),
        })?;
        for p in &reviewed.plans {
            info!(event = "plan_reviewed", tenant = %p.tenant_id, add = p.summary.add,
                  change = p.summary.change, destroy = p.summary.destroy, tfplan_sha256 = %p.tfplan_sha256,
                  "{}: {}", p.tenant_id, p.summary.headline());
        }
        to_value(&reviewed)
    }

    async fn verify(
        &self,
        plan: &TenantPlan,
        applied_at: &str,
        now: DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let applied_at = DateTime::parse_from_rfc3339(applied_at)
            .map_err(|e| BbwsError::invalid_event(format!("applied_at '{applied_at}': {e}")))?
            .to_utc();
        let cluster = format!("bbws-cluster-{}", plan.request.environment.as_str());
        let wanted: Vec<(String, String)> = plan
            .targets
            .iter()
            .map(|t| (t.tenant_id.clone(), format!("{}-wordpress", t.tenant_id)))
            .collect();
        let seen = self.services.describe(&cluster, &wanted).await?;
        let verdict = bbws_domain::tenant_flow::verify(&seen, applied_at, now, &plan.policy);
        info!(event = "verify", cluster = %cluster, verdict = ?verdict, "tenant services: {verdict:?}");
        match verdict {
            VerifyVerdict::Verified { services } => {
                to_value(&json!({"verified": true, "services": services}))
            }
            VerifyVerdict::Waiting {
                pending,
                seconds_left,
            } => to_value(&json!({"verified": false, "pending": pending,
                "seconds_left": seconds_left, "poll_seconds": plan.policy.verify_poll_seconds})),
            VerifyVerdict::Failed { message } => Err(BbwsError::new(
                ErrorName::TenantNotVerified,
                format!("in {cluster}: {message}"),
            )),
        }
    }
}

/// PROD's maintenance window (RB-003 §4.1.2), checked again right before the apply.
fn window(settings: &Settings, plan: &TenantPlan, now: DateTime<Utc>) -> Result<Value, BbwsError> {
    let config = &settings.config;
    let path = match plan.request.environment {
        Env::Prod => PromotionPath::SitToProd,
        _ => PromotionPath::DevToSit,
    };
    // A rollback carries its incident (required in PROD): it may restore outside the window.
    let emergency = plan.request.action == TenantAction::Rollback;
    let check = check_window(path, now, &config.maintenance_windows, emergency);
    info!(event = "window", check = ?check, "maintenance window: {check:?}");
    match check {
        WindowCheck::Refused { .. } => Err(BbwsError::new(
            ErrorName::OutsideMaintenanceWindow,
            outside_window_cause(
                plan.request.environment,
                now,
                &config.maintenance_windows,
                &config.approvals.emergency,
            ),
        )),
        other => to_value(&other),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bbws_domain::tenant_flow::ServiceObservation;
    use std::sync::Mutex;

    const A: &str = "1111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222";

    #[derive(Default)]
    struct MemRecords(BTreeMap<String, Vec<Value>>);
    impl Records for MemRecords {
        async fn of_service(&self, _table: &str, service: &str) -> Result<Vec<Value>, BbwsError> {
            Ok(self.0.get(service).cloned().unwrap_or_default())
        }
    }

    #[derive(Default)]
    struct MemPlans(BTreeMap<String, Vec<u8>>);
    impl Plans for MemPlans {
        async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
            Ok(self.0.get(&format!("{bucket}/{key}")).cloned())
        }
    }

    #[derive(Default)]
    struct MemServices(Mutex<Vec<ServiceObservation>>);
    impl Services for MemServices {
        async fn describe(
            &self,
            _cluster: &str,
            _services: &[(String, String)],
        ) -> Result<Vec<ServiceObservation>, BbwsError> {
            Ok(self.0.lock().map(|v| v.clone()).unwrap_or_default())
        }
    }

    fn settings(env: &str) -> Settings {
        let vars: BTreeMap<&str, &str> = [
            ("BBWS_ENV", env),
            ("BBWS_TENANT_PROJECT", "bbws-tenant-build-x"),
            ("BBWS_TENANT_ARTIFACTS_BUCKET", "plans"),
        ]
        .into_iter()
        .collect();
        Settings::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned())).expect("settings")
    }

    fn record(commit: &str, at: &str) -> Value {
        json!({"action": "tenant", "outcome": "succeeded", "timestamp": at, "commit": commit})
    }

    type TestApp = App<MemRecords, MemRecords, MemPlans, MemServices>;

    fn app(env: &str, here: MemRecords, sit: Option<MemRecords>) -> TestApp {
        App {
            here,
            sit: sit.map(Ok),
            plans: MemPlans::default(),
            services: MemServices::default(),
            settings: Ok(settings(env)),
        }
    }

    fn plan_event(input: Value) -> Value {
        json!({"op": "plan", "input": input, "execution_name": "t1", "started_at": "2026-12-01T20:05:00Z",
               "execution_arn": "arn:aws:states:af-south-1:093646564004:execution:bbws-tenant-prod:t1"})
    }

    #[tokio::test]
    async fn prod_plans_sits_current_commit_with_sit_to_prod_approvers() {
        let sit = MemRecords(
            [(
                "tenant:tenant-001".to_owned(),
                vec![
                    record(A, "2026-11-01T00:00:00Z"),
                    record(B, "2026-11-02T00:00:00Z"),
                ],
            )]
            .into_iter()
            .collect(),
        );
        let here = MemRecords(
            [(
                "tenant:tenant-001".to_owned(),
                vec![record(A, "2026-11-03T00:00:00Z")],
            )]
            .into_iter()
            .collect(),
        );
        let out = app("prod", here, Some(sit))
            .handle(plan_event(
                json!({"environment": "prod", "tenants": ["tenant-001"],
                "reason": "memory", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
            ))
            .await
            .expect("planned");
        assert_eq!(out["targets"][0]["commit"], B);
        assert_eq!(out["targets"][0]["commit_source"], "sit");
        assert_eq!(out["targets"][0]["current_commit"], A);
        assert_eq!(
            out["targets"][0]["artifacts_prefix"],
            "tenant/prod/t1/tenant-001"
        );
        assert_eq!(
            out["approval"],
            json!({"all_of": ["tech_lead", "operations_lead"]})
        );
        assert_eq!(out["project"], "bbws-tenant-build-x");
    }

    #[tokio::test]
    async fn a_request_for_another_environment_or_without_sit_history_is_invalid_input() {
        let e = app("sit", MemRecords::default(), None)
            .handle(plan_event(
                json!({"environment": "prod", "tenants": ["tenant-001"],
                "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
            ))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::InvalidInput);
        assert!(
            e.message
                .starts_with("environment: 'prod' is not this state machine's"),
            "{}",
            e.message
        );
        let e = app("prod", MemRecords::default(), Some(MemRecords::default()))
            .handle(plan_event(
                json!({"environment": "prod", "tenants": ["tenant-001"],
                "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}),
            ))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::InvalidInput);
        assert!(
            e.message
                .contains("tenants[0]: tenant-001 has no successful apply recorded in SIT"),
            "{}",
            e.message
        );
    }

    fn tenant_plan(env: &str) -> TenantPlan {
        let request =
            TenantRequest::validate(&json!({"environment": env, "tenants": ["tenant-001"],
            "commit": A, "reason": "r", "requested_by": "ops@bbws.io", "change_request": "CHG-1"}))
            .expect("valid");
        TenantPlan {
            execution_arn: "arn".into(),
            execution_name: "t1".into(),
            started_at: "2026-12-01T20:05:00Z".into(),
            targets: vec![bbws_domain::tenant_flow::TenantTarget {
                tenant_id: "tenant-001".into(),
                commit: A.into(),
                commit_source: bbws_domain::tenant_flow::CommitSource::Given,
                current_commit: None,
                artifacts_prefix: format!("tenant/{env}/t1/tenant-001"),
            }],
            request,
            approval: None,
            approval_timeout_seconds: 60,
            project: "p".into(),
            artifacts_bucket: "plans".into(),
            artifacts_root: format!("tenant/{env}/t1"),
            policy: Default::default(),
        }
    }

    fn with_plan(app: &mut TestApp, env: &str, plan_json: &Value, recorded_sha: Option<&str>) {
        let body = plan_json.to_string().into_bytes();
        let sha = recorded_sha.map_or_else(|| hex(&Sha256::digest(&body)), str::to_owned);
        let prefix = format!("plans/tenant/{env}/t1/tenant-001");
        let summary = json!({"tenant_id": "tenant-001", "env": env, "commit": A,
            "tfplan_sha256": "c".repeat(64), "plan_json_sha256": sha, "changes": {}});
        app.plans.0.insert(
            format!("{prefix}/plan-summary.json"),
            summary.to_string().into_bytes(),
        );
        app.plans.0.insert(format!("{prefix}/plan.json"), body);
    }

    #[tokio::test]
    async fn review_reads_the_artifacts_and_blocks_a_prod_delete() {
        let deleting = json!({"format_version": "1.2", "resource_changes": [
            {"address": "module.wordpress.aws_ssm_parameter.php", "change": {"actions": ["delete"]}}]});
        let mut a = app("prod", MemRecords::default(), None);
        with_plan(&mut a, "prod", &deleting, None);
        let e = a
            .handle(json!({"op": "review", "tenant": tenant_plan("prod")}))
            .await
            .expect_err("blocked");
        assert_eq!(e.error_type, ErrorName::DestroyBlocked);
        assert!(
            e.message
                .contains("module.wordpress.aws_ssm_parameter.php (delete)"),
            "{}",
            e.message
        );
        let mut s = app("sit", MemRecords::default(), None);
        with_plan(&mut s, "sit", &deleting, None);
        let out = s
            .handle(json!({"op": "review", "tenant": tenant_plan("sit")}))
            .await
            .expect("reviewed");
        assert_eq!(
            out["tfplan_sha256s"],
            format!("tenant-001={}", "c".repeat(64))
        );
        assert_eq!(
            out["callouts"][0],
            "tenant-001: module.wordpress.aws_ssm_parameter.php (delete)"
        );
    }

    #[tokio::test]
    async fn review_refuses_a_plan_json_that_is_not_the_one_recorded_or_missing() {
        let mut a = app("sit", MemRecords::default(), None);
        with_plan(
            &mut a,
            "sit",
            &json!({"format_version": "1.2"}),
            Some(&"d".repeat(64)),
        );
        let e = a
            .handle(json!({"op": "review", "tenant": tenant_plan("sit")}))
            .await
            .expect_err("refused");
        assert_eq!(e.error_type, ErrorName::PlanArtifactInvalid);
        assert!(e.message.contains("SHA-256 of plan.json"), "{}", e.message);
        let empty = app("sit", MemRecords::default(), None);
        let e = empty
            .handle(json!({"op": "review", "tenant": tenant_plan("sit")}))
            .await
            .expect_err("refused");
        assert!(
            e.message.contains("plan-summary.json is missing"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn verify_waits_then_names_the_service_that_never_settled() {
        let a = app("sit", MemRecords::default(), None);
        if let Ok(mut v) = a.services.0.lock() {
            v.push(ServiceObservation {
                tenant_id: "tenant-001".into(),
                service: "tenant-001-wordpress".into(),
                status: Some("ACTIVE".into()),
                desired: 1,
                running: 0,
                rollout: Some("IN_PROGRESS".into()),
            });
        }
        let plan = tenant_plan("sit");
        let now = Utc::now();
        let out = a
            .verify(&plan, &now.to_rfc3339(), now)
            .await
            .expect("waiting");
        assert_eq!(out["verified"], false);
        assert_eq!(out["poll_seconds"], 15);
        let late = now - chrono::Duration::seconds(601);
        let e = a
            .verify(&plan, &late.to_rfc3339(), now)
            .await
            .expect_err("failed");
        assert_eq!(e.error_type, ErrorName::TenantNotVerified);
        assert!(
            e.message
                .contains("tenant-001-wordpress: ACTIVE, 0 of 1 running"),
            "{}",
            e.message
        );
    }

    #[test]
    fn prod_applies_refuse_a_closed_window_rollbacks_do_not() {
        let s = settings("prod");
        // Saturday 03:00 UTC: outside the runbook's windows.
        let closed = DateTime::parse_from_rfc3339("2026-12-05T03:00:00Z")
            .expect("t")
            .to_utc();
        let e = window(&s, &tenant_plan("prod"), closed).expect_err("closed");
        assert_eq!(e.error_type, ErrorName::OutsideMaintenanceWindow);
        let mut rollback = tenant_plan("prod");
        rollback.request.action = TenantAction::Rollback;
        assert!(window(&s, &rollback, closed).is_ok());
        assert!(window(&settings("sit"), &tenant_plan("sit"), closed).is_ok());
    }
}
