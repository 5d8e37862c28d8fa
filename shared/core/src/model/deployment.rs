//! The deployment record: everything needed to resume a deployment from any tick.

use super::*;
use crate::appspec::HookSpec;
use crate::config::{DeploymentConfig, Shift};

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
    /// Where the deployment is; its status, the running hook and the error are read from
    /// it ([`Deployment::status`], [`Deployment::hook`], [`Deployment::error`]). Stored
    /// as the fields records always had (see the `record` module).
    #[serde(flatten, with = "super::record")]
    pub phase: Phase,
    /// Confirmed percentage of traffic on the target version.
    pub traffic: u8,
    /// Lifecycle events in order.
    pub events: Vec<EventRecord>,
    /// When the deployment was recorded.
    pub created_at: Millis,
    /// When the first tick started it.
    pub started_at: Option<Millis>,
    /// When it ended.
    pub ended_at: Option<Millis>,
    /// The secret part of the hook execution ids of deployments recorded before ids were
    /// random: read from such a record, never written again (the running hook keeps its
    /// id as a hash), so the table no longer yields the id.
    #[serde(default, skip_serializing)]
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
    /// SHA-256 (hex) of the start request's client token, when it had one: a CodePipeline
    /// continuation proves it belongs to the job that started the deployment with it,
    /// without the token (the job id) being stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token_hash: Option<String>,
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
            phase: Phase::Created,
            traffic: 0,
            events,
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
            client_token_hash: None,
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
        matches!(self.phase, Phase::Done(_))
    }

    /// CodeDeploy-style status, read from the phase.
    pub fn status(&self) -> DeploymentStatus {
        self.phase.status()
    }

    /// Whether all traffic was confirmed back on the current version.
    pub fn rolled_back(&self) -> bool {
        matches!(
            self.phase,
            Phase::Done(End::Halted {
                rolled_back: true,
                ..
            })
        )
    }

    /// The running hook, if any.
    pub fn hook(&self) -> Option<&HookExecution> {
        match &self.phase {
            Phase::Hook(h) => Some(h),
            _ => None,
        }
    }

    /// [`Deployment::hook`], to change.
    pub fn hook_mut(&mut self) -> Option<&mut HookExecution> {
        match &mut self.phase {
            Phase::Hook(h) => Some(h),
            _ => None,
        }
    }

    /// Why the deployment failed or was stopped.
    pub fn error(&self) -> Option<&DeploymentError> {
        self.phase.halt().map(|h| &h.error)
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
            "status": self.status().as_str(),
            "rolledBack": self.rolled_back(),
            "target": self.target.to_json(),
            "application": self.application,
            "deploymentGroup": self.group,
            "config": self.config.name,
            "phase": self.phase.to_json(),
            "traffic": Value::Object(traffic),
            "lifecycleEvents": events,
            "error": self.error().map(|e| json!({"code": e.code.as_str(), "message": e.message})),
            "taskSets": self.task_sets,
            "createdAt": self.created_at,
            "endedAt": self.ended_at,
            "timeScale": self.options.time_scale,
        })
    }
}
