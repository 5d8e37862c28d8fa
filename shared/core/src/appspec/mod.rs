//! AppSpec files, in CodeDeploy's format (YAML or JSON, `version: 0.0`): the one Lambda
//! function or ECS service to deploy, and the hook functions to run.
//!
//! [`AppSpec::parse`] reports every mistake it finds at once, each with its path in the
//! document (`Resources[0].myLambdaFunction.Properties.CurrentVersion`, `Hooks[1].AfterAllowTraffic`).

use crate::config::{parse_text, type_name, unknown_key_message, ComputePlatform};
use crate::LifecycleEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;

mod ecs;
mod hooks;
mod lambda;

pub use ecs::{AwsVpcConfiguration, CapacityProviderItem, EcsResource};
pub use lambda::LambdaResource;

/// CodeDeploy's resource type for Lambda AppSpecs.
pub const LAMBDA_TYPE: &str = "AWS::Lambda::Function";
/// CodeDeploy's resource type for ECS AppSpecs.
pub const ECS_TYPE: &str = "AWS::ECS::Service";

/// A parsed and checked AppSpec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    /// Always `0.0`, the only AppSpec version.
    pub version: String,
    /// The function or service to deploy.
    pub resource: AppSpecResource,
    /// Hook functions, in lifecycle order, at most one per event.
    pub hooks: Vec<HookSpec>,
}

/// The resource an AppSpec deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum AppSpecResource {
    /// `AWS::Lambda::Function`: shift an alias from one version to another.
    Lambda(LambdaResource),
    /// `AWS::ECS::Service`: shift a service's traffic to a new task set.
    #[serde(rename = "ECS")]
    Ecs(EcsResource),
}

/// A hook: the function to run at a lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSpec {
    /// The lifecycle event (a hook event of the AppSpec's platform).
    pub event: LifecycleEvent,
    /// The hook function's name or ARN.
    pub function: String,
}

/// One mistake in an AppSpec. Displays as `{path}: {message}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct AppSpecError {
    /// Where, with the document's own names (`Resources[0].myFn.Properties.Alias`);
    /// `AppSpec` for the document as a whole.
    pub path: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// Every mistake found in an AppSpec (never empty when returned by [`AppSpec::parse`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", format_errors(&self.0))]
pub struct AppSpecErrors(pub Vec<AppSpecError>);

impl AppSpecErrors {
    /// The first mistake reported at `path`, if any.
    pub fn at(&self, path: &str) -> Option<&AppSpecError> {
        self.0.iter().find(|e| e.path == path)
    }
}

fn format_errors(errors: &[AppSpecError]) -> String {
    let mut out = String::from("invalid AppSpec:");
    for e in errors {
        out.push_str(&format!("\n  - {e}"));
    }
    out
}

impl AppSpec {
    /// Parses and checks an AppSpec (YAML or JSON, at most 64 KiB), reporting every mistake.
    ///
    /// `version` must be 0.0 (number or string). `Resources` is a list with exactly one
    /// `logicalName: {Type, Properties}` item; `Hooks` is optional, either a list of
    /// single-key `Event: Function` items or a plain `Event: Function` mapping. Hooks are
    /// returned in lifecycle order.
    pub fn parse(text: &str) -> Result<AppSpec, AppSpecErrors> {
        let value = parse_text(text).map_err(|e| {
            let path = match e.path {
                Some(p) if !p.is_empty() => p,
                _ => "AppSpec".to_string(),
            };
            AppSpecErrors(vec![AppSpecError {
                path,
                message: e.message,
            }])
        })?;
        let mut walker = Walker { errors: Vec::new() };
        let result = walker.root(&value);
        match result {
            Some(spec) if walker.errors.is_empty() => Ok(spec),
            _ => {
                if walker.errors.is_empty() {
                    walker.err("AppSpec", "is not a valid AppSpec");
                }
                Err(AppSpecErrors(walker.errors))
            }
        }
    }

    /// The platform of the resource.
    pub fn platform(&self) -> ComputePlatform {
        match self.resource {
            AppSpecResource::Lambda(_) => ComputePlatform::Lambda,
            AppSpecResource::Ecs(_) => ComputePlatform::Ecs,
        }
    }

    /// Function name of the hook for that event.
    pub fn hook(&self, event: LifecycleEvent) -> Option<&str> {
        self.hooks
            .iter()
            .find(|h| h.event == event)
            .map(|h| h.function.as_str())
    }

    /// The resource's logical name.
    pub fn logical_name(&self) -> &str {
        match &self.resource {
            AppSpecResource::Lambda(r) => &r.logical_name,
            AppSpecResource::Ecs(r) => &r.logical_name,
        }
    }

    /// The Lambda resource, if this is a Lambda AppSpec.
    pub fn lambda(&self) -> Option<&LambdaResource> {
        match &self.resource {
            AppSpecResource::Lambda(r) => Some(r),
            AppSpecResource::Ecs(_) => None,
        }
    }

    /// The ECS resource, if this is an ECS AppSpec.
    pub fn ecs(&self) -> Option<&EcsResource> {
        match &self.resource {
            AppSpecResource::Ecs(r) => Some(r),
            AppSpecResource::Lambda(_) => None,
        }
    }

    /// The AppSpec in CodeDeploy's format (serialize it as JSON or YAML); [`Self::parse`]
    /// reads it back equal.
    pub fn to_document(&self) -> Value {
        let (type_name, properties) = match &self.resource {
            AppSpecResource::Lambda(r) => (
                LAMBDA_TYPE,
                json!({
                    "Name": r.name,
                    "Alias": r.alias,
                    "CurrentVersion": r.current_version,
                    "TargetVersion": r.target_version,
                }),
            ),
            AppSpecResource::Ecs(r) => {
                let mut p = Map::new();
                p.insert("TaskDefinition".into(), json!(r.task_definition));
                p.insert(
                    "LoadBalancerInfo".into(),
                    json!({"ContainerName": r.container_name, "ContainerPort": r.container_port}),
                );
                if let Some(v) = &r.platform_version {
                    p.insert("PlatformVersion".into(), json!(v));
                }
                if let Some(n) = &r.network {
                    let mut vpc = Map::new();
                    vpc.insert("Subnets".into(), json!(n.subnets));
                    vpc.insert("SecurityGroups".into(), json!(n.security_groups));
                    if let Some(ip) = &n.assign_public_ip {
                        vpc.insert("AssignPublicIp".into(), json!(ip));
                    }
                    p.insert(
                        "NetworkConfiguration".into(),
                        json!({"AwsvpcConfiguration": Value::Object(vpc)}),
                    );
                }
                if !r.capacity_provider_strategy.is_empty() {
                    let items: Vec<Value> = r
                        .capacity_provider_strategy
                        .iter()
                        .map(|c| {
                            let mut item = Map::new();
                            if let Some(b) = c.base {
                                item.insert("Base".into(), json!(b));
                            }
                            item.insert("CapacityProvider".into(), json!(c.capacity_provider));
                            if let Some(w) = c.weight {
                                item.insert("Weight".into(), json!(w));
                            }
                            Value::Object(item)
                        })
                        .collect();
                    p.insert("CapacityProviderStrategy".into(), Value::Array(items));
                }
                (ECS_TYPE, Value::Object(p))
            }
        };
        let mut resource = Map::new();
        resource.insert(
            self.logical_name().to_string(),
            json!({"Type": type_name, "Properties": properties}),
        );
        let mut doc = Map::new();
        doc.insert("version".into(), json!(0.0));
        doc.insert("Resources".into(), json!([Value::Object(resource)]));
        if !self.hooks.is_empty() {
            let hooks: Vec<Value> = self
                .hooks
                .iter()
                .map(|h| json!({ h.event.as_str(): h.function }))
                .collect();
            doc.insert("Hooks".into(), Value::Array(hooks));
        }
        Value::Object(doc)
    }
}

impl fmt::Display for AppSpec {
    /// One line: "Lambda myFn:live 1 -> 2" / "ECS TargetService web:80 task web:2".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource {
            AppSpecResource::Lambda(r) => write!(
                f,
                "Lambda {}:{} {} -> {}",
                r.name, r.alias, r.current_version, r.target_version
            ),
            AppSpecResource::Ecs(r) => write!(
                f,
                "ECS {} {}:{} task {}",
                r.logical_name, r.container_name, r.container_port, r.task_definition
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The walker: checks a parsed document and collects every mistake.

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Walker {
    errors: Vec<AppSpecError>,
}

/// A member with `null` treated as absent.
fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

impl Walker {
    fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(AppSpecError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn keys(&mut self, map: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.err(join(path, key), unknown_key_message(key, allowed));
            }
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

    /// A required member: reports "is required{hint}" when missing.
    fn required<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        path: &str,
        key: &str,
        hint: &str,
    ) -> Option<&'a Value> {
        let v = get(map, key);
        if v.is_none() {
            self.err(join(path, key), format!("is required{hint}"));
        }
        v
    }

    /// A non-empty string.
    fn string<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        match v {
            Value::String(s) if s.trim().is_empty() => {
                self.err(path, "must not be empty");
                None
            }
            Value::String(s) => Some(s),
            other => {
                self.err(path, format!("must be a string, not {}", type_name(other)));
                None
            }
        }
    }

    fn required_string<'a>(
        &mut self,
        map: &'a Map<String, Value>,
        path: &str,
        key: &str,
        hint: &str,
    ) -> Option<&'a str> {
        let v = self.required(map, path, key, hint)?;
        self.string(v, &join(path, key))
    }

    /// A whole number in `lo..=hi`.
    fn number(&mut self, v: &Value, path: &str, lo: u64, hi: u64) -> Option<u64> {
        let range = format!("a whole number from {lo} to {hi}");
        match v {
            Value::Number(n) => match n.as_u64() {
                Some(u) if (lo..=hi).contains(&u) => Some(u),
                Some(u) => {
                    self.err(path, format!("{u} is out of range; use {range}"));
                    None
                }
                None => {
                    self.err(path, format!("{n} is out of range; use {range}"));
                    None
                }
            },
            Value::String(s) => {
                self.err(
                    path,
                    format!("must be {range}, not a string ({s:?}); write it without quotes"),
                );
                None
            }
            other => {
                self.err(path, format!("must be {range}, not {}", type_name(other)));
                None
            }
        }
    }

    fn root(&mut self, value: &Value) -> Option<AppSpec> {
        let root = match value {
            Value::Null => {
                self.err(
                    "AppSpec",
                    "is empty; expected version: 0.0, Resources and optionally Hooks",
                );
                return None;
            }
            other => self.mapping(other, "AppSpec", " with version, Resources and Hooks")?,
        };
        self.keys(root, "", &["version", "Resources", "Hooks"]);
        self.version(get(root, "version"));
        let (platform, resource) = self.resources(get(root, "Resources"));
        let hooks = self.hooks(get(root, "Hooks"), platform);
        Some(AppSpec {
            version: "0.0".to_string(),
            resource: resource?,
            hooks,
        })
    }

    fn version(&mut self, v: Option<&Value>) {
        let ok = match v {
            None => {
                self.err("version", "is required; write version: 0.0");
                return;
            }
            Some(Value::Number(n)) => n.as_f64() == Some(0.0),
            Some(Value::String(s)) => s == "0.0" || s == "0",
            Some(_) => false,
        };
        if !ok {
            let shown = v.map(|v| v.to_string()).unwrap_or_default();
            self.err(
                "version",
                format!("must be 0.0 (the only AppSpec version), not {shown}"),
            );
        }
    }

    fn resources(
        &mut self,
        v: Option<&Value>,
    ) -> (Option<ComputePlatform>, Option<AppSpecResource>) {
        let example = "e.g. `- myFunction: {Type: AWS::Lambda::Function, Properties: {...}}`";
        let items = match v {
            None => {
                self.err(
                    "Resources",
                    format!("is required: a list with one resource, {example}"),
                );
                return (None, None);
            }
            Some(Value::Array(items)) => items,
            Some(Value::Object(_)) => {
                self.err(
                    "Resources",
                    "must be a list with one item; start the resource with a dash: \
                     `- myFunction:`",
                );
                return (None, None);
            }
            Some(other) => {
                self.err(
                    "Resources",
                    format!(
                        "must be a list with one resource, not {}; {example}",
                        type_name(other)
                    ),
                );
                return (None, None);
            }
        };
        if items.len() != 1 {
            let extra = if items.len() > 1 {
                " (a deployment updates one function or service)"
            } else {
                ""
            };
            self.err(
                "Resources",
                format!(
                    "must list exactly one resource; found {}{extra}",
                    items.len()
                ),
            );
        }
        let mut first = (None, None);
        for (i, item) in items.iter().enumerate() {
            let result = self.resource(item, &format!("Resources[{i}]"));
            if i == 0 {
                first = result;
            }
        }
        if items.len() == 1 {
            first
        } else {
            (first.0, None)
        }
    }

    fn resource(
        &mut self,
        item: &Value,
        path: &str,
    ) -> (Option<ComputePlatform>, Option<AppSpecResource>) {
        let Some(map) = self.mapping(item, path, " `logicalName: {Type, Properties}`") else {
            return (None, None);
        };
        if map.contains_key("Type") || map.contains_key("Properties") {
            self.err(
                path,
                "is missing the logical name; write `- myFunction:` and indent Type and \
                 Properties under it",
            );
            return (None, None);
        }
        if map.len() != 1 {
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            self.err(
                path,
                format!(
                    "must have exactly one key, the resource's logical name; found {} ({})",
                    map.len(),
                    names.join(", ")
                ),
            );
            return (None, None);
        }
        let Some((logical, body)) = map.iter().next() else {
            return (None, None);
        };
        let path = join(path, logical);
        if logical.trim().is_empty() {
            self.err(&path, "the resource's logical name must not be empty");
        }
        let Some(body) = self.mapping(body, &path, " with Type and Properties") else {
            return (None, None);
        };
        self.keys(body, &path, &["Type", "Properties"]);
        let allowed = format!("use {LAMBDA_TYPE} or {ECS_TYPE}");
        let platform = match get(body, "Type") {
            None => {
                self.err(join(&path, "Type"), format!("is required; {allowed}"));
                None
            }
            Some(Value::String(t)) if t == LAMBDA_TYPE => Some(ComputePlatform::Lambda),
            Some(Value::String(t)) if t == ECS_TYPE => Some(ComputePlatform::Ecs),
            Some(Value::String(t)) => {
                self.err(
                    join(&path, "Type"),
                    format!("{t:?} is not supported; {allowed}"),
                );
                None
            }
            Some(other) => {
                self.err(
                    join(&path, "Type"),
                    format!("must be a string, not {}; {allowed}", type_name(other)),
                );
                None
            }
        };
        let props_path = join(&path, "Properties");
        let Some(props) = self.required(body, &path, "Properties", "") else {
            return (platform, None);
        };
        let Some(props) = self.mapping(props, &props_path, "") else {
            return (platform, None);
        };
        let resource = match platform {
            Some(ComputePlatform::Lambda) => self
                .lambda(logical, props, &props_path)
                .map(AppSpecResource::Lambda),
            Some(ComputePlatform::Ecs) => self
                .ecs(logical, props, &props_path)
                .map(AppSpecResource::Ecs),
            None => None,
        };
        (platform, resource)
    }

    fn report(&mut self, path: String, check: Result<String, String>) -> Option<String> {
        match check {
            Ok(v) => Some(v),
            Err(message) => {
                self.err(path, message);
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Field checks: Ok(normalized value) or Err(message).

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// A Lambda function name, partial ARN (`123456789012:function:name`) or ARN
/// (`arn:aws:lambda:us-east-1:123456789012:function:name`). A qualifier
/// (`name:live`) is accepted only when `qualifier_ok`.
fn check_function_name(name: &str, qualifier_ok: bool) -> Result<String, String> {
    let usage = "use the function's name (letters, digits, '-' and '_', at most 64 characters) \
                 or its ARN (at most 140 characters)";
    if let Some(bad) = name.chars().find(|c| !(is_name_char(*c) || *c == ':')) {
        return Err(format!("{name:?} contains {bad:?}; {usage}"));
    }
    let len = name.chars().count();
    let parts: Vec<&str> = name.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("{name:?} is not a function name or ARN; {usage}"));
    }
    let (function, qualifier) = if parts[0] == "arn" {
        let shape_ok = (parts.len() == 7 || parts.len() == 8)
            && parts[1].starts_with("aws")
            && parts[2] == "lambda"
            && parts[5] == "function";
        if !shape_ok {
            return Err(format!(
                "{name:?} is not a Lambda function ARN \
                 (arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
            ));
        }
        (parts[6], parts.get(7))
    } else {
        match parts.len() {
            1 => (parts[0], None),
            2 => (parts[0], parts.get(1)),
            3 | 4 if parts[1] == "function" => (parts[2], parts.get(3)),
            _ => return Err(format!("{name:?} is not a function name or ARN; {usage}")),
        }
    };
    if len > 140 || function.chars().count() > 64 {
        return Err(format!("{name:?} is too long; {usage}"));
    }
    if let (Some(q), false) = (qualifier, qualifier_ok) {
        return Err(format!(
            "{name:?} includes the qualifier {q:?}; give the unqualified function (the alias goes \
             in Alias, the versions in CurrentVersion and TargetVersion)"
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
#[path = "../appspec_tests.rs"]
mod tests;
