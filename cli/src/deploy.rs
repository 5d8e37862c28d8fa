//! `cutover deploy`: start, then drive the deployment (`--local`) or follow it through the
//! deployed control function (`--wait`).

use crate::remote::{Remote, Role};
use crate::render::{progress_line, started_line, View};
use crate::{read_input, remote_status, Mode, Shown};
use crate::{
    DeployArgs, Failure, Output, EXIT_ENDED_BADLY, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED,
};
use cutover_aws::service::{now_ms, StartRequest};
use cutover_aws::{Cutover, Error};
use cutover_core::model::{DeploymentStatus, Millis, Observation};
use std::io::Write;
use std::time::Duration;

pub(crate) async fn deploy(mode: &Mode, args: &DeployArgs) -> Result<u8, Failure> {
    let req = StartRequest {
        appspec: read_input(&args.appspec, "--appspec")?,
        config: args.config.clone(),
        alarms: args.alarms.clone(),
        no_auto_rollback: args.no_auto_rollback,
        ignore_firing_alarms: args.ignore_firing_alarms,
        hook_timeout_seconds: args.hook_timeout_seconds,
        install_timeout_seconds: Some(args.install_timeout_seconds),
        alarm_poll_seconds: Some(args.alarm_poll_seconds),
        time_scale: Some(args.time_scale),
        application: None,
        group: args.group.clone(),
        client_token: None,
    };
    let progress = Progress::new(args.out.output == Output::Json);
    match mode {
        Mode::Local(app) => local(app, &req, progress).await,
        Mode::Remote(remote) => {
            // One token per run: the SDK's retries of this Invoke start one deployment.
            let req = StartRequest {
                client_token: Some(uuid::Uuid::new_v4().to_string()),
                ..req
            };
            follow(remote, &req, args, progress).await
        }
    }
}

/// What `deploy` prints while it runs: on stdout for people, on stderr with `--output json`
/// (stdout then holds only the final JSON summary).
struct Progress {
    json: bool,
    started: Millis,
    last_key: String,
    last_print: Millis,
}

impl Progress {
    fn new(json: bool) -> Progress {
        Progress {
            json,
            started: now_ms(),
            last_key: String::new(),
            last_print: 0,
        }
    }

    fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    }

    /// Prints the progress line when the phase, the traffic or the status changed, and
    /// every 10 s otherwise.
    fn show(&mut self, view: &View) {
        let now = now_ms();
        let key = format!("{:?}{:?}{:?}", view.phase, view.split, view.status);
        if key != self.last_key || now.saturating_sub(self.last_print) > 10_000 {
            self.say(&progress_line(view, self.started, now));
            self.last_key = key;
            self.last_print = now;
        }
    }

    /// Prints the final summary with `--output json`; the exit code tells how it ended.
    fn end(&self, (summary, view): &Shown) -> u8 {
        if self.json {
            println!("{summary}");
        }
        if view.status == DeploymentStatus::Succeeded {
            EXIT_OK
        } else {
            EXIT_ENDED_BADLY
        }
    }
}

/// `--local`: records the deployment and runs its loop in this process, to the end.
async fn local(app: &Cutover, req: &StartRequest, mut progress: Progress) -> Result<u8, Failure> {
    app.store.ensure_table().await.map_err(|e| Failure {
        code: EXIT_REFUSED,
        error_code: e.code().to_string(),
        message: format!("cannot prepare table {}: {e}", app.store.table()),
    })?;
    // Anything that fails here failed before anything changed: exit 2.
    let refused = |e: Error| {
        let mut f = Failure::from(e);
        f.code = EXIT_REFUSED;
        f
    };
    let dep = app.start(req).await.map_err(refused)?;
    progress.say(&started_line(&View::of(&dep)));
    let id = dep.id.clone();
    let mut failures = 0u32;
    let mut interrupted = false;
    loop {
        let (dep, wake) = match app.tick(&id, Observation::default()).await {
            Ok(outcome) => {
                failures = 0;
                (outcome.deployment, outcome.wake_after)
            }
            Err(e) => {
                // The deployment is still recorded as running: keep driving it. After
                // repeated failures, stop it with a rollback rather than abandon it.
                failures += 1;
                eprintln!("warning: tick {failures} of {id} failed: {e}");
                if failures >= 10 {
                    eprintln!("giving up: stopping {id} and rolling back");
                    let reason = Some(format!("cutover deploy --local gave up: {e}"));
                    app.stop(&id, Some(true), reason).await?;
                    failures = 0;
                }
                let backoff = 250u64 << failures.min(5);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                continue;
            }
        };
        let view = View::of(&dep);
        progress.show(&view);
        let Some(ms) = wake else {
            return Ok(progress.end(&(dep.summary(), view)));
        };
        let sleep = tokio::time::sleep(Duration::from_millis(ms.clamp(10, 2000)));
        tokio::select! {
            _ = sleep => {}
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                // Nothing half-applied: this process drives the deployment, so end it.
                interrupted = true;
                progress.say(&format!(
                    "interrupted: stopping {id} and rolling back to {}",
                    dep.target.current_label()
                ));
                let reason = Some("interrupted (Ctrl-C) during cutover deploy --local".to_string());
                app.stop(&id, Some(true), reason).await?;
            }
        }
    }
}

/// How often `--wait` reads the status: every 2 s, faster under `--time-scale`.
fn poll_interval(time_scale: f64) -> Duration {
    let scale = if time_scale.is_finite() && time_scale > 1.0 {
        time_scale
    } else {
        1.0
    };
    Duration::from_millis((2000.0 / scale).clamp(250.0, 2000.0) as u64)
}

/// Remote: starts the deployment through the start function and, with `--wait`, follows it
/// through the control function until it ends. The deployment runs in AWS either way.
async fn follow(
    remote: &Remote,
    req: &StartRequest,
    args: &DeployArgs,
    mut progress: Progress,
) -> Result<u8, Failure> {
    remote.check(Role::Start)?;
    if args.wait {
        // Refuse before starting a deployment that could not be followed.
        remote.check(Role::Control)?;
    }
    let answer = remote.start(req).await?;
    let Some(id) = answer["deploymentId"].as_str().map(str::to_string) else {
        return Err(Failure {
            code: EXIT_ENDED_BADLY,
            error_code: "FunctionError".into(),
            message: format!("the start function answered without a deploymentId: {answer}"),
        });
    };
    // The start function answers only the id and status: the rest comes from `control`.
    let mut last = None;
    if remote.has_control() {
        match remote_status(remote, &id).await {
            Ok(shown) => last = Some(shown),
            Err(e) => eprintln!(
                "warning: {id} started, but its status could not be read: {}",
                e.message
            ),
        }
    }
    match &last {
        Some((_, view)) => progress.say(&started_line(view)),
        None => progress.say(&format!(
            "started {id} ({})",
            answer["status"].as_str().unwrap_or("Created")
        )),
    }
    if !args.wait {
        if progress.json {
            let summary = last.map_or(answer, |(summary, _)| summary);
            println!("{summary}");
        }
        return Ok(EXIT_OK);
    }
    let poll = poll_interval(args.time_scale);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut failures = 0u32;
    loop {
        if let Some(shown) = &last {
            progress.show(&shown.1);
            if shown.1.is_done() {
                return Ok(progress.end(shown));
            }
        }
        let next = async {
            tokio::time::sleep(poll).await;
            remote_status(remote, &id).await
        };
        tokio::select! {
            read = next => match read {
                Ok(shown) => {
                    failures = 0;
                    last = Some(shown);
                }
                Err(e) => {
                    // The deployment goes on without us: a failure of the moment is retried
                    // for a while, a refusal (access denied, say) is not. Either way the
                    // deployment started, so this is no "nothing changed" refusal (2).
                    failures += 1;
                    if e.code == EXIT_REFUSED || failures >= 10 {
                        return Err(Failure {
                            code: EXIT_ENDED_BADLY,
                            message: format!(
                                "{}; {id} goes on in AWS: follow it with `cutover status {id}`",
                                e.message
                            ),
                            ..e
                        });
                    }
                    eprintln!("warning: reading {id} failed ({failures}): {}", e.message);
                }
            },
            _ = &mut ctrl_c => {
                progress.say(&format!(
                    "interrupted: stopped waiting; {id} goes on in AWS. Follow it with \
                     `cutover status {id}`, stop it with `cutover stop {id} --rollback`"
                ));
                if let (true, Some((summary, _))) = (progress.json, &last) {
                    println!("{summary}");
                }
                return Ok(EXIT_INTERRUPTED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_polls_every_two_seconds_or_faster_under_a_time_scale() {
        assert_eq!(poll_interval(1.0), Duration::from_secs(2));
        assert_eq!(poll_interval(f64::NAN), Duration::from_secs(2));
        assert_eq!(poll_interval(4.0), Duration::from_millis(500));
        assert_eq!(poll_interval(60.0), Duration::from_millis(250));
    }
}
