//! Tests of `group`: the documented example, JSON, Lambda groups, defaults, round trips,
//! every rule refused at its path, several mistakes at once, group keys and property tests.
use super::*;
use proptest::prelude::*;

const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2";
const TEST_LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/0467ef3c8400ae65";
const BLUE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/73e2d6bc24d8a067";
const GREEN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2453ed029918f21f";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:deploys";

fn ecs_yaml() -> String {
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

fn expected_ecs() -> DeploymentGroup {
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

const LAMBDA_YAML: &str = r#"application: payments
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

fn expected_lambda() -> DeploymentGroup {
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
fn ecs_with(root: &str, extra: &str) -> String {
    format!(
        "application: shop\nname: web-prod\ncomputePlatform: ECS\n{root}ecs:\n  cluster: shop\n  \
         service: web\n  productionListenerArn: {LISTENER}\n  targetGroups: [{BLUE}, {GREEN}]\n\
         {extra}"
    )
}

/// The smallest Lambda group, with `root` lines appended.
fn lambda_with(root: &str) -> String {
    format!("application: payments\nname: api-prod\ncomputePlatform: Lambda\n{root}")
}

fn errors(text: &str) -> GroupErrors {
    match DeploymentGroup::parse(text) {
        Ok(group) => panic!("expected errors for\n{text}\ngot {group:?}"),
        Err(e) => e,
    }
}

fn parse(text: &str) -> DeploymentGroup {
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

#[test]
fn bad_inputs_are_reported_with_path_and_message() {
    let long = "x".repeat(101);
    let cases: Vec<(String, &str, &str)> =
        vec![
        // application and name
        (
            lambda_with("").replace("application: payments\n", ""),
            "application",
            "is required",
        ),
        (
            lambda_with("").replace("name: api-prod\n", ""),
            "name",
            "is required",
        ),
        (
            lambda_with("").replace("name: api-prod", "name: \"\""),
            "name",
            "must not be empty",
        ),
        (
            lambda_with("").replace("name: api-prod", "name: web/prod"),
            "name",
            "contains '/', which separates application and name",
        ),
        (
            lambda_with("").replace("application: payments", "application: \"my app\""),
            "application",
            "contains ' '; use 1 to 100 letters, digits, '.', '_', '-' and '+'",
        ),
        (
            lambda_with("").replace("name: api-prod", &format!("name: {long}")),
            "name",
            "is 101 characters long",
        ),
        (
            lambda_with("").replace("name: api-prod", "name: 2024"),
            "name",
            "must be a string, not a number; quote it: \"2024\"",
        ),
        // computePlatform
        (
            lambda_with("").replace("computePlatform: Lambda\n", ""),
            "computePlatform",
            "is required; use ECS or Lambda",
        ),
        (
            lambda_with("").replace("computePlatform: Lambda", "computePlatform: Server"),
            "computePlatform",
            "(EC2/on-premises) is not supported",
        ),
        (
            lambda_with("").replace("computePlatform: Lambda", "computePlatform: ecs"),
            "computePlatform",
            "write it exactly as \"ECS\"",
        ),
        (
            lambda_with("").replace("computePlatform: Lambda", "computePlatform: [ECS]"),
            "computePlatform",
            "must be a string, not a list",
        ),
        // deploymentConfig
        (
            ecs_with("deploymentConfig: CodeDeployDefault.LambdaAllAtOnce\n", ""),
            "deploymentConfig",
            "is a Lambda configuration and cannot be used for an ECS deployment; use \
             CodeDeployDefault.ECSAllAtOnce",
        ),
        (
            ecs_with("deploymentConfig: CodeDeployDefault.LambdaCanary10Percent30Minutes\n", ""),
            "deploymentConfig",
            "the predefined ECS configurations are CodeDeployDefault.ECSAllAtOnce, \
             CodeDeployDefault.ECSCanary10Percent5Minutes",
        ),
        (
            lambda_with("deploymentConfig: CodeDeployDefault.ECSCanary10Percent5Minutes\n"),
            "deploymentConfig",
            "use CodeDeployDefault.LambdaCanary10Percent5Minutes",
        ),
        (
            ecs_with("deploymentConfig: Linear10PercentEvery1Minute\n", ""),
            "deploymentConfig",
            "is a Lambda configuration",
        ),
        (
            lambda_with("deploymentConfig: CodeDeployDefault.LambdaCanary10Percent6Minutes\n"),
            "deploymentConfig",
            "is not a predefined configuration (names starting with CodeDeployDefault. are \
             reserved for them); did you mean CodeDeployDefault.LambdaCanary10Percent5Minutes? \
             the predefined Lambda configurations are CodeDeployDefault.LambdaAllAtOnce",
        ),
        (
            ecs_with("deploymentConfig: CodeDeployDefault.ECSLinear10PercentEvery1Minute\n", ""),
            "deploymentConfig",
            "did you mean CodeDeployDefault.ECSLinear10PercentEvery1Minutes?",
        ),
        (
            lambda_with("deploymentConfig: CodeDeployDefault.Nope\n")
                .replace("computePlatform: Lambda", "computePlatform: EC2"),
            "deploymentConfig",
            "unknown deployment configuration",
        ),
        (
            lambda_with("deploymentConfig: \"\"\n"),
            "deploymentConfig",
            "must not be empty",
        ),
        (
            lambda_with("deploymentConfig: \"my config\"\n"),
            "deploymentConfig",
            "contains ' '",
        ),
        (
            lambda_with("deploymentConfig: 10\n"),
            "deploymentConfig",
            "must be a string, not a number",
        ),
        // alarms
        (
            lambda_with("alarms: web-5xx\n"),
            "alarms",
            "must be a list of alarm names, not a string; write [web-5xx]",
        ),
        (
            lambda_with("alarms: [a, b, c, d, e, f, g, h, i, j, k]\n"),
            "alarms",
            "lists 11 alarms; at most 10",
        ),
        (
            lambda_with("alarms: [a, b, a]\n"),
            "alarms[2]",
            "\"a\" is listed twice (also at alarms[0])",
        ),
        (
            lambda_with("alarms: [a, \"\"]\n"),
            "alarms[1]",
            "must not be empty",
        ),
        (
            lambda_with(&format!("alarms: [{}]\n", "a".repeat(256))),
            "alarms[0]",
            "is 256 characters long; an alarm name has at most 255",
        ),
        (
            lambda_with("alarms: [{name: a}]\n"),
            "alarms[0]",
            "must be a string, not a mapping",
        ),
        // autoRollback
        (
            lambda_with("autoRollback: {onFailure: \"yes\"}\n"),
            "autoRollback.onFailure",
            "must be true or false, not a string (\"yes\")",
        ),
        (
            lambda_with("autoRollback: {onAlarm: 1}\n"),
            "autoRollback.onAlarm",
            "must be true or false, not a number",
        ),
        (
            lambda_with("autoRollback: {onAlarms: true}\n"),
            "autoRollback.onAlarms",
            "allowed: onFailure, onAlarm, onStop (did you mean onAlarm?)",
        ),
        (
            lambda_with("autoRollback: true\n"),
            "autoRollback",
            "must be a mapping with onFailure, onAlarm and onStop, not a boolean",
        ),
        // topicArn
        (
            lambda_with("topicArn: deploys\n"),
            "topicArn",
            "is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
        ),
        (
            lambda_with("topicArn: arn:aws:sqs:us-east-1:123456789012:deploys\n"),
            "topicArn",
            "it is an ARN of the sqs service",
        ),
        (
            lambda_with("topicArn: arn:aws:sns:us-east-1:1234:deploys\n"),
            "topicArn",
            "\"1234\" is not an account ID (12 digits)",
        ),
        (
            lambda_with(
                "topicArn: arn:aws:sns:us-east-1:123456789012:deploys:0c8a2f5e-1b1d-4b7c\n",
            ),
            "topicArn",
            "is a subscription ARN",
        ),
        (
            lambda_with("topicArn: \"arn:aws:sns:us-east-1:123456789012:my topic\"\n"),
            "topicArn",
            "is not a topic name",
        ),
        // hookTimeoutSeconds
        (
            lambda_with("hookTimeoutSeconds: 0\n"),
            "hookTimeoutSeconds",
            "0 is out of range; use a whole number from 1 to 86400",
        ),
        (
            lambda_with("hookTimeoutSeconds: 86401\n"),
            "hookTimeoutSeconds",
            "86401 is out of range",
        ),
        (
            lambda_with("hookTimeoutSeconds: \"600\"\n"),
            "hookTimeoutSeconds",
            "not a string (\"600\"); write it without quotes",
        ),
        (
            lambda_with("hookTimeoutSeconds: 60.5\n"),
            "hookTimeoutSeconds",
            "60.5 is not a whole number",
        ),
        (
            lambda_with("hookTimeoutSeconds: 600.0\n"),
            "hookTimeoutSeconds",
            "is not a whole number",
        ),
        (
            lambda_with("hookTimeoutSeconds: -5\n"),
            "hookTimeoutSeconds",
            "-5 is negative",
        ),
        // ecs block and platform
        (
            lambda_with("").replace("Lambda", "ECS"),
            "ecs",
            "is required for computePlatform ECS",
        ),
        (
            ecs_with("", "").replace("computePlatform: ECS", "computePlatform: Lambda"),
            "ecs",
            "not allowed for computePlatform Lambda",
        ),
        (
            lambda_with("").replace("Lambda", "ECS") + "ecs: [shop]\n",
            "ecs",
            "must be a mapping with cluster, service, productionListenerArn and targetGroups",
        ),
        // cluster and service
        (
            ecs_with("", "").replace("  cluster: shop\n", ""),
            "ecs.cluster",
            "is required (the cluster's name or ARN)",
        ),
        (
            ecs_with("", "").replace("service: web", "service: \"  \""),
            "ecs.service",
            "must not be empty",
        ),
        (
            ecs_with("", "").replace("service: web", "service: \"web app\""),
            "ecs.service",
            "contains ' '; use the service's name",
        ),
        (
            ecs_with("", "").replace(
                "cluster: shop",
                "cluster: arn:aws:ecs:us-east-1:123456789012:service/shop",
            ),
            "ecs.cluster",
            "is not an ECS cluster ARN (arn:aws:ecs:REGION:ACCOUNT:cluster/NAME)",
        ),
        // listeners
        (
            ecs_with("", "").replace(&format!("  productionListenerArn: {LISTENER}\n"), ""),
            "ecs.productionListenerArn",
            "is required",
        ),
        (
            ecs_with("", "").replace(
                "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
                "listener/net/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
            ),
            "ecs.productionListenerArn",
            "is a Network Load Balancer listener; only Application Load Balancer listeners \
             (listener/app/...) are supported",
        ),
        (
            ecs_with("", "").replace(
                "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
                "loadbalancer/app/shop/50dc6c495c0c9188",
            ),
            "ecs.productionListenerArn",
            "is a load balancer ARN; give the listener's ARN",
        ),
        (
            ecs_with("", "").replace(
                "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
                "listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee",
            ),
            "ecs.productionListenerArn",
            "is a listener rule ARN",
        ),
        (
            ecs_with("", "").replace(
                "listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2",
                "listener/app/shop",
            ),
            "ecs.productionListenerArn",
            "is not an Application Load Balancer listener ARN",
        ),
        (
            ecs_with("", "").replace(
                &format!("productionListenerArn: {LISTENER}"),
                "productionListenerArn: arn:aws:elasticloadbalancing:us-east-1:123456789012",
            ),
            "ecs.productionListenerArn",
            "is not an Application Load Balancer listener ARN",
        ),
        (
            ecs_with("", &format!("  testListenerArn: {LISTENER}\n")),
            "ecs.testListenerArn",
            "is the same listener as ecs.productionListenerArn",
        ),
        (
            ecs_with("", &format!("  testListenerArn: {BLUE}\n")),
            "ecs.testListenerArn",
            "is a target group ARN; give the listener's ARN",
        ),
        // target groups
        (
            ecs_with("", "").replace(&format!("  targetGroups: [{BLUE}, {GREEN}]\n"), ""),
            "ecs.targetGroups",
            "is required",
        ),
        (
            ecs_with("", "").replace(&format!("[{BLUE}, {GREEN}]"), &format!("[{BLUE}]")),
            "ecs.targetGroups",
            "must list exactly 2 target groups (blue and green); found 1",
        ),
        (
            ecs_with("", "").replace(
                &format!("[{BLUE}, {GREEN}]"),
                &format!("[{BLUE}, {GREEN}, {BLUE}]"),
            ),
            "ecs.targetGroups",
            "found 3",
        ),
        (
            ecs_with("", "").replace(&format!("[{BLUE}, {GREEN}]"), BLUE),
            "ecs.targetGroups",
            "must be a list of the two target groups' ARNs (blue and green), not a string",
        ),
        (
            ecs_with("", "").replace(&format!("[{BLUE}, {GREEN}]"), &format!("[{BLUE}, {BLUE}]")),
            "ecs.targetGroups[1]",
            "the same target group as ecs.targetGroups[0]; blue/green needs two",
        ),
        (
            ecs_with("", "").replace(&format!("[{BLUE}, {GREEN}]"), &format!("[{BLUE}, green]")),
            "ecs.targetGroups[1]",
            "\"green\" is not a target group ARN; give the full ARN",
        ),
        (
            ecs_with("", "").replace(
                &format!("[{BLUE}, {GREEN}]"),
                &format!("[{BLUE}, {LISTENER}]"),
            ),
            "ecs.targetGroups[1]",
            "is a listener ARN; give a target group's ARN",
        ),
        (
            ecs_with("", "").replace(
                &format!("[{BLUE}, {GREEN}]"),
                &format!("[{}, {GREEN}]", BLUE.replace(":123456789012:", ":12345:")),
            ),
            "ecs.targetGroups[0]",
            "is not an account ID (12 digits)",
        ),
        (
            ecs_with("", "").replace(&format!("[{BLUE}, {GREEN}]"), &format!("[{BLUE}, 7]")),
            "ecs.targetGroups[1]",
            "must be a string, not a number",
        ),
        // readyWait
        (
            ecs_with("", "  readyWait: {action: stop}\n"),
            "ecs.readyWait.waitMinutes",
            "is required with action stop",
        ),
        (
            ecs_with("", "  readyWait: {action: stop, waitMinutes: 0}\n"),
            "ecs.readyWait.waitMinutes",
            "0 is out of range; use a whole number from 1 to 2880",
        ),
        (
            ecs_with("", "  readyWait: {action: stop, waitMinutes: 2881}\n"),
            "ecs.readyWait.waitMinutes",
            "2881 is out of range",
        ),
        (
            ecs_with("", "  readyWait: {action: continue, waitMinutes: 10}\n"),
            "ecs.readyWait.waitMinutes",
            "applies only to action stop",
        ),
        (
            ecs_with("", "  readyWait: {action: STOP_DEPLOYMENT, waitMinutes: 10}\n"),
            "ecs.readyWait.action",
            "\"STOP_DEPLOYMENT\" is not an action (write stop); use continue",
        ),
        (
            ecs_with("", "  readyWait: {action: wait}\n"),
            "ecs.readyWait.action",
            "is not an action; use continue (move traffic as soon as the replacement is ready) \
             or stop",
        ),
        (
            ecs_with("", "  readyWait: {waitMinutes: 5}\n"),
            "ecs.readyWait.action",
            "is required; use continue",
        ),
        (
            ecs_with("", "  readyWait: {action: stop, waitMinutes: \"5\"}\n"),
            "ecs.readyWait.waitMinutes",
            "write it without quotes",
        ),
        (
            ecs_with("", "  readyWait: stop\n"),
            "ecs.readyWait",
            "must be a mapping with action (continue or stop)",
        ),
        // terminationWaitMinutes
        (
            ecs_with("", "  terminationWaitMinutes: 2881\n"),
            "ecs.terminationWaitMinutes",
            "2881 is out of range; use a whole number from 0 to 2880",
        ),
        (
            ecs_with("", "  terminationWaitMinutes: -1\n"),
            "ecs.terminationWaitMinutes",
            "-1 is negative",
        ),
        (
            ecs_with("", "  terminationWaitMinutes: 1.5\n"),
            "ecs.terminationWaitMinutes",
            "1.5 is not a whole number",
        ),
        // unknown keys at every level
        (
            lambda_with("region: us-east-1\n"),
            "region",
            "is not a known key; allowed: application, name, computePlatform",
        ),
        (
            lambda_with("alarm: [a]\n"),
            "alarm",
            "(did you mean alarms?)",
        ),
        (
            lambda_with("deploymentGroupName: x\n"),
            "deploymentGroupName",
            "write name",
        ),
        (
            lambda_with("applicationName: x\n"),
            "applicationName",
            "write application",
        ),
        (
            ecs_with("", &format!("  targetGroup: {BLUE}\n")),
            "ecs.targetGroup",
            "(did you mean targetGroups?)",
        ),
        (
            ecs_with("", "  launchType: FARGATE\n"),
            "ecs.launchType",
            "allowed: cluster, service, productionListenerArn, testListenerArn, targetGroups, \
             readyWait, terminationWaitMinutes",
        ),
        (
            ecs_with("", "  readyWait: {action: stop, waitMinute: 5}\n"),
            "ecs.readyWait.waitMinute",
            "allowed: action, waitMinutes (did you mean waitMinutes?)",
        ),
    ];
    assert!(cases.len() >= 60);
    for (text, path, needle) in cases {
        let e = errors(&text);
        let found = e
            .at(path)
            .unwrap_or_else(|| panic!("no error at {path} in:\n{text}\n{e}"));
        assert!(
            found.message.contains(needle),
            "{path}: {:?} lacks {needle:?}",
            found.message
        );
    }
}

#[test]
fn collects_all_mistakes() {
    let text = format!(
        "application: \"my app\"\nname: web/prod\ncomputePlatform: ECS\n\
         deploymentConfig: CodeDeployDefault.LambdaAllAtOnce\nalarms: [a, a]\n\
         autoRollback: {{onFailure: yes}}\nhookTimeoutSeconds: \"600\"\ncolour: blue\n\
         ecs:\n  cluster: shop\n  service: web\n  productionListenerArn: {}\n  \
         targetGroups: [{BLUE}, {BLUE}]\n  readyWait: {{action: stop}}\n  \
         terminationWaitMinutes: 5.5\n",
        LISTENER.replace("/app/", "/net/")
    );
    let e = errors(&text);
    let paths: Vec<&str> = e.0.iter().map(|x| x.path.as_str()).collect();
    let expected = [
        "application",
        "name",
        "deploymentConfig",
        "alarms[1]",
        "autoRollback.onFailure",
        "hookTimeoutSeconds",
        "colour",
        "ecs.productionListenerArn",
        "ecs.targetGroups[1]",
        "ecs.readyWait.waitMinutes",
        "ecs.terminationWaitMinutes",
    ];
    for path in expected {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert_eq!(e.0.len(), expected.len(), "{e}");
    // One line per mistake, each "path: message".
    let shown = e.to_string();
    assert_eq!(shown.lines().count(), expected.len(), "{shown}");
    for (line, error) in shown.lines().zip(&e.0) {
        assert_eq!(line, format!("{}: {}", error.path, error.message));
    }
    assert!(
        shown.contains("ecs.targetGroups[1]: the same target group as ecs.targetGroups[0]"),
        "{shown}"
    );
    // The errors are a std error too.
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert_eq!(boxed.to_string(), shown);
}

#[test]
fn errors_in_an_unusable_ecs_block_are_still_reported_with_a_bad_platform() {
    // With an unknown platform the ecs block is still checked, but not required.
    let text = ecs_with("", "  terminationWaitMinutes: 9999\n")
        .replace("computePlatform: ECS", "computePlatform: Server");
    let e = errors(&text);
    assert!(e.at("computePlatform").is_some(), "{e}");
    assert!(e.at("ecs.terminationWaitMinutes").is_some(), "{e}");
    assert_eq!(e.0.len(), 2, "{e}");
    let e = errors(&lambda_with("").replace("computePlatform: Lambda", "computePlatform: EC2"));
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.at("ecs").is_none());
}

#[test]
fn syntax_problems_give_one_error_for_the_whole_file() {
    let e = errors("");
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].path, "");
    assert_eq!(e.to_string(), "the deployment group file is empty");

    let e = errors("application: shop\nname: [web\ncomputePlatform: ECS\n");
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].path, "");
    assert!(
        e.0[0].message.contains("not valid YAML") && e.0[0].message.contains("line"),
        "{e}"
    );

    let e = errors("{\"application\": \"shop\",\n \"name\": }");
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].path, "");
    assert!(
        e.0[0].message.contains("not valid JSON") && e.0[0].message.contains("line 2"),
        "{e}"
    );

    let e = errors("{\"name\": \"a\", \"name\": \"b\"}");
    assert!(e.0[0].message.contains("duplicate key"), "{e}");
    let e = errors("name: a\nname: b\n");
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].message.contains("duplicate"), "{e}");

    for text in ["just some words", "- application: shop\n", "[1, 2]", "42"] {
        let e = errors(text);
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(e.0[0].path, "");
        assert!(e.0[0].message.contains("must be a mapping"), "{e}");
    }

    let big = format!("{}#{}\n", ecs_yaml(), "x".repeat(MAX_GROUP_BYTES));
    let e = errors(&big);
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].path, "");
    assert!(e.0[0].message.contains("64 KiB"), "{e}");

    let e = errors(&lambda_with("topicArn: !Ref Topic\n"));
    assert_eq!(e.0[0].path, "topicArn");
    assert!(e.0[0].message.contains("!Ref"), "{e}");
}

#[test]
fn a_file_just_under_the_limit_is_read() {
    let text = ecs_yaml();
    let padded = format!("{text}#{}\n", "x".repeat(MAX_GROUP_BYTES - text.len() - 2));
    assert_eq!(padded.len(), MAX_GROUP_BYTES);
    assert_eq!(parse(&padded), expected_ecs());
}

#[test]
fn errors_display_and_lookup() {
    let e = GroupErrors(vec![
        GroupError {
            path: "ecs.targetGroups[1]".into(),
            message: "x".into(),
        },
        GroupError {
            path: String::new(),
            message: "the deployment group file is empty".into(),
        },
    ]);
    assert_eq!(
        e.to_string(),
        "ecs.targetGroups[1]: x\nthe deployment group file is empty"
    );
    assert_eq!(
        e.at("ecs.targetGroups[1]").map(|x| x.message.as_str()),
        Some("x")
    );
    assert!(e.at("ecs").is_none());
    assert_eq!(e.0[0].to_string(), "ecs.targetGroups[1]: x");
}

#[test]
fn parse_key_splits_and_checks() {
    assert_eq!(
        DeploymentGroup::parse_key("shop/web-prod"),
        Ok(("shop".to_string(), "web-prod".to_string()))
    );
    assert_eq!(
        DeploymentGroup::parse_key("my.app_v2+b/x"),
        Ok(("my.app_v2+b".to_string(), "x".to_string()))
    );
    for (key, needle) in [
        ("shop", "is not a deployment group key"),
        ("", "is not a deployment group key"),
        ("a/b/c", "more than one '/'"),
        ("/web", "the application is empty"),
        ("shop/", "the name is empty"),
        ("my shop/web", "the application \"my shop\" contains ' '"),
        ("shop/web*", "the name \"web*\" contains '*'"),
    ] {
        let message = DeploymentGroup::parse_key(key).expect_err(key);
        assert!(message.contains(needle), "{key}: {message}");
        assert!(
            message.contains("expected APPLICATION/NAME, e.g. shop/web-prod"),
            "{key}: {message}"
        );
    }
    let long = format!("shop/{}", "n".repeat(101));
    assert!(DeploymentGroup::parse_key(&long)
        .unwrap_err()
        .contains("101 characters"));
    // key() and parse_key() agree.
    let group = expected_ecs();
    assert_eq!(
        DeploymentGroup::parse_key(&group.key()),
        Ok((group.application.clone(), group.name.clone()))
    );
}

fn name_strategy() -> impl Strategy<Value = String> {
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
