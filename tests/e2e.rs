//! End-to-end: `cutover deploy --local --wait` run as a user runs it, against the local
//! emulator, with the alias checked through the real Lambda API afterwards.

use cutover_aws::service::StartRequest;
use cutover_aws::store::Store;
use cutover_core::model::AliasView;
use cutover_tests::cli::*;
use cutover_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn alias(function: &str) -> AliasView {
    app()
        .await
        .cutover
        .lambda
        .read_alias(&target(function))
        .await
        .unwrap()
        .view
}

fn target(function: &str) -> cutover_core::model::LambdaTarget {
    cutover_core::model::LambdaTarget {
        function: function.into(),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    }
}

fn on(version: &str) -> AliasView {
    AliasView {
        version: version.into(),
        additional: None,
    }
}

/// Waits until the stored deployment satisfies `pred` (bounded).
async fn wait_for(
    store: &Store,
    id: &str,
    what: &str,
    pred: impl Fn(&cutover_core::model::Deployment) -> bool,
) {
    let start = Instant::now();
    loop {
        if let Ok(d) = store.load(id).await {
            if pred(&d) {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_succeeded(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert_eq!(run.status["status"], "Succeeded", "{}", run.status);
    assert_eq!(run.status["rolledBack"], false);
}

#[tokio::test]
async fn linear_deployment_shifts_every_step() {
    let f = unique("linear");
    seed_function(&f, 2);
    let run = deploy(
        &appspec(&f, None, None),
        &[
            "--config",
            "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
            "--time-scale",
            "120",
        ],
    );
    assert_succeeded(&run);
    assert_eq!(run.status["traffic"], json!({"2": 100}));
    assert_eq!(alias(&f).await, on("2"));
    let id = run.status["deploymentId"].as_str().unwrap();
    let log = app().await.cutover.store.log(id).await.unwrap();
    let confirmed: Vec<&str> = log
        .iter()
        .map(|l| l.message.as_str())
        .filter(|m| m.contains("confirmed"))
        .collect();
    assert_eq!(confirmed.len(), 10, "{confirmed:?}");
    assert!(confirmed[0].contains("10% on version 2"));
    assert!(confirmed[4].contains("50% on version 2"));
}

#[tokio::test]
async fn canary_deployment_with_sam_short_name() {
    let f = unique("canary");
    seed_function(&f, 2);
    let run = deploy(
        &appspec(&f, None, None),
        &["--config", "Canary10Percent5Minutes", "--time-scale", "300"],
    );
    assert_succeeded(&run);
    assert_eq!(
        run.status["config"],
        "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    );
    assert_eq!(alias(&f).await, on("2"));
}

#[tokio::test]
async fn all_at_once_is_the_default() {
    let f = unique("aao");
    seed_function(&f, 2);
    let run = deploy(&appspec(&f, None, None), &[]);
    assert_succeeded(&run);
    assert_eq!(run.status["config"], "CodeDeployDefault.LambdaAllAtOnce");
    let events: Vec<&str> = run.status["lifecycleEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        vec!["Succeeded", "Skipped", "Succeeded", "Skipped", "Succeeded"]
    );
    assert_eq!(alias(&f).await, on("2"));
}

#[tokio::test]
async fn custom_steps_config_is_stored_and_used() {
    let f = unique("custom");
    seed_function(&f, 2);
    let name = unique("Steps").replace('-', "_");
    let doc = json!({"deploymentConfigName": name, "computePlatform": "Lambda",
        "trafficRoutingConfig": {"type": "Steps", "steps": [{"weight": 5, "bakeSeconds": 60}, {"weight": 40, "bakeSeconds": 60}]},
        "bakeAfterSeconds": 60});
    let file = write_appspec(&doc.to_string());
    let put = finish(
        cutover(&["config", "put", "--file", file.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(put.code, 0, "{}", put.stderr);
    let list = finish(cutover(&["configs", "--output", "json"]).output().unwrap());
    assert!(list.stdout.contains(&name), "{}", list.stdout);
    let plan = finish(
        cutover(&["plan", "--config", &name, "--output", "json"])
            .output()
            .unwrap(),
    );
    let weights: Vec<u64> = plan.status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["weight"].as_u64().unwrap())
        .collect();
    assert_eq!(weights, vec![5, 40, 100]);
    assert_eq!(plan.status["totalSeconds"], 180);
    let run = deploy(
        &appspec(&f, None, None),
        &["--config", &name, "--time-scale", "200"],
    );
    assert_succeeded(&run);
    assert_eq!(run.status["config"], name.as_str());
    assert_eq!(alias(&f).await, on("2"));
}

#[tokio::test]
async fn an_alarm_rolls_the_deployment_back() {
    let f = unique("alarmed");
    let alarm = unique("Errors");
    seed_function(&f, 2);
    seed(&["alarm", "--name", &alarm, "--state", "OK"]);
    let (child, id) = deploy_background(
        &appspec(&f, None, None),
        &[
            "--config",
            "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
            "--time-scale",
            "60",
            "--alarm",
            &alarm,
            "--alarm-poll-seconds",
            "1",
        ],
    );
    let app = app().await;
    wait_for(&app.cutover.store, &id, "traffic on the target", |d| {
        d.traffic >= 10
    })
    .await;
    seed(&["alarm", "--name", &alarm, "--state", "ALARM"]);
    let run = finish(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.status["status"], "Failed");
    assert_eq!(run.status["rolledBack"], true);
    assert_eq!(run.status["error"]["code"], "ALARM_ACTIVE");
    assert_eq!(alias(&f).await, on("1"));
}

#[tokio::test]
async fn the_alarm_function_rolls_back_at_once() {
    let f = unique("alarmfn");
    let alarm = unique("Latency");
    seed_function(&f, 2);
    seed(&["alarm", "--name", &alarm, "--state", "OK"]);
    let app = app().await;
    app.cutover.store.ensure_table().await.unwrap();
    let req = cutover_aws::StartRequest {
        appspec: appspec(&f, None, None),
        config: Some("CodeDeployDefault.LambdaCanary10Percent30Minutes".into()),
        alarms: vec![alarm.clone()],
        ..Default::default()
    };
    let dep = app.cutover.start(&req).await.unwrap();
    let out = cutover_aws::functions::advance(&app, json!({"deploymentId": dep.id}))
        .await
        .unwrap();
    assert!(!out.done);
    assert!(
        out.wait_seconds <= 10,
        "alarm poll caps the wait: {}",
        out.wait_seconds
    );
    assert_eq!(
        alias(&f).await,
        AliasView {
            version: "1".into(),
            additional: Some(("2".into(), 0.1))
        }
    );
    seed(&["alarm", "--name", &alarm, "--state", "ALARM"]);
    let mut event: Value = serde_json::from_str(include_str!("../events/alarm.json")).unwrap();
    event["detail"]["alarmName"] = json!(alarm);
    let fired = std::time::Instant::now();
    let res = cutover_aws::functions::alarm(&app, event).await.unwrap();
    println!(
        "alarm event to alias restored through the alarm function: {:?}",
        fired.elapsed()
    );
    assert_eq!(res["ticked"][0]["deploymentId"], dep.id.as_str());
    assert_eq!(res["ticked"][0]["rolledBack"], true);
    assert_eq!(alias(&f).await, on("1"));
}

#[tokio::test]
async fn a_failed_hook_fails_without_touching_the_alias() {
    let _g = hook_lock().await;
    let f = unique("hookfail");
    let hook = unique("PreHook");
    seed_function(&f, 2);
    seed_function(&hook, 1);
    seed(&[
        "hook-response",
        "--result",
        r#"{"status": "Failed", "reason": "smoke test: 500 on /health"}"#,
    ]);
    let run = deploy(
        &appspec(&f, Some(&hook), None),
        &["--config", "Linear10PercentEvery1Minute"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.status["status"], "Failed");
    assert_eq!(run.status["error"]["code"], "HOOK_EXECUTION_FAILURE");
    assert!(run.status["error"]["message"]
        .as_str()
        .unwrap()
        .contains("500 on /health"));
    assert_eq!(alias(&f).await, on("1"));
}

#[tokio::test]
async fn a_hook_reports_later_through_hook_report() {
    let _g = hook_lock().await;
    let f = unique("hooklater");
    let hook = unique("PostHook");
    seed_function(&f, 2);
    seed_function(&hook, 1);
    // The emulator echoes the payload: not a verdict, so Cutover waits for a report.
    let (child, id) = deploy_background(
        &appspec(&f, None, Some(&hook)),
        &["--alarm-poll-seconds", "1"],
    );
    let app = app().await;
    wait_for(
        &app.cutover.store,
        &id,
        "the hook to wait for a report",
        |d| d.hook().is_some_and(|h| h.next_invoke_at.is_none()),
    )
    .await;
    let stored = app.cutover.store.load(&id).await.unwrap();
    // The id the hook received: random, nothing of the deployment's id in it, and not in
    // the table (only its hash is).
    let exec = last_execution_id(&hook, &id);
    assert!(exec.len() >= 32 && !exec.contains(&id), "{exec}");
    let record = serde_json::to_string(&stored).unwrap();
    assert!(!record.contains(&exec), "the record holds the id itself");
    assert!(stored.hook().unwrap().accepts(&exec));
    let guessed = format!("{id}-AfterAllowTraffic");
    let refused = cutover_aws::functions::hook_report(
        &app,
        json!({"deploymentId": id, "lifecycleEventHookExecutionId": guessed, "status": "Succeeded"}),
    )
    .await;
    assert!(
        refused.is_err(),
        "an id guessed from the deployment id is refused"
    );
    let forged = cutover_aws::functions::hook_report(&app, json!({"deploymentId": id, "lifecycleEventHookExecutionId": "forged", "status": "Succeeded"})).await;
    assert!(forged
        .unwrap_err()
        .to_string()
        .contains("InvalidLifecycleEventHookExecutionId"));
    let ok = cutover_aws::functions::hook_report(
        &app,
        json!({"deploymentId": id, "lifecycleEventHookExecutionId": exec, "status": "Succeeded"}),
    )
    .await
    .unwrap();
    assert_eq!(ok["status"], "Succeeded");
    let again = cutover_aws::functions::hook_report(
        &app,
        json!({"deploymentId": id, "lifecycleEventHookExecutionId": exec, "status": "Failed"}),
    )
    .await;
    let again = again.unwrap_err().to_string();
    assert!(
        again.contains("InvalidLifecycleEventHookExecutionId") && again.contains("accepted once"),
        "{again}"
    );
    let run = finish(child.wait_with_output().unwrap());
    assert_succeeded(&run);
    assert_eq!(alias(&f).await, on("2"));
}

#[tokio::test]
async fn a_silent_hook_times_out_and_rolls_back() {
    let _g = hook_lock().await;
    let f = unique("hooktimeout");
    let hook = unique("SilentHook");
    seed_function(&f, 2);
    seed_function(&hook, 1);
    let run = deploy(
        &appspec(&f, None, Some(&hook)),
        &["--hook-timeout-seconds", "2", "--alarm-poll-seconds", "1"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.status["error"]["code"], "TIMEOUT");
    assert_eq!(run.status["rolledBack"], true);
    assert_eq!(alias(&f).await, on("1"));
}

#[tokio::test]
async fn stop_with_rollback_restores_the_alias() {
    let f = unique("stopped");
    seed_function(&f, 2);
    let (child, id) = deploy_background(
        &appspec(&f, None, None),
        &[
            "--config",
            "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
            "--time-scale",
            "60",
        ],
    );
    let app = app().await;
    wait_for(&app.cutover.store, &id, "traffic on the target", |d| {
        d.traffic >= 10
    })
    .await;
    let stop = finish(
        cutover(&["stop", &id, "--rollback", "--output", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert_eq!(stop.status["status"], "Stopped");
    let run = finish(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1);
    assert_eq!(run.status["status"], "Stopped");
    assert_eq!(run.status["rolledBack"], true);
    assert_eq!(alias(&f).await, on("1"));
    let status = finish(
        cutover(&["status", &id, "--output", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(status.status["error"]["code"], "MANUAL_STOP");
    let again = finish(cutover(&["stop", &id]).output().unwrap());
    assert_eq!(again.code, 2, "stopping an ended deployment is refused");
}

#[tokio::test]
async fn a_second_deployment_on_the_alias_is_refused() {
    let f = unique("busy");
    seed_function(&f, 3);
    let (mut child, id) = deploy_background(
        &appspec(&f, None, None),
        &[
            "--config",
            "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        ],
    );
    let app = app().await;
    wait_for(&app.cutover.store, &id, "traffic on the target", |d| {
        d.traffic >= 10
    })
    .await;
    let second = appspec(&f, None, None).replace("TargetVersion: \"2\"", "TargetVersion: \"3\"");
    let run = deploy(&second, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&id),
        "the refusal names the deployment in progress: {}",
        run.stderr
    );
    let list = finish(
        cutover(&["list", "--active", "--output", "json"])
            .output()
            .unwrap(),
    );
    assert!(list.stdout.contains(&id));
    let stop = finish(cutover(&["stop", &id, "--rollback"]).output().unwrap());
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    let _ = child.wait();
    let _ = child.kill();
    assert_eq!(alias(&f).await, on("1"));
}

/// Each bad input: exit 2, a message naming the problem, and nothing changed in AWS.
#[tokio::test]
async fn bad_inputs_are_refused_and_change_nothing() {
    let f = unique("bad");
    seed_function(&f, 2);
    let hook = unique("BadHook");
    seed_function(&hook, 1);
    let firing = unique("Firing");
    seed(&["alarm", "--name", &firing, "--state", "ALARM"]);
    let quiet = unique("Quiet");
    seed(&["alarm", "--name", &quiet, "--state", "OK"]);
    let split = unique("split");
    seed_function(&split, 3);
    app()
        .await
        .cutover
        .lambda
        .route(&target(&split), 20, None)
        .await
        .unwrap();

    let good = appspec(&f, None, None);
    let many_alarms: Vec<String> = (0..11)
        .flat_map(|i| ["--alarm".to_string(), format!("a{i}")])
        .collect();
    let many: Vec<&str> = many_alarms.iter().map(String::as_str).collect();
    let ecs = "version: 0.0\nResources:\n  - svc:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"arn:aws:ecs:us-east-1:111122223333:task-definition/web:2\"\n        LoadBalancerInfo:\n          ContainerName: web\n          ContainerPort: 80\n".to_string();
    let cases: Vec<(&str, String, Vec<&str>, &str)> = vec![
        (
            "malformed YAML",
            "version: 0.0\nResources: [\n".into(),
            vec![],
            "line",
        ),
        (
            "wrong version",
            good.replace("version: 0.0", "version: 1.0"),
            vec![],
            "version",
        ),
        (
            "$LATEST",
            good.replace("TargetVersion: \"2\"", "TargetVersion: \"$LATEST\""),
            vec![],
            "$LATEST",
        ),
        (
            "same versions",
            good.replace("TargetVersion: \"2\"", "TargetVersion: \"1\""),
            vec![],
            "TargetVersion",
        ),
        (
            "missing alias field",
            good.replace("        Alias: \"live\"\n", ""),
            vec![],
            "Alias",
        ),
        (
            "ECS hook in a Lambda AppSpec",
            format!("{good}Hooks:\n  - AfterInstall: \"{hook}\"\n"),
            vec![],
            "AfterInstall",
        ),
        (
            "unknown config",
            good.clone(),
            vec![
                "--config",
                "CodeDeployDefault.LambdaCanary10Percent7Minutes",
            ],
            "cutover configs",
        ),
        (
            "ECS config for Lambda",
            good.clone(),
            vec!["--config", "CodeDeployDefault.ECSAllAtOnce"],
            "ECS",
        ),
        (
            "missing function",
            appspec("no-such-fn", None, None),
            vec![],
            "does not exist",
        ),
        (
            "missing target version",
            good.replace("TargetVersion: \"2\"", "TargetVersion: \"7\""),
            vec![],
            "version 7",
        ),
        (
            "alias not on current version",
            good.replace("CurrentVersion: \"1\"", "CurrentVersion: \"2\"")
                .replace("TargetVersion: \"2\"", "TargetVersion: \"1\""),
            vec![],
            "points at version 1",
        ),
        (
            "alias already split",
            appspec(&split, None, None).replace("TargetVersion: \"2\"", "TargetVersion: \"3\""),
            vec![],
            "already sends",
        ),
        (
            "missing alarm",
            good.clone(),
            vec!["--alarm", "no-such-alarm"],
            "no-such-alarm",
        ),
        (
            "alarm already firing",
            good.clone(),
            vec!["--alarm", &firing],
            "--ignore-firing-alarms",
        ),
        (
            "missing hook function",
            appspec(&f, Some("no-such-hook"), None),
            vec![],
            "no-such-hook",
        ),
        ("too many alarms", good.clone(), many, "at most 10"),
        (
            "hook timeout 0",
            good.clone(),
            vec!["--hook-timeout-seconds", "0"],
            "--hook-timeout-seconds",
        ),
        (
            "time scale 0",
            good.clone(),
            vec!["--time-scale", "0"],
            "--time-scale",
        ),
        ("ECS AppSpec without a group", ecs, vec![], "--group"),
        (
            "oversized AppSpec",
            format!("{good}#{}\n", "x".repeat(70_000)),
            vec![],
            "limit",
        ),
        (
            "duplicate alarm",
            good.clone(),
            vec!["--alarm", &quiet, "--alarm", &quiet],
            "twice",
        ),
    ];
    let app = app().await;
    for (name, text, extra, needle) in &cases {
        let run = deploy(text, extra);
        assert_eq!(
            run.code, 2,
            "{name}: expected exit 2\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        assert!(
            run.stderr.contains(needle),
            "{name}: message should mention {needle:?}: {}",
            run.stderr
        );
        assert!(
            run.status["error"]["code"].is_string(),
            "{name}: JSON error on stdout: {}",
            run.stdout
        );
    }
    let missing = finish(
        cutover(&[
            "deploy",
            "--appspec",
            "/nonexistent/appspec.yaml",
            "--local",
            "--wait",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("--appspec"), "{}", missing.stderr);
    let bad_config = write_appspec(
        r#"{"deploymentConfigName": "TooMuch", "trafficRoutingConfig": {"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 150, "canaryInterval": 5}}}"#,
    );
    let put = finish(
        cutover(&["config", "put", "--file", bad_config.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(put.code, 2);
    assert!(put.stderr.contains("canaryPercentage"), "{}", put.stderr);

    // Nothing changed: the aliases are as they were and no deployment was recorded for them.
    assert_eq!(alias(&f).await, on("1"));
    assert_eq!(
        alias(&split).await,
        AliasView {
            version: "1".into(),
            additional: Some(("2".into(), 0.2))
        }
    );
    let all = app.cutover.store.list(false).await.unwrap();
    assert!(!all.iter().any(|d| d
        .target
        .lambda()
        .is_some_and(|t| t.function == f || t.function == split)));
}

#[tokio::test]
async fn a_client_token_is_bound_to_the_request_that_used_it() {
    let f = unique("token");
    seed_function(&f, 2);
    let app = app().await;
    app.cutover.store.ensure_table().await.unwrap();
    let token = unique("tok");
    let req = StartRequest {
        appspec: appspec(&f, None, None),
        config: Some("CodeDeployDefault.LambdaLinear10PercentEvery1Minute".into()),
        client_token: Some(token.clone()),
        ..Default::default()
    };
    let (first, created) = app.cutover.start_once(&req).await.unwrap();
    assert!(created);
    // The same request again (a retried invoke, an event delivered twice): the same one.
    let (again, created) = app.cutover.start_once(&req).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, first.id);
    // The same token with another request is refused, and names the deployment.
    let other = StartRequest {
        config: Some("CodeDeployDefault.LambdaAllAtOnce".into()),
        ..req.clone()
    };
    let err = app.cutover.start_once(&other).await.unwrap_err();
    assert_eq!(err.code(), "IdempotencyConflict");
    assert!(err.to_string().contains(&first.id), "{err}");
    let stored = app.cutover.store.load(&first.id).await.unwrap();
    assert_eq!(
        stored.config.name,
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    );
    app.cutover
        .abandon(&first.id, Some("test over".into()))
        .await
        .unwrap();
}
