//! Tests of the configuration document (CodeDeploy's JSON, or YAML): parsing, bad documents
//! reported with their paths, syntax errors with line and column, round trips.
use super::tests::*;
use super::*;

#[test]
fn parses_json_and_yaml_documents() {
    let c = DeploymentConfig::parse_document(FULL_EXAMPLE).unwrap();
    assert_eq!(
        c,
        DeploymentConfig {
            name: "MyCanary20".into(),
            platform: ComputePlatform::Lambda,
            routing: TrafficRouting::TimeBasedCanary {
                percentage: 20,
                interval_minutes: 15
            },
            bake_after_seconds: 300,
        }
    );
    let yaml = "deploymentConfigName: Steps1\ncomputePlatform: ECS\ntrafficRoutingConfig:\n  \
                    type: Steps\n  steps:\n    - {weight: 5, bakeSeconds: 60}\n    - weight: 50\n      \
                    bakeSeconds: 120\n";
    let c = DeploymentConfig::parse_document(yaml).unwrap();
    assert_eq!(
        c,
        DeploymentConfig {
            name: "Steps1".into(),
            ..steps(&[(5, 60), (50, 120)], 0)
        }
    );
    let c = DeploymentConfig::parse_document(
        "deploymentConfigName: L\ntrafficRoutingConfig: {type: TimeBasedLinear, \
             timeBasedLinear: {linearPercentage: 25.0, linearInterval: 2}}",
    )
    .unwrap();
    assert_eq!(c.platform, ComputePlatform::Lambda);
    assert_eq!(
        c.routing,
        TrafficRouting::TimeBasedLinear {
            percentage: 25,
            interval_minutes: 2
        }
    );
    let c = DeploymentConfig::parse_document(
        r#"{"deploymentConfigName": "A", "trafficRoutingConfig": {"type": "AllAtOnce"}}"#,
    )
    .unwrap();
    assert_eq!(c.routing, TrafficRouting::AllAtOnce);
}

fn doc_error(text: &str) -> ConfigError {
    DeploymentConfig::parse_document(text).unwrap_err()
}

#[test]
fn bad_documents_are_reported_with_paths() {
    let base = |routing: &str| {
        format!(r#"{{"deploymentConfigName": "X", "trafficRoutingConfig": {routing}}}"#)
    };
    let cases: Vec<(String, &str, &str)> = vec![
            (
                base(r#"{"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 10.5, "canaryInterval": 5}}"#),
                "trafficRoutingConfig.timeBasedCanary.canaryPercentage",
                "must be a whole number",
            ),
            (
                base(r#"{"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 0, "canaryInterval": 5}}"#),
                "trafficRoutingConfig.timeBasedCanary.canaryPercentage",
                "0 is out of range; use a whole number from 1 to 99",
            ),
            (
                base(r#"{"type": "TimeBasedCanary", "timeBasedCanary": {"canaryPercentage": 300, "canaryInterval": 5}}"#),
                "trafficRoutingConfig.timeBasedCanary.canaryPercentage",
                "300 is out of range",
            ),
            (
                base(r#"{"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": -1}}"#),
                "trafficRoutingConfig.timeBasedLinear.linearInterval",
                "-1 is out of range",
            ),
            (
                base(r#"{"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": "10", "linearInterval": 1}}"#),
                "trafficRoutingConfig.timeBasedLinear.linearPercentage",
                "without quotes",
            ),
            (
                base(r#"{"type": "TimeBasedCanary", "timeBasedLinear": {"linearPercentage": 10, "linearInterval": 1}}"#),
                "trafficRoutingConfig.timeBasedLinear",
                "only timeBasedCanary may be given",
            ),
            (
                base(r#"{"type": "TimeBasedCanary"}"#),
                "trafficRoutingConfig.timeBasedCanary",
                "is required",
            ),
            (
                base(r#"{"type": "Canary"}"#),
                "trafficRoutingConfig.type",
                "TimeBasedCanary, TimeBasedLinear, AllAtOnce, Steps",
            ),
            (
                base(r#"{"type": "Steps", "steps": [{"weight": 5}]}"#),
                "trafficRoutingConfig.steps[0].bakeSeconds",
                "is required",
            ),
            (
                base(r#"{"type": "Steps", "steps": [{"weight": 5, "bake": 1}]}"#),
                "trafficRoutingConfig.steps[0].bake",
                "allowed: weight, bakeSeconds",
            ),
            (
                base(r#"{"type": "AllAtOnce", "steps": []}"#),
                "trafficRoutingConfig.steps",
                "is not allowed with type AllAtOnce",
            ),
            (
                r#"{"deploymentConfigName": "X", "TrafficRoutingConfig": {"type": "AllAtOnce"}}"#
                    .to_string(),
                "TrafficRoutingConfig",
                "did you mean trafficRoutingConfig?",
            ),
            (
                r#"{"deploymentConfigName": "X", "computePlatform": "Server", "trafficRoutingConfig": {"type": "AllAtOnce"}}"#
                    .to_string(),
                "computePlatform",
                "not supported",
            ),
            (
                r#"{"deploymentConfigName": "X", "computePlatform": "ecs", "trafficRoutingConfig": {"type": "AllAtOnce"}}"#
                    .to_string(),
                "computePlatform",
                "exactly as \"ECS\"",
            ),
            (
                r#"{"trafficRoutingConfig": {"type": "AllAtOnce"}}"#.to_string(),
                "deploymentConfigName",
                "is required",
            ),
            (
                r#"{"deploymentConfigName": "X", "trafficRoutingConfig": {"type": "AllAtOnce"}, "bakeAfterSeconds": 1e9}"#
                    .to_string(),
                "bakeAfterSeconds",
                "from 0 to 172800",
            ),
            (
                "deploymentConfigName: X\ntrafficRoutingConfig: !Ref Routing\n".to_string(),
                "trafficRoutingConfig",
                "YAML tag !Ref",
            ),
            ("[1, 2]".to_string(), "document", "must be an object"),
        ];
    for (text, field, needle) in cases {
        let e = doc_error(&text);
        assert_eq!(e.field(), Some(field), "{text} -> {e}");
        assert!(e.to_string().contains(needle), "{text} -> {e}");
    }
}

#[test]
fn syntax_errors_carry_line_and_column() {
    let e = doc_error("{\"deploymentConfigName\": \"X\",\n  \"trafficRoutingConfig\": }");
    let ConfigError::Syntax { message } = &e else {
        panic!("{e:?}")
    };
    assert!(
        message.contains("not valid JSON") && message.contains("line 2"),
        "{message}"
    );
    let e = doc_error("deploymentConfigName: X\ntrafficRoutingConfig: [\n");
    let ConfigError::Syntax { message } = &e else {
        panic!("{e:?}")
    };
    assert!(
        message.contains("not valid YAML") && message.contains("line"),
        "{message}"
    );
    let e = doc_error(r#"{"deploymentConfigName": "X", "deploymentConfigName": "Y"}"#);
    assert!(e.to_string().contains("duplicate key"), "{e}");
    assert!(doc_error("  \n").to_string().contains("empty"));
    let big = format!(
        "{{\"deploymentConfigName\": \"{}\"}}",
        "x".repeat(MAX_DOCUMENT_BYTES)
    );
    assert!(doc_error(&big).to_string().contains("64 KiB"));
}

#[test]
fn documents_round_trip() {
    let mut configs = DeploymentConfig::predefined_all();
    configs.push(canary(20, 15));
    configs.push(linear(33, 7));
    configs.push(steps(&[(1, 0), (2, 5), (100, 9)], 11));
    configs.push(DeploymentConfig {
        routing: TrafficRouting::AllAtOnce,
        ..canary(1, 1)
    });
    for c in configs {
        let doc = c.to_document();
        assert_eq!(DeploymentConfig::from_document(&doc).as_ref(), Ok(&c));
        assert_eq!(
            DeploymentConfig::parse_document(&doc.to_string()).as_ref(),
            Ok(&c)
        );
        let yaml = serde_yaml_ng::to_string(&doc).unwrap();
        assert_eq!(DeploymentConfig::parse_document(&yaml).as_ref(), Ok(&c));
        let stored = serde_json::to_string(&c).unwrap();
        assert_eq!(
            serde_json::from_str::<DeploymentConfig>(&stored).unwrap(),
            c
        );
    }
    // Deserializing validates.
    let bad = serde_json::to_string(&canary(0, 5)).unwrap();
    let e = serde_json::from_str::<DeploymentConfig>(&bad).unwrap_err();
    assert!(e.to_string().contains("canaryPercentage"), "{e}");
}
