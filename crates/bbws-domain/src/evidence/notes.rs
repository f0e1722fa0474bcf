//! Release notes (RB-003 §2.3, §5.2) for a release and for a PROD promotion: what changed, from
//! which version to which in every function and region, the package's CodeSha256, the quality
//! gates, the change request, the approvers and the outcome of each phase.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::facts::Facts;
use super::render::md_escape;
use super::SignOff;

/// One function in one region: the version before and after, and the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionChange {
    /// The region.
    pub region: String,
    /// The function, in the target environment.
    pub function: String,
    /// The version `latest-<env>` named before; `None` when not kept.
    pub from_version: Option<String>,
    /// The version it names after; `None` when nothing was deployed.
    pub to_version: Option<String>,
    /// Base64 SHA-256 of the package; `None` when not kept.
    pub code_sha256: Option<String>,
}

/// One service of the notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNotes {
    /// The service.
    pub service: String,
    /// `succeeded`, `failed`, `rolled_back`, `not started`…
    pub outcome: String,
    /// The promotion execution.
    pub execution_arn: Option<String>,
    /// Every function in every region.
    pub functions: Vec<FunctionChange>,
    /// The quality gates as the preflight found them, per source function.
    pub quality_gates: Vec<String>,
    /// The CI runs that recorded the gates (links or run ids); empty when not kept.
    pub ci_runs: Vec<String>,
}

/// One phase of a release and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseOutcome {
    /// From 1, in release order; `None` for the final verification or a service not started.
    pub phase: Option<u64>,
    /// The service (or `cross-service verification`).
    pub service: String,
    /// How it ended.
    pub outcome: String,
    /// Why, when it did not succeed.
    pub cause: Option<String>,
}

/// The release notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseNotes {
    /// `Release into PROD` or `Promotion of site-management to PROD`.
    pub title: String,
    /// When the record was written.
    pub date: String,
    /// The target environment.
    pub environment: String,
    /// How the whole ended.
    pub outcome: String,
    /// Its error and cause, when it did not succeed.
    pub cause: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// Why.
    pub reason: String,
    /// The change request.
    pub change_request: Option<String>,
    /// The incident, for an emergency.
    pub incident: Option<String>,
    /// Who approved (or rejected).
    pub approvers: Vec<SignOff>,
    /// Every service, in release order.
    pub services: Vec<ServiceNotes>,
    /// Every phase's outcome (one for a promotion).
    pub phases: Vec<PhaseOutcome>,
    /// The execution.
    pub execution_arn: String,
    /// Facts the notes need and the records do not keep, in words.
    pub gaps: Vec<String>,
}

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn versions(v: &Value, k: &str) -> Vec<(String, String)> {
    v.get(k)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("?").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The functions of one promotion record: from and to per region, with the package's CodeSha256
/// (the record keeps it per source function, in the order of its `functions`).
fn changes(record: &Value, gaps: &mut Vec<String>) -> Vec<FunctionChange> {
    let from = versions(record, "from_version");
    let to = versions(record, "to_version");
    let targets: Vec<String> = record
        .get("functions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let shas: Vec<Option<String>> = record
        .get("code_sha256")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|s| text(s, "code_sha256")).collect())
        .unwrap_or_default();
    if shas.len() != targets.len() || shas.is_empty() {
        gaps.push(format!(
            "{}: the record keeps {} CodeSha256 for {} function(s): the packages cannot all be named",
            text(record, "service").unwrap_or_else(|| "-".to_owned()),
            shas.len(),
            targets.len()
        ));
    }
    let mut keys: Vec<String> = to.iter().map(|(k, _)| k.clone()).collect();
    for (k, _) in &from {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys.into_iter()
        .map(|key| {
            let (region, function) = key.split_once('/').unwrap_or(("?", key.as_str()));
            let sha = if shas.len() == targets.len() {
                targets
                    .iter()
                    .position(|t| t == function)
                    .and_then(|i| shas.get(i).cloned().flatten())
            } else {
                None
            };
            FunctionChange {
                region: region.to_owned(),
                function: function.to_owned(),
                from_version: from.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()),
                to_version: to.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()),
                code_sha256: sha,
            }
        })
        .collect()
}

fn service_notes(record: &Value, gaps: &mut Vec<String>) -> ServiceNotes {
    let quality_gates: Vec<String> = record
        .get("preflight")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            c.get("check")
                .and_then(Value::as_str)
                .is_some_and(|c| c.ends_with(" quality gates"))
        })
        .map(|c| {
            format!(
                "{}: {}",
                text(c, "check").unwrap_or_default(),
                text(c, "detail").unwrap_or_default()
            )
        })
        .collect();
    let service = text(record, "service").unwrap_or_else(|| "-".to_owned());
    gaps.push(format!(
        "{service}: the CI runs behind the quality gates are not kept (the gate results keep pass/fail and coverage per CodeSha256, no run id)"
    ));
    ServiceNotes {
        functions: changes(record, gaps),
        service,
        outcome: text(record, "outcome").unwrap_or_else(|| "-".to_owned()),
        execution_arn: text(record, "execution_arn"),
        quality_gates,
        ci_runs: Vec::new(),
    }
}

fn base(facts: &Facts, title: String) -> ReleaseNotes {
    let r = &facts.record;
    let cause = match (text(r, "error"), text(r, "cause")) {
        (Some(e), Some(c)) => Some(format!("{e}: {c}")),
        (Some(e), None) => Some(e),
        _ => None,
    };
    ReleaseNotes {
        title,
        date: text(r, "timestamp").unwrap_or_else(|| "-".to_owned()),
        environment: text(r, "environment").unwrap_or_else(|| "-".to_owned()),
        outcome: text(r, "outcome").unwrap_or_else(|| "-".to_owned()),
        cause,
        requested_by: text(r, "actor").unwrap_or_else(|| "-".to_owned()),
        reason: text(r, "reason").unwrap_or_else(|| "-".to_owned()),
        change_request: text(r, "change_request"),
        incident: text(r, "incident"),
        approvers: super::sign_off(facts),
        services: Vec::new(),
        phases: Vec::new(),
        execution_arn: text(r, "execution_arn").unwrap_or_else(|| "-".to_owned()),
        gaps: Vec::new(),
    }
}

/// The notes of one promotion, from its facts.
pub fn for_promotion(facts: &Facts) -> ReleaseNotes {
    let r = &facts.record;
    let service = text(r, "service").unwrap_or_else(|| "-".to_owned());
    let env = text(r, "environment")
        .unwrap_or_else(|| "-".to_owned())
        .to_uppercase();
    let mut notes = base(facts, format!("Promotion of {service} to {env}"));
    let mut gaps = Vec::new();
    notes.services.push(service_notes(r, &mut gaps));
    notes.phases.push(PhaseOutcome {
        phase: None,
        service,
        outcome: notes.outcome.clone(),
        cause: notes.cause.clone(),
    });
    notes.gaps = gaps;
    notes
}

/// The notes of a release, from its facts and the records of its phases' promotions (matched by
/// execution); a phase whose record is not given keeps only the release record's versions.
pub fn for_release(facts: &Facts, phase_records: &[Value]) -> ReleaseNotes {
    let r = &facts.record;
    let env = text(r, "environment")
        .unwrap_or_else(|| "-".to_owned())
        .to_uppercase();
    let mut notes = base(facts, format!("Release into {env}"));
    let mut gaps = Vec::new();
    for p in r
        .get("phases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let service = text(p, "service").unwrap_or_else(|| "-".to_owned());
        let arn = text(p, "execution_arn");
        let outcome = text(p, "outcome").unwrap_or_else(|| "-".to_owned());
        notes.phases.push(PhaseOutcome {
            phase: p.get("index").and_then(Value::as_u64),
            service: service.clone(),
            outcome: outcome.clone(),
            cause: text(p, "cause"),
        });
        let own = phase_records
            .iter()
            .find(|rec| arn.is_some() && text(rec, "execution_arn") == arn);
        match own {
            Some(rec) => {
                let mut s = service_notes(rec, &mut gaps);
                s.outcome = outcome;
                notes.services.push(s);
            }
            None => {
                gaps.push(format!(
                    "{service}: the phase's own deployment record is not given: no CodeSha256 or quality gates"
                ));
                let mut scratch = Vec::new();
                let mut functions = changes(p, &mut scratch);
                for f in &mut functions {
                    f.code_sha256 = None;
                }
                notes.services.push(ServiceNotes {
                    service,
                    outcome,
                    execution_arn: arn,
                    functions,
                    quality_gates: Vec::new(),
                    ci_runs: Vec::new(),
                });
            }
        }
    }
    for s in r
        .get("not_started")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let service = s.as_str().map_or_else(|| s.to_string(), str::to_owned);
        notes.phases.push(PhaseOutcome {
            phase: None,
            service: service.clone(),
            outcome: "not started".to_owned(),
            cause: None,
        });
        notes.services.push(ServiceNotes {
            service,
            outcome: "not started".to_owned(),
            execution_arn: None,
            functions: Vec::new(),
            quality_gates: Vec::new(),
            ci_runs: Vec::new(),
        });
    }
    if let Some(v) = r.get("verification").filter(|v| v.is_object()) {
        let healthy = v.get("healthy").and_then(Value::as_bool);
        notes.phases.push(PhaseOutcome {
            phase: None,
            service: "cross-service verification".to_owned(),
            outcome: match healthy {
                Some(true) => "healthy",
                Some(false) => "unhealthy",
                None => "-",
            }
            .to_owned(),
            cause: text(v, "reason"),
        });
    }
    notes.gaps = gaps;
    notes
}

/// The notes as Markdown.
pub fn markdown(notes: &ReleaseNotes) -> String {
    let e = md_escape;
    let opt = |v: &Option<String>| e(v.as_deref().unwrap_or("-"));
    let mut out = String::new();
    let _ = writeln!(out, "# Release notes: {}\n", e(&notes.title));
    let _ = writeln!(out, "**Date**: {}  ", e(&notes.date));
    let _ = writeln!(
        out,
        "**Environment**: {}  ",
        e(&notes.environment.to_uppercase())
    );
    let _ = writeln!(out, "**Outcome**: {}  ", e(&notes.outcome));
    if let Some(c) = &notes.cause {
        let _ = writeln!(out, "**Cause**: {}  ", e(c));
    }
    let _ = writeln!(out, "**Requested by**: {}  ", e(&notes.requested_by));
    let _ = writeln!(out, "**Reason**: {}  ", e(&notes.reason));
    let _ = writeln!(out, "**Change request**: {}  ", opt(&notes.change_request));
    let _ = writeln!(out, "**Incident**: {}  ", opt(&notes.incident));
    let _ = writeln!(out, "**Execution**: {}", e(&notes.execution_arn));
    let _ = writeln!(out, "\n## Services\n");
    for s in &notes.services {
        let _ = writeln!(out, "### {} — {}\n", e(&s.service), e(&s.outcome));
        if s.functions.is_empty() {
            let words = if s.outcome == "not started" {
                "Not started: no function changed."
            } else {
                "The release record keeps no versions for this phase: see the phase's own record."
            };
            let _ = writeln!(out, "{words}\n");
        } else {
            let _ = writeln!(out, "| Function | Region | From | To | CodeSha256 |");
            let _ = writeln!(out, "|---|---|---|---|---|");
            for f in &s.functions {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    e(&f.function),
                    e(&f.region),
                    opt(&f.from_version),
                    opt(&f.to_version),
                    f.code_sha256.as_deref().map_or_else(
                        || "not kept".to_owned(),
                        |s| format!("`{}`", s.replace('`', ""))
                    )
                );
            }
            let _ = writeln!(out);
        }
        for g in &s.quality_gates {
            let _ = writeln!(out, "- Quality gates: {}", e(g));
        }
        let _ = writeln!(
            out,
            "- CI runs: {}\n",
            if s.ci_runs.is_empty() {
                "not kept".to_owned()
            } else {
                e(&s.ci_runs.join(", "))
            }
        );
    }
    let _ = writeln!(out, "## Phases\n");
    for p in &notes.phases {
        let n = p.phase.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let cause = p
            .cause
            .as_deref()
            .map(|c| format!(": {}", e(c)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- Phase {n}: {} — {}{cause}",
            e(&p.service),
            e(&p.outcome)
        );
    }
    let _ = writeln!(out, "\n## Approvers\n");
    if notes.approvers.is_empty() {
        let _ = writeln!(out, "No approval is kept.");
    }
    for a in &notes.approvers {
        let _ = writeln!(
            out,
            "- {}: {} {} at {}",
            e(&a.role),
            e(&a.person),
            e(&a.decision),
            e(&a.at)
        );
    }
    if !notes.gaps.is_empty() {
        let _ = writeln!(out, "\n## Not kept\n");
        for g in &notes.gaps {
            let _ = writeln!(out, "- {}", e(g));
        }
    }
    out
}
