//! `list`'s index: the `listSk` of deployment records, pages of the `list` index, and
//! giving an older table the index (see the module above for the layout).

use super::*;

/// The global secondary index `list` reads (`sk` HASH, `listSk` RANGE, all attributes).
pub const LIST_INDEX: &str = "list";

/// The most deployments one page of [`Store::list_page`] holds.
pub const MAX_PAGE: usize = 100;

/// The index sort key of a deployment record: active ones sort after ended ones, and each
/// group by creation time (13 digits of milliseconds sort as numbers until the year 2286).
pub(super) fn list_sk(dep: &Deployment) -> String {
    let active = if dep.is_done() { '0' } else { '1' };
    format!("{active}#{:013}#{}", dep.created_at, dep.id)
}

/// One page of deployments and the token of the next, if there is more.
#[derive(Debug, Clone)]
pub struct Page {
    /// The deployments, active ones first, each part newest first.
    pub deployments: Vec<Deployment>,
    /// Pass to [`Store::list_page`] for the next page; `None` on the last.
    pub next_token: Option<String>,
}

/// Checks a next-page token (a `listSk` value a page ended on) and gives the id it holds.
fn parse_token(token: &str) -> Result<&str> {
    let mut parts = token.splitn(3, '#');
    let (Some(flag), Some(created), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad_token(token));
    };
    let id_ok = id.len() == 11
        && id.starts_with("d-")
        && id[2..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !matches!(flag, "0" | "1")
        || created.len() != 13
        || !created.chars().all(|c| c.is_ascii_digit())
        || !id_ok
    {
        return Err(bad_token(token));
    }
    Ok(id)
}

fn bad_token(token: &str) -> Error {
    let shown: String = token.chars().take(64).collect();
    Error::refused(
        "InvalidNextToken",
        format!(
            "nextToken: {shown:?} is not a token a list page gave; pass the nextToken of the previous page, or none for the first"
        ),
    )
}

/// [`LIST_INDEX`] as the template declares it.
pub(super) fn list_index() -> Result<aws_sdk_dynamodb::types::GlobalSecondaryIndex> {
    built(
        aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
            .index_name(LIST_INDEX)
            .key_schema(key("sk", KeyType::Hash)?)
            .key_schema(key("listSk", KeyType::Range)?)
            .projection(
                aws_sdk_dynamodb::types::Projection::builder()
                    .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                    .build(),
            )
            .build(),
    )
}

impl Store {
    /// Whether CloudFormation made the table (it tags what it creates with the stack's name).
    /// A table whose tags cannot be read (no `dynamodb:ListTagsOfResource` permission) is
    /// taken for a stack's: it is left alone, and `list` says what to do if it lacks the
    /// index.
    pub(super) async fn owned_by_a_stack(&self, arn: &str) -> Result<bool> {
        let out = match self
            .client
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = Error::aws(SVC, "ListTagsOfResource", &e);
                if e.is_retryable() {
                    return Err(e);
                }
                return Ok(true);
            }
        };
        Ok(out
            .tags()
            .iter()
            .any(|t| t.key() == "aws:cloudformation:stack-name"))
    }

    /// Adds [`LIST_INDEX`] to a table made without it (by an earlier Cutover).
    pub(super) async fn add_list_index(&self) -> Result<()> {
        let index = list_index()?;
        let create = built(
            aws_sdk_dynamodb::types::CreateGlobalSecondaryIndexAction::builder()
                .index_name(LIST_INDEX)
                .set_key_schema(Some(index.key_schema().to_vec()))
                .set_projection(index.projection().cloned())
                .build(),
        )?;
        let res = self
            .client
            .update_table()
            .table_name(&self.table)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("listSk")?)
            .global_secondary_index_updates(
                aws_sdk_dynamodb::types::GlobalSecondaryIndexUpdate::builder()
                    .create(create)
                    .build(),
            )
            .send()
            .await;
        match res {
            Ok(_) => {}
            // Another process is adding it (ResourceInUseException while the table updates)
            // or added it first (AWS: ValidationException "... index which already
            // exists"): either way the index comes.
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_resource_in_use_exception()
                        || se
                            .meta()
                            .message()
                            .is_some_and(|m| m.contains("already exists"))
                }) => {}
            Err(e) => return Err(Error::aws(SVC, "UpdateTable", &e)),
        }
        self.wait_active().await?;
        self.index_unlisted().await
    }

    /// Gives every deployment record written before [`LIST_INDEX`] existed its `listSk`,
    /// so `list` shows it: one scan, once, when the index is added. Each update is
    /// conditional on the record's version, so a tick saving meanwhile wins (and writes
    /// `listSk` itself).
    async fn index_unlisted(&self) -> Result<()> {
        for item in self
            .scan("sk = :sk AND attribute_not_exists(listSk)", "STATE")
            .await?
        {
            let dep = Self::parse_state(&item)?;
            let res = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(dep_pk(&dep.id)))
                .key("sk", s("STATE"))
                .update_expression("SET listSk = :l")
                .condition_expression("ver = :v")
                .expression_attribute_values(":l", s(list_sk(&dep)))
                .expression_attribute_values(":v", n(dep.ver))
                .send()
                .await;
            match res {
                Ok(_) => {}
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(Error::aws(SVC, "UpdateItem", &e)),
            }
        }
        Ok(())
    }

    /// Every deployment (or only the active ones): the active ones first, each part newest
    /// first, read a page at a time from [`LIST_INDEX`].
    pub async fn list(&self, active_only: bool) -> Result<Vec<Deployment>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .list_page(active_only, MAX_PAGE, token.as_deref())
                .await?;
            out.extend(page.deployments);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// One page of at most `limit` deployments (1 to [`MAX_PAGE`]), from `token` (a
    /// previous page's [`Page::next_token`]) or the first. One `Query` of [`LIST_INDEX`]:
    /// the index is eventually consistent, so a deployment created a moment ago may be
    /// missing from it for a moment.
    pub async fn list_page(
        &self,
        active_only: bool,
        limit: usize,
        token: Option<&str>,
    ) -> Result<Page> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::refused(
                "InvalidLimit",
                format!("limit: {limit} is not a page size; give 1 to {MAX_PAGE}"),
            ));
        }
        let start = match token {
            Some(t) => {
                let id = parse_token(t)?;
                let mut key = HashMap::new();
                key.insert("pk".to_string(), s(dep_pk(id)));
                key.insert("sk".to_string(), s("STATE"));
                key.insert("listSk".to_string(), s(t));
                Some(key)
            }
            None => None,
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .expression_attribute_values(":sk", s("STATE"))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start);
        query = if active_only {
            query
                .key_condition_expression("sk = :sk AND begins_with(listSk, :active)")
                .expression_attribute_values(":active", s("1#"))
        } else {
            query.key_condition_expression("sk = :sk")
        };
        let out = match query.send().await {
            Ok(out) => out,
            Err(e)
                // AWS answers a missing index with ValidationException ("The table does not
                // have the specified index"); moto with ResourceNotFoundException.
                if e.as_service_error().is_some_and(|se| {
                    matches!(
                        se.meta().code(),
                        Some("ValidationException" | "ResourceNotFoundException")
                    ) && se.meta().message().is_some_and(|m| m.contains("index"))
                }) =>
            {
                return Err(Error::refused(
                    "TableNotUpgraded",
                    format!(
                        "table {} has no {LIST_INDEX} index yet: update the stack to this version of Cutover's template.yaml (`sam deploy`), which adds it",
                        self.table
                    ),
                ))
            }
            Err(e) => return Err(Error::aws(SVC, "Query", &e)),
        };
        let deployments = out
            .items()
            .iter()
            .map(Self::parse_state)
            .collect::<Result<Vec<_>>>()?;
        let next_token = next_page(out.last_evaluated_key())
            .and_then(|k| k.get("listSk").and_then(|v| v.as_s().ok()).cloned());
        Ok(Page {
            deployments,
            next_token,
        })
    }
}
