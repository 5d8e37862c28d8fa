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

/// The `Properties` of an `AWS::Lambda::Function` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaResource {
    /// The resource's logical name in the AppSpec (`myLambdaFunction`).
    pub logical_name: String,
    /// `Name`: the function's name, or its full or partial ARN (unqualified).
    pub name: String,
    /// `Alias`: the alias whose traffic shifts.
    pub alias: String,
    /// `CurrentVersion`: the published version the alias points at now (e.g. `"1"`).
    pub current_version: String,
    /// `TargetVersion`: the published version to shift to (e.g. `"2"`).
    pub target_version: String,
}

/// The `Properties` of an `AWS::ECS::Service` resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsResource {
    /// The resource's logical name in the AppSpec (`TargetService`).
    pub logical_name: String,
    /// `TaskDefinition`: ARN or `family:revision` of the replacement's task definition.
    pub task_definition: String,
    /// `LoadBalancerInfo.ContainerName`: the container that receives traffic.
    pub container_name: String,
    /// `LoadBalancerInfo.ContainerPort`: its port.
    pub container_port: u16,
    /// `PlatformVersion` (Fargate), if given.
    pub platform_version: Option<String>,
    /// `NetworkConfiguration.AwsvpcConfiguration`, if given.
    pub network: Option<AwsVpcConfiguration>,
    /// `CapacityProviderStrategy` (empty when not given).
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
}

/// `NetworkConfiguration.AwsvpcConfiguration` of an ECS AppSpec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwsVpcConfiguration {
    /// `Subnets`: 1 to 16 subnet IDs.
    pub subnets: Vec<String>,
    /// `SecurityGroups`: 1 to 5 security group IDs.
    pub security_groups: Vec<String>,
    /// `AssignPublicIp`: `ENABLED` or `DISABLED`, if given.
    pub assign_public_ip: Option<String>,
}

/// One item of an ECS AppSpec's `CapacityProviderStrategy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapacityProviderItem {
    /// `CapacityProvider`, e.g. `FARGATE_SPOT`.
    pub capacity_provider: String,
    /// `Base`: tasks placed on this provider first (0 to 100000).
    pub base: Option<u32>,
    /// `Weight`: relative share of the remaining tasks (0 to 1000).
    pub weight: Option<u32>,
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

    fn lambda(
        &mut self,
        logical: &str,
        props: &Map<String, Value>,
        path: &str,
    ) -> Option<LambdaResource> {
        self.keys(
            props,
            path,
            &["Name", "Alias", "CurrentVersion", "TargetVersion"],
        );
        let name = self
            .required_string(props, path, "Name", " (the function's name or ARN)")
            .and_then(|n| {
                let check = check_function_name(n, false);
                self.report(join(path, "Name"), check)
            });
        let alias = self
            .required_string(
                props,
                path,
                "Alias",
                " (the alias whose traffic shifts, e.g. live)",
            )
            .and_then(|a| {
                let check = check_alias(a);
                self.report(join(path, "Alias"), check)
            });
        let current = self.lambda_version(props, path, "CurrentVersion");
        let target = self.lambda_version(props, path, "TargetVersion");
        if let (Some(c), Some(t)) = (&current, &target) {
            if c == t {
                self.err(
                    join(path, "TargetVersion"),
                    format!(
                        "is the same as CurrentVersion ({c}); the target must be another \
                         published version"
                    ),
                );
            }
        }
        Some(LambdaResource {
            logical_name: logical.to_string(),
            name: name?,
            alias: alias?,
            current_version: current?,
            target_version: target?,
        })
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

    fn lambda_version(
        &mut self,
        props: &Map<String, Value>,
        path: &str,
        key: &str,
    ) -> Option<String> {
        let v = self.required(
            props,
            path,
            key,
            " (a published version number, e.g. \"2\")",
        )?;
        let check = check_version(v);
        self.report(join(path, key), check)
    }

    fn ecs(
        &mut self,
        logical: &str,
        props: &Map<String, Value>,
        path: &str,
    ) -> Option<EcsResource> {
        self.keys(
            props,
            path,
            &[
                "TaskDefinition",
                "LoadBalancerInfo",
                "PlatformVersion",
                "NetworkConfiguration",
                "CapacityProviderStrategy",
            ],
        );
        let task_definition = self
            .required_string(
                props,
                path,
                "TaskDefinition",
                " (the task definition ARN or family:revision)",
            )
            .and_then(|t| {
                let check = check_task_definition(t);
                self.report(join(path, "TaskDefinition"), check)
            });

        let lb_path = join(path, "LoadBalancerInfo");
        let mut container_name = None;
        let mut container_port = None;
        if let Some(lb) = self.required(
            props,
            path,
            "LoadBalancerInfo",
            " (ContainerName and ContainerPort)",
        ) {
            if let Some(lb) = self.mapping(lb, &lb_path, " with ContainerName and ContainerPort") {
                self.keys(lb, &lb_path, &["ContainerName", "ContainerPort"]);
                container_name = self
                    .required_string(
                        lb,
                        &lb_path,
                        "ContainerName",
                        " (the container that receives traffic)",
                    )
                    .map(str::to_string);
                if let Some(port) = self.required(lb, &lb_path, "ContainerPort", " (1 to 65535)") {
                    container_port = self
                        .number(port, &join(&lb_path, "ContainerPort"), 1, 65535)
                        .map(|p| p as u16);
                }
            }
        }

        let mut ok = true;
        let platform_version = match get(props, "PlatformVersion") {
            None => None,
            Some(v) => {
                let s = self
                    .string(v, &join(path, "PlatformVersion"))
                    .map(str::to_string);
                ok &= s.is_some();
                s
            }
        };
        let network = match get(props, "NetworkConfiguration") {
            None => None,
            Some(v) => {
                let n = self.network(v, &join(path, "NetworkConfiguration"));
                ok &= n.is_some();
                n
            }
        };
        let capacity_provider_strategy = match get(props, "CapacityProviderStrategy") {
            None => Vec::new(),
            Some(v) => match self.capacity(v, &join(path, "CapacityProviderStrategy")) {
                Some(c) => c,
                None => {
                    ok = false;
                    Vec::new()
                }
            },
        };
        if !ok {
            return None;
        }
        Some(EcsResource {
            logical_name: logical.to_string(),
            task_definition: task_definition?,
            container_name: container_name?,
            container_port: container_port?,
            platform_version,
            network,
            capacity_provider_strategy,
        })
    }

    fn network(&mut self, v: &Value, path: &str) -> Option<AwsVpcConfiguration> {
        let map = self.mapping(v, path, " with AwsvpcConfiguration")?;
        self.keys(map, path, &["AwsvpcConfiguration"]);
        let vpc_path = join(path, "AwsvpcConfiguration");
        let vpc = self.required(
            map,
            path,
            "AwsvpcConfiguration",
            " (Subnets, SecurityGroups and AssignPublicIp), or leave NetworkConfiguration out",
        )?;
        let vpc = self.mapping(
            vpc,
            &vpc_path,
            " with Subnets, SecurityGroups and AssignPublicIp",
        )?;
        self.keys(
            vpc,
            &vpc_path,
            &["Subnets", "SecurityGroups", "AssignPublicIp"],
        );
        let subnets = self.id_list(vpc, &vpc_path, "Subnets", "subnet-", 16);
        let security_groups = self.id_list(vpc, &vpc_path, "SecurityGroups", "sg-", 5);
        let mut ip_ok = true;
        let assign_public_ip = match get(vpc, "AssignPublicIp") {
            None => None,
            Some(Value::String(s)) if s == "ENABLED" || s == "DISABLED" => Some(s.clone()),
            Some(other) => {
                let shown = match other {
                    Value::String(s) => format!("{s:?}"),
                    Value::Bool(b) => format!("{b} (a boolean)"),
                    v => type_name(v).to_string(),
                };
                self.err(
                    join(&vpc_path, "AssignPublicIp"),
                    format!("must be ENABLED or DISABLED, not {shown}"),
                );
                ip_ok = false;
                None
            }
        };
        if !ip_ok {
            return None;
        }
        Some(AwsVpcConfiguration {
            subnets: subnets?,
            security_groups: security_groups?,
            assign_public_ip,
        })
    }

    /// A required, non-empty list of IDs with the given prefix, at most `max` long.
    fn id_list(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        prefix: &str,
        max: usize,
    ) -> Option<Vec<String>> {
        let list_path = join(path, key);
        let v = self.required(map, path, key, &format!(" (a list of {prefix}... IDs)"))?;
        let Value::Array(items) = v else {
            self.err(
                &list_path,
                format!("must be a list of {prefix}... IDs, not {}", type_name(v)),
            );
            return None;
        };
        if items.is_empty() || items.len() > max {
            self.err(
                &list_path,
                format!(
                    "must list 1 to {max} {prefix}... IDs; found {}",
                    items.len()
                ),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{list_path}[{i}]");
            match self.string(item, &item_path) {
                Some(s)
                    if s.starts_with(prefix)
                        && s.len() > prefix.len()
                        && !s.contains(char::is_whitespace) =>
                {
                    out.push(s.to_string());
                }
                Some(s) => {
                    self.err(item_path, format!("{s:?} is not a {prefix}... ID"));
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn capacity(&mut self, v: &Value, path: &str) -> Option<Vec<CapacityProviderItem>> {
        let Value::Array(items) = v else {
            self.err(
                path,
                format!(
                    "must be a list of {{CapacityProvider, Base, Weight}} items, not {}",
                    type_name(v)
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        let mut base_at: Option<String> = None;
        let mut seen: Vec<(String, String)> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            let Some(map) =
                self.mapping(item, &item_path, " with CapacityProvider, Base and Weight")
            else {
                ok = false;
                continue;
            };
            self.keys(map, &item_path, &["Base", "CapacityProvider", "Weight"]);
            let provider = self
                .required_string(
                    map,
                    &item_path,
                    "CapacityProvider",
                    " (e.g. FARGATE or FARGATE_SPOT)",
                )
                .map(str::to_string);
            let base =
                get(map, "Base").map(|b| self.number(b, &join(&item_path, "Base"), 0, 100_000));
            let weight =
                get(map, "Weight").map(|w| self.number(w, &join(&item_path, "Weight"), 0, 1000));
            if let Some(Some(b)) = base {
                if b > 0 {
                    if let Some(first) = &base_at {
                        self.err(
                            join(&item_path, "Base"),
                            format!("only one capacity provider may have a Base above 0 (also at {first})"),
                        );
                        ok = false;
                    } else {
                        base_at = Some(join(&item_path, "Base"));
                    }
                }
            }
            if let Some(p) = &provider {
                if let Some((_, first)) = seen.iter().find(|(name, _)| name == p) {
                    self.err(
                        join(&item_path, "CapacityProvider"),
                        format!("{p} is listed twice (also at {first})"),
                    );
                    ok = false;
                } else {
                    seen.push((p.clone(), join(&item_path, "CapacityProvider")));
                }
            }
            match (provider, base, weight) {
                (Some(capacity_provider), b, w)
                    if !matches!(b, Some(None)) && !matches!(w, Some(None)) =>
                {
                    out.push(CapacityProviderItem {
                        capacity_provider,
                        base: b.flatten().map(|x| x as u32),
                        weight: w.flatten().map(|x| x as u32),
                    });
                }
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn hooks(&mut self, v: Option<&Value>, platform: Option<ComputePlatform>) -> Vec<HookSpec> {
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

fn check_alias(alias: &str) -> Result<String, String> {
    if alias == "$LATEST" {
        return Err(
            "$LATEST is not an alias; use the alias that serves traffic, e.g. live".to_string(),
        );
    }
    if let Some(bad) = alias.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "{alias:?} contains {bad:?}; an alias uses only letters, digits, '-' and '_'"
        ));
    }
    if alias.len() > 128 {
        return Err(format!(
            "is {} characters long; an alias has at most 128",
            alias.len()
        ));
    }
    if alias.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{alias:?} is a number, not an alias name; put versions in CurrentVersion and \
             TargetVersion and the alias name (e.g. live) here"
        ));
    }
    Ok(alias.to_string())
}

/// A published version: a positive whole number, as a string or a number.
fn check_version(v: &Value) -> Result<String, String> {
    let usage = "use a published version number such as \"3\"";
    match v {
        Value::String(s) if s == "$LATEST" => Err(
            "$LATEST cannot be deployed; publish a version (aws lambda publish-version) and use \
             its number"
                .to_string(),
        ),
        Value::String(s) => {
            if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                match s.parse::<u64>() {
                    Ok(0) => Err(format!(
                        "{s:?} is not a published version; versions start at 1"
                    )),
                    Ok(n) if n.to_string() != *s => Err(format!(
                        "{s:?} is not a published version number; write \"{n}\""
                    )),
                    Ok(n) => Ok(n.to_string()),
                    Err(_) => Err(format!("{s:?} is too large for a version number")),
                }
            } else {
                Err(format!(
                    "{s:?} is not a published version; {usage} (aliases are not versions)"
                ))
            }
        }
        Value::Number(n) => match n.as_u64() {
            Some(0) => Err("0 is not a published version; versions start at 1".to_string()),
            Some(u) => Ok(u.to_string()),
            None => Err(format!("{n} is not a published version; {usage}")),
        },
        other => Err(format!(
            "must be a version number, not {}; {usage}",
            type_name(other)
        )),
    }
}

/// `arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION` or `FAMILY:REVISION`.
fn check_task_definition(t: &str) -> Result<String, String> {
    let usage = "use arn:aws:ecs:REGION:ACCOUNT:task-definition/FAMILY:REVISION or \
                 FAMILY:REVISION";
    if t.starts_with('<') && t.ends_with('>') {
        return Err(format!(
            "{t} is a CodePipeline placeholder; put the task definition here ({usage})"
        ));
    }
    let family_revision = if t.starts_with("arn:") {
        let parts: Vec<&str> = t.split(':').collect();
        let ok = parts.len() == 7
            && parts[1].starts_with("aws")
            && parts[2] == "ecs"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5].starts_with("task-definition/");
        if !ok {
            return Err(format!("{t:?} is not a task definition ARN; {usage}"));
        }
        (&parts[5]["task-definition/".len()..], parts[6])
    } else {
        match t.split_once(':') {
            Some(pair) => pair,
            None => {
                return Err(format!(
                    "{t:?} has no revision; {usage} (e.g. {t}:3), so the deployed revision is \
                     the one you mean"
                ))
            }
        }
    };
    let (family, revision) = family_revision;
    if family.is_empty() || family.len() > 255 || !family.chars().all(is_name_char) {
        return Err(format!(
            "{family:?} is not a task definition family (letters, digits, '-' and '_', at most \
             255 characters); {usage}"
        ));
    }
    let revision_ok = !revision.is_empty()
        && revision.chars().all(|c| c.is_ascii_digit())
        && !revision.starts_with('0');
    if !revision_ok {
        return Err(format!(
            "{revision:?} is not a revision (a number from 1); {usage}"
        ));
    }
    Ok(t.to_string())
}

#[cfg(test)]
#[path = "appspec_tests.rs"]
mod tests;
