//! CloudWatch alarms: read the state of the alarms a deployment watches.

use crate::error::{Error, Result};
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
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
    /// alarm that does not exist is reported as [`AlarmState::Missing`]. Both alarm types
    /// are asked for: without `AlarmTypes`, DescribeAlarms returns only metric alarms.
    pub async fn read(&self, names: &[String]) -> Result<Vec<AlarmView>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| Error::aws("CloudWatch", "DescribeAlarms", &e))?;
        let found: Vec<(String, Option<&StateValue>, Option<u64>)> = out
            .metric_alarms()
            .iter()
            .map(|a| {
                let at = a
                    .state_transitioned_timestamp()
                    .or(a.state_updated_timestamp());
                (a.alarm_name(), a.state_value(), at)
            })
            .chain(out.composite_alarms().iter().map(|a| {
                let at = a
                    .state_transitioned_timestamp()
                    .or(a.state_updated_timestamp());
                (a.alarm_name(), a.state_value(), at)
            }))
            .map(|(name, state, at)| (name.unwrap_or_default().to_string(), state, millis(at)))
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

/// A CloudWatch timestamp in milliseconds since the epoch.
fn millis(t: Option<&aws_smithy_types::DateTime>) -> Option<u64> {
    t.and_then(|t| t.to_millis().ok()).map(|t| t.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsOutput;
    use aws_sdk_cloudwatch::types::CompositeAlarm;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    #[tokio::test]
    async fn a_composite_alarm_is_asked_for_and_found() {
        // Answers only a request that asks for both alarm types, as AWS would.
        let both = mock!(Client::describe_alarms)
            .match_requests(|r| {
                r.alarm_types() == [AlarmType::MetricAlarm, AlarmType::CompositeAlarm]
            })
            .then_output(|| {
                DescribeAlarmsOutput::builder()
                    .composite_alarms(
                        CompositeAlarm::builder()
                            .alarm_name("checkout-health")
                            .state_value(StateValue::Alarm)
                            .build(),
                    )
                    .build()
            });
        let alarms = Alarms::new(mock_client!(
            aws_sdk_cloudwatch,
            RuleMode::MatchAny,
            [&both]
        ));
        let views = alarms.read(&["checkout-health".to_string()]).await.unwrap();
        assert_eq!(views[0].state, AlarmState::Alarm);
        assert_eq!(both.num_calls(), 1);
    }
}
