//! `list` through the table's `list` index: pages, order, the active-only view, tokens,
//! and a table made before the index existed.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use cutover_aws::store::{Store, LIST_INDEX};
use cutover_aws::Error;
use cutover_core::config::DeploymentConfig;
use cutover_core::model::{Deployment, DeploymentOptions, End, LambdaTarget, Phase};
use cutover_tests::*;

fn deployment(n: u64) -> Deployment {
    let target = LambdaTarget {
        function: format!("fn-{n}"),
        alias: "live".into(),
        current_version: "1".into(),
        target_version: "2".into(),
    };
    let config = DeploymentConfig::predefined("CodeDeployDefault.LambdaAllAtOnce").unwrap();
    Deployment::new_lambda(
        format!("d-LIST{n:05}"),
        target,
        config,
        vec![],
        DeploymentOptions::default(),
        1_700_000_000_000 + n * 1000,
    )
}

async fn client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

/// Creates deployments 1..=count; those in `ended` are saved as ended.
async fn fill(store: &Store, count: u64, ended: &[u64]) {
    for n in 1..=count {
        let dep = deployment(n);
        store.create(&dep, &[], 1).await.expect("create");
        if ended.contains(&n) {
            let mut done = store.load(&dep.id).await.unwrap();
            done.phase = Phase::Done(End::Succeeded);
            store.save(&done, &[], 2).await.expect("end");
        }
    }
}

/// Every page of a listing, and the ids in the order they came.
async fn pages(store: &Store, active_only: bool, limit: usize) -> (Vec<usize>, Vec<String>) {
    let (mut sizes, mut ids, mut token) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let page = store
            .list_page(active_only, limit, token.as_deref())
            .await
            .expect("page");
        sizes.push(page.deployments.len());
        ids.extend(page.deployments.iter().map(|d| d.id.clone()));
        match page.next_token {
            Some(t) => token = Some(t),
            None => return (sizes, ids),
        }
    }
}

fn ids(ns: &[u64]) -> Vec<String> {
    ns.iter().map(|n| format!("d-LIST{n:05}")).collect()
}

#[tokio::test]
async fn pages_hold_active_deployments_first_then_history_newest_first() {
    let store = Store::new(client().await, unique("table"));
    store.ensure_table().await.unwrap();
    fill(&store, 7, &[2, 3, 6]).await;

    let (sizes, all) = pages(&store, false, 3).await;
    assert_eq!(all, ids(&[7, 5, 4, 1, 6, 3, 2]));
    assert!(sizes.iter().all(|s| *s <= 3), "page sizes {sizes:?}");
    assert!(sizes.len() >= 3, "7 deployments in pages of 3: {sizes:?}");

    let (_, active) = pages(&store, true, 2).await;
    assert_eq!(active, ids(&[7, 5, 4, 1]));

    let whole: Vec<String> = store
        .list(false)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(whole, all);
}

#[tokio::test]
async fn a_bad_token_or_page_size_is_refused_naming_the_field() {
    let store = Store::new(client().await, unique("table"));
    store.ensure_table().await.unwrap();
    fill(&store, 1, &[]).await;
    for token in [
        "",
        "1#abc#d-LIST00001",
        "2#1700000001000#d-LIST00001",
        "1#1700000001000#x",
    ] {
        match store.list_page(false, 10, Some(token)).await {
            Err(Error::Refused(r)) => {
                assert_eq!(r.code, "InvalidNextToken");
                assert!(r.message.contains("nextToken"), "{}", r.message);
            }
            other => panic!("token {token:?}: expected a refusal, got {other:?}"),
        }
    }
    for limit in [0, 101] {
        match store.list_page(false, limit, None).await {
            Err(Error::Refused(r)) => assert_eq!(r.code, "InvalidLimit"),
            other => panic!("limit {limit}: expected a refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_table_made_before_the_index_gets_it_and_its_records_are_listed() {
    let client = client().await;
    let table = unique("table");
    let def = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kt| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build()
            .unwrap()
    };
    // The table as earlier Cutover made it, with a record as it wrote it (no listSk).
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def("pk"))
        .attribute_definitions(def("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .send()
        .await
        .unwrap();
    let old = deployment(1);
    let s = |v: &str| AttributeValue::S(v.to_string());
    client
        .put_item()
        .table_name(&table)
        .item("pk", s(&format!("DEP#{}", old.id)))
        .item("sk", s("STATE"))
        .item("ver", AttributeValue::N("0".into()))
        .item("status", s("Created"))
        .item("target", s(&old.target.lock_key()))
        .item("createdAt", AttributeValue::N(old.created_at.to_string()))
        .item("active", s("1"))
        .item("doc", s(&serde_json::to_string(&old).unwrap()))
        .send()
        .await
        .unwrap();

    let store = Store::new(client.clone(), table.clone());
    store.ensure_table().await.expect("adds the index");
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let indexes: Vec<_> = described
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    assert_eq!(indexes, vec![LIST_INDEX]);

    store.create(&deployment(2), &[], 1).await.unwrap();
    let (_, listed) = pages(&store, false, 10).await;
    assert_eq!(listed, ids(&[2, 1]));
    // A second ensure_table changes nothing.
    store.ensure_table().await.unwrap();
    assert_eq!(pages(&store, true, 10).await.1, ids(&[2, 1]));
}

#[tokio::test]
async fn the_cli_pages_through_the_list_and_refuses_a_bad_token() {
    let table = unique("table");
    let store = Store::new(client().await, table.clone());
    store.ensure_table().await.unwrap();
    fill(&store, 3, &[1]).await;
    let list = |args: &[&str]| {
        let mut cmd = cli::cutover(args);
        cmd.env("CUTOVER_TABLE", &table);
        cli::finish(cmd.output().expect("run cutover"))
    };
    let first = list(&["list", "--limit", "2"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let more = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("more: cutover list --limit 2 --next-token "))
        .unwrap_or_else(|| panic!("no next-page line: {}", first.stdout))
        .to_string();
    assert!(first.stdout.contains("d-LIST00003") && first.stdout.contains("d-LIST00002"));
    let second = list(&[
        "list",
        "--limit",
        "2",
        "--next-token",
        &more,
        "--output",
        "json",
    ]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let shown: Vec<&str> = second.status["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deploymentId"].as_str().unwrap())
        .collect();
    assert_eq!(shown, vec!["d-LIST00001"]);
    assert!(second.status["nextToken"].is_null());

    let bad = list(&["list", "--next-token", "nope", "--output", "json"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert_eq!(bad.status["error"]["code"], "InvalidNextToken");
    let too_many = list(&["list", "--limit", "101"]);
    assert_eq!(too_many.code, 2);
    assert!(too_many.stderr.contains("--limit"), "{}", too_many.stderr);
}

#[tokio::test]
async fn a_stacks_table_is_left_to_its_template_and_list_says_what_to_do() {
    let client = client().await;
    let table = unique("table");
    let def = AttributeDefinition::builder()
        .attribute_name("pk")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap();
    let sk = AttributeDefinition::builder()
        .attribute_name("sk")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .unwrap();
    let key = |name: &str, kt| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build()
            .unwrap()
    };
    // As CloudFormation creates a table of an earlier template: tagged with its stack.
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(def)
        .attribute_definitions(sk)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .tags(
            aws_sdk_dynamodb::types::Tag::builder()
                .key("aws:cloudformation:stack-name")
                .value("cutover")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let store = Store::new(client.clone(), table.clone());
    store.ensure_table().await.unwrap();
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert!(
        described
            .table()
            .unwrap()
            .global_secondary_indexes()
            .is_empty(),
        "the stack's table was changed outside its template"
    );
    match store.list_page(false, 10, None).await {
        Err(Error::Refused(r)) => {
            assert_eq!(r.code, "TableNotUpgraded");
            assert!(r.message.contains("sam deploy"), "{}", r.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
