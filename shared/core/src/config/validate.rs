//! Validation of a configuration against CodeDeploy's limits and Cutover's.

use super::*;

impl DeploymentConfig {
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
}

pub(super) fn check_percentage(field: &str, percentage: u8) -> Result<(), ConfigError> {
    if percentage == 100 {
        return Err(ConfigError::invalid(
            field,
            "100 is out of range; use a whole number from 1 to 99 (to shift everything at \
             once use type AllAtOnce)",
        ));
    }
    check_range(field, i128::from(percentage), 1, 99, None)
}

pub(super) fn check_range(
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
