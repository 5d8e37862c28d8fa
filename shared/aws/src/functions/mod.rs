//! Handlers of the Lambda functions. Each binary in `functions/` is `main` around one of
//! these; tests call them directly.

use crate::error::{Error, Result};
use crate::service::{Cutover, StartRequest};
use cutover_core::model::{Deployment, Observation};
use lambda_runtime::tracing;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

mod driver;
mod operator;
pub use driver::*;
pub use operator::*;

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
            serde_json::from_str(include_str!("../../../../statemachine/driver.asl.json")).unwrap();
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
        let start: StartRequest = round_trip(include_str!("../../../../events/start.json"));
        let ecs: StartRequest = round_trip(include_str!("../../../../events/start-ecs.json"));
        assert_eq!(ecs.group.as_deref(), Some("shop/web-prod"));
        assert!(cutover_core::appspec::AppSpec::parse(&ecs.appspec).is_ok());
        assert_eq!(
            start.config.as_deref(),
            Some("CodeDeployDefault.LambdaCanary10Percent5Minutes")
        );
        let spec = cutover_core::appspec::AppSpec::parse(&start.appspec)
            .expect("fixture AppSpec is valid");
        assert_eq!(spec.hooks.len(), 2);
        let adv: AdvanceInput = round_trip(include_str!("../../../../events/advance.json"));
        check_id(&adv.deployment_id).unwrap();
        let rep: HookReportInput = round_trip(include_str!("../../../../events/hook-report.json"));
        assert_eq!(rep.status, "Succeeded");
        for text in [
            include_str!("../../../../events/control-stop.json"),
            include_str!("../../../../events/control-continue.json"),
            include_str!("../../../../events/control-status.json"),
            include_str!("../../../../events/control-list.json"),
        ] {
            let _: ControlInput = round_trip(text);
        }
        let alarm: Value =
            serde_json::from_str(include_str!("../../../../events/alarm.json")).unwrap();
        assert_eq!(
            alarm.pointer("/detail/state/value").and_then(Value::as_str),
            Some("ALARM")
        );
        let hook: Value =
            serde_json::from_str(include_str!("../../../../events/hook-invocation.json")).unwrap();
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
