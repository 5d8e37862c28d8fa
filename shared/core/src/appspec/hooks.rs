//! The `Hooks` section: the hook function to run at each lifecycle event.

use super::*;

impl Walker {
    pub(super) fn hooks(
        &mut self,
        v: Option<&Value>,
        platform: Option<ComputePlatform>,
    ) -> Vec<HookSpec> {
        let mut hooks: Vec<(HookSpec, String)> = Vec::new();
        match v {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("Hooks[{i}]");
                    match item {
                        Value::Object(map) if map.len() == 1 => {
                            for (event, function) in map {
                                self.hook(
                                    &join(&path, event),
                                    event,
                                    function,
                                    platform,
                                    &mut hooks,
                                );
                            }
                        }
                        _ => self.err(
                            path,
                            "must be a single `EventName: FunctionName` entry, e.g. \
                             `- BeforeAllowTraffic: PreTrafficHook`",
                        ),
                    }
                }
            }
            Some(Value::Object(map)) => {
                for (event, function) in map {
                    self.hook(&join("Hooks", event), event, function, platform, &mut hooks);
                }
            }
            Some(other) => self.err(
                "Hooks",
                format!(
                    "must be a list of `EventName: FunctionName` entries, not {}",
                    type_name(other)
                ),
            ),
        }
        let mut hooks: Vec<HookSpec> = hooks.into_iter().map(|(h, _)| h).collect();
        hooks.sort_by_key(|h| LifecycleEvent::ALL.iter().position(|e| *e == h.event));
        hooks
    }

    fn hook(
        &mut self,
        path: &str,
        name: &str,
        function: &Value,
        platform: Option<ComputePlatform>,
        hooks: &mut Vec<(HookSpec, String)>,
    ) {
        let (allowed, kind): (&[LifecycleEvent], &str) = match platform {
            Some(ComputePlatform::Lambda) => (&LifecycleEvent::LAMBDA_HOOKS, "a Lambda"),
            Some(ComputePlatform::Ecs) => (&LifecycleEvent::ECS_HOOKS, "an ECS"),
            None => (&LifecycleEvent::ECS_HOOKS, "an"),
        };
        let allowed_names: Vec<&str> = allowed.iter().map(|e| e.as_str()).collect();
        let allowed_text = format!("{kind} AppSpec allows {}", allowed_names.join(", "));
        let event = match LifecycleEvent::parse(name) {
            Some(e) if allowed.contains(&e) => Some(e),
            Some(e) if e.is_hook() => {
                self.err(path, format!("{e} is an ECS hook; {allowed_text}"));
                None
            }
            Some(e) => {
                self.err(
                    path,
                    format!("{e} is Cutover's own step and runs no hook; {allowed_text}"),
                );
                None
            }
            None => {
                let sam = match name {
                    "PreTraffic" => Some("BeforeAllowTraffic"),
                    "PostTraffic" => Some("AfterAllowTraffic"),
                    _ => None,
                };
                let message = match sam {
                    Some(real) => {
                        format!("{name} is SAM's name for this hook; in an AppSpec write {real}")
                    }
                    None => {
                        let mut m = format!("is not a hook event; {allowed_text}");
                        if let Some(best) = crate::config::suggest(name, &allowed_names, 1).first()
                        {
                            m.push_str(&format!(" (did you mean {best}?)"));
                        }
                        m
                    }
                };
                self.err(path, message);
                None
            }
        };
        let function = match function {
            Value::Null => {
                self.err(path, "needs the name of the hook function");
                None
            }
            other => self.string(other, path).and_then(|f| {
                let check = check_function_name(f, true);
                self.report(path.to_string(), check)
            }),
        };
        if let Some(event) = event {
            if let Some((_, first)) = hooks.iter().find(|(h, _)| h.event == event) {
                self.err(
                    path,
                    format!("{event} is given twice (also at {first}); each hook runs once per deployment"),
                );
                return;
            }
            if let Some(function) = function {
                hooks.push((HookSpec { event, function }, path.to_string()));
            }
        }
    }
}
