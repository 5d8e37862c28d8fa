//! The deployment model: what is stored for each deployment, and what the outside world
//! reports back to the engine.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller; nothing here reads
//! a clock.

use crate::appspec::EcsResource;
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};
use std::fmt;

mod deployment;
mod phase;
mod record;

pub use deployment::{Deployment, EventRecord, Outgoing};
pub use phase::{execution_id_hash, End, Halt, HookExecution, Phase, MAX_ISSUED_IDS};
pub use record::PhaseRecord;

/// Milliseconds since the Unix epoch.
pub type Millis = u64;

/// Status of a deployment, as CodeDeploy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeploymentStatus {
    /// Recorded, not yet started by a tick.
    Created,
    /// Running: hooks or traffic shifting in progress.
    InProgress,
    /// ECS: the replacement is installed and has test traffic; production traffic waits
    /// for `cutover continue` (the group's `readyWait.action: stop`).
    Ready,
    /// All traffic is on the target and every hook succeeded.
    Succeeded,
    /// A hook, an alarm or an AWS call failed the deployment.
    Failed,
    /// Stopped on request.
    Stopped,
}

impl DeploymentStatus {
    /// Whether the deployment has ended (it may still be rolling back).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Succeeded | DeploymentStatus::Failed | DeploymentStatus::Stopped
        )
    }

    /// Whether the deployment is under way (in progress or waiting at Ready).
    pub fn is_running(self) -> bool {
        matches!(self, DeploymentStatus::InProgress | DeploymentStatus::Ready)
    }

    /// CodeDeploy's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Created => "Created",
            DeploymentStatus::InProgress => "InProgress",
            DeploymentStatus::Ready => "Ready",
            DeploymentStatus::Succeeded => "Succeeded",
            DeploymentStatus::Failed => "Failed",
            DeploymentStatus::Stopped => "Stopped",
        }
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of one lifecycle event, as CodeDeploy names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventStatus {
    /// Not reached yet.
    Pending,
    /// Running now.
    InProgress,
    /// Finished well.
    Succeeded,
    /// Finished badly; the deployment failed here.
    Failed,
    /// Not run: no hook configured, or the deployment ended before it.
    Skipped,
}

/// Why a deployment failed or stopped. Codes follow CodeDeploy's `ErrorInformation.code`
/// where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// A watched CloudWatch alarm went into ALARM.
    AlarmActive,
    /// A watched alarm could not be found any more.
    AlarmConfigError,
    /// A hook function answered Failed or raised an error.
    HookExecutionFailure,
    /// A hook gave no verdict within the hook timeout.
    Timeout,
    /// An operator stopped the deployment.
    ManualStop,
    /// Someone else changed the alias while the deployment ran; Cutover did not overwrite it.
    AliasModified,
    /// The alias never showed the weight that was set.
    TrafficNotConfirmed,
    /// ECS: someone else changed a listener while the deployment ran; Cutover did not
    /// overwrite it.
    ListenerModified,
    /// ECS: the replacement task set did not become steady in time; traffic never moved to it.
    ReplacementNotSteady,
    /// ECS: the original task set could not be removed after the traffic moved.
    CleanupFailed,
    /// An operator ended the deployment with `stop --force`: Cutover stopped driving it
    /// and left its target as it was.
    Abandoned,
    /// An unexpected error.
    InternalError,
}

impl ErrorCode {
    /// The code as written in JSON and DynamoDB.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AlarmActive => "ALARM_ACTIVE",
            ErrorCode::AlarmConfigError => "ALARM_CONFIG_ERROR",
            ErrorCode::HookExecutionFailure => "HOOK_EXECUTION_FAILURE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ManualStop => "MANUAL_STOP",
            ErrorCode::AliasModified => "ALIAS_MODIFIED",
            ErrorCode::TrafficNotConfirmed => "TRAFFIC_NOT_CONFIRMED",
            ErrorCode::ListenerModified => "LISTENER_MODIFIED",
            ErrorCode::ReplacementNotSteady => "REPLACEMENT_NOT_STEADY",
            ErrorCode::CleanupFailed => "CLEANUP_FAILED",
            ErrorCode::Abandoned => "ABANDONED",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// Error information of a failed or stopped deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentError {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// What happened, for people.
    pub message: String,
}

/// The Lambda alias a deployment moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaTarget {
    /// Function name or ARN, as the AppSpec gave it.
    pub function: String,
    /// Alias name.
    pub alias: String,
    /// Version the alias points at before the deployment.
    pub current_version: String,
    /// Version the alias points at after the deployment.
    pub target_version: String,
}

impl LambdaTarget {
    /// Key that identifies the alias for the one-active-deployment lock.
    pub fn lock_key(&self) -> String {
        format!("lambda:{}:{}", self.function_name(), self.alias)
    }

    /// The function's name, whether the AppSpec gave a name, a partial ARN
    /// (`123456789012:function:orders`) or a full ARN, so that every spelling of one
    /// function shares one lock.
    pub fn function_name(&self) -> &str {
        match self.function.rfind("function:") {
            Some(i) => &self.function[i + "function:".len()..],
            None => &self.function,
        }
    }

    /// Human description, e.g. `my-fn:live 1 → 2`.
    pub fn describe(&self) -> String {
        format!(
            "{}:{} {} → {}",
            self.function, self.alias, self.current_version, self.target_version
        )
    }
}

/// The ECS service a deployment moves, resolved from the deployment group and the AppSpec
/// at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsTarget {
    /// Cluster name or ARN, as the group gave it.
    pub cluster: String,
    /// Service name or ARN, as the group gave it.
    pub service: String,
    /// The production listener whose weighted forward action moves.
    pub production_listener: String,
    /// The test listener, if the group has one.
    pub test_listener: Option<String>,
    /// The target group production traffic goes to before the deployment ("blue").
    pub original_target_group: String,
    /// The other target group, which the replacement task set registers with ("green").
    pub replacement_target_group: String,
    /// The service's primary task set at start.
    pub original_task_set: String,
    /// Task definition of the original task set.
    pub original_task_definition: String,
    /// What the replacement task set runs (from the AppSpec).
    pub resource: EcsResource,
    /// Launch type for the replacement when no capacity provider strategy is given.
    pub launch_type: Option<String>,
    /// With `Some(minutes)`, wait at Ready for `cutover continue`, failing after `minutes`.
    pub ready_wait_minutes: Option<u32>,
    /// How long the original task set is kept after the traffic moved.
    pub termination_wait_minutes: u32,
}

impl EcsTarget {
    /// Key that identifies the service for the one-active-deployment lock.
    pub fn lock_key(&self) -> String {
        format!(
            "ecs:{}/{}",
            last_segment(&self.cluster),
            last_segment(&self.service)
        )
    }

    /// Human description, e.g. `shop/web web:1 → web:2`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} {} → {}",
            last_segment(&self.cluster),
            last_segment(&self.service),
            last_segment(&self.original_task_definition),
            last_segment(&self.resource.task_definition)
        )
    }
}

/// The part of an ARN after its last `/` (a name, or `family:revision`).
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// What a deployment moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Target {
    /// A Lambda alias.
    Lambda(LambdaTarget),
    /// An ECS service behind an Application Load Balancer.
    Ecs(Box<EcsTarget>),
}

impl Target {
    /// Key of the one-active-deployment lock.
    pub fn lock_key(&self) -> String {
        match self {
            Target::Lambda(t) => t.lock_key(),
            Target::Ecs(t) => t.lock_key(),
        }
    }

    /// Human description of the change.
    pub fn describe(&self) -> String {
        match self {
            Target::Lambda(t) => t.describe(),
            Target::Ecs(t) => t.describe(),
        }
    }

    /// What production traffic goes to before: the current version or the original target group.
    pub fn current_label(&self) -> &str {
        match self {
            Target::Lambda(t) => &t.current_version,
            Target::Ecs(t) => &t.original_target_group,
        }
    }

    /// What production traffic goes to after: the target version or the replacement target group.
    pub fn target_label(&self) -> &str {
        match self {
            Target::Lambda(t) => &t.target_version,
            Target::Ecs(t) => &t.replacement_target_group,
        }
    }

    /// One side for people: `version 2`, or `target group web-green`.
    pub fn side(&self, replacement: bool) -> String {
        let label = if replacement {
            self.target_label()
        } else {
            self.current_label()
        };
        match self {
            Target::Lambda(_) => format!("version {label}"),
            Target::Ecs(_) => {
                let name = label
                    .split_once(":targetgroup/")
                    .map_or(label, |(_, rest)| rest.split('/').next().unwrap_or(rest));
                format!("target group {name}")
            }
        }
    }

    /// Short name: `function:alias` or `cluster/service`.
    pub fn name(&self) -> String {
        match self {
            Target::Lambda(t) => format!("{}:{}", t.function, t.alias),
            Target::Ecs(t) => format!("{}/{}", last_segment(&t.cluster), last_segment(&t.service)),
        }
    }

    /// The target as shown in status and notifications.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Target::Lambda(t) => json!({
                "functionName": t.function,
                "alias": t.alias,
                "currentVersion": t.current_version,
                "targetVersion": t.target_version,
            }),
            Target::Ecs(t) => json!({
                "cluster": t.cluster,
                "service": t.service,
                "productionListenerArn": t.production_listener,
                "testListenerArn": t.test_listener,
                "originalTargetGroupArn": t.original_target_group,
                "replacementTargetGroupArn": t.replacement_target_group,
                "originalTaskSetArn": t.original_task_set,
                "originalTaskDefinition": t.original_task_definition,
                "taskDefinition": t.resource.task_definition,
            }),
        }
    }

    /// The Lambda alias, for Lambda deployments.
    pub fn lambda(&self) -> Option<&LambdaTarget> {
        match self {
            Target::Lambda(t) => Some(t),
            Target::Ecs(_) => None,
        }
    }

    /// The ECS service, for ECS deployments.
    pub fn ecs(&self) -> Option<&EcsTarget> {
        match self {
            Target::Lambda(_) => None,
            Target::Ecs(t) => Some(t),
        }
    }
}

/// Per-deployment settings chosen at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentOptions {
    /// CloudWatch alarms to watch (at most [`MAX_ALARMS`]).
    pub alarms: Vec<String>,
    /// Roll back when the deployment fails (a hook, a timeout, an AWS call).
    pub auto_rollback: bool,
    /// Roll back when a watched alarm fires.
    #[serde(default = "yes")]
    pub rollback_on_alarm: bool,
    /// Roll back on a stop that does not say (the group's `autoRollback.onStop`).
    #[serde(default)]
    pub rollback_on_stop: bool,
    /// Alarms already in ALARM at start only count after a new transition to ALARM.
    pub ignore_firing_alarms: bool,
    /// How long a hook may take to give its verdict.
    pub hook_timeout_seconds: u64,
    /// How often alarms are read while waiting.
    pub alarm_poll_seconds: u64,
    /// Delay before re-invoking a hook that answered InProgress (scaled by `time_scale`).
    pub hook_retry_seconds: u64,
    /// Divides every configured wait (demos and tests only); 1 in production.
    pub time_scale: f64,
    /// ECS: how long the replacement task set may take to become steady.
    #[serde(default = "default_install_timeout")]
    pub install_timeout_seconds: u64,
}

fn yes() -> bool {
    true
}

fn default_install_timeout() -> u64 {
    900
}

/// Most alarms one deployment may watch (CodeDeploy's limit).
pub const MAX_ALARMS: usize = 10;

impl Default for DeploymentOptions {
    fn default() -> Self {
        DeploymentOptions {
            alarms: Vec::new(),
            auto_rollback: true,
            rollback_on_alarm: true,
            rollback_on_stop: false,
            ignore_firing_alarms: false,
            hook_timeout_seconds: 3600,
            alarm_poll_seconds: 10,
            hook_retry_seconds: 30,
            time_scale: 1.0,
            install_timeout_seconds: default_install_timeout(),
        }
    }
}

impl DeploymentOptions {
    /// A configured wait in milliseconds, shortened by the time scale.
    pub fn scaled_ms(&self, seconds: u64) -> Millis {
        let scale = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        ((seconds as f64 * 1000.0) / scale).round() as Millis
    }

    /// Checks the options, naming the flag to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.alarms.len() > MAX_ALARMS {
            return Err(format!(
                "--alarm: {} alarms given; a deployment can watch at most {MAX_ALARMS}",
                self.alarms.len()
            ));
        }
        if let Some(a) = self
            .alarms
            .iter()
            .find(|a| a.trim().is_empty() || a.len() > 255)
        {
            return Err(format!(
                "--alarm: {a:?} is not a valid alarm name (1 to 255 characters)"
            ));
        }
        if self.hook_timeout_seconds == 0 || self.hook_timeout_seconds > 86_400 {
            return Err("--hook-timeout-seconds: use a value from 1 to 86400".into());
        }
        if self.alarm_poll_seconds == 0 || self.alarm_poll_seconds > 3600 {
            return Err("--alarm-poll-seconds: use a value from 1 to 3600".into());
        }
        if self.install_timeout_seconds == 0 || self.install_timeout_seconds > 86_400 {
            return Err("--install-timeout-seconds: use a value from 1 to 86400".into());
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 1.0 && self.time_scale <= 10_000.0) {
            return Err("--time-scale: use a number from 1 to 10000".into());
        }
        Ok(())
    }
}

/// What the Lambda alias looks like now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasView {
    /// The alias's primary version.
    pub version: String,
    /// The additional version and its weight (0.0 to 1.0), if traffic is split.
    pub additional: Option<(String, f64)>,
}

/// One listener's default forward action: target group ARN and weight, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerView {
    /// `(target group ARN, weight)` for every target group the listener forwards to.
    pub forwards: Vec<(String, u32)>,
}

impl ListenerView {
    /// Percent of the traffic on `replacement`, if the listener forwards only to
    /// `original` and `replacement` (weights 0 to anything else are allowed);
    /// `None` when traffic goes elsewhere.
    pub fn percent_on(&self, original: &str, replacement: &str) -> Option<f64> {
        let mut total = 0u64;
        let mut on = 0u64;
        for (tg, w) in &self.forwards {
            if tg == replacement {
                on += u64::from(*w);
            } else if tg != original && *w > 0 {
                return None;
            }
            total += u64::from(*w);
        }
        if total == 0 {
            return None;
        }
        Some(on as f64 * 100.0 / total as f64)
    }
}

/// Both listeners of an ECS deployment as read now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenersView {
    /// The production listener.
    pub production: ListenerView,
    /// The test listener, if the group has one.
    pub test: Option<ListenerView>,
}

/// One ECS task set as read now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetView {
    /// Task set ARN.
    pub arn: String,
    /// `externalId`: Cutover sets it to the deployment id on the replacement.
    pub external_id: Option<String>,
    /// `PRIMARY`, `ACTIVE` or `DRAINING`.
    pub status: String,
    /// `STEADY_STATE` or `STABILIZING`.
    pub stability: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// Tasks the task set should run.
    pub desired: u32,
    /// Tasks running now.
    pub running: u32,
}

impl TaskSetView {
    /// Whether ECS reports the task set steady with all its tasks running.
    pub fn is_steady(&self) -> bool {
        self.stability == "STEADY_STATE" && self.running >= self.desired
    }
}

/// State of a CloudWatch alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmState {
    /// Within threshold.
    Ok,
    /// Threshold breached.
    Alarm,
    /// Not enough data.
    InsufficientData,
    /// The alarm does not exist.
    Missing,
}

/// One alarm as read now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmView {
    /// Alarm name.
    pub name: String,
    /// Its state.
    pub state: AlarmState,
    /// When the state last changed.
    pub updated_at: Option<Millis>,
}

/// What a hook function answered when invoked synchronously.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookResponse {
    /// `{"status": "Succeeded"}` or `{"hookStatus": "SUCCEEDED"}`.
    Succeeded,
    /// `{"status": "Failed"}` or `{"hookStatus": "FAILED"}`, with any reason given.
    Failed(String),
    /// `{"status": "InProgress"}` or `{"hookStatus": "IN_PROGRESS"}`: invoke again later.
    InProgress,
    /// Any other answer: the hook will report later through `hook-report`.
    Deferred,
    /// The function raised an error (or does not exist).
    FunctionError(String),
    /// The invocation was refused before the function ran (throttled): it is invoked
    /// again after the retry delay.
    NotInvoked(String),
    /// The call failed in a way that leaves unknown whether the function ran (a timeout, a
    /// dropped connection): no second invocation starts before the claim lapses, and the
    /// hook's report is still accepted.
    Unknown(String),
}

impl HookResponse {
    /// Reads a hook's JSON answer (see the variants for the accepted shapes).
    pub fn from_payload(payload: &serde_json::Value) -> HookResponse {
        let reason = || {
            payload
                .get("reason")
                .or_else(|| payload.get("message"))
                .and_then(|v| v.as_str())
                .unwrap_or("the hook answered Failed")
                .to_string()
        };
        if let Some(s) = payload.get("status").and_then(|v| v.as_str()) {
            return match s {
                "Succeeded" => HookResponse::Succeeded,
                "Failed" => HookResponse::Failed(reason()),
                "InProgress" => HookResponse::InProgress,
                _ => HookResponse::Deferred,
            };
        }
        if let Some(s) = payload.get("hookStatus").and_then(|v| v.as_str()) {
            return match s {
                "SUCCEEDED" => HookResponse::Succeeded,
                "FAILED" => HookResponse::Failed(reason()),
                "IN_PROGRESS" => HookResponse::InProgress,
                _ => HookResponse::Deferred,
            };
        }
        HookResponse::Deferred
    }
}

/// What one claimed hook invocation answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookAnswer {
    /// The execution id of the lifecycle event the invocation was for.
    pub execution_id: String,
    /// The invocation's number ([`HookExecution::invocations`] when it was claimed).
    pub invocation: u32,
    /// The answer.
    pub response: HookResponse,
}

/// A verdict reported later through the `hook-report` function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookReport {
    /// The execution id the hook was invoked with.
    pub execution_id: String,
    /// `true` for Succeeded, `false` for Failed.
    pub succeeded: bool,
}

/// An operator's request to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopRequest {
    /// Put traffic back on the current version.
    pub rollback: bool,
    /// Why, for the record.
    pub reason: Option<String>,
}

/// Everything the outside world said since the last tick. Fields are `None` when not read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The alias as read now (asked for by [`crate::engine::Needs::alias`]).
    pub alias: Option<AliasView>,
    /// The alias's `RevisionId` as read with `alias`.
    #[serde(default)]
    pub alias_revision: Option<String>,
    /// The watched alarms as read now.
    pub alarms: Option<Vec<AlarmView>>,
    /// The answer of a hook invocation this deployment's decision asked for.
    pub hook_response: Option<HookAnswer>,
    /// A hook verdict reported through `hook-report`.
    pub hook_report: Option<HookReport>,
    /// An operator's stop request.
    pub stop: Option<StopRequest>,
    /// ECS: both listeners as read now (asked for by [`crate::engine::Needs::listeners`]).
    pub listeners: Option<ListenersView>,
    /// ECS: the service's task sets as read now.
    pub task_sets: Option<Vec<TaskSetView>>,
    /// An operator's `cutover continue`: leave Ready, or end the termination wait.
    #[serde(default)]
    pub proceed: bool,
    /// Who asked for `proceed`, as the caller reported it (for the event log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}
