//! Tests of `appspec`: documented examples, bad inputs with their paths, round trips and
//! property tests.
use super::*;
use proptest::prelude::*;

const LAMBDA_YAML: &str = r#"version: 0.0
Resources:
  - myLambdaFunction:
      Type: AWS::Lambda::Function
      Properties:
        Name: "myLambdaFunction"
        Alias: "live"
        CurrentVersion: "1"
        TargetVersion: "2"
Hooks:
  - BeforeAllowTraffic: "PreTrafficHookFunction"
  - AfterAllowTraffic: "PostTrafficHookFunction"
"#;

const LAMBDA_JSON: &str = r#"{
  "version": 0.0,
  "Resources": [
    {
      "myLambdaFunction": {
        "Type": "AWS::Lambda::Function",
        "Properties": {
          "Name": "myLambdaFunction",
          "Alias": "live",
          "CurrentVersion": "1",
          "TargetVersion": "2"
        }
      }
    }
  ],
  "Hooks": [
    {"BeforeAllowTraffic": "PreTrafficHookFunction"},
    {"AfterAllowTraffic": "PostTrafficHookFunction"}
  ]
}"#;

const ECS_YAML: &str = r#"version: 0.0
Resources:
  - TargetService:
      Type: AWS::ECS::Service
      Properties:
        TaskDefinition: "arn:aws:ecs:us-east-1:111122223333:task-definition/web:2"
        LoadBalancerInfo:
          ContainerName: "web"
          ContainerPort: 80
        PlatformVersion: "LATEST"            # optional
        NetworkConfiguration:                # optional, all or nothing
          AwsvpcConfiguration:
            Subnets: ["subnet-1234abcd"]
            SecurityGroups: ["sg-1234abcd"]
            AssignPublicIp: "DISABLED"
        CapacityProviderStrategy:            # optional
          - {Base: 1, CapacityProvider: "FARGATE_SPOT", Weight: 2}
Hooks:
  - BeforeInstall: "HookFn"
  - AfterInstall: "HookFn"
  - AfterAllowTestTraffic: "HookFn"
  - BeforeAllowTraffic: "HookFn"
  - AfterAllowTraffic: "HookFn"
"#;

const ECS_JSON: &str = r#"{
  "version": 0.0,
  "Resources": [{
    "TargetService": {
      "Type": "AWS::ECS::Service",
      "Properties": {
        "TaskDefinition": "arn:aws:ecs:us-east-1:111122223333:task-definition/web:2",
        "LoadBalancerInfo": {"ContainerName": "web", "ContainerPort": 80},
        "PlatformVersion": "LATEST",
        "NetworkConfiguration": {
          "AwsvpcConfiguration": {
            "Subnets": ["subnet-1234abcd"],
            "SecurityGroups": ["sg-1234abcd"],
            "AssignPublicIp": "DISABLED"
          }
        },
        "CapacityProviderStrategy": [{"Base": 1, "CapacityProvider": "FARGATE_SPOT", "Weight": 2}]
      }
    }
  }],
  "Hooks": [
    {"BeforeInstall": "HookFn"},
    {"AfterInstall": "HookFn"},
    {"AfterAllowTestTraffic": "HookFn"},
    {"BeforeAllowTraffic": "HookFn"},
    {"AfterAllowTraffic": "HookFn"}
  ]
}"#;

fn expected_lambda() -> AppSpec {
    AppSpec {
        version: "0.0".into(),
        resource: AppSpecResource::Lambda(LambdaResource {
            logical_name: "myLambdaFunction".into(),
            name: "myLambdaFunction".into(),
            alias: "live".into(),
            current_version: "1".into(),
            target_version: "2".into(),
        }),
        hooks: vec![
            HookSpec {
                event: LifecycleEvent::BeforeAllowTraffic,
                function: "PreTrafficHookFunction".into(),
            },
            HookSpec {
                event: LifecycleEvent::AfterAllowTraffic,
                function: "PostTrafficHookFunction".into(),
            },
        ],
    }
}

fn expected_ecs() -> AppSpec {
    AppSpec {
        version: "0.0".into(),
        resource: AppSpecResource::Ecs(EcsResource {
            logical_name: "TargetService".into(),
            task_definition: "arn:aws:ecs:us-east-1:111122223333:task-definition/web:2".into(),
            container_name: "web".into(),
            container_port: 80,
            platform_version: Some("LATEST".into()),
            network: Some(AwsVpcConfiguration {
                subnets: vec!["subnet-1234abcd".into()],
                security_groups: vec!["sg-1234abcd".into()],
                assign_public_ip: Some("DISABLED".into()),
            }),
            capacity_provider_strategy: vec![CapacityProviderItem {
                capacity_provider: "FARGATE_SPOT".into(),
                base: Some(1),
                weight: Some(2),
            }],
        }),
        hooks: LifecycleEvent::ECS_HOOKS
            .iter()
            .map(|e| HookSpec {
                event: *e,
                function: "HookFn".into(),
            })
            .collect(),
    }
}

#[test]
fn parses_the_documented_lambda_examples() {
    for text in [LAMBDA_YAML, LAMBDA_JSON] {
        let spec = AppSpec::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec, expected_lambda());
        assert_eq!(spec.platform(), ComputePlatform::Lambda);
        assert_eq!(
            spec.hook(LifecycleEvent::BeforeAllowTraffic),
            Some("PreTrafficHookFunction")
        );
        assert_eq!(
            spec.hook(LifecycleEvent::AfterAllowTraffic),
            Some("PostTrafficHookFunction")
        );
        assert_eq!(spec.hook(LifecycleEvent::BeforeInstall), None);
        assert_eq!(spec.to_string(), "Lambda myLambdaFunction:live 1 -> 2");
    }
}

#[test]
fn parses_the_documented_ecs_examples() {
    for text in [ECS_YAML, ECS_JSON] {
        let spec = AppSpec::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec, expected_ecs());
        assert_eq!(spec.platform(), ComputePlatform::Ecs);
        assert_eq!(
            spec.hook(LifecycleEvent::AfterAllowTestTraffic),
            Some("HookFn")
        );
        assert_eq!(spec.ecs().map(|r| r.container_port), Some(80));
        assert!(spec.lambda().is_none());
    }
}

#[test]
fn accepts_the_usual_variants() {
    // Integer versions, string version, hooks as a plain map (returned in lifecycle order),
    // no hooks at all, a partial ARN and a minimal ECS service.
    let text = "version: \"0.0\"\nResources:\n  - fn:\n      Type: AWS::Lambda::Function\n      \
                    Properties: {Name: \"123456789012:function:my-fn\", Alias: live, \
                    CurrentVersion: 7, TargetVersion: 12}\nHooks:\n  AfterAllowTraffic: Post\n  \
                    BeforeAllowTraffic: Pre\n";
    let spec = AppSpec::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let r = spec.lambda().unwrap();
    assert_eq!(
        (r.current_version.as_str(), r.target_version.as_str()),
        ("7", "12")
    );
    assert_eq!(spec.hooks[0].event, LifecycleEvent::BeforeAllowTraffic);
    assert_eq!(spec.hooks[1].function, "Post");

    let text = "version: 0.0\nResources:\n  - svc:\n      Type: AWS::ECS::Service\n      \
                    Properties:\n        TaskDefinition: web:3\n        LoadBalancerInfo: \
                    {ContainerName: web, ContainerPort: 8080}\n";
    let spec = AppSpec::parse(text).unwrap_or_else(|e| panic!("{e}"));
    let r = spec.ecs().unwrap();
    assert_eq!(r.network, None);
    assert!(r.capacity_provider_strategy.is_empty());
    assert!(spec.hooks.is_empty());
    assert_eq!(spec.logical_name(), "svc");
}

fn lambda_with(props: &str, hooks: &str) -> String {
    format!(
        "version: 0.0\nResources:\n  - myFn:\n      Type: AWS::Lambda::Function\n      \
             Properties: {{{props}}}\n{hooks}"
    )
}

fn ecs_with(props: &str, hooks: &str) -> String {
    format!(
        "version: 0.0\nResources:\n  - svc:\n      Type: AWS::ECS::Service\n      \
             Properties: {{{props}}}\n{hooks}"
    )
}

const GOOD_LAMBDA: &str = "Name: f, Alias: live, CurrentVersion: \"1\", TargetVersion: \"2\"";
const GOOD_ECS: &str =
    "TaskDefinition: \"web:2\", LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}";
const P: &str = "Resources[0].myFn.Properties";
const E: &str = "Resources[0].svc.Properties";

fn errors(text: &str) -> AppSpecErrors {
    match AppSpec::parse(text) {
        Ok(spec) => panic!("expected errors for {text}, got {spec:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_inputs_are_reported_with_path_and_message() {
    let cases: Vec<(String, String, &str)> = vec![
            (
                lambda_with("Name: f, Alias: live, CurrentVersion: $LATEST, TargetVersion: \"2\"", ""),
                format!("{P}.CurrentVersion"),
                "$LATEST cannot be deployed; publish a version (aws lambda publish-version)",
            ),
            (
                lambda_with("Name: f, Alias: live, CurrentVersion: \"0\", TargetVersion: \"2\"", ""),
                format!("{P}.CurrentVersion"),
                "versions start at 1",
            ),
            (
                lambda_with("Name: f, Alias: live, CurrentVersion: \"1\", TargetVersion: 1", ""),
                format!("{P}.TargetVersion"),
                "is the same as CurrentVersion",
            ),
            (
                lambda_with("Name: f, Alias: live, CurrentVersion: \"1\", TargetVersion: live", ""),
                format!("{P}.TargetVersion"),
                "not a published version",
            ),
            (
                lambda_with("Name: f, Alias: live, CurrentVersion: \"1\"", ""),
                format!("{P}.TargetVersion"),
                "is required",
            ),
            (
                lambda_with("Name: \"my fn\", Alias: live, CurrentVersion: \"1\", TargetVersion: \"2\"", ""),
                format!("{P}.Name"),
                "contains ' '",
            ),
            (
                lambda_with("Name: \"f:live\", Alias: live, CurrentVersion: \"1\", TargetVersion: \"2\"", ""),
                format!("{P}.Name"),
                "qualifier",
            ),
            (
                lambda_with("Name: f, Alias: \"2\", CurrentVersion: \"1\", TargetVersion: \"3\"", ""),
                format!("{P}.Alias"),
                "is a number, not an alias",
            ),
            (
                lambda_with("Name: f, Alias: $LATEST, CurrentVersion: \"1\", TargetVersion: \"3\"", ""),
                format!("{P}.Alias"),
                "$LATEST is not an alias",
            ),
            (
                lambda_with("Name: [f], Alias: live, CurrentVersion: \"1\", TargetVersion: \"2\"", ""),
                format!("{P}.Name"),
                "must be a string, not a list",
            ),
            (
                lambda_with(&format!("{GOOD_LAMBDA}, Version: 3"), ""),
                format!("{P}.Version"),
                "allowed: Name, Alias, CurrentVersion, TargetVersion",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - BeforeInstall: Fn\n"),
                "Hooks[0].BeforeInstall".to_string(),
                "BeforeInstall is an ECS hook; a Lambda AppSpec allows BeforeAllowTraffic, \
                 AfterAllowTraffic",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - PreTraffic: Fn\n"),
                "Hooks[0].PreTraffic".to_string(),
                "write BeforeAllowTraffic",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - BeforeAllowTraffic: A\n  - BeforeAllowTraffic: B\n"),
                "Hooks[1].BeforeAllowTraffic".to_string(),
                "given twice (also at Hooks[0].BeforeAllowTraffic)",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - AfterAllowTraffic: \"\"\n"),
                "Hooks[0].AfterAllowTraffic".to_string(),
                "must not be empty",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - AllowTraffic: Fn\n"),
                "Hooks[0].AllowTraffic".to_string(),
                "runs no hook",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - BeforeAlowTraffic: Fn\n"),
                "Hooks[0].BeforeAlowTraffic".to_string(),
                "did you mean BeforeAllowTraffic?",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Hooks:\n  - {BeforeAllowTraffic: A, AfterAllowTraffic: B}\n"),
                "Hooks[0]".to_string(),
                "single `EventName: FunctionName` entry",
            ),
            (
                lambda_with(GOOD_LAMBDA, "").replace("version: 0.0", "version: 1.0"),
                "version".to_string(),
                "must be 0.0",
            ),
            (
                lambda_with(GOOD_LAMBDA, "").replace("version: 0.0\n", ""),
                "version".to_string(),
                "is required",
            ),
            (
                lambda_with(GOOD_LAMBDA, "").replace("AWS::Lambda::Function", "AWS::Lambda::Alias"),
                "Resources[0].myFn.Type".to_string(),
                "use AWS::Lambda::Function or AWS::ECS::Service",
            ),
            (
                lambda_with(GOOD_LAMBDA, "Extra: 1\n"),
                "Extra".to_string(),
                "allowed: version, Resources, Hooks",
            ),
            (
                "version: 0.0\nResources:\n  - Type: AWS::Lambda::Function\n    Properties: {}\n"
                    .to_string(),
                "Resources[0]".to_string(),
                "missing the logical name",
            ),
            (
                "version: 0.0\nResources: []\n".to_string(),
                "Resources".to_string(),
                "exactly one resource; found 0",
            ),
            (
                "version: 0.0\nResources:\n  myFn: {Type: AWS::Lambda::Function}\n".to_string(),
                "Resources".to_string(),
                "must be a list",
            ),
            (
                ecs_with("TaskDefinition: web, LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}", ""),
                format!("{E}.TaskDefinition"),
                "has no revision",
            ),
            (
                ecs_with("TaskDefinition: \"<TASK_DEFINITION>\", LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}", ""),
                format!("{E}.TaskDefinition"),
                "CodePipeline placeholder",
            ),
            (
                ecs_with("TaskDefinition: \"arn:aws:ecs:us-east-1:12:task-definition/web:2\", LoadBalancerInfo: {ContainerName: web, ContainerPort: 80}", ""),
                format!("{E}.TaskDefinition"),
                "not a task definition ARN",
            ),
            (
                ecs_with("TaskDefinition: \"web:2\", LoadBalancerInfo: {ContainerName: web, ContainerPort: 70000}", ""),
                format!("{E}.LoadBalancerInfo.ContainerPort"),
                "70000 is out of range; use a whole number from 1 to 65535",
            ),
            (
                ecs_with("TaskDefinition: \"web:2\", LoadBalancerInfo: {ContainerPort: 80}", ""),
                format!("{E}.LoadBalancerInfo.ContainerName"),
                "is required",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, NetworkConfiguration: {{AwsvpcConfiguration: {{Subnets: [], SecurityGroups: [sg-1]}}}}"), ""),
                format!("{E}.NetworkConfiguration.AwsvpcConfiguration.Subnets"),
                "must list 1 to 16",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, NetworkConfiguration: {{AwsvpcConfiguration: {{Subnets: [subnet-1]}}}}"), ""),
                format!("{E}.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups"),
                "is required",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, NetworkConfiguration: {{AwsvpcConfiguration: {{Subnets: [subnet-1], SecurityGroups: [sg-1], AssignPublicIp: yes}}}}"), ""),
                format!("{E}.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp"),
                "must be ENABLED or DISABLED",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, NetworkConfiguration: {{}}"), ""),
                format!("{E}.NetworkConfiguration.AwsvpcConfiguration"),
                "is required",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, CapacityProviderStrategy: [{{Base: 1, CapacityProvider: A}}, {{Base: 2, CapacityProvider: B}}]"), ""),
                format!("{E}.CapacityProviderStrategy[1].Base"),
                "only one capacity provider may have a Base",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, CapacityProviderStrategy: [{{Weight: 1}}]"), ""),
                format!("{E}.CapacityProviderStrategy[0].CapacityProvider"),
                "is required",
            ),
            (
                ecs_with(&format!("{GOOD_ECS}, LaunchType: FARGATE"), ""),
                format!("{E}.LaunchType"),
                "allowed: TaskDefinition, LoadBalancerInfo, PlatformVersion",
            ),
            (
                ecs_with(GOOD_ECS, "Hooks:\n  - AfterAllowTestTraffic: \"fn name\"\n"),
                "Hooks[0].AfterAllowTestTraffic".to_string(),
                "contains ' '",
            ),
            (
                ecs_with(GOOD_ECS, "Hooks:\n  Install: Fn\n"),
                "Hooks.Install".to_string(),
                "an ECS AppSpec allows BeforeInstall, AfterInstall, AfterAllowTestTraffic",
            ),
        ];
    assert!(cases.len() >= 15);
    for (text, path, needle) in cases {
        let e = errors(&text);
        let found = e
            .at(&path)
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
    let text = "version: 2\nResources:\n  - myFn:\n      Type: AWS::Lambda::Function\n      \
                    Properties: {Name: f, Alias: \"1\", CurrentVersion: $LATEST}\nHooks:\n  - \
                    BeforeInstall: X\n";
    let e = errors(text);
    let paths: Vec<&str> = e.0.iter().map(|x| x.path.as_str()).collect();
    for expected in [
        "version",
        "Resources[0].myFn.Properties.Alias",
        "Resources[0].myFn.Properties.CurrentVersion",
        "Resources[0].myFn.Properties.TargetVersion",
        "Hooks[0].BeforeInstall",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert_eq!(e.0.len(), 5, "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("invalid AppSpec:\n  - version: must be 0.0"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 6);
}

#[test]
fn syntax_problems_give_one_clear_error() {
    let e = errors("");
    assert_eq!(e.0.len(), 1);
    assert_eq!(e.0[0].to_string(), "AppSpec: is empty");
    let e = errors("# only a comment\n");
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].message.contains("is empty"), "{e}");
    let e = errors("version: 0.0\nResources:\n  - myFn: [\n");
    assert_eq!(e.0.len(), 1);
    assert!(
        e.0[0].message.contains("not valid YAML") && e.0[0].message.contains("line"),
        "{e}"
    );
    let e = errors("{\"version\": 0.0,\n \"Resources\": [}");
    assert!(
        e.0[0].message.contains("not valid JSON") && e.0[0].message.contains("line 2"),
        "{e}"
    );
    let e = errors("{\"version\": 0.0, \"version\": 0.0}");
    assert!(e.0[0].message.contains("duplicate key"), "{e}");
    let e = errors("just some words");
    assert!(e.0[0].message.contains("must be a mapping"), "{e}");
    let big = format!("{LAMBDA_YAML}#{}\n", "x".repeat(70_000));
    let e = errors(&big);
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].message.contains("64 KiB"), "{e}");
    let e = errors(&lambda_with(GOOD_LAMBDA, "").replace("Name: f", "Name: !Ref Fn"));
    assert_eq!(e.0[0].path, format!("{P}.Name"));
    assert!(e.0[0].message.contains("!Ref"), "{e}");
}

#[test]
fn to_document_round_trips() {
    for spec in [expected_lambda(), expected_ecs()] {
        let doc = spec.to_document();
        assert_eq!(AppSpec::parse(&doc.to_string()).as_ref(), Ok(&spec));
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        // Key order depends on serde_json's `preserve_order`, which other crates may enable.
        assert!(yaml.lines().any(|l| l == "version: 0.0"), "{yaml}");
        assert_eq!(AppSpec::parse(&yaml).as_ref(), Ok(&spec));
        let stored = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<AppSpec>(&stored).unwrap(), spec);
    }
}

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,20}"
}

proptest! {
    #[test]
    fn lambda_appspecs_round_trip(
        logical in name_strategy(),
        name in name_strategy(),
        alias in "[a-z][a-z0-9_-]{0,10}",
        current in 1u64..100_000,
        target in 1u64..100_000,
        before in proptest::option::of(name_strategy()),
        after in proptest::option::of(name_strategy()),
    ) {
        let mut hooks = Vec::new();
        if let Some(f) = before {
            hooks.push(HookSpec { event: LifecycleEvent::BeforeAllowTraffic, function: f });
        }
        if let Some(f) = after {
            hooks.push(HookSpec { event: LifecycleEvent::AfterAllowTraffic, function: f });
        }
        let spec = AppSpec {
            version: "0.0".into(),
            resource: AppSpecResource::Lambda(LambdaResource {
                logical_name: logical,
                name,
                alias,
                current_version: current.to_string(),
                target_version: target.to_string(),
            }),
            hooks,
        };
        let yaml = serde_yaml_ng::to_string(&spec.to_document()).unwrap();
        let parsed = AppSpec::parse(&yaml);
        if current == target {
            let e = parsed.unwrap_err();
            prop_assert!(e.0.iter().any(|x| x.path.ends_with("Properties.TargetVersion")));
        } else {
            prop_assert_eq!(parsed, Ok(spec));
        }
    }

    #[test]
    fn ecs_ports_are_checked(port in 0u64..=70_000) {
        let text = ecs_with(
            &format!("TaskDefinition: \"web:2\", LoadBalancerInfo: {{ContainerName: web, ContainerPort: {port}}}"),
            "",
        );
        let parsed = AppSpec::parse(&text);
        if (1..=65535).contains(&port) {
            prop_assert_eq!(parsed.unwrap().ecs().map(|r| u64::from(r.container_port)), Some(port));
        } else {
            let path = format!("{E}.LoadBalancerInfo.ContainerPort");
            prop_assert!(parsed.unwrap_err().at(&path).is_some());
        }
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,300}") {
        if let Err(e) = AppSpec::parse(&text) {
            prop_assert!(!e.0.is_empty());
        }
    }
}
