//! `cutover deploy`: start, then drive (`--local`) or follow the deployment.

use crate::read_input;
use crate::render::progress_line;
use crate::{DeployArgs, Failure, Output, EXIT_ENDED_BADLY, EXIT_OK, EXIT_REFUSED};
use cutover_aws::service::{now_ms, StartRequest};
use cutover_aws::{Cutover, Error};
use cutover_core::model::{DeploymentStatus, Observation};
use serde_json::json;
use std::io::Write;
use std::time::Duration;

pub(crate) async fn deploy(app: &Cutover, args: DeployArgs) -> Result<u8, Failure> {
    let appspec = read_input(&args.appspec, "--appspec")?;
    let req = StartRequest {
        appspec,
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
    };
    let json_out = args.out.output == Output::Json;
    let say = |line: String| {
        if json_out {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    };
    if !args.local && args.state_machine_arn.is_none() {
        return Err(Failure {
            code: EXIT_REFUSED,
            error_code: "NoDriver".into(),
            message: "no state machine to run the deployment: pass --local to run it in this process, or set CUTOVER_STATE_MACHINE_ARN (an output of `sam deploy`)".into(),
        });
    }
    if args.local {
        app.store.ensure_table().await.map_err(|e| Failure {
            code: EXIT_REFUSED,
            error_code: e.code().to_string(),
            message: format!("cannot prepare table {}: {e}", app.store.table()),
        })?;
    }
    // Anything that fails here failed before anything changed: exit 2.
    let refused = |e: Error| {
        let mut f = Failure::from(e);
        f.code = EXIT_REFUSED;
        f
    };
    let dep = app.start(&req).await.map_err(refused)?;
    let started = now_ms();
    say(format!(
        "started {}: {} with {} ({})",
        dep.id,
        dep.target.describe(),
        dep.config.name,
        dep.config.describe()
    ));
    if !args.local {
        let sdk = cutover_aws::clients::aws_config().await;
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let arn = args.state_machine_arn.clone().unwrap_or_default();
        let input = json!({"deploymentId": dep.id}).to_string();
        if let Err(e) = sfn
            .start_execution()
            .state_machine_arn(&arn)
            .name(&dep.id)
            .input(input)
            .send()
            .await
        {
            // Nothing moved yet: stop the recorded deployment so the alias is free again.
            let _ = app
                .stop(
                    &dep.id,
                    Some(false),
                    Some("the state machine could not be started".into()),
                )
                .await;
            return Err(Error::aws("StepFunctions", "StartExecution", &e).into());
        }
        if !args.wait {
            if json_out {
                println!("{}", dep.summary());
            }
            return Ok(EXIT_OK);
        }
    }
    if !args.wait && !args.local {
        return Ok(EXIT_OK);
    }
    let mut last_line = String::new();
    let mut last_print = 0u64;
    let id = dep.id.clone();
    let mut failures = 0u32;
    let mut interrupted = false;
    let end = loop {
        let (dep, wake) = if args.local {
            match app.tick(&id, Observation::default()).await {
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
            }
        } else {
            let d = app.store.load(&dep.id).await?;
            let done = d.is_done();
            (d, if done { None } else { Some(2000) })
        };
        let line = progress_line(&dep, started);
        let key = format!("{:?}{}{:?}", dep.phase, dep.traffic, dep.status);
        if key != last_line || now_ms() - last_print > 10_000 {
            say(line);
            last_line = key;
            last_print = now_ms();
        }
        let Some(ms) = wake else { break dep };
        let sleep = tokio::time::sleep(Duration::from_millis(ms.clamp(10, 2000)));
        tokio::select! {
            _ = sleep => {}
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                if args.local {
                    // Nothing half-applied: this process drives the deployment, so end it.
                    say(format!("interrupted: stopping {id} and rolling back to {}", dep.target.current_label()));
                    let reason = Some("interrupted (Ctrl-C) during cutover deploy --local".to_string());
                    app.stop(&id, Some(true), reason).await?;
                } else {
                    say(format!("interrupted: {id} goes on in the state machine; follow it with `cutover status {id}`"));
                    break dep;
                }
            }
        }
        if !args.wait && !args.local {
            break dep;
        }
    };
    if json_out {
        println!("{}", end.summary());
    }
    Ok(if end.status == DeploymentStatus::Succeeded {
        EXIT_OK
    } else {
        EXIT_ENDED_BADLY
    })
}
