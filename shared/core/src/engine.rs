//! The engine: a pure function from (deployment, observation, now) to the next deployment
//! state, the actions to perform, and when to be woken again.
//!
//! Callers first ask [`needs`] what to observe (alias, alarms, a hook invocation), observe
//! exactly that, then call [`decide`]. Actions are absolute (set the weight to N %), so
//! executing them twice is harmless.

use crate::model::{
    AlarmState, Deployment, DeploymentError, DeploymentStatus, ErrorCode, EventStatus,
    HookExecution, HookResponse, Millis, Observation, Phase,
};
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};

/// How many times a weight is set without the alias showing it before the deployment fails.
pub const MAX_ROUTE_ATTEMPTS: u32 = 5;
/// Delay between attempts to confirm a weight.
pub const CONFIRM_RETRY_MS: Millis = 1000;

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
    /// Put `weight` % of traffic on the target version and the rest on the current one.
    /// 0 means the alias on the current version with no routing config; 100 means the alias
    /// on the target version with no routing config.
    Route {
        /// Percent on the target.
        weight: u8,
    },
    /// Publish a notification (after the new state is saved).
    Notify(NotificationKind),
}

/// A hook function to invoke as part of observing.
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
    /// Read the watched alarms.
    pub alarms: bool,
    /// Invoke this hook and report its answer as `hook_response`.
    pub invoke_hook: Option<HookInvocation>,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The deployment's next state.
    pub next: Deployment,
    /// What to do, in order.
    pub actions: Vec<Action>,
    /// When to decide again; `None` when the deployment is done.
    pub wake_after: Option<Millis>,
    /// Lines for the deployment's event log.
    pub log: Vec<String>,
}

/// The payload a hook receives: CodeDeploy's two fields plus what users asked for.
pub fn hook_payload(dep: &Deployment, hook: &HookExecution) -> serde_json::Value {
    serde_json::json!({
        "DeploymentId": dep.id,
        "LifecycleEventHookExecutionId": hook.execution_id,
        "LifecycleEvent": hook.event.as_str(),
        "FunctionName": dep.target.function,
        "Alias": dep.target.alias,
        "CurrentVersion": dep.target.current_version,
        "TargetVersion": dep.target.target_version,
        "TrafficWeight": dep.traffic,
    })
}

/// The hook execution id for an event of a deployment. Deterministic, so a repeated tick
/// creates the same one; the deployment's secret `hook_token` (random, set at creation and
/// shown only to hooks) keeps it from being guessed from the deployment id.
pub fn execution_id(dep: &Deployment, event: LifecycleEvent) -> String {
    if dep.hook_token.is_empty() {
        format!("{}-{}", dep.id, event.as_str())
    } else {
        format!("{}-{}-{}", dep.id, event.as_str(), dep.hook_token)
    }
}

/// What must be observed before [`decide`] can run at `now`.
pub fn needs(dep: &Deployment, now: Millis) -> Needs {
    let watching = !dep.options.alarms.is_empty() && dep.status == DeploymentStatus::InProgress;
    match &dep.phase {
        Phase::Created | Phase::Done => Needs::default(),
        Phase::Hook { .. } => Needs {
            alias: false,
            alarms: watching,
            invoke_hook: dep
                .hook
                .as_ref()
                .filter(|h| h.next_invoke_at.is_some_and(|t| t <= now))
                // Past the deadline the verdict no longer matters: decide the timeout.
                .filter(|h| now < h.started_at + dep.options.hook_timeout_seconds * 1000)
                .map(|h| HookInvocation {
                    function: h.function.clone(),
                    payload: hook_payload(dep, h),
                }),
        },
        Phase::Shifting { .. } => Needs {
            alias: true,
            alarms: watching,
            invoke_hook: None,
        },
        Phase::Baking { .. } => Needs {
            alias: false,
            alarms: watching,
            invoke_hook: None,
        },
        Phase::RollingBack { .. } => Needs {
            alias: true,
            alarms: false,
            invoke_hook: None,
        },
    }
}

struct Ctx {
    d: Deployment,
    actions: Vec<Action>,
    log: Vec<String>,
    now: Millis,
}

impl Ctx {
    fn set_event(&mut self, name: LifecycleEvent, status: EventStatus, detail: Option<String>) {
        let now = self.now;
        if let Some(e) = self.d.events.iter_mut().find(|e| e.name == name) {
            if status == EventStatus::InProgress && e.started_at.is_none() {
                e.started_at = Some(now);
            }
            if matches!(status, EventStatus::Succeeded | EventStatus::Failed) {
                if e.started_at.is_none() {
                    e.started_at = Some(now);
                }
                e.ended_at = Some(now);
            }
            e.status = status;
            if detail.is_some() {
                e.detail = detail;
            }
        }
        self.log.push(format!("{name}: {status:?}"));
    }

    fn set_detail(&mut self, name: LifecycleEvent, detail: String) {
        if let Some(e) = self.d.events.iter_mut().find(|e| e.name == name) {
            e.detail = Some(detail);
        }
    }

    /// Lifecycle order for Lambda, after `event`.
    fn enter_after(&mut self, event: LifecycleEvent) {
        let order = [
            LifecycleEvent::BeforeAllowTraffic,
            LifecycleEvent::AllowTraffic,
            LifecycleEvent::AfterAllowTraffic,
            LifecycleEvent::End,
        ];
        let start = match order.iter().position(|e| *e == event) {
            Some(i) => i + 1,
            None => 0,
        };
        for next in order.into_iter().skip(start) {
            match next {
                LifecycleEvent::AllowTraffic => {
                    self.set_event(next, EventStatus::InProgress, None);
                    self.begin_shift(0);
                    return;
                }
                LifecycleEvent::End => {
                    self.set_event(next, EventStatus::Succeeded, None);
                    self.d.status = DeploymentStatus::Succeeded;
                    self.d.phase = Phase::Done;
                    self.d.ended_at = Some(self.now);
                    self.actions
                        .push(Action::Notify(NotificationKind::DeploymentSuccess));
                    return;
                }
                hook_event => match self.d.hook_function(hook_event).map(str::to_string) {
                    Some(function) => {
                        self.set_event(hook_event, EventStatus::InProgress, None);
                        let execution_id = execution_id(&self.d, hook_event);
                        self.d.hook = Some(HookExecution {
                            event: hook_event,
                            function,
                            execution_id,
                            started_at: self.now,
                            next_invoke_at: Some(self.now),
                            invocations: 0,
                        });
                        self.d.phase = Phase::Hook { event: hook_event };
                        return;
                    }
                    None => self.set_event(
                        hook_event,
                        EventStatus::Skipped,
                        Some("no hook configured".into()),
                    ),
                },
            }
        }
    }

    fn begin_shift(&mut self, step: usize) {
        let schedule = self.d.schedule();
        let weight = schedule[step].weight;
        self.d.phase = Phase::Shifting { step, attempts: 1 };
        self.actions.push(Action::Route { weight });
        self.log.push(format!(
            "AllowTraffic: step {}/{}: setting {weight}% on version {}",
            step + 1,
            schedule.len(),
            self.d.target.target_version
        ));
    }

    /// The deployment failed (or was stopped): record why and roll back if asked.
    fn fail(&mut self, status: DeploymentStatus, code: ErrorCode, message: String, rollback: bool) {
        let running = self
            .d
            .events
            .iter()
            .find(|e| e.status == EventStatus::InProgress)
            .map(|e| e.name);
        if let Some(name) = running {
            self.set_event(name, EventStatus::Failed, Some(message.clone()));
        }
        let now = self.now;
        for e in self
            .d
            .events
            .iter_mut()
            .filter(|e| e.status == EventStatus::Pending)
        {
            e.status = EventStatus::Skipped;
            e.ended_at = Some(now);
        }
        self.d.status = status;
        self.d.hook = None;
        self.log
            .push(format!("{status}: {} {message}", code.as_str()));
        self.d.error = Some(DeploymentError { code, message });
        self.actions
            .push(Action::Notify(if status == DeploymentStatus::Stopped {
                NotificationKind::DeploymentStop
            } else {
                NotificationKind::DeploymentFailure
            }));
        // Traffic was touched once AllowTraffic began; before that the alias is untouched.
        let touched = self
            .d
            .event(LifecycleEvent::AllowTraffic)
            .is_some_and(|e| e.started_at.is_some());
        if rollback && touched {
            self.d.phase = Phase::RollingBack { attempts: 1 };
            self.actions.push(Action::Route { weight: 0 });
            self.log.push(format!(
                "rolling back: all traffic to version {}",
                self.d.target.current_version
            ));
        } else {
            self.d.phase = Phase::Done;
            self.d.ended_at = Some(now);
        }
    }
}

/// How far the alias shows `weight` % on the target: `Some(true)` when it does,
/// `Some(false)` when it shows another split of the two versions, `None` when it shows a
/// version outside the deployment (someone else changed it).
fn alias_matches(dep: &Deployment, alias: &crate::model::AliasView, weight: u8) -> Option<bool> {
    let (cur, tgt) = (&dep.target.current_version, &dep.target.target_version);
    let ours = |v: &String| v == cur || v == tgt;
    if !ours(&alias.version) || alias.additional.as_ref().is_some_and(|(v, _)| !ours(v)) {
        return None;
    }
    let on_target = match &alias.additional {
        None => {
            if &alias.version == tgt {
                1.0
            } else {
                0.0
            }
        }
        Some((v, w)) if v == tgt && &alias.version == cur => *w,
        Some((v, w)) if v == cur && &alias.version == tgt => 1.0 - *w,
        Some(_) => return None,
    };
    let exact_ends = match weight {
        0 => alias.additional.is_none() && &alias.version == cur,
        100 => alias.additional.is_none() && &alias.version == tgt,
        _ => true,
    };
    Some(exact_ends && (on_target - f64::from(weight) / 100.0).abs() < 1e-6)
}

/// Decides what happens next. Pure: the same inputs give the same outputs.
pub fn decide(dep: &Deployment, obs: &Observation, now: Millis) -> Decision {
    let mut c = Ctx {
        d: dep.clone(),
        actions: Vec::new(),
        log: Vec::new(),
        now,
    };
    if c.d.phase != Phase::Done {
        step(&mut c, obs);
    }
    let wake_after = wake_after(&c.d, now);
    Decision {
        next: c.d,
        actions: c.actions,
        wake_after,
        log: c.log,
    }
}

fn step(c: &mut Ctx, obs: &Observation) {
    let now = c.now;
    let auto = c.d.options.auto_rollback;

    // An operator's stop wins over everything but a rollback already under way.
    if let Some(stop) = &obs.stop {
        if !c.d.status.is_terminal() {
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
        c.d.status = DeploymentStatus::InProgress;
        c.d.started_at = Some(now);
        c.set_event(LifecycleEvent::Start, EventStatus::Succeeded, None);
        c.actions
            .push(Action::Notify(NotificationKind::DeploymentStart));
        c.enter_after(LifecycleEvent::Start);
        return;
    }

    // Alarms first: a firing alarm stops the deployment wherever it is.
    if c.d.status == DeploymentStatus::InProgress {
        if let Some(alarms) = &obs.alarms {
            // "New" means a transition at or after the deployment was recorded, when the
            // start refused or accepted the alarms as they were.
            let started = c.d.created_at;
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
                        let fresh = a.updated_at.is_none_or(|t| t >= started);
                        if !c.d.options.ignore_firing_alarms || fresh {
                            let msg = format!("alarm {} is in ALARM", a.name);
                            c.fail(DeploymentStatus::Failed, ErrorCode::AlarmActive, msg, auto);
                            return;
                        }
                    }
                    AlarmState::Ok | AlarmState::InsufficientData => {}
                }
            }
        }
    }

    match c.d.phase.clone() {
        Phase::Created | Phase::Done => {}
        Phase::Hook { event } => hook_step(c, obs, event),
        Phase::Shifting { step, attempts } => {
            let Some(alias) = &obs.alias else { return };
            let weight = c.d.schedule()[step].weight;
            match alias_matches(&c.d, alias, weight) {
                Some(true) => {
                    c.d.traffic = weight;
                    let schedule = c.d.schedule();
                    let wait = c.d.options.scaled_ms(schedule[step].wait_seconds);
                    let detail = format!(
                        "step {}/{}: {weight}% on version {} confirmed",
                        step + 1,
                        schedule.len(),
                        c.d.target.target_version
                    );
                    c.log.push(format!("AllowTraffic: {detail}"));
                    c.set_detail(LifecycleEvent::AllowTraffic, detail);
                    c.d.phase = Phase::Baking {
                        step,
                        until: now + wait,
                    };
                    baking_step(c, step, now + wait);
                }
                Some(false) if attempts < MAX_ROUTE_ATTEMPTS => {
                    c.d.phase = Phase::Shifting {
                        step,
                        attempts: attempts + 1,
                    };
                    c.actions.push(Action::Route { weight });
                }
                Some(false) => {
                    let msg = format!(
                        "the alias did not show {weight}% on version {} after {attempts} attempts",
                        c.d.target.target_version
                    );
                    c.fail(
                        DeploymentStatus::Failed,
                        ErrorCode::TrafficNotConfirmed,
                        msg,
                        auto,
                    );
                }
                None => {
                    let msg = format!(
                        "alias {} was changed outside this deployment (now on version {}); \
                         Cutover left it as it is",
                        c.d.target.alias, alias.version
                    );
                    c.fail(
                        DeploymentStatus::Failed,
                        ErrorCode::AliasModified,
                        msg,
                        false,
                    );
                }
            }
        }
        Phase::Baking { step, until } => baking_step(c, step, until),
        Phase::RollingBack { attempts } => {
            let Some(alias) = &obs.alias else { return };
            match alias_matches(&c.d, alias, 0) {
                Some(true) => {
                    c.d.traffic = 0;
                    c.d.rolled_back = true;
                    c.d.phase = Phase::Done;
                    c.d.ended_at = Some(now);
                    c.actions
                        .push(Action::Notify(NotificationKind::DeploymentRollback));
                    c.log.push(format!(
                        "rolled back: all traffic on version {}",
                        c.d.target.current_version
                    ));
                }
                Some(false) => {
                    // Never give up on a rollback while the alias is ours: keep the lock
                    // and set it again, with a growing delay.
                    c.d.phase = Phase::RollingBack {
                        attempts: attempts.saturating_add(1),
                    };
                    c.actions.push(Action::Route { weight: 0 });
                }
                None => {
                    c.d.phase = Phase::Done;
                    c.d.ended_at = Some(now);
                    let note = format!(
                        " (rollback not confirmed: alias {} shows version {})",
                        c.d.target.alias, alias.version
                    );
                    if let Some(e) = c.d.error.as_mut() {
                        e.message.push_str(&note);
                    }
                    c.log.push(note);
                }
            }
        }
    }
}

fn baking_step(c: &mut Ctx, step: usize, until: Millis) {
    if c.now < until {
        return;
    }
    let schedule = c.d.schedule();
    if step + 1 < schedule.len() {
        c.begin_shift(step + 1);
    } else {
        let detail = format!("100% on version {}", c.d.target.target_version);
        c.set_event(
            LifecycleEvent::AllowTraffic,
            EventStatus::Succeeded,
            Some(detail),
        );
        c.enter_after(LifecycleEvent::AllowTraffic);
    }
}

fn hook_step(c: &mut Ctx, obs: &Observation, event: LifecycleEvent) {
    let now = c.now;
    let auto = c.d.options.auto_rollback;
    let Some(mut hook) = c.d.hook.clone() else {
        // A hook phase without a hook record cannot happen; move on rather than stall.
        c.enter_after(event);
        return;
    };
    let mut verdict: Option<Result<String, String>> = None;
    if let Some(report) = obs
        .hook_report
        .as_ref()
        .filter(|r| r.execution_id == hook.execution_id)
    {
        verdict = Some(if report.succeeded {
            Ok("hook reported Succeeded".into())
        } else {
            Err(format!("hook {} reported Failed", hook.function))
        });
    } else if let Some(resp) = &obs.hook_response {
        hook.invocations += 1;
        match resp {
            HookResponse::Succeeded => verdict = Some(Ok("hook returned Succeeded".into())),
            HookResponse::Failed(reason) => {
                verdict = Some(Err(format!(
                    "hook {} returned Failed: {reason}",
                    hook.function
                )))
            }
            HookResponse::FunctionError(err) => {
                verdict = Some(Err(format!(
                    "hook {} raised an error: {err}",
                    hook.function
                )))
            }
            HookResponse::InProgress => {
                hook.next_invoke_at =
                    Some(now + c.d.options.scaled_ms(c.d.options.hook_retry_seconds));
                c.set_detail(
                    event,
                    format!(
                        "hook answered InProgress ({} invocations)",
                        hook.invocations
                    ),
                );
            }
            HookResponse::Deferred => {
                hook.next_invoke_at = None;
                c.set_detail(event, format!("waiting for {} to report", hook.function));
            }
        }
    }
    match verdict {
        Some(Ok(detail)) => {
            c.d.hook = None;
            c.set_event(event, EventStatus::Succeeded, Some(detail));
            c.enter_after(event);
        }
        Some(Err(msg)) => {
            c.d.hook = None;
            c.fail(
                DeploymentStatus::Failed,
                ErrorCode::HookExecutionFailure,
                msg,
                auto,
            );
        }
        None => {
            let deadline = hook.started_at + c.d.options.hook_timeout_seconds * 1000;
            let function = hook.function.clone();
            c.d.hook = Some(hook);
            if now >= deadline {
                let msg = format!(
                    "{event} hook {function} gave no verdict within {} s",
                    c.d.options.hook_timeout_seconds
                );
                c.fail(DeploymentStatus::Failed, ErrorCode::Timeout, msg, auto);
            }
        }
    }
}

/// When the deployment wants to be ticked again after reaching `dep`'s state at `now`.
fn wake_after(dep: &Deployment, now: Millis) -> Option<Millis> {
    let poll = dep.options.alarm_poll_seconds * 1000;
    let watching = !dep.options.alarms.is_empty() && dep.status == DeploymentStatus::InProgress;
    let capped = |t: Millis| if watching { t.min(poll) } else { t };
    match &dep.phase {
        Phase::Done => None,
        Phase::Created => Some(0),
        Phase::Shifting { attempts, .. } => Some(if *attempts <= 1 { 0 } else { CONFIRM_RETRY_MS }),
        Phase::RollingBack { attempts } => Some(match attempts {
            0 | 1 => 0,
            n => (CONFIRM_RETRY_MS << (n - 2).min(5)).min(30_000),
        }),
        Phase::Baking { until, .. } => Some(capped(until.saturating_sub(now))),
        Phase::Hook { .. } => {
            let Some(h) = &dep.hook else { return Some(0) };
            let deadline = h.started_at + dep.options.hook_timeout_seconds * 1000;
            let mut t = deadline.saturating_sub(now);
            if let Some(at) = h.next_invoke_at {
                t = t.min(at.saturating_sub(now));
            } else {
                // Waiting for a report: look again at the poll interval so a report that
                // arrived through another path is picked up by the driver's loop.
                t = t.min(poll);
            }
            Some(capped(t))
        }
    }
}
