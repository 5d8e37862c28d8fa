//! Running Cutover's real function binaries as Lambda functions of the emulator: each is
//! registered with `seed runtime` and polls the emulator's Lambda Runtime API, so a Lambda
//! Invoke, an EventBridge target or a Step Functions task reaches the binary as in AWS.

use crate::{seed, unique};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A function binary serving invocations of a Lambda function in the emulator.
pub struct Function {
    /// The Lambda function's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    child: Child,
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
    let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
    let mut cmd = Command::new(bin);
    for (k, v) in out["env"].as_object().expect("env") {
        cmd.env(k, v.as_str().unwrap());
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "info")
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
    Function { name, arn, child }
}
