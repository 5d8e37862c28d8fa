//! Guardrails a deployment group enforces: the settings a start request may not override.
//!
//! Without `enforce`, a group's settings are defaults a request may change (CodeDeploy's
//! behaviour). With it, a request that would weaken an enforced setting is refused, naming
//! the setting, before anything is read or changed in AWS.

use crate::config::DeploymentConfig;
use serde::{Deserialize, Serialize};

/// The keys of a group's `enforce` mapping.
pub const ENFORCE_KEYS: [&str; 5] = [
    "deploymentConfig",
    "noAllAtOnce",
    "alarms",
    "autoRollback",
    "firingAlarms",
];

/// What a group enforces (all off by default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Enforce {
    /// A request may not name another configuration than the group's `deploymentConfig`.
    pub deployment_config: bool,
    /// No configuration that shifts all traffic in one step (AllAtOnce, or a custom one
    /// whose first step is 100 %).
    pub no_all_at_once: bool,
    /// A request's alarms must include every alarm of the group.
    pub alarms: bool,
    /// `--no-auto-rollback` is refused.
    pub auto_rollback: bool,
    /// `--ignore-firing-alarms` is refused.
    pub firing_alarms: bool,
}

/// What a start request asks that a group may enforce against.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    /// The configuration the request names, if any.
    pub config: Option<&'a str>,
    /// The configuration the deployment would use (the request's, the group's or the
    /// default), once resolved.
    pub resolved: Option<&'a DeploymentConfig>,
    /// The request's own alarms (empty: the group's).
    pub alarms: &'a [String],
    /// `--no-auto-rollback`.
    pub no_auto_rollback: bool,
    /// `--ignore-firing-alarms`.
    pub ignore_firing_alarms: bool,
}

impl Enforce {
    /// Whether anything is enforced.
    pub fn any(&self) -> bool {
        *self != Enforce::default()
    }

    /// The first enforced setting `asked` overrides, as the message of a refusal naming it
    /// and the way out. `group` is the group's key, `group_config` and `group_alarms` its
    /// settings.
    pub fn violation(
        &self,
        group: &str,
        group_config: Option<&str>,
        group_alarms: &[String],
        asked: &Asked<'_>,
    ) -> Option<String> {
        if self.deployment_config {
            // Names compared as configurations: a SAM short name is its CodeDeploy name.
            let canonical = |name: &str| {
                DeploymentConfig::predefined(name).map_or_else(|| name.to_string(), |c| c.name)
            };
            let same = |c: &str| group_config.is_some_and(|g| canonical(g) == canonical(c));
            if let Some(c) = asked.config.filter(|c| !same(c)) {
                return Some(format!(
                    "--config: group {group} enforces its deploymentConfig ({}) (enforce.deploymentConfig); {} is not allowed, leave --config out",
                    group_config.unwrap_or("CodeDeploy's default"),
                    crate::text::shown(c, 100)
                ));
            }
        }
        if self.no_all_at_once {
            if let Some(config) = asked.resolved.filter(|c| c.schedule().len() == 1) {
                return Some(format!(
                    "--config: group {group} refuses configurations that shift all traffic at once (enforce.noAllAtOnce), and {} does; use a canary or linear configuration",
                    config.name
                ));
            }
        }
        if self.alarms && !asked.alarms.is_empty() {
            let missing: Vec<&str> = group_alarms
                .iter()
                .filter(|a| !asked.alarms.contains(a))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                return Some(format!(
                    "--alarm: group {group} requires its alarms to be watched (enforce.alarms), and the request leaves out {}; leave --alarm out or add them",
                    missing.join(", ")
                ));
            }
        }
        if self.auto_rollback && asked.no_auto_rollback {
            return Some(format!(
                "--no-auto-rollback: group {group} enforces automatic rollback (enforce.autoRollback); leave the flag out"
            ));
        }
        if self.firing_alarms && asked.ignore_firing_alarms {
            return Some(format!(
                "--ignore-firing-alarms: group {group} refuses to start while one of its alarms is in ALARM (enforce.firingAlarms); fix what the alarm reports first, or leave the flag out"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked<'a>(config: Option<&'a str>, resolved: Option<&'a DeploymentConfig>) -> Asked<'a> {
        Asked {
            config,
            resolved,
            alarms: &[],
            no_auto_rollback: false,
            ignore_firing_alarms: false,
        }
    }

    #[test]
    fn each_enforced_setting_refuses_its_override_and_nothing_else() {
        let canary =
            DeploymentConfig::predefined("CodeDeployDefault.LambdaCanary10Percent5Minutes")
                .unwrap();
        let all = DeploymentConfig::predefined("CodeDeployDefault.LambdaAllAtOnce").unwrap();
        let alarms = vec!["Errors".to_string(), "Latency".to_string()];
        let group_config = Some("CodeDeployDefault.LambdaCanary10Percent5Minutes");
        let none = Enforce::default();
        let every = Enforce {
            deployment_config: true,
            no_all_at_once: true,
            alarms: true,
            auto_rollback: true,
            firing_alarms: true,
        };
        let weakest = Asked {
            config: Some("CodeDeployDefault.LambdaAllAtOnce"),
            resolved: Some(&all),
            alarms: &alarms[..1],
            no_auto_rollback: true,
            ignore_firing_alarms: true,
        };
        assert_eq!(
            none.violation("shop/web", group_config, &alarms, &weakest),
            None
        );
        let v = every
            .violation("shop/web", group_config, &alarms, &weakest)
            .unwrap();
        assert!(
            v.starts_with("--config") && v.contains("enforce.deploymentConfig"),
            "{v}"
        );
        let only = |e: Enforce, a: &Asked<'_>| e.violation("shop/web", group_config, &alarms, a);
        let v = only(
            Enforce {
                no_all_at_once: true,
                ..none
            },
            &asked(None, Some(&all)),
        )
        .unwrap();
        assert!(v.contains("enforce.noAllAtOnce"), "{v}");
        assert_eq!(
            only(
                Enforce {
                    no_all_at_once: true,
                    ..none
                },
                &asked(None, Some(&canary))
            ),
            None
        );
        let v = only(
            Enforce {
                alarms: true,
                ..none
            },
            &weakest,
        )
        .unwrap();
        assert!(v.contains("Latency") && !v.contains("Errors,"), "{v}");
        assert_eq!(
            only(
                Enforce {
                    alarms: true,
                    ..none
                },
                &asked(None, None)
            ),
            None
        );
        let v = only(
            Enforce {
                auto_rollback: true,
                ..none
            },
            &weakest,
        )
        .unwrap();
        assert!(v.starts_with("--no-auto-rollback"), "{v}");
        let v = only(
            Enforce {
                firing_alarms: true,
                ..none
            },
            &weakest,
        )
        .unwrap();
        assert!(v.starts_with("--ignore-firing-alarms"), "{v}");
        // The group's own configuration named again, or by its SAM short name, is no override.
        assert_eq!(
            only(
                Enforce {
                    deployment_config: true,
                    ..none
                },
                &asked(Some("Canary10Percent5Minutes"), Some(&canary))
            ),
            None
        );
        assert_eq!(
            only(
                Enforce {
                    deployment_config: true,
                    ..none
                },
                &asked(group_config, Some(&canary))
            ),
            None
        );
    }

    #[test]
    fn a_group_file_enforces_what_it_names_and_refuses_what_cannot_hold() {
        use crate::group::DeploymentGroup;
        let base = "application: shop\nname: web\ncomputePlatform: Lambda\n";
        let g = DeploymentGroup::parse(&format!(
            "{base}deploymentConfig: CodeDeployDefault.LambdaCanary10Percent5Minutes\nalarms: [Errors]\nenforce:\n  noAllAtOnce: true\n  autoRollback: true\n"
        ))
        .unwrap();
        assert!(g.enforce.no_all_at_once && g.enforce.auto_rollback && !g.enforce.alarms);
        // Stored and read back, the guardrails stay.
        let again = DeploymentGroup::parse(&g.to_document().to_string()).unwrap();
        assert_eq!(again, g);
        let err = |text: &str| {
            DeploymentGroup::parse(&format!("{base}{text}"))
                .unwrap_err()
                .to_string()
        };
        let e = err("enforce:\n  autoRollbak: true\n");
        assert!(e.contains("enforce.autoRollbak"), "{e}");
        let e = err("enforce:\n  alarms: \"yes\"\n");
        assert!(
            e.contains("enforce.alarms") && e.contains("true or false"),
            "{e}"
        );
        let e = err(
            "deploymentConfig: CodeDeployDefault.LambdaAllAtOnce\nenforce:\n  noAllAtOnce: true\n",
        );
        assert!(
            e.contains("enforce.noAllAtOnce") && e.contains("AllAtOnce"),
            "{e}"
        );
        let e = err("enforce:\n  deploymentConfig: true\n");
        assert!(e.contains("enforce.deploymentConfig"), "{e}");
        // A group without guardrails writes none.
        let plain = DeploymentGroup::parse(base).unwrap();
        assert!(plain.to_document().get("enforce").is_none());
    }
}
