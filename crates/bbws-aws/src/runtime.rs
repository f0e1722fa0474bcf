//! The handler runtime: JSON logs for CloudWatch, and a Lambda loop over `serde_json::Value`
//! events whose errors become `Diagnostic`s with their `Bbws.*` type.

use std::future::Future;

use lambda_runtime::{service_fn, LambdaEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing_subscriber::EnvFilter;

use crate::error::BbwsError;
use crate::Settings;

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

/// The settings of a function that applies the promotion rules ([`Settings::load`]), read when
/// its process starts. When they cannot be read or used (S3 unavailable or refusing, a document that
/// does not parse, a missing variable), the start itself fails: the error is reported to the Runtime
/// API's `init/error` under its `Bbws.*` name (the state machines retry `Bbws.AwsUnavailable`; the
/// others end the execution with the reason) and the process ends. Every event then starts a new
/// process, which reads the rules again: once S3 answers or the grant is mended, the next event works,
/// where a process that kept the error would refuse events until Lambda retired it.
pub async fn settings(aws: &crate::Aws) -> Result<Settings, lambda_runtime::Error> {
    match Settings::load(aws).await {
        Ok(settings) => Ok(settings),
        Err(e) => {
            tracing::error!(error_type = e.error_type.as_str(), error = %e.message,
                "the settings cannot be read; the process ends for a new start");
            report_init_error(&e).await;
            Err(Box::new(e))
        }
    }
}

/// Tells the Runtime API (`AWS_LAMBDA_RUNTIME_API`) why the process could not start, as AWS's
/// runtime interface documents it: the error's type in the `Lambda-Runtime-Function-Error-Type`
/// header and as `errorType` in the body. Lambda answers the pending invocation with it.
async fn report_init_error(e: &BbwsError) {
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body = serde_json::json!({
        "errorType": e.error_type.as_str(),
        "errorMessage": e.message,
    });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", e.error_type.as_str())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    if let Err(err) = sent {
        tracing::error!(error = %err, "the start's error could not be reported to the Runtime API");
    }
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
