//! The engine: a pure function from (deployment, observation, now) to the next deployment
//! state, the actions to perform, and when to be woken again.
//!
//! Callers first ask [`needs`] what to observe (alias, alarms, a hook invocation), observe
//! exactly that, then call [`decide`]. Actions are absolute (set the weight to N %), so
//! executing them twice is harmless.

use crate::model::{
    AlarmState, Deployment, DeploymentError, DeploymentStatus, EcsTarget, ErrorCode, EventStatus,
    HookExecution, HookResponse, LambdaTarget, Millis, Observation, Phase, Target,
};
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};

/// How many times a weight is set without the alias showing it before the deployment fails.
pub const MAX_ROUTE_ATTEMPTS: u32 = 5;
/// Delay between attempts to confirm a weight.
pub const CONFIRM_RETRY_MS: Millis = 1000;
/// How often an installing ECS task set is looked at.
pub const INSTALL_POLL_MS: Millis = 2000;
/// How many times the original task set's removal is asked for before giving up.
pub const MAX_CLEANUP_ATTEMPTS: u32 = 8;

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
    /// ECS: read the production and test listeners.
    pub listeners: bool,
    /// ECS: read the service's task sets.
    pub task_sets: bool,
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
    let mut payload = serde_json::json!({
        "DeploymentId": dep.id,
        "LifecycleEventHookExecutionId": hook.execution_id,
        "LifecycleEvent": hook.event.as_str(),
        "TrafficWeight": dep.traffic,
    });
    let extra = match &dep.target {
        Target::Lambda(t) => serde_json::json!({
            "FunctionName": t.function,
            "Alias": t.alias,
            "CurrentVersion": t.current_version,
            "TargetVersion": t.target_version,
        }),
        Target::Ecs(t) => serde_json::json!({
            "Cluster": t.cluster,
            "Service": t.service,
            "TaskDefinition": t.resource.task_definition,
            "OriginalTargetGroupArn": t.original_target_group,
            "ReplacementTargetGroupArn": t.replacement_target_group,
            "TestListenerArn": t.test_listener,
            "ReplacementTaskSetArn": replacement(dep).map(|ts| ts.arn.clone()),
        }),
    };
    if let (Some(p), serde_json::Value::Object(e)) = (payload.as_object_mut(), extra) {
        p.extend(e);
    }
    payload
}

/// The replacement task set as last read, if it exists.
pub fn replacement(dep: &Deployment) -> Option<&crate::model::TaskSetView> {
    dep.task_sets
        .iter()
        .find(|t| t.external_id.as_deref() == Some(dep.id.as_str()))
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
    let watching = watching_alarms(dep);
    let ecs = dep.target.ecs().is_some();
    let traffic = Needs {
        alias: !ecs,
        listeners: ecs,
        alarms: watching,
        ..Needs::default()
    };
    match &dep.phase {
        Phase::Created | Phase::Done => Needs::default(),
        Phase::Hook { .. } => Needs {
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
            ..Needs::default()
        },
        Phase::Shifting { .. } | Phase::TestRouting { .. } => traffic,
        Phase::Baking { .. } | Phase::Ready { .. } => Needs {
            alarms: watching,
            ..Needs::default()
        },
        Phase::Terminating { .. } => Needs {
            alarms: watching,
            task_sets: true,
            ..Needs::default()
        },
        Phase::Installing { .. } => Needs {
            alarms: watching,
            task_sets: true,
            ..Needs::default()
        },
        Phase::Cleaning { .. } => Needs {
            task_sets: true,
            ..Needs::default()
        },
        Phase::RollingBack { .. } => Needs {
            alarms: false,
            task_sets: ecs,
            ..traffic
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
        && dep.status.is_running()
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

    fn ecs(&self) -> Option<&EcsTarget> {
        self.d.target.ecs()
    }

    /// Enters the first stage after `after` that has something to do.
    fn enter_after(&mut self, after: Stage) {
        let order = stages(&self.d.target);
        let start = order.iter().position(|s| *s == after).map_or(0, |i| i + 1);
        for next in order.into_iter().skip(start) {
            match next {
                Stage::Event(LifecycleEvent::AllowTraffic) => {
                    self.set_event(LifecycleEvent::AllowTraffic, EventStatus::InProgress, None);
                    self.begin_shift(0);
                    return;
                }
                Stage::Event(LifecycleEvent::Install) => {
                    self.set_event(LifecycleEvent::Install, EventStatus::InProgress, None);
                    self.d.phase = Phase::Installing {
                        since: self.now,
                        attempts: 1,
                    };
                    self.actions.push(Action::CreateTaskSet);
                    let td = self
                        .ecs()
                        .map(|t| t.resource.task_definition.clone())
                        .unwrap_or_default();
                    self.log.push(format!(
                        "Install: creating the replacement task set on {td}"
                    ));
                    return;
                }
                Stage::Event(LifecycleEvent::AllowTestTraffic) => {
                    let test = self.ecs().and_then(|t| t.test_listener.clone());
                    match test {
                        Some(listener) => {
                            self.set_event(
                                LifecycleEvent::AllowTestTraffic,
                                EventStatus::InProgress,
                                None,
                            );
                            self.d.phase = Phase::TestRouting { attempts: 1 };
                            self.actions.push(Action::RouteTest { weight: 100 });
                            self.log.push(format!(
                                "AllowTestTraffic: test listener {listener} to the replacement"
                            ));
                            return;
                        }
                        None => self.set_event(
                            LifecycleEvent::AllowTestTraffic,
                            EventStatus::Skipped,
                            Some("no test listener in the deployment group".into()),
                        ),
                    }
                }
                Stage::ReadyWait => {
                    if let Some(minutes) = self.ecs().and_then(|t| t.ready_wait_minutes) {
                        let until = self.now + self.d.options.scaled_ms(u64::from(minutes) * 60);
                        self.d.status = DeploymentStatus::Ready;
                        self.d.phase = Phase::Ready { until };
                        self.log.push(format!(
                            "Ready: waiting up to {minutes} min for `cutover continue {}`",
                            self.d.id
                        ));
                        return;
                    }
                }
                Stage::Terminate => {
                    let minutes = self.ecs().map_or(0, |t| t.termination_wait_minutes);
                    let until = self.now + self.d.options.scaled_ms(u64::from(minutes) * 60);
                    self.d.phase = Phase::Terminating { until };
                    self.actions.push(Action::SetPrimary { replacement: true });
                    self.log.push(format!(
                        "replacement task set made primary; the original is kept for {minutes} min"
                    ));
                    return;
                }
                Stage::Event(LifecycleEvent::End) => {
                    self.set_event(LifecycleEvent::End, EventStatus::Succeeded, None);
                    self.d.status = DeploymentStatus::Succeeded;
                    self.d.phase = Phase::Done;
                    self.d.ended_at = Some(self.now);
                    self.actions
                        .push(Action::Notify(NotificationKind::DeploymentSuccess));
                    return;
                }
                Stage::Event(hook_event) => {
                    match self.d.hook_function(hook_event).map(str::to_string) {
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
                    }
                }
            }
        }
    }

    /// The actions that put everything back as it was before the deployment.
    fn push_rollback(&mut self) {
        self.actions.push(Action::Route { weight: 0 });
        if let Some(t) = self.d.target.ecs() {
            if t.test_listener.is_some() {
                self.actions.push(Action::RouteTest { weight: 0 });
            }
            self.actions.push(Action::SetPrimary { replacement: false });
            self.actions
                .push(Action::DeleteTaskSet { replacement: true });
        }
    }

    fn begin_shift(&mut self, step: usize) {
        let schedule = self.d.schedule();
        let weight = schedule[step].weight;
        self.d.phase = Phase::Shifting { step, attempts: 1 };
        self.actions.push(Action::Route { weight });
        self.log.push(format!(
            "AllowTraffic: step {}/{}: setting {weight}% on {}",
            step + 1,
            schedule.len(),
            self.d.target.side(true)
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
        // Lambda: the alias is touched once AllowTraffic began. ECS: the service is touched
        // once Install began; once the original task set is being deleted there is nothing
        // to go back to.
        let first = match &self.d.target {
            Target::Lambda(_) => LifecycleEvent::AllowTraffic,
            Target::Ecs(_) => LifecycleEvent::Install,
        };
        let touched = self.d.event(first).is_some_and(|e| e.started_at.is_some())
            && !matches!(self.d.phase, Phase::Cleaning { .. });
        if rollback && touched {
            self.d.phase = Phase::RollingBack { attempts: 1 };
            self.push_rollback();
            self.log.push(format!(
                "rolling back: all traffic to {}",
                self.d.target.side(false)
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
fn alias_matches(t: &LambdaTarget, alias: &crate::model::AliasView, weight: u8) -> Option<bool> {
    let (cur, tgt) = (&t.current_version, &t.target_version);
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

/// How a traffic reading compares with the weight that was set.
enum Seen {
    /// Not read in this observation.
    Unread,
    /// Shows exactly the weight.
    Matches,
    /// Shows another split of the deployment's two sides.
    Differs,
    /// Shows something outside the deployment; the message says what.
    Foreign(ErrorCode, String),
}

/// Compares the production (or the test) traffic as observed with `weight` % on the target.
fn traffic_seen(dep: &Deployment, obs: &Observation, weight: u8, test: bool) -> Seen {
    let verdict = |m: Option<bool>, foreign: &dyn Fn() -> (ErrorCode, String)| match m {
        Some(true) => Seen::Matches,
        Some(false) => Seen::Differs,
        None => {
            let (code, msg) = foreign();
            Seen::Foreign(code, msg)
        }
    };
    match &dep.target {
        Target::Lambda(t) => match &obs.alias {
            None => Seen::Unread,
            Some(alias) => verdict(alias_matches(t, alias, weight), &|| {
                (
                    ErrorCode::AliasModified,
                    format!(
                        "alias {} was changed outside this deployment (now on version {}); \
                         Cutover left it as it is",
                        t.alias, alias.version
                    ),
                )
            }),
        },
        Target::Ecs(t) => {
            let Some(listeners) = &obs.listeners else {
                return Seen::Unread;
            };
            let (arn, view) = if test {
                match (&t.test_listener, &listeners.test) {
                    (Some(arn), Some(v)) => (arn, v),
                    _ => return Seen::Unread,
                }
            } else {
                (&t.production_listener, &listeners.production)
            };
            let on = view.percent_on(&t.original_target_group, &t.replacement_target_group);
            verdict(on.map(|p| (p - f64::from(weight)).abs() < 1e-6), &|| {
                let to: Vec<String> = view
                    .forwards
                    .iter()
                    .map(|(tg, w)| format!("{} weight {w}", crate::model::last_segment(tg)))
                    .collect();
                (
                    ErrorCode::ListenerModified,
                    format!(
                        "listener {arn} was changed outside this deployment (forwards to {}); \
                         Cutover left it as it is",
                        to.join(", ")
                    ),
                )
            })
        }
    }
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
        c.enter_after(Stage::Event(LifecycleEvent::Start));
        return;
    }

    // Alarms first: a firing alarm stops the deployment wherever it is.
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
        Phase::Created | Phase::Done => {}
        Phase::Hook { event } => hook_step(c, obs, event),
        Phase::Shifting { step, attempts } => {
            let weight = c.d.schedule()[step].weight;
            match traffic_seen(&c.d, obs, weight, false) {
                Seen::Unread => {}
                Seen::Matches => {
                    c.d.traffic = weight;
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
        Phase::Installing { since, attempts } => installing_step(c, obs, since, attempts),
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
                c.d.status = DeploymentStatus::InProgress;
                c.log.push("Ready: continued on request".into());
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
        Phase::Terminating { until } => terminating_step(c, obs, until),
        Phase::Cleaning { attempts } => cleaning_step(c, obs, attempts),
        Phase::RollingBack { attempts } => rolling_back_step(c, obs, attempts),
    }
}

fn installing_step(c: &mut Ctx, obs: &Observation, since: Millis, attempts: u32) {
    let Some(sets) = &obs.task_sets else { return };
    let now = c.now;
    let deadline = since + c.d.options.scaled_ms(c.d.options.install_timeout_seconds);
    let found = sets
        .iter()
        .find(|t| t.external_id.as_deref() == Some(c.d.id.as_str()));
    match found {
        Some(ts) if ts.is_steady() => {
            let detail = format!(
                "task set {} steady: {}/{} tasks running",
                crate::model::last_segment(&ts.arn),
                ts.running,
                ts.desired
            );
            c.set_event(
                LifecycleEvent::Install,
                EventStatus::Succeeded,
                Some(detail),
            );
            c.enter_after(Stage::Event(LifecycleEvent::Install));
        }
        found => {
            let state = match found {
                Some(ts) => format!(
                    "{}/{} tasks running ({})",
                    ts.running, ts.desired, ts.stability
                ),
                None => "not created yet".to_string(),
            };
            if now >= deadline {
                let msg = format!(
                    "the replacement task set did not become steady within {} s ({state}); \
                     production traffic never moved to it",
                    c.d.options.install_timeout_seconds
                );
                let auto = c.d.options.auto_rollback;
                c.fail(
                    DeploymentStatus::Failed,
                    ErrorCode::ReplacementNotSteady,
                    msg,
                    auto,
                );
                return;
            }
            c.set_detail(LifecycleEvent::Install, format!("replacement: {state}"));
            if found.is_none() {
                c.d.phase = Phase::Installing {
                    since,
                    attempts: attempts.saturating_add(1),
                };
                c.actions.push(Action::CreateTaskSet);
            }
        }
    }
}

fn terminating_step(c: &mut Ctx, obs: &Observation, until: Millis) {
    let Some(sets) = &obs.task_sets else { return };
    let now = c.now;
    let Some(repl) = sets
        .iter()
        .find(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status != "DRAINING")
    else {
        // The original still exists: put everything back on it rather than delete it.
        let msg = "the replacement task set disappeared during the termination wait".to_string();
        let auto = c.d.options.auto_rollback;
        c.fail(
            DeploymentStatus::Failed,
            ErrorCode::InternalError,
            msg,
            auto,
        );
        return;
    };
    let primary = repl.status == "PRIMARY";
    if !primary {
        // Asked for on entry; a lost or failed call is asked again until it shows.
        c.actions.push(Action::SetPrimary { replacement: true });
    }
    if (obs.proceed || now >= until) && primary {
        c.d.phase = Phase::Cleaning { attempts: 1 };
        c.actions.push(Action::DeleteTaskSet { replacement: false });
        c.log.push(if obs.proceed {
            "termination wait ended on request: deleting the original task set".into()
        } else {
            "termination wait over: deleting the original task set".into()
        });
    }
}

fn cleaning_step(c: &mut Ctx, obs: &Observation, attempts: u32) {
    let Some(sets) = &obs.task_sets else { return };
    let Some(t) = c.ecs().cloned() else { return };
    // ECS keeps a deleted task set DRAINING while its targets deregister: the deletion
    // was accepted, there is nothing more to wait for.
    let original_gone = !sets
        .iter()
        .any(|s| s.arn == t.original_task_set && s.status != "DRAINING");
    let primary = sets
        .iter()
        .any(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status == "PRIMARY");
    if original_gone && primary {
        c.log.push(format!(
            "original task set {} deleted",
            crate::model::last_segment(&t.original_task_set)
        ));
        c.enter_after(Stage::Terminate);
    } else if attempts < MAX_CLEANUP_ATTEMPTS {
        c.d.phase = Phase::Cleaning {
            attempts: attempts + 1,
        };
        if !primary {
            c.actions.push(Action::SetPrimary { replacement: true });
        }
        if !original_gone {
            c.actions.push(Action::DeleteTaskSet { replacement: false });
        }
    } else {
        let msg = format!(
            "all traffic is on the replacement, but the original task set {} could not be \
             removed after {attempts} attempts; delete it by hand",
            t.original_task_set
        );
        c.fail(
            DeploymentStatus::Failed,
            ErrorCode::CleanupFailed,
            msg,
            false,
        );
    }
}

fn rolling_back_step(c: &mut Ctx, obs: &Observation, attempts: u32) {
    let now = c.now;
    let prod = traffic_seen(&c.d, obs, 0, false);
    if matches!(prod, Seen::Unread) {
        return;
    }
    // ECS: the test listener, the primary and the replacement must be back as well.
    let mut ecs_restored = true;
    let mut ecs_lost: Option<String> = None;
    if let Some(t) = c.ecs().cloned() {
        let Some(sets) = &obs.task_sets else { return };
        if t.test_listener.is_some() {
            match traffic_seen(&c.d, obs, 0, true) {
                // Someone else's test listener is left as it is; the rest of the rollback
                // still has to show.
                Seen::Matches | Seen::Foreign(..) => {}
                Seen::Differs | Seen::Unread => ecs_restored = false,
            }
        }
        match sets
            .iter()
            .find(|s| s.arn == t.original_task_set && s.status != "DRAINING")
        {
            None => {
                ecs_lost = Some(format!(
                    "the original task set {} no longer exists",
                    t.original_task_set
                ))
            }
            Some(s) if s.status != "PRIMARY" => ecs_restored = false,
            Some(_) => {}
        }
        if sets
            .iter()
            .any(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status != "DRAINING")
        {
            ecs_restored = false;
        }
    }
    let prod_restored = matches!(prod, Seen::Matches);
    let lost = match prod {
        Seen::Foreign(_, m) => Some(m),
        _ => ecs_lost,
    };
    match (lost, prod_restored && ecs_restored) {
        (Some(why), _) => {
            c.d.phase = Phase::Done;
            c.d.ended_at = Some(now);
            let note = format!(" (rollback not confirmed: {why})");
            if let Some(e) = c.d.error.as_mut() {
                e.message.push_str(&note);
            }
            c.log.push(note);
        }
        (None, true) => {
            c.d.traffic = 0;
            c.d.rolled_back = true;
            c.d.phase = Phase::Done;
            c.d.ended_at = Some(now);
            c.actions
                .push(Action::Notify(NotificationKind::DeploymentRollback));
            c.log.push(format!(
                "rolled back: all traffic on {}",
                c.d.target.side(false)
            ));
        }
        (None, false) => {
            // Never give up on a rollback while the resources are ours: keep the lock and
            // ask again, with a growing delay.
            c.d.phase = Phase::RollingBack {
                attempts: attempts.saturating_add(1),
            };
            c.push_rollback();
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
        let detail = format!("100% on {}", c.d.target.side(true));
        c.set_event(
            LifecycleEvent::AllowTraffic,
            EventStatus::Succeeded,
            Some(detail),
        );
        c.enter_after(Stage::Event(LifecycleEvent::AllowTraffic));
    }
}

fn hook_step(c: &mut Ctx, obs: &Observation, event: LifecycleEvent) {
    let now = c.now;
    let auto = c.d.options.auto_rollback;
    let Some(mut hook) = c.d.hook.clone() else {
        // A hook phase without a hook record cannot happen; move on rather than stall.
        c.enter_after(Stage::Event(event));
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
            c.enter_after(Stage::Event(event));
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
    let watching = watching_alarms(dep);
    let capped = |t: Millis| if watching { t.min(poll) } else { t };
    let backoff = |attempts: u32| match attempts {
        0 | 1 => 0,
        n => (CONFIRM_RETRY_MS << (n - 2).min(5)).min(30_000),
    };
    match &dep.phase {
        Phase::Done => None,
        Phase::Created => Some(0),
        Phase::Shifting { attempts, .. } | Phase::TestRouting { attempts } => {
            Some(if *attempts <= 1 { 0 } else { CONFIRM_RETRY_MS })
        }
        Phase::RollingBack { attempts } | Phase::Cleaning { attempts } => Some(backoff(*attempts)),
        Phase::Baking { until, .. } => Some(capped(until.saturating_sub(now))),
        Phase::Installing { since, .. } => {
            let deadline = since + dep.options.scaled_ms(dep.options.install_timeout_seconds);
            Some(capped(deadline.saturating_sub(now).min(INSTALL_POLL_MS)))
        }
        // An operator's `continue` may arrive through another process: look again at the
        // poll interval so a driver loop picks it up.
        Phase::Ready { until } | Phase::Terminating { until } => {
            Some(until.saturating_sub(now).min(poll))
        }
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
