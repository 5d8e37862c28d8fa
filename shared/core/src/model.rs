//! The deployment model: what is stored for each deployment, and what the outside world
//! reports back to the engine.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller; nothing here reads
//! a clock.

use crate::appspec::{EcsResource, HookSpec};
use crate::config::{DeploymentConfig, Shift};
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};
use std::fmt;

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

/// Where a deployment is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Phase {
    /// Recorded; the first tick starts it.
    Created,
    /// A hook event is running (see [`Deployment::hook`]).
    Hook {
        /// The hook event.
        event: LifecycleEvent,
    },
    /// A weight was set; waiting for the alias to show it.
    Shifting {
        /// Index into the schedule.
        step: usize,
        /// How many times the weight was set without being confirmed.
        attempts: u32,
    },
    /// The weight is confirmed; waiting until the next shift.
    Baking {
        /// Index into the schedule.
        step: usize,
        /// When the next shift (or the end of the bake) is due.
        until: Millis,
    },
    /// ECS: the replacement task set was asked for; waiting until it is steady.
    Installing {
        /// When the task set was first asked for.
        since: Millis,
        /// How many times it was asked for without showing up.
        attempts: u32,
    },
    /// ECS: the test listener was pointed at the replacement; waiting for it to show that.
    TestRouting {
        /// How many times it was set without being confirmed.
        attempts: u32,
    },
    /// ECS: waiting at Ready for `cutover continue`.
    Ready {
        /// When the wait fails the deployment.
        until: Millis,
    },
    /// ECS: the replacement is primary; the original task set is kept until `until`
    /// (`cutover continue` ends the wait early).
    Terminating {
        /// When the original task set is deleted.
        until: Millis,
        /// `cutover continue` asked to end the wait; kept until the replacement shows
        /// PRIMARY, so an early `continue` is not lost.
        #[serde(default)]
        continued: bool,
    },
    /// ECS: the original task set was asked to be deleted; waiting for it to be gone.
    Cleaning {
        /// How many times the deletion was asked for.
        attempts: u32,
    },
    /// All traffic is being put back on the current version.
    RollingBack {
        /// How many times the rollback was issued without being confirmed.
        attempts: u32,
        /// The weight an update of Cutover's own may still land with (the shift under way
        /// when the rollback began): the alias showing it is Cutover's doing, not a person's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        landing: Option<u8>,
        /// When the rollback began. ECS: it is not declared done before a reading taken
        /// [`crate::engine::ECS_SETTLE_SECONDS`] later, so a listener or task-set call of an
        /// earlier decision still in flight cannot land unseen after the end.
        #[serde(default)]
        since: Millis,
    },
    /// Nothing more to do.
    Done,
}

/// The state of the hook that is running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookExecution {
    /// The hook event.
    pub event: LifecycleEvent,
    /// The user's function.
    pub function: String,
    /// Id the hook reports its verdict with.
    pub execution_id: String,
    /// When the event began.
    pub started_at: Millis,
    /// When the function should be invoked next; `None` while waiting for a report.
    pub next_invoke_at: Option<Millis>,
    /// How many times the function was invoked (the number of the latest invocation).
    pub invocations: u32,
    /// While an invocation is claimed (saved, then sent): when the claim lapses. No other
    /// invocation of this event starts before, whichever process ticks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_until: Option<Millis>,
}

/// A notification recorded with the decision that caused it, sent after the save and
/// re-sent by later ticks until it is marked sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    /// Stable id (`<deployment id>-<n>`): subscribers drop a message they have seen.
    pub id: String,
    /// What happened.
    pub kind: crate::engine::NotificationKind,
    /// When the decision was made.
    pub at: Millis,
}

/// One lifecycle event's record, shown by `cutover status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The event.
    pub name: LifecycleEvent,
    /// Its status.
    pub status: EventStatus,
    /// When it began.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// What happened (hook verdict, weights, failure reason).
    pub detail: Option<String>,
}

/// A deployment: everything needed to resume it from any tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Deployment id (`d-` and nine characters, CodeDeploy style).
    pub id: String,
    /// Application name, for notifications.
    pub application: String,
    /// Deployment group name, for notifications.
    pub group: String,
    /// What is being moved: a Lambda alias or an ECS service.
    pub target: Target,
    /// The schedule.
    pub config: DeploymentConfig,
    /// Hook functions by event.
    pub hooks: Vec<HookSpec>,
    /// Settings chosen at start.
    pub options: DeploymentOptions,
    /// CodeDeploy-style status.
    pub status: DeploymentStatus,
    /// Whether traffic was put back on the current version.
    pub rolled_back: bool,
    /// Where the deployment is.
    pub phase: Phase,
    /// Confirmed percentage of traffic on the target version.
    pub traffic: u8,
    /// Lifecycle events in order.
    pub events: Vec<EventRecord>,
    /// The running hook, if any.
    pub hook: Option<HookExecution>,
    /// Why the deployment failed or stopped.
    pub error: Option<DeploymentError>,
    /// When the deployment was recorded.
    pub created_at: Millis,
    /// When the first tick started it.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// Random secret part of hook execution ids (empty: ids are `<id>-<event>`).
    #[serde(default)]
    pub hook_token: String,
    /// The deployment group's own SNS topic, notified besides Cutover's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    /// ECS: the task sets as last read (shown by `cutover status`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_sets: Vec<TaskSetView>,
    /// The alias's `RevisionId` as Cutover last knew it: read at start, or confirmed after
    /// Cutover's own update. Lambda alias updates carry it as their precondition, and any
    /// other revision seen means someone else changed the alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_revision: Option<String>,
    /// When the last saved decision was made: a later decision never uses an earlier time.
    #[serde(default)]
    pub decided_at: Millis,
    /// Notifications not yet marked sent, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbox: Vec<Outgoing>,
    /// Notifications recorded so far (numbers the outbox ids).
    #[serde(default)]
    pub notify_seq: u64,
    /// Digest of the start request, when it carried a client token: the same token with
    /// another request is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_digest: Option<String>,
    /// Number of event-log entries written so far.
    pub log_seq: u64,
    /// Optimistic-locking version, managed by the store.
    pub ver: u64,
}

impl Deployment {
    /// A new deployment in `Created`, with every lifecycle event of its platform pending.
    pub fn new(
        id: String,
        target: Target,
        config: DeploymentConfig,
        hooks: Vec<HookSpec>,
        options: DeploymentOptions,
        now: Millis,
    ) -> Deployment {
        let events = LifecycleEvent::ALL
            .into_iter()
            .filter(|e| match &target {
                Target::Lambda(_) => !e.is_ecs_only(),
                Target::Ecs(_) => true,
            })
            .map(|name| EventRecord {
                name,
                status: EventStatus::Pending,
                started_at: None,
                ended_at: None,
                detail: None,
            })
            .collect();
        let (application, group) = match &target {
            Target::Lambda(t) => (t.function.clone(), t.alias.clone()),
            Target::Ecs(t) => (
                last_segment(&t.cluster).to_string(),
                last_segment(&t.service).to_string(),
            ),
        };
        Deployment {
            application,
            group,
            id,
            target,
            config,
            hooks,
            options,
            status: DeploymentStatus::Created,
            rolled_back: false,
            phase: Phase::Created,
            traffic: 0,
            events,
            hook: None,
            error: None,
            created_at: now,
            started_at: None,
            ended_at: None,
            hook_token: String::new(),
            topic_arn: None,
            task_sets: Vec::new(),
            alias_revision: None,
            decided_at: now,
            outbox: Vec::new(),
            notify_seq: 0,
            request_digest: None,
            log_seq: 0,
            ver: 0,
        }
    }

    /// A new Lambda deployment in `Created`.
    pub fn new_lambda(
        id: String,
        target: LambdaTarget,
        config: DeploymentConfig,
        hooks: Vec<HookSpec>,
        options: DeploymentOptions,
        now: Millis,
    ) -> Deployment {
        Deployment::new(id, Target::Lambda(target), config, hooks, options, now)
    }

    /// The traffic schedule of this deployment's configuration.
    pub fn schedule(&self) -> Vec<Shift> {
        self.config.schedule()
    }

    /// Whether nothing more will happen.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Hook function for an event, if the AppSpec named one.
    pub fn hook_function(&self, event: LifecycleEvent) -> Option<&str> {
        self.hooks
            .iter()
            .find(|h| h.event == event)
            .map(|h| h.function.as_str())
    }

    /// The record of one lifecycle event.
    pub fn event(&self, name: LifecycleEvent) -> Option<&EventRecord> {
        self.events.iter().find(|e| e.name == name)
    }

    /// Traffic split as `{version or target group: percent}` (both while split).
    pub fn traffic_split(&self) -> Vec<(String, u8)> {
        let (cur, tgt) = (self.target.current_label(), self.target.target_label());
        match self.traffic {
            0 => vec![(cur.to_string(), 100)],
            100 => vec![(tgt.to_string(), 100)],
            w => vec![(cur.to_string(), 100 - w), (tgt.to_string(), w)],
        }
    }

    /// The status object printed by `cutover status --output json`.
    pub fn summary(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let mut traffic = Map::new();
        for (v, w) in self.traffic_split() {
            traffic.insert(v, json!(w));
        }
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|e| {
                json!({
                    "name": e.name.as_str(),
                    "status": e.status,
                    "startedAt": e.started_at,
                    "endedAt": e.ended_at,
                    "detail": e.detail,
                })
            })
            .collect();
        json!({
            "deploymentId": self.id,
            "status": self.status.as_str(),
            "rolledBack": self.rolled_back,
            "target": self.target.to_json(),
            "application": self.application,
            "deploymentGroup": self.group,
            "config": self.config.name,
            "phase": self.phase,
            "traffic": Value::Object(traffic),
            "lifecycleEvents": events,
            "error": self.error.as_ref().map(|e| json!({"code": e.code.as_str(), "message": e.message})),
            "taskSets": self.task_sets,
            "createdAt": self.created_at,
            "endedAt": self.ended_at,
            "timeScale": self.options.time_scale,
        })
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
}
