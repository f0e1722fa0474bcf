//! A decision on its way to the wait: exactly one SendTaskSuccess or SendTaskFailure reaches a task
//! attempt that can no longer fail.
//!
//! Who sends it: while the ask is still at work (the request not [`READY`]), an approver's decision
//! is only recorded and the ask sends it to its own token as its last act; once the request is
//! ready, the approver whose decision completes it sends it at once. A callback that failed on the
//! way (throttled, a 5xx) leaves the request decided but not [`DELIVERED`]: the next visit of any
//! link of the request, or a retried ask, delivers it.

use bbws_aws::approvals::{Callback, Item, DELIVERED, READY};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::ErrorName;
use chrono::Utc;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::handler::App;
use crate::ports::{Callbacks, Mail, Parameters, Store};

/// What a decided request gives the wait.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// The quorum was met; the wait's output names the approvers.
    Approved { approvers: Value },
    /// An approver rejected; the wait fails with `Bbws.ApprovalRejected` and this cause.
    Rejected { cause: String },
}

impl Decision {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Decision::Approved { .. } => "approved",
            Decision::Rejected { .. } => "rejected",
        }
    }
}

/// The decision a request holds, if it was decided (`approved`, or `rejected` with its cause).
pub(crate) fn decision_of(request: &Item) -> Option<Decision> {
    match request.get("status").and_then(Value::as_str)? {
        "approved" => Some(Decision::Approved {
            approvers: request.get("approvers").cloned().unwrap_or(Value::Null),
        }),
        "rejected" => Some(Decision::Rejected {
            cause: request
                .get("cause")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| "the approval was rejected".to_owned()),
        }),
        _ => None,
    }
}

/// Whether the request's decision is still to be passed on by whoever opens a link next: decided,
/// ready (so the approver's side delivers, not the ask), and not delivered.
pub(crate) fn undelivered(request: &Item) -> Option<Decision> {
    if request.contains_key(DELIVERED) || !request.contains_key(READY) {
        return None;
    }
    decision_of(request)
}

/// What a refused callback (`Gone`) says of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfGone {
    /// The sender was the one to deliver (the approver who met the quorum, the ask with its own
    /// token): the wait ended without it, so an approval is closed as `expired` (a retried ask
    /// re-opens it and gives it to its new wait).
    Close,
    /// A pass-on of a decision that looked undelivered: another visit may have delivered it a
    /// moment before, so nothing is concluded from the refusal.
    Leave,
}

/// Sends `decision` to `token`. Delivered: the request is marked [`DELIVERED`]. Gone: as `if_gone`
/// says. A transient failure is the caller's error to answer.
pub(crate) async fn deliver<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    settings: &Settings,
    request_id: &str,
    token: &str,
    decision: &Decision,
    if_gone: IfGone,
) -> Result<Callback, BbwsError> {
    let callback = match decision {
        Decision::Approved { approvers } => {
            app.callbacks
                .succeed(
                    token,
                    &json!({"request_id": request_id, "approvers": approvers}),
                )
                .await?
        }
        Decision::Rejected { cause } => {
            app.callbacks
                .fail(token, ErrorName::ApprovalRejected, cause)
                .await?
        }
    };
    let table = &settings.approvals_table;
    let status = decision.as_str();
    match &callback {
        Callback::Delivered => {
            let mut f = Map::new();
            f.insert(DELIVERED.into(), json!(Utc::now().to_rfc3339()));
            // Only a mark: a failure to write it means one more (refused) delivery later.
            if let Err(e) = app
                .store
                .transition(table, request_id, status, status, &f)
                .await
            {
                warn!(event = "delivery_mark_failed", request_id = %request_id, error_type = %e.error_type,
                      error = %e.message, "approval {request_id}: delivered, but the mark was not written");
            }
            info!(event = "decision_delivered", request_id = %request_id, decision = status,
                  "approval {request_id}: {status}, given to the wait");
        }
        Callback::Gone(why) => {
            warn!(event = "wait_gone", request_id = %request_id, decision = status, detail = %why,
                  "approval {request_id}: {status}, but the wait is gone");
            if if_gone == IfGone::Close && matches!(decision, Decision::Approved { .. }) {
                let mut f = Map::new();
                f.insert("closed_because".into(), json!(why));
                app.store
                    .transition(table, request_id, "approved", "expired", &f)
                    .await?;
            }
        }
    }
    Ok(callback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(v: Value) -> Item {
        match v {
            Value::Object(m) => m,
            _ => panic!("an object"),
        }
    }

    #[test]
    fn a_decided_request_holds_its_decision() {
        let approvers = json!([{"person": "a@bbws.io", "role": "dev_lead"}]);
        assert_eq!(
            decision_of(&item(
                json!({"status": "approved", "approvers": approvers.clone()})
            )),
            Some(Decision::Approved { approvers })
        );
        assert_eq!(
            decision_of(&item(
                json!({"status": "rejected", "cause": "x rejected: no"})
            )),
            Some(Decision::Rejected {
                cause: "x rejected: no".into()
            })
        );
        assert_eq!(decision_of(&item(json!({"status": "pending"}))), None);
        assert_eq!(decision_of(&item(json!({"status": "expired"}))), None);
    }

    #[test]
    fn only_a_ready_decided_request_not_yet_delivered_is_passed_on_by_a_link() {
        let approved = json!({"status": "approved", "approvers": [], READY: "t"});
        assert!(undelivered(&item(approved.clone())).is_some());
        let mut delivered = approved.clone();
        delivered[DELIVERED] = json!("t2");
        assert_eq!(undelivered(&item(delivered)), None, "delivered once");
        let mut not_ready = approved;
        not_ready
            .as_object_mut()
            .map(|m| m.remove(READY))
            .unwrap_or_default();
        assert_eq!(
            undelivered(&item(not_ready)),
            None,
            "the ask delivers what was decided before it was ready"
        );
        assert_eq!(
            undelivered(&item(json!({"status": "pending", READY: "t"}))),
            None
        );
        assert!(undelivered(&item(json!({"status": "rejected", READY: "t"}))).is_some());
    }
}
