//! CloudWatch metrics in the embedded metric format (EMF): one JSON object per line on
//! stdout, which Lambda sends to CloudWatch Logs, where CloudWatch extracts the metrics —
//! no PutMetricData call and no IAM permission. On only in the functions, when
//! `CUTOVER_METRICS_NAMESPACE` is set (the template sets it on every function): the CLI's
//! own output never carries them.
//!
//! Emitted (namespace from the environment, all with low-cardinality dimensions):
//! - `Deployments` (Count): a deployment started, succeeded, failed, was stopped or rolled
//!   back — dimension `Outcome`, by `Platform`, and by `Application` and `Platform`;
//! - `AlarmToRestored` (Milliseconds): from the state change of the alarm that failed a
//!   deployment to its rollback confirmed, by `Platform`, and by `Application` and
//!   `Platform`;
//! - `LifecycleEventDuration` (Milliseconds): each lifecycle event that ended, by
//!   `Platform` and `LifecycleEvent`;
//! - `AwsErrors` (Count): each AWS call that failed after the SDK's retries, by `Service`
//!   and `Kind` (`Throttling`, `Transient`, `Other`).
//!
//! A metric is written once, by the tick that saved the decision it belongs to; a process
//! that dies between the save and the line loses that one line (metrics are not part of
//! the outbox's at-least-once promise).

use cutover_core::engine::{Action, NotificationKind};
use cutover_core::model::{Deployment, ErrorCode, Millis, Phase, Target};
use serde_json::{json, Map, Value};
use std::io::Write;

/// The environment variable naming the metrics' namespace; unset or empty: no metrics.
pub const NAMESPACE_ENV: &str = "CUTOVER_METRICS_NAMESPACE";

/// Every metric emitted, with the dimension sets CloudWatch aggregates it by (the
/// template's dashboard searches these).
pub const METRICS: [(&str, &[&[&str]]); 4] = [
    (
        "Deployments",
        &[
            &["Outcome"],
            &["Platform", "Outcome"],
            &["Application", "Platform", "Outcome"],
        ],
    ),
    (
        "AlarmToRestored",
        &[&["Platform"], &["Application", "Platform"]],
    ),
    ("LifecycleEventDuration", &[&["Platform", "LifecycleEvent"]]),
    ("AwsErrors", &[&["Service", "Kind"]]),
];

/// A unit CloudWatch knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration.
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric value with its dimensions and the dimension sets CloudWatch aggregates it
/// by.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Metric name.
    pub name: &'static str,
    /// Its value.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// Dimension names and values.
    pub dimensions: Vec<(&'static str, String)>,
    /// The sets of dimension names it is aggregated by.
    pub sets: Vec<Vec<&'static str>>,
}

impl Metric {
    fn new(
        name: &'static str,
        value: f64,
        unit: Unit,
        dimensions: &[(&'static str, &str)],
    ) -> Metric {
        let sets: &[&[&'static str]] = METRICS
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[], |(_, sets)| *sets);
        debug_assert!(!sets.is_empty(), "{name} is not in METRICS");
        Metric {
            name,
            value,
            unit,
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .collect(),
            sets: sets.iter().map(|s| s.to_vec()).collect(),
        }
    }

    /// The EMF document of this metric: one JSON object, for one log line.
    pub fn document(&self, namespace: &str, timestamp: Millis) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": self.sets,
                    "Metrics": [{"Name": self.name, "Unit": self.unit.as_str()}],
                }],
            }),
        );
        for (k, v) in &self.dimensions {
            doc.insert((*k).to_string(), json!(v));
        }
        doc.insert(self.name.to_string(), json!(self.value));
        Value::Object(doc)
    }
}

static NAMESPACE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Turns metrics on for this process, in the namespace [`NAMESPACE_ENV`] names (nothing
/// when it is unset or empty). Only the functions call it (`functions::init`): the CLI
/// never does, so its stdout (`--output json`) never carries a metric, whatever its
/// environment holds.
pub fn enable_from_env() {
    if let Some(ns) = std::env::var(NAMESPACE_ENV)
        .ok()
        .filter(|n| !n.trim().is_empty())
    {
        let _ = NAMESPACE.set(ns);
    }
}

/// Writes metrics to stdout, one line each, when metrics are on.
pub fn emit(metrics: &[Metric]) {
    let Some(namespace) = NAMESPACE.get() else {
        return;
    };
    let now = crate::service::now_ms();
    let mut out = std::io::stdout().lock();
    for m in metrics {
        // The line must be the JSON object and nothing else.
        let _ = writeln!(out, "{}", m.document(namespace, now));
    }
    let _ = out.flush();
}

fn platform(dep: &Deployment) -> &'static str {
    match dep.target {
        Target::Lambda(_) => "Lambda",
        Target::Ecs(_) => "ECS",
    }
}

/// The metrics of a saved decision, written: see [`decision_metrics`].
pub fn decision(before: &Deployment, after: &Deployment, actions: &[Action]) {
    emit(&decision_metrics(before, after, actions));
}

/// The metrics of a saved decision: `before` is the state it was made on, `after` the
/// state saved, `actions` what it asked for.
pub fn decision_metrics(
    before: &Deployment,
    after: &Deployment,
    actions: &[Action],
) -> Vec<Metric> {
    let platform = platform(after);
    let app = after.application.as_str();
    let mut out = Vec::new();
    for action in actions {
        let Action::Notify(kind) = action else {
            continue;
        };
        let outcome = match kind {
            NotificationKind::DeploymentStart => "Started",
            NotificationKind::DeploymentSuccess => "Succeeded",
            NotificationKind::DeploymentFailure => "Failed",
            NotificationKind::DeploymentStop => "Stopped",
            NotificationKind::DeploymentRollback => "RolledBack",
        };
        out.push(Metric::new(
            "Deployments",
            1.0,
            Unit::Count,
            &[
                ("Application", app),
                ("Platform", platform),
                ("Outcome", outcome),
            ],
        ));
        if *kind == NotificationKind::DeploymentRollback {
            if let Some(restored) = alarm_to_restored(before, after) {
                out.push(Metric::new(
                    "AlarmToRestored",
                    restored as f64,
                    Unit::Milliseconds,
                    &[("Application", app), ("Platform", platform)],
                ));
            }
        }
    }
    for event in &after.events {
        let (Some(start), Some(end)) = (event.started_at, event.ended_at) else {
            continue;
        };
        if before
            .event(event.name)
            .is_some_and(|e| e.ended_at.is_none())
        {
            out.push(Metric::new(
                "LifecycleEventDuration",
                end.saturating_sub(start) as f64,
                Unit::Milliseconds,
                &[
                    ("Platform", platform),
                    ("LifecycleEvent", event.name.as_str()),
                ],
            ));
        }
    }
    out
}

/// Milliseconds from the alarm's state change to the rollback confirmed, when an alarm
/// failed the deployment and this decision confirmed its rollback.
fn alarm_to_restored(before: &Deployment, after: &Deployment) -> Option<Millis> {
    let Phase::RollingBack {
        alarm_at: Some(alarm_at),
        ..
    } = before.phase
    else {
        return None;
    };
    let by_alarm = after
        .error()
        .is_some_and(|e| e.code == ErrorCode::AlarmActive);
    (after.rolled_back() && by_alarm).then(|| after.decided_at.saturating_sub(alarm_at))
}

/// Counts an AWS call that failed after the SDK's retries.
pub fn aws_error(service: &str, throttling: bool, retryable: bool) {
    let kind = if throttling {
        "Throttling"
    } else if retryable {
        "Transient"
    } else {
        "Other"
    };
    emit(&[Metric::new(
        "AwsErrors",
        1.0,
        Unit::Count,
        &[("Service", service), ("Kind", kind)],
    )]);
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
