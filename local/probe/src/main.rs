//! A tiny `provided.al2023` function that the local estate's tests deploy and invoke.
//!
//! The event's `action` picks the behaviour:
//! - `echo` (default): returns the event and what the runtime gave the function (name, version,
//!   region, whether credentials and an endpoint were set — never their values);
//! - `fail`: returns a handler error with errorType `Bbws.ProbeFailure`;
//! - `sleep`: sleeps `ms` milliseconds, then echoes;
//! - `crash`: exits the process with status 3 mid-invocation;
//! - `health`: answers like a BBWS service's `/health` (statusCode 200).
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

/// The one error this probe returns on purpose; its type name is what Step Functions matches on.
#[derive(Debug)]
struct ProbeFailure(String);

impl From<ProbeFailure> for Diagnostic {
    fn from(e: ProbeFailure) -> Self {
        Diagnostic {
            error_type: "Bbws.ProbeFailure".into(),
            error_message: e.0,
        }
    }
}

fn env(name: &str) -> Value {
    std::env::var(name)
        .map(Value::String)
        .unwrap_or(Value::Null)
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, ProbeFailure> {
    let (payload, ctx) = event.into_parts();
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("echo")
        .to_owned();
    match action.as_str() {
        "fail" => {
            let msg = payload
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the probe was asked to fail");
            return Err(ProbeFailure(msg.to_owned()));
        }
        "crash" => std::process::exit(3),
        "sleep" => {
            let ms = payload.get("ms").and_then(Value::as_u64).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        "health" => {
            return Ok(
                json!({"statusCode": 200, "headers": {"content-type": "application/json"},
                             "body": "{\"status\":\"healthy\"}"}),
            )
        }
        _ => {}
    }
    Ok(json!({
        "action": action,
        "event": payload,
        "request_id": ctx.request_id,
        "invoked_function_arn": ctx.invoked_function_arn,
        "function_name": env("AWS_LAMBDA_FUNCTION_NAME"),
        "function_version": env("AWS_LAMBDA_FUNCTION_VERSION"),
        "memory_size": env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        "region": env("AWS_REGION"),
        "custom": env("PROBE_SETTING"),
        "has_credentials": std::env::var("AWS_ACCESS_KEY_ID").is_ok()
            && std::env::var("AWS_SECRET_ACCESS_KEY").is_ok()
            && std::env::var("AWS_SESSION_TOKEN").is_ok(),
        "endpoint_set": std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "pid": std::process::id(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
