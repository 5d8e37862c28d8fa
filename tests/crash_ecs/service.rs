//! The ECS services of the crash sweep: seeded once, put back as seeded before each run,
//! and read back through the AWS APIs at the end of a run.

use cutover_tests::*;
use serde_json::Value;

/// A seeded service (the JSON `scripts/emulator.py seed ecs` prints) and the alarm its
/// run watches, if any (one per run: runs go concurrently).
pub struct Service(pub Value, pub Option<String>);

impl Service {
    pub fn s(&self, key: &str) -> String {
        self.0[key]
            .as_str()
            .unwrap_or_else(|| panic!("seed output has no {key}: {}", self.0))
            .to_string()
    }

    /// Its deployment group (stored as `crash/<service>`), with a test listener.
    pub fn group(&self, config: &str, alarm: Option<&str>, termination_wait: u32) -> String {
        let s = self;
        format!(
            "application: crash\nname: {}\ncomputePlatform: ECS\ndeploymentConfig: {config}\n{}ecs:\n  cluster: {}\n  service: {}\n  productionListenerArn: {}\n  testListenerArn: {}\n  targetGroups: [{}, {}]\n  terminationWaitMinutes: {termination_wait}\n",
            s.s("service"),
            alarm.map(|a| format!("alarms: [{a}]\n")).unwrap_or_default(),
            s.s("cluster"),
            s.s("service"),
            s.s("productionListenerArn"),
            s.s("testListenerArn"),
            s.s("blueTargetGroupArn"),
            s.s("greenTargetGroupArn"),
        )
    }

    /// An ECS AppSpec deploying task definition revision 2, with hooks.
    pub fn appspec(&self, hooks: &[(&str, String)]) -> String {
        let hooks: Vec<(&str, &str)> = hooks.iter().map(|(e, f)| (*e, f.as_str())).collect();
        ecs_appspec(&self.0, 2, &hooks)
    }

    /// A target group ARN as `blue` or `green`.
    fn side(&self, tg: &str) -> String {
        if tg == self.s("blueTargetGroupArn") {
            "blue".into()
        } else if tg == self.s("greenTargetGroupArn") {
            "green".into()
        } else {
            tg.into()
        }
    }
}

/// Seeds the services the runs share, one per run at once (a seed is a Python process of
/// about two seconds, more than a run: each run resets its service instead).
pub fn seed_services(prefix: &'static str, alarm: bool, jobs: usize) -> Vec<Service> {
    let seeders: Vec<_> = (0..jobs)
        .map(|_| {
            std::thread::spawn(move || {
                // ALB names are short: keep the prefix short too.
                let name = unique(prefix);
                let svc = seed(&["ecs", "--name", &name]);
                let alarm = alarm.then(|| {
                    let a = format!("{name}-alarm");
                    seed(&["alarm", "--name", &a, "--state", "OK"]);
                    a
                });
                Service(svc, alarm)
            })
        })
        .collect();
    seeders
        .into_iter()
        .map(|s| s.join().expect("seed a service"))
        .collect()
}

/// Puts a service back as seeded: the original task set (made again, with the first task
/// definition, if a run deleted it) PRIMARY and alone, both listeners on blue, the alarm OK.
pub async fn reset(svc: &mut Service) {
    let sdk = sdk_config().await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let (cluster, service) = (svc.s("cluster"), svc.s("service"));
    let sets = ecs
        .describe_task_sets()
        .cluster(&cluster)
        .service(&service)
        .send()
        .await
        .expect("DescribeTaskSets");
    let original = svc.s("originalTaskSetArn");
    if !sets
        .task_sets()
        .iter()
        .any(|t| t.task_set_arn() == Some(original.as_str()))
    {
        use aws_sdk_ecs::types::{
            AssignPublicIp, AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration,
            Scale, ScaleUnit,
        };
        let made = ecs
            .create_task_set()
            .cluster(&cluster)
            .service(&service)
            .task_definition(
                svc.0["taskDefinitions"][0]
                    .as_str()
                    .expect("task definition"),
            )
            .external_id(format!("{service}-original"))
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(
                        AwsVpcConfiguration::builder()
                            .subnets(svc.0["subnets"][0].as_str().unwrap())
                            .security_groups(svc.0["securityGroups"][0].as_str().unwrap())
                            .assign_public_ip(AssignPublicIp::Disabled)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(svc.s("blueTargetGroupArn"))
                    .container_name("web")
                    .container_port(80)
                    .build(),
            )
            .launch_type(LaunchType::Fargate)
            .platform_version("LATEST")
            .scale(
                Scale::builder()
                    .value(100.0)
                    .unit(ScaleUnit::Percent)
                    .build(),
            )
            .send()
            .await
            .expect("CreateTaskSet");
        let arn = made.task_set().and_then(|t| t.task_set_arn()).unwrap();
        svc.0["originalTaskSetArn"] = Value::String(arn.to_string());
    }
    let original = svc.s("originalTaskSetArn");
    ecs.update_service_primary_task_set()
        .cluster(&cluster)
        .service(&service)
        .primary_task_set(&original)
        .send()
        .await
        .expect("UpdateServicePrimaryTaskSet");
    for t in sets.task_sets() {
        let arn = t.task_set_arn().unwrap_or_default();
        if arn != original {
            ecs.delete_task_set()
                .cluster(&cluster)
                .service(&service)
                .task_set(arn)
                .force(true)
                .send()
                .await
                .expect("DeleteTaskSet");
        }
    }
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
    };
    let weighted = |blue: i32, green: i32| {
        Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn(svc.s("blueTargetGroupArn"))
                            .weight(blue)
                            .build(),
                    )
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn(svc.s("greenTargetGroupArn"))
                            .weight(green)
                            .build(),
                    )
                    .build(),
            )
            .build()
    };
    elb.modify_listener()
        .listener_arn(svc.s("productionListenerArn"))
        .default_actions(weighted(100, 0))
        .send()
        .await
        .expect("ModifyListener production");
    elb.modify_listener()
        .listener_arn(svc.s("testListenerArn"))
        .default_actions(
            Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(svc.s("blueTargetGroupArn"))
                .build(),
        )
        .send()
        .await
        .expect("ModifyListener test");
    if let Some(alarm) = &svc.1 {
        set_alarm_state(alarm, "OK").await;
    }
}

/// A listener's forward action as `(blue|green, weight)` with weight > 0.
pub async fn forwards(svc: &Service, listener: &str) -> Vec<(String, i32)> {
    let mut v: Vec<(String, i32)> = listener_forwards(listener)
        .await
        .into_iter()
        .map(|(tg, w)| (svc.side(&tg), w))
        .collect();
    // A single forward reads back with weight 1 or 100: all of it, either way.
    if let [(_, w)] = v.as_mut_slice() {
        *w = 100;
    }
    v.sort();
    v
}

/// The service's task sets that are not deleted (DRAINING counts as deleted), as
/// `(original|replacement, status)`.
pub async fn task_sets(svc: &Service, id: &str) -> Vec<(String, String)> {
    let ecs = aws_sdk_ecs::Client::new(&sdk_config().await);
    let out = ecs
        .describe_task_sets()
        .cluster(svc.s("cluster"))
        .service(svc.s("service"))
        .send()
        .await
        .expect("DescribeTaskSets");
    let mut v: Vec<(String, String)> = out
        .task_sets()
        .iter()
        .filter(|t| t.status() != Some("DRAINING"))
        .map(|t| {
            let role = if t.task_set_arn() == Some(svc.s("originalTaskSetArn").as_str()) {
                "original".to_string()
            } else if t.external_id() == Some(id) {
                "replacement".to_string()
            } else {
                format!("other {}", t.task_set_arn().unwrap_or_default())
            };
            (role, t.status().unwrap_or_default().to_string())
        })
        .collect();
    v.sort();
    v
}
