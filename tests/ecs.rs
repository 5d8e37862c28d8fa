//! End-to-end ECS blue/green: `cutover group put` and `cutover deploy --group ... --local
//! --wait` run as a user runs them, against an EXTERNAL-controller service behind an ALB in
//! the emulator; listeners and task sets are checked through the real ECS and ELBv2 APIs.

use cutover_tests::cli::*;
use cutover_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A seeded service: the JSON `scripts/emulator.py seed ecs` prints.
struct Service(Value);

impl Service {
    fn new(prefix: &str, extra: &[&str]) -> Service {
        // ALB names are short: keep the prefix short too.
        let name = unique(prefix);
        let mut args = vec!["ecs", "--name", name.as_str()];
        args.extend_from_slice(extra);
        Service(seed(&args))
    }

    fn s(&self, key: &str) -> String {
        self.0[key]
            .as_str()
            .unwrap_or_else(|| panic!("seed output has no {key}: {}", self.0))
            .to_string()
    }

    fn task_definition(&self, revision: usize) -> String {
        self.0["taskDefinitions"][revision - 1]
            .as_str()
            .expect("task definition")
            .to_string()
    }

    /// A deployment group file for this service; `extra` lines go under `ecs:`.
    fn group(&self, app: &str, name: &str, top: &str, ecs_extra: &str) -> String {
        format!(
            "application: {app}\nname: {name}\ncomputePlatform: ECS\n{top}ecs:\n  cluster: {}\n  service: {}\n  productionListenerArn: {}\n  targetGroups: [{}, {}]\n{ecs_extra}",
            self.s("cluster"),
            self.s("service"),
            self.s("productionListenerArn"),
            self.s("blueTargetGroupArn"),
            self.s("greenTargetGroupArn"),
        )
    }

    /// Stores the group `shop/<service>` (see [`Service::group`]) and returns its key.
    fn put_shop_group(&self, top: &str, ecs_extra: &str) -> String {
        put_group_ok(&self.group("shop", &self.s("service"), top, ecs_extra));
        format!("shop/{}", self.s("service"))
    }

    /// An ECS AppSpec deploying task definition `revision`, with hooks.
    fn appspec(&self, revision: usize, hooks: &[(&str, &str)]) -> String {
        ecs_appspec(&self.0, revision, hooks)
    }
}

async fn ecs() -> aws_sdk_ecs::Client {
    aws_sdk_ecs::Client::new(&sdk_config().await)
}

/// The service's task sets as `(arn, status, externalId, task definition)`.
async fn task_sets(svc: &Service) -> Vec<(String, String, String, String)> {
    let out = ecs()
        .await
        .describe_task_sets()
        .cluster(svc.s("cluster"))
        .service(svc.s("service"))
        .send()
        .await
        .unwrap();
    out.task_sets()
        .iter()
        .map(|t| {
            (
                t.task_set_arn().unwrap_or_default().to_string(),
                t.status().unwrap_or_default().to_string(),
                t.external_id().unwrap_or_default().to_string(),
                t.task_definition().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Everything is as the seed left it: production and test listeners on blue only, the
/// original task set alone and primary.
async fn assert_untouched(svc: &Service) {
    let blue = svc.s("blueTargetGroupArn");
    assert_eq!(
        listener_forwards(&svc.s("productionListenerArn")).await,
        vec![(blue.clone(), 100)]
    );
    let test = listener_forwards(&svc.s("testListenerArn")).await;
    assert_eq!(test.len(), 1, "test listener: {test:?}");
    assert_eq!(test[0].0, blue);
    let sets = task_sets(svc).await;
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0].0, svc.s("originalTaskSetArn"));
    assert_eq!(sets[0].1, "PRIMARY");
}

/// After a success: all production traffic on green, the replacement alone and primary.
async fn assert_replaced(svc: &Service, id: &str, revision: usize) {
    let green = svc.s("greenTargetGroupArn");
    assert_eq!(
        listener_forwards(&svc.s("productionListenerArn")).await,
        vec![(green, 100)]
    );
    let sets = task_sets(svc).await;
    assert_eq!(sets.len(), 1, "the original is deleted: {sets:?}");
    assert_eq!(sets[0].1, "PRIMARY");
    assert_eq!(sets[0].2, id);
    assert_eq!(sets[0].3, svc.task_definition(revision));
}

fn put_group(text: &str) -> Run {
    let path = write_appspec(text);
    finish(
        cutover(&[
            "group",
            "put",
            "--file",
            path.to_str().unwrap(),
            "--output",
            "json",
        ])
        .output()
        .unwrap(),
    )
}

fn put_group_ok(text: &str) {
    let run = put_group(text);
    assert_eq!(run.code, 0, "group put: {}\n{}", run.stderr, text);
}

/// Queues `n` hook answers in one call: Succeeded unless listed in `failed_at` (0-based).
fn queue_hooks(n: usize, failed_at: Option<usize>) {
    let mut args = vec!["hook-response"];
    for i in 0..n {
        args.push("--result");
        args.push(if Some(i) == failed_at {
            r#"{"status": "Failed", "reason": "smoke test: 503 from the test listener"}"#
        } else {
            r#"{"status": "Succeeded"}"#
        });
    }
    seed(&args);
}

/// All five ECS hooks, run by one seeded function (the emulator answers from one queue).
fn five_hooks() -> Vec<(&'static str, String)> {
    let f = unique("EcsHook");
    seed_function(&f, 1);
    cutover_core::LifecycleEvent::ECS_HOOKS
        .into_iter()
        .map(|e| (e.as_str(), f.clone()))
        .collect()
}

fn as_refs<'a>(hooks: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    hooks.iter().map(|(e, f)| (*e, f.as_str())).collect()
}

async fn wait_status(id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let run = finish(
            cutover(&["status", id, "--output", "json"])
                .output()
                .unwrap(),
        );
        if run.code == 0 && pred(&run.status) {
            return run.status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}: {}",
            run.status
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn assert_all_events(status: &Value, expected: &str) {
    for e in status["lifecycleEvents"].as_array().unwrap() {
        assert_eq!(e["status"], expected, "{e}");
    }
}

#[tokio::test]
async fn linear_with_all_five_hooks_and_a_test_listener() {
    let _g = hook_lock().await;
    let svc = Service::new("lin", &[]);
    let hooks = five_hooks();
    let key = svc.put_shop_group(
        "deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minutes\n",
        &format!(
            "  testListenerArn: {}\n  terminationWaitMinutes: 1\n",
            svc.s("testListenerArn")
        ),
    );
    queue_hooks(5, None);
    let run = deploy(
        &svc.appspec(2, &as_refs(&hooks)),
        &["--group", &key, "--time-scale", "120"],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let st = &run.status;
    assert_eq!(st["status"], "Succeeded", "{st}");
    assert_eq!(st["application"], "shop");
    assert_eq!(
        st["config"],
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
    );
    assert_all_events(st, "Succeeded");
    assert_eq!(st["traffic"], json!({ svc.s("greenTargetGroupArn"): 100 }));
    let id = st["deploymentId"].as_str().unwrap();
    assert_replaced(&svc, id, 2).await;
    // The test listener was pointed at green before production moved.
    let test = listener_forwards(&svc.s("testListenerArn")).await;
    assert_eq!(test, vec![(svc.s("greenTargetGroupArn"), 100)]);
    let log = app().await.cutover.store.log(id).await.unwrap();
    let confirmed = log
        .iter()
        .filter(|l| l.message.contains("confirmed"))
        .count();
    assert_eq!(
        confirmed, 10,
        "ten weights, each read back from the listener"
    );
    // Progress was shown with the steps.
    assert!(
        run.stderr.contains("AllowTraffic step 1/10"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn canary_with_a_ready_wait_released_by_continue() {
    let _g = hook_lock().await;
    let svc = Service::new("can", &[]);
    let hooks = five_hooks();
    let key = svc.put_shop_group("deploymentConfig: CodeDeployDefault.ECSCanary10Percent5Minutes\n",
        &format!(
            "  testListenerArn: {}\n  readyWait: {{action: stop, waitMinutes: 60}}\n  terminationWaitMinutes: 60\n",
            svc.s("testListenerArn")
        ));
    queue_hooks(5, None);
    let (child, id) = deploy_background(
        &svc.appspec(2, &as_refs(&hooks)),
        &["--group", &key, "--time-scale", "60"],
    );
    let st = wait_status(&id, "Ready", |s| s["status"] == "Ready").await;
    assert_eq!(st["phase"]["phase"], "ready");
    // Waiting at Ready: test traffic on green, production untouched.
    assert_eq!(
        listener_forwards(&svc.s("productionListenerArn")).await,
        vec![(svc.s("blueTargetGroupArn"), 100)]
    );
    assert_eq!(
        listener_forwards(&svc.s("testListenerArn")).await,
        vec![(svc.s("greenTargetGroupArn"), 100)]
    );
    assert_eq!(task_sets(&svc).await.len(), 2);
    // One deployment at a time per service.
    let second = deploy(&svc.appspec(3, &[]), &["--group", &key]);
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains(&id),
        "names the active one: {}",
        second.stderr
    );
    let cont = finish(
        cutover(&["continue", &id, "--output", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(cont.code, 0, "{}", cont.stderr);
    // Then the termination wait (60 min / 60 = 1 min): `continue` ends it at once.
    wait_status(&id, "termination wait", |s| {
        s["phase"]["phase"] == "terminating"
    })
    .await;
    let cont = finish(
        cutover(&["continue", &id, "--output", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(cont.code, 0, "{}", cont.stderr);
    let run = finish(child.wait_with_output().unwrap());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status["status"], "Succeeded");
    assert_all_events(&run.status, "Succeeded");
    assert_replaced(&svc, &id, 2).await;
    // A third `continue` has nothing to release.
    let again = finish(cutover(&["continue", &id]).output().unwrap());
    assert_eq!(again.code, 2);
    assert!(again.stderr.contains("not waiting"), "{}", again.stderr);
}

#[tokio::test]
async fn all_at_once_with_hooks_then_status_shows_target_groups_and_task_sets() {
    let _g = hook_lock().await;
    let svc = Service::new("aao", &[]);
    let hooks = five_hooks();
    let key = svc.put_shop_group(
        "",
        &format!(
            "  testListenerArn: {}\n  terminationWaitMinutes: 0\n",
            svc.s("testListenerArn")
        ),
    );
    queue_hooks(5, None);
    let run = deploy(&svc.appspec(3, &as_refs(&hooks)), &["--group", &key]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status["config"], "CodeDeployDefault.ECSAllAtOnce");
    let id = run.status["deploymentId"].as_str().unwrap();
    assert_replaced(&svc, id, 3).await;
    let st = finish(
        cutover(&["status", id, "--output", "json"])
            .output()
            .unwrap(),
    )
    .status;
    let sets = st["taskSets"].as_array().unwrap();
    assert!(sets.iter().any(|t| t["externalId"] == id), "{st}");
    assert_eq!(
        st["target"]["replacementTargetGroupArn"],
        svc.s("greenTargetGroupArn")
    );
}

#[tokio::test]
async fn an_alarm_during_the_shift_restores_the_listeners_and_the_original() {
    let svc = Service::new("alm", &[]);
    let alarm = unique("web-5xx");
    seed(&["alarm", "--name", &alarm, "--state", "OK"]);
    let key = svc.put_shop_group(&format!("deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery3Minutes\nalarms: [{alarm}]\n"),
        &format!("  testListenerArn: {}\n", svc.s("testListenerArn")));
    let (child, id) = deploy_background(
        &svc.appspec(2, &[]),
        &[
            "--group",
            &key,
            "--time-scale",
            "60",
            "--alarm-poll-seconds",
            "1",
        ],
    );
    wait_status(&id, "traffic on green", |s| {
        s["traffic"][svc.s("greenTargetGroupArn")]
            .as_u64()
            .unwrap_or(0)
            >= 10
    })
    .await;
    let fired = Instant::now();
    seed(&["alarm", "--name", &alarm, "--state", "ALARM"]);
    let run = finish(child.wait_with_output().unwrap());
    println!(
        "alarm to listener restored (CLI loop, 1 s poll): {:?}",
        fired.elapsed()
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status["status"], "Failed");
    assert_eq!(run.status["rolledBack"], true);
    assert_eq!(run.status["error"]["code"], "ALARM_ACTIVE");
    assert_untouched(&svc).await;
}

#[tokio::test]
async fn a_failed_after_allow_test_traffic_hook_rolls_back_before_production_moves() {
    let _g = hook_lock().await;
    let svc = Service::new("hkf", &[]);
    let hooks = five_hooks();
    let key = svc.put_shop_group(
        "deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minutes\n",
        &format!("  testListenerArn: {}\n", svc.s("testListenerArn")),
    );
    // BeforeInstall and AfterInstall succeed; AfterAllowTestTraffic fails.
    queue_hooks(3, Some(2));
    let run = deploy(
        &svc.appspec(2, &as_refs(&hooks)),
        &["--group", &key, "--time-scale", "120"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let st = &run.status;
    assert_eq!(st["status"], "Failed");
    assert_eq!(st["rolledBack"], true);
    assert_eq!(st["error"]["code"], "HOOK_EXECUTION_FAILURE");
    assert!(st["error"]["message"].as_str().unwrap().contains("503"));
    let events: Vec<(String, String)> = st["lifecycleEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(events.contains(&("AllowTestTraffic".into(), "Succeeded".into())));
    assert!(events.contains(&("AfterAllowTestTraffic".into(), "Failed".into())));
    assert!(events.contains(&("AllowTraffic".into(), "Skipped".into())));
    let id = st["deploymentId"].as_str().unwrap();
    let log = app().await.cutover.store.log(id).await.unwrap();
    assert!(
        !log.iter().any(|l| l.message.contains("AllowTraffic: step")),
        "production never moved"
    );
    assert_untouched(&svc).await;
}

#[tokio::test]
async fn a_replacement_that_never_becomes_steady_never_gets_traffic() {
    let svc = Service::new("uns", &["--unstable-revision", "2"]);
    let key = svc.put_shop_group(
        "",
        &format!("  testListenerArn: {}\n", svc.s("testListenerArn")),
    );
    let run = deploy(
        &svc.appspec(2, &[]),
        &["--group", &key, "--install-timeout-seconds", "4"],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status["status"], "Failed");
    assert_eq!(run.status["error"]["code"], "REPLACEMENT_NOT_STEADY");
    assert!(
        run.stderr.contains("STABILIZING"),
        "progress shows the task set: {}",
        run.stderr
    );
    assert_untouched(&svc).await;
}

#[tokio::test]
async fn bad_groups_and_appspecs_are_refused_and_change_nothing() {
    let svc = Service::new("bad", &[]);
    let app_name = unique("badapp");
    let good = |name: &str| svc.group(&app_name, name, "", "");
    // Group files refused by `group put`, with the field to fix.
    let blue = svc.s("blueTargetGroupArn");
    let green = svc.s("greenTargetGroupArn");
    let group_cases: Vec<(&str, String, &str)> = vec![
        ("malformed YAML", "application: [\n".into(), "YAML"),
        (
            "missing ecs block",
            format!("application: {app_name}\nname: g1\ncomputePlatform: ECS\n"),
            "ecs",
        ),
        (
            "the same target group twice",
            good("g2").replace(&format!("[{blue}, {green}]"), &format!("[{blue}, {blue}]")),
            "ecs.targetGroups[1]",
        ),
        (
            "a Lambda config in an ECS group",
            svc.group(
                &app_name,
                "g3",
                "deploymentConfig: CodeDeployDefault.LambdaAllAtOnce\n",
                "",
            ),
            "deploymentConfig",
        ),
        (
            "ready wait stop without minutes",
            svc.group(&app_name, "g4", "", "  readyWait: {action: stop}\n"),
            "ecs.readyWait.waitMinutes",
        ),
        (
            "service on the ECS deployment controller",
            good("g5").replace(
                &format!("service: {}\n", svc.s("service")),
                &format!("service: {}\n", svc.s("ecsControllerService")),
            ),
            "EXTERNAL",
        ),
        (
            "service that does not exist",
            good("g6").replace(
                &format!("service: {}\n", svc.s("service")),
                "service: no-such-service\n",
            ),
            "no-such-service",
        ),
        (
            "target group on another load balancer",
            good("g7").replace(&green, &svc.s("otherTargetGroupArn")),
            "load balancer",
        ),
        (
            "listener that does not exist",
            good("g8").replace(
                &svc.s("productionListenerArn"),
                &format!("{}0", svc.s("productionListenerArn")),
            ),
            "productionListenerArn",
        ),
    ];
    for (what, text, expect) in &group_cases {
        let run = put_group(text);
        assert_eq!(run.code, 2, "{what}: exit {}\n{}", run.code, run.stderr);
        assert!(
            run.stderr.contains(expect),
            "{what}: {:?} not in {}",
            expect,
            run.stderr
        );
        assert!(
            run.status["error"]["code"].is_string(),
            "{what}: {}",
            run.status
        );
    }
    let groups = finish(cutover(&["groups", "--output", "json"]).output().unwrap());
    let stored: Vec<&Value> = groups
        .status
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    assert!(
        !stored.iter().any(|g| g["application"] == app_name.as_str()),
        "no refused group was stored: {}",
        groups.status
    );

    // A good group, then AppSpecs and flags refused by `deploy`.
    put_group_ok(&good("ok"));
    let key = format!("{app_name}/ok");
    let lambda_group = format!("application: {app_name}\nname: fn\ncomputePlatform: Lambda\n");
    put_group_ok(&lambda_group);
    let spec = svc.appspec(2, &[]);
    let fn_key = format!("{app_name}/fn");
    let deploy_cases: Vec<(&str, String, Vec<&str>, &str)> = vec![
        (
            "unknown group",
            spec.clone(),
            vec!["--group", "nope/none"],
            "does not exist",
        ),
        (
            "malformed group key",
            spec.clone(),
            vec!["--group", "no-slash"],
            "APPLICATION/NAME",
        ),
        (
            "a Lambda group for an ECS AppSpec",
            spec.clone(),
            vec!["--group", &fn_key],
            "computePlatform",
        ),
        (
            "a task definition that does not exist",
            spec.replace(
                &svc.task_definition(2),
                &format!("{}:99", svc.s("taskDefinitionFamily")),
            ),
            vec!["--group", &key],
            "TaskDefinition",
        ),
        (
            "a container not in the task definition",
            spec.replace("ContainerName: \"web\"", "ContainerName: \"api\""),
            vec!["--group", &key],
            "api",
        ),
        (
            "a port the container does not map",
            spec.replace("ContainerPort: 80", "ContainerPort: 8081"),
            vec!["--group", &key],
            "8081",
        ),
        (
            "a Lambda config for ECS",
            spec.clone(),
            vec![
                "--group",
                &key,
                "--config",
                "CodeDeployDefault.LambdaAllAtOnce",
            ],
            "--config",
        ),
        (
            "a Lambda hook event in an ECS AppSpec",
            format!("{spec}Hooks:\n  - BeforeBlockTraffic: \"x\"\n"),
            vec!["--group", &key],
            "BeforeBlockTraffic",
        ),
        (
            "a hook function that does not exist",
            format!("{spec}Hooks:\n  - AfterInstall: \"no-such-hook-fn\"\n"),
            vec!["--group", &key],
            "no-such-hook-fn",
        ),
        (
            "a missing alarm",
            spec.clone(),
            vec!["--group", &key, "--alarm", "no-such-alarm"],
            "no-such-alarm",
        ),
    ];
    for (what, text, extra, expect) in &deploy_cases {
        let run = deploy(text, extra);
        assert_eq!(run.code, 2, "{what}: exit {}\n{}", run.code, run.stderr);
        assert!(
            run.stderr.contains(expect),
            "{what}: {:?} not in {}",
            expect,
            run.stderr
        );
    }
    assert_untouched(&svc).await;
    let list = app().await.cutover.store.list(false).await.unwrap();
    assert!(
        !list.iter().any(|d| d.application == app_name),
        "no deployment was recorded"
    );
    // And the same group still deploys (the default five-minute termination wait, scaled).
    let run = deploy(&spec, &["--group", &key, "--time-scale", "600"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn a_task_set_left_behind_blocks_the_next_deployment() {
    let svc = Service::new("str", &[]);
    let key = svc.put_shop_group("", "");
    // What a deployment stopped without rollback leaves: a second task set on green.
    let stray = ecs()
        .await
        .create_task_set()
        .cluster(svc.s("cluster"))
        .service(svc.s("service"))
        .task_definition(svc.task_definition(3))
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(svc.s("greenTargetGroupArn"))
                .container_name("web")
                .container_port(80)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = stray
        .task_set()
        .unwrap()
        .task_set_arn()
        .unwrap()
        .to_string();
    let run = deploy(&svc.appspec(2, &[]), &["--group", &key]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&arn),
        "names the task set: {}",
        run.stderr
    );
    assert!(run.stderr.contains("delete-task-set"), "{}", run.stderr);
    assert_eq!(
        task_sets(&svc).await.len(),
        2,
        "nothing was deleted or created"
    );
}
