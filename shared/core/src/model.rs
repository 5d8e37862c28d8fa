//! The deployment model: what is stored for each deployment, and what the outside world
//! reports back to the engine.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller; nothing here reads
//! a clock.

use crate::appspec::HookSpec;
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

    /// CodeDeploy's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Created => "Created",
            DeploymentStatus::InProgress => "InProgress",
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

/// Per-deployment settings chosen at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentOptions {
    /// CloudWatch alarms to watch (at most [`MAX_ALARMS`]).
    pub alarms: Vec<String>,
    /// Roll back when the deployment fails or an alarm fires.
    pub auto_rollback: bool,
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
}

/// Most alarms one deployment may watch (CodeDeploy's limit).
pub const MAX_ALARMS: usize = 10;

impl Default for DeploymentOptions {
    fn default() -> Self {
        DeploymentOptions {
            alarms: Vec::new(),
            auto_rollback: true,
            ignore_firing_alarms: false,
            hook_timeout_seconds: 3600,
            alarm_poll_seconds: 10,
            hook_retry_seconds: 30,
            time_scale: 1.0,
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
    /// All traffic is being put back on the current version.
    RollingBack {
        /// How many times the rollback was issued without being confirmed.
        attempts: u32,
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
    /// How many times the function was invoked.
    pub invocations: u32,
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
    /// The alias being moved.
    pub target: LambdaTarget,
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
    /// Number of event-log entries written so far.
    pub log_seq: u64,
    /// Optimistic-locking version, managed by the store.
    pub ver: u64,
}

impl Deployment {
    /// A new deployment in `Created`, with every Lambda lifecycle event pending.
    pub fn new_lambda(
        id: String,
        target: LambdaTarget,
        config: DeploymentConfig,
        hooks: Vec<HookSpec>,
        options: DeploymentOptions,
        now: Millis,
    ) -> Deployment {
        let events = [
            LifecycleEvent::Start,
            LifecycleEvent::BeforeAllowTraffic,
            LifecycleEvent::AllowTraffic,
            LifecycleEvent::AfterAllowTraffic,
            LifecycleEvent::End,
        ]
        .into_iter()
        .map(|name| EventRecord {
            name,
            status: EventStatus::Pending,
            started_at: None,
            ended_at: None,
            detail: None,
        })
        .collect();
        Deployment {
            application: target.function.clone(),
            group: target.alias.clone(),
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
            log_seq: 0,
            ver: 0,
        }
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

    /// Traffic split as `{version: percent}` (both versions while split).
    pub fn traffic_split(&self) -> Vec<(String, u8)> {
        let t = &self.target;
        match self.traffic {
            0 => vec![(t.current_version.clone(), 100)],
            100 => vec![(t.target_version.clone(), 100)],
            w => vec![
                (t.current_version.clone(), 100 - w),
                (t.target_version.clone(), w),
            ],
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
            "target": {
                "functionName": self.target.function,
                "alias": self.target.alias,
                "currentVersion": self.target.current_version,
                "targetVersion": self.target.target_version,
            },
            "config": self.config.name,
            "phase": self.phase,
            "traffic": Value::Object(traffic),
            "lifecycleEvents": events,
            "error": self.error.as_ref().map(|e| json!({"code": e.code.as_str(), "message": e.message})),
            "createdAt": self.created_at,
            "endedAt": self.ended_at,
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
    /// The function raised an error (or could not be invoked).
    FunctionError(String),
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
    /// The watched alarms as read now.
    pub alarms: Option<Vec<AlarmView>>,
    /// The answer of the hook invoked in this tick.
    pub hook_response: Option<HookResponse>,
    /// A hook verdict reported through `hook-report`.
    pub hook_report: Option<HookReport>,
    /// An operator's stop request.
    pub stop: Option<StopRequest>,
}
