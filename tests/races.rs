//! Races: tick A of a deployment is paused at its k-th AWS call — before the request is
//! sent, or after its response arrived — while B runs to its end: another tick, an
//! operator's stop, a hook's report, an alarm event. Then the deployment is driven to its
//! end, A is let go, and the alias must not move again. For every k of A's calls, both
//! ways: the deployment ends as it should, each alias update landed once (a second one
//! with the same precondition is refused), each hook ran once, and nothing changed the
//! alias after the deployment was recorded as ended.
//!
//! `cargo test --workspace --test races -- --nocapture` prints the counts that
//! docs/reliability.md records.

use aws_sdk_lambda::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use cutover_aws::service::{Cutover, StartRequest};
use cutover_core::model::{Deployment, DeploymentStatus, Observation, Phase};
use cutover_tests::faults::cutover_with;
use cutover_tests::*;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    Before,
    After,
}

/// What every client saw: successful alias updates (by the alias state they asked for)
/// and hook invocations.
#[derive(Debug, Default)]
struct Seen {
    updates: Vec<String>,
    hooks: Vec<String>,
}

#[derive(Debug, Default)]
struct PauseAt {
    at: Option<(u32, When)>,
    calls: u32,
    paused: Option<mpsc::Sender<()>>,
}

/// Records effects; on tick A's clients also pauses at the chosen call until let go.
#[derive(Debug, Clone)]
struct Probe {
    seen: Arc<Mutex<Seen>>,
    pause: Option<Arc<Mutex<PauseAt>>>,
    go: Arc<(Mutex<bool>, Condvar)>,
}

#[derive(Debug, Clone)]
struct Call(u32, Option<String>);
impl Storable for Call {
    type Storer = StoreReplace<Self>;
}

impl Probe {
    fn wait_here(&self, n: u32, when: When) {
        let Some(p) = &self.pause else { return };
        let mut p = p.lock().unwrap();
        if p.at != Some((n, when)) {
            return;
        }
        if let Some(tx) = p.paused.take() {
            let _ = tx.send(());
        }
        drop(p);
        // Blocking a runtime worker: tell tokio, so the tasks queued on it move elsewhere.
        tokio::task::block_in_place(|| {
            let (lock, cv) = &*self.go;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = cv.wait(go).unwrap();
            }
        });
    }
}

impl Intercept for Probe {
    fn name(&self) -> &'static str {
        "Probe"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = match &self.pause {
            Some(p) => {
                let mut p = p.lock().unwrap();
                p.calls += 1;
                p.calls
            }
            None => 0,
        };
        cfg.interceptor_state().store_put(Call(n, None));
        self.wait_here(n, When::Before);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Metadata>().map(|m| m.name().to_string());
        let body = ctx.request().body().bytes().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let what = match op.as_deref() {
            Some("UpdateAlias") => Some(format!(
                "update {} {}",
                v["FunctionVersion"].as_str().unwrap_or("?"),
                v["RoutingConfig"]["AdditionalVersionWeights"]
            )),
            Some("Invoke") => v["LifecycleEventHookExecutionId"]
                .as_str()
                .map(|id| format!("hook {id}")),
            _ => None,
        };
        let n = cfg.load::<Call>().map_or(0, |c| c.0);
        cfg.interceptor_state().store_put(Call(n, what));
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ok = ctx.response().is_some_and(|r| r.status().is_success());
        let call = cfg.load::<Call>().cloned();
        if let (true, Some(Call(_, Some(what)))) = (ok, &call) {
            let mut seen = self.seen.lock().unwrap();
            match what.strip_prefix("hook ") {
                Some(id) => seen.hooks.push(id.to_string()),
                None => seen.updates.push(what.clone()),
            }
        }
        if let Some(Call(n, _)) = call {
            self.wait_here(n, When::After);
        }
        Ok(())
    }
}

/// What races tick A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Racer {
    /// Another tick of the same deployment.
    Tick,
    /// `cutover stop --rollback`.
    Stop,
    /// The hook's report (a tick when no hook waits yet).
    HookReport,
    /// The alarm function, after the alarm went into ALARM.
    Alarm,
}

struct Race {
    name: &'static str,
    racer: Racer,
    function: String,
    table: String,
    request: StartRequest,
    alarm: Option<String>,
    /// Before tick A: ticks until this holds (and the wake-up it asked for has passed).
    ready: fn(&Deployment) -> bool,
    expect: DeploymentStatus,
    expect_version: &'static str,
}

async fn alias_now(function: &str) -> String {
    let a = aws_sdk_lambda::Client::new(&sdk_config().await)
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .expect("GetAlias");
    format!(
        "{} {:?}",
        a.function_version().unwrap_or_default(),
        a.routing_config()
            .and_then(|r| r.additional_version_weights())
    )
}

/// Reports every hook invocation seen that was not reported yet, as hooks do.
async fn report_hooks(app: &Cutover, id: &str, seen: &Arc<Mutex<Seen>>, done: &mut Vec<String>) {
    let hooks = seen.lock().unwrap().hooks.clone();
    for exec in hooks {
        if !done.contains(&exec) {
            let r = app.hook_report(id, &exec, "Succeeded").await;
            if r.is_ok() || r.is_err_and(|e| e.to_string().contains("LifecycleEvent")) {
                done.push(exec);
            }
        }
    }
}

/// Ticks with `app` until the deployment ends, reporting hooks on the way.
async fn drive_to_end(app: &Cutover, id: &str, seen: &Arc<Mutex<Seen>>) -> Deployment {
    let mut reported = Vec::new();
    for _ in 0..3000 {
        report_hooks(app, id, seen, &mut reported).await;
        match app.tick(id, Observation::default()).await {
            Ok(o) if o.wake_after.is_none() => return o.deployment,
            Ok(o) => {
                let ms = o.wake_after.unwrap_or(10).clamp(1, 100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    panic!("{id} never ended");
}

/// One race: A paused at `at` (or not paused) while the racer runs. Returns A's call
/// count (unpaused runs) and the deployment's end.
async fn run(r: &Race, at: Option<(u32, When)>) -> (u32, Deployment, Seen) {
    // Reset the alias and the alarm.
    let sdk = sdk_config().await;
    aws_sdk_lambda::Client::new(&sdk)
        .update_alias()
        .function_name(&r.function)
        .name("live")
        .function_version("1")
        .routing_config(
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .set_additional_version_weights(Some(Default::default()))
                .build(),
        )
        .send()
        .await
        .expect("reset the alias");
    if let Some(a) = &r.alarm {
        set_alarm_state(a, "OK").await;
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let go = Arc::new((Mutex::new(false), Condvar::new()));
    let free = Probe {
        seen: seen.clone(),
        pause: None,
        go: go.clone(),
    };
    let b = cutover_with(&free, &r.table, None).await;
    let dep = b.start(&r.request).await.expect("start");
    let id = dep.id.clone();
    // Bring the deployment to the state where A's tick has work to do.
    let mut reported = Vec::new();
    let mut wake = 0;
    for _ in 0..1000 {
        let d = b.store.load(&id).await.unwrap();
        if (r.ready)(&d) {
            break;
        }
        report_hooks(&b, &id, &seen, &mut reported).await;
        wake = b
            .tick(&id, Observation::default())
            .await
            .expect("tick")
            .wake_after
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wake.min(100))).await;
    }
    tokio::time::sleep(Duration::from_millis(wake.min(100) + 5)).await;
    let (tx, paused) = mpsc::channel();
    let pause = Arc::new(Mutex::new(PauseAt {
        at,
        calls: 0,
        paused: Some(tx),
    }));
    let probe = Probe {
        seen: seen.clone(),
        pause: Some(pause.clone()),
        go: go.clone(),
    };
    let a = cutover_with(&probe, &r.table, None).await;
    let a_id = id.clone();
    let tick_a = tokio::spawn(async move { a.tick(&a_id, Observation::default()).await });
    // Wait until A is paused (or, past its last call, has ended).
    let paused_now =
        tokio::task::spawn_blocking(move || paused.recv_timeout(Duration::from_secs(20)).is_ok())
            .await
            .unwrap();
    if at.is_none() || !paused_now {
        // Not paused (or past A's last call): A, then the racer, one after the other.
        let _ = tick_a.await;
        let calls = pause.lock().unwrap().calls;
        race_with(r, &b, &id).await;
        let end = drive_to_end(&b, &id, &seen).await;
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        return (calls, end, seen);
    }
    // The racer runs to its end while A waits.
    race_with(r, &b, &id).await;
    let end = drive_to_end(&b, &id, &seen).await;
    let alias_at_end = alias_now(&r.function).await;
    let updates_at_end = seen.lock().unwrap().updates.len();
    // Let A go: whatever it still does, the target must not move again.
    {
        let (lock, cv) = &*go;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    let _ = tick_a.await;
    // A may have left a tick's worth of work (an outbox, a lapsed claim): drive it again.
    let end_after = drive_to_end(&b, &id, &seen).await;
    assert_eq!(end_after.status(), end.status(), "{}: {at:?}", r.name);
    assert_eq!(
        alias_now(&r.function).await,
        alias_at_end,
        "{}: {at:?}: the alias moved after the deployment ended",
        r.name
    );
    let updates = seen.lock().unwrap().updates.clone();
    assert_eq!(
        updates.len(),
        updates_at_end,
        "{}: {at:?}: an alias update landed after the end: {updates:?}",
        r.name
    );
    let calls = pause.lock().unwrap().calls;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    (calls, end, seen)
}

/// Runs the racer to its end.
async fn race_with(r: &Race, b: &Cutover, id: &str) {
    match r.racer {
        Racer::Tick => {
            let _ = b.tick(id, Observation::default()).await;
        }
        Racer::Stop => {
            let _ = b.stop(id, Some(true), Some("race".into())).await;
        }
        Racer::HookReport => {
            let d = b.store.load(id).await.unwrap();
            match (&d.phase, d.hook()) {
                (Phase::Hook { .. }, Some(h)) => {
                    // The id the hook was invoked with, if it was yet.
                    let exec = invocation_payloads(&h.function)
                        .iter()
                        .rev()
                        .find(|p| p["DeploymentId"] == id)
                        .and_then(|p| p["LifecycleEventHookExecutionId"].as_str())
                        .unwrap_or_default()
                        .to_string();
                    let _ = b.hook_report(id, &exec, "Succeeded").await;
                }
                _ => {
                    let _ = b.tick(id, Observation::default()).await;
                }
            }
        }
        Racer::Alarm => {
            if let Some(a) = &r.alarm {
                set_alarm_state(a, "ALARM").await;
                let _ = b.on_alarm(a).await;
            }
        }
    }
}

/// Each alias update and each hook invocation happened once.
fn once_each(r: &Race, at: Option<(u32, When)>, seen: &[String], what: &str) {
    let mut counts = BTreeMap::new();
    for s in seen {
        *counts.entry(s.clone()).or_insert(0) += 1;
    }
    assert!(
        counts.values().all(|c| *c == 1),
        "{}: {at:?}: {what} more than once: {counts:?}",
        r.name
    );
}

async fn race_at_every_call(r: Race) {
    let (n, clean, _) = run(&r, None).await;
    assert_eq!(clean.status(), r.expect, "{}: unpaused run", r.name);
    let mut tried = 0;
    for k in 1..=n {
        for when in [When::Before, When::After] {
            let at = Some((k, when));
            let (_, end, seen) = run(&r, at).await;
            once_each(&r, at, &seen.updates, "an alias update landed");
            once_each(&r, at, &seen.hooks, "a hook was invoked");
            assert_eq!(
                end.status(),
                r.expect,
                "{}: A paused {when:?} call {k}",
                r.name
            );
            let alias = alias_now(&r.function).await;
            assert!(
                alias.starts_with(&format!("{} ", r.expect_version)),
                "{}: A paused {when:?} call {k}: alias {alias}",
                r.name
            );
            tried += 1;
        }
    }
    println!(
        "{}: tick A makes {n} AWS calls; paused before and after each ({tried} interleavings) while {:?} ran: every run ended {:?} with the alias on version {}, each update landed once, nothing moved after the end",
        r.name, r.racer, r.expect, r.expect_version
    );
}

async fn race(
    name: &'static str,
    racer: Racer,
    config: &str,
    hook: bool,
    ready: fn(&Deployment) -> bool,
    expect: DeploymentStatus,
    expect_version: &'static str,
) -> Race {
    let function = unique("race");
    seed_function(&function, 2);
    let before = hook.then(|| {
        let h = unique("RaceHook");
        seed_function(&h, 1);
        h
    });
    let alarm = (racer == Racer::Alarm).then(|| {
        let a = unique("RaceAlarm");
        seed(&["alarm", "--name", &a, "--state", "OK"]);
        a
    });
    let table = fresh_table("race").await;
    Race {
        name,
        racer,
        request: StartRequest {
            appspec: appspec(&function, before.as_deref(), None),
            config: Some(config.into()),
            alarms: alarm.iter().cloned().collect(),
            time_scale: Some(1000.0),
            ..Default::default()
        },
        function,
        table,
        alarm,
        ready,
        expect,
        expect_version,
    }
}

const LINEAR: &str = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute";

fn baking_first_step(d: &Deployment) -> bool {
    matches!(d.phase, Phase::Baking { step: 0, .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_ticks_of_one_deployment_interleaved_at_every_call() {
    let r = race(
        "two ticks",
        Racer::Tick,
        LINEAR,
        false,
        baking_first_step,
        DeploymentStatus::Succeeded,
        "2",
    )
    .await;
    race_at_every_call(r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_racing_the_driver_at_every_call() {
    let r = race(
        "stop racing the driver",
        Racer::Stop,
        LINEAR,
        false,
        baking_first_step,
        DeploymentStatus::Stopped,
        "1",
    )
    .await;
    race_at_every_call(r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alarm_event_racing_a_shift_at_every_call() {
    let r = race(
        "an alarm event racing a shift",
        Racer::Alarm,
        LINEAR,
        false,
        baking_first_step,
        DeploymentStatus::Failed,
        "1",
    )
    .await;
    race_at_every_call(r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hook_report_racing_the_driver_at_every_call() {
    let r = race(
        "a hook report racing the driver",
        Racer::HookReport,
        "CodeDeployDefault.LambdaAllAtOnce",
        true,
        |d| d.phase == Phase::Created,
        DeploymentStatus::Succeeded,
        "2",
    )
    .await;
    race_at_every_call(r).await;
}
