//! Field checks of a deployment group file: each answers Ok or Err(message).

use super::*;

/// An application or group name: 1 to 100 letters, digits, `.`, `_`, `-`, `+`.
pub fn check_name(name: &str) -> Result<(), String> {
    let usage = format!("use 1 to {MAX_GROUP_NAME_LEN} letters, digits, '.', '_', '-' and '+'");
    if name.is_empty() {
        return Err(format!("is empty; {usage}"));
    }
    if name.contains('/') {
        return Err(format!(
            "{name:?} contains '/', which separates application and name in a group's key; \
             {usage}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')))
    {
        return Err(format!("{name:?} contains {bad:?}; {usage}"));
    }
    let len = name.chars().count();
    if len > MAX_GROUP_NAME_LEN {
        return Err(format!("is {len} characters long; {usage}"));
    }
    Ok(())
}

/// A custom deployment configuration's name, as `DeploymentConfig::validate` allows it.
pub(super) fn check_custom_config_name(name: &str) -> Result<(), String> {
    let usage = "a predefined configuration (`cutover configs` lists them) or a custom \
                 configuration's name (letters, digits, '.', '_' and '-')";
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Err(format!(
            "is {len} characters long; use at most {MAX_NAME_LEN} for {usage}"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!("{name:?} contains {bad:?}; use {usage}"));
    }
    Ok(())
}

/// The names of the predefined configurations for `platform`.
pub(super) fn platform_config_names(platform: ComputePlatform) -> Vec<String> {
    DeploymentConfig::predefined_all()
        .into_iter()
        .filter(|c| c.platform == platform)
        .map(|c| c.name)
        .collect()
}

/// "the predefined ECS configurations are CodeDeployDefault.ECSAllAtOnce, ..." for messages.
pub(super) fn platform_family(platform: ComputePlatform) -> String {
    let names = platform_config_names(platform);
    format!(
        "the predefined {platform} configurations are {}",
        names.join(", ")
    )
}

/// The parts of `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` when the ARN has this
/// shape with `service`, a 12-digit account and a region; else the reason.
pub(super) fn split_arn<'a>(arn: &'a str, service: &str, example: &str) -> Result<&'a str, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let shape = format!("{arn:?} is not {example}");
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return Err(shape);
    }
    if parts[2] != service {
        return Err(format!(
            "{shape}; it is an ARN of the {} service",
            if parts[2].is_empty() {
                "(empty)"
            } else {
                parts[2]
            }
        ));
    }
    let region_ok = !parts[3].is_empty()
        && parts[3]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !region_ok {
        return Err(format!("{shape}; {:?} is not a region", parts[3]));
    }
    if parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "{shape}; {:?} is not an account ID (12 digits)",
            parts[4]
        ));
    }
    if parts[5].is_empty() {
        return Err(shape);
    }
    Ok(parts[5])
}

/// `arn:aws:sns:REGION:ACCOUNT:NAME`.
pub(super) fn check_topic_arn(arn: &str) -> Result<String, String> {
    let example = "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)";
    let name = split_arn(arn, "sns", example)?;
    if name.contains(':') {
        return Err(format!(
            "{arn:?} is a subscription ARN; give the topic's ARN \
             (arn:aws:sns:REGION:ACCOUNT:NAME)"
        ));
    }
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let base_ok = !base.is_empty()
        && name.chars().count() <= 256
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !base_ok {
        return Err(format!(
            "{name:?} is not a topic name (1 to 256 letters, digits, '-' and '_'); give {example}"
        ));
    }
    Ok(arn.to_string())
}

/// A cluster or service: its name (1 to 255 letters, digits, `-`, `_`) or ARN
/// (`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`, `...:service/[CLUSTER/]NAME`).
pub(super) fn check_ecs_name(value: &str, kind: &str) -> Result<String, String> {
    let example = format!("arn:aws:ecs:REGION:ACCOUNT:{kind}/NAME");
    let usage = format!(
        "use the {kind}'s name (1 to 255 letters, digits, '-' and '_') or its ARN ({example})"
    );
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 255
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if value.starts_with("arn:") {
        let resource = split_arn(value, "ecs", &format!("an ECS {kind} ARN ({example})"))?;
        let names: Vec<&str> = resource.split('/').collect();
        let max_parts = if kind == "service" { 3 } else { 2 };
        let ok = names[0] == kind
            && (2..=max_parts).contains(&names.len())
            && names[1..].iter().all(|n| name_ok(n));
        if !ok {
            return Err(format!("{value:?} is not an ECS {kind} ARN ({example})"));
        }
        return Ok(value.to_string());
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!("{value:?} contains {bad:?}; {usage}"));
    }
    if !name_ok(value) {
        return Err(format!("{value:?} is too long; {usage}"));
    }
    Ok(value.to_string())
}

/// What an Elastic Load Balancing ARN's resource is, for messages about the wrong kind.
pub(super) fn elb_resource_kind(resource: &str) -> Option<&'static str> {
    let kind = resource.split('/').next()?;
    match kind {
        "listener" => Some("a listener"),
        "listener-rule" => Some("a listener rule"),
        "targetgroup" => Some("a target group"),
        "loadbalancer" => Some("a load balancer"),
        _ => None,
    }
}

/// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/LB-NAME/LB-ID/LISTENER-ID`.
pub(super) fn check_listener_arn(arn: &str) -> Result<String, String> {
    let example = "arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID";
    let what = format!("an Application Load Balancer listener ARN ({example})");
    let resource = split_arn(arn, "elasticloadbalancing", &what)?;
    let parts: Vec<&str> = resource.split('/').collect();
    if parts[0] != "listener" {
        return Err(match elb_resource_kind(resource) {
            Some(kind) => format!("{arn:?} is {kind} ARN; give the listener's ARN ({example})"),
            None => format!("{arn:?} is not {what}"),
        });
    }
    match parts.get(1).copied() {
        Some("app") => {}
        Some("net") => {
            return Err(format!(
                "{arn:?} is a Network Load Balancer listener; only Application Load Balancer \
                 listeners (listener/app/...) are supported"
            ))
        }
        Some("gwy") => {
            return Err(format!(
                "{arn:?} is a Gateway Load Balancer listener; only Application Load Balancer \
                 listeners (listener/app/...) are supported"
            ))
        }
        _ => return Err(format!("{arn:?} is not {what}")),
    }
    let part_ok =
        |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if parts.len() != 5 || !parts.iter().all(part_ok) {
        return Err(format!("{arn:?} is not {what}"));
    }
    Ok(arn.to_string())
}

/// `arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID`.
pub(super) fn check_target_group_arn(arn: &str) -> Result<String, String> {
    let example = "arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID";
    if !arn.starts_with("arn:") {
        return Err(format!(
            "{arn:?} is not a target group ARN; give the full ARN ({example}); \
             `aws elbv2 describe-target-groups` shows it"
        ));
    }
    let what = format!("a target group ARN ({example})");
    let resource = split_arn(arn, "elasticloadbalancing", &what)?;
    let parts: Vec<&str> = resource.split('/').collect();
    if parts[0] != "targetgroup" {
        return Err(match elb_resource_kind(resource) {
            Some(kind) => {
                format!("{arn:?} is {kind} ARN; give a target group's ARN ({example})")
            }
            None => format!("{arn:?} is not {what}"),
        });
    }
    let ok = parts.len() == 3
        && !parts[1].is_empty()
        && parts[1].len() <= 32
        && parts[1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !parts[2].is_empty()
        && parts[2].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(format!("{arn:?} is not {what}"));
    }
    Ok(arn.to_string())
}
