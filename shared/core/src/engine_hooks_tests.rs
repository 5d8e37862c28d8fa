//! Engine tests of lifecycle hooks: order and payload, verdicts by answer and by report,
//! retries, timeouts, execution ids, and what a hook's answer may put in the record.

use crate::engine::{decide, hook_call, Action, NotificationKind};
use crate::engine_tests::{deployment, status_of, T0};
use crate::model::{
    AliasView, DeploymentOptions, DeploymentStatus, ErrorCode, EventStatus, HookAnswer, HookReport,
    HookResponse, Observation, Phase,
};
use crate::sim::{HookScript, World};
use crate::LifecycleEvent;

#[test]
fn hooks_run_in_lifecycle_order_with_the_documented_payload() {
    let dep = deployment(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[
            LifecycleEvent::BeforeAllowTraffic,
            LifecycleEvent::AfterAllowTraffic,
        ],
        DeploymentOptions::default(),
    );
    let entered = decide(&dep, &Observation::default(), T0);
    assert_eq!(
        entered.wake_after,
        Some(0),
        "the claim is the next decision"
    );
    let first = decide(&entered.next, &Observation::default(), T0);
    assert!(
        first
            .actions
            .contains(&Action::InvokeHook { invocation: 1 }),
        "BeforeAllowTraffic hook is invoked first, as an action of the saved decision: {:?}",
        first.actions
    );
    let call = hook_call(&first.next, "fresh-id").expect("the claimed hook");
    assert_eq!(call.function, "BeforeAllowTrafficHook");
    assert_eq!(call.payload["DeploymentId"], "d-TEST00001");
    assert_eq!(call.payload["LifecycleEventHookExecutionId"], "fresh-id");
    assert_eq!(call.payload["CurrentVersion"], "1");
    assert_eq!(call.payload["TargetVersion"], "2");
    assert_eq!(call.payload["TrafficWeight"], 0);
    assert_eq!(call.payload["Alias"], "live");

    let mut world = World::new("1", T0);
    let end = world.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    let before = end.event(LifecycleEvent::BeforeAllowTraffic).unwrap();
    let after = end.event(LifecycleEvent::AfterAllowTraffic).unwrap();
    assert_eq!(before.status, EventStatus::Succeeded);
    assert_eq!(after.status, EventStatus::Succeeded);
    assert!(before.ended_at <= after.started_at);
}

#[test]
fn failing_before_hook_fails_without_touching_the_alias() {
    let dep = deployment(
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        &[LifecycleEvent::BeforeAllowTraffic],
        DeploymentOptions::default(),
    );
    let mut world = World::new("1", T0);
    world.hooks.push((
        LifecycleEvent::BeforeAllowTraffic,
        HookScript::Answers(vec![HookResponse::Failed("smoke test failed".into())]),
    ));
    let end = world.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert!(world.weights.is_empty(), "alias must not be touched");
    assert!(!end.rolled_back());
    let err = end.error().cloned().unwrap();
    assert_eq!(err.code, ErrorCode::HookExecutionFailure);
    assert!(err.message.contains("smoke test failed"), "{}", err.message);
    assert_eq!(
        status_of(&end, LifecycleEvent::AllowTraffic),
        EventStatus::Skipped
    );
}

#[test]
fn failing_after_hook_rolls_back_to_the_current_version() {
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::AfterAllowTraffic],
        DeploymentOptions::default(),
    );
    let mut world = World::new("1", T0);
    world.hooks.push((
        LifecycleEvent::AfterAllowTraffic,
        HookScript::Answers(vec![HookResponse::FunctionError("Unhandled".into())]),
    ));
    let end = world.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert!(end.rolled_back());
    assert_eq!(world.weights, vec![1.0, 0.0]);
    assert_eq!(
        world.alias,
        AliasView {
            version: "1".into(),
            additional: None
        }
    );
    assert_eq!(end.traffic, 0);
    assert!(world
        .notifications
        .contains(&NotificationKind::DeploymentRollback));
    assert!(world
        .notifications
        .contains(&NotificationKind::DeploymentFailure));
}

#[test]
fn in_progress_hook_is_invoked_again_after_the_retry_delay() {
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        DeploymentOptions::default(),
    );
    let mut world = World::new("1", T0);
    world.hooks.push((
        LifecycleEvent::BeforeAllowTraffic,
        HookScript::Answers(vec![HookResponse::InProgress, HookResponse::InProgress]),
    ));
    let end = world.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    // Two retries of 30 s each before the third answer.
    assert_eq!(world.now - T0, 60_000);
}

#[test]
fn a_hook_may_report_later() {
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        DeploymentOptions::default(),
    );
    let mut world = World::new("1", T0);
    world.hooks.push((
        LifecycleEvent::BeforeAllowTraffic,
        HookScript::ReportsLater {
            after: 45_000,
            succeeded: true,
        },
    ));
    let end = world.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    assert_eq!(world.now - T0, 45_000);
}

#[test]
fn a_report_with_another_execution_id_is_ignored() {
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        DeploymentOptions::default(),
    );
    let entered = decide(&dep, &Observation::default(), T0).next;
    let mut started = decide(&entered, &Observation::default(), T0).next;
    crate::engine::issue_execution_id(&mut started, "id-1");
    let waiting = decide(
        &started,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-1".into(),
                invocation: 1,
                response: HookResponse::Deferred,
            }),
            ..Default::default()
        },
        T0,
    )
    .next;
    let obs = Observation {
        hook_report: Some(HookReport {
            execution_id: "forged".into(),
            succeeded: true,
        }),
        ..Default::default()
    };
    let d = decide(&waiting, &obs, T0 + 1);
    assert_eq!(
        d.next.hook().map(|h| h.event),
        Some(LifecycleEvent::BeforeAllowTraffic)
    );
    assert!(d.actions.is_empty());
}

#[test]
fn a_silent_hook_times_out() {
    let options = DeploymentOptions {
        hook_timeout_seconds: 120,
        ..DeploymentOptions::default()
    };
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        options,
    );
    let mut world = World::new("1", T0);
    world
        .hooks
        .push((LifecycleEvent::BeforeAllowTraffic, HookScript::Silent));
    let end = world.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert_eq!(end.error().unwrap().code, ErrorCode::Timeout);
    assert_eq!(world.now - T0, 120_000);
    assert!(world.weights.is_empty());
}

#[test]
fn an_overdue_hook_is_not_invoked_again() {
    let options = DeploymentOptions {
        hook_timeout_seconds: 60,
        ..Default::default()
    };
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        options,
    );
    let entered = decide(&dep, &Observation::default(), T0).next;
    let mut started = decide(&entered, &Observation::default(), T0).next;
    crate::engine::issue_execution_id(&mut started, "id-1");
    let asked = decide(
        &started,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-1".into(),
                invocation: 1,
                response: HookResponse::InProgress,
            }),
            ..Default::default()
        },
        T0,
    )
    .next;
    let again = decide(&asked, &Observation::default(), T0 + 30_000);
    assert!(again
        .actions
        .contains(&Action::InvokeHook { invocation: 2 }));
    let end = decide(&asked, &Observation::default(), T0 + 60_000);
    assert!(!end
        .actions
        .iter()
        .any(|a| matches!(a, Action::InvokeHook { .. })));
    assert_eq!(end.next.error().unwrap().code, ErrorCode::Timeout);
}

#[test]
fn only_an_execution_id_an_invocation_was_given_is_accepted_and_only_for_its_event() {
    use crate::model::{HookReport, MAX_ISSUED_IDS};
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        DeploymentOptions::default(),
    );
    let entered = decide(&dep, &Observation::default(), T0).next;
    let mut running = decide(&entered, &Observation::default(), T0).next;
    // Invoked again and again (InProgress): each invocation had its own id.
    for n in 1..=MAX_ISSUED_IDS + 2 {
        crate::engine::issue_execution_id(&mut running, &format!("secret-{n}"));
    }
    let hook = running.hook().expect("running");
    assert_eq!(hook.issued.len(), MAX_ISSUED_IDS);
    let stored = serde_json::to_string(&running).unwrap();
    assert!(
        !stored.contains("secret-"),
        "an id is stored only as its hash"
    );
    let report = |id: &str| Observation {
        hook_report: Some(HookReport {
            execution_id: id.into(),
            succeeded: true,
        }),
        ..Default::default()
    };
    // What earlier Cutover derived, the ids of the middle invocations, made-up ones: ignored.
    for id in [
        "d-TEST00001-BeforeAllowTraffic",
        "secret-2",
        "secret-3",
        "secret-11x",
        "",
    ] {
        let d = decide(&running, &report(id), T0 + 1);
        assert!(
            matches!(d.next.phase, Phase::Hook(_)),
            "{id:?} was accepted"
        );
    }
    // The first invocation's id is kept, as are the latest.
    for id in ["secret-1", "secret-5", "secret-10"] {
        let d = decide(&running, &report(id), T0 + 1);
        assert!(
            !matches!(d.next.phase, Phase::Hook(_)),
            "{id:?} was refused"
        );
    }
    let taken = decide(&running, &report("secret-5"), T0 + 1).next;
    assert!(
        matches!(taken.phase, Phase::Shifting { .. }),
        "{:?}",
        taken.phase
    );
    // Accepted once: the event has its verdict, the same id again changes nothing.
    let again = decide(&taken, &report("secret-5"), T0 + 2);
    assert_eq!(again.next.phase, taken.phase);
}

#[test]
fn a_hooks_hostile_answer_reaches_the_record_bounded_and_without_control_characters() {
    use crate::model::HookAnswer;
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[LifecycleEvent::BeforeAllowTraffic],
        DeploymentOptions::default(),
    );
    let entered = decide(&dep, &Observation::default(), T0).next;
    let mut claimed = decide(&entered, &Observation::default(), T0).next;
    crate::engine::issue_execution_id(&mut claimed, "id-1");
    let reason = format!(
        "\x1b]0;owned\x07\x1b[2J{}\nfake: Succeeded",
        "A".repeat(100_000)
    );
    let failed = decide(
        &claimed,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-1".into(),
                invocation: 1,
                response: HookResponse::Failed(reason),
            }),
            ..Default::default()
        },
        T0 + 1,
    );
    let texts: Vec<String> = failed
        .next
        .events
        .iter()
        .filter_map(|e| e.detail.clone())
        .chain(failed.next.error().map(|e| e.message.clone()))
        .chain(failed.log.iter().cloned())
        .collect();
    assert!(texts.iter().any(|t| t.contains("AAAA")), "{texts:?}");
    for t in &texts {
        assert!(!t.chars().any(char::is_control), "{t:?}");
        assert!(
            t.len() <= 2 * crate::text::MAX_TEXT_BYTES,
            "{} bytes",
            t.len()
        );
    }
    let record = serde_json::to_string(&failed.next).unwrap();
    assert!(record.len() < 16 * 1024, "record of {} bytes", record.len());
}
