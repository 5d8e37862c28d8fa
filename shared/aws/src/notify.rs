//! Notifications: SNS messages named like CodeDeploy's triggers, and EventBridge events
//! shaped like CodeDeploy's "CodeDeploy Deployment State-change Notification".

use crate::error::{Error, Result};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use cutover_core::engine::NotificationKind;
use cutover_core::model::{Deployment, Outgoing};

/// `source` of the events Cutover puts on EventBridge.
pub const EVENT_SOURCE: &str = "cutover";
/// `detail-type` of Cutover's deployment state-change events.
pub const STATE_CHANGE_DETAIL_TYPE: &str = "Cutover Deployment State-change Notification";

/// Publishes deployment notifications to SNS topics and, when a bus is set, EventBridge.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: Client,
    topic_arn: Option<String>,
    bus: Option<(aws_sdk_eventbridge::Client, String)>,
}

/// The state of a state-change event, in CodeDeploy's words.
pub fn state(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::DeploymentStart => "START",
        NotificationKind::DeploymentSuccess => "SUCCESS",
        NotificationKind::DeploymentFailure => "FAILURE",
        NotificationKind::DeploymentStop => "STOP",
        NotificationKind::DeploymentRollback => "ROLLBACK",
    }
}

/// The `detail` of a state-change event: CodeDeploy's fields (`application`,
/// `deploymentGroup`, `deploymentId`, `state`, `region`) and the deployment.
pub fn event_detail(kind: NotificationKind, dep: &Deployment, region: &str) -> serde_json::Value {
    let mut d = described(dep, region);
    d.insert("application".into(), dep.application.clone().into());
    d.insert("deploymentGroup".into(), dep.group.clone().into());
    d.insert("state".into(), state(kind).into());
    serde_json::Value::Object(d)
}

/// What every notification says of the deployment, whatever its channel.
fn described(dep: &Deployment, region: &str) -> serde_json::Map<String, serde_json::Value> {
    let serde_json::Value::Object(fields) = serde_json::json!({
        "deploymentId": dep.id,
        "region": region,
        "target": dep.target.to_json(),
        "currentVersion": dep.target.current_label(),
        "targetVersion": dep.target.target_label(),
        "status": dep.status().as_str(),
        "rolledBack": dep.rolled_back(),
        "deploymentConfig": dep.config.name,
        "reason": dep.error().map(|e| format!("{}: {}", e.code.as_str(), e.message)),
    }) else {
        unreachable!("a JSON object literal")
    };
    fields
}

/// The JSON message of an SNS notification: CodeDeploy trigger names
/// (`event`, `applicationName`, `deploymentGroupName`) and the deployment.
pub fn message(kind: NotificationKind, dep: &Deployment, region: &str) -> serde_json::Value {
    let mut m = described(dep, region);
    m.insert("event".into(), kind.as_str().into());
    m.insert("applicationName".into(), dep.application.clone().into());
    m.insert("deploymentGroupName".into(), dep.group.clone().into());
    serde_json::Value::Object(m)
}

impl Notifier {
    /// A notifier; without a topic it does nothing.
    pub fn new(client: Client, topic_arn: Option<String>) -> Notifier {
        Notifier {
            client,
            topic_arn: topic_arn.filter(|t| !t.is_empty()),
            bus: None,
        }
    }

    /// Also puts every notification on this EventBridge bus (name or ARN) as a
    /// [`STATE_CHANGE_DETAIL_TYPE`] event from [`EVENT_SOURCE`].
    pub fn with_event_bus(mut self, client: aws_sdk_eventbridge::Client, bus: String) -> Notifier {
        if !bus.is_empty() {
            self.bus = Some((client, bus));
        }
        self
    }

    /// The EventBridge bus, if configured.
    pub fn event_bus(&self) -> Option<&str> {
        self.bus.as_ref().map(|(_, b)| b.as_str())
    }

    /// The topic, if configured.
    pub fn topic(&self) -> Option<&str> {
        self.topic_arn.as_deref()
    }

    /// Publishes one notification of the deployment's outbox to Cutover's topic, to the
    /// deployment group's own topic if it has one, and as a state-change event. Every
    /// destination is tried; the first error is returned. A notification may be sent more
    /// than once (a tick that died before marking it sent): each copy carries the same
    /// `notificationId` (message attribute and body field; `notificationId` in the event
    /// detail) for subscribers to drop duplicates.
    pub async fn publish(&self, note: &Outgoing, dep: &Deployment, region: &str) -> Result<()> {
        let mut topics: Vec<&str> = self.topic_arn.iter().map(String::as_str).collect();
        if let Some(own) = dep.topic_arn.as_deref() {
            if !topics.contains(&own) {
                topics.push(own);
            }
        }
        let mut first_error = None;
        for topic in topics {
            if let Err(e) = self.publish_to(topic, note, dep, region).await {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = self.put_event(note, dep, region).await {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn put_event(&self, note: &Outgoing, dep: &Deployment, region: &str) -> Result<()> {
        let Some((client, bus)) = &self.bus else {
            return Ok(());
        };
        let mut detail = event_detail(note.kind, dep, region);
        detail["notificationId"] = note.id.clone().into();
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(EVENT_SOURCE)
            .detail_type(STATE_CHANGE_DETAIL_TYPE)
            .detail(detail.to_string())
            .build();
        let out = client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| Error::aws("EventBridge", "PutEvents", &e))?;
        // PutEvents answers 200 with per-entry failures.
        match out.entries().first().and_then(|e| e.error_code()) {
            Some(code) => Err(Error::Aws {
                service: "EventBridge",
                operation: "PutEvents",
                message: format!(
                    "{code}: {}",
                    out.entries()[0].error_message().unwrap_or("no message")
                ),
                retryable: crate::error::is_retryable_code(code),
            }),
            None => Ok(()),
        }
    }

    async fn publish_to(
        &self,
        topic: &str,
        note: &Outgoing,
        dep: &Deployment,
        region: &str,
    ) -> Result<()> {
        let kind = note.kind;
        let mut body = message(kind, dep, region);
        body["notificationId"] = note.id.clone().into();
        let body = body.to_string();
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map_err(|e| Error::Corrupt(e.to_string()))
        };
        self.client
            .publish()
            .topic_arn(topic)
            .subject(
                format!("{}: {} {}", kind.as_str(), dep.id, dep.target.describe())
                    .chars()
                    .take(99)
                    .collect::<String>(),
            )
            .message(body)
            .message_attributes("event", attr(kind.as_str())?)
            .message_attributes("deploymentId", attr(&dep.id)?)
            .message_attributes("notificationId", attr(&note.id)?)
            .send()
            .await
            .map_err(|e| Error::aws("SNS", "Publish", &e))?;
        Ok(())
    }
}
