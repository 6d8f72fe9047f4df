//! Read-only CloudWatch checks on the secondary, in the region each one names.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue,
};
use aws_sdk_cloudwatch::Client;

use super::classify;
use crate::domain::arn::AlarmArn;
use crate::domain::catalog::ReplicaLag;
use crate::domain::event::ObservedState;
use crate::domain::time::Millis;
use crate::ports::{AlarmReader, AwsError, ErrorKind, MAX_ALARMS_PER_READ};

/// How far back the replica-lag reading looks for its latest datapoint.
const LAG_LOOKBACK_MS: Millis = 5 * 60_000;

#[derive(Debug)]
pub struct CloudWatchAlarms {
    sdk: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl CloudWatchAlarms {
    pub fn new(sdk: SdkConfig) -> Self {
        CloudWatchAlarms {
            sdk,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &str) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let conf = aws_sdk_cloudwatch::config::Builder::from(&self.sdk)
                    .region(aws_sdk_cloudwatch::config::Region::new(region.to_string()));
                Client::from_conf(conf.build())
            })
            .clone()
    }
}

fn observed(v: &StateValue) -> Option<ObservedState> {
    match v {
        StateValue::Alarm => Some(ObservedState::Alarm),
        StateValue::Ok => Some(ObservedState::Ok),
        StateValue::InsufficientData => Some(ObservedState::InsufficientData),
        _ => None,
    }
}

fn to_datetime(ms: Millis) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_millis(ms)
}

impl AlarmReader for CloudWatchAlarms {
    async fn alarm_state(&self, alarm_arn: &str) -> Result<Option<ObservedState>, AwsError> {
        let arn = AlarmArn::parse(alarm_arn).ok_or_else(|| {
            AwsError::new(
                "cloudwatch",
                "DescribeAlarms",
                ErrorKind::Rejected,
                format!("not an alarm ARN: {alarm_arn}"),
            )
        })?;
        let out = self
            .client(arn.region)
            .describe_alarms()
            .alarm_names(arn.alarm_name)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| classify("cloudwatch", "DescribeAlarms", &e))?;
        let metric = out
            .metric_alarms()
            .iter()
            .find_map(|a| a.state_value().and_then(observed));
        let composite = out
            .composite_alarms()
            .iter()
            .find_map(|a| a.state_value().and_then(observed));
        Ok(metric.or(composite))
    }

    async fn alarm_states(
        &self,
        region: &str,
        alarm_names: &[String],
    ) -> Result<HashMap<String, ObservedState>, AwsError> {
        let mut states = HashMap::with_capacity(alarm_names.len());
        if alarm_names.is_empty() {
            return Ok(states);
        }
        // Up to 100 names fit one page of 100 records; the paginator covers the rest anyway.
        let mut pages = self
            .client(region)
            .describe_alarms()
            .set_alarm_names(Some(alarm_names.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .max_records(MAX_ALARMS_PER_READ as i32)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let out = page.map_err(|e| classify("cloudwatch", "DescribeAlarms", &e))?;
            let metric = out
                .metric_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            let composite = out
                .composite_alarms()
                .iter()
                .map(|a| (a.alarm_name(), a.state_value()));
            for (name, state) in metric.chain(composite) {
                if let (Some(name), Some(state)) = (name, state.and_then(observed)) {
                    states.insert(name.to_string(), state);
                }
            }
        }
        Ok(states)
    }

    async fn replica_lag(&self, spec: &ReplicaLag, now: Millis) -> Result<Option<f64>, AwsError> {
        let dims: Vec<Dimension> = spec
            .dimensions
            .iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        let metric = Metric::builder()
            .namespace(&spec.namespace)
            .metric_name(&spec.metric_name)
            .set_dimensions(Some(dims))
            .build();
        let stat = MetricStat::builder()
            .metric(metric)
            .period(60)
            .stat(&spec.statistic)
            .build();
        let query = MetricDataQuery::builder()
            .id("lag")
            .metric_stat(stat)
            .return_data(true)
            .build();
        let out = self
            .client(&spec.region)
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(to_datetime(now - LAG_LOOKBACK_MS))
            .end_time(to_datetime(
                now + Duration::from_secs(60).as_millis() as Millis,
            ))
            .scan_by(ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| classify("cloudwatch", "GetMetricData", &e))?;
        let latest = out
            .metric_data_results()
            .iter()
            .filter(|r| r.id() == Some("lag"))
            .find_map(|r| {
                // Newest first, as asked; pick the newest by timestamp anyway.
                let ts = r.timestamps();
                let vs = r.values();
                ts.iter()
                    .zip(vs.iter())
                    .max_by_key(|(t, _)| t.to_millis().unwrap_or(0))
                    .map(|(_, v)| *v)
            });
        Ok(latest)
    }
}
