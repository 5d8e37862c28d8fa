//! Starting a deployment: the request, its checks against the AppSpec rules, its group
//! and AWS as it is, idempotency by client token, then the record and the target's lock.
//! Nothing in AWS changes here; a refusal leaves no trace.

use crate::error::{Error, Result};
use crate::service::{now_ms, Cutover};
use cutover_core::appspec::{AppSpec, AppSpecResource};
use cutover_core::config::{ComputePlatform, DeploymentConfig};
use cutover_core::group::DeploymentGroup;
use cutover_core::model::{AlarmState, Deployment, DeploymentOptions, LambdaTarget, Target};
use serde::{Deserialize, Serialize};

/// Largest AppSpec accepted, in bytes.
pub const MAX_APPSPEC_BYTES: usize = 64 * 1024;
/// Configuration used for Lambda when neither the request nor the group names one
/// (CodeDeploy's default).
pub const DEFAULT_CONFIG: &str = "CodeDeployDefault.LambdaAllAtOnce";
/// Configuration used for ECS when neither the request nor the group names one.
pub const DEFAULT_ECS_CONFIG: &str = "CodeDeployDefault.ECSAllAtOnce";

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
        requested_by: None,
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

/// The most alarms a deployment watches (CodeDeploy's limit per group).
pub const MAX_ALARMS: usize = 10;
/// The longest CloudWatch alarm name (CloudWatch's limit).
pub const MAX_ALARM_NAME_LEN: usize = 255;
/// The longest configuration name (a predefined or custom one).
pub const MAX_CONFIG_NAME_LEN: usize = 100;

/// The names a request gives, checked before anything else: each bounded and free of
/// control characters, so no value from outside reaches a record, a notification or a
/// terminal unchecked, and the record's size stays bounded.
fn check_values(req: &StartRequest) -> Result<()> {
    let bad = |field: &str, why: String| Error::refused("InvalidOption", format!("{field}: {why}"));
    if let Some(a) = &req.application {
        cutover_core::group::check_name(a).map_err(|m| bad("--application", m))?;
    }
    if let Some(c) = &req.config {
        if c.is_empty()
            || c.chars().count() > MAX_CONFIG_NAME_LEN
            || c.chars().any(char::is_control)
        {
            return Err(bad(
                "--config",
                format!(
                    "{} is not a configuration name (1 to {MAX_CONFIG_NAME_LEN} characters, no control characters); `cutover configs` lists them",
                    cutover_core::text::shown(c, 60)
                ),
            ));
        }
    }
    if req.alarms.len() > MAX_ALARMS {
        return Err(bad(
            "--alarm",
            format!(
                "{} alarms given; a deployment watches at most {MAX_ALARMS} (combine them in a composite alarm)",
                req.alarms.len()
            ),
        ));
    }
    for a in &req.alarms {
        let ok = !a.is_empty()
            && a.chars().count() <= MAX_ALARM_NAME_LEN
            && !a.chars().any(char::is_control);
        if !ok {
            return Err(bad(
                "--alarm",
                format!(
                    "{} is not a CloudWatch alarm name (1 to {MAX_ALARM_NAME_LEN} characters, no control characters)",
                    cutover_core::text::shown(a, 60)
                ),
            ));
        }
    }
    Ok(())
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
    /// Who asks, as the caller reports it (the CLI sends its STS caller identity); kept in
    /// the event log, and not part of what makes two requests with one token the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// What a stack decides for every start: option defaults for deployments that do not set
/// their own, and the targets deployments may move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartDefaults {
    /// Alarm poll interval, seconds.
    pub alarm_poll_seconds: u64,
    /// Hook timeout, seconds (a group's own comes first).
    pub hook_timeout_seconds: u64,
    /// The targets a start may be for (`CUTOVER_ALLOWED_TARGETS`; default: every one).
    pub allowed_targets: crate::allowed::AllowedTargets,
    /// Every start must name a deployment group (`CUTOVER_REQUIRE_GROUP=true`).
    pub require_group: bool,
    /// A start may shorten the deployment's waits with a time scale. The CLI's `--local`
    /// mode may; the deployed functions only when the stack allows it
    /// (`CUTOVER_ALLOW_TIME_SCALE=true`, for demos).
    pub allow_time_scale: bool,
}

impl Default for StartDefaults {
    fn default() -> StartDefaults {
        StartDefaults {
            alarm_poll_seconds: 10,
            hook_timeout_seconds: 3600,
            allowed_targets: crate::allowed::AllowedTargets::everything(),
            require_group: false,
            allow_time_scale: true,
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
        check_values(req)?;
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
        // What may be moved is checked before any AWS call and any write (only the group
        // and a client token's record were read).
        let wanted =
            match &spec.resource {
                AppSpecResource::Lambda(l) => Some(crate::allowed::Wanted::Lambda {
                    function: &l.name,
                    alias: &l.alias,
                }),
                AppSpecResource::Ecs(_) => group.as_ref().and_then(|g| g.ecs.as_ref()).map(|e| {
                    crate::allowed::Wanted::Ecs {
                        cluster: &e.cluster,
                        service: &e.service,
                    }
                }),
            };
        if let Some(wanted) = &wanted {
            self.defaults.allowed_targets.check(wanted)?;
        }
        if self.defaults.require_group && group.is_none() {
            return Err(Error::refused(
                "GroupRequired",
                "--group: this stack requires every deployment to go through a deployment group (its RequireGroup parameter); pass --group APPLICATION/NAME (`cutover groups` lists them)",
            ));
        }
        if let Some(scale) = req.time_scale.filter(|s| *s != 1.0) {
            if !self.defaults.allow_time_scale {
                return Err(Error::refused(
                    "TimeScaleNotAllowed",
                    format!(
                        "timeScale: {scale} would shorten every wait of the deployment (bakes, the termination and Ready waits); this stack's functions accept a time scale only when its AllowTimeScale parameter is true (for demos); leave timeScale out"
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
        if let Some(g) = &group {
            let asked = cutover_core::guardrails::Asked {
                config: req.config.as_deref(),
                resolved: Some(&config),
                alarms: &req.alarms,
                no_auto_rollback: req.no_auto_rollback,
                ignore_firing_alarms: req.ignore_firing_alarms,
            };
            if let Some(message) =
                g.enforce
                    .violation(&g.key(), g.deployment_config.as_deref(), &g.alarms, &asked)
            {
                return Err(Error::refused("GuardrailViolated", message));
            }
        }
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
        dep.alias_revision = alias_revision;
        dep.request_digest = req.client_token.as_ref().map(|_| digest.to_string());
        dep.client_token_hash = req
            .client_token
            .as_deref()
            .map(cutover_core::model::execution_id_hash);
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
        let mut log = vec![format!(
            "Created: {} with {} ({})",
            dep.target.describe(),
            dep.config.name,
            dep.config.describe()
        )];
        if let Some(who) = &req.requested_by {
            log.push(format!("Start {}", cutover_core::text::requested_by(who)));
        }
        self.store.create(&dep, &log, now).await?;
        dep.log_seq = log.len() as u64;
        Ok(dep)
    }
}
