//! CloudWatch, in the region each call names: the alarms and the replica lag read on the
//! secondary, the switch metric published and read back, and Route 53's health-check
//! status metric (us-east-1).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, ScanBy, StandardUnit,
    StateValue,
};
use aws_sdk_cloudwatch::Client;

use super::classify;
use crate::domain::arn::AlarmArn;
use crate::domain::catalog::ReplicaLag;
use crate::domain::event::ObservedState;
use crate::domain::switch::{
    HEALTH_STATUS_DIMENSION, HEALTH_STATUS_METRIC, HEALTH_STATUS_NAMESPACE, HEALTH_STATUS_REGION,
    SWITCH_DIMENSION, SWITCH_METRIC, SWITCH_NAMESPACE,
};
use crate::domain::time::Millis;
use crate::ports::{
    AwsError, CloudWatch, Datapoint, ErrorKind, MAX_ALARMS_PER_READ, MAX_SERIES_PER_READ,
    MAX_VALUES_PER_PUT,
};

/// How far back the replica-lag reading looks for its latest datapoint.
const LAG_LOOKBACK_MS: Millis = 5 * 60_000;
/// How far back the switch metric's latest datapoint is looked for.
pub const SWITCH_LOOKBACK_MS: Millis = 5 * 60_000;
/// The period every metric read here asks for.
const PERIOD_SECONDS: i32 = 60;
/// Values a PutMetricData call carries. The request is CBOR (smithy-rpcv2-cbor): one
/// datum with an 80-character service name (the longest a catalog accepts) is under 200
/// bytes, so a full call of [`MAX_VALUES_PER_PUT`] stays far below the 1 MB payload limit.
const VALUES_PER_PUT: usize = MAX_VALUES_PER_PUT;

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

/// One GetMetricData series: a metric with one dimension, a statistic, 60 s periods.
fn series(
    id: String,
    namespace: &str,
    metric: &str,
    dimension: (&str, &str),
    stat: &str,
) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(
            Dimension::builder()
                .name(dimension.0)
                .value(dimension.1)
                .build(),
        )
        .build();
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(PERIOD_SECONDS)
                .stat(stat)
                .build(),
        )
        .return_data(true)
        .build()
}

impl CloudWatchAlarms {
    /// GetMetricData over `keys` (one series each, built by `query` from its id), at most
    /// [`MAX_SERIES_PER_READ`] series a call, every page (NextToken) read: each key's
    /// datapoints in the order `scan_by` asks, keys without any absent. Ids are `<prefix><n>`.
    async fn metric_data(
        &self,
        region: &str,
        keys: &[String],
        query: impl Fn(String, &str) -> MetricDataQuery,
        (from, to): (Millis, Millis),
        scan_by: ScanBy,
    ) -> Result<HashMap<String, Vec<Datapoint>>, AwsError> {
        let mut wanted: Vec<&String> = keys.iter().collect();
        wanted.sort();
        wanted.dedup();
        let mut out: HashMap<String, Vec<Datapoint>> = HashMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let client = self.client(region);
        for chunk in wanted.chunks(MAX_SERIES_PER_READ) {
            let queries: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, key)| query(format!("s{i}"), key))
                .collect();
            let mut pages = client
                .get_metric_data()
                .set_metric_data_queries(Some(queries))
                .start_time(to_datetime(from))
                .end_time(to_datetime(to))
                .scan_by(scan_by.clone())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("cloudwatch", "GetMetricData", &e))?;
                for result in page.metric_data_results() {
                    let Some(key) = result
                        .id()
                        .and_then(|id| id.strip_prefix('s'))
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| chunk.get(n))
                    else {
                        continue;
                    };
                    let points =
                        result
                            .timestamps()
                            .iter()
                            .zip(result.values())
                            .filter_map(|(t, v)| {
                                Some(Datapoint {
                                    at: t.to_millis().ok()?,
                                    value: *v,
                                })
                            });
                    out.entry((*key).clone()).or_default().extend(points);
                }
            }
        }
        out.retain(|_, points| !points.is_empty());
        Ok(out)
    }
}

impl CloudWatch for CloudWatchAlarms {
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

    async fn put_switch_values(
        &self,
        region: &str,
        values: &[(String, f64)],
        now: Millis,
    ) -> Result<(), AwsError> {
        if values.is_empty() {
            return Ok(());
        }
        let client = self.client(region);
        for chunk in values.chunks(VALUES_PER_PUT) {
            let data: Vec<MetricDatum> = chunk
                .iter()
                .map(|(service, value)| {
                    MetricDatum::builder()
                        .metric_name(SWITCH_METRIC)
                        .dimensions(
                            Dimension::builder()
                                .name(SWITCH_DIMENSION)
                                .value(service)
                                .build(),
                        )
                        .timestamp(to_datetime(now))
                        .value(*value)
                        .unit(StandardUnit::None)
                        .build()
                })
                .collect();
            client
                .put_metric_data()
                .namespace(SWITCH_NAMESPACE)
                .set_metric_data(Some(data))
                .send()
                .await
                .map_err(|e| classify("cloudwatch", "PutMetricData", &e))?;
        }
        Ok(())
    }

    async fn switch_values(
        &self,
        region: &str,
        services: &[String],
        now: Millis,
    ) -> Result<HashMap<String, Datapoint>, AwsError> {
        let series = self
            .metric_data(
                region,
                services,
                |id, service| {
                    series(
                        id,
                        SWITCH_NAMESPACE,
                        SWITCH_METRIC,
                        (SWITCH_DIMENSION, service),
                        "Maximum",
                    )
                },
                (now - SWITCH_LOOKBACK_MS, now + 60_000),
                ScanBy::TimestampDescending,
            )
            .await?;
        Ok(series
            .into_iter()
            .filter_map(|(service, points)| {
                let newest = points.into_iter().max_by_key(|p| p.at)?;
                Some((service, newest))
            })
            .collect())
    }

    async fn health_statuses(
        &self,
        health_check_ids: &[String],
        from: Millis,
        now: Millis,
    ) -> Result<HashMap<String, Vec<Datapoint>>, AwsError> {
        let mut series = self
            .metric_data(
                HEALTH_STATUS_REGION,
                health_check_ids,
                |id, check| {
                    series(
                        id,
                        HEALTH_STATUS_NAMESPACE,
                        HEALTH_STATUS_METRIC,
                        (HEALTH_STATUS_DIMENSION, check),
                        "Minimum",
                    )
                },
                (from, now),
                ScanBy::TimestampAscending,
            )
            .await?;
        // Oldest first, whatever order the pages came in.
        for points in series.values_mut() {
            points.sort_by_key(|p| p.at);
        }
        Ok(series)
    }
}
