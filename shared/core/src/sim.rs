//! A simulated world for driving the engine without AWS: an alias (or an ECS service with
//! its two listeners and task sets) that applies the engine's actions, alarms that fire at
//! given times, and scripted hook answers. Used by the engine's tests and benchmarks, and
//! handy for `cutover plan`.

use crate::engine::{decide, needs, Action, NotificationKind};
use crate::model::{
    AlarmState, AlarmView, AliasView, Deployment, HookAnswer, HookReport, HookResponse,
    ListenerView, ListenersView, Millis, Observation, StopRequest, Target, TaskSetView,
};
use crate::LifecycleEvent;
use std::collections::VecDeque;

/// How a simulated hook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookScript {
    /// Answers these, in order, then `Succeeded`.
    Answers(Vec<HookResponse>),
    /// Answers `Deferred`, then reports this verdict after `after` ms.
    ReportsLater {
        /// Delay of the report.
        after: Millis,
        /// Verdict.
        succeeded: bool,
    },
    /// Answers `Deferred` and never reports.
    Silent,
}

/// A simulated ECS service: two listeners and the task sets.
#[derive(Debug, Clone, Default)]
pub struct EcsWorld {
    /// Percent of production traffic on the replacement target group.
    pub production: u8,
    /// Percent of test traffic on the replacement target group.
    pub test: u8,
    /// Task sets with the time each was created; the original is added on the first tick.
    pub task_sets: Vec<(TaskSetView, Millis)>,
    /// How long a new task set takes to become steady (`None`: never).
    pub steady_after: Option<Millis>,
    /// When an operator runs `cutover continue` (delivered once the deployment waits).
    pub proceed_at: Option<Millis>,
    /// Every weight the test listener took, in order.
    pub test_weights: Vec<u8>,
    /// Task set ARNs deleted, in order.
    pub deleted: Vec<String>,
    /// A person sets the production listener to this percent on the replacement at the
    /// given time.
    pub manual: Vec<(Millis, u8)>,
}

impl EcsWorld {
    fn listener(dep: &Deployment, on_replacement: u8) -> ListenerView {
        let t = dep.target.ecs().expect("an ECS deployment");
        ListenerView {
            forwards: vec![
                (
                    t.original_target_group.clone(),
                    u32::from(100 - on_replacement),
                ),
                (
                    t.replacement_target_group.clone(),
                    u32::from(on_replacement),
                ),
            ],
        }
    }

    /// Adds the original task set the first time the service is touched.
    fn ensure_original(&mut self, dep: &Deployment) {
        let t = dep.target.ecs().expect("an ECS deployment");
        let seen = self
            .task_sets
            .iter()
            .any(|(ts, _)| ts.arn == t.original_task_set);
        if !seen && !self.deleted.contains(&t.original_task_set) {
            let original = TaskSetView {
                arn: t.original_task_set.clone(),
                external_id: None,
                status: "PRIMARY".into(),
                stability: "STEADY_STATE".into(),
                task_definition: t.original_task_definition.clone(),
                desired: 2,
                running: 2,
            };
            self.task_sets.insert(0, (original, 0));
        }
    }

    pub(crate) fn views(&mut self, dep: &Deployment, now: Millis) -> Vec<TaskSetView> {
        self.ensure_original(dep);
        let steady_after = self.steady_after;
        for (ts, created) in &mut self.task_sets {
            let steady = steady_after.is_some_and(|d| now >= *created + d);
            if ts.external_id.is_some() {
                ts.stability = if steady {
                    "STEADY_STATE"
                } else {
                    "STABILIZING"
                }
                .into();
                ts.running = if steady { ts.desired } else { 0 };
            }
        }
        self.task_sets.iter().map(|(ts, _)| ts.clone()).collect()
    }

    fn apply(&mut self, dep: &Deployment, action: &Action, now: Millis) {
        self.ensure_original(dep);
        let t = dep.target.ecs().expect("an ECS deployment");
        let is_replacement = |ts: &TaskSetView| ts.external_id.as_deref() == Some(dep.id.as_str());
        match action {
            Action::RouteTest { weight } => {
                self.test = *weight;
                self.test_weights.push(*weight);
            }
            Action::CreateTaskSet => {
                if !self.task_sets.iter().any(|(ts, _)| is_replacement(ts)) {
                    let ts = TaskSetView {
                        arn: format!("{}-replacement", t.original_task_set),
                        external_id: Some(dep.id.clone()),
                        status: "ACTIVE".into(),
                        stability: "STABILIZING".into(),
                        task_definition: t.resource.task_definition.clone(),
                        desired: 2,
                        running: 0,
                    };
                    self.task_sets.push((ts, now));
                }
            }
            Action::SetPrimary { replacement } => {
                for (ts, _) in &mut self.task_sets {
                    ts.status = if is_replacement(ts) == *replacement {
                        "PRIMARY"
                    } else {
                        "ACTIVE"
                    }
                    .into();
                }
            }
            Action::DeleteTaskSet { replacement } => {
                let deleted = &mut self.deleted;
                self.task_sets.retain(|(ts, _)| {
                    let gone = is_replacement(ts) == *replacement;
                    if gone {
                        deleted.push(ts.arn.clone());
                    }
                    !gone
                });
            }
            Action::Route { .. } | Action::Notify(_) | Action::InvokeHook { .. } => {}
        }
    }
}

/// The simulated world.
#[derive(Debug, Clone)]
pub struct World {
    /// The alias now.
    pub alias: AliasView,
    /// Alarm name → time it goes into ALARM (`None`: never).
    pub alarm_fires_at: Vec<(String, Option<Millis>)>,
    /// Scripts for BeforeAllowTraffic and AfterAllowTraffic.
    pub hooks: Vec<(LifecycleEvent, HookScript)>,
    /// A stop request at a given time.
    pub stop_at: Option<(Millis, StopRequest)>,
    /// Simulated clock.
    pub now: Millis,
    /// Every weight (on target) the alias or the production listener took, in order.
    pub weights: Vec<f64>,
    /// The ECS service, for ECS deployments.
    pub ecs: EcsWorld,
    /// Notifications sent.
    pub notifications: Vec<NotificationKind>,
    /// Waits returned by the engine.
    pub waits: Vec<Millis>,
    /// Number of decisions made.
    pub ticks: u32,
    /// The alias's revision: every update (Cutover's or a person's) makes a new one.
    pub revision: u64,
    /// A person sets the alias at the given time (a new revision).
    pub manual: Vec<(Millis, AliasView)>,
    /// Alias updates refused because their revision was stale.
    pub refused: u32,
    /// Hook invocations, by event, in order.
    pub invocations: Vec<LifecycleEvent>,
    answer: Option<HookAnswer>,
    pending_reports: VecDeque<(Millis, HookReport)>,
    answers: Vec<(LifecycleEvent, VecDeque<HookResponse>)>,
    /// How many hook execution ids were given out.
    issued_ids: u32,
}

impl World {
    /// A world whose alias is on `current_version` with no routing config.
    pub fn new(current_version: &str, now: Millis) -> World {
        World {
            alias: AliasView {
                version: current_version.to_string(),
                additional: None,
            },
            alarm_fires_at: Vec::new(),
            hooks: Vec::new(),
            stop_at: None,
            now,
            weights: Vec::new(),
            ecs: EcsWorld::default(),
            notifications: Vec::new(),
            waits: Vec::new(),
            ticks: 0,
            issued_ids: 0,
            revision: 1,
            manual: Vec::new(),
            refused: 0,
            invocations: Vec::new(),
            answer: None,
            pending_reports: VecDeque::new(),
            answers: Vec::new(),
        }
    }

    /// Fraction of traffic on `target` as the alias shows it now.
    pub fn weight_on(&self, target: &str) -> f64 {
        match &self.alias.additional {
            Some((v, w)) if v == target => *w,
            Some((_, w)) if self.alias.version == target => 1.0 - *w,
            Some(_) => 0.0,
            None => f64::from(u8::from(self.alias.version == target)),
        }
    }

    /// The alias revision as the emulator would name it.
    pub fn revision_id(&self) -> String {
        format!("r{}", self.revision)
    }

    fn apply(&mut self, dep: &Deployment, weight: u8) {
        let t = match &dep.target {
            Target::Lambda(t) => t,
            Target::Ecs(_) => {
                self.weights.push(f64::from(weight) / 100.0);
                self.ecs.production = weight;
                return;
            }
        };
        // UpdateAlias carries the revision the decision saw, as Lambda's precondition.
        if dep
            .alias_revision
            .as_ref()
            .is_some_and(|r| *r != self.revision_id())
        {
            self.refused += 1;
            return;
        }
        self.weights.push(f64::from(weight) / 100.0);
        self.revision += 1;
        self.alias = match weight {
            0 => AliasView {
                version: t.current_version.clone(),
                additional: None,
            },
            100 => AliasView {
                version: t.target_version.clone(),
                additional: None,
            },
            w => AliasView {
                version: t.current_version.clone(),
                additional: Some((t.target_version.clone(), f64::from(w) / 100.0)),
            },
        };
    }

    fn hook_response(&mut self, event: LifecycleEvent, execution_id: &str) -> HookResponse {
        let script = self
            .hooks
            .iter()
            .find(|(e, _)| *e == event)
            .map(|(_, s)| s.clone());
        match script {
            None | Some(HookScript::Answers(_)) => {
                if !self.answers.iter().any(|(e, _)| *e == event) {
                    let list = match script {
                        Some(HookScript::Answers(a)) => a,
                        _ => Vec::new(),
                    };
                    self.answers.push((event, list.into()));
                }
                let queue = self
                    .answers
                    .iter_mut()
                    .find(|(e, _)| *e == event)
                    .map(|(_, q)| q);
                queue
                    .and_then(|q| q.pop_front())
                    .unwrap_or(HookResponse::Succeeded)
            }
            Some(HookScript::ReportsLater { after, succeeded }) => {
                if !self
                    .pending_reports
                    .iter()
                    .any(|(_, r)| r.execution_id == execution_id)
                {
                    self.pending_reports.push_back((
                        self.now + after,
                        HookReport {
                            execution_id: execution_id.to_string(),
                            succeeded,
                        },
                    ));
                }
                HookResponse::Deferred
            }
            Some(HookScript::Silent) => HookResponse::Deferred,
        }
    }

    /// Runs one decision at a time until `reached` holds, and returns the deployment then.
    /// Panics if the deployment ends, or 10,000 decisions pass, first (a test helper).
    pub fn run_until(
        &mut self,
        mut dep: Deployment,
        reached: impl Fn(&Deployment) -> bool,
    ) -> Deployment {
        for _ in 0..10_000 {
            if reached(&dep) {
                return dep;
            }
            assert!(
                !dep.is_done(),
                "ended before the awaited state: {:?} {:?}",
                dep.status(),
                dep.error()
            );
            dep = self.run(dep, self.ticks + 1);
        }
        panic!(
            "the awaited state was not reached in 10,000 decisions: {:?}",
            dep.phase
        );
    }

    /// Runs the deployment to the end (or `max_ticks`), jumping the clock to each wake-up.
    /// Returns the final deployment.
    pub fn run(&mut self, mut dep: Deployment, max_ticks: u32) -> Deployment {
        while !dep.is_done() && self.ticks < max_ticks {
            self.ticks += 1;
            let need = needs(&dep, self.now);
            let mut obs = Observation::default();
            let now = self.now;
            for (_, alias) in self.manual.iter().filter(|(t, _)| *t <= now) {
                self.alias = alias.clone();
                self.revision += 1;
            }
            self.manual.retain(|(t, _)| *t > now);
            for (_, w) in self.ecs.manual.iter().filter(|(t, _)| *t <= now) {
                self.ecs.production = *w;
            }
            self.ecs.manual.retain(|(t, _)| *t > now);
            if need.alias {
                obs.alias = Some(self.alias.clone());
                obs.alias_revision = Some(self.revision_id());
            }
            if need.listeners {
                let ecs = dep.target.ecs().expect("listeners are read for ECS only");
                obs.listeners = Some(ListenersView {
                    production: EcsWorld::listener(&dep, self.ecs.production),
                    test: ecs
                        .test_listener
                        .as_ref()
                        .map(|_| EcsWorld::listener(&dep, self.ecs.test)),
                });
            }
            if need.task_sets {
                obs.task_sets = Some(self.ecs.views(&dep, self.now));
            }
            // Like `cutover continue`, which is refused when there is nothing to continue.
            let waiting = matches!(
                dep.phase,
                crate::model::Phase::Ready { .. } | crate::model::Phase::Terminating { .. }
            );
            if waiting && self.ecs.proceed_at.is_some_and(|t| t <= self.now) {
                obs.proceed = true;
                self.ecs.proceed_at = None;
            }
            if need.alarms {
                let now = self.now;
                obs.alarms = Some(
                    dep.options
                        .alarms
                        .iter()
                        .map(|name| {
                            let fires = self
                                .alarm_fires_at
                                .iter()
                                .find(|(n, _)| n == name)
                                .and_then(|(_, t)| *t);
                            match fires {
                                Some(t) if t <= now => AlarmView {
                                    name: name.clone(),
                                    state: AlarmState::Alarm,
                                    updated_at: Some(t),
                                },
                                _ => AlarmView {
                                    name: name.clone(),
                                    state: AlarmState::Ok,
                                    updated_at: None,
                                },
                            }
                        })
                        .collect(),
                );
            }
            obs.hook_response = self.answer.take();
            if let Some((t, _)) = self.pending_reports.front() {
                if *t <= self.now {
                    obs.hook_report = self.pending_reports.pop_front().map(|(_, r)| r);
                }
            }
            if let Some((t, _)) = &self.stop_at {
                if *t <= self.now {
                    obs.stop = self.stop_at.take().map(|(_, s)| s);
                }
            }
            let mut decision = decide(&dep, &obs, self.now);
            // As the service does: a fresh id for each invocation, its hash saved with the
            // decision (here a counter: the world is deterministic).
            let mut sent_id = None;
            if decision
                .actions
                .iter()
                .any(|a| matches!(a, Action::InvokeHook { .. }))
            {
                self.issued_ids += 1;
                let id = format!("sim-{}-{}", decision.next.id, self.issued_ids);
                if crate::engine::issue_execution_id(&mut decision.next, &id) {
                    sent_id = Some(id);
                }
            }
            for action in &decision.actions {
                match action {
                    Action::Route { weight } => self.apply(&decision.next, *weight),
                    Action::Notify(kind) => self.notifications.push(*kind),
                    Action::InvokeHook { invocation } => {
                        if let (Some(h), Some(id)) = (decision.next.hook(), sent_id.clone()) {
                            let event = h.event;
                            self.invocations.push(event);
                            let response = self.hook_response(event, &id);
                            self.answer = Some(HookAnswer {
                                execution_id: id,
                                invocation: *invocation,
                                response,
                            });
                        }
                    }
                    other => self.ecs.apply(&decision.next, other, self.now),
                }
            }
            dep = decision.next;
            if let Some(wait) = decision.wake_after {
                self.waits.push(wait);
                // The tick that invoked a hook decides on its answer at once.
                let wait = if self.answer.is_some() { 0 } else { wait };
                let mut next = self.now + wait;
                // Wake early for scripted events, as the alarm and hook-report functions do.
                let fires = self.alarm_fires_at.iter().filter_map(|(_, t)| *t);
                let reports = self.pending_reports.iter().map(|(t, _)| *t);
                let stops = self.stop_at.iter().map(|(t, _)| *t);
                let proceeds = self.ecs.proceed_at.iter().copied();
                let manual = self.manual.iter().map(|(t, _)| *t);
                let ecs_manual = self.ecs.manual.iter().map(|(t, _)| *t);
                let scripted = fires.chain(reports).chain(stops).chain(proceeds);
                for t in scripted.chain(manual).chain(ecs_manual) {
                    if t > self.now && t < next {
                        next = t;
                    }
                }
                self.now = next;
            }
        }
        dep
    }
}
