//! How a [`Phase`] is stored. Records keep the shape they always had — `status`,
//! `rolled_back`, `phase` (its name and counters), `hook` and `error` side by side in the
//! deployment document — so records written before the phase held its own data load
//! unchanged, and so do records written now by an older Cutover. Loading checks that the
//! five agree and refuses a record where they do not, naming what disagrees.

use super::{DeploymentError, DeploymentStatus, End, Halt, HookExecution, Millis, Phase};
use crate::LifecycleEvent;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The phase's name and counters as stored under `phase`, and as `cutover status --output
/// json` prints them (the running hook and the error are stored and printed beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum PhaseRecord {
    /// [`Phase::Created`].
    Created,
    /// [`Phase::Hook`].
    Hook {
        /// The hook event.
        event: LifecycleEvent,
    },
    /// [`Phase::Shifting`].
    Shifting {
        /// Index into the schedule.
        step: usize,
        /// Attempts so far.
        attempts: u32,
    },
    /// [`Phase::Baking`].
    Baking {
        /// Index into the schedule.
        step: usize,
        /// When the bake ends.
        until: Millis,
    },
    /// [`Phase::Installing`].
    Installing {
        /// When the task set was first asked for.
        since: Millis,
        /// Attempts so far.
        attempts: u32,
    },
    /// [`Phase::TestRouting`].
    TestRouting {
        /// Attempts so far.
        attempts: u32,
    },
    /// [`Phase::Ready`].
    Ready {
        /// When the wait fails the deployment.
        until: Millis,
    },
    /// [`Phase::Terminating`].
    Terminating {
        /// When the original task set is deleted.
        until: Millis,
        /// `cutover continue` asked to end the wait.
        #[serde(default)]
        continued: bool,
    },
    /// [`Phase::Cleaning`].
    Cleaning {
        /// Attempts so far.
        attempts: u32,
    },
    /// [`Phase::RollingBack`].
    RollingBack {
        /// Attempts so far.
        attempts: u32,
        /// The weight an update of Cutover's own may still land with.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        landing: Option<u8>,
        /// When the rollback began.
        #[serde(default)]
        since: Millis,
        /// When the alarm that failed the deployment changed state.
        #[serde(default, rename = "alarmAt", skip_serializing_if = "Option::is_none")]
        alarm_at: Option<Millis>,
    },
    /// [`Phase::Done`].
    Done,
}

impl From<&Phase> for PhaseRecord {
    fn from(phase: &Phase) -> PhaseRecord {
        match phase {
            Phase::Created => PhaseRecord::Created,
            Phase::Hook(h) => PhaseRecord::Hook { event: h.event },
            Phase::Shifting { step, attempts } => PhaseRecord::Shifting {
                step: *step,
                attempts: *attempts,
            },
            Phase::Baking { step, until } => PhaseRecord::Baking {
                step: *step,
                until: *until,
            },
            Phase::Installing { since, attempts } => PhaseRecord::Installing {
                since: *since,
                attempts: *attempts,
            },
            Phase::TestRouting { attempts } => PhaseRecord::TestRouting {
                attempts: *attempts,
            },
            Phase::Ready { until } => PhaseRecord::Ready { until: *until },
            Phase::Terminating { until, continued } => PhaseRecord::Terminating {
                until: *until,
                continued: *continued,
            },
            Phase::Cleaning { attempts } => PhaseRecord::Cleaning {
                attempts: *attempts,
            },
            Phase::RollingBack {
                attempts,
                landing,
                since,
                alarm_at,
                ..
            } => PhaseRecord::RollingBack {
                attempts: *attempts,
                landing: *landing,
                since: *since,
                alarm_at: *alarm_at,
            },
            Phase::Done(_) => PhaseRecord::Done,
        }
    }
}

/// The five stored fields a phase is kept in.
#[derive(Serialize, Deserialize)]
struct Stored {
    status: DeploymentStatus,
    rolled_back: bool,
    phase: PhaseRecord,
    hook: Option<HookExecution>,
    error: Option<DeploymentError>,
}

impl From<&Phase> for Stored {
    fn from(phase: &Phase) -> Stored {
        let hook = match phase {
            Phase::Hook(h) => Some(h.clone()),
            _ => None,
        };
        let rolled_back = matches!(
            phase,
            Phase::Done(End::Halted {
                rolled_back: true,
                ..
            })
        );
        Stored {
            status: phase.status(),
            rolled_back,
            phase: PhaseRecord::from(phase),
            hook,
            error: phase.halt().map(|h| h.error.clone()),
        }
    }
}

impl TryFrom<Stored> for Phase {
    type Error = String;

    fn try_from(s: Stored) -> Result<Phase, String> {
        use DeploymentStatus as S;
        let name = || {
            serde_json::to_value(&s.phase)
                .ok()
                .and_then(|v| v["phase"].as_str().map(String::from))
                .unwrap_or_default()
        };
        let halt = |s: &Stored| -> Result<Halt, String> {
            if !matches!(s.status, S::Failed | S::Stopped) {
                return Err(format!(
                    "phase {} with status {}: only a failed or stopped deployment rolls back or ends without succeeding",
                    name(),
                    s.status
                ));
            }
            let error = s
                .error
                .clone()
                .ok_or_else(|| format!("status {} without an error saying why", s.status))?;
            Ok(Halt::new(s.status, error))
        };
        let phase = match s.phase.clone() {
            PhaseRecord::Created => Phase::Created,
            PhaseRecord::Hook { event } => match s.hook.clone() {
                Some(h) if h.event == event => Phase::Hook(h.upgraded()),
                Some(h) => {
                    return Err(format!(
                        "phase hook for {event} but the running hook is {}",
                        h.event
                    ))
                }
                None => return Err(format!("phase hook for {event} without a running hook")),
            },
            PhaseRecord::Shifting { step, attempts } => Phase::Shifting { step, attempts },
            PhaseRecord::Baking { step, until } => Phase::Baking { step, until },
            PhaseRecord::Installing { since, attempts } => Phase::Installing { since, attempts },
            PhaseRecord::TestRouting { attempts } => Phase::TestRouting { attempts },
            PhaseRecord::Ready { until } => Phase::Ready { until },
            PhaseRecord::Terminating { until, continued } => {
                Phase::Terminating { until, continued }
            }
            PhaseRecord::Cleaning { attempts } => Phase::Cleaning { attempts },
            PhaseRecord::RollingBack {
                attempts,
                landing,
                since,
                alarm_at,
            } => Phase::RollingBack {
                halt: halt(&s)?,
                attempts,
                landing,
                since,
                alarm_at,
            },
            PhaseRecord::Done if s.status == S::Succeeded => {
                if s.rolled_back {
                    return Err("status Succeeded with rolled_back set".into());
                }
                Phase::Done(End::Succeeded)
            }
            PhaseRecord::Done => Phase::Done(End::Halted {
                halt: halt(&s)?,
                rolled_back: s.rolled_back,
            }),
        };
        if phase.status() != s.status {
            return Err(format!(
                "phase {} with status {} (the phase means {})",
                name(),
                s.status,
                phase.status()
            ));
        }
        Ok(phase)
    }
}

/// Writes a phase as its five stored fields (`#[serde(flatten, with = "...")]`).
pub(super) fn serialize<S: Serializer>(phase: &Phase, serializer: S) -> Result<S::Ok, S::Error> {
    Stored::from(phase).serialize(serializer)
}

/// Reads a phase from its five stored fields, refusing fields that disagree.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Phase, D::Error> {
    let stored = Stored::deserialize(deserializer)?;
    Phase::try_from(stored)
        .map_err(|e| serde::de::Error::custom(format!("inconsistent deployment record: {e}")))
}
