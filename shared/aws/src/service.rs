//! The tick and the operations built on it: advance, stop, continue, hook reports and alarm
//! events. Every function binary and the CLI call these.
//!
//! A tick loads the deployment (with its version), observes only what the engine asks for,
//! calls `decide`, executes the traffic actions, saves with a condition on the version and
//! then publishes notifications. A lost race means another tick won: the caller gets the
//! stored state back and nothing is applied twice. Every AWS effect is absolute, so a tick
//! that dies anywhere can simply run again.

use crate::alarms::Alarms;
use crate::ecs::EcsRouter;
use crate::error::{Error, Result};
use crate::lambda::LambdaRouter;
use crate::notify::Notifier;
use crate::store::Store;
use cutover_core::engine::{self, Action};
use cutover_core::model::{
    Deployment, HookAnswer, HookReport, HookResponse, Observation, Outgoing, Phase, StopRequest,
    Target,
};
use lambda_runtime::tracing;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a notification is re-sent before it is given up.
pub const OUTBOX_GIVE_UP_MS: u64 = 3_600_000;
/// Most decisions one tick makes before handing back to the driver.
pub const MAX_DECISIONS_PER_TICK: u32 = 32;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Records a decision's notifications in the deployment's outbox, each with its stable id
/// (`<deployment id>-<n>`), to be saved with the decision and sent after it.
fn record_notifications(next: &mut Deployment, actions: &[Action]) {
    for action in actions {
        if let Action::Notify(kind) = action {
            next.notify_seq += 1;
            next.outbox.push(Outgoing {
                id: format!("{}-{}", next.id, next.notify_seq),
                kind: *kind,
                at: next.decided_at,
            });
        }
    }
}

/// The outcome of one decision inside a tick.
enum Once {
    /// The deployment was already done.
    Finished(Deployment),
    /// Another tick saved first.
    Lost,
    /// Saved (or nothing to save), with the engine's wake-up, the answer of a hook the
    /// decision invoked, and the first error of its effects (the decision stands).
    Saved(Deployment, Wake, Option<HookAnswer>, Option<Error>),
    /// The decision would invoke a hook, which only a driver's tick does: not saved.
    LeftToDriver(Deployment),
}

/// The engine's two wake-ups: `(wake_after, sleep_after)` of its decision.
type Wake = (Option<u64>, Option<u64>);

/// What a tick leaves behind.
#[derive(Debug, Clone)]
pub struct TickOutcome {
    /// The deployment as stored now.
    pub deployment: Deployment,
    /// When to tick again; `None` when done. A driver nothing else wakes (`--local`)
    /// uses this.
    pub wake_after: Option<u64>,
    /// When to tick again for a driver that every input wakes (the state machine; see
    /// [`crate::functions::wake_driver`]): the next deadline, or the alarm poll interval
    /// while alarms are watched. Never sooner than `wake_after`.
    pub sleep_after: Option<u64>,
}

impl TickOutcome {
    /// An outcome whose two wake-ups are the same.
    fn after(deployment: Deployment, wake_after: Option<u64>) -> TickOutcome {
        TickOutcome {
            deployment,
            wake_after,
            sleep_after: wake_after,
        }
    }
}

/// Everything a tick needs: the store and the AWS adapters, built once.
#[derive(Debug, Clone)]
pub struct Cutover {
    /// The DynamoDB table.
    pub store: Store,
    /// Lambda router and hook invoker.
    pub lambda: LambdaRouter,
    /// ECS task sets and ALB listeners.
    pub ecs: EcsRouter,
    /// CloudWatch alarms.
    pub alarms: Alarms,
    /// SNS notifier.
    pub notifier: Notifier,
    /// Region, for notifications.
    pub region: String,
    /// Defaults for start requests that leave options out (the stack's parameters).
    pub defaults: StartDefaults,
}

pub use crate::start::{
    check_client_token, new_deployment_id, request_digest, token_deployment_id, StartDefaults,
    StartRequest, DEFAULT_CONFIG, DEFAULT_ECS_CONFIG, MAX_APPSPEC_BYTES,
};

impl Cutover {
    /// Reads what the engine needs. An operator's stop decides before anything is read:
    /// a deleted alias or a missing permission cannot keep a deployment from stopping.
    async fn observe(
        &self,
        dep: &Deployment,
        now: u64,
        extra: &Observation,
    ) -> Result<Observation> {
        let mut obs = extra.clone();
        if obs.stop.is_some() {
            return Ok(obs);
        }
        let need = engine::needs(dep, now);
        match &dep.target {
            Target::Lambda(t) if need.alias => {
                let alias = self.lambda.read_alias(t).await?;
                obs.alias = Some(alias.view);
                obs.alias_revision = alias.revision_id;
            }
            Target::Ecs(t) => {
                if need.listeners {
                    obs.listeners = Some(self.ecs.read_listeners(t).await?);
                }
                if need.task_sets {
                    obs.task_sets = Some(self.ecs.task_sets(t).await?);
                }
            }
            Target::Lambda(_) => {}
        }
        if need.alarms {
            obs.alarms = Some(self.alarms.read(&dep.options.alarms).await?);
        }
        Ok(obs)
    }

    /// Advances a deployment as far as it can go now. `extra` carries an operator's stop,
    /// a `continue` or a hook report into the first decision.
    ///
    /// Each decision is saved before its effects are made: the loser of a race never
    /// touches the target, and an effect lost to a crash after the save is made again by
    /// the next tick, which reads the target back. A hook's answer is carried into the next
    /// decision like any other input. Once the input of `extra` is saved, a later error is
    /// logged and the saved state returned, so a caller never repeats a stop or a hook
    /// report that already took effect.
    pub async fn tick(&self, id: &str, extra: Observation) -> Result<TickOutcome> {
        self.tick_as(id, extra, true).await
    }

    /// A tick made for an input (a stop, a `continue`, a hook's report, an alarm event):
    /// it decides as far as it can but invokes no hook — the driver does, at its next wake,
    /// so a hook's report never waits for the next hook to run.
    pub async fn tick_for_input(&self, id: &str, extra: Observation) -> Result<TickOutcome> {
        self.tick_as(id, extra, false).await
    }

    async fn tick_as(&self, id: &str, extra: Observation, drives: bool) -> Result<TickOutcome> {
        let mut carry = (extra != Observation::default()).then_some(extra);
        let mut conflicts = 0;
        let mut decisions = 0;
        let mut input_saved: Option<Deployment> = None;
        loop {
            match self.decide_once(id, carry.as_ref(), drives).await {
                Ok(Once::Finished(deployment)) => {
                    // A deployment that ended with notifications still unsent is ticked
                    // again until they are.
                    let wake_after = (!deployment.outbox.is_empty()).then_some(1000);
                    return Ok(TickOutcome::after(deployment, wake_after));
                }
                Ok(Once::LeftToDriver(deployment)) => {
                    return Ok(TickOutcome::after(deployment, Some(0)))
                }
                Ok(Once::Lost) => {
                    conflicts += 1;
                    match &carry {
                        Some(_) if conflicts < 5 => continue,
                        Some(obs) if obs.hook_response.is_none() => {
                            return Err(Error::Conflict(id.to_string()))
                        }
                        // A hook answer that cannot be saved is dropped: the claim lapses
                        // and the hook is asked again (or reports meanwhile).
                        _ => {}
                    }
                    let deployment = self.store.load(id).await?;
                    let wake_after = if deployment.is_done() { None } else { Some(0) };
                    return Ok(TickOutcome::after(deployment, wake_after));
                }
                Ok(Once::Saved(saved, (wake_after, sleep_after), answer, error)) => {
                    decisions += 1;
                    if carry.take().is_some() {
                        input_saved = Some(saved.clone());
                    }
                    if let Some(e) = error {
                        // The decision stands; its effect is tried again by the next tick.
                        if input_saved.is_none() {
                            return Err(e);
                        }
                        tracing::warn!(deployment = %id, error = %e, "an effect failed after the input was saved; the next tick goes on");
                        let wake_after = if saved.is_done() { None } else { Some(1000) };
                        return Ok(TickOutcome::after(saved, wake_after));
                    }
                    if let Some(answer) = answer {
                        conflicts = 0;
                        carry = Some(Observation {
                            hook_response: Some(answer),
                            ..Default::default()
                        });
                        continue;
                    }
                    match wake_after {
                        Some(0) if decisions < MAX_DECISIONS_PER_TICK => continue,
                        wake_after => {
                            return Ok(TickOutcome {
                                deployment: saved,
                                wake_after,
                                sleep_after,
                            })
                        }
                    }
                }
                Err(e) => match input_saved {
                    Some(deployment) => {
                        tracing::warn!(deployment = %id, error = %e, "tick stopped after its input was saved; the next tick goes on");
                        let deployment = self.store.load(id).await.unwrap_or(deployment);
                        let wake_after = if deployment.is_done() {
                            None
                        } else {
                            Some(1000)
                        };
                        return Ok(TickOutcome::after(deployment, wake_after));
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// One decision: load (sending what an earlier tick left in the outbox), observe, read
    /// the clock, decide, save (the decision's notifications into the outbox), then make
    /// the effects and send the outbox.
    async fn decide_once(
        &self,
        id: &str,
        extra: Option<&Observation>,
        drives: bool,
    ) -> Result<Once> {
        let mut dep = self.store.load(id).await?;
        if !dep.outbox.is_empty() {
            dep = self.flush_outbox(dep).await;
        }
        if dep.is_done() {
            return Ok(Once::Finished(dep));
        }
        let input = extra.cloned().unwrap_or_default();
        let obs = self
            .observe(&dep, dep.decided_at.max(now_ms()), &input)
            .await?;
        // After observing, which can take long: a wait is never counted from before it.
        let now = now_ms();
        let mut decision = engine::decide(&dep, &obs, now);
        let unchanged =
            decision.next == dep && decision.actions.is_empty() && decision.log.is_empty();
        if unchanged {
            return Ok(Once::Saved(
                dep,
                (decision.wake_after, decision.sleep_after),
                None,
                None,
            ));
        }
        let invokes = decision
            .actions
            .iter()
            .any(|a| matches!(a, Action::InvokeHook { .. }));
        if invokes && !drives {
            return Ok(Once::LeftToDriver(dep));
        }
        record_notifications(&mut decision.next, &decision.actions);
        // The claimed invocation's execution id: a fresh secret, only its hash saved.
        let execution_id = if invokes {
            let id = new_execution_id();
            engine::issue_execution_id(&mut decision.next, &id);
            id
        } else {
            String::new()
        };
        let saved = match self.store.save(&decision.next, &decision.log, now).await {
            Ok(saved) => saved,
            Err(Error::Conflict(_)) => return Ok(Once::Lost),
            Err(e) => return Err(e),
        };
        crate::metrics::decision(&dep, &saved, &decision.actions);
        // Every effect is tried even when one fails (each is absolute, and the next tick
        // reads back what did not take), and the outbox is sent either way; the first
        // error is returned afterwards.
        let mut first_error = None;
        let mut answer = None;
        for action in &decision.actions {
            match action {
                Action::Notify(_) => {}
                Action::InvokeHook { invocation } => {
                    answer = Some(HookAnswer {
                        execution_id: execution_id.clone(),
                        invocation: *invocation,
                        response: self.invoke_claimed_hook(&saved, &execution_id).await,
                    });
                }
                other => {
                    if let Err(e) = self.apply(&saved, other).await {
                        tracing::warn!(deployment = %saved.id, action = ?other, error = %e, "action failed");
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        let saved = self.flush_outbox(saved).await;
        let wake = (decision.wake_after, decision.sleep_after);
        Ok(Once::Saved(saved, wake, answer, first_error))
    }

    /// Invokes the hook a saved decision claimed. An invocation that could not be made
    /// (throttled, say) is answered as such: the engine asks again later.
    async fn invoke_claimed_hook(&self, dep: &Deployment, execution_id: &str) -> HookResponse {
        let Some(call) = engine::hook_call(dep, execution_id) else {
            return HookResponse::NotInvoked("no hook is running".into());
        };
        match self.lambda.invoke_hook(&call.function, &call.payload).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(deployment = %dep.id, hook = %call.function, error = %e, "hook not invoked");
                HookResponse::NotInvoked(e.to_string())
            }
        }
    }

    /// Sends the outbox in order, stopping at the first failure, and marks what was sent
    /// (a conditional save of the record alone; if another tick saved meanwhile, a later
    /// tick sends again and subscribers drop the duplicate by its id). Returns the
    /// deployment as stored.
    async fn flush_outbox(&self, dep: Deployment) -> Deployment {
        let mut sent = 0;
        for note in &dep.outbox {
            match self.notifier.publish(note, &dep, &self.region).await {
                Ok(()) => sent += 1,
                // A destination that refuses for good (deleted, access denied) must not hold
                // back every later notification; one that is still failing after an hour
                // is given up too.
                Err(e) if !e.is_retryable() || note.at + OUTBOX_GIVE_UP_MS < now_ms() => {
                    tracing::error!(deployment = %dep.id, notification = %note.id, error = %e, "notification given up");
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(deployment = %dep.id, notification = %note.id, error = %e, "notification not sent; a later tick sends it again");
                    break;
                }
            }
        }
        if sent == 0 {
            return dep;
        }
        let mut next = dep.clone();
        next.outbox.drain(..sent);
        match self.store.save_state(&next).await {
            Ok(saved) => saved,
            Err(e) => {
                tracing::info!(deployment = %dep.id, error = %e, "notifications sent but not marked; a later tick may send them again");
                dep
            }
        }
    }

    /// Performs one traffic or task-set action of a saved decision.
    async fn apply(&self, dep: &Deployment, action: &Action) -> Result<()> {
        match (&dep.target, action) {
            (_, Action::Notify(_) | Action::InvokeHook { .. }) => Ok(()),
            (Target::Lambda(t), Action::Route { weight }) => {
                // A stale revision changes nothing: the next decision reads the alias.
                self.lambda
                    .route(t, *weight, dep.alias_revision.as_deref())
                    .await
                    .map(|_| ())
            }
            (Target::Lambda(_), other) => Err(Error::Corrupt(format!(
                "{other:?} is not a Lambda action (deployment {})",
                dep.id
            ))),
            (Target::Ecs(t), Action::Route { weight }) => {
                self.ecs.route(t, &t.production_listener, *weight).await
            }
            (Target::Ecs(t), Action::RouteTest { weight }) => match &t.test_listener {
                Some(l) => self.ecs.route(t, l, *weight).await,
                None => Ok(()),
            },
            (Target::Ecs(t), Action::CreateTaskSet) => self.ecs.create_task_set(t, &dep.id).await,
            (Target::Ecs(t), Action::SetPrimary { replacement }) => {
                match self.task_set_arn(dep, t, *replacement).await? {
                    Some(arn) => self.ecs.set_primary(t, &arn).await,
                    None => Ok(()),
                }
            }
            (Target::Ecs(t), Action::DeleteTaskSet { replacement }) => {
                match self.task_set_arn(dep, t, *replacement).await? {
                    Some(arn) => self.ecs.delete_task_set(t, &arn).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// `stop --force`: ends an unfinished deployment now without reading or touching its
    /// target, releases its lock, records status Stopped with `ABANDONED` and where the
    /// target was left, and sends the stop notification.
    pub async fn abandon(&self, id: &str, reason: Option<String>) -> Result<TickOutcome> {
        for _ in 0..5 {
            let dep = self.store.load(id).await?;
            let Some(decision) = engine::abandon(&dep, reason.as_deref(), now_ms()) else {
                return Err(Error::refused(
                    "DeploymentAlreadyCompleted",
                    format!(
                        "deployment {id} already ended ({}); nothing to stop",
                        dep.status()
                    ),
                ));
            };
            let mut next = decision.next;
            record_notifications(&mut next, &decision.actions);
            match self.store.save(&next, &decision.log, next.decided_at).await {
                Ok(saved) => {
                    crate::metrics::decision(&dep, &saved, &decision.actions);
                    tracing::warn!(deployment = %id, message = %saved.error().map(|e| e.message.as_str()).unwrap_or(""), "deployment abandoned on request");
                    let deployment = self.flush_outbox(saved).await;
                    return Ok(TickOutcome::after(deployment, None));
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(id.to_string()))
    }

    /// The original task set's ARN, or the replacement's (found by its `externalId`, the
    /// deployment id) if it exists.
    async fn task_set_arn(
        &self,
        dep: &Deployment,
        t: &cutover_core::model::EcsTarget,
        replacement: bool,
    ) -> Result<Option<String>> {
        if !replacement {
            return Ok(Some(t.original_task_set.clone()));
        }
        if let Some(ts) = engine::replacement(dep) {
            return Ok(Some(ts.arn.clone()));
        }
        let sets = self.ecs.task_sets(t).await?;
        Ok(sets
            .into_iter()
            .find(|s| s.external_id.as_deref() == Some(dep.id.as_str()))
            .map(|s| s.arn))
    }

    /// An operator's `cutover continue`: leaves Ready, or ends the termination wait early.
    pub async fn proceed(&self, id: &str) -> Result<TickOutcome> {
        self.proceed_by(id, None).await
    }

    /// [`Cutover::proceed`], recording who asked (as the caller reported it).
    pub async fn proceed_by(&self, id: &str, requested_by: Option<&str>) -> Result<TickOutcome> {
        let dep = self.store.load(id).await?;
        if !matches!(dep.phase, Phase::Ready { .. } | Phase::Terminating { .. }) {
            return Err(Error::refused(
                "NothingToContinue",
                format!(
                    "deployment {id} is not waiting (status {}, phase {}); `continue` releases a deployment waiting at Ready or in its termination wait",
                    dep.status(),
                    dep.phase.name()
                ),
            ));
        }
        let obs = Observation {
            proceed: true,
            requested_by: requested_by.map(str::to_string),
            ..Default::default()
        };
        self.tick_for_input(id, obs).await
    }

    /// Stops a deployment, rolling back when asked (when `rollback` is `None`, as the
    /// deployment group's `autoRollback.onStop` says).
    pub async fn stop(
        &self,
        id: &str,
        rollback: Option<bool>,
        reason: Option<String>,
    ) -> Result<TickOutcome> {
        let dep = self.store.load(id).await?;
        let rollback = rollback.unwrap_or(dep.options.rollback_on_stop);
        if dep.status().is_terminal() {
            let hint = if dep.is_done() {
                "nothing to stop".to_string()
            } else {
                format!("its rollback has not shown yet; `cutover stop {id} --force` ends it without touching its target")
            };
            return Err(Error::refused(
                "DeploymentAlreadyCompleted",
                format!("deployment {id} already ended ({}); {hint}", dep.status()),
            ));
        }
        let obs = Observation {
            stop: Some(StopRequest { rollback, reason }),
            ..Default::default()
        };
        self.tick_for_input(id, obs).await
    }

    /// Accepts a hook's verdict reported later (CodeDeploy's
    /// `PutLifecycleEventHookExecutionStatus`). Only the pending execution id of that
    /// deployment is accepted, once.
    pub async fn hook_report(
        &self,
        id: &str,
        execution_id: &str,
        status: &str,
    ) -> Result<TickOutcome> {
        let succeeded = match status {
            "Succeeded" | "SUCCEEDED" => true,
            "Failed" | "FAILED" => false,
            other => {
                return Err(Error::HookReport(format!(
                    "status: {other:?} is not a verdict; use Succeeded or Failed"
                )))
            }
        };
        let dep = self.store.load(id).await?;
        if !dep.hook().is_some_and(|h| h.accepts(execution_id)) {
            return Err(Error::HookReport(format!(
                "InvalidLifecycleEventHookExecutionId: {} is not an execution id deployment {id} is waiting on a verdict for \
                 (an id is accepted once, only for the deployment and lifecycle event it was given for)",
                cutover_core::text::shown(execution_id, 12)
            )));
        }
        let obs = Observation {
            hook_report: Some(HookReport {
                execution_id: execution_id.to_string(),
                succeeded,
            }),
            ..Default::default()
        };
        self.tick_for_input(id, obs).await
    }

    /// Ticks, at once, every active deployment that watches `alarm`.
    pub async fn on_alarm(&self, alarm: &str) -> Result<Vec<TickOutcome>> {
        let ids = self.store.watching(alarm).await?;
        // Concurrently: a rollback must not wait for another deployment's tick.
        let mut set = tokio::task::JoinSet::new();
        for id in ids {
            let app = self.clone();
            set.spawn(async move {
                let r = app.tick_for_input(&id, Observation::default()).await;
                (id.clone(), r)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(r) => results.push(r),
                Err(e) => results.push((
                    String::new(),
                    Err(Error::Corrupt(format!("alarm tick panicked: {e}"))),
                )),
            }
        }
        let mut out = Vec::new();
        let mut first_error = None;
        for (id, r) in results {
            match r {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::error!(deployment = %id, alarm, error = %e, "alarm tick failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Every watcher was tried; fail the event (so it is retried) only if one failed.
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// A fresh hook execution id: 244 random bits from the OS (two version-4 UUIDs), in hex;
/// nothing in it comes from the deployment, the event or another id.
fn new_execution_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
