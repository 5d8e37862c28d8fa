//! SNS notifications, named like CodeDeploy's triggers.

use crate::error::{Error, Result};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use cutover_core::engine::NotificationKind;
use cutover_core::model::Deployment;

/// Publishes deployment notifications to an SNS topic.
#[derive(Debug, Clone)]
pub struct Notifier {
    client: Client,
    topic_arn: Option<String>,
}

/// The JSON message of a notification.
pub fn message(kind: NotificationKind, dep: &Deployment, region: &str) -> serde_json::Value {
    serde_json::json!({
        "event": kind.as_str(),
        "applicationName": dep.application,
        "deploymentGroupName": dep.group,
        "deploymentId": dep.id,
        "region": region,
        "target": dep.target.to_json(),
        "currentVersion": dep.target.current_label(),
        "targetVersion": dep.target.target_label(),
        "status": dep.status.as_str(),
        "rolledBack": dep.rolled_back,
        "deploymentConfig": dep.config.name,
        "reason": dep.error.as_ref().map(|e| format!("{}: {}", e.code.as_str(), e.message)),
    })
}

impl Notifier {
    /// A notifier; without a topic it does nothing.
    pub fn new(client: Client, topic_arn: Option<String>) -> Notifier {
        Notifier {
            client,
            topic_arn: topic_arn.filter(|t| !t.is_empty()),
        }
    }

    /// The topic, if configured.
    pub fn topic(&self) -> Option<&str> {
        self.topic_arn.as_deref()
    }

    /// Publishes one notification to Cutover's topic and to the deployment group's own
    /// topic, if it has one (each once). Every topic is tried; the first error is returned.
    pub async fn publish(
        &self,
        kind: NotificationKind,
        dep: &Deployment,
        region: &str,
    ) -> Result<()> {
        let mut topics: Vec<&str> = self.topic_arn.iter().map(String::as_str).collect();
        if let Some(own) = dep.topic_arn.as_deref() {
            if !topics.contains(&own) {
                topics.push(own);
            }
        }
        let mut first_error = None;
        for topic in topics {
            if let Err(e) = self.publish_to(topic, kind, dep, region).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    async fn publish_to(
        &self,
        topic: &str,
        kind: NotificationKind,
        dep: &Deployment,
        region: &str,
    ) -> Result<()> {
        let body = message(kind, dep, region).to_string();
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
            .send()
            .await
            .map_err(|e| Error::aws("SNS", "Publish", &e))?;
        Ok(())
    }
}
