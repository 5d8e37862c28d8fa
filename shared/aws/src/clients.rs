//! Building the SDK clients once, from the standard AWS settings.

use crate::alarms::Alarms;
use crate::ecs::EcsRouter;
use crate::lambda::LambdaRouter;
use crate::notify::Notifier;
use crate::service::Cutover;
use crate::store::Store;

/// Table name used when `CUTOVER_TABLE` is not set.
pub const DEFAULT_TABLE: &str = "cutover";

/// Settings read from the environment once, at start.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// DynamoDB table (`CUTOVER_TABLE`).
    pub table: Option<String>,
    /// SNS topic for notifications (`CUTOVER_TOPIC_ARN`).
    pub topic_arn: Option<String>,
}

impl Settings {
    /// Reads `CUTOVER_TABLE` and `CUTOVER_TOPIC_ARN`.
    pub fn from_env() -> Settings {
        Settings {
            table: std::env::var("CUTOVER_TABLE")
                .ok()
                .filter(|s| !s.is_empty()),
            topic_arn: std::env::var("CUTOVER_TOPIC_ARN")
                .ok()
                .filter(|s| !s.is_empty()),
        }
    }
}

/// Loads the AWS configuration (region, credentials, `AWS_ENDPOINT_URL`) the standard way,
/// with adaptive retries: Lambda's control plane allows about 15 requests a second per
/// account and region, so a rollback storm over many aliases paces itself on throttling
/// instead of failing.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(5))
        .load()
        .await
}

/// Builds every adapter from one SDK configuration.
pub fn build(sdk: &aws_config::SdkConfig, settings: &Settings) -> Cutover {
    let table = settings
        .table
        .clone()
        .unwrap_or_else(|| DEFAULT_TABLE.to_string());
    Cutover {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), table),
        lambda: LambdaRouter::new(aws_sdk_lambda::Client::new(sdk)),
        ecs: EcsRouter::new(
            aws_sdk_ecs::Client::new(sdk),
            aws_sdk_elasticloadbalancingv2::Client::new(sdk),
        ),
        alarms: Alarms::new(aws_sdk_cloudwatch::Client::new(sdk)),
        notifier: Notifier::new(aws_sdk_sns::Client::new(sdk), settings.topic_arn.clone()),
        region: sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into()),
    }
}
