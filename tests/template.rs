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

// ---------------------------------------------------------------------------------------
// What may be deployed: IAM bounds on the actions that move traffic, manage task sets and
// pass roles
// ---------------------------------------------------------------------------------------

/// The tag (key and value) a function, listener or ECS service must carry for Cutover's
/// role to move its traffic, where AWS evaluates a resource's tags for the action.
const MANAGED_TAG: (&str, &str) = ("aws:ResourceTag/cutover:managed", "true");

/// Actions that move traffic, manage task sets or pass a role.
const SENSITIVE: &[&str] = &[
    "lambda:UpdateAlias",
    "elasticloadbalancing:ModifyListener",
    "elasticloadbalancing:ModifyRule",
    "ecs:CreateTaskSet",
    "ecs:UpdateTaskSet",
    "ecs:DeleteTaskSet",
    "ecs:UpdateServicePrimaryTaskSet",
    "iam:PassRole",
];

/// `pattern` (an IAM action, `*` and `?` allowed, case-insensitive) matches `action`.
fn glob(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match (p.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], a) || (!a.is_empty() && go(p, &a[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => go(&p[1..], &a[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// Every IAM statement in the template, with where it is: managed and inline policies of
/// the template's own, and the `Statement` entries of SAM functions and state machines.
fn all_statements(t: &Value) -> Vec<(String, &Value)> {
    let mut out = Vec::new();
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let props = &r["Properties"];
        let policies = props["Policies"].as_sequence().into_iter().flatten();
        let docs: Vec<&Value> = match r["Type"].as_str().unwrap() {
            "AWS::IAM::ManagedPolicy" | "AWS::IAM::Policy" => {
                vec![&props["PolicyDocument"]["Statement"]]
            }
            "AWS::IAM::Role" => policies
                .map(|p| &p["PolicyDocument"]["Statement"])
                .collect(),
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine" => {
                policies.map(|p| &p["Statement"]).collect()
            }
            _ => vec![],
        };
        for doc in docs {
            for st in doc.as_sequence().into_iter().flatten() {
                out.push((name.to_string(), st));
            }
        }
    }
    out
}

/// The actions a statement names (one string or a list).
fn actions_of(st: &Value) -> Vec<String> {
    let mut acts = BTreeSet::new();
    statement_actions(&Value::Sequence(vec![st.clone()]), &mut acts);
    acts.into_iter().collect()
}

/// The template's Allow statements whose actions cover `action`, wildcards included.
fn allowing<'a>(t: &'a Value, action: &str) -> Vec<(String, &'a Value)> {
    all_statements(t)
        .into_iter()
        .filter(|(_, st)| st["Effect"] == "Allow")
        .filter(|(_, st)| actions_of(st).iter().any(|a| glob(a, action)))
        .collect()
}

fn yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap()
}

/// The resource strings of a statement that are written out (plain or `!Sub`); a
/// resource built from a parameter (`!Split`, `!Join`) is not among them.
fn literal_resources(resource: &Value) -> Vec<&str> {
    fn one(v: &Value) -> Option<&str> {
        match v {
            Value::String(s) => Some(s.as_str()),
            Value::Tagged(t) if t.tag == "!Sub" => t.value.as_str(),
            _ => None,
        }
    }
    match resource {
        Value::Sequence(list) => list.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// `resource` is `*`, or an ARN naming every resource of its type (`function:*`,
/// `listener/app/*`, `task-set/*`, `role/*`): everything of that kind in the account.
fn covers_everything(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    // `${AWS::Partition}` and the like stand for one field each.
    let mut arn = String::new();
    let mut rest = resource;
    while let Some(at) = rest.find("${") {
        arn.push_str(&rest[..at]);
        arn.push('X');
        rest = rest[at..].split_once('}').map_or("", |(_, r)| r);
    }
    arn.push_str(rest);
    let Some(part) = arn.splitn(6, ':').nth(5) else {
        return false;
    };
    let part = part.trim_end_matches('*');
    part.is_empty()
        || part
            .strip_suffix(':')
            .is_some_and(|p| !p.contains(['/', ':']))
        || part
            .strip_suffix('/')
            .is_some_and(|p| p.split('/').count() <= 2 && !p.contains([':', '*']))
}

#[test]
fn nothing_that_moves_traffic_manages_task_sets_or_passes_roles_is_unscoped() {
    // The shapes the rule knows.
    assert!(covers_everything("*"));
    assert!(covers_everything(
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:*"
    ));
    assert!(covers_everything(
        "arn:aws:elasticloadbalancing:r:1:listener/app/*"
    ));
    assert!(covers_everything("arn:aws:ecs:r:1:task-set/*"));
    assert!(covers_everything("arn:aws:iam::1:role/*"));
    assert!(!covers_everything("arn:aws:iam::1:role/${TaskRolePattern}"));
    assert!(!covers_everything("arn:aws:lambda:r:1:function:orders-*"));
    let t = template();
    for (name, st) in all_statements(&t) {
        assert!(
            st["NotAction"].is_null() && st["NotResource"].is_null(),
            "{name}: NotAction / NotResource grant more than they name: {}",
            yaml(st)
        );
    }
    for action in SENSITIVE {
        for (name, st) in allowing(&t, action) {
            let everything = literal_resources(&st["Resource"])
                .into_iter()
                .find(|r| covers_everything(r));
            let condition = &st["Condition"];
            let unconditioned =
                condition.is_null() || condition.as_mapping().is_some_and(|m| m.is_empty());
            assert!(
                !(everything.is_some() && unconditioned),
                "{name} grants {action} on {everything:?} without a condition: {}",
                yaml(st)
            );
            // iam:PassedToService says to which service, not which role.
            if *action == "iam:PassRole" {
                assert!(
                    everything.is_none(),
                    "{name} may pass every role: {}",
                    yaml(st)
                );
            }
        }
    }
}

/// The value a statement's `StringEquals` condition requires of `key`.
fn string_equals<'a>(st: &'a Value, key: &str) -> &'a Value {
    &st["Condition"]["StringEquals"][key]
}

#[test]
fn traffic_task_sets_and_roles_are_bounded_by_the_managed_tag_or_a_parameter() {
    let t = template();
    let (tag, value) = MANAGED_TAG;
    // Where AWS evaluates the resource's tags for the action (Service Authorization
    // Reference): the function (UpdateAlias), the listener or rule (ModifyListener,
    // ModifyRule), the service (UpdateServicePrimaryTaskSet). Plus the ARN parameter where
    // there is one.
    for (action, parameter) in [
        ("lambda:UpdateAlias", Some("TargetFunctions")),
        ("elasticloadbalancing:ModifyListener", None),
        ("elasticloadbalancing:ModifyRule", None),
        ("ecs:UpdateServicePrimaryTaskSet", Some("TargetServices")),
    ] {
        let sts = allowing(&t, action);
        if TICK.contains(&action) {
            assert!(
                !sts.is_empty(),
                "the tick needs {action}: no statement grants it"
            );
        }
        for (name, st) in sts {
            assert_eq!(
                string_equals(st, tag),
                value,
                "{name}: {action} without the condition {tag} = {value}: {}",
                yaml(st)
            );
            if let Some(parameter) = parameter {
                let resource = yaml(&st["Resource"]);
                assert!(
                    resource.contains(parameter),
                    "{name}: {action} is not limited by {parameter}: {resource}"
                );
            }
        }
    }
    // Task sets: the resource AWS authorizes is the task set (new, or the one deleted),
    // whose tags say nothing of the service, so the ARN is what bounds them.
    for action in [
        "ecs:CreateTaskSet",
        "ecs:DeleteTaskSet",
        "ecs:UpdateTaskSet",
    ] {
        let sts = allowing(&t, action);
        if TICK.contains(&action) {
            assert!(
                !sts.is_empty(),
                "the tick needs {action}: no statement grants it"
            );
        }
        for (name, st) in sts {
            let resource = yaml(&st["Resource"]);
            assert!(
                resource.contains("TargetServices") && !resource.contains("task-set/*\n"),
                "{name}: {action} is not limited to TargetServices: {resource}"
            );
            // Wildcard partition, region and account in the ARN: the condition pins them.
            assert_eq!(
                *tagged(string_equals(st, "aws:ResourceAccount"), "!Ref"),
                "AWS::AccountId",
                "{name}: {action}"
            );
            assert_eq!(
                *tagged(string_equals(st, "aws:RequestedRegion"), "!Ref"),
                "AWS::Region",
                "{name}: {action}"
            );
        }
    }
    let passes = allowing(&t, "iam:PassRole");
    assert!(!passes.is_empty(), "the tick needs iam:PassRole");
    for (name, st) in passes {
        let resource = yaml(&st["Resource"]);
        assert!(
            resource.contains("role/${TaskRolePattern}") && resource.contains("AWS::AccountId"),
            "{name}: iam:PassRole is not limited to TaskRolePattern roles of this account: {resource}"
        );
        assert_eq!(
            string_equals(st, "iam:PassedToService"),
            "ecs-tasks.amazonaws.com",
            "{name}: iam:PassRole to any service"
        );
    }
    // Each bound defaults to everything, so each parameter says so in capitals.
    for (parameter, default) in [
        ("TargetFunctions", "*"),
        ("TargetServices", "*/*"),
        ("TaskRolePattern", "*"),
    ] {
        let p = &t["Parameters"][parameter];
        assert_eq!(p["Default"], default, "{parameter}");
        let description = p["Description"].as_str().unwrap();
        assert!(
            description.contains(&format!("{default} (THE DEFAULT) LETS THE ROLE")),
            "{parameter}: {description}"
        );
    }
}

#[test]
fn every_checkov_skip_gives_its_reason() {
    let t = template();
    let mut skips = 0;
    for (name, r) in t["Resources"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        let skip = &r["Metadata"]["checkov"]["skip"];
        for s in skip.as_sequence().into_iter().flatten() {
            skips += 1;
            let id = s["id"].as_str().unwrap_or_default();
            assert!(
                id.starts_with("CKV"),
                "{name}: checkov skip without an id: {s:?}"
            );
            let comment = s["comment"].as_str().unwrap_or_default().trim();
            assert!(
                comment.split_whitespace().count() >= 5,
                "{name}: checkov skip {id} gives no reason: {comment:?}"
            );
        }
        assert!(
            skip.is_null() || skip.is_sequence(),
            "{name}: checkov skip is not a list"
        );
    }
    assert!(
        skips > 0,
        "no checkov skip found: has the Metadata form changed?"
    );
    // Inline suppressions (`# checkov:skip=ID:reason`) need their reason too.
    let text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    for line in text.lines().filter(|l| l.contains("checkov:skip=")) {
        let rest = line.split("checkov:skip=").nth(1).unwrap();
        let reason = rest.split_once(':').map(|(_, r)| r.trim()).unwrap_or("");
        assert!(!reason.is_empty(), "checkov skip without a reason: {line}");
    }
}

// ---------------------------------------------------------------------------------------
// A closed start path
// ---------------------------------------------------------------------------------------

/// `v` is `!Tag value`; the value.
fn tagged<'a>(v: &'a Value, tag: &str) -> &'a Value {
    match v {
        Value::Tagged(t) if t.tag == tag => &t.value,
        other => panic!("expected {tag}, got {other:?}"),
    }
}

/// `v` names the bus Cutover uses: the stack's own, or the one EventBusName names.
fn is_the_bus_used(v: &Value, what: &str) {
    let branches = tagged(v, "!If");
    assert_eq!(branches[0], "CreateEventBus", "{what}");
    assert_eq!(*tagged(&branches[1], "!Ref"), "EventBus", "{what}");
    assert_eq!(*tagged(&branches[2], "!Ref"), "EventBusName", "{what}");
}

/// `v` is the ARN of the bus Cutover uses.
fn is_the_bus_arn(v: &Value, what: &str) {
    let branches = tagged(v, "!If");
    assert_eq!(branches[0], "CreateEventBus", "{what}");
    assert_eq!(*tagged(&branches[1], "!GetAtt"), "EventBus.Arn", "{what}");
    let sub = tagged(&branches[2], "!Sub").as_str().unwrap();
    assert!(sub.ends_with(":event-bus/${EventBusName}"), "{what}: {sub}");
}

#[test]
fn the_stack_has_a_bus_of_its_own_closed_to_all_but_the_admitted_accounts() {
    let t = template();
    // Empty EventBusName (the default): the stack's own bus.
    assert_eq!(t["Parameters"]["EventBusName"]["Default"], "");
    let create = tagged(&t["Conditions"]["CreateEventBus"], "!Equals");
    assert_eq!(*tagged(&create[0], "!Ref"), "EventBusName");
    assert_eq!(create[1], "");
    let bus = &t["Resources"]["EventBus"];
    assert_eq!(bus["Type"], "AWS::Events::EventBus");
    assert_eq!(bus["Condition"], "CreateEventBus");
    assert!(bus["Properties"]["Policy"].is_null(), "one policy, below");

    // Its resource policy admits StartAccounts, for start requests with the agreed source.
    assert_eq!(t["Parameters"]["StartAccounts"]["Default"], "");
    let policies: Vec<_> = t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Events::EventBusPolicy")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(policies.len(), 1, "one bus policy");
    let policy = policies[0];
    assert_eq!(policy["Condition"], "HasStartAccounts");
    is_the_bus_used(
        &policy["Properties"]["EventBusName"],
        "the bus policy's bus",
    );
    let st = &policy["Properties"]["Statement"];
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(st["Action"], "events:PutEvents");
    assert_eq!(*tagged(&st["Principal"]["AWS"], "!Ref"), "StartAccounts");
    is_the_bus_arn(&st["Resource"], "the bus policy's resource");
    assert_eq!(
        *tagged(string_equals(st, "events:source"), "!Ref"),
        "RequestSource"
    );
    assert_eq!(
        string_equals(st, "events:detail-type"),
        "Cutover Deployment Requested"
    );

    // The start rule: on that bus, the agreed source, this account and the admitted ones.
    let start = &t["Resources"]["StartFunction"]["Properties"]["Events"]["DeploymentRequested"];
    assert_eq!(start["Type"], "EventBridgeRule");
    is_the_bus_used(&start["Properties"]["EventBusName"], "the start rule's bus");
    let pattern = &start["Properties"]["Pattern"];
    let sources = pattern["source"]
        .as_sequence()
        .expect("the rule matches source");
    assert_eq!(sources.len(), 1);
    assert_eq!(*tagged(&sources[0], "!Ref"), "RequestSource");
    assert_eq!(pattern["detail-type"][0], "Cutover Deployment Requested");
    let accounts = tagged(&pattern["account"], "!If");
    assert_eq!(accounts[0], "HasStartAccounts");
    let with = yaml(&accounts[1]);
    assert!(
        with.contains("AWS::AccountId") && with.contains("StartAccounts"),
        "{with}"
    );
    assert_eq!(*tagged(&accounts[2][0], "!Ref"), "AWS::AccountId");
    let source = &t["Parameters"]["RequestSource"];
    assert_eq!(source["Default"], "cutover.request");
    // Cutover's own state changes (source `cutover`) are never start requests.
    assert_ne!(source["Default"], "cutover");
    assert!(source["AllowedPattern"]
        .as_str()
        .unwrap()
        .contains("(?!cutover$)"));

    // Cutover reads and writes the same bus: its functions are told it, may put on it.
    is_the_bus_used(
        &t["Globals"]["Function"]["Environment"]["Variables"]["CUTOVER_EVENT_BUS"],
        "CUTOVER_EVENT_BUS",
    );
    let puts = statements_allowing(&t, "TrafficControlPolicy", "events:PutEvents");
    assert_eq!(puts.len(), 1);
    is_the_bus_arn(&puts[0]["Resource"], "PutEvents");
    is_the_bus_used(
        &t["Outputs"]["EventBusName"]["Value"],
        "output EventBusName",
    );
    is_the_bus_arn(&t["Outputs"]["EventBusArn"]["Value"], "output EventBusArn");
    assert_eq!(
        *tagged(&t["Outputs"]["RequestSource"]["Value"], "!Ref"),
        "RequestSource"
    );
    // CloudWatch puts alarm state changes on the default bus only.
    let alarm = &t["Resources"]["AlarmFunction"]["Properties"]["Events"]["AlarmStateChange"];
    assert!(alarm["Properties"]["EventBusName"].is_null());
}

// ---------------------------------------------------------------------------------------
// Reading apart from changing
// ---------------------------------------------------------------------------------------

#[test]
fn the_query_function_only_reads_the_table() {
    let t = template();
    let q = &t["Resources"]["QueryFunction"];
    assert_eq!(q["Type"], "AWS::Serverless::Function");
    assert_eq!(q["Properties"]["CodeUri"], "functions/query");
    assert_eq!(q["Metadata"]["BuildProperties"]["Binary"], "query");
    let policies = q["Properties"]["Policies"].as_sequence().unwrap();
    assert_eq!(policies.len(), 1, "only the table, read");
    assert_eq!(
        *tagged(&policies[0]["DynamoDBReadPolicy"]["TableName"], "!Ref"),
        "Table"
    );
    let got = granted(&t, q);
    for write in [
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    ] {
        assert!(!got.contains(write), "query may {write}");
    }
    assert!(got.iter().all(|a| a.starts_with("dynamodb:")), "{got:?}");
    assert_eq!(
        *tagged(&t["Outputs"]["QueryFunctionName"]["Value"], "!Ref"),
        "QueryFunction"
    );
    assert_eq!(
        *tagged(&t["Outputs"]["QueryFunctionArn"]["Value"], "!GetAtt"),
        "QueryFunction.Arn"
    );
}

// ---------------------------------------------------------------------------------------
// Reserved concurrency, logs, the list index
// ---------------------------------------------------------------------------------------

#[test]
fn the_functions_that_roll_back_can_have_reserved_concurrency_off_by_default() {
    let t = template();
    let p = &t["Parameters"]["TickReservedConcurrency"];
    assert_eq!(
        p["Default"], 0,
        "off unless set: it takes from the account's pool"
    );
    assert!(p["Description"].as_str().unwrap().contains("throttled"));
    let cond = tagged(&t["Conditions"]["HasTickReservedConcurrency"], "!Not");
    let eq = tagged(&cond[0], "!Equals");
    assert_eq!(*tagged(&eq[0], "!Ref"), "TickReservedConcurrency");
    assert_eq!(eq[1], 0);
    let mut seen = BTreeSet::new();
    for (name, f) in functions(&t) {
        let bin = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let rc = &f["Properties"]["ReservedConcurrentExecutions"];
        if matches!(bin, "advance" | "alarm" | "control") {
            let branches = tagged(rc, "!If");
            assert_eq!(branches[0], "HasTickReservedConcurrency", "{name}");
            assert_eq!(*tagged(&branches[1], "!Ref"), "TickReservedConcurrency");
            assert_eq!(*tagged(&branches[2], "!Ref"), "AWS::NoValue");
            seen.insert(bin);
        } else {
            assert!(rc.is_null(), "{name}: reserved concurrency");
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(t["Globals"]["Function"]["ReservedConcurrentExecutions"].is_null());
}

/// The log group resource `v` (`!Ref X` or `!GetAtt X.Arn`) names, checked to be kept
/// LogRetentionDays.
fn retained_log_group<'a>(t: &'a Value, name: &str) -> &'a Value {
    let g = &t["Resources"][name];
    assert_eq!(g["Type"], "AWS::Logs::LogGroup", "{name}");
    assert_eq!(
        *tagged(&g["Properties"]["RetentionInDays"], "!Ref"),
        "LogRetentionDays",
        "{name}"
    );
    g
}

#[test]
fn every_function_and_the_driver_log_to_a_group_kept_log_retention_days() {
    let t = template();
    assert_eq!(t["Parameters"]["LogRetentionDays"]["Default"], 90);
    let mut groups = BTreeSet::new();
    for (name, f) in functions(&t) {
        let group = tagged(&f["Properties"]["LoggingConfig"]["LogGroup"], "!Ref")
            .as_str()
            .unwrap_or_else(|| panic!("{name}: LoggingConfig.LogGroup"));
        retained_log_group(&t, group);
        assert!(groups.insert(group.to_string()), "{name} shares {group}");
    }
    let sm = &t["Resources"]["DriverStateMachine"]["Properties"];
    let logging = &sm["Logging"];
    assert!(matches!(logging["Level"].as_str(), Some("ERROR" | "ALL")));
    // Execution data are deployment records and hook payloads: never in the log.
    assert_eq!(logging["IncludeExecutionData"], false);
    let arn = tagged(
        &logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"],
        "!GetAtt",
    )
    .as_str()
    .unwrap();
    let group = arn.strip_suffix(".Arn").expect("!GetAtt GROUP.Arn");
    retained_log_group(&t, group);
    assert!(
        groups.insert(group.to_string()),
        "the driver shares {group}"
    );
    // Step Functions delivers its logs with the state machine's role.
    let mut got = BTreeSet::new();
    for p in sm["Policies"].as_sequence().unwrap() {
        statement_actions(&p["Statement"], &mut got);
    }
    for action in [
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    ] {
        assert!(got.contains(action), "the driver's role lacks {action}");
    }
}

#[test]
fn the_table_has_one_index_list_by_sk_and_list_sk() {
    let t = template();
    let props = &t["Resources"]["Table"]["Properties"];
    let gsis = props["GlobalSecondaryIndexes"].as_sequence().unwrap();
    // CloudFormation adds one global secondary index per update.
    assert_eq!(gsis.len(), 1);
    let list = &gsis[0];
    assert_eq!(list["IndexName"], "list");
    let keys: Vec<(&str, &str)> = list["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys, [("sk", "HASH"), ("listSk", "RANGE")]);
    assert_eq!(list["Projection"]["ProjectionType"], "ALL");
    // Every key attribute is defined, and only key attributes are (CloudFormation).
    let defined: BTreeMap<&str, &str> = props["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap(),
                d["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    let mut used: BTreeSet<&str> = keys.iter().map(|(k, _)| *k).collect();
    for k in props["KeySchema"].as_sequence().unwrap() {
        used.insert(k["AttributeName"].as_str().unwrap());
    }
    assert_eq!(defined.keys().copied().collect::<BTreeSet<_>>(), used);
    assert!(defined.values().all(|ty| *ty == "S"), "{defined:?}");
}
