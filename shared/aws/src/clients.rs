//! Building the SDK clients once, from the standard AWS settings.

use crate::alarms::Alarms;
use crate::ecs::EcsRouter;
use crate::lambda::LambdaRouter;
use crate::notify::Notifier;
use crate::service::Cutover;
use crate::store::Store;
use lambda_runtime::tracing;

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

/// Deployment-wide settings a stack gives its functions, read from the environment:
/// `CUTOVER_EVENT_BUS` (EventBridge bus for state-change events; unset: none),
/// `CUTOVER_ALLOWED_HOOKS` (comma-separated hook function name patterns; unset: any),
/// `CUTOVER_EVENT_RETENTION_DAYS` (days event-log items are kept; 0: for ever),
/// `CUTOVER_ALARM_POLL_SECONDS` and `CUTOVER_HOOK_TIMEOUT_SECONDS` (option defaults),
/// `CUTOVER_ALLOWED_TARGETS` (what deployments may move; unset: everything) and
/// `CUTOVER_REQUIRE_GROUP` (`true`: every start names a deployment group).
#[derive(Debug, Clone, Default)]
pub struct StackSettings {
    /// EventBridge bus name or ARN.
    pub event_bus: Option<String>,
    /// Hook function name patterns.
    pub allowed_hooks: Vec<String>,
    /// Event-log retention in days.
    pub event_retention_days: Option<u64>,
    /// Defaults for deployments (`CUTOVER_ALARM_POLL_SECONDS`, `CUTOVER_HOOK_TIMEOUT_SECONDS`).
    pub defaults: crate::service::StartDefaults,
}

impl StackSettings {
    /// Reads the settings; a malformed retention is ignored with a warning.
    pub fn from_env() -> StackSettings {
        let var = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        let number = |k: &str| {
            var(k).and_then(|v| {
                v.trim().parse::<u64>().ok().or_else(|| {
                    tracing::warn!(setting = k, value = %v, "not a whole number; using the default");
                    None
                })
            })
        };
        let mut defaults = crate::service::StartDefaults::default();
        if let Some(s) = number("CUTOVER_ALARM_POLL_SECONDS") {
            defaults.alarm_poll_seconds = s;
        }
        if let Some(s) = number("CUTOVER_HOOK_TIMEOUT_SECONDS") {
            defaults.hook_timeout_seconds = s;
        }
        defaults.allowed_targets = crate::allowed::AllowedTargets::from_env();
        defaults.require_group = var("CUTOVER_REQUIRE_GROUP").is_some_and(|v| v.trim() == "true");
        StackSettings {
            defaults,
            event_bus: var("CUTOVER_EVENT_BUS"),
            allowed_hooks: var("CUTOVER_ALLOWED_HOOKS")
                .map(|v| {
                    v.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            event_retention_days: number("CUTOVER_EVENT_RETENTION_DAYS"),
        }
    }
}

/// How long one AWS call (with its retries) may take: it bounds how late an effect of a
/// decision can land after it, which [`cutover_core::engine::ECS_SETTLE_SECONDS`] waits
/// out. Hook invocations set their own (a hook runs up to 15 minutes).
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// How long one attempt of an AWS call may take before it is retried.
pub const ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Loads the AWS configuration (region, credentials, `AWS_ENDPOINT_URL`) the standard way,
/// with adaptive retries — Lambda's control plane allows about 15 requests a second per
/// account and region, so a rollback storm over many aliases paces itself on throttling
/// instead of failing — and operation timeouts ([`OPERATION_TIMEOUT`], [`ATTEMPT_TIMEOUT`]),
/// so no call of a tick can land minutes after its decision.
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(5))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(OPERATION_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

/// Builds every adapter from one SDK configuration.
pub fn build(sdk: &aws_config::SdkConfig, settings: &Settings) -> Cutover {
    let table = settings
        .table
        .clone()
        .unwrap_or_else(|| DEFAULT_TABLE.to_string());
    let stack = StackSettings::from_env();
    let mut notifier = Notifier::new(aws_sdk_sns::Client::new(sdk), settings.topic_arn.clone());
    if let Some(bus) = stack.event_bus {
        notifier = notifier.with_event_bus(aws_sdk_eventbridge::Client::new(sdk), bus);
    }
    Cutover {
        store: Store::new(aws_sdk_dynamodb::Client::new(sdk), table).with_event_retention_days(
            stack
                .event_retention_days
                .unwrap_or(crate::store::DEFAULT_EVENT_RETENTION_DAYS),
        ),
        lambda: LambdaRouter::new(aws_sdk_lambda::Client::new(sdk))
            .with_allowed_hooks(stack.allowed_hooks),
        ecs: EcsRouter::new(
            aws_sdk_ecs::Client::new(sdk),
            aws_sdk_elasticloadbalancingv2::Client::new(sdk),
        ),
        alarms: Alarms::new(aws_sdk_cloudwatch::Client::new(sdk)),
        notifier,
        defaults: stack.defaults,
        region: sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into()),
    }
}
