//! The HTTP face of the approval function (its Function URL, payload format 2.0).
//!
//! `GET /decide?t=<link>` verifies the link and shows the request with a confirm form; it decides
//! nothing, so a mail scanner that follows links decides nothing (it only passes on a decision
//! already recorded whose callback failed, see `pass_on`). `POST /decide` (form fields `t`,
//! `confirm=yes`, and `reason` for a rejection) records the decision under the domain's quorum rules.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use bbws_aws::approvals::{self, Callback, Item, READY};
use bbws_aws::BbwsError;
use bbws_domain::links::{verify, LinkClaims, LinkDecision};
use bbws_domain::{
    link_refusal, not_counted, rule, Act, Approval, ApprovalAttempt, Asked, Directory, ErrorName,
    Refusal, Requirement, Role, Ruling, Standing,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::deliver::{deliver, hand_over, undelivered, Decision, IfGone};
use crate::handler::App;
use crate::pages;
use crate::ports::{Callbacks, Mail, Parameters, Store};

/// The page to answer with.
struct Answer {
    status: u16,
    html: String,
}

impl Answer {
    fn page(status: u16, html: String) -> Answer {
        Answer { status, html }
    }

    fn refused(status: u16, title: &str, text: &str) -> Answer {
        Answer::page(status, pages::message(title, text))
    }
}

/// Who is calling, for the audit trail.
struct Caller {
    source_ip: String,
    user_agent: String,
}

pub async fn handle<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    event: Value,
) -> Value {
    let answer = match serde_json::from_value::<LambdaFunctionUrlRequest>(event) {
        Ok(req) => route(app, &req).await,
        Err(e) => {
            warn!(event = "bad_http_event", error = %e);
            Answer::refused(400, "Bad request", "This request could not be read.")
        }
    };
    json!({
        "statusCode": answer.status,
        "headers": {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "referrer-policy": "no-referrer",
            "x-frame-options": "DENY",
            "x-content-type-options": "nosniff",
            "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        },
        "body": answer.html,
    })
}

async fn route<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    req: &LambdaFunctionUrlRequest,
) -> Answer {
    let path = req.raw_path.as_deref().unwrap_or("/");
    let method = req.request_context.http.method.as_deref().unwrap_or("GET");
    let caller = Caller {
        source_ip: req
            .request_context
            .http
            .source_ip
            .clone()
            .unwrap_or_default(),
        user_agent: req
            .request_context
            .http
            .user_agent
            .clone()
            .unwrap_or_default(),
    };
    let result = match (method, path) {
        (_, "/health") => {
            return Answer::page(200, pages::message("OK", "The approval service is up."))
        }
        ("GET" | "HEAD", "/decide") => {
            let token = req
                .query_string_parameters
                .get("t")
                .cloned()
                .unwrap_or_default();
            show(app, &token, &caller).await
        }
        ("POST", "/decide") => {
            let form = form_of(req);
            let token = form.get("t").cloned().unwrap_or_default();
            if form.get("confirm").map(String::as_str) != Some("yes") {
                return Answer::refused(
                    400,
                    "Not confirmed",
                    "Nothing was decided: the form was not confirmed.",
                );
            }
            let reason = form.get("reason").cloned().unwrap_or_default();
            answer(app, &token, reason.trim(), &caller).await
        }
        ("GET" | "HEAD", "/evidence") => {
            let q = &req.query_string_parameters;
            let (d, k) = (
                q.get("d").cloned().unwrap_or_default(),
                q.get("k").cloned().unwrap_or_default(),
            );
            evidence_page(app, &d, &k, Utc::now()).await
        }
        _ => return Answer::refused(404, "Not found", "This is not an approval link."),
    };
    result.unwrap_or_else(|e| {
        warn!(event = "approval_error", error_type = %e.error_type, error = %e.message);
        Answer::refused(503, "Try again", "The approval service could not answer just now; nothing was decided. Try the link again in a minute.")
    })
}

/// The evidence report a completion email links to (`/evidence?d=<deployment id>&k=<key>`): the
/// record's link key, for 7 days from the record (bbws_domain::evidence::link_opens); nothing else
/// of the record or the bucket is reachable through it.
async fn evidence_page<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    deployment_id: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Answer, BbwsError> {
    use bbws_domain::evidence::{link_opens, LinkRefusal};
    let not_valid = || {
        Answer::refused(
            404,
            "Not a valid link",
            "This evidence link is not valid. Ask the platform team for the report, or read it with \
             bbws-report show.",
        )
    };
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    if deployment_id.is_empty() || key.is_empty() {
        return Ok(not_valid());
    }
    let Some(record) = app
        .store
        .deployment(&settings.deployments_table, deployment_id)
        .await?
    else {
        info!(
            event = "evidence_link_refused",
            reason = "no record",
            "an evidence link named no record"
        );
        return Ok(not_valid());
    };
    let record = Value::Object(record);
    match link_opens(&record, key, now) {
        Ok(()) => {}
        Err(LinkRefusal::Unknown) => {
            info!(event = "evidence_link_refused", deployment_id = %deployment_id, reason = "key",
                  "an evidence link of {deployment_id} did not verify");
            return Ok(not_valid());
        }
        Err(LinkRefusal::Expired(until)) => {
            info!(event = "evidence_link_refused", deployment_id = %deployment_id, reason = "expired",
                  "an evidence link of {deployment_id} expired at {until}");
            return Ok(Answer::refused(
                410,
                "Link expired",
                &format!(
                    "This link opened the report until {} UTC. Auditors read it with bbws-report show.",
                    until.format("%Y-%m-%d %H:%M")
                ),
            ));
        }
    }
    let place = &record["evidence"];
    let (Some(bucket), Some(prefix)) = (place["bucket"].as_str(), place["prefix"].as_str()) else {
        return Ok(not_valid());
    };
    let Some(html) = app
        .store
        .evidence(bucket, &format!("{prefix}report.html"))
        .await?
    else {
        return Ok(Answer::refused(
            404,
            "No report",
            "The report of this deployment was not written; the completion email said why.",
        ));
    };
    info!(event = "evidence_opened", deployment_id = %deployment_id, "the report of {deployment_id} was opened");
    Ok(Answer::page(
        200,
        String::from_utf8_lossy(&html).into_owned(),
    ))
}

fn form_of(req: &LambdaFunctionUrlRequest) -> std::collections::HashMap<String, String> {
    let raw = req.body.clone().unwrap_or_default();
    let bytes = if req.is_base64_encoded {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(raw.as_bytes())
            .unwrap_or_default()
    } else {
        raw.into_bytes()
    };
    form_urlencoded::parse(&bytes).into_owned().collect()
}

/// What a verified link points at.
struct Context {
    claims: LinkClaims,
    request: Item,
    requirement: Requirement,
    requester: String,
    directory: Directory,
}

/// Verifies the link and loads its request; `Err(Answer)` is the refusal to show.
async fn context<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    token: &str,
) -> Result<Result<Context, Answer>, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let secrets = app.secrets().await?;
    let claims = match verify(token, &secrets.key, Utc::now().timestamp()) {
        Ok(c) => c,
        Err(e) => {
            let title = if matches!(e, bbws_domain::LinkError::Expired) {
                "This link has expired"
            } else {
                "This link is not valid"
            };
            return Ok(Err(Answer::refused(
                403,
                title,
                &format!("{e}. Nothing was changed."),
            )));
        }
    };
    let Some(request) = app
        .store
        .get(&settings.approvals_table, &claims.request_id, "request")
        .await?
    else {
        return Ok(Err(Answer::refused(
            404,
            "No such request",
            "This approval request does not exist. Nothing was changed.",
        )));
    };
    let requirement: Requirement =
        serde_json::from_value(request.get("required").cloned().unwrap_or(Value::Null))
            .map_err(|e| BbwsError::invalid_event(format!("stored requirement: {e}")))?;
    let requester = request
        .get("requested_by")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Ok(Ok(Context {
        claims,
        request,
        requirement,
        requester,
        directory: secrets.directory,
    }))
}

/// What the request approves, in a sentence: `promotion` (the default), `rollback`, `release`,
/// `tenant apply` or `tenant rollback`.
fn noun(request: &Item) -> &'static str {
    let field = |k: &str| request.get(k).and_then(Value::as_str);
    pages::noun(field("kind"), field("action"))
}

fn status_of(request: &Item) -> &str {
    request
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

/// Where the request stands, as read.
fn standing(request: &Item) -> Standing {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let role = |v: &Value| serde_json::from_value::<Role>(v.clone()).ok();
    match status_of(request) {
        "pending" => Standing::Pending,
        "approved" => Standing::Approved {
            approvers: request
                .get("approvers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| Some((text(&a["person"])?, role(&a["role"])?)))
                .collect(),
            at: request.get("decided_at").and_then(text),
        },
        "rejected" => {
            let by = request.get("rejected_by").cloned().unwrap_or(Value::Null);
            Standing::Rejected {
                by: text(&by["person"]).unwrap_or_else(|| "an approver".to_owned()),
                role: role(&by["role"]),
                at: text(&by["at"]).or_else(|| request.get("decided_at").and_then(text)),
            }
        }
        _ => Standing::Closed,
    }
}

fn asked(claims: &LinkClaims) -> Asked {
    match claims.decision {
        LinkDecision::Approve => Asked::Approve,
        LinkDecision::Reject => Asked::Reject,
    }
}

/// The answer when `request` is no longer pending (or its deadline has passed): what happened, and
/// that the holder's decision was not counted.
fn closed(request: &Item, asked: Asked) -> Option<Answer> {
    let standing = standing(request);
    let text = not_counted(noun(request), &standing, asked);
    match standing {
        Standing::Rejected { .. } => Some(Answer::refused(
            409,
            &format!("This {} was rejected", noun(request)),
            &text,
        )),
        Standing::Approved { .. } => Some(Answer::refused(409, "Already approved", &text)),
        Standing::Closed => Some(Answer::refused(410, "This request has closed", &text)),
        Standing::Pending => {
            let deadline = request
                .get("deadline_epoch")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            (Utc::now().timestamp() > deadline).then(|| Answer::refused(410, "This request has expired", &format!("The deadline for this approval has passed; the {} did not go ahead. Nothing was changed.", noun(request))))
        }
    }
}

/// The refusal of a link its holder may not use: the same page whether it is opened or confirmed.
fn link_refused(asked: Asked, why: &Refusal) -> Answer {
    let title = match asked {
        Asked::Approve => "Approval not counted",
        Asked::Reject => "Rejection not counted",
    };
    Answer::refused(
        403,
        title,
        &format!("Not counted: {why}. Nothing was changed."),
    )
}

/// Whether the holder of the link may use it, by the one rule for both decisions.
/// (Also answers the roles approved so far, which the page shows.)
async fn refusal_of<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    ctx: &Context,
) -> Result<(Option<Refusal>, Vec<Role>), BbwsError> {
    let so_far = approvals_so_far(app, &ctx.claims.request_id).await?;
    let attempt = ApprovalAttempt {
        email: ctx.claims.approver.clone(),
        role: ctx.claims.role,
    };
    let refusal = link_refusal(
        asked(&ctx.claims),
        &ctx.requirement,
        &ctx.requester,
        &ctx.directory,
        &so_far,
        &attempt,
    );
    Ok((refusal, so_far.iter().map(|a| a.role).collect()))
}

/// The confirm page for the link's holder.
fn confirm_page(ctx: &Context, token: &str, given: &[Role], error: Option<&str>) -> String {
    let viewer = pages::Viewer {
        approver: &ctx.claims.approver,
        role: ctx.claims.role,
        requirement: &ctx.requirement,
        given,
        now: Utc::now(),
    };
    pages::confirm(
        &Value::Object(ctx.request.clone()),
        token,
        &viewer,
        asked(&ctx.claims) == Asked::Approve,
        error,
    )
}

async fn show<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    token: &str,
    caller: &Caller,
) -> Result<Answer, BbwsError> {
    let ctx = match context(app, token).await? {
        Ok(c) => c,
        Err(refusal) => return Ok(refusal),
    };
    let asked = asked(&ctx.claims);
    if let Some(passed) = pass_on(app, &ctx, caller).await? {
        return Ok(passed);
    }
    if let Some(refusal) = closed(&ctx.request, asked) {
        return Ok(refusal);
    }
    // A link its holder may not use is refused now, as confirming it would be; nothing is written.
    let (refusal, given) = refusal_of(app, &ctx).await?;
    if let Some(why) = refusal {
        return Ok(link_refused(asked, &why));
    }
    info!(event = "approval_viewed", request_id = %ctx.claims.request_id, decision = ctx.claims.decision.as_str(),
          role = ctx.claims.role.as_str(), "approval page {} shown", ctx.claims.request_id);
    Ok(Answer::page(200, confirm_page(&ctx, token, &given, None)))
}

async fn answer<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    token: &str,
    reason: &str,
    caller: &Caller,
) -> Result<Answer, BbwsError> {
    let ctx = match context(app, token).await? {
        Ok(c) => c,
        Err(refusal) => {
            audit(app, None, "refused", &refusal.html_title(), caller).await?;
            return Ok(refusal);
        }
    };
    if let Some(passed) = pass_on(app, &ctx, caller).await? {
        return Ok(passed);
    }
    if let Some(refusal) = closed(&ctx.request, asked(&ctx.claims)) {
        audit(app, Some(&ctx), "not_counted", &refusal.text(), caller).await?;
        return Ok(refusal);
    }
    match ctx.claims.decision {
        LinkDecision::Approve => approve(app, &ctx, caller).await,
        LinkDecision::Reject => reject(app, &ctx, token, reason, caller).await,
    }
}

impl Answer {
    /// The page's first paragraph, for the audit trail.
    fn text(&self) -> String {
        self.html
            .split("<p>")
            .nth(1)
            .and_then(|rest| rest.split("</p>").next())
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's title, for the audit trail.
    fn html_title(&self) -> String {
        self.html
            .split("<title>")
            .nth(1)
            .and_then(|rest| rest.split("</title>").next())
            .unwrap_or_default()
            .to_owned()
    }
}

fn approval_of(item: &Item) -> Option<Approval> {
    let email = item.get("person")?.as_str()?.to_owned();
    let role: Role = serde_json::from_value(item.get("role")?.clone()).ok()?;
    let at: DateTime<Utc> = item.get("at")?.as_str()?.parse().ok()?;
    Some(Approval { email, role, at })
}

async fn approvals_so_far<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    request_id: &str,
) -> Result<Vec<Approval>, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let items = app
        .store
        .items_with_prefix(&settings.approvals_table, request_id, "approval#")
        .await?;
    Ok(items.iter().filter_map(approval_of).collect())
}

fn with_article(role: Role) -> String {
    let label = role.label();
    let article = if label.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {label}")
}

/// How many times an approval is tried again after another approval was written first.
const APPROVAL_ATTEMPTS: usize = 5;

async fn approve<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    ctx: &Context,
    caller: &Caller,
) -> Result<Answer, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let request_id = &ctx.claims.request_id;
    let attempt = ApprovalAttempt {
        email: ctx.claims.approver.clone(),
        role: ctx.claims.role,
    };
    let mut request = ctx.request.clone();
    for round in 1..=APPROVAL_ATTEMPTS {
        // Each round decides on the request and approvals as read; the write holds only if
        // neither changed since, so an answer is never given on a stale reading.
        if let Some(refusal) = closed(&request, Asked::Approve) {
            info!(event = "approval_not_counted", request_id = %request_id, role = ctx.claims.role.as_str(),
                  status = status_of(&request), round, "approval {request_id} not counted: the request left pending");
            audit(app, Some(ctx), "not_counted", &refusal.text(), caller).await?;
            return Ok(refusal);
        }
        let so_far = approvals_so_far(app, request_id).await?;
        let (met, still_needed) = match rule(
            Act::Approve,
            &ctx.requirement,
            &ctx.requester,
            &ctx.directory,
            &so_far,
            &attempt,
        ) {
            Ruling::Approved { met, still_needed } => (met, still_needed),
            Ruling::Refused(why) => {
                let refusal = link_refused(Asked::Approve, &why);
                audit(app, Some(ctx), "refused", &refusal.text(), caller).await?;
                return Ok(refusal);
            }
            Ruling::Rejected | Ruling::ReasonInvalid(_) => {
                return Err(BbwsError::invalid_event(
                    "an approval was ruled as a rejection",
                ));
            }
        };
        let now = Utc::now();
        let mut item = Map::new();
        item.insert("request_id".into(), json!(request_id));
        item.insert(
            "item".into(),
            json!(format!("approval#{}", ctx.claims.role.as_str())),
        );
        item.insert("person".into(), json!(ctx.claims.approver));
        item.insert("role".into(), json!(ctx.claims.role));
        item.insert("at".into(), json!(now.to_rfc3339()));
        item.insert("source_ip".into(), json!(caller.source_ip));
        item.insert("user_agent".into(), json!(caller.user_agent));
        let mut approvers: Vec<Value> = so_far
            .iter()
            .map(|a| json!({"person": a.email, "role": a.role, "at": a.at.to_rfc3339()}))
            .collect();
        approvers.push(
            json!({"person": ctx.claims.approver, "role": ctx.claims.role, "at": now.to_rfc3339()}),
        );
        let mut fields = Map::new();
        fields.insert("decided_at".into(), json!(now.to_rfc3339()));
        fields.insert("approvers".into(), Value::Array(approvers.clone()));
        let task_token = request
            .get("task_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let write = approvals::ApprovalWrite {
            request_id,
            approval: &item,
            given_before: request
                .get(approvals::APPROVALS_GIVEN)
                .and_then(Value::as_i64)
                .unwrap_or(0),
            task_token: &task_token,
            now_epoch: now.timestamp(),
            ready: request.contains_key(READY),
            decides: met.then_some(&fields),
        };
        if !app
            .store
            .record_approval(&settings.approvals_table, &write)
            .await?
        {
            info!(event = "approval_write_lost", request_id = %request_id, role = ctx.claims.role.as_str(), round,
                  "approval {request_id}: the request changed since it was read (round {round}); reading it again");
            request = app
                .store
                .get(&settings.approvals_table, request_id, "request")
                .await?
                .ok_or_else(|| {
                    BbwsError::invalid_event(format!("request {request_id} vanished"))
                })?;
            continue;
        }
        audit(app, Some(ctx), "approved", "approval recorded", caller).await?;
        let given = so_far.len() + 1;
        info!(event = "approval", request_id = %request_id, role = ctx.claims.role.as_str(), given,
              met, round, "approval {request_id}: {given} approvals, quorum met: {met}");
        if !met {
            let (total, joiner) = match &ctx.requirement {
                Requirement::AllOf(roles) => (roles.len(), " and "),
                Requirement::AnyOf(_) => (given + 1, " or "),
            };
            let waiting: Vec<String> = still_needed.iter().map(|r| with_article(*r)).collect();
            let text = format!(
                "Approved — {given} of {total} approvals; waiting for {}.",
                waiting.join(joiner)
            );
            return Ok(Answer::page(200, pages::message("Approved", &text)));
        }
        let continues = format!(
            "Approved — {given} of {given} approvals; the {} continues.",
            noun(&ctx.request)
        );
        if !write.ready {
            // The ask is still at work: it gives this decision to its wait as its last act.
            info!(event = "quorum_met", request_id = %request_id, approvers = given, delivered_by = "ask",
                  "approval {request_id} complete; the ask still at work passes it on");
            return Ok(Answer::page(200, pages::message("Approved", &continues)));
        }
        let decision = Decision::Approved {
            approvers: Value::Array(approvers),
        };
        return match deliver(
            app,
            settings,
            request_id,
            &task_token,
            &decision,
            IfGone::Close,
        )
        .await
        {
            Ok(Callback::Delivered) => {
                info!(event = "quorum_met", request_id = %request_id, approvers = given, delivered_by = "approver",
                      "approval {request_id} complete");
                Ok(Answer::page(200, pages::message("Approved", &continues)))
            }
            Ok(Callback::Gone(_)) => Ok(gone(&ctx.request)),
            Err(e) => {
                warn!(event = "delivery_failed", request_id = %request_id, error_type = %e.error_type,
                      error = %e.message, "approval {request_id} recorded; the wait could not be told");
                hand_over(app, settings, request_id, &decision).await;
                Ok(not_passed_on(&ctx.request))
            }
        };
    }
    warn!(event = "approval_contended", request_id = %request_id, rounds = APPROVAL_ATTEMPTS,
          "approval {request_id}: the request kept changing; nothing was decided");
    Err(BbwsError::new(
        ErrorName::AwsUnavailable,
        format!(
        "approval {request_id}: the request changed {APPROVAL_ATTEMPTS} times while it was decided"
    ),
    ))
}

async fn reject<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    ctx: &Context,
    token: &str,
    reason: &str,
    caller: &Caller,
) -> Result<Answer, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let request_id = &ctx.claims.request_id;
    let role = ctx.claims.role;
    let so_far = approvals_so_far(app, request_id).await?;
    let attempt = ApprovalAttempt {
        email: ctx.claims.approver.clone(),
        role,
    };
    match rule(
        Act::Reject { reason },
        &ctx.requirement,
        &ctx.requester,
        &ctx.directory,
        &so_far,
        &attempt,
    ) {
        Ruling::Rejected => {}
        Ruling::Refused(why) => {
            let refusal = link_refused(Asked::Reject, &why);
            audit(app, Some(ctx), "refused", &refusal.text(), caller).await?;
            return Ok(refusal);
        }
        Ruling::ReasonInvalid(words) => {
            let given: Vec<Role> = so_far.iter().map(|a| a.role).collect();
            return Ok(Answer::page(
                400,
                confirm_page(ctx, token, &given, Some(&words)),
            ));
        }
        Ruling::Approved { .. } => {
            return Err(BbwsError::invalid_event(
                "a rejection was ruled as an approval",
            ));
        }
    }
    let now = Utc::now();
    let cause = format!(
        "{} ({}) rejected: {reason}",
        ctx.claims.approver,
        role.label()
    );
    let mut fields = Map::new();
    fields.insert("decided_at".into(), json!(now.to_rfc3339()));
    fields.insert("rejected_by".into(), json!({"person": ctx.claims.approver, "role": role, "at": now.to_rfc3339(), "reason": reason}));
    // What the wait is failed with, kept so a retried request gives the same rejection.
    fields.insert("cause".into(), json!(cause));
    let decided = app
        .store
        .transition(
            &settings.approvals_table,
            request_id,
            "pending",
            "rejected",
            &fields,
        )
        .await?;
    let Some(decided) = decided else {
        // Lost to the quorum (or the wait's end): read what won and say so.
        let now_request = request_now(app, settings, request_id).await?;
        let refusal = closed(&now_request, Asked::Reject).unwrap_or_else(|| {
            Answer::refused(
                409,
                "Already decided",
                &format!(
                    "This {} was already decided — your rejection was not counted; nothing was changed.",
                    noun(&ctx.request)
                ),
            )
        });
        info!(event = "rejection_not_counted", request_id = %request_id, role = role.as_str(),
              status = status_of(&now_request), "rejection of {request_id} not counted: the request left pending");
        audit(app, Some(ctx), "not_counted", &refusal.text(), caller).await?;
        return Ok(refusal);
    };
    audit(app, Some(ctx), "rejected", reason, caller).await?;
    let stops = format!(
        "Rejected — the {} stops; the requester is told why.",
        noun(&ctx.request)
    );
    if !decided.contains_key(READY) {
        info!(event = "rejected", request_id = %request_id, role = role.as_str(), delivered_by = "ask",
              "approval {request_id} rejected; the ask still at work passes it on");
        return Ok(Answer::page(200, pages::message("Rejected", &stops)));
    }
    let token = decided
        .get("task_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let decision = Decision::Rejected { cause };
    match deliver(app, settings, request_id, token, &decision, IfGone::Close).await {
        Ok(Callback::Delivered) => {
            info!(event = "rejected", request_id = %request_id, role = role.as_str(), "approval {request_id} rejected");
            Ok(Answer::page(200, pages::message("Rejected", &stops)))
        }
        Ok(Callback::Gone(_)) => Ok(gone(&ctx.request)),
        Err(e) => {
            warn!(event = "delivery_failed", request_id = %request_id, error_type = %e.error_type,
                  error = %e.message, "approval {request_id} rejected; the wait could not be told");
            hand_over(app, settings, request_id, &decision).await;
            Ok(not_passed_on(&ctx.request))
        }
    }
}

/// The request as it reads now, after a write lost to another (empty if it is gone).
async fn request_now<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    settings: &bbws_aws::Settings,
    request_id: &str,
) -> Result<Item, BbwsError> {
    Ok(app
        .store
        .get(&settings.approvals_table, request_id, "request")
        .await?
        .unwrap_or_default())
}

/// The wait ended before the decision reached it.
fn gone(request: &Item) -> Answer {
    Answer::refused(
        410,
        "This request has expired",
        &format!(
            "The {} is no longer waiting for approval (it timed out or ended); nothing was changed.",
            noun(request)
        ),
    )
}

/// The decision is recorded but the wait could not be told just now; any link passes it on later.
fn not_passed_on(request: &Item) -> Answer {
    Answer::refused(
        503,
        "Recorded, not yet passed on",
        &format!(
            "Your decision is recorded, but the {} could not be told just now. Open the link again in a minute to pass it on.",
            noun(request)
        ),
    )
}

/// A decision recorded but not yet given to the wait (its callback failed on the way) is passed on
/// by the next visit of any of the request's links; `None` when there is nothing to pass on.
async fn pass_on<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    ctx: &Context,
    caller: &Caller,
) -> Result<Option<Answer>, BbwsError> {
    let Some(decision) = undelivered(&ctx.request, Utc::now()) else {
        return Ok(None);
    };
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let request_id = &ctx.claims.request_id;
    let token = ctx
        .request
        .get("task_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let answer = match deliver(app, settings, request_id, token, &decision, IfGone::Leave).await {
        Ok(Callback::Delivered) => {
            let text = match &decision {
                Decision::Approved { .. } => format!(
                    "This {} was already approved; the approval has now been passed on and it continues. Your link was not needed.",
                    noun(&ctx.request)
                ),
                Decision::Rejected { .. } => format!(
                    "This {} was already rejected; the rejection has now been passed on. Your link was not needed.",
                    noun(&ctx.request)
                ),
            };
            let title = match &decision {
                Decision::Approved { .. } => "Already approved",
                Decision::Rejected { .. } => "Already rejected",
            };
            Answer::refused(409, title, &text)
        }
        Ok(Callback::Gone(_)) => {
            // Delivered by another visit a moment before, or the wait ended: answered as the
            // request now reads (the closed page of a decided request), as if nothing was passed on.
            let now = request_now(app, settings, request_id).await?;
            let answer = closed(&now, asked(&ctx.claims)).unwrap_or_else(|| gone(&ctx.request));
            audit(app, Some(ctx), "not_counted", &answer.text(), caller).await?;
            return Ok(Some(answer));
        }
        Err(e) => {
            warn!(event = "delivery_failed", request_id = %request_id, error_type = %e.error_type,
                  error = %e.message, "approval {request_id}: the decision could not be passed on");
            not_passed_on(&ctx.request)
        }
    };
    audit(app, Some(ctx), "passed_on", &answer.text(), caller).await?;
    Ok(Some(answer))
}

/// Every decision and refusal: who, when, from which address and user agent.
async fn audit<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    ctx: Option<&Context>,
    outcome: &str,
    detail: &str,
    caller: &Caller,
) -> Result<(), BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let now = Utc::now();
    let (request_id, person, role, decision) = match ctx {
        Some(c) => (
            c.claims.request_id.clone(),
            c.claims.approver.clone(),
            c.claims.role.as_str(),
            c.claims.decision.as_str(),
        ),
        None => (
            "unverified-links".to_owned(),
            "unknown".to_owned(),
            "-",
            "-",
        ),
    };
    let nonce: u32 = rand_suffix();
    let mut item = Map::new();
    item.insert("request_id".into(), json!(request_id));
    item.insert(
        "item".into(),
        json!(format!("audit#{}#{nonce:08x}", now.to_rfc3339())),
    );
    item.insert("person".into(), json!(person));
    item.insert("role".into(), json!(role));
    item.insert("decision".into(), json!(decision));
    item.insert("outcome".into(), json!(outcome));
    item.insert("detail".into(), json!(detail));
    item.insert("source_ip".into(), json!(caller.source_ip));
    item.insert("user_agent".into(), json!(caller.user_agent));
    item.insert("at".into(), json!(now.to_rfc3339()));
    item.insert("expires_at".into(), json!(now.timestamp() + 400 * 86_400));
    info!(event = "approval_audit", request_id = %request_id, person = %person, role, decision, outcome,
          source_ip = %caller.source_ip, "{outcome}: {detail}");
    app.store
        .put_if_absent(&settings.approvals_table, &item)
        .await?;
    Ok(())
}

/// A few bits that keep two audit items of the same nanosecond apart.
fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
    h.finish() as u32
}
