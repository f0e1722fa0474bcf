//! The handler runtime: JSON logs for CloudWatch, and a Lambda loop over `serde_json::Value`
//! events whose errors become `Diagnostic`s with their `Bbws.*` type.

use std::future::Future;

use lambda_runtime::{service_fn, LambdaEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use crate::error::BbwsError;

/// JSON log lines, one per event, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_target(false)
        .with_current_span(false)
        .flatten_event(true)
        .init();
}

/// Runs `handler` for every event until the runtime stops.
pub async fn serve<F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<Value, BbwsError>>,
{
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handler(event.payload).await
    }))
    .await
}

/// Reads a typed payload, naming what is wrong with it.
pub fn parse<T: DeserializeOwned>(what: &str, value: Value) -> Result<T, BbwsError> {
    serde_json::from_value(value)
        .map_err(|e| BbwsError::invalid_event(format!("{what} cannot be read: {e}")))
}

/// Writes a payload back as JSON.
pub fn to_value<T: serde::Serialize>(value: &T) -> Result<Value, BbwsError> {
    serde_json::to_value(value)
        .map_err(|e| BbwsError::invalid_event(format!("result cannot be written: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    struct Op {
        #[allow(dead_code)]
        op: String,
    }

    #[test]
    fn a_payload_of_the_wrong_shape_is_an_invalid_event_that_names_it() {
        let e = parse::<Op>("the monitor event", json!({"opx": 1})).unwrap_err();
        assert_eq!(e.error_type, bbws_domain::ErrorName::InvalidEvent);
        assert!(e.message.contains("the monitor event cannot be read"));
        assert!(e.message.contains("missing field `op`"));
    }
}
