//! The metrics of decisions, made by the real engine, and the EMF document they become.

use super::*;
use cutover_core::config::DeploymentConfig;
use cutover_core::engine::decide;
use cutover_core::model::{
    AlarmState, AlarmView, AliasView, DeploymentOptions, LambdaTarget, Observation,
};
use cutover_core::sim::World;

const T0: Millis = 1_700_000_000_000;

fn deployment() -> Deployment {
    Deployment::new_lambda(
        "d-METRICS01".into(),
        LambdaTarget {
            function: "orders".into(),
            alias: "live".into(),
            current_version: "1".into(),
            target_version: "2".into(),
        },
        DeploymentConfig::predefined("CodeDeployDefault.LambdaLinear10PercentEvery1Minute")
            .unwrap(),
        Vec::new(),
        DeploymentOptions {
            alarms: vec!["Errors".into()],
            ..DeploymentOptions::default()
        },
        T0,
    )
}

fn named<'a>(metrics: &'a [Metric], name: &str) -> Vec<&'a Metric> {
    metrics.iter().filter(|m| m.name == name).collect()
}

fn dimension<'a>(m: &'a Metric, name: &str) -> &'a str {
    m.dimensions
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{} has no dimension {name}", m.name))
}

#[test]
fn a_start_counts_a_deployment_and_times_the_start_event() {
    let dep = deployment();
    let d = decide(&dep, &Observation::default(), T0);
    let metrics = decision_metrics(&dep, &d.next, &d.actions);
    let started = named(&metrics, "Deployments");
    assert_eq!(started.len(), 1, "{metrics:?}");
    assert_eq!(dimension(started[0], "Outcome"), "Started");
    assert_eq!(dimension(started[0], "Platform"), "Lambda");
    assert_eq!(dimension(started[0], "Application"), "orders");
    let events = named(&metrics, "LifecycleEventDuration");
    assert_eq!(events.len(), 1);
    assert_eq!(dimension(events[0], "LifecycleEvent"), "Start");
    // A decision that changes nothing has no metric.
    let again = decide(&d.next, &Observation::default(), T0);
    assert!(decision_metrics(&d.next, &again.next, &again.actions)
        .iter()
        .all(|m| m.name != "Deployments"));
}

#[test]
fn an_alarm_rollback_reports_the_time_from_the_alarm_to_traffic_restored() {
    let mut world = World::new("1", T0);
    let baking = world.run_until(deployment(), |d| {
        matches!(d.phase, Phase::Baking { step: 1, .. })
    });
    let fired_at = world.now - 4_000;
    let alarmed = Observation {
        alias: Some(world.alias.clone()),
        alias_revision: Some(world.revision_id()),
        alarms: Some(vec![AlarmView {
            name: "Errors".into(),
            state: AlarmState::Alarm,
            updated_at: Some(fired_at),
        }]),
        ..Default::default()
    };
    let failed = decide(&baking, &alarmed, world.now);
    let metrics = decision_metrics(&baking, &failed.next, &failed.actions);
    let outcomes: Vec<&str> = named(&metrics, "Deployments")
        .iter()
        .map(|m| dimension(m, "Outcome"))
        .collect();
    assert_eq!(outcomes, ["Failed"]);
    let allow = named(&metrics, "LifecycleEventDuration");
    assert!(
        allow
            .iter()
            .any(|m| dimension(m, "LifecycleEvent") == "AllowTraffic"),
        "{metrics:?}"
    );

    // The alias back on version 1, confirmed 6 s after the alarm changed state.
    let restored = Observation {
        alias: Some(AliasView {
            version: "1".into(),
            additional: None,
        }),
        alias_revision: Some("r-after-rollback".into()),
        alarms: alarmed.alarms.clone(),
        ..Default::default()
    };
    let done = decide(&failed.next, &restored, fired_at + 6_000);
    assert!(done.next.rolled_back(), "{:?}", done.next.phase);
    let metrics = decision_metrics(&failed.next, &done.next, &done.actions);
    let outcomes: Vec<&str> = named(&metrics, "Deployments")
        .iter()
        .map(|m| dimension(m, "Outcome"))
        .collect();
    assert_eq!(outcomes, ["RolledBack"]);
    let timed = named(&metrics, "AlarmToRestored");
    assert_eq!(timed.len(), 1, "{metrics:?}");
    assert_eq!(timed[0].value, 6_000.0);
    assert_eq!(timed[0].unit, Unit::Milliseconds);
}

#[test]
fn the_document_is_embedded_metric_format() {
    let m = Metric::new(
        "Deployments",
        1.0,
        Unit::Count,
        &[("Platform", "ECS"), ("Outcome", "Succeeded")],
    );
    let doc = m.document("Cutover", T0);
    assert_eq!(
        doc,
        json!({
            "_aws": {
                "Timestamp": T0,
                "CloudWatchMetrics": [{
                    "Namespace": "Cutover",
                    "Dimensions": [["Outcome"], ["Platform", "Outcome"], ["Application", "Platform", "Outcome"]],
                    "Metrics": [{"Name": "Deployments", "Unit": "Count"}],
                }],
            },
            "Platform": "ECS",
            "Outcome": "Succeeded",
            "Deployments": 1.0,
        })
    );
}
