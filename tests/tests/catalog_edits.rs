//! A catalog entry edited badly mid-incident, on the wire: moto with the observers' alarms
//! really in ALARM (SetAlarmState), the functions' engines over the real SDK clients.
//! The reconciler keeps the last good definition in the control table; after a
//! `"quorum": "2"` typo a cold alarm-trigger still fails the service over on a quorum,
//! the typo is paged once (two reconcilers racing), and `status` shows the fallback.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use failover::adapters::aws::AwsEngine;
use failover::api::operator_response::CatalogStatus;
use failover::engine::{ReconcileSettings, CATALOG_KEEPER};
use failover::Config;
use integration_tests::harness::provision::resources::{get_health_check, put_catalog_entry};
use integration_tests::harness::stage::{self, Stage};
use integration_tests::*;
use serde_json::json;

fn engine(stage: &Stage, function: &'static str) -> AwsEngine {
    let config = Config {
        table: stage::TABLE.into(),
        topic_arn: stage.topic_arn.clone(),
    };
    failover::adapters::aws::engine(&stage.sdk, &config, function)
}

async fn reconcile(engine: &AwsEngine, id: &str) {
    let report = engine
        .reconcile(&inv(id), &ReconcileSettings::default())
        .await
        .expect("the reconciler run");
    assert!(report.errors.is_empty(), "{report:?}");
}

async fn kept_item(stage: &Stage) -> Option<std::collections::HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&stage.sdk)
        .get_item()
        .table_name(stage::TABLE)
        .key("pk", AttributeValue::S("catalog".into()))
        .key("sk", AttributeValue::S(format!("kept#{}", stage::SERVICE)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn a_bad_edit_mid_incident_keeps_the_service_protected_and_pages_once() {
    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .expect("starting moto");
    let stage = Stage::provision(emulator, &mut |_| {}).await;
    let good = stage.definition.clone();
    put_catalog_entry(&stage.sdk, stage::TABLE, stage::SERVICE, &good.to_string()).await;

    // The reconciler sees the good version and keeps it.
    reconcile(&engine(&stage, CATALOG_KEEPER), "r0").await;
    let kept = kept_item(&stage).await.expect("the kept item");
    assert!(kept.contains_key("last_good"), "{kept:?}");

    // Mid-incident, the entry is overwritten with a typo.
    let mut bad = good.clone();
    bad["quorum"] = json!("2");
    put_catalog_entry(&stage.sdk, stage::TABLE, stage::SERVICE, &bad.to_string()).await;

    // Two reconcilers (cold, racing) read it: exactly one pages.
    let (a, b) = (
        engine(&stage, CATALOG_KEEPER),
        engine(&stage, CATALOG_KEEPER),
    );
    tokio::join!(reconcile(&a, "r1"), reconcile(&b, "r2"));
    reconcile(&engine(&stage, CATALOG_KEEPER), "r3").await;

    // A cold alarm-trigger: two observers really in ALARM.
    let trigger = engine(&stage, "alarm-trigger");
    let mut outcomes = Vec::new();
    for i in 0..2 {
        let o = &stage.observers[i];
        let (at, now) = stage.set_alarm(o.region, &o.name, "ALARM").await;
        assert_eq!(now, "ALARM");
        let event = stage.event(o, "ALARM", "OK", at, &format!("e{i}"));
        let out = trigger
            .handle_alarm_event(&event, &inv(&format!("e{i}")))
            .await
            .expect("the alarm event is handled");
        outcomes.push(out.services.first().map(|s| s.outcome));
    }
    assert_eq!(
        outcomes,
        [Some("vote_recorded"), Some("failed_over")],
        "the votes count on the last good definition"
    );
    let (disabled, inverted, _) = get_health_check(&stage.sdk, &stage.primary_hc).await;
    assert!(disabled && inverted, "the primary is forced unhealthy");

    let alerts = receive_sns_messages(&stage.sdk, &stage.queue_url, Duration::from_secs(1)).await;
    let kinds: Vec<String> = alerts
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "catalog").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| *k == "failover").count(), 1);
    let page = alerts
        .iter()
        .find(|a| a.attribute("event_type").as_deref() == Some("catalog"))
        .unwrap();
    assert!(page.subject.contains("field 'quorum'"), "{}", page.subject);

    let operator = engine(&stage, "operator");
    let r = operator
        .handle_operator_request(
            &json!({"action": "status", "service": stage::SERVICE}),
            &inv("status"),
        )
        .await
        .expect("status");
    match &r.status[0].catalog {
        Some(CatalogStatus::LastGood { field, .. }) => assert_eq!(field, "quorum"),
        None => panic!("status shows no fallback: {:?}", r.status[0]),
    }
}
