//! Adapter tests: the real SDK clients against the local emulator, one per adapter.

use cutover_aws::alarms::Alarms;
use cutover_aws::lambda::{LambdaRouter, Routed};
use cutover_aws::notify::Notifier;
use cutover_aws::store::Store;
use cutover_aws::Error;
use cutover_core::config::DeploymentConfig;
use cutover_core::engine::NotificationKind;
use cutover_core::model::{
    AlarmState, AliasView, Deployment, DeploymentError, DeploymentOptions, DeploymentStatus, End,
    ErrorCode, Halt, HookResponse, LambdaTarget, Phase,
};
use cutover_tests::*;
use std::io::{Read, Write};

fn target(function: &str) -> LambdaTarget {
    LambdaTarget {
        function: function.into(),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    }
}

async fn store() -> Store {
    let sdk = sdk_config().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), unique("table"));
    store.ensure_table().await.expect("create table");
    store
}

fn deployment(id: &str, function: &str, alarms: &[&str]) -> Deployment {
    let options = DeploymentOptions {
        alarms: alarms.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    let config = DeploymentConfig::predefined("CodeDeployDefault.LambdaAllAtOnce").unwrap();
    Deployment::new_lambda(id.into(), target(function), config, vec![], options, 1_000)
}

#[tokio::test]
async fn store_locks_the_target_and_saves_conditionally() {
    let store = store().await;
    store
        .ensure_table()
        .await
        .expect("ensure_table is idempotent");
    let first = deployment("d-AAAAAAAA1", "fn-a", &["Errors"]);
    store
        .create(&first, &["created".into()], 1)
        .await
        .expect("create");
    let second = deployment("d-AAAAAAAA2", "fn-a", &[]);
    match store.create(&second, &[], 2).await {
        Err(Error::InProgress { active, .. }) => assert_eq!(active, "d-AAAAAAAA1"),
        other => panic!("expected InProgress, got {other:?}"),
    }
    assert!(matches!(
        store.load("d-AAAAAAAA2").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        store.watching("Errors").await.unwrap(),
        vec!["d-AAAAAAAA1".to_string()]
    );

    let loaded = store.load("d-AAAAAAAA1").await.unwrap();
    assert_eq!(loaded.ver, 0);
    let mut next = loaded.clone();
    next.phase = Phase::Shifting {
        step: 0,
        attempts: 1,
    };
    let saved = store.save(&next, &["tick".into()], 5).await.expect("save");
    assert_eq!(saved.ver, 1);
    // A second save from the same (now stale) version loses.
    assert!(matches!(
        store.save(&next, &[], 6).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(store.list(true).await.unwrap().len(), 1);

    let mut done = saved.clone();
    done.phase = Phase::Done(End::Succeeded);
    store
        .save(&done, &["end".into()], 7)
        .await
        .expect("save done");
    assert!(store.watching("Errors").await.unwrap().is_empty());
    assert!(store.list(true).await.unwrap().is_empty());
    assert_eq!(
        store.active_on(&target("fn-a").lock_key()).await.unwrap(),
        None
    );
    let log: Vec<String> = store
        .log("d-AAAAAAAA1")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert_eq!(log, vec!["created", "tick", "end"]);
    // The lock is free again.
    store
        .create(&second, &[], 8)
        .await
        .expect("second deployment after the first ended");
}

#[tokio::test]
async fn store_keeps_custom_configs() {
    let store = store().await;
    let doc = r#"{"deploymentConfigName": "Steps5-50", "computePlatform": "Lambda",
        "trafficRoutingConfig": {"type": "Steps", "steps": [{"weight": 5, "bakeSeconds": 60}, {"weight": 50, "bakeSeconds": 120}]},
        "bakeAfterSeconds": 30}"#;
    let config = DeploymentConfig::parse_document(doc).unwrap();
    store.put_config(&config).await.unwrap();
    assert_eq!(
        store.get_config("Steps5-50").await.unwrap(),
        Some(config.clone())
    );
    assert_eq!(store.get_config("Nope").await.unwrap(), None);
    assert_eq!(store.list_configs().await.unwrap(), vec![config]);
}

#[tokio::test]
async fn lambda_router_sets_and_reads_absolute_weights() {
    let f = unique("route");
    seed_function(&f, 3);
    let sdk = sdk_config().await;
    let router = LambdaRouter::new(aws_sdk_lambda::Client::new(&sdk));
    let t = target(&f);
    let first = router.preflight(&t).await.expect("preflight passes");
    assert!(
        first.is_some(),
        "the pre-flight returns the alias's RevisionId"
    );
    let rev = |r: Routed| match r {
        Routed::Applied(Some(rev)) => rev,
        other => panic!("expected an applied update with a revision, got {other:?}"),
    };
    let second = rev(router.route(&t, 10, first.as_deref()).await.unwrap());
    assert_ne!(
        first.as_deref(),
        Some(second.as_str()),
        "every update gets a new RevisionId"
    );
    let a = router.read_alias(&t).await.unwrap();
    assert_eq!(a.revision_id.as_deref(), Some(second.as_str()));
    assert_eq!(
        a.view,
        AliasView {
            version: "1".into(),
            additional: Some(("2".into(), 0.1))
        }
    );
    // A stale revision (what a slow tick saw before) changes nothing.
    assert_eq!(
        router.route(&t, 100, first.as_deref()).await.unwrap(),
        Routed::Stale
    );
    assert_eq!(router.read_alias(&t).await.unwrap().view, a.view);
    let third = rev(router.route(&t, 100, Some(&second)).await.unwrap());
    assert_eq!(
        router.read_alias(&t).await.unwrap().view,
        AliasView {
            version: "2".into(),
            additional: None
        }
    );
    router.route(&t, 0, Some(&third)).await.unwrap();
    assert_eq!(
        router.read_alias(&t).await.unwrap().view,
        AliasView {
            version: "1".into(),
            additional: None
        }
    );
}

#[tokio::test]
async fn lambda_preflight_names_what_is_wrong() {
    let f = unique("pre");
    seed_function(&f, 2);
    let sdk = sdk_config().await;
    let router = LambdaRouter::new(aws_sdk_lambda::Client::new(&sdk));
    let refused = |r: Result<Option<String>, Error>| match r {
        Err(Error::Refused(r)) => (r.code, r.message),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let (code, msg) = refused(router.preflight(&target("no-such-function")).await);
    assert_eq!(code, "FunctionNotFound");
    assert!(msg.contains("no-such-function"), "{msg}");
    let mut t = target(&f);
    t.target_version = "9".into();
    let (code, msg) = refused(router.preflight(&t).await);
    assert_eq!(code, "VersionNotFound");
    assert!(
        msg.contains("TargetVersion") && msg.contains("1, 2"),
        "{msg}"
    );
    let mut t = target(&f);
    t.current_version = "2".into();
    t.target_version = "1".into();
    let (code, msg) = refused(router.preflight(&t).await);
    assert_eq!(code, "AliasNotOnCurrentVersion");
    assert!(msg.contains("points at version 1"), "{msg}");
    let mut t = target(&f);
    t.alias = "beta".into();
    assert_eq!(refused(router.preflight(&t).await).0, "AliasNotFound");
    router.route(&target(&f), 30, None).await.unwrap();
    let (code, msg) = refused(router.preflight(&target(&f)).await);
    assert_eq!(code, "AliasAlreadySplit");
    assert!(msg.contains("30.0%"), "{msg}");
    assert_eq!(
        refused(
            router
                .check_hook("Hooks[0]", "no-such-hook")
                .await
                .map(|()| None)
        )
        .0,
        "HookFunctionNotFound"
    );
}

#[tokio::test]
async fn hook_invoker_reads_verdicts() {
    let _g = hook_lock().await;
    let f = unique("hook");
    seed_function(&f, 1);
    let sdk = sdk_config().await;
    let router = LambdaRouter::new(aws_sdk_lambda::Client::new(&sdk));
    let payload = serde_json::json!({"DeploymentId": "d-X", "LifecycleEventHookExecutionId": "e"});
    // The emulator echoes the payload: not a verdict, so the hook will report later.
    assert_eq!(
        router.invoke_hook(&f, &payload).await.unwrap(),
        HookResponse::Deferred
    );
    seed(&[
        "hook-response",
        "--result",
        r#"{"status": "Failed", "reason": "smoke"}"#,
    ]);
    assert_eq!(
        router.invoke_hook(&f, &payload).await.unwrap(),
        HookResponse::Failed("smoke".into())
    );
    seed(&[
        "hook-response",
        "--result",
        r#"{"hookStatus": "IN_PROGRESS"}"#,
    ]);
    assert_eq!(
        router.invoke_hook(&f, &payload).await.unwrap(),
        HookResponse::InProgress
    );
    seed(&["hook-response", "--result", r#"{"status": "Succeeded"}"#]);
    assert_eq!(
        router.invoke_hook(&f, &payload).await.unwrap(),
        HookResponse::Succeeded
    );
    seed(&[
        "hook-response",
        "--function-error",
        "Unhandled",
        "--result",
        r#"{"errorMessage": "boom"}"#,
    ]);
    let errored = router.invoke_hook(&f, &payload).await.unwrap();
    match &errored {
        HookResponse::FunctionError(m) => {
            assert!(m.contains("Unhandled") && m.contains("boom"), "{m}")
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    let missing = router.invoke_hook("no-such-hook", &payload).await.unwrap();
    assert!(
        matches!(missing, HookResponse::FunctionError(_)),
        "{missing:?}"
    );
}

#[tokio::test]
async fn alarms_are_read_through_the_cbor_protocol() {
    let ok = unique("ok");
    let firing = unique("firing");
    seed(&["alarm", "--name", &ok, "--state", "OK"]);
    let before = cutover_aws::service::now_ms();
    seed(&["alarm", "--name", &firing, "--state", "ALARM"]);
    let sdk = sdk_config().await;
    let alarms = Alarms::new(aws_sdk_cloudwatch::Client::new(&sdk));
    let names = vec![ok.clone(), firing.clone(), "missing-alarm".to_string()];
    let views = alarms.read(&names).await.expect("DescribeAlarms over CBOR");
    assert_eq!(views.len(), 3);
    assert_eq!(views[0].state, AlarmState::Ok);
    assert_eq!(views[1].state, AlarmState::Alarm);
    let updated = views[1].updated_at.expect("state timestamp");
    assert!(
        updated + 5_000 >= before,
        "timestamp {updated} is older than the change at {before}"
    );
    assert_eq!(views[2].state, AlarmState::Missing);
}

#[tokio::test]
async fn a_composite_alarm_is_found_only_when_asked_for() {
    let child = unique("child");
    seed(&["alarm", "--name", &child, "--state", "OK"]);
    let composite = unique("composite");
    let sdk = sdk_config().await;
    let cw = aws_sdk_cloudwatch::Client::new(&sdk);
    cw.put_composite_alarm()
        .alarm_name(&composite)
        .alarm_rule(format!("ALARM(\"{child}\")"))
        .send()
        .await
        .expect("PutCompositeAlarm");
    // As in AWS: DescribeAlarms without AlarmTypes returns metric alarms only.
    let plain = cw
        .describe_alarms()
        .alarm_names(&composite)
        .send()
        .await
        .expect("DescribeAlarms");
    assert!(plain.composite_alarms().is_empty(), "{plain:?}");
    let views = Alarms::new(cw)
        .read(std::slice::from_ref(&composite))
        .await
        .unwrap();
    assert_ne!(views[0].state, AlarmState::Missing, "{views:?}");
}

/// A one-shot HTTP endpoint on loopback that records what is POSTed to it.
fn http_sink() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/sns", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(10) {
            let Ok(mut s) = stream else { break };
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .ok();
            let mut buf = vec![0u8; 65536];
            let mut data = Vec::new();
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                data.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&data).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if data.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(String::from_utf8_lossy(&data).to_string());
        }
    });
    (url, rx)
}

fn note(kind: NotificationKind) -> cutover_core::model::Outgoing {
    cutover_core::model::Outgoing {
        id: "d-NOTIFY001-7".into(),
        kind,
        at: 0,
    }
}

#[tokio::test]
async fn notifications_reach_the_topic() {
    let sdk = sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let topic = sns
        .create_topic()
        .name(unique("topic"))
        .send()
        .await
        .unwrap();
    let arn = topic.topic_arn().unwrap().to_string();
    let (url, rx) = http_sink();
    sns.subscribe()
        .topic_arn(&arn)
        .protocol("http")
        .endpoint(&url)
        .send()
        .await
        .unwrap();
    let notifier = Notifier::new(sns.clone(), Some(arn.clone()));
    let mut dep = deployment("d-NOTIFY001", "fn-n", &[]);
    dep.phase = Phase::Done(End::Halted {
        halt: Halt::new(
            DeploymentStatus::Failed,
            DeploymentError {
                code: ErrorCode::AlarmActive,
                message: "alarm Errors is in ALARM".into(),
            },
        ),
        rolled_back: true,
    });
    notifier
        .publish(&note(NotificationKind::DeploymentRollback), &dep, REGION)
        .await
        .expect("publish");
    let mut seen = Vec::new();
    while let Ok(body) = rx.recv_timeout(std::time::Duration::from_secs(10)) {
        let hit = body.contains("DeploymentRollback");
        seen.push(body);
        if hit {
            break;
        }
    }
    let body = seen
        .iter()
        .find(|b| b.contains("DeploymentRollback"))
        .expect("notification delivered");
    assert!(body.contains("d-NOTIFY001"), "{body}");
    assert!(
        body.contains("d-NOTIFY001-7"),
        "the notification id is in the message for subscribers to drop duplicates: {body}"
    );
    // Without a topic nothing is sent and nothing fails.
    Notifier::new(sns.clone(), None)
        .publish(&note(NotificationKind::DeploymentStart), &dep, REGION)
        .await
        .unwrap();
    // A deployment group's own topic is notified even without Cutover's.
    dep.topic_arn = Some(arn.clone());
    Notifier::new(sns.clone(), None)
        .publish(&note(NotificationKind::DeploymentStop), &dep, REGION)
        .await
        .unwrap();
    let mut delivered = false;
    while let Ok(body) = rx.recv_timeout(std::time::Duration::from_secs(10)) {
        if body.contains("DeploymentStop") {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "the group's topic got DeploymentStop");
    dep.topic_arn = None;
    // A topic that does not exist is an error, not silence.
    let bad = Notifier::new(sns, Some(format!("{arn}-missing")));
    assert!(bad
        .publish(&note(NotificationKind::DeploymentStart), &dep, REGION)
        .await
        .is_err());
}

/// The `expiresAt` of every event-log item of deployment `id`, read with the raw client.
async fn event_expiries(store: &Store, id: &str) -> Vec<Option<u64>> {
    let sdk = sdk_config().await;
    let out = aws_sdk_dynamodb::Client::new(&sdk)
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk AND begins_with(sk, :evt)")
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("DEP#{id}")),
        )
        .expression_attribute_values(
            ":evt",
            aws_sdk_dynamodb::types::AttributeValue::S("EVT#".into()),
        )
        .send()
        .await
        .unwrap();
    out.items()
        .iter()
        .map(|i| {
            i.get(cutover_aws::store::EXPIRES_AT)
                .and_then(|v| v.as_n().ok())
                .map(|n| n.parse().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn event_log_items_carry_the_ttl_the_table_expires_them_by() {
    let store = store().await;
    let created_ms = 1_700_000_000_000;
    let dep = deployment("d-TTL000001", &unique("ttl"), &[]);
    store
        .create(&dep, &["Created".into(), "second line".into()], created_ms)
        .await
        .unwrap();
    let want = created_ms / 1000 + 90 * 86_400;
    assert_eq!(
        event_expiries(&store, &dep.id).await,
        vec![Some(want), Some(want)]
    );

    let keep = store.clone().with_event_retention_days(0);
    let other = deployment("d-TTL000002", &unique("ttl"), &[]);
    keep.create(&other, &["Created".into()], created_ms)
        .await
        .unwrap();
    assert_eq!(event_expiries(&keep, &other.id).await, vec![None]);
}
