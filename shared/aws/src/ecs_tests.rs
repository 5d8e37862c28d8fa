//! Unit tests of the ECS/ALB adapter, on mocked SDK clients.

use super::*;
use aws_sdk_ecs::operation::create_task_set::CreateTaskSetOutput;
use aws_sdk_ecs::operation::delete_task_set::DeleteTaskSetError;
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionOutput;
use aws_sdk_ecs::operation::describe_task_sets::DescribeTaskSetsOutput;
use aws_sdk_ecs::types::error::{AccessDeniedException, ClientException, TaskSetNotFoundException};
use aws_sdk_ecs::types::{
    AssignPublicIp, ContainerDefinition, DeploymentController, LaunchType, LoadBalancer,
    PortMapping, ScaleUnit, StabilityStatus, TaskDefinition,
};
use aws_sdk_elasticloadbalancingv2::operation::describe_listeners::{
    DescribeListenersError, DescribeListenersOutput,
};
use aws_sdk_elasticloadbalancingv2::operation::describe_target_groups::DescribeTargetGroupsOutput;
use aws_sdk_elasticloadbalancingv2::operation::modify_listener::ModifyListenerOutput;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use cutover_core::appspec::AwsVpcConfiguration;
use cutover_core::group::ReadyWait;

const LB: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop/50dc6c495c0c9188";
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
                                .port_mappings(PortMapping::builder().container_port(8080).build())
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
        err.to_string()
            .starts_with("Resources[0].TargetService.Properties.LoadBalancerInfo.ContainerPort"),
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
    let get = mock!(aws_sdk_elasticloadbalancingv2::Client::describe_listeners).then_error(|| {
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
