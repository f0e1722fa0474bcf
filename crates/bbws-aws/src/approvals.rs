//! The approval store (`bbws-approvals-<env>`: hash key `request_id`, range key `item`), the
//! approval settings kept in SSM, and the task-token callbacks.
//!
//! Items of one request: `request` (what is approved, the task token, the status), one
//! `approval#<role>` per role given (written in one transaction with the request, while it is
//! `pending`, so a role is given once and never after the request was decided), and one
//! `audit#<time>#<n>` per decision or refusal (who, when, from which address and user agent).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use serde_json::{Map, Value};

use crate::error::BbwsError;
use crate::store::from_attribute;

/// A stored item as JSON.
pub type Item = Map<String, Value>;

fn key(request_id: &str, item: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "request_id".to_owned(),
            AttributeValue::S(request_id.to_owned()),
        ),
        ("item".to_owned(), AttributeValue::S(item.to_owned())),
    ])
}

fn plain(item: &HashMap<String, AttributeValue>) -> Item {
    item.iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect()
}

/// Reads one item (consistently); `None` when absent.
pub async fn get(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    request_id: &str,
    item: &str,
) -> Result<Option<Item>, BbwsError> {
    let out = ddb
        .get_item()
        .table_name(table)
        .set_key(Some(key(request_id, item)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("GetItem {table} {request_id}/{item}"), e))?;
    Ok(out.item().map(plain))
}

/// Every item of a request whose range key starts with `prefix` (consistent read).
pub async fn items_with_prefix(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    request_id: &str,
    prefix: &str,
) -> Result<Vec<Item>, BbwsError> {
    let out = ddb
        .query()
        .table_name(table)
        .key_condition_expression("request_id = :r AND begins_with(#i, :p)")
        .expression_attribute_names("#i", "item")
        .expression_attribute_values(":r", AttributeValue::S(request_id.to_owned()))
        .expression_attribute_values(":p", AttributeValue::S(prefix.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("Query {table} {request_id} {prefix}*"), e))?;
    Ok(out.items().iter().map(plain).collect())
}

/// Writes `item` unless an item with the same key (request_id, item) exists; `false` when it did.
pub async fn put_if_absent(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    item: &Item,
) -> Result<bool, BbwsError> {
    // A condition is checked against the item of the same full key, so the hash key suffices.
    crate::store::put_new(ddb, table, "request_id", item).await
}

/// Moves the request's `status` from `from` to `to` (with `fields` set); `false` when the status
/// was no longer `from` (another click decided first).
pub async fn transition(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    request_id: &str,
    from: &str,
    to: &str,
    fields: &Item,
) -> Result<bool, BbwsError> {
    Ok(transition_item(ddb, table, request_id, from, to, fields)
        .await?
        .is_some())
}

/// [`transition`], answering the request as it is after the change (`None` when the status was
/// no longer `from`): what it holds at that moment (its task token) is read in the same write.
pub async fn transition_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    request_id: &str,
    from: &str,
    to: &str,
    fields: &Item,
) -> Result<Option<Item>, BbwsError> {
    update_request(ddb, table, request_id, (from, to), fields, &[]).await
}

/// A retried ask's new task token, while the request is still `pending`: the links already mailed
/// then decide with it. The request stops being [`READY`] until that ask has done all its work, so
/// no approval is sent to a wait whose task may still fail. `false` when it was decided meanwhile.
pub async fn replace_token(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    request_id: &str,
    token: &str,
    now: &str,
) -> Result<bool, BbwsError> {
    let mut fields = Item::new();
    fields.insert("task_token".into(), Value::String(token.to_owned()));
    fields.insert("token_replaced_at".into(), Value::String(now.to_owned()));
    Ok(update_request(
        ddb,
        table,
        request_id,
        ("pending", "pending"),
        &fields,
        &[READY],
    )
    .await?
    .is_some())
}

/// The request's `status` from `from` to `to`, `fields` set and `removes` removed; `None` when
/// the status was no longer `from`.
async fn update_request(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    request_id: &str,
    (from, to): (&str, &str),
    fields: &Item,
    removes: &[&str],
) -> Result<Option<Item>, BbwsError> {
    let mut update = ddb
        .update_item()
        .table_name(table)
        .set_key(Some(key(request_id, "request")))
        .condition_expression("#s = :from")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
        .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
    let mut sets = vec!["#s = :to".to_owned()];
    for (i, (name, value)) in fields.iter().enumerate() {
        update = update
            .expression_attribute_names(format!("#f{i}"), name)
            .expression_attribute_values(format!(":f{i}"), crate::store::to_attribute(value));
        sets.push(format!("#f{i} = :f{i}"));
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        let mut gone = Vec::new();
        for (i, name) in removes.iter().enumerate() {
            update = update.expression_attribute_names(format!("#r{i}"), *name);
            gone.push(format!("#r{i}"));
        }
        expression.push_str(&format!(" REMOVE {}", gone.join(", ")));
    }
    match update.update_expression(expression).send().await {
        Ok(out) => Ok(Some(out.attributes().map(plain).unwrap_or_default())),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(BbwsError::aws(
            format!("UpdateItem {table} {request_id} {from}->{to}"),
            e,
        )),
    }
}

/// The request item's count of approvals recorded: every counted approval raises it by one in the
/// same transaction that writes its `approval#<role>` item, so a decision made on a stale reading of
/// the approvals cannot be written.
pub const APPROVALS_GIVEN: &str = "approvals_given";

/// Set on the request by the ask once all its work is done (emails out, events topic notified):
/// from then on an approver's decision is sent to the task token at once. A decision made
/// before is recorded only, and the ask sends it to its own token as its last act, so no
/// callback ever reaches a task attempt that may still fail (and be retried under a new token).
pub const READY: &str = "ready_at";

/// Set on the request once its decision reached the wait (SendTaskSuccess or SendTaskFailure
/// accepted); a decided, ready request without it has a decision still to deliver, which any
/// later visit of a link delivers.
pub const DELIVERED: &str = "delivered_at";

/// An approval to record in one transaction with the request it counts for.
pub struct ApprovalWrite<'a> {
    pub request_id: &'a str,
    /// The `approval#<role>` item, written only if absent.
    pub approval: &'a Item,
    /// [`APPROVALS_GIVEN`] as read (absent: 0); the write fails if another approval came since.
    pub given_before: i64,
    /// The task token as read; the write fails if a retried request replaced it since.
    pub task_token: &'a str,
    /// Now (epoch seconds): the write fails once the request's `deadline_epoch` has passed.
    pub now_epoch: i64,
    /// Whether the request was [`READY`] as read; the write fails if that changed since (the
    /// approver who meets the quorum of a ready request is the one who sends the callback).
    pub ready: bool,
    /// `Some(fields)` when this approval meets the quorum: the request leaves `pending` for
    /// `approved` with these fields set, in the same transaction.
    pub decides: Option<&'a Item>,
}

/// Writes an approval and its request's new state as one transaction, conditional on the request
/// still being `pending` (not rejected, expired or approved by someone else) and before its
/// deadline, with the same task
/// token and approval count as read, and on the role not having been given: `true` when it was
/// written, `false` when any of that no longer held (nothing was written; read the request again).
pub async fn record_approval(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    write: &ApprovalWrite<'_>,
) -> Result<bool, BbwsError> {
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

    let mut names = HashMap::from([
        ("#s".to_owned(), "status".to_owned()),
        ("#t".to_owned(), "task_token".to_owned()),
        ("#g".to_owned(), APPROVALS_GIVEN.to_owned()),
        ("#d".to_owned(), "deadline_epoch".to_owned()),
        ("#r".to_owned(), READY.to_owned()),
    ]);
    let mut values = HashMap::from([
        (":pending".to_owned(), AttributeValue::S("pending".into())),
        (
            ":token".to_owned(),
            AttributeValue::S(write.task_token.to_owned()),
        ),
        (
            ":given".to_owned(),
            AttributeValue::N(write.given_before.to_string()),
        ),
        (
            ":next".to_owned(),
            AttributeValue::N((write.given_before + 1).to_string()),
        ),
        (
            ":now".to_owned(),
            AttributeValue::N(write.now_epoch.to_string()),
        ),
    ]);
    let given = if write.given_before == 0 {
        "(attribute_not_exists(#g) OR #g = :given)"
    } else {
        "#g = :given"
    };
    let ready = if write.ready {
        "attribute_exists(#r)"
    } else {
        "attribute_not_exists(#r)"
    };
    let mut sets = vec!["#g = :next".to_owned()];
    if let Some(fields) = write.decides {
        values.insert(":approved".into(), AttributeValue::S("approved".into()));
        sets.push("#s = :approved".into());
        for (i, (name, value)) in fields.iter().enumerate() {
            names.insert(format!("#f{i}"), name.clone());
            values.insert(format!(":f{i}"), crate::store::to_attribute(value));
            sets.push(format!("#f{i} = :f{i}"));
        }
    }
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(write.request_id, "request")))
        .condition_expression(format!(
            "#s = :pending AND #t = :token AND #d >= :now AND {given} AND {ready}"
        ))
        .update_expression(format!("SET {}", sets.join(", ")))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| BbwsError::invalid_event(format!("approval update: {e}")))?;
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(crate::store::to_item(write.approval)))
        .condition_expression("attribute_not_exists(#k)")
        .expression_attribute_names("#k", "request_id")
        .build()
        .map_err(|e| BbwsError::invalid_event(format!("approval item: {e}")))?;
    let out = ddb
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().put(put).build())
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        // Cancelled: a condition failed, or (on AWS) a concurrent write conflicted; either way
        // nothing was written.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(TransactWriteItemsError::TransactionCanceledException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(BbwsError::aws(
            format!("TransactWriteItems {table} {} approval", write.request_id),
            e,
        )),
    }
}

/// How a callback ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// Step Functions took it.
    Delivered,
    /// The wait is over (timed out, or the execution ended): nothing to answer any more.
    Gone(String),
}

/// SendTaskSuccess with `output`.
pub async fn succeed(
    sfn: &aws_sdk_sfn::Client,
    token: &str,
    output: &Value,
) -> Result<Callback, BbwsError> {
    match sfn
        .send_task_success()
        .task_token(token)
        .output(output.to_string())
        .send()
        .await
    {
        Ok(_) => Ok(Callback::Delivered),
        Err(e) => match e.as_service_error() {
            Some(SendTaskSuccessError::TaskTimedOut(_))
            | Some(SendTaskSuccessError::TaskDoesNotExist(_))
            | Some(SendTaskSuccessError::InvalidToken(_)) => {
                Ok(Callback::Gone(BbwsError::aws("SendTaskSuccess", e).message))
            }
            _ => Err(BbwsError::aws("SendTaskSuccess", e)),
        },
    }
}

/// SendTaskFailure with `error` and `cause`.
pub async fn fail(
    sfn: &aws_sdk_sfn::Client,
    token: &str,
    error: bbws_domain::ErrorName,
    cause: &str,
) -> Result<Callback, BbwsError> {
    match sfn
        .send_task_failure()
        .task_token(token)
        .error(error.as_str())
        .cause(cause)
        .send()
        .await
    {
        Ok(_) => Ok(Callback::Delivered),
        Err(e) => match e.as_service_error() {
            Some(SendTaskFailureError::TaskTimedOut(_))
            | Some(SendTaskFailureError::TaskDoesNotExist(_))
            | Some(SendTaskFailureError::InvalidToken(_)) => {
                Ok(Callback::Gone(BbwsError::aws("SendTaskFailure", e).message))
            }
            _ => Err(BbwsError::aws("SendTaskFailure", e)),
        },
    }
}

/// An SSM parameter's value (decrypted when it is a SecureString).
pub async fn parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, BbwsError> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("GetParameter {name}"), e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| BbwsError::config(format!("SSM parameter {name} has no value")))
}

/// Publishes an approval email to one approver (the topic's subscriptions filter on `approver`).
pub async fn email_approver(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    approver: &str,
    subject: &str,
    message: &str,
) -> Result<(), BbwsError> {
    let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(approver)
        .build()
        .map_err(|e| BbwsError::invalid_event(format!("message attribute: {e}")))?;
    let subject: String = subject.chars().take(99).collect();
    sns.publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message(message)
        .message_attributes("approver", attr)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("Publish approval email to {approver}"), e))?;
    Ok(())
}
