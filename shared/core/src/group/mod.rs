//! Deployment groups, in a CodeDeploy-like file that users keep in their repository (YAML or
//! JSON): which application and group a deployment belongs to, its platform, default
//! configuration, alarms, rollback and notification settings and, for ECS, the service, the
//! listeners and the two target groups traffic moves between.
//!
//! ```yaml
//! application: shop
//! name: web-prod
//! computePlatform: ECS
//! deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minutes
//! alarms: [web-5xx]
//! autoRollback: {onFailure: true, onAlarm: true, onStop: false}
//! topicArn: arn:aws:sns:us-east-1:123456789012:deploys
//! hookTimeoutSeconds: 600
//! ecs:
//!   cluster: shop
//!   service: web
//!   productionListenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2
//!   targetGroups:
//!     - arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067
//!     - arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2453ed029918f21f
//!   readyWait: {action: continue}
//!   terminationWaitMinutes: 5
//! ```
//!
//! [`DeploymentGroup::parse`] reports every mistake it finds at once, each with its path in
//! the document (`ecs.targetGroups[1]`, `autoRollback.onAlarm`).

use crate::config::{
    parse_text, suggest, type_name, unknown_key_message, ComputePlatform, ConfigError,
    DeploymentConfig, MAX_NAME_LEN, RESERVED_PREFIX,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;

mod checks;
mod parse;
pub use checks::check_name;
use parse::Walker;

/// Largest deployment group file accepted, in bytes (64 KiB).
pub const MAX_GROUP_BYTES: usize = 64 * 1024;
/// Most alarms a group may watch (CodeDeploy's limit).
pub const MAX_ALARMS: usize = 10;
/// Longest alarm name (CloudWatch's limit).
pub const MAX_ALARM_NAME_LEN: usize = 255;
/// Longest application or group name (CodeDeploy's limit).
pub const MAX_GROUP_NAME_LEN: usize = 100;
/// Longest `hookTimeoutSeconds` (24 hours).
pub const MAX_HOOK_TIMEOUT_SECONDS: u64 = 86_400;
/// Longest `readyWait.waitMinutes` and `terminationWaitMinutes` (48 hours, CodeDeploy's
/// limit).
pub const MAX_WAIT_MINUTES: u32 = 2880;
/// `terminationWaitMinutes` when the file does not give it.
pub const DEFAULT_TERMINATION_WAIT_MINUTES: u32 = 5;

const ROOT_KEYS: [&str; 10] = [
    "application",
    "name",
    "computePlatform",
    "deploymentConfig",
    "alarms",
    "autoRollback",
    "topicArn",
    "hookTimeoutSeconds",
    "ecs",
    "enforce",
];
const AUTO_ROLLBACK_KEYS: [&str; 3] = ["onFailure", "onAlarm", "onStop"];
const ECS_KEYS: [&str; 7] = [
    "cluster",
    "service",
    "productionListenerArn",
    "testListenerArn",
    "targetGroups",
    "readyWait",
    "terminationWaitMinutes",
];
const READY_WAIT_KEYS: [&str; 2] = ["action", "waitMinutes"];

/// CodeDeploy API names (and other likely spellings) of root keys, with the key to write.
const ROOT_KEY_ALIASES: [(&str, &str); 8] = [
    ("applicationName", "application"),
    ("deploymentGroupName", "name"),
    ("deploymentGroup", "name"),
    ("deploymentConfigName", "deploymentConfig"),
    ("alarmConfiguration", "alarms"),
    ("autoRollbackConfiguration", "autoRollback"),
    ("triggerConfigurations", "topicArn"),
    ("ecsServices", "ecs"),
];

/// A parsed and checked deployment group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentGroup {
    /// The application the group belongs to (1 to 100 letters, digits, `.`, `_`, `-`, `+`).
    pub application: String,
    /// The group's name, unique within the application (same characters as `application`).
    pub name: String,
    /// `Lambda` or `ECS`.
    pub compute_platform: ComputePlatform,
    /// The deployment configuration used when a deployment names none: a predefined name
    /// (for the group's platform) or a custom configuration's name.
    #[serde(default)]
    pub deployment_config: Option<String>,
    /// CloudWatch alarms watched during deployments (at most 10, distinct).
    #[serde(default)]
    pub alarms: Vec<String>,
    /// When deployments roll back automatically.
    #[serde(default)]
    pub auto_rollback: AutoRollback,
    /// SNS topic notified of deployment events, if any.
    #[serde(default)]
    pub topic_arn: Option<String>,
    /// How long a hook may take to report, in seconds (1 to 86400), if not the default.
    #[serde(default)]
    pub hook_timeout_seconds: Option<u64>,
    /// The ECS service and load balancer; present exactly when the platform is ECS.
    #[serde(default)]
    pub ecs: Option<EcsGroup>,
    /// The settings a start request may not override (none by default).
    #[serde(default, skip_serializing_if = "is_default")]
    pub enforce: crate::guardrails::Enforce,
}

fn is_default(e: &crate::guardrails::Enforce) -> bool {
    !e.any()
}

/// When a deployment rolls back by itself (CodeDeploy's `autoRollbackConfiguration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoRollback {
    /// Roll back when the deployment fails (a hook or an AWS call fails). Default true.
    pub on_failure: bool,
    /// Roll back when a watched alarm goes off. Default true.
    pub on_alarm: bool,
    /// Roll back when the deployment is stopped on request. Default false.
    pub on_stop: bool,
}

impl Default for AutoRollback {
    /// `onFailure: true, onAlarm: true, onStop: false`.
    fn default() -> Self {
        AutoRollback {
            on_failure: true,
            on_alarm: true,
            on_stop: false,
        }
    }
}

/// The ECS part of a deployment group: the service and its blue/green load balancing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcsGroup {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Service name or ARN.
    pub service: String,
    /// ARN of the Application Load Balancer listener that serves production traffic.
    pub production_listener_arn: String,
    /// ARN of the listener that serves test traffic to the replacement, if any.
    #[serde(default)]
    pub test_listener_arn: Option<String>,
    /// ARNs of the two target groups traffic moves between (blue and green, distinct).
    pub target_groups: [String; 2],
    /// What happens once the replacement is installed.
    #[serde(default)]
    pub ready_wait: ReadyWait,
    /// Minutes to keep the original task set after traffic has moved (0 to 2880).
    #[serde(default = "default_termination_wait_minutes")]
    pub termination_wait_minutes: u32,
}

fn default_termination_wait_minutes() -> u32 {
    DEFAULT_TERMINATION_WAIT_MINUTES
}

/// What an ECS deployment does once the replacement task set is installed (CodeDeploy's
/// `deploymentReadyOption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyWait {
    /// Continue at once, or wait for `cutover continue`.
    pub action: ReadyAction,
    /// With [`ReadyAction::Stop`]: minutes to wait for `cutover continue` before the
    /// deployment stops (1 to 2880). Always 0 with [`ReadyAction::Continue`].
    pub wait_minutes: u32,
}

/// The `action` of a [`ReadyWait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadyAction {
    /// Move production traffic as soon as the replacement is ready (`continue`).
    #[default]
    Continue,
    /// Wait for `cutover continue`; stop the deployment if it does not come in time (`stop`).
    Stop,
}

impl ReadyAction {
    /// The file's spelling: `continue` or `stop`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadyAction::Continue => "continue",
            ReadyAction::Stop => "stop",
        }
    }
}

impl fmt::Display for ReadyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mistake in a deployment group file. Displays as `{path}: {message}`, or just the
/// message when it is about the file as a whole (empty path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupError {
    /// Where, with the document's own names (`ecs.targetGroups[1]`); empty for the file as
    /// a whole (not YAML or JSON, not a mapping, too large).
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for GroupError {}

/// Every mistake found in a deployment group file (never empty when returned by
/// [`DeploymentGroup::parse`]). Displays one mistake per line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupErrors(pub Vec<GroupError>);

impl GroupErrors {
    /// The first mistake reported at `path`, if any.
    pub fn at(&self, path: &str) -> Option<&GroupError> {
        self.0.iter().find(|e| e.path == path)
    }
}

impl fmt::Display for GroupErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for GroupErrors {}

impl DeploymentGroup {
    /// Parses and checks a deployment group file (YAML or JSON, at most
    /// [`MAX_GROUP_BYTES`]), reporting every mistake with its path.
    ///
    /// Required: `application`, `name`, `computePlatform` and, for ECS, `ecs` with
    /// `cluster`, `service`, `productionListenerArn` and `targetGroups`. Unknown keys are
    /// errors at every level. A `null` value counts as absent.
    pub fn parse(text: &str) -> Result<DeploymentGroup, GroupErrors> {
        let whole = |message: String| GroupErrors(vec![GroupError::at("", message)]);
        if text.len() > MAX_GROUP_BYTES {
            return Err(whole(format!(
                "the deployment group file is {} bytes; at most {MAX_GROUP_BYTES} bytes \
                 (64 KiB) are accepted",
                text.len()
            )));
        }
        let value = parse_text(text).map_err(|e| match e.path {
            Some(path) => GroupErrors(vec![GroupError::at(path, e.message)]),
            None => whole(format!("the deployment group file {}", e.message)),
        })?;
        let mut walker = Walker { errors: Vec::new() };
        let group = walker.root(&value);
        match group {
            Some(group) if walker.errors.is_empty() => Ok(group),
            _ => {
                if walker.errors.is_empty() {
                    walker.err("", "the file is not a valid deployment group");
                }
                Err(GroupErrors(walker.errors))
            }
        }
    }

    /// The group's key, `application/name`, unique among all groups.
    pub fn key(&self) -> String {
        format!("{}/{}", self.application, self.name)
    }

    /// Splits a group key `APPLICATION/NAME` into its parts, checking both as
    /// [`Self::parse`] does. The error names the expected form.
    pub fn parse_key(key: &str) -> Result<(String, String), String> {
        let form = "expected APPLICATION/NAME, e.g. shop/web-prod";
        let Some((application, name)) = key.split_once('/') else {
            return Err(format!("{key:?} is not a deployment group key; {form}"));
        };
        if name.contains('/') {
            return Err(format!(
                "{key:?} has more than one '/'; {form} (neither part may contain '/')"
            ));
        }
        for (part, what) in [(application, "application"), (name, "name")] {
            if let Err(message) = check_name(part) {
                return Err(format!("{key:?}: the {what} {message}; {form}"));
            }
        }
        Ok((application.to_string(), name.to_string()))
    }

    /// The group as a file document (camelCase keys, defaults written out); serialize it as
    /// JSON or YAML and [`Self::parse`] reads it back equal.
    pub fn to_document(&self) -> Value {
        let mut doc = Map::new();
        doc.insert("application".into(), json!(self.application));
        doc.insert("name".into(), json!(self.name));
        doc.insert(
            "computePlatform".into(),
            json!(self.compute_platform.as_str()),
        );
        if let Some(c) = &self.deployment_config {
            doc.insert("deploymentConfig".into(), json!(c));
        }
        if !self.alarms.is_empty() {
            doc.insert("alarms".into(), json!(self.alarms));
        }
        doc.insert(
            "autoRollback".into(),
            json!({
                "onFailure": self.auto_rollback.on_failure,
                "onAlarm": self.auto_rollback.on_alarm,
                "onStop": self.auto_rollback.on_stop,
            }),
        );
        if let Some(t) = &self.topic_arn {
            doc.insert("topicArn".into(), json!(t));
        }
        if let Some(s) = self.hook_timeout_seconds {
            doc.insert("hookTimeoutSeconds".into(), json!(s));
        }
        if self.enforce.any() {
            let e = self.enforce;
            doc.insert(
                "enforce".into(),
                json!({
                    "deploymentConfig": e.deployment_config,
                    "noAllAtOnce": e.no_all_at_once,
                    "alarms": e.alarms,
                    "autoRollback": e.auto_rollback,
                    "firingAlarms": e.firing_alarms,
                }),
            );
        }
        if let Some(ecs) = &self.ecs {
            let mut e = Map::new();
            e.insert("cluster".into(), json!(ecs.cluster));
            e.insert("service".into(), json!(ecs.service));
            e.insert(
                "productionListenerArn".into(),
                json!(ecs.production_listener_arn),
            );
            if let Some(t) = &ecs.test_listener_arn {
                e.insert("testListenerArn".into(), json!(t));
            }
            e.insert("targetGroups".into(), json!(ecs.target_groups));
            let mut ready = Map::new();
            ready.insert("action".into(), json!(ecs.ready_wait.action.as_str()));
            if ecs.ready_wait.action == ReadyAction::Stop || ecs.ready_wait.wait_minutes != 0 {
                ready.insert("waitMinutes".into(), json!(ecs.ready_wait.wait_minutes));
            }
            e.insert("readyWait".into(), Value::Object(ready));
            e.insert(
                "terminationWaitMinutes".into(),
                json!(ecs.termination_wait_minutes),
            );
            doc.insert("ecs".into(), Value::Object(e));
        }
        Value::Object(doc)
    }
}

impl GroupError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        GroupError {
            path: path.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
#[path = "../group_errors_tests.rs"]
mod errors_tests;
#[cfg(test)]
#[path = "../group_tests.rs"]
mod tests;
