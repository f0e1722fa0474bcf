//! The HTTP face of the approval function (its Function URL, payload format 2.0).
//!
//! `GET /decide?t=<link>` verifies the link and shows the request with a confirm form; it writes
//! nothing, so a mail scanner that follows links decides nothing. `POST /decide` (form fields `t`,
//! `confirm=yes`, and `reason` for a rejection) records the decision under the domain's quorum rules.

use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use bbws_aws::approvals::{self, Callback, Item};
use bbws_aws::BbwsError;
use bbws_domain::links::{verify, LinkClaims, LinkDecision};
use bbws_domain::{decide, Approval, ApprovalAttempt, Decision, Directory, Requirement, Role};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::pages;
use crate::App;

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

pub async fn handle(app: &App, event: Value) -> Value {
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

async fn route(app: &App, req: &LambdaFunctionUrlRequest) -> Answer {
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
            show(app, &token).await
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
        _ => return Answer::refused(404, "Not found", "This is not an approval link."),
    };
    result.unwrap_or_else(|e| {
        warn!(event = "approval_error", error_type = %e.error_type, error = %e.message);
        Answer::refused(503, "Try again", "The approval service could not answer just now; nothing was decided. Try the link again in a minute.")
    })
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
async fn context(app: &App, token: &str) -> Result<Result<Context, Answer>, BbwsError> {
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
    let Some(request) = approvals::get(
        &app.aws.dynamodb(),
        &settings.approvals_table,
        &claims.request_id,
        "request",
    )
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

/// What the request approves, in a sentence: `promotion` (the default), `rollback` or `release`.
fn noun(request: &Item) -> &str {
    request
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("promotion")
}

fn status_of(request: &Item) -> &str {
    request
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
}

fn closed(ctx: &Context) -> Option<Answer> {
    let status = status_of(&ctx.request);
    let deadline = ctx
        .request
        .get("deadline_epoch")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if status != "pending" {
        let text = match status {
            "approved" => format!(
                "This {} was already approved; nothing was changed.",
                noun(&ctx.request)
            ),
            "rejected" => format!(
                "This {} was already rejected; nothing was changed.",
                noun(&ctx.request)
            ),
            _ => "This approval request is closed (its wait has ended); nothing was changed."
                .to_owned(),
        };
        return Some(Answer::refused(409, "Already decided", &text));
    }
    if Utc::now().timestamp() > deadline {
        return Some(Answer::refused(410, "This request has expired", &format!("The deadline for this approval has passed; the {} did not go ahead. Nothing was changed.", noun(&ctx.request))));
    }
    None
}

async fn show(app: &App, token: &str) -> Result<Answer, BbwsError> {
    let ctx = match context(app, token).await? {
        Ok(c) => c,
        Err(refusal) => return Ok(refusal),
    };
    if let Some(refusal) = closed(&ctx) {
        return Ok(refusal);
    }
    let approve = ctx.claims.decision == LinkDecision::Approve;
    if approve {
        // Say at once when an approval would not count; the page still changes nothing.
        let so_far = approvals_so_far(app, &ctx.claims.request_id).await?;
        let attempt = ApprovalAttempt {
            email: ctx.claims.approver.clone(),
            role: ctx.claims.role,
        };
        if let Decision::Refused(why) = decide(
            &ctx.requirement,
            &ctx.requester,
            &ctx.directory,
            &so_far,
            &attempt,
        ) {
            return Ok(Answer::refused(
                403,
                "Approval not counted",
                &format!("Not counted: {why}. Nothing was changed."),
            ));
        }
    }
    info!(event = "approval_viewed", request_id = %ctx.claims.request_id, decision = ctx.claims.decision.as_str(),
          role = ctx.claims.role.as_str(), "approval page {} shown", ctx.claims.request_id);
    Ok(Answer::page(
        200,
        pages::confirm(
            &Value::Object(ctx.request.clone()),
            token,
            &ctx.claims.approver,
            ctx.claims.role.as_str(),
            approve,
            None,
        ),
    ))
}

async fn answer(
    app: &App,
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
    if let Some(refusal) = closed(&ctx) {
        audit(app, Some(&ctx), "refused", &refusal.html_title(), caller).await?;
        return Ok(refusal);
    }
    match ctx.claims.decision {
        LinkDecision::Approve => approve(app, &ctx, caller).await,
        LinkDecision::Reject => reject(app, &ctx, token, reason, caller).await,
    }
}

impl Answer {
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

async fn approvals_so_far(app: &App, request_id: &str) -> Result<Vec<Approval>, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let items = approvals::items_with_prefix(
        &app.aws.dynamodb(),
        &settings.approvals_table,
        request_id,
        "approval#",
    )
    .await?;
    Ok(items.iter().filter_map(approval_of).collect())
}

fn with_article(role: Role) -> String {
    let label = role_label(role);
    let article = if label.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {label}")
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::DevLead => "Dev Lead",
        Role::TechLead => "Tech Lead",
        Role::OperationsLead => "Operations Lead",
        Role::Cto => "CTO",
    }
}

async fn approve(app: &App, ctx: &Context, caller: &Caller) -> Result<Answer, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let request_id = &ctx.claims.request_id;
    let so_far = approvals_so_far(app, request_id).await?;
    let attempt = ApprovalAttempt {
        email: ctx.claims.approver.clone(),
        role: ctx.claims.role,
    };
    if let Decision::Refused(why) = decide(
        &ctx.requirement,
        &ctx.requester,
        &ctx.directory,
        &so_far,
        &attempt,
    ) {
        let text = format!("Not counted: {why}. Nothing was changed.");
        audit(app, Some(ctx), "refused", &text, caller).await?;
        return Ok(Answer::refused(403, "Approval not counted", &text));
    }
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
    if !approvals::put_if_absent(&app.aws.dynamodb(), &settings.approvals_table, &item).await? {
        let text = format!(
            "Not counted: the {} approval was already given. Nothing was changed.",
            role_label(ctx.claims.role)
        );
        audit(app, Some(ctx), "refused", &text, caller).await?;
        return Ok(Answer::refused(409, "Already approved", &text));
    }
    audit(app, Some(ctx), "approved", "approval recorded", caller).await?;
    let all = approvals_so_far(app, request_id).await?;
    let status = ctx.requirement.status(&all);
    info!(event = "approval", request_id = %request_id, role = ctx.claims.role.as_str(), given = all.len(),
          met = status.met, "approval {request_id}: {} approvals, quorum met: {}", all.len(), status.met);
    if !status.met {
        let (total, joiner) = match &ctx.requirement {
            Requirement::AllOf(roles) => (roles.len(), " and "),
            Requirement::AnyOf(_) => (all.len() + 1, " or "),
        };
        let waiting: Vec<String> = status
            .still_needed
            .iter()
            .map(|r| with_article(*r))
            .collect();
        let text = format!(
            "Approved — {} of {total} approvals; waiting for {}.",
            all.len(),
            waiting.join(joiner)
        );
        return Ok(Answer::page(200, pages::message("Approved", &text)));
    }
    let approvers: Vec<Value> = all
        .iter()
        .map(|a| json!({"person": a.email, "role": a.role, "at": a.at.to_rfc3339()}))
        .collect();
    let mut fields = Map::new();
    fields.insert("decided_at".into(), json!(now.to_rfc3339()));
    fields.insert("approvers".into(), Value::Array(approvers.clone()));
    // The token is read in the same write that decides: a retried request may have replaced it.
    let decided = approvals::transition_item(
        &app.aws.dynamodb(),
        &settings.approvals_table,
        request_id,
        "pending",
        "approved",
        &fields,
    )
    .await?;
    let Some(decided) = decided else {
        return Ok(Answer::page(
            200,
            pages::message(
                "Approved",
                &format!(
                    "Approved — the quorum is met; the {} continues.",
                    noun(&ctx.request)
                ),
            ),
        ));
    };
    let token = decided
        .get("task_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match approvals::succeed(
        &app.aws.sfn(),
        token,
        &json!({"request_id": request_id, "approvers": approvers}),
    )
    .await?
    {
        Callback::Delivered => {
            info!(event = "quorum_met", request_id = %request_id, approvers = approvers.len(), "approval {request_id} complete");
            Ok(Answer::page(
                200,
                pages::message(
                    "Approved",
                    &format!(
                        "Approved — {} of {} approvals; the {} continues.",
                        all.len(),
                        all.len(),
                        noun(&ctx.request)
                    ),
                ),
            ))
        }
        Callback::Gone(why) => {
            warn!(event = "wait_gone", request_id = %request_id, detail = %why);
            let mut f = Map::new();
            f.insert("closed_because".into(), json!(why));
            approvals::transition(
                &app.aws.dynamodb(),
                &settings.approvals_table,
                request_id,
                "approved",
                "expired",
                &f,
            )
            .await?;
            Ok(Answer::refused(410, "This request has expired", &format!("The {} is no longer waiting for approval (it timed out or ended); nothing was changed.", noun(&ctx.request))))
        }
    }
}

async fn reject(
    app: &App,
    ctx: &Context,
    token: &str,
    reason: &str,
    caller: &Caller,
) -> Result<Answer, BbwsError> {
    let settings = app.settings.as_ref().map_err(Clone::clone)?;
    let request_id = &ctx.claims.request_id;
    let role = ctx.claims.role;
    if !ctx.requirement.roles().contains(&role) || !ctx.directory.holds(&ctx.claims.approver, role)
    {
        let text = format!(
            "Not counted: {} does not hold a role this {} needs. Nothing was changed.",
            ctx.claims.approver,
            noun(&ctx.request)
        );
        audit(app, Some(ctx), "refused", &text, caller).await?;
        return Ok(Answer::refused(403, "Rejection not counted", &text));
    }
    if reason.is_empty() || reason.chars().count() > 500 {
        return Ok(Answer::page(
            400,
            pages::confirm(
                &Value::Object(ctx.request.clone()),
                token,
                &ctx.claims.approver,
                role.as_str(),
                false,
                Some("Say why you reject (1 to 500 characters)."),
            ),
        ));
    }
    let now = Utc::now();
    let cause = format!(
        "{} ({}) rejected: {reason}",
        ctx.claims.approver,
        role_label(role)
    );
    let mut fields = Map::new();
    fields.insert("decided_at".into(), json!(now.to_rfc3339()));
    fields.insert("rejected_by".into(), json!({"person": ctx.claims.approver, "role": role, "at": now.to_rfc3339(), "reason": reason}));
    // What the wait is failed with, kept so a retried request gives the same rejection.
    fields.insert("cause".into(), json!(cause));
    let decided = approvals::transition_item(
        &app.aws.dynamodb(),
        &settings.approvals_table,
        request_id,
        "pending",
        "rejected",
        &fields,
    )
    .await?;
    let Some(decided) = decided else {
        let text = format!(
            "This {} was already decided; nothing was changed.",
            noun(&ctx.request)
        );
        audit(app, Some(ctx), "refused", &text, caller).await?;
        return Ok(Answer::refused(409, "Already decided", &text));
    };
    audit(app, Some(ctx), "rejected", reason, caller).await?;
    let token = decided
        .get("task_token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match approvals::fail(&app.aws.sfn(), token, "Bbws.ApprovalRejected", &cause).await? {
        Callback::Delivered => {
            info!(event = "rejected", request_id = %request_id, role = role.as_str(), "approval {request_id} rejected");
            Ok(Answer::page(
                200,
                pages::message(
                    "Rejected",
                    &format!(
                        "Rejected — the {} stops; the requester is told why.",
                        noun(&ctx.request)
                    ),
                ),
            ))
        }
        Callback::Gone(why) => {
            warn!(event = "wait_gone", request_id = %request_id, detail = %why);
            Ok(Answer::refused(
                410,
                "This request has expired",
                &format!(
                    "The {} was no longer waiting for approval; nothing was changed.",
                    noun(&ctx.request)
                ),
            ))
        }
    }
}

/// Every decision and refusal: who, when, from which address and user agent.
async fn audit(
    app: &App,
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
    approvals::put_if_absent(&app.aws.dynamodb(), &settings.approvals_table, &item).await?;
    Ok(())
}

/// A few bits that keep two audit items of the same nanosecond apart.
fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
    h.finish() as u32
}
