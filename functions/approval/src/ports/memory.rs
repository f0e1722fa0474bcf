//! In-memory ports for the handler's tests: the approvals table with DynamoDB's conditions, the
//! waits as Step Functions answers callbacks, the mail sent, the deployment's parameters.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use bbws_aws::approvals::{ApprovalWrite, Callback, Item, APPROVALS_GIVEN, READY};
use bbws_aws::BbwsError;
use bbws_domain::ErrorName;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::{Callbacks, Mail, Parameters, Store};

/// DynamoDB's largest item, 400 KB (measured here as the item's JSON, a little more than
/// DynamoDB counts).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// DynamoDB refuses a larger item (ValidationException "Item size has exceeded the maximum allowed
/// size"), which `bbws_aws` reports as refused.
fn within_item_size(item: &Item) -> Result<(), BbwsError> {
    let size = serde_json::to_vec(item)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_ITEM_BYTES {
        return Err(BbwsError::new(
            ErrorName::AwsRefused,
            format!("Item size has exceeded the maximum allowed size ({size} bytes)"),
        ));
    }
    Ok(())
}

/// The approvals table: items by (request_id, item); the deployment records and the evidence
/// bucket the evidence links read.
#[derive(Default)]
pub struct Table {
    pub items: RefCell<BTreeMap<(String, String), Item>>,
    pub deployments: RefCell<BTreeMap<String, Item>>,
    pub objects: RefCell<BTreeMap<String, Vec<u8>>>,
    /// An approval item another approver writes just before the next approval is recorded.
    pub race: RefCell<Option<Item>>,
}

fn text<'a>(item: &'a Item, key: &str) -> &'a str {
    item.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn key_of(item: &Item) -> (String, String) {
    (
        text(item, "request_id").to_owned(),
        text(item, "item").to_owned(),
    )
}

impl Table {
    /// The request item of `request_id`.
    pub fn request(&self, request_id: &str) -> Option<Item> {
        self.items
            .borrow()
            .get(&(request_id.to_owned(), "request".to_owned()))
            .cloned()
    }

    /// Every item but the audit trail's, for "nothing changed" comparisons.
    pub fn state(&self) -> BTreeMap<(String, String), Item> {
        self.items
            .borrow()
            .iter()
            .filter(|((_, item), _)| !item.starts_with("audit#"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The audit items of `request_id`, oldest first.
    pub fn audit(&self, request_id: &str) -> Vec<Item> {
        self.items
            .borrow()
            .iter()
            .filter(|((r, item), _)| r == request_id && item.starts_with("audit#"))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The request's status moved `from` -> `to` with `fields` set and `removes` removed.
    fn update(
        &self,
        request_id: &str,
        (from, to): (&str, &str),
        fields: &Item,
        removes: &[&str],
    ) -> Option<Item> {
        let mut items = self.items.borrow_mut();
        let request = items.get_mut(&(request_id.to_owned(), "request".to_owned()))?;
        if text(request, "status") != from {
            return None;
        }
        request.insert("status".into(), json!(to));
        request.extend(fields.clone());
        for name in removes {
            request.remove(*name);
        }
        Some(request.clone())
    }
}

impl Store for Table {
    async fn deployment(
        &self,
        _table: &str,
        deployment_id: &str,
    ) -> Result<Option<Item>, BbwsError> {
        Ok(self.deployments.borrow().get(deployment_id).cloned())
    }

    async fn evidence(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, BbwsError> {
        Ok(self
            .objects
            .borrow()
            .get(&format!("{bucket}/{key}"))
            .cloned())
    }

    async fn get(
        &self,
        _table: &str,
        request_id: &str,
        item: &str,
    ) -> Result<Option<Item>, BbwsError> {
        Ok(self
            .items
            .borrow()
            .get(&(request_id.to_owned(), item.to_owned()))
            .cloned())
    }

    async fn items_with_prefix(
        &self,
        _table: &str,
        request_id: &str,
        prefix: &str,
    ) -> Result<Vec<Item>, BbwsError> {
        Ok(self
            .items
            .borrow()
            .iter()
            .filter(|((r, item), _)| r == request_id && item.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .collect())
    }

    async fn put_if_absent(&self, _table: &str, item: &Item) -> Result<bool, BbwsError> {
        within_item_size(item)?;
        let mut items = self.items.borrow_mut();
        let key = key_of(item);
        if items.contains_key(&key) {
            return Ok(false);
        }
        items.insert(key, item.clone());
        Ok(true)
    }

    async fn put(&self, _table: &str, item: &Item) -> Result<(), BbwsError> {
        within_item_size(item)?;
        self.items.borrow_mut().insert(key_of(item), item.clone());
        Ok(())
    }

    async fn transition(
        &self,
        _table: &str,
        request_id: &str,
        from: &str,
        to: &str,
        fields: &Item,
    ) -> Result<Option<Item>, BbwsError> {
        Ok(self.update(request_id, (from, to), fields, &[]))
    }

    async fn replace_token(
        &self,
        _table: &str,
        request_id: &str,
        token: &str,
        now: &str,
    ) -> Result<bool, BbwsError> {
        let mut fields = Item::new();
        fields.insert("task_token".into(), json!(token));
        fields.insert("token_replaced_at".into(), json!(now));
        Ok(self
            .update(request_id, ("pending", "pending"), &fields, &[READY])
            .is_some())
    }

    async fn record_approval(
        &self,
        _table: &str,
        write: &ApprovalWrite<'_>,
    ) -> Result<bool, BbwsError> {
        let mut items = self.items.borrow_mut();
        if let Some(other) = self.race.borrow_mut().take() {
            let request = (text(&other, "request_id").to_owned(), "request".to_owned());
            if let Some(request) = items.get_mut(&request) {
                let given = request.get(APPROVALS_GIVEN).and_then(Value::as_i64);
                request.insert(APPROVALS_GIVEN.into(), json!(given.unwrap_or(0) + 1));
            }
            items.insert(key_of(&other), other);
        }
        if items.contains_key(&key_of(write.approval)) {
            return Ok(false);
        }
        let Some(request) = items.get_mut(&(write.request_id.to_owned(), "request".to_owned()))
        else {
            return Ok(false);
        };
        let holds = text(request, "status") == "pending"
            && text(request, "task_token") == write.task_token
            && request.get("deadline_epoch").and_then(Value::as_i64) >= Some(write.now_epoch)
            && request
                .get(APPROVALS_GIVEN)
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == write.given_before
            && request.contains_key(READY) == write.ready;
        if !holds {
            return Ok(false);
        }
        request.insert(APPROVALS_GIVEN.into(), json!(write.given_before + 1));
        if let Some(fields) = write.decides {
            request.insert("status".into(), json!("approved"));
            request.extend(fields.clone());
        }
        items.insert(key_of(write.approval), write.approval.clone());
        Ok(true)
    }
}

/// A callback Step Functions took.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// SendTaskSuccess with this output.
    Success(Value),
    /// SendTaskFailure with this error and cause.
    Failure(ErrorName, String),
}

/// The waits: each task token is answered once; a token answered or ended is gone.
#[derive(Default)]
pub struct Waits {
    /// The callbacks taken, with their tokens, in order.
    pub sent: RefCell<Vec<(String, Sent)>>,
    /// Tokens whose wait has ended.
    pub gone: RefCell<BTreeSet<String>>,
    /// How many callbacks fail transiently (throttled) before they work again.
    pub failing: Cell<usize>,
}

impl Waits {
    fn answer(&self, token: &str, sent: Sent) -> Result<Callback, BbwsError> {
        if self.failing.get() > 0 {
            self.failing.set(self.failing.get() - 1);
            return Err(BbwsError::new(
                ErrorName::AwsUnavailable,
                "SendTask*: ThrottlingException",
            ));
        }
        if !self.gone.borrow_mut().insert(token.to_owned()) {
            return Ok(Callback::Gone(
                "TaskTimedOut: the task is no longer waiting".into(),
            ));
        }
        self.sent.borrow_mut().push((token.to_owned(), sent));
        Ok(Callback::Delivered)
    }
}

impl Callbacks for Waits {
    async fn succeed(&self, token: &str, output: &Value) -> Result<Callback, BbwsError> {
        self.answer(token, Sent::Success(output.clone()))
    }

    async fn fail(
        &self,
        token: &str,
        error: ErrorName,
        cause: &str,
    ) -> Result<Callback, BbwsError> {
        self.answer(token, Sent::Failure(error, cause.to_owned()))
    }
}

/// One approval email: to whom, its subject and text.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The mail sent: approval emails and events-topic notifications.
#[derive(Default)]
pub struct Outbox {
    pub emails: RefCell<Vec<Email>>,
    /// (event, subject) of each notification.
    pub notices: RefCell<Vec<(String, String)>>,
    /// The next email to this approver fails (SNS throttled).
    pub refuse_email_to: RefCell<Option<String>>,
    /// The next notification fails.
    pub refuse_notice: Cell<bool>,
    /// The next notification says it was reached and waits to be let go.
    pub hold_notice: RefCell<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl Mail for Outbox {
    async fn email_approver(
        &self,
        _topic_arn: &str,
        approver: &str,
        subject: &str,
        message: &str,
    ) -> Result<(), BbwsError> {
        if self.refuse_email_to.borrow().as_deref() == Some(approver) {
            self.refuse_email_to.replace(None);
            return Err(BbwsError::new(
                ErrorName::AwsUnavailable,
                format!("Publish approval email to {approver}: Throttling"),
            ));
        }
        self.emails.borrow_mut().push(Email {
            to: approver.to_owned(),
            subject: subject.to_owned(),
            text: message.to_owned(),
        });
        Ok(())
    }

    async fn notify(
        &self,
        _topic_arn: &str,
        event: &str,
        subject: &str,
        _message: &str,
    ) -> Result<(), BbwsError> {
        let held = self.hold_notice.borrow_mut().take();
        if let Some((reached, go)) = held {
            let _ = reached.send(());
            let _ = go.await;
        }
        if self.refuse_notice.replace(false) {
            return Err(BbwsError::new(
                ErrorName::AwsUnavailable,
                format!("Publish {event}: Throttling"),
            ));
        }
        self.notices
            .borrow_mut()
            .push((event.to_owned(), subject.to_owned()));
        Ok(())
    }
}

/// The deployment's parameters by the environment variable naming each.
pub struct Params(pub BTreeMap<&'static str, String>);

impl Parameters for Params {
    async fn named_by(&self, var: &str) -> Result<String, BbwsError> {
        self.0
            .get(var)
            .cloned()
            .ok_or_else(|| BbwsError::config(format!("{var} is not set")))
    }
}
