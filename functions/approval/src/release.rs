//! A release's approval: one round for every phase (`request_release`), and a phase's child
//! promotion accepting it (`accept_release`) instead of asking again.

use bbws_aws::{BbwsError, Settings};
use bbws_domain::tenant_flow::TenantReview;
use bbws_domain::{
    covers, ApprovedPackage, ErrorName, Preflight, PromotionPlan, ReleasePlan, ReleaseRef,
    Requirement,
};
use chrono::Utc;
use serde_json::{json, Value};
use tracing::info;

use crate::handler::{App, Ask};
use crate::ports::{Callbacks, Mail, Parameters, Store};

/// The range key of the item that points from a release execution to its approval request.
const POINTER: &str = "release";

impl<S: Store, C: Callbacks, M: Mail, P: Parameters> App<S, C, M, P> {
    pub(crate) async fn request_release(
        &self,
        settings: &Settings,
        token: &str,
        release: &ReleasePlan,
        preflight: &Value,
        review: Option<&TenantReview>,
        started: chrono::DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let requirement: Requirement = serde_json::from_value(preflight["approval"].clone())
            .map_err(|e| BbwsError::invalid_event(format!("preflight.approval: {e}")))?;
        let r = &release.request;
        let mut lines = Vec::new();
        let mut phases = Vec::new();
        for p in preflight["phases"].as_array().into_iter().flatten() {
            let packages: Vec<Value> = p["source"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| json!({"name": f["name"], "version": f["version"], "code_sha256": f["code_sha256"],
                                "target": f["target"]}))
                .collect();
            lines.push(format!(
                "{}. {}",
                p["index"].as_u64().unwrap_or(0),
                p["service"].as_str().unwrap_or("?")
            ));
            for f in &packages {
                let now: Vec<String> = p["current"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|c| c["function"] == f["target"])
                    .map(|c| {
                        format!(
                            "{} in {}",
                            c["version"].as_str().unwrap_or("?"),
                            c["region"].as_str().unwrap_or("?")
                        )
                    })
                    .collect();
                lines.push(format!(
                    "   {} version {} (CodeSha256 {}) -> {} (now {})",
                    f["name"].as_str().unwrap_or("?"),
                    f["version"].as_str().unwrap_or("?"),
                    f["code_sha256"].as_str().unwrap_or("?"),
                    f["target"].as_str().unwrap_or("?"),
                    now.join(", ")
                ));
            }
            // The checks go with the phase for the page's flags (a rule an emergency skipped).
            phases.push(json!({"index": p["index"], "service": p["service"],
                               "execution_name": p["execution_name"], "packages": packages,
                               "current": p["current"], "checks": p["checks"]}));
        }
        let intro = format!(
            "{} asks to release {} service(s) from {} into {}, one after the other with a health \
             wait between them (RB-003 §5.2.1):\n\n{}\n\nReason: {}\nChange request: {}\nOne \
             approval covers every phase; each phase deploys exactly the packages listed.",
            r.requested_by,
            release.phases.len(),
            release.source_env.label(),
            release.target_env.label(),
            lines.join("\n"),
            r.reason,
            r.change_request.as_deref().unwrap_or("-"),
        );
        let tenant_plans = review.map(|v| v.plans.as_slice()).unwrap_or_default();
        let mut intro = intro;
        if let Some(review) = review.filter(|v| !v.plans.is_empty()) {
            intro.push_str(&format!(
                "\n\nPhase 4, last (RB-003 §5.2.1): the Terraform of {} tenant(s), applied exactly \
                 as planned here:\n",
                review.plans.len()
            ));
            intro.push_str(&crate::tenant::plan_lines(review).join("\n"));
        }
        let what = format!(
            "release of {} into {}",
            r.services.join(", "),
            release.target_env.label()
        );
        let fields = json!({
            "tenants": tenant_plans.iter().map(|p| p.tenant_id.clone()).collect::<Vec<_>>(),
            "plans": crate::tenant::plans_fields(tenant_plans, crate::tenant::PLANS_BUDGET_BYTES),
            "kind": "release",
            "service": r.services.join(", "),
            "source_env": release.source_env.as_str(),
            "target_env": release.target_env.as_str(),
            "phases": phases,
            "reason": r.reason,
            "change_request": r.change_request,
            "incident": r.emergency.as_ref().map(|e| e["incident"].clone()),
        });
        let answer = self
            .ask(
                settings,
                token,
                Ask {
                    execution_arn: &release.execution_arn,
                    requirement,
                    requester: r.requested_by.clone(),
                    timeout_seconds: release.approval_timeout_seconds,
                    started,
                    fields,
                    intro,
                    email_subject: format!("Approval wanted: {what}"),
                    notify_subject: format!("Approval wanted: {what}"),
                    what,
                },
            )
            .await?;
        // The phases find the request from the release execution (a retry points at the newest).
        let pointer = json!({"request_id": release.execution_arn, "item": POINTER,
                             "request": answer["request_id"], "created_at": Utc::now().to_rfc3339()});
        if let Value::Object(map) = pointer {
            self.store.put(&settings.approvals_table, &map).await?;
        }
        Ok(answer)
    }

    /// A phase of a release accepts the release's approval: only its own release's, approved,
    /// for its service and exactly the packages its preflight resolved, and only once.
    pub(crate) async fn accept_release(
        &self,
        settings: &Settings,
        plan: &PromotionPlan,
        preflight: &Preflight,
        execution_arn: &str,
        execution_name: &str,
    ) -> Result<Value, BbwsError> {
        let refuse = |why: String| {
            info!(event = "release_approval_refused", service = %plan.service, execution = %execution_name,
                  "the release's approval does not cover {execution_name}: {why}");
            BbwsError::new(
                ErrorName::ApprovalRejected,
                format!("the release's approval does not cover this promotion: {why}; nothing was deployed"),
            )
        };
        let release: ReleaseRef = plan
            .request
            .release
            .clone()
            .ok_or_else(|| refuse("the request names no release".to_owned()))?;
        let table = &settings.approvals_table;
        let pointer = self
            .store
            .get(table, &release.execution_arn, POINTER)
            .await?
            .ok_or_else(|| refuse(format!("{} asked nobody to approve", release.execution_arn)))?;
        let request_id = pointer
            .get("request")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let request = self
            .store
            .get(table, &request_id, "request")
            .await?
            .ok_or_else(|| refuse(format!("approval request {request_id} is gone")))?;
        let text = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or_default();
        if text("kind") != "release" || text("execution_arn") != release.execution_arn {
            return Err(refuse(format!(
                "{request_id} is not the approval of {}",
                release.execution_arn
            )));
        }
        if text("status") != "approved" {
            return Err(refuse(format!(
                "the release is {} (not approved)",
                text("status")
            )));
        }
        let phases = request
            .get("phases")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(phase) = phases
            .iter()
            .find(|p| p["index"].as_u64() == Some(u64::from(release.phase)))
        else {
            return Err(refuse(format!(
                "the release has no phase {}",
                release.phase
            )));
        };
        let approved: Vec<ApprovedPackage> = serde_json::from_value(phase["packages"].clone())
            .map_err(|e| BbwsError::invalid_event(format!("stored release phase: {e}")))?;
        let resolved: Vec<ApprovedPackage> = preflight
            .source
            .iter()
            .map(|s| ApprovedPackage {
                name: s.function.name.clone(),
                version: s.function.version.clone(),
                code_sha256: s.function.code_sha256.clone(),
            })
            .collect();
        if let Some(why) = covers(
            phase["service"].as_str().unwrap_or_default(),
            &approved,
            phase["execution_name"].as_str().unwrap_or_default(),
            &plan.service,
            execution_name,
            &resolved,
        ) {
            return Err(refuse(why));
        }
        // Each phase's approval is used once: by the phase execution the release started.
        let used = json!({"request_id": request_id, "item": format!("phase#{}", release.phase),
                          "execution_arn": execution_arn, "at": Utc::now().to_rfc3339()});
        if let Value::Object(map) = used {
            if !self.store.put_if_absent(table, &map).await? {
                let holder = self
                    .store
                    .get(table, &request_id, &format!("phase#{}", release.phase))
                    .await?
                    .and_then(|i| {
                        i.get("execution_arn")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_default();
                if holder != execution_arn {
                    return Err(refuse(format!(
                        "phase {} was already run by {holder}",
                        release.phase
                    )));
                }
            }
        }
        info!(event = "release_approval_accepted", request_id = %request_id, phase = release.phase,
              service = %plan.service, "phase {} ({}) runs under release approval {request_id}", release.phase, plan.service);
        Ok(
            json!({"request_id": request_id, "approvers": request.get("approvers").cloned().unwrap_or(Value::Null),
                  "release": release.execution_arn, "phase": release.phase}),
        )
    }
}
