//! The pages approvers see on a phone: what is asked, a confirm form, and plain answers.
//! Everything shown is escaped; the pages load nothing from elsewhere.

use serde_json::Value;

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:40em;margin:auto;padding:1em;line-height:1.4}}\
         table{{border-collapse:collapse;width:100%}}td,th{{text-align:left;padding:.3em;border-bottom:1px solid #ddd;\
         vertical-align:top;word-break:break-word}}button{{font-size:1.1em;padding:.6em 1.2em;margin-top:1em}}\
         textarea{{width:100%;min-height:5em}}.note{{color:#555}}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    )
}

/// A page that only says something (refusals, outcomes).
pub fn message(title: &str, text: &str) -> String {
    layout(title, &format!("<p>{}</p>", escape(text)))
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The details of a request, as a table.
pub fn details(request: &Value) -> String {
    let rows = match request["kind"].as_str() {
        Some("rollback") => rollback_rows(request),
        Some("release") => release_rows(request),
        _ => promotion_rows(request),
    };
    let body: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    format!("<table>{body}</table>")
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
        rows.push(("Emergency, incident", incident.to_owned()));
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
    rows.push(("Approvals needed", text(&request["required_text"])));
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
    rows.push(("Approvals needed", text(&request["required_text"])));
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
        rows.push(("Emergency, incident", incident.to_owned()));
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
    rows.push(("Approvals needed", text(&request["required_text"])));
    rows.push(("Decide before", text(&request["deadline"])));
    rows
}

/// The confirm page a link opens: nothing is decided until the form is sent.
pub fn confirm(
    request: &Value,
    token: &str,
    approver: &str,
    role: &str,
    approve: bool,
    error: Option<&str>,
) -> String {
    let noun = request["kind"].as_str().unwrap_or("promotion");
    let (title, button, extra) = if approve {
        (format!("Approve this {noun}?"), "Approve", String::new())
    } else {
        (
            format!("Reject this {noun}?"),
            "Reject",
            "<p><label for=\"reason\">Why (required):</label><br>\
             <textarea id=\"reason\" name=\"reason\" maxlength=\"500\" required></textarea></p>"
                .to_owned(),
        )
    };
    let error = error
        .map(|e| format!("<p><strong>{}</strong></p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<p>You are <strong>{who}</strong>, answering as <strong>{role}</strong>.</p>{details}{error}\
         <form method=\"post\" action=\"decide\"><input type=\"hidden\" name=\"t\" value=\"{token}\">\
         {extra}<button type=\"submit\" name=\"confirm\" value=\"yes\">{button}</button></form>\
         <p class=\"note\">Opening this page changed nothing. Your answer counts when you press {button}.</p>",
        who = escape(approver),
        role = escape(role),
        details = details(request),
        token = escape(token),
    );
    layout(&title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollback_page_shows_every_alias_move() {
        let request = serde_json::json!({"kind": "rollback", "service": "site-management",
            "target_env": "prod", "target": "backup-20260125-220000", "requested_by": "ops@bbws.io",
            "reason": "API errors", "incident": "INC-91", "required_text": "tech_lead or operations_lead",
            "moves": [{"function": "prod-bbws-sites-service", "from_version": "9", "to_version": "7",
                       "region": "eu-west-1"}]});
        let page = confirm(&request, "tok", "tl@bbws.io", "tech_lead", true, None);
        assert!(page.contains("Approve this rollback?"), "{page}");
        assert!(
            page.contains("prod-bbws-sites-service: version 9 -&gt; 7 in eu-west-1"),
            "{page}"
        );
        assert!(page.contains("<th>In</th><td>PROD</td>"), "{page}");
    }

    #[test]
    fn everything_shown_is_escaped() {
        let request = json!({"service": "<script>x</script>", "reason": "a & b \"c\"", "source_env": "sit",
                             "target_env": "prod", "version": "latest-sit"});
        let page = confirm(
            &request,
            "tok\"en",
            "o'brien@bbws.io",
            "tech_lead",
            false,
            Some("<b>"),
        );
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
            "change_request": "CHG-1234", "deadline": "2026-11-25T20:05:00Z", "required_text": "tech_lead and operations_lead",
            "source": [{"name": "bbws-tenant-instance-management-sit", "version": "7", "code_sha256": "abc=",
                        "target": "bbws-tenant-instance-management-prod"}],
            "checks": [{"detail": "errors in the last 24 h: 0 (limit: fewer than 5)"}]});
        let page = confirm(&request, "t", "tech-lead@bbws.io", "tech_lead", true, None);
        for shown in [
            "tenant-instance-management",
            "SIT latest-sit",
            "PROD",
            "jane@bbws.io",
            "Release 1.4.2",
            "CHG-1234",
            "version 7 (CodeSha256 abc=)",
            "errors in the last 24 h: 0",
            "tech_lead and operations_lead",
        ] {
            assert!(page.contains(shown), "{shown} missing");
        }
        assert!(page.contains("<form method=\"post\""));
        assert!(!page.contains("name=\"reason\""));
    }
}
