//! The operators' functions: `control` (stop, continue, drive) and `query` (status, list),
//! granted apart.

use super::*;

/// Input of `control`: operator actions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum ControlInput {
    /// Stop a deployment.
    #[serde(rename_all = "camelCase")]
    Stop {
        /// The deployment.
        deployment_id: String,
        /// Put traffic back on the current version; when absent, the deployment group's
        /// `autoRollback.onStop` decides.
        #[serde(default)]
        rollback: Option<bool>,
        /// End the deployment now without touching its target (status Stopped, error code
        /// ABANDONED), whatever its state.
        #[serde(default)]
        force: bool,
        /// The driver itself asks (its GiveUp state, after Advance kept failing): no new
        /// driver is woken, which would fail the same way and give up again, for ever.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        from_driver: bool,
        /// Who asks, as the caller reports it (the CLI's STS caller identity).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Resume an unfinished deployment: start the state machine on it again, unless an
    /// execution of it is still running.
    #[serde(rename_all = "camelCase")]
    Drive {
        /// The deployment.
        deployment_id: String,
    },
    /// Release a deployment waiting at Ready, or end its termination wait early.
    #[serde(rename_all = "camelCase")]
    Continue {
        /// The deployment.
        deployment_id: String,
        /// Who asks, as the caller reports it (the CLI's STS caller identity).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Read a deployment's status.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The deployment.
        deployment_id: String,
    },
    /// List deployments.
    #[serde(rename_all = "camelCase")]
    List {
        /// Only active ones.
        #[serde(default)]
        active: bool,
    },
}

/// A stop's reason with who asked, when the caller said.
pub fn with_requester(reason: &str, requested_by: Option<&str>) -> String {
    match requested_by {
        Some(who) => format!("{reason}; {}", cutover_core::text::requested_by(who)),
        None => reason.to_string(),
    }
}

/// `control`: stop and continue (and, for callers of earlier versions, status and list;
/// reading alone is `query`'s).
pub async fn control(app: &App, event: Value) -> Result<Value> {
    match parse::<ControlInput>(event, "control")? {
        ControlInput::Stop {
            deployment_id,
            force: true,
            requested_by,
            ..
        } => {
            check_id(&deployment_id)?;
            let reason = with_requester(
                "`stop --force` through the control function",
                requested_by.as_deref(),
            );
            let o = app.cutover.abandon(&deployment_id, Some(reason)).await?;
            Ok(o.deployment.summary())
        }
        ControlInput::Drive { deployment_id } => {
            check_id(&deployment_id)?;
            Ok(redrive(app, &deployment_id).await?.summary())
        }
        ControlInput::Stop {
            deployment_id,
            rollback,
            force: false,
            from_driver,
            requested_by,
        } => {
            check_id(&deployment_id)?;
            let reason = with_requester(
                "stopped through the control function",
                requested_by.as_deref(),
            );
            let o = app
                .cutover
                .stop(&deployment_id, rollback, Some(reason))
                .await?;
            if !from_driver {
                wake_driver(app, &o.deployment).await;
            }
            Ok(o.deployment.summary())
        }
        ControlInput::Continue {
            deployment_id,
            requested_by,
        } => {
            check_id(&deployment_id)?;
            let o = app
                .cutover
                .proceed_by(&deployment_id, requested_by.as_deref())
                .await?;
            wake_driver(app, &o.deployment).await;
            Ok(o.deployment.summary())
        }
        ControlInput::Status { deployment_id } => status(app, &deployment_id).await,
        // A CLI of an earlier version wants an array: the first page, bounded like every
        // page (never the whole history in one answer).
        ControlInput::List { active } => {
            let page = app
                .cutover
                .store
                .list_page(active, crate::store::MAX_PAGE, None)
                .await?;
            Ok(Value::Array(
                page.deployments.iter().map(|d| d.summary()).collect(),
            ))
        }
    }
}

/// A deployment's summary, as `status` answers it.
async fn status(app: &App, id: &str) -> Result<Value> {
    check_id(id)?;
    Ok(app.cutover.store.load(id).await?.summary())
}

/// Input of `query`: reading deployments, granted apart from changing them (`control`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum QueryInput {
    /// Read a deployment's status.
    #[serde(rename_all = "camelCase")]
    Status {
        /// The deployment.
        deployment_id: String,
    },
    /// One page of deployments: the active ones first, each part newest first.
    #[serde(rename_all = "camelCase")]
    List {
        /// Only active ones.
        #[serde(default)]
        active: bool,
        /// At most this many (1 to 100; 50 when absent).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
        /// The `nextToken` of the previous page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    },
}

/// The page size of `list` when the request gives none.
pub const DEFAULT_PAGE: usize = 50;

/// `query`: status and list, read-only (its role may only read the table).
pub async fn query(app: &App, event: Value) -> Result<Value> {
    match parse::<QueryInput>(event, "query")? {
        QueryInput::Status { deployment_id } => status(app, &deployment_id).await,
        QueryInput::List {
            active,
            limit,
            next_token,
        } => {
            let page = app
                .cutover
                .store
                .list_page(active, limit.unwrap_or(DEFAULT_PAGE), next_token.as_deref())
                .await?;
            Ok(json!({
                "deployments": page.deployments.iter().map(|d| d.summary()).collect::<Vec<_>>(),
                "nextToken": page.next_token,
            }))
        }
    }
}
