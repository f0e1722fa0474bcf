//! Three renderings of one [`EvidenceReport`]: JSON (the model), Markdown (to paste into a
//! change ticket) and one self-contained HTML page (inline CSS, no external assets, A4 print).

use std::fmt::Write as _;

use super::{EvidenceReport, Verdict};

/// The model as pretty JSON.
pub fn json(report: &EvidenceReport) -> String {
    // A derived Serialize of strings, enums and options cannot fail; an empty object says so if
    // it ever did.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Text as it may stand in Markdown: one line, with the characters Markdown reads escaped.
pub fn md_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Text as it may stand in HTML, in an element or a quoted attribute.
pub fn html_escape(text: &str) -> String {
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

/// ` (<time>)` of a piece of evidence, unless its words already give that time.
fn when(ev: &super::Evidence) -> String {
    match ev.at.map(|t| t.to_rfc3339()) {
        Some(t) if !ev.text.contains(&t) => format!(" ({t})"),
        _ => String::new(),
    }
}

fn duration(seconds: Option<i64>) -> String {
    match seconds {
        None => "running".to_owned(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3_600 => format!("{} min {} s", s / 60, s % 60),
        Some(s) => format!("{} h {} min", s / 3_600, (s % 3_600) / 60),
    }
}

/// The report as Markdown: header, outcome, each checklist with its boxes and evidence, the
/// sign-off block and the timeline. Items a person must decide are marked `OPEN`.
pub fn markdown(report: &EvidenceReport) -> String {
    let e = md_escape;
    let mut out = String::new();
    let _ = writeln!(out, "# {}", e(&report.title));
    let _ = writeln!(out);
    for h in &report.header {
        let _ = writeln!(out, "**{}**: {}  ", e(&h.label), e(&h.value));
    }
    let _ = writeln!(out, "**Execution**: {}  ", e(&report.execution_arn));
    let _ = writeln!(out, "**Deployment record**: {}  ", e(&report.deployment_id));
    let _ = writeln!(out, "**Requested by**: {}  ", e(&report.requester));
    let _ = writeln!(out, "**Reason**: {}  ", e(&report.reason));
    let _ = writeln!(
        out,
        "**Change request**: {}  ",
        e(report.change_request.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(
        out,
        "**Incident**: {}  ",
        e(report.incident.as_deref().unwrap_or("-"))
    );
    let _ = writeln!(out, "**Outcome**: {}", e(&report.outcome));
    if let Some(err) = &report.error {
        let _ = writeln!(
            out,
            "\n**Error**: {} — {}",
            e(err),
            e(report.cause.as_deref().unwrap_or("-"))
        );
    }
    let _ = writeln!(
        out,
        "\nTicked {}, failed {}, not applicable {}, open {}.",
        report.count(Verdict::Ticked),
        report.count(Verdict::Failed),
        report.count(Verdict::NotApplicable),
        report.count(Verdict::Open)
    );
    for p in &report.problems {
        let _ = writeln!(out, "\n> Problem: {}", e(p));
    }
    for c in &report.checklists {
        let _ = writeln!(out, "\n## {} ({})", e(&c.title), e(&c.runbook_section));
        let mut section = "";
        for i in &c.items {
            if i.section != section {
                section = &i.section;
                let _ = writeln!(out, "\n### {}\n", e(section));
            }
            let tag = match i.verdict {
                Verdict::Ticked => String::new(),
                other => format!(" **{}**", other.label().to_uppercase()),
            };
            let _ = writeln!(
                out,
                "- {} {}{} — {}",
                i.verdict.check_box(),
                e(&i.item),
                tag,
                e(&i.note)
            );
            for ev in &i.evidence {
                let at = when(ev);
                let _ = writeln!(out, "  - {}: {}{}", ev.source.label(), e(&ev.text), e(&at));
            }
        }
    }
    let _ = writeln!(out, "\n## Sign-off\n");
    if report.sign_off.is_empty() {
        let _ = writeln!(out, "No approval is kept.");
    } else {
        let _ = writeln!(
            out,
            "| Role | Person | Decision | Date/Time | Address | Device |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for row in sign_off_rows(report) {
            let cells: Vec<String> = row.iter().map(|c| e(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    let _ = writeln!(out, "\n**Promoter Signature**: _______________  ");
    let _ = writeln!(out, "**Date/Time**: _______________");
    let _ = writeln!(out, "\n## Timeline\n");
    if report.timeline.is_empty() {
        let _ = writeln!(out, "The execution's history is not given.");
    } else {
        let _ = writeln!(out, "| State | Entered | Left | Duration |");
        let _ = writeln!(out, "|---|---|---|---|");
        for row in timeline_rows(report) {
            let cells: Vec<String> = row.iter().map(|c| e(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }
    out
}

const CSS: &str = "body{font:10.5pt/1.4 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#111;max-width:190mm;margin:12mm auto;padding:0 4mm}\
h1{font-size:16pt;margin:0 0 4mm}h2{font-size:13pt;margin:8mm 0 2mm;border-bottom:1px solid #999}h3{font-size:11pt;margin:4mm 0 1mm}\
table{border-collapse:collapse;width:100%;margin:2mm 0}th,td{border:1px solid #bbb;padding:1mm 2mm;text-align:left;vertical-align:top}\
th{background:#eee}dl{display:grid;grid-template-columns:45mm 1fr;gap:1mm 3mm;margin:0}dt{font-weight:600}dd{margin:0;word-break:break-all}\
.v{font-weight:700;white-space:nowrap}.ticked{color:#0a6b2d}.failed{color:#b00020}.not_applicable{color:#555}.open{color:#8a5a00}\
ul.ev{margin:0;padding-left:4mm;font-size:9pt;color:#333}.sig{margin-top:8mm}.line{display:inline-block;min-width:60mm;border-bottom:1px solid #000}\
td,dd{overflow-wrap:anywhere}\
@media screen and (max-width:600px){body{margin:3mm auto;font-size:11pt}dl{grid-template-columns:1fr}dd{margin-bottom:2mm}\
table,thead,tbody,tr,th,td{display:block;width:auto!important}thead{display:none}tr{border:1px solid #bbb;margin:0 0 2mm}td{border:0}}\
@page{size:A4;margin:15mm}@media print{body{margin:0;max-width:none}tr,li{page-break-inside:avoid}h2{page-break-after:avoid}}";

/// The report as one self-contained HTML page: inline CSS, no script, no external asset; every
/// text it echoes is escaped.
pub fn html(report: &EvidenceReport) -> String {
    let e = html_escape;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>\n",
        e(&report.title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", e(&report.title));
    let _ = writeln!(out, "<dl>");
    let mut pair = |k: &str, v: &str| {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", e(k), e(v));
    };
    for h in &report.header {
        pair(&h.label, &h.value);
    }
    pair("Execution", &report.execution_arn);
    pair("Deployment record", &report.deployment_id);
    pair("Requested by", &report.requester);
    pair("Reason", &report.reason);
    pair(
        "Change request",
        report.change_request.as_deref().unwrap_or("-"),
    );
    pair("Incident", report.incident.as_deref().unwrap_or("-"));
    pair("Outcome", &report.outcome);
    if let Some(err) = &report.error {
        pair(
            "Error",
            &format!("{err} — {}", report.cause.as_deref().unwrap_or("-")),
        );
    }
    let _ = writeln!(out, "</dl>");
    let _ = writeln!(
        out,
        "<p>Ticked {}, failed {}, not applicable {}, open {}.</p>",
        report.count(Verdict::Ticked),
        report.count(Verdict::Failed),
        report.count(Verdict::NotApplicable),
        report.count(Verdict::Open)
    );
    for p in &report.problems {
        let _ = writeln!(out, "<p class=\"failed\">Problem: {}</p>", e(p));
    }
    for c in &report.checklists {
        let _ = writeln!(
            out,
            "<h2>{} <small>({})</small></h2>",
            e(&c.title),
            e(&c.runbook_section)
        );
        let mut section = "";
        for i in &c.items {
            if i.section != section {
                if !section.is_empty() {
                    let _ = writeln!(out, "</tbody></table>");
                }
                section = &i.section;
                let _ = writeln!(out, "<h3>{}</h3>\n<table><thead><tr><th style=\"width:55mm\">Item</th><th style=\"width:25mm\">Verdict</th><th>Evidence</th></tr></thead><tbody>", e(section));
            }
            let class = match i.verdict {
                Verdict::Ticked => "ticked",
                Verdict::Failed => "failed",
                Verdict::NotApplicable => "not_applicable",
                Verdict::Open => "open",
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td class=\"v {class}\">{}</td><td>{}",
                e(&i.item),
                i.verdict.label(),
                e(&i.note)
            );
            if !i.evidence.is_empty() {
                let _ = write!(out, "<ul class=\"ev\">");
                for ev in &i.evidence {
                    let at = when(ev);
                    let _ = write!(
                        out,
                        "<li>{}: {}{}</li>",
                        ev.source.label(),
                        e(&ev.text),
                        e(&at)
                    );
                }
                let _ = write!(out, "</ul>");
            }
            let _ = writeln!(out, "</td></tr>");
        }
        if !section.is_empty() {
            let _ = writeln!(out, "</tbody></table>");
        }
    }
    let _ = writeln!(out, "<h2>Sign-off</h2>");
    if report.sign_off.is_empty() {
        let _ = writeln!(out, "<p>No approval is kept.</p>");
    } else {
        let _ = writeln!(out, "<table><thead><tr><th>Role</th><th>Person</th><th>Decision</th><th>Date/Time</th><th>Address</th><th>Device</th></tr></thead><tbody>");
        for row in sign_off_rows(report) {
            let cells: Vec<String> = row.iter().map(|c| format!("<td>{}</td>", e(c))).collect();
            let _ = writeln!(out, "<tr>{}</tr>", cells.concat());
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    let _ = writeln!(out, "<p class=\"sig\">Promoter Signature: <span class=\"line\"></span> Date/Time: <span class=\"line\"></span></p>");
    let _ = writeln!(out, "<h2>Timeline</h2>");
    if report.timeline.is_empty() {
        let _ = writeln!(out, "<p>The execution's history is not given.</p>");
    } else {
        let _ = writeln!(out, "<table><thead><tr><th>State</th><th>Entered</th><th>Left</th><th>Duration</th></tr></thead><tbody>");
        for row in timeline_rows(report) {
            let cells: Vec<String> = row.iter().map(|c| format!("<td>{}</td>", e(c))).collect();
            let _ = writeln!(out, "<tr>{}</tr>", cells.concat());
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    let _ = writeln!(out, "</body></html>");
    out
}

/// The sign-off table's rows (role, person, decision, time, address, device), as text: each
/// rendering escapes them its own way.
fn sign_off_rows(report: &EvidenceReport) -> Vec<[String; 6]> {
    report
        .sign_off
        .iter()
        .map(|s| {
            let decision = match &s.detail {
                Some(d) => format!("{}: {d}", s.decision),
                None => s.decision.clone(),
            };
            [
                s.role.clone(),
                s.person.clone(),
                decision,
                s.at.clone(),
                s.source_ip.clone().unwrap_or_else(|| "not kept".to_owned()),
                s.user_agent
                    .clone()
                    .unwrap_or_else(|| "not kept".to_owned()),
            ]
        })
        .collect()
}

/// The timeline's rows (state, entered, left, duration), as text.
fn timeline_rows(report: &EvidenceReport) -> Vec<[String; 4]> {
    report
        .timeline
        .iter()
        .map(|t| {
            [
                t.state.clone(),
                t.entered.to_rfc3339(),
                t.exited.map_or_else(|| "-".to_owned(), |x| x.to_rfc3339()),
                duration(t.duration_seconds),
            ]
        })
        .collect()
}
