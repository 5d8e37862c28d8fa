//! `cutover deploy`: start, then drive the deployment (`--local`) or follow it through the
//! deployed control function (`--wait`).

use crate::drive::{Lease, Progress, Signals};
use crate::remote::{Remote, Role};
use crate::render::{started_line, View};
use crate::{read_input, remote_status, Mode};
use crate::{
    DeployArgs, Failure, Output, EXIT_ENDED_BADLY, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED,
};
use cutover_aws::service::StartRequest;
use cutover_aws::{Cutover, Error};
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
        requested_by: crate::caller::arn(),
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

/// `--local`: records the deployment and runs its loop in this process, to the end, under
/// a driver lease (see [`crate::drive`]).
async fn local(app: &Cutover, req: &StartRequest, progress: Progress) -> Result<u8, Failure> {
    // Listening from the start: a signal during the first tick is handled like any other.
    let signals = Signals::new();
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
    let owner = crate::drive::owner();
    let Some(lease) = Lease::take(app, &id, &owner, true, &progress).await? else {
        let dep = app.store.load(&id).await?;
        return Ok(progress.end(&(dep.summary(), View::of(&dep))));
    };
    crate::drive::run(app, &id, lease, signals, progress).await
}

/// How often `--wait` reads the status: every 2 s, faster under `--time-scale`.
pub(crate) fn poll_interval(time_scale: f64) -> Duration {
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
    progress: Progress,
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
    follow_to_end(remote, &id, last, poll_interval(args.time_scale), progress).await
}

/// Reads the deployment through the control function until it ends, printing progress;
/// Ctrl-C only stops waiting (exit 130). `last` is the status already read, if any.
pub(crate) async fn follow_to_end(
    remote: &Remote,
    id: &str,
    mut last: Option<crate::Shown>,
    poll: Duration,
    mut progress: Progress,
) -> Result<u8, Failure> {
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
            remote_status(remote, id).await
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
