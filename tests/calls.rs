//! Counts the AWS calls of a whole deployment, through an interceptor on every real SDK
//! client, and checks the shape: one alias update per shift, one read-back per update, no
//! redundant writes. The counts are printed for the measurements in `docs/measurements.md`
//! (`cargo test -p cutover-tests --test calls -- --nocapture`).

use aws_sdk_lambda::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_lambda::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use cutover_aws::service::{Cutover, StartRequest};
use cutover_core::model::{DeploymentStatus, Observation};
use cutover_tests::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
struct Counter(Arc<Mutex<BTreeMap<String, u32>>>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let key = format!("{}:{}", m.service(), m.name());
            *self.0.lock().unwrap().entry(key).or_default() += 1;
        }
        Ok(())
    }
}

impl Counter {
    fn get(&self, key: &str) -> u32 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
    fn total(&self) -> u32 {
        self.0.lock().unwrap().values().sum()
    }
    fn reset(&self) {
        self.0.lock().unwrap().clear();
    }
}

async fn counted(counter: &Counter, table: &str) -> Cutover {
    let sdk = sdk_config().await;
    let lambda = aws_sdk_lambda::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    let ddb = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    let cw = aws_sdk_cloudwatch::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    let sns = aws_sdk_sns::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    let ecs = aws_sdk_ecs::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(&sdk)
        .interceptor(counter.clone())
        .build();
    Cutover {
        ecs: cutover_aws::ecs::EcsRouter::new(
            aws_sdk_ecs::Client::from_conf(ecs),
            aws_sdk_elasticloadbalancingv2::Client::from_conf(elb),
        ),
        store: cutover_aws::store::Store::new(aws_sdk_dynamodb::Client::from_conf(ddb), table),
        lambda: cutover_aws::lambda::LambdaRouter::new(aws_sdk_lambda::Client::from_conf(lambda)),
        alarms: cutover_aws::alarms::Alarms::new(aws_sdk_cloudwatch::Client::from_conf(cw)),
        notifier: cutover_aws::notify::Notifier::new(aws_sdk_sns::Client::from_conf(sns), None),
        region: REGION.into(),
        defaults: Default::default(),
    }
}

/// Drives a deployment to its end the way the Step Functions loop does: one `tick` per
/// wake-up. Returns the number of ticks.
async fn drive(app: &Cutover, id: &str) -> (u32, DeploymentStatus) {
    let mut ticks = 0;
    loop {
        ticks += 1;
        let out = app.tick(id, Observation::default()).await.unwrap();
        match out.wake_after {
            None => return (ticks, out.deployment.status()),
            Some(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
        }
        assert!(ticks < 500, "deployment did not end");
    }
}

#[tokio::test]
async fn a_linear_deployment_makes_one_update_and_one_read_back_per_shift() {
    let f = unique("calls");
    seed_function(&f, 2);
    let counter = Counter::default();
    let app = counted(&counter, &unique("calls")).await;
    app.store.ensure_table().await.unwrap();
    counter.reset();
    let req = StartRequest {
        appspec: appspec(&f, None, None),
        config: Some("CodeDeployDefault.LambdaLinear10PercentEvery1Minute".into()),
        time_scale: Some(600.0),
        ..Default::default()
    };
    let dep = app.start(&req).await.unwrap();
    let start_calls = counter.total();
    let (ticks, status) = drive(&app, &dep.id).await;
    assert_eq!(status, DeploymentStatus::Succeeded);
    let shifts = 10;
    assert_eq!(
        counter.get("Lambda:UpdateAlias"),
        shifts,
        "one absolute update per shift"
    );
    // The pre-flight reads the alias once; then every decision reads it once (someone
    // else's change is noticed in every phase), and an update reads nothing first: it
    // carries the revision its decision saw. So at least one read per confirmed shift, and
    // never more than one per loaded deployment.
    let alias_reads = counter.get("Lambda:GetAlias");
    let loads = counter.get("DynamoDB:GetItem");
    assert!(
        alias_reads > shifts && alias_reads <= 1 + loads,
        "{alias_reads} alias reads, {loads} deployment loads"
    );
    assert_eq!(counter.get("Lambda:Invoke"), 0);
    assert_eq!(
        counter.get("CloudWatch:DescribeAlarms"),
        0,
        "no alarms, no alarm reads"
    );
    let writes = counter.get("DynamoDB:TransactWriteItems");
    let reads = counter.get("DynamoDB:GetItem");
    println!(
        "LambdaLinear10PercentEvery1Minute, no hooks, no alarms: {} AWS calls ({} to start, {} over {} ticks): {:?}",
        counter.total(),
        start_calls,
        counter.total() - start_calls,
        ticks,
        counter.0.lock().unwrap()
    );
    // One creation, then at most one save per decision that changed something: start,
    // ten updates, ten confirmations, and the end.
    assert!(writes <= 1 + 1 + 2 * shifts + 1, "{writes} state writes");
    assert!(
        reads >= ticks,
        "every tick loads the deployment: {reads} reads, {ticks} ticks"
    );
}

#[tokio::test]
async fn watching_alarms_adds_one_describe_per_decision() {
    let f = unique("calls-alarm");
    let alarm = unique("CallsAlarm");
    seed_function(&f, 2);
    seed(&["alarm", "--name", &alarm, "--state", "OK"]);
    let counter = Counter::default();
    let app = counted(&counter, &unique("calls")).await;
    app.store.ensure_table().await.unwrap();
    counter.reset();
    let req = StartRequest {
        appspec: appspec(&f, None, None),
        config: Some("CodeDeployDefault.LambdaLinear10PercentEvery1Minute".into()),
        alarms: vec![alarm],
        time_scale: Some(600.0),
        ..Default::default()
    };
    let dep = app.start(&req).await.unwrap();
    let (ticks, status) = drive(&app, &dep.id).await;
    assert_eq!(status, DeploymentStatus::Succeeded);
    let describes = counter.get("CloudWatch:DescribeAlarms");
    println!(
        "LambdaLinear10PercentEvery1Minute with one alarm: {} AWS calls over {} ticks: {:?}",
        counter.total(),
        ticks,
        counter.0.lock().unwrap()
    );
    // One read at start (refuse firing alarms), then one per decision while in progress.
    assert!(
        describes > ticks,
        "{describes} alarm reads over {ticks} ticks"
    );
    assert_eq!(counter.get("Lambda:UpdateAlias"), 10);
}

#[tokio::test]
async fn an_ecs_linear_deployment_moves_each_listener_weight_once() {
    let name = unique("calls-ecs");
    let svc = seed(&["ecs", "--name", &name]);
    let v = |k: &str| svc[k].as_str().unwrap().to_string();
    let counter = Counter::default();
    let app = counted(&counter, &unique("calls")).await;
    app.store.ensure_table().await.unwrap();
    let group = cutover_core::group::DeploymentGroup::parse(&format!(
        "application: calls\nname: {name}\ncomputePlatform: ECS\ndeploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minutes\necs:\n  cluster: {}\n  service: {}\n  productionListenerArn: {}\n  testListenerArn: {}\n  targetGroups: [{}, {}]\n  terminationWaitMinutes: 5\n",
        v("cluster"),
        v("service"),
        v("productionListenerArn"),
        v("testListenerArn"),
        v("blueTargetGroupArn"),
        v("greenTargetGroupArn"),
    ))
    .unwrap();
    app.store.put_group(&group).await.unwrap();
    counter.reset();
    let appspec = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{}\"\n        LoadBalancerInfo:\n          ContainerName: \"web\"\n          ContainerPort: 80\n",
        svc["taskDefinitions"][1].as_str().unwrap()
    );
    let req = StartRequest {
        appspec,
        group: Some(format!("calls/{name}")),
        time_scale: Some(600.0),
        ..Default::default()
    };
    let dep = app.start(&req).await.unwrap();
    let start_calls = counter.total();
    let (ticks, status) = drive(&app, &dep.id).await;
    assert_eq!(status, DeploymentStatus::Succeeded);
    println!(
        "ECSLinear10PercentEvery1Minutes with a test listener, no hooks, no alarms: {} AWS calls ({} to start, {} over {} ticks): {:?}",
        counter.total(),
        start_calls,
        counter.total() - start_calls,
        ticks,
        counter.0.lock().unwrap()
    );
    // Ten production weights and one test-listener move, each written once.
    assert_eq!(counter.get("Elastic Load Balancing v2:ModifyListener"), 11);
    // The pre-flight reads both listeners once; each move reads its listener first (a
    // foreign target group is never overwritten); every decision reads the production and
    // test listeners once (someone else's change is noticed in every phase).
    let listener_reads = counter.get("Elastic Load Balancing v2:DescribeListeners");
    let loads = counter.get("DynamoDB:GetItem");
    assert!(
        listener_reads > 2 + 11 && listener_reads <= 2 + 11 + 2 * loads,
        "{listener_reads} listener reads, {loads} deployment loads"
    );
    assert_eq!(counter.get("ECS:CreateTaskSet"), 1);
    assert_eq!(counter.get("ECS:UpdateServicePrimaryTaskSet"), 1);
    assert_eq!(counter.get("ECS:DeleteTaskSet"), 1);
    assert_eq!(counter.get("Lambda:Invoke"), 0);
}
