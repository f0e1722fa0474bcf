//! DynamoDB and SNS: promotion locks, deployment records, quality-gate results, notifications.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionError;
use bbws_domain::{Gate, GateResult, HolderStatus};
use serde_json::{Map, Value};

use crate::error::BbwsError;

/// JSON to a DynamoDB attribute (numbers as N, objects as M, arrays as L).
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(to_item(map)),
    }
}

/// A JSON object to a DynamoDB item.
pub fn to_item(map: &Map<String, Value>) -> HashMap<String, AttributeValue> {
    map.iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

/// A DynamoDB attribute back to JSON.
pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Who holds a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockHolder {
    /// The execution holding it.
    pub execution_arn: String,
    /// Since when (RFC 3339).
    pub acquired_at: String,
}

/// Takes the lock `lock_id` for `execution_arn` until `expires_at` (epoch seconds). A lock past
/// its expiry is taken; a lock another execution holds is refused with its holder, whose status
/// the caller may check ([`holder_status`]) before a [`take_over_lock`].
pub async fn acquire_lock(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    lock_id: &str,
    execution_arn: &str,
    now_epoch: i64,
    expires_at: i64,
    acquired_at: &str,
) -> Result<Result<(), LockHolder>, BbwsError> {
    let put = ddb
        .put_item()
        .table_name(table)
        .item("lock_id", AttributeValue::S(lock_id.to_owned()))
        .item("execution_arn", AttributeValue::S(execution_arn.to_owned()))
        .item("acquired_at", AttributeValue::S(acquired_at.to_owned()))
        .item("expires_at", AttributeValue::N(expires_at.to_string()))
        .condition_expression(
            "attribute_not_exists(lock_id) OR expires_at < :now OR execution_arn = :me",
        )
        .expression_attribute_values(":now", AttributeValue::N(now_epoch.to_string()))
        .expression_attribute_values(":me", AttributeValue::S(execution_arn.to_owned()))
        .send()
        .await;
    match put {
        Ok(_) => Ok(Ok(())),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PutItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            let held = ddb
                .get_item()
                .table_name(table)
                .key("lock_id", AttributeValue::S(lock_id.to_owned()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| BbwsError::aws(format!("GetItem {table} {lock_id}"), e))?;
            let item = held.item().cloned().unwrap_or_default();
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            Ok(Err(LockHolder {
                execution_arn: text("execution_arn"),
                acquired_at: text("acquired_at"),
            }))
        }
        Err(e) => Err(BbwsError::aws(format!("PutItem {table} {lock_id}"), e)),
    }
}

/// What Step Functions says of the execution holding a lock (DescribeExecution): its status, or
/// [`HolderStatus::Missing`] when it does not exist.
pub async fn holder_status(
    sfn: &aws_sdk_sfn::Client,
    execution_arn: &str,
) -> Result<HolderStatus, BbwsError> {
    match sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
    {
        Ok(out) => Ok(HolderStatus::Status(out.status().as_str().to_owned())),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(DescribeExecutionError::ExecutionDoesNotExist(_))
            ) =>
        {
            Ok(HolderStatus::Missing)
        }
        Err(e) => Err(BbwsError::aws(
            format!("DescribeExecution {execution_arn}"),
            e,
        )),
    }
}

/// Takes over `lock_id` from `stale_holder` (an execution that no longer runs) for
/// `execution_arn` until `expires_at`, recording `took_over_from` in the lock item. The write is
/// conditional on `stale_holder` still holding it, so of two contenders exactly one wins; `false`
/// for the one that lost (the lock changed hands meanwhile).
#[allow(clippy::too_many_arguments)]
pub async fn take_over_lock(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    lock_id: &str,
    execution_arn: &str,
    stale_holder: &str,
    expires_at: i64,
    acquired_at: &str,
    took_over_from: &Map<String, Value>,
) -> Result<bool, BbwsError> {
    let put = ddb
        .put_item()
        .table_name(table)
        .item("lock_id", AttributeValue::S(lock_id.to_owned()))
        .item("execution_arn", AttributeValue::S(execution_arn.to_owned()))
        .item("acquired_at", AttributeValue::S(acquired_at.to_owned()))
        .item("expires_at", AttributeValue::N(expires_at.to_string()))
        .item("took_over_from", AttributeValue::M(to_item(took_over_from)))
        .condition_expression("execution_arn = :stale")
        .expression_attribute_values(":stale", AttributeValue::S(stale_holder.to_owned()))
        .send()
        .await;
    match put {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PutItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(BbwsError::aws(format!("PutItem {table} {lock_id}"), e)),
    }
}

/// Releases the lock if `execution_arn` holds it; says whether it did.
pub async fn release_lock(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    lock_id: &str,
    execution_arn: &str,
) -> Result<bool, BbwsError> {
    let out = ddb
        .delete_item()
        .table_name(table)
        .key("lock_id", AttributeValue::S(lock_id.to_owned()))
        .condition_expression("execution_arn = :me")
        .expression_attribute_values(":me", AttributeValue::S(execution_arn.to_owned()))
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(BbwsError::aws(format!("DeleteItem {table} {lock_id}"), e)),
    }
}

/// Writes a record that must never be overwritten; `false` when `key_attr` already exists
/// (a retried step), `true` when written.
pub async fn put_new(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    key_attr: &str,
    record: &Map<String, Value>,
) -> Result<bool, BbwsError> {
    let out = ddb
        .put_item()
        .table_name(table)
        .set_item(Some(to_item(record)))
        .condition_expression("attribute_not_exists(#k)")
        .expression_attribute_names("#k", key_attr)
        .send()
        .await;
    match out {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PutItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(BbwsError::aws(format!("PutItem {table}"), e)),
    }
}

/// The item of `table` whose `key_attr` is `key` (a consistent read); `None` when there is none.
pub async fn get_item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    key_attr: &str,
    key: &str,
) -> Result<Option<Map<String, Value>>, BbwsError> {
    let out = ddb
        .get_item()
        .table_name(table)
        .key(key_attr, AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("GetItem {table} {key}"), e))?;
    Ok(out.item().map(|item| {
        item.iter()
            .map(|(k, v)| (k.clone(), from_attribute(v)))
            .collect()
    }))
}

/// Appends `entry` to the list attribute `list` of the existing item `key`, provided the list
/// still has `known` entries (absent counts as 0): two writers never both append on top of the
/// same list. `false` when the item changed meanwhile (read it again).
pub async fn append_to_list(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    key_attr: &str,
    key: &str,
    list: &str,
    entry: &Value,
    known: usize,
) -> Result<bool, BbwsError> {
    let unchanged = if known == 0 {
        "attribute_exists(#k) AND attribute_not_exists(#l)"
    } else {
        "attribute_exists(#k) AND size(#l) = :n"
    };
    let mut request = ddb
        .update_item()
        .table_name(table)
        .key(key_attr, AttributeValue::S(key.to_owned()))
        .update_expression("SET #l = list_append(if_not_exists(#l, :empty), :one)")
        .condition_expression(unchanged)
        .expression_attribute_names("#k", key_attr)
        .expression_attribute_names("#l", list)
        .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
        .expression_attribute_values(":one", AttributeValue::L(vec![to_attribute(entry)]));
    if known > 0 {
        request = request.expression_attribute_values(":n", AttributeValue::N(known.to_string()));
    }
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(BbwsError::aws(
            format!("UpdateItem {table} {key} {list}"),
            e,
        )),
    }
}

/// The index of `bbws-deployments-<env>` by service and time.
pub const DEPLOYMENTS_BY_SERVICE: &str = "service-timestamp";

/// Every deployment record of a service (promotions and rollbacks), oldest first, all pages.
pub async fn records_of_service(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    service: &str,
) -> Result<Vec<Value>, BbwsError> {
    let mut out = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = ddb
            .query()
            .table_name(table)
            .index_name(DEPLOYMENTS_BY_SERVICE)
            .key_condition_expression("service = :s")
            .expression_attribute_values(":s", AttributeValue::S(service.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| {
                BbwsError::aws(
                    format!("Query {table} {DEPLOYMENTS_BY_SERVICE} {service}"),
                    e,
                )
            })?;
        for item in page.items() {
            let map: Map<String, Value> = item
                .iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect();
            out.push(Value::Object(map));
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(out),
        }
    }
}

/// The quality-gate results CI recorded for a package (table `bbws-quality-gates-<env>`, hash key
/// `code_sha256`, range key `gate`). Unknown gate names are skipped.
pub async fn gate_results(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    code_sha256: &str,
) -> Result<Vec<GateResult>, BbwsError> {
    let out = ddb
        .query()
        .table_name(table)
        .key_condition_expression("code_sha256 = :sha")
        .expression_attribute_values(":sha", AttributeValue::S(code_sha256.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("Query {table} {code_sha256}"), e))?;
    let mut results = Vec::new();
    for item in out.items() {
        let gate = item
            .get("gate")
            .and_then(|v| v.as_s().ok())
            .and_then(|g| serde_json::from_value::<Gate>(Value::String(g.clone())).ok());
        let Some(gate) = gate else { continue };
        let passed = item
            .get("passed")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        let coverage_percent = item
            .get("coverage_percent")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<f64>().ok());
        results.push(GateResult {
            gate,
            passed,
            coverage_percent,
        });
    }
    Ok(results)
}

/// Publishes a notification; `event` becomes a message attribute subscribers can filter on.
pub async fn notify(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    event: &str,
    subject: &str,
    message: &str,
) -> Result<(), BbwsError> {
    if topic_arn.is_empty() {
        return Ok(());
    }
    let attr = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(event)
        .build()
        .map_err(|e| BbwsError::invalid_event(format!("message attribute: {e}")))?;
    let subject: String = subject.chars().take(99).collect();
    sns.publish()
        .topic_arn(topic_arn)
        .subject(subject)
        .message(message)
        .message_attributes("event", attr)
        .send()
        .await
        .map_err(|e| BbwsError::aws(format!("Publish {event} to {topic_arn}"), e))?;
    Ok(())
}

/// An EventBridge client of the account of `config` in `region` (PROD's failover region).
pub fn eventbridge_in(config: &aws_config::SdkConfig, region: &str) -> aws_sdk_eventbridge::Client {
    let conf = aws_sdk_eventbridge::config::Builder::from(config)
        .region(aws_config::Region::new(region.to_owned()))
        .build();
    aws_sdk_eventbridge::Client::from_conf(conf)
}

/// EventBridge rules whose names contain `fragment`, with their State (`ENABLED`, `DISABLED`).
pub async fn rules_containing(
    events: &aws_sdk_eventbridge::Client,
    fragment: &str,
) -> Result<Vec<(String, String)>, BbwsError> {
    let mut rules = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = events
            .list_rules()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| BbwsError::aws("ListRules", e))?;
        for r in out.rules() {
            let name = r.name().unwrap_or_default();
            if name.contains(fragment) {
                let state = r.state().map(|s| s.as_str().to_owned()).unwrap_or_default();
                rules.push((name.to_owned(), state));
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(rules),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_dynamodb_items_round_trip() {
        let value = json!({"s": "x", "n": 5, "f": 2.5, "b": true, "l": [1, "a"], "m": {"k": null}});
        let Value::Object(map) = value.clone() else {
            panic!("object")
        };
        let item = to_item(&map);
        assert_eq!(item["n"], AttributeValue::N("5".into()));
        let back: Map<String, Value> = item
            .iter()
            .map(|(k, v)| (k.clone(), from_attribute(v)))
            .collect();
        assert_eq!(Value::Object(back), value);
    }
}
