//! Fault injection for the crash tests: an interceptor on every SDK client that counts the
//! AWS calls of a deployment's ticks once armed and panics at the chosen one — before the
//! request is sent, or after its response arrived but before the caller sees it — and
//! records the hook invocations the emulator answered (the harness reports for them, as
//! CodeDeploy's hooks do).

use crate::{sdk_config, REGION};
use aws_sdk_lambda::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use cutover_aws::service::Cutover;
use std::sync::{Arc, Mutex};

/// Where the injected crash happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
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
    invoked: Vec<(String, String)>,
    /// The operation of each counted call, in order.
    ops: Vec<String>,
}

/// The interceptor: counts calls once armed, panics at the chosen one, and records the
/// hook invocations that reached the emulator.
#[derive(Debug, Clone, Default)]
pub struct Fault(Arc<Mutex<FaultState>>);

#[derive(Debug, Clone)]
struct CallNo(u32);
impl Storable for CallNo {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct HookExecution(String, String);
impl Storable for HookExecution {
    type Storer = StoreReplace<Self>;
}

pub const INJECTED: &str = "injected crash";

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
                    let event = v["LifecycleEvent"].as_str().unwrap_or_default();
                    cfg.interceptor_state()
                        .store_put(HookExecution(id.to_string(), event.to_string()));
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
            s.invoked.push((h.0.clone(), h.1.clone()));
        }
        let n = cfg.load::<CallNo>().map(|c| c.0);
        if let (Some(_), Some(m)) = (n, cfg.load::<Metadata>()) {
            s.ops.push(m.name().to_string());
        }
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
    /// A fault that crashes at `crash` (or never), not armed yet.
    pub fn new(crash: Option<(u32, When)>) -> Fault {
        Fault(Arc::new(Mutex::new(FaultState {
            crash,
            ..FaultState::default()
        })))
    }
    /// Starts counting (and crashing).
    pub fn arm(&self) {
        self.0.lock().unwrap().armed = true;
    }
    /// Stops counting and crashing.
    pub fn disarm(&self) {
        self.0.lock().unwrap().armed = false;
    }
    /// Calls counted so far.
    pub fn calls(&self) -> u32 {
        self.0.lock().unwrap().calls
    }
    /// Whether the crash happened.
    pub fn crashed(&self) -> bool {
        self.0.lock().unwrap().crashed
    }
    /// Execution ids of the hook invocations the emulator answered.
    pub fn invoked(&self) -> Vec<String> {
        let s = self.0.lock().unwrap();
        s.invoked.iter().map(|(id, _)| id.clone()).collect()
    }
    /// The lifecycle event of each hook invocation the emulator answered.
    pub fn invoked_events(&self) -> Vec<String> {
        let s = self.0.lock().unwrap();
        s.invoked.iter().map(|(_, e)| e.clone()).collect()
    }
    /// The counted calls per operation, most frequent first.
    pub fn ops(&self) -> Vec<(String, u32)> {
        let mut count = std::collections::BTreeMap::<String, u32>::new();
        for op in &self.0.lock().unwrap().ops {
            *count.entry(op.clone()).or_default() += 1;
        }
        let mut v: Vec<_> = count.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
}

/// Silences the injected panics (the harness expects them); others print as usual.
pub fn quiet_injected_panics() {
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

/// Cutover on clients that all carry `interceptor`, on `table`, notifying `topic`.
pub async fn cutover_with<I>(interceptor: &I, table: &str, topic: Option<&str>) -> Cutover
where
    I: Intercept + Clone + 'static,
{
    let sdk = sdk_config().await;
    macro_rules! client {
        ($krate:ident) => {
            $krate::Client::from_conf(
                $krate::config::Builder::from(&sdk)
                    .interceptor(interceptor.clone())
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
        notifier: cutover_aws::notify::Notifier::new(
            client!(aws_sdk_sns),
            topic.map(str::to_string),
        ),
        region: REGION.into(),
        defaults: Default::default(),
    }
}

/// Runs `f` as a tick would run in a process of its own: an injected panic is a crash.
pub async fn crashable<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    match tokio::spawn(f).await {
        Ok(v) => Some(v),
        Err(e) if e.is_panic() => None,
        Err(e) => panic!("tick task failed: {e}"),
    }
}
