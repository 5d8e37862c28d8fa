//! The driver state machine (statemachine/driver.asl.json, executed by the emulator's Step
//! Functions) on the real function binaries: it continues as a new execution before its
//! history grows too long, `cutover drive` starts it again without doubling a live one, and
//! it sleeps until the next deadline, woken by inputs.

use cutover_aws::store::Store;
use cutover_core::model::{Deployment, DeploymentStatus};
use cutover_tests::functions::*;
use cutover_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_driver_continues_as_a_new_execution_before_its_history_grows_too_long() {
    let sdk = sdk_config().await;
    let f = unique("orders");
    seed_function(&f, 2);
    let (table, store) = table().await;
    // The state machine's name is chosen first, so the advance function can be told its ARN
    // (as the template builds it from the stack name).
    let sm_name = unique("driver");
    let sm = state_machine_arn(&sm_name);
    let stack = [
        ("CUTOVER_TABLE", table.as_str()),
        ("CUTOVER_STATE_MACHINE_ARN", sm.as_str()),
        // Three ticks an execution instead of 1,500, so a short deployment needs several.
        ("CUTOVER_DRIVER_ITERATIONS", "3"),
    ];
    let advance = serve("advance", &stack);
    let control = serve("control", &stack);
    let start = serve("start", &stack);
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    assert_eq!(driver_named(&sm_name, &advance, &control).await, sm);
    let request = json!({
        "appspec": appspec(&f, None, None),
        "config": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "timeScale": 600,
    });
    let answer = invoke(&start.name, &request).await.expect("start");
    let id = answer["deploymentId"].as_str().unwrap().to_string();
    let done = wait_until(
        "the driver to finish the deployment",
        Duration::from_secs(180),
        async || store.load(&id).await.ok().filter(|d| d.is_done()),
    )
    .await;
    assert_eq!(
        done.status(),
        DeploymentStatus::Succeeded,
        "{:?}",
        done.error()
    );
    assert_eq!(alias_version(&f).await, ("2".to_string(), None));
    // Several executions drove it, one after the other, each ending well.
    let started = Instant::now();
    let executions = loop {
        let list = sfn
            .list_executions()
            .state_machine_arn(&sm)
            .send()
            .await
            .unwrap();
        let ours: Vec<_> = list
            .executions()
            .iter()
            .filter(|e| e.name() == id || e.name().starts_with(&format!("{id}-c")))
            .map(|e| (e.name().to_string(), e.status().clone()))
            .collect();
        let running = ours
            .iter()
            .any(|(_, s)| *s == aws_sdk_sfn::types::ExecutionStatus::Running);
        if !running || started.elapsed() > Duration::from_secs(30) {
            break ours;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(executions.len() >= 3, "{executions:?}");
    assert!(
        executions
            .iter()
            .all(|(_, s)| *s == aws_sdk_sfn::types::ExecutionStatus::Succeeded),
        "{executions:?}"
    );
}

#[tokio::test]
async fn drive_starts_the_state_machine_again_and_never_doubles_a_live_driver() {
    let f = unique("orders");
    seed_function(&f, 2);
    let (table, store) = table().await;
    let sm_name = unique("driver");
    let sm = state_machine_arn(&sm_name);
    let stack = [
        ("CUTOVER_TABLE", table.as_str()),
        ("CUTOVER_STATE_MACHINE_ARN", sm.as_str()),
    ];
    let advance = serve("advance", &stack);
    let control = serve("control", &stack);
    // A start function with no driver: the deployment is recorded and nothing drives it,
    // as after a driver that died.
    let start = serve("start", &[("CUTOVER_TABLE", table.as_str())]);
    let sfn = aws_sdk_sfn::Client::new(&sdk_config().await);
    assert_eq!(driver_named(&sm_name, &advance, &control).await, sm);
    let request = json!({
        "appspec": appspec(&f, None, None),
        "config": "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        "timeScale": 60,
    });
    let answer = invoke(&start.name, &request).await.expect("start");
    let id = answer["deploymentId"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        store.load(&id).await.unwrap().status(),
        DeploymentStatus::Created,
        "nothing drives it yet"
    );
    let drive = || {
        let mut cmd = cutover_tests::cli::cutover(&["drive", &id, "--output", "json"]);
        cmd.env_remove("CUTOVER_LOCAL")
            .env("CUTOVER_CONTROL_FUNCTION", &control.name);
        cmd.output().expect("run cutover drive")
    };
    let first = drive();
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // While its execution runs, a second `drive` is refused, naming the deployment.
    let second = drive();
    let err = String::from_utf8_lossy(&second.stderr).to_string();
    assert_eq!(second.status.code(), Some(2), "{err}");
    assert!(err.contains(&id) && err.contains("being driven"), "{err}");
    let done = wait_until(
        "the restarted driver to finish the deployment",
        Duration::from_secs(120),
        async || store.load(&id).await.ok().filter(|d| d.is_done()),
    )
    .await;
    assert_eq!(
        done.status(),
        DeploymentStatus::Succeeded,
        "{:?}",
        done.error()
    );
    assert_eq!(alias_version(&f).await, ("2".to_string(), None));
    let names: Vec<String> = sfn
        .list_executions()
        .state_machine_arn(&sm)
        .send()
        .await
        .unwrap()
        .executions()
        .iter()
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(names.len(), 1, "one driver: {names:?}");
    assert!(names[0].starts_with(&format!("{id}-")), "{names:?}");
}

/// The seconds of the last Wait state the execution `name` entered.
async fn last_wait_seconds(sm: &str, name: &str) -> Option<u64> {
    let sfn = aws_sdk_sfn::Client::new(&sdk_config().await);
    let arn = sm.replace(":stateMachine:", ":execution:") + ":" + name;
    let history = sfn
        .get_execution_history()
        .execution_arn(arn)
        .reverse_order(true)
        .send()
        .await
        .ok()?;
    history.events().iter().find_map(|e| {
        let entered = e.state_entered_event_details()?;
        let input: Value = serde_json::from_str(entered.input()?).ok()?;
        input["waitSeconds"]
            .as_u64()
            .filter(|_| entered.name() == "Wait")
    })
}

/// The deployment's executions of the state machine, once none is starting or stopping
/// (`(name, status)`).
async fn executions(sm: &str) -> Vec<(String, aws_sdk_sfn::types::ExecutionStatus)> {
    let sfn = aws_sdk_sfn::Client::new(&sdk_config().await);
    let list = sfn
        .list_executions()
        .state_machine_arn(sm)
        .send()
        .await
        .unwrap();
    let mut v: Vec<_> = list
        .executions()
        .iter()
        .map(|e| (e.name().to_string(), e.status().clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Waits until the hook of `event` was invoked and its report is awaited.
async fn awaiting_report(store: &Store, id: &str, event: &str) -> Deployment {
    wait_until(
        &format!("the {event} hook to be invoked and its report awaited"),
        Duration::from_secs(60),
        async || {
            store.load(id).await.ok().filter(|d| {
                d.hook().is_some_and(|h| {
                    h.event.as_str() == event && h.invocations > 0 && h.in_flight_until.is_none()
                })
            })
        },
    )
    .await
}

#[tokio::test]
async fn the_driver_sleeps_until_the_deadline_and_a_hook_report_wakes_it() {
    use aws_sdk_sfn::types::ExecutionStatus::{Aborted, Running};
    let f = unique("orders");
    seed_function(&f, 2);
    // Hooks that answer nothing: the emulator echoes the payload, "the hook will report".
    let (before, after) = (unique("BeforeHook"), unique("AfterHook"));
    seed_function(&before, 1);
    seed_function(&after, 1);
    let (table, store) = table().await;
    let sm_name = unique("driver");
    let sm = state_machine_arn(&sm_name);
    let stack = [
        ("CUTOVER_TABLE", table.as_str()),
        ("CUTOVER_STATE_MACHINE_ARN", sm.as_str()),
    ];
    let advance = serve("advance", &stack);
    let control = serve("control", &stack);
    let start = serve("start", &stack);
    let report = serve("hook-report", &stack);
    assert_eq!(driver_named(&sm_name, &advance, &control).await, sm);
    let request = json!({
        "appspec": appspec(&f, Some(&before), Some(&after)),
        "config": "CodeDeployDefault.LambdaAllAtOnce",
        "hookTimeoutSeconds": 3600,
    });
    let answer = invoke(&start.name, &request).await.expect("start");
    let id = answer["deploymentId"].as_str().unwrap().to_string();
    let waiting = awaiting_report(&store, &id, "BeforeAllowTraffic").await;
    // With nothing to poll (no alarms), the driver sleeps until the hook's deadline, not
    // at the poll interval (10 s by default).
    let started = Instant::now();
    let slept = loop {
        match last_wait_seconds(&sm, &id).await {
            Some(s) => break s,
            None if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            None => panic!("the driver never entered its Wait state"),
        }
    };
    assert!(
        slept > 3000,
        "the driver sleeps {slept} s, not until the hook's deadline"
    );
    let report_ok = async |d: &Deployment| {
        let hook = d.hook().unwrap().function.clone();
        let exec = last_execution_id(&hook, &id);
        invoke(
            &report.name,
            &json!({"deploymentId": id, "lifecycleEventHookExecutionId": exec, "status": "Succeeded"}),
        )
        .await
        .expect("hook-report")
    };
    // The report moves traffic; the next hook is the driver's to invoke: the hook-report
    // function wakes it (a new execution; the sleeping one is stopped), now rather than in
    // an hour.
    report_ok(&waiting).await;
    let waiting = awaiting_report(&store, &id, "AfterAllowTraffic").await;
    assert_eq!(alias_version(&f).await, ("2".to_string(), None));
    let running = executions(&sm).await;
    assert!(
        running.len() == 2
            && running[0] == (id.clone(), Aborted)
            && running[1].0.starts_with(&format!("{id}-w"))
            && running[1].1 == Running,
        "{running:?}"
    );
    // The last report ends the deployment; the driver it would have woken is stopped.
    report_ok(&waiting).await;
    let done = store.load(&id).await.unwrap();
    assert_eq!(
        done.status(),
        DeploymentStatus::Succeeded,
        "{:?}",
        done.error()
    );
    let ended = executions(&sm).await;
    assert!(
        ended.len() == 2 && ended.iter().all(|(_, s)| *s == Aborted),
        "{ended:?}"
    );
}
