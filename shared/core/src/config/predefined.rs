//! CodeDeploy's predefined configurations (`CodeDeployDefault.*`) and SAM's short names
//! for the Lambda ones.

use super::*;

/// Prefix SAM prepends to its short names (`Canary10Percent5Minutes`).
const SAM_PREFIX: &str = "CodeDeployDefault.Lambda";

#[derive(Clone, Copy)]
pub(super) enum Preset {
    AllAtOnce,
    Canary(u8, u32),
    Linear(u8, u32),
}

use ComputePlatform::{Ecs, Lambda};

pub(super) const PREDEFINED: [(&str, ComputePlatform, Preset); 14] = [
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

pub(super) fn preset_config(
    name: &str,
    platform: ComputePlatform,
    preset: Preset,
) -> DeploymentConfig {
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
pub(super) fn predefined_and_short_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = PREDEFINED.iter().map(|(n, _, _)| *n).collect();
    names.extend(
        PREDEFINED
            .iter()
            .filter_map(|(n, _, _)| n.strip_prefix(SAM_PREFIX)),
    );
    names
}

impl DeploymentConfig {
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
}
