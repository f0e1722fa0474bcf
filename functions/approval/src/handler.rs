//! Approval: the promotion's task-token wait (RB-003 §2.2, §4.2), answered by signed email links.
//!
//! Task face (`op: request`, and `request_rollback`, `request_release`, `request_tenant` for a
//! manual rollback, a release and a tenant execution's Terraform plans; invoked with
//! `.waitForTaskToken`): keeps the task token server-side in
//! `bbws-approvals-<env>` with what is being approved, who must approve and the deadline, and sends
//! every eligible approver one email with an Approve and a Reject link (HMAC-signed, see
//! `bbws_domain::links`; the token is never in a link, an email, a log line or an output).
//!
//! HTTP face (the function URL): `GET /decide?t=…` shows the request and a confirm form and changes
//! nothing; `POST /decide` records the decision. The quorum rules are the domain's; each role is given
//! once (conditional write); the request leaves `pending` once (conditional update), so exactly one
//! SendTaskSuccess or SendTaskFailure is sent. Every decision and refusal is audited.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bbws_aws::approvals::{Callback, READY};
use bbws_aws::runtime::{parse, to_value};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::links::{sign, LinkClaims, LinkDecision};
use bbws_domain::naming::approval_request_id;
use bbws_domain::tenant_flow::{TenantPlan, TenantReview};
use bbws_domain::{
    Directory, ErrorName, Preflight, PromotionPlan, ReleasePlan, Requirement, Resolution, Role,
    RollbackPlan,
};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::info;

use crate::deliver::{deliver, Decision, IfGone};
use crate::http;
use crate::ports::{Callbacks, Mail, Parameters, Store};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Event {
    Request {
        task_token: String,
        promotion: PromotionPlan,
        preflight: Preflight,
        /// When the wait began (`$$.State.EnteredTime`): the deadline counts from there, as the
        /// Task's timeout does, so no link outlives the wait.
        entered_at: Option<String>,
    },
    RequestRollback {
        task_token: String,
        rollback: RollbackPlan,
        target: Resolution,
        entered_at: Option<String>,
    },
    RequestRelease {
        task_token: String,
        release: ReleasePlan,
        preflight: Value,
        /// Phase 4's tenant plans, reviewed (empty when the release has no tenants).
        #[serde(default)]
        review: Option<TenantReview>,
        entered_at: Option<String>,
    },
    RequestTenant {
        task_token: String,
        tenant: TenantPlan,
        review: TenantReview,
        entered_at: Option<String>,
    },
    AcceptRelease {
        promotion: PromotionPlan,
        preflight: Preflight,
        execution_arn: String,
        execution_name: String,
    },
}

/// When the wait began; now if the state machine did not say.
fn started(entered_at: Option<String>) -> chrono::DateTime<Utc> {
    entered_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(Utc::now)
}

/// Links stop working this long before the wait's own timeout, so an answer never arrives at a
/// wait that has just ended.
const DEADLINE_MARGIN_SECONDS: i64 = 2;

/// What the function reads from SSM: the signing key, the approver directory, its own URL.
#[derive(Clone)]
pub struct Secrets {
    pub key: Vec<u8>,
    pub directory: Directory,
    pub base_url: String,
}

/// SSM values are read at most every five minutes (a rotated key is picked up within that).
const SECRETS_TTL: Duration = Duration::from_secs(300);

/// The approval function: this account's approvals table, waits, mail and parameters, the
/// deployed settings and the secrets read from the parameters (cached).
pub struct App<S, C, M, P> {
    /// The approvals table.
    pub store: S,
    /// The waits' task tokens.
    pub callbacks: C,
    /// The approval emails and the events topic.
    pub mail: M,
    /// The signing key, the approver directory and the function's URL.
    pub parameters: P,
    /// The deployed settings, or why they cannot be used (every event is then refused).
    pub settings: Result<Settings, BbwsError>,
    secrets: Mutex<Option<(Instant, Secrets)>>,
}

impl<S: Store, C: Callbacks, M: Mail, P: Parameters> App<S, C, M, P> {
    /// The approval function over these ports.
    pub fn new(
        store: S,
        callbacks: C,
        mail: M,
        parameters: P,
        settings: Result<Settings, BbwsError>,
    ) -> Self {
        App {
            store,
            callbacks,
            mail,
            parameters,
            settings,
            secrets: Mutex::new(None),
        }
    }

    /// One event: an HTTP request of the function URL, else a step of a state machine.
    pub async fn handle(&self, event: Value) -> Result<Value, BbwsError> {
        if event.get("requestContext").is_some() {
            return Ok(http::handle(self, event).await);
        }
        let settings = self.settings.as_ref().map_err(Clone::clone)?;
        match parse::<Event>("the approval event", event)? {
            Event::Request {
                task_token,
                promotion,
                preflight,
                entered_at,
            } => {
                self.request(
                    settings,
                    &task_token,
                    &promotion,
                    &preflight,
                    started(entered_at),
                )
                .await
            }
            Event::RequestRelease {
                task_token,
                release,
                preflight,
                review,
                entered_at,
            } => {
                self.request_release(
                    settings,
                    &task_token,
                    &release,
                    &preflight,
                    review.as_ref(),
                    started(entered_at),
                )
                .await
            }
            Event::AcceptRelease {
                promotion,
                preflight,
                execution_arn,
                execution_name,
            } => {
                self.accept_release(
                    settings,
                    &promotion,
                    &preflight,
                    &execution_arn,
                    &execution_name,
                )
                .await
            }
            Event::RequestRollback {
                task_token,
                rollback,
                target,
                entered_at,
            } => {
                self.request_rollback(
                    settings,
                    &task_token,
                    &rollback,
                    &target,
                    started(entered_at),
                )
                .await
            }
            Event::RequestTenant {
                task_token,
                tenant,
                review,
                entered_at,
            } => {
                self.request_tenant(settings, &task_token, &tenant, &review, started(entered_at))
                    .await
            }
        }
    }

    /// The signing key, directory and base URL, cached for [`SECRETS_TTL`].
    pub async fn secrets(&self) -> Result<Secrets, BbwsError> {
        let mut guard = self.secrets.lock().await;
        if let Some((at, s)) = guard.as_ref() {
            if at.elapsed() < SECRETS_TTL {
                return Ok(s.clone());
            }
        }
        let key = self.parameters.named_by("BBWS_APPROVAL_KEY_PARAM").await?;
        let directory_text = self.parameters.named_by("BBWS_APPROVERS_PARAM").await?;
        let directory: Directory = serde_json::from_str(&directory_text)
            .map_err(|e| BbwsError::config(format!("the approver directory: {e}")))?;
        let mut base_url = self.parameters.named_by("BBWS_APPROVAL_URL_PARAM").await?;
        if !base_url.ends_with('/') {
            base_url.push('/');
        }
        let s = Secrets {
            key: key.into_bytes(),
            directory,
            base_url,
        };
        *guard = Some((Instant::now(), s.clone()));
        Ok(s)
    }

    async fn request(
        &self,
        settings: &Settings,
        token: &str,
        plan: &PromotionPlan,
        preflight: &Preflight,
        started: chrono::DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let requirement = preflight.approval.clone();
        let requester = plan.request.requested_by.clone();
        let fields = json!({
            "kind": "promotion",
            "service": plan.service,
            "source_env": plan.source_env.as_str(),
            "target_env": plan.target_env.as_str(),
            "version": plan.version,
            "reason": plan.request.reason,
            "change_request": plan.request.change_request,
            "incident": plan.request.emergency.as_ref().map(|e| &e.incident),
            "emergency": preflight.emergency,
            "source": preflight.source,
            "checks": preflight.checks,
        });
        let packages: Vec<String> = preflight
            .source
            .iter()
            .map(|s| {
                let f = &s.function;
                format!(
                    "  {} version {} (CodeSha256 {})",
                    f.name, f.version, f.code_sha256
                )
            })
            .collect();
        let intro = format!(
            "{requester} asks to promote {} from {} ({}) to {}.\n\nReason: {}\nChange request: {}\nPackages:\n{}",
            plan.service,
            plan.source_env.label(),
            plan.version,
            plan.target_env.label(),
            plan.request.reason,
            plan.request.change_request.as_deref().unwrap_or("-"),
            packages.join("\n"),
        );
        let what = format!(
            "{} {} -> {}",
            plan.service,
            plan.source_env.label(),
            plan.target_env.label()
        );
        self.ask(
            settings,
            token,
            Ask {
                execution_arn: &plan.execution_arn,
                requirement,
                requester,
                timeout_seconds: plan.limits.approval_timeout_seconds,
                started,
                fields,
                intro,
                email_subject: format!("Approval wanted: {what}"),
                notify_subject: format!(
                    "Approval wanted: {} to {}",
                    plan.service,
                    plan.target_env.label()
                ),
                what,
            },
        )
        .await
    }

    /// A manual rollback's approval (RB-003 §7.3 "Rollback approved by").
    async fn request_rollback(
        &self,
        settings: &Settings,
        token: &str,
        plan: &RollbackPlan,
        target: &Resolution,
        started: chrono::DateTime<Utc>,
    ) -> Result<Value, BbwsError> {
        let Some(requirement) = plan.approval.clone() else {
            return Err(BbwsError::invalid_event(format!(
                "a rollback in {} needs no approval; the state machine should not ask",
                plan.environment.label()
            )));
        };
        let moves: Vec<String> = target
            .moves
            .iter()
            .map(|m| {
                format!(
                    "  {} version {} -> {} in {}",
                    m.function, m.from_version, m.to_version, m.region
                )
            })
            .collect();
        let r = &plan.request;
        let intro = format!(
            "{} asks to roll {} back in {} to {}.\n\nReason: {}\nIncident: {}\n{}Versions ({}):\n{}",
            r.requested_by,
            plan.service,
            plan.environment.label(),
            target.target,
            r.reason,
            r.incident.as_deref().unwrap_or("-"),
            if target.forced.is_empty() {
                String::new()
            } else {
                format!("FORCED: never live before: {}\n", target.forced.join(", "))
            },
            plan.alias,
            moves.join("\n"),
        );
        let what = format!(
            "rollback of {} in {}",
            plan.service,
            plan.environment.label()
        );
        let fields = json!({
            "kind": "rollback",
            "service": plan.service,
            "target_env": plan.environment.as_str(),
            "target": target.target,
            "moves": target.moves,
            "forced": target.forced,
            "reason": r.reason,
            "incident": r.incident,
        });
        self.ask(
            settings,
            token,
            Ask {
                execution_arn: &plan.execution_arn,
                requirement,
                requester: r.requested_by.clone(),
                timeout_seconds: plan.approval_timeout_seconds,
                started,
                fields,
                intro,
                email_subject: format!("Approval wanted: {what}"),
                notify_subject: format!("Approval wanted: {what}"),
                what,
            },
        )
        .await
    }

    /// Stores the request with its task token and sends every eligible approver their links.
    ///
    /// Safe to run again for the same step (Step Functions retries the task under a new task
    /// token): the request id is derived from the execution and the step, so a repeated ask finds
    /// its earlier request, stores the new token (links already mailed then decide with it), mails
    /// only the approvers not mailed yet and notifies the events topic only if that did not go out.
    /// A request decided while its token was being replaced gets its decision sent to the new
    /// token.
    pub(crate) async fn ask(
        &self,
        settings: &Settings,
        token: &str,
        ask: Ask<'_>,
    ) -> Result<Value, BbwsError> {
        let secrets = self.secrets().await?;
        let now = Utc::now();
        let requirement = &ask.requirement;
        let to_mail = recipients(requirement, &secrets.directory, &ask.requester);
        if to_mail.is_empty() {
            return Err(BbwsError::config(format!(
                "nobody in the approver directory can approve ({requirement}) besides the requester"
            )));
        }
        let timeout = i64::try_from(ask.timeout_seconds).unwrap_or(i64::MAX / 4);
        let deadline = ask.started + chrono::Duration::seconds(timeout - DEADLINE_MARGIN_SECONDS);
        let kind = ask
            .fields
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("promotion")
            .to_owned();
        let request_id = approval_request_id(ask.execution_arn, &kind);
        let mut item = json!({
            "request_id": request_id,
            "item": "request",
            "status": "pending",
            "task_token": token,
            "execution_arn": ask.execution_arn,
            "requested_by": ask.requester,
            "required": requirement,
            "required_text": requirement.to_string(),
            "created_at": now.to_rfc3339(),
            "deadline": deadline.to_rfc3339(),
            "deadline_epoch": deadline.timestamp(),
            "expires_at": deadline.timestamp() + 90 * 86_400,
        });
        let (Value::Object(map), Value::Object(fields)) = (&mut item, ask.fields) else {
            return Err(BbwsError::invalid_event(
                "the approval request is not an object",
            ));
        };
        map.extend(fields);
        let map = map.clone();
        let table = &settings.approvals_table;
        let fresh = self.store.put_if_absent(table, &map).await?;
        let (deadline, notified_before, mailed) = if fresh {
            (deadline, false, BTreeSet::new())
        } else {
            match self
                .resume_request(settings, token, &request_id, ask.execution_arn)
                .await?
            {
                Resumed::Waiting { deadline, notified } => {
                    let mailed = self
                        .store
                        .items_with_prefix(table, &request_id, MAIL_PREFIX)
                        .await?
                        .iter()
                        .filter_map(|i| i.get("item").and_then(Value::as_str).map(str::to_owned))
                        .collect();
                    (deadline, notified, mailed)
                }
                Resumed::Answered(out) => return Ok(out),
            }
        };

        let pending = still_to_mail(&to_mail, &mailed);
        let mut sent = 0;
        for (role, person) in &pending {
            let link = |decision| -> Result<String, BbwsError> {
                let claims = LinkClaims {
                    request_id: request_id.clone(),
                    approver: person.clone(),
                    role: *role,
                    decision,
                    expires_at: deadline.timestamp(),
                };
                let t = sign(&claims, &secrets.key)
                    .map_err(|e| BbwsError::config(format!("approval signing key: {e}")))?;
                Ok(format!("{}decide?t={t}", secrets.base_url))
            };
            let message = format!(
                "{}\n\nYou are asked as {}. Approvals needed: {requirement}.\n\n\
                 Approve: {}\n\nReject: {}\n\n\
                 Opening a link only shows the request; nothing is decided until you confirm on that page. \
                 The links are yours alone, work once, and expire at {}.\nExecution: {}\n",
                ask.intro,
                role.as_str(),
                link(LinkDecision::Approve)?,
                link(LinkDecision::Reject)?,
                deadline.to_rfc3339(),
                ask.execution_arn,
            );
            self.mail
                .email_approver(
                    &settings.approval_topic_arn,
                    person,
                    &ask.email_subject,
                    &message,
                )
                .await?;
            // Kept once it went out, so a retry of this step does not mail this approver again.
            let mark = json!({"request_id": request_id, "item": mail_item(*role, person),
                              "person": person, "role": role, "at": Utc::now().to_rfc3339(),
                              "expires_at": deadline.timestamp() + 90 * 86_400});
            if let Value::Object(mark) = mark {
                self.store.put_if_absent(table, &mark).await?;
            }
            sent += 1;
        }
        let already = to_mail.len() - pending.len();
        info!(event = "approval_requested", request_id = %request_id, what = %ask.what,
              required = %requirement, emails = sent, already_mailed = already, repeated = !fresh,
              deadline = %deadline.to_rfc3339(),
              "approval {request_id}: {sent} email(s) for {requirement} ({already} sent before), until {deadline}");
        let mut last = serde_json::Map::new();
        if notified_before {
            info!(event = "approval_notice_skipped", request_id = %request_id,
                  "approval {request_id}: the events topic was notified before");
        } else {
            self.mail.notify(
                &settings.events_topic_arn,
                "approval_wanted",
                &ask.notify_subject,
                &format!(
                    "{}: {} approval(s) requested from {requirement}, deadline {}.\nExecution: {}\n",
                    ask.what,
                    to_mail.len(),
                    deadline.to_rfc3339(),
                    ask.execution_arn
                ),
            )
            .await?;
            last.insert("notified_at".into(), json!(Utc::now().to_rfc3339()));
        }
        // The last write: from now on an approver's decision goes to this token at once. A
        // decision made while this ask was at work was only recorded: it is given to this token
        // now, so no callback reached a task attempt that could still fail.
        last.insert(READY.into(), json!(Utc::now().to_rfc3339()));
        let ready = self
            .store
            .transition(table, &request_id, "pending", "pending", &last)
            .await?;
        if ready.is_none() {
            let existing = stored_request(&self.store, table, &request_id).await?;
            let status = existing
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            info!(event = "approval_decided_while_asking", request_id = %request_id, status,
                  "approval {request_id} was decided while it was being asked; the decision goes to this wait");
            return self
                .deliver_found(settings, token, &request_id, &existing)
                .await;
        }
        to_value(
            &json!({"request_id": request_id, "deadline": deadline.to_rfc3339(),
                         "emails": sent, "already_mailed": already, "repeated": !fresh}),
        )
    }

    /// Gives the decision `existing` holds to the wait of `token` (a retried ask's, or this ask's
    /// own when the request was decided before it was ready); a request closed otherwise has
    /// nothing to give.
    async fn deliver_found(
        &self,
        settings: &Settings,
        token: &str,
        request_id: &str,
        existing: &serde_json::Map<String, Value>,
    ) -> Result<Value, BbwsError> {
        let table = &settings.approvals_table;
        let decision = match resume(existing) {
            Resume::Continue => {
                return Err(BbwsError::new(
                    ErrorName::AwsUnavailable,
                    format!("approval request {request_id} is still pending; its ask runs again"),
                ))
            }
            Resume::Approved { reopen } => {
                if reopen {
                    let mut f = serde_json::Map::new();
                    f.insert("redelivered_at".into(), json!(Utc::now().to_rfc3339()));
                    self.store
                        .transition(table, request_id, "expired", "approved", &f)
                        .await?;
                }
                Decision::Approved {
                    approvers: existing.get("approvers").cloned().unwrap_or(Value::Null),
                }
            }
            Resume::Rejected { cause } => Decision::Rejected { cause },
            Resume::Closed { status } => {
                return Err(BbwsError::new(
                    ErrorName::ApprovalTimedOut,
                    format!(
                        "approval request {request_id} is closed ({status}); its wait has ended"
                    ),
                ));
            }
        };
        let delivered =
            deliver(self, settings, request_id, token, &decision, IfGone::Close).await?;
        info!(event = "approval_redelivered", request_id = %request_id, decision = decision.as_str(),
              delivered = matches!(delivered, Callback::Delivered),
              "approval {request_id} was {}: the decision given to the current wait", decision.as_str());
        Ok(json!({"request_id": request_id, "redelivered": decision.as_str()}))
    }

    /// A repeated ask of the same step found its earlier request: keeps it waiting under the new
    /// task token, or gives the new token the decision already made.
    async fn resume_request(
        &self,
        settings: &Settings,
        token: &str,
        request_id: &str,
        execution_arn: &str,
    ) -> Result<Resumed, BbwsError> {
        let table = &settings.approvals_table;
        for _ in 0..2 {
            let existing = stored_request(&self.store, table, request_id).await?;
            let text = |k: &str| {
                existing
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            if text("execution_arn") != execution_arn {
                return Err(BbwsError::invalid_event(format!(
                    "approval request {request_id} belongs to {}, not {execution_arn}",
                    text("execution_arn")
                )));
            }
            if resume(&existing) != Resume::Continue {
                return Ok(Resumed::Answered(
                    self.deliver_found(settings, token, request_id, &existing)
                        .await?,
                ));
            }
            let replaced = text("task_token") != token;
            // Only while pending (a decision made meanwhile is given to the new token), and the
            // request is not ready again until this ask has done its work.
            let now = Utc::now().to_rfc3339();
            if !self
                .store
                .replace_token(table, request_id, token, &now)
                .await?
            {
                continue;
            }
            let deadline = chrono::DateTime::parse_from_rfc3339(&text("deadline"))
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| {
                    BbwsError::invalid_event(format!(
                        "approval request {request_id}: stored deadline: {e}"
                    ))
                })?;
            let notified = existing.contains_key("notified_at");
            info!(event = "approval_resumed", request_id = %request_id, token_replaced = replaced,
                  notified_before = notified,
                  "approval {request_id} asked again: still pending, token replaced: {replaced}");
            return Ok(Resumed::Waiting { deadline, notified });
        }
        Err(BbwsError::new(
            ErrorName::AwsUnavailable,
            format!("approval request {request_id} kept changing while it was asked again"),
        ))
    }
}

/// A request this ask stored before: not readable now is transient (read again on the retry).
async fn stored_request<S: Store>(
    store: &S,
    table: &str,
    request_id: &str,
) -> Result<serde_json::Map<String, Value>, BbwsError> {
    store
        .get(table, request_id, "request")
        .await?
        .ok_or_else(|| {
            BbwsError::new(
                ErrorName::AwsUnavailable,
                format!("approval request {request_id} was not readable after it existed"),
            )
        })
}

/// The range keys of the items that say an approver's email went out start with this.
const MAIL_PREFIX: &str = "mail#";

/// The range key of the item that says `person` was mailed as `role`.
fn mail_item(role: Role, person: &str) -> String {
    format!("{MAIL_PREFIX}{}#{person}", role.as_str())
}

/// Who is mailed: every member of each required role but the requester, as (role, person).
fn recipients(
    requirement: &Requirement,
    directory: &Directory,
    requester: &str,
) -> Vec<(Role, String)> {
    let mut out = Vec::new();
    for role in requirement.roles() {
        for person in directory.members.get(role).into_iter().flatten() {
            if !bbws_domain::approvals::same_person(person, requester) {
                out.push((*role, person.clone()));
            }
        }
    }
    out
}

/// The recipients whose email has not gone out (no `mail#` item).
fn still_to_mail(recipients: &[(Role, String)], mailed: &BTreeSet<String>) -> Vec<(Role, String)> {
    recipients
        .iter()
        .filter(|(role, person)| !mailed.contains(&mail_item(*role, person)))
        .cloned()
        .collect()
}

/// What a repeated ask does with the request it finds.
#[derive(Debug, PartialEq, Eq)]
enum Resume {
    /// Still pending: store the new token, mail whoever was not mailed, notify if not done.
    Continue,
    /// Approved (or approved and then closed because the older token was gone, `reopen`): the
    /// approval goes to the current wait.
    Approved { reopen: bool },
    /// Rejected: the rejection goes to the current wait.
    Rejected { cause: String },
    /// Closed otherwise: nothing to give.
    Closed { status: String },
}

/// How a repeated ask ended.
enum Resumed {
    /// Still waiting, until `deadline`; `notified`: the events topic already has it.
    Waiting {
        deadline: chrono::DateTime<Utc>,
        notified: bool,
    },
    /// The decision was given to the current wait; the step's answer.
    Answered(Value),
}

fn resume(request: &serde_json::Map<String, Value>) -> Resume {
    let status = request
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let approved = request.get("approvers").is_some_and(Value::is_array);
    match status {
        "pending" => Resume::Continue,
        "approved" => Resume::Approved { reopen: false },
        "expired" if approved => Resume::Approved { reopen: true },
        "rejected" => Resume::Rejected {
            cause: request
                .get("cause")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| "the approval was rejected".to_owned()),
        },
        other => Resume::Closed {
            status: other.to_owned(),
        },
    }
}

/// One approval round: what is asked, of whom, until when.
pub(crate) struct Ask<'a> {
    pub(crate) execution_arn: &'a str,
    pub(crate) requirement: Requirement,
    pub(crate) requester: String,
    pub(crate) timeout_seconds: u64,
    pub(crate) started: chrono::DateTime<Utc>,
    /// What the approval page shows (kind, service, versions...).
    pub(crate) fields: Value,
    /// The email's first paragraphs.
    pub(crate) intro: String,
    pub(crate) email_subject: String,
    pub(crate) notify_subject: String,
    /// A few words for logs and the events topic.
    pub(crate) what: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        serde_json::from_value(json!({
            "tech_lead": ["tech-lead@bbws.io", "jane@bbws.io"],
            "operations_lead": ["ops-lead@bbws.io"],
            "dev_lead": ["dev-lead@bbws.io"]
        }))
        .expect("directory")
    }

    fn prod() -> Requirement {
        Requirement::AllOf(vec![Role::TechLead, Role::OperationsLead])
    }

    #[test]
    fn every_role_member_but_the_requester_is_mailed() {
        let r = recipients(&prod(), &directory(), "Jane@bbws.io");
        assert_eq!(
            r,
            vec![
                (Role::TechLead, "tech-lead@bbws.io".to_owned()),
                (Role::OperationsLead, "ops-lead@bbws.io".to_owned())
            ]
        );
    }

    #[test]
    fn a_repeated_ask_mails_only_whoever_was_not_mailed() {
        let all = recipients(&prod(), &directory(), "someone@bbws.io");
        assert_eq!(all.len(), 3);
        let none = BTreeSet::new();
        assert_eq!(still_to_mail(&all, &none), all, "first time: everyone");
        let mailed: BTreeSet<String> = [
            mail_item(Role::TechLead, "tech-lead@bbws.io"),
            mail_item(Role::TechLead, "jane@bbws.io"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            still_to_mail(&all, &mailed),
            vec![(Role::OperationsLead, "ops-lead@bbws.io".to_owned())]
        );
        let everyone: BTreeSet<String> = all.iter().map(|(r, p)| mail_item(*r, p)).collect();
        assert!(
            still_to_mail(&all, &everyone).is_empty(),
            "all mailed: none again"
        );
        // A person mailed in one role is still mailed in another role they are asked in.
        let other_role: BTreeSet<String> = [mail_item(Role::DevLead, "ops-lead@bbws.io")]
            .into_iter()
            .collect();
        assert_eq!(still_to_mail(&all, &other_role).len(), 3);
    }

    fn request(v: Value) -> serde_json::Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("object"),
        }
    }

    #[test]
    fn a_repeated_ask_continues_a_pending_request() {
        assert_eq!(
            resume(&request(json!({"status": "pending"}))),
            Resume::Continue
        );
    }

    #[test]
    fn a_repeated_ask_gives_a_decision_already_made_to_the_current_wait() {
        assert_eq!(
            resume(&request(json!({"status": "approved", "approvers": []}))),
            Resume::Approved { reopen: false }
        );
        assert_eq!(
            resume(&request(
                json!({"status": "expired", "approvers": [{"person": "a"}]})
            )),
            Resume::Approved { reopen: true },
            "approved, then closed because the older token was gone"
        );
        assert_eq!(
            resume(&request(
                json!({"status": "rejected", "cause": "dev-lead@bbws.io (Dev Lead) rejected: no"})
            )),
            Resume::Rejected {
                cause: "dev-lead@bbws.io (Dev Lead) rejected: no".into()
            }
        );
        assert_eq!(
            resume(&request(json!({"status": "expired"}))),
            Resume::Closed {
                status: "expired".into()
            }
        );
    }
}

/// The ask, the approvers' links and the callbacks over in-memory ports.
#[cfg(test)]
pub(crate) mod flows {
    use super::*;
    use crate::ports::memory::{Outbox, Params, Sent, Table, Waits};
    use bbws_aws::approvals::{DELIVERED, READY};
    use bbws_domain::{Catalog, Config, PromotionRequest, WindowCheck};
    use std::collections::BTreeMap;
    use tokio::sync::oneshot;

    pub(crate) const KEY: &str = "a-signing-key-of-more-than-32-bytes-for-tests";
    pub(crate) const REQUESTER: &str = "jane@bbws.io";
    pub(crate) const TECH_LEAD: &str = "tech-lead@bbws.io";
    pub(crate) const SECOND_TECH_LEAD: &str = "second-tl@bbws.io";
    pub(crate) const OPS_LEAD: &str = "ops-lead@bbws.io";

    pub(crate) type TestApp = App<Table, Waits, Outbox, Params>;

    pub(crate) fn app() -> TestApp {
        let directory = json!({"tech_lead": [TECH_LEAD, SECOND_TECH_LEAD, REQUESTER],
                               "operations_lead": [OPS_LEAD], "dev_lead": ["dev-lead@bbws.io"]});
        let params = Params(BTreeMap::from([
            ("BBWS_APPROVAL_KEY_PARAM", KEY.to_owned()),
            ("BBWS_APPROVERS_PARAM", directory.to_string()),
            (
                "BBWS_APPROVAL_URL_PARAM",
                "https://approve.bbws.example".to_owned(),
            ),
        ]));
        let settings = Settings::from_lookup(|name| match name {
            "BBWS_ENV" => Some("prod".into()),
            "BBWS_EVENTS_TOPIC_ARN" => Some("arn:aws:sns:af-south-1:1:bbws-events-prod".into()),
            "BBWS_APPROVAL_TOPIC_ARN" => Some("arn:aws:sns:af-south-1:1:bbws-approvals".into()),
            _ => None,
        });
        App::new(
            Table::default(),
            Waits::default(),
            Outbox::default(),
            params,
            settings,
        )
    }

    /// Jane's promotion of site-management from SIT to PROD (Tech Lead and Operations Lead).
    pub(crate) fn plan() -> PromotionPlan {
        let request = PromotionRequest::validate(
            &json!({"service": "site-management", "source_env": "sit", "target_env": "prod",
                "requested_by": REQUESTER, "reason": "r", "change_request": "CHG-1"}),
            &Catalog::runbook(),
        )
        .expect("valid request");
        let execution = "arn:aws:states:af-south-1:1:execution:bbws-promotion-prod:run-1";
        PromotionPlan::new(&request, &Config::runbook(), execution, Utc::now()).expect("plan")
    }

    pub(crate) fn request_id() -> String {
        approval_request_id(&plan().execution_arn, "promotion")
    }

    /// The approval step under `token` (each attempt of the step has its own).
    pub(crate) async fn ask(app: &TestApp, token: &str) -> Result<Value, BbwsError> {
        let plan = plan();
        let preflight = Preflight {
            passed: true,
            checks: Vec::new(),
            source: Vec::new(),
            window: WindowCheck::NotRequired,
            emergency: false,
            approval: plan.rules.approval.clone(),
        };
        app.handle(
            json!({"op": "request", "task_token": token, "promotion": plan,
                          "preflight": preflight, "entered_at": Utc::now().to_rfc3339()}),
        )
        .await
    }

    /// The link (`Approve` or `Reject`) mailed to `to`.
    pub(crate) fn link(app: &TestApp, to: &str, decision: &str) -> String {
        let emails = app.mail.emails.borrow();
        let email = emails.iter().find(|e| e.to == to).expect("mailed");
        let line = email
            .text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{decision}: ")))
            .expect("a link");
        let t = line
            .strip_prefix("https://approve.bbws.example/decide?t=")
            .expect("a link to the function's URL");
        t.to_owned()
    }

    /// A Function URL request to `/decide`: a GET with `?t=`, or a POST of `form`.
    pub(crate) fn http(method: &str, t: &str, form: &[(&str, &str)]) -> Value {
        let mut event = json!({"version": "2.0", "routeKey": "$default", "rawPath": "/decide",
            "rawQueryString": "", "headers": {}, "isBase64Encoded": false,
            "requestContext": {"accountId": "anonymous", "apiId": "u", "domainName": "u",
                "domainPrefix": "u", "requestId": "r", "routeKey": "$default", "stage": "$default",
                "time": "24/Nov/2026:20:00:00 +0000", "timeEpoch": 0,
                "http": {"method": method, "path": "/decide", "protocol": "HTTP/1.1",
                         "sourceIp": "203.0.113.9", "userAgent": "unit-test"}}});
        if method == "GET" {
            event["queryStringParameters"] = json!({"t": t});
        } else {
            let mut body = form_urlencoded::Serializer::new(String::new());
            body.append_pair("t", t);
            for (k, v) in form {
                body.append_pair(k, v);
            }
            event["body"] = json!(body.finish());
        }
        event
    }

    /// A page answered: its status and title.
    pub(crate) async fn page(app: &TestApp, event: Value) -> (u64, String) {
        let out = app.handle(event).await.expect("a page");
        let body = out["body"].as_str().unwrap_or_default();
        let title = body
            .split("<title>")
            .nth(1)
            .and_then(|rest| rest.split("</title>").next())
            .unwrap_or_default();
        (out["statusCode"].as_u64().unwrap_or(0), title.to_owned())
    }

    pub(crate) async fn open(app: &TestApp, t: &str) -> (u64, String) {
        page(app, http("GET", t, &[])).await
    }

    pub(crate) async fn confirm(app: &TestApp, t: &str) -> (u64, String) {
        page(app, http("POST", t, &[("confirm", "yes")])).await
    }

    pub(crate) async fn reject(app: &TestApp, t: &str, reason: &str) -> (u64, String) {
        page(
            app,
            http("POST", t, &[("confirm", "yes"), ("reason", reason)]),
        )
        .await
    }

    fn status(app: &TestApp) -> String {
        app.store
            .request(&request_id())
            .and_then(|r| r.get("status").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }

    pub(crate) fn mailed_to(app: &TestApp) -> Vec<String> {
        let mut to: Vec<String> = app
            .mail
            .emails
            .borrow()
            .iter()
            .map(|e| e.to.clone())
            .collect();
        to.sort();
        to
    }

    pub(crate) fn approvers_of(sent: &Sent) -> Vec<String> {
        match sent {
            Sent::Success(output) => output["approvers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("{}/{}", a["person"].as_str().unwrap_or("?"), a["role"]))
                .collect(),
            Sent::Failure(..) => Vec::new(),
        }
    }

    #[tokio::test]
    async fn the_ask_mails_every_approver_but_the_requester_once_and_a_retry_nobody_again() {
        let app = app();
        let first = ask(&app, "token-1").await.expect("asked");
        assert_eq!(first["emails"], 3);
        assert_eq!(first["repeated"], false);
        assert_eq!(mailed_to(&app), [OPS_LEAD, SECOND_TECH_LEAD, TECH_LEAD]);
        assert_eq!(app.mail.notices.borrow().len(), 1);
        let request = app.store.request(&request_id()).expect("stored");
        assert_eq!(request["task_token"], "token-1");
        assert!(request.contains_key(READY), "ready once the ask is done");
        let subject = app.mail.emails.borrow()[0].subject.clone();
        assert_eq!(subject, "Approval wanted: site-management SIT -> PROD");

        let again = ask(&app, "token-2").await.expect("asked again");
        assert_eq!(again["repeated"], true);
        assert_eq!(again["emails"], 0);
        assert_eq!(again["already_mailed"], 3);
        assert_eq!(again["request_id"], first["request_id"]);
        assert_eq!(app.mail.emails.borrow().len(), 3, "nobody mailed twice");
        assert_eq!(app.mail.notices.borrow().len(), 1, "the topic told once");
        let request = app.store.request(&request_id()).expect("stored");
        assert_eq!(
            request["task_token"], "token-2",
            "the links now answer the new wait"
        );
        assert!(request.contains_key(READY));
        assert!(app.callbacks.sent.borrow().is_empty());
    }

    #[tokio::test]
    async fn an_ask_that_failed_half_way_mails_only_whoever_was_not_mailed() {
        let app = app();
        app.mail
            .refuse_email_to
            .replace(Some(SECOND_TECH_LEAD.into()));
        let e = ask(&app, "token-1").await.expect_err("SNS throttled");
        assert_eq!(e.error_type, ErrorName::AwsUnavailable);
        let before = mailed_to(&app);
        assert!(!before.contains(&SECOND_TECH_LEAD.to_owned()));
        assert!(
            !app.store
                .request(&request_id())
                .expect("stored")
                .contains_key(READY),
            "not ready: a decision now would be kept for the ask"
        );
        let again = ask(&app, "token-2").await.expect("asked again");
        assert_eq!(again["emails"], 3 - before.len());
        assert_eq!(
            mailed_to(&app),
            [OPS_LEAD, SECOND_TECH_LEAD, TECH_LEAD],
            "each approver mailed exactly once"
        );
    }

    #[tokio::test]
    async fn the_quorum_is_one_approval_from_each_required_role() {
        let app = app();
        ask(&app, "token-1").await.expect("asked");
        assert_eq!(
            confirm(&app, &link(&app, TECH_LEAD, "Approve")).await,
            (200, "Approved".into())
        );
        assert_eq!(status(&app), "pending", "one role of two");
        assert!(app.callbacks.sent.borrow().is_empty());

        // The role is given: a second Tech Lead does not count, and nothing changes.
        let before = app.store.state();
        assert_eq!(
            confirm(&app, &link(&app, SECOND_TECH_LEAD, "Approve")).await,
            (403, "Approval not counted".into())
        );
        assert_eq!(app.store.state(), before);

        assert_eq!(
            confirm(&app, &link(&app, OPS_LEAD, "Approve")).await,
            (200, "Approved".into())
        );
        assert_eq!(status(&app), "approved");
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1, "one callback");
        assert_eq!(sent[0].0, "token-1");
        assert_eq!(
            approvers_of(&sent[0].1),
            [
                format!("{TECH_LEAD}/\"tech_lead\""),
                format!("{OPS_LEAD}/\"operations_lead\"")
            ]
        );
        let request = app.store.request(&request_id()).expect("stored");
        assert!(request.contains_key(DELIVERED));

        // Decided: a later link is told so, and nothing is sent again.
        assert_eq!(
            confirm(&app, &link(&app, SECOND_TECH_LEAD, "Approve")).await,
            (409, "Already approved".into())
        );
        assert_eq!(app.callbacks.sent.borrow().len(), 1);
    }

    #[tokio::test]
    async fn a_decision_made_while_the_ask_is_at_work_goes_to_the_asks_own_token() {
        let app = app();
        let (reached_tx, reached) = oneshot::channel();
        let (go, go_rx) = oneshot::channel();
        app.mail.hold_notice.replace(Some((reached_tx, go_rx)));
        let approvers = async {
            reached.await.expect("the ask reaches the events topic");
            // Every email is out; the request is not ready yet.
            for approver in [TECH_LEAD, OPS_LEAD] {
                assert_eq!(
                    confirm(&app, &link(&app, approver, "Approve")).await,
                    (200, "Approved".into())
                );
            }
            assert_eq!(status(&app), "approved");
            assert!(
                app.callbacks.sent.borrow().is_empty(),
                "the approver's side leaves the callback to the ask"
            );
            go.send(()).expect("the ask waits");
        };
        let (out, ()) = tokio::join!(ask(&app, "token-1"), approvers);
        let out = out.expect("the ask ends");
        assert_eq!(out["redelivered"], "approved");
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "token-1", "its own token");
        assert_eq!(approvers_of(&sent[0].1).len(), 2);
        assert!(app
            .store
            .request(&request_id())
            .expect("stored")
            .contains_key(DELIVERED));
    }

    #[tokio::test]
    async fn a_retried_ask_gives_a_decision_made_meanwhile_to_its_new_token() {
        let app = app();
        app.mail.refuse_notice.set(true);
        ask(&app, "token-1")
            .await
            .expect_err("the events topic failed");
        reject(
            &app,
            &link(&app, OPS_LEAD, "Reject"),
            "not during the freeze",
        )
        .await;
        assert_eq!(status(&app), "rejected");
        assert!(app.callbacks.sent.borrow().is_empty());
        let out = ask(&app, "token-2").await.expect("asked again");
        assert_eq!(out["redelivered"], "rejected");
        assert_eq!(
            *app.callbacks.sent.borrow(),
            vec![(
                "token-2".to_owned(),
                Sent::Failure(
                    ErrorName::ApprovalRejected,
                    format!("{OPS_LEAD} (Operations Lead) rejected: not during the freeze")
                )
            )]
        );
        assert_eq!(mailed_to(&app).len(), 3, "nobody mailed again");
    }

    #[tokio::test]
    async fn a_decision_whose_callback_failed_is_passed_on_by_the_next_visit() {
        let app = app();
        ask(&app, "token-1").await.expect("asked");
        confirm(&app, &link(&app, TECH_LEAD, "Approve")).await;
        app.callbacks.failing.set(1);
        assert_eq!(
            confirm(&app, &link(&app, OPS_LEAD, "Approve")).await,
            (503, "Recorded, not yet passed on".into())
        );
        assert_eq!(status(&app), "approved");
        let request = app.store.request(&request_id()).expect("stored");
        assert!(!request.contains_key(DELIVERED));
        assert!(app.callbacks.sent.borrow().is_empty());

        // Any link of the request passes it on, even one that only opens a page.
        assert_eq!(
            open(&app, &link(&app, SECOND_TECH_LEAD, "Reject")).await,
            (409, "Already approved".into())
        );
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, "token-1");
        assert_eq!(approvers_of(&sent[0].1).len(), 2);
        let request = app.store.request(&request_id()).expect("stored");
        assert!(request.contains_key(DELIVERED));
        let audit = app.store.audit(&request_id());
        assert!(
            audit.iter().any(|a| a["outcome"] == "passed_on"),
            "{audit:?}"
        );

        // Delivered: the next visit has nothing to pass on.
        assert_eq!(
            open(&app, &link(&app, TECH_LEAD, "Approve")).await,
            (409, "Already approved".into())
        );
        assert_eq!(app.callbacks.sent.borrow().len(), 1);
    }

    #[tokio::test]
    async fn an_approval_that_lost_its_write_reads_again_and_decides_on_what_won() {
        let app = app();
        ask(&app, "token-1").await.expect("asked");
        let other = json!({"request_id": request_id(), "item": "approval#tech_lead",
                           "person": TECH_LEAD, "role": "tech_lead", "at": Utc::now().to_rfc3339()});
        if let Value::Object(other) = other {
            app.store.race.replace(Some(other));
        }
        assert_eq!(
            confirm(&app, &link(&app, OPS_LEAD, "Approve")).await,
            (200, "Approved".into())
        );
        assert_eq!(
            status(&app),
            "approved",
            "the second approval met the quorum"
        );
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            approvers_of(&sent[0].1),
            [
                format!("{TECH_LEAD}/\"tech_lead\""),
                format!("{OPS_LEAD}/\"operations_lead\"")
            ]
        );
        let request = app.store.request(&request_id()).expect("stored");
        assert_eq!(request[bbws_aws::approvals::APPROVALS_GIVEN], 2);
    }

    /// A link for `approver` signed with `key`, expiring at `expires_at`.
    fn signed(approver: &str, role: Role, expires_at: i64, key: &[u8]) -> String {
        let claims = LinkClaims {
            request_id: request_id(),
            approver: approver.to_owned(),
            role,
            decision: LinkDecision::Approve,
            expires_at,
        };
        sign(&claims, key).expect("signed")
    }

    #[tokio::test]
    async fn an_expired_link_or_one_to_a_rejected_request_changes_nothing() {
        let app = app();
        ask(&app, "token-1").await.expect("asked");
        let expired = signed(
            TECH_LEAD,
            Role::TechLead,
            Utc::now().timestamp() - 1,
            KEY.as_bytes(),
        );
        let before = app.store.state();
        assert_eq!(
            open(&app, &expired).await,
            (403, "This link has expired".into())
        );
        assert_eq!(
            confirm(&app, &expired).await,
            (403, "This link has expired".into())
        );
        assert_eq!(app.store.state(), before, "nothing written but the audit");
        assert!(app.callbacks.sent.borrow().is_empty());

        assert_eq!(
            reject(&app, &link(&app, OPS_LEAD, "Reject"), "broken build").await,
            (200, "Rejected".into())
        );
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1);
        assert!(
            matches!(&sent[0].1, Sent::Failure(ErrorName::ApprovalRejected, cause) if cause.ends_with("rejected: broken build"))
        );
        let before = app.store.state();
        for approver in [TECH_LEAD, SECOND_TECH_LEAD] {
            assert_eq!(
                confirm(&app, &link(&app, approver, "Approve")).await,
                (409, "This promotion was rejected".into())
            );
        }
        assert_eq!(
            reject(&app, &link(&app, TECH_LEAD, "Reject"), "me too").await,
            (409, "This promotion was rejected".into())
        );
        assert_eq!(
            app.store.state(),
            before,
            "no approval, no second rejection"
        );
        assert_eq!(app.callbacks.sent.borrow().len(), 1, "no second callback");
        let audit = app.store.audit(&request_id());
        assert_eq!(
            audit
                .iter()
                .filter(|a| a["outcome"] == "not_counted")
                .count(),
            3
        );
    }

    #[tokio::test]
    async fn a_link_whose_signature_does_not_match_changes_nothing() {
        let app = app();
        ask(&app, "token-1").await.expect("asked");
        let later = Utc::now().timestamp() + 3600;
        // Signed with another key; and a real link whose claims were changed.
        let forged = signed(OPS_LEAD, Role::OperationsLead, later, &[7u8; 32]);
        let real = link(&app, TECH_LEAD, "Approve");
        let (_, real_sig) = real.split_once('.').expect("claims.signature");
        let (other_claims, _) = forged.split_once('.').expect("claims.signature");
        let tampered = format!("{other_claims}.{real_sig}");
        let before = app.store.state();
        for t in [&forged, &tampered] {
            assert_eq!(open(&app, t).await, (403, "This link is not valid".into()));
            assert_eq!(
                confirm(&app, t).await,
                (403, "This link is not valid".into())
            );
        }
        assert_eq!(app.store.state(), before);
        assert_eq!(status(&app), "pending");
        assert!(app.callbacks.sent.borrow().is_empty());
        let refused = app.store.audit("unverified-links");
        assert_eq!(refused.len(), 2, "each confirmation audited");
        assert!(refused
            .iter()
            .all(|a| a["outcome"] == "refused" && a["person"] == "unknown"));
        assert!(app.store.audit(&request_id()).is_empty());
    }

    /// A PROD release of site-management and the preflight's answer for its one phase (every
    /// source function on version 7).
    fn release() -> (ReleasePlan, Value) {
        let request = bbws_domain::ReleaseRequest::validate(
            &json!({"target_env": "prod", "services": ["site-management"],
                    "requested_by": REQUESTER, "reason": "r", "change_request": "CHG-9"}),
            &Catalog::runbook(),
        )
        .expect("valid release");
        let arn = "arn:aws:states:af-south-1:1:execution:bbws-release-prod:rel-1";
        let release =
            ReleasePlan::new(request, &Config::runbook(), arn, Utc::now()).expect("release plan");
        let plan = phase_plan(&release);
        let phase = &release.phases[0];
        let preflight = json!({"passed": true, "approval": plan.rules.approval,
            "phases": [{"index": phase.index, "service": phase.service,
                        "execution_name": phase.execution_name,
                        "source": phase_preflight(&plan, None).source, "current": []}]});
        (release, preflight)
    }

    /// The promotion the release starts for its first phase.
    fn phase_plan(release: &ReleasePlan) -> PromotionPlan {
        let phase = &release.phases[0];
        let request =
            PromotionRequest::validate(&phase.input, &Catalog::runbook()).expect("phase input");
        let arn = format!(
            "arn:aws:states:af-south-1:1:execution:bbws-promotion-prod:{}",
            phase.execution_name
        );
        PromotionPlan::new(&request, &Config::runbook(), &arn, Utc::now()).expect("phase plan")
    }

    /// What a phase's preflight resolved; `code` replaces the first package's CodeSha256.
    fn phase_preflight(plan: &PromotionPlan, code: Option<&str>) -> Preflight {
        let source = plan
            .functions
            .iter()
            .enumerate()
            .map(|(i, f)| bbws_domain::SourceFunction {
                function: bbws_domain::FunctionVersion {
                    name: f.source.clone(),
                    version: "7".into(),
                    state: "Active".into(),
                    last_update_status: "Successful".into(),
                    code_sha256: match code {
                        Some(other) if i == 0 => other.to_owned(),
                        _ => format!("{}=", f.source),
                    },
                },
                target: f.target.clone(),
            })
            .collect();
        Preflight {
            passed: true,
            checks: Vec::new(),
            source,
            window: WindowCheck::NotRequired,
            emergency: false,
            approval: plan.rules.approval.clone(),
        }
    }

    /// The phase execution `run` accepting the release's approval.
    async fn accept(
        app: &TestApp,
        release: &ReleasePlan,
        code: Option<&str>,
        run: &str,
    ) -> Result<Value, BbwsError> {
        let plan = phase_plan(release);
        let preflight = phase_preflight(&plan, code);
        let arn = format!("arn:aws:states:af-south-1:1:execution:bbws-promotion-prod:{run}");
        app.handle(json!({"op": "accept_release", "promotion": plan, "preflight": preflight,
                          "execution_arn": arn, "execution_name": release.phases[0].execution_name}))
            .await
    }

    #[tokio::test]
    async fn a_release_with_tenants_shows_their_plans_in_the_one_approval_round() {
        let plain = app();
        let app = app();
        let (release, preflight) = release();
        let sha = "c".repeat(64);
        let review = json!({"plans": [{"tenant_id": "tenant-002", "commit": "2".repeat(40),
            "commit_source": "sit", "current_commit": "1".repeat(40),
            "commit_author": "Ayesha Patel <ayesha.patel@bbws.io>", "commit_subject": "retire <legacy>",
            "tfplan_sha256": sha, "plan_json_sha256": "d".repeat(64),
            "artifacts_prefix": "tenant/prod/rel/tenant-002",
            "summary": {"add": 0, "change": 0, "destroy": 1, "forget": 0,
                "changes": [{"address": "module.wordpress.aws_ssm_parameter.legacy_redirects", "kind": "delete"}]},
            "verdict": {"verdict": "call_out", "destructions": ["module.wordpress.aws_ssm_parameter.legacy_redirects (delete)"]}}],
            "nothing_to_apply": false, "to_apply": ["tenant-002"],
            "tfplan_sha256s": format!("tenant-002={sha}"), "callouts": []});
        app.handle(json!({"op": "request_release", "task_token": "t", "release": release,
                          "preflight": preflight, "review": review, "entered_at": Utc::now().to_rfc3339()}))
            .await
            .expect("asked");
        let text = app.mail.emails.borrow()[0].text.clone();
        assert!(text.contains("Phase 4, last"), "{text}");
        assert!(text.contains(&format!("Plan SHA-256: {sha}")), "{text}");
        assert!(
            text.contains("DESTROYS: module.wordpress.aws_ssm_parameter.legacy_redirects (delete)"),
            "{text}"
        );
        let request = app
            .store
            .items
            .borrow()
            .values()
            .find(|i| i.get("item").and_then(Value::as_str) == Some("request"))
            .cloned()
            .expect("stored");
        let request = Value::Object(request);
        assert_eq!(request["tenants"], json!(["tenant-002"]));
        let page = crate::pages::details(&request);
        assert!(page.contains("legacy_redirects"), "{page}");
        assert!(page.contains(&sha), "{page}");
        assert!(page.contains("retire &lt;legacy&gt;"), "escaped: {page}");
        assert!(crate::pages::flags(&request)
            .iter()
            .any(|(_, f)| f == "Destroys 1 resource"));
        // A release without tenants asks as before: no plans, no phase 4.
        plain
            .handle(
                json!({"op": "request_release", "task_token": "t", "release": release,
                           "preflight": preflight, "entered_at": Utc::now().to_rfc3339()}),
            )
            .await
            .expect("asked");
        assert!(!plain.mail.emails.borrow()[0].text.contains("Phase 4"));
    }

    #[tokio::test]
    async fn a_release_is_approved_once_and_its_phase_runs_only_what_was_approved_once() {
        let app = app();
        let (release, preflight) = release();
        let ask = |token: &str| {
            json!({"op": "request_release", "task_token": token, "release": release,
                   "preflight": preflight, "entered_at": Utc::now().to_rfc3339()})
        };
        let first = app.handle(ask("release-1")).await.expect("asked");
        assert_eq!(mailed_to(&app), [OPS_LEAD, SECOND_TECH_LEAD, TECH_LEAD]);
        let e = accept(&app, &release, None, "phase-run-1")
            .await
            .expect_err("not approved yet");
        assert_eq!(e.error_type, ErrorName::ApprovalRejected);
        assert!(e.message.contains("(not approved)"), "{}", e.message);

        // A retried ask mails nobody again; the links answer its new wait.
        let again = app.handle(ask("release-2")).await.expect("asked again");
        assert_eq!(again["request_id"], first["request_id"]);
        assert_eq!(app.mail.emails.borrow().len(), 3, "nobody mailed twice");

        for who in [TECH_LEAD, OPS_LEAD] {
            let t = link(&app, who, "Approve");
            assert_eq!(confirm(&app, &t).await.0, 200, "{who}");
        }
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1, "one callback: {sent:?}");
        assert_eq!(sent[0].0, "release-2", "to the current wait");

        // Another package than the approvers saw is refused, and uses nothing up.
        let e = accept(&app, &release, Some("other="), "phase-run-1")
            .await
            .expect_err("not what was approved");
        assert_eq!(e.error_type, ErrorName::ApprovalRejected);
        let accepted = accept(&app, &release, None, "phase-run-1")
            .await
            .expect("covered");
        assert_eq!(accepted["request_id"], first["request_id"]);
        assert_eq!(accepted["phase"], 1);
        assert_eq!(
            accept(&app, &release, None, "phase-run-1").await.ok(),
            Some(accepted),
            "the same phase execution again (a retry) is accepted again"
        );
        let e = accept(&app, &release, None, "phase-run-2")
            .await
            .expect_err("used once");
        assert!(e.message.contains("was already run by"), "{}", e.message);
    }

    /// A manual rollback of the tenant service in `env`, asked by Jane, to version 7 (forced).
    fn rollback(env: &str) -> (Value, Value) {
        let request = bbws_domain::RollbackRequest::validate(
            &json!({"service": "tenant-instance-management", "environment": env,
                    "target_version": "7", "force": true, "reason": "API errors",
                    "requested_by": REQUESTER, "incident": "INC-91"}),
            &Catalog::runbook(),
        )
        .expect("valid rollback");
        let arn = format!("arn:aws:states:af-south-1:1:execution:bbws-rollback-{env}:rb-1");
        let plan = bbws_domain::RollbackPlan::new(request, &Config::runbook(), &arn, Utc::now())
            .expect("rollback plan");
        let function = format!("bbws-tenant-instance-management-{env}");
        let target = json!({"target": "version 7",
            "moves": [{"region": "af-south-1", "function": function, "from_version": "9", "to_version": "7"}],
            "forced": [format!("{function} version 7")]});
        (json!(plan), target)
    }

    #[tokio::test]
    async fn a_prod_rollback_asks_either_lead_with_every_move_and_one_approval_decides() {
        let app = app();
        let (plan, target) = rollback("prod");
        let asked = app
            .handle(
                json!({"op": "request_rollback", "task_token": "rb-token", "rollback": plan,
                           "target": target, "entered_at": Utc::now().to_rfc3339()}),
            )
            .await
            .expect("asked");
        assert_eq!(asked["emails"], 3);
        assert_eq!(mailed_to(&app), [OPS_LEAD, SECOND_TECH_LEAD, TECH_LEAD]);
        let text = app.mail.emails.borrow()[0].text.clone();
        assert!(
            text.contains("bbws-tenant-instance-management-prod version 9 -> 7 in af-south-1"),
            "{text}"
        );
        assert!(
            text.contains(
                "FORCED: never live before: bbws-tenant-instance-management-prod version 7"
            ),
            "{text}"
        );
        let t = link(&app, OPS_LEAD, "Approve");
        assert_eq!(confirm(&app, &t).await.0, 200);
        let sent = app.callbacks.sent.borrow().clone();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, "rb-token");
        assert_eq!(
            approvers_of(&sent[0].1),
            [format!("{OPS_LEAD}/\"operations_lead\"")]
        );
    }

    #[tokio::test]
    async fn a_rollback_that_needs_no_approval_asks_nobody() {
        let app = app();
        let (plan, target) = rollback("dev");
        let e = app
            .handle(
                json!({"op": "request_rollback", "task_token": "rb-token", "rollback": plan,
                           "target": target, "entered_at": Utc::now().to_rfc3339()}),
            )
            .await
            .expect_err("refused");
        assert!(e.message.contains("needs no approval"), "{}", e.message);
        assert!(app.mail.emails.borrow().is_empty());
        assert!(app.mail.notices.borrow().is_empty());
    }

    /// A Function URL GET of `/evidence` with `d` and `k`.
    fn evidence_link(d: &str, k: &str) -> Value {
        let mut event = http("GET", "", &[]);
        event["rawPath"] = json!("/evidence");
        event["requestContext"]["http"]["path"] = json!("/evidence");
        event["queryStringParameters"] = json!({"d": d, "k": k});
        event
    }

    #[tokio::test]
    async fn an_evidence_link_opens_its_report_and_nothing_else() {
        const KEY_HEX: &str = "00112233445566778899aabbccddeeff";
        let app = app();
        let written = Utc::now() - chrono::Duration::hours(1);
        let record = |id: &str, at: chrono::DateTime<Utc>| {
            json!({"deployment_id": id, "timestamp": at.to_rfc3339(),
                   "evidence": {"bucket": "b", "prefix": format!("evidence/prod/sm/{id}/"), "link_key": KEY_HEX}})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        app.store
            .deployments
            .borrow_mut()
            .insert("run-1:succeeded".into(), record("run-1:succeeded", written));
        let old = Utc::now() - chrono::Duration::days(8);
        app.store
            .deployments
            .borrow_mut()
            .insert("run-0:succeeded".into(), record("run-0:succeeded", old));
        app.store
            .deployments
            .borrow_mut()
            .insert("run-2:failed".into(), record("run-2:failed", written));
        app.store.objects.borrow_mut().insert(
            "b/evidence/prod/sm/run-1:succeeded/report.html".into(),
            b"<!DOCTYPE html><html><head><title>SIT to PROD promotion of sm</title></head></html>"
                .to_vec(),
        );
        assert_eq!(
            page(&app, evidence_link("run-1:succeeded", KEY_HEX)).await,
            (200, "SIT to PROD promotion of sm".into())
        );
        for (d, k) in [
            ("run-1:succeeded", "00112233445566778899aabbccddeefe"),
            ("run-1:succeeded", ""),
            ("run-9:succeeded", KEY_HEX),
            ("", KEY_HEX),
        ] {
            assert_eq!(
                page(&app, evidence_link(d, k)).await,
                (404, "Not a valid link".into()),
                "{d} {k}"
            );
        }
        assert_eq!(
            page(&app, evidence_link("run-0:succeeded", KEY_HEX)).await,
            (410, "Link expired".into())
        );
        assert_eq!(
            page(&app, evidence_link("run-2:failed", KEY_HEX)).await,
            (404, "No report".into())
        );
    }
}
