//! The driver: the Step Functions execution that ticks a deployment, started, found again
//! and woken.

use super::*;

/// Starts a deployment (or finds the one its client token started) and makes sure the
/// driver runs it.
pub async fn start_and_drive(app: &App, req: &StartRequest) -> Result<Deployment> {
    let (dep, created) = app.cutover.start_once(req).await?;
    if let Some((sfn, arn)) = app.driver.as_ref().filter(|_| created || !dep.is_done()) {
        let input = json!({"deploymentId": dep.id}).to_string();
        let res = sfn
            .start_execution()
            .state_machine_arn(arn)
            .name(&dep.id)
            .input(input)
            .send()
            .await;
        if let Err(e) = res {
            let already = e
                .as_service_error()
                .is_some_and(|s| s.is_execution_already_exists());
            if !already {
                if created {
                    // Nothing moved yet: end the recorded deployment so the target is free
                    // again. (A deployment found by its client token is someone else's to
                    // end.)
                    let reason = Some("the state machine could not be started".to_string());
                    let _ = app.cutover.stop(&dep.id, Some(false), reason).await;
                }
                return Err(Error::aws("StepFunctions", "StartExecution", &e));
            }
        }
    }
    Ok(dep)
}

/// Starts the state machine on an unfinished deployment again (`cutover drive`), as a new
/// execution named `<id>-<ms>`: refused while an execution of it is running, so one
/// deployment never has two drivers.
pub async fn redrive(app: &App, id: &str) -> Result<Deployment> {
    let dep = app.cutover.store.load(id).await?;
    if dep.is_done() {
        return Ok(dep);
    }
    let Some((sfn, arn)) = &app.driver else {
        return Err(Error::refused(
            "NoDriver",
            "this function has no state machine to drive deployments (CUTOVER_STATE_MACHINE_ARN); drive it with `cutover drive ID --local`",
        ));
    };
    if let Some(running) = running_executions(sfn, arn, id).await?.first() {
        return Err(Error::refused(
            "DeploymentBeingDriven",
            format!(
                "deployment {id} is being driven by execution {} of the state machine; follow it with `cutover status {id}`",
                running.name()
            ),
        ));
    }
    let name = format!("{id}-{}", crate::service::now_ms());
    start_driver(sfn, arn, id, &name).await?;
    tracing::info!(deployment = %id, execution = %name, "driver started again");
    Ok(dep)
}

/// Starts execution `name` of the driver state machine on deployment `id`.
pub(super) async fn start_driver(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    id: &str,
    name: &str,
) -> Result<()> {
    sfn.start_execution()
        .state_machine_arn(arn)
        .name(name)
        .input(json!({"deploymentId": id}).to_string())
        .send()
        .await
        .map_err(|e| Error::aws("StepFunctions", "StartExecution", &e))?;
    Ok(())
}

/// The running executions of the state machine that drive deployment `id` (named `<id>`
/// or `<id>-...`).
pub(super) async fn running_executions(
    sfn: &aws_sdk_sfn::Client,
    arn: &str,
    id: &str,
) -> Result<Vec<aws_sdk_sfn::types::ExecutionListItem>> {
    let mut pages = sfn
        .list_executions()
        .state_machine_arn(arn)
        .status_filter(aws_sdk_sfn::types::ExecutionStatus::Running)
        .into_paginator()
        .send();
    let prefix = format!("{id}-");
    let mut found = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| Error::aws("StepFunctions", "ListExecutions", &e))?;
        found.extend(
            page.executions()
                .iter()
                .filter(|e| e.name() == id || e.name().starts_with(&prefix))
                .cloned(),
        );
    }
    Ok(found)
}

/// Wakes the driver of a deployment after an input changed it (a stop, a `continue`, a
/// hook's report, an alarm): starts a new execution (`<id>-w<ms>`) that ticks now, then
/// stops the ones that were sleeping (only stops them when the input ended the
/// deployment and nothing is left to send). This is what lets the state machine
/// sleep until the next deadline instead of polling for inputs. A failure is logged, not
/// returned: the input is saved, and the sleeping driver still wakes at its deadline or
/// alarm poll. (A wake that dies between the start and the stops leaves two drivers for a
/// while; ticks are fenced, so that costs ticks, not safety, and the next wake stops the
/// extra one.)
pub async fn wake_driver(app: &App, dep: &Deployment) {
    let Some((sfn, arn)) = &app.driver else {
        return;
    };
    let id = dep.id.as_str();
    // Ended by the input with nothing left to send: the sleeping driver has nothing to do.
    let ended = dep.is_done() && dep.outbox.is_empty();
    let woke = async {
        let sleeping = running_executions(sfn, arn, id).await?;
        let cause = if ended {
            "the deployment ended".to_string()
        } else {
            let name = format!("{id}-w{}", crate::service::now_ms());
            start_driver(sfn, arn, id, &name).await?;
            format!("woken by an input: {name} drives the deployment now")
        };
        for e in &sleeping {
            sfn.stop_execution()
                .execution_arn(e.execution_arn())
                .cause(&cause)
                .send()
                .await
                .map_err(|e| Error::aws("StepFunctions", "StopExecution", &e))?;
        }
        Ok::<_, Error>(cause)
    };
    match woke.await {
        Ok(cause) => tracing::info!(deployment = %id, %cause, "driver woken"),
        Err(e) => {
            tracing::warn!(deployment = %id, error = %e, "driver not woken; it ticks at its next deadline")
        }
    }
}
