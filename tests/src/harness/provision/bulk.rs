//! Many services at once, for the tests at scale (the region-wide event, the reconciler
//! at 1,000 services): each with its own two health checks (created a few at a time), its
//! observers by ARN only (the engine reads alarms from their events, so none need exist)
//! and its catalog item, written with BatchWriteItem (25 a call).

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use super::resources::{create_health_check, put_catalog_entries};
use super::{PRIMARY_REGION, SECONDARY_REGION};
use crate::harness::world::observer_arn;

/// CreateHealthCheck calls in flight at once (moto answers one request at a time; a few
/// in flight hide the round trips).
const IN_FLIGHT: usize = 8;

/// One service of a bulk provisioning.
#[derive(Debug, Clone)]
pub struct BulkService {
    pub name: String,
    pub primary_hc: String,
    pub secondary_hc: String,
    /// The observers' alarm ARNs: `<name>-o0` in us-east-1, `<name>-o1` in us-west-2,
    /// `<name>-o2` in eu-west-1.
    pub observers: Vec<String>,
}

/// The observer regions of a bulk service, in the order of [`BulkService::observers`].
pub const BULK_OBSERVER_REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// Provisions `<prefix>0000` .. `<prefix>{n-1}` in `table`: two health checks each, three
/// observers by ARN, quorum 2, and `settings` laid over each catalog item (top level,
/// key by key). `switch` (e.g. `{"mode": "metric"}`) is written per service with an
/// `alarm_arn` of `<name>-primary-switch` in the secondary region (an ARN only: no alarm is
/// created). Returns them in order.
pub async fn provision_many(
    sdk: &SdkConfig,
    table: &str,
    prefix: &str,
    n: usize,
    settings: Value,
    switch_mode: Option<&str>,
) -> Vec<BulkService> {
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}{i:04}")).collect();
    let fqdns: Vec<String> = names
        .iter()
        .flat_map(|name| {
            [
                format!("{name}.{PRIMARY_REGION}.example.com"),
                format!("{name}.{SECONDARY_REGION}.example.com"),
            ]
        })
        .collect();
    let ids: Vec<String> = stream::iter(fqdns.iter())
        .map(|fqdn| create_health_check(sdk, fqdn))
        .buffered(IN_FLIGHT)
        .collect()
        .await;
    let services: Vec<BulkService> = names
        .into_iter()
        .zip(ids.chunks(2))
        .map(|(name, hcs)| BulkService {
            observers: BULK_OBSERVER_REGIONS
                .iter()
                .enumerate()
                .map(|(i, r)| observer_arn(r, &format!("{name}-o{i}")))
                .collect(),
            primary_hc: hcs[0].clone(),
            secondary_hc: hcs[1].clone(),
            name,
        })
        .collect();
    let entries: Vec<(String, String)> = services
        .iter()
        .map(|s| {
            let mut definition = json!({
                "name": s.name,
                "primary": {"region": PRIMARY_REGION, "health_check_id": s.primary_hc},
                "secondary": {"region": SECONDARY_REGION, "health_check_id": s.secondary_hc},
                "observers": s.observers,
                "quorum": 2
            });
            for (k, v) in settings.as_object().into_iter().flatten() {
                definition[k] = v.clone();
            }
            if let Some(mode) = switch_mode {
                definition["switch"] = json!({"mode": mode, "alarm_arn": observer_arn(
                    SECONDARY_REGION, &format!("{}-primary-switch", s.name))});
            }
            (s.name.clone(), definition.to_string())
        })
        .collect();
    put_catalog_entries(sdk, table, &entries).await;
    services
}
