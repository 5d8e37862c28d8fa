//! Running the `cutover` binary as a user does, against the emulator.

use crate::{aws_env, sdk_config, unique};
use cutover_aws::functions::App;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// Table every CLI test uses (each test binary has its own emulator).
pub const TABLE: &str = "cutover-e2e";

/// The `cutover` binary built next to the test binaries.
pub fn cutover_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let bin = dir.join("cutover");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` first",
        bin.display()
    );
    bin
}

/// A `cutover` command with the emulator's endpoint and credentials.
pub fn cutover(args: &[&str]) -> Command {
    let mut cmd = Command::new(cutover_bin());
    cmd.args(args)
        .env("CUTOVER_TABLE", TABLE)
        .env("CUTOVER_LOCAL", "1")
        .env_remove("CUTOVER_STACK")
        .env_remove("CUTOVER_START_FUNCTION")
        .env_remove("CUTOVER_CONTROL_FUNCTION")
        .env_remove("CUTOVER_QUERY_FUNCTION")
        .env_remove("CUTOVER_TOPIC_ARN")
        .env_remove("CUTOVER_ALLOWED_TARGETS")
        .env_remove("CUTOVER_REQUIRE_GROUP");
    for (k, v) in aws_env() {
        cmd.env(k, v);
    }
    cmd
}

/// Writes a file (an AppSpec or a group) to a fresh temporary directory.
pub fn write_appspec(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("appspec"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("appspec.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// How a `cutover` run ended.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// The JSON status object on the last stdout line.
    pub status: Value,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

/// Reads a finished run's exit code, output and last-line JSON status.
pub fn finish(out: Output) -> Run {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let last = stdout.lines().last().unwrap_or("null");
    let status = serde_json::from_str(last).unwrap_or(Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        status,
        stdout,
        stderr,
    }
}

/// `cutover deploy --local --wait --output json` on an AppSpec written to a file.
pub fn deploy_command(appspec: &str, extra: &[&str]) -> Command {
    let path = write_appspec(appspec);
    let p = path.to_str().unwrap();
    let mut args = vec![
        "deploy",
        "--appspec",
        p,
        "--local",
        "--wait",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    cutover(&args)
}

/// Runs `cutover deploy --local --wait --output json` to the end.
pub fn deploy(appspec: &str, extra: &[&str]) -> Run {
    finish(
        deploy_command(appspec, extra)
            .output()
            .expect("run cutover"),
    )
}

/// Starts a deployment in the background and returns the child and its deployment id.
pub fn deploy_background(appspec: &str, extra: &[&str]) -> (std::process::Child, String) {
    let mut child = deploy_command(appspec, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    let id = loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("cutover exited before starting");
        }
        if let Some(rest) = line.strip_prefix("started ") {
            break rest.split(':').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in reader.lines() {});
    (child, id)
}

/// The handlers' app, on the test table.
pub async fn app() -> App {
    let sdk = sdk_config().await;
    let settings = cutover_aws::clients::Settings {
        table: Some(TABLE.into()),
        topic_arn: None,
    };
    App::new(&sdk, cutover_aws::clients::build(&sdk, &settings))
}
