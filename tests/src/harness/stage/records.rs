//! The stage's Route 53 failover record pair: created once, listed as Route 53 lists it.

use aws_sdk_route53::types::{
    Change as RecordChange, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
    ResourceRecordSetFailover, RrType,
};

use super::{Stage, PRIMARY_IP, RECORD, RECORD_TTL, SECONDARY_IP, ZONE};
use crate::harness::provision::resources::unique_suffix;

impl Stage {
    /// The failover record pair as Route 53 lists it: `(set id, failover, value, health check)`.
    pub async fn records(&self) -> Vec<RecordView> {
        let out = aws_sdk_route53::Client::new(&self.sdk)
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .send()
            .await
            .expect("ListResourceRecordSets");
        out.resource_record_sets()
            .iter()
            .filter(|r| r.failover().is_some())
            .map(|r| RecordView {
                name: r.name().to_string(),
                set_identifier: r.set_identifier().unwrap_or_default().to_string(),
                failover: r
                    .failover()
                    .map(|f| f.as_str().to_string())
                    .unwrap_or_default(),
                value: r
                    .resource_records()
                    .iter()
                    .map(|v| v.value().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                ttl: r.ttl().unwrap_or_default(),
                health_check_id: r.health_check_id().unwrap_or_default().to_string(),
            })
            .collect()
    }
}

/// The hosted zone [`ZONE`] with the failover pair [`RECORD`] (PRIMARY on the primary's
/// health check, SECONDARY on the secondary's); returns the zone's id.
pub(super) async fn create_failover_records(
    route53: &aws_sdk_route53::Client,
    primary_hc: &str,
    secondary_hc: &str,
) -> String {
    let zone = route53
        .create_hosted_zone()
        .name(ZONE)
        .caller_reference(format!("drill-{}", unique_suffix()))
        .send()
        .await
        .expect("CreateHostedZone");
    let zone_id = zone
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .expect("hosted zone id");
    let record = |id: &str, failover: ResourceRecordSetFailover, ip: &str, hc: &str| {
        RecordChange::builder()
            .action(ChangeAction::Create)
            .resource_record_set(
                ResourceRecordSet::builder()
                    .name(RECORD)
                    .r#type(RrType::A)
                    .set_identifier(id)
                    .failover(failover)
                    .ttl(RECORD_TTL)
                    .health_check_id(hc)
                    .resource_records(
                        ResourceRecord::builder()
                            .value(ip)
                            .build()
                            .expect("resource record"),
                    )
                    .build()
                    .expect("record set"),
            )
            .build()
            .expect("change")
    };
    route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(
            ChangeBatch::builder()
                .changes(record(
                    "primary",
                    ResourceRecordSetFailover::Primary,
                    PRIMARY_IP,
                    primary_hc,
                ))
                .changes(record(
                    "secondary",
                    ResourceRecordSetFailover::Secondary,
                    SECONDARY_IP,
                    secondary_hc,
                ))
                .build()
                .expect("change batch"),
        )
        .send()
        .await
        .expect("ChangeResourceRecordSets");
    zone_id
}

/// One record of the failover pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView {
    pub name: String,
    pub set_identifier: String,
    pub failover: String,
    pub value: String,
    pub ttl: i64,
    pub health_check_id: String,
}
