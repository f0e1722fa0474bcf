//! The pages approvers see on a phone: what is asked, a confirm form, and plain answers.
//! Everything shown is escaped; the pages load nothing from elsewhere.

use bbws_domain::{served, Requirement, Role, REASON_MAX_CHARS};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// HTML-escapes text for element content and attribute values (the one escaping of every page the
/// project renders, the evidence reports' too).
pub use bbws_domain::evidence::render::html_escape as escape;

/// One style for every page (the question, and every answer: approved, rejected, already decided,
/// expired, refused): phone first, nothing loaded from elsewhere. Labels never break inside a word;
/// long values (CodeSha256, addresses) may break anywhere.
const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:46em;margin:0 auto;padding:1em;\
line-height:1.45;color:#1b1f24;background:#fff;font-size:17px}\
h1{font-size:1.35em;margin:.2em 0 .4em}h2{font-size:1.05em;margin:1.6em 0 .4em;color:#444}\
p{margin:.5em 0}.ask{font-size:1.1em}\
.flags{list-style:none;padding:0;margin:.6em 0;display:flex;flex-wrap:wrap;gap:.4em}\
.flags li{padding:.2em .6em;border-radius:.4em;background:#eef2f6;font-weight:600;font-size:.95em}\
.flags li.warn{background:#fde8e8;color:#8a1c1c;border:1px solid #f3b4b4}\
.facts{margin:.6em 0;padding:.6em .8em;background:#f6f8fa;border-radius:.5em}\
form{margin:1em 0}\
button{display:block;width:100%;font-size:1.15em;font-weight:600;padding:.85em 1em;border:0;border-radius:.5em;\
color:#fff;cursor:pointer}\
button.approve{background:#1a7f37}button.reject{background:#b42318}\
label{font-weight:600}textarea{width:100%;min-height:4.5em;font:inherit;padding:.4em;margin:.3em 0 .6em}\
.error{color:#b42318;font-weight:600}\
dl{margin:0}.row{padding:.45em 0;border-bottom:1px solid #e3e6ea}\
dt{font-weight:600;color:#444;word-break:keep-all;overflow-wrap:normal;hyphens:none}\
dd{margin:0;overflow-wrap:anywhere}\
@media (min-width:40em){.row{display:grid;grid-template-columns:11em 1fr;gap:1em}}\
.note{color:#555;font-size:.9em}\
.outcome{font-size:1.1em;padding:.8em;border-radius:.5em;background:#f6f8fa}\
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}\
code.sha{display:block;padding:.3em .5em;background:#f6f8fa;border-radius:.3em;word-break:break-all;font-size:.8em}\
.callout,.destroys{margin:.6em 0;padding:.6em .8em;background:#fde8e8;color:#8a1c1c;border:1px solid #f3b4b4;\
border-radius:.5em;font-weight:600}\
.callout ul,ul.destroys{margin:.3em 0;padding-left:1.4em}ul.destroys{padding-left:2em}\
.tenant{margin:1.2em 0 0;padding-top:.2em;border-top:2px solid #e3e6ea}.tenant.destroying{border-top-color:#f3b4b4}\
.headline{font-weight:600}\
table{border-collapse:collapse;width:100%;margin:.6em 0}\
th,td{text-align:left;vertical-align:top;padding:.35em .5em;border-bottom:1px solid #e3e6ea}\
th{color:#444}td{overflow-wrap:anywhere}\
tr.destroy td{background:#fde8e8;color:#8a1c1c;font-weight:600}\
@media (max-width:600px){table.changes,table.changes tbody,table.changes tr,table.changes td{display:block;width:auto}\
table.changes thead{display:none}table.changes tr{border:1px solid #e3e6ea;border-radius:.4em;margin:0 0 .4em}\
table.changes td{border:0;padding:.2em .5em}}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t}</title><style>{STYLE}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// A page that only says something (refusals, outcomes).
pub fn message(title: &str, text: &str) -> String {
    layout(title, &format!("<p class=\"outcome\">{}</p>", escape(text)))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The approvals a request needs, with role names in words ("Tech Lead and Operations Lead").
fn required_words(request: &Value) -> String {
    match serde_json::from_value::<Requirement>(request["required"].clone()) {
        Ok(r) => {
            let labels: Vec<&str> = r.roles().iter().map(|role| role.label()).collect();
            match r {
                Requirement::AllOf(_) => labels.join(" and "),
                Requirement::AnyOf(_) => format!("one of {}", labels.join(" or ")),
            }
        }
        Err(_) => text(&request["required_text"]),
    }
}

/// The evidence of a request, as label and value rows.
pub fn details(request: &Value) -> String {
    let rows = match request["kind"].as_str() {
        Some("rollback") => rollback_rows(request),
        Some("release") => {
            // Phase 4: each tenant's plan, as a tenant execution's page shows it.
            let mut out = list(&release_rows(request));
            for p in tenant_plans(request) {
                out.push_str(&tenant_section(p));
            }
            return out;
        }
        Some("tenant") => return tenant_details(request),
        _ => promotion_rows(request),
    };
    list(&rows)
}

/// Label and value rows, both escaped.
fn list(rows: &[(&str, String)]) -> String {
    let body: String = rows.iter().map(|(k, v)| row_html(k, &escape(v))).collect();
    format!("<dl>{body}</dl>")
}

/// One row whose value is HTML already (escaped by the caller).
fn row_html(label: &str, html: &str) -> String {
    format!(
        "<div class=\"row\"><dt>{}</dt><dd>{html}</dd></div>",
        escape(label)
    )
}

/// What a request approves, in words: "promotion", "rollback", "release", "tenant apply" or
/// "tenant rollback".
pub fn noun(kind: Option<&str>, action: Option<&str>) -> &'static str {
    match (kind, action) {
        (Some("tenant"), Some("rollback")) => "tenant rollback",
        (Some("tenant"), _) => "tenant apply",
        (Some("rollback"), _) => "rollback",
        (Some("release"), _) => "release",
        _ => "promotion",
    }
}

/// The first 12 characters of a commit SHA.
fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A tenant request's plans, one per tenant.
fn tenant_plans(request: &Value) -> impl Iterator<Item = &Value> {
    request["plans"].as_array().into_iter().flatten()
}

/// The resources a tenant request deletes or replaces: Terraform's "to destroy", summed.
fn tenant_destroys(request: &Value) -> u64 {
    tenant_plans(request)
        .map(|p| p["summary"]["destroy"].as_u64().unwrap_or(0))
        .sum()
}

/// A tenant execution's request: what it applies where and why, then a section per tenant with
/// its commit, the plan's SHA-256, Terraform's headline and each changed address.
fn tenant_details(request: &Value) -> String {
    let rollback = request["action"].as_str() == Some("rollback");
    let tenants: Vec<String> = request["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let mut rows = vec![
        (
            if rollback { "Roll back in" } else { "Apply in" },
            text(&request["environment"]).to_uppercase(),
        ),
        ("Tenants", tenants.join(", ")),
        ("Requested by", text(&request["requested_by"])),
        ("Reason", text(&request["reason"])),
        ("Change request", text(&request["change_request"])),
    ];
    if let Some(incident) = request["incident"].as_str() {
        rows.push(("Incident", incident.to_owned()));
    }
    rows.push(("Approvals needed", required_words(request)));
    rows.push(("Decide before", text(&request["deadline"])));
    let mut out = list(&rows);
    for p in tenant_plans(request) {
        out.push_str(&tenant_section(p));
    }
    out
}

fn tenant_section(p: &Value) -> String {
    let sha = |v: &Value| match v.as_str() {
        Some(s) => format!("<code class=\"sha\">{}</code>", escape(s)),
        None => "-".to_owned(),
    };
    let summary = &p["summary"];
    let changes_none = ["add", "change", "destroy", "forget"]
        .iter()
        .all(|k| summary[*k].as_u64().unwrap_or(0) == 0);
    let headline = if changes_none {
        "No changes: nothing is applied to this tenant.".to_owned()
    } else {
        text(&summary["headline"])
    };
    let source = serde_json::from_value(p["commit_source"].clone())
        .map(crate::tenant::source_words)
        .unwrap_or("-");
    let now = match p["current_commit"].as_str() {
        Some(_) => sha(&p["current_commit"]),
        None => "no apply recorded".to_owned(),
    };
    let rows = [
        row_html("Commit", &sha(&p["commit"])),
        row_html("Author", &escape(&text(&p["commit_author"]))),
        row_html("Subject", &escape(&text(&p["commit_subject"]))),
        row_html("Commit from", &escape(source)),
        row_html("Now at", &now),
        row_html("Plan SHA-256", &sha(&p["tfplan_sha256"])),
        row_html("plan.json SHA-256", &sha(&p["plan_json_sha256"])),
        row_html("Plan files", &escape(&text(&p["artifacts_prefix"]))),
    ]
    .concat();
    let destructions: Vec<&Value> = p["destructions"].as_array().into_iter().flatten().collect();
    let mut out = format!(
        "<section class=\"tenant{}\"><h2>{}</h2><p class=\"headline\">{}</p><dl>{rows}</dl>",
        if destructions.is_empty() {
            ""
        } else {
            " destroying"
        },
        escape(&text(&p["tenant_id"])),
        escape(&headline),
    );
    if !destructions.is_empty() {
        let mut items: String = destructions
            .iter()
            .map(|d| format!("<li>DESTROYS: {}</li>", escape(&text(d))))
            .collect();
        let more = p["destructions_not_listed"].as_u64().unwrap_or(0);
        if more > 0 {
            items.push_str(&format!("<li>DESTROYS {more} more, not listed here</li>"));
        }
        out.push_str(&format!("<ul class=\"destroys\">{items}</ul>"));
    }
    let changes: Vec<&Value> = p["changes"].as_array().into_iter().flatten().collect();
    if !changes.is_empty() {
        let body: String = changes
            .iter()
            .map(|c| {
                let kind = text(&c["kind"]);
                let destroys = matches!(kind.as_str(), "delete" | "replace");
                format!(
                    "<tr{}><td><code>{}</code></td><td>{}</td></tr>",
                    if destroys { " class=\"destroy\"" } else { "" },
                    escape(&text(&c["address"])),
                    escape(&kind)
                )
            })
            .collect();
        out.push_str(&format!(
            "<table class=\"changes\"><thead><tr><th>Resource</th><th>Action</th></tr></thead>\
             <tbody>{body}</tbody></table>"
        ));
    }
    let more = p["changes_not_listed"].as_u64().unwrap_or(0);
    if more > 0 {
        out.push_str(&format!(
            "<p class=\"note\">{more} more changed resources are not listed here; the plan in {} \
             has them all.</p>",
            escape(&text(&p["artifacts_prefix"]))
        ));
    }
    out.push_str("</section>");
    out
}

fn release_rows(request: &Value) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Release into", text(&request["target_env"]).to_uppercase()),
        ("From", text(&request["source_env"]).to_uppercase()),
        ("Requested by", text(&request["requested_by"])),
        ("Reason", text(&request["reason"])),
        ("Change request", text(&request["change_request"])),
    ];
    if let Some(incident) = request["incident"].as_str() {
        rows.push(("Incident (emergency)", incident.to_owned()));
    }
    for p in request["phases"].as_array().into_iter().flatten() {
        rows.push((
            "Phase",
            format!("{}. {}", text(&p["index"]), text(&p["service"])),
        ));
        for f in p["packages"].as_array().into_iter().flatten() {
            let now: Vec<String> = p["current"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["function"] == f["target"])
                .map(|c| format!("{} in {}", text(&c["version"]), text(&c["region"])))
                .collect();
            rows.push((
                "Package",
                format!(
                    "{} version {} (CodeSha256 {}) -> {} (now {})",
                    text(&f["name"]),
                    text(&f["version"]),
                    text(&f["code_sha256"]),
                    text(&f["target"]),
                    now.join(", ")
                ),
            ));
        }
    }
    rows.push(("Approvals needed", required_words(request)));
    rows.push(("Decide before", text(&request["deadline"])));
    rows
}

fn rollback_rows(request: &Value) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Roll back", text(&request["service"])),
        ("In", text(&request["target_env"]).to_uppercase()),
        ("To", text(&request["target"])),
        ("Requested by", text(&request["requested_by"])),
        ("Reason", text(&request["reason"])),
        ("Incident", text(&request["incident"])),
    ];
    for m in request["moves"].as_array().into_iter().flatten() {
        rows.push((
            "Function",
            format!(
                "{}: version {} -> {} in {}",
                text(&m["function"]),
                text(&m["from_version"]),
                text(&m["to_version"]),
                text(&m["region"])
            ),
        ));
    }
    for f in request["forced"].as_array().into_iter().flatten() {
        rows.push(("Never live before (forced)", text(f)));
    }
    rows.push(("Approvals needed", required_words(request)));
    rows.push(("Decide before", text(&request["deadline"])));
    rows
}

fn promotion_rows(request: &Value) -> Vec<(&'static str, String)> {
    let mut rows = vec![
        ("Service", text(&request["service"])),
        (
            "From",
            format!(
                "{} {}",
                text(&request["source_env"]).to_uppercase(),
                text(&request["version"])
            ),
        ),
        ("To", text(&request["target_env"]).to_uppercase()),
        ("Requested by", text(&request["requested_by"])),
        ("Reason", text(&request["reason"])),
        ("Change request", text(&request["change_request"])),
    ];
    if let Some(incident) = request["incident"].as_str() {
        rows.push(("Incident (emergency)", incident.to_owned()));
    }
    for f in request["source"].as_array().into_iter().flatten() {
        rows.push((
            "Package",
            format!(
                "{} version {} (CodeSha256 {}) -> {}",
                text(&f["name"]),
                text(&f["version"]),
                text(&f["code_sha256"]),
                text(&f["target"])
            ),
        ));
    }
    for c in request["checks"].as_array().into_iter().flatten() {
        rows.push(("Preflight", text(&c["detail"])));
    }
    rows.push(("Approvals needed", required_words(request)));
    rows.push(("Decide before", text(&request["deadline"])));
    rows
}

/// Who opens the page and where the quorum stands, for the page's first screen.
pub struct Viewer<'a> {
    /// The approver's address.
    pub approver: &'a str,
    /// The role the link is for.
    pub role: Role,
    /// What the request needs.
    pub requirement: &'a Requirement,
    /// The roles approved so far.
    pub given: &'a [Role],
    /// Now, for the deadline in words.
    pub now: DateTime<Utc>,
}

/// What is asked, in one line: the service (or release, rollback) and where it goes.
fn asked_line(request: &Value) -> String {
    let env = |k: &str| text(&request[k]).to_uppercase();
    match request["kind"].as_str() {
        Some("rollback") => format!(
            "Roll back {} in {} to {}",
            text(&request["service"]),
            env("target_env"),
            text(&request["target"])
        ),
        Some("release") => {
            let services: Vec<String> = request["phases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| text(&p["service"]))
                .collect();
            format!(
                "Release {} from {} to {}",
                services.join(", "),
                env("source_env"),
                env("target_env")
            )
        }
        Some("tenant") => {
            let mut commits: Vec<&str> = tenant_plans(request)
                .filter_map(|p| p["commit"].as_str())
                .collect();
            commits.sort_unstable();
            commits.dedup();
            let tenants: Vec<String> = if commits.len() == 1 {
                request["tenants"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect()
            } else {
                tenant_plans(request)
                    .map(|p| {
                        format!(
                            "{} (commit {})",
                            text(&p["tenant_id"]),
                            short_sha(p["commit"].as_str().unwrap_or("-"))
                        )
                    })
                    .collect()
            };
            let tenants = tenants.join(", ");
            let env = env("environment");
            let rollback = request["action"].as_str() == Some("rollback");
            match (rollback, commits.as_slice()) {
                (false, [one]) => {
                    format!("Apply commit {} to {tenants} in {env}", short_sha(one))
                }
                (false, _) => format!("Apply {tenants} in {env}"),
                (true, [one]) => {
                    format!("Roll back {tenants} in {env} to commit {}", short_sha(one))
                }
                (true, _) => format!("Roll back {tenants} in {env}"),
            }
        }
        _ => format!(
            "{}: {} {} → {}",
            text(&request["service"]),
            env("source_env"),
            text(&request["version"]),
            env("target_env")
        ),
    }
}

/// What is unusual about the request, most serious first: each one a flag at the top of the page.
pub fn flags(request: &Value) -> Vec<(bool, String)> {
    let mut flags = Vec::new();
    let target = text(&request["target_env"]).to_uppercase();
    let prod = target == "PROD";
    flags.push((prod, format!("Into {target}")));
    let incident = request["incident"].as_str().filter(|i| !i.is_empty());
    let outside = request["emergency"].as_bool().unwrap_or(false);
    let kind = request["kind"].as_str();
    let tenant = kind == Some("tenant");
    let rollback = kind == Some("rollback") || (tenant && request["action"] == "rollback");
    match (incident, rollback) {
        (_, true) => {
            flags.push((true, "Rollback".to_owned()));
            if let Some(i) = incident {
                flags.push((true, format!("Incident {i}")));
            }
        }
        // A tenant apply has no emergency path: its incident is only named.
        (Some(i), false) if tenant => flags.push((true, format!("Incident {i}"))),
        (Some(i), false) => flags.push((true, format!("Emergency — incident {i}"))),
        (None, false) => {}
    }
    // A tenant request's plans, and a release's phase 4 plans.
    if tenant || kind == Some("release") {
        let destroys = tenant_destroys(request);
        if destroys > 0 {
            let noun = if destroys == 1 {
                "resource"
            } else {
                "resources"
            };
            flags.push((true, format!("Destroys {destroys} {noun}")));
        }
        let forgets: u64 = tenant_plans(request)
            .map(|p| p["summary"]["forget"].as_u64().unwrap_or(0))
            .sum();
        if forgets > 0 {
            let noun = if forgets == 1 {
                "resource"
            } else {
                "resources"
            };
            flags.push((true, format!("Forgets {forgets} {noun} (kept, unmanaged)")));
        }
    }
    if outside {
        flags.push((true, "Outside the maintenance window".to_owned()));
    }
    if request["forced"].as_array().is_some_and(|f| !f.is_empty()) {
        flags.push((true, "Forced: a version that never served".to_owned()));
    }
    // The preflight's checks: a promotion's own, or each phase's of a release.
    let phases = request["phases"].as_array().into_iter().flatten();
    let checks = request["checks"]
        .as_array()
        .into_iter()
        .chain(phases.filter_map(|p| p["checks"].as_array()))
        .flatten();
    if checks
        .into_iter()
        .any(|c| served::skipped_by_emergency(&text(&c["check"]), &text(&c["detail"])))
    {
        flags.push((
            true,
            format!("“{}” skipped (emergency)", served::RUNBOOK_ITEM),
        ));
    }
    flags
}

/// How many destructions the first screen names; the others are marked in their tenant's table.
const CALLED_OUT: usize = 3;

/// A tenant request's destructions, above the button: what the approver destroys by approving.
fn destruction_callout(request: &Value) -> String {
    let destroys = tenant_destroys(request);
    if request["kind"].as_str() != Some("tenant") || destroys == 0 {
        return String::new();
    }
    let all: Vec<String> = tenant_plans(request)
        .flat_map(|p| {
            let tenant = text(&p["tenant_id"]);
            p["destructions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |d| format!("{tenant}: {}", text(d)))
        })
        .collect();
    let mut items: String = all
        .iter()
        .take(CALLED_OUT)
        .map(|d| format!("<li>{}</li>", escape(d)))
        .collect();
    let rest = destroys.saturating_sub(CALLED_OUT.min(all.len()) as u64);
    if rest > 0 {
        items.push_str(&format!(
            "<li>and {rest} more, marked in each tenant's list below</li>"
        ));
    }
    let noun = if destroys == 1 {
        "RESOURCE"
    } else {
        "RESOURCES"
    };
    format!(
        "<div class=\"callout\"><p>DESTROYS {destroys} {noun}: deleted (or replaced) when \
         applied.</p><ul>{items}</ul></div>"
    )
}

/// The deadline in words and UTC: "in 23 h 59 min — 04:35 UTC on Thu 3 Dec".
pub fn deadline_words(deadline: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let at = format!(
        "{} UTC on {}",
        deadline.format("%H:%M"),
        deadline.format("%a %-d %b")
    );
    let left = (deadline - now).num_minutes();
    if left < 0 {
        return format!("passed — {at}");
    }
    let (h, m) = (left / 60, left % 60);
    let span = if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min")
    };
    format!("in {span} — {at}")
}

/// The quorum in words with its progress: "Tech Lead and CTO — you are the Tech Lead; 1 of 2 given".
pub fn quorum_words(requirement: &Requirement, role: Role, given: &[Role]) -> String {
    let labels: Vec<&str> = requirement.roles().iter().map(|r| r.label()).collect();
    let you = format!("you are the {}", role.label());
    match requirement {
        Requirement::AllOf(roles) => {
            let done = roles.iter().filter(|r| given.contains(r)).count();
            format!(
                "{} — {you}; {done} of {} given",
                labels.join(" and "),
                roles.len()
            )
        }
        Requirement::AnyOf(_) => format!("one of {} — {you}", labels.join(" or ")),
    }
}

/// The confirm page a link opens: what is asked and what is unusual, with the decision button, on
/// the first screen of a phone; the evidence below. Nothing is decided until the form is sent.
pub fn confirm(
    request: &Value,
    token: &str,
    viewer: &Viewer<'_>,
    approve: bool,
    error: Option<&str>,
) -> String {
    let noun = noun(request["kind"].as_str(), request["action"].as_str());
    let (title, button, class, extra) = if approve {
        (
            format!("Approve this {noun}?"),
            "Approve",
            "approve",
            String::new(),
        )
    } else {
        (
            format!("Reject this {noun}?"),
            "Reject",
            "reject",
            format!(
                "<label for=\"reason\">Why (required, up to {REASON_MAX_CHARS} characters)</label>\
                 <textarea id=\"reason\" name=\"reason\" maxlength=\"{REASON_MAX_CHARS}\" required></textarea>"
            ),
        )
    };
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let flags: String = flags(request)
        .iter()
        .map(|(warn, f)| {
            format!(
                "<li{}>{}</li>",
                if *warn { " class=\"warn\"" } else { "" },
                escape(f)
            )
        })
        .collect();
    let deadline = request["deadline"]
        .as_str()
        .and_then(|d| d.parse::<DateTime<Utc>>().ok())
        .map(|d| deadline_words(d, viewer.now))
        .unwrap_or_else(|| "-".to_owned());
    let body = format!(
        "<p class=\"ask\"><strong>{asked}</strong></p><ul class=\"flags\">{flags}</ul>\
         <div class=\"facts\"><p>Approvals: {quorum}.</p><p>Decide {deadline}.</p>\
         <p>Asked by {requester}: {reason}</p></div>{callout}{error}\
         <form method=\"post\" action=\"decide\"><input type=\"hidden\" name=\"t\" value=\"{token}\">\
         {extra}<button class=\"{class}\" type=\"submit\" name=\"confirm\" value=\"yes\">{button}</button></form>\
         <p class=\"note\">You are {who}. Opening this page changed nothing; your answer counts when you press {button}.</p>\
         <h2>Evidence</h2>{details}",
        asked = escape(&asked_line(request)),
        quorum = escape(&quorum_words(viewer.requirement, viewer.role, viewer.given)),
        deadline = escape(&deadline),
        requester = escape(&text(&request["requested_by"])),
        reason = escape(&text(&request["reason"])),
        who = escape(viewer.approver),
        details = details(request),
        token = escape(token),
        callout = destruction_callout(request),
    );
    layout(&title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn all_of() -> Requirement {
        Requirement::AllOf(vec![Role::TechLead, Role::OperationsLead])
    }

    fn any_of() -> Requirement {
        Requirement::AnyOf(vec![Role::TechLead, Role::OperationsLead])
    }

    fn viewer(requirement: &Requirement) -> Viewer<'_> {
        Viewer {
            approver: "tech-lead@bbws.io",
            role: Role::TechLead,
            requirement,
            given: &[],
            now: Utc.with_ymd_and_hms(2026, 11, 25, 18, 0, 0).unwrap(),
        }
    }

    #[test]
    fn the_deadline_reads_in_words_and_utc() {
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 4, 36, 0).unwrap();
        let deadline = Utc.with_ymd_and_hms(2026, 12, 3, 4, 35, 54).unwrap();
        assert_eq!(
            deadline_words(deadline, now),
            "in 23 h 59 min — 04:35 UTC on Thu 3 Dec"
        );
        assert_eq!(
            deadline_words(now + chrono::Duration::minutes(7), now),
            "in 7 min — 04:43 UTC on Wed 2 Dec"
        );
        assert!(deadline_words(now, deadline).starts_with("passed — "));
    }

    #[test]
    fn the_quorum_reads_in_role_names_with_its_progress() {
        let req = Requirement::AllOf(vec![Role::TechLead, Role::Cto]);
        assert_eq!(
            quorum_words(&req, Role::TechLead, &[Role::TechLead]),
            "Tech Lead and CTO — you are the Tech Lead; 1 of 2 given"
        );
        assert_eq!(
            quorum_words(&any_of(), Role::OperationsLead, &[]),
            "one of Tech Lead or Operations Lead — you are the Operations Lead"
        );
    }

    #[test]
    fn what_is_unusual_is_flagged_and_the_button_comes_before_the_evidence() {
        let request = json!({"service": "tenant-instance-management", "source_env": "sit", "target_env": "prod",
            "version": "latest-sit", "incident": "INC-77", "emergency": true,
            "checks": [{"detail": "errors in the last 24 h: 0"}]});
        let f: Vec<String> = flags(&request).into_iter().map(|(_, f)| f).collect();
        assert_eq!(
            f,
            [
                "Into PROD",
                "Emergency — incident INC-77",
                "Outside the maintenance window"
            ]
        );
        let page = confirm(&request, "t", &viewer(&all_of()), true, None);
        let button = page.find("<button").unwrap();
        assert!(button < page.find("Evidence").unwrap());
        assert!(page.find("Emergency — incident INC-77").unwrap() < button);
        let quiet = json!({"service": "x", "source_env": "dev", "target_env": "sit"});
        assert_eq!(flags(&quiet), [(false, "Into SIT".to_owned())]);
    }

    #[test]
    fn an_emergency_that_skipped_the_time_in_sit_says_so_at_the_top() {
        let skipped =
            "skipped: emergency declared (incident INC-77): 24 h in SIT is not required; \
                       version 7 (CodeSha256 abc=) has served in SIT since 2026-12-03 01:00:00 UTC \
                       (promote p1:succeeded), for 3 min";
        let request = json!({"service": "tenant-instance-management", "source_env": "sit",
            "target_env": "prod", "version": "latest-sit", "incident": "INC-77", "emergency": false,
            "checks": [{"check": "bbws-tenant-instance-management-sit stable in SIT", "passed": true,
                        "detail": skipped}]});
        let f: Vec<String> = flags(&request).into_iter().map(|(_, f)| f).collect();
        assert_eq!(
            f,
            [
                "Into PROD",
                "Emergency — incident INC-77",
                "“SIT stable for 24 hours” skipped (emergency)"
            ]
        );
        let page = confirm(&request, "t", &viewer(&all_of()), true, None);
        let button = page.find("<button").unwrap();
        let flag = page
            .find("“SIT stable for 24 hours” skipped (emergency)")
            .unwrap();
        assert!(flag < button, "on the first screen");
        assert!(
            page.contains("has served in SIT since 2026-12-03 01:00:00 UTC"),
            "{page}"
        );
        // A release's phase that skipped it flags the release.
        let release = json!({"kind": "release", "source_env": "sit", "target_env": "prod",
            "incident": "INC-77", "phases": [{"index": 1, "service": "x", "checks": request["checks"]}]});
        assert!(flags(&release)
            .iter()
            .any(|(warn, f)| *warn && f.contains("skipped (emergency)")));
        // Passed on its own, the check flags nothing.
        let served = json!({"service": "x", "source_env": "sit", "target_env": "prod",
            "checks": [{"check": "x-sit stable in SIT", "passed": true,
                        "detail": "version 7 (CodeSha256 abc=) has served in SIT since …, for 25 h 0 min (required: 24 h)"}]});
        assert_eq!(flags(&served), [(true, "Into PROD".to_owned())]);
    }

    #[test]
    fn a_rollback_page_shows_every_alias_move() {
        let request = serde_json::json!({"kind": "rollback", "service": "site-management",
            "target_env": "prod", "target": "backup-20260125-220000", "requested_by": "ops@bbws.io",
            "reason": "API errors", "incident": "INC-91", "required_text": "tech_lead or operations_lead",
            "moves": [{"function": "prod-bbws-sites-service", "from_version": "9", "to_version": "7",
                       "region": "eu-west-1"}]});
        let page = confirm(&request, "tok", &viewer(&any_of()), true, None);
        assert!(page.contains("Approve this rollback?"), "{page}");
        assert!(page.contains("<li class=\"warn\">Rollback</li>"), "{page}");
        assert!(
            page.contains("prod-bbws-sites-service: version 9 -&gt; 7 in eu-west-1"),
            "{page}"
        );
        assert!(page.contains("<dt>In</dt><dd>PROD</dd>"), "{page}");
    }

    /// A stored tenant request: `action`, `incident` and tenant-002's commit as given.
    fn tenant_request(action: &str, incident: Option<&str>, second_commit: &str) -> Value {
        let plan = |tenant: &str, commit: &str, destroy: u64, forget: u64| {
            json!({"tenant_id": tenant, "commit": commit, "commit_source": "previous",
                   "current_commit": null, "tfplan_sha256": "ab".repeat(32),
                   "summary": {"add": 0, "change": 1, "destroy": destroy, "forget": forget,
                               "headline": "Plan: 0 to add, 1 to change, 0 to destroy."},
                   "changes": [{"address": "aws_ecs_service.this", "kind": "update"}],
                   "changes_not_listed": 0,
                   "destructions": (0..destroy).map(|i| format!("aws_ssm_parameter.p{i} (delete)")).collect::<Vec<_>>(),
                   "destructions_not_listed": 0})
        };
        json!({"kind": "tenant", "environment": "prod", "target_env": "prod", "action": action,
               "tenants": ["tenant-001", "tenant-002"], "incident": incident,
               "requested_by": "ops@bbws.io", "reason": "r",
               "plans": [plan("tenant-001", &"1".repeat(40), 0, 0),
                         plan("tenant-002", second_commit, 5, 1)]})
    }

    #[test]
    fn a_tenant_request_reads_in_its_own_words() {
        let c1 = "1".repeat(40);
        let rollback = tenant_request("rollback", Some("INC-9"), &c1);
        assert_eq!(
            asked_line(&rollback),
            "Roll back tenant-001, tenant-002 in PROD to commit 111111111111"
        );
        assert_eq!(noun(Some("tenant"), Some("rollback")), "tenant rollback");
        let f: Vec<(bool, String)> = flags(&rollback);
        assert_eq!(
            f,
            [
                (true, "Into PROD".to_owned()),
                (true, "Rollback".to_owned()),
                (true, "Incident INC-9".to_owned()),
                (true, "Destroys 5 resources".to_owned()),
                (true, "Forgets 1 resource (kept, unmanaged)".to_owned()),
            ]
        );
        // An apply naming an incident is not an emergency; two commits are named per tenant.
        let apply = tenant_request("apply", Some("INC-9"), &"2".repeat(40));
        assert_eq!(
            asked_line(&apply),
            "Apply tenant-001 (commit 111111111111), tenant-002 (commit 222222222222) in PROD"
        );
        assert_eq!(noun(Some("tenant"), Some("apply")), "tenant apply");
        let f: Vec<String> = flags(&apply).into_iter().map(|(_, f)| f).collect();
        assert!(f.contains(&"Incident INC-9".to_owned()), "{f:?}");
        assert!(!f.iter().any(|f| f.contains("Emergency")), "{f:?}");
        // Three destructions on the first screen, the others counted.
        let page = confirm(&apply, "t", &viewer(&all_of()), true, None);
        assert!(page.contains("<title>Approve this tenant apply?</title>"));
        assert!(page.contains("<li>tenant-002: aws_ssm_parameter.p2 (delete)</li>"));
        assert!(!page.contains("<li>tenant-002: aws_ssm_parameter.p3 (delete)</li>"));
        assert!(page.contains("<li>and 2 more, marked in each tenant's list below</li>"));
        assert!(page.contains("<li>DESTROYS: aws_ssm_parameter.p4 (delete)</li>"));
        assert!(page.contains("<dd>the one before the latest apply</dd>"));
        assert!(page.contains("<dd>no apply recorded</dd>"));
        // Without destructions: no callout, no flag.
        let quiet = json!({"kind": "tenant", "environment": "sit", "target_env": "sit",
                           "action": "apply", "plans": [{"summary": {"destroy": 0}}]});
        assert_eq!(flags(&quiet), [(false, "Into SIT".to_owned())]);
        assert!(!confirm(&quiet, "t", &viewer(&all_of()), true, None).contains("callout\">"));
    }

    #[test]
    fn everything_shown_is_escaped() {
        let request = json!({"service": "<script>x</script>", "reason": "a & b \"c\"", "source_env": "sit",
                             "target_env": "prod", "version": "latest-sit"});
        let requirement = all_of();
        let v = Viewer {
            approver: "o'brien@bbws.io",
            ..viewer(&requirement)
        };
        let page = confirm(&request, "tok\"en", &v, false, Some("<b>"));
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(page.contains("a &amp; b &quot;c&quot;"));
        assert!(page.contains("value=\"tok&quot;en\""));
        assert!(page.contains("o&#39;brien@bbws.io"));
        assert!(page.contains("&lt;b&gt;"));
        assert!(page.contains("name=\"reason\""), "a rejection asks why");
    }

    #[test]
    fn the_approve_page_shows_what_is_approved_and_only_a_post_decides() {
        let request = json!({"service": "tenant-instance-management", "source_env": "sit", "target_env": "prod",
            "version": "latest-sit", "requested_by": "jane@bbws.io", "reason": "Release 1.4.2",
            "change_request": "CHG-1234", "deadline": "2026-11-25T20:05:00Z", "required": {"all_of": ["tech_lead", "operations_lead"]},
            "source": [{"name": "bbws-tenant-instance-management-sit", "version": "7", "code_sha256": "abc=",
                        "target": "bbws-tenant-instance-management-prod"}],
            "checks": [{"detail": "errors in the last 24 h: 0 (limit: fewer than 5)"}]});
        let page = confirm(&request, "t", &viewer(&all_of()), true, None);
        for shown in [
            "tenant-instance-management",
            "SIT latest-sit",
            "PROD",
            "jane@bbws.io",
            "Release 1.4.2",
            "CHG-1234",
            "version 7 (CodeSha256 abc=)",
            "errors in the last 24 h: 0",
            "Tech Lead and Operations Lead — you are the Tech Lead; 0 of 2 given",
            "Decide in 2 h 5 min — 20:05 UTC on Wed 25 Nov",
        ] {
            assert!(page.contains(shown), "{shown} missing");
        }
        assert!(page.contains("<form method=\"post\""));
        assert!(!page.contains("name=\"reason\""));
    }
}
