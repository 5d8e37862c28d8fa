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

// ---------------------------------------------------------------------------------------
// The walker: checks a parsed document and collects every mistake.

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A member with `null` treated as absent.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

struct Walker {
    errors: Vec<GroupError>,
}

impl Walker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(GroupError::at(path, message));
    }

    fn report<T>(&mut self, path: &str, check: Result<T, String>) -> Option<T> {
        match check {
            Ok(v) => Some(v),
            Err(message) => {
                self.err(path, message);
                None
            }
        }
    }

    fn keys(&mut self, map: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for key in map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let alias = if path.is_empty() {
                ROOT_KEY_ALIASES
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(key))
                    .map(|(_, real)| *real)
            } else {
                None
            };
            let message = match alias {
                Some(real) => format!(
                    "is not a known key; write {real} (allowed: {})",
                    allowed.join(", ")
                ),
                None => unknown_key_message(key, allowed),
            };
            self.err(join(path, key), message);
        }
    }

    fn mapping<'a>(
        &mut self,
        v: &'a Value,
        path: &str,
        what: &str,
    ) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(
                    path,
                    format!("must be a mapping{what}, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A non-empty string. Numbers and booleans get a hint to quote them.
    fn string<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.err(path, "must not be empty");
                None
            }
            Value::String(s) => Some(s),
            Value::Number(_) | Value::Bool(_) => {
                self.err(
                    path,
                    format!("must be a string, not {}; quote it: \"{v}\"", type_name(v)),
                );
                None
            }
            other => {
                self.err(path, format!("must be a string, not {}", type_name(other)));
                None
            }
        }
    }

    /// A required non-empty string: reports "is required{hint}" when missing.
    fn required_string<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        path: &str,
        key: &str,
        hint: &str,
    ) -> Option<&'a str> {
        match get(map, key) {
            None => {
                self.err(join(path, key), format!("is required{hint}"));
                None
            }
            Some(v) => self.string(v, &join(path, key)),
        }
    }

    /// A whole number in `lo..=hi` (not a string, not a fraction, not negative).
    fn number(&mut self, v: &Value, path: &str, lo: u64, hi: u64) -> Option<u64> {
        let range = format!("a whole number from {lo} to {hi}");
        let message = match v {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) if (lo..=hi).contains(&u) => return Some(u),
                (Some(u), _) => format!("{u} is out of range; use {range}"),
                (None, Some(i)) => format!("{i} is negative; use {range}"),
                (None, None) => format!("{n} is not a whole number; use {range}"),
            },
            Value::String(s) => {
                format!("must be {range}, not a string ({s:?}); write it without quotes")
            }
            other => format!("must be {range}, not {}", type_name(other)),
        };
        self.err(path, message);
        None
    }

    /// `true` or `false`.
    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        let message = match v {
            Value::Bool(b) => return Some(*b),
            Value::String(s) => {
                format!("must be true or false, not a string ({s:?}); write it without quotes")
            }
            other => format!("must be true or false, not {}", type_name(other)),
        };
        self.err(path, message);
        None
    }

    fn root(&mut self, value: &Value) -> Option<DeploymentGroup> {
        let root = match value {
            Value::Object(m) => m,
            other => {
                self.err(
                    "",
                    format!(
                        "the deployment group file must be a mapping with application, name, \
                         computePlatform and the group's settings, not {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        self.keys(root, "", &ROOT_KEYS);

        let application =
            self.group_name(root, "application", " (the application's name, e.g. shop)");
        let name = self.group_name(root, "name", " (the group's name, e.g. web-prod)");
        let platform = self.platform(get(root, "computePlatform"));

        let mut ok = true;
        let deployment_config = match get(root, "deploymentConfig") {
            None => None,
            Some(v) => {
                let c = self.deployment_config(v, platform);
                ok &= c.is_some();
                c
            }
        };
        let alarms = match get(root, "alarms") {
            None => Vec::new(),
            Some(v) => self.alarms(v).unwrap_or_else(|| {
                ok = false;
                Vec::new()
            }),
        };
        let auto_rollback = match get(root, "autoRollback") {
            None => AutoRollback::default(),
            Some(v) => self.auto_rollback(v).unwrap_or_else(|| {
                ok = false;
                AutoRollback::default()
            }),
        };
        let topic_arn = match get(root, "topicArn") {
            None => None,
            Some(v) => {
                let t = self
                    .string(v, "topicArn")
                    .and_then(|t| self.report("topicArn", check_topic_arn(t)));
                ok &= t.is_some();
                t
            }
        };
        let hook_timeout_seconds = match get(root, "hookTimeoutSeconds") {
            None => None,
            Some(v) => {
                let s = self.number(v, "hookTimeoutSeconds", 1, MAX_HOOK_TIMEOUT_SECONDS);
                ok &= s.is_some();
                s
            }
        };
        let ecs = match (get(root, "ecs"), platform) {
            (None, Some(ComputePlatform::Ecs)) => {
                self.err(
                    "ecs",
                    "is required for computePlatform ECS: the cluster, service, \
                     productionListenerArn and the two targetGroups traffic moves between",
                );
                ok = false;
                None
            }
            (None, _) => None,
            (Some(_), Some(ComputePlatform::Lambda)) => {
                self.err(
                    "ecs",
                    "is not allowed for computePlatform Lambda; remove it (a Lambda \
                     deployment's function and alias come from its AppSpec)",
                );
                ok = false;
                None
            }
            (Some(v), _) => {
                let e = self.ecs(v);
                ok &= e.is_some();
                e
            }
        };
        let enforce = match get(root, "enforce") {
            None => crate::guardrails::Enforce::default(),
            Some(v) => self.enforce(v).unwrap_or_else(|| {
                ok = false;
                crate::guardrails::Enforce::default()
            }),
        };
        if enforce.no_all_at_once {
            let all_at_once = deployment_config
                .as_deref()
                .and_then(DeploymentConfig::predefined)
                .is_some_and(|c| c.schedule().len() == 1);
            if all_at_once || deployment_config.is_none() {
                self.err(
                    "enforce.noAllAtOnce",
                    format!(
                        "refuses configurations that shift all traffic at once, but the group's deploymentConfig is {}; set deploymentConfig to a canary or linear configuration",
                        deployment_config.as_deref().unwrap_or("not set (CodeDeploy's default, AllAtOnce)")
                    ),
                );
                ok = false;
            }
        }
        if enforce.deployment_config && deployment_config.is_none() {
            self.err(
                "enforce.deploymentConfig",
                "enforces the group's deploymentConfig, which is not set; set deploymentConfig",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(DeploymentGroup {
            application: application?,
            name: name?,
            compute_platform: platform?,
            deployment_config,
            alarms,
            auto_rollback,
            topic_arn,
            hook_timeout_seconds,
            ecs,
            enforce,
        })
    }

    fn enforce(&mut self, v: &Value) -> Option<crate::guardrails::Enforce> {
        let path = "enforce";
        let map = self.mapping(
            v,
            path,
            " of settings a deployment may not override, e.g. autoRollback: true",
        )?;
        self.keys(map, path, &crate::guardrails::ENFORCE_KEYS);
        let mut flag = |key: &str| match get(map, key) {
            None => Some(false),
            Some(v) => self.boolean(v, &join(path, key)),
        };
        let deployment_config = flag("deploymentConfig");
        let no_all_at_once = flag("noAllAtOnce");
        let alarms = flag("alarms");
        let auto_rollback = flag("autoRollback");
        let firing_alarms = flag("firingAlarms");
        Some(crate::guardrails::Enforce {
            deployment_config: deployment_config?,
            no_all_at_once: no_all_at_once?,
            alarms: alarms?,
            auto_rollback: auto_rollback?,
            firing_alarms: firing_alarms?,
        })
    }

    fn group_name(&mut self, root: &Map<String, Value>, key: &str, hint: &str) -> Option<String> {
        let name = self.required_string(root, "", key, hint)?;
        self.report(key, check_name(name).map(|()| name.to_string()))
    }

    fn platform(&mut self, v: Option<&Value>) -> Option<ComputePlatform> {
        let path = "computePlatform";
        let allowed = "use ECS or Lambda";
        match v {
            None => {
                self.err(path, format!("is required; {allowed}"));
                None
            }
            Some(Value::String(s)) => match s.parse::<ComputePlatform>() {
                Ok(p) => Some(p),
                Err(ConfigError::Invalid { message, .. }) => {
                    self.err(path, message);
                    None
                }
                Err(other) => {
                    self.err(path, other.to_string());
                    None
                }
            },
            Some(other) => {
                self.err(
                    path,
                    format!("must be a string, not {}; {allowed}", type_name(other)),
                );
                None
            }
        }
    }

    fn deployment_config(
        &mut self,
        v: &Value,
        platform: Option<ComputePlatform>,
    ) -> Option<String> {
        let path = "deploymentConfig";
        let name = self.string(v, path)?;
        let check = match DeploymentConfig::predefined(name) {
            Some(config) => match platform.map(|p| (p, config.check_platform(p))) {
                Some((p, Err(e))) => Err(format!("{e} ({})", platform_family(p))),
                _ => Ok(()),
            },
            None if name.starts_with(RESERVED_PREFIX) => match platform {
                None => Err(ConfigError::unknown_name(name).to_string()),
                Some(p) => {
                    let names = platform_config_names(p);
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    let mut message = format!(
                        "{name:?} is not a predefined configuration (names starting with \
                         {RESERVED_PREFIX} are reserved for them); "
                    );
                    if let Some(best) = suggest(name, &names, 1).first() {
                        message.push_str(&format!("did you mean {best}? "));
                    }
                    message.push_str(&platform_family(p));
                    Err(message)
                }
            },
            None => check_custom_config_name(name),
        };
        self.report(path, check.map(|()| name.to_string()))
    }

    fn alarms(&mut self, v: &Value) -> Option<Vec<String>> {
        let path = "alarms";
        let items = match v {
            Value::Array(items) => items,
            Value::String(s) => {
                self.err(
                    path,
                    format!("must be a list of alarm names, not a string; write [{s}]"),
                );
                return None;
            }
            other => {
                self.err(
                    path,
                    format!("must be a list of alarm names, not {}", type_name(other)),
                );
                return None;
            }
        };
        let mut ok = true;
        if items.len() > MAX_ALARMS {
            self.err(
                path,
                format!(
                    "lists {} alarms; at most {MAX_ALARMS} are allowed (combine them in a \
                     composite alarm)",
                    items.len()
                ),
            );
            ok = false;
        }
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Some(alarm) = self.string(item, &item_path) else {
                ok = false;
                continue;
            };
            let len = alarm.chars().count();
            if len > MAX_ALARM_NAME_LEN {
                self.err(
                    &item_path,
                    format!(
                        "is {len} characters long; an alarm name has at most \
                         {MAX_ALARM_NAME_LEN}"
                    ),
                );
                ok = false;
            } else if let Some(first) = out.iter().position(|a| a == alarm) {
                self.err(
                    &item_path,
                    format!("{alarm:?} is listed twice (also at {path}[{first}])"),
                );
                ok = false;
            }
            out.push(alarm.to_string());
        }
        ok.then_some(out)
    }

    fn auto_rollback(&mut self, v: &Value) -> Option<AutoRollback> {
        let path = "autoRollback";
        let map = self.mapping(v, path, " with onFailure, onAlarm and onStop")?;
        self.keys(map, path, &AUTO_ROLLBACK_KEYS);
        let defaults = AutoRollback::default();
        let mut flag = |key: &str, default: bool| match get(map, key) {
            None => Some(default),
            Some(v) => self.boolean(v, &join(path, key)),
        };
        let on_failure = flag("onFailure", defaults.on_failure);
        let on_alarm = flag("onAlarm", defaults.on_alarm);
        let on_stop = flag("onStop", defaults.on_stop);
        Some(AutoRollback {
            on_failure: on_failure?,
            on_alarm: on_alarm?,
            on_stop: on_stop?,
        })
    }

    fn ecs(&mut self, v: &Value) -> Option<EcsGroup> {
        let path = "ecs";
        let map = self.mapping(
            v,
            path,
            " with cluster, service, productionListenerArn and targetGroups",
        )?;
        self.keys(map, path, &ECS_KEYS);
        let cluster = self
            .required_string(map, path, "cluster", " (the cluster's name or ARN)")
            .and_then(|c| self.report("ecs.cluster", check_ecs_name(c, "cluster")));
        let service = self
            .required_string(map, path, "service", " (the service's name or ARN)")
            .and_then(|s| self.report("ecs.service", check_ecs_name(s, "service")));
        let production = self
            .required_string(
                map,
                path,
                "productionListenerArn",
                " (the ARN of the load balancer listener that serves production traffic)",
            )
            .and_then(|l| self.report("ecs.productionListenerArn", check_listener_arn(l)));
        let mut ok = true;
        let test = match get(map, "testListenerArn") {
            None => None,
            Some(v) => {
                let path = "ecs.testListenerArn";
                let t = self
                    .string(v, path)
                    .and_then(|l| self.report(path, check_listener_arn(l)));
                if let (Some(t), Some(p)) = (&t, &production) {
                    if t == p {
                        self.err(
                            path,
                            "is the same listener as ecs.productionListenerArn; the test \
                             listener must be another listener (e.g. on port 8080), or leave \
                             it out",
                        );
                        ok = false;
                    }
                }
                ok &= t.is_some();
                t
            }
        };
        let target_groups = self.target_groups(get(map, "targetGroups"));
        let ready_wait = match get(map, "readyWait") {
            None => ReadyWait::default(),
            Some(v) => self.ready_wait(v).unwrap_or_else(|| {
                ok = false;
                ReadyWait::default()
            }),
        };
        let termination_wait_minutes = match get(map, "terminationWaitMinutes") {
            None => DEFAULT_TERMINATION_WAIT_MINUTES,
            Some(v) => match self.number(
                v,
                "ecs.terminationWaitMinutes",
                0,
                u64::from(MAX_WAIT_MINUTES),
            ) {
                Some(m) => m as u32,
                None => {
                    ok = false;
                    DEFAULT_TERMINATION_WAIT_MINUTES
                }
            },
        };
        if !ok {
            return None;
        }
        Some(EcsGroup {
            cluster: cluster?,
            service: service?,
            production_listener_arn: production?,
            test_listener_arn: test,
            target_groups: target_groups?,
            ready_wait,
            termination_wait_minutes,
        })
    }

    fn target_groups(&mut self, v: Option<&Value>) -> Option<[String; 2]> {
        let path = "ecs.targetGroups";
        let usage = "a list of the two target groups' ARNs (blue and green)";
        let items = match v {
            None => {
                self.err(path, format!("is required: {usage}"));
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.err(path, format!("must be {usage}, not {}", type_name(other)));
                return None;
            }
        };
        let mut ok = true;
        if items.len() != 2 {
            self.err(
                path,
                format!(
                    "must list exactly 2 target groups (blue and green); found {}",
                    items.len()
                ),
            );
            ok = false;
        }
        let mut arns: Vec<Option<String>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let arn = self
                .string(item, &item_path)
                .and_then(|t| self.report(&item_path, check_target_group_arn(t)));
            if let Some(a) = &arn {
                if let Some(first) = arns.iter().position(|x| x.as_ref() == Some(a)) {
                    self.err(
                        &item_path,
                        format!("the same target group as {path}[{first}]; blue/green needs two"),
                    );
                    ok = false;
                }
            }
            ok &= arn.is_some();
            arns.push(arn);
        }
        if !ok {
            return None;
        }
        let mut arns = arns.into_iter().flatten();
        Some([arns.next()?, arns.next()?])
    }

    fn ready_wait(&mut self, v: &Value) -> Option<ReadyWait> {
        let path = "ecs.readyWait";
        let map = self.mapping(
            v,
            path,
            " with action (continue or stop) and, for stop, waitMinutes",
        )?;
        self.keys(map, path, &READY_WAIT_KEYS);
        let action_path = join(path, "action");
        let allowed = "use continue (move traffic as soon as the replacement is ready) or stop \
                       (wait for `cutover continue`)";
        let action = match get(map, "action") {
            None => {
                self.err(&action_path, format!("is required; {allowed}"));
                None
            }
            Some(Value::String(s)) => match s.as_str() {
                "continue" => Some(ReadyAction::Continue),
                "stop" => Some(ReadyAction::Stop),
                other => {
                    let hint = match other.to_ascii_lowercase().as_str() {
                        "continue" | "continue_deployment" => " (write continue)",
                        "stop" | "stop_deployment" => " (write stop)",
                        _ => "",
                    };
                    self.err(
                        &action_path,
                        format!("{other:?} is not an action{hint}; {allowed}"),
                    );
                    None
                }
            },
            Some(other) => {
                self.err(
                    &action_path,
                    format!("must be a string, not {}; {allowed}", type_name(other)),
                );
                None
            }
        };
        let minutes_path = join(path, "waitMinutes");
        let minutes = get(map, "waitMinutes");
        let Some(action) = action else {
            // Still check the number, so that every mistake is reported at once.
            if let Some(m) = minutes {
                self.number(m, &minutes_path, 0, u64::from(MAX_WAIT_MINUTES));
            }
            return None;
        };
        let wait_minutes = match (action, minutes) {
            (ReadyAction::Stop, None) => {
                self.err(
                    &minutes_path,
                    format!(
                        "is required with action stop: the minutes to wait for `cutover \
                         continue` before the deployment stops (1 to {MAX_WAIT_MINUTES})"
                    ),
                );
                None
            }
            (ReadyAction::Stop, Some(m)) => self
                .number(m, &minutes_path, 1, u64::from(MAX_WAIT_MINUTES))
                .map(|m| m as u32),
            (ReadyAction::Continue, None) => Some(0),
            (ReadyAction::Continue, Some(m)) => {
                match self.number(m, &minutes_path, 0, u64::from(MAX_WAIT_MINUTES)) {
                    Some(0) => Some(0),
                    Some(_) => {
                        self.err(
                            &minutes_path,
                            "applies only to action stop (how long to wait for `cutover \
                         continue`); with continue, traffic moves at once: leave it out or \
                         use 0",
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        Some(ReadyWait {
            action,
            wait_minutes: wait_minutes?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Field checks: Ok or Err(message).

/// An application or group name: 1 to 100 letters, digits, `.`, `_`, `-`, `+`.
pub fn check_name(name: &str) -> Result<(), String> {
    let usage = format!("use 1 to {MAX_GROUP_NAME_LEN} letters, digits, '.', '_', '-' and '+'");
    if name.is_empty() {
        return Err(format!("is empty; {usage}"));
    }
    if name.contains('/') {
        return Err(format!(
            "{name:?} contains '/', which separates application and name in a group's key; \
             {usage}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')))
    {
        return Err(format!("{name:?} contains {bad:?}; {usage}"));
    }
    let len = name.chars().count();
    if len > MAX_GROUP_NAME_LEN {
        return Err(format!("is {len} characters long; {usage}"));
    }
    Ok(())
}

/// A custom deployment configuration's name, as `DeploymentConfig::validate` allows it.
fn check_custom_config_name(name: &str) -> Result<(), String> {
    let usage = "a predefined configuration (`cutover configs` lists them) or a custom \
                 configuration's name (letters, digits, '.', '_' and '-')";
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(format!(
            "is {len} characters long; use at most {MAX_NAME_LEN} for {usage}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("{name:?} contains {bad:?}; use {usage}"));
    }
    Ok(())
}

/// The names of the predefined configurations for `platform`.
fn platform_config_names(platform: ComputePlatform) -> Vec<String> {
    DeploymentConfig::predefined_all()
        .into_iter()
        .filter(|c| c.platform == platform)
        .map(|c| c.name)
        .collect()
}

/// "the predefined ECS configurations are CodeDeployDefault.ECSAllAtOnce, ..." for messages.
fn platform_family(platform: ComputePlatform) -> String {
    let names = platform_config_names(platform);
    format!(
        "the predefined {platform} configurations are {}",
        names.join(", ")
    )
}

/// The parts of `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` when the ARN has this
/// shape with `service`, a 12-digit account and a region; else the reason.
fn split_arn<'a>(arn: &'a str, service: &str, example: &str) -> Result<&'a str, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shape = format!("{arn:?} is not {example}");
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return Err(shape);
    }
    if parts[2] != service {
        return Err(format!(
            "{shape}; it is an ARN of the {} service",
            if parts[2].is_empty() {
                "(empty)"
            } else {
                parts[2]
            }
        ));
    }
    let region_ok = !parts[3].is_empty()
        && parts[3]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !region_ok {
        return Err(format!("{shape}; {:?} is not a region", parts[3]));
    }
    if parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{shape}; {:?} is not an account ID (12 digits)",
            parts[4]
        ));
    }
    if parts[5].is_empty() {
        return Err(shape);
    }
    Ok(parts[5])
}

/// `arn:aws:sns:REGION:ACCOUNT:NAME`.
fn check_topic_arn(arn: &str) -> Result<String, String> {
    let example = "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)";
    let name = split_arn(arn, "sns", example)?;
    if name.contains(':') {
        return Err(format!(
            "{arn:?} is a subscription ARN; give the topic's ARN \
             (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ));
    }
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let base_ok = !base.is_empty()
        && name.chars().count() <= 256
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !base_ok {
        return Err(format!(
            "{name:?} is not a topic name (1 to 256 letters, digits, '-' and '_'); give {example}"
        ));
    }
    Ok(arn.to_string())
}

/// A cluster or service: its name (1 to 255 letters, digits, `-`, `_`) or ARN
/// (`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`, `...:service/[CLUSTER/]NAME`).
fn check_ecs_name(value: &str, kind: &str) -> Result<String, String> {
    let example = format!("arn:aws:ecs:REGION:ACCOUNT:{kind}/NAME");
    let usage = format!(
        "use the {kind}'s name (1 to 255 letters, digits, '-' and '_') or its ARN ({example})"
    );
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 255
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if value.starts_with("arn:") {
        let resource = split_arn(value, "ecs", &format!("an ECS {kind} ARN ({example})"))?;
        let names: Vec<&str> = resource.split('/').collect();
        let max_parts = if kind == "service" { 3 } else { 2 };
        let ok = names[0] == kind
            && (2..=max_parts).contains(&names.len())
            && names[1..].iter().all(|n| name_ok(n));
        if !ok {
            return Err(format!("{value:?} is not an ECS {kind} ARN ({example})"));
        }
        return Ok(value.to_string());
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!("{value:?} contains {bad:?}; {usage}"));
    }
    if !name_ok(value) {
        return Err(format!("{value:?} is too long; {usage}"));
    }
    Ok(value.to_string())
}

/// What an Elastic Load Balancing ARN's resource is, for messages about the wrong kind.
fn elb_resource_kind(resource: &str) -> Option<&'static str> {
    let kind = resource.split('/').next()?;
    match kind {
        "listener" => Some("a listener"),
        "listener-rule" => Some("a listener rule"),
        "targetgroup" => Some("a target group"),
        "loadbalancer" => Some("a load balancer"),
        _ => None,
    }
}

/// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/LB-NAME/LB-ID/LISTENER-ID`.
fn check_listener_arn(arn: &str) -> Result<String, String> {
    let example = "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID";
    let what = format!("an Application Load Balancer listener ARN ({example})");
    let resource = split_arn(arn, "elasticloadbalancing", &what)?;
    let parts: Vec<&str> = resource.split('/').collect();
    if parts[0] != "listener" {
        return Err(match elb_resource_kind(resource) {
            Some(kind) => format!("{arn:?} is {kind} ARN; give the listener's ARN ({example})"),
            None => format!("{arn:?} is not {what}"),
        });
    }
    match parts.get(1).copied() {
        Some("app") => {}
        Some("net") => {
            return Err(format!(
                "{arn:?} is a Network Load Balancer listener; only Application Load Balancer \
                 listeners (listener/app/...) are supported"
            ))
        }
        Some("gwy") => {
            return Err(format!(
                "{arn:?} is a Gateway Load Balancer listener; only Application Load Balancer \
                 listeners (listener/app/...) are supported"
            ))
        }
        _ => return Err(format!("{arn:?} is not {what}")),
    }
    let part_ok =
        |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if parts.len() != 5 || !parts.iter().all(part_ok) {
        return Err(format!("{arn:?} is not {what}"));
    }
    Ok(arn.to_string())
}

/// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`.
fn check_target_group_arn(arn: &str) -> Result<String, String> {
    let example = "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID";
    if !arn.starts_with("arn:") {
        return Err(format!(
            "{arn:?} is not a target group ARN; give the full ARN ({example}); \
             `aws elbv2 describe-target-groups` shows it"
        ));
    }
    let what = format!("a target group ARN ({example})");
    let resource = split_arn(arn, "elasticloadbalancing", &what)?;
    let parts: Vec<&str> = resource.split('/').collect();
    if parts[0] != "targetgroup" {
        return Err(match elb_resource_kind(resource) {
            Some(kind) => {
                format!("{arn:?} is {kind} ARN; give a target group's ARN ({example})")
            }
            None => format!("{arn:?} is not {what}"),
        });
    }
    let ok = parts.len() == 3
        && !parts[1].is_empty()
        && parts[1].len() <= 32
        && parts[1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !parts[2].is_empty()
        && parts[2].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(format!("{arn:?} is not {what}"));
    }
    Ok(arn.to_string())
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
