//! Driving a deployment across processes, with the real `cutover` binary against the
//! emulator: `kill -9` of `deploy --local` and `drive --local --wait` taking over after the
//! dead driver's lease; two drivers at once; a manual revert of the alias mid-bake; a
//! deployment whose alias was deleted, ended with `stop --force`; SIGTERM during the first
//! tick. Outcomes are checked through GetAlias, not only Cutover's record. Every process
//! runs under a deadline enforced here, so a bug fails the test instead of hanging it.

use cutover_tests::cli::*;
use cutover_tests::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{sleep, JoinHandle};
use std::time::{Duration, Instant};

const LINEAR: &str = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute";
const CANARY: &str = "CodeDeployDefault.LambdaCanary10Percent5Minutes";

/// One runtime for every SDK call of this binary (its clients' connections live on it).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap())
        .block_on(f)
}

fn lambda() -> aws_sdk_lambda::Client {
    aws_sdk_lambda::Client::new(&block_on(sdk_config()))
}

/// The alias `live` through GetAlias: its version and its additional weights.
fn get_alias(function: &str) -> (String, BTreeMap<String, f64>) {
    let out = block_on(
        lambda()
            .get_alias()
            .function_name(function)
            .name("live")
            .send(),
    )
    .unwrap_or_else(|e| panic!("GetAlias {function}:live: {e:?}"));
    let weights = out
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    (
        out.function_version().unwrap_or_default().to_string(),
        weights,
    )
}

fn assert_on(function: &str, version: &str, context: &str) {
    let (v, w) = get_alias(function);
    assert_eq!(
        (v.as_str(), w.is_empty()),
        (version, true),
        "{context}: alias {function}:live is on {v} with weights {w:?}, not on {version} alone"
    );
}

/// Polls GetAlias until traffic is split (some additional weight), within `secs`.
fn wait_for_split(function: &str, secs: u64) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, w) = get_alias(function);
        if !w.is_empty() {
            return w;
        }
        assert!(Instant::now() < deadline, "{function}:live never split");
        sleep(Duration::from_millis(100));
    }
}

/// A `cutover` process with its output collected by reader threads (no pipe deadlock).
struct Proc {
    child: Child,
    what: String,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let mut s = into.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    })
}

fn spawn(mut cmd: Command, what: &str) -> Proc {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let (out, err) = (Arc::default(), Arc::default());
    let readers = vec![
        collect(child.stdout.take().unwrap(), Arc::clone(&out)),
        collect(child.stderr.take().unwrap(), Arc::clone(&err)),
    ];
    Proc {
        child,
        what: what.to_string(),
        out,
        err,
        readers,
    }
}

impl Proc {
    fn output(&self) -> String {
        format!(
            "{}\n--- stdout:\n{}--- stderr:\n{}",
            self.what,
            self.out.lock().unwrap(),
            self.err.lock().unwrap()
        )
    }

    /// The deployment id from the `started d-XXXXXXXXX: ...` progress line (stderr with
    /// `--output json`), within 30 s.
    fn started_id(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(id) = self.err.lock().unwrap().lines().find_map(|l| {
                l.strip_prefix("started ")
                    .and_then(|rest| rest.split(':').next())
                    .map(str::to_string)
            }) {
                assert!(id.starts_with("d-"), "odd id {id:?}: {}", self.output());
                return id;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                sleep(Duration::from_millis(100));
                panic!("exited ({st}) before starting: {}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "never started: {}",
                self.output()
            );
            sleep(Duration::from_millis(5));
        }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let st = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(st.success(), "kill {sig} {pid}");
    }

    /// Waits for the exit within `secs` (else kills it and fails with its output).
    fn finish(mut self, secs: u64) -> Run {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                sleep(Duration::from_millis(200));
                panic!("still running after {secs} s, killed: {}", self.output());
            }
            sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        let stdout = self.out.lock().unwrap().clone();
        let stderr = self.err.lock().unwrap().clone();
        let last = stdout.lines().last().unwrap_or("null");
        Run {
            code: status.code().unwrap_or(-1),
            status: serde_json::from_str(last).unwrap_or(Value::Null),
            stdout,
            stderr: format!("{stderr}(exit status: {status})"),
        }
    }
}

/// Runs `cutover ARGS` to its end within `secs`.
fn run(args: &[&str], secs: u64) -> Run {
    spawn(cutover(args), &format!("cutover {}", args.join(" "))).finish(secs)
}

/// `deploy --local --wait --output json` of `function` 1 → 2 with `config` and extra
/// flags, in the background.
fn deploy_bg(function: &str, config: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["--config", config];
    args.extend_from_slice(extra);
    spawn(
        deploy_command(&appspec(function, None, None), &args),
        &format!("deploy {function} {config} {extra:?}"),
    )
}

fn drive(id: &str, wait: bool) -> Proc {
    let mut args = vec!["drive", id, "--local", "--output", "json"];
    if wait {
        args.push("--wait");
    }
    spawn(cutover(&args), &format!("cutover {}", args.join(" ")))
}

fn show(run: &Run) -> String {
    format!(
        "exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
        run.code, run.stdout, run.stderr
    )
}

fn assert_succeeded(run: &Run, what: &str) {
    assert_eq!(run.code, 0, "{what}: {}", show(run));
    assert_eq!(run.status["status"], "Succeeded", "{what}: {}", show(run));
    assert_eq!(run.status["rolledBack"], false, "{what}: {}", show(run));
}

/// `cutover status ID --output json`.
fn status(id: &str) -> Value {
    let r = run(&["status", id, "--output", "json"], 30);
    assert_eq!(r.code, 0, "status {id}: {}", show(&r));
    r.status
}

/// Runs `f` for every item in parallel threads; every panic is reported, the first raised.
fn parallel<T: Send + 'static>(items: Vec<T>, f: fn(T)) {
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| std::thread::spawn(move || f(item)))
        .collect();
    let mut failed = Vec::new();
    for h in handles {
        if let Err(e) = h.join() {
            failed.push(e);
        }
    }
    if let Some(e) = failed.into_iter().next() {
        std::panic::resume_unwind(e);
    }
}

// 1. kill -9 of `deploy --local` at several moments; `drive --wait` finishes it.

fn killed_then_driven(delay_ms: u64) {
    let f = unique("kill9");
    seed_function(&f, 2);
    let mut deploy = deploy_bg(&f, LINEAR, &["--time-scale", "60"]);
    let id = deploy.started_id();
    sleep(Duration::from_millis(delay_ms));
    deploy.kill9();
    let killed_at = Instant::now();
    let run = drive(&id, true).finish(90);
    let what = format!("drive after kill -9 at {delay_ms} ms");
    assert_succeeded(&run, &what);
    assert_eq!(run.status["deploymentId"], id.as_str(), "{what}");
    assert_eq!(
        run.status["phase"]["phase"],
        "done",
        "{what}: {}",
        show(&run)
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(75),
        "{what}: took {:?}",
        killed_at.elapsed()
    );
    assert_on(&f, "2", &what);
    let st = status(&id);
    assert_eq!(st["status"], "Succeeded", "{what}: {st}");
    assert_eq!(st["traffic"], serde_json::json!({"2": 100}), "{what}: {st}");
}

#[test]
fn kill_9_of_deploy_then_drive_wait_finishes_it() {
    parallel(vec![0, 300, 1500, 4000], killed_then_driven);
}

// 2. Two drivers at once.

#[test]
fn a_second_driver_is_refused_or_waits_for_the_first() {
    let f = unique("twodrivers");
    seed_function(&f, 2);
    let mut first = deploy_bg(&f, LINEAR, &["--time-scale", "30"]);
    let id = first.started_id();
    // Split traffic: the first driver has ticked, so it holds the lease.
    wait_for_split(&f, 30);
    let second = drive(&id, false).finish(30);
    assert_eq!(
        second.code,
        2,
        "a second driver is refused: {}",
        show(&second)
    );
    assert!(
        second.stderr.contains(&id) && second.stderr.contains("is being driven"),
        "the refusal names {id} and says it is being driven: {}",
        show(&second)
    );
    let (v, w) = get_alias(&f);
    assert!(
        v == "1" && !w.is_empty(),
        "the refused driver changed nothing: alias on {v} {w:?}"
    );
    let waiting = drive(&id, true);
    sleep(Duration::from_secs(2));
    let first = first.finish(60);
    assert_succeeded(&first, "the first driver");
    let waited = waiting.finish(60);
    assert_succeeded(&waited, "drive --wait behind the first driver");
    assert_eq!(waited.status["deploymentId"], id.as_str());
    assert!(
        waited.stderr.contains("is being driven by"),
        "drive --wait said it waited: {}",
        show(&waited)
    );
    assert_on(&f, "2", "after both drivers");
    // A third one, after the end: the outcome at once.
    let after = run(&["drive", &id, "--local", "--output", "json"], 30);
    assert_succeeded(&after, "drive of an ended deployment");
}

// 3. A manual revert of the alias mid-bake.

#[test]
fn a_manual_revert_mid_bake_fails_the_deployment_and_is_left_alone() {
    let f = unique("revert");
    seed_function(&f, 2);
    let mut deploy = deploy_bg(&f, CANARY, &["--time-scale", "10"]);
    let id = deploy.started_id();
    let split = wait_for_split(&f, 30);
    assert_eq!(split.len(), 1, "{split:?}");
    assert!(
        (split["2"] - 0.1).abs() < 1e-9,
        "the canary split: {split:?}"
    );
    let routing = aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
        .set_additional_version_weights(Some(Default::default()))
        .build();
    block_on(
        lambda()
            .update_alias()
            .function_name(&f)
            .name("live")
            .function_version("1")
            .routing_config(routing)
            .send(),
    )
    .expect("UpdateAlias back to version 1");
    assert_on(&f, "1", "right after the manual revert");
    let run = deploy.finish(40);
    assert_eq!(run.code, 1, "{}", show(&run));
    assert_eq!(run.status["deploymentId"], id.as_str());
    assert_eq!(run.status["status"], "Failed", "{}", show(&run));
    assert_eq!(
        run.status["error"]["code"],
        "ALIAS_MODIFIED",
        "{}",
        show(&run)
    );
    assert_eq!(run.status["rolledBack"], false, "{}", show(&run));
    assert_on(&f, "1", "after the deploy ended");
    let st = status(&id);
    assert_eq!(st["phase"]["phase"], "done", "{st}");
    assert_eq!(st["error"]["code"], "ALIAS_MODIFIED", "{st}");
}

// 4. A deployment whose alias was deleted, ended with --force; then a new one.

/// A deployment whose driver was killed with traffic split (as recorded), then its alias
/// deleted: `(function, id)`.
fn split_killed_and_alias_deleted(prefix: &str) -> (String, String) {
    let f = unique(prefix);
    seed_function(&f, 2);
    let mut deploy = deploy_bg(&f, LINEAR, &["--time-scale", "1"]);
    let id = deploy.started_id();
    wait_for_split(&f, 30);
    let app = block_on(app());
    let deadline = Instant::now() + Duration::from_secs(30);
    while block_on(app.cutover.store.load(&id))
        .ok()
        .map(|d| d.traffic)
        != Some(10)
    {
        assert!(Instant::now() < deadline, "10 % never recorded");
        sleep(Duration::from_millis(50));
    }
    deploy.kill9();
    block_on(
        lambda()
            .delete_alias()
            .function_name(&f)
            .name("live")
            .send(),
    )
    .expect("DeleteAlias");
    (f, id)
}

#[test]
fn a_deployment_whose_alias_was_deleted_is_ended_with_force() {
    let (f, id) = split_killed_and_alias_deleted("deleted");
    let stop = run(&["stop", &id, "--force", "--output", "json"], 30);
    assert_eq!(stop.code, 0, "{}", show(&stop));
    assert_eq!(stop.status["status"], "Stopped", "{}", show(&stop));
    assert_eq!(stop.status["error"]["code"], "ABANDONED", "{}", show(&stop));
    let message = stop.status["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("as last recorded")
            && message.contains("90% on version 1, 10% on version 2"),
        "the message says where traffic was left: {message}"
    );
    assert_eq!(status(&id)["phase"]["phase"], "done");
    let again = run(&["stop", &id, "--force"], 30);
    assert_eq!(again.code, 2, "an ended deployment: {}", show(&again));

    block_on(
        lambda()
            .create_alias()
            .function_name(&f)
            .name("live")
            .function_version("1")
            .send(),
    )
    .expect("CreateAlias");
    let next = spawn(
        deploy_command(
            &appspec(&f, None, None),
            &["--config", "CodeDeployDefault.LambdaAllAtOnce"],
        ),
        "deploy after --force",
    )
    .finish(60);
    assert_succeeded(&next, "a new deployment of the recreated alias");
    assert_ne!(next.status["deploymentId"], id.as_str());
    assert_on(&f, "2", "after the new deployment");
}

#[test]
fn a_stop_of_a_stuck_rollback_is_refused_with_a_hint_to_force() {
    let (_, id) = split_killed_and_alias_deleted("stuck");
    // The stop is decided before anything is read; its rollback cannot show.
    let rollback = run(&["stop", &id, "--rollback", "--output", "json"], 60);
    let st = status(&id);
    assert_eq!(st["status"], "Stopped", "{st}\n{}", show(&rollback));
    assert_eq!(st["phase"]["phase"], "rollingBack", "{st}");
    let plain = run(&["stop", &id], 30);
    assert_eq!(plain.code, 2, "{}", show(&plain));
    assert!(
        plain.stderr.contains("--force") && plain.stderr.contains(&id),
        "the refusal hints at --force: {}",
        show(&plain)
    );
    let force = run(&["stop", &id, "--force", "--output", "json"], 30);
    assert_eq!(force.code, 0, "{}", show(&force));
    assert_eq!(force.status["status"], "Stopped");
    assert_eq!(
        force.status["error"]["code"],
        "ABANDONED",
        "{}",
        show(&force)
    );
    let message = force.status["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("rollback not confirmed") && message.contains("MANUAL_STOP"),
        "the message says the rollback never showed: {message}"
    );
    assert_eq!(status(&id)["phase"]["phase"], "done");
}

/// `stop --rollback` of a deployment whose alias was deleted: the stop is recorded (the
/// decision comes before any read) and, as documented, the alias's absence does not keep
/// it from stopping; the command answers the recorded stop and exits 0.
#[test]
fn a_stop_is_answered_even_when_its_rollback_cannot_be_made() {
    let (_, id) = split_killed_and_alias_deleted("stopgone");
    let rollback = run(&["stop", &id, "--rollback", "--output", "json"], 60);
    let st = status(&id);
    assert_eq!(st["status"], "Stopped", "the stop was recorded: {st}");
    assert_eq!(
        rollback.code,
        0,
        "the stop was recorded, yet the command failed: {}",
        show(&rollback)
    );
    assert_eq!(rollback.status["status"], "Stopped", "{}", show(&rollback));
    let _ = run(&["stop", &id, "--force"], 30);
}

// 5. SIGTERM during the first tick.

/// Sends `sig` (`-TERM`, `-INT`) to `deploy --local` `delay_ms` after its started line.
fn signalled((sig, delay_ms): (&'static str, u64)) {
    let f = unique("signal");
    seed_function(&f, 2);
    let mut deploy = deploy_bg(&f, LINEAR, &["--time-scale", "60"]);
    let id = deploy.started_id();
    sleep(Duration::from_millis(delay_ms));
    deploy.signal(sig);
    let run = deploy.finish(60);
    let what = format!("kill {sig} {delay_ms} ms after the started line");
    let st = status(&id);
    assert_eq!(
        st["phase"]["phase"],
        "done",
        "{what}: left running: {st}\n{}",
        show(&run)
    );
    match run.status["status"].as_str() {
        Some("Succeeded") => {
            assert_eq!(run.code, 0, "{what}: {}", show(&run));
            assert_on(&f, "2", &what);
        }
        _ => {
            assert_eq!(run.code, 1, "{what}: {}", show(&run));
            assert_eq!(run.status["status"], "Stopped", "{what}: {}", show(&run));
            // Rolled back when traffic had been touched (AllowTraffic began); before that
            // there is nothing to roll back.
            let touched = st["lifecycleEvents"]
                .as_array()
                .and_then(|e| e.iter().find(|e| e["name"] == "AllowTraffic"))
                .is_some_and(|e| !e["startedAt"].is_null());
            assert_eq!(run.status["rolledBack"], touched, "{what}: {}", show(&run));
            assert_eq!(st["status"], "Stopped", "{what}: {st}");
            assert_on(&f, "1", &what);
        }
    }
    // The driver gave its lease up, and `drive` answers the outcome at once.
    let lease = block_on(async { app().await.cutover.store.driver(&id).await }).unwrap();
    assert_eq!(lease, None, "{what}: the lease is still held");
    let after = drive(&id, false).finish(30);
    assert_eq!(
        after.status["status"],
        st["status"],
        "{what}: {}",
        show(&after)
    );
}

#[test]
fn sigterm_during_the_first_tick_rolls_back_and_ends_the_record() {
    parallel(vec![("-TERM", 0), ("-TERM", 50), ("-TERM", 300)], signalled);
}

/// Ctrl-C right after the start is handled like SIGTERM (the README: "Ctrl-C rolls it
/// back"; drive.rs: "listening starts when this is built").
#[test]
fn sigint_right_after_the_start_stops_and_ends_the_record() {
    parallel(vec![("-INT", 0), ("-INT", 0), ("-INT", 300)], signalled);
}
