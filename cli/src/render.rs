//! What `cutover` prints: plans, status, progress and one-line results.
//!
//! A deployment is printed from its summary JSON (what `cutover status --output json` prints
//! and the control function answers) read into a [`View`], so the local and the remote mode
//! print the same text from one renderer. When this process holds the stored record
//! (`--local`), it adds what the summary leaves out: the running hook and a custom
//! configuration's schedule.

use crate::Output;
use cutover_core::config::DeploymentConfig;
use cutover_core::model::{
    last_segment, Deployment, DeploymentStatus, Millis, PhaseRecord, TaskSetView,
};
use cutover_core::LifecycleEvent;
use serde_json::{json, Value};
use std::fmt::Write;

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

/// A deployment as the renderers see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct View {
    pub(crate) id: String,
    pub(crate) status: DeploymentStatus,
    pub(crate) rolled_back: bool,
    /// `None` when the summary's phase is not one this CLI knows (a newer service).
    pub(crate) phase: Option<PhaseRecord>,
    pub(crate) target: TargetView,
    /// Configuration name.
    pub(crate) config: String,
    /// The configuration's description and number of steps: known for predefined names,
    /// and for custom ones when the stored record is at hand.
    pub(crate) schedule: Option<(String, usize)>,
    /// `(version or target group, percent)`, current side first.
    pub(crate) split: Vec<(String, u8)>,
    pub(crate) events: Vec<EventView>,
    /// `(code, message)` of a failed or stopped deployment.
    pub(crate) error: Option<(String, String)>,
    pub(crate) task_sets: Vec<TaskSetView>,
    /// The running hook's function, and whether it is waiting for the hook's report
    /// (stored record only).
    pub(crate) hook: Option<(String, bool)>,
    /// The time scale the deployment runs at (1 unless started for a demo or a test).
    pub(crate) time_scale: f64,
}

/// What a deployment moves, as the summary's `target` object gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetView {
    /// `my-fn:live 1 → 2` or `shop/web web:1 → web:2`.
    pub(crate) describe: String,
    /// Version or target group production traffic goes to before.
    pub(crate) current: String,
    /// Version or target group production traffic goes to after.
    pub(crate) target: String,
    pub(crate) ecs: bool,
}

/// One lifecycle event's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventView {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) detail: Option<String>,
}

impl View {
    /// Reads a summary (`Deployment::summary`). Only `deploymentId` and `status` are
    /// required; anything else missing shows as empty.
    pub(crate) fn from_summary(v: &Value) -> Result<View, String> {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
        let id = v["deploymentId"]
            .as_str()
            .ok_or("no deploymentId in the deployment summary")?
            .to_string();
        let status: DeploymentStatus = serde_json::from_value(v["status"].clone())
            .map_err(|_| format!("{id}: unknown deployment status {}", v["status"]))?;
        let t = &v["target"];
        let target = match t["functionName"].as_str() {
            Some(function) => TargetView {
                describe: format!(
                    "{function}:{} {} → {}",
                    text(&t["alias"]),
                    text(&t["currentVersion"]),
                    text(&t["targetVersion"])
                ),
                current: text(&t["currentVersion"]),
                target: text(&t["targetVersion"]),
                ecs: false,
            },
            None => {
                let last =
                    |key: &str| last_segment(t[key].as_str().unwrap_or_default()).to_string();
                TargetView {
                    describe: format!(
                        "{}/{} {} → {}",
                        last("cluster"),
                        last("service"),
                        last("originalTaskDefinition"),
                        last("taskDefinition")
                    ),
                    current: text(&t["originalTargetGroupArn"]),
                    target: text(&t["replacementTargetGroupArn"]),
                    ecs: true,
                }
            }
        };
        let traffic = v["traffic"].as_object();
        let weight = |label: &str| {
            traffic
                .and_then(|m| m.get(label))
                .and_then(Value::as_u64)
                .map(|w| w.min(100) as u8)
        };
        let mut split = Vec::new();
        for label in [&target.current, &target.target] {
            if let Some(w) = weight(label) {
                if !split.iter().any(|(l, _)| l == label) {
                    split.push((label.clone(), w));
                }
            }
        }
        let config = text(&v["config"]);
        let schedule =
            DeploymentConfig::predefined(&config).map(|c| (c.describe(), c.schedule().len()));
        let events = v["lifecycleEvents"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| EventView {
                        name: text(&e["name"]),
                        status: text(&e["status"]),
                        detail: e["detail"].as_str().map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let error = v["error"]
            .as_object()
            .map(|e| (text(&e["code"]), text(&e["message"])));
        Ok(View {
            id,
            status,
            rolled_back: v["rolledBack"].as_bool().unwrap_or(false),
            phase: serde_json::from_value(v["phase"].clone()).ok(),
            target,
            config,
            schedule,
            split,
            events,
            error,
            task_sets: serde_json::from_value(v["taskSets"].clone()).unwrap_or_default(),
            hook: None,
            time_scale: v["timeScale"].as_f64().unwrap_or(1.0),
        })
    }

    /// The view of a stored deployment: its summary, plus the running hook and the
    /// schedule of its configuration, which the record holds even for custom ones.
    pub(crate) fn of(dep: &Deployment) -> View {
        let mut view = View::from_summary(&dep.summary())
            .expect("a deployment's own summary has its id and status");
        view.schedule = Some((dep.config.describe(), dep.schedule().len()));
        view.hook = dep.hook().map(|h| {
            let waiting = h.next_invoke_at.is_none() && h.in_flight_until.is_none();
            (h.function.clone(), waiting)
        });
        view
    }

    /// Whether nothing more will happen.
    pub(crate) fn is_done(&self) -> bool {
        match &self.phase {
            Some(phase) => *phase == PhaseRecord::Done,
            None => self.status.is_terminal(),
        }
    }

    /// Percent of production traffic on the target.
    pub(crate) fn traffic(&self) -> u8 {
        self.split
            .iter()
            .find(|(label, _)| *label == self.target.target && *label != self.target.current)
            .map_or(0, |(_, w)| *w)
    }

    fn event_detail(&self, name: LifecycleEvent) -> Option<&str> {
        self.events
            .iter()
            .find(|e| e.name == name.as_str())
            .and_then(|e| e.detail.as_deref())
    }
}

/// `started d-…: my-fn:live 1 → 2 with CONFIG (description)`.
pub(crate) fn started_line(view: &View) -> String {
    match &view.schedule {
        Some((describe, _)) => format!(
            "started {}: {} with {} ({describe})",
            view.id, view.target.describe, view.config
        ),
        None => format!(
            "started {}: {} with {}",
            view.id, view.target.describe, view.config
        ),
    }
}

/// What `cutover status` prints, without the event log (which only the table holds).
pub(crate) fn status_text(view: &View) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "deployment {}  {}{}",
        view.id,
        view.status,
        if view.rolled_back {
            " (rolled back)"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "  target   {}", view.target.describe);
    match &view.schedule {
        Some((describe, _)) => {
            let _ = writeln!(s, "  config   {} — {describe}", view.config);
        }
        None => {
            let _ = writeln!(s, "  config   {}", view.config);
        }
    }
    let split: Vec<String> = view
        .split
        .iter()
        .map(|(v, w)| format!("{w}% on {}", short(v)))
        .collect();
    let _ = writeln!(s, "  traffic  {}", split.join(", "));
    for ts in &view.task_sets {
        let role = if ts.external_id.as_deref() == Some(view.id.as_str()) {
            "replacement"
        } else {
            "original"
        };
        let _ = writeln!(
            s,
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
    for e in &view.events {
        let _ = writeln!(
            s,
            "  {:<20} {:<10} {}",
            e.name,
            e.status,
            e.detail.as_deref().unwrap_or_default()
        );
    }
    if let Some((code, message)) = &view.error {
        let _ = writeln!(s, "  error    {code}: {message}");
    }
    s
}

/// One line of `cutover list`.
pub(crate) fn list_line(view: &View) -> String {
    format!(
        "{}  {:<10} {:<5} {}  {}  {}% on target",
        view.id,
        view.status.as_str(),
        if view.rolled_back { "rb" } else { "" },
        view.target.describe,
        view.config,
        view.traffic()
    )
}

/// What `cutover stop` prints.
pub(crate) fn stop_line(view: &View) -> String {
    let tail = match (view.rolled_back, view.is_done()) {
        (true, _) => format!(", rolled back to {}", view.target.current),
        (false, false) => ", rolling back".to_string(),
        (false, true) => String::new(),
    };
    format!("{}: {}{tail}", view.id, view.status)
}

/// What `cutover continue` prints.
pub(crate) fn continue_line(view: &View) -> String {
    format!(
        "{}: {} ({}% of production traffic on {})",
        view.id,
        view.status,
        view.traffic(),
        view.target.target
    )
}

/// A progress line of `cutover deploy`: time since `started`, where the deployment is and
/// the traffic split, as of `now`.
pub(crate) fn progress_line(view: &View, started: Millis, now: Millis) -> String {
    let elapsed = fmt_secs(now.saturating_sub(started) / 1000);
    let left = |until: Millis| fmt_secs(until.saturating_sub(now).div_ceil(1000));
    let split: Vec<String> = view
        .split
        .iter()
        .map(|(v, w)| match view.target.ecs {
            true => format!("{w}% {}", short(v)),
            false => format!("{w}% v{v}"),
        })
        .collect();
    let steps = view.schedule.as_ref().map(|(_, n)| *n);
    let step_of = |step: usize| match steps {
        Some(n) => format!("{}/{n}", step + 1),
        None => format!("{}", step + 1),
    };
    let what = match &view.phase {
        None => view.status.to_string(),
        Some(PhaseRecord::Created) => "created".to_string(),
        Some(PhaseRecord::Hook { event }) => match &view.hook {
            Some((function, true)) => format!("{event}: waiting for {function} to report"),
            Some((function, false)) => format!("{event}: running {function}"),
            None => format!("{event}"),
        },
        Some(PhaseRecord::Shifting { step, .. }) => {
            format!("AllowTraffic step {}: shifting", step_of(*step))
        }
        Some(PhaseRecord::Baking { step, until }) => match steps {
            Some(n) if step + 1 == n => format!(
                "AllowTraffic step {}: baking, done in {}",
                step_of(*step),
                left(*until)
            ),
            Some(_) => format!(
                "AllowTraffic step {}: next shift in {}",
                step_of(*step),
                left(*until)
            ),
            None => format!(
                "AllowTraffic step {}: next change in {}",
                step_of(*step),
                left(*until)
            ),
        },
        Some(PhaseRecord::Installing { .. }) => format!(
            "Install: {}",
            view.event_detail(LifecycleEvent::Install)
                .unwrap_or("creating the replacement task set")
        ),
        Some(PhaseRecord::TestRouting { .. }) => {
            "AllowTestTraffic: test listener to the replacement".into()
        }
        Some(PhaseRecord::Ready { until }) => format!(
            "Ready: test traffic on the replacement; run `cutover continue {}` within {}",
            view.id,
            left(*until)
        ),
        Some(PhaseRecord::Terminating { until, .. }) => format!(
            "all traffic on the replacement; original task set deleted in {} (`cutover continue {}` to delete it now)",
            left(*until),
            view.id
        ),
        Some(PhaseRecord::Cleaning { .. }) => "deleting the original task set".into(),
        Some(PhaseRecord::RollingBack { .. }) => "rolling back".to_string(),
        Some(PhaseRecord::Done) => {
            let mut s = view.status.to_string();
            if view.rolled_back {
                s.push_str(", rolled back");
            }
            if let Some((code, message)) = &view.error {
                s.push_str(&format!(" — {code}: {message}"));
            }
            s
        }
    };
    format!(
        "[{elapsed:>6}] {}  {}  [{}]",
        view.id,
        what,
        split.join(" | ")
    )
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
