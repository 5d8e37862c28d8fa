//! Checks `template.yaml` against the workspace: every function crate has a function
//! resource that builds its binary, every function resource builds a binary that exists,
//! and the functions that run the tick are granted every action the tick's adapters call —
//! and nothing outside a listed set.

use cutover_tests::repo;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};

fn template() -> Value {
    let text = std::fs::read_to_string(repo().join("template.yaml")).expect("template.yaml");
    serde_yaml_ng::from_str(&text).expect("template.yaml parses")
}

/// `[[bin]]` name of every crate under `functions/`, by directory.
fn function_binaries() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(repo().join("functions")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let bin = manifest
            .split("[[bin]]")
            .nth(1)
            .and_then(|b| b.lines().find(|l| l.trim_start().starts_with("name")))
            .and_then(|l| l.split('"').nth(1))
            .unwrap_or_else(|| panic!("{} has no [[bin]] name", dir.display()))
            .to_string();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        out.insert(format!("functions/{name}"), bin);
    }
    out
}

fn functions(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(k, r)| (k.as_str().unwrap().to_string(), r))
        .collect()
}

/// What SAM's policy templates used here expand to.
fn policy_template(name: &str) -> Vec<&'static str> {
    match name {
        "DynamoDBCrudPolicy" => vec![
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
        ],
        "DynamoDBReadPolicy" => vec![
            "dynamodb:GetItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
        ],
        "SNSPublishMessagePolicy" => vec!["sns:Publish"],
        "LambdaInvokePolicy" => vec!["lambda:InvokeFunction"],
        other => panic!("policy template {other} is not known to this test: add its actions"),
    }
}

fn statement_actions(statements: &Value, out: &mut BTreeSet<String>) {
    for st in statements.as_sequence().into_iter().flatten() {
        if st["Effect"] != "Allow" {
            continue;
        }
        match &st["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Sequence(list) => {
                out.extend(list.iter().filter_map(|a| a.as_str().map(String::from)));
            }
            other => panic!("unexpected Action {other:?}"),
        }
    }
}

/// Every action a function resource is allowed, with managed policies of the template
/// (`!Ref`) and SAM policy templates resolved.
fn granted(t: &Value, function: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in function["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        match p {
            Value::Tagged(tagged) if tagged.tag == "!Ref" => {
                let name = tagged.value.as_str().unwrap();
                let doc = &t["Resources"][name]["Properties"]["PolicyDocument"];
                assert!(
                    !doc.is_null(),
                    "policy {name} is not a managed policy of the template"
                );
                statement_actions(&doc["Statement"], &mut out);
            }
            Value::Mapping(m) => {
                for (k, v) in m {
                    let k = k.as_str().unwrap();
                    if k == "Statement" {
                        statement_actions(v, &mut out);
                    } else {
                        out.extend(policy_template(k).into_iter().map(String::from));
                    }
                }
            }
            other => panic!("unexpected policy entry {other:?}"),
        }
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The calls a tick can make (Lambda and ECS deployments, hooks, alarms, notifications):
/// `tests/calls.rs` counts them on real deployments.
const TICK: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "lambda:GetAlias",
    "lambda:UpdateAlias",
    "lambda:InvokeFunction",
    "cloudwatch:DescribeAlarms",
    "sns:Publish",
    "events:PutEvents",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:ModifyListener",
    "ecs:DescribeTaskSets",
    "ecs:CreateTaskSet",
    "ecs:UpdateServicePrimaryTaskSet",
    "ecs:DeleteTaskSet",
    "iam:PassRole",
];

/// What `start` calls: the pre-flight of both platforms, the record, the driver.
const START: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "lambda:GetAlias",
    "lambda:ListVersionsByFunction",
    "lambda:GetFunctionConfiguration",
    "cloudwatch:DescribeAlarms",
    "ecs:DescribeServices",
    "ecs:DescribeTaskSets",
    "ecs:DescribeTaskDefinition",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTargetGroups",
    "states:StartExecution",
];

/// What `pipeline` calls: a start, and CodePipeline's job results. (It reads the artifact
/// with the job's own credentials.)
const PIPELINE_EXTRAS: &[&str] = &[
    "codepipeline:PutJobSuccessResult",
    "codepipeline:PutJobFailureResult",
];

/// What `query` calls: it only reads the table (records by key, the `list` index).
const QUERY: &[&str] = &["dynamodb:GetItem", "dynamodb:Query"];

/// Granted by SAM's table policy template beyond what the code calls.
const TABLE_EXTRAS: &[&str] = &[
    "dynamodb:Scan",
    "dynamodb:BatchWriteItem",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:UpdateItem",
];

#[test]
fn every_function_crate_has_a_resource_and_every_resource_a_crate() {
    let t = template();
    let crates = function_binaries();
    let mut seen = BTreeMap::new();
    for (name, f) in functions(&t) {
        let uri = f["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: CodeUri"));
        let bin = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: Metadata.BuildProperties.Binary"));
        assert_eq!(
            crates.get(uri).map(String::as_str),
            Some(bin),
            "{name}: CodeUri {uri} does not build binary {bin}"
        );
        assert!(
            repo().join(uri).join("src/main.rs").exists(),
            "{name}: {uri}/src/main.rs is missing"
        );
        seen.insert(uri.to_string(), name);
    }
    for (dir, bin) in &crates {
        assert!(
            seen.contains_key(dir),
            "{dir} (binary {bin}) has no function resource"
        );
    }
    // The global handler is the custom runtime's bootstrap that cargo-lambda builds.
    assert_eq!(t["Globals"]["Function"]["Handler"], "bootstrap");
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
}

#[test]
fn tick_and_start_permissions_cover_their_calls_and_no_more() {
    let t = template();
    let tick = set(TICK);
    let start = set(START);
    let pipeline: BTreeSet<String> = start.union(&set(PIPELINE_EXTRAS)).cloned().collect();
    let query = set(QUERY);
    let extras = set(TABLE_EXTRAS);
    // An input (stop, continue, a hook's report, an alarm) wakes the driver: it lists the
    // deployment's executions, starts a new one and stops the sleeping one; `drive` lists
    // and starts.
    let woken: BTreeSet<String> = tick
        .union(&set(&[
            "states:ListExecutions",
            "states:StartExecution",
            "states:StopExecution",
        ]))
        .cloned()
        .collect();
    // The driver's tick starts its own successor execution.
    let advance: BTreeSet<String> = tick
        .union(&set(&["states:StartExecution"]))
        .cloned()
        .collect();
    for (name, f) in functions(&t) {
        let bin = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let needed = match bin {
            "start" => &start,
            "pipeline" => &pipeline,
            "query" => &query,
            "control" | "alarm" | "hook-report" => &woken,
            "advance" => &advance,
            _ => &tick,
        };
        let got = granted(&t, f);
        let missing: Vec<_> = needed.difference(&got).collect();
        assert!(missing.is_empty(), "{name} is not granted {missing:?}");
        let allowed: BTreeSet<String> = needed.union(&extras).cloned().collect();
        let more: Vec<_> = got.difference(&allowed).collect();
        assert!(
            more.is_empty(),
            "{name} is granted more than it calls: {more:?}"
        );
    }
}

/// The statements of the template's managed policy `name` that allow `action`.
fn statements_allowing<'a>(t: &'a Value, name: &str, action: &str) -> Vec<&'a Value> {
    t["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|st| {
            let mut acts = BTreeSet::new();
            statement_actions(&Value::Sequence(vec![(*st).clone()]), &mut acts);
            acts.contains(action)
        })
        .collect()
}

#[test]
fn hooks_topics_and_the_bus_are_limited_by_parameters_not_wildcards() {
    let t = template();
    for (action, parameter) in [
        ("lambda:InvokeFunction", "AllowedHookFunctions"),
        ("sns:Publish", "AllowedGroupTopics"),
        ("events:PutEvents", "EventBusName"),
    ] {
        let sts = statements_allowing(&t, "TrafficControlPolicy", action);
        assert_eq!(sts.len(), 1, "{action}: one statement");
        let resource = serde_yaml_ng::to_string(&sts[0]["Resource"]).unwrap();
        assert!(
            resource.contains(parameter),
            "{action} must be limited by parameter {parameter}, got {resource}"
        );
        assert!(
            !resource.contains(":function:*\n") && !resource.trim().ends_with(":*"),
            "{action} must not be granted on every resource: {resource}"
        );
        if resource.contains("arn:*:") {
            // Wildcard partition, region and account in the ARN: the condition pins them.
            let cond = serde_yaml_ng::to_string(&sts[0]["Condition"]).unwrap();
            assert!(
                cond.contains("aws:ResourceAccount") && cond.contains("aws:RequestedRegion"),
                "{action}: {cond}"
            );
        }
    }
    // The functions are told the same patterns, so start refuses other hooks up front.
    let env = serde_yaml_ng::to_string(&t["Globals"]["Function"]["Environment"]).unwrap();
    for (var, parameter) in [
        ("CUTOVER_ALLOWED_HOOKS", "AllowedHookFunctions"),
        ("CUTOVER_ALARM_POLL_SECONDS", "AlarmPollSeconds"),
        ("CUTOVER_HOOK_TIMEOUT_SECONDS", "HookTimeoutSeconds"),
        ("CUTOVER_EVENT_RETENTION_DAYS", "EventRetentionDays"),
        ("CUTOVER_TABLE", "Table"),
    ] {
        let line = env
            .lines()
            .skip_while(|l| !l.contains(var))
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            line.contains(parameter),
            "{var} is not set from {parameter}: {line}"
        );
        assert!(
            t["Parameters"][parameter].is_mapping() || t["Resources"][parameter].is_mapping(),
            "{parameter} is neither a parameter nor a resource"
        );
    }
}

#[test]
fn the_table_expires_event_logs_with_the_attribute_the_store_writes() {
    let t = template();
    let ttl = &t["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"], cutover_aws::store::EXPIRES_AT);
    assert_eq!(ttl["Enabled"], true);
    let props = &t["Resources"]["Table"]["Properties"];
    assert_eq!(props["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(props["SSESpecification"]["SSEEnabled"], true);
}

#[test]
fn the_outputs_the_cli_reads_exist() {
    let t = template();
    for output in [
        "StartFunctionName",
        "ControlFunctionName",
        "PipelineFunctionName",
        "TableName",
        "DriverStateMachineArn",
        "HookReportFunctionArn",
    ] {
        assert!(
            t["Outputs"][output]["Value"] != Value::Null,
            "output {output}"
        );
    }
    let sm = &t["Resources"]["DriverStateMachine"]["Properties"];
    assert_eq!(sm["Type"], "STANDARD");
    let uri = sm["DefinitionUri"].as_str().unwrap();
    assert!(
        uri.starts_with("statemachine/") && repo().join(uri).exists(),
        "{uri}"
    );
}

/// The text of a `!Sub` (or plain) string value.
fn sub_text(v: &Value) -> &str {
    match v {
        Value::Tagged(t) => t.value.as_str().expect("a !Sub string"),
        other => other.as_str().expect("a string"),
    }
}

#[test]
fn the_dashboard_searches_every_metric_the_functions_emit_by_its_dimensions() {
    let t = template();
    let body = sub_text(&t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]);
    // Every ${...} stands for a name or the region; any string parses as JSON there.
    let mut json = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("${") {
        json.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("closed ${") + at;
        json.push('X');
        rest = &rest[end + 1..];
    }
    json.push_str(rest);
    let body: serde_json::Value = serde_json::from_str(&json).expect("DashboardBody is JSON");
    let mut searched = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        assert!(widget["properties"]["region"].is_string(), "{widget}");
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            let Some(expr) = row[0]["expression"].as_str() else {
                continue;
            };
            // SEARCH('{"NS",Dim,...} MetricName="Name"', ...)
            let keys = expr
                .split('{')
                .nth(1)
                .and_then(|s| s.split('}').next())
                .unwrap();
            let mut dims: Vec<&str> = keys.split(',').skip(1).collect();
            dims.sort_unstable();
            let name = expr
                .split("MetricName=\"")
                .nth(1)
                .and_then(|s| s.split('"').next());
            searched.insert((name.unwrap().to_string(), dims.join(",")));
        }
    }
    for (name, sets) in cutover_aws::metrics::METRICS {
        let shown = searched.iter().filter(|(n, _)| n == name).count();
        assert!(shown > 0, "the dashboard does not show {name}");
        for (n, dims) in searched.iter().filter(|(n, _)| n == name) {
            let emitted = sets.iter().any(|s| {
                let mut s = s.to_vec();
                s.sort_unstable();
                s.join(",") == *dims
            });
            assert!(
                emitted,
                "{n} is searched by {{{dims}}}, a set it is not emitted with"
            );
        }
    }
}

#[test]
fn functions_log_json_at_a_level_lambda_filters_on() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    let logging = &globals["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert!(matches!(&logging["ApplicationLogLevel"], Value::Tagged(r) if r.value == "LogLevel"));
    let levels = t["Parameters"]["LogLevel"]["AllowedValues"]
        .as_sequence()
        .expect("LogLevel has AllowedValues");
    // The metrics are INFO lines: a quieter level would drop them.
    for level in levels {
        assert!(
            matches!(level.as_str(), Some("INFO" | "DEBUG")),
            "{level:?}"
        );
    }
    // The runtime reads Lambda's level; a RUST_LOG would override it.
    let env = globals["Environment"]["Variables"].as_mapping().unwrap();
    assert!(!env.contains_key("RUST_LOG"));
    assert!(env.contains_key(cutover_aws::metrics::NAMESPACE_ENV));
}

#[test]
fn the_allowed_targets_reach_every_function_and_empty_is_called_out() {
    let t = template();
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    let Value::Tagged(join) = &env[cutover_aws::allowed::ALLOWED_TARGETS_ENV] else {
        panic!("CUTOVER_ALLOWED_TARGETS is not a !Join of the parameter");
    };
    assert_eq!(join.tag.to_string(), "!Join");
    assert!(
        matches!(&join.value[1], Value::Tagged(r) if r.value == "AllowedTargets"),
        "{:?}",
        join.value
    );
    let p = &t["Parameters"]["AllowedTargets"];
    assert_eq!(p["Default"], "");
    let description = p["Description"].as_str().unwrap();
    assert!(
        description.contains("EMPTY ALLOWS EVERY TARGET"),
        "{description}"
    );
}

/// The value a statement's `StringEquals` condition requires of `key`.
fn string_equals<'a>(st: &'a Value, key: &str) -> &'a Value {
    &st["Condition"]["StringEquals"][key]
}

fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap()
}

/// `v` is `!Tag value`; the value.
fn tagged<'a>(v: &'a Value, tag: &str) -> &'a Value {
    match v {
        Value::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("expected {tag}, got {other:?}"),
    }
}

#[path = "template/iam.rs"]
mod iam;
#[path = "template/stack.rs"]
mod stack;
