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

/// The call [`Action::InvokeHook`] makes: the running hook's function and payload.
pub fn hook_call(dep: &Deployment) -> Option<HookInvocation> {
    dep.hook.as_ref().map(|h| HookInvocation {
        function: h.function.clone(),
        payload: hook_payload(dep, h),
    })
}

/// What must be observed before [`decide`] can run at `now`. The traffic (alias or
/// listeners) is read in every running phase: anything but what Cutover last set is
/// someone else's change, and the deployment stops without touching it.
pub fn needs(dep: &Deployment, _now: Millis) -> Needs {
    let ecs = dep.target.ecs().is_some();
    match &dep.phase {
        Phase::Created | Phase::Done => Needs::default(),
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
                    self.d.phase = Phase::Terminating {
                        until,
                        continued: false,
                    };
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
                            // Claimed by the next decision (a driver's: ticks made for a
                            // report, a stop or an alarm never invoke hooks themselves).
                            self.d.hook = Some(HookExecution {
                                event: hook_event,
                                function,
                                execution_id,
                                started_at: self.now,
                                next_invoke_at: Some(self.now),
                                invocations: 0,
                                in_flight_until: None,
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

    /// The rollback showed: all traffic on the current side.
    fn rolled_back(&mut self) {
        self.d.traffic = 0;
        self.d.rolled_back = true;
        self.d.phase = Phase::Done;
        self.d.ended_at = Some(self.now);
        self.actions
            .push(Action::Notify(NotificationKind::DeploymentRollback));
        self.log.push(format!(
            "rolled back: all traffic on {}",
            self.d.target.side(false)
        ));
    }

    /// The rollback cannot go on (someone else's change, or nothing to go back to): end,
    /// saying why, and touch nothing more.
    fn rollback_lost(&mut self, why: &str) {
        self.d.phase = Phase::Done;
        self.d.ended_at = Some(self.now);
        let note = format!(" (rollback not confirmed: {why})");
        if let Some(e) = self.d.error.as_mut() {
            e.message.push_str(&note);
        }
        self.log.push(note);
    }

    /// Issues the rollback's remaining `actions` again, with a growing delay; after
    /// [`MAX_ROLLBACK_ATTEMPTS`] the deployment ends with the rollback reported incomplete.
    fn retry_rollback(&mut self, attempts: u32, actions: Vec<Action>, what: &str) {
        if attempts >= MAX_ROLLBACK_ATTEMPTS {
            let why = format!(
                "{what} did not show the rollback after {attempts} attempts; Cutover gave up and released {}",
                self.d.target.name()
            );
            return self.rollback_lost(&why);
        }
        let (landing, since) = match self.d.phase {
            Phase::RollingBack { landing, since, .. } => (landing, since),
            _ => (None, self.now),
        };
        self.d.phase = Phase::RollingBack {
            attempts: attempts.saturating_add(1),
            landing,
            since,
        };
        self.actions.extend(actions);
    }

    /// Claims the next invocation of `hook` (saved with this decision) and asks for it.
    fn claim_hook(&mut self, hook: &mut HookExecution) {
        hook.invocations += 1;
        hook.next_invoke_at = None;
        hook.in_flight_until = Some(self.now + self.d.options.scaled_ms(HOOK_CLAIM_SECONDS));
        self.actions.push(Action::InvokeHook {
            invocation: hook.invocations,
        });
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
            // Lambda: the alias update is fenced by the revision last seen, so it goes out
            // at once. ECS: the listeners and task sets are read first (the next decision),
            // so traffic only goes back to an original task set that is still there.
            let landing = match self.d.phase {
                Phase::Shifting { step, .. } => Some(self.d.schedule()[step].weight),
                _ => None,
            };
            match &self.d.target {
                Target::Lambda(_) => {
                    self.d.phase = Phase::RollingBack {
                        attempts: 1,
                        landing,
                        since: self.now,
                    };
                    self.actions.push(Action::Route { weight: 0 });
                }
                Target::Ecs(_) => {
                    self.d.phase = Phase::RollingBack {
                        attempts: 0,
                        landing,
                        since: self.now,
                    }
                }
            }
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

/// The alias as people read it: `version 1`, or `version 1 90%, version 2 10%`.
fn describe_alias(alias: &crate::model::AliasView) -> String {
    match &alias.additional {
        None => format!("version {} 100%", alias.version),
        Some((v, w)) => format!(
            "version {} {:.0}%, version {v} {:.0}%",
            alias.version,
            (1.0 - w) * 100.0,
            w * 100.0
        ),
    }
}

/// Whether someone other than Cutover changed the production traffic since Cutover last
/// set it: the code and message to stop with, touching nothing more. Lambda: the alias
/// shows another revision than the one Cutover last knew (its own update showing the
/// weight being set is the one exception), or a version outside the deployment. ECS: the
/// production listener forwards elsewhere, or another split than the one Cutover set.
/// A rollback is judged by its own step.
fn modified(dep: &Deployment, obs: &Observation) -> Option<(ErrorCode, String)> {
    if matches!(
        dep.phase,
        Phase::Created | Phase::Done | Phase::RollingBack { .. }
    ) {
        return None;
    }
    // While a weight is being set, the alias may show it (the update landed) or the
    // confirmed weight (it did not yet).
    let setting = match dep.phase {
        Phase::Shifting { step, .. } => Some(dep.schedule()[step].weight),
        _ => None,
    };
    match &dep.target {
        Target::Lambda(t) => {
            let alias = obs.alias.as_ref()?;
            let shows = |w: u8| alias_matches(t, alias, w) == Some(true);
            let foreign = alias_matches(t, alias, dep.traffic).is_none();
            let moved = match (&dep.alias_revision, &obs.alias_revision) {
                (Some(known), Some(seen)) if known != seen => !setting.is_some_and(shows),
                _ => false,
            };
            (foreign || moved).then(|| {
                (
                    ErrorCode::AliasModified,
                    format!(
                        "alias {} was changed outside this deployment (found {}; Cutover had set {}% on version {}); Cutover stopped and left it as it is",
                        t.alias,
                        describe_alias(alias),
                        dep.traffic,
                        t.target_version
                    ),
                )
            })
        }
        Target::Ecs(t) => {
            let listeners = obs.listeners.as_ref()?;
            let view = &listeners.production;
            let on = view.percent_on(&t.original_target_group, &t.replacement_target_group);
            let expected = |w: u8| on.is_some_and(|p| (p - f64::from(w)).abs() < 1e-6);
            if expected(dep.traffic) || setting.is_some_and(expected) {
                return None;
            }
            let to: Vec<String> = view
                .forwards
                .iter()
                .map(|(tg, w)| format!("{} weight {w}", crate::model::last_segment(tg)))
                .collect();
            Some((
                ErrorCode::ListenerModified,
                format!(
                    "listener {} was changed outside this deployment (forwards to {}; Cutover had set {}% on the replacement); Cutover stopped and left it as it is",
                    t.production_listener,
                    to.join(", "),
                    dep.traffic
                ),
            ))
        }
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
    if let Some(previous) = &c.d.error {
        message.push_str(&format!(
            "; it had {}: {}",
            previous.code.as_str(),
            previous.message
        ));
    }
    if c.d.status.is_terminal() {
        // Ended already, but its rollback never showed: keep the failure, record the end.
        c.log
            .push(format!("{}: {message}", ErrorCode::Abandoned.as_str()));
        c.d.status = DeploymentStatus::Stopped;
        c.d.error = Some(DeploymentError {
            code: ErrorCode::Abandoned,
            message,
        });
        c.d.phase = Phase::Done;
        c.d.ended_at = Some(c.now);
        c.d.hook = None;
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
    if c.d.phase != Phase::Done {
        step(&mut c, obs);
    }
    if c.d != *dep || !c.actions.is_empty() || !c.log.is_empty() {
        c.d.decided_at = now;
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
        Phase::Terminating { until, continued } => {
            terminating_step(c, obs, until, continued || obs.proceed)
        }
        Phase::Cleaning { attempts } => cleaning_step(c, obs, attempts),
        Phase::RollingBack {
            attempts,
            landing,
            since,
        } => rolling_back_step(c, obs, attempts, landing, since),
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

fn terminating_step(c: &mut Ctx, obs: &Observation, until: Millis, continued: bool) {
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
        // An early `continue` is kept until the replacement shows PRIMARY.
        c.d.phase = Phase::Terminating { until, continued };
    }
    // `modified` has confirmed production 100 % on the replacement in this observation.
    let on_replacement = obs.listeners.is_some();
    if (continued || now >= until) && primary && on_replacement {
        c.d.phase = Phase::Cleaning { attempts: 1 };
        c.actions.push(Action::DeleteTaskSet { replacement: false });
        c.log.push(if continued {
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

fn rolling_back_step(
    c: &mut Ctx,
    obs: &Observation,
    attempts: u32,
    landing: Option<u8>,
    since: Millis,
) {
    if c.d.target.ecs().is_some() {
        return ecs_rolling_back_step(c, obs, attempts, since);
    }
    // Another split than Cutover's own (the confirmed weight, or the shift that may still
    // land) is a person's change during the rollback: leave it, and say so.
    if let (Target::Lambda(t), Some(alias)) = (&c.d.target, &obs.alias) {
        let shows = |w: u8| alias_matches(t, alias, w) == Some(true);
        let ours = shows(0) || shows(c.d.traffic) || landing.is_some_and(shows);
        if !ours && alias_matches(t, alias, 0).is_some() {
            let why = format!(
                "alias {} was changed outside this deployment during the rollback (found {}); Cutover left it as it is",
                t.alias,
                describe_alias(alias)
            );
            if let Some(e) = c.d.error.as_mut() {
                e.code = ErrorCode::AliasModified;
            }
            return c.rollback_lost(&why);
        }
    }
    match traffic_seen(&c.d, obs, 0, false) {
        Seen::Unread => {}
        Seen::Matches => {
            if obs.alias_revision.is_some() {
                c.d.alias_revision = obs.alias_revision.clone();
            }
            c.rolled_back();
        }
        // Another split of the deployment's two versions: a stale update of Cutover's own
        // may have landed before the rollback's (both fenced by one revision). Roll back
        // from what is there now, fenced by the revision just read.
        Seen::Differs => {
            if obs.alias_revision.is_some() {
                c.d.alias_revision = obs.alias_revision.clone();
            }
            c.retry_rollback(attempts, vec![Action::Route { weight: 0 }], "the alias");
        }
        Seen::Foreign(_, why) => c.rollback_lost(&why),
    }
}

/// ECS rollback, in order: production and test back on the original target group and
/// the original task set primary — only while the original task set is still there —
/// then, once both listeners are confirmed off it, the replacement deleted.
fn ecs_rolling_back_step(c: &mut Ctx, obs: &Observation, attempts: u32, since: Millis) {
    let Some(t) = c.ecs().cloned() else { return };
    let Some(sets) = &obs.task_sets else { return };
    let prod = traffic_seen(&c.d, obs, 0, false);
    if matches!(prod, Seen::Unread) {
        return;
    }
    if let Seen::Foreign(_, why) = prod {
        return c.rollback_lost(&why);
    }
    let original = sets
        .iter()
        .find(|s| s.arn == t.original_task_set && s.status != "DRAINING");
    let Some(original) = original else {
        let why = format!(
            "the original task set {} no longer exists, so production was not routed back to {}",
            t.original_task_set,
            c.d.target.side(false)
        );
        return c.rollback_lost(&why);
    };
    let prod_back = matches!(prod, Seen::Matches);
    // Someone else's test listener is left as it is; the rest of the rollback goes on.
    let test_back = t.test_listener.is_none()
        || matches!(
            traffic_seen(&c.d, obs, 0, true),
            Seen::Matches | Seen::Foreign(..)
        );
    let primary_back = original.status == "PRIMARY";
    let replacement_left = sets
        .iter()
        .any(|s| s.external_id.as_deref() == Some(c.d.id.as_str()) && s.status != "DRAINING");
    let mut actions = Vec::new();
    if !prod_back {
        actions.push(Action::Route { weight: 0 });
    }
    if !test_back {
        actions.push(Action::RouteTest { weight: 0 });
    }
    if !primary_back {
        actions.push(Action::SetPrimary { replacement: false });
    }
    if actions.is_empty() && replacement_left {
        // Nothing routes to the replacement any more (confirmed in this reading).
        actions.push(Action::DeleteTaskSet { replacement: true });
    }
    let settled = c.now >= since + c.d.options.scaled_ms(ECS_SETTLE_SECONDS);
    if actions.is_empty() && settled {
        c.rolled_back();
    } else if actions.is_empty() {
        // Everything shows the rollback; it is confirmed by a reading taken when nothing of
        // an earlier decision can still be in flight (see `wake_after`).
    } else {
        c.retry_rollback(attempts, actions, "the listeners and task sets");
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
    } else if let Some(answer) = obs.hook_response.as_ref().filter(|a| {
        a.execution_id == hook.execution_id
            && a.invocation == hook.invocations
            && hook.in_flight_until.is_some()
    }) {
        // The answer of the claimed invocation (a stale one, of an earlier invocation or of
        // another event, is dropped).
        if !matches!(answer.response, HookResponse::Unknown(_)) {
            hook.in_flight_until = None;
        }
        match &answer.response {
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
            HookResponse::Unknown(why) => {
                c.set_detail(
                    event,
                    format!(
                        "the answer of {} was lost ({why}); waiting for its report before invoking it again",
                        hook.function
                    ),
                );
            }
            HookResponse::NotInvoked(why) => {
                hook.next_invoke_at =
                    Some(now + c.d.options.scaled_ms(c.d.options.hook_retry_seconds));
                c.set_detail(
                    event,
                    format!(
                        "{} could not be invoked ({why}); trying again",
                        hook.function
                    ),
                );
            }
            HookResponse::Deferred => {
                hook.next_invoke_at = None;
                c.set_detail(event, format!("waiting for {} to report", hook.function));
            }
        }
    } else if hook.in_flight_until.is_some_and(|t| now >= t) {
        // The claimed invocation's answer never came back (its process died): the hook may
        // still report; if it does not, it is invoked again.
        hook.in_flight_until = None;
        hook.next_invoke_at = Some(now);
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
            if now >= deadline {
                c.d.hook = Some(hook);
                let msg = format!(
                    "{event} hook {function} gave no verdict within {} s",
                    c.d.options.hook_timeout_seconds
                );
                c.fail(DeploymentStatus::Failed, ErrorCode::Timeout, msg, auto);
                return;
            }
            let due =
                hook.in_flight_until.is_none() && hook.next_invoke_at.is_some_and(|t| t <= now);
            if due {
                c.claim_hook(&mut hook);
            }
            c.d.hook = Some(hook);
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
        // An operator's `continue` may arrive through another process: look again at the
        // poll interval so a driver loop picks it up.
        Phase::Ready { until } | Phase::Terminating { until, .. } => {
            Some(until.saturating_sub(now).min(poll))
        }
        Phase::Hook { .. } => {
            let Some(h) = &dep.hook else { return Some(0) };
            let deadline = h.started_at + dep.options.hook_timeout_seconds * 1000;
            let mut t = deadline.saturating_sub(now);
            if let Some(until) = h.in_flight_until {
                // The tick that claimed the invocation decides on its answer; another looks
                // when the claim lapses, or sooner for a report.
                t = t.min(until.saturating_sub(now)).min(poll);
            } else if let Some(at) = h.next_invoke_at {
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
