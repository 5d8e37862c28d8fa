//! The stack's own pieces: a closed start path (the bus), reading apart from changing (the
//! query function), reserved concurrency, logs kept, and the list index.

use super::*;

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
