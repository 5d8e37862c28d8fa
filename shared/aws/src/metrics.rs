//! CloudWatch metrics in the embedded metric format (EMF): one JSON object per line on
//! stdout, which Lambda sends to CloudWatch Logs, where CloudWatch extracts the metrics —
//! no PutMetricData call and no IAM permission. Off unless `CUTOVER_METRICS_NAMESPACE`
//! is set (the template sets it on every function), so the CLI's own output never carries
//! them.
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

/// One EMF document: a metric's value, with its dimensions and the dimension sets
/// CloudWatch aggregates it by.
pub fn document(
    namespace: &str,
    timestamp: Millis,
    name: &str,
    value: f64,
    unit: Unit,
    dimensions: &[(&str, &str)],
    sets: &[&[&str]],
) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": sets,
                "Metrics": [{"Name": name, "Unit": unit.as_str()}],
            }],
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).to_string(), json!(v));
    }
    doc.insert(name.to_string(), json!(value));
    Value::Object(doc)
}

/// Writes one metric, when metrics are on.
pub fn emit(
    name: &str,
    value: f64,
    unit: Unit,
    dimensions: &[(&str, &str)],
    sets: &[&[&str]],
) {
    let Some(namespace) = std::env::var(NAMESPACE_ENV).ok().filter(|n| !n.is_empty()) else {
        return;
    };
    let doc = document(
        &namespace,
        crate::service::now_ms(),
        name,
        value,
        unit,
        dimensions,
        sets,
    );
    // One line, written at once: the log line must be the JSON object and nothing else.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{doc}");
    let _ = out.flush();
}

fn platform(dep: &Deployment) -> &'static str {
    match dep.target {
        Target::Lambda(_) => "Lambda",
        Target::Ecs(_) => "ECS",
    }
}

/// The metrics of a saved decision: `before` is the state it was made on, `after` the
/// state saved, `actions` what it asked for.
pub fn decision(before: &Deployment, after: &Deployment, actions: &[Action]) {
    let platform = platform(after);
    let app = after.application.as_str();
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
        emit(
            "Deployments",
            1.0,
            Unit::Count,
            &[
                ("Application", app),
                ("Platform", platform),
                ("Outcome", outcome),
            ],
            &[
                &["Outcome"],
                &["Platform", "Outcome"],
                &["Application", "Platform", "Outcome"],
            ],
        );
        if *kind == NotificationKind::DeploymentRollback {
            if let Some(restored) = alarm_to_restored(before, after) {
                emit(
                    "AlarmToRestored",
                    restored as f64,
                    Unit::Milliseconds,
                    &[("Application", app), ("Platform", platform)],
                    &[&["Platform"], &["Application", "Platform"]],
                );
            }
        }
    }
    for event in &after.events {
        let (Some(start), Some(end)) = (event.started_at, event.ended_at) else {
            continue;
        };
        let ended_now = before.event(event.name).is_some_and(|e| e.ended_at.is_none());
        if ended_now {
            emit(
                "LifecycleEventDuration",
                end.saturating_sub(start) as f64,
                Unit::Milliseconds,
                &[
                    ("Platform", platform),
                    ("LifecycleEvent", event.name.as_str()),
                ],
                &[&["Platform", "LifecycleEvent"]],
            );
        }
    }
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
    let by_alarm = after.error().is_some_and(|e| e.code == ErrorCode::AlarmActive);
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
    emit(
        "AwsErrors",
        1.0,
        Unit::Count,
        &[("Service", service), ("Kind", kind)],
        &[&["Service", "Kind"]],
    );
}
