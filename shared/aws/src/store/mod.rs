//! The DynamoDB store: one table holding deployments, their event logs, target locks,
//! alarm watches and custom configurations.
//!
//! | item | pk / sk |
//! |---|---|
//! | deployment | `DEP#<id>` / `STATE` (`ver` for optimistic locking, `doc` the JSON record) |
//! | event log | `DEP#<id>` / `EVT#<seq:08>` (written with `attribute_not_exists`) |
//! | driver lease | `DEP#<id>` / `DRIVER` (`owner`, `leaseUntil`: the process driving it) |
//! | target lock | `LOCK#<target>` / `LOCK` (holds the active deployment id) |
//! | alarm watch | `ALARM#<name>` / `DEP#<id>` (exists while the deployment is active) |
//! | custom config | `CONFIG#<name>` / `CONFIG` |
//! | deployment group | `GROUP#<application>/<name>` / `GROUP` |
//!
//! Alarm watches are the sparse index the `alarm` function queries: it finds the active
//! deployments that watch an alarm with one `Query`, without scanning history.
//!
//! `list` reads the global secondary index [`LIST_INDEX`] (`sk` / `listSk`): every
//! deployment record carries `listSk` = `1#<createdAt>#<id>` while it is active and
//! `0#<createdAt>#<id>` once it ended, so one `Query` of `sk = STATE` read backwards gives
//! the active deployments newest first, then the ended ones newest first, a page at a time,
//! and `begins_with(listSk, "1#")` gives only the active ones. History is never scanned.

use crate::error::{Error, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use cutover_core::config::DeploymentConfig;
use cutover_core::group::DeploymentGroup;
use cutover_core::model::Deployment;
use std::collections::HashMap;

mod lease;
mod list;
mod settings;
use list::{list_index, list_sk};
pub use list::{Page, LIST_INDEX, MAX_PAGE};

const SVC: &str = "DynamoDB";

/// A deployment with its event log, as `cutover status` shows it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Sequence number.
    pub seq: u64,
    /// When it was written (ms since epoch).
    pub at: u64,
    /// The line.
    pub message: String,
}

/// The DynamoDB table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
    event_retention_days: u64,
}

/// Attribute holding the Unix time (seconds) after which DynamoDB's TTL may delete an
/// event-log item; the table's `TimeToLiveSpecification` names it.
pub const EXPIRES_AT: &str = "expiresAt";

/// How long event-log items are kept when `CUTOVER_EVENT_RETENTION_DAYS` is not set.
pub const DEFAULT_EVENT_RETENTION_DAYS: u64 = 90;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn dep_pk(id: &str) -> String {
    format!("DEP#{id}")
}

fn built<T>(
    r: std::result::Result<T, aws_smithy_types::error::operation::BuildError>,
) -> Result<T> {
    r.map_err(|e| Error::Corrupt(format!("request could not be built: {e}")))
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, key: &str) -> Result<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| Error::Corrupt(format!("attribute {key} missing")))
}

fn get_n(item: &HashMap<String, AttributeValue>, key: &str) -> Result<u64> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Corrupt(format!("attribute {key} missing")))
}

fn attr(name: &str) -> Result<AttributeDefinition> {
    built(
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build(),
    )
}

fn key(name: &str, kt: KeyType) -> Result<KeySchemaElement> {
    built(
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build(),
    )
}

/// The key to continue a paginated read from, if there is more.
fn next_page(
    last: Option<&HashMap<String, AttributeValue>>,
) -> Option<HashMap<String, AttributeValue>> {
    last.filter(|k| !k.is_empty()).cloned()
}

fn conditional_failed(reasons: &[aws_sdk_dynamodb::types::CancellationReason]) -> Vec<bool> {
    reasons
        .iter()
        .map(|r| r.code() == Some("ConditionalCheckFailed"))
        .collect()
}

impl Store {
    /// A store on `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Store {
        Store {
            client,
            table: table.into(),
            event_retention_days: DEFAULT_EVENT_RETENTION_DAYS,
        }
    }

    /// Keeps event-log items this many days after they are written (their [`EXPIRES_AT`]);
    /// 0 keeps them for ever. Deployment records, locks and groups never expire.
    pub fn with_event_retention_days(mut self, days: u64) -> Store {
        self.event_retention_days = days;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, `pk`/`sk` keys, the [`LIST_INDEX`]) if it
    /// does not exist, and adds the index to a table made before it existed. Waits (up to a
    /// minute) until the table is ACTIVE, as a new table is not at once.
    pub async fn ensure_table(&self) -> Result<()> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => {
                let indexed = out
                    .table()
                    .map(|t| t.global_secondary_indexes())
                    .unwrap_or_default()
                    .iter()
                    .any(|i| i.index_name() == Some(LIST_INDEX));
                let arn = out.table().and_then(|t| t.table_arn()).unwrap_or_default();
                // A stack's table gets its index from the stack's template (`sam deploy`):
                // changing it here would make the next stack update fail.
                if !indexed && !self.owned_by_a_stack(arn).await? {
                    self.add_list_index().await?;
                }
                return self.wait_active().await;
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => return Err(Error::aws(SVC, "DescribeTable", &e)),
        }
        let res = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("listSk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(list_index()?)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) => {}
            Err(e) => return Err(Error::aws(SVC, "CreateTable", &e)),
        }
        self.wait_active().await
    }

    async fn wait_active(&self) -> Result<()> {
        use aws_sdk_dynamodb::types::{IndexStatus, TableStatus};
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| Error::aws(SVC, "DescribeTable", &e))?;
            let status = out.table().and_then(|t| t.table_status());
            let indexes_ready = out
                .table()
                .map(|t| t.global_secondary_indexes())
                .unwrap_or_default()
                .iter()
                .all(|i| matches!(i.index_status(), Some(IndexStatus::Active) | None));
            if matches!(status, Some(TableStatus::Active) | None) && indexes_ready {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(Error::Aws {
            service: SVC,
            operation: "DescribeTable",
            message: format!("table {} did not become ACTIVE within a minute", self.table),
            retryable: true,
        })
    }

    fn state_item(&self, dep: &Deployment) -> Result<HashMap<String, AttributeValue>> {
        let doc = serde_json::to_string(dep).map_err(|e| Error::Corrupt(e.to_string()))?;
        let mut item = HashMap::new();
        item.insert("pk".into(), s(dep_pk(&dep.id)));
        item.insert("sk".into(), s("STATE"));
        item.insert("ver".into(), n(dep.ver));
        item.insert("status".into(), s(dep.status().as_str()));
        item.insert("target".into(), s(dep.target.lock_key()));
        item.insert("createdAt".into(), n(dep.created_at));
        item.insert("listSk".into(), s(list_sk(dep)));
        item.insert("doc".into(), s(doc));
        if !dep.is_done() {
            item.insert("active".into(), s("1"));
        }
        Ok(item)
    }

    fn log_puts(
        &self,
        dep: &Deployment,
        first_seq: u64,
        lines: &[String],
        at: u64,
    ) -> Result<Vec<TransactWriteItem>> {
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let seq = first_seq + i as u64;
                let mut put = Put::builder()
                    .table_name(&self.table)
                    .item("pk", s(dep_pk(&dep.id)))
                    .item("sk", s(format!("EVT#{seq:08}")))
                    .item("at", n(at))
                    .item("message", s(line.clone()))
                    .condition_expression("attribute_not_exists(pk)");
                if self.event_retention_days > 0 {
                    put = put.item(
                        EXPIRES_AT,
                        n(at / 1000 + self.event_retention_days * 86_400),
                    );
                }
                let put = put.build();
                Ok(TransactWriteItem::builder().put(built(put)?).build())
            })
            .collect()
    }

    fn watch_items(&self, dep: &Deployment, add: bool) -> Result<Vec<TransactWriteItem>> {
        dep.options
            .alarms
            .iter()
            .map(|alarm| {
                let pk = s(format!("ALARM#{alarm}"));
                let sk = s(dep_pk(&dep.id));
                Ok(if add {
                    let put = Put::builder()
                        .table_name(&self.table)
                        .item("pk", pk)
                        .item("sk", sk)
                        .item("deploymentId", s(dep.id.clone()))
                        .build();
                    TransactWriteItem::builder().put(built(put)?).build()
                } else {
                    let del = Delete::builder()
                        .table_name(&self.table)
                        .key("pk", pk)
                        .key("sk", sk)
                        .build();
                    TransactWriteItem::builder().delete(built(del)?).build()
                })
            })
            .collect()
    }

    /// Records a new deployment and takes the target's lock, atomically. Refuses with
    /// [`Error::InProgress`] (naming the active deployment) when the target is locked.
    /// The stored record counts `log` in its `log_seq`.
    pub async fn create(&self, dep: &Deployment, log: &[String], at: u64) -> Result<()> {
        let mut dep = dep.clone();
        dep.log_seq = log.len() as u64;
        let dep = &dep;
        let lock_pk = format!("LOCK#{}", dep.target.lock_key());
        let mut items = vec![
            TransactWriteItem::builder()
                .put(built(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(self.state_item(dep)?))
                        .condition_expression("attribute_not_exists(pk)")
                        .build(),
                )?)
                .build(),
            TransactWriteItem::builder()
                .put(built(
                    Put::builder()
                        .table_name(&self.table)
                        .item("pk", s(lock_pk.clone()))
                        .item("sk", s("LOCK"))
                        .item("deploymentId", s(dep.id.clone()))
                        .condition_expression("attribute_not_exists(pk)")
                        .build(),
                )?)
                .build(),
        ];
        items.extend(self.watch_items(dep, true)?);
        items.extend(self.log_puts(dep, 0, log, at)?);
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let failed = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                            Some(conditional_failed(c.cancellation_reasons()))
                        }
                        _ => None,
                    });
                match failed {
                    Some(f) if f.get(1) == Some(&true) => {
                        let active = self
                            .lock_holder(&lock_pk)
                            .await?
                            .unwrap_or_else(|| "?".into());
                        Err(Error::InProgress {
                            active,
                            target: dep.target.name(),
                        })
                    }
                    Some(f) if f.first() == Some(&true) => Err(Error::Conflict(dep.id.clone())),
                    _ => Err(Error::aws(SVC, "TransactWriteItems", &e)),
                }
            }
        }
    }

    async fn lock_holder(&self, lock_pk: &str) -> Result<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(lock_pk))
            .key("sk", s("LOCK"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(SVC, "GetItem", &e))?;
        Ok(out
            .item()
            .and_then(|i| get_s(i, "deploymentId").ok())
            .map(str::to_string))
    }

    /// The deployment active on a target, if any.
    pub async fn active_on(&self, lock_key: &str) -> Result<Option<String>> {
        self.lock_holder(&format!("LOCK#{lock_key}")).await
    }

    /// Loads a deployment with its current version.
    pub async fn load(&self, id: &str) -> Result<Deployment> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(dep_pk(id)))
            .key("sk", s("STATE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::aws(SVC, "GetItem", &e))?;
        let item = out.item().ok_or_else(|| Error::NotFound(id.to_string()))?;
        Self::parse_state(item)
    }

    fn parse_state(item: &HashMap<String, AttributeValue>) -> Result<Deployment> {
        let mut dep: Deployment = serde_json::from_str(get_s(item, "doc")?)
            .map_err(|e| Error::Corrupt(format!("deployment record: {e}")))?;
        dep.ver = get_n(item, "ver")?;
        Ok(dep)
    }

    /// Saves `next` if the stored version is still `next.ver`, appending `log` to the event
    /// log, and releases the lock and alarm watches when the deployment is done — all in one
    /// transaction. Returns the saved deployment (with its new version); a lost race is
    /// [`Error::Conflict`].
    pub async fn save(&self, next: &Deployment, log: &[String], at: u64) -> Result<Deployment> {
        let expected = next.ver;
        let mut saved = next.clone();
        saved.ver = expected + 1;
        let first_seq = saved.log_seq;
        saved.log_seq += log.len() as u64;
        let mut items = vec![TransactWriteItem::builder()
            .put(built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(self.state_item(&saved)?))
                    .condition_expression("ver = :expected")
                    .expression_attribute_values(":expected", n(expected))
                    .build(),
            )?)
            .build()];
        if saved.is_done() {
            let del = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(format!("LOCK#{}", saved.target.lock_key())))
                .key("sk", s("LOCK"))
                .condition_expression("attribute_not_exists(pk) OR deploymentId = :id")
                .expression_attribute_values(":id", s(saved.id.clone()))
                .build();
            items.push(TransactWriteItem::builder().delete(built(del)?).build());
            items.extend(self.watch_items(&saved, false)?);
        }
        items.extend(self.log_puts(&saved, first_seq, log, at)?);
        // The token makes the SDK's own retry of a transaction that landed (its answer
        // lost) succeed instead of failing the version condition; it is new for every save
        // attempt, so another tick's save of the same version is still refused.
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let token: String = format!("{}-{expected}-{nonce}", saved.id)
            .chars()
            .take(36)
            .collect();
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await;
        match res {
            Ok(_) => Ok(saved),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
                let cancelled = e.as_service_error().is_some_and(|se| {
                    matches!(
                        se,
                        E::TransactionCanceledException(_)
                            | E::IdempotentParameterMismatchException(_)
                    )
                });
                if cancelled {
                    Err(Error::Conflict(saved.id.clone()))
                } else {
                    Err(Error::aws(SVC, "TransactWriteItems", &e))
                }
            }
        }
    }

    /// Saves only the deployment record (no log lines, no lock or watch changes) if the
    /// stored version is still `next.ver`: marking notifications sent, also after the
    /// deployment ended and its target's lock went to another deployment.
    pub async fn save_state(&self, next: &Deployment) -> Result<Deployment> {
        let mut saved = next.clone();
        saved.ver = next.ver + 1;
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.state_item(&saved)?))
            .condition_expression("ver = :expected")
            .expression_attribute_values(":expected", n(next.ver))
            .send()
            .await;
        match res {
            Ok(_) => Ok(saved),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Err(Error::Conflict(saved.id.clone()))
            }
            Err(e) => Err(Error::aws(SVC, "PutItem", &e)),
        }
    }

    /// Every item matching a key condition, across all pages, with consistent reads.
    async fn query_all(
        &self,
        condition: &str,
        values: &[(&str, String)],
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .consistent_read(true)
                .set_exclusive_start_key(start.take());
            for (name, value) in values {
                query = query.expression_attribute_values(*name, s(value.clone()));
            }
            let page = query
                .send()
                .await
                .map_err(|e| Error::aws(SVC, "Query", &e))?;
            out.extend(page.items().iter().cloned());
            start = next_page(page.last_evaluated_key());
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// The event log of a deployment, oldest first.
    pub async fn log(&self, id: &str) -> Result<Vec<LogEntry>> {
        let values = [(":pk", dep_pk(id)), (":evt", "EVT#".to_string())];
        let items = self
            .query_all("pk = :pk AND begins_with(sk, :evt)", &values)
            .await?;
        items
            .iter()
            .map(|item| {
                let sk = get_s(item, "sk")?;
                Ok(LogEntry {
                    seq: sk.trim_start_matches("EVT#").parse().unwrap_or(0),
                    at: get_n(item, "at").unwrap_or(0),
                    message: get_s(item, "message")?.to_string(),
                })
            })
            .collect()
    }

    /// Ids of the active deployments that watch `alarm`.
    pub async fn watching(&self, alarm: &str) -> Result<Vec<String>> {
        let items = self
            .query_all("pk = :pk", &[(":pk", format!("ALARM#{alarm}"))])
            .await?;
        items
            .iter()
            .map(|i| get_s(i, "deploymentId").map(str::to_string))
            .collect()
    }

    /// Every item whose `filter` (over `:sk`) holds, across all pages, with consistent reads.
    async fn scan(&self, filter: &str, sk: &str) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(filter)
                .expression_attribute_values(":sk", s(sk))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| Error::aws(SVC, "Scan", &e))?;
            out.extend(page.items().iter().cloned());
            start = next_page(page.last_evaluated_key());
            if start.is_none() {
                break;
            }
        }
        Ok(out)
    }
}
