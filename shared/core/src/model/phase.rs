//! Where a deployment is: one phase, holding the data that phase needs. The status
//! CodeDeploy users see, whether traffic was rolled back, the running hook and the error
//! are all read from it, so none of them can disagree with another.

use super::{DeploymentError, DeploymentStatus, Millis};
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};

/// Where a deployment is in its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Recorded; the first tick starts it.
    Created,
    /// A hook event is running.
    Hook(HookExecution),
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
    /// ECS: waiting at Ready for `cutover continue` (status Ready).
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
        continued: bool,
    },
    /// ECS: the original task set was asked to be deleted; waiting for it to be gone.
    Cleaning {
        /// How many times the deletion was asked for.
        attempts: u32,
    },
    /// The deployment failed or was stopped; all traffic is being put back on the
    /// current version.
    RollingBack {
        /// Why it ended.
        halt: Halt,
        /// How many times the rollback was issued without being confirmed.
        attempts: u32,
        /// The weight an update of Cutover's own may still land with (the shift under way
        /// when the rollback began): the alias showing it is Cutover's doing, not a person's.
        landing: Option<u8>,
        /// When the rollback began. ECS: it is not declared done before a reading taken
        /// [`crate::engine::ECS_SETTLE_SECONDS`] later, so a listener or task-set call of an
        /// earlier decision still in flight cannot land unseen after the end.
        since: Millis,
        /// When the alarm that failed the deployment changed state, if one did (for the
        /// time from the alarm to traffic restored).
        alarm_at: Option<Millis>,
    },
    /// Nothing more to do.
    Done(End),
}

/// Why a deployment that did not succeed ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// Stopped on request (status Stopped) rather than failed (status Failed).
    pub stopped: bool,
    /// What happened.
    pub error: DeploymentError,
}

impl Halt {
    /// A failure (`stopped: false`) or a stop, with its error.
    pub fn new(status: DeploymentStatus, error: DeploymentError) -> Halt {
        Halt {
            stopped: status == DeploymentStatus::Stopped,
            error,
        }
    }

    /// Stopped or Failed.
    pub fn status(&self) -> DeploymentStatus {
        if self.stopped {
            DeploymentStatus::Stopped
        } else {
            DeploymentStatus::Failed
        }
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// All traffic on the target and every hook succeeded.
    Succeeded,
    /// Failed or stopped.
    Halted {
        /// Why.
        halt: Halt,
        /// Whether all traffic was confirmed back on the current version.
        rolled_back: bool,
    },
}

impl Phase {
    /// The CodeDeploy-style status this phase means.
    pub fn status(&self) -> DeploymentStatus {
        match self {
            Phase::Created => DeploymentStatus::Created,
            Phase::Ready { .. } => DeploymentStatus::Ready,
            Phase::RollingBack { halt, .. } | Phase::Done(End::Halted { halt, .. }) => {
                halt.status()
            }
            Phase::Done(End::Succeeded) => DeploymentStatus::Succeeded,
            Phase::Hook(_)
            | Phase::Shifting { .. }
            | Phase::Baking { .. }
            | Phase::Installing { .. }
            | Phase::TestRouting { .. }
            | Phase::Terminating { .. }
            | Phase::Cleaning { .. } => DeploymentStatus::InProgress,
        }
    }

    /// Why the deployment failed or was stopped, while it rolls back and once it ended.
    pub fn halt(&self) -> Option<&Halt> {
        match self {
            Phase::RollingBack { halt, .. } | Phase::Done(End::Halted { halt, .. }) => Some(halt),
            _ => None,
        }
    }

    /// [`Phase::halt`], to change.
    pub fn halt_mut(&mut self) -> Option<&mut Halt> {
        match self {
            Phase::RollingBack { halt, .. } | Phase::Done(End::Halted { halt, .. }) => Some(halt),
            _ => None,
        }
    }

    /// The phase's name as stored and printed (`hook`, `rollingBack`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Created => "created",
            Phase::Hook(_) => "hook",
            Phase::Shifting { .. } => "shifting",
            Phase::Baking { .. } => "baking",
            Phase::Installing { .. } => "installing",
            Phase::TestRouting { .. } => "testRouting",
            Phase::Ready { .. } => "ready",
            Phase::Terminating { .. } => "terminating",
            Phase::Cleaning { .. } => "cleaning",
            Phase::RollingBack { .. } => "rollingBack",
            Phase::Done(_) => "done",
        }
    }

    /// The phase as `cutover status --output json` prints it: its name under `phase` and
    /// its counters (the stored form, without the data shown elsewhere in the status).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(super::record::PhaseRecord::from(self)).unwrap_or_default()
    }
}

/// The state of the hook that is running now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookExecution {
    /// The hook event.
    pub event: LifecycleEvent,
    /// The user's function.
    pub function: String,
    /// The hashes ([`execution_id_hash`]) of the execution ids this event's invocations
    /// were given, oldest first, at most [`MAX_ISSUED_IDS`]. Each invocation gets a fresh
    /// random id; only its hash is stored, so reading the record yields no usable id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issued: Vec<String>,
    /// The one execution id of the event as Cutover stored it before ids were random
    /// (`<deployment>-<event>-<token>`), in a record written then: loading turns it into
    /// its hash in `issued`, and it is never written again.
    #[serde(default, rename = "execution_id", skip_serializing)]
    pub legacy_execution_id: Option<String>,
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

/// How many of a lifecycle event's execution ids are accepted: the first invocation's and
/// those of the latest ones (a hook answering InProgress is invoked again with a new id; a
/// report with the first id, or one of the last seven, is still taken).
pub const MAX_ISSUED_IDS: usize = 8;

/// The SHA-256 of an execution id, in hex: what a record keeps of it.
pub fn execution_id_hash(id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl HookExecution {
    /// Whether `id` is one of the execution ids this event's invocations were given.
    pub fn accepts(&self, id: &str) -> bool {
        if self.legacy_execution_id.as_deref() == Some(id) {
            return true;
        }
        let hash = execution_id_hash(id);
        self.issued.contains(&hash)
    }

    /// Records that an invocation is given `id`, keeping the first id and the latest ones
    /// ([`MAX_ISSUED_IDS`] in all): a hook that began its work on the first invocation may
    /// still report with that id however often it was invoked again.
    pub fn issue(&mut self, id: &str) {
        self.issued.push(execution_id_hash(id));
        let extra = self.issued.len().saturating_sub(MAX_ISSUED_IDS);
        self.issued.drain(1..1 + extra);
    }

    /// The execution id of an earlier record turned into its hash.
    pub(crate) fn upgraded(mut self) -> HookExecution {
        if let Some(id) = self.legacy_execution_id.take() {
            self.issued.insert(0, execution_id_hash(&id));
        }
        self
    }
}
