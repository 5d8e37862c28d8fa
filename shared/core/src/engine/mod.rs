//! The engine: a pure function from (deployment, observation, now) to the next deployment
//! state, the actions to perform, and when to be woken again.
//!
//! Callers first ask [`needs`] what to observe (alias, alarms, a hook invocation), observe
//! exactly that, then call [`decide`]. Actions are absolute (set the weight to N %), so
//! executing them twice is harmless.

use crate::model::{
    AlarmState, Deployment, DeploymentError, DeploymentStatus, EcsTarget, End, ErrorCode,
    EventStatus, Halt, HookExecution, HookResponse, LambdaTarget, Millis, Observation, Phase,
    Target,
};
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};

mod ctx;
mod ecs;
mod hooks;
mod lambda;
mod traffic;

use ctx::Ctx;
use traffic::{modified, traffic_seen, Seen};

pub use hooks::{hook_call, hook_payload, issue_execution_id};

/// How many times a weight is set without the alias showing it before the deployment fails.
pub const MAX_ROUTE_ATTEMPTS: u32 = 5;
/// Delay between attempts to confirm a weight.
pub const CONFIRM_RETRY_MS: Millis = 1000;
/// How often an installing ECS task set is looked at.
pub const INSTALL_POLL_MS: Millis = 2000;
/// How many times the original task set's removal is asked for before giving up.
pub const MAX_CLEANUP_ATTEMPTS: u32 = 8;
/// How many times a rollback is issued without being confirmed before the deployment is
/// ended with the rollback reported incomplete (about ten minutes at the 30-s backoff).
pub const MAX_ROLLBACK_ATTEMPTS: u32 = 24;
/// How long a claimed hook invocation may be in flight before another may start: a Lambda
/// function runs at most 15 minutes, plus a minute for the call itself (scaled by
/// `time_scale` in demos and tests).
pub const HOOK_CLAIM_SECONDS: u64 = 16 * 60;
/// How long after an ECS rollback began its end is confirmed: longer than any AWS call of
/// an earlier decision can take to land (the clients' operation timeout is 60 s), so the
/// confirming reading would see it (scaled by `time_scale` in demos and tests).
pub const ECS_SETTLE_SECONDS: u64 = 90;

/// Kinds of SNS notification, named like CodeDeploy's trigger events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationKind {
    /// The deployment started.
    DeploymentStart,
    /// The deployment succeeded.
    DeploymentSuccess,
    /// The deployment failed.
    DeploymentFailure,
    /// The deployment was stopped.
    DeploymentStop,
    /// Traffic was put back on the current version.
    DeploymentRollback,
}

impl NotificationKind {
    /// CodeDeploy's trigger event name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::DeploymentStart => "DeploymentStart",
            NotificationKind::DeploymentSuccess => "DeploymentSuccess",
            NotificationKind::DeploymentFailure => "DeploymentFailure",
            NotificationKind::DeploymentStop => "DeploymentStop",
            NotificationKind::DeploymentRollback => "DeploymentRollback",
        }
    }
}

/// Something for the adapters to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Put `weight` % of production traffic on the target and the rest on the current one.
    /// Lambda: 0 means the alias on the current version with no routing config; 100 means
    /// the alias on the target version with no routing config. ECS: the production
    /// listener's weighted forward action, original and replacement target groups.
    Route {
        /// Percent on the target.
        weight: u8,
    },
    /// ECS: the test listener's forward action, `weight` % on the replacement target group.
    RouteTest {
        /// Percent on the replacement.
        weight: u8,
    },
    /// ECS: create the replacement task set (once: it carries the deployment id as its
    /// `externalId`, and an existing one is reused).
    CreateTaskSet,
    /// ECS: make a task set the service's primary one.
    SetPrimary {
        /// The replacement (`true`) or the original (`false`).
        replacement: bool,
    },
    /// ECS: delete a task set (absent already is fine).
    DeleteTaskSet {
        /// The replacement (`true`) or the original (`false`).
        replacement: bool,
    },
    /// Invoke the running hook's function (the claim is in the saved decision); its answer
    /// comes back as [`Observation::hook_response`] with this invocation number.
    InvokeHook {
        /// The claimed invocation's number.
        invocation: u32,
    },
    /// Publish a notification (after the new state is saved).
    Notify(NotificationKind),
}

/// A hook function to invoke, as [`Action::InvokeHook`] asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookInvocation {
    /// The user's function.
    pub function: String,
    /// The payload to send.
    pub payload: serde_json::Value,
}

/// What the next observation must contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Read the alias.
    pub alias: bool,
    /// ECS: read the production and test listeners.
    pub listeners: bool,
    /// ECS: read the service's task sets.
    pub task_sets: bool,
    /// Read the watched alarms.
    pub alarms: bool,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The deployment's next state.
    pub next: Deployment,
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// When to decide again; `None` when the deployment is done. For a driver nothing
    /// else wakes (`--local`): it also looks again at the alarm poll interval for what
    /// another process may have recorded (a `continue`, a hook's report).
    pub wake_after: Option<Millis>,
    /// When a driver that every input wakes (the state machine) decides again: at the
    /// next deadline, or at the alarm poll interval while alarms are watched (a backstop
    /// for a lost alarm event). Never sooner than `wake_after`.
    pub sleep_after: Option<Millis>,
    /// Lines for the deployment's event log.
    pub log: Vec<String>,
}

/// The replacement task set as last read, if it exists.
pub fn replacement(dep: &Deployment) -> Option<&crate::model::TaskSetView> {
    dep.task_sets
        .iter()
        .find(|t| t.external_id.as_deref() == Some(dep.id.as_str()))
}

/// What must be observed before [`decide`] can run at `now`. The traffic (alias or
/// listeners) is read in every running phase: anything but what Cutover last set is
/// someone else's change, and the deployment stops without touching it.
pub fn needs(dep: &Deployment, _now: Millis) -> Needs {
    let ecs = dep.target.ecs().is_some();
    match &dep.phase {
        Phase::Created | Phase::Done(_) => Needs::default(),
        phase => Needs {
            alias: !ecs,
            listeners: ecs,
            alarms: watching_alarms(dep),
            task_sets: ecs
                && matches!(
                    phase,
                    Phase::Installing { .. }
                        | Phase::Terminating { .. }
                        | Phase::Cleaning { .. }
                        | Phase::RollingBack { .. }
                ),
        },
    }
}

/// Whether an alarm as read stops the deployment: missing, or in ALARM — with
/// `ignore_firing_alarms`, only after a transition at or after the deployment was
/// recorded (when the start refused or accepted the alarms as they were).
pub fn alarm_stops(dep: &Deployment, alarm: &crate::model::AlarmView) -> bool {
    match alarm.state {
        AlarmState::Missing => true,
        AlarmState::Alarm => {
            let fresh = alarm.updated_at.is_none_or(|t| t >= dep.created_at);
            !dep.options.ignore_firing_alarms || fresh
        }
        AlarmState::Ok | AlarmState::InsufficientData => false,
    }
}

/// Whether alarms are read in the deployment's current state.
fn watching_alarms(dep: &Deployment) -> bool {
    !dep.options.alarms.is_empty()
        && dep.status().is_running()
        && !matches!(dep.phase, Phase::Cleaning { .. })
}

/// A step of a platform's lifecycle: a lifecycle event, or one of ECS's two waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Event(LifecycleEvent),
    /// Wait at Ready for `cutover continue` (ECS, when the group asks).
    ReadyWait,
    /// Make the replacement primary, keep the original for the termination wait, delete it.
    Terminate,
}

fn stages(target: &Target) -> Vec<Stage> {
    use LifecycleEvent::*;
    match target {
        Target::Lambda(_) => [BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic, End]
            .into_iter()
            .map(Stage::Event)
            .collect(),
        Target::Ecs(_) => vec![
            Stage::Event(BeforeInstall),
            Stage::Event(Install),
            Stage::Event(AfterInstall),
            Stage::Event(AllowTestTraffic),
            Stage::Event(AfterAllowTestTraffic),
            Stage::ReadyWait,
            Stage::Event(BeforeAllowTraffic),
            Stage::Event(AllowTraffic),
            Stage::Event(AfterAllowTraffic),
            Stage::Terminate,
            Stage::Event(End),
        ],
    }
}

/// Ends an unfinished deployment at once without touching its target (`stop --force`):
/// status Stopped, error `ABANDONED`, with a message saying where the target was left as
/// last recorded. `None` when the deployment is already done.
pub fn abandon(dep: &Deployment, reason: Option<&str>, now: Millis) -> Option<Decision> {
    if dep.is_done() {
        return None;
    }
    let mut c = Ctx {
        d: dep.clone(),
        actions: Vec::new(),
        log: Vec::new(),
        now: now.max(dep.decided_at),
    };
    let split: Vec<String> =
        c.d.traffic_split()
            .iter()
            .map(|(label, w)| {
                let replacement = label != c.d.target.current_label();
                format!("{w}% on {}", c.d.target.side(replacement))
            })
            .collect();
    let rolling_back = matches!(c.d.phase, Phase::RollingBack { .. });
    let mut message = format!(
        "abandoned on request{}: Cutover stopped driving it and left {} as last recorded ({}{}); check it and set it by hand",
        reason.map(|r| format!(" ({r})")).unwrap_or_default(),
        c.d.target.name(),
        split.join(", "),
        if rolling_back { ", rollback not confirmed" } else { "" }
    );
    if let Some(previous) = c.d.error() {
        message.push_str(&format!(
            "; it had {}: {}",
            previous.code.as_str(),
            previous.message
        ));
    }
    if c.d.status().is_terminal() {
        // Ended already, but its rollback never showed: keep the failure, record the end.
        c.log
            .push(format!("{}: {message}", ErrorCode::Abandoned.as_str()));
        let error = DeploymentError {
            code: ErrorCode::Abandoned,
            message,
        };
        c.d.phase = Phase::Done(End::Halted {
            halt: Halt::new(DeploymentStatus::Stopped, error),
            rolled_back: false,
        });
        c.d.ended_at = Some(c.now);
        c.actions
            .push(Action::Notify(NotificationKind::DeploymentStop));
    } else {
        c.fail(
            DeploymentStatus::Stopped,
            ErrorCode::Abandoned,
            message,
            false,
        );
    }
    let now = c.now;
    c.d.decided_at = now;
    Some(Decision {
        next: c.d,
        actions: c.actions,
        wake_after: None,
        sleep_after: None,
        log: c.log,
    })
}

/// Decides what happens next. Pure: the same inputs give the same outputs.
pub fn decide(dep: &Deployment, obs: &Observation, now: Millis) -> Decision {
    // A clock behind the last saved decision's (another machine's) never moves time back.
    let now = now.max(dep.decided_at);
    let mut c = Ctx {
        d: dep.clone(),
        actions: Vec::new(),
        log: Vec::new(),
        now,
    };
    if !c.d.is_done() {
        step(&mut c, obs);
    }
    if c.d != *dep || !c.actions.is_empty() || !c.log.is_empty() {
        c.d.decided_at = now;
    }
    for line in &mut c.log {
        *line = crate::text::clean(line, 2 * crate::text::MAX_TEXT_BYTES);
    }
    Decision {
        wake_after: wake_after(&c.d, now, false),
        sleep_after: wake_after(&c.d, now, true),
        next: c.d,
        actions: c.actions,
        log: c.log,
    }
}

fn step(c: &mut Ctx, obs: &Observation) {
    let now = c.now;
    let auto = c.d.options.auto_rollback;

    // An operator's stop wins over everything but a rollback already under way.
    if let Some(stop) = &obs.stop {
        if !c.d.status().is_terminal() {
            let reason = stop
                .reason
                .clone()
                .unwrap_or_else(|| "stopped on request".into());
            c.fail(
                DeploymentStatus::Stopped,
                ErrorCode::ManualStop,
                reason,
                stop.rollback,
            );
            return;
        }
    }

    if c.d.phase == Phase::Created {
        c.d.started_at = Some(now);
        c.set_event(LifecycleEvent::Start, EventStatus::Succeeded, None);
        c.actions
            .push(Action::Notify(NotificationKind::DeploymentStart));
        c.enter_after(Stage::Event(LifecycleEvent::Start));
        return;
    }

    // Someone else's change to the traffic first: touch nothing more.
    if let Some((code, msg)) = modified(&c.d, obs) {
        c.fail(DeploymentStatus::Failed, code, msg, false);
        return;
    }

    // Alarms next: a firing alarm stops the deployment wherever it is.
    if watching_alarms(&c.d) {
        if let Some(alarms) = &obs.alarms {
            for a in alarms {
                match a.state {
                    AlarmState::Missing => {
                        let msg = format!("alarm {} no longer exists", a.name);
                        c.fail(
                            DeploymentStatus::Failed,
                            ErrorCode::AlarmConfigError,
                            msg,
                            auto,
                        );
                        return;
                    }
                    AlarmState::Alarm => {
                        if alarm_stops(&c.d, a) {
                            let msg = format!("alarm {} is in ALARM", a.name);
                            let rollback = c.d.options.rollback_on_alarm;
                            c.fail(
                                DeploymentStatus::Failed,
                                ErrorCode::AlarmActive,
                                msg,
                                rollback,
                            );
                            if let Phase::RollingBack { alarm_at, .. } = &mut c.d.phase {
                                *alarm_at = Some(a.updated_at.unwrap_or(now).min(now));
                            }
                            return;
                        }
                    }
                    AlarmState::Ok | AlarmState::InsufficientData => {}
                }
            }
        }
    }

    if let Some(ts) = &obs.task_sets {
        if c.d.task_sets != *ts {
            c.d.task_sets = ts.clone();
        }
    }

    match c.d.phase.clone() {
        Phase::Created | Phase::Done(_) => {}
        Phase::Hook(hook) => hooks::hook_step(c, obs, hook),
        Phase::Shifting { step, attempts } => {
            let weight = c.d.schedule()[step].weight;
            match traffic_seen(&c.d, obs, weight, false) {
                Seen::Unread => {}
                Seen::Matches => {
                    c.d.traffic = weight;
                    if obs.alias_revision.is_some() {
                        c.d.alias_revision = obs.alias_revision.clone();
                    }
                    let schedule = c.d.schedule();
                    let wait = c.d.options.scaled_ms(schedule[step].wait_seconds);
                    let detail = format!(
                        "step {}/{}: {weight}% on {} confirmed",
                        step + 1,
                        schedule.len(),
                        c.d.target.side(true)
                    );
                    c.log.push(format!("AllowTraffic: {detail}"));
                    c.set_detail(LifecycleEvent::AllowTraffic, detail);
                    c.d.phase = Phase::Baking {
                        step,
                        until: now + wait,
                    };
                    baking_step(c, step, now + wait);
                }
                Seen::Differs if attempts < MAX_ROUTE_ATTEMPTS => {
                    c.d.phase = Phase::Shifting {
                        step,
                        attempts: attempts + 1,
                    };
                    c.actions.push(Action::Route { weight });
                }
                Seen::Differs => {
                    let msg = format!(
                        "production traffic did not show {weight}% on {} after {attempts} attempts",
                        c.d.target.side(true)
                    );
                    c.fail(
                        DeploymentStatus::Failed,
                        ErrorCode::TrafficNotConfirmed,
                        msg,
                        auto,
                    );
                }
                Seen::Foreign(code, msg) => {
                    c.fail(DeploymentStatus::Failed, code, msg, false);
                }
            }
        }
        Phase::Baking { step, until } => baking_step(c, step, until),
        Phase::Installing { since, attempts } => ecs::installing_step(c, obs, since, attempts),
        Phase::TestRouting { attempts } => match traffic_seen(&c.d, obs, 100, true) {
            Seen::Unread => {}
            Seen::Matches => {
                c.set_event(
                    LifecycleEvent::AllowTestTraffic,
                    EventStatus::Succeeded,
                    Some("test listener forwards to the replacement".into()),
                );
                c.enter_after(Stage::Event(LifecycleEvent::AllowTestTraffic));
            }
            Seen::Differs if attempts < MAX_ROUTE_ATTEMPTS => {
                c.d.phase = Phase::TestRouting {
                    attempts: attempts + 1,
                };
                c.actions.push(Action::RouteTest { weight: 100 });
            }
            Seen::Differs => {
                let msg = format!(
                    "the test listener did not forward to the replacement after {attempts} attempts"
                );
                c.fail(
                    DeploymentStatus::Failed,
                    ErrorCode::TrafficNotConfirmed,
                    msg,
                    auto,
                );
            }
            Seen::Foreign(code, msg) => c.fail(DeploymentStatus::Failed, code, msg, false),
        },
        Phase::Ready { until } => {
            if obs.proceed {
                c.log.push(match &obs.requested_by {
                    Some(who) => format!(
                        "Ready: continued on request, {}",
                        crate::text::requested_by(who)
                    ),
                    None => "Ready: continued on request".into(),
                });
                c.enter_after(Stage::ReadyWait);
            } else if now >= until {
                let minutes = c.ecs().and_then(|t| t.ready_wait_minutes).unwrap_or(0);
                let msg = format!(
                    "no `cutover continue {}` within the ready wait of {minutes} min",
                    c.d.id
                );
                c.fail(DeploymentStatus::Failed, ErrorCode::Timeout, msg, auto);
            }
        }
        Phase::Terminating { until, continued } => {
            ecs::terminating_step(c, obs, until, continued || obs.proceed)
        }
        Phase::Cleaning { attempts } => ecs::cleaning_step(c, obs, attempts),
        Phase::RollingBack {
            attempts,
            landing,
            since,
            ..
        } => rolling_back_step(c, obs, attempts, landing, since),
    }
}

fn rolling_back_step(
    c: &mut Ctx,
    obs: &Observation,
    attempts: u32,
    landing: Option<u8>,
    since: Millis,
) {
    if c.d.target.ecs().is_some() {
        return ecs::rolling_back_step(c, obs, attempts, since);
    }
    lambda::rolling_back_step(c, obs, attempts, landing);
}

fn baking_step(c: &mut Ctx, step: usize, until: Millis) {
    if c.now < until {
        return;
    }
    let schedule = c.d.schedule();
    if step + 1 < schedule.len() {
        c.begin_shift(step + 1);
    } else {
        let detail = format!("100% on {}", c.d.target.side(true));
        c.set_event(
            LifecycleEvent::AllowTraffic,
            EventStatus::Succeeded,
            Some(detail),
        );
        c.enter_after(Stage::Event(LifecycleEvent::AllowTraffic));
    }
}

/// When the deployment wants to be ticked again after reaching `dep`'s state at `now`.
/// `woken`: the driver is woken by every input (a stop, a `continue`, a hook's report, an
/// alarm event), so it needs to look only at deadlines, and at the alarm poll interval
/// while alarms are watched (a lost alarm event's backstop); otherwise it also looks at
/// the poll interval for inputs another process recorded.
fn wake_after(dep: &Deployment, now: Millis, woken: bool) -> Option<Millis> {
    let poll = dep.options.alarm_poll_seconds * 1000;
    let watching = watching_alarms(dep);
    let capped = |t: Millis| if watching { t.min(poll) } else { t };
    // What only an input can end: looked at again at the poll interval unless inputs wake.
    let input = |t: Millis| if woken { t } else { t.min(poll) };
    let backoff = |attempts: u32| match attempts {
        0 | 1 => 0,
        n => (CONFIRM_RETRY_MS << (n - 2).min(5)).min(30_000),
    };
    match &dep.phase {
        Phase::Done(_) => None,
        Phase::Created => Some(0),
        Phase::Shifting { attempts, .. } | Phase::TestRouting { attempts } => {
            Some(if *attempts <= 1 { 0 } else { CONFIRM_RETRY_MS })
        }
        Phase::RollingBack {
            attempts, since, ..
        } if dep.target.ecs().is_some() => {
            let settle = (since + dep.options.scaled_ms(ECS_SETTLE_SECONDS)).saturating_sub(now);
            Some(backoff(*attempts).max(settle.min(5_000)))
        }
        Phase::RollingBack { attempts, .. } | Phase::Cleaning { attempts } => {
            Some(backoff(*attempts))
        }
        Phase::Baking { until, .. } => Some(capped(until.saturating_sub(now))),
        Phase::Installing { since, .. } => {
            let deadline = since + dep.options.scaled_ms(dep.options.install_timeout_seconds);
            Some(capped(deadline.saturating_sub(now).min(INSTALL_POLL_MS)))
        }
        // An operator's `continue` ends these waits early.
        Phase::Ready { until } | Phase::Terminating { until, .. } => {
            Some(capped(input(until.saturating_sub(now))))
        }
        Phase::Hook(h) => {
            let deadline = h.started_at + dep.options.hook_timeout_seconds * 1000;
            let mut t = deadline.saturating_sub(now);
            if let Some(until) = h.in_flight_until {
                // The tick that claimed the invocation decides on its answer; another looks
                // when the claim lapses, or sooner for a report.
                t = input(t.min(until.saturating_sub(now)));
            } else if let Some(at) = h.next_invoke_at {
                t = t.min(at.saturating_sub(now));
            } else {
                // Waiting for the hook's report.
                t = input(t);
            }
            Some(capped(t))
        }
    }
}
