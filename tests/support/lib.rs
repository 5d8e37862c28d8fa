//! Test support: starts the local AWS emulator (moto with the CloudWatch CBOR bridge, from
//! `scripts/`) once per test binary on a free loopback port, seeds resources in it, and
//! builds real SDK clients that talk to it.

pub mod cli;
pub mod faults;
pub mod functions;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Region used in every test.
pub const REGION: &str = "us-east-1";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The emulator's Python (installed by `scripts/install-emulator`).
pub fn python() -> PathBuf {
    repo().join(".venv/bin/python")
}

/// A running emulator.
pub struct Emulator {
    /// Its base URL.
    pub url: String,
    _child: Mutex<Child>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

/// The emulator for this test binary, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo().join("scripts/install-emulator"))
            .arg("--emulator-only")
            .status()
            .expect("run scripts/install-emulator");
        assert!(status.success(), "scripts/install-emulator failed");
        let mut child = Command::new(python())
            .arg(repo().join("scripts/emulator.py"))
            .args([
                "serve",
                "--port",
                "0",
                "--exit-with-parent",
                &std::process::id().to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let stdout = child.stdout.take().expect("emulator stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read READY line");
        let url = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("emulator did not start: {line:?}"))
            .to_string();
        Emulator {
            url,
            _child: Mutex::new(child),
        }
    })
}

/// SDK configuration pointing at the emulator, with dummy credentials.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let emu = emulator();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&emu.url)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

/// Environment variables for a `cutover` process talking to the emulator.
pub fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", emulator().url.clone()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ]
}

/// Runs `scripts/emulator.py seed ...` against the emulator and returns its JSON output.
pub fn seed(args: &[&str]) -> serde_json::Value {
    let out = Command::new(python())
        .arg(repo().join("scripts/emulator.py"))
        .arg("seed")
        .args(args)
        .args(["--url", &emulator().url])
        .output()
        .expect("run seed");
    assert!(
        out.status.success(),
        "seed {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// A unique name for this test's resources.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{}", std::process::id(), t % 100_000)
}

/// Creates a function with `versions` published versions and an alias `live` on version 1.
pub fn seed_function(name: &str, versions: u32) {
    seed(&[
        "lambda",
        "--name",
        name,
        "--versions",
        &versions.to_string(),
        "--alias",
        "live",
    ]);
}

/// A Lambda AppSpec for `function`'s alias `live`, 1 → 2, with optional hooks.
pub fn appspec(function: &str, before: Option<&str>, after: Option<&str>) -> String {
    let mut s = format!(
        "version: 0.0\nResources:\n  - app:\n      Type: AWS::Lambda::Function\n      Properties:\n        Name: \"{function}\"\n        Alias: \"live\"\n        CurrentVersion: \"1\"\n        TargetVersion: \"2\"\n"
    );
    if before.is_some() || after.is_some() {
        s.push_str("Hooks:\n");
    }
    if let Some(b) = before {
        s.push_str(&format!("  - BeforeAllowTraffic: \"{b}\"\n"));
    }
    if let Some(a) = after {
        s.push_str(&format!("  - AfterAllowTraffic: \"{a}\"\n"));
    }
    s
}

/// Serialises the tests that queue hook answers: the emulator keeps one queue of Lambda
/// results for every function.
pub async fn hook_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// Sets a CloudWatch alarm's state (the Rust SDK's CBOR protocol, through the emulator's
/// bridge), as CloudWatch does when its metric crosses the threshold.
pub async fn set_alarm_state(alarm: &str, state: &str) {
    aws_sdk_cloudwatch::Client::new(&sdk_config().await)
        .set_alarm_state()
        .alarm_name(alarm)
        .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
        .state_reason("set by a test")
        .send()
        .await
        .expect("SetAlarmState");
}

/// A new SQS queue: its URL and ARN.
pub async fn sqs_queue(prefix: &str) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let url = sqs
        .create_queue()
        .queue_name(unique(prefix))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("queue URL")
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .cloned()
        .expect("queue ARN");
    (url, arn)
}

/// A new, empty Cutover table (a run of its own: the emulator copies a whole table for
/// each transaction, so a table shared by hundreds of runs makes every save slower).
pub async fn fresh_table(prefix: &str) -> String {
    let table = unique(prefix);
    cutover_aws::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk_config().await), &table)
        .ensure_table()
        .await
        .expect("create the table");
    table
}

/// The notification kinds (`event` of each body) delivered to `queue` so far, each once;
/// the messages read are deleted.
pub async fn delivered(queue: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
    let mut kinds = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage");
        if out.messages().is_empty() {
            break;
        }
        for m in out.messages() {
            let body: serde_json::Value =
                serde_json::from_str(m.body().unwrap_or("{}")).unwrap_or_default();
            if let Some(kind) = body["event"].as_str() {
                kinds.insert(kind.to_string());
            }
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .ok();
        }
    }
    kinds.into_iter().collect()
}

/// A new SQS queue subscribed to `topic` with raw message delivery: its URL.
pub async fn queue_on(topic: &str, prefix: &str) -> String {
    let (url, arn) = sqs_queue(prefix).await;
    aws_sdk_sns::Client::new(&sdk_config().await)
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("Subscribe");
    url
}

/// An ECS AppSpec for a service `seed ecs` made (its JSON output), deploying task
/// definition `revision` (1-based) with `hooks` as `(event, function)`.
pub fn ecs_appspec(seeded: &serde_json::Value, revision: usize, hooks: &[(&str, &str)]) -> String {
    let mut s = format!(
        "version: 0.0\nResources:\n  - TargetService:\n      Type: AWS::ECS::Service\n      Properties:\n        TaskDefinition: \"{}\"\n        LoadBalancerInfo:\n          ContainerName: \"web\"\n          ContainerPort: 80\n        PlatformVersion: \"LATEST\"\n        NetworkConfiguration:\n          AwsvpcConfiguration:\n            Subnets: [\"{}\"]\n            SecurityGroups: [\"{}\"]\n            AssignPublicIp: \"DISABLED\"\n",
        seeded["taskDefinitions"][revision - 1]
            .as_str()
            .expect("task definition"),
        seeded["subnets"][0].as_str().expect("subnet"),
        seeded["securityGroups"][0].as_str().expect("security group"),
    );
    if !hooks.is_empty() {
        s.push_str("Hooks:\n");
        for (event, function) in hooks {
            s.push_str(&format!("  - {event}: \"{function}\"\n"));
        }
    }
    s
}

/// A listener's default forward action as `(target group ARN, weight)`, weight > 0 (a
/// plain forward reads as weight 1).
pub async fn listener_forwards(listener: &str) -> Vec<(String, i32)> {
    let out = aws_sdk_elasticloadbalancingv2::Client::new(&sdk_config().await)
        .describe_listeners()
        .listener_arns(listener)
        .send()
        .await
        .expect("DescribeListeners");
    let action = &out.listeners()[0].default_actions()[0];
    let mut v: Vec<(String, i32)> = match action.forward_config() {
        Some(fc) => fc
            .target_groups()
            .iter()
            .map(|t| {
                (
                    t.target_group_arn().unwrap_or_default().to_string(),
                    t.weight().unwrap_or(1),
                )
            })
            .collect(),
        None => vec![(action.target_group_arn().unwrap_or_default().to_string(), 1)],
    };
    v.retain(|(_, w)| *w > 0);
    v
}

/// The payloads a simple (not runtime-backed) function was invoked with, oldest first, as
/// the emulator recorded them: what a hook received, its execution id included.
pub fn invocation_payloads(function: &str) -> Vec<serde_json::Value> {
    use std::io::{Read, Write};
    let url = &emulator().url;
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the emulator");
    write!(
        stream,
        "GET /_cutover/invocations?function={function} HTTP/1.0\r\nHost: {host}\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read the answer");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let answer: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
    answer["payloads"]
        .as_array()
        .expect("payloads")
        .iter()
        .filter_map(|p| serde_json::from_str(p.as_str()?).ok())
        .collect()
}

/// The execution id of the latest invocation of the hook `function` for deployment `id`.
pub fn last_execution_id(function: &str, id: &str) -> String {
    invocation_payloads(function)
        .iter()
        .rev()
        .find(|p| p["DeploymentId"] == id)
        .and_then(|p| p["LifecycleEventHookExecutionId"].as_str())
        .unwrap_or_else(|| panic!("{function} was not invoked for {id}"))
        .to_string()
}
