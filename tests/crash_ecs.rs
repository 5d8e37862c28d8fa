//! Crash at every call, ECS blue/green: the fault-injecting interceptor of the test support
//! on every SDK client kills the tick at its k-th AWS call — before the request is sent, or
//! after the response arrived but before the caller sees it — and a fresh tick resumes.
//! For every k from 1 to the number of calls N of a clean run, in both places, the
//! deployment (on one of four seeded services, put back as seeded before each run, with a
//! table, topic and queue of the run's own) must end in the clean run's final state, read through the AWS APIs: both listeners' forwards (blue / green), the task sets
//! (original / replacement), the status, one event-log entry per lifecycle event, each
//! hook invoked exactly once, every notification delivered at least once, and an empty
//! outbox.
//!
//! The hooks follow CodeDeploy's protocol: invoked (the emulator echoes the payload, which
//! Cutover reads as "the hook will report"), they report their verdict through
//! `hook_report` (the harness plays that part for every invocation the emulator answered).
//! `cargo test --workspace --test crash_ecs -- --nocapture` prints the counts and times;
//! `CRASH_ECS_ONLY=After:16,Before:17` runs only those crashes (and the clean run).

use cutover_aws::service::StartRequest;
use cutover_core::model::{Deployment, DeploymentStatus, Observation, Phase};
use cutover_tests::faults::*;
use cutover_tests::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "crash_ecs/service.rs"]
mod service;
use service::*;

/// Runs at once per scenario, each on a service of its own.
const JOBS: usize = 4;

/// A scenario's fixed resources, made once; each run gets its own service.
struct Scenario {
    name: &'static str,
    config: &'static str,
    termination_wait: u32,
    /// The hook events and their function.
    hooks: Vec<(&'static str, String)>,
    /// The custom deployment configuration `config` names, if it is one.
    custom: Option<cutover_core::config::DeploymentConfig>,
    /// The services not in use by a run.
    services: Mutex<Vec<Service>>,
}

/// What a run ended with, as AWS and the event log show it.
#[derive(Debug, Clone, PartialEq)]
struct Final {
    production: Vec<(String, i32)>,
    test: Vec<(String, i32)>,
    task_sets: Vec<(String, String)>,
    status: DeploymentStatus,
    rolled_back: bool,
    error: Option<String>,
    /// Lifecycle events' terminal log lines, each with its count.
    events: BTreeMap<String, u32>,
    /// Hook invocations per lifecycle event.
    hooks: BTreeMap<String, u32>,
    /// Notification kinds delivered (at least once each).
    notifications: Vec<String>,
}

/// A topic of the run's own (runs go concurrently, and SNS fans out to every subscribed
/// queue) and a queue subscribed to it: `(topic, queue URL)`.
async fn subscribe() -> (String, String) {
    let sdk = sdk_config().await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name(unique("crash-ecs-topic"))
        .send()
        .await
        .expect("CreateTopic")
        .topic_arn()
        .unwrap()
        .to_string();
    let url = queue_on(&topic, "crash-ecs-q").await;
    (topic, url)
}

/// One run of the scenario on a fresh service with the crash `crash` (or none): the calls
/// it made and how it ended.
async fn run(s: Arc<Scenario>, crash: Option<(u32, When)>) -> (u32, Final, Vec<String>) {
    let mut svc = s.services.lock().unwrap().pop().expect("a free service");
    reset(&mut svc).await;
    let alarm = svc.1.clone();
    let (topic, queue) = subscribe().await;
    let fault = Fault::new(crash);
    let table = fresh_table("crash-ecs").await;
    let app = cutover_with(&fault, &table, Some(&topic)).await;
    let group = cutover_core::group::DeploymentGroup::parse(&svc.group(
        s.config,
        alarm.as_deref(),
        s.termination_wait,
    ))
    .expect("group");
    app.store.put_group(&group).await.expect("put group");
    if let Some(config) = &s.custom {
        app.store.put_config(config).await.expect("put config");
    }
    let request = StartRequest {
        appspec: svc.appspec(&s.hooks),
        group: Some(format!("crash/{}", svc.s("service"))),
        time_scale: Some(1_000.0),
        // Scaled: 86 s for the replacement to be steady, whatever the crashes and the load cost.
        install_timeout_seconds: Some(86_400),
        ..Default::default()
    };
    let dep = app.start(&request).await.expect("start");
    let id = dep.id.clone();
    fault.arm();
    let mut reported: Vec<String> = Vec::new();
    let mut alarmed = false;
    let mut end: Option<Deployment> = None;
    for _ in 0..2000 {
        // The hooks report, as CodeDeploy's hooks do (retrying when the report's own tick
        // crashed).
        for exec in fault.invoked() {
            if reported.contains(&exec) {
                continue;
            }
            let (a, i, e) = (app.clone(), id.clone(), exec.clone());
            match crashable(async move { a.hook_report(&i, &e, "Succeeded").await }).await {
                Some(Ok(_)) => reported.push(exec),
                Some(Err(err)) if err.to_string().contains("LifecycleEvent") => reported.push(exec),
                Some(Err(_)) | None => {}
            }
        }
        let (a, i) = (app.clone(), id.clone());
        let wake = match crashable(async move { a.tick(&i, Observation::default()).await }).await {
            Some(Ok(outcome)) => {
                if let Some(alarm) = &alarm {
                    let waiting = matches!(outcome.deployment.phase, Phase::Terminating { .. });
                    if !alarmed && waiting {
                        set_alarm_state(alarm, "ALARM").await;
                        alarmed = true;
                    }
                }
                match outcome.wake_after {
                    None => {
                        end = Some(outcome.deployment);
                        break;
                    }
                    Some(ms) => ms,
                }
            }
            // An AWS error, or a crash: a fresh tick goes on.
            Some(Err(_)) | None => 5,
        };
        // A hook invoked in this tick reports at once.
        if fault.invoked().iter().any(|e| !reported.contains(e)) {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(wake.clamp(1, 200))).await;
    }
    fault.disarm();
    let end = end.unwrap_or_else(|| panic!("{} {crash:?}: never ended", s.name));
    let log = app.store.log(&id).await.expect("log");
    let mut events = BTreeMap::new();
    for l in &log {
        if let Some((name, status)) = l.message.split_once(": ") {
            if matches!(status, "Succeeded" | "Failed" | "Skipped")
                && cutover_core::LifecycleEvent::ALL
                    .iter()
                    .any(|e| e.as_str() == name)
            {
                *events.entry(l.message.clone()).or_insert(0) += 1;
            }
        }
    }
    let mut hooks = BTreeMap::new();
    for event in fault.invoked_events() {
        *hooks.entry(event).or_insert(0) += 1;
    }
    let calls = fault.calls();
    if crash.is_none() {
        println!("{}: the clean run's calls: {:?}", s.name, fault.ops());
    }
    assert!(
        crash.is_none() || fault.crashed() || crash.is_some_and(|(k, _)| k > calls),
        "{} {crash:?}: the crash did not happen",
        s.name
    );
    let stored = app.store.load(&id).await.expect("load");
    assert!(
        stored.outbox.is_empty(),
        "{} {crash:?}: notifications left unsent: {:?}",
        s.name,
        stored.outbox
    );
    let end = Final {
        production: forwards(&svc, &svc.s("productionListenerArn")).await,
        test: forwards(&svc, &svc.s("testListenerArn")).await,
        task_sets: task_sets(&svc, &id).await,
        status: end.status(),
        rolled_back: end.rolled_back(),
        error: end.error().map(|e| e.code.as_str().to_string()),
        events,
        hooks,
        notifications: delivered(&queue).await,
    };
    s.services.lock().unwrap().push(svc);
    (calls, end, log.iter().map(|l| l.message.clone()).collect())
}

async fn scenario(
    name: &'static str,
    prefix: &'static str,
    config: &'static str,
    termination_wait: u32,
    hooks: bool,
    alarm: bool,
) -> Scenario {
    let services = Mutex::new(seed_services(prefix, alarm, JOBS));
    let hooks = if hooks {
        // All five ECS hooks, run by one seeded function that answers nothing queued: the
        // emulator echoes the payload, which Cutover reads as "the hook will report".
        let f = unique("CrashEcsHook");
        seed_function(&f, 1);
        cutover_core::LifecycleEvent::ECS_HOOKS
            .into_iter()
            .map(|e| (e.as_str(), f.clone()))
            .collect()
    } else {
        Vec::new()
    };
    let custom = config.starts_with("Crash").then(|| {
        cutover_core::config::DeploymentConfig::parse_document(&format!(
            "{{\"deploymentConfigName\": \"{config}\", \"computePlatform\": \"ECS\", \"trafficRoutingConfig\": {{\"type\": \"TimeBasedLinear\", \"timeBasedLinear\": {{\"linearPercentage\": 34, \"linearInterval\": 1}}}}}}"
        ))
        .expect("the custom configuration")
    });
    Scenario {
        name,
        config,
        custom,
        termination_wait,
        hooks,
        services,
    }
}

/// The end a scenario must reach: status, error code (with a rollback), the target group
/// both listeners forward to, the one task set left (PRIMARY), the last notification.
type End = (
    DeploymentStatus,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
);

/// The clean run (checked against `expect`), then a crash at every call before and after
/// (`CRASH_ECS_ONLY=After:16` runs one): every run converges on the clean run's end.
async fn crash_at_every_call(s: Scenario, expect: End) {
    let s = Arc::new(s);
    quiet_injected_panics();
    let started = Instant::now();
    let (n, clean, _) = run(s.clone(), None).await;
    println!(
        "{}: clean run: {n} AWS calls in {:.1?}; now {} crashed runs",
        s.name,
        started.elapsed(),
        2 * n
    );
    let (status, error, side, set, note) = expect;
    let on = vec![(side.to_string(), 100)];
    assert_eq!(
        (clean.status, clean.rolled_back, clean.error.as_deref()),
        (status, error.is_some(), error),
        "{}: the clean run {clean:?}",
        s.name
    );
    assert_eq!((&clean.production, &clean.test), (&on, &on), "{clean:?}");
    let left = vec![(set.to_string(), "PRIMARY".to_string())];
    assert_eq!(clean.task_sets, left, "{clean:?}");
    assert!(
        clean.notifications.contains(&"DeploymentStart".to_string())
            && clean.notifications.contains(&note.to_string())
            && clean.hooks.len() == s.hooks.len()
            && clean.hooks.values().all(|c| *c == 1)
            && clean.events.values().all(|c| *c == 1),
        "{}: the clean run {clean:?}",
        s.name
    );
    let only = std::env::var("CRASH_ECS_ONLY").ok();
    let mut cases = Vec::new();
    for k in 1..=n {
        for when in [When::Before, When::After] {
            let case = format!("{when:?}:{k}");
            if only
                .as_ref()
                .is_none_or(|o| o.split(',').any(|c| c == case))
            {
                cases.push((k, when));
            }
        }
    }
    let tried = cases.len();
    let mut longest = n;
    let mut running = tokio::task::JoinSet::new();
    let mut cases = cases.into_iter();
    loop {
        while running.len() < JOBS {
            let Some((k, when)) = cases.next() else { break };
            let s = s.clone();
            running.spawn(async move { (k, when, run(s, Some((k, when))).await) });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (k, when, (calls, got, log)) = done.expect("a run panicked");
        longest = longest.max(calls);
        assert_eq!(
            got,
            clean,
            "{}: a crash {when:?} call {k} of {n} did not converge on the clean run's end; its log:\n{}",
            s.name,
            log.join("\n")
        );
    }
    println!(
        "{}: clean run {n} AWS calls; crashed before and after each of calls 1..={n} ({tried} runs + the clean one, up to {longest} calls with the resume) in {:.0?}: every run ended as the clean run ({:?})",
        s.name,
        started.elapsed(),
        clean
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ecs_linear_with_all_five_hooks_survives_a_crash_at_every_call() {
    let s = scenario(
        "ECS linear with all five hooks",
        "cel",
        // Three shifts (34, 68, 100 %): a later shift makes the same calls as these.
        "CrashEcsLinear34PercentEvery1Minute",
        1,
        true,
        false,
    )
    .await;
    let end = (
        DeploymentStatus::Succeeded,
        None,
        "green",
        "replacement",
        "DeploymentSuccess",
    );
    crash_at_every_call(s, end).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ecs_alarm_in_the_termination_wait_rolls_back_through_a_crash_at_every_call() {
    let s = scenario(
        "ECS alarm during the termination wait",
        "cet",
        "CodeDeployDefault.ECSAllAtOnce",
        2880,
        false,
        true,
    )
    .await;
    let end = (
        DeploymentStatus::Failed,
        Some("ALARM_ACTIVE"),
        "blue",
        "original",
        "DeploymentRollback",
    );
    crash_at_every_call(s, end).await;
}
