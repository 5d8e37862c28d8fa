//! The adapters' error type.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::ProvideErrorKind;
use std::fmt;

/// Errors of the AWS adapters and the tick.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was refused before anything changed: bad input, a missing resource or an
    /// alias in the wrong state. The message says what to fix.
    #[error("{0}")]
    Refused(Refusal),
    /// Another deployment is active on the same target.
    #[error("deployment {active} is already in progress on {target}; wait for it to finish or stop it with `cutover stop {active}`")]
    InProgress {
        /// The active deployment.
        active: String,
        /// The target (`function:alias` or `cluster/service`).
        target: String,
    },
    /// The deployment does not exist.
    #[error("deployment {0} not found")]
    NotFound(String),
    /// Another tick saved first; the caller should reload.
    #[error("deployment {0} was changed by another tick")]
    Conflict(String),
    /// A hook report was refused.
    #[error("{0}")]
    HookReport(String),
    /// An AWS call failed.
    #[error("{service} {operation}: {message}")]
    Aws {
        /// Service name.
        service: &'static str,
        /// Operation name.
        operation: &'static str,
        /// What the SDK said.
        message: String,
        /// Whether repeating the call may succeed (throttling, timeouts, 5xx).
        retryable: bool,
    },
    /// Stored data could not be read.
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Why a request was refused, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Machine-readable kind, e.g. `InvalidAppSpec`, `VersionNotFound`.
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error {
    /// A refusal with a code and a message.
    pub fn refused(code: &'static str, message: impl Into<String>) -> Error {
        Error::Refused(Refusal {
            code,
            message: message.into(),
        })
    }

    /// Whether a caller may retry the same request.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                retryable: true,
                ..
            } | Error::Conflict(_)
        )
    }

    /// Machine-readable code for JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Refused(r) => r.code,
            Error::InProgress { .. } => "DeploymentInProgress",
            Error::NotFound(_) => "DeploymentNotFound",
            Error::Conflict(_) => "Conflict",
            Error::HookReport(_) => "InvalidHookReport",
            Error::Aws { .. } => "AwsError",
            Error::Corrupt(_) => "CorruptRecord",
        }
    }

    /// Builds an [`Error::Aws`] from an SDK error, keeping whether it can be retried.
    ///
    /// Retryable is what the SDK's own retry classifiers call retryable, so a code AWS adds
    /// to them is picked up with the SDK: a timeout or a failed connection; an error the
    /// service model marks retryable (the generated error's `ProvideErrorKind`); a
    /// throttling or transient code of `aws_runtime`'s lists (CloudWatch's `Throttling`,
    /// `ThrottlingException`, `TooManyRequestsException`, `RequestLimitExceeded`, ...); an
    /// HTTP 500, 502, 503 or 504 (`InternalFailure`, `ServiceUnavailable`, ...). A
    /// validation or access error is not retried.
    pub fn aws<E>(
        service: &'static str,
        operation: &'static str,
        err: &aws_sdk_lambda::error::SdkError<E, HttpResponse>,
    ) -> Error
    where
        E: std::error::Error
            + aws_sdk_lambda::error::ProvideErrorMetadata
            + ProvideErrorKind
            + Send
            + Sync
            + 'static,
    {
        use aws_sdk_lambda::error::SdkError;
        let retryable = is_retryable(err);
        crate::metrics::aws_error(service, is_throttling(err), retryable);
        let message = match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                format!(
                    "{}: {}",
                    aws_sdk_lambda::error::ProvideErrorMetadata::code(e).unwrap_or("Error"),
                    e.message().unwrap_or("no message")
                )
            }
            other => format!("{}", aws_sdk_lambda::error::DisplayErrorContext(other)),
        };
        Error::Aws {
            service,
            operation,
            message,
            retryable,
        }
    }
}

/// Whether an error code alone (no HTTP status: a per-entry failure of a batch call such
/// as PutEvents) is worth retrying: a throttling or transient code of the SDK's lists, or
/// AWS's common codes for a server fault.
pub(crate) fn is_retryable_code(code: &str) -> bool {
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    THROTTLING_ERRORS.contains(&code)
        || TRANSIENT_ERRORS.contains(&code)
        || matches!(code, "InternalFailure" | "ServiceUnavailable")
}

/// Whether the SDK's retry classifiers would retry `err` (see [`Error::aws`]).
fn is_retryable<E>(err: &aws_sdk_lambda::error::SdkError<E, HttpResponse>) -> bool
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + ProvideErrorKind,
{
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    use aws_sdk_lambda::error::SdkError;
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let code = aws_sdk_lambda::error::ProvideErrorMetadata::code(se.err());
            se.err().retryable_error_kind().is_some()
                || code.is_some_and(|c| {
                    THROTTLING_ERRORS.contains(&c) || TRANSIENT_ERRORS.contains(&c)
                })
                || matches!(se.raw().status().as_u16(), 500 | 502 | 503 | 504)
        }
        _ => false,
    }
}

/// Whether `err` is throttling, as the SDK classifies it (its modeled kind or its list).
fn is_throttling<E>(err: &aws_sdk_lambda::error::SdkError<E, HttpResponse>) -> bool
where
    E: aws_sdk_lambda::error::ProvideErrorMetadata + ProvideErrorKind,
{
    use aws_runtime::retries::classifiers::THROTTLING_ERRORS;
    use aws_smithy_types::retry::ErrorKind;
    match err {
        aws_sdk_lambda::error::SdkError::ServiceError(se) => {
            se.err().retryable_error_kind() == Some(ErrorKind::ThrottlingError)
                || aws_sdk_lambda::error::ProvideErrorMetadata::code(se.err())
                    .is_some_and(|c| THROTTLING_ERRORS.contains(&c))
        }
        _ => false,
    }
}

/// Result with the adapters' error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_mocks::{mock, mock_client};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    /// Whether a GetAlias answered with HTTP `status` and error `code` is retryable, through
    /// the real client's deserialization.
    async fn retryable(status: u16, code: &'static str) -> bool {
        let rule = mock!(aws_sdk_lambda::Client::get_alias).then_http_response(move || {
            let mut r = HttpResponse::new(
                StatusCode::try_from(status).unwrap(),
                SdkBody::from(r#"{"message":"from the mock"}"#),
            );
            r.headers_mut().insert("x-amzn-errortype", code);
            r
        });
        // One attempt: the classification is under test, not the SDK's retry loop.
        let client = mock_client!(
            aws_sdk_lambda,
            aws_smithy_mocks::RuleMode::MatchAny,
            [&rule],
            |c| c.retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
        );
        let err = client
            .get_alias()
            .function_name("orders")
            .name("live")
            .send()
            .await
            .unwrap_err();
        match Error::aws("Lambda", "GetAlias", &err) {
            Error::Aws { retryable, .. } => retryable,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn throttling_and_server_faults_are_retried_and_validation_errors_are_not() {
        for (status, code) in [
            (400, "Throttling"),
            (400, "ThrottlingException"),
            (429, "TooManyRequestsException"),
            (400, "RequestLimitExceeded"),
            (400, "ProvisionedThroughputExceededException"),
            (400, "RequestTimeoutException"),
            (500, "InternalFailure"),
            (500, "ServiceException"),
            (502, "BadGateway"),
            (503, "ServiceUnavailable"),
            (504, "GatewayTimeout"),
        ] {
            assert!(retryable(status, code).await, "{status} {code} is retried");
        }
        for (status, code) in [
            (400, "ValidationException"),
            (400, "InvalidParameterValueException"),
            (403, "AccessDeniedException"),
            (404, "ResourceNotFoundException"),
            (412, "PreconditionFailedException"),
        ] {
            assert!(
                !retryable(status, code).await,
                "{status} {code} is not retried"
            );
        }
    }
}
