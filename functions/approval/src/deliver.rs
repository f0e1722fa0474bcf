//! A decision on its way to the wait: exactly one SendTaskSuccess or SendTaskFailure reaches a task
//! attempt that can no longer fail.
//!
//! Who sends it: while the ask is still at work (the request not [`READY`]), an approver's decision
//! is only recorded and the ask sends it to its own token as its last act; once the request is
//! ready, the approver whose decision completes it sends it at once. A callback that failed on the
//! way (throttled, a 5xx) leaves the request decided but not [`DELIVERED`]: the next visit of any
//! link of the request, or a retried ask, delivers it. The decider has the delivery to itself for
//! [`DELIVERY_LEASE`] unless it hands it over ([`HANDED_OVER`]) when its callback failed: a visit at
//! the same moment never races it (one of the two callbacks would be refused, and its page would
//! tell its approver the wait had ended).

use bbws_aws::approvals::{Callback, Item, DELIVERED, READY};
use bbws_aws::{BbwsError, Settings};
use bbws_domain::ErrorName;
use chrono::{DateTime, Utc};
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

/// How long the one who decided (or the ask, for a decision made before it was ready) has the
/// delivery to itself: longer than one callback with all its SDK attempts (45 s).
pub(crate) const DELIVERY_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Set on a decided request by the decider whose callback failed: it gives up its lease, and the
/// next visit of a link delivers at once.
pub(crate) const HANDED_OVER: &str = "handed_over_at";

/// Whether the request's decision is to be passed on by whoever opens a link `now`: decided, ready
/// (so the approver's side delivers, not the ask), not delivered, and handed over by its decider or
/// decided (or made ready) longer than [`DELIVERY_LEASE`] ago.
pub(crate) fn undelivered(request: &Item, now: DateTime<Utc>) -> Option<Decision> {
    if request.contains_key(DELIVERED) || !request.contains_key(READY) {
        return None;
    }
    let decision = decision_of(request)?;
    if request.contains_key(HANDED_OVER) {
        return Some(decision);
    }
    let since = ["decided_at", READY]
        .iter()
        .filter_map(|k| request.get(*k).and_then(Value::as_str))
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max();
    match since {
        Some(t) if now - t < DELIVERY_LEASE => None,
        _ => Some(decision),
    }
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
            // A failure to write it means one more (refused) delivery later.
            mark(app, table, request_id, decision, DELIVERED).await;
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

/// The decider's callback failed: the next visit of any link passes the decision on at once
/// instead of after the [`DELIVERY_LEASE`]. If the mark cannot be written, the lease runs out instead.
pub(crate) async fn hand_over<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    settings: &Settings,
    request_id: &str,
    decision: &Decision,
) {
    mark(
        app,
        &settings.approvals_table,
        request_id,
        decision,
        HANDED_OVER,
    )
    .await;
}

/// Sets `field` to now on the decided request. Only a mark: a failure is logged, not raised.
async fn mark<S: Store, C: Callbacks, M: Mail, P: Parameters>(
    app: &App<S, C, M, P>,
    table: &str,
    request_id: &str,
    decision: &Decision,
    field: &str,
) {
    let status = decision.as_str();
    let mut f = Map::new();
    f.insert(field.into(), json!(Utc::now().to_rfc3339()));
    if let Err(e) = app
        .store
        .transition(table, request_id, status, status, &f)
        .await
    {
        warn!(event = "mark_failed", request_id = %request_id, field, error_type = %e.error_type,
              error = %e.message, "approval {request_id}: {field} was not written");
    }
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

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn a_decision_is_its_deciders_to_deliver_until_handed_over_or_its_lease_ran_out() {
        let decided = json!({"status": "rejected", "cause": "c", READY: "2026-12-02T20:05:00Z",
                             "decided_at": "2026-12-02T20:06:00Z"});
        let during = at("2026-12-02T20:06:59Z");
        assert_eq!(
            undelivered(&item(decided.clone()), during),
            None,
            "a visit while the decider delivers leaves it to the decider"
        );
        assert!(undelivered(&item(decided.clone()), at("2026-12-02T20:07:00Z")).is_some());
        let mut handed = decided.clone();
        handed[HANDED_OVER] = json!("2026-12-02T20:06:02Z");
        assert!(
            undelivered(&item(handed), during).is_some(),
            "its callback failed: the next visit delivers at once"
        );
        // Decided before the ask was ready: the lease runs from the ready mark (the ask delivers).
        let early = json!({"status": "approved", "approvers": [], "decided_at": "2026-12-02T20:04:00Z",
                           READY: "2026-12-02T20:06:30Z"});
        assert_eq!(undelivered(&item(early), during), None);
    }

    #[test]
    fn only_a_ready_decided_request_not_yet_delivered_is_passed_on_by_a_link() {
        let now = Utc::now();
        let approved = json!({"status": "approved", "approvers": [], READY: "t"});
        let undelivered = |v: Value| undelivered(&item(v), now);
        assert!(undelivered(approved.clone()).is_some());
        let mut delivered = approved.clone();
        delivered[DELIVERED] = json!("t2");
        assert_eq!(undelivered(delivered), None, "delivered once");
        let mut not_ready = approved;
        not_ready
            .as_object_mut()
            .map(|m| m.remove(READY))
            .unwrap_or_default();
        assert_eq!(
            undelivered(not_ready),
            None,
            "the ask delivers what was decided before it was ready"
        );
        assert_eq!(undelivered(json!({"status": "pending", READY: "t"})), None);
        assert!(undelivered(json!({"status": "rejected", READY: "t"})).is_some());
    }
}
