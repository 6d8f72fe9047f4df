//! The stage's switch metric and probe (`metric` and `both` modes): the switch alarm, the
//! `PrimaryForcedOut` datapoints read back from moto, and the probe's `HealthCheckStatus`
//! published as Route 53's checkers would (moto evaluates no health check and no alarm).

use chrono::Utc;

use super::{Stage, SERVICE};
use crate::harness::emulator::in_region;
use crate::harness::provision::resources::put_health_status;

/// The switch alarm of a `metric`/`both` service (on `RegionalFailover`/`PrimaryForcedOut`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchAlarm {
    pub region: &'static str,
    pub name: String,
    pub arn: String,
}

impl Stage {
    /// The switch metric's datapoints (`RegionalFailover`/`PrimaryForcedOut`
    /// {Service=checkout}) since provisioning, oldest first, `(Unix ms, value)`: read back
    /// from moto in the switch alarm's region, one-second periods (GetMetricData, Maximum),
    /// so a failover and a failback a few seconds apart stay apart. Empty without a switch
    /// alarm.
    pub async fn switch_datapoints(&self) -> Vec<(i64, f64)> {
        use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
        use failover::domain::switch::{SWITCH_DIMENSION, SWITCH_METRIC, SWITCH_NAMESPACE};
        let Some(alarm) = &self.switch_alarm else {
            return Vec::new();
        };
        let to_smithy = |ms: i64| aws_smithy_types::DateTime::from_millis(ms);
        let query = MetricDataQuery::builder()
            .id("switch")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(SWITCH_NAMESPACE)
                            .metric_name(SWITCH_METRIC)
                            .dimensions(
                                Dimension::builder()
                                    .name(SWITCH_DIMENSION)
                                    .value(SERVICE)
                                    .build(),
                            )
                            .build(),
                    )
                    .period(1)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let out = aws_sdk_cloudwatch::Client::new(&in_region(&self.sdk, alarm.region))
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(to_smithy(self.provisioned_at - 60_000))
            .end_time(to_smithy(Utc::now().timestamp_millis() + 60_000))
            .send()
            .await
            .expect("GetMetricData PrimaryForcedOut");
        let mut points: Vec<(i64, f64)> = out
            .metric_data_results()
            .iter()
            .flat_map(|r| {
                r.timestamps()
                    .iter()
                    .zip(r.values())
                    .filter_map(|(t, v)| Some((t.to_millis().ok()?, *v)))
                    .collect::<Vec<_>>()
            })
            .collect();
        points.sort_by_key(|p| p.0);
        points
    }

    /// The switch alarm's state (`OK`, `ALARM`, `INSUFFICIENT_DATA`), if there is one.
    pub async fn switch_alarm_state(&self) -> Option<String> {
        let alarm = self.switch_alarm.as_ref()?;
        let out = aws_sdk_cloudwatch::Client::new(&in_region(&self.sdk, alarm.region))
            .describe_alarms()
            .alarm_names(&alarm.name)
            .send()
            .await
            .expect("DescribeAlarms switch alarm");
        out.metric_alarms()
            .first()
            .and_then(|a| a.state_value())
            .map(|s| s.as_str().to_string())
    }

    /// Route 53's checkers report the primary's probe healthy (or not) now: its
    /// `HealthCheckStatus` datapoint, published to moto. Nothing without a probe.
    pub async fn report_probe(&self, healthy: bool) -> Option<String> {
        let probe = self.probe_hc.as_ref()?;
        put_health_status(&self.sdk, probe, healthy, &[Utc::now().timestamp_millis()]).await;
        Some(probe.clone())
    }
}

/// The switch metric as read back from moto, and its alarm's state.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchView {
    /// `(Unix ms, value)`, oldest first.
    pub datapoints: Vec<(i64, f64)>,
    pub alarm: String,
}

impl SwitchView {
    /// The newest value published.
    pub fn value(&self) -> Option<f64> {
        self.datapoints.last().map(|p| p.1)
    }

    /// The newest value says failed over.
    pub fn forced_out(&self) -> bool {
        self.value().is_some_and(|v| v >= 1.0)
    }
}

impl std::fmt::Display for SwitchView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value() {
            Some(v) => write!(f, "PrimaryForcedOut={v}")?,
            None => f.write_str("PrimaryForcedOut never published")?,
        }
        write!(f, ", switch alarm {}", self.alarm)
    }
}
