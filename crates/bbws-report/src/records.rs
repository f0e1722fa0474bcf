//! Reading a service's deployment records from `bbws-deployments-<env>`.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use bbws_aws::store::{from_attribute, DEPLOYMENTS_BY_SERVICE};
use bbws_aws::BbwsError;
use serde_json::{Map, Value};

/// The time bound of a read, on the records' RFC 3339 `timestamp` (compared as text, as the index
/// sorts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// At or after this text.
    From(String),
    /// Before this text.
    Before(String),
}

impl Bound {
    fn condition(&self) -> (&'static str, &str) {
        match self {
            Bound::From(t) => ("#t >= :t", t),
            Bound::Before(t) => ("#t < :t", t),
        }
    }
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    let map: Map<String, Value> = item
        .iter()
        .map(|(k, v)| (k.clone(), from_attribute(v)))
        .collect();
    Value::Object(map)
}

/// Every record of `service` in `table` within `bound`, all pages, by Query on the
/// service-timestamp index (every BBWS deployments table has it: infra/modules/pipeline).
pub async fn of_service(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    service: &str,
    bound: &Bound,
) -> Result<Vec<Value>, BbwsError> {
    match query(ddb, table, service, bound).await {
        Ok(records) => Ok(records),
        Err(QueryFailure::NoIndex) => Err(BbwsError::new(
            bbws_domain::ErrorName::AwsRefused,
            format!(
                "Query {table}: the table has no {DEPLOYMENTS_BY_SERVICE} index: it is not a BBWS \
                 deployments table as infra/modules/pipeline makes it"
            ),
        )),
        Err(QueryFailure::Aws(e)) => Err(e),
    }
}

enum QueryFailure {
    NoIndex,
    Aws(BbwsError),
}

async fn query(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    service: &str,
    bound: &Bound,
) -> Result<Vec<Value>, QueryFailure> {
    let (condition, at) = bound.condition();
    let mut out = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = ddb
            .query()
            .table_name(table)
            .index_name(DEPLOYMENTS_BY_SERVICE)
            .key_condition_expression(format!("#s = :s AND {condition}"))
            .expression_attribute_names("#s", "service")
            .expression_attribute_names("#t", "timestamp")
            .expression_attribute_values(":s", AttributeValue::S(service.to_owned()))
            .expression_attribute_values(":t", AttributeValue::S(at.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                let no_index = e.code() == Some("ValidationException")
                    && e.message().is_some_and(|m| m.contains("index"));
                return Err(if no_index {
                    QueryFailure::NoIndex
                } else {
                    QueryFailure::Aws(BbwsError::aws(
                        format!(
                            "Query {table} (index {DEPLOYMENTS_BY_SERVICE}, service {service})"
                        ),
                        e,
                    ))
                });
            }
        };
        out.extend(page.items().iter().map(item_json));
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(out),
        }
    }
}
