//! Who may deploy what, tried as a user would: the CLI's `--local` mode and the deployed
//! start function refuse a target outside `CUTOVER_ALLOWED_TARGETS` before anything
//! changes, and deploy one inside it; a group's guardrails and hostile names are refused the
//! same way.

use cutover_tests::cli::*;
use cutover_tests::functions::{invoke, serve, table};
use cutover_tests::*;
use serde_json::json;

/// The alias `live` of `function`: its version and the extra version, if any.
async fn live(function: &str) -> (String, Option<String>) {
    cutover_tests::functions::alias_version(function).await
}

#[tokio::test]
async fn the_cli_refuses_a_target_outside_the_allowed_list_and_deploys_one_inside() {
    let outside = unique("outside");
    seed_function(&outside, 2);
    let inside = unique("inside");
    seed_function(&inside, 2);
    let list = format!("lambda:{inside}:live, ecs:shop/web");

    let refused = finish(
        deploy_command(&appspec(&outside, None, None), &[])
            .env("CUTOVER_ALLOWED_TARGETS", &list)
            .output()
            .unwrap(),
    );
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert_eq!(
        refused.status["error"]["code"], "TargetNotAllowed",
        "{}",
        refused.stdout
    );
    for needle in [
        format!("lambda:{outside}:live is not an allowed target"),
        list.clone(),
        "AllowedTargets".to_string(),
    ] {
        assert!(
            refused.stderr.contains(&needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    // Nothing changed: the alias as it was, no deployment recorded, no lock held.
    assert_eq!(live(&outside).await, ("1".to_string(), None));
    let app = app().await;
    let all = app.cutover.store.list(false).await.unwrap();
    assert!(!all
        .iter()
        .any(|d| d.target.lambda().is_some_and(|t| t.function == outside)));

    // A malformed list refuses everything, naming the entry.
    let malformed = finish(
        deploy_command(&appspec(&inside, None, None), &[])
            .env("CUTOVER_ALLOWED_TARGETS", format!("{inside}:live"))
            .output()
            .unwrap(),
    );
    assert_eq!(malformed.code, 2);
    assert!(
        malformed.stderr.contains("is malformed") && malformed.stderr.contains(&inside),
        "{}",
        malformed.stderr
    );
    assert_eq!(live(&inside).await, ("1".to_string(), None));

    // The allowed target deploys.
    // (With the stack's metrics namespace in the environment too: the CLI never prints a
    // metric, so `--output json` stays JSON.)
    let ok = finish(
        deploy_command(&appspec(&inside, None, None), &[])
            .env("CUTOVER_ALLOWED_TARGETS", &list)
            .env("CUTOVER_METRICS_NAMESPACE", "Cutover")
            .output()
            .unwrap(),
    );
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(!ok.stdout.contains("_aws"), "{}", ok.stdout);
    assert_eq!(ok.status["status"], "Succeeded", "{}", ok.stdout);
    assert_eq!(live(&inside).await, ("2".to_string(), None));
}

#[tokio::test]
async fn the_start_function_refuses_a_target_outside_the_allowed_list() {
    let outside = unique("outside");
    seed_function(&outside, 2);
    let (table, store) = table().await;
    let start = serve(
        "start",
        &[
            ("CUTOVER_TABLE", table.as_str()),
            ("CUTOVER_ALLOWED_TARGETS", "lambda:orders-*"),
        ],
    );
    let request = json!({"appspec": appspec(&outside, None, None)});
    let (error_type, message) = invoke(&start.name, &request).await.unwrap_err();
    assert_eq!(error_type, "TargetNotAllowed", "{message}");
    assert!(
        message.contains(&format!("lambda:{outside}:live")) && message.contains("lambda:orders-*"),
        "{message}"
    );
    assert_eq!(live(&outside).await, ("1".to_string(), None));
    assert!(store.list(false).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_deployed_functions_refuse_a_time_scale_unless_the_stack_allows_it() {
    let f = unique("scaled");
    seed_function(&f, 2);
    let (table, store) = table().await;
    let start = serve(
        "start",
        &[
            ("CUTOVER_TABLE", table.as_str()),
            ("CUTOVER_ALLOW_TIME_SCALE", "false"),
        ],
    );
    let request = json!({"appspec": appspec(&f, None, None), "timeScale": 600});
    let (error_type, message) = invoke(&start.name, &request).await.unwrap_err();
    assert_eq!(error_type, "TimeScaleNotAllowed", "{message}");
    assert!(message.contains("AllowTimeScale"), "{message}");
    assert_eq!(live(&f).await, ("1".to_string(), None));
    assert!(store.list(false).await.unwrap().is_empty());
    // Without a time scale the same request starts.
    let started = invoke(&start.name, &json!({"appspec": appspec(&f, None, None)}))
        .await
        .unwrap();
    assert!(started["deploymentId"].is_string(), "{started}");
}

#[tokio::test]
async fn a_stack_that_requires_groups_refuses_a_deployment_without_one() {
    let f = unique("grouped");
    seed_function(&f, 2);
    let run = finish(
        deploy_command(&appspec(&f, None, None), &[])
            .env("CUTOVER_REQUIRE_GROUP", "true")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.status["error"]["code"], "GroupRequired",
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("--group"), "{}", run.stderr);
    assert_eq!(live(&f).await, ("1".to_string(), None));
}

#[tokio::test]
async fn a_request_overriding_a_groups_guardrail_is_refused_naming_it() {
    let f = unique("guarded");
    seed_function(&f, 2);
    seed(&["alarm", "--name", &format!("{f}-errors")]);
    let app_name = unique("shop");
    let group = write_appspec(&format!(
        "application: {app_name}\nname: prod\ncomputePlatform: Lambda\n\
         deploymentConfig: CodeDeployDefault.LambdaCanary10Percent5Minutes\n\
         alarms: [{f}-errors]\n\
         enforce:\n  noAllAtOnce: true\n  alarms: true\n  autoRollback: true\n  firingAlarms: true\n"
    ));
    let put = finish(
        cutover(&["group", "put", "--file", group.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(put.code, 0, "{}", put.stderr);
    let key = format!("{app_name}/prod");
    let cases: [(&[&str], &str); 4] = [
        (
            &["--config", "CodeDeployDefault.LambdaAllAtOnce"],
            "enforce.noAllAtOnce",
        ),
        (&["--alarm", "SomethingElse"], "enforce.alarms"),
        (&["--no-auto-rollback"], "enforce.autoRollback"),
        (&["--ignore-firing-alarms"], "enforce.firingAlarms"),
    ];
    for (flags, setting) in cases {
        let mut args = vec!["--group", key.as_str()];
        args.extend_from_slice(flags);
        let run = finish(
            deploy_command(&appspec(&f, None, None), &args)
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 2, "{flags:?}: {}\n{}", run.stdout, run.stderr);
        assert_eq!(
            run.status["error"]["code"], "GuardrailViolated",
            "{flags:?}: {}",
            run.stdout
        );
        assert!(
            run.stderr.contains(setting) && run.stderr.contains(flags[0]),
            "{flags:?}: {}",
            run.stderr
        );
        assert_eq!(live(&f).await, ("1".to_string(), None), "{flags:?}");
    }
    let store = app().await.cutover.store;
    assert!(!store
        .list(false)
        .await
        .unwrap()
        .iter()
        .any(|d| d.target.lambda().is_some_and(|t| t.function == f)));
}

#[tokio::test]
async fn oversized_or_control_character_names_are_refused_and_change_nothing() {
    let f = unique("named");
    seed_function(&f, 2);
    let long = "a".repeat(5000);
    let cases: [(&[&str], &str); 4] = [
        (&["--application", "shop\u{1b}[2J"], "--application"),
        (&["--application", long.as_str()], "--application"),
        (&["--alarm", "Errors\nfake line"], "--alarm"),
        (&["--config", long.as_str()], "--config"),
    ];
    for (flags, field) in cases {
        let run = finish(
            deploy_command(&appspec(&f, None, None), flags)
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 2, "{field}: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(field), "{field}: {}", run.stderr);
        // The message quotes a bounded, clean excerpt, never the value itself.
        assert!(
            run.stderr.len() < 2000,
            "{field}: {} bytes",
            run.stderr.len()
        );
        assert!(!run.stderr.contains('\u{1b}'), "{field}: {:?}", run.stderr);
        assert_eq!(live(&f).await, ("1".to_string(), None), "{field}");
    }
    // An AppSpec naming a function with a control character: refused the same way.
    let hostile = appspec(&format!("{f}\u{7}"), None, None);
    let run = finish(deploy_command(&hostile, &[]).output().unwrap());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains('\u{7}'), "{:?}", run.stderr);
}

/// The identity STS gives the emulator's credentials.
async fn caller_arn() -> String {
    let sts = aws_sdk_sts::Client::new(&sdk_config().await);
    let me = sts.get_caller_identity().send().await.unwrap();
    me.arn().unwrap().to_string()
}

#[tokio::test]
async fn every_changing_request_of_the_cli_is_logged_with_who_asked() {
    let arn = caller_arn().await;
    let app = app().await;
    let says = |log: &[cutover_aws::store::LogEntry], what: &str| {
        log.iter().any(|l| {
            l.message.contains(what)
                && l.message
                    .contains(&format!("requested by {arn} (as its caller reported)"))
        })
    };

    // deploy: the start is logged with the CLI's identity.
    let f = unique("audited");
    seed_function(&f, 2);
    let run = finish(
        deploy_command(&appspec(&f, None, None), &[])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.status["deploymentId"].as_str().unwrap().to_string();
    let log = app.cutover.store.log(&id).await.unwrap();
    assert!(
        says(&log, "Start"),
        "{:?}",
        log.iter().map(|l| &l.message).collect::<Vec<_>>()
    );

    // stop: so is the stop, in the deployment's error too.
    let g = unique("audited");
    seed_function(&g, 2);
    let req = cutover_aws::StartRequest {
        appspec: appspec(&g, None, None),
        config: Some("CodeDeployDefault.LambdaCanary10Percent30Minutes".into()),
        ..Default::default()
    };
    let dep = app.cutover.start(&req).await.unwrap();
    let stop = finish(cutover(&["stop", &dep.id, "--local"]).output().unwrap());
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    let stopped = app.cutover.store.load(&dep.id).await.unwrap();
    assert!(
        stopped.error().unwrap().message.contains(&arn),
        "{:?}",
        stopped.error()
    );
    let log = app.cutover.store.log(&dep.id).await.unwrap();
    assert!(
        says(&log, "stopped by `cutover stop`"),
        "{:?}",
        log.iter().map(|l| &l.message).collect::<Vec<_>>()
    );
}
