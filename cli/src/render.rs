//! What `cutover` prints: plans, status, progress lines.

use crate::Output;
use cutover_aws::service::now_ms;
use cutover_aws::Cutover;
use cutover_core::config::DeploymentConfig;
use cutover_core::model::{last_segment, Deployment, Phase};
use serde_json::json;

/// A short name for a version, a target group or a task definition ARN.
pub(crate) fn short(arn: &str) -> &str {
    match arn.split_once(":targetgroup/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => last_segment(arn),
    }
}

pub(crate) fn fmt_secs(s: u64) -> String {
    match s {
        s if s >= 3600 => format!("{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub(crate) fn print_plan(config: &DeploymentConfig, output: Output) {
    let schedule = config.schedule();
    let mut at = 0;
    let mut steps = Vec::new();
    for (i, s) in schedule.iter().enumerate() {
        steps.push(json!({"step": i + 1, "weight": s.weight, "atSeconds": at, "waitSeconds": s.wait_seconds}));
        at += s.wait_seconds;
    }
    match output {
        Output::Json => println!(
            "{}",
            json!({"config": config.name, "computePlatform": config.platform.to_string(),
                   "description": config.describe(), "totalSeconds": config.total_seconds(), "steps": steps})
        ),
        Output::Text => {
            println!(
                "{} ({}): {}",
                config.name,
                config.platform,
                config.describe()
            );
            let mut at = 0;
            for (i, s) in schedule.iter().enumerate() {
                let last = i + 1 == schedule.len();
                println!(
                    "  step {:>2}  at {:>9}  {:>3}% on target  then {} {}",
                    i + 1,
                    fmt_secs(at),
                    s.weight,
                    if last { "bake" } else { "wait" },
                    fmt_secs(s.wait_seconds)
                );
                at += s.wait_seconds;
            }
            println!("  total {}", fmt_secs(config.total_seconds()));
        }
    }
}

pub(crate) async fn print_status(app: &Cutover, dep: &Deployment) {
    println!(
        "deployment {}  {}{}",
        dep.id,
        dep.status,
        if dep.rolled_back {
            " (rolled back)"
        } else {
            ""
        }
    );
    println!("  target   {}", dep.target.describe());
    println!("  config   {} — {}", dep.config.name, dep.config.describe());
    let split: Vec<String> = dep
        .traffic_split()
        .iter()
        .map(|(v, w)| format!("{w}% on {}", short(v)))
        .collect();
    println!("  traffic  {}", split.join(", "));
    for ts in &dep.task_sets {
        let role = if ts.external_id.as_deref() == Some(dep.id.as_str()) {
            "replacement"
        } else {
            "original"
        };
        println!(
            "  task set {} {:<11} {:<7} {} {}/{} running ({})",
            last_segment(&ts.arn),
            role,
            ts.status,
            last_segment(&ts.task_definition),
            ts.running,
            ts.desired,
            ts.stability
        );
    }
    for e in &dep.events {
        println!(
            "  {:<20} {:<10} {}",
            e.name.as_str(),
            format!("{:?}", e.status),
            e.detail.clone().unwrap_or_default()
        );
    }
    if let Some(err) = &dep.error {
        println!("  error    {}: {}", err.code.as_str(), err.message);
    }
    if let Ok(log) = app.store.log(&dep.id).await {
        println!("  log");
        for l in log.iter().rev().take(10).rev() {
            println!("    {:>4} {}", l.seq, l.message);
        }
    }
}

pub(crate) fn progress_line(dep: &Deployment, started: u64) -> String {
    let elapsed = fmt_secs(now_ms().saturating_sub(started) / 1000);
    let split: Vec<String> = dep
        .traffic_split()
        .iter()
        .map(|(v, w)| match dep.target.ecs() {
            Some(_) => format!("{w}% {}", short(v)),
            None => format!("{w}% v{v}"),
        })
        .collect();
    let steps = dep.schedule().len();
    let what = match &dep.phase {
        Phase::Created => "created".to_string(),
        Phase::Hook { event } => match &dep.hook {
            Some(h) if h.next_invoke_at.is_none() => {
                format!("{event}: waiting for {} to report", h.function)
            }
            Some(h) => format!("{event}: running {}", h.function),
            None => format!("{event}"),
        },
        Phase::Shifting { step, .. } => format!("AllowTraffic step {}/{steps}: shifting", step + 1),
        Phase::Baking { step, until } => {
            let left = until.saturating_sub(now_ms()).div_ceil(1000);
            if step + 1 == steps {
                format!(
                    "AllowTraffic step {}/{steps}: baking, done in {}",
                    step + 1,
                    fmt_secs(left)
                )
            } else {
                format!(
                    "AllowTraffic step {}/{steps}: next shift in {}",
                    step + 1,
                    fmt_secs(left)
                )
            }
        }
        Phase::Installing { .. } => {
            let state = dep
                .event(cutover_core::LifecycleEvent::Install)
                .and_then(|e| e.detail.clone())
                .unwrap_or_else(|| "creating the replacement task set".into());
            format!("Install: {state}")
        }
        Phase::TestRouting { .. } => "AllowTestTraffic: test listener to the replacement".into(),
        Phase::Ready { until } => format!(
            "Ready: test traffic on the replacement; run `cutover continue {}` within {}",
            dep.id,
            fmt_secs(until.saturating_sub(now_ms()).div_ceil(1000))
        ),
        Phase::Terminating { until } => format!(
            "all traffic on the replacement; original task set deleted in {} (`cutover continue {}` to delete it now)",
            fmt_secs(until.saturating_sub(now_ms()).div_ceil(1000)),
            dep.id
        ),
        Phase::Cleaning { .. } => "deleting the original task set".into(),
        Phase::RollingBack { .. } => "rolling back".to_string(),
        Phase::Done => {
            let mut s = dep.status.to_string();
            if dep.rolled_back {
                s.push_str(", rolled back");
            }
            if let Some(e) = &dep.error {
                s.push_str(&format!(" — {}: {}", e.code.as_str(), e.message));
            }
            s
        }
    };
    format!(
        "[{elapsed:>6}] {}  {}  [{}]",
        dep.id,
        what,
        split.join(" | ")
    )
}
