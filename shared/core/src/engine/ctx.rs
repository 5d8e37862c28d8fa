//! The decision under construction: the next state, its actions and log lines, and the
//! transitions every platform shares (entering the next stage, failing, rolling back).

use super::*;

pub(super) struct Ctx {
    pub(super) d: Deployment,
    pub(super) actions: Vec<Action>,
    pub(super) log: Vec<String>,
    pub(super) now: Millis,
}

impl Ctx {
    pub(super) fn set_event(
        &mut self,
        name: LifecycleEvent,
        status: EventStatus,
        detail: Option<String>,
    ) {
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
            if let Some(d) = detail {
                e.detail = Some(crate::text::clean(&d, crate::text::MAX_TEXT_BYTES));
            }
        }
        self.log.push(format!("{name}: {status:?}"));
    }

    pub(super) fn set_detail(&mut self, name: LifecycleEvent, detail: String) {
        if let Some(e) = self.d.events.iter_mut().find(|e| e.name == name) {
            e.detail = Some(crate::text::clean(&detail, crate::text::MAX_TEXT_BYTES));
        }
    }

    pub(super) fn ecs(&self) -> Option<&EcsTarget> {
        self.d.target.ecs()
    }

    /// Enters the first stage after `after` that has something to do.
    pub(super) fn enter_after(&mut self, after: Stage) {
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
                    self.d.phase = Phase::Done(End::Succeeded);
                    self.d.ended_at = Some(self.now);
                    self.actions
                        .push(Action::Notify(NotificationKind::DeploymentSuccess));
                    return;
                }
                Stage::Event(hook_event) => {
                    match self.d.hook_function(hook_event).map(str::to_string) {
                        Some(function) => {
                            self.set_event(hook_event, EventStatus::InProgress, None);
                            // Claimed by the next decision (a driver's: ticks made for a
                            // report, a stop or an alarm never invoke hooks themselves).
                            self.d.phase = Phase::Hook(HookExecution {
                                event: hook_event,
                                function,
                                issued: Vec::new(),
                                legacy_execution_id: None,
                                started_at: self.now,
                                next_invoke_at: Some(self.now),
                                invocations: 0,
                                in_flight_until: None,
                            });
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
    pub(super) fn rolled_back(&mut self) {
        self.d.traffic = 0;
        self.end_halted(true);
        self.actions
            .push(Action::Notify(NotificationKind::DeploymentRollback));
        self.log.push(format!(
            "rolled back: all traffic on {}",
            self.d.target.side(false)
        ));
    }

    /// The rollback cannot go on (someone else's change, or nothing to go back to): end,
    /// saying why, and touch nothing more.
    pub(super) fn rollback_lost(&mut self, why: &str) {
        let note = format!(" (rollback not confirmed: {why})");
        if let Some(h) = self.d.phase.halt_mut() {
            h.error.message.push_str(&note);
        }
        self.end_halted(false);
        self.log.push(note);
    }

    /// Ends a rollback (`rolled_back`: confirmed or not): the phase's halt is kept.
    fn end_halted(&mut self, rolled_back: bool) {
        let phase = std::mem::replace(&mut self.d.phase, Phase::Created);
        self.d.phase = match phase {
            Phase::RollingBack { halt, .. } | Phase::Done(End::Halted { halt, .. }) => {
                Phase::Done(End::Halted { halt, rolled_back })
            }
            // Only a failed or stopped deployment rolls back; keep any other phase as it was.
            other => other,
        };
        self.d.ended_at = Some(self.now);
    }

    /// Issues the rollback's remaining `actions` again, with a growing delay; after
    /// [`MAX_ROLLBACK_ATTEMPTS`] the deployment ends with the rollback reported incomplete.
    pub(super) fn retry_rollback(&mut self, attempts: u32, actions: Vec<Action>, what: &str) {
        if attempts >= MAX_ROLLBACK_ATTEMPTS {
            let why = format!(
                "{what} did not show the rollback after {attempts} attempts; Cutover gave up and released {}",
                self.d.target.name()
            );
            return self.rollback_lost(&why);
        }
        if let Phase::RollingBack { attempts: a, .. } = &mut self.d.phase {
            *a = attempts.saturating_add(1);
        }
        self.actions.extend(actions);
    }

    /// Claims the next invocation of `hook` (saved with this decision) and asks for it.
    pub(super) fn claim_hook(&mut self, hook: &mut HookExecution) {
        hook.invocations += 1;
        hook.next_invoke_at = None;
        hook.in_flight_until = Some(self.now + self.d.options.scaled_ms(HOOK_CLAIM_SECONDS));
        self.actions.push(Action::InvokeHook {
            invocation: hook.invocations,
        });
    }

    pub(super) fn begin_shift(&mut self, step: usize) {
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
    pub(super) fn fail(
        &mut self,
        status: DeploymentStatus,
        code: ErrorCode,
        message: String,
        rollback: bool,
    ) {
        // Hooks' answers and AWS messages end up here: bounded, without control characters.
        let message = crate::text::clean(&message, crate::text::MAX_TEXT_BYTES);
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
        self.log
            .push(format!("{status}: {} {message}", code.as_str()));
        let halt = Halt::new(status, DeploymentError { code, message });
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
            let lambda = matches!(self.d.target, Target::Lambda(_));
            self.d.phase = Phase::RollingBack {
                halt,
                attempts: u32::from(lambda),
                landing,
                since: self.now,
                alarm_at: None,
            };
            if lambda {
                self.actions.push(Action::Route { weight: 0 });
            }
            self.log.push(format!(
                "rolling back: all traffic to {}",
                self.d.target.side(false)
            ));
        } else {
            self.d.phase = Phase::Done(End::Halted {
                halt,
                rolled_back: false,
            });
            self.d.ended_at = Some(now);
        }
    }
}
