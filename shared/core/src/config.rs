//! Deployment configurations: CodeDeploy's predefined ones (by their exact names and SAM's
//! short names), custom configuration documents (JSON or YAML), validation with CodeDeploy's
//! limits, and the traffic-shifting schedule a configuration produces.
//!
//! A configuration is turned into a [`Shift`] schedule by [`DeploymentConfig::schedule`]:
//! after each shift `weight` % of the traffic goes to the target, then the engine waits
//! `wait_seconds` (watching alarms) before the next shift. The last shift always reaches
//! 100 %, and its wait is the bake time after 100 %.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::fmt;
use std::str::FromStr;

/// Longest interval, in minutes, of a canary or linear configuration, and the longest time
/// between the first and the last shift of any configuration (CodeDeploy's limit: 48 hours).
pub const MAX_SHIFTING_MINUTES: u32 = 2880;
/// [`MAX_SHIFTING_MINUTES`] in seconds.
pub const MAX_SHIFTING_SECONDS: u64 = MAX_SHIFTING_MINUTES as u64 * 60;
/// Longest bake time after 100 %, in seconds (48 hours).
pub const MAX_BAKE_SECONDS: u64 = MAX_SHIFTING_SECONDS;
/// Most steps a `Steps` configuration may list.
pub const MAX_STEPS: usize = 100;
/// Longest custom configuration name (CodeDeploy's limit).
pub const MAX_NAME_LEN: usize = 100;
/// Largest configuration document (or AppSpec) accepted, in bytes (64 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Prefix reserved for CodeDeploy's predefined configurations.
pub const RESERVED_PREFIX: &str = "CodeDeployDefault.";

/// Prefix SAM prepends to its short names (`Canary10Percent5Minutes`).
const SAM_PREFIX: &str = "CodeDeployDefault.Lambda";

/// The compute platform a configuration (and a deployment) is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComputePlatform {
    /// AWS Lambda: traffic shifts between two versions behind an alias.
    Lambda,
    /// Amazon ECS: traffic shifts between two task sets behind a load balancer.
    #[serde(rename = "ECS")]
    Ecs,
}

impl ComputePlatform {
    /// Both platforms.
    pub const ALL: [ComputePlatform; 2] = [ComputePlatform::Lambda, ComputePlatform::Ecs];

    /// CodeDeploy's spelling: `Lambda` or `ECS`.
    pub fn as_str(self) -> &'static str {
        match self {
            ComputePlatform::Lambda => "Lambda",
            ComputePlatform::Ecs => "ECS",
        }
    }

    /// The indefinite article for the name ("a Lambda", "an ECS").
    fn article(self) -> &'static str {
        match self {
            ComputePlatform::Lambda => "a",
            ComputePlatform::Ecs => "an",
        }
    }
}

impl fmt::Display for ComputePlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ComputePlatform {
    type Err = ConfigError;

    /// Parses CodeDeploy's exact spelling (`Lambda` or `ECS`); other spellings are errors
    /// that name the right one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_platform(s, "computePlatform")
    }
}

fn parse_platform(s: &str, field: &str) -> Result<ComputePlatform, ConfigError> {
    match s {
        "Lambda" => Ok(ComputePlatform::Lambda),
        "ECS" => Ok(ComputePlatform::Ecs),
        _ => {
            let message = if s.eq_ignore_ascii_case("server") {
                format!("{s:?} (EC2/on-premises) is not supported; use \"Lambda\" or \"ECS\"")
            } else if let Some(p) = ComputePlatform::ALL
                .into_iter()
                .find(|p| p.as_str().eq_ignore_ascii_case(s))
            {
                format!(
                    "{s:?} is not a compute platform; write it exactly as {:?}",
                    p.as_str()
                )
            } else {
                format!("{s:?} is not a compute platform; use \"Lambda\" or \"ECS\"")
            };
            Err(ConfigError::invalid(field, message))
        }
    }
}

/// One step of a `Steps` configuration (a Cutover extension, like Flagger's `stepWeights`).
///
/// In documents it is written `{"weight": 5, "bakeSeconds": 60}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepSpec {
    /// Percentage of traffic on the target after this step (1 to 100).
    pub weight: u8,
    /// Seconds to wait (watching alarms) after this step before the next one.
    pub bake_seconds: u64,
}

/// How traffic moves from the original to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrafficRouting {
    /// All traffic at once.
    AllAtOnce,
    /// `percentage` % first, the rest after `interval_minutes`.
    TimeBasedCanary {
        /// Percentage shifted first (1 to 99).
        percentage: u8,
        /// Minutes before the rest is shifted (1 to 2880).
        interval_minutes: u32,
    },
    /// `percentage` % more after every `interval_minutes` until 100 %.
    TimeBasedLinear {
        /// Percentage added at every shift (1 to 99).
        percentage: u8,
        /// Minutes between shifts (at least 1; at most 2880 between the first and last).
        interval_minutes: u32,
    },
    /// Cutover extension: explicit list of steps (Flagger stepWeights style), weight = % on
    /// target after the step, bake = wait after it.
    ///
    /// If the last step's weight is below 100, a final 100 % shift is appended. See
    /// [`DeploymentConfig::schedule`] for how the waits are laid out.
    Steps(Vec<StepSpec>),
}

impl TrafficRouting {
    /// The `type` of the routing in configuration documents.
    pub fn type_name(&self) -> &'static str {
        match self {
            TrafficRouting::AllAtOnce => "AllAtOnce",
            TrafficRouting::TimeBasedCanary { .. } => "TimeBasedCanary",
            TrafficRouting::TimeBasedLinear { .. } => "TimeBasedLinear",
            TrafficRouting::Steps(_) => "Steps",
        }
    }
}

/// A deployment configuration: a name, a platform and a traffic-shifting schedule.
///
/// Serialized (serde) in the document shape that [`DeploymentConfig::parse_document`] reads
/// and [`DeploymentConfig::to_document`] writes; deserializing validates, so only valid
/// configurations can be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    /// The configuration's name (`CodeDeployDefault.*` for predefined ones).
    pub name: String,
    /// The platform it applies to.
    pub platform: ComputePlatform,
    /// How traffic shifts.
    pub routing: TrafficRouting,
    /// Cutover extension: time to keep watching alarms after 100 % before declaring success.
    pub bake_after_seconds: u64,
}

/// One traffic shift of a schedule: after it, `weight` % of traffic goes to the target; then
/// wait `wait_seconds` before the next shift (for the last shift: the bake after 100 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// Percentage of traffic on the target after this shift.
    pub weight: u8,
    /// Seconds to wait after this shift.
    pub wait_seconds: u64,
}

/// An error in a deployment configuration, its document or its name. Messages name the field
/// (with its path in the document) and say what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field is missing, has the wrong type or an out-of-range value.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the field in the document, e.g.
        /// `trafficRoutingConfig.timeBasedCanary.canaryPercentage`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The document is not JSON or YAML, is empty or too large.
    #[error("{message}")]
    Syntax {
        /// What is wrong, with the parser's line and column when it gave them.
        message: String,
    },
    /// No predefined configuration has this name.
    #[error("{}", unknown_name_message(.name, .suggestions))]
    UnknownName {
        /// The name asked for.
        name: String,
        /// A few close names (best first), possibly none.
        suggestions: Vec<String>,
    },
    /// The configuration is for the other compute platform.
    #[error("{}", mismatch_message(.name, *.config_platform, *.deployment_platform, .suggestion))]
    PlatformMismatch {
        /// The configuration's name.
        name: String,
        /// The platform the configuration is for.
        config_platform: ComputePlatform,
        /// The platform of the deployment.
        deployment_platform: ComputePlatform,
        /// The equivalent predefined configuration for the deployment's platform, if any.
        suggestion: Option<String>,
    },
}

impl ConfigError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The document path of the offending field, for [`ConfigError::Invalid`].
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }

    /// An [`ConfigError::UnknownName`] for `name`, with suggestions among the predefined
    /// names and SAM short names.
    pub fn unknown_name(name: &str) -> Self {
        let candidates = predefined_and_short_names();
        ConfigError::UnknownName {
            name: name.to_string(),
            suggestions: suggest(name, &candidates, 3)
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }
}

fn unknown_name_message(name: &str, suggestions: &[String]) -> String {
    let mut out = format!("unknown deployment configuration {name:?}; ");
    match suggestions {
        [] => {}
        [one] => out.push_str(&format!("did you mean {one}? ")),
        [init @ .., last] => {
            out.push_str(&format!("did you mean {} or {last}? ", init.join(", ")));
        }
    }
    out.push_str("`cutover configs` lists them all");
    out
}

fn mismatch_message(
    name: &str,
    config_platform: ComputePlatform,
    deployment_platform: ComputePlatform,
    suggestion: &Option<String>,
) -> String {
    let head = format!(
        "{name} is {} {config_platform} configuration and cannot be used for {} \
         {deployment_platform} deployment",
        config_platform.article(),
        deployment_platform.article(),
    );
    match suggestion {
        Some(s) => format!("{head}; use {s}"),
        None if name.starts_with(RESERVED_PREFIX) => format!(
            "{head}; choose {} {deployment_platform} configuration (`cutover configs` lists them)",
            deployment_platform.article()
        ),
        None => format!(
            "{head}; set computePlatform to \"{deployment_platform}\" in its document or choose \
             {} {deployment_platform} configuration",
            deployment_platform.article()
        ),
    }
}

#[derive(Clone, Copy)]
enum Preset {
    AllAtOnce,
    Canary(u8, u32),
    Linear(u8, u32),
}

use ComputePlatform::{Ecs, Lambda};

const PREDEFINED: [(&str, ComputePlatform, Preset); 14] = [
    (
        "CodeDeployDefault.LambdaAllAtOnce",
        Lambda,
        Preset::AllAtOnce,
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        Lambda,
        Preset::Canary(10, 5),
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent10Minutes",
        Lambda,
        Preset::Canary(10, 10),
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent15Minutes",
        Lambda,
        Preset::Canary(10, 15),
    ),
    (
        "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        Lambda,
        Preset::Canary(10, 30),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
        Lambda,
        Preset::Linear(10, 1),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery2Minutes",
        Lambda,
        Preset::Linear(10, 2),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery3Minutes",
        Lambda,
        Preset::Linear(10, 3),
    ),
    (
        "CodeDeployDefault.LambdaLinear10PercentEvery10Minutes",
        Lambda,
        Preset::Linear(10, 10),
    ),
    ("CodeDeployDefault.ECSAllAtOnce", Ecs, Preset::AllAtOnce),
    (
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        Ecs,
        Preset::Canary(10, 5),
    ),
    (
        "CodeDeployDefault.ECSCanary10Percent15Minutes",
        Ecs,
        Preset::Canary(10, 15),
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        Ecs,
        Preset::Linear(10, 1),
    ),
    (
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
        Ecs,
        Preset::Linear(10, 3),
    ),
];

fn preset_config(name: &str, platform: ComputePlatform, preset: Preset) -> DeploymentConfig {
    let routing = match preset {
        Preset::AllAtOnce => TrafficRouting::AllAtOnce,
        Preset::Canary(percentage, interval_minutes) => TrafficRouting::TimeBasedCanary {
            percentage,
            interval_minutes,
        },
        Preset::Linear(percentage, interval_minutes) => TrafficRouting::TimeBasedLinear {
            percentage,
            interval_minutes,
        },
    };
    DeploymentConfig {
        name: name.to_string(),
        platform,
        routing,
        bake_after_seconds: 0,
    }
}

/// Every predefined full name followed by every SAM short name.
fn predefined_and_short_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PREDEFINED.iter().map(|(n, _, _)| *n).collect();
    names.extend(
        PREDEFINED
            .iter()
            .filter_map(|(n, _, _)| n.strip_prefix(SAM_PREFIX)),
    );
    names
}

impl DeploymentConfig {
    /// The shifts this configuration performs, in order. Always non-empty, with strictly
    /// increasing weights, the last one 100.
    ///
    /// - AllAtOnce: `[100 % then bake]`.
    /// - Canary p % / m min: `[p % then m min, 100 % then bake]`.
    /// - Linear p % / m min: p, 2p, … (the last capped at 100), each followed by m min, except
    ///   the 100 % shift, followed by the bake.
    /// - Steps: each given step, followed by its `bake_seconds`; if the last given weight is
    ///   below 100 a 100 % shift is appended, followed by the bake. If the last given step is
    ///   100 %, its wait is its own `bake_seconds` plus `bake_after_seconds`.
    ///
    /// "The bake" is `bake_after_seconds`. Configurations that fail [`Self::validate`] still
    /// give a schedule with these properties: out-of-range percentages shift everything at
    /// once, and steps that are 0 or not above the previous weight are skipped.
    pub fn schedule(&self) -> Vec<Shift> {
        let bake = self.bake_after_seconds;
        let all_at_once = vec![Shift {
            weight: 100,
            wait_seconds: bake,
        }];
        match &self.routing {
            TrafficRouting::AllAtOnce => all_at_once,
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => {
                if (1..=99).contains(percentage) {
                    vec![
                        Shift {
                            weight: *percentage,
                            wait_seconds: minutes(*interval_minutes),
                        },
                        Shift {
                            weight: 100,
                            wait_seconds: bake,
                        },
                    ]
                } else {
                    all_at_once
                }
            }
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => {
                if !(1..=99).contains(percentage) {
                    return all_at_once;
                }
                let mut shifts = Vec::new();
                let mut weight = u16::from(*percentage);
                while weight < 100 {
                    shifts.push(Shift {
                        weight: weight as u8,
                        wait_seconds: minutes(*interval_minutes),
                    });
                    weight += u16::from(*percentage);
                }
                shifts.push(Shift {
                    weight: 100,
                    wait_seconds: bake,
                });
                shifts
            }
            TrafficRouting::Steps(steps) => {
                let mut shifts: Vec<Shift> = Vec::new();
                for step in steps {
                    let weight = step.weight.min(100);
                    if weight == 0 || shifts.last().is_some_and(|s| s.weight >= weight) {
                        continue;
                    }
                    shifts.push(Shift {
                        weight,
                        wait_seconds: step.bake_seconds,
                    });
                    if weight == 100 {
                        break;
                    }
                }
                match shifts.last_mut() {
                    Some(last) if last.weight == 100 => {
                        last.wait_seconds = last.wait_seconds.saturating_add(bake);
                    }
                    _ => shifts.push(Shift {
                        weight: 100,
                        wait_seconds: bake,
                    }),
                }
                shifts
            }
        }
    }

    /// Total seconds of waiting in the schedule: the sum of its `wait_seconds` (saturating,
    /// which only matters for configurations that fail validation).
    pub fn total_seconds(&self) -> u64 {
        self.schedule()
            .iter()
            .fold(0u64, |acc, s| acc.saturating_add(s.wait_seconds))
    }

    /// Seconds between the first and the last shift (all waits but the final bake).
    pub fn shifting_seconds(&self) -> u64 {
        let schedule = self.schedule();
        schedule[..schedule.len() - 1]
            .iter()
            .fold(0u64, |acc, s| acc.saturating_add(s.wait_seconds))
    }

    /// Checks CodeDeploy's limits and Cutover's; returns the first problem found, in
    /// document order.
    ///
    /// - name: non-empty, at most 100 characters, ASCII letters, digits, `.`, `_`, `-`; a name
    ///   starting with `CodeDeployDefault.` must be a predefined configuration with its
    ///   platform and routing (only the bake may differ); SAM short names are reserved too.
    /// - canary / linear: percentage 1 to 99, interval at least 1 minute, at most 2880
    ///   minutes between the first and the last shift.
    /// - steps: 1 to 100 steps, weights 1 to 100 strictly increasing, at most 2880 minutes
    ///   between the first and the last shift, at most 2880 minutes of bake after 100 %.
    /// - `bake_after_seconds` at most 172800 (48 hours).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_name()?;
        match &self.routing {
            TrafficRouting::AllAtOnce => {}
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => {
                let base = "trafficRoutingConfig.timeBasedCanary";
                check_percentage(&format!("{base}.canaryPercentage"), *percentage)?;
                check_range(
                    &format!("{base}.canaryInterval"),
                    i128::from(*interval_minutes),
                    1,
                    i128::from(MAX_SHIFTING_MINUTES),
                    Some("of minutes"),
                )?;
            }
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => {
                let base = "trafficRoutingConfig.timeBasedLinear";
                check_percentage(&format!("{base}.linearPercentage"), *percentage)?;
                let field = format!("{base}.linearInterval");
                check_range(
                    &field,
                    i128::from(*interval_minutes),
                    1,
                    i128::from(MAX_SHIFTING_MINUTES),
                    Some("of minutes"),
                )?;
                let shifts = u64::from(100u8.div_ceil(*percentage));
                let span = (shifts - 1) * u64::from(*interval_minutes);
                if span > u64::from(MAX_SHIFTING_MINUTES) {
                    let max = u64::from(MAX_SHIFTING_MINUTES) / (shifts - 1);
                    return Err(ConfigError::invalid(
                        field,
                        format!(
                            "shifting {percentage}% every {interval_minutes} minutes takes \
                             {span} minutes from the first to the last of its {shifts} shifts; \
                             at most {MAX_SHIFTING_MINUTES} minutes (48 hours) are allowed, so \
                             with linearPercentage {percentage} use at most {max} minutes"
                        ),
                    ));
                }
            }
            TrafficRouting::Steps(steps) => self.validate_steps(steps)?,
        }
        check_range(
            "bakeAfterSeconds",
            i128::from(self.bake_after_seconds),
            0,
            i128::from(MAX_BAKE_SECONDS),
            Some("of seconds"),
        )
    }

    fn validate_name(&self) -> Result<(), ConfigError> {
        let field = "deploymentConfigName";
        let name = &self.name;
        if name.is_empty() {
            return Err(ConfigError::invalid(
                field,
                "is required and must not be empty",
            ));
        }
        let len = name.chars().count();
        if len > MAX_NAME_LEN {
            return Err(ConfigError::invalid(
                field,
                format!("is {len} characters long; use at most {MAX_NAME_LEN}"),
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(ConfigError::invalid(
                field,
                format!("{name:?} contains {bad:?}; use only letters, digits, '.', '_' and '-'"),
            ));
        }
        if name.starts_with(RESERVED_PREFIX) {
            return match DeploymentConfig::predefined(name) {
                Some(p) if p.platform == self.platform && p.routing == self.routing => Ok(()),
                Some(_) => Err(ConfigError::invalid(
                    field,
                    format!(
                        "{name} is a predefined configuration whose platform and traffic \
                         routing cannot be changed; give your configuration a name that does \
                         not start with \"{RESERVED_PREFIX}\""
                    ),
                )),
                None => Err(ConfigError::invalid(
                    field,
                    format!(
                        "{name:?} starts with \"{RESERVED_PREFIX}\", which is reserved for \
                         CodeDeploy's predefined configurations; choose another name"
                    ),
                )),
            };
        }
        if let Some(p) = DeploymentConfig::predefined(name) {
            return Err(ConfigError::invalid(
                field,
                format!(
                    "{name:?} is the short name of {}; choose another name",
                    p.name
                ),
            ));
        }
        Ok(())
    }

    fn validate_steps(&self, steps: &[StepSpec]) -> Result<(), ConfigError> {
        let base = "trafficRoutingConfig.steps";
        if steps.is_empty() {
            return Err(ConfigError::invalid(
                base,
                "at least one step is required, e.g. [{\"weight\": 10, \"bakeSeconds\": 300}]",
            ));
        }
        if steps.len() > MAX_STEPS {
            return Err(ConfigError::invalid(
                base,
                format!(
                    "{} steps given; at most {MAX_STEPS} are allowed",
                    steps.len()
                ),
            ));
        }
        let mut previous: Option<u8> = None;
        for (i, step) in steps.iter().enumerate() {
            let field = format!("{base}[{i}].weight");
            check_range(&field, i128::from(step.weight), 1, 100, None)?;
            if let Some(prev) = previous {
                if step.weight <= prev {
                    return Err(ConfigError::invalid(
                        field,
                        format!(
                            "{} is not above the previous step's weight {prev}; weights must \
                             increase strictly (from 1 to 100)",
                            step.weight
                        ),
                    ));
                }
            }
            previous = Some(step.weight);
        }
        let shifting = self.shifting_seconds();
        if shifting > MAX_SHIFTING_SECONDS {
            return Err(ConfigError::invalid(
                base,
                format!(
                    "the bakes before the last shift add up to {shifting} seconds; at most \
                     {MAX_SHIFTING_SECONDS} seconds ({MAX_SHIFTING_MINUTES} minutes, 48 hours) \
                     are allowed between the first and the last shift"
                ),
            ));
        }
        let last = &steps[steps.len() - 1];
        if last.weight == 100 {
            let final_bake = last.bake_seconds.saturating_add(self.bake_after_seconds);
            if final_bake > MAX_BAKE_SECONDS {
                return Err(ConfigError::invalid(
                    format!("{base}[{}].bakeSeconds", steps.len() - 1),
                    format!(
                        "the bake after 100% (this step's bakeSeconds plus bakeAfterSeconds) is \
                         {final_bake} seconds; at most {MAX_BAKE_SECONDS} seconds (48 hours) \
                         are allowed"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A predefined configuration by its exact CodeDeploy name
    /// (`CodeDeployDefault.LambdaCanary10Percent5Minutes`) or SAM short name
    /// (`Canary10Percent5Minutes`, which resolves to the Lambda configuration). Names are
    /// case-sensitive, as in CodeDeploy.
    pub fn predefined(name: &str) -> Option<DeploymentConfig> {
        PREDEFINED
            .iter()
            .find(|(full, platform, _)| {
                *full == name
                    || (*platform == ComputePlatform::Lambda
                        && full.strip_prefix(SAM_PREFIX) == Some(name))
            })
            .map(|(full, platform, preset)| preset_config(full, *platform, *preset))
    }

    /// Every predefined configuration (`CodeDeployDefault.*`, Lambda first), without the SAM
    /// short aliases.
    pub fn predefined_all() -> Vec<DeploymentConfig> {
        PREDEFINED
            .iter()
            .map(|(n, p, preset)| preset_config(n, *p, *preset))
            .collect()
    }

    /// Like [`Self::predefined`], but an unknown name is an error that suggests close names.
    pub fn lookup(name: &str) -> Result<DeploymentConfig, ConfigError> {
        Self::predefined(name).ok_or_else(|| ConfigError::unknown_name(name))
    }

    /// [`Self::lookup`] followed by [`Self::check_platform`]: the predefined configuration
    /// `name` for a deployment on `platform`.
    pub fn resolve(name: &str, platform: ComputePlatform) -> Result<DeploymentConfig, ConfigError> {
        let config = Self::lookup(name)?;
        config.check_platform(platform)?;
        Ok(config)
    }

    /// Whether this is exactly one of the predefined configurations (by name, platform,
    /// routing and bake).
    pub fn is_predefined(&self) -> bool {
        Self::predefined(&self.name).is_some_and(|p| p == *self)
    }

    /// SAM's short name for this configuration (`Canary10Percent5Minutes`), if it is a
    /// predefined Lambda configuration.
    pub fn short_name(&self) -> Option<&str> {
        if self.platform != ComputePlatform::Lambda {
            return None;
        }
        let short = self.name.strip_prefix(SAM_PREFIX)?;
        Self::predefined(short).map(|_| short)
    }

    /// Reads a custom configuration document (JSON or YAML, at most 64 KiB):
    ///
    /// ```json
    /// {
    ///   "deploymentConfigName": "MyCanary20",
    ///   "computePlatform": "Lambda",
    ///   "trafficRoutingConfig": {
    ///     "type": "TimeBasedCanary",
    ///     "timeBasedCanary": {"canaryPercentage": 20, "canaryInterval": 15}
    ///   },
    ///   "bakeAfterSeconds": 300
    /// }
    /// ```
    ///
    /// `type` is `TimeBasedCanary` (with `timeBasedCanary`), `TimeBasedLinear` (with
    /// `timeBasedLinear: {linearPercentage, linearInterval}`), `AllAtOnce` (no member) or
    /// `Steps` (with `steps: [{weight, bakeSeconds}, ...]`). `computePlatform` defaults to
    /// `Lambda`, `bakeAfterSeconds` to 0. Unknown keys are errors. The result is validated.
    pub fn parse_document(text: &str) -> Result<DeploymentConfig, ConfigError> {
        let value = parse_text(text).map_err(|e| match e.path {
            Some(path) if path.is_empty() => ConfigError::invalid("document", e.message),
            Some(path) => ConfigError::Invalid {
                field: path,
                message: e.message,
            },
            None => ConfigError::Syntax {
                message: format!("the deployment configuration document {}", e.message),
            },
        })?;
        Self::from_document(&value)
    }

    /// Like [`Self::parse_document`], from an already parsed JSON value.
    pub fn from_document(value: &Value) -> Result<DeploymentConfig, ConfigError> {
        let root = match value {
            Value::Object(map) => map,
            Value::Null => {
                return Err(ConfigError::Syntax {
                    message: "the deployment configuration document is empty".to_string(),
                })
            }
            other => {
                return Err(ConfigError::invalid(
                    "document",
                    format!(
                        "must be an object with deploymentConfigName and trafficRoutingConfig, \
                         not {}",
                        type_name(other)
                    ),
                ))
            }
        };
        check_keys(
            root,
            "",
            &[
                "deploymentConfigName",
                "computePlatform",
                "trafficRoutingConfig",
                "bakeAfterSeconds",
            ],
        )?;
        let name = as_str(
            required(root, "", "deploymentConfigName")?,
            "deploymentConfigName",
        )?;
        let platform = match get(root, "computePlatform") {
            None => ComputePlatform::Lambda,
            Some(v) => parse_platform(as_str(v, "computePlatform")?, "computePlatform")?,
        };
        let routing = parse_routing(required(root, "", "trafficRoutingConfig")?)?;
        let bake_after_seconds = match get(root, "bakeAfterSeconds") {
            None => 0,
            Some(v) => {
                let n = whole_number(v, "bakeAfterSeconds")?;
                check_range(
                    "bakeAfterSeconds",
                    n,
                    0,
                    i128::from(MAX_BAKE_SECONDS),
                    Some("of seconds"),
                )?;
                n as u64
            }
        };
        let config = DeploymentConfig {
            name: name.to_string(),
            platform,
            routing,
            bake_after_seconds,
        };
        config.validate()?;
        Ok(config)
    }

    /// The configuration as a document of the shape [`Self::parse_document`] reads
    /// (`computePlatform` and `bakeAfterSeconds` always written).
    pub fn to_document(&self) -> Value {
        let mut routing = Map::new();
        routing.insert("type".into(), json!(self.routing.type_name()));
        match &self.routing {
            TrafficRouting::AllAtOnce => {}
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => {
                routing.insert(
                    "timeBasedCanary".into(),
                    json!({"canaryPercentage": percentage, "canaryInterval": interval_minutes}),
                );
            }
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => {
                routing.insert(
                    "timeBasedLinear".into(),
                    json!({"linearPercentage": percentage, "linearInterval": interval_minutes}),
                );
            }
            TrafficRouting::Steps(steps) => {
                routing.insert(
                    "steps".into(),
                    Value::Array(
                        steps
                            .iter()
                            .map(|s| json!({"weight": s.weight, "bakeSeconds": s.bake_seconds}))
                            .collect(),
                    ),
                );
            }
        }
        json!({
            "deploymentConfigName": self.name,
            "computePlatform": self.platform.as_str(),
            "trafficRoutingConfig": Value::Object(routing),
            "bakeAfterSeconds": self.bake_after_seconds,
        })
    }

    /// `Ok` if this configuration is for `platform`; otherwise an error that names the
    /// equivalent predefined configuration for `platform` when there is one.
    pub fn check_platform(&self, platform: ComputePlatform) -> Result<(), ConfigError> {
        if self.platform == platform {
            return Ok(());
        }
        let suggestion = if self.name.starts_with(RESERVED_PREFIX) {
            PREDEFINED
                .iter()
                .map(|(n, p, preset)| preset_config(n, *p, *preset))
                .find(|c| c.platform == platform && c.routing == self.routing)
                .map(|c| c.name)
        } else {
            None
        };
        Err(ConfigError::PlatformMismatch {
            name: self.name.clone(),
            config_platform: self.platform,
            deployment_platform: platform,
            suggestion,
        })
    }

    /// One line for humans: "all at once", "canary: 10% then 100% after 5 min",
    /// "linear: +10% every 1 min (10 shifts)", "steps: 5%, 25%, 50%, 100%"; followed by
    /// ", then bake 5 min" when there is a bake after 100 %.
    pub fn describe(&self) -> String {
        let mut out = match &self.routing {
            TrafficRouting::AllAtOnce => "all at once".to_string(),
            TrafficRouting::TimeBasedCanary {
                percentage,
                interval_minutes,
            } => format!(
                "canary: {percentage}% then 100% after {}",
                format_duration(minutes(*interval_minutes))
            ),
            TrafficRouting::TimeBasedLinear {
                percentage,
                interval_minutes,
            } => format!(
                "linear: +{percentage}% every {} ({} shifts)",
                format_duration(minutes(*interval_minutes)),
                self.schedule().len()
            ),
            TrafficRouting::Steps(_) => {
                let weights: Vec<String> = self
                    .schedule()
                    .iter()
                    .map(|s| format!("{}%", s.weight))
                    .collect();
                format!("steps: {}", weights.join(", "))
            }
        };
        if self.bake_after_seconds > 0 {
            out.push_str(&format!(
                ", then bake {}",
                format_duration(self.bake_after_seconds)
            ));
        }
        out
    }
}

impl Serialize for DeploymentConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_document().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for DeploymentConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        DeploymentConfig::from_document(&value).map_err(de::Error::custom)
    }
}

fn minutes(m: u32) -> u64 {
    u64::from(m) * 60
}

/// "0 s", "45 s", "5 min", "1 min 30 s", "2 h", "1 h 30 min".
pub(crate) fn format_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0 s".to_string();
    }
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    if s > 0 {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

fn check_percentage(field: &str, percentage: u8) -> Result<(), ConfigError> {
    if percentage == 100 {
        return Err(ConfigError::invalid(
            field,
            "100 is out of range; use a whole number from 1 to 99 (to shift everything at \
             once use type AllAtOnce)",
        ));
    }
    check_range(field, i128::from(percentage), 1, 99, None)
}

fn check_range(
    field: &str,
    n: i128,
    lo: i128,
    hi: i128,
    unit: Option<&str>,
) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&n) {
        return Ok(());
    }
    let unit = unit.map(|u| format!(" {u}")).unwrap_or_default();
    Err(ConfigError::invalid(
        field,
        format!("{n} is out of range; use a whole number{unit} from {lo} to {hi}"),
    ))
}

// ---------------------------------------------------------------------------------------
// Document walking

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A member, with `null` treated as absent.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn required<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
) -> Result<&'a Value, ConfigError> {
    get(map, key).ok_or_else(|| ConfigError::invalid(join(path, key), "is required"))
}

fn check_keys(map: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => Err(ConfigError::invalid(
            join(path, key),
            unknown_key_message(key, allowed),
        )),
    }
}

/// "is not a known key; allowed: a, b, c" with a did-you-mean when one is close.
pub(crate) fn unknown_key_message(key: &str, allowed: &[&str]) -> String {
    let mut message = format!("is not a known key; allowed: {}", allowed.join(", "));
    if let Some(best) = suggest(key, allowed, 1).first() {
        message.push_str(&format!(" (did you mean {best}?)"));
    }
    message
}

fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, ConfigError> {
    v.as_str().ok_or_else(|| {
        ConfigError::invalid(field, format!("must be a string, not {}", type_name(v)))
    })
}

fn as_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| {
        ConfigError::invalid(
            field,
            format!("must be an object (mapping), not {}", type_name(v)),
        )
    })
}

/// A whole number (10 or 10.0), or an error saying it must be one.
fn whole_number(v: &Value, field: &str) -> Result<i128, ConfigError> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.is_finite() && f.fract() == 0.0 {
                    // Saturating cast; huge values are reported as out of range.
                    Ok(f as i128)
                } else {
                    Err(ConfigError::invalid(
                        field,
                        format!("must be a whole number, not {n}"),
                    ))
                }
            }
        }
        Value::String(s) => Err(ConfigError::invalid(
            field,
            format!("must be a whole number, not a string ({s:?}); write it without quotes"),
        )),
        other => Err(ConfigError::invalid(
            field,
            format!("must be a whole number, not {}", type_name(other)),
        )),
    }
}

/// A whole number in `lo..=hi`.
fn number_in(
    map: &Map<String, Value>,
    path: &str,
    key: &str,
    lo: i128,
    hi: i128,
    unit: Option<&str>,
) -> Result<i128, ConfigError> {
    let field = join(path, key);
    let n = whole_number(required(map, path, key)?, &field)?;
    if n == 100 && hi == 99 {
        // Same message as validation gives for percentages.
        check_percentage(&field, 100)?;
    }
    check_range(&field, n, lo, hi, unit)?;
    Ok(n)
}

const ROUTING_TYPES: [&str; 4] = ["TimeBasedCanary", "TimeBasedLinear", "AllAtOnce", "Steps"];
const ROUTING_MEMBERS: [(&str, &str); 3] = [
    ("TimeBasedCanary", "timeBasedCanary"),
    ("TimeBasedLinear", "timeBasedLinear"),
    ("Steps", "steps"),
];

fn parse_routing(v: &Value) -> Result<TrafficRouting, ConfigError> {
    let path = "trafficRoutingConfig";
    let map = as_object(v, path)?;
    check_keys(
        map,
        path,
        &["type", "timeBasedCanary", "timeBasedLinear", "steps"],
    )?;
    let type_field = join(path, "type");
    let kind = as_str(required(map, path, "type")?, &type_field)?;
    if !ROUTING_TYPES.contains(&kind) {
        let mut message = format!(
            "{kind:?} is not a traffic routing type; use {}",
            ROUTING_TYPES.join(", ")
        );
        if let Some(best) = suggest(kind, &ROUTING_TYPES, 1).first() {
            message.push_str(&format!(" (did you mean {best}?)"));
        }
        return Err(ConfigError::invalid(type_field, message));
    }
    // Only the member matching `type` may be present.
    for (member_type, member) in ROUTING_MEMBERS {
        if member_type != kind && get(map, member).is_some() {
            let expected = ROUTING_MEMBERS
                .iter()
                .find(|(t, _)| *t == kind)
                .map(|(_, m)| format!("only {m} may be given"))
                .unwrap_or_else(|| "no other member may be given".to_string());
            return Err(ConfigError::invalid(
                join(path, member),
                format!("is not allowed with type {kind}; {expected}"),
            ));
        }
    }
    let minutes_max = i128::from(MAX_SHIFTING_MINUTES);
    match kind {
        "AllAtOnce" => Ok(TrafficRouting::AllAtOnce),
        "TimeBasedCanary" | "TimeBasedLinear" => {
            let (member, pct_key, int_key) = if kind == "TimeBasedCanary" {
                ("timeBasedCanary", "canaryPercentage", "canaryInterval")
            } else {
                ("timeBasedLinear", "linearPercentage", "linearInterval")
            };
            let member_path = join(path, member);
            let m = as_object(required(map, path, member)?, &member_path)?;
            check_keys(m, &member_path, &[pct_key, int_key])?;
            let percentage = number_in(m, &member_path, pct_key, 1, 99, None)? as u8;
            let interval_minutes =
                number_in(m, &member_path, int_key, 1, minutes_max, Some("of minutes"))? as u32;
            Ok(if kind == "TimeBasedCanary" {
                TrafficRouting::TimeBasedCanary {
                    percentage,
                    interval_minutes,
                }
            } else {
                TrafficRouting::TimeBasedLinear {
                    percentage,
                    interval_minutes,
                }
            })
        }
        _ => {
            let steps_path = join(path, "steps");
            let list = required(map, path, "steps")?;
            let items = list.as_array().ok_or_else(|| {
                ConfigError::invalid(
                    &steps_path,
                    format!(
                        "must be a list of {{weight, bakeSeconds}} steps, not {}",
                        type_name(list)
                    ),
                )
            })?;
            if items.len() > MAX_STEPS {
                return Err(ConfigError::invalid(
                    steps_path,
                    format!(
                        "{} steps given; at most {MAX_STEPS} are allowed",
                        items.len()
                    ),
                ));
            }
            let mut steps = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{steps_path}[{i}]");
                let m = as_object(item, &item_path)?;
                check_keys(m, &item_path, &["weight", "bakeSeconds"])?;
                let weight = number_in(m, &item_path, "weight", 1, 100, None)? as u8;
                let bake_seconds = number_in(
                    m,
                    &item_path,
                    "bakeSeconds",
                    0,
                    i128::from(MAX_SHIFTING_SECONDS),
                    Some("of seconds"),
                )? as u64;
                steps.push(StepSpec {
                    weight,
                    bake_seconds,
                });
            }
            Ok(TrafficRouting::Steps(steps))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Text parsing shared with the AppSpec parser

/// A problem reading a JSON/YAML text. `path` is `None` for syntax problems (the message
/// then reads as a predicate of the text: "is empty", "is not valid YAML: ..."), and the
/// path of the value (`""` for the root) when the text parsed but a value in it cannot be
/// represented (YAML tags, non-finite numbers, odd or repeated keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextError {
    pub(crate) path: Option<String>,
    pub(crate) message: String,
}

impl TextError {
    fn syntax(message: String) -> Self {
        TextError {
            path: None,
            message,
        }
    }
}

/// Parses a JSON or YAML text (at most [`MAX_DOCUMENT_BYTES`]) into a JSON value. A text
/// starting with `{` or `[` is JSON (with serde_json's messages, and duplicate keys
/// rejected as YAML does); anything else is YAML.
pub(crate) fn parse_text(text: &str) -> Result<Value, TextError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(TextError::syntax(format!(
            "is {} bytes; at most {MAX_DOCUMENT_BYTES} bytes (64 KiB) are accepted",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Err(TextError::syntax("is empty".to_string()));
    }
    // A text that starts like JSON is read as JSON only: YAML would accept many broken JSON
    // texts (a missing value becomes null) and hide the mistake.
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str::<StrictJson>(text)
            .map(|StrictJson(v)| v)
            .map_err(|e| TextError::syntax(format!("is not valid JSON: {e}")));
    }
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text) {
        Ok(yaml) => yaml_to_json(&yaml, ""),
        Err(e) => Err(TextError::syntax(format!("is not valid YAML: {e}"))),
    }
}

fn yaml_to_json(v: &serde_yaml_ng::Value, path: &str) -> Result<Value, TextError> {
    use serde_yaml_ng::Value as Y;
    let at = |message: String| TextError {
        path: Some(path.to_string()),
        message,
    };
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| at(format!("{n} is not a finite number")))?
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (k, item) in mapping {
                let key = match k {
                    Y::String(s) => s.clone(),
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    _ => return Err(at("mapping keys must be plain names".to_string())),
                };
                let item_path = join(path, &key);
                if map.contains_key(&key) {
                    return Err(TextError {
                        path: Some(item_path),
                        message: "appears twice".to_string(),
                    });
                }
                let converted = yaml_to_json(item, &item_path)?;
                map.insert(key, converted);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => {
            return Err(at(format!(
                "the YAML tag {} is not supported; write a plain value (CloudFormation \
                 functions such as !Ref are not resolved here)",
                tagged.tag
            )))
        }
    })
}

/// A JSON value read with duplicate keys rejected (serde_json keeps the last silently).
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let StrictJson(v) = access.next_value()?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

/// "a string", "a list", ... for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

// ---------------------------------------------------------------------------------------
// Suggestions

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Up to `max` candidates close to `input` (case-insensitive edit distance, also ignoring a
/// `CodeDeployDefault.` prefix, or containing the input), best first.
pub(crate) fn suggest<'a>(input: &str, candidates: &[&'a str], max: usize) -> Vec<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    let input_core = input_lower
        .strip_prefix("codedeploydefault.")
        .unwrap_or(&input_lower);
    let threshold = (input_core.chars().count() / 4).max(2);
    let mut scored: Vec<(usize, usize, &str)> = candidates
        .iter()
        .enumerate()
        .filter_map(|(order, cand)| {
            let lower = cand.to_ascii_lowercase();
            let core = lower.strip_prefix("codedeploydefault.").unwrap_or(&lower);
            let distance = edit_distance(input_core, core);
            let contains = input_core.chars().count() >= 3 && core.contains(input_core);
            (distance <= threshold || contains).then_some((distance, order, *cand))
        })
        .collect();
    scored.sort();
    let mut out: Vec<&str> = Vec::new();
    for (_, _, cand) in scored {
        if !out.contains(&cand) && out.len() < max {
            out.push(cand);
        }
    }
    out
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
