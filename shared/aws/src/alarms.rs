//! CloudWatch alarms: read the state of the alarms a deployment watches.

use crate::error::{Error, Result};
use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_cloudwatch::Client;
use cutover_core::model::{AlarmState, AlarmView};

/// Reads CloudWatch alarm states.
#[derive(Debug, Clone)]
pub struct Alarms {
    client: Client,
}

impl Alarms {
    /// Alarms on a CloudWatch client.
    pub fn new(client: Client) -> Alarms {
        Alarms { client }
    }

    /// Reads the named metric and composite alarms in one call (at most 100 names). An
    /// alarm that does not exist is reported as [`AlarmState::Missing`].
    pub async fn read(&self, names: &[String]) -> Result<Vec<AlarmView>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| Error::aws("CloudWatch", "DescribeAlarms", &e))?;
        let found: Vec<(String, Option<&StateValue>, Option<u64>)> = out
            .metric_alarms()
            .iter()
            .map(|a| {
                (
                    a.alarm_name().unwrap_or_default().to_string(),
                    a.state_value(),
                    a.state_transitioned_timestamp()
                        .or(a.state_updated_timestamp())
                        .and_then(|t| t.to_millis().ok())
                        .map(|t| t.max(0) as u64),
                )
            })
            .chain(out.composite_alarms().iter().map(|a| {
                (
                    a.alarm_name().unwrap_or_default().to_string(),
                    a.state_value(),
                    a.state_transitioned_timestamp()
                        .or(a.state_updated_timestamp())
                        .and_then(|t| t.to_millis().ok())
                        .map(|t| t.max(0) as u64),
                )
            }))
            .collect();
        Ok(names
            .iter()
            .map(|name| match found.iter().find(|(n, _, _)| n == name) {
                None => AlarmView {
                    name: name.clone(),
                    state: AlarmState::Missing,
                    updated_at: None,
                },
                Some((_, state, updated_at)) => AlarmView {
                    name: name.clone(),
                    state: match state {
                        Some(StateValue::Alarm) => AlarmState::Alarm,
                        Some(StateValue::Ok) => AlarmState::Ok,
                        _ => AlarmState::InsufficientData,
                    },
                    updated_at: *updated_at,
                },
            })
            .collect())
    }
}
