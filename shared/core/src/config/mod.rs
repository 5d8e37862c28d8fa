//! Deployment configurations: CodeDeploy's predefined ones (by their exact names and SAM's
//! short names), custom configuration documents (JSON or YAML), validation with CodeDeploy's
//! limits, and the traffic-shifting schedule a configuration produces.
//!
//! A configuration is turned into a [`Shift`] schedule by [`DeploymentConfig::schedule`]:
//! after each shift `weight` % of the traffic goes to the target, then the engine waits
//! `wait_seconds` (watching alarms) before the next shift. The last shift always reaches
//! 100 %, and its wait is the bake time after 100 %.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

mod custom;
mod predefined;
mod suggestions;
mod text;
mod validate;

pub(crate) use custom::unknown_key_message;
use predefined::{predefined_and_short_names, preset_config, PREDEFINED};
pub(crate) use suggestions::suggest;
pub(crate) use text::{parse_text, type_name};

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

#[cfg(test)]
#[path = "../config_document_tests.rs"]
mod document_tests;
#[cfg(test)]
#[path = "../config_tests.rs"]
mod tests;
