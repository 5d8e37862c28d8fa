//! Running Cutover's real function binaries as Lambda functions of the emulator: each is
//! registered with `seed runtime` and polls the emulator's Lambda Runtime API, so a Lambda
//! Invoke, an EventBridge target or a Step Functions task reaches the binary as in AWS.

use crate::{repo, sdk_config, seed, unique, REGION};
use aws_sdk_lambda::primitives::Blob;
use cutover_aws::store::Store;
use cutover_core::model::Deployment;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A function binary serving invocations of a Lambda function in the emulator.
pub struct Function {
    /// The Lambda function's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Where the binary's stdout and stderr go (what Lambda sends to CloudWatch Logs).
    pub log: PathBuf,
    child: Child,
}

impl Function {
    /// The binary's output so far, one entry per line.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The function binary `name` built next to the test binaries.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// Registers a new Lambda function for `binary` and starts the binary on its runtime API,
/// with the stack's settings in `env` (CUTOVER_TABLE, ...). Logs go to
/// `target/function-logs/NAME.log`.
pub fn serve(binary_name: &str, env: &[(&str, &str)]) -> Function {
    let name = unique(&format!("cutover-{binary_name}"));
    let out = seed(&["runtime", "--name", &name]);
    let arn = out["functionArn"]
        .as_str()
        .expect("functionArn")
        .to_string();
    let bin = binary(binary_name);
    let logs = bin.parent().unwrap().join("function-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log_path = logs.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = Command::new(bin);
    for (k, v) in out["env"].as_object().expect("env") {
        cmd.env(k, v.as_str().unwrap());
    }
    // As Lambda sets them for the template's LoggingConfig (JSON, INFO).
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
        // The tests shorten their deployments (the stack's AllowTimeScale=true).
        .env("CUTOVER_ALLOW_TIME_SCALE", "true")
        .env_remove("RUST_LOG")
        .env_remove("CUTOVER_TOPIC_ARN")
        .env_remove("CUTOVER_EVENT_BUS")
        .env_remove("CUTOVER_STATE_MACHINE_ARN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the function binary");
    Function {
        name,
        arn,
        log: log_path,
        child,
    }
}

/// A fixture of `events/`.
pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("events").join(name)).expect(name);
    serde_json::from_str(&text).expect(name)
}

/// Invokes a function; `Err((errorType, errorMessage))` for a function error.
pub async fn invoke(name: &str, payload: &Value) -> Result<Value, (String, String)> {
    let lambda = aws_sdk_lambda::Client::new(&sdk_config().await);
    let out = lambda
        .invoke()
        .function_name(name)
        .payload(Blob::new(serde_json::to_vec(payload).unwrap()))
        .send()
        .await
        .expect("invoke");
    let body: Value = out
        .payload()
        .map(|b| serde_json::from_slice(b.as_ref()).expect("JSON payload"))
        .unwrap_or(Value::Null);
    match out.function_error() {
        Some(_) => Err((
            body["errorType"].as_str().unwrap_or("?").to_string(),
            body["errorMessage"].as_str().unwrap_or("?").to_string(),
        )),
        None => Ok(body),
    }
}

/// The `live` alias of `function`: its version and the extra version it routes to, if any.
pub async fn alias_version(function: &str) -> (String, Option<String>) {
    let lambda = aws_sdk_lambda::Client::new(&sdk_config().await);
    let a = lambda
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap();
    let extra = a
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .and_then(|w| w.keys().next().cloned());
    (a.function_version().unwrap().to_string(), extra)
}

/// A fresh Cutover table: its name and a store on it.
pub async fn table() -> (String, Store) {
    let name = unique("functions");
    let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk_config().await), &name);
    store.ensure_table().await.unwrap();
    (name, store)
}

/// The driver state machine from statemachine/driver.asl.json, on these functions.
pub async fn driver(advance: &Function, control: &Function) -> String {
    driver_named(&unique("driver"), advance, control).await
}

/// The ARN a state machine named `name` gets (the template builds the functions' one from
/// the stack name the same way, before it exists).
pub fn state_machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:123456789012:stateMachine:{name}")
}

/// [`driver`], named `name`.
pub async fn driver_named(name: &str, advance: &Function, control: &Function) -> String {
    let asl = std::fs::read_to_string(repo().join("statemachine/driver.asl.json"))
        .unwrap()
        .replace("${AdvanceFunctionArn}", &advance.arn)
        .replace("${ControlFunctionArn}", &control.arn);
    assert!(!asl.contains("${"), "every placeholder substituted");
    aws_sdk_sfn::Client::new(&sdk_config().await)
        .create_state_machine()
        .name(name)
        .definition(asl)
        .role_arn("arn:aws:iam::123456789012:role/cutover-driver")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_string()
}

/// Polls `f` every 250 ms until it yields a deployment; panics naming `what` after `limit`.
pub async fn wait_until(
    what: &str,
    limit: Duration,
    mut f: impl AsyncFnMut() -> Option<Deployment>,
) -> Deployment {
    let start = Instant::now();
    loop {
        if let Some(d) = f().await {
            return d;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
