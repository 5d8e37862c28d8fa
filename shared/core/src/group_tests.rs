//! Tests of `group`: the documented example, JSON, Lambda groups, defaults, round trips and
//! property tests (mistakes and their paths are in group_errors_tests.rs).
use super::*;
use proptest::prelude::*;

pub(super) const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
pub(super) const TEST_LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/0467ef3c8400ae65";
pub(super) const BLUE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
pub(super) const GREEN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2453ed029918f21f";
pub(super) const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:deploys";

pub(super) fn ecs_yaml() -> String {
    format!(
        r#"application: shop
name: web-prod
computePlatform: ECS            # or Lambda
deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minutes   # optional
alarms: [web-5xx]               # optional
autoRollback: {{onFailure: true, onAlarm: true, onStop: false}}
topicArn: {TOPIC}
hookTimeoutSeconds: 600
ecs:
  cluster: shop
  service: web
  productionListenerArn: {LISTENER}
  testListenerArn: {TEST_LISTENER}
  targetGroups: [{BLUE}, {GREEN}]
  readyWait: {{action: continue, waitMinutes: 0}}
  terminationWaitMinutes: 5
"#
    )
}

pub(super) fn expected_ecs() -> DeploymentGroup {
    DeploymentGroup {
        enforce: Default::default(),
        application: "shop".into(),
        name: "web-prod".into(),
        compute_platform: ComputePlatform::Ecs,
        deployment_config: Some("CodeDeployDefault.ECSLinear10PercentEvery1Minutes".into()),
        alarms: vec!["web-5xx".into()],
        auto_rollback: AutoRollback {
            on_failure: true,
            on_alarm: true,
            on_stop: false,
        },
        topic_arn: Some(TOPIC.into()),
        hook_timeout_seconds: Some(600),
        ecs: Some(EcsGroup {
            cluster: "shop".into(),
            service: "web".into(),
            production_listener_arn: LISTENER.into(),
            test_listener_arn: Some(TEST_LISTENER.into()),
            target_groups: [BLUE.into(), GREEN.into()],
            ready_wait: ReadyWait {
                action: ReadyAction::Continue,
                wait_minutes: 0,
            },
            termination_wait_minutes: 5,
        }),
    }
}

pub(super) const LAMBDA_YAML: &str = r#"application: payments
name: api-prod
computePlatform: Lambda
deploymentConfig: Canary10Percent5Minutes
alarms:
  - api-errors
  - api-latency-p99
autoRollback:
  onStop: true
hookTimeoutSeconds: 3600
"#;

pub(super) fn expected_lambda() -> DeploymentGroup {
    DeploymentGroup {
        enforce: Default::default(),
        application: "payments".into(),
        name: "api-prod".into(),
        compute_platform: ComputePlatform::Lambda,
        deployment_config: Some("Canary10Percent5Minutes".into()),
        alarms: vec!["api-errors".into(), "api-latency-p99".into()],
        auto_rollback: AutoRollback {
            on_failure: true,
            on_alarm: true,
            on_stop: true,
        },
        topic_arn: None,
        hook_timeout_seconds: Some(3600),
        ecs: None,
    }
}

/// The smallest ECS group, with `extra` lines appended under `ecs:` (indented by the
/// caller) and `root` lines appended at the top level.
pub(super) fn ecs_with(root: &str, extra: &str) -> String {
    format!(
        "application: shop\nname: web-prod\ncomputePlatform: ECS\n{root}ecs:\n  cluster: shop\n  \
         service: web\n  productionListenerArn: {LISTENER}\n  targetGroups: [{BLUE}, {GREEN}]\n\
         {extra}"
    )
}

/// The smallest Lambda group, with `root` lines appended.
pub(super) fn lambda_with(root: &str) -> String {
    format!("application: payments\nname: api-prod\ncomputePlatform: Lambda\n{root}")
}

pub(super) fn errors(text: &str) -> GroupErrors {
    match DeploymentGroup::parse(text) {
        Ok(group) => panic!("expected errors for\n{text}\ngot {group:?}"),
        Err(e) => e,
    }
}

pub(super) fn parse(text: &str) -> DeploymentGroup {
    DeploymentGroup::parse(text).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

#[test]
fn parses_the_documented_example() {
    assert_eq!(parse(&ecs_yaml()), expected_ecs());
    assert_eq!(expected_ecs().key(), "shop/web-prod");
}

#[test]
fn parses_json() {
    let json = json!({
        "application": "shop",
        "name": "web-prod",
        "computePlatform": "ECS",
        "deploymentConfig": "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "alarms": ["web-5xx"],
        "autoRollback": {"onFailure": true, "onAlarm": true, "onStop": false},
        "topicArn": TOPIC,
        "hookTimeoutSeconds": 600,
        "ecs": {
            "cluster": "shop",
            "service": "web",
            "productionListenerArn": LISTENER,
            "testListenerArn": TEST_LISTENER,
            "targetGroups": [BLUE, GREEN],
            "readyWait": {"action": "continue", "waitMinutes": 0},
            "terminationWaitMinutes": 5
        }
    });
    assert_eq!(parse(&json.to_string()), expected_ecs());
    assert_eq!(
        parse(&serde_json::to_string_pretty(&json).unwrap()),
        expected_ecs()
    );
}

#[test]
fn parses_a_lambda_group() {
    let group = parse(LAMBDA_YAML);
    assert_eq!(group, expected_lambda());
    assert_eq!(group.key(), "payments/api-prod");
    let full = LAMBDA_YAML.replace(
        "Canary10Percent5Minutes",
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
    );
    assert_eq!(
        parse(&full).deployment_config.as_deref(),
        Some("CodeDeployDefault.LambdaCanary10Percent5Minutes")
    );
}

#[test]
fn fills_in_defaults() {
    let group = parse(&lambda_with(""));
    assert_eq!(group.deployment_config, None);
    assert!(group.alarms.is_empty());
    assert_eq!(group.auto_rollback, AutoRollback::default());
    assert_eq!(
        AutoRollback::default(),
        AutoRollback {
            on_failure: true,
            on_alarm: true,
            on_stop: false
        }
    );
    assert_eq!(group.topic_arn, None);
    assert_eq!(group.hook_timeout_seconds, None);
    assert_eq!(group.ecs, None);

    let group = parse(&ecs_with("", ""));
    let ecs = group.ecs.expect("ecs");
    assert_eq!(ecs.test_listener_arn, None);
    assert_eq!(ecs.ready_wait, ReadyWait::default());
    assert_eq!(
        ReadyWait::default(),
        ReadyWait {
            action: ReadyAction::Continue,
            wait_minutes: 0
        }
    );
    assert_eq!(
        ecs.termination_wait_minutes,
        DEFAULT_TERMINATION_WAIT_MINUTES
    );
    assert_eq!(DEFAULT_TERMINATION_WAIT_MINUTES, 5);

    // null counts as absent; autoRollback fills the flags it does not give.
    let group = parse(&lambda_with(
        "deploymentConfig: null\nalarms: ~\nautoRollback: {onAlarm: false}\ntopicArn:\n",
    ));
    assert_eq!(group.deployment_config, None);
    assert!(group.alarms.is_empty());
    assert_eq!(
        group.auto_rollback,
        AutoRollback {
            on_failure: true,
            on_alarm: false,
            on_stop: false
        }
    );
    assert_eq!(group.topic_arn, None);
}

#[test]
fn accepts_the_usual_variants() {
    let group = parse(&ecs_with(
        "alarms: []\n",
        "  readyWait: {action: stop, waitMinutes: 2880}\n  terminationWaitMinutes: 0\n",
    ));
    assert!(group.alarms.is_empty());
    let ecs = group.ecs.unwrap();
    assert_eq!(
        ecs.ready_wait,
        ReadyWait {
            action: ReadyAction::Stop,
            wait_minutes: 2880
        }
    );
    assert_eq!(ecs.termination_wait_minutes, 0);

    let group = parse(&ecs_with("", "  readyWait: {action: continue}\n"));
    assert_eq!(group.ecs.unwrap().ready_wait, ReadyWait::default());

    // Cluster and service ARNs; partitions other than aws; FIFO topics; custom configs.
    let text = ecs_with(
        "deploymentConfig: MyLinear.5_percent-v2\n\
         topicArn: arn:aws-cn:sns:cn-north-1:123456789012:deploys.fifo\n",
        "",
    )
    .replace(
        "cluster: shop",
        "cluster: arn:aws:ecs:us-east-1:123456789012:cluster/shop",
    )
    .replace(
        "service: web",
        "service: arn:aws:ecs:us-east-1:123456789012:service/shop/web",
    );
    let group = parse(&text);
    assert_eq!(
        group.deployment_config.as_deref(),
        Some("MyLinear.5_percent-v2")
    );
    assert_eq!(
        group.topic_arn.as_deref(),
        Some("arn:aws-cn:sns:cn-north-1:123456789012:deploys.fifo")
    );
    let ecs = group.ecs.unwrap();
    assert_eq!(
        ecs.cluster,
        "arn:aws:ecs:us-east-1:123456789012:cluster/shop"
    );
    assert_eq!(
        ecs.service,
        "arn:aws:ecs:us-east-1:123456789012:service/shop/web"
    );

    // Names use CodeDeploy's characters; ten distinct alarms are allowed.
    let alarms: Vec<String> = (0..MAX_ALARMS).map(|i| format!("alarm-{i}")).collect();
    let group = parse(
        &lambda_with(&format!("alarms: [{}]\n", alarms.join(", ")))
            .replace("application: payments", "application: my.app_v2+beta-1")
            .replace("name: api-prod", &format!("name: {}", "n".repeat(100))),
    );
    assert_eq!(group.alarms, alarms);
    assert_eq!(group.application, "my.app_v2+beta-1");
    assert_eq!(group.key(), format!("my.app_v2+beta-1/{}", "n".repeat(100)));

    // Keys may come in any order, and hookTimeoutSeconds accepts both bounds.
    let group = parse("hookTimeoutSeconds: 1\ncomputePlatform: Lambda\nname: b\napplication: a\n");
    assert_eq!(group.hook_timeout_seconds, Some(1));
    let group = parse(&lambda_with("hookTimeoutSeconds: 86400\n"));
    assert_eq!(group.hook_timeout_seconds, Some(86_400));
}

#[test]
fn to_document_round_trips() {
    let mut stop = expected_ecs();
    if let Some(ecs) = &mut stop.ecs {
        ecs.ready_wait = ReadyWait {
            action: ReadyAction::Stop,
            wait_minutes: 30,
        };
        ecs.test_listener_arn = None;
        ecs.termination_wait_minutes = 0;
    }
    let bare = parse(&lambda_with(""));
    for group in [expected_ecs(), expected_lambda(), stop, bare] {
        let doc = group.to_document();
        assert_eq!(
            DeploymentGroup::parse(&doc.to_string()).as_ref(),
            Ok(&group)
        );
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        assert_eq!(DeploymentGroup::parse(&yaml).as_ref(), Ok(&group), "{yaml}");
        // As stored (serde), too.
        let stored = serde_json::to_string(&group).unwrap();
        assert_eq!(
            serde_json::from_str::<DeploymentGroup>(&stored).unwrap(),
            group
        );
    }
}

#[test]
fn the_document_uses_the_file_names() {
    let doc = expected_ecs().to_document();
    assert_eq!(doc["computePlatform"], "ECS");
    assert_eq!(doc["autoRollback"]["onFailure"], true);
    assert_eq!(doc["ecs"]["productionListenerArn"], LISTENER);
    assert_eq!(doc["ecs"]["targetGroups"][1], GREEN);
    assert_eq!(doc["ecs"]["readyWait"]["action"], "continue");
    assert_eq!(doc["ecs"]["terminationWaitMinutes"], 5);
    let doc = expected_lambda().to_document();
    assert_eq!(doc["computePlatform"], "Lambda");
    assert!(doc.get("ecs").is_none());
    assert!(doc.get("topicArn").is_none());
}

#[test]
fn serializes_camel_case_for_storage() {
    let stored = serde_json::to_value(expected_ecs()).unwrap();
    assert_eq!(stored["computePlatform"], "ECS");
    assert_eq!(stored["autoRollback"]["onAlarm"], true);
    assert_eq!(stored["ecs"]["readyWait"]["action"], "continue");
    assert_eq!(stored["ecs"]["readyWait"]["waitMinutes"], 0);
    assert_eq!(stored["ecs"]["targetGroups"][0], BLUE);
    assert_eq!(stored["hookTimeoutSeconds"], 600);
    assert_eq!(serde_json::to_value(ReadyAction::Stop).unwrap(), "stop");
    assert_eq!(ReadyAction::Stop.to_string(), "stop");
    // Stored items written before optional fields existed still read.
    let minimal = json!({
        "application": "a", "name": "b", "computePlatform": "ECS",
        "ecs": {"cluster": "c", "service": "s", "productionListenerArn": LISTENER,
                "targetGroups": [BLUE, GREEN]}
    });
    let group: DeploymentGroup = serde_json::from_value(minimal).unwrap();
    assert_eq!(group.auto_rollback, AutoRollback::default());
    let ecs = group.ecs.unwrap();
    assert_eq!(ecs.ready_wait, ReadyWait::default());
    assert_eq!(ecs.termination_wait_minutes, 5);
}

pub(super) fn name_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._+-]{1,100}"
}

proptest! {
    #[test]
    fn groups_round_trip(
        application in name_strategy(),
        name in name_strategy(),
        alarms in proptest::collection::btree_set("[A-Za-z0-9 _./-]{1,40}", 0..=10),
        flags in any::<(bool, bool, bool)>(),
        timeout in proptest::option::of(1u64..=86_400),
        stop_minutes in proptest::option::of(1u32..=2880),
        termination in 0u32..=2880,
        ecs in any::<bool>(),
    ) {
        // YAML would read names such as "1.5", "true" or "-" as other values unless quoted;
        // to_document is serialized with serde, which quotes them.
        let group = DeploymentGroup {
            enforce: Default::default(),
            application,
            name,
            compute_platform: if ecs { ComputePlatform::Ecs } else { ComputePlatform::Lambda },
            deployment_config: None,
            alarms: alarms.into_iter().filter(|a| !a.trim().is_empty()).collect(),
            auto_rollback: AutoRollback { on_failure: flags.0, on_alarm: flags.1, on_stop: flags.2 },
            topic_arn: None,
            hook_timeout_seconds: timeout,
            ecs: ecs.then(|| EcsGroup {
                cluster: "shop".into(),
                service: "web".into(),
                production_listener_arn: LISTENER.into(),
                test_listener_arn: None,
                target_groups: [BLUE.into(), GREEN.into()],
                ready_wait: match stop_minutes {
                    Some(m) => ReadyWait { action: ReadyAction::Stop, wait_minutes: m },
                    None => ReadyWait::default(),
                },
                termination_wait_minutes: termination,
            }),
        };
        let doc = group.to_document();
        prop_assert_eq!(DeploymentGroup::parse(&doc.to_string()), Ok(group.clone()));
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        prop_assert_eq!(DeploymentGroup::parse(&yaml), Ok(group.clone()));
        prop_assert_eq!(
            DeploymentGroup::parse_key(&group.key()),
            Ok((group.application.clone(), group.name.clone()))
        );
    }

    #[test]
    fn wait_minutes_are_checked(minutes in 0u64..=4000) {
        let text = ecs_with("", &format!("  readyWait: {{action: stop, waitMinutes: {minutes}}}\n"));
        let result = DeploymentGroup::parse(&text);
        prop_assert_eq!(result.is_ok(), (1..=2880).contains(&minutes));
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,300}") {
        let _ = DeploymentGroup::parse(&text);
    }
}
