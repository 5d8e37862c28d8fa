//! The ECS AppSpec: an `AWS::ECS::Service` resource, its task definition, container and port,
//! network configuration and capacity provider strategy.

use super::*;

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

impl Walker {
    pub(super) fn ecs(
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
