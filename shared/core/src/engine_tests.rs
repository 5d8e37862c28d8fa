//! Engine tests: scenarios driven through the simulated world, and properties over random
//! schedules and failures.

use crate::appspec::HookSpec;
use crate::config::{DeploymentConfig, StepSpec, TrafficRouting};
use crate::engine::{decide, Action, NotificationKind};
use crate::model::{
    AlarmState, AlarmView, AliasView, Deployment, DeploymentOptions, DeploymentStatus, ErrorCode,
    EventStatus, HookResponse, LambdaTarget, Observation, Phase, StopRequest,
};
use crate::sim::{HookScript, World};
use crate::LifecycleEvent;
use proptest::prelude::*;

pub(crate) const T0: u64 = 1_700_000_000_000;

fn target() -> LambdaTarget {
    LambdaTarget {
        function: "orders".into(),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    }
}

pub(crate) fn deployment(
    config: &str,
    hooks: &[LifecycleEvent],
    options: DeploymentOptions,
) -> Deployment {
    let config = DeploymentConfig::predefined(config).expect("known config");
    let hooks = hooks
        .iter()
        .map(|e| HookSpec {
            event: *e,
            function: format!("{e}Hook"),
        })
        .collect();
    Deployment::new_lambda("d-TEST00001".into(), target(), config, hooks, options, T0)
}

fn with_alarm(name: &str) -> DeploymentOptions {
    DeploymentOptions {
        alarms: vec![name.to_string()],
        ..DeploymentOptions::default()
    }
}

pub(crate) fn status_of(dep: &Deployment, e: LifecycleEvent) -> EventStatus {
    dep.event(e).expect("event exists").status
}

#[test]
fn every_lambda_config_reaches_the_target_on_its_schedule() {
    for config in DeploymentConfig::predefined_all() {
        if config.platform != crate::config::ComputePlatform::Lambda {
            continue;
        }
        let dep = deployment(&config.name, &[], DeploymentOptions::default());
        let mut world = World::new("1", T0);
        let end = world.run(dep, 1000);
        assert_eq!(end.status(), DeploymentStatus::Succeeded, "{}", config.name);
        assert_eq!(
            world.alias,
            AliasView {
                version: "2".into(),
                additional: None
            }
        );
        let expected: Vec<f64> = config
            .schedule()
            .iter()
            .map(|s| f64::from(s.weight) / 100.0)
            .collect();
        assert_eq!(world.weights, expected, "{}", config.name);
        assert_eq!(
            world.now - T0,
            config.total_seconds() * 1000,
            "{}",
            config.name
        );
        assert_eq!(end.traffic, 100);
        assert_eq!(
            world.notifications,
            vec![
                NotificationKind::DeploymentStart,
                NotificationKind::DeploymentSuccess
            ]
        );
        assert_eq!(
            status_of(&end, LifecycleEvent::BeforeAllowTraffic),
            EventStatus::Skipped
        );
        assert_eq!(
            status_of(&end, LifecycleEvent::AllowTraffic),
            EventStatus::Succeeded
        );
        assert_eq!(status_of(&end, LifecycleEvent::End), EventStatus::Succeeded);
    }
}

#[test]
fn an_alarm_stops_and_rolls_back_mid_shift() {
    let dep = deployment(
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        &[],
        with_alarm("Errors"),
    );
    let mut world = World::new("1", T0);
    world
        .alarm_fires_at
        .push(("Errors".into(), Some(T0 + 150_000)));
    let end = world.run(dep, 1000);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert!(end.rolled_back());
    assert_eq!(end.error().unwrap().code, ErrorCode::AlarmActive);
    assert_eq!(world.weights, vec![0.1, 0.2, 0.3, 0.0]);
    assert_eq!(
        world.alias,
        AliasView {
            version: "1".into(),
            additional: None
        }
    );
    // The alarm is noticed at the moment it fires, not at the next shift.
    assert_eq!(end.ended_at, Some(T0 + 150_000));
}

#[test]
fn without_auto_rollback_an_alarm_leaves_traffic_where_it_is() {
    let options = DeploymentOptions {
        auto_rollback: false,
        rollback_on_alarm: false,
        ..with_alarm("Errors")
    };
    let dep = deployment(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[],
        options,
    );
    let mut world = World::new("1", T0);
    world
        .alarm_fires_at
        .push(("Errors".into(), Some(T0 + 60_000)));
    let end = world.run(dep, 1000);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    assert!(!end.rolled_back());
    assert_eq!(world.weight_on("2"), 0.1);
}

#[test]
fn alarms_firing_before_start_count_only_when_ignoring_is_off() {
    let firing = |updated_at| Observation {
        alarms: Some(vec![AlarmView {
            name: "Errors".into(),
            state: AlarmState::Alarm,
            updated_at: Some(updated_at),
        }]),
        ..Default::default()
    };
    let mut options = with_alarm("Errors");
    options.ignore_firing_alarms = true;
    let dep = deployment(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[],
        options,
    );
    let started = decide(&dep, &Observation::default(), T0).next;
    let alias = AliasView {
        version: "1".into(),
        additional: Some(("2".into(), 0.1)),
    };
    let obs = Observation {
        alias: Some(alias),
        ..firing(T0 - 60_000)
    };
    let d = decide(&started, &obs, T0 + 10);
    assert_eq!(
        d.next.status(),
        DeploymentStatus::InProgress,
        "old ALARM is ignored"
    );
    let d2 = decide(&d.next, &firing(T0 + 5_000), T0 + 10_000);
    assert_eq!(
        d2.next.status(),
        DeploymentStatus::Failed,
        "a new transition counts"
    );

    let mut strict = started.clone();
    strict.options.ignore_firing_alarms = false;
    let d3 = decide(&strict, &firing(T0 - 60_000), T0 + 10);
    assert_eq!(d3.next.status(), DeploymentStatus::Failed);
}

#[test]
fn stop_with_rollback_restores_the_current_version() {
    let dep = deployment(
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        &[],
        Default::default(),
    );
    let mut world = World::new("1", T0);
    world.stop_at = Some((
        T0 + 300_000,
        StopRequest {
            rollback: true,
            reason: None,
        },
    ));
    let end = world.run(dep, 1000);
    assert_eq!(end.status(), DeploymentStatus::Stopped);
    assert!(end.rolled_back());
    assert_eq!(end.error().unwrap().code, ErrorCode::ManualStop);
    assert_eq!(
        world.alias,
        AliasView {
            version: "1".into(),
            additional: None
        }
    );
    assert!(world
        .notifications
        .contains(&NotificationKind::DeploymentStop));
}

#[test]
fn stop_without_rollback_keeps_the_split() {
    let dep = deployment(
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        &[],
        Default::default(),
    );
    let mut world = World::new("1", T0);
    world.stop_at = Some((
        T0 + 300_000,
        StopRequest {
            rollback: false,
            reason: Some("ops".into()),
        },
    ));
    let end = world.run(dep, 1000);
    assert_eq!(end.status(), DeploymentStatus::Stopped);
    assert!(!end.rolled_back());
    assert_eq!(world.weight_on("2"), 0.3);
    assert_eq!(end.traffic, 30);
}

#[test]
fn an_alias_changed_by_someone_else_is_left_alone() {
    let dep = deployment(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[],
        Default::default(),
    );
    let started = decide(&dep, &Observation::default(), T0).next;
    let foreign = AliasView {
        version: "7".into(),
        additional: None,
    };
    let d = decide(
        &started,
        &Observation {
            alias: Some(foreign),
            ..Default::default()
        },
        T0 + 1,
    );
    assert_eq!(d.next.status(), DeploymentStatus::Failed);
    assert_eq!(d.next.error().unwrap().code, ErrorCode::AliasModified);
    assert!(!d.actions.iter().any(|a| matches!(a, Action::Route { .. })));
    assert!(d.next.is_done());
    assert!(!d.next.rolled_back());
}

#[test]
fn a_weight_is_set_again_until_the_alias_shows_it() {
    let dep = deployment(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[],
        Default::default(),
    );
    let mut d = decide(&dep, &Observation::default(), T0);
    assert_eq!(
        d.actions
            .iter()
            .filter(|a| matches!(a, Action::Route { weight: 10 }))
            .count(),
        1
    );
    let stale = Observation {
        alias: Some(AliasView {
            version: "1".into(),
            additional: None,
        }),
        ..Default::default()
    };
    for _ in 1..crate::engine::MAX_ROUTE_ATTEMPTS {
        d = decide(&d.next, &stale, T0 + 1);
        assert_eq!(d.actions, vec![Action::Route { weight: 10 }]);
    }
    let last = decide(&d.next, &stale, T0 + 2);
    assert_eq!(last.next.status(), DeploymentStatus::Failed);
    assert_eq!(
        last.next.error().unwrap().code,
        ErrorCode::TrafficNotConfirmed
    );
    assert!(last.actions.contains(&Action::Route { weight: 0 }));
}

#[test]
fn a_finished_deployment_ignores_everything() {
    let dep = deployment("CodeDeployDefault.LambdaAllAtOnce", &[], Default::default());
    let mut world = World::new("1", T0);
    let end = world.run(dep, 100);
    let obs = Observation {
        stop: Some(StopRequest {
            rollback: true,
            reason: None,
        }),
        ..Default::default()
    };
    let d = decide(&end, &obs, T0 + 10_000);
    assert_eq!(d.next, end);
    assert!(d.actions.is_empty());
    assert_eq!(d.wake_after, None);
}

#[test]
fn time_scale_shortens_waits() {
    let options = DeploymentOptions {
        time_scale: 60.0,
        ..Default::default()
    };
    let dep = deployment(
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        &[],
        options,
    );
    let mut world = World::new("1", T0);
    let end = world.run(dep, 1000);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    assert_eq!(world.now - T0, 9_000);
}

pub(crate) fn arb_config() -> impl Strategy<Value = DeploymentConfig> {
    let canary = (1u8..=99, 1u32..=60).prop_map(|(p, m)| TrafficRouting::TimeBasedCanary {
        percentage: p,
        interval_minutes: m,
    });
    let linear = (1u8..=99, 1u32..=10).prop_map(|(p, m)| TrafficRouting::TimeBasedLinear {
        percentage: p,
        interval_minutes: m,
    });
    let steps = proptest::collection::btree_set(1u8..=100, 1..8).prop_flat_map(|set| {
        let n = set.len();
        (Just(set), proptest::collection::vec(0u64..600, n))
    });
    let steps = steps.prop_map(|(set, bakes)| {
        TrafficRouting::Steps(
            set.into_iter()
                .zip(bakes)
                .map(|(weight, bake_seconds)| StepSpec {
                    weight,
                    bake_seconds,
                })
                .collect(),
        )
    });
    let routing = prop_oneof![Just(TrafficRouting::AllAtOnce), canary, linear, steps];
    (routing, 0u64..900).prop_map(|(routing, bake)| DeploymentConfig {
        name: "Custom".into(),
        platform: crate::config::ComputePlatform::Lambda,
        routing,
        bake_after_seconds: bake,
    })
}

#[derive(Debug, Clone)]
enum Trouble {
    None,
    Alarm(u64),
    BeforeHookFails,
    AfterHookFails,
    HookSilent,
    Stop(u64, bool),
}

fn arb_trouble() -> impl Strategy<Value = Trouble> {
    prop_oneof![
        Just(Trouble::None),
        (0u64..200_000_000).prop_map(Trouble::Alarm),
        Just(Trouble::BeforeHookFails),
        Just(Trouble::AfterHookFails),
        Just(Trouble::HookSilent),
        (0u64..200_000_000, any::<bool>()).prop_map(|(t, r)| Trouble::Stop(t, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn weights_rise_until_the_end_and_failures_restore_the_current_version(
        config in arb_config(),
        trouble in arb_trouble(),
    ) {
        let options = DeploymentOptions { alarms: vec!["A".into()], ..Default::default() };
        let hooks = vec![
            HookSpec { event: LifecycleEvent::BeforeAllowTraffic, function: "pre".into() },
            HookSpec { event: LifecycleEvent::AfterAllowTraffic, function: "post".into() },
        ];
        let dep = Deployment::new_lambda("d-PROP".into(), target(), config.clone(), hooks, options, T0);
        let mut world = World::new("1", T0);
        match &trouble {
            Trouble::None => {}
            Trouble::Alarm(t) => world.alarm_fires_at.push(("A".into(), Some(T0 + t))),
            Trouble::BeforeHookFails => world.hooks.push((
                LifecycleEvent::BeforeAllowTraffic,
                HookScript::Answers(vec![HookResponse::Failed("no".into())]),
            )),
            Trouble::AfterHookFails => world.hooks.push((
                LifecycleEvent::AfterAllowTraffic,
                HookScript::Answers(vec![HookResponse::Failed("no".into())]),
            )),
            Trouble::HookSilent => world.hooks.push((LifecycleEvent::AfterAllowTraffic, HookScript::Silent)),
            Trouble::Stop(t, rb) => {
                world.stop_at = Some((T0 + t, StopRequest { rollback: *rb, reason: None }))
            }
        }
        let end = world.run(dep, 100_000);
        prop_assert!(end.is_done(), "deployment did not finish: {:?}", end.phase);

        // Weights never go down except in the rollback, which is the last move.
        let w = &world.weights;
        let rolled = end.rolled_back();
        let rising = if rolled { &w[..w.len() - 1] } else { &w[..] };
        prop_assert!(rising.windows(2).all(|p| p[0] < p[1]), "weights {:?}", w);
        if rolled {
            prop_assert_eq!(*w.last().unwrap(), 0.0);
        }

        let schedule = config.schedule();
        prop_assert_eq!(schedule.last().unwrap().weight, 100);
        let total: u64 = schedule.iter().map(|s| s.wait_seconds).sum();
        prop_assert_eq!(total, config.total_seconds());

        match end.status() {
            DeploymentStatus::Succeeded => {
                prop_assert_eq!(&world.alias, &AliasView { version: "2".into(), additional: None });
                prop_assert_eq!(world.now - T0, config.total_seconds() * 1000);
            }
            DeploymentStatus::Failed => {
                // auto-rollback is on: every failure leaves the alias on the current version.
                prop_assert_eq!(&world.alias, &AliasView { version: "1".into(), additional: None });
            }
            DeploymentStatus::Stopped => {
                if let Trouble::Stop(_, true) = trouble {
                    prop_assert_eq!(&world.alias, &AliasView { version: "1".into(), additional: None });
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
fn every_spelling_of_a_function_shares_one_lock() {
    let mut t = target();
    let by_name = t.lock_key();
    t.function = "arn:aws:lambda:us-east-1:123456789012:function:orders".into();
    assert_eq!(t.lock_key(), by_name);
    t.function = "123456789012:function:orders".into();
    assert_eq!(t.lock_key(), by_name);
    t.function = "payments".into();
    assert_ne!(t.lock_key(), by_name);
}

#[test]
fn a_rollback_is_retried_until_the_alias_shows_it() {
    let dep = deployment(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[],
        Default::default(),
    );
    let started = decide(&dep, &Observation::default(), T0).next;
    let split = Observation {
        alias: Some(AliasView {
            version: "1".into(),
            additional: Some(("2".into(), 0.1)),
        }),
        ..Default::default()
    };
    let baking = decide(&started, &split, T0 + 1).next;
    let stop = Observation {
        stop: Some(StopRequest {
            rollback: true,
            reason: None,
        }),
        ..Default::default()
    };
    let mut d = decide(&baking, &stop, T0 + 2);
    let mut waits = Vec::new();
    for i in 0..20 {
        assert!(
            matches!(
                d.next.phase,
                Phase::RollingBack {
                    attempts,
                    landing: None,
                    since,
                    ..
                } if attempts == i + 1 && since == T0 + 2
            ),
            "still rolling back: {:?}",
            d.next.phase
        );
        d = decide(&d.next, &split, T0 + 3 + u64::from(i));
        assert_eq!(d.actions, vec![Action::Route { weight: 0 }]);
        waits.push(d.wake_after.unwrap());
    }
    assert!(
        waits.windows(2).all(|w| w[0] <= w[1]),
        "backoff grows: {waits:?}"
    );
    assert_eq!(*waits.last().unwrap(), 30_000);
    let restored = Observation {
        alias: Some(AliasView {
            version: "1".into(),
            additional: None,
        }),
        ..Default::default()
    };
    let end = decide(&d.next, &restored, T0 + 100).next;
    assert!(end.rolled_back());
    assert!(end.is_done());
}
