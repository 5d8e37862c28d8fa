//! The adapters' error type.

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
    pub fn aws<E, R>(
        service: &'static str,
        operation: &'static str,
        err: &aws_sdk_lambda::error::SdkError<E, R>,
    ) -> Error
    where
        E: std::error::Error + aws_sdk_lambda::error::ProvideErrorMetadata + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_lambda::error::SdkError;
        let retryable = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        ) || matches!(
            aws_sdk_lambda::error::ProvideErrorMetadata::code(err),
            Some(
                "ThrottlingException"
                    | "TooManyRequestsException"
                    | "ServiceUnavailable"
                    | "ServiceException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
            )
        );
        let message = match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                format!(
                    "{}: {}",
                    e.code().unwrap_or("Error"),
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

/// Result with the adapters' error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
