//! The stored record: records written before the phase held its own data still load, the
//! shape written is the one they have, and fields that disagree are refused.
//!
//! `tests/fixtures/records-v1.json` holds every record of six simulated deployments as the
//! engine before that change wrote them (commit 31cc742). The same scenarios run now must
//! write the same records, field for field.

use crate::appspec::HookSpec;
use crate::config::DeploymentConfig;
use crate::engine_ecs_tests as ecs;
use crate::engine_tests::T0;
use crate::model::{
    execution_id_hash, Deployment, DeploymentOptions, DeploymentStatus, End, HookResponse,
    LambdaTarget, Phase, StopRequest,
};
use crate::sim::{HookScript, World};
use crate::LifecycleEvent;
use serde_json::Value;

const FIXTURE: &str = include_str!("../tests/fixtures/records-v1.json");

fn lambda(config: &str, hooks: &[LifecycleEvent], alarms: &[&str]) -> Deployment {
    let target = LambdaTarget {
        function: "orders".into(),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    };
    let hooks = hooks
        .iter()
        .map(|e| HookSpec {
            event: *e,
            function: format!("{e}Hook"),
        })
        .collect();
    let options = DeploymentOptions {
        alarms: alarms.iter().map(|a| a.to_string()).collect(),
        ..DeploymentOptions::default()
    };
    let config = DeploymentConfig::predefined(config).expect("known config");
    Deployment::new_lambda("d-RECORD001".into(), target, config, hooks, options, T0)
}

/// Every distinct record of a deployment run to its end, one decision at a time.
fn records(mut world: World, mut dep: Deployment) -> Vec<Value> {
    let mut out = vec![serde_json::to_value(&dep).expect("serializes")];
    while !dep.is_done() && world.ticks < 10_000 {
        dep = world.run(dep, world.ticks + 1);
        let v = serde_json::to_value(&dep).expect("serializes");
        if out.last() != Some(&v) {
            out.push(v);
        }
    }
    out
}

/// Six deployments: success with hooks, an alarm's rollback, a stop, a failed hook, an
/// ECS deployment through every event and an ECS ready wait that times out and rolls back.
fn scenarios() -> Vec<(&'static str, Vec<Value>)> {
    use LifecycleEvent::{AfterAllowTraffic, BeforeAllowTraffic};
    let mut all = Vec::new();

    let mut w = World::new("1", T0);
    w.hooks.push((
        BeforeAllowTraffic,
        HookScript::Answers(vec![HookResponse::InProgress]),
    ));
    w.hooks.push((
        AfterAllowTraffic,
        HookScript::ReportsLater {
            after: 5_000,
            succeeded: true,
        },
    ));
    let dep = lambda(
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        &[BeforeAllowTraffic, AfterAllowTraffic],
        &["Errors"],
    );
    all.push(("lambda canary with both hooks", records(w, dep)));

    let mut w = World::new("1", T0);
    w.alarm_fires_at.push(("Errors".into(), Some(T0 + 150_000)));
    let dep = lambda(
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        &[],
        &["Errors"],
    );
    all.push(("lambda linear rolled back by an alarm", records(w, dep)));

    let mut w = World::new("1", T0);
    w.stop_at = Some((
        T0 + 90_000,
        StopRequest {
            rollback: true,
            reason: Some("operator".into()),
        },
    ));
    let dep = lambda(
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        &[],
        &[],
    );
    all.push(("lambda stopped with a rollback", records(w, dep)));

    let mut w = World::new("1", T0);
    w.hooks.push((
        BeforeAllowTraffic,
        HookScript::Answers(vec![HookResponse::Failed("smoke test failed".into())]),
    ));
    let dep = lambda(
        "CodeDeployDefault.LambdaAllAtOnce",
        &[BeforeAllowTraffic],
        &[],
    );
    all.push(("lambda failed hook", records(w, dep)));

    let dep = ecs::deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        ecs::target(true, None),
        DeploymentOptions::default(),
    );
    all.push(("ecs with every hook", records(ecs::world(), dep)));

    let dep = ecs::deployment(
        "CodeDeployDefault.ECSAllAtOnce",
        ecs::target(true, Some(30)),
        DeploymentOptions::default(),
    );
    all.push((
        "ecs ready wait that ends in a rollback",
        records(ecs::world(), dep),
    ));
    all
}

/// The fixture's scenarios, by name.
fn fixture() -> std::collections::BTreeMap<String, Vec<Value>> {
    let v: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    v.as_object()
        .expect("an object of scenarios")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().expect("records").clone()))
        .collect()
}

/// The change to stored fields since the fixture: a running hook's `execution_id` (the id
/// itself, derived from the deployment) is kept only as its hash, in `issued`, and the
/// deployment's `hook_token` (its secret part) is no longer written. This is `stored` as
/// loading it and writing it back gives it.
fn upgraded(stored: &Value) -> Value {
    let mut v = stored.clone();
    v.as_object_mut().unwrap().remove("hook_token");
    if let Some(hook) = v["hook"].as_object_mut() {
        if let Some(Value::String(id)) = hook.remove("execution_id") {
            hook.insert("issued".into(), serde_json::json!([execution_id_hash(&id)]));
        }
    }
    v
}

/// A record with the hook's ids left out (they differ between runs by design).
fn without_ids(record: &Value) -> Value {
    let mut v = record.clone();
    v.as_object_mut().unwrap().remove("hook_token");
    if let Some(hook) = v["hook"].as_object_mut() {
        hook.remove("execution_id");
        hook.remove("issued");
    }
    v
}

#[test]
fn every_record_an_earlier_engine_wrote_loads_with_the_status_it_stored() {
    let mut phases = std::collections::BTreeSet::new();
    let mut count = 0;
    for (name, records) in fixture() {
        for stored in records {
            let dep: Deployment = serde_json::from_value(stored.clone())
                .unwrap_or_else(|e| panic!("{name}: {e}\n{stored}"));
            let status: DeploymentStatus =
                serde_json::from_value(stored["status"].clone()).expect("status");
            assert_eq!(dep.status(), status, "{name}: {stored}");
            assert_eq!(dep.rolled_back(), stored["rolled_back"] == true, "{name}");
            assert_eq!(
                dep.hook().map(|h| serde_json::to_value(h).unwrap()),
                Some(upgraded(&stored)["hook"].clone()).filter(|h| !h.is_null()),
                "{name}"
            );
            // The id an earlier record stored is still accepted, and only that one.
            if let Some(id) = stored["hook"]["execution_id"].as_str() {
                let hook = dep.hook().expect("a running hook");
                assert!(hook.accepts(id), "{name}");
                assert!(!hook.accepts(&format!("{id}x")), "{name}");
                assert!(hook.legacy_execution_id.is_none(), "{name}");
            }
            assert_eq!(
                dep.error().map(|e| serde_json::to_value(e).unwrap()),
                Some(stored["error"].clone()).filter(|e| !e.is_null()),
                "{name}"
            );
            // Written back, it is the record that was read (the hook's id as its hash).
            assert_eq!(
                serde_json::to_value(&dep).unwrap(),
                upgraded(&stored),
                "{name}"
            );
            phases.insert(dep.phase.name());
            count += 1;
        }
    }
    // The fixture covers every phase (a record of each).
    assert_eq!(phases.len(), 11, "phases covered: {phases:?}");
    assert!(count > 50, "{count} records");
}

/// Fields records gained after the fixture was written, each optional (absent in older
/// records): the phase's `alarmAt` (when the alarm that failed a deployment changed state).
const ADDED_SINCE_V1: [&str; 1] = ["alarmAt"];

#[test]
fn the_engine_writes_the_records_it_wrote_before_the_phase_held_its_data() {
    let now = scenarios();
    let before = fixture();
    assert_eq!(now.len(), before.len());
    let mut added = 0;
    for (name, records) in &now {
        let stored = &before[*name];
        assert_eq!(records.len(), stored.len(), "{name}: number of records");
        for (i, (a, b)) in records.iter().zip(stored).enumerate() {
            let mut a = a.clone();
            for field in ADDED_SINCE_V1 {
                added += usize::from(a["phase"].as_object_mut().unwrap().remove(field).is_some());
            }
            assert_eq!(without_ids(&a), without_ids(b), "{name}: record {i}");
            // No record holds an execution id itself; a claimed invocation's id is kept
            // as its hash.
            if let Some(hook) = a["hook"].as_object() {
                assert!(!hook.contains_key("execution_id"), "{name}: record {i}");
                let issued = hook.get("issued").and_then(Value::as_array);
                let invoked = hook["invocations"].as_u64().unwrap_or(0);
                assert_eq!(
                    issued.map_or(0, Vec::len) as u64,
                    invoked.min(crate::model::MAX_ISSUED_IDS as u64),
                    "{name}: record {i}: one id per invocation"
                );
            }
        }
    }
    // The alarm's rollback (one record rolling back) carries when the alarm fired.
    assert_eq!(added, 1);
}

#[test]
fn a_record_whose_fields_disagree_is_refused_naming_them() {
    let records = &fixture()["lambda canary with both hooks"];
    let hook = records
        .iter()
        .find(|r| r["phase"]["phase"] == "hook")
        .expect("a hook record")
        .clone();
    let done = records.last().expect("an end").clone();
    let refused = |mut v: Value, field: &str, value: Value| {
        v[field] = value;
        serde_json::from_value::<Deployment>(v)
            .expect_err("inconsistent record loaded")
            .to_string()
    };
    let e = refused(hook.clone(), "hook", Value::Null);
    assert!(
        e.contains("phase hook for") && e.contains("without a running hook"),
        "{e}"
    );
    let e = refused(hook.clone(), "status", "Succeeded".into());
    assert!(e.contains("status Succeeded"), "{e}");
    let e = refused(done.clone(), "status", "Failed".into());
    assert!(e.contains("without an error"), "{e}");
    let e = refused(done.clone(), "rolled_back", true.into());
    assert!(e.contains("rolled_back"), "{e}");
    let mut rolling = done;
    rolling["phase"] = serde_json::json!({"phase": "rollingBack", "attempts": 1});
    let e = refused(rolling, "status", "InProgress".into());
    assert!(e.contains("InProgress") && e.contains("rollingBack"), "{e}");
}

#[test]
fn a_deployment_that_ended_keeps_why_in_its_phase() {
    let records = &fixture()["lambda linear rolled back by an alarm"];
    let end: Deployment =
        serde_json::from_value(records.last().expect("an end").clone()).expect("loads");
    match &end.phase {
        Phase::Done(End::Halted { halt, rolled_back }) => {
            assert!(*rolled_back);
            assert!(!halt.stopped);
            assert_eq!(halt.status(), DeploymentStatus::Failed);
            assert_eq!(end.error(), Some(&halt.error));
        }
        other => panic!("expected a failed end, found {other:?}"),
    }
}
