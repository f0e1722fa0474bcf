//! The one error type that leaves a Lambda: a stable `errorType` (`Bbws.*`) and words a person can
//! act on. Step Functions' Retry and Catch match the type; callers' scripts read the message.

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bbws_domain::ErrorName;
use lambda_runtime::Diagnostic;

/// An AWS call failed in a way a retry may fix (throttling, a 5xx, a network error).
pub const AWS_UNAVAILABLE: &str = "Bbws.AwsUnavailable";
/// The state machine sent a payload this function cannot read: a defect, not an operator error.
pub const INVALID_EVENT: &str = "Bbws.InvalidEvent";
/// The deployed configuration (environment variables, BBWS_CONFIG) is wrong.
pub const CONFIG_INVALID: &str = "Bbws.ConfigInvalid";

/// An error with a stable type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct BbwsError {
    /// `Bbws.*`.
    pub error_type: String,
    /// What happened, with the figures.
    pub message: String,
}

impl BbwsError {
    /// An error of one of the execution-level names.
    pub fn new(name: ErrorName, message: impl Into<String>) -> BbwsError {
        BbwsError::typed(name.as_str(), message)
    }

    /// An error of any `Bbws.*` type.
    pub fn typed(error_type: &str, message: impl Into<String>) -> BbwsError {
        BbwsError {
            error_type: error_type.to_owned(),
            message: message.into(),
        }
    }

    /// An AWS call that failed; `context` says which call on what. The service's error code and
    /// message when it answered, else the transport's own words (never the raw response).
    pub fn aws<E>(context: impl std::fmt::Display, err: E) -> BbwsError
    where
        E: std::error::Error + ProvideErrorMetadata,
    {
        let detail = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => first_line(&DisplayErrorContext(&err).to_string()),
        };
        BbwsError::typed(AWS_UNAVAILABLE, format!("{context}: {detail}"))
    }

    /// A plain HTTP or I/O failure (package downloads).
    pub fn transport(context: impl std::fmt::Display, err: impl std::error::Error) -> BbwsError {
        BbwsError::typed(
            AWS_UNAVAILABLE,
            format!(
                "{context}: {}",
                first_line(&DisplayErrorContext(&err).to_string())
            ),
        )
    }

    /// A payload from the state machine that does not have the expected shape.
    pub fn invalid_event(message: impl Into<String>) -> BbwsError {
        BbwsError::typed(INVALID_EVENT, message)
    }

    /// Deployed configuration that cannot be used.
    pub fn config(message: impl Into<String>) -> BbwsError {
        BbwsError::typed(CONFIG_INVALID, message)
    }
}

/// At most 300 characters of the first line: enough to act on, never a response dump.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    let cut = line.split(" (ServiceError").next().unwrap_or(line);
    cut.chars().take(300).collect()
}

impl From<BbwsError> for Diagnostic {
    fn from(e: BbwsError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type,
            error_message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_carries_the_stable_type_and_the_message() {
        let d: Diagnostic = BbwsError::new(ErrorName::DeployFailed, "sha differs").into();
        assert_eq!(d.error_type, "Bbws.DeployFailed");
        assert_eq!(d.error_message, "sha differs");
    }

    #[test]
    fn aws_errors_are_retryable_and_say_which_call_failed() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        let e = BbwsError::transport("GetFunction bbws-x-sit", io);
        assert_eq!(e.error_type, AWS_UNAVAILABLE);
        assert!(
            e.message.starts_with("GetFunction bbws-x-sit: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("connect timed out"));
    }
}
