//! Engine tests for ECS blue/green: the lifecycle order, the install and ready waits, the
//! termination wait, and every way back to the original task set, driven through the
//! simulated service.

use crate::appspec::{EcsResource, HookSpec};
use crate::config::DeploymentConfig;
use crate::engine::{decide, hook_call, needs, Action, NotificationKind};
use crate::engine_tests::arb_config;
use crate::model::{
    Deployment, DeploymentOptions, DeploymentStatus, EcsTarget, ErrorCode, EventStatus,
    HookResponse, ListenerView, ListenersView, Observation, Phase, StopRequest, Target,
};
use crate::sim::{HookScript, World};
use crate::LifecycleEvent;
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000;
pub(crate) const BLUE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/1";
pub(crate) const GREEN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/2";
pub(crate) const ORIGINAL: &str = "arn:aws:ecs:us-east-1:123456789012:task-set/shop/web/ecs-svc/1";

pub(crate) fn target(test_listener: bool, ready_wait: Option<u32>) -> EcsTarget {
    EcsTarget {
        cluster: "shop".into(),
        service: "web".into(),
        production_listener:
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/1/80".into(),
        test_listener: test_listener.then(|| {
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/1/8080".into()
        }),
        original_target_group: BLUE.into(),
        replacement_target_group: GREEN.into(),
        original_task_set: ORIGINAL.into(),
        original_task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1".into(),
        resource: EcsResource {
            logical_name: "TargetService".into(),
            task_definition: "web:2".into(),
            container_name: "web".into(),
            container_port: 80,
            platform_version: None,
            network: None,
            capacity_provider_strategy: Vec::new(),
        },
        launch_type: Some("FARGATE".into()),
        ready_wait_minutes: ready_wait,
        termination_wait_minutes: 5,
    }
}

fn all_hooks() -> Vec<HookSpec> {
    LifecycleEvent::ECS_HOOKS
        .iter()
        .map(|e| HookSpec {
            event: *e,
            function: format!("{e}Hook"),
        })
        .collect()
}

pub(crate) fn deployment(
    config: &str,
    target: EcsTarget,
    options: DeploymentOptions,
) -> Deployment {
    let config = DeploymentConfig::predefined(config).expect("known config");
    Deployment::new(
        "d-ECS000001".into(),
        Target::Ecs(Box::new(target)),
        config,
        all_hooks(),
        options,
        T0,
    )
}

/// A world whose replacement becomes steady after 30 s.
pub(crate) fn world() -> World {
    let mut w = World::new("unused", T0);
    w.ecs.steady_after = Some(30_000);
    w
}

fn status_of(dep: &Deployment, e: LifecycleEvent) -> EventStatus {
    dep.event(e).expect("event exists").status
}

/// Everything is as before the deployment: production and test on blue, the original
/// task set primary, no replacement.
fn assert_restored(world: &World, dep: &Deployment) {
    assert_eq!(world.ecs.production, 0, "production listener");
    assert_eq!(world.ecs.test, 0, "test listener");
    let sets: Vec<_> = world.ecs.task_sets.iter().map(|(t, _)| t).collect();
    assert_eq!(
        sets.len(),
        1,
        "only the original task set is left: {sets:?}"
    );
    assert_eq!(sets[0].arn, ORIGINAL);
    assert_eq!(sets[0].status, "PRIMARY");
    assert!(dep.rolled_back());
}

#[test]
fn linear_deployment_runs_every_ecs_event_in_codedeploy_order() {
    let dep = deployment(
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        target(true, None),
        DeploymentOptions::default(),
    );
    let mut w = world();
    let end = w.run(dep, 10_000);
    assert_eq!(
        end.status(),
        DeploymentStatus::Succeeded,
        "{:?}",
        end.error()
    );
    for e in LifecycleEvent::ALL {
        assert_eq!(status_of(&end, e), EventStatus::Succeeded, "{e}");
    }
    let started: Vec<_> = end.events.iter().map(|e| e.started_at.unwrap()).collect();
    assert!(started.windows(2).all(|p| p[0] <= p[1]), "{started:?}");
    let expected: Vec<f64> = (1..=10).map(|i| f64::from(i * 10) / 100.0).collect();
    assert_eq!(w.weights, expected);
    assert_eq!(w.ecs.test_weights, vec![100]);
    // The original task set was deleted after the termination wait; the replacement is primary.
    assert_eq!(w.ecs.deleted, vec![ORIGINAL.to_string()]);
    let sets: Vec<_> = w.ecs.task_sets.iter().map(|(t, _)| t).collect();
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].status, "PRIMARY");
    assert_eq!(sets[0].external_id.as_deref(), Some("d-ECS000001"));
    // 30 s install, 9 one-minute bakes, 5 minutes termination wait.
    assert_eq!(w.now - T0, 30_000 + 9 * 60_000 + 5 * 60_000);
    assert_eq!(
        w.notifications,
        vec![
            NotificationKind::DeploymentStart,
            NotificationKind::DeploymentSuccess
        ]
    );
}

#[test]
fn without_a_test_listener_allow_test_traffic_is_skipped() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(false, None),
        DeploymentOptions::default(),
    );
    let mut w = world();
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    assert_eq!(
        status_of(&end, LifecycleEvent::AllowTestTraffic),
        EventStatus::Skipped
    );
    assert!(w.ecs.test_weights.is_empty());
    assert_eq!(w.weights, vec![1.0]);
}

#[test]
fn a_replacement_that_never_becomes_steady_fails_before_any_traffic_moves() {
    let options = DeploymentOptions {
        install_timeout_seconds: 600,
        ..Default::default()
    };
    let dep = deployment(
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        target(true, None),
        options,
    );
    let mut w = world();
    w.ecs.steady_after = None;
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    let err = end.error().unwrap();
    assert_eq!(err.code, ErrorCode::ReplacementNotSteady);
    assert!(err.message.contains("600 s"), "{}", err.message);
    assert_eq!(
        status_of(&end, LifecycleEvent::Install),
        EventStatus::Failed
    );
    assert_eq!(
        status_of(&end, LifecycleEvent::AllowTraffic),
        EventStatus::Skipped
    );
    // Production was only ever set back to 0 (the rollback), never moved.
    assert!(w.weights.iter().all(|w| *w == 0.0), "{:?}", w.weights);
    assert!(w.ecs.test_weights.iter().all(|w| *w == 0));
    assert_restored(&w, &end);
    // The install timeout, then the rollback's confirming reading after the settle time.
    assert_eq!(
        w.now - T0,
        600_000 + crate::engine::ECS_SETTLE_SECONDS * 1000
    );
}

#[test]
fn a_failed_after_allow_test_traffic_hook_rolls_back_before_production_moves() {
    let dep = deployment(
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        target(true, None),
        DeploymentOptions::default(),
    );
    let mut w = world();
    w.hooks.push((
        LifecycleEvent::AfterAllowTestTraffic,
        HookScript::Answers(vec![HookResponse::Failed("smoke test failed".into())]),
    ));
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert_eq!(end.error().unwrap().code, ErrorCode::HookExecutionFailure);
    assert_eq!(w.ecs.test_weights, vec![100, 0]);
    assert!(w.weights.iter().all(|w| *w == 0.0), "{:?}", w.weights);
    assert_restored(&w, &end);
}

#[test]
fn an_alarm_during_the_shift_puts_both_listeners_back_and_removes_the_replacement() {
    let options = DeploymentOptions {
        alarms: vec!["web-5xx".into()],
        ..Default::default()
    };
    let dep = deployment(
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        target(true, None),
        options,
    );
    let mut w = world();
    // Fires at 30 s install + 4 minutes: during the second bake.
    w.alarm_fires_at
        .push(("web-5xx".into(), Some(T0 + 30_000 + 240_000)));
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert_eq!(end.error().unwrap().code, ErrorCode::AlarmActive);
    assert_eq!(w.weights, vec![0.1, 0.2, 0.0]);
    assert_restored(&w, &end);
    assert!(w
        .notifications
        .contains(&NotificationKind::DeploymentRollback));
}

#[test]
fn ready_wait_holds_production_until_continue() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(true, Some(60)),
        DeploymentOptions::default(),
    );
    let mut w = world();
    w.ecs.proceed_at = Some(T0 + 20 * 60_000);
    let mut dep = dep;
    // Run until Ready: production has not moved, test traffic is on green.
    dep = w.run_until(dep, |d| matches!(d.phase, Phase::Ready { .. }));
    assert_eq!(dep.status(), DeploymentStatus::Ready);
    assert!(w.weights.is_empty());
    assert_eq!(w.ecs.test, 100);
    assert_eq!(
        status_of(&dep, LifecycleEvent::AfterAllowTestTraffic),
        EventStatus::Succeeded
    );
    assert_eq!(
        status_of(&dep, LifecycleEvent::BeforeAllowTraffic),
        EventStatus::Pending
    );
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    let allow = end.event(LifecycleEvent::AllowTraffic).unwrap();
    assert!(allow.started_at.unwrap() >= T0 + 20 * 60_000);
}

#[test]
fn ready_wait_without_continue_fails_and_rolls_back() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(true, Some(30)),
        DeploymentOptions::default(),
    );
    let mut w = world();
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    let err = end.error().unwrap();
    assert_eq!(err.code, ErrorCode::Timeout);
    assert!(err.message.contains("cutover continue"), "{}", err.message);
    assert!(w.weights.iter().all(|w| *w == 0.0));
    assert_restored(&w, &end);
}

#[test]
fn continue_ends_the_termination_wait_early() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(false, None),
        DeploymentOptions::default(),
    );
    let mut w = world();
    w.ecs.proceed_at = Some(T0 + 60_000);
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    assert!(w.now - T0 < 5 * 60_000, "waited {} ms", w.now - T0);
    assert_eq!(w.ecs.deleted, vec![ORIGINAL.to_string()]);
}

#[test]
fn a_stop_during_the_termination_wait_restores_the_original_task_set() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(true, None),
        DeploymentOptions::default(),
    );
    let mut w = world();
    w.stop_at = Some((
        T0 + 120_000,
        StopRequest {
            rollback: true,
            reason: Some("bad canary".into()),
        },
    ));
    let end = w.run(dep, 10_000);
    assert_eq!(end.status(), DeploymentStatus::Stopped);
    assert_eq!(w.weights, vec![1.0, 0.0]);
    assert_restored(&w, &end);
}

#[test]
fn a_listener_changed_by_someone_else_is_left_alone() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(false, None),
        DeploymentOptions::default(),
    );
    let mut dep = dep;
    // Drive to the shift.
    let mut w = world();
    dep = w.run_until(dep, |d| matches!(d.phase, Phase::Shifting { .. }));
    assert!(needs(&dep, w.now).listeners);
    let obs = Observation {
        listeners: Some(ListenersView {
            production: ListenerView {
                forwards: vec![("arn:other-tg".into(), 1)],
            },
            test: None,
        }),
        ..Default::default()
    };
    let d = decide(&dep, &obs, w.now);
    assert_eq!(d.next.status(), DeploymentStatus::Failed);
    let err = d.next.error().unwrap();
    assert_eq!(err.code, ErrorCode::ListenerModified);
    assert!(err.message.contains("other-tg"), "{}", err.message);
    assert!(!d.actions.iter().any(|a| matches!(a, Action::Route { .. })));
}

#[test]
fn hooks_get_the_service_and_the_replacement() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(true, None),
        DeploymentOptions::default(),
    );
    let mut dep = dep;
    let mut w = world();
    dep = w.run_until(dep, |d| {
        d.hook()
            .is_some_and(|h| h.event == LifecycleEvent::AfterInstall)
    });
    let call = hook_call(&dep, "fresh-id").expect("hook to invoke");
    assert_eq!(call.function, "AfterInstallHook");
    assert_eq!(call.payload["Cluster"], "shop");
    assert_eq!(call.payload["ReplacementTargetGroupArn"], GREEN);
    assert!(call.payload["ReplacementTaskSetArn"]
        .as_str()
        .is_some_and(|a| a.ends_with("-replacement")));
    assert_eq!(call.payload["LifecycleEventHookExecutionId"], "fresh-id");
}

#[derive(Debug, Clone)]
enum Trouble {
    None,
    Alarm(u64),
    HookFails(usize),
    NeverSteady,
    Stop(u64, bool),
}

fn arb_trouble() -> impl Strategy<Value = Trouble> {
    prop_oneof![
        Just(Trouble::None),
        (0u64..100_000_000).prop_map(Trouble::Alarm),
        (0usize..5).prop_map(Trouble::HookFails),
        Just(Trouble::NeverSteady),
        (0u64..100_000_000, any::<bool>()).prop_map(|(t, r)| Trouble::Stop(t, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_ecs_failure_restores_blue_and_every_success_removes_it(
        config in arb_config(),
        trouble in arb_trouble(),
        test_listener in any::<bool>(),
        ready in proptest::option::of(1u32..120),
    ) {
        let options = DeploymentOptions { alarms: vec!["A".into()], ..Default::default() };
        let dep = Deployment::new(
            "d-PROPECS01".into(),
            Target::Ecs(Box::new(target(test_listener, ready))),
            config.clone(),
            all_hooks(),
            options,
            T0,
        );
        let mut w = world();
        // Continue right at Ready whenever the group waits there.
        w.ecs.proceed_at = ready.map(|_| T0);
        match &trouble {
            Trouble::None => {}
            Trouble::Alarm(t) => w.alarm_fires_at.push(("A".into(), Some(T0 + t))),
            Trouble::HookFails(i) => w.hooks.push((
                LifecycleEvent::ECS_HOOKS[*i],
                HookScript::Answers(vec![HookResponse::Failed("no".into())]),
            )),
            Trouble::NeverSteady => w.ecs.steady_after = None,
            Trouble::Stop(t, rb) => {
                w.stop_at = Some((T0 + t, StopRequest { rollback: *rb, reason: None }))
            }
        }
        let end = w.run(dep, 100_000);
        prop_assert!(end.is_done(), "not finished: {:?}", end.phase);
        let w_prod = &w.weights;
        let rising = if end.rolled_back() { &w_prod[..w_prod.len().saturating_sub(1)] } else { &w_prod[..] };
        prop_assert!(rising.windows(2).all(|p| p[0] < p[1]), "weights {:?}", w_prod);
        let sets: Vec<_> = w.ecs.task_sets.iter().map(|(t, _)| t.clone()).collect();
        // Untouched (failed at BeforeInstall) or put back as it was.
        let untouched = sets.is_empty() && w.ecs.deleted.is_empty();
        let restored = w.ecs.production == 0
            && w.ecs.test == 0
            && (untouched || (sets.len() == 1 && sets[0].arn == ORIGINAL && sets[0].status == "PRIMARY"));
        match end.status() {
            DeploymentStatus::Succeeded => {
                prop_assert_eq!(w.ecs.production, 100);
                prop_assert_eq!(sets.len(), 1);
                prop_assert_eq!(sets[0].external_id.as_deref(), Some("d-PROPECS01"));
                prop_assert_eq!(sets[0].status.as_str(), "PRIMARY");
            }
            DeploymentStatus::Failed => prop_assert!(restored, "not restored: {:?} {:?}", w.ecs, end.error()),
            DeploymentStatus::Stopped => {
                if let Trouble::Stop(_, true) = trouble {
                    prop_assert!(restored, "not restored after stop: {:?}", w.ecs);
                }
            }
            other => prop_assert!(false, "unexpected end status {:?}", other),
        }
        if matches!(trouble, Trouble::None) {
            prop_assert_eq!(end.status(), DeploymentStatus::Succeeded);
        }
    }
}

#[test]
fn a_draining_original_counts_as_deleted() {
    let dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(false, None),
        DeploymentOptions::default(),
    );
    let mut dep = dep;
    let mut w = world();
    w.ecs.proceed_at = Some(T0);
    dep = w.run_until(dep, |d| matches!(d.phase, Phase::Cleaning { .. }));
    // ECS answers the deletion with the task set DRAINING, still listed.
    let mut sets = w.ecs.views(&dep, w.now);
    sets.push(crate::model::TaskSetView {
        arn: ORIGINAL.into(),
        external_id: None,
        status: "DRAINING".into(),
        stability: "STABILIZING".into(),
        task_definition: "web:1".into(),
        desired: 0,
        running: 2,
    });
    let obs = Observation {
        task_sets: Some(sets),
        ..Default::default()
    };
    let d = decide(&dep, &obs, w.now);
    assert_eq!(d.next.status(), DeploymentStatus::Succeeded);
}

#[test]
fn the_original_is_not_deleted_until_the_replacement_shows_primary() {
    let mut dep = deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        target(false, None),
        DeploymentOptions::default(),
    );
    let mut w = world();
    dep = w.run_until(dep, |d| matches!(d.phase, Phase::Terminating { .. }));
    assert!(needs(&dep, w.now).task_sets);
    // The primary switch was lost: the replacement is still ACTIVE when the wait is over.
    let mut sets = w.ecs.views(&dep, w.now);
    for ts in &mut sets {
        ts.status = if ts.external_id.is_some() {
            "ACTIVE"
        } else {
            "PRIMARY"
        }
        .into();
    }
    let obs = Observation {
        task_sets: Some(sets),
        proceed: true,
        ..Default::default()
    };
    let d = decide(&dep, &obs, w.now + 10 * 60_000);
    assert_eq!(d.actions, vec![Action::SetPrimary { replacement: true }]);
    assert!(matches!(d.next.phase, Phase::Terminating { .. }));
}
