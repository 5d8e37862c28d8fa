//! The engine under people, races and crashes: someone else's change stops the deployment
//! and nothing more is touched, updates are fenced by the revision the decision saw, hooks
//! are claimed before they run, every deployment can be ended, time never goes back.

use crate::engine::{abandon, decide, Action};
use crate::engine_ecs_tests as ecs;
use crate::engine_tests::{deployment, T0};
use crate::model::{
    AliasView, DeploymentOptions, DeploymentStatus, ErrorCode, HookAnswer, HookResponse,
    Observation, Phase, StopRequest,
};
use crate::sim::{HookScript, World};
use crate::LifecycleEvent;

const CANARY: &str = "CodeDeployDefault.LambdaCanary10Percent5Minutes";
const LINEAR: &str = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute";

/// An operator's `stop --rollback`.
fn stop_with_rollback() -> Observation {
    Observation {
        stop: Some(StopRequest {
            rollback: true,
            reason: None,
        }),
        ..Default::default()
    }
}

fn on(version: &str) -> AliasView {
    AliasView {
        version: version.into(),
        additional: None,
    }
}

#[test]
fn a_manual_revert_during_the_bake_stops_the_deployment_and_is_left_alone() {
    let dep = deployment(CANARY, &[], DeploymentOptions::default());
    let mut w = World::new("1", T0);
    // 10 % is confirmed right away; the bake lasts 5 minutes. A person puts the alias back
    // on version 1 one minute in.
    w.manual.push((T0 + 60_000, on("1")));
    let end = w.run(dep, 100);
    assert_eq!(end.status(), DeploymentStatus::Failed);
    let err = end.error().expect("an error");
    assert_eq!(err.code, ErrorCode::AliasModified);
    assert!(
        err.message.contains("found version 1 100%"),
        "{}",
        err.message
    );
    assert_eq!(w.alias, on("1"), "the person's change stands");
    assert_eq!(w.weights, vec![0.1], "nothing was set after the change");
    assert!(!end.rolled_back());
}

#[test]
fn a_manual_change_is_found_in_every_phase_of_a_lambda_deployment() {
    let hooks = [
        LifecycleEvent::BeforeAllowTraffic,
        LifecycleEvent::AfterAllowTraffic,
    ];
    // Clean run first: when each decision happened.
    let mut clean = World::new("1", T0);
    clean.hooks = vec![
        (
            LifecycleEvent::BeforeAllowTraffic,
            HookScript::Answers(vec![HookResponse::InProgress]),
        ),
        (
            LifecycleEvent::AfterAllowTraffic,
            HookScript::Answers(vec![HookResponse::InProgress]),
        ),
    ];
    let end = clean.run(
        deployment(LINEAR, &hooks, DeploymentOptions::default()),
        1000,
    );
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    let total = clean.now - T0;
    // A person moves the alias to version 3 (outside the deployment) or back to 1 at
    // several moments: each time the deployment stops with ALIAS_MODIFIED and the alias
    // keeps what the person set.
    for at in (1..20).map(|i| T0 + total * i / 20) {
        for manual in [on("1"), on("3")] {
            let mut w = World::new("1", T0);
            w.hooks = clean.hooks.clone();
            w.manual.push((at, manual.clone()));
            // As the start records it: the revision the alias had when it was checked.
            let mut dep = deployment(LINEAR, &hooks, DeploymentOptions::default());
            dep.alias_revision = Some(w.revision_id());
            let end = w.run(dep, 1000);
            let code = end.error().map(|e| e.code);
            assert_ne!(
                end.status(),
                DeploymentStatus::Succeeded,
                "a change to {manual:?} at {} ms was not noticed",
                at - T0
            );
            assert_eq!(code, Some(ErrorCode::AliasModified), "at {} ms", at - T0);
            assert_eq!(
                w.alias,
                manual,
                "left as the person set it (at {} ms)",
                at - T0
            );
            assert!(end.is_done());
        }
    }
}

#[test]
fn a_stale_update_is_refused_by_the_revision_and_the_rollback_wins() {
    // Tick A decided 100 % and saved; tick B (an alarm) decided the rollback on the same
    // alias revision. Whichever update lands first, the other is refused, and the alias
    // ends on the current version.
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[],
        DeploymentOptions::default(),
    );
    let w = World::new("1", T0);
    let mut dep = dep;
    dep.alias_revision = Some(w.revision_id());
    let mut w = w;
    let started = decide(&dep, &Observation::default(), T0).next;
    let a = decide(
        &started,
        &Observation {
            alias: Some(on("1")),
            alias_revision: Some(w.revision_id()),
            ..Default::default()
        },
        T0,
    );
    assert_eq!(a.actions, vec![Action::Route { weight: 100 }]);
    let b = decide(&a.next, &stop_with_rollback(), T0 + 1);
    assert!(b.actions.contains(&Action::Route { weight: 0 }));
    assert_eq!(a.next.alias_revision, b.next.alias_revision);
    // A's update lands first (it carries the revision it saw), B's is then stale.
    let mut next = b.next.clone();
    let mut w2 = w.clone();
    let fenced = |w: &mut World, dep: &crate::model::Deployment, weight: u8| {
        if dep.alias_revision.as_deref() == Some(w.revision_id().as_str()) {
            w.alias = if weight == 100 { on("2") } else { on("1") };
            w.revision += 1;
            true
        } else {
            false
        }
    };
    assert!(fenced(&mut w, &a.next, 100));
    assert!(!fenced(&mut w, &b.next, 0), "B's update is refused");
    // B's next decision reads 100 % on 2 at a new revision: it rolls back again from there.
    for _ in 0..3 {
        let d = decide(
            &next,
            &Observation {
                alias: Some(w.alias.clone()),
                alias_revision: Some(w.revision_id()),
                ..Default::default()
            },
            T0 + 2,
        );
        for action in &d.actions {
            if let Action::Route { weight } = action {
                fenced(&mut w, &d.next, *weight);
            }
        }
        next = d.next;
        if next.is_done() {
            break;
        }
    }
    assert!(next.is_done());
    assert!(next.rolled_back(), "{:?}", next.error());
    assert_eq!(w.alias, on("1"));
    // The other order: B first, then A's is stale.
    assert!(fenced(&mut w2, &b.next, 0));
    assert!(!fenced(&mut w2, &a.next, 100));
    assert_eq!(w2.alias, on("1"));
}

#[test]
fn a_claimed_hook_is_invoked_once_however_many_ticks_run_meanwhile() {
    let dep = deployment(
        CANARY,
        &[LifecycleEvent::BeforeAllowTraffic],
        Default::default(),
    );
    let entered = decide(&dep, &Observation::default(), T0);
    assert!(
        !entered
            .actions
            .iter()
            .any(|a| matches!(a, Action::InvokeHook { .. })),
        "entering the event claims nothing: the next decision (a driver's) does"
    );
    let mut claimed = decide(&entered.next, &Observation::default(), T0);
    assert!(claimed
        .actions
        .contains(&Action::InvokeHook { invocation: 1 }));
    crate::engine::issue_execution_id(&mut claimed.next, "id-1");
    let hook = claimed.next.hook().cloned().expect("the running hook");
    let until = hook.in_flight_until.expect("claimed before it runs");
    // Other ticks (an alarm event, the driver) decide while the invocation is in flight:
    // none invokes it again.
    for t in [T0 + 1, T0 + 60_000, until - 1] {
        let d = decide(&claimed.next, &Observation::default(), t);
        assert!(
            !d.actions
                .iter()
                .any(|a| matches!(a, Action::InvokeHook { .. })),
            "invoked again at {t}"
        );
    }
    // A stale answer (of another invocation) is dropped; the claimed one's is taken.
    let stale = decide(
        &claimed.next,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-1".into(),
                invocation: 0,
                response: HookResponse::Succeeded,
            }),
            ..Default::default()
        },
        T0 + 2,
    );
    assert!(matches!(stale.next.phase, Phase::Hook { .. }));
    let answered = decide(
        &claimed.next,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-1".into(),
                invocation: 1,
                response: HookResponse::Succeeded,
            }),
            ..Default::default()
        },
        T0 + 2,
    );
    assert!(matches!(answered.next.phase, Phase::Shifting { .. }));
    // The process that claimed it died: once the claim lapses, it is invoked again.
    let lapsed = decide(&claimed.next, &Observation::default(), until);
    let again = decide(&lapsed.next, &Observation::default(), until);
    let all: Vec<_> = lapsed.actions.iter().chain(&again.actions).collect();
    assert!(
        all.contains(&&Action::InvokeHook { invocation: 2 }),
        "{all:?}"
    );
}

#[test]
fn an_answer_for_another_event_or_a_lost_answer_keeps_the_claim() {
    let dep = deployment(
        CANARY,
        &[LifecycleEvent::BeforeAllowTraffic],
        Default::default(),
    );
    let entered = decide(&dep, &Observation::default(), T0).next;
    let mut claimed = decide(&entered, &Observation::default(), T0).next;
    assert!(crate::engine::issue_execution_id(
        &mut claimed,
        "id-of-invocation-1"
    ));
    // The answer of an earlier event's invocation numbered 1 too: not this event's.
    let other = decide(
        &claimed,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-of-another-event".into(),
                invocation: 1,
                response: HookResponse::Succeeded,
            }),
            ..Default::default()
        },
        T0 + 1,
    );
    assert_eq!(other.next.hook(), claimed.hook(), "dropped");
    // A call whose outcome is unknown (timed out): the claim stands, nothing is invoked
    // until it lapses, and the hook's report is still taken.
    let lost = decide(
        &claimed,
        &Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-of-invocation-1".into(),
                invocation: 1,
                response: HookResponse::Unknown("timed out".into()),
            }),
            ..Default::default()
        },
        T0 + 1,
    );
    let h = lost.next.hook().cloned().expect("still running");
    assert!(h.in_flight_until.is_some());
    let again = decide(&lost.next, &Observation::default(), T0 + 60_000);
    assert!(!again
        .actions
        .iter()
        .any(|a| matches!(a, Action::InvokeHook { .. })));
    let reported = decide(
        &lost.next,
        &Observation {
            hook_report: Some(crate::model::HookReport {
                execution_id: "id-of-invocation-1".into(),
                succeeded: true,
            }),
            ..Default::default()
        },
        T0 + 2,
    );
    assert!(matches!(reported.next.phase, Phase::Shifting { .. }));
}

#[test]
fn a_persons_change_during_a_rollback_is_left_alone() {
    let dep = deployment(LINEAR, &[], DeploymentOptions::default());
    let mut w = World::new("1", T0);
    let mut dep = dep;
    dep.alias_revision = Some(w.revision_id());
    let mid = w.run_until(dep, |d| d.traffic == 30);
    let rolling = decide(&mid, &stop_with_rollback(), w.now).next;
    // Someone puts all traffic on version 2 while the rollback runs.
    let d = decide(
        &rolling,
        &Observation {
            alias: Some(on("2")),
            alias_revision: Some("r-person".into()),
            ..Default::default()
        },
        w.now + 1,
    );
    assert!(d.next.is_done());
    assert!(!d.actions.iter().any(|a| matches!(a, Action::Route { .. })));
    let err = d.next.error().expect("error");
    assert_eq!(err.code, ErrorCode::AliasModified);
    assert!(
        err.message.contains("during the rollback"),
        "{}",
        err.message
    );
    // The split Cutover itself had set is rolled back from, as before.
    let d = decide(
        &rolling,
        &Observation {
            alias: Some(AliasView {
                version: "1".into(),
                additional: Some(("2".into(), 0.3)),
            }),
            alias_revision: Some("r-own".into()),
            ..Default::default()
        },
        w.now + 1,
    );
    assert!(d.actions.contains(&Action::Route { weight: 0 }));
}

#[test]
fn hooks_are_not_invoked_by_a_decision_that_stops() {
    let dep = deployment(
        CANARY,
        &[LifecycleEvent::BeforeAllowTraffic],
        Default::default(),
    );
    let stop = Observation {
        stop: Some(StopRequest {
            rollback: true,
            reason: None,
        }),
        ..Default::default()
    };
    let entered = decide(&dep, &Observation::default(), T0).next;
    let started = decide(&entered, &Observation::default(), T0).next;
    let mut lapsed = started.clone();
    if let Some(h) = lapsed.hook_mut() {
        h.in_flight_until = None;
        h.next_invoke_at = Some(T0);
    }
    let d = decide(&lapsed, &stop, T0 + 1);
    assert_eq!(d.next.status(), DeploymentStatus::Stopped);
    assert!(!d
        .actions
        .iter()
        .any(|a| matches!(a, Action::InvokeHook { .. })));
}

#[test]
fn force_ends_any_unfinished_deployment_without_touching_the_target() {
    let dep = deployment(LINEAR, &[], DeploymentOptions::default());
    let mut w = World::new("1", T0);
    let mid = w.run_until(dep, |d| d.traffic == 30);
    let d = abandon(&mid, Some("alias deleted"), w.now).expect("not done");
    assert_eq!(d.next.status(), DeploymentStatus::Stopped);
    assert!(d.next.is_done());
    let err = d.next.error().cloned().expect("error");
    assert_eq!(err.code, ErrorCode::Abandoned);
    assert!(
        err.message.contains("70% on version 1, 30% on version 2"),
        "{}",
        err.message
    );
    assert!(err.message.contains("alias deleted"));
    assert!(
        d.actions.iter().all(|a| matches!(a, Action::Notify(_))),
        "{:?}",
        d.actions
    );
    // A rollback that never shows can be ended the same way.
    let rolling = decide(&mid, &stop_with_rollback(), w.now).next;
    assert!(matches!(rolling.phase, Phase::RollingBack { .. }));
    let ended = abandon(&rolling, None, w.now).expect("not done").next;
    assert!(ended.is_done());
    assert_eq!(ended.error().map(|e| e.code), Some(ErrorCode::Abandoned));
    assert!(abandon(&ended_done(), None, w.now).is_none());
}

fn ended_done() -> crate::model::Deployment {
    let dep = deployment(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[],
        DeploymentOptions::default(),
    );
    World::new("1", T0).run(dep, 100)
}

#[test]
fn a_rollback_that_never_shows_ends_reported_incomplete() {
    let dep = deployment(LINEAR, &[], DeploymentOptions::default());
    let mut w = World::new("1", T0);
    let mid = w.run_until(dep, |d| d.traffic == 20);
    let mut d = decide(&mid, &stop_with_rollback(), w.now).next;
    // The current version was deleted: every update fails, the alias stays split.
    let split = AliasView {
        version: "1".into(),
        additional: Some(("2".into(), 0.2)),
    };
    for i in 0..100 {
        if d.is_done() {
            break;
        }
        d = decide(
            &d,
            &Observation {
                alias: Some(split.clone()),
                alias_revision: Some("r-same".into()),
                ..Default::default()
            },
            w.now + i,
        )
        .next;
    }
    assert!(d.is_done(), "the rollback is not retried for ever");
    assert!(!d.rolled_back());
    let msg = d.error().expect("error").message.clone();
    assert!(msg.contains("rollback not confirmed"), "{msg}");
    assert!(msg.contains("attempts"), "{msg}");
}

#[test]
fn time_never_goes_back_behind_the_last_decision() {
    let dep = deployment(CANARY, &[], DeploymentOptions::default());
    let mut w = World::new("1", T0);
    let baking = w.run_until(dep, |d| matches!(d.phase, Phase::Baking { .. }));
    let Phase::Baking { until, .. } = baking.phase else {
        unreachable!()
    };
    // A machine whose clock is an hour behind ticks: the bake does not restart, and the
    // decision is not dated before the last one.
    let behind = decide(
        &baking,
        &Observation {
            alias: Some(w.alias.clone()),
            alias_revision: Some(w.revision_id()),
            ..Default::default()
        },
        baking.decided_at - 3_600_000,
    );
    assert_eq!(behind.next.phase, baking.phase);
    assert!(behind.next.decided_at >= baking.decided_at);
    assert!(until > baking.decided_at);
}

#[test]
fn ecs_a_manual_change_of_the_production_listener_is_found_in_every_phase() {
    let dep = || {
        ecs::deployment(
            "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
            ecs::target(true, None),
            DeploymentOptions::default(),
        )
    };
    let mut clean = ecs::world();
    let end = clean.run(dep(), 10_000);
    assert_eq!(end.status(), DeploymentStatus::Succeeded);
    let total = clean.now - T0;
    // A person sets production to 5 % or 55 % on the replacement (splits Cutover never sets
    // in this schedule: setting what Cutover set anyway changes nothing) at moments spread over
    // the whole deployment (hooks, install, test traffic, shifts, bakes, the termination
    // wait): every time the deployment stops with LISTENER_MODIFIED, the listener keeps
    // what the person set, and the original task set is never deleted after the change.
    for at in (1..24).map(|i| T0 + total * i / 24) {
        for manual in [5u8, 55] {
            let mut w = ecs::world();
            w.ecs.manual.push((at, manual));
            let end = w.run(dep(), 10_000);
            assert_ne!(
                end.status(),
                DeploymentStatus::Succeeded,
                "a change to {manual}% at {} ms was not noticed",
                at - T0
            );
            assert_eq!(
                end.error().map(|e| e.code),
                Some(ErrorCode::ListenerModified),
                "at {} ms: {:?}",
                at - T0,
                end.error()
            );
            assert_eq!(w.ecs.production, manual, "left as set (at {} ms)", at - T0);
            assert!(
                !w.ecs.deleted.contains(&ecs::ORIGINAL.to_string()),
                "the original was deleted after a change at {} ms",
                at - T0
            );
            assert!(end.is_done());
        }
    }
}

#[test]
fn ecs_a_manual_switch_back_during_the_termination_wait_keeps_the_original() {
    let dep = ecs::deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        ecs::target(true, None),
        DeploymentOptions::default(),
    );
    let mut w = ecs::world();
    let waiting = w.run_until(dep, |d| matches!(d.phase, Phase::Terminating { .. }));
    // A person points production back at the original target group.
    w.ecs.manual.push((w.now + 1_000, 0));
    let end = w.run(waiting, 1000);
    assert_eq!(
        end.error().map(|e| e.code),
        Some(ErrorCode::ListenerModified)
    );
    assert!(
        !w.ecs.deleted.contains(&ecs::ORIGINAL.to_string()),
        "the original task set was kept: {:?}",
        w.ecs.deleted
    );
    assert_eq!(w.ecs.production, 0, "the person's routing stands");
}

#[test]
fn ecs_a_rollback_never_routes_to_a_missing_original_and_deletes_the_replacement_last() {
    let dep = ecs::deployment(
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        ecs::target(true, None),
        DeploymentOptions::default(),
    );
    let mut w = ecs::world();
    let mid = w.run_until(dep, |d| d.traffic == 20);
    // The rollback: the replacement is deleted only after production and test show 0 %.
    let mut rolling = w.clone();
    rolling.stop_at = Some((
        rolling.now,
        StopRequest {
            rollback: true,
            reason: None,
        },
    ));
    let end = rolling.run(mid.clone(), 1000);
    assert!(end.rolled_back(), "{:?}", end.error());
    assert_eq!(rolling.ecs.production, 0);
    assert_eq!(rolling.ecs.test, 0);
    assert!(rolling
        .ecs
        .deleted
        .iter()
        .any(|a| a.ends_with("-replacement")));
    // The original task set vanished: production is not sent to an empty target group.
    let mut lost = w.clone();
    lost.ecs.task_sets.retain(|(ts, _)| ts.arn != ecs::ORIGINAL);
    lost.ecs.deleted.push(ecs::ORIGINAL.into());
    lost.stop_at = Some((
        lost.now,
        StopRequest {
            rollback: true,
            reason: None,
        },
    ));
    let end = lost.run(mid, 1000);
    assert!(!end.rolled_back());
    let msg = end.error().expect("error").message.clone();
    assert!(msg.contains("no longer exists"), "{msg}");
    assert_eq!(lost.ecs.production, 20, "production was left where it was");
    assert!(!lost.ecs.deleted.iter().any(|a| a.ends_with("-replacement")));
}

#[test]
fn ecs_an_early_continue_is_kept_until_the_replacement_is_primary() {
    let dep = ecs::deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        ecs::target(false, None),
        DeploymentOptions::default(),
    );
    let mut w = ecs::world();
    let waiting = w.run_until(dep, |d| matches!(d.phase, Phase::Terminating { .. }));
    let Phase::Terminating { until, .. } = waiting.phase else {
        unreachable!()
    };
    // The replacement does not show PRIMARY yet when `continue` arrives.
    for (ts, _) in &mut w.ecs.task_sets {
        ts.status = if ts.external_id.is_some() {
            "ACTIVE".into()
        } else {
            "PRIMARY".into()
        };
    }
    let listeners = Some(crate::model::ListenersView {
        production: crate::model::ListenerView {
            forwards: vec![(ecs::BLUE.into(), 0), (ecs::GREEN.into(), 100)],
        },
        test: None,
    });
    let obs = Observation {
        proceed: true,
        listeners: listeners.clone(),
        task_sets: Some(w.ecs.task_sets.iter().map(|(t, _)| t.clone()).collect()),
        ..Default::default()
    };
    let d = decide(&waiting, &obs, w.now);
    assert_eq!(
        d.next.phase,
        Phase::Terminating {
            until,
            continued: true
        }
    );
    // Next reading shows it PRIMARY: the wait ends now, well before `until`.
    for (ts, _) in &mut w.ecs.task_sets {
        ts.status = if ts.external_id.is_some() {
            "PRIMARY".into()
        } else {
            "ACTIVE".into()
        };
    }
    let obs = Observation {
        listeners,
        task_sets: Some(w.ecs.task_sets.iter().map(|(t, _)| t.clone()).collect()),
        ..Default::default()
    };
    let d2 = decide(&d.next, &obs, w.now + 1);
    assert!(
        matches!(d2.next.phase, Phase::Cleaning { .. }),
        "{:?}",
        d2.next.phase
    );
}

#[test]
fn a_woken_driver_sleeps_until_the_deadline_and_polls_only_for_alarms() {
    let poll = DeploymentOptions::default().alarm_poll_seconds * 1000;
    let awaiting_report = |options: DeploymentOptions| {
        let dep = deployment(CANARY, &[LifecycleEvent::BeforeAllowTraffic], options);
        let entered = decide(&dep, &Observation::default(), T0);
        let mut claimed = decide(&entered.next, &Observation::default(), T0);
        crate::engine::issue_execution_id(&mut claimed.next, "id-1");
        let answer = Observation {
            hook_response: Some(HookAnswer {
                execution_id: "id-1".into(),
                invocation: 1,
                response: HookResponse::Deferred,
            }),
            ..Default::default()
        };
        decide(&claimed.next, &answer, T0 + 1)
    };
    // Waiting for the hook's report, nothing watched: a driver nothing wakes looks again
    // at the poll interval; one that inputs wake sleeps until the hook's deadline.
    let d = awaiting_report(DeploymentOptions::default());
    assert!(d.next.hook().unwrap().in_flight_until.is_none());
    let deadline = DeploymentOptions::default().hook_timeout_seconds * 1000 - 1;
    assert_eq!(d.wake_after, Some(poll));
    assert_eq!(d.sleep_after, Some(deadline));
    // Alarms watched: the alarm poll is the backstop either way.
    let watched = awaiting_report(DeploymentOptions {
        alarms: vec!["errors".into()],
        ..Default::default()
    });
    assert_eq!(watched.wake_after, Some(poll));
    assert_eq!(watched.sleep_after, Some(poll));
}
