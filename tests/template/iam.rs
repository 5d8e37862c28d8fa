//! What may be deployed: IAM bounds on the actions that move traffic, manage task sets and
//! pass roles, and the scanner's skips.

use super::*;

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
