//! A simulated world for driving the engine without AWS: an alias that applies `Route`
//! actions, alarms that fire at given times, and scripted hook answers. Used by the
//! engine's tests and benchmarks, and handy for `cutover plan`.

use crate::engine::{decide, needs, Action, NotificationKind};
use crate::model::{
    AlarmState, AlarmView, AliasView, Deployment, HookReport, HookResponse, Millis, Observation,
    StopRequest,
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
    /// Every weight (on target) the alias took, in order.
    pub weights: Vec<f64>,
    /// Notifications sent.
    pub notifications: Vec<NotificationKind>,
    /// Waits returned by the engine.
    pub waits: Vec<Millis>,
    /// Number of decisions made.
    pub ticks: u32,
    pending_reports: VecDeque<(Millis, HookReport)>,
    answers: Vec<(LifecycleEvent, VecDeque<HookResponse>)>,
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
            notifications: Vec::new(),
            waits: Vec::new(),
            ticks: 0,
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

    fn apply(&mut self, dep: &Deployment, weight: u8) {
        let t = &dep.target;
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
        self.weights.push(f64::from(weight) / 100.0);
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

    /// Runs the deployment to the end (or `max_ticks`), jumping the clock to each wake-up.
    /// Returns the final deployment.
    pub fn run(&mut self, mut dep: Deployment, max_ticks: u32) -> Deployment {
        while !dep.is_done() && self.ticks < max_ticks {
            self.ticks += 1;
            let need = needs(&dep, self.now);
            let mut obs = Observation::default();
            if need.alias {
                obs.alias = Some(self.alias.clone());
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
            if let (Some(_), Some(h)) = (&need.invoke_hook, &dep.hook) {
                let (event, id) = (h.event, h.execution_id.clone());
                obs.hook_response = Some(self.hook_response(event, &id));
            }
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
            let decision = decide(&dep, &obs, self.now);
            for action in &decision.actions {
                match action {
                    Action::Route { weight } => self.apply(&decision.next, *weight),
                    Action::Notify(kind) => self.notifications.push(*kind),
                }
            }
            dep = decision.next;
            if let Some(wait) = decision.wake_after {
                self.waits.push(wait);
                let mut next = self.now + wait;
                // Wake early for scripted events, as the alarm and hook-report functions do.
                let fires = self.alarm_fires_at.iter().filter_map(|(_, t)| *t);
                let reports = self.pending_reports.iter().map(|(t, _)| *t);
                let stops = self.stop_at.iter().map(|(t, _)| *t);
                for t in fires.chain(reports).chain(stops) {
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
