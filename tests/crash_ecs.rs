//! Crash at every call, ECS blue/green: the fault-injecting interceptor of `crash.rs` on
//! every SDK client kills the tick at its k-th AWS call — before the request is sent, or
//! after the response arrived but before the caller sees it — and a fresh tick resumes.
//! For every k from 1 to the number of calls N of a clean run, in both places, the
//! deployment (on a freshly seeded service each run) must end in the clean run's final
//! state, read through the AWS APIs: both listeners' forwards (blue / green), the task sets
//! (original / replacement), the status, one event-log entry per lifecycle event, each
//! hook invoked exactly once, every notification delivered at least once, and an empty
//! outbox.
//!
//! The hooks follow CodeDeploy's protocol: invoked (the emulator echoes the payload, which
//! Cutover reads as "the hook will report"), they report their verdict through
//! `hook_report` (the harness plays that part for every invocation the emulator answered).
//! `cargo test --workspace --test crash_ecs -- --nocapture` prints the counts and times.

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
use cutover_tests::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A seeded service: the JSON `scripts/emulator.py seed ecs` prints.
struct Service(Value);

impl Service {
    fn s(&self, key: &str) -> String {
        self.0[key]
            .as_str()
            .unwrap_or_else(|| panic!("seed output has no {key}: {}", self.0))
            .to_string()
    }

    /// Its deployment group (stored as `crash/<service>`), with a test listener.
    fn group(&self, config: &str, alarm: Option<&str>, termination_wait: u32) -> String {
        let s = self;
        format!(
            "application: crash\nname: {}\ncomputePlatform: ECS\ndeploymentConfig: {config}\n{}ecs:\n  cluster: {}\n  service: {}\n  productionListenerArn: {}\n  testListenerArn: {}\n  targetGroups: [{}, {}]\n  terminationWaitMinutes: {termination_wait}\n",
            s.s("service"),
            alarm.map(|a| format!("alarms: [{a}]\n")).unwrap_or_default(),
            s.s("cluster"),
            s.s("service"),
            s.s("productionListenerArn"),
            s.s("testListenerArn"),
            s.s("blueTargetGroupArn"),
            s.s("greenTargetGroupArn"),
        )
    }

    /// An ECS AppSpec deploying task definition revision 2, with hooks.
    fn appspec(&self, hooks: &[(&str, String)]) -> String {
        let mut s = format!(
            "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{}\"\n        LoadBalancerInfo:\n          ContainerName: \"web\"\n          ContainerPort: 80\n        PlatformVersion: \"LATEST\"\n        NetworkConfiguration:\n          AwsvpcConfiguration:\n            Subnets: [\"{}\"]\n            SecurityGroups: [\"{}\"]\n            AssignPublicIp: \"DISABLED\"\n",
            self.0["taskDefinitions"][1].as_str().expect("task definition"),
            self.0["subnets"][0].as_str().unwrap(),
            self.0["securityGroups"][0].as_str().unwrap(),
        );
        if !hooks.is_empty() {
            s.push_str("Hooks:\n");
            for (event, function) in hooks {
                s.push_str(&format!("  - {event}: \"{function}\"\n"));
            }
        }
        s
    }

    /// A target group ARN as `blue` or `green`.
    fn side(&self, tg: &str) -> String {
        if tg == self.s("blueTargetGroupArn") {
            "blue".into()
        } else if tg == self.s("greenTargetGroupArn") {
            "green".into()
        } else {
            tg.into()
        }
    }
}

/// Seeds fresh services ahead of the runs, in a thread of their own (a seed is a Python
/// process of about a second); the thread ends when the receiver is dropped.
fn service_pool(prefix: &'static str) -> Receiver<Service> {
    let (tx, rx) = sync_channel(2);
    std::thread::spawn(move || loop {
        // ALB names are short: keep the prefix short too.
        let name = unique(prefix);
        let svc = Service(seed(&["ecs", "--name", &name]));
        if tx.send(svc).is_err() {
            return;
        }
    });
    rx
}

/// A listener's forward action as `(blue|green, weight)` with weight > 0.
async fn forwards(svc: &Service, listener: &str) -> Vec<(String, i32)> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config().await);
    let out = elb
        .describe_listeners()
        .listener_arns(listener)
        .send()
        .await
        .expect("DescribeListeners");
    let action = &out.listeners()[0].default_actions()[0];
    let mut v: Vec<(String, i32)> = match action.forward_config() {
        Some(fc) => fc
            .target_groups()
            .iter()
            .map(|t| {
                (
                    svc.side(t.target_group_arn().unwrap_or_default()),
                    t.weight().unwrap_or(1),
                )
            })
            .collect(),
        None => vec![(svc.side(action.target_group_arn().unwrap_or_default()), 1)],
    };
    v.retain(|(_, w)| *w > 0);
    // A single forward reads back with weight 1 or 100: all of it, either way.
    if let [(_, w)] = v.as_mut_slice() {
        *w = 100;
    }
    v.sort();
    v
}

/// The service's task sets that are not deleted (DRAINING counts as deleted), as
/// `(original|replacement, status)`.
async fn task_sets(svc: &Service, id: &str) -> Vec<(String, String)> {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config().await);
    let out = ecs
        .describe_task_sets()
        .cluster(svc.s("cluster"))
        .service(svc.s("service"))
        .send()
        .await
        .expect("DescribeTaskSets");
    let mut v: Vec<(String, String)> = out
        .task_sets()
        .iter()
        .filter(|t| t.status() != Some("DRAINING"))
        .map(|t| {
            let role = if t.task_set_arn() == Some(svc.s("originalTaskSetArn").as_str()) {
                "original".to_string()
            } else if t.external_id() == Some(id) {
                "replacement".to_string()
            } else {
                format!("other {}", t.task_set_arn().unwrap_or_default())
            };
            (role, t.status().unwrap_or_default().to_string())
        })
        .collect();
    v.sort();
    v
}

/// A scenario's fixed resources, made once; each run gets its own service.
struct Scenario {
    name: &'static str,
    config: &'static str,
    termination_wait: u32,
    /// The hook events and their function.
    hooks: Vec<(&'static str, String)>,
    /// An alarm set to ALARM once the deployment shows phase `terminating`.
    alarm: Option<String>,
    table: String,
    topic: String,
    services: Receiver<Service>,
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

/// A queue of the run's own, subscribed to the scenario's topic.
async fn subscribe(topic: &str) -> String {
    let sdk = sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(unique("crash-ecs-q"))
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
        .topic_arn(topic)
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

/// One run of the scenario on a fresh service with the crash `crash` (or none): the calls
/// it made and how it ended.
async fn run(s: &Scenario, crash: Option<(u32, When)>) -> (u32, Final) {
    let svc = s.services.recv().expect("a seeded service");
    let queue = subscribe(&s.topic).await;
    if let Some(alarm) = &s.alarm {
        set_alarm(alarm, "OK").await;
    }
    let fault = Fault::new(crash);
    let app = faulty(&fault, &s.table, &s.topic).await;
    let group = cutover_core::group::DeploymentGroup::parse(&svc.group(
        s.config,
        s.alarm.as_deref(),
        s.termination_wait,
    ))
    .expect("group");
    app.store.put_group(&group).await.expect("put group");
    let request = StartRequest {
        appspec: svc.appspec(&s.hooks),
        group: Some(format!("crash/{}", svc.s("service"))),
        time_scale: Some(10_000.0),
        // Scaled: 8.6 s for the replacement to be steady, whatever the crashes cost.
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
                if let Some(alarm) = &s.alarm {
                    let waiting = matches!(outcome.deployment.phase, Phase::Terminating { .. });
                    if !alarmed && waiting {
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
            production: forwards(&svc, &svc.s("productionListenerArn")).await,
            test: forwards(&svc, &svc.s("testListenerArn")).await,
            task_sets: task_sets(&svc, &id).await,
            status: end.status,
            rolled_back: end.rolled_back,
            error: end.error.map(|e| e.code.as_str().to_string()),
            events,
            hooks,
            notifications: delivered(&queue).await,
        },
    )
}

async fn scenario(
    name: &'static str,
    prefix: &'static str,
    config: &'static str,
    termination_wait: u32,
    hooks: bool,
    alarm: bool,
) -> Scenario {
    let services = service_pool(prefix);
    let hooks = if hooks {
        // All five ECS hooks, run by one seeded function that answers nothing queued: the
        // emulator echoes the payload, which Cutover reads as "the hook will report".
        let f = unique("CrashEcsHook");
        seed_function(&f, 1);
        [
            "BeforeInstall",
            "AfterInstall",
            "AfterAllowTestTraffic",
            "BeforeAllowTraffic",
            "AfterAllowTraffic",
        ]
        .into_iter()
        .map(|e| (e, f.clone()))
        .collect()
    } else {
        Vec::new()
    };
    let alarm = alarm.then(|| unique("CrashEcsAlarm"));
    if let Some(a) = &alarm {
        seed(&["alarm", "--name", a, "--state", "OK"]);
    }
    let table = unique("crash-ecs");
    let sdk = sdk_config().await;
    cutover_aws::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), &table)
        .ensure_table()
        .await
        .unwrap();
    let topic = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name(unique("crash-ecs-topic"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    Scenario {
        name,
        config,
        termination_wait,
        hooks,
        alarm,
        table,
        topic,
        services,
    }
}

/// The clean run (checked against `expect`), then a crash at every call before and after:
/// every run converges on the clean run's end.
async fn crash_at_every_call(s: Scenario, expect: impl Fn(&Final)) {
    quiet_injected_panics();
    let started = Instant::now();
    let (n, clean) = run(&s, None).await;
    println!(
        "{}: clean run: {n} AWS calls in {:.1?}; now {} crashed runs",
        s.name,
        started.elapsed(),
        2 * n
    );
    expect(&clean);
    assert!(
        clean.notifications.contains(&"DeploymentStart".to_string()),
        "{}: clean notifications {:?}",
        s.name,
        clean.notifications
    );
    assert!(
        clean.hooks.len() == s.hooks.len() && clean.hooks.values().all(|c| *c == 1),
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
        "{}: clean run {n} AWS calls; crashed before and after each of calls 1..={n} ({tried} runs + the clean one, up to {longest} calls with the resume) in {:.0?}: every run ended as the clean run ({:?})",
        s.name,
        started.elapsed(),
        clean
    );
}

#[tokio::test]
async fn ecs_linear_with_all_five_hooks_survives_a_crash_at_every_call() {
    let s = scenario(
        "ECS linear with all five hooks",
        "cel",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        1,
        true,
        false,
    )
    .await;
    crash_at_every_call(s, |f| {
        assert_eq!(f.status, DeploymentStatus::Succeeded, "{f:?}");
        assert!(!f.rolled_back && f.error.is_none(), "{f:?}");
        assert_eq!(f.production, vec![("green".to_string(), 100)], "{f:?}");
        assert_eq!(f.test, vec![("green".to_string(), 100)], "{f:?}");
        assert_eq!(
            f.task_sets,
            vec![("replacement".to_string(), "PRIMARY".to_string())],
            "{f:?}"
        );
        assert!(
            f.notifications.contains(&"DeploymentSuccess".to_string()),
            "{f:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn ecs_alarm_in_the_termination_wait_rolls_back_through_a_crash_at_every_call() {
    let s = scenario(
        "ECS alarm during the termination wait",
        "cet",
        "CodeDeployDefault.ECSAllAtOnce",
        600,
        false,
        true,
    )
    .await;
    crash_at_every_call(s, |f| {
        assert_eq!(f.status, DeploymentStatus::Failed, "{f:?}");
        assert!(f.rolled_back, "{f:?}");
        assert_eq!(f.error.as_deref(), Some("ALARM_ACTIVE"), "{f:?}");
        assert_eq!(f.production, vec![("blue".to_string(), 100)], "{f:?}");
        assert_eq!(f.test, vec![("blue".to_string(), 100)], "{f:?}");
        assert_eq!(
            f.task_sets,
            vec![("original".to_string(), "PRIMARY".to_string())],
            "{f:?}"
        );
        assert!(
            f.notifications.contains(&"DeploymentRollback".to_string()),
            "{f:?}"
        );
    })
    .await;
}
