//! The evidence of an execution, written when its outcome is recorded: the facts (the record, what
//! the last state carries, the execution's history, the approvals table's items) are gathered, the
//! report built by `bbws_domain::evidence` and every file written under the execution's prefix of
//! the evidence bucket. Evidence that cannot be written never changes the outcome: the record and
//! the email say where it was meant to be and why it is not there.

use bbws_aws::{BbwsError, Settings};
use bbws_domain::evidence::{self, ApprovalItem, Facts};
use bbws_domain::naming::approval_request_id;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::ports::EvidenceStore;

/// Where an execution's evidence goes: the bucket and the execution's prefix in it, and the key of
/// the link that opens its report through the approval function for 7 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The bucket; `None` when the deployment names none (BBWS_EVIDENCE_BUCKET unset).
    pub bucket: Option<String>,
    /// `evidence/<env>/<service>/<execution>/`.
    pub prefix: String,
    /// 128 random bits, hex: the link's key, kept in the record (never logged).
    pub link_key: String,
}

impl Place {
    /// The place of the evidence of `execution_arn` (`service`: the service, or `release`), with a
    /// new link key (a retried record step keeps the first record's: see [`Place::kept`]).
    pub fn of(settings: &Settings, service: &str, execution_arn: &str) -> Place {
        Place {
            bucket: settings.evidence_bucket.clone(),
            prefix: evidence::prefix(settings.env.as_str(), service, execution_arn),
            link_key: link_key(),
        }
    }

    /// This place with the link key of the record as it was written (the first attempt's).
    pub fn kept(self, item: &Map<String, Value>) -> Place {
        let key = item
            .get("evidence")
            .and_then(|e| e.get("link_key"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Place {
            link_key: key.unwrap_or(self.link_key),
            ..self
        }
    }

    /// The record's `evidence` field: where the report is, and the link's key.
    pub fn field(&self) -> Value {
        let bucket = self.bucket.as_deref().unwrap_or("-");
        json!({
            "bucket": bucket,
            "prefix": self.prefix,
            "report": format!("s3://{bucket}/{}report.html", self.prefix),
            "link_key": self.link_key,
        })
    }
}

/// 128 bits from the operating system's random source, as hex; an empty key (no link) when it
/// cannot give them.
fn link_key() -> String {
    let mut bytes = [0u8; 16];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        Err(e) => {
            warn!(event = "no_link_key", error = %e, "no random source: the evidence has no link");
            String::new()
        }
    }
}

/// The link that opens the report for [`evidence::LINK_DAYS`] days: the approval function's URL
/// (`base_url`, ending in `/`), `evidence?d=<deployment id>&k=<key>`.
pub fn link(base_url: &str, deployment_id: &str, key: &str) -> String {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("d", deployment_id)
        .append_pair("k", key)
        .finish();
    format!("{base_url}evidence?{query}")
}

/// Gathers the facts of the execution and writes its evidence; the email's line about it.
/// `kind` is what its approval step approves (`promotion`, `rollback`, `release`).
pub async fn write<S: EvidenceStore>(
    store: &S,
    settings: &Settings,
    place: &Place,
    facts: Facts,
    execution_arn: &str,
    kind: &str,
) -> (Value, String) {
    let deployment_id = facts.text("deployment_id").unwrap_or_default().to_owned();
    match try_write(store, settings, place, facts, execution_arn, kind).await {
        Ok(written) => {
            let report = format!(
                "s3://{}/{}report.html",
                place.bucket.as_deref().unwrap_or("-"),
                place.prefix
            );
            info!(event = "evidence_written", prefix = %place.prefix, files = written.len(),
                  "evidence of {execution_arn}: {} file(s) under {}", written.len(), place.prefix);
            let mut text = format!("Evidence (RB-003 §7 checklist, release notes): {report}\n");
            match store.approval_url().await {
                Ok(base) if !place.link_key.is_empty() => text.push_str(&format!(
                    "Open the report (for {} days, no sign-in): {}\n",
                    evidence::LINK_DAYS,
                    link(&base, &deployment_id, &place.link_key)
                )),
                Ok(_) => {}
                Err(e) => warn!(event = "no_evidence_link", error = %e.error_type,
                                "the evidence link was left out: {}", e.message),
            }
            (
                json!({"written": true, "prefix": place.prefix, "files": written}),
                text,
            )
        }
        Err(e) => {
            warn!(event = "evidence_not_written", prefix = %place.prefix, error = %e.error_type,
                  "the evidence of {execution_arn} was not written: {}", e.message);
            (
                json!({"written": false, "prefix": place.prefix, "error": e.error_type.as_str(),
                       "cause": e.message}),
                format!(
                    "The evidence report was NOT written ({}: {}); the records and the execution \
                     history keep every fact.\n",
                    e.error_type, e.message
                ),
            )
        }
    }
}

async fn try_write<S: EvidenceStore>(
    store: &S,
    settings: &Settings,
    place: &Place,
    facts: Facts,
    execution_arn: &str,
    kind: &str,
) -> Result<Vec<String>, BbwsError> {
    let bucket = settings.evidence_bucket()?;
    let history = store.history(execution_arn).await?;
    let request_id = approval_request_id(execution_arn, kind);
    let approvals = store
        .approval_items(&settings.approvals_table, &request_id)
        .await?
        .into_iter()
        .filter_map(|item| serde_json::from_value::<ApprovalItem>(item).ok())
        .collect();
    let mut facts = Facts { approvals, ..facts }.with_history(&history);
    // The link's key opens the report for 7 days: it is no part of the evidence (a report pasted
    // into a ticket must not carry it).
    if let Some(e) = facts
        .record
        .get_mut("evidence")
        .and_then(Value::as_object_mut)
    {
        e.remove("link_key");
    }
    let mut written = Vec::new();
    for file in evidence::files(&facts) {
        let key = format!("{}{}", place.prefix, file.name);
        store
            .put(bucket, &key, file.body.into_bytes(), file.content_type)
            .await?;
        written.push(file.name.to_owned());
    }
    Ok(written)
}
