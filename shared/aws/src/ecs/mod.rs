//! ECS blue/green: the service's task sets and the Application Load Balancer listeners whose
//! weighted forward action moves traffic from the original ("blue") to the replacement
//! ("green") target group, and the pre-flight that resolves a deployment's target.

use crate::error::{Error, Result};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{DeploymentControllerType, NetworkMode, Service, TaskSet};
use aws_sdk_elasticloadbalancingv2::types::{Listener, TargetGroup};
use cutover_core::appspec::EcsResource;
use cutover_core::group::{EcsGroup, ReadyAction};
use cutover_core::model::EcsTarget;
use listeners::{action_kinds, describe_forwards, forward_action, forwards};
use task_sets::{capacity_of, vpc_of};

mod listeners;
mod task_sets;

const ECS: &str = "ECS";
const ELB: &str = "ElasticLoadBalancing";

/// ECS service and ALB listeners of blue/green deployments.
#[derive(Debug, Clone)]
pub struct EcsRouter {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

/// Maps an SDK error: missing permissions are refused with the IAM action to allow;
/// everything else is an [`Error::Aws`], retryable as the SDK classifies it.
fn aws_error<E>(
    service: &'static str,
    operation: &'static str,
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Error
where
    E: std::error::Error
        + ProvideErrorMetadata
        + aws_smithy_types::retry::ProvideErrorKind
        + Send
        + Sync
        + 'static,
{
    let code = ProvideErrorMetadata::code(err);
    if matches!(
        code,
        Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation")
    ) {
        let prefix = if service == ECS {
            "ecs"
        } else {
            "elasticloadbalancing"
        };
        let detail = ProvideErrorMetadata::message(err).unwrap_or("access denied");
        return Error::refused(
            "AccessDenied",
            format!(
                "{service} {operation} was denied ({detail}); allow the IAM action \
                 {prefix}:{operation} in the policy of the role Cutover runs with"
            ),
        );
    }
    Error::aws(service, operation, err)
}

/// An [`Error::Aws`] for an answer that lacks what was asked for.
fn missing(service: &'static str, operation: &'static str, message: String) -> Error {
    Error::Aws {
        service,
        operation,
        message,
        retryable: false,
    }
}

/// `(original, replacement)`: the target group the production listener forwards to,
/// and the other one.
/// What [`EcsRouter::check_group`] found.
struct GroupResources {
    service: Service,
    original: String,
    replacement: String,
    primary: TaskSet,
}

/// What a group's listener forwards to, refused when it does not forward at all (`field`
/// names the listener, `fix` ends the message).
fn listener_forwards(
    field: &str,
    arn: &str,
    listener: &Listener,
    fix: &str,
) -> Result<Vec<(String, u32)>> {
    match forward_action(listener) {
        Some(action) => Ok(forwards(action)),
        None => Err(Error::refused(
            "ListenerSplit",
            format!(
                "{field}: listener {arn} does not forward to a target group (its default action is {}); {fix}",
                action_kinds(listener)
            ),
        )),
    }
}

/// The weighted forwards that go to neither of the group's target groups.
fn outside<'a>(fw: &'a [(String, u32)], tgs: &[String; 2]) -> Vec<&'a (String, u32)> {
    fw.iter()
        .filter(|(tg, w)| *w > 0 && !tgs.contains(tg))
        .collect()
}

fn split(group: &EcsGroup, production: &Listener) -> Result<(String, String)> {
    let arn = &group.production_listener_arn;
    let [tg0, tg1] = &group.target_groups;
    let fw = listener_forwards(
        "ecs.productionListenerArn",
        arn,
        production,
        "point it at the target group that serves production (one of ecs.targetGroups) and deploy again",
    )?;
    let weighted: Vec<&(String, u32)> = fw.iter().filter(|(_, w)| *w > 0).collect();
    let foreign = outside(&fw, &group.target_groups);
    let on0 = weighted.iter().any(|(tg, _)| tg == tg0);
    let on1 = weighted.iter().any(|(tg, _)| tg == tg1);
    if !foreign.is_empty() {
        return Err(Error::refused(
            "ListenerSplit",
            format!(
                "ecs.productionListenerArn: listener {arn} forwards to {}, which is not one of ecs.targetGroups; list the target group that serves production in ecs.targetGroups, or send all production traffic to one of them, and deploy again",
                describe_forwards(foreign)
            ),
        ));
    }
    match (on0, on1) {
        (true, false) => Ok((tg0.clone(), tg1.clone())),
        (false, true) => Ok((tg1.clone(), tg0.clone())),
        (true, true) => Err(Error::refused(
            "ListenerSplit",
            format!(
                "ecs.productionListenerArn: listener {arn} splits traffic between both target groups ({}), as if a deployment had not finished; send all traffic to one of them (aws elbv2 modify-listener --listener-arn {arn} --default-actions Type=forward,TargetGroupArn=ARN) and deploy again",
                describe_forwards(weighted)
            ),
        )),
        (false, false) => Err(Error::refused(
            "ListenerSplit",
            format!(
                "ecs.productionListenerArn: listener {arn} forwards to neither target group of ecs.targetGroups (it forwards to {}); point it at the one that serves production and deploy again",
                if fw.is_empty() { "nothing".to_string() } else { describe_forwards(&fw) }
            ),
        )),
    }
}

impl EcsRouter {
    /// A router on an ECS and an Elastic Load Balancing client.
    pub fn new(ecs: aws_sdk_ecs::Client, elb: aws_sdk_elasticloadbalancingv2::Client) -> Self {
        EcsRouter { ecs, elb }
    }

    /// Pre-flight of an ECS deployment: checks the group's resources against AWS as they
    /// are and resolves the deployment's target. Changes nothing.
    ///
    /// Refuses (each message names the group field or AppSpec path and the fix) when the
    /// cluster or service does not exist or is not active (`ServiceNotFound`); the service's
    /// deployment controller is not EXTERNAL (`DeploymentControllerNotExternal`); a listener
    /// does not exist (`ListenerNotFound`); the listeners are on different load balancers or
    /// a target group is attached to another one (`LoadBalancerMismatch`); a target group
    /// does not exist (`TargetGroupNotFound`); the two target groups are the same
    /// (`TargetGroupsNotDistinct`); the production listener does not forward to exactly one
    /// of the two target groups, or the test listener forwards elsewhere or not at all
    /// (`ListenerSplit`); the service has no PRIMARY task set (`NoPrimaryTaskSet`) or it is
    /// not registered with the original target group (`PrimaryTaskSetNotInTargetGroup`);
    /// the task definition does not exist or is inactive (`TaskDefinitionNotFound`), lacks
    /// the container (`ContainerNotFound`) or its port (`ContainerPortNotFound`), or needs
    /// awsvpc settings that neither the AppSpec nor the original task set give
    /// (`NetworkConfigurationMissing`).
    ///
    /// The target's resource is the AppSpec's with the task definition's full ARN; when the
    /// AppSpec gives no network configuration or capacity provider strategy, the original
    /// task set's are used, so that the replacement runs like the original.
    /// Checks a deployment group's ECS resources as they are in AWS (what `cutover group
    /// put` runs): the service on the EXTERNAL controller, both listeners on one load
    /// balancer, the target groups attached to it (or to none), production traffic on
    /// exactly one of them, and a primary task set behind it. Changes nothing.
    pub async fn check_group(&self, group: &EcsGroup) -> Result<()> {
        self.group_resources(group).await.map(|_| ())
    }

    async fn group_resources(&self, group: &EcsGroup) -> Result<GroupResources> {
        let [tg0, tg1] = &group.target_groups;
        if tg0 == tg1 {
            return Err(Error::refused(
                "TargetGroupsNotDistinct",
                format!("ecs.targetGroups[1]: the same target group as ecs.targetGroups[0] ({tg0}); blue/green needs two different target groups"),
            ));
        }
        let (cluster, service_name) = (&group.cluster, &group.service);

        // The service, on the EXTERNAL deployment controller.
        let service = self.describe_service(cluster, service_name).await?;
        let controller = service
            .deployment_controller()
            .map_or("ECS", |d| d.r#type().as_str());
        if service.deployment_controller().map(|d| d.r#type())
            != Some(&DeploymentControllerType::External)
        {
            return Err(Error::refused(
                "DeploymentControllerNotExternal",
                format!(
                    "ecs.service: service {service_name} in cluster {cluster} uses the {controller} deployment controller; Cutover deploys services with the EXTERNAL controller, which cannot be set on an existing service: recreate the service with `deploymentController: {{type: EXTERNAL}}` (aws ecs create-service --deployment-controller type=EXTERNAL ...), give it a first task set (aws ecs create-task-set) and deploy again"
                ),
            ));
        }

        // The listeners, on one load balancer.
        let production = self
            .listener_for("ecs.productionListenerArn", &group.production_listener_arn)
            .await?;
        let test = match &group.test_listener_arn {
            Some(arn) => Some(self.listener_for("ecs.testListenerArn", arn).await?),
            None => None,
        };
        let lb = production.load_balancer_arn().unwrap_or_default();
        if let (Some(arn), Some(tl)) = (&group.test_listener_arn, &test) {
            let test_lb = tl.load_balancer_arn().unwrap_or_default();
            if test_lb != lb {
                return Err(Error::refused(
                    "LoadBalancerMismatch",
                    format!("ecs.testListenerArn: listener {arn} belongs to load balancer {test_lb}, but the production listener belongs to {lb}; use a test listener of the same load balancer"),
                ));
            }
        }

        // The target groups, attached to that load balancer (or to none yet).
        for (i, arn) in group.target_groups.iter().enumerate() {
            let Some(tg) = self.describe_target_group(arn).await? else {
                return Err(Error::refused(
                    "TargetGroupNotFound",
                    format!("ecs.targetGroups[{i}]: target group {arn} does not exist in this account and region; `aws elbv2 describe-target-groups` lists them"),
                ));
            };
            let lbs = tg.load_balancer_arns();
            if !lbs.is_empty() && !lbs.iter().any(|l| l == lb) {
                return Err(Error::refused(
                    "LoadBalancerMismatch",
                    format!(
                        "ecs.targetGroups[{i}]: target group {arn} is attached to load balancer {}, but the production listener belongs to {lb}; use target groups of the listener's load balancer",
                        lbs.join(", ")
                    ),
                ));
            }
        }

        // Blue is the one target group production traffic goes to.
        let (original, replacement) = split(group, &production)?;
        if let (Some(arn), Some(tl)) = (&group.test_listener_arn, &test) {
            let fw = listener_forwards(
                "ecs.testListenerArn",
                arn,
                tl,
                &format!("point it at the original target group {original} and deploy again"),
            )?;
            let foreign = outside(&fw, &group.target_groups);
            if !foreign.is_empty() {
                return Err(Error::refused(
                    "ListenerSplit",
                    format!(
                        "ecs.testListenerArn: listener {arn} forwards to {}, which is not one of ecs.targetGroups; Cutover moves the test listener between those two only: point it at the original target group {original} and deploy again",
                        describe_forwards(foreign)
                    ),
                ));
            }
        }

        // The primary task set, behind the original target group.
        let task_sets = self.describe_task_sets(cluster, service_name).await?;
        let Some(primary) = task_sets.iter().find(|ts| ts.status() == Some("PRIMARY")) else {
            return Err(Error::refused(
                "NoPrimaryTaskSet",
                format!("ecs.service: service {service_name} in cluster {cluster} has no PRIMARY task set; create one registered with {original} (aws ecs create-task-set --load-balancers targetGroupArn={original},...), make it primary (aws ecs update-service-primary-task-set) and deploy again"),
            ));
        };
        let primary_arn = primary.task_set_arn().unwrap_or_default().to_string();
        if !primary
            .load_balancers()
            .iter()
            .any(|l| l.target_group_arn() == Some(original.as_str()))
        {
            let registered: Vec<&str> = primary
                .load_balancers()
                .iter()
                .filter_map(|l| l.target_group_arn())
                .collect();
            let registered = if registered.is_empty() {
                "no target group".to_string()
            } else {
                registered.join(", ")
            };
            return Err(Error::refused(
                "PrimaryTaskSetNotInTargetGroup",
                format!("ecs.targetGroups: the service's primary task set {primary_arn} is registered with {registered}, not with {original}, where the production listener sends traffic; point the production listener at the primary task set's target group (or list it in ecs.targetGroups) and deploy again"),
            ));
        }

        // Any other live task set would share a target group with the next replacement
        // (a deployment stopped without rollback, or a failed cleanup leaves one).
        if let Some(stray) = task_sets
            .iter()
            .find(|ts| !matches!(ts.status(), Some("PRIMARY") | Some("DRAINING")))
        {
            let arn = stray.task_set_arn().unwrap_or_default();
            let tgs: Vec<&str> = stray
                .load_balancers()
                .iter()
                .filter_map(|l| l.target_group_arn())
                .collect();
            return Err(Error::refused(
                "StrayTaskSet",
                format!(
                    "ecs.service: service {service_name} has another task set besides the primary one: {arn} ({}, target group {}), left by a deployment that ended without rollback or is still running; if none is running (`cutover list --active`), delete it (aws ecs delete-task-set --cluster {cluster} --service {service_name} --task-set {arn}) and deploy again",
                    stray.status().unwrap_or("?"),
                    if tgs.is_empty() { "none".to_string() } else { tgs.join(", ") }
                ),
            ));
        }
        let primary = primary.clone();
        Ok(GroupResources {
            service,
            original,
            replacement,
            primary,
        })
    }

    /// Pre-flight of a deployment: [`EcsRouter::check_group`], then the AppSpec's task
    /// definition, container and port; resolves the deployment's target. Changes nothing.
    pub async fn resolve(&self, group: &EcsGroup, spec: &EcsResource) -> Result<EcsTarget> {
        let GroupResources {
            service,
            original,
            replacement,
            primary,
        } = self.group_resources(group).await?;
        let (cluster, service_name) = (&group.cluster, &group.service);
        let primary_arn = primary.task_set_arn().unwrap_or_default().to_string();
        let primary = &primary;
        // The task definition, with the container and its port.
        let td_path = format!(
            "Resources[0].{}.Properties.TaskDefinition",
            spec.logical_name
        );
        let lb_path = format!(
            "Resources[0].{}.Properties.LoadBalancerInfo",
            spec.logical_name
        );
        let td = match self
            .ecs
            .describe_task_definition()
            .task_definition(&spec.task_definition)
            .send()
            .await
        {
            Ok(out) => out.task_definition.ok_or_else(|| {
                missing(
                    ECS,
                    "DescribeTaskDefinition",
                    format!(
                        "no task definition in the answer for {}",
                        spec.task_definition
                    ),
                )
            })?,
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_client_exception() || s.is_invalid_parameter_exception()
                }) =>
            {
                let detail = ProvideErrorMetadata::message(&e).unwrap_or("not found");
                return Err(Error::refused(
                    "TaskDefinitionNotFound",
                    format!("{td_path}: task definition {} does not exist in this account and region ({detail}); register it (aws ecs register-task-definition) or fix the name", spec.task_definition),
                ));
            }
            Err(e) => return Err(aws_error(ECS, "DescribeTaskDefinition", &e)),
        };
        let td_arn = td
            .task_definition_arn()
            .unwrap_or(&spec.task_definition)
            .to_string();
        if td.status().map(|s| s.as_str()) == Some("INACTIVE") {
            return Err(Error::refused(
                "TaskDefinitionNotFound",
                format!("{td_path}: task definition {td_arn} is INACTIVE (deregistered) and cannot run new tasks; register a new revision and deploy it"),
            ));
        }
        let Some(container) = td
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(spec.container_name.as_str()))
        else {
            let names: Vec<&str> = td
                .container_definitions()
                .iter()
                .filter_map(|c| c.name())
                .collect();
            return Err(Error::refused(
                "ContainerNotFound",
                format!(
                    "{lb_path}.ContainerName: task definition {td_arn} has no container named {}; its containers: {}",
                    spec.container_name,
                    names.join(", ")
                ),
            ));
        };
        let port = i32::from(spec.container_port);
        if !container
            .port_mappings()
            .iter()
            .any(|p| p.container_port() == Some(port))
        {
            let ports: Vec<String> = container
                .port_mappings()
                .iter()
                .filter_map(|p| p.container_port())
                .map(|p| p.to_string())
                .collect();
            let ports = if ports.is_empty() {
                "none".to_string()
            } else {
                ports.join(", ")
            };
            return Err(Error::refused(
                "ContainerPortNotFound",
                format!(
                    "{lb_path}.ContainerPort: container {} of task definition {td_arn} has no port mapping for port {port}; its container ports: {ports}",
                    spec.container_name
                ),
            ));
        }

        // The replacement runs like the original where the AppSpec says nothing.
        let mut resource = spec.clone();
        resource.task_definition = td_arn.clone();
        if resource.network.is_none() {
            resource.network = vpc_of(primary);
        }
        if resource.network.is_none() && td.network_mode() == Some(&NetworkMode::Awsvpc) {
            return Err(Error::refused(
                "NetworkConfigurationMissing",
                format!(
                    "Resources[0].{}.Properties.NetworkConfiguration: task definition {td_arn} uses the awsvpc network mode and the original task set has no network configuration to copy; give AwsvpcConfiguration with Subnets and SecurityGroups",
                    spec.logical_name
                ),
            ));
        }
        let mut launch_type = None;
        if resource.capacity_provider_strategy.is_empty() {
            let inherited = capacity_of(primary);
            if inherited.is_empty() {
                launch_type = primary
                    .launch_type()
                    .or(service.launch_type())
                    .map(|l| l.as_str().to_string());
            } else {
                resource.capacity_provider_strategy = inherited;
            }
        }
        Ok(EcsTarget {
            cluster: cluster.clone(),
            service: service_name.clone(),
            production_listener: group.production_listener_arn.clone(),
            test_listener: group.test_listener_arn.clone(),
            original_target_group: original,
            replacement_target_group: replacement,
            original_task_set: primary_arn,
            original_task_definition: primary.task_definition().unwrap_or_default().to_string(),
            resource,
            launch_type,
            ready_wait_minutes: (group.ready_wait.action == ReadyAction::Stop)
                .then_some(group.ready_wait.wait_minutes),
            termination_wait_minutes: group.termination_wait_minutes,
        })
    }

    /// The service, refused when the cluster or the service does not exist or is not active.
    async fn describe_service(&self, cluster: &str, service: &str) -> Result<Service> {
        let out = match self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_cluster_not_found_exception()) =>
            {
                return Err(Error::refused(
                    "ServiceNotFound",
                    format!("ecs.cluster: cluster {cluster} does not exist in this account and region; `aws ecs list-clusters` lists them"),
                ));
            }
            Err(e) => return Err(aws_error(ECS, "DescribeServices", &e)),
        };
        let not_found = || {
            Error::refused(
                "ServiceNotFound",
                format!("ecs.service: service {service} does not exist in cluster {cluster}; `aws ecs list-services --cluster {cluster}` lists them"),
            )
        };
        if let Some(f) = out.failures().first() {
            if f.reason() == Some("MISSING") || out.services().is_empty() {
                return Err(not_found());
            }
            return Err(missing(
                ECS,
                "DescribeServices",
                format!(
                    "service {service}: {} {}",
                    f.reason().unwrap_or("failure"),
                    f.detail().unwrap_or_default()
                ),
            ));
        }
        let Some(found) = out.services.and_then(|s| s.into_iter().next()) else {
            return Err(not_found());
        };
        match found.status() {
            Some("ACTIVE") | None => Ok(found),
            Some(status) => Err(Error::refused(
                "ServiceNotFound",
                format!("ecs.service: service {service} in cluster {cluster} is {status} (deleted or being deleted); deploy to an active service"),
            )),
        }
    }

    /// One target group; `None` when it does not exist.
    async fn describe_target_group(&self, arn: &str) -> Result<Option<TargetGroup>> {
        match self
            .elb
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.target_groups.and_then(|t| t.into_iter().next())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_target_group_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error(ELB, "DescribeTargetGroups", &e)),
        }
    }
}

#[cfg(test)]
#[path = "../ecs_tests.rs"]
mod tests;
