//! The tick and the operations built on it: start, advance, stop, hook reports and alarm
//! events. Every function binary and the CLI call these.
//!
//! A tick loads the deployment (with its version), observes only what the engine asks for,
//! calls `decide`, executes the traffic actions, saves with a condition on the version and
//! then publishes notifications. A lost race means another tick won: the caller gets the
//! stored state back and nothing is applied twice. Every AWS effect is absolute, so a tick
//! that dies anywhere can simply run again.

use crate::alarms::Alarms;
use crate::ecs::EcsRouter;
use crate::error::{Error, Result};
use crate::lambda::LambdaRouter;
use crate::notify::Notifier;
use crate::store::Store;
use cutover_core::appspec::{AppSpec, AppSpecResource};
use cutover_core::config::{ComputePlatform, DeploymentConfig};
use cutover_core::engine::{self, Action};
use cutover_core::group::DeploymentGroup;
use cutover_core::model::{
    AlarmState, Deployment, DeploymentOptions, HookAnswer, HookReport, HookResponse, LambdaTarget,
    Observation, Outgoing, Phase, StopRequest, Target,
};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a notification is re-sent before it is given up.
pub const OUTBOX_GIVE_UP_MS: u64 = 3_600_000;
/// Most decisions one tick makes before handing back to the driver.
pub const MAX_DECISIONS_PER_TICK: u32 = 32;
/// Largest AppSpec accepted, in bytes.
pub const MAX_APPSPEC_BYTES: usize = 64 * 1024;
/// Configuration used for Lambda when neither the request nor the group names one
/// (CodeDeploy's default).
pub const DEFAULT_CONFIG: &str = "CodeDeployDefault.LambdaAllAtOnce";
/// Configuration used for ECS when neither the request nor the group names one.
pub const DEFAULT_ECS_CONFIG: &str = "CodeDeployDefault.ECSAllAtOnce";

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A new CodeDeploy-style deployment id: `d-` and nine upper-case letters and digits.
pub fn new_deployment_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let tail: String = bytes
        .iter()
        .take(9)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("d-{tail}")
}

/// The deployment id a client token stands for: `d-` and nine letters and digits from a
/// 64-bit FNV-1a hash of the token. Starting twice with one token names one deployment, so
/// the second start finds the first instead of starting again (and Step Functions, whose
/// execution is named after the id, refuses a second execution).
pub fn token_deployment_id(token: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in token.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let tail: String = (0..9)
        .map(|_| {
            let c = ALPHABET[(hash % ALPHABET.len() as u64) as usize] as char;
            hash /= ALPHABET.len() as u64;
            c
        })
        .collect();
    format!("d-{tail}")
}

/// Checks a client token: 1 to 128 characters among letters, digits and `-_.:/`.
pub fn check_client_token(token: &str) -> Result<()> {
    let ok = !token.is_empty()
        && token.len() <= 128
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::refused(
            "InvalidOption",
            format!("clientToken: {token:?} must be 1 to 128 letters, digits or -_.:/ (an event id, a job id or a UUID)"),
        ))
    }
}

/// A digest of a start request without its client token (SHA-256 of its JSON), to tell
/// a repeated request from another one that reuses the token.
pub fn request_digest(req: &StartRequest) -> String {
    use sha2::{Digest, Sha256};
    let body = serde_json::to_vec(&StartRequest {
        client_token: None,
        ..req.clone()
    })
    .unwrap_or_default();
    Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The deployment a repeated start found, if it was started by the same request.
fn same_request(existing: Deployment, digest: &str) -> Result<Deployment> {
    match &existing.request_digest {
        Some(d) if d != digest => Err(Error::refused(
            "IdempotencyConflict",
            format!(
                "clientToken: already used by deployment {} for a different request; use a new token for a new request (the same token only repeats the same request)",
                existing.id
            ),
        )),
        _ => Ok(existing),
    }
}

/// What starting a deployment needs; the `start` function's input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    /// The AppSpec (YAML or JSON text).
    pub appspec: String,
    /// Deployment configuration name; the group's, else CodeDeploy's default.
    #[serde(default)]
    pub config: Option<String>,
    /// CloudWatch alarms to watch (the group's when empty).
    #[serde(default)]
    pub alarms: Vec<String>,
    /// Turn off rollback on failure and alarm.
    #[serde(default)]
    pub no_auto_rollback: bool,
    /// Start although a watched alarm is in ALARM; only a new transition counts.
    #[serde(default)]
    pub ignore_firing_alarms: bool,
    /// Hook timeout (the group's, else 3600).
    #[serde(default)]
    pub hook_timeout_seconds: Option<u64>,
    /// ECS: how long the replacement may take to become steady (default 900).
    #[serde(default)]
    pub install_timeout_seconds: Option<u64>,
    /// Alarm poll interval (default 10).
    #[serde(default)]
    pub alarm_poll_seconds: Option<u64>,
    /// Time scale for demos and tests (default 1).
    #[serde(default)]
    pub time_scale: Option<f64>,
    /// Application name for notifications when no group is given (default: the function
    /// name).
    #[serde(default)]
    pub application: Option<String>,
    /// Stored deployment group `APPLICATION/NAME` to take defaults (and, for ECS, the
    /// cluster, service, listeners and target groups) from.
    #[serde(default)]
    pub group: Option<String>,
    /// Idempotency key: a start repeated with the same token (a retried invoke, an event
    /// or a pipeline job delivered twice) returns the deployment the first one started.
    #[serde(default)]
    pub client_token: Option<String>,
}

/// The outcome of one decision inside a tick.
enum Once {
    /// The deployment was already done.
    Finished(Deployment),
    /// Another tick saved first.
    Lost,
    /// Saved (or nothing to save), with the engine's wake-up, the answer of a hook the
    /// decision invoked, and the first error of its effects (the decision stands).
    Saved(Deployment, Option<u64>, Option<HookAnswer>, Option<Error>),
    /// The decision would invoke a hook, which only a driver's tick does: not saved.
    LeftToDriver(Deployment),
}

/// What a tick leaves behind.
#[derive(Debug, Clone)]
pub struct TickOutcome {
    /// The deployment as stored now.
    pub deployment: Deployment,
    /// When to tick again; `None` when done.
    pub wake_after: Option<u64>,
}

/// Everything a tick needs: the store and the AWS adapters, built once.
#[derive(Debug, Clone)]
pub struct Cutover {
    /// The DynamoDB table.
    pub store: Store,
    /// Lambda router and hook invoker.
    pub lambda: LambdaRouter,
    /// ECS task sets and ALB listeners.
    pub ecs: EcsRouter,
    /// CloudWatch alarms.
    pub alarms: Alarms,
    /// SNS notifier.
    pub notifier: Notifier,
    /// Region, for notifications.
    pub region: String,
    /// Defaults for start requests that leave options out (the stack's parameters).
    pub defaults: StartDefaults,
}

/// Option defaults a stack gives every deployment that does not set its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartDefaults {
    /// Alarm poll interval, seconds.
    pub alarm_poll_seconds: u64,
    /// Hook timeout, seconds (a group's own comes first).
    pub hook_timeout_seconds: u64,
}

impl Default for StartDefaults {
    fn default() -> StartDefaults {
        StartDefaults {
            alarm_poll_seconds: 10,
            hook_timeout_seconds: 3600,
        }
    }
}

impl Cutover {
    /// Resolves a configuration name: predefined (CodeDeploy or SAM short names) or custom
    /// from the table, and checks it is for `platform`.
    pub async fn resolve_config(
        &self,
        name: &str,
        platform: ComputePlatform,
    ) -> Result<DeploymentConfig> {
        let config = match DeploymentConfig::predefined(name) {
            Some(c) => c,
            None => match self.store.get_config(name).await? {
                Some(c) => c,
                None => {
                    return Err(Error::refused(
                        "UnknownConfig",
                        cutover_core::config::ConfigError::unknown_name(name).to_string(),
                    ))
                }
            },
        };
        config
            .check_platform(platform)
            .map_err(|e| Error::refused("ConfigPlatformMismatch", format!("--config: {e}")))?;
        Ok(config)
    }

    /// Loads a stored deployment group by `APPLICATION/NAME`.
    pub async fn group(&self, key: &str) -> Result<DeploymentGroup> {
        DeploymentGroup::parse_key(key).map_err(|m| Error::refused("InvalidGroupName", m))?;
        self.store.get_group(key).await?.ok_or_else(|| {
            Error::refused(
                "DeploymentGroupNotFound",
                format!(
                    "--group: deployment group {key} does not exist; put it first with `cutover group put --file group.yaml` (see `cutover groups`)"
                ),
            )
        })
    }

    /// Validates a start request against the AppSpec rules, its deployment group and AWS
    /// as it is, then records the deployment and takes the target's lock. Nothing in AWS
    /// changes here; a refusal leaves no trace.
    pub async fn start(&self, req: &StartRequest) -> Result<Deployment> {
        Ok(self.start_once(req).await?.0)
    }

    /// [`Cutover::start`], also telling whether this call recorded the deployment (`true`)
    /// or found the one an earlier start with the same client token recorded (`false`).
    pub async fn start_once(&self, req: &StartRequest) -> Result<(Deployment, bool)> {
        let digest = request_digest(req);
        let id = match &req.client_token {
            Some(token) => {
                check_client_token(token)?;
                let id = token_deployment_id(token);
                match self.store.load(&id).await {
                    Ok(existing) => return same_request(existing, &digest).map(|d| (d, false)),
                    Err(Error::NotFound(_)) => id,
                    Err(e) => return Err(e),
                }
            }
            None => new_deployment_id(),
        };
        match self.start_new(req, id.clone(), &digest).await {
            Ok(dep) => Ok((dep, true)),
            // Two deliveries of one token racing: the loser finds the winner's record.
            Err(Error::InProgress { active, .. }) if active == id => {
                same_request(self.store.load(&id).await?, &digest).map(|d| (d, false))
            }
            Err(Error::Conflict(c)) if c == id && req.client_token.is_some() => {
                same_request(self.store.load(&id).await?, &digest).map(|d| (d, false))
            }
            Err(e) => Err(e),
        }
    }

    async fn start_new(&self, req: &StartRequest, id: String, digest: &str) -> Result<Deployment> {
        if req.appspec.len() > MAX_APPSPEC_BYTES {
            return Err(Error::refused(
                "InvalidAppSpec",
                format!(
                    "appspec: {} bytes is over the {MAX_APPSPEC_BYTES}-byte limit",
                    req.appspec.len()
                ),
            ));
        }
        let spec = AppSpec::parse(&req.appspec)
            .map_err(|e| Error::refused("InvalidAppSpec", e.to_string()))?;
        let platform = spec.platform();
        let group = match &req.group {
            Some(key) => Some(self.group(key).await?),
            None => None,
        };
        if let Some(g) = &group {
            if g.compute_platform != platform {
                return Err(Error::refused(
                    "GroupPlatformMismatch",
                    format!(
                        "--group: {} is a {:?} deployment group, but the AppSpec deploys {}; use a group with computePlatform: {:?}",
                        g.key(),
                        g.compute_platform,
                        match platform {
                            ComputePlatform::Ecs => cutover_core::appspec::ECS_TYPE,
                            _ => cutover_core::appspec::LAMBDA_TYPE,
                        },
                        platform
                    ),
                ));
            }
            if let Some(a) = req.application.as_ref().filter(|a| **a != g.application) {
                return Err(Error::refused(
                    "InvalidOption",
                    format!(
                        "--application: {a} differs from the group's application {}; leave it out when --group is given",
                        g.application
                    ),
                ));
            }
        }
        let defaults = group.as_ref();
        let rollback = defaults.map(|g| g.auto_rollback).unwrap_or_default();
        let options = DeploymentOptions {
            alarms: if req.alarms.is_empty() {
                defaults.map(|g| g.alarms.clone()).unwrap_or_default()
            } else {
                req.alarms.clone()
            },
            auto_rollback: !req.no_auto_rollback && rollback.on_failure,
            rollback_on_alarm: !req.no_auto_rollback && rollback.on_alarm,
            rollback_on_stop: rollback.on_stop,
            ignore_firing_alarms: req.ignore_firing_alarms,
            hook_timeout_seconds: req
                .hook_timeout_seconds
                .or(defaults.and_then(|g| g.hook_timeout_seconds))
                .unwrap_or(self.defaults.hook_timeout_seconds),
            alarm_poll_seconds: req
                .alarm_poll_seconds
                .unwrap_or(self.defaults.alarm_poll_seconds),
            time_scale: req.time_scale.unwrap_or(1.0),
            install_timeout_seconds: req.install_timeout_seconds.unwrap_or(900),
            ..DeploymentOptions::default()
        };
        options
            .validate()
            .map_err(|m| Error::refused("InvalidOption", m))?;
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = options.alarms.iter().find(|a| !seen.insert(a.as_str())) {
            return Err(Error::refused(
                "InvalidOption",
                format!("--alarm: {dup} is given twice"),
            ));
        }
        let default_config = match platform {
            ComputePlatform::Ecs => DEFAULT_ECS_CONFIG,
            _ => DEFAULT_CONFIG,
        };
        let config_name = req
            .config
            .as_deref()
            .or(defaults.and_then(|g| g.deployment_config.as_deref()))
            .unwrap_or(default_config);
        let config = self.resolve_config(config_name, platform).await?;
        let target = match &spec.resource {
            AppSpecResource::Lambda(lambda) => Target::Lambda(LambdaTarget {
                function: lambda.name.clone(),
                alias: lambda.alias.clone(),
                current_version: lambda.current_version.clone(),
                target_version: lambda.target_version.clone(),
            }),
            AppSpecResource::Ecs(resource) => {
                let Some(ecs) = defaults.and_then(|g| g.ecs.as_ref()) else {
                    return Err(Error::refused(
                        "DeploymentGroupRequired",
                        "--group: an ECS deployment needs a deployment group naming the cluster, service, listeners and target groups; put one with `cutover group put --file group.yaml` and pass --group APPLICATION/NAME",
                    ));
                };
                // Cheap check of the lock before the AWS pre-flight.
                let key = format!(
                    "ecs:{}/{}",
                    cutover_core::model::last_segment(&ecs.cluster),
                    cutover_core::model::last_segment(&ecs.service)
                );
                if let Some(active) = self.store.active_on(&key).await? {
                    return Err(Error::InProgress {
                        active,
                        target: format!("{}/{}", ecs.cluster, ecs.service),
                    });
                }
                Target::Ecs(Box::new(self.ecs.resolve(ecs, resource).await?))
            }
        };
        let mut alias_revision = None;
        if let Target::Lambda(t) = &target {
            // (ECS checked its lock before the pre-flight above.)
            if let Some(active) = self.store.active_on(&target.lock_key()).await? {
                return Err(Error::InProgress {
                    active,
                    target: target.name(),
                });
            }
            alias_revision = self.lambda.preflight(t).await?;
        }
        for (i, h) in spec.hooks.iter().enumerate() {
            self.lambda
                .check_hook(&format!("Hooks[{i}].{}", h.event), &h.function)
                .await?;
        }
        let alarms = self.alarms.read(&options.alarms).await?;
        if let Some(a) = alarms.iter().find(|a| a.state == AlarmState::Missing) {
            return Err(Error::refused(
                "AlarmNotFound",
                format!(
                    "--alarm: CloudWatch alarm {} does not exist in this account and region",
                    a.name
                ),
            ));
        }
        let firing: Vec<&str> = alarms
            .iter()
            .filter(|a| a.state == AlarmState::Alarm)
            .map(|a| a.name.as_str())
            .collect();
        if !firing.is_empty() && !options.ignore_firing_alarms {
            return Err(Error::refused(
                "AlarmsFiring",
                format!(
                    "alarm {} is in ALARM already; fix what it reports first, or deploy the fix with --ignore-firing-alarms (then only a new transition to ALARM stops the deployment)",
                    firing.join(", ")
                ),
            ));
        }
        let now = now_ms();
        let mut dep = Deployment::new(id, target, config, spec.hooks.clone(), options, now);
        dep.hook_token = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        dep.alias_revision = alias_revision;
        dep.request_digest = req.client_token.as_ref().map(|_| digest.to_string());
        match &group {
            Some(g) => {
                dep.application = g.application.clone();
                dep.group = g.name.clone();
                dep.topic_arn = g.topic_arn.clone();
            }
            None => {
                if let Some(a) = &req.application {
                    dep.application = a.clone();
                }
            }
        }
        let log = vec![format!(
            "Created: {} with {} ({})",
            dep.target.describe(),
            dep.config.name,
            dep.config.describe()
        )];
        self.store.create(&dep, &log, now).await?;
        dep.log_seq = log.len() as u64;
        Ok(dep)
    }

    /// Reads what the engine needs. An operator's stop decides before anything is read:
    /// a deleted alias or a missing permission cannot keep a deployment from stopping.
    async fn observe(
        &self,
        dep: &Deployment,
        now: u64,
        extra: &Observation,
    ) -> Result<Observation> {
        let mut obs = extra.clone();
        if obs.stop.is_some() {
            return Ok(obs);
        }
        let need = engine::needs(dep, now);
        match &dep.target {
            Target::Lambda(t) if need.alias => {
                let alias = self.lambda.read_alias(t).await?;
                obs.alias = Some(alias.view);
                obs.alias_revision = alias.revision_id;
            }
            Target::Ecs(t) => {
                if need.listeners {
                    obs.listeners = Some(self.ecs.read_listeners(t).await?);
                }
                if need.task_sets {
                    obs.task_sets = Some(self.ecs.task_sets(t).await?);
                }
            }
            Target::Lambda(_) => {}
        }
        if need.alarms {
            obs.alarms = Some(self.alarms.read(&dep.options.alarms).await?);
        }
        Ok(obs)
    }

    /// Advances a deployment as far as it can go now. `extra` carries an operator's stop,
    /// a `continue` or a hook report into the first decision.
    ///
    /// Each decision is saved before its effects are made: the loser of a race never
    /// touches the target, and an effect lost to a crash after the save is made again by
    /// the next tick, which reads the target back. A hook's answer is carried into the next
    /// decision like any other input. Once the input of `extra` is saved, a later error is
    /// logged and the saved state returned, so a caller never repeats a stop or a hook
    /// report that already took effect.
    pub async fn tick(&self, id: &str, extra: Observation) -> Result<TickOutcome> {
        self.tick_as(id, extra, true).await
    }

    /// A tick made for an input (a stop, a `continue`, a hook's report, an alarm event):
    /// it decides as far as it can but invokes no hook — the driver does, at its next wake,
    /// so a hook's report never waits for the next hook to run.
    pub async fn tick_for_input(&self, id: &str, extra: Observation) -> Result<TickOutcome> {
        self.tick_as(id, extra, false).await
    }

    async fn tick_as(&self, id: &str, extra: Observation, drives: bool) -> Result<TickOutcome> {
        let mut carry = (extra != Observation::default()).then_some(extra);
        let mut conflicts = 0;
        let mut decisions = 0;
        let mut input_saved: Option<Deployment> = None;
        loop {
            match self.decide_once(id, carry.as_ref(), drives).await {
                Ok(Once::Finished(deployment)) => {
                    // A deployment that ended with notifications still unsent is ticked
                    // again until they are.
                    let wake_after = (!deployment.outbox.is_empty()).then_some(1000);
                    return Ok(TickOutcome {
                        deployment,
                        wake_after,
                    });
                }
                Ok(Once::LeftToDriver(deployment)) => {
                    return Ok(TickOutcome {
                        deployment,
                        wake_after: Some(0),
                    })
                }
                Ok(Once::Lost) => {
                    conflicts += 1;
                    match &carry {
                        Some(_) if conflicts < 5 => continue,
                        Some(obs) if obs.hook_response.is_none() => {
                            return Err(Error::Conflict(id.to_string()))
                        }
                        // A hook answer that cannot be saved is dropped: the claim lapses
                        // and the hook is asked again (or reports meanwhile).
                        _ => {}
                    }
                    let deployment = self.store.load(id).await?;
                    let wake_after = if deployment.is_done() { None } else { Some(0) };
                    return Ok(TickOutcome {
                        deployment,
                        wake_after,
                    });
                }
                Ok(Once::Saved(saved, wake_after, answer, error)) => {
                    decisions += 1;
                    if carry.take().is_some() {
                        input_saved = Some(saved.clone());
                    }
                    if let Some(e) = error {
                        // The decision stands; its effect is tried again by the next tick.
                        if input_saved.is_none() {
                            return Err(e);
                        }
                        tracing::warn!(deployment = %id, error = %e, "an effect failed after the input was saved; the next tick goes on");
                        return Ok(TickOutcome {
                            wake_after: if saved.is_done() { None } else { Some(1000) },
                            deployment: saved,
                        });
                    }
                    if let Some(answer) = answer {
                        conflicts = 0;
                        carry = Some(Observation {
                            hook_response: Some(answer),
                            ..Default::default()
                        });
                        continue;
                    }
                    match wake_after {
                        Some(0) if decisions < MAX_DECISIONS_PER_TICK => continue,
                        wake_after => {
                            return Ok(TickOutcome {
                                deployment: saved,
                                wake_after,
                            })
                        }
                    }
                }
                Err(e) => match input_saved {
                    Some(deployment) => {
                        tracing::warn!(deployment = %id, error = %e, "tick stopped after its input was saved; the next tick goes on");
                        let deployment = self.store.load(id).await.unwrap_or(deployment);
                        let wake_after = if deployment.is_done() {
                            None
                        } else {
                            Some(1000)
                        };
                        return Ok(TickOutcome {
                            deployment,
                            wake_after,
                        });
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// One decision: load (sending what an earlier tick left in the outbox), observe, read
    /// the clock, decide, save (the decision's notifications into the outbox), then make
    /// the effects and send the outbox.
    async fn decide_once(
        &self,
        id: &str,
        extra: Option<&Observation>,
        drives: bool,
    ) -> Result<Once> {
        let mut dep = self.store.load(id).await?;
        if !dep.outbox.is_empty() {
            dep = self.flush_outbox(dep).await;
        }
        if dep.is_done() {
            return Ok(Once::Finished(dep));
        }
        let input = extra.cloned().unwrap_or_default();
        let obs = self
            .observe(&dep, dep.decided_at.max(now_ms()), &input)
            .await?;
        // After observing, which can take long: a wait is never counted from before it.
        let now = now_ms();
        let mut decision = engine::decide(&dep, &obs, now);
        let unchanged =
            decision.next == dep && decision.actions.is_empty() && decision.log.is_empty();
        if unchanged {
            return Ok(Once::Saved(dep, decision.wake_after, None, None));
        }
        let invokes = decision
            .actions
            .iter()
            .any(|a| matches!(a, Action::InvokeHook { .. }));
        if invokes && !drives {
            return Ok(Once::LeftToDriver(dep));
        }
        for action in &decision.actions {
            if let Action::Notify(kind) = action {
                let next = &mut decision.next;
                next.notify_seq += 1;
                let id = format!("{}-{}", next.id, next.notify_seq);
                next.outbox.push(Outgoing {
                    id,
                    kind: *kind,
                    at: next.decided_at,
                });
            }
        }
        let saved = match self.store.save(&decision.next, &decision.log, now).await {
            Ok(saved) => saved,
            Err(Error::Conflict(_)) => return Ok(Once::Lost),
            Err(e) => return Err(e),
        };
        // Every effect is tried even when one fails (each is absolute, and the next tick
        // reads back what did not take), and the outbox is sent either way; the first
        // error is returned afterwards.
        let mut first_error = None;
        let mut answer = None;
        for action in &decision.actions {
            match action {
                Action::Notify(_) => {}
                Action::InvokeHook { invocation } => {
                    answer = Some(HookAnswer {
                        execution_id: saved
                            .hook
                            .as_ref()
                            .map(|h| h.execution_id.clone())
                            .unwrap_or_default(),
                        invocation: *invocation,
                        response: self.invoke_claimed_hook(&saved).await,
                    });
                }
                other => {
                    if let Err(e) = self.apply(&saved, other).await {
                        tracing::warn!(deployment = %saved.id, action = ?other, error = %e, "action failed");
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        let saved = self.flush_outbox(saved).await;
        Ok(Once::Saved(saved, decision.wake_after, answer, first_error))
    }

    /// Invokes the hook a saved decision claimed. An invocation that could not be made
    /// (throttled, say) is answered as such: the engine asks again later.
    async fn invoke_claimed_hook(&self, dep: &Deployment) -> HookResponse {
        let Some(call) = engine::hook_call(dep) else {
            return HookResponse::NotInvoked("no hook is running".into());
        };
        match self.lambda.invoke_hook(&call.function, &call.payload).await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(deployment = %dep.id, hook = %call.function, error = %e, "hook not invoked");
                HookResponse::NotInvoked(e.to_string())
            }
        }
    }

    /// Sends the outbox in order, stopping at the first failure, and marks what was sent
    /// (a conditional save of the record alone; if another tick saved meanwhile, a later
    /// tick sends again and subscribers drop the duplicate by its id). Returns the
    /// deployment as stored.
    async fn flush_outbox(&self, dep: Deployment) -> Deployment {
        let mut sent = 0;
        for note in &dep.outbox {
            match self.notifier.publish(note, &dep, &self.region).await {
                Ok(()) => sent += 1,
                // A destination that refuses for good (deleted, access denied) must not hold
                // back every later notification; one that is still failing after an hour
                // is given up too.
                Err(e) if !e.is_retryable() || note.at + OUTBOX_GIVE_UP_MS < now_ms() => {
                    tracing::error!(deployment = %dep.id, notification = %note.id, error = %e, "notification given up");
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(deployment = %dep.id, notification = %note.id, error = %e, "notification not sent; a later tick sends it again");
                    break;
                }
            }
        }
        if sent == 0 {
            return dep;
        }
        let mut next = dep.clone();
        next.outbox.drain(..sent);
        match self.store.save_state(&next).await {
            Ok(saved) => saved,
            Err(e) => {
                tracing::info!(deployment = %dep.id, error = %e, "notifications sent but not marked; a later tick may send them again");
                dep
            }
        }
    }

    /// Performs one traffic or task-set action of a saved decision.
    async fn apply(&self, dep: &Deployment, action: &Action) -> Result<()> {
        match (&dep.target, action) {
            (_, Action::Notify(_) | Action::InvokeHook { .. }) => Ok(()),
            (Target::Lambda(t), Action::Route { weight }) => {
                // A stale revision changes nothing: the next decision reads the alias.
                self.lambda
                    .route(t, *weight, dep.alias_revision.as_deref())
                    .await
                    .map(|_| ())
            }
            (Target::Lambda(_), other) => Err(Error::Corrupt(format!(
                "{other:?} is not a Lambda action (deployment {})",
                dep.id
            ))),
            (Target::Ecs(t), Action::Route { weight }) => {
                self.ecs.route(t, &t.production_listener, *weight).await
            }
            (Target::Ecs(t), Action::RouteTest { weight }) => match &t.test_listener {
                Some(l) => self.ecs.route(t, l, *weight).await,
                None => Ok(()),
            },
            (Target::Ecs(t), Action::CreateTaskSet) => self.ecs.create_task_set(t, &dep.id).await,
            (Target::Ecs(t), Action::SetPrimary { replacement }) => {
                match self.task_set_arn(dep, t, *replacement).await? {
                    Some(arn) => self.ecs.set_primary(t, &arn).await,
                    None => Ok(()),
                }
            }
            (Target::Ecs(t), Action::DeleteTaskSet { replacement }) => {
                match self.task_set_arn(dep, t, *replacement).await? {
                    Some(arn) => self.ecs.delete_task_set(t, &arn).await,
                    None => Ok(()),
                }
            }
        }
    }

    /// `stop --force`: ends an unfinished deployment now without reading or touching its
    /// target, releases its lock, records status Stopped with `ABANDONED` and where the
    /// target was left, and sends the stop notification.
    pub async fn abandon(&self, id: &str, reason: Option<String>) -> Result<TickOutcome> {
        for _ in 0..5 {
            let dep = self.store.load(id).await?;
            let Some(decision) = engine::abandon(&dep, reason.as_deref(), now_ms()) else {
                return Err(Error::refused(
                    "DeploymentAlreadyCompleted",
                    format!(
                        "deployment {id} already ended ({}); nothing to stop",
                        dep.status
                    ),
                ));
            };
            let mut next = decision.next;
            for action in &decision.actions {
                if let Action::Notify(kind) = action {
                    next.notify_seq += 1;
                    next.outbox.push(Outgoing {
                        id: format!("{}-{}", next.id, next.notify_seq),
                        kind: *kind,
                        at: next.decided_at,
                    });
                }
            }
            match self.store.save(&next, &decision.log, next.decided_at).await {
                Ok(saved) => {
                    tracing::warn!(deployment = %id, message = %saved.error.as_ref().map(|e| e.message.as_str()).unwrap_or(""), "deployment abandoned on request");
                    let deployment = self.flush_outbox(saved).await;
                    return Ok(TickOutcome {
                        deployment,
                        wake_after: None,
                    });
                }
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(id.to_string()))
    }

    /// The original task set's ARN, or the replacement's (found by its `externalId`, the
    /// deployment id) if it exists.
    async fn task_set_arn(
        &self,
        dep: &Deployment,
        t: &cutover_core::model::EcsTarget,
        replacement: bool,
    ) -> Result<Option<String>> {
        if !replacement {
            return Ok(Some(t.original_task_set.clone()));
        }
        if let Some(ts) = engine::replacement(dep) {
            return Ok(Some(ts.arn.clone()));
        }
        let sets = self.ecs.task_sets(t).await?;
        Ok(sets
            .into_iter()
            .find(|s| s.external_id.as_deref() == Some(dep.id.as_str()))
            .map(|s| s.arn))
    }

    /// An operator's `cutover continue`: leaves Ready, or ends the termination wait early.
    pub async fn proceed(&self, id: &str) -> Result<TickOutcome> {
        let dep = self.store.load(id).await?;
        if !matches!(dep.phase, Phase::Ready { .. } | Phase::Terminating { .. }) {
            return Err(Error::refused(
                "NothingToContinue",
                format!(
                    "deployment {id} is not waiting (status {}, phase {}); `continue` releases a deployment waiting at Ready or in its termination wait",
                    dep.status,
                    serde_json::to_value(&dep.phase)
                        .ok()
                        .and_then(|v| v.get("phase").and_then(|p| p.as_str()).map(String::from))
                        .unwrap_or_default()
                ),
            ));
        }
        let obs = Observation {
            proceed: true,
            ..Default::default()
        };
        self.tick_for_input(id, obs).await
    }

    /// Stops a deployment, rolling back when asked (when `rollback` is `None`, as the
    /// deployment group's `autoRollback.onStop` says).
    pub async fn stop(
        &self,
        id: &str,
        rollback: Option<bool>,
        reason: Option<String>,
    ) -> Result<TickOutcome> {
        let dep = self.store.load(id).await?;
        let rollback = rollback.unwrap_or(dep.options.rollback_on_stop);
        if dep.status.is_terminal() {
            let hint = if dep.is_done() {
                "nothing to stop".to_string()
            } else {
                format!("its rollback has not shown yet; `cutover stop {id} --force` ends it without touching its target")
            };
            return Err(Error::refused(
                "DeploymentAlreadyCompleted",
                format!("deployment {id} already ended ({}); {hint}", dep.status),
            ));
        }
        let obs = Observation {
            stop: Some(StopRequest { rollback, reason }),
            ..Default::default()
        };
        self.tick_for_input(id, obs).await
    }

    /// Accepts a hook's verdict reported later (CodeDeploy's
    /// `PutLifecycleEventHookExecutionStatus`). Only the pending execution id of that
    /// deployment is accepted, once.
    pub async fn hook_report(
        &self,
        id: &str,
        execution_id: &str,
        status: &str,
    ) -> Result<TickOutcome> {
        let succeeded = match status {
            "Succeeded" | "SUCCEEDED" => true,
            "Failed" | "FAILED" => false,
            other => {
                return Err(Error::HookReport(format!(
                    "status: {other:?} is not a verdict; use Succeeded or Failed"
                )))
            }
        };
        let dep = self.store.load(id).await?;
        let pending = match (&dep.phase, &dep.hook) {
            (Phase::Hook { .. }, Some(h)) => Some(h),
            _ => None,
        };
        match pending {
            Some(h) if h.execution_id == execution_id => {}
            _ => {
                let done_event = cutover_core::LifecycleEvent::ALL
                    .iter()
                    .any(|e| engine::execution_id(&dep, *e) == execution_id);
                return Err(Error::HookReport(if done_event {
                    format!("LifecycleEventAlreadyCompleted: the lifecycle event of {execution_id} is not waiting for a verdict")
                } else {
                    format!("InvalidLifecycleEventHookExecutionId: {execution_id} is not a hook execution of deployment {id}")
                }));
            }
        }
        let obs = Observation {
            hook_report: Some(HookReport {
                execution_id: execution_id.to_string(),
                succeeded,
            }),
            ..Default::default()
        };
        self.tick_for_input(id, obs).await
    }

    /// Ticks, at once, every active deployment that watches `alarm`.
    pub async fn on_alarm(&self, alarm: &str) -> Result<Vec<TickOutcome>> {
        let ids = self.store.watching(alarm).await?;
        // Concurrently: a rollback must not wait for another deployment's tick.
        let mut set = tokio::task::JoinSet::new();
        for id in ids {
            let app = self.clone();
            set.spawn(async move {
                let r = app.tick_for_input(&id, Observation::default()).await;
                (id.clone(), r)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(r) => results.push(r),
                Err(e) => results.push((
                    String::new(),
                    Err(Error::Corrupt(format!("alarm tick panicked: {e}"))),
                )),
            }
        }
        let mut out = Vec::new();
        let mut first_error = None;
        for (id, r) in results {
            match r {
                Ok(o) => out.push(o),
                Err(e) => {
                    tracing::error!(deployment = %id, alarm, error = %e, "alarm tick failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Every watcher was tried; fail the event (so it is retried) only if one failed.
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}
