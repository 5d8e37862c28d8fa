//! Crash at every call: a fault-injecting interceptor on every SDK client kills the tick at
//! its k-th AWS call — before the request is sent, or after the response arrived but
//! before the caller sees it — and a fresh tick resumes. For every k from 1 to the number
//! of calls N of a clean run, in both places, the deployment must end in the clean run's
//! final state, read through the AWS APIs: the alias (version and weights), the status,
//! one event-log entry per lifecycle event, each hook invoked exactly once, and every
//! notification delivered (to an SQS queue subscribed to the topic) at least once.
//!
//! The hooks follow CodeDeploy's protocol: invoked, they report their verdict through
//! `hook-report` (the harness plays that part for every invocation the emulator answered).
//! `cargo test -p cutover-tests --test crash -- --nocapture` prints the counts that
//! docs/reliability.md records.

use cutover_aws::service::StartRequest;
use cutover_core::model::{Deployment, DeploymentStatus, Observation};
use cutover_tests::faults::*;
use cutover_tests::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// One scenario's fixed resources, made once and reset before each run.
struct Scenario {
    name: &'static str,
    function: String,
    topic: String,
    request: StartRequest,
    /// Alarm set to ALARM once the deployment shows this much traffic on the target.
    alarm_at: Option<(String, u8)>,
}

/// What a run ended with, as AWS and the event log show it.
#[derive(Debug, Clone, PartialEq)]
struct Final {
    alias: (String, Option<(String, f64)>),
    status: DeploymentStatus,
    rolled_back: bool,
    error: Option<String>,
    /// Lifecycle events' terminal log lines, each with its count.
    events: BTreeMap<String, u32>,
    /// Hook invocations per execution id.
    hooks: BTreeMap<String, u32>,
    /// Notification kinds delivered (at least once each).
    notifications: Vec<String>,
}

async fn read_alias(function: &str) -> (String, Option<(String, f64)>) {
    let lambda = aws_sdk_lambda::Client::new(&sdk_config().await);
    let a = lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .expect("GetAlias");
    let extra = a
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .and_then(|w| w.iter().next())
        .map(|(v, w)| (v.clone(), *w));
    (a.function_version().unwrap_or_default().to_string(), extra)
}

async fn reset(s: &Scenario) -> String {
    let sdk = sdk_config().await;
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    lambda
        .update_alias()
        .function_name(&s.function)
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
    if let Some((alarm, _)) = &s.alarm_at {
        set_alarm_state(alarm, "OK").await;
    }
    // A queue of this run's own, subscribed to the topic.
    queue_on(&s.topic, "crash-q").await
}

/// One run of the scenario with the crash `crash` (or none): the calls it made and how
/// it ended.
async fn run(s: &Scenario, crash: Option<(u32, When)>) -> (u32, Final) {
    let queue = reset(s).await;
    let fault = Fault::new(crash);
    let table = fresh_table("crash").await;
    let app = cutover_with(&fault, &table, Some(&s.topic)).await;
    let dep = app.start(&s.request).await.expect("start");
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
                if let Some((alarm, at)) = &s.alarm_at {
                    if !alarmed && outcome.deployment.traffic >= *at {
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
        tokio::time::sleep(Duration::from_millis(wake.clamp(1, 200))).await;
    }
    fault.disarm();
    let end = end.unwrap_or_else(|| panic!("{} {crash:?}: never ended", s.name));
    // Sent notifications are at least once: give the outbox its last tick, then read.
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
    (
        calls,
        Final {
            alias: read_alias(&s.function).await,
            status: end.status(),
            rolled_back: end.rolled_back(),
            error: end.error().map(|e| e.code.as_str().to_string()),
            events,
            hooks,
            notifications: delivered(&queue).await,
        },
    )
}

async fn scenario(name: &'static str, config: &str, hooks: bool, alarm_at: Option<u8>) -> Scenario {
    let function = unique("crash");
    seed_function(&function, 2);
    let (before, after) = if hooks {
        let (b, a) = (unique("CrashBefore"), unique("CrashAfter"));
        seed_function(&b, 1);
        seed_function(&a, 1);
        (Some(b), Some(a))
    } else {
        (None, None)
    };
    let alarm = alarm_at.map(|at| (unique("CrashAlarm"), at));
    if let Some((a, _)) = &alarm {
        seed(&["alarm", "--name", a, "--state", "OK"]);
    }
    let sdk = sdk_config().await;
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name(unique("crash-topic"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    Scenario {
        name,
        request: StartRequest {
            appspec: appspec(&function, before.as_deref(), after.as_deref()),
            config: Some(config.into()),
            alarms: alarm.iter().map(|(a, _)| a.clone()).collect(),
            time_scale: Some(10_000.0),
            ..Default::default()
        },
        function,
        topic,
        alarm_at: alarm,
    }
}

/// The clean run, then a crash at every call before and after: every run converges.
async fn crash_at_every_call(s: Scenario, expect: DeploymentStatus, hooks: usize) {
    quiet_injected_panics();
    let (n, clean) = run(&s, None).await;
    assert_eq!(clean.status, expect, "{}: the clean run", s.name);
    assert_eq!(
        clean.hooks.len(),
        hooks,
        "{}: clean hooks {:?}",
        s.name,
        clean.hooks
    );
    assert!(
        clean.notifications.contains(&"DeploymentStart".to_string()),
        "{}: clean notifications {:?}",
        s.name,
        clean.notifications
    );
    assert!(
        clean.hooks.values().all(|c| *c == 1),
        "{}: clean hooks {:?}",
        s.name,
        clean.hooks
    );
    assert!(
        clean.events.values().all(|c| *c == 1),
        "{}: clean events {:?}",
        s.name,
        clean.events
    );
    let mut tried = 0;
    let mut longest = n;
    for k in 1..=n {
        for when in [When::Before, When::After] {
            let (calls, got) = run(&s, Some((k, when))).await;
            longest = longest.max(calls);
            assert_eq!(
                got, clean,
                "{}: a crash {when:?} call {k} of {n} did not converge on the clean run's end",
                s.name
            );
            tried += 1;
        }
    }
    println!(
        "{}: clean run {n} AWS calls; crashed before and after each of calls 1..={n} ({tried} runs, up to {longest} calls with the resume): every run ended as the clean run ({:?}, alias {:?}, notifications {:?})",
        s.name, clean.status, clean.alias, clean.notifications
    );
}

#[tokio::test]
async fn lambda_canary_with_both_hooks_survives_a_crash_at_every_call() {
    let s = scenario(
        "Lambda canary with both hooks",
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        true,
        None,
    )
    .await;
    crash_at_every_call(s, DeploymentStatus::Succeeded, 2).await;
}

#[tokio::test]
async fn lambda_linear_rolled_back_by_an_alarm_survives_a_crash_at_every_call() {
    let s = scenario(
        "Lambda linear rolled back by an alarm",
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        false,
        Some(20),
    )
    .await;
    crash_at_every_call(s, DeploymentStatus::Failed, 0).await;
}
