//! The walker: checks a parsed deployment group document and collects every mistake, each
//! with its path.

use super::checks::*;
use super::*;

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A member with `null` treated as absent.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

pub(super) struct Walker {
    pub(super) errors: Vec<GroupError>,
}

impl Walker {
    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(GroupError::at(path, message));
    }

    fn report<T>(&mut self, path: &str, check: Result<T, String>) -> Option<T> {
        match check {
            Ok(v) => Some(v),
            Err(message) => {
                self.err(path, message);
                None
            }
        }
    }

    fn keys(&mut self, map: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for key in map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let alias = if path.is_empty() {
                ROOT_KEY_ALIASES
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(key))
                    .map(|(_, real)| *real)
            } else {
                None
            };
            let message = match alias {
                Some(real) => format!(
                    "is not a known key; write {real} (allowed: {})",
                    allowed.join(", ")
                ),
                None => unknown_key_message(key, allowed),
            };
            self.err(join(path, key), message);
        }
    }

    fn mapping<'a>(
        &mut self,
        v: &'a Value,
        path: &str,
        what: &str,
    ) -> Option<&'a Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(
                    path,
                    format!("must be a mapping{what}, not {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A non-empty string. Numbers and booleans get a hint to quote them.
    fn string<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.err(path, "must not be empty");
                None
            }
            Value::String(s) => Some(s),
            Value::Number(_) | Value::Bool(_) => {
                self.err(
                    path,
                    format!("must be a string, not {}; quote it: \"{v}\"", type_name(v)),
                );
                None
            }
            other => {
                self.err(path, format!("must be a string, not {}", type_name(other)));
                None
            }
        }
    }

    /// A required non-empty string: reports "is required{hint}" when missing.
    fn required_string<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        path: &str,
        key: &str,
        hint: &str,
    ) -> Option<&'a str> {
        match get(map, key) {
            None => {
                self.err(join(path, key), format!("is required{hint}"));
                None
            }
            Some(v) => self.string(v, &join(path, key)),
        }
    }

    /// A whole number in `lo..=hi` (not a string, not a fraction, not negative).
    fn number(&mut self, v: &Value, path: &str, lo: u64, hi: u64) -> Option<u64> {
        let range = format!("a whole number from {lo} to {hi}");
        let message = match v {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) if (lo..=hi).contains(&u) => return Some(u),
                (Some(u), _) => format!("{u} is out of range; use {range}"),
                (None, Some(i)) => format!("{i} is negative; use {range}"),
                (None, None) => format!("{n} is not a whole number; use {range}"),
            },
            Value::String(s) => {
                format!("must be {range}, not a string ({s:?}); write it without quotes")
            }
            other => format!("must be {range}, not {}", type_name(other)),
        };
        self.err(path, message);
        None
    }

    /// `true` or `false`.
    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        let message = match v {
            Value::Bool(b) => return Some(*b),
            Value::String(s) => {
                format!("must be true or false, not a string ({s:?}); write it without quotes")
            }
            other => format!("must be true or false, not {}", type_name(other)),
        };
        self.err(path, message);
        None
    }

    pub(super) fn root(&mut self, value: &Value) -> Option<DeploymentGroup> {
        let root = match value {
            Value::Object(m) => m,
            other => {
                self.err(
                    "",
                    format!(
                        "the deployment group file must be a mapping with application, name, \
                         computePlatform and the group's settings, not {}",
                        type_name(other)
                    ),
                );
                return None;
            }
        };
        self.keys(root, "", &ROOT_KEYS);

        let application =
            self.group_name(root, "application", " (the application's name, e.g. shop)");
        let name = self.group_name(root, "name", " (the group's name, e.g. web-prod)");
        let platform = self.platform(get(root, "computePlatform"));

        let mut ok = true;
        let deployment_config = match get(root, "deploymentConfig") {
            None => None,
            Some(v) => {
                let c = self.deployment_config(v, platform);
                ok &= c.is_some();
                c
            }
        };
        let alarms = match get(root, "alarms") {
            None => Vec::new(),
            Some(v) => self.alarms(v).unwrap_or_else(|| {
                ok = false;
                Vec::new()
            }),
        };
        let auto_rollback = match get(root, "autoRollback") {
            None => AutoRollback::default(),
            Some(v) => self.auto_rollback(v).unwrap_or_else(|| {
                ok = false;
                AutoRollback::default()
            }),
        };
        let topic_arn = match get(root, "topicArn") {
            None => None,
            Some(v) => {
                let t = self
                    .string(v, "topicArn")
                    .and_then(|t| self.report("topicArn", check_topic_arn(t)));
                ok &= t.is_some();
                t
            }
        };
        let hook_timeout_seconds = match get(root, "hookTimeoutSeconds") {
            None => None,
            Some(v) => {
                let s = self.number(v, "hookTimeoutSeconds", 1, MAX_HOOK_TIMEOUT_SECONDS);
                ok &= s.is_some();
                s
            }
        };
        let ecs = match (get(root, "ecs"), platform) {
            (None, Some(ComputePlatform::Ecs)) => {
                self.err(
                    "ecs",
                    "is required for computePlatform ECS: the cluster, service, \
                     productionListenerArn and the two targetGroups traffic moves between",
                );
                ok = false;
                None
            }
            (None, _) => None,
            (Some(_), Some(ComputePlatform::Lambda)) => {
                self.err(
                    "ecs",
                    "is not allowed for computePlatform Lambda; remove it (a Lambda \
                     deployment's function and alias come from its AppSpec)",
                );
                ok = false;
                None
            }
            (Some(v), _) => {
                let e = self.ecs(v);
                ok &= e.is_some();
                e
            }
        };
        let enforce = match get(root, "enforce") {
            None => crate::guardrails::Enforce::default(),
            Some(v) => self.enforce(v).unwrap_or_else(|| {
                ok = false;
                crate::guardrails::Enforce::default()
            }),
        };
        if enforce.no_all_at_once {
            let all_at_once = deployment_config
                .as_deref()
                .and_then(DeploymentConfig::predefined)
                .is_some_and(|c| c.schedule().len() == 1);
            if all_at_once || deployment_config.is_none() {
                self.err(
                    "enforce.noAllAtOnce",
                    format!(
                        "refuses configurations that shift all traffic at once, but the group's deploymentConfig is {}; set deploymentConfig to a canary or linear configuration",
                        deployment_config.as_deref().unwrap_or("not set (CodeDeploy's default, AllAtOnce)")
                    ),
                );
                ok = false;
            }
        }
        if enforce.deployment_config && deployment_config.is_none() {
            self.err(
                "enforce.deploymentConfig",
                "enforces the group's deploymentConfig, which is not set; set deploymentConfig",
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(DeploymentGroup {
            application: application?,
            name: name?,
            compute_platform: platform?,
            deployment_config,
            alarms,
            auto_rollback,
            topic_arn,
            hook_timeout_seconds,
            ecs,
            enforce,
        })
    }

    fn enforce(&mut self, v: &Value) -> Option<crate::guardrails::Enforce> {
        let path = "enforce";
        let map = self.mapping(
            v,
            path,
            " of settings a deployment may not override, e.g. autoRollback: true",
        )?;
        self.keys(map, path, &crate::guardrails::ENFORCE_KEYS);
        let mut flag = |key: &str| match get(map, key) {
            None => Some(false),
            Some(v) => self.boolean(v, &join(path, key)),
        };
        let deployment_config = flag("deploymentConfig");
        let no_all_at_once = flag("noAllAtOnce");
        let alarms = flag("alarms");
        let auto_rollback = flag("autoRollback");
        let firing_alarms = flag("firingAlarms");
        Some(crate::guardrails::Enforce {
            deployment_config: deployment_config?,
            no_all_at_once: no_all_at_once?,
            alarms: alarms?,
            auto_rollback: auto_rollback?,
            firing_alarms: firing_alarms?,
        })
    }

    fn group_name(&mut self, root: &Map<String, Value>, key: &str, hint: &str) -> Option<String> {
        let name = self.required_string(root, "", key, hint)?;
        self.report(key, check_name(name).map(|()| name.to_string()))
    }

    fn platform(&mut self, v: Option<&Value>) -> Option<ComputePlatform> {
        let path = "computePlatform";
        let allowed = "use ECS or Lambda";
        match v {
            None => {
                self.err(path, format!("is required; {allowed}"));
                None
            }
            Some(Value::String(s)) => match s.parse::<ComputePlatform>() {
                Ok(p) => Some(p),
                Err(ConfigError::Invalid { message, .. }) => {
                    self.err(path, message);
                    None
                }
                Err(other) => {
                    self.err(path, other.to_string());
                    None
                }
            },
            Some(other) => {
                self.err(
                    path,
                    format!("must be a string, not {}; {allowed}", type_name(other)),
                );
                None
            }
        }
    }

    fn deployment_config(
        &mut self,
        v: &Value,
        platform: Option<ComputePlatform>,
    ) -> Option<String> {
        let path = "deploymentConfig";
        let name = self.string(v, path)?;
        let check = match DeploymentConfig::predefined(name) {
            Some(config) => match platform.map(|p| (p, config.check_platform(p))) {
                Some((p, Err(e))) => Err(format!("{e} ({})", platform_family(p))),
                _ => Ok(()),
            },
            None if name.starts_with(RESERVED_PREFIX) => match platform {
                None => Err(ConfigError::unknown_name(name).to_string()),
                Some(p) => {
                    let names = platform_config_names(p);
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    let mut message = format!(
                        "{name:?} is not a predefined configuration (names starting with \
                         {RESERVED_PREFIX} are reserved for them); "
                    );
                    if let Some(best) = suggest(name, &names, 1).first() {
                        message.push_str(&format!("did you mean {best}? "));
                    }
                    message.push_str(&platform_family(p));
                    Err(message)
                }
            },
            None => check_custom_config_name(name),
        };
        self.report(path, check.map(|()| name.to_string()))
    }

    fn alarms(&mut self, v: &Value) -> Option<Vec<String>> {
        let path = "alarms";
        let items = match v {
            Value::Array(items) => items,
            Value::String(s) => {
                self.err(
                    path,
                    format!("must be a list of alarm names, not a string; write [{s}]"),
                );
                return None;
            }
            other => {
                self.err(
                    path,
                    format!("must be a list of alarm names, not {}", type_name(other)),
                );
                return None;
            }
        };
        let mut ok = true;
        if items.len() > MAX_ALARMS {
            self.err(
                path,
                format!(
                    "lists {} alarms; at most {MAX_ALARMS} are allowed (combine them in a \
                     composite alarm)",
                    items.len()
                ),
            );
            ok = false;
        }
        let mut out: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Some(alarm) = self.string(item, &item_path) else {
                ok = false;
                continue;
            };
            let len = alarm.chars().count();
            if len > MAX_ALARM_NAME_LEN {
                self.err(
                    &item_path,
                    format!(
                        "is {len} characters long; an alarm name has at most \
                         {MAX_ALARM_NAME_LEN}"
                    ),
                );
                ok = false;
            } else if let Some(first) = out.iter().position(|a| a == alarm) {
                self.err(
                    &item_path,
                    format!("{alarm:?} is listed twice (also at {path}[{first}])"),
                );
                ok = false;
            }
            out.push(alarm.to_string());
        }
        ok.then_some(out)
    }

    fn auto_rollback(&mut self, v: &Value) -> Option<AutoRollback> {
        let path = "autoRollback";
        let map = self.mapping(v, path, " with onFailure, onAlarm and onStop")?;
        self.keys(map, path, &AUTO_ROLLBACK_KEYS);
        let defaults = AutoRollback::default();
        let mut flag = |key: &str, default: bool| match get(map, key) {
            None => Some(default),
            Some(v) => self.boolean(v, &join(path, key)),
        };
        let on_failure = flag("onFailure", defaults.on_failure);
        let on_alarm = flag("onAlarm", defaults.on_alarm);
        let on_stop = flag("onStop", defaults.on_stop);
        Some(AutoRollback {
            on_failure: on_failure?,
            on_alarm: on_alarm?,
            on_stop: on_stop?,
        })
    }

    fn ecs(&mut self, v: &Value) -> Option<EcsGroup> {
        let path = "ecs";
        let map = self.mapping(
            v,
            path,
            " with cluster, service, productionListenerArn and targetGroups",
        )?;
        self.keys(map, path, &ECS_KEYS);
        let cluster = self
            .required_string(map, path, "cluster", " (the cluster's name or ARN)")
            .and_then(|c| self.report("ecs.cluster", check_ecs_name(c, "cluster")));
        let service = self
            .required_string(map, path, "service", " (the service's name or ARN)")
            .and_then(|s| self.report("ecs.service", check_ecs_name(s, "service")));
        let production = self
            .required_string(
                map,
                path,
                "productionListenerArn",
                " (the ARN of the load balancer listener that serves production traffic)",
            )
            .and_then(|l| self.report("ecs.productionListenerArn", check_listener_arn(l)));
        let mut ok = true;
        let test = match get(map, "testListenerArn") {
            None => None,
            Some(v) => {
                let path = "ecs.testListenerArn";
                let t = self
                    .string(v, path)
                    .and_then(|l| self.report(path, check_listener_arn(l)));
                if let (Some(t), Some(p)) = (&t, &production) {
                    if t == p {
                        self.err(
                            path,
                            "is the same listener as ecs.productionListenerArn; the test \
                             listener must be another listener (e.g. on port 8080), or leave \
                             it out",
                        );
                        ok = false;
                    }
                }
                ok &= t.is_some();
                t
            }
        };
        let target_groups = self.target_groups(get(map, "targetGroups"));
        let ready_wait = match get(map, "readyWait") {
            None => ReadyWait::default(),
            Some(v) => self.ready_wait(v).unwrap_or_else(|| {
                ok = false;
                ReadyWait::default()
            }),
        };
        let termination_wait_minutes = match get(map, "terminationWaitMinutes") {
            None => DEFAULT_TERMINATION_WAIT_MINUTES,
            Some(v) => match self.number(
                v,
                "ecs.terminationWaitMinutes",
                0,
                u64::from(MAX_WAIT_MINUTES),
            ) {
                Some(m) => m as u32,
                None => {
                    ok = false;
                    DEFAULT_TERMINATION_WAIT_MINUTES
                }
            },
        };
        if !ok {
            return None;
        }
        Some(EcsGroup {
            cluster: cluster?,
            service: service?,
            production_listener_arn: production?,
            test_listener_arn: test,
            target_groups: target_groups?,
            ready_wait,
            termination_wait_minutes,
        })
    }

    fn target_groups(&mut self, v: Option<&Value>) -> Option<[String; 2]> {
        let path = "ecs.targetGroups";
        let usage = "a list of the two target groups' ARNs (blue and green)";
        let items = match v {
            None => {
                self.err(path, format!("is required: {usage}"));
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.err(path, format!("must be {usage}, not {}", type_name(other)));
                return None;
            }
        };
        let mut ok = true;
        if items.len() != 2 {
            self.err(
                path,
                format!(
                    "must list exactly 2 target groups (blue and green); found {}",
                    items.len()
                ),
            );
            ok = false;
        }
        let mut arns: Vec<Option<String>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let arn = self
                .string(item, &item_path)
                .and_then(|t| self.report(&item_path, check_target_group_arn(t)));
            if let Some(a) = &arn {
                if let Some(first) = arns.iter().position(|x| x.as_ref() == Some(a)) {
                    self.err(
                        &item_path,
                        format!("the same target group as {path}[{first}]; blue/green needs two"),
                    );
                    ok = false;
                }
            }
            ok &= arn.is_some();
            arns.push(arn);
        }
        if !ok {
            return None;
        }
        let mut arns = arns.into_iter().flatten();
        Some([arns.next()?, arns.next()?])
    }

    fn ready_wait(&mut self, v: &Value) -> Option<ReadyWait> {
        let path = "ecs.readyWait";
        let map = self.mapping(
            v,
            path,
            " with action (continue or stop) and, for stop, waitMinutes",
        )?;
        self.keys(map, path, &READY_WAIT_KEYS);
        let action_path = join(path, "action");
        let allowed = "use continue (move traffic as soon as the replacement is ready) or stop \
                       (wait for `cutover continue`)";
        let action = match get(map, "action") {
            None => {
                self.err(&action_path, format!("is required; {allowed}"));
                None
            }
            Some(Value::String(s)) => match s.as_str() {
                "continue" => Some(ReadyAction::Continue),
                "stop" => Some(ReadyAction::Stop),
                other => {
                    let hint = match other.to_ascii_lowercase().as_str() {
                        "continue" | "continue_deployment" => " (write continue)",
                        "stop" | "stop_deployment" => " (write stop)",
                        _ => "",
                    };
                    self.err(
                        &action_path,
                        format!("{other:?} is not an action{hint}; {allowed}"),
                    );
                    None
                }
            },
            Some(other) => {
                self.err(
                    &action_path,
                    format!("must be a string, not {}; {allowed}", type_name(other)),
                );
                None
            }
        };
        let minutes_path = join(path, "waitMinutes");
        let minutes = get(map, "waitMinutes");
        let Some(action) = action else {
            // Still check the number, so that every mistake is reported at once.
            if let Some(m) = minutes {
                self.number(m, &minutes_path, 0, u64::from(MAX_WAIT_MINUTES));
            }
            return None;
        };
        let wait_minutes = match (action, minutes) {
            (ReadyAction::Stop, None) => {
                self.err(
                    &minutes_path,
                    format!(
                        "is required with action stop: the minutes to wait for `cutover \
                         continue` before the deployment stops (1 to {MAX_WAIT_MINUTES})"
                    ),
                );
                None
            }
            (ReadyAction::Stop, Some(m)) => self
                .number(m, &minutes_path, 1, u64::from(MAX_WAIT_MINUTES))
                .map(|m| m as u32),
            (ReadyAction::Continue, None) => Some(0),
            (ReadyAction::Continue, Some(m)) => {
                match self.number(m, &minutes_path, 0, u64::from(MAX_WAIT_MINUTES)) {
                    Some(0) => Some(0),
                    Some(_) => {
                        self.err(
                            &minutes_path,
                            "applies only to action stop (how long to wait for `cutover \
                         continue`); with continue, traffic moves at once: leave it out or \
                         use 0",
                        );
                        None
                    }
                    None => None,
                }
            }
        };
        Some(ReadyWait {
            action,
            wait_minutes: wait_minutes?,
        })
    }
}
