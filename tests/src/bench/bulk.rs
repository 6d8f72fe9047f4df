//! Provisioning many services quickly for the switch benchmarks: the same resources and
//! catalog item as [`crate::harness::provision::provision_service`] (two health checks,
//! observers by ARN, the switch alarm in metric and both modes, the deployment's
//! settings), but a few Route 53 and CloudWatch calls in flight at once and the catalog
//! written with BatchWriteItem, 25 items a call, instead of one PutItem each.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::stream::{self, StreamExt};
use serde_json::json;

use super::workload::REGIONS;
use crate::harness::provision::resources::{
    create_health_check, put_switch_alarm, CONTROL_TABLE_PK, CONTROL_TABLE_SK,
};
use crate::harness::provision::{deployment_settings, Service, PRIMARY_REGION, SECONDARY_REGION};
use crate::harness::world::observer_arn;

/// Requests in flight at once while provisioning (moto answers one at a time; this only
/// hides the client's side of each call).
const IN_FLIGHT: usize = 8;

/// The observers of service `name`: one canary alarm in each of [`REGIONS`] (quorum 2).
pub fn observers(name: &str) -> Vec<String> {
    REGIONS
        .iter()
        .map(|r| observer_arn(r, &format!("{name}-canary-{}", r.replace('-', ""))))
        .collect()
}

/// Catalogues `count` services `<prefix>-0000`... in `table`, service `i` in switch mode
/// `mode(i)` (`"health_check"`, `"metric"` or `"both"`).
pub async fn provision(
    sdk: &SdkConfig,
    table: &str,
    prefix: &str,
    count: usize,
    mode: &dyn Fn(usize) -> &'static str,
) -> Vec<Service> {
    let specs: Vec<(String, &'static str)> = (0..count)
        .map(|i| (format!("{prefix}-{i:04}"), mode(i)))
        .collect();
    let services: Vec<Service> = stream::iter(specs)
        .map(|(name, mode)| async move { resources(sdk, name, mode).await })
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    write_catalog(sdk, table, &services).await;
    services
}

async fn resources(sdk: &SdkConfig, name: String, mode: &'static str) -> Service {
    let primary_hc =
        create_health_check(sdk, &format!("{name}.{PRIMARY_REGION}.example.com")).await;
    let secondary_hc =
        create_health_check(sdk, &format!("{name}.{SECONDARY_REGION}.example.com")).await;
    let switch_alarm_arn = match mode {
        "metric" | "both" => Some(
            put_switch_alarm(
                sdk,
                SECONDARY_REGION,
                &format!("{name}-primary-switch"),
                &name,
            )
            .await,
        ),
        _ => None,
    };
    let observers = observers(&name);
    let mut definition = json!({
        "name": name,
        "primary": {"region": PRIMARY_REGION, "health_check_id": primary_hc},
        "secondary": {"region": SECONDARY_REGION, "health_check_id": secondary_hc},
        "observers": observers,
        "quorum": 2
    });
    if let (Some(base), Some(settings)) = (
        definition.as_object_mut(),
        deployment_settings().as_object(),
    ) {
        for (k, v) in settings {
            base.insert(k.clone(), v.clone());
        }
    }
    definition["switch"] = match &switch_alarm_arn {
        Some(arn) => json!({"mode": mode, "alarm_arn": arn}),
        None => json!({"mode": mode}),
    };
    Service {
        name,
        primary_hc,
        secondary_hc,
        observers,
        readiness_alarm_arn: None,
        switch_alarm_arn,
        probe_hc: None,
        definition,
    }
}

/// The catalog items (`pk` = `catalog`, `sk` = the service, `definition`), 25 a call.
async fn write_catalog(sdk: &SdkConfig, table: &str, services: &[Service]) {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    for chunk in services.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|s| {
                let item = HashMap::from([
                    (
                        CONTROL_TABLE_PK.to_string(),
                        AttributeValue::S("catalog".into()),
                    ),
                    (
                        CONTROL_TABLE_SK.to_string(),
                        AttributeValue::S(s.name.clone()),
                    ),
                    (
                        "definition".to_string(),
                        AttributeValue::S(s.definition.to_string()),
                    ),
                ]);
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        // Unprocessed items (throttling on AWS; moto has none) are sent again.
        for _ in 0..5 {
            let out = client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .unwrap_or_else(|e| panic!("BatchWriteItem catalog in {table}: {e:?}"));
            requests = out
                .unprocessed_items
                .and_then(|mut m| m.remove(table))
                .unwrap_or_default();
            if requests.is_empty() {
                break;
            }
        }
        assert!(requests.is_empty(), "BatchWriteItem left items unprocessed");
    }
}
