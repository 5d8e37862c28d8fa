//! The real function binaries, run as Lambda functions of the emulator (its Lambda Runtime
//! API), started the ways AWS starts them: an EventBridge rule, the driver state machine
//! (statemachine/driver.asl.json, executed by the emulator's Step Functions), and Lambda
//! Invoke with each function's fixture from `events/`.

use cutover_aws::functions::DEPLOYMENT_REQUESTED;
use cutover_aws::notify::{EVENT_SOURCE, STATE_CHANGE_DETAIL_TYPE};
use cutover_core::model::DeploymentStatus;
use cutover_tests::functions::*;
use cutover_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_requested_event_runs_through_eventbridge_start_and_the_driver() {
    let sdk = sdk_config().await;
    let f = unique("orders");
    let application = unique("shop");
    seed_function(&f, 2);
    let (table, store) = table().await;
    let namespace = unique("Cutover");
    let stack = [
        ("CUTOVER_TABLE", table.as_str()),
        ("CUTOVER_EVENT_BUS", "default"),
        ("CUTOVER_ALLOWED_HOOKS", "CodeDeployHook_*"),
        ("CUTOVER_METRICS_NAMESPACE", namespace.as_str()),
    ];
    let advance = serve("advance", &stack);
    let control = serve("control", &stack);
    let sm = driver(&advance, &control).await;
    let mut start_env = stack.to_vec();
    start_env.push(("CUTOVER_STATE_MACHINE_ARN", sm.as_str()));
    let start = serve("start", &start_env);

    // The stack's rule: requested deployments go to start.
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let rule = unique("requested");
    events
        .put_rule()
        .name(&rule)
        .event_pattern(json!({"detail-type": [DEPLOYMENT_REQUESTED], "detail": {"application": [application]}}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("start")
                .arn(&start.arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // A subscriber's rule: Cutover's state changes for this application, into a queue.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let (queue, queue_arn) = sqs_queue("changes").await;
    let changes = unique("changes");
    events
        .put_rule()
        .name(&changes)
        .event_pattern(json!({"source": [EVENT_SOURCE], "detail-type": [STATE_CHANGE_DETAIL_TYPE], "detail": {"application": [application]}}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(&changes)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    // The fixture's request, on this test's function, 600 times faster, no alarm.
    let mut detail = fixture("deployment-requested.json")["detail"].clone();
    detail["appspec"] = json!(detail["appspec"]
        .as_str()
        .unwrap()
        .replace("\"orders\"", &format!("\"{f}\"")));
    detail["application"] = json!(application);
    detail["alarms"] = json!([]);
    detail["timeScale"] = json!(600);
    let put = events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("com.example.ci")
                .detail_type(DEPLOYMENT_REQUESTED)
                .detail(detail.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.failed_entry_count(), 0);

    let dep = wait_until(
        "the requested deployment to be recorded",
        Duration::from_secs(60),
        async || {
            store
                .list(false)
                .await
                .unwrap()
                .into_iter()
                .find(|d| d.application == application)
        },
    )
    .await;
    let done = wait_until(
        "the driver to finish the deployment",
        Duration::from_secs(120),
        async || store.load(&dep.id).await.ok().filter(|d| d.is_done()),
    )
    .await;
    assert_eq!(
        done.status(),
        DeploymentStatus::Succeeded,
        "{:?}",
        done.error()
    );
    assert_eq!(alias_version(&f).await, ("2".to_string(), None));
    // The driver's execution is named after the deployment and ended well.
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let execution_arn = format!("{}:{}", sm.replace(":stateMachine:", ":execution:"), dep.id);
    let started = Instant::now();
    let execution = loop {
        let e = sfn
            .describe_execution()
            .execution_arn(&execution_arn)
            .send()
            .await
            .unwrap();
        if e.status() != &aws_sdk_sfn::types::ExecutionStatus::Running
            || started.elapsed() > Duration::from_secs(30)
        {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        execution.status(),
        &aws_sdk_sfn::types::ExecutionStatus::Succeeded
    );
    assert_eq!(execution.name(), Some(dep.id.as_str()));

    // Subscribers saw START then SUCCESS, with CodeDeploy's fields.
    let mut states = Vec::new();
    let started = Instant::now();
    while states.len() < 2 && started.elapsed() < Duration::from_secs(20) {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            assert_eq!(event["source"], EVENT_SOURCE);
            assert_eq!(event["detail-type"], STATE_CHANGE_DETAIL_TYPE);
            let d = &event["detail"];
            assert_eq!(d["deploymentId"], dep.id.as_str());
            assert_eq!(d["application"], application.as_str());
            assert_eq!(d["region"], REGION);
            assert!(d.get("deploymentGroup").is_some());
            states.push(d["state"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(states, ["START", "SUCCESS"]);

    // What the functions wrote, as Lambda would send it to CloudWatch Logs: JSON lines only,
    // each log line with its level (Lambda filters on it), the metrics in embedded metric
    // format.
    let mut metrics = Vec::new();
    for function in [&start, &advance, &control] {
        for line in function.log_lines() {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {line}", function.name));
            if v.get("_aws").is_some() {
                metrics.push(v);
            } else {
                assert!(
                    v["level"].is_string(),
                    "{}: no level: {line}",
                    function.name
                );
            }
        }
    }
    let deployments = |outcome: &str| {
        metrics
            .iter()
            .filter(|m| {
                m["Deployments"] == 1.0
                    && m["Outcome"] == outcome
                    && m["Application"] == application.as_str()
                    && m["Platform"] == "Lambda"
            })
            .count()
    };
    assert_eq!(deployments("Started"), 1, "{metrics:#?}");
    assert_eq!(deployments("Succeeded"), 1, "{metrics:#?}");
    let m = metrics
        .iter()
        .find(|m| m["LifecycleEvent"] == "AllowTraffic")
        .expect("AllowTraffic's duration");
    let emf = &m["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(emf["Namespace"], namespace.as_str());
    assert_eq!(emf["Metrics"][0]["Name"], "LifecycleEventDuration");
    assert_eq!(emf["Metrics"][0]["Unit"], "Milliseconds");
    assert_eq!(emf["Dimensions"], json!([["Platform", "LifecycleEvent"]]));
    assert!(m["LifecycleEventDuration"].as_f64().unwrap() > 0.0, "{m}");
    assert!(m["_aws"]["Timestamp"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn each_function_answers_its_fixture() {
    let f = unique("orders");
    seed_function(&f, 2);
    let (table, store) = table().await;
    let stack = [("CUTOVER_TABLE", table.as_str())];
    let start = serve("start", &stack);
    let advance = serve("advance", &stack);
    let control = serve("control", &stack);
    let alarm = serve("alarm", &stack);
    let hook_report = serve("hook-report", &stack);

    // Nothing is recorded under the fixtures' deployment id: each handler parses its
    // fixture and reaches the table.
    for (function, file) in [
        (&advance, "advance.json"),
        (&hook_report, "hook-report.json"),
        (&control, "control-stop.json"),
        (&control, "control-continue.json"),
        (&control, "control-status.json"),
    ] {
        let event = fixture(file);
        let err = invoke(&function.name, &event).await.unwrap_err();
        assert_eq!(err.0, "DeploymentNotFound", "{file}: {err:?}");
        let id = event["deploymentId"].as_str().unwrap();
        assert!(err.1.contains(id), "{file}: {err:?}");
    }
    let listed = invoke(&control.name, &fixture("control-list.json"))
        .await
        .unwrap();
    assert_eq!(listed, json!([]));
    let ticked = invoke(&alarm.name, &fixture("alarm.json")).await.unwrap();
    assert_eq!(
        ticked,
        json!({"alarmName": "OrdersLiveErrors", "state": "ALARM", "ticked": []})
    );

    // start: the requested-deployment event, delivered twice, starts one deployment named
    // after the event id.
    let mut event = fixture("deployment-requested.json");
    let appspec = event["detail"]["appspec"]
        .as_str()
        .unwrap()
        .replace("\"orders\"", &format!("\"{f}\""));
    event["detail"]["appspec"] = json!(appspec);
    event["detail"]["alarms"] = json!([]);
    event["detail"]["config"] = json!("CodeDeployDefault.LambdaCanary10Percent30Minutes");
    let first = invoke(&start.name, &event).await.unwrap();
    let id = cutover_aws::service::token_deployment_id(event["id"].as_str().unwrap());
    assert_eq!(first["deploymentId"], id.as_str());
    let again = invoke(&start.name, &event).await.unwrap();
    assert_eq!(again["deploymentId"], id.as_str());
    assert_eq!(store.list(false).await.unwrap().len(), 1);
    // Another event for the same alias is refused, with the code as errorType.
    event["id"] = json!("0e6f4c1a-0000-4000-8000-000000000001");
    let (code, message) = invoke(&start.name, &event).await.unwrap_err();
    assert_eq!(code, "DeploymentInProgress");
    assert!(message.contains(&id), "{message}");
    // A malformed request names the field.
    event["detail"]["surprise"] = json!(true);
    let (code, message) = invoke(&start.name, &event).await.unwrap_err();
    assert_eq!(code, "InvalidEvent");
    assert!(message.contains("surprise"), "{message}");

    // advance moves the alias (canary: 10 %), control reads and stops it.
    let mut adv = fixture("advance.json");
    adv["deploymentId"] = json!(id);
    let out = invoke(&advance.name, &adv).await.unwrap();
    assert_eq!(out["done"], false);
    assert!(out["waitSeconds"].as_u64().unwrap() >= 1);
    assert_eq!(
        alias_version(&f).await,
        ("1".to_string(), Some("2".to_string()))
    );
    let mut status = fixture("control-status.json");
    status["deploymentId"] = json!(id);
    let s = invoke(&control.name, &status).await.unwrap();
    assert_eq!(s["status"], "InProgress");
    assert_eq!(s["traffic"]["2"], 10);
    let mut stop = fixture("control-stop.json");
    stop["deploymentId"] = json!(id);
    let s = invoke(&control.name, &stop).await.unwrap();
    assert_eq!(s["status"], "Stopped");
    assert_eq!(s["rolledBack"], true);
    assert_eq!(alias_version(&f).await, ("1".to_string(), None));
}

#[tokio::test]
async fn the_cli_without_local_goes_through_the_deployed_functions() {
    let f = unique("orders");
    seed_function(&f, 2);
    let (table, store) = table().await;
    let stack = [("CUTOVER_TABLE", table.as_str())];
    let advance = serve("advance", &stack);
    let control = serve("control", &stack);
    let sm = driver(&advance, &control).await;
    let start = serve(
        "start",
        &[
            ("CUTOVER_TABLE", table.as_str()),
            ("CUTOVER_STATE_MACHINE_ARN", sm.as_str()),
        ],
    );
    let remote = |args: &[&str]| {
        let mut cmd = cli::cutover(args);
        cmd.env_remove("CUTOVER_LOCAL")
            // The CLI must not need the table: point it at one that does not exist.
            .env("CUTOVER_TABLE", "no-such-table")
            .env("CUTOVER_START_FUNCTION", &start.name)
            .env("CUTOVER_CONTROL_FUNCTION", &control.name);
        cli::finish(cmd.output().expect("run cutover"))
    };
    let path = cli::write_appspec(&appspec(&f, None, None));
    let run = remote(&[
        "deploy",
        "--appspec",
        path.to_str().unwrap(),
        "--config",
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "--time-scale",
        "600",
        "--wait",
        "--output",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.status["status"], "Succeeded", "{}", run.stdout);
    let id = run.status["deploymentId"].as_str().unwrap().to_string();
    assert_eq!(alias_version(&f).await, ("2".to_string(), None));
    // The deployment lives in the stack's table, driven by the state machine.
    assert_eq!(
        store.load(&id).await.unwrap().status(),
        DeploymentStatus::Succeeded
    );
    // The start function logged who asked, as the CLI reported it (STS).
    let log = store.log(&id).await.unwrap();
    assert!(
        log.iter()
            .any(|l| l.message.starts_with("Start requested by arn:")
                && l.message.ends_with("(as its caller reported)")),
        "{:?}",
        log.iter().map(|l| &l.message).collect::<Vec<_>>()
    );

    let status = remote(&["status", &id, "--output", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.status["deploymentId"], id.as_str());
    assert_eq!(status.status["traffic"]["2"], 100);

    // Reading goes to the query function alone: with the control function unreachable,
    // status and list still answer; and the query function changes nothing.
    let query = serve("query", &stack);
    let read = |args: &[&str]| {
        let mut cmd = cli::cutover(args);
        cmd.env_remove("CUTOVER_LOCAL")
            .env("CUTOVER_TABLE", "no-such-table")
            .env("CUTOVER_CONTROL_FUNCTION", "no-such-function")
            .env("CUTOVER_QUERY_FUNCTION", &query.name);
        cli::finish(cmd.output().expect("run cutover"))
    };
    let status = read(&["status", &id, "--output", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert_eq!(status.status["status"], "Succeeded");
    let list = read(&["list", "--limit", "1", "--output", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert_eq!(list.status["deployments"][0]["deploymentId"], id.as_str());
    assert!(list.status["nextToken"].is_null(), "{}", list.stdout);
    let mut stop = fixture("control-stop.json");
    stop["deploymentId"] = json!(id);
    let (kind, message) = invoke(&query.name, &stop).await.unwrap_err();
    assert_eq!(kind, "InvalidEvent", "{message}");
    assert!(message.contains("query"), "{message}");

    let text = remote(&["status", &id]);
    assert!(
        text.stdout.contains(&id) && text.stdout.contains("Succeeded"),
        "{}",
        text.stdout
    );

    // Refusals come back with the function's error code and exit 2.
    let missing = remote(&["status", "d-7Q2K9X4MB", "--output", "json"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert_eq!(missing.status["error"]["code"], "DeploymentNotFound");
    let bad = cli::write_appspec("version: 0.0\nResources: []\n");
    let refused = remote(&["deploy", "--appspec", bad.to_str().unwrap()]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("Resources"), "{}", refused.stderr);
    let stop = remote(&["stop", &id]);
    assert_eq!(
        stop.code, 2,
        "a finished deployment cannot be stopped: {}",
        stop.stderr
    );

    // Without --local and without the functions, the CLI says how to name them.
    let mut cmd = cli::cutover(&["status", &id]);
    cmd.env_remove("CUTOVER_LOCAL");
    let lost = cli::finish(cmd.output().unwrap());
    assert_eq!(lost.code, 2);
    assert!(
        lost.stderr.contains("--stack") && lost.stderr.contains("--local"),
        "{}",
        lost.stderr
    );
}

/// At the most verbose level the stack allows (LogLevel=DEBUG), what the functions log
/// holds no secret of their input: not a pipeline job's artifact credentials, not a hook's
/// execution id.
#[tokio::test]
async fn no_secret_reaches_the_logs_at_debug() {
    let (table, store) = table().await;
    // A deployment waiting for a hook's verdict, whose hook was given another id.
    let mut waiting = cutover_core::model::Deployment::new_lambda(
        "d-SECRET001".into(),
        cutover_core::model::LambdaTarget {
            function: "orders".into(),
            alias: "live".into(),
            current_version: "1".into(),
            target_version: "2".into(),
        },
        cutover_core::config::DeploymentConfig::predefined("CodeDeployDefault.LambdaAllAtOnce")
            .unwrap(),
        vec![],
        Default::default(),
        1,
    );
    let mut hook = cutover_core::model::HookExecution {
        event: cutover_core::LifecycleEvent::BeforeAllowTraffic,
        function: "CodeDeployHook_smoke".into(),
        issued: Vec::new(),
        legacy_execution_id: None,
        started_at: 1,
        next_invoke_at: None,
        invocations: 1,
        in_flight_until: None,
    };
    hook.issue("the-id-the-hook-was-given");
    waiting.phase = cutover_core::model::Phase::Hook(hook);
    store.create(&waiting, &[], 1).await.unwrap();
    let debug = [
        ("CUTOVER_TABLE", table.as_str()),
        ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
    ];
    let pipeline = serve("pipeline", &debug);
    let report = serve("hook-report", &debug);
    let job = fixture("pipeline-job.json");
    let creds = &job["CodePipeline.job"]["data"]["artifactCredentials"];
    // The access key id is not a secret (AWS's own logs and CloudTrail show it; the SDK's
    // debug lines name it beside "** redacted **"): the key and the session token are.
    let secrets = [
        creds["secretAccessKey"].as_str().unwrap().to_string(),
        creds["sessionToken"].as_str().unwrap().to_string(),
    ];
    // The job's artifact is not in the emulator: the job fails, and says why.
    let _ = invoke(&pipeline.name, &job).await;
    let execution_id = "f3c1a9e07b5d4e2a9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d";
    let _ = invoke(
        &report.name,
        &json!({"deploymentId": "d-SECRET001", "lifecycleEventHookExecutionId": execution_id, "status": "Succeeded"}),
    )
    .await
    .expect_err("not the id the hook was given");
    let lines: Vec<String> = [&pipeline, &report]
        .iter()
        .flat_map(|f| f.log_lines())
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("\"DEBUG\"")
            || l.contains("\"INFO\"")
            || l.contains("\"WARN\"")
            || l.contains("\"ERROR\"")),
        "the functions logged nothing: {lines:?}"
    );
    for line in &lines {
        for secret in secrets.iter().map(String::as_str).chain([execution_id]) {
            assert!(!line.contains(secret), "a secret in the logs: {line}");
        }
    }
}
