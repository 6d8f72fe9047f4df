//! The AWS resources provisioning is made of, one SDK call (or a few) each: the control
//! table, the alert topic with its SQS subscriber, health checks, alarms, catalog items.
//!
//! They panic with the operation and the SDK error (full context) on failure:
//! they set up and inspect test fixtures, they are not the code under test.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;

use crate::harness::emulator::in_region;

/// Partition key attribute of the control table.
pub const CONTROL_TABLE_PK: &str = "pk";
/// Sort key attribute of the control table.
pub const CONTROL_TABLE_SK: &str = "sk";

fn fail(operation: &str, error: impl std::error::Error) -> ! {
    panic!("{operation} failed: {}", DisplayErrorContext(&error))
}

/// A string unique within this test process run (for CallerReference etc.).
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------- DynamoDB

/// Creates the control table: `pk` (S) hash key, `sk` (S) range key,
/// on-demand billing. Returns the table name.
pub async fn create_control_table(config: &SdkConfig, name: &str) -> String {
    let client = aws_sdk_dynamodb::Client::new(config);
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .expect("key schema element")
    };
    let def = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition")
    };
    let out = client
        .create_table()
        .table_name(name)
        .key_schema(key(CONTROL_TABLE_PK, KeyType::Hash))
        .key_schema(key(CONTROL_TABLE_SK, KeyType::Range))
        .attribute_definitions(def(CONTROL_TABLE_PK))
        .attribute_definitions(def(CONTROL_TABLE_SK))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateTable {name}"), e));
    out.table_description()
        .and_then(|d| d.table_name())
        .unwrap_or(name)
        .to_string()
}

/// Enables TTL on `attribute` of `table`. moto records the setting (and
/// DescribeTimeToLive reports it) but never expires items.
pub async fn enable_ttl(config: &SdkConfig, table: &str, attribute: &str) {
    aws_sdk_dynamodb::Client::new(config)
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(attribute)
                .build()
                .expect("ttl specification"),
        )
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("UpdateTimeToLive {table}"), e));
}

/// Writes one catalog item (`pk` = `catalog`, `sk` = the service), as Terraform does.
pub async fn put_catalog_entry(config: &SdkConfig, table: &str, service: &str, definition: &str) {
    aws_sdk_dynamodb::Client::new(config)
        .put_item()
        .table_name(table)
        .item(CONTROL_TABLE_PK, AttributeValue::S("catalog".into()))
        .item(CONTROL_TABLE_SK, AttributeValue::S(service.into()))
        .item("definition", AttributeValue::S(definition.into()))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutItem catalog {service}"), e));
}

// ------------------------------------------------------------- SNS and SQS

/// Creates SNS topic `topic_name` and an SQS queue `<topic_name>-sink`
/// subscribed to it (RawMessageDelivery=false, so each SQS body is the SNS
/// notification JSON), with a queue policy allowing the topic to send.
/// Returns `(topic_arn, queue_url)`.
pub async fn create_topic_with_queue(config: &SdkConfig, topic_name: &str) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(config);

    let topic_arn = sns
        .create_topic()
        .name(topic_name)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateTopic {topic_name}"), e))
        .topic_arn()
        .expect("CreateTopic returns a TopicArn")
        .to_string();

    let (queue_url, queue_arn) =
        create_queue_sent_by(config, &format!("{topic_name}-sink"), "sns", &topic_arn).await;

    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "false")
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap_or_else(|e| fail("Subscribe sqs", e));

    (topic_arn, queue_url)
}

/// An SQS queue `name` that `service` (`sns`, `events`) may send to from `source_arn` (the
/// queue policy AWS needs; moto does not check it): its URL and ARN.
async fn create_queue_sent_by(
    config: &SdkConfig,
    name: &str,
    service: &str,
    source_arn: &str,
) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(config);
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateQueue {name}"), e))
        .queue_url()
        .expect("CreateQueue returns a QueueUrl")
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| fail("GetQueueAttributes QueueArn", e))
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("GetQueueAttributes returns the QueueArn")
        .clone();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowSourceToSend",
            "Effect": "Allow",
            "Principal": { "Service": format!("{service}.amazonaws.com") },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": source_arn } }
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .unwrap_or_else(|e| fail("SetQueueAttributes Policy", e));
    (queue_url, queue_arn)
}

// ----------------------------------------------------------------- EventBridge

/// The pattern of the rule that catches every alert's event, as `infra/`'s integrations do.
pub fn alert_event_pattern() -> serde_json::Value {
    json!({"source": [failover::domain::alert::EVENT_SOURCE]})
}

/// A rule `<name>` on the default bus matching every alert's event, with an SQS queue
/// `<name>-sink` as its target (and the queue policy EventBridge needs on AWS; moto does
/// not check it). Returns the queue's URL. Every such rule in one moto sees every event.
pub async fn create_alert_event_rule(config: &SdkConfig, name: &str) -> String {
    let events = aws_sdk_eventbridge::Client::new(config);
    let rule_arn = events
        .put_rule()
        .name(name)
        .event_bus_name("default")
        .event_pattern(alert_event_pattern().to_string())
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutRule {name}"), e))
        .rule_arn()
        .unwrap_or_default()
        .to_string();
    let (queue_url, queue_arn) =
        create_queue_sent_by(config, &format!("{name}-sink"), "events", &rule_arn).await;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("sink")
        .arn(&queue_arn)
        .build()
        .expect("a target with an id and an ARN");
    let out = events
        .put_targets()
        .rule(name)
        .event_bus_name("default")
        .targets(target)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutTargets {name}"), e));
    assert_eq!(out.failed_entry_count(), 0, "PutTargets {name}: {out:?}");
    queue_url
}

// ----------------------------------------------------------------- Route 53

/// Creates an HTTPS health check on `fqdn`:443 `/health` with a unique
/// CallerReference. Returns its id.
pub async fn create_health_check(config: &SdkConfig, fqdn: &str) -> String {
    let health_check_config = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Https)
        .fully_qualified_domain_name(fqdn)
        .port(443)
        .resource_path("/health")
        .request_interval(30)
        .failure_threshold(3)
        .build()
        .expect("health check config");
    let out = aws_sdk_route53::Client::new(config)
        .create_health_check()
        .caller_reference(format!("it-{}", unique_suffix()))
        .health_check_config(health_check_config)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateHealthCheck {fqdn}"), e));
    out.health_check()
        .expect("CreateHealthCheck returns the health check")
        .id()
        .to_string()
}

/// `(disabled, inverted, version)` of health check `id`. moto: version stays 1
/// forever (see the emulator capability tests).
pub async fn get_health_check(config: &SdkConfig, id: &str) -> (bool, bool, i64) {
    let out = aws_sdk_route53::Client::new(config)
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("GetHealthCheck {id}"), e));
    let check = out
        .health_check()
        .expect("GetHealthCheck returns the health check");
    let cfg = check
        .health_check_config()
        .expect("health check has a config");
    (
        cfg.disabled().unwrap_or(false),
        cfg.inverted().unwrap_or(false),
        check.health_check_version(),
    )
}

// --------------------------------------------------------------- CloudWatch

/// Creates (or overwrites) metric alarm `name` in `region` (metric
/// `Failover/Test` `Errors`, Sum over 60 s >= 1, one period) and returns its
/// ARN as DescribeAlarms reports it:
/// `arn:aws:cloudwatch:<region>:123456789012:alarm:<name>` in moto.
pub async fn put_alarm(config: &SdkConfig, region: &str, name: &str) -> String {
    let client = aws_sdk_cloudwatch::Client::new(&in_region(config, region));
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("Failover/Test")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutMetricAlarm {name} in {region}"), e));
    let described = client
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("DescribeAlarms {name} in {region}"), e));
    described
        .metric_alarms()
        .first()
        .and_then(|a| a.alarm_arn())
        .unwrap_or_else(|| panic!("DescribeAlarms {name} in {region} returned no ARN"))
        .to_string()
}

/// Creates the switch alarm `name` in `region` as `infra/` does: `RegionalFailover` /
/// `PrimaryForcedOut` {Service=`service`}, Maximum over 60 s >= 1, 1 of 1, missing data
/// ignored. moto does not evaluate it from the metric: tests set its state
/// (SetAlarmState) as CloudWatch would. Returns its ARN.
pub async fn put_switch_alarm(
    config: &SdkConfig,
    region: &str,
    name: &str,
    service: &str,
) -> String {
    use failover::domain::switch::{SWITCH_DIMENSION, SWITCH_METRIC, SWITCH_NAMESPACE};
    let client = aws_sdk_cloudwatch::Client::new(&in_region(config, region));
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace(SWITCH_NAMESPACE)
        .metric_name(SWITCH_METRIC)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(SWITCH_DIMENSION)
                .value(service)
                .build(),
        )
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .datapoints_to_alarm(1)
        .threshold(1.0)
        .treat_missing_data("ignore")
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutMetricAlarm {name} in {region}"), e));
    set_alarm_state(config, region, name, "OK").await;
    format!("arn:aws:cloudwatch:{region}:123456789012:alarm:{name}")
}

/// Publishes Route 53's `HealthCheckStatus` for check `id` (1 healthy, 0 not) in
/// us-east-1 at each of `at` (Unix ms), as Route 53's checkers would: moto evaluates no
/// health check, so the tests play its checkers.
pub async fn put_health_status(config: &SdkConfig, id: &str, healthy: bool, at: &[i64]) {
    use failover::domain::switch::{
        HEALTH_STATUS_DIMENSION, HEALTH_STATUS_METRIC, HEALTH_STATUS_NAMESPACE,
        HEALTH_STATUS_REGION,
    };
    let data: Vec<_> = at
        .iter()
        .map(|t| {
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name(HEALTH_STATUS_METRIC)
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name(HEALTH_STATUS_DIMENSION)
                        .value(id)
                        .build(),
                )
                .timestamp(aws_smithy_types::DateTime::from_millis(*t))
                .value(if healthy { 1.0 } else { 0.0 })
                .build()
        })
        .collect();
    aws_sdk_cloudwatch::Client::new(&in_region(config, HEALTH_STATUS_REGION))
        .put_metric_data()
        .namespace(HEALTH_STATUS_NAMESPACE)
        .set_metric_data(Some(data))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("PutMetricData HealthCheckStatus {id}"), e));
}

/// SetAlarmState on alarm `name` in `region`; `state` is `"ALARM"`, `"OK"` or
/// `"INSUFFICIENT_DATA"`.
pub async fn set_alarm_state(config: &SdkConfig, region: &str, name: &str, state: &str) {
    let value = StateValue::from(state);
    assert!(
        StateValue::values().contains(&state),
        "unknown alarm state {state:?}"
    );
    aws_sdk_cloudwatch::Client::new(&in_region(config, region))
        .set_alarm_state()
        .alarm_name(name)
        .state_value(value)
        .state_reason(format!("integration test set {state}"))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("SetAlarmState {name}={state} in {region}"), e));
}

/// The switch metric `RegionalFailover`/`PrimaryForcedOut` {Service=`service`} in `region`
/// between `from` and `to` (Unix ms), per 60 s period, oldest first: `(period start ms,
/// Minimum, Maximum, SampleCount)`. SampleCount counts the datapoints published in that minute.
pub async fn switch_datapoints(
    config: &SdkConfig,
    region: &str,
    service: &str,
    (from, to): (i64, i64),
) -> Vec<(i64, f64, f64, f64)> {
    use failover::domain::switch::{SWITCH_DIMENSION, SWITCH_METRIC, SWITCH_NAMESPACE};
    let out = aws_sdk_cloudwatch::Client::new(&in_region(config, region))
        .get_metric_statistics()
        .namespace(SWITCH_NAMESPACE)
        .metric_name(SWITCH_METRIC)
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name(SWITCH_DIMENSION)
                .value(service)
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_millis(from))
        .end_time(aws_smithy_types::DateTime::from_millis(to))
        .period(60)
        .statistics(Statistic::Minimum)
        .statistics(Statistic::Maximum)
        .statistics(Statistic::SampleCount)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("GetMetricStatistics {service} in {region}"), e));
    let mut points: Vec<(i64, f64, f64, f64)> = out
        .datapoints()
        .iter()
        .map(|d| {
            (
                d.timestamp().and_then(|t| t.to_millis().ok()).unwrap_or(0),
                d.minimum().unwrap_or(f64::NAN),
                d.maximum().unwrap_or(f64::NAN),
                d.sample_count().unwrap_or(0.0),
            )
        })
        .collect();
    points.sort_by_key(|p| p.0);
    points
}

/// The state of alarm `name` in `region` (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
pub async fn alarm_state(config: &SdkConfig, region: &str, name: &str) -> String {
    let out = aws_sdk_cloudwatch::Client::new(&in_region(config, region))
        .describe_alarms()
        .alarm_names(name)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("DescribeAlarms {name} in {region}"), e));
    out.metric_alarms()
        .first()
        .and_then(|a| a.state_value())
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|| panic!("alarm {name} in {region} does not exist"))
}

/// Writes catalog items (`(service, definition)`) with BatchWriteItem, 25 a call.
pub async fn put_catalog_entries(config: &SdkConfig, table: &str, entries: &[(String, String)]) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let client = aws_sdk_dynamodb::Client::new(config);
    for chunk in entries.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|(service, definition)| {
                let put = PutRequest::builder()
                    .item(CONTROL_TABLE_PK, AttributeValue::S("catalog".into()))
                    .item(CONTROL_TABLE_SK, AttributeValue::S(service.clone()))
                    .item("definition", AttributeValue::S(definition.clone()))
                    .build()
                    .expect("put request");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        for _ in 0..10 {
            let out = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut requests))
                .send()
                .await
                .unwrap_or_else(|e| fail(&format!("BatchWriteItem catalog in {table}"), e));
            requests = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
        }
        assert!(requests.is_empty(), "BatchWriteItem left items unprocessed");
    }
}
