//! ECS blue/green: the service's task sets and the Application Load Balancer listeners whose
//! weighted forward action moves traffic from the original ("blue") to the replacement
//! ("green") target group, and the pre-flight that resolves a deployment's target.

use crate::error::{Error, Result};
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types::{
    AssignPublicIp, CapacityProviderStrategyItem, DeploymentControllerType, LaunchType,
    LoadBalancer, NetworkConfiguration, NetworkMode, Scale, ScaleUnit, Service, TaskSet,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, Listener, TargetGroup, TargetGroupTuple,
};
use cutover_core::appspec::{AwsVpcConfiguration, CapacityProviderItem, EcsResource};
use cutover_core::group::{EcsGroup, ReadyAction};
use cutover_core::model::{EcsTarget, ListenerView, ListenersView, TaskSetView};
use std::fmt;

const ECS: &str = "ECS";
const ELB: &str = "ElasticLoadBalancing";

/// ECS service and ALB listeners of blue/green deployments.
#[derive(Debug, Clone)]
pub struct EcsRouter {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
}

/// Maps an SDK error: missing permissions are refused with the IAM action to allow;
/// everything else is an [`Error::Aws`], retryable when throttled or on a server fault.
fn aws_error<E, R>(service: &'static str, operation: &'static str, err: &SdkError<E, R>) -> Error
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
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
    match Error::aws(service, operation, err) {
        Error::Aws {
            service,
            operation,
            message,
            retryable,
        } => Error::Aws {
            service,
            operation,
            message,
            retryable: retryable
                || matches!(
                    code,
                    Some(
                        "Throttling"
                            | "ThrottlingException"
                            | "ServerException"
                            | "ServiceUnavailable"
                            | "InternalFailure"
                    )
                ),
        },
        other => other,
    }
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

fn is_forward(a: &Action) -> bool {
    a.r#type() == Some(&ActionTypeEnum::Forward)
}

/// The listener's forward action, if its default actions have one.
fn forward_action(listener: &Listener) -> Option<&Action> {
    listener.default_actions().iter().find(|a| is_forward(a))
}

/// `(target group, weight)` of a forward action. A plain forward (`TargetGroupArn`, no
/// `ForwardConfig`) and a tuple without a weight count as weight 1.
fn forwards(action: &Action) -> Vec<(String, u32)> {
    let tuples = action
        .forward_config()
        .map(|f| f.target_groups())
        .unwrap_or_default();
    if !tuples.is_empty() {
        tuples
            .iter()
            .filter_map(|t| {
                let weight = t.weight().map_or(1, |w| u32::try_from(w).unwrap_or(0));
                t.target_group_arn().map(|arn| (arn.to_string(), weight))
            })
            .collect()
    } else {
        action
            .target_group_arn()
            .map(|arn| vec![(arn.to_string(), 1)])
            .unwrap_or_default()
    }
}

fn listener_view(listener: &Listener) -> ListenerView {
    ListenerView {
        forwards: forward_action(listener).map(forwards).unwrap_or_default(),
    }
}

/// The default actions' types, for messages (`fixed-response`, `redirect`).
fn action_kinds(listener: &Listener) -> String {
    let kinds: Vec<&str> = listener
        .default_actions()
        .iter()
        .filter_map(|a| a.r#type().map(ActionTypeEnum::as_str))
        .collect();
    if kinds.is_empty() {
        "none".to_string()
    } else {
        kinds.join(", ")
    }
}

fn describe_forwards<'a>(forwards: impl IntoIterator<Item = &'a (String, u32)>) -> String {
    forwards
        .into_iter()
        .map(|(tg, w)| format!("{tg} (weight {w})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An action sent back unchanged with the forward action. OIDC actions are read without
/// their client secret, so they ask ELB to keep the one it has.
fn resend(action: &Action) -> Action {
    let mut a = action.clone();
    if let Some(oidc) = a.authenticate_oidc_config.as_mut() {
        if oidc.client_secret.is_none() {
            oidc.use_existing_client_secret = Some(true);
        }
    }
    a
}

/// Whether DeleteTaskSet failed because the task set does not exist.
fn task_set_gone(e: &aws_sdk_ecs::operation::delete_task_set::DeleteTaskSetError) -> bool {
    if e.is_task_set_not_found_exception() {
        return true;
    }
    let message = e.message().unwrap_or_default().to_ascii_lowercase();
    e.is_client_exception() && message.contains("task set") && message.contains("not exist")
}

fn task_set_view(ts: &TaskSet) -> TaskSetView {
    TaskSetView {
        arn: ts.task_set_arn().unwrap_or_default().to_string(),
        external_id: ts.external_id().map(str::to_string),
        status: ts.status().unwrap_or_default().to_string(),
        stability: ts
            .stability_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        task_definition: ts.task_definition().unwrap_or_default().to_string(),
        desired: u32::try_from(ts.computed_desired_count()).unwrap_or(0),
        running: u32::try_from(ts.running_count()).unwrap_or(0),
    }
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn network_configuration(net: &AwsVpcConfiguration) -> Result<NetworkConfiguration> {
    let vpc = aws_sdk_ecs::types::AwsVpcConfiguration::builder()
        .set_subnets(Some(net.subnets.clone()))
        .set_security_groups((!net.security_groups.is_empty()).then(|| net.security_groups.clone()))
        .set_assign_public_ip(
            net.assign_public_ip
                .as_deref()
                .map(|s| AssignPublicIp::from(s.to_ascii_uppercase().as_str())),
        )
        .build()
        .map_err(|e| Error::refused("InvalidAppSpec", format!("AwsvpcConfiguration: {e}")))?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(vpc)
        .build())
}

fn capacity_item(c: &CapacityProviderItem) -> Result<CapacityProviderStrategyItem> {
    CapacityProviderStrategyItem::builder()
        .capacity_provider(&c.capacity_provider)
        .set_base(c.base.map(to_i32))
        .set_weight(c.weight.map(to_i32))
        .build()
        .map_err(|e| Error::refused("InvalidAppSpec", format!("CapacityProviderStrategy: {e}")))
}

/// The awsvpc settings of a task set, as an AppSpec would give them.
fn vpc_of(ts: &TaskSet) -> Option<AwsVpcConfiguration> {
    let vpc = ts.network_configuration()?.awsvpc_configuration()?;
    Some(AwsVpcConfiguration {
        subnets: vpc.subnets().to_vec(),
        security_groups: vpc.security_groups().to_vec(),
        assign_public_ip: vpc.assign_public_ip().map(|a| a.as_str().to_string()),
    })
}

/// The capacity provider strategy of a task set, as an AppSpec would give it.
fn capacity_of(ts: &TaskSet) -> Vec<CapacityProviderItem> {
    ts.capacity_provider_strategy()
        .iter()
        .map(|c| CapacityProviderItem {
            capacity_provider: c.capacity_provider().to_string(),
            base: u32::try_from(c.base()).ok(),
            weight: u32::try_from(c.weight()).ok(),
        })
        .collect()
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

fn split(group: &EcsGroup, production: &Listener) -> Result<(String, String)> {
    let arn = &group.production_listener_arn;
    let [tg0, tg1] = &group.target_groups;
    let Some(action) = forward_action(production) else {
        return Err(Error::refused(
            "ListenerSplit",
            format!(
                "ecs.productionListenerArn: listener {arn} does not forward to a target group (its default action is {}); point it at the target group that serves production (one of ecs.targetGroups) and deploy again",
                action_kinds(production)
            ),
        ));
    };
    let fw = forwards(action);
    let weighted: Vec<&(String, u32)> = fw.iter().filter(|(_, w)| *w > 0).collect();
    let foreign: Vec<&(String, u32)> = weighted
        .iter()
        .copied()
        .filter(|(tg, _)| tg != tg0 && tg != tg1)
        .collect();
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

    /// Both listeners' default forward action (target group ARN, weight). A listener whose
    /// default action is a plain `forward` with TargetGroupArn and no ForwardConfig counts as
    /// weight 1 on that group; a listener with no forward action shows no target group.
    pub async fn read_listeners(&self, t: &EcsTarget) -> Result<ListenersView> {
        let out = self
            .elb
            .describe_listeners()
            .set_listener_arns(Some(
                std::iter::once(t.production_listener.clone())
                    .chain(t.test_listener.clone())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| aws_error(ELB, "DescribeListeners", &e))?;
        let find = |arn: &str| {
            out.listeners()
                .iter()
                .find(|l| l.listener_arn() == Some(arn))
                .map(listener_view)
                .ok_or_else(|| {
                    missing(
                        ELB,
                        "DescribeListeners",
                        format!("listener {arn} is not in the answer"),
                    )
                })
        };
        Ok(ListenersView {
            production: find(&t.production_listener)?,
            test: t.test_listener.as_deref().map(find).transpose()?,
        })
    }

    /// Sets `listener`'s default action to forward with ForwardConfig [original: 100-weight,
    /// replacement: weight]. Reads the listener first: if it forwards (weight > 0) to any
    /// target group other than the two, or no longer forwards at all, refuses with
    /// `ListenerModified` and changes nothing. Keeps the ForwardConfig's
    /// TargetGroupStickinessConfig, the forward action's order and any other default
    /// actions (authentication) as they were.
    pub async fn route(&self, t: &EcsTarget, listener: &str, weight: u8) -> Result<()> {
        if weight > 100 {
            return Err(Error::refused(
                "InvalidWeight",
                format!("weight {weight} is over 100"),
            ));
        }
        let Some(now) = self.describe_listener(listener).await? else {
            return Err(Error::refused(
                "ListenerNotFound",
                format!(
                    "listener {listener} does not exist any more; Cutover cannot move its traffic"
                ),
            ));
        };
        let actions = now.default_actions();
        let Some(pos) = actions.iter().position(is_forward) else {
            return Err(Error::refused(
                "ListenerModified",
                format!(
                    "listener {listener} no longer forwards to a target group (its default action is {}); someone else changed it, so Cutover left it alone",
                    action_kinds(&now)
                ),
            ));
        };
        let ours = |tg: &str| tg == t.original_target_group || tg == t.replacement_target_group;
        let current = forwards(&actions[pos]);
        let foreign: Vec<&(String, u32)> = current
            .iter()
            .filter(|(tg, w)| *w > 0 && !ours(tg))
            .collect();
        if !foreign.is_empty() {
            return Err(Error::refused(
                "ListenerModified",
                format!(
                    "listener {listener} forwards to {}, which is neither the original target group {} nor the replacement {}; someone else changed it, so Cutover left it alone",
                    describe_forwards(foreign),
                    t.original_target_group,
                    t.replacement_target_group
                ),
            ));
        }
        let mut forward = actions[pos].clone();
        let stickiness = forward
            .forward_config
            .as_ref()
            .and_then(|f| f.target_group_stickiness_config.clone());
        forward.target_group_arn = None;
        forward.forward_config = Some(
            ForwardActionConfig::builder()
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&t.original_target_group)
                        .weight(i32::from(100 - weight))
                        .build(),
                )
                .target_groups(
                    TargetGroupTuple::builder()
                        .target_group_arn(&t.replacement_target_group)
                        .weight(i32::from(weight))
                        .build(),
                )
                .set_target_group_stickiness_config(stickiness)
                .build(),
        );
        let mut new_actions: Vec<Action> = actions.iter().map(resend).collect();
        new_actions[pos] = forward;
        self.elb
            .modify_listener()
            .listener_arn(listener)
            .set_default_actions(Some(new_actions))
            .send()
            .await
            .map_err(|e| aws_error(ELB, "ModifyListener", &e))?;
        Ok(())
    }

    /// DescribeTaskSets for the service (all task sets) mapped to TaskSetView (arn,
    /// externalId, status, stabilityStatus, taskDefinition, computedDesiredCount → desired,
    /// runningCount → running).
    pub async fn task_sets(&self, t: &EcsTarget) -> Result<Vec<TaskSetView>> {
        Ok(self
            .describe_task_sets(&t.cluster, &t.service)
            .await?
            .iter()
            .map(task_set_view)
            .collect())
    }

    /// Creates the replacement task set once: if a task set with externalId ==
    /// `deployment_id` exists, does nothing. Otherwise CreateTaskSet with the AppSpec's task
    /// definition, `externalId` and `clientToken` = `deployment_id`, registered with the
    /// replacement target group (the AppSpec's container and port), the AppSpec's awsvpc
    /// network configuration, its capacity provider strategy if non-empty (else
    /// `t.launch_type`), its platform version if given, and scale 100 PERCENT.
    pub async fn create_task_set(&self, t: &EcsTarget, deployment_id: &str) -> Result<()> {
        let existing = self.describe_task_sets(&t.cluster, &t.service).await?;
        if existing
            .iter()
            .any(|ts| ts.external_id() == Some(deployment_id))
        {
            return Ok(());
        }
        let r = &t.resource;
        let mut req = self
            .ecs
            .create_task_set()
            .cluster(&t.cluster)
            .service(&t.service)
            .task_definition(&r.task_definition)
            .external_id(deployment_id)
            .client_token(deployment_id)
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(&t.replacement_target_group)
                    .container_name(&r.container_name)
                    .container_port(i32::from(r.container_port))
                    .build(),
            )
            .scale(
                Scale::builder()
                    .value(100.0)
                    .unit(ScaleUnit::Percent)
                    .build(),
            );
        if let Some(net) = &r.network {
            req = req.network_configuration(network_configuration(net)?);
        }
        if !r.capacity_provider_strategy.is_empty() {
            for c in &r.capacity_provider_strategy {
                req = req.capacity_provider_strategy(capacity_item(c)?);
            }
        } else if let Some(lt) = &t.launch_type {
            req = req.launch_type(LaunchType::from(lt.as_str()));
        }
        if let Some(pv) = &r.platform_version {
            req = req.platform_version(pv);
        }
        req.send()
            .await
            .map_err(|e| aws_error(ECS, "CreateTaskSet", &e))?;
        Ok(())
    }

    /// UpdateServicePrimaryTaskSet: makes `task_set_arn` the service's primary task set.
    pub async fn set_primary(&self, t: &EcsTarget, task_set_arn: &str) -> Result<()> {
        self.ecs
            .update_service_primary_task_set()
            .cluster(&t.cluster)
            .service(&t.service)
            .primary_task_set(task_set_arn)
            .send()
            .await
            .map_err(|e| aws_error(ECS, "UpdateServicePrimaryTaskSet", &e))?;
        Ok(())
    }

    /// DeleteTaskSet (force = true); a task set that is already gone
    /// (TaskSetNotFoundException, or a ClientException saying the task set does not exist,
    /// as moto answers) is success.
    pub async fn delete_task_set(&self, t: &EcsTarget, task_set_arn: &str) -> Result<()> {
        match self
            .ecs
            .delete_task_set()
            .cluster(&t.cluster)
            .service(&t.service)
            .task_set(task_set_arn)
            .force(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(task_set_gone) => Ok(()),
            Err(e) => Err(aws_error(ECS, "DeleteTaskSet", &e)),
        }
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
            let Some(action) = forward_action(tl) else {
                return Err(Error::refused(
                    "ListenerSplit",
                    format!(
                        "ecs.testListenerArn: listener {arn} does not forward to a target group (its default action is {}); point it at the original target group {original} and deploy again",
                        action_kinds(tl)
                    ),
                ));
            };
            let fw = forwards(action);
            let foreign: Vec<&(String, u32)> = fw
                .iter()
                .filter(|(tg, w)| *w > 0 && tg != tg0 && tg != tg1)
                .collect();
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

    /// The listener, refused with `field` when it does not exist.
    async fn listener_for(&self, field: &str, arn: &str) -> Result<Listener> {
        self.describe_listener(arn).await?.ok_or_else(|| {
            Error::refused(
                "ListenerNotFound",
                format!("{field}: listener {arn} does not exist in this account and region; `aws elbv2 describe-listeners --load-balancer-arn ...` lists them"),
            )
        })
    }

    /// One listener; `None` when it does not exist.
    async fn describe_listener(&self, arn: &str) -> Result<Option<Listener>> {
        match self
            .elb
            .describe_listeners()
            .listener_arns(arn)
            .send()
            .await
        {
            Ok(out) => {
                // One ARN was asked for: the answer is that listener.
                let mut listeners = out.listeners.unwrap_or_default();
                let i = listeners
                    .iter()
                    .position(|l| l.listener_arn() == Some(arn))
                    .unwrap_or(0);
                Ok((i < listeners.len()).then(|| listeners.swap_remove(i)))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_listener_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(aws_error(ELB, "DescribeListeners", &e)),
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

    /// All task sets of the service.
    async fn describe_task_sets(&self, cluster: &str, service: &str) -> Result<Vec<TaskSet>> {
        let out = self
            .ecs
            .describe_task_sets()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .map_err(|e| aws_error(ECS, "DescribeTaskSets", &e))?;
        Ok(out.task_sets.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::operation::create_task_set::CreateTaskSetOutput;
    use aws_sdk_ecs::operation::delete_task_set::DeleteTaskSetError;
    use aws_sdk_ecs::operation::describe_services::{
        DescribeServicesError, DescribeServicesOutput,
    };
    use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
    use aws_sdk_ecs::operation::describe_task_sets::DescribeTaskSetsOutput;
    use aws_sdk_ecs::types::error::{
        AccessDeniedException, ClientException, TaskSetNotFoundException,
    };
    use aws_sdk_ecs::types::{
        ContainerDefinition, DeploymentController, PortMapping, StabilityStatus, TaskDefinition,
    };
    use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::{
        DescribeListenersError, DescribeListenersOutput,
    };
    use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
    use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerOutput;
    use aws_sdk_elasticloadbalancingv2::types::TargetGroupStickinessConfig;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;
    use cutover_core::appspec::AwsVpcConfiguration;
    use cutover_core::group::ReadyWait;

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188";
    const PROD: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
    const TEST: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/0467ef3c8400ae65";
    const BLUE: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
    const GREEN: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2453ed029918f21f";
    const OTHER: &str =
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/other/aaaaaaaaaaaaaaaa";
    const TS1: &str = "arn:aws:ecs:us-east-1:123456789012:task-set/shop/web/ecs-svc/1111";
    const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
    const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

    fn resource() -> EcsResource {
        EcsResource {
            logical_name: "TargetService".into(),
            task_definition: "web:2".into(),
            container_name: "web".into(),
            container_port: 8080,
            platform_version: None,
            network: Some(AwsVpcConfiguration {
                subnets: vec!["subnet-1".into(), "subnet-2".into()],
                security_groups: vec!["sg-1".into()],
                assign_public_ip: Some("DISABLED".into()),
            }),
            capacity_provider_strategy: Vec::new(),
        }
    }

    fn target() -> EcsTarget {
        EcsTarget {
            cluster: "shop".into(),
            service: "web".into(),
            production_listener: PROD.into(),
            test_listener: Some(TEST.into()),
            original_target_group: BLUE.into(),
            replacement_target_group: GREEN.into(),
            original_task_set: TS1.into(),
            original_task_definition: TD1.into(),
            resource: EcsResource {
                task_definition: TD2.into(),
                ..resource()
            },
            launch_type: Some("FARGATE".into()),
            ready_wait_minutes: None,
            termination_wait_minutes: 5,
        }
    }

    fn group() -> EcsGroup {
        EcsGroup {
            cluster: "shop".into(),
            service: "web".into(),
            production_listener_arn: PROD.into(),
            test_listener_arn: Some(TEST.into()),
            target_groups: [GREEN.into(), BLUE.into()],
            ready_wait: ReadyWait {
                action: ReadyAction::Stop,
                wait_minutes: 30,
            },
            termination_wait_minutes: 7,
        }
    }

    fn plain_forward(tg: &str) -> Action {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn(tg)
            .build()
    }

    fn weighted(weights: &[(&str, i32)]) -> Action {
        let mut config = ForwardActionConfig::builder();
        for (tg, w) in weights {
            config = config.target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(*tg)
                    .weight(*w)
                    .build(),
            );
        }
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(config.build())
            .build()
    }

    fn listener(arn: &str, action: Action) -> Listener {
        Listener::builder()
            .listener_arn(arn)
            .load_balancer_arn(LB)
            .default_actions(action)
            .build()
    }

    fn describe_listener(arn: &'static str, action: Action) -> Rule {
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
            .match_requests(move |r| r.listener_arns() == [arn])
            .then_output(move || {
                DescribeListenersOutput::builder()
                    .listeners(listener(arn, action.clone()))
                    .build()
            })
    }

    fn describe_target_group(arn: &'static str) -> Rule {
        mock!(aws_sdk_elasticloadbalancingv2::Client::describe_target_groups)
            .match_requests(move |r| r.target_group_arns() == [arn])
            .then_output(move || {
                DescribeTargetGroupsOutput::builder()
                    .target_groups(
                        TargetGroup::builder()
                            .target_group_arn(arn)
                            .load_balancer_arns(LB)
                            .build(),
                    )
                    .build()
            })
    }

    fn service(controller: DeploymentControllerType) -> Rule {
        mock!(aws_sdk_ecs::Client::describe_services).then_output(move || {
            DescribeServicesOutput::builder()
                .services(
                    Service::builder()
                        .service_name("web")
                        .status("ACTIVE")
                        .deployment_controller(
                            DeploymentController::builder()
                                .r#type(controller.clone())
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
        })
    }

    fn primary_task_set() -> TaskSet {
        TaskSet::builder()
            .task_set_arn(TS1)
            .status("PRIMARY")
            .stability_status(StabilityStatus::SteadyState)
            .task_definition(TD1)
            .computed_desired_count(2)
            .running_count(2)
            .launch_type(LaunchType::Fargate)
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(BLUE)
                    .container_name("web")
                    .container_port(8080)
                    .build(),
            )
            .build()
    }

    fn task_sets(sets: Vec<TaskSet>) -> Rule {
        mock!(aws_sdk_ecs::Client::describe_task_sets).then_output(move || {
            DescribeTaskSetsOutput::builder()
                .set_task_sets(Some(sets.clone()))
                .build()
        })
    }

    fn task_definition() -> Rule {
        mock!(aws_sdk_ecs::Client::describe_task_definition)
            .match_requests(|r| r.task_definition() == Some("web:2"))
            .then_output(|| {
                DescribeTaskDefinitionOutput::builder()
                    .task_definition(
                        TaskDefinition::builder()
                            .task_definition_arn(TD2)
                            .container_definitions(
                                ContainerDefinition::builder()
                                    .name("web")
                                    .port_mappings(
                                        PortMapping::builder().container_port(8080).build(),
                                    )
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            })
    }

    fn router(ecs: &[&Rule], elb: &[&Rule]) -> EcsRouter {
        EcsRouter::new(
            mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs),
            mock_client!(aws_sdk_elasticloadbalancingv2, RuleMode::MatchAny, elb),
        )
    }

    fn code(err: &Error) -> &'static str {
        err.code()
    }

    #[tokio::test]
    async fn route_sends_the_exact_weights_and_keeps_stickiness() {
        let stickiness = TargetGroupStickinessConfig::builder()
            .enabled(true)
            .duration_seconds(300)
            .build();
        let mut current = weighted(&[(BLUE, 1)]);
        current
            .forward_config
            .as_mut()
            .unwrap()
            .target_group_stickiness_config = Some(stickiness.clone());
        let get = describe_listener(PROD, current);
        let modify = mock!(aws_sdk_elasticloadbalancingv2::Client::modify_listener)
            .match_requests(move |r| {
                let [a] = r.default_actions() else {
                    return false;
                };
                let Some(fc) = a.forward_config() else {
                    return false;
                };
                let tuples: Vec<(Option<&str>, Option<i32>)> = fc
                    .target_groups()
                    .iter()
                    .map(|t| (t.target_group_arn(), t.weight()))
                    .collect();
                r.listener_arn() == Some(PROD)
                    && a.r#type() == Some(&ActionTypeEnum::Forward)
                    && a.target_group_arn().is_none()
                    && tuples == [(Some(BLUE), Some(90)), (Some(GREEN), Some(10))]
                    && fc.target_group_stickiness_config() == Some(&stickiness)
            })
            .then_output(|| ModifyListenerOutput::builder().build());
        router(&[], &[&get, &modify])
            .route(&target(), PROD, 10)
            .await
            .unwrap();
        assert_eq!(modify.num_calls(), 1);
    }

    #[tokio::test]
    async fn route_refuses_a_listener_on_a_third_target_group() {
        let get = describe_listener(PROD, weighted(&[(BLUE, 80), (OTHER, 20)]));
        let modify = mock!(aws_sdk_elasticloadbalancingv2::Client::modify_listener)
            .then_output(|| ModifyListenerOutput::builder().build());
        let err = router(&[], &[&get, &modify])
            .route(&target(), PROD, 50)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ListenerModified", "{err}");
        assert!(err.to_string().contains(OTHER), "{err}");
        assert!(err.to_string().contains(PROD), "{err}");
        assert_eq!(modify.num_calls(), 0);
    }

    #[tokio::test]
    async fn read_listeners_counts_a_plain_forward_as_weight_one() {
        let both = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners)
            .match_requests(|r| r.listener_arns() == [PROD, TEST])
            .then_output(|| {
                DescribeListenersOutput::builder()
                    .listeners(listener(TEST, weighted(&[(BLUE, 0), (GREEN, 100)])))
                    .listeners(listener(PROD, plain_forward(BLUE)))
                    .build()
            });
        let view = router(&[], &[&both])
            .read_listeners(&target())
            .await
            .unwrap();
        assert_eq!(view.production.forwards, vec![(BLUE.to_string(), 1)]);
        assert_eq!(
            view.test.unwrap().forwards,
            vec![(BLUE.to_string(), 0), (GREEN.to_string(), 100)]
        );
    }

    #[tokio::test]
    async fn create_task_set_is_skipped_when_the_replacement_exists() {
        let replacement = TaskSet::builder()
            .task_set_arn("arn:aws:ecs:us-east-1:123456789012:task-set/shop/web/ecs-svc/2222")
            .external_id("d-42")
            .status("ACTIVE")
            .build();
        let list = task_sets(vec![primary_task_set(), replacement]);
        let create = mock!(aws_sdk_ecs::Client::create_task_set)
            .then_output(|| CreateTaskSetOutput::builder().build());
        router(&[&list, &create], &[])
            .create_task_set(&target(), "d-42")
            .await
            .unwrap();
        assert_eq!(create.num_calls(), 0);
    }

    #[tokio::test]
    async fn create_task_set_sends_the_replacement() {
        let list = task_sets(vec![primary_task_set()]);
        let create = mock!(aws_sdk_ecs::Client::create_task_set)
            .match_requests(|r| {
                let lb_ok = matches!(r.load_balancers(), [lb]
                    if lb.target_group_arn() == Some(GREEN)
                        && lb.container_name() == Some("web")
                        && lb.container_port() == Some(8080));
                let scale_ok = r
                    .scale()
                    .is_some_and(|s| s.value() == 100.0 && s.unit() == Some(&ScaleUnit::Percent));
                let vpc = r
                    .network_configuration()
                    .and_then(|n| n.awsvpc_configuration());
                let net_ok = vpc.is_some_and(|v| {
                    v.subnets() == ["subnet-1", "subnet-2"]
                        && v.security_groups() == ["sg-1"]
                        && v.assign_public_ip() == Some(&AssignPublicIp::Disabled)
                });
                r.cluster() == Some("shop")
                    && r.service() == Some("web")
                    && r.task_definition() == Some(TD2)
                    && r.external_id() == Some("d-42")
                    && r.client_token() == Some("d-42")
                    && r.launch_type() == Some(&LaunchType::Fargate)
                    && r.capacity_provider_strategy().is_empty()
                    && lb_ok
                    && scale_ok
                    && net_ok
            })
            .then_output(|| CreateTaskSetOutput::builder().build());
        router(&[&list, &create], &[])
            .create_task_set(&target(), "d-42")
            .await
            .unwrap();
        assert_eq!(create.num_calls(), 1);
    }

    #[tokio::test]
    async fn deleting_a_task_set_that_is_gone_succeeds() {
        let delete = mock!(aws_sdk_ecs::Client::delete_task_set)
            .match_requests(|r| r.task_set() == Some(TS1) && r.force() == Some(true))
            .then_error(|| {
                DeleteTaskSetError::TaskSetNotFoundException(
                    TaskSetNotFoundException::builder()
                        .message("The specified task set does not exist.")
                        .build(),
                )
            });
        router(&[&delete], &[])
            .delete_task_set(&target(), TS1)
            .await
            .unwrap();
        assert_eq!(delete.num_calls(), 1);
    }

    #[tokio::test]
    async fn deleting_a_task_set_moto_says_does_not_exist_succeeds_but_other_errors_fail() {
        let gone = mock!(aws_sdk_ecs::Client::delete_task_set)
            .match_requests(|r| r.task_set() == Some(TS1))
            .then_error(|| {
                DeleteTaskSetError::ClientException(
                    ClientException::builder()
                        .message("The specified task set does not exist.")
                        .meta(
                            ErrorMetadata::builder()
                                .code("ClientException")
                                .message("The specified task set does not exist.")
                                .build(),
                        )
                        .build(),
                )
            });
        let other = mock!(aws_sdk_ecs::Client::delete_task_set).then_error(|| {
            DeleteTaskSetError::ClientException(
                ClientException::builder()
                    .message("boom")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ClientException")
                            .message("boom")
                            .build(),
                    )
                    .build(),
            )
        });
        let r = router(&[&gone, &other], &[]);
        r.delete_task_set(&target(), TS1).await.unwrap();
        let err = r.delete_task_set(&target(), "ts-2").await.unwrap_err();
        assert_eq!(code(&err), "AwsError", "{err}");
    }

    #[tokio::test]
    async fn resolve_refuses_a_service_on_the_ecs_controller() {
        let svc = service(DeploymentControllerType::Ecs);
        let err = router(&[&svc], &[])
            .resolve(&group(), &resource())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "DeploymentControllerNotExternal", "{err}");
        assert!(err.to_string().contains("type: EXTERNAL"), "{err}");
    }

    #[tokio::test]
    async fn resolve_refuses_a_listener_split_between_both_groups() {
        let svc = service(DeploymentControllerType::External);
        let prod = describe_listener(PROD, weighted(&[(BLUE, 50), (GREEN, 50)]));
        let test = describe_listener(TEST, plain_forward(BLUE));
        let (blue, green) = (describe_target_group(BLUE), describe_target_group(GREEN));
        let err = router(&[&svc], &[&prod, &test, &blue, &green])
            .resolve(&group(), &resource())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ListenerSplit", "{err}");
        assert!(
            err.to_string().starts_with("ecs.productionListenerArn"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn resolve_finds_blue_and_green() {
        let svc = service(DeploymentControllerType::External);
        let prod = describe_listener(PROD, plain_forward(BLUE));
        let test = describe_listener(TEST, plain_forward(BLUE));
        let (blue, green) = (describe_target_group(BLUE), describe_target_group(GREEN));
        let sets = task_sets(vec![primary_task_set()]);
        let td = task_definition();
        let t = router(&[&svc, &sets, &td], &[&prod, &test, &blue, &green])
            .resolve(&group(), &resource())
            .await
            .unwrap();
        // The group lists green first; blue is the one production traffic goes to.
        assert_eq!(t.original_target_group, BLUE);
        assert_eq!(t.replacement_target_group, GREEN);
        assert_eq!(t.original_task_set, TS1);
        assert_eq!(t.original_task_definition, TD1);
        assert_eq!(t.resource.task_definition, TD2);
        assert_eq!(t.resource.network, resource().network);
        assert_eq!(t.launch_type.as_deref(), Some("FARGATE"));
        assert_eq!(t.ready_wait_minutes, Some(30));
        assert_eq!(t.termination_wait_minutes, 7);
        assert_eq!(t.test_listener.as_deref(), Some(TEST));
    }

    #[tokio::test]
    async fn resolve_refuses_a_missing_container_port() {
        let svc = service(DeploymentControllerType::External);
        let prod = describe_listener(PROD, plain_forward(BLUE));
        let test = describe_listener(TEST, plain_forward(BLUE));
        let (blue, green) = (describe_target_group(BLUE), describe_target_group(GREEN));
        let sets = task_sets(vec![primary_task_set()]);
        let td = task_definition();
        let spec = EcsResource {
            container_port: 80,
            ..resource()
        };
        let err = router(&[&svc, &sets, &td], &[&prod, &test, &blue, &green])
            .resolve(&group(), &spec)
            .await
            .unwrap_err();
        assert_eq!(code(&err), "ContainerPortNotFound", "{err}");
        assert!(
            err.to_string().starts_with(
                "Resources[0].TargetService.Properties.LoadBalancerInfo.ContainerPort"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn access_denied_names_the_iam_action() {
        let svc = mock!(aws_sdk_ecs::Client::describe_services).then_error(|| {
            DescribeServicesError::AccessDeniedException(
                AccessDeniedException::builder()
                    .message("not authorized")
                    .meta(
                        ErrorMetadata::builder()
                            .code("AccessDeniedException")
                            .message("not authorized")
                            .build(),
                    )
                    .build(),
            )
        });
        let err = router(&[&svc], &[])
            .resolve(&group(), &resource())
            .await
            .unwrap_err();
        assert_eq!(code(&err), "AccessDenied", "{err}");
        assert!(err.to_string().contains("ecs:DescribeServices"), "{err}");
    }

    #[tokio::test]
    async fn elb_throttling_is_retryable() {
        let get =
            mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners).then_error(|| {
                DescribeListenersError::generic(
                    ErrorMetadata::builder()
                        .code("Throttling")
                        .message("Rate exceeded")
                        .build(),
                )
            });
        let err = router(&[], &[&get])
            .read_listeners(&target())
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
