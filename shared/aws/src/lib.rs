//! Cutover's AWS adapters: the Lambda alias router and hook invoker, the DynamoDB store,
//! CloudWatch alarms, SNS notifications, and the tick that ties them to the engine.
#![warn(missing_docs)]

pub mod alarms;
pub mod allowed;
pub mod clients;
pub mod ecs;
pub mod error;
pub mod functions;
pub mod lambda;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod service;
pub mod start;
pub mod store;

pub use error::{Error, Result};
pub use service::{Cutover, StartRequest, TickOutcome};

/// Runs a function binary: builds the app once, then serves events with `handler`.
#[macro_export]
macro_rules! serve {
    ($handler:path) => {{
        let app = $crate::functions::init().await;
        let app = &app;
        lambda_runtime::run(lambda_runtime::service_fn(
            move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
                $handler(app, event.payload)
                    .await
                    .map_err($crate::functions::to_runtime_error)
            },
        ))
        .await
    }};
}
