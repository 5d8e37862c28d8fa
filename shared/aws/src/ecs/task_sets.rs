//! The service's task sets (ECS): reading, creating, promoting and deleting them.

use super::*;
use aws_sdk_ecs::types::{
    AssignPublicIp, CapacityProviderStrategyItem, LaunchType, LoadBalancer, NetworkConfiguration,
    Scale, ScaleUnit,
};
use cutover_core::appspec::{AwsVpcConfiguration, CapacityProviderItem};
use cutover_core::model::TaskSetView;

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
pub(super) fn vpc_of(ts: &TaskSet) -> Option<AwsVpcConfiguration> {
    let vpc = ts.network_configuration()?.awsvpc_configuration()?;
    Some(AwsVpcConfiguration {
        subnets: vpc.subnets().to_vec(),
        security_groups: vpc.security_groups().to_vec(),
        assign_public_ip: vpc.assign_public_ip().map(|a| a.as_str().to_string()),
    })
}

/// The capacity provider strategy of a task set, as an AppSpec would give it.
pub(super) fn capacity_of(ts: &TaskSet) -> Vec<CapacityProviderItem> {
    ts.capacity_provider_strategy()
        .iter()
        .map(|c| CapacityProviderItem {
            capacity_provider: c.capacity_provider().to_string(),
            base: u32::try_from(c.base()).ok(),
            weight: u32::try_from(c.weight()).ok(),
        })
        .collect()
}

impl EcsRouter {
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

    /// All task sets of the service.
    pub(super) async fn describe_task_sets(
        &self,
        cluster: &str,
        service: &str,
    ) -> Result<Vec<TaskSet>> {
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
