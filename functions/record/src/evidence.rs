//! The evidence of an execution, written when its outcome is recorded: the facts (the record, what
//! the last state carries, the execution's history, the approvals table's items) are gathered, the
//! report built by `bbws_domain::evidence` and every file written under the execution's prefix of
//! the evidence bucket. Evidence that cannot be written never changes the outcome: the record and
//! the email say where it was meant to be and why it is not there.

use bbws_aws::{BbwsError, Settings};
use bbws_domain::evidence::{self, ApprovalItem, Facts};
use bbws_domain::naming::approval_request_id;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::ports::EvidenceStore;

/// Where an execution's evidence goes: the bucket and the execution's prefix in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The bucket; `None` when the deployment names none (BBWS_EVIDENCE_BUCKET unset).
    pub bucket: Option<String>,
    /// `evidence/<env>/<service>/<execution>/`.
    pub prefix: String,
}

impl Place {
    /// The place of the evidence of `execution_arn` (`service`: the service, or `release`).
    pub fn of(settings: &Settings, service: &str, execution_arn: &str) -> Place {
        Place {
            bucket: settings.evidence_bucket.clone(),
            prefix: evidence::prefix(settings.env.as_str(), service, execution_arn),
        }
    }

    /// The record's `evidence` field: where the report is, as an S3 URI per rendering.
    pub fn field(&self) -> Value {
        let bucket = self.bucket.as_deref().unwrap_or("-");
        json!({
            "bucket": bucket,
            "prefix": self.prefix,
            "report": format!("s3://{bucket}/{}report.html", self.prefix),
        })
    }
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
    match try_write(store, settings, place, facts, execution_arn, kind).await {
        Ok(written) => {
            let report = format!(
                "s3://{}/{}report.html",
                place.bucket.as_deref().unwrap_or("-"),
                place.prefix
            );
            info!(event = "evidence_written", prefix = %place.prefix, files = written.len(),
                  "evidence of {execution_arn}: {} file(s) under {}", written.len(), place.prefix);
            (
                json!({"written": true, "prefix": place.prefix, "files": written}),
                format!("Evidence (RB-003 §7 checklist, release notes): {report}\n"),
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
    let facts = Facts { approvals, ..facts }.with_history(&history);
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
