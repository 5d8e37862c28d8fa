//! Tests of `group`'s refusals: every rule refused at its path with its message, several
//! mistakes at once, syntax problems, and group keys.
use super::tests::*;
use super::*;

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
