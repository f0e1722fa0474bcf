//! The one error type that leaves a Lambda: a stable `errorType`, one of the domain's
//! [`ErrorName`]s (the whole `Bbws.*` vocabulary), and words a person can act on. Step Functions'
//! Retry and Catch match the type; callers' scripts read the message.
//!
//! An AWS call fails in one of two ways, told apart once, here ([`classify`]): transiently
//! (`Bbws.AwsUnavailable`: throttling, a 5xx, a timeout, a connection that failed; the state
//! machines retry it with backoff) or permanently (`Bbws.AwsRefused`: access denied, a missing
//! resource, a validation error, a conflict, any other 4xx; no state machine retries it).

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use bbws_domain::ErrorName;
use lambda_runtime::Diagnostic;
use std::error::Error;

/// Error codes AWS services answer for throttling or a passing fault, whatever the HTTP status
/// (the AWS SDKs' own lists of throttling and transient codes).
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "IDPCommunicationError",
    // KMS throttling the encryption of an SNS message or an SSM SecureString: HTTP 400, passing.
    "KMSThrottling",
    "KMSThrottlingException",
];

/// How an AWS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFailure {
    /// A retry may succeed: throttling, a 5xx, a timeout, a connection that failed.
    Transient,
    /// AWS answered and refused the request as sent (a 4xx other than throttling), or the request
    /// could not even be built: the same call fails again.
    Permanent,
}

impl AwsFailure {
    /// The `Bbws.*` name an error of this kind carries.
    pub fn error_type(self) -> ErrorName {
        match self {
            AwsFailure::Transient => ErrorName::AwsUnavailable,
            AwsFailure::Permanent => ErrorName::AwsRefused,
        }
    }
}

/// Transient or permanent, from the SDK's error: a timeout or a failed dispatch is transient
/// (unless it is the refusal of the credentials of an assumed role); a service's answer is
/// transient when its code is a throttling or passing-fault code or its status is 429 or 5xx,
/// and permanent for any other 4xx; a request that could not be built is permanent.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(e) => by_answer(e.err().code(), e.raw().status().as_u16()),
        SdkError::ResponseError(e) => by_answer(None, e.raw().status().as_u16()),
        SdkError::ConstructionFailure(_) => AwsFailure::Permanent,
        SdkError::DispatchFailure(e) => match assumed_role_refusal(e.as_connector_error()) {
            Some(Credentials::Refused(sts)) => classify(sts),
            Some(Credentials::Misconfigured) => AwsFailure::Permanent,
            None => AwsFailure::Transient,
        },
        _ => AwsFailure::Transient,
    }
}

fn by_answer(code: Option<&str>, status: u16) -> AwsFailure {
    let transient_code = code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
    if transient_code || status == 429 || !(400..500).contains(&status) {
        AwsFailure::Transient
    } else {
        AwsFailure::Permanent
    }
}

/// What loading the credentials of an assumed role said, when that is why a call was not sent.
enum Credentials<'a> {
    /// STS answered AssumeRole with an error (e.g. AccessDenied: the trust policy does not name
    /// this function's role).
    Refused(&'a SdkError<AssumeRoleError, HttpResponse>),
    /// The provider's configuration cannot work (a malformed policy, a disabled region).
    Misconfigured,
}

fn assumed_role_refusal(
    connector: Option<&aws_smithy_runtime_api::client::result::ConnectorError>,
) -> Option<Credentials<'_>> {
    let mut next: Option<&(dyn Error + 'static)> = connector.and_then(|c| c.source());
    for _ in 0..8 {
        let current = next?;
        if let Some(sts) = current.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            return Some(Credentials::Refused(sts));
        }
        if let Some(CredentialsError::InvalidConfiguration(_)) =
            current.downcast_ref::<CredentialsError>()
        {
            return Some(Credentials::Misconfigured);
        }
        next = current.source();
    }
    None
}

/// The service's error code and message when it answered, else the transport's own words
/// (never the raw response).
fn detail<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: Error + ProvideErrorMetadata + 'static,
{
    if let SdkError::DispatchFailure(e) = err {
        if let Some(Credentials::Refused(sts)) = assumed_role_refusal(e.as_connector_error()) {
            return format!(
                "the credentials of the assumed role: AssumeRole: {}",
                detail(sts)
            );
        }
    }
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => first_line(&DisplayErrorContext(err).to_string()),
    }
}

/// An error with a stable type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct BbwsError {
    /// Its `Bbws.*` name.
    pub error_type: ErrorName,
    /// What happened, with the figures.
    pub message: String,
}

impl BbwsError {
    /// An error named `name`.
    pub fn new(name: ErrorName, message: impl Into<String>) -> BbwsError {
        BbwsError {
            error_type: name,
            message: message.into(),
        }
    }

    /// An AWS call that failed; `context` says which call on what. Named `Bbws.AwsRefused` when
    /// AWS refused it for good, else `Bbws.AwsUnavailable` ([`classify`]); the message keeps the
    /// service's error code and its words (for AccessDenied: the denied action and the resource).
    pub fn aws<E>(context: impl std::fmt::Display, err: SdkError<E, HttpResponse>) -> BbwsError
    where
        E: Error + ProvideErrorMetadata + 'static,
    {
        BbwsError::new(
            classify(&err).error_type(),
            format!("{context}: {}", detail(&err)),
        )
    }

    /// A plain HTTP or I/O failure (package downloads).
    pub fn transport(context: impl std::fmt::Display, err: impl std::error::Error) -> BbwsError {
        BbwsError::new(
            ErrorName::AwsUnavailable,
            format!(
                "{context}: {}",
                first_line(&DisplayErrorContext(&err).to_string())
            ),
        )
    }

    /// The name a step that put back what it changed ends with after this error:
    /// `Bbws.AwsUnavailable` (the state machine runs the step again) when AWS failed transiently
    /// and `all_back` says everything is as it was before the step, else `otherwise`.
    pub fn retried_or(&self, all_back: bool, otherwise: ErrorName) -> ErrorName {
        if all_back && self.error_type == ErrorName::AwsUnavailable {
            ErrorName::AwsUnavailable
        } else {
            otherwise
        }
    }

    /// A payload from the state machine that does not have the expected shape.
    pub fn invalid_event(message: impl Into<String>) -> BbwsError {
        BbwsError::new(ErrorName::InvalidEvent, message)
    }

    /// Deployed configuration that cannot be used.
    pub fn config(message: impl Into<String>) -> BbwsError {
        BbwsError::new(ErrorName::ConfigInvalid, message)
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
            error_type: e.error_type.as_str().to_owned(),
            error_message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_put_everything_back_after_a_transient_failure_is_run_again() {
        let throttled = BbwsError::new(ErrorName::AwsUnavailable, "UpdateAlias f: Throttling");
        let refused = BbwsError::new(ErrorName::AwsRefused, "UpdateAlias f: AccessDenied");
        assert_eq!(
            throttled.retried_or(true, ErrorName::DeployFailed),
            ErrorName::AwsUnavailable
        );
        assert_eq!(
            throttled.retried_or(false, ErrorName::DeployFailed),
            ErrorName::DeployFailed,
            "something is not back"
        );
        assert_eq!(
            refused.retried_or(true, ErrorName::RollbackFailed),
            ErrorName::RollbackFailed
        );
    }

    #[test]
    fn diagnostic_carries_the_stable_type_and_the_message() {
        let d: Diagnostic = BbwsError::new(ErrorName::DeployFailed, "sha differs").into();
        assert_eq!(d.error_type, ErrorName::DeployFailed.as_str());
        assert_eq!(d.error_message, "sha differs");
    }

    #[test]
    fn transport_failures_are_retryable_and_say_which_call_failed() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out");
        let e = BbwsError::transport("GetFunction bbws-x-sit", io);
        assert_eq!(e.error_type, ErrorName::AwsUnavailable);
        assert!(
            e.message.starts_with("GetFunction bbws-x-sit: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("connect timed out"));
    }

    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    const DENIED: &str =
        "User: arn:aws:sts::815856636111:assumed-role/bbws-promotion-record-sit/x \
        is not authorized to perform: dynamodb:PutItem on resource: \
        arn:aws:dynamodb:af-south-1:815856636111:table/bbws-promotion-locks-sit";

    fn response(status: u16) -> HttpResponse {
        let status = StatusCode::try_from(status).expect("a valid status");
        Response::new(status, SdkBody::from("{}"))
    }

    fn answered(status: u16, code: &str, message: &str) -> SdkError<PutItemError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(PutItemError::generic(meta), response(status))
    }

    #[test]
    fn refusals_are_permanent_and_keep_the_action_and_resource_aws_named() {
        let e = BbwsError::aws(
            "PutItem bbws-promotion-locks-sit tenant-instance-management#sit",
            answered(400, "AccessDeniedException", DENIED),
        );
        assert_eq!(e.error_type, ErrorName::AwsRefused);
        assert_eq!(
            e.message,
            format!(
                "PutItem bbws-promotion-locks-sit tenant-instance-management#sit: \
                 AccessDeniedException: {DENIED}"
            )
        );
        for (status, code) in [
            (403, "AccessDeniedException"),
            (403, "AccessDenied"),
            (404, "ResourceNotFoundException"),
            (400, "ResourceNotFoundException"),
            (400, "ValidationException"),
            (400, "InvalidParameterValueException"),
            (409, "ResourceConflictException"),
            (400, "ConditionalCheckFailedException"),
            (400, "UnrecognizedClientException"),
            (412, "PreconditionFailedException"),
        ] {
            let err = answered(status, code, "no");
            assert_eq!(
                classify(&err),
                AwsFailure::Permanent,
                "{status} {code} is not retried"
            );
            assert_eq!(
                BbwsError::aws("call", err).error_type,
                ErrorName::AwsRefused
            );
        }
    }

    #[test]
    fn throttling_5xx_and_timeouts_are_transient() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (400, "Throttling"),
            (429, "TooManyRequestsException"),
            (429, "SomethingNew"),
            (400, "ProvisionedThroughputExceededException"),
            (400, "RequestLimitExceeded"),
            (400, "KMSThrottling"),
            (500, "InternalServerError"),
            (500, "ServiceException"),
            (502, "EC2ThrottledException"),
            (503, "ServiceUnavailable"),
            (504, "GatewayTimeout"),
        ] {
            let err = answered(status, code, "slow down");
            assert_eq!(classify(&err), AwsFailure::Transient, "{status} {code}");
            let e = BbwsError::aws("GetFunction f", err);
            assert_eq!(e.error_type, ErrorName::AwsUnavailable);
            assert_eq!(e.message, format!("GetFunction f: {code}: slow down"));
        }
        let timeout: SdkError<PutItemError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert_eq!(classify(&timeout), AwsFailure::Transient);
        let e = BbwsError::aws("Query t", timeout);
        assert_eq!(e.error_type, ErrorName::AwsUnavailable);
        assert!(e.message.starts_with("Query t: "), "{}", e.message);
        for connector in [
            ConnectorError::io("connection reset by peer".into()),
            ConnectorError::timeout("connect timed out".into()),
            ConnectorError::other("dns error".into(), None),
        ] {
            let err: SdkError<PutItemError, HttpResponse> = SdkError::dispatch_failure(connector);
            assert_eq!(classify(&err), AwsFailure::Transient);
        }
        let unreadable: SdkError<PutItemError, HttpResponse> =
            SdkError::response_error("not json", response(502));
        assert_eq!(classify(&unreadable), AwsFailure::Transient);
        let unreadable: SdkError<PutItemError, HttpResponse> =
            SdkError::response_error("not json", response(403));
        assert_eq!(classify(&unreadable), AwsFailure::Permanent);
        let unbuildable: SdkError<PutItemError, HttpResponse> =
            SdkError::construction_failure("missing TableName");
        assert_eq!(classify(&unbuildable), AwsFailure::Permanent);
    }

    fn credentials_failure(
        sts: SdkError<AssumeRoleError, HttpResponse>,
    ) -> SdkError<PutItemError, HttpResponse> {
        let credentials = CredentialsError::provider_error(sts);
        SdkError::dispatch_failure(ConnectorError::other(Box::new(credentials), None))
    }

    #[test]
    fn an_assumed_role_sts_refuses_is_permanent_and_says_so() {
        let denied =
            "User: arn:aws:sts::093646564004:assumed-role/bbws-promotion-deploy-prod/x is \
            not authorized to perform: sts:AssumeRole on resource: \
            arn:aws:iam::815856636111:role/bbws-source-reader-sit";
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message(denied)
            .build();
        let sts = SdkError::service_error(AssumeRoleError::generic(meta), response(403));
        let e = BbwsError::aws("GetFunction sit-bbws-x", credentials_failure(sts));
        assert_eq!(e.error_type, ErrorName::AwsRefused);
        assert_eq!(
            e.message,
            format!(
                "GetFunction sit-bbws-x: the credentials of the assumed role: AssumeRole: \
                 AccessDenied: {denied}"
            )
        );

        let meta = ErrorMetadata::builder()
            .code("Throttling")
            .message("Rate exceeded")
            .build();
        let sts = SdkError::service_error(AssumeRoleError::generic(meta), response(400));
        let e = BbwsError::aws("GetFunction sit-bbws-x", credentials_failure(sts));
        assert_eq!(e.error_type, ErrorName::AwsUnavailable);

        let misconfigured: SdkError<PutItemError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::invalid_configuration("region disabled")),
                None,
            ));
        assert_eq!(classify(&misconfigured), AwsFailure::Permanent);
    }
}
