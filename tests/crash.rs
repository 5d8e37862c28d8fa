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

use aws_sdk_lambda::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use cutover_aws::service::{Cutover, StartRequest};
use cutover_core::model::{Deployment, DeploymentStatus, Observation};
use cutover_tests::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the injected crash happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Before the request is sent: the call has no effect.
    Before,
    /// After the response arrived, before the caller sees it: the effect happened.
    After,
}

#[derive(Debug, Default)]
struct FaultState {
    armed: bool,
    calls: u32,
    crash: Option<(u32, When)>,
    crashed: bool,
    /// Execution ids of hook invocations the emulator answered.
    invoked: Vec<String>,
}

/// The interceptor: counts calls once armed, panics at the chosen one, and records the
/// hook invocations that reached the emulator.
#[derive(Debug, Clone, Default)]
struct Fault(Arc<Mutex<FaultState>>);

#[derive(Debug, Clone)]
struct CallNo(u32);
impl Storable for CallNo {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct HookExecution(String);
impl Storable for HookExecution {
    type Storer = StoreReplace<Self>;
}

const INJECTED: &str = "injected crash";

impl Intercept for Fault {
    fn name(&self) -> &'static str {
        "Fault"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut s = self.0.lock().unwrap();
        if !s.armed {
            return Ok(());
        }
        s.calls += 1;
        let n = s.calls;
        cfg.interceptor_state().store_put(CallNo(n));
        if !s.crashed && s.crash == Some((n, When::Before)) {
            s.crashed = true;
            drop(s);
            panic!("{INJECTED} before call {n}");
        }
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let is_invoke = cfg.load::<Metadata>().is_some_and(|m| m.name() == "Invoke");
        if is_invoke {
            let body = ctx.request().body().bytes().unwrap_or_default();
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
                if let Some(id) = v["LifecycleEventHookExecutionId"].as_str() {
                    cfg.interceptor_state()
                        .store_put(HookExecution(id.to_string()));
                }
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let answered = ctx.response().is_some_and(|r| r.status().is_success());
        let mut s = self.0.lock().unwrap();
        if let (true, Some(h)) = (answered, cfg.load::<HookExecution>()) {
            s.invoked.push(h.0.clone());
        }
        let n = cfg.load::<CallNo>().map(|c| c.0);
        if let Some(n) = n {
            if !s.crashed && s.crash == Some((n, When::After)) {
                s.crashed = true;
                drop(s);
                panic!("{INJECTED} after call {n}");
            }
        }
        Ok(())
    }
}

impl Fault {
    fn new(crash: Option<(u32, When)>) -> Fault {
        Fault(Arc::new(Mutex::new(FaultState {
            crash,
            ..FaultState::default()
        })))
    }
    fn arm(&self) {
        self.0.lock().unwrap().armed = true;
    }
    fn disarm(&self) {
        self.0.lock().unwrap().armed = false;
    }
    fn calls(&self) -> u32 {
        self.0.lock().unwrap().calls
    }
    fn crashed(&self) -> bool {
        self.0.lock().unwrap().crashed
    }
    fn invoked(&self) -> Vec<String> {
        self.0.lock().unwrap().invoked.clone()
    }
}

/// Silences the injected panics (the harness expects them); others print as usual.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(move |info| {
            let injected = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|m| m.starts_with(INJECTED));
            if !injected {
                eprintln!("{info}");
            }
        }));
    });
}

async fn faulty(fault: &Fault, table: &str, topic: &str) -> Cutover {
    let sdk = sdk_config().await;
    macro_rules! client {
        ($krate:ident) => {
            $krate::Client::from_conf(
                $krate::config::Builder::from(&sdk)
                    .interceptor(fault.clone())
                    .build(),
            )
        };
    }
    Cutover {
        ecs: cutover_aws::ecs::EcsRouter::new(
            client!(aws_sdk_ecs),
            client!(aws_sdk_elasticloadbalancingv2),
        ),
        store: cutover_aws::store::Store::new(client!(aws_sdk_dynamodb), table),
        lambda: cutover_aws::lambda::LambdaRouter::new(client!(aws_sdk_lambda)),
        alarms: cutover_aws::alarms::Alarms::new(client!(aws_sdk_cloudwatch)),
        notifier: cutover_aws::notify::Notifier::new(client!(aws_sdk_sns), Some(topic.to_string())),
        region: REGION.into(),
        defaults: Default::default(),
    }
}

/// One scenario's fixed resources, made once and reset before each run.
struct Scenario {
    name: &'static str,
    function: String,
    table: String,
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
        set_alarm(alarm, "OK").await;
    }
    // A queue of this run's own, subscribed to the topic.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(unique("crash-q"))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .unwrap()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .unwrap();
    aws_sdk_sns::Client::new(&sdk)
        .subscribe()
        .topic_arn(&s.topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("Subscribe");
    url
}

async fn set_alarm(alarm: &str, state: &str) {
    use aws_sdk_cloudwatch::types::StateValue;
    aws_sdk_cloudwatch::Client::new(&sdk_config().await)
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(StateValue::from(state))
        .state_reason("crash test")
        .send()
        .await
        .expect("SetAlarmState");
}

/// The notification kinds delivered to the run's queue, each once.
async fn delivered(queue: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            if let Some(kind) = body["event"].as_str() {
                kinds.insert(kind.to_string());
            }
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .ok();
        }
    }
    kinds.into_iter().collect()
}

/// Runs `f` as a tick would run in its own process: an injected panic is a crash.
async fn crashable<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    match tokio::spawn(f).await {
        Ok(v) => Some(v),
        Err(e) if e.is_panic() => None,
        Err(e) => panic!("tick task failed: {e}"),
    }
}

/// One run of the scenario with the crash `crash` (or none): the calls it made and how
/// it ended.
async fn run(s: &Scenario, crash: Option<(u32, When)>) -> (u32, Final) {
    let queue = reset(s).await;
    let fault = Fault::new(crash);
    let app = faulty(&fault, &s.table, &s.topic).await;
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
                        set_alarm(alarm, "ALARM").await;
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
    for exec in fault.invoked() {
        // The execution id names its event; the secret part differs per run.
        let event = exec.split('-').nth(2).unwrap_or_default().to_string();
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
            status: end.status,
            rolled_back: end.rolled_back,
            error: end.error.map(|e| e.code.as_str().to_string()),
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
    let table = unique("crash");
    let sdk = sdk_config().await;
    cutover_aws::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), &table)
        .ensure_table()
        .await
        .unwrap();
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
        table,
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
