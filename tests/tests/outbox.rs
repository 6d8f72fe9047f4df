//! The outbox on the wire: SNS Publish refused (the tap takes SNS down, every SDK attempt
//! throttled) when a drift is found and when a pause ends. The alert is recorded as due on
//! the state item with what it reports; once SNS answers again, the next reconciler run
//! delivers it exactly once, and a run after that sends nothing. Before, the drift was
//! stored before its Publish and the pause cleared before its alert: one refused Publish
//! lost them for good.

use failover::engine::ReconcileSettings;
use failover::ports::ControlStore;
use integration_tests::harness::tap::FaultKind;
use integration_tests::*;
use serde_json::json;

fn kinds(alerts: &[SnsEnvelope]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_drift_alert_refused_by_sns_is_delivered_once_by_the_next_run() {
    let w = World::start(json!({})).await;
    let tap = w.tap();
    let engine = failover::adapters::aws::engine(&tap.sdk_config(&w.sdk), &w.config, "test");
    // Primary active, but its check forced unhealthy by hand.
    w.set_primary_flags(true, true).await;
    tap.set_outage("sns", Some(FaultKind::Throttle));
    let r = engine
        .reconcile(&inv("r1"), &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(r.drifts, 1, "{r:?}");
    assert!(w.alerts().await.is_empty(), "SNS refused it");
    let item = w.state_item().await.unwrap();
    assert!(
        item.contains_key("drift") && item.contains_key("outbox"),
        "the drift and its alert are stored together: {item:?}"
    );
    tap.set_outage("sns", None);
    let r = engine
        .reconcile(&inv("r2"), &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(r.drifts, 0, "reported once: {r:?}");
    assert_eq!(
        kinds(&w.alerts().await),
        ["drift"],
        "delivered by the next run"
    );
    assert!(!w.state_item().await.unwrap().contains_key("outbox"));
    engine
        .reconcile(&inv("r3"), &ReconcileSettings::default())
        .await
        .unwrap();
    assert!(w.alerts().await.is_empty(), "exactly once");
}

#[tokio::test]
async fn a_pause_expiry_alert_refused_by_sns_is_delivered_once_with_one_record() {
    let w = World::start(json!({})).await;
    let tap = w.tap();
    let p = w.ports(&tap.sdk_config(&w.sdk));
    let clock = TestClock::now_wall();
    let engine = failover::Engine::new(
        p.store,
        p.health_checks,
        p.alarms,
        p.notifier,
        clock.clone(),
        "test",
    );
    let inv_at = |clock: &TestClock| failover::engine::Invocation {
        request_id: format!("inv-{}", clock.millis()),
        deadline: clock.millis() + 60_000,
    };
    let until = chrono::DateTime::from_timestamp_millis(clock.millis() + 120_000)
        .unwrap()
        .to_rfc3339();
    let r = engine
        .handle_operator_request(&json!({"action": "pause", "service": "checkout", "reason": "db upgrade", "requested_by": "bob", "until": until}), &inv_at(&clock))
        .await
        .unwrap();
    assert!(r.ok, "{r:?}");
    assert_eq!(kinds(&w.alerts().await), ["pause"]);
    clock.advance_minutes(3);
    tap.set_outage("sns", Some(FaultKind::Throttle));
    let r = engine
        .reconcile(&inv_at(&clock), &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(r.pauses_expired, 1, "{r:?}");
    assert!(w.alerts().await.is_empty(), "SNS refused it");
    let item = w.state_item().await.unwrap();
    assert!(
        !item.contains_key("pause") && item.contains_key("outbox"),
        "{item:?}"
    );
    tap.set_outage("sns", None);
    clock.advance_minutes(1);
    let r = engine
        .reconcile(&inv_at(&clock), &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(r.pauses_expired, 0, "{r:?}");
    assert_eq!(
        kinds(&w.alerts().await),
        ["resume"],
        "delivered by the next run"
    );
    clock.advance_minutes(1);
    engine
        .reconcile(&inv_at(&clock), &ReconcileSettings::default())
        .await
        .unwrap();
    assert!(w.alerts().await.is_empty(), "exactly once");
    assert!(!w.state_item().await.unwrap().contains_key("outbox"));
    let records = w
        .ports(&w.sdk)
        .store
        .recent_history("checkout", 50)
        .await
        .unwrap();
    let resumed = records
        .iter()
        .filter(|r| r.what.starts_with("pause expired"))
        .count();
    assert_eq!(resumed, 1, "one audit record: {records:?}");
}
