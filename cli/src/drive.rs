//! Driving a deployment in this process (`deploy --local`, `drive --local`): the tick loop,
//! under a driver lease so that two processes never drive one deployment, with SIGINT and
//! SIGTERM handled at any moment.
//!
//! The lease is an item next to the deployment (`DEP#<id>` / `DRIVER`) holding this
//! process's name and a time [`LEASE_MS`] ahead, renewed every [`RENEW_MS`] by a task of
//! its own (a tick may wait minutes for a synchronous hook). A process killed with `kill
//! -9` stops renewing: after at most [`LEASE_MS`], `cutover drive ID --local` takes over.
//!
//! The first SIGINT or SIGTERM (Ctrl-C, a cancelled CI job) drops the tick in flight — safe
//! at any point, since every decision is saved before its effects and the next tick reads
//! the target back — then stops the deployment with a rollback (a decision made before
//! reading anything) and drives the rollback to its end. A second signal exits at once,
//! leaving a record that `cutover drive ID --local` resumes.

use crate::render::{progress_line, View};
use crate::{Failure, EXIT_ENDED_BADLY, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED};
use cutover_aws::service::now_ms;
use cutover_aws::Cutover;
use cutover_core::model::{DeploymentStatus, Millis, Observation};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a driver's lease lasts without renewal.
pub(crate) const LEASE_MS: u64 = 30_000;
/// How often a live driver renews its lease.
const RENEW_MS: u64 = 10_000;

/// SIGINT or SIGTERM, whichever comes first; listening starts when this is built, so a
/// signal during the first tick is not missed.
pub(crate) struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> Signals {
        #[cfg(unix)]
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            // Both are held for the whole run: a signal arriving between two waits is kept
            // for the next one, not lost (nor left to kill the process).
            #[cfg(unix)]
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            #[cfg(unix)]
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
        }
    }

    /// Waits for the next SIGINT or SIGTERM; says which.
    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "interrupted (Ctrl-C)",
                _ = self.term.recv() => "terminated (SIGTERM)",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "interrupted (Ctrl-C)"
        }
    }
}

/// What the loop prints while it runs: on stdout for people, on stderr with `--output
/// json` (stdout then holds only the final JSON summary).
pub(crate) struct Progress {
    pub(crate) json: bool,
    started: Millis,
    last_key: String,
    last_print: Millis,
}

impl Progress {
    pub(crate) fn new(json: bool) -> Progress {
        Progress {
            json,
            started: now_ms(),
            last_key: String::new(),
            last_print: 0,
        }
    }

    pub(crate) fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    }

    /// Prints the progress line when the phase, the traffic or the status changed, and
    /// every 10 s otherwise.
    pub(crate) fn show(&mut self, view: &View) {
        let now = now_ms();
        let key = format!("{:?}{:?}{:?}", view.phase, view.split, view.status);
        if key != self.last_key || now.saturating_sub(self.last_print) > 10_000 {
            self.say(&progress_line(view, self.started, now));
            self.last_key = key;
            self.last_print = now;
        }
    }

    /// Prints the final summary with `--output json`; the exit code tells how it ended.
    pub(crate) fn end(&self, (summary, view): &crate::Shown) -> u8 {
        if self.json {
            println!("{summary}");
        }
        if view.status == DeploymentStatus::Succeeded {
            EXIT_OK
        } else {
            EXIT_ENDED_BADLY
        }
    }
}

/// This process's name in a driver lease: `cutover@HOST:PID:RANDOM`.
pub(crate) fn owner() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("cutover@{host}:{}:{}", std::process::id(), &tag[..6])
}

/// A driver lease held by this process, renewed in the background until dropped.
pub(crate) struct Lease {
    app: Cutover,
    id: String,
    owner: String,
    lost: Arc<AtomicBool>,
    stop: tokio::sync::watch::Sender<bool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Takes the lease of deployment `id`. With `wait`, waits (printing who holds it) until
    /// the holder lets go or its lease runs out — `None` if the deployment ended meanwhile;
    /// without, refuses (exit 2), naming the holder.
    pub(crate) async fn take(
        app: &Cutover,
        id: &str,
        owner: &str,
        wait: bool,
        progress: &Progress,
    ) -> Result<Option<Lease>, Failure> {
        let mut told = false;
        loop {
            let now = now_ms();
            match app
                .store
                .acquire_driver(id, owner, now + LEASE_MS, now)
                .await?
            {
                None => break,
                Some((holder, until)) => {
                    if !wait {
                        return Err(Failure {
                            code: EXIT_REFUSED,
                            error_code: "DeploymentBeingDriven".into(),
                            message: format!(
                                "deployment {id} is being driven by {holder} (its lease runs {} s more, renewed while that process lives); wait for it with `cutover drive {id} --local --wait`, or follow it with `cutover status {id}`",
                                until.saturating_sub(now).div_ceil(1000)
                            ),
                        });
                    }
                    if !told {
                        progress.say(&format!(
                            "deployment {id} is being driven by {holder}; waiting for it to end or let go"
                        ));
                        told = true;
                    }
                    if app.store.load(id).await?.is_done() {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                }
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let renewer = {
            let (app, id, owner, lost) =
                (app.clone(), id.to_string(), owner.to_string(), lost.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(RENEW_MS)) => {}
                        _ = stopped.changed() => return,
                    }
                    let now = now_ms();
                    match app
                        .store
                        .acquire_driver(&id, &owner, now + LEASE_MS, now)
                        .await
                    {
                        Ok(None) => {}
                        Ok(Some(_)) => {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A failure of the moment: the lease still has most of its time.
                        Err(e) => {
                            eprintln!("warning: renewing the driver lease of {id} failed: {e}")
                        }
                    }
                }
            })
        };
        Ok(Some(Lease {
            app: app.clone(),
            id: id.to_string(),
            owner: owner.to_string(),
            lost,
            stop,
            renewer,
        }))
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing (waiting for a renewal under way, so it cannot take the lease again
    /// after the release) and gives the lease up.
    pub(crate) async fn release(self) {
        let _ = self.stop.send(true);
        let _ = self.renewer.await;
        if let Err(e) = self.app.store.release_driver(&self.id, &self.owner).await {
            eprintln!(
                "warning: the driver lease of {} was not released ({e}); it runs out within {} s",
                self.id,
                LEASE_MS / 1000
            );
        }
    }
}

/// Drives deployment `id` in this process to its end, under `lease`.
pub(crate) async fn run(
    app: &Cutover,
    id: &str,
    lease: Lease,
    mut signals: Signals,
    mut progress: Progress,
) -> Result<u8, Failure> {
    let mut failures = 0u32;
    let mut interrupted = false;
    let result = loop {
        if lease.lost() {
            break Err(Failure {
                code: EXIT_ENDED_BADLY,
                error_code: "DriverLeaseLost".into(),
                message: format!(
                    "another process took over driving {id} (this one could not renew its lease in time); follow it with `cutover status {id}`"
                ),
            });
        }
        let tick = app.tick(id, Observation::default());
        let outcome = tokio::select! {
            r = tick => r,
            why = signals.next() => {
                if interrupted {
                    break Ok(EXIT_INTERRUPTED);
                }
                interrupted = true;
                match stop_on_signal(app, id, why, &progress).await {
                    Ok(()) => continue,
                    Err(f) => break Err(f),
                }
            }
        };
        let (dep, wake) = match outcome {
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
                    let reason = Some(format!("cutover --local gave up: {e}"));
                    if let Err(stop) = app.stop(id, Some(true), reason).await {
                        // Stopped already, and its rollback keeps failing: say so and let
                        // go, rather than hold the target for ever.
                        break Err(Failure {
                            code: EXIT_ENDED_BADLY,
                            error_code: e.code().to_string(),
                            message: format!(
                                "{id} cannot be driven on ({e}; {stop}); end it with `cutover stop {id} --force`, then check its target by hand"
                            ),
                        });
                    }
                    failures = 0;
                }
                let backoff = 250u64 << failures.min(5);
                tokio::time::sleep(Duration::from_millis(backoff)).await;
                continue;
            }
        };
        let view = View::of(&dep);
        progress.show(&view);
        let Some(ms) = wake else {
            break Ok(progress.end(&(dep.summary(), view)));
        };
        let sleep = tokio::time::sleep(Duration::from_millis(ms.clamp(10, 2000)));
        tokio::select! {
            _ = sleep => {}
            why = signals.next() => {
                if interrupted {
                    break Ok(EXIT_INTERRUPTED);
                }
                interrupted = true;
                if let Err(f) = stop_on_signal(app, id, why, &progress).await {
                    break Err(f);
                }
            }
        }
    };
    if matches!(result, Ok(EXIT_INTERRUPTED)) {
        progress.say(&format!(
            "interrupted again: {id} is left as recorded; resume it with `cutover drive {id} --local`, or end it with `cutover stop {id} --force`"
        ));
    }
    lease.release().await;
    progress_flush();
    result
}

/// The first signal: stop with a rollback. A deployment that already ended (or is rolling
/// back) is driven on to its end.
async fn stop_on_signal(
    app: &Cutover,
    id: &str,
    why: &str,
    progress: &Progress,
) -> Result<(), Failure> {
    progress.say(&format!(
        "{why}: stopping {id} and rolling back (signal again to leave it for `cutover drive {id} --local`)"
    ));
    let reason = Some(format!("{why} during cutover --local"));
    match app.stop(id, Some(true), reason).await {
        Ok(_) => Ok(()),
        Err(e) if e.code() == "DeploymentAlreadyCompleted" => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn progress_flush() {
    let _ = std::io::stdout().flush();
}

/// `cutover drive ID`: resumes an unfinished deployment from its record.
pub(crate) async fn drive(mode: &crate::Mode, args: &crate::DriveArgs) -> Result<u8, Failure> {
    let progress = Progress::new(args.out.output == crate::Output::Json);
    let id = args.id.as_str();
    match mode {
        crate::Mode::Local(app) => {
            let signals = Signals::new();
            let refused = |e: cutover_aws::Error| {
                let mut f = Failure::from(e);
                f.code = EXIT_REFUSED;
                f
            };
            let dep = app.store.load(id).await.map_err(refused)?;
            check_time_scale(args.time_scale, dep.options.time_scale)?;
            if dep.is_done() {
                progress.say(&format!("{id} already ended ({})", dep.status()));
                return Ok(progress.end(&(dep.summary(), View::of(&dep))));
            }
            let owner = owner();
            let Some(lease) = Lease::take(app, id, &owner, args.wait, &progress).await? else {
                let dep = app.store.load(id).await?;
                return Ok(progress.end(&(dep.summary(), View::of(&dep))));
            };
            let dep = app.store.load(id).await?;
            progress.say(&format!(
                "driving {id} from its record: {}",
                progress_line(&View::of(&dep), progress.started, now_ms())
            ));
            run(app, id, lease, signals, progress).await
        }
        crate::Mode::Remote(remote) => {
            remote.check(crate::remote::Role::Control)?;
            let shown = crate::shown(
                remote
                    .control(&cutover_aws::functions::ControlInput::Drive {
                        deployment_id: id.to_string(),
                    })
                    .await?,
            )?;
            check_time_scale(args.time_scale, shown.1.time_scale)?;
            if shown.1.is_done() {
                progress.say(&format!("{id} already ended ({})", shown.1.status));
                return Ok(progress.end(&shown));
            }
            progress.say(&format!("{id}: driven by the state machine again"));
            if !args.wait {
                if progress.json {
                    println!("{}", shown.0);
                }
                return Ok(EXIT_OK);
            }
            let poll = crate::deploy::poll_interval(shown.1.time_scale);
            crate::deploy::follow_to_end(remote, id, Some(shown), poll, progress).await
        }
    }
}

/// `--time-scale` given to `drive` must be the deployment's own: a deployment keeps the
/// time scale it was started with.
fn check_time_scale(given: Option<f64>, stored: f64) -> Result<(), Failure> {
    match given {
        Some(g) if (g - stored).abs() > 1e-9 => Err(Failure {
            code: EXIT_REFUSED,
            error_code: "InvalidOption".into(),
            message: format!(
                "--time-scale: the deployment runs at time scale {stored}, not {g}; a deployment keeps the time scale it was started with (leave the flag out)"
            ),
        }),
        _ => Ok(()),
    }
}
