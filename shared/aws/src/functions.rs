//! Handlers of the Lambda functions. Each binary in `functions/` is `main` around one of
//! these; tests call them directly.

use crate::error::{Error, Result};
use crate::service::{Cutover, StartRequest};
use cutover_core::model::{Deployment, Observation};
use lambda_runtime::tracing;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Largest event a function accepts, in bytes of JSON.
pub const MAX_EVENT_BYTES: usize = 128 * 1024;

/// The shared state of a function: adapters built once, and the state machine to start.
#[derive(Debug, Clone)]
pub struct App {
    /// The adapters.
    pub cutover: Cutover,
    /// Step Functions client and state machine ARN (`CUTOVER_STATE_MACHINE_ARN`).
    pub driver: Option<(aws_sdk_sfn::Client, String)>,
    /// The SDK configuration the clients were built from (the `pipeline` function builds
    /// its artifact S3 client from it, with the job's credentials).
    pub sdk: aws_config::SdkConfig,
    /// CodePipeline client, for job results.
    pub codepipeline: aws_sdk_codepipeline::Client,
}

impl App {
    /// An app on `cutover`'s adapters, with no driver.
    pub fn new(sdk: &aws_config::SdkConfig, cutover: Cutover) -> App {
        App {
            cutover,
            driver: None,
            sdk: sdk.clone(),
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
        }
    }

    /// Hands started deployments to this state machine.
    pub fn with_driver(mut self, sfn: aws_sdk_sfn::Client, arn: String) -> App {
        self.driver = Some((sfn, arn));
        self
    }
}

/// Builds the app from the environment: call once in `main`, before the runtime loop.
/// Logs go through the runtime's own subscriber: JSON lines with a `level` when Lambda's
/// `LoggingConfig` says `LogFormat: JSON` (`AWS_LAMBDA_LOG_FORMAT`), at the level it
/// passes (`AWS_LAMBDA_LOG_LEVEL`), on stdout, each inside the invocation's span (its
/// request id).
pub async fn init() -> App {
    tracing::init_default_subscriber();
    crate::metrics::enable_from_env();
    let sdk = crate::clients::aws_config().await;
    let mut cutover = crate::clients::build(&sdk, &crate::clients::Settings::from_env());
    // A time scale turns a 30-minute bake into seconds: the deployed functions accept one
    // only when the stack says so (its AllowTimeScale parameter).
    cutover.defaults.allow_time_scale =
        std::env::var("CUTOVER_ALLOW_TIME_SCALE").is_ok_and(|v| v.trim() == "true");
    let app = App::new(&sdk, cutover);
    match std::env::var("CUTOVER_STATE_MACHINE_ARN")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Some(arn) => app.with_driver(aws_sdk_sfn::Client::new(&sdk), arn),
        None => app,
    }
}

/// Refuses an event over [`MAX_EVENT_BYTES`].
pub(crate) fn check_size(event: &Value, what: &str) -> Result<()> {
    let size = serde_json::to_vec(event)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_EVENT_BYTES {
        return Err(Error::refused(
            "InvalidEvent",
            format!("{what}: event of {size} bytes is over the {MAX_EVENT_BYTES}-byte limit"),
        ));
    }
    Ok(())
}

fn parse<T: for<'de> Deserialize<'de>>(event: Value, what: &str) -> Result<T> {
    check_size(&event, what)?;
    serde_json::from_value(event)
        .map_err(|e| Error::refused("InvalidEvent", format!("{what}: {e}")))
}

fn check_id(id: &str) -> Result<()> {
    let ok = id.len() == 11
        && id.starts_with("d-")
        && id[2..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(Error::refused(
            "InvalidDeploymentId",
            format!("deploymentId: {id:?} is not a deployment id (d- and nine letters or digits)"),
        ))
    }
}

/// Input of the `advance` function (the Step Functions loop).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvanceInput {
    /// The deployment.
    pub deployment_id: String,
    /// How many ticks this execution made before (0 for a new execution).
    #[serde(default)]
    pub iteration: u32,
}

/// Ticks one execution of the driver makes before it continues as a new execution: about
/// nine history events a tick keeps it far below Step Functions' 25,000-event limit
/// (`CUTOVER_DRIVER_ITERATIONS` overrides it, for tests).
pub const DRIVER_ITERATIONS: u32 = 1500;

/// Output of `advance` and `start`: what the state machine's Choice and Wait states read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdvanceOutput {
    /// The deployment.
    pub deployment_id: String,
    /// Its status.
    pub status: String,
    /// Whether the loop can end.
    pub done: bool,
    /// Seconds for the Wait state (at least 1).
    pub wait_seconds: u64,
    /// Ticks this execution made so far.
    #[serde(default)]
    pub iteration: u32,
    /// This execution started its successor and ends here.
    #[serde(default)]
    pub continue_as_new: bool,
}

fn advance_output(outcome: &crate::service::TickOutcome) -> AdvanceOutput {
    AdvanceOutput {
        iteration: 0,
        continue_as_new: false,
        deployment_id: outcome.deployment.id.clone(),
        status: outcome.deployment.status().as_str().to_string(),
        done: outcome.sleep_after.is_none(),
        // Inputs wake the driver (`wake_driver`): it sleeps until the next deadline.
        wait_seconds: outcome
            .sleep_after
            .map(|ms| ms.div_ceil(1000).max(1))
            .unwrap_or(0),
    }
}

/// `detail-type` of the EventBridge event that asks for a deployment.
pub const DEPLOYMENT_REQUESTED: &str = "Cutover Deployment Requested";

/// Reads the `start` function's input: a [`StartRequest`] as it is (the CLI, a direct
/// invoke), or an EventBridge [`DEPLOYMENT_REQUESTED`] event whose `detail` is one. An
/// event's id is its idempotency key unless the detail carries a `clientToken`, so an
/// event delivered twice starts one deployment.
pub fn start_request(event: Value) -> Result<StartRequest> {
    let Some(detail_type) = event.get("detail-type") else {
        return parse(event, "start");
    };
    if detail_type != DEPLOYMENT_REQUESTED {
        return Err(Error::refused(
            "InvalidEvent",
            format!("start: detail-type {detail_type} is not {DEPLOYMENT_REQUESTED:?}; route only that event to this function"),
        ));
    }
    let id = event.get("id").and_then(Value::as_str).map(str::to_string);
    let mut event = event;
    let detail = event
        .get_mut("detail")
        .filter(|d| d.is_object())
        .map(Value::take)
        .ok_or_else(|| {
            Error::refused(
                "InvalidEvent",
                "start: the event's detail must be an object holding the start request (appspec, group, config, ...)",
            )
        })?;
    let mut req: StartRequest = parse(detail, "detail")?;
    if req.client_token.is_none() {
        req.client_token = id;
    }
    Ok(req)
}

/// `start`: validates and records a deployment, then starts the state machine on it (the
/// execution is named after the deployment, so starting twice is harmless).
pub async fn start(app: &App, event: Value) -> Result<Value> {
    let req = start_request(event)?;
    let dep = start_and_drive(app, &req).await?;
    Ok(json!({"deploymentId": dep.id, "status": dep.status().as_str()}))
}

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
async fn start_driver(sfn: &aws_sdk_sfn::Client, arn: &str, id: &str, name: &str) -> Result<()> {
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
async fn running_executions(
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

/// `advance`: one tick of the Step Functions loop.
pub async fn advance(app: &App, event: Value) -> Result<AdvanceOutput> {
    let input: AdvanceInput = parse(event, "advance")?;
    check_id(&input.deployment_id)?;
    let outcome = app
        .cutover
        .tick(&input.deployment_id, Observation::default())
        .await?;
    let mut out = advance_output(&outcome);
    out.iteration = input.iteration.saturating_add(1);
    let limit = std::env::var("CUTOVER_DRIVER_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DRIVER_ITERATIONS);
    if let (false, true, Some((sfn, arn))) = (out.done, out.iteration >= limit, &app.driver) {
        // Continue as a new execution of the same deployment before the history grows
        // too long; if that fails, this one goes on and tries again at its next tick.
        let name = format!("{}-c{}", input.deployment_id, crate::service::now_ms());
        let started = start_driver(sfn, arn, &input.deployment_id, &name).await;
        match started {
            Ok(_) => {
                tracing::info!(deployment = %input.deployment_id, execution = %name, "driver continued as a new execution");
                out.continue_as_new = true;
            }
            Err(e) => {
                tracing::warn!(deployment = %input.deployment_id, error = %e, "driver could not continue as a new execution; it goes on")
            }
        }
    }
    Ok(out)
}

/// Input of `hook-report`, CodeDeploy's `PutLifecycleEventHookExecutionStatus`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookReportInput {
    /// The deployment.
    pub deployment_id: String,
    /// The id the hook was invoked with.
    pub lifecycle_event_hook_execution_id: String,
    /// `Succeeded` or `Failed`.
    pub status: String,
}

/// `hook-report`: a hook's verdict, reported later.
pub async fn hook_report(app: &App, event: Value) -> Result<Value> {
    let input: HookReportInput = parse(event, "hook-report")?;
    check_id(&input.deployment_id)?;
    let outcome = app
        .cutover
        .hook_report(
            &input.deployment_id,
            &input.lifecycle_event_hook_execution_id,
            &input.status,
        )
        .await?;
    wake_driver(app, &outcome.deployment).await;
    Ok(json!({
        "deploymentId": outcome.deployment.id,
        "lifecycleEventHookExecutionId": input.lifecycle_event_hook_execution_id,
        "status": outcome.deployment.status().as_str(),
    }))
}

/// `alarm`: an EventBridge "CloudWatch Alarm State Change" event. Ticks, at once, every
/// active deployment that watches the alarm when it enters ALARM.
pub async fn alarm(app: &App, event: Value) -> Result<Value> {
    let name = event.pointer("/detail/alarmName").and_then(Value::as_str);
    let state = event.pointer("/detail/state/value").and_then(Value::as_str);
    let (Some(name), Some(state)) = (name, state) else {
        return Err(Error::refused(
            "InvalidEvent",
            "alarm: expected a CloudWatch Alarm State Change event with detail.alarmName and detail.state.value",
        ));
    };
    if state != "ALARM" {
        return Ok(json!({"alarmName": name, "state": state, "ticked": []}));
    }
    let outcomes = app.cutover.on_alarm(name).await?;
    for o in &outcomes {
        wake_driver(app, &o.deployment).await;
    }
    let ticked: Vec<Value> = outcomes
        .iter()
        .map(|o| json!({"deploymentId": o.deployment.id, "status": o.deployment.status().as_str(), "rolledBack": o.deployment.rolled_back()}))
        .collect();
    Ok(json!({"alarmName": name, "state": state, "ticked": ticked}))
}

/// Input of `control`: operator actions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ControlInput {
    /// Stop a deployment.
    #[serde(rename_all = "camelCase")]
    Stop {
        /// The deployment.
        deployment_id: String,
        /// Put traffic back on the current version; when absent, the deployment group's
        /// `autoRollback.onStop` decides.
        #[serde(default)]
        rollback: Option<bool>,
        /// End the deployment now without touching its target (status Stopped, error code
        /// ABANDONED), whatever its state.
        #[serde(default)]
        force: bool,
        /// The driver itself asks (its GiveUp state, after Advance kept failing): no new
        /// driver is woken, which would fail the same way and give up again, for ever.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        from_driver: bool,
        /// Who asks, as the caller reports it (the CLI's STS caller identity).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Resume an unfinished deployment: start the state machine on it again, unless an
    /// execution of it is still running.
    #[serde(rename_all = "camelCase")]
    Drive {
        /// The deployment.
        deployment_id: String,
    },
    /// Release a deployment waiting at Ready, or end its termination wait early.
    #[serde(rename_all = "camelCase")]
    Continue {
        /// The deployment.
        deployment_id: String,
        /// Who asks, as the caller reports it (the CLI's STS caller identity).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Read a deployment's status.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The deployment.
        deployment_id: String,
    },
    /// List deployments.
    #[serde(rename_all = "camelCase")]
    List {
        /// Only active ones.
        #[serde(default)]
        active: bool,
    },
}

/// A stop's reason with who asked, when the caller said.
pub fn with_requester(reason: &str, requested_by: Option<&str>) -> String {
    match requested_by {
        Some(who) => format!("{reason}; {}", cutover_core::text::requested_by(who)),
        None => reason.to_string(),
    }
}

/// `control`: stop and continue (and, for callers of earlier versions, status and list;
/// reading alone is `query`'s).
pub async fn control(app: &App, event: Value) -> Result<Value> {
    match parse::<ControlInput>(event, "control")? {
        ControlInput::Stop {
            deployment_id,
            force: true,
            requested_by,
            ..
        } => {
            check_id(&deployment_id)?;
            let reason = with_requester(
                "`stop --force` through the control function",
                requested_by.as_deref(),
            );
            let o = app.cutover.abandon(&deployment_id, Some(reason)).await?;
            Ok(o.deployment.summary())
        }
        ControlInput::Drive { deployment_id } => {
            check_id(&deployment_id)?;
            Ok(redrive(app, &deployment_id).await?.summary())
        }
        ControlInput::Stop {
            deployment_id,
            rollback,
            force: false,
            from_driver,
            requested_by,
        } => {
            check_id(&deployment_id)?;
            let reason = with_requester(
                "stopped through the control function",
                requested_by.as_deref(),
            );
            let o = app
                .cutover
                .stop(&deployment_id, rollback, Some(reason))
                .await?;
            if !from_driver {
                wake_driver(app, &o.deployment).await;
            }
            Ok(o.deployment.summary())
        }
        ControlInput::Continue {
            deployment_id,
            requested_by,
        } => {
            check_id(&deployment_id)?;
            let o = app
                .cutover
                .proceed_by(&deployment_id, requested_by.as_deref())
                .await?;
            wake_driver(app, &o.deployment).await;
            Ok(o.deployment.summary())
        }
        ControlInput::Status { deployment_id } => {
            check_id(&deployment_id)?;
            Ok(app.cutover.store.load(&deployment_id).await?.summary())
        }
        ControlInput::List { active } => {
            let list = app.cutover.store.list(active).await?;
            Ok(Value::Array(list.iter().map(|d| d.summary()).collect()))
        }
    }
}

/// Input of `query`: reading deployments, granted apart from changing them (`control`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum QueryInput {
    /// Read a deployment's status.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The deployment.
        deployment_id: String,
    },
    /// One page of deployments: the active ones first, each part newest first.
    #[serde(rename_all = "camelCase")]
    List {
        /// Only active ones.
        #[serde(default)]
        active: bool,
        /// At most this many (1 to 100; 50 when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// The `nextToken` of the previous page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    },
}

/// The page size of `list` when the request gives none.
pub const DEFAULT_PAGE: usize = 50;

/// `query`: status and list, read-only (its role may only read the table).
pub async fn query(app: &App, event: Value) -> Result<Value> {
    match parse::<QueryInput>(event, "query")? {
        QueryInput::Status { deployment_id } => {
            check_id(&deployment_id)?;
            Ok(app.cutover.store.load(&deployment_id).await?.summary())
        }
        QueryInput::List {
            active,
            limit,
            next_token,
        } => {
            let page = app
                .cutover
                .store
                .list_page(active, limit.unwrap_or(DEFAULT_PAGE), next_token.as_deref())
                .await?;
            Ok(json!({
                "deployments": page.deployments.iter().map(|d| d.summary()).collect::<Vec<_>>(),
                "nextToken": page.next_token,
            }))
        }
    }
}

/// Turns a handler's error into the function's error response: `errorType` is the error's
/// code (`InvalidAppSpec`, `DeploymentInProgress`, `AwsError`, ...), `errorMessage` its
/// message, so callers (the CLI in remote mode, CodePipeline, Step Functions' `Catch`) can
/// tell a refusal from a failure without parsing text.
pub fn to_runtime_error(e: Error) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: e.code().to_string(),
        error_message: e.to_string(),
    }
}

/// Whether a function error of this `errorType` (an [`Error::code`]) is a failure of the
/// moment — AWS, a lost race, a corrupt record — rather than a refusal of the request that
/// would be refused again.
pub fn is_failure_code(code: &str) -> bool {
    matches!(code, "AwsError" | "Conflict" | "CorruptRecord")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Serialize + for<'de> Deserialize<'de>>(text: &str) -> T {
        let value: Value = serde_json::from_str(text).expect("fixture is JSON");
        let parsed: T = parse(value.clone(), "fixture").expect("fixture parses");
        let again: T = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&again).unwrap(),
            serde_json::to_value(&parsed).unwrap()
        );
        parsed
    }

    #[test]
    fn the_drivers_own_stop_wakes_no_driver() {
        // What the state machine's GiveUp state sends (its payload, with the id filled).
        let asl: Value =
            serde_json::from_str(include_str!("../../../statemachine/driver.asl.json")).unwrap();
        let mut payload = asl["States"]["GiveUp"]["Parameters"]["Payload"].clone();
        let map = payload.as_object_mut().unwrap();
        map.remove("deploymentId.$");
        map.insert("deploymentId".into(), json!("d-ABCDEFGHI"));
        match parse::<ControlInput>(payload, "control").unwrap() {
            ControlInput::Stop {
                from_driver,
                rollback,
                ..
            } => assert!(from_driver && rollback == Some(true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fixtures_parse_into_the_function_inputs() {
        let start: StartRequest = round_trip(include_str!("../../../events/start.json"));
        let ecs: StartRequest = round_trip(include_str!("../../../events/start-ecs.json"));
        assert_eq!(ecs.group.as_deref(), Some("shop/web-prod"));
        assert!(cutover_core::appspec::AppSpec::parse(&ecs.appspec).is_ok());
        assert_eq!(
            start.config.as_deref(),
            Some("CodeDeployDefault.LambdaCanary10Percent5Minutes")
        );
        let spec = cutover_core::appspec::AppSpec::parse(&start.appspec)
            .expect("fixture AppSpec is valid");
        assert_eq!(spec.hooks.len(), 2);
        let adv: AdvanceInput = round_trip(include_str!("../../../events/advance.json"));
        check_id(&adv.deployment_id).unwrap();
        let rep: HookReportInput = round_trip(include_str!("../../../events/hook-report.json"));
        assert_eq!(rep.status, "Succeeded");
        for text in [
            include_str!("../../../events/control-stop.json"),
            include_str!("../../../events/control-continue.json"),
            include_str!("../../../events/control-status.json"),
            include_str!("../../../events/control-list.json"),
        ] {
            let _: ControlInput = round_trip(text);
        }
        let alarm: Value =
            serde_json::from_str(include_str!("../../../events/alarm.json")).unwrap();
        assert_eq!(
            alarm.pointer("/detail/state/value").and_then(Value::as_str),
            Some("ALARM")
        );
        let hook: Value =
            serde_json::from_str(include_str!("../../../events/hook-invocation.json")).unwrap();
        for key in [
            "DeploymentId",
            "LifecycleEventHookExecutionId",
            "CurrentVersion",
            "TargetVersion",
            "TrafficWeight",
        ] {
            assert!(hook.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn hostile_events_are_refused() {
        let big = json!({"deploymentId": "d-AAAAAAAAA", "pad": "x".repeat(MAX_EVENT_BYTES)});
        assert_eq!(
            parse::<Value>(big, "advance").unwrap_err().code(),
            "InvalidEvent"
        );
        let unknown = json!({"appspec": "x", "surprise": true});
        assert!(parse::<StartRequest>(unknown, "start")
            .unwrap_err()
            .to_string()
            .contains("surprise"));
        for bad in [
            "",
            "d-",
            "d-abcdefghi",
            "d-AAAAAAAAAA",
            "../../etc",
            "d-AAAA#AAAA",
        ] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
        check_id("d-7Q2K9X4MB").unwrap();
    }
}
