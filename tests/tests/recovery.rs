//! Recovery confirmed and measured, on the wire: moto with the observers' alarms really
//! set (SetAlarmState), the engine over the real SDK clients on a hand-moved clock.
//! The OK events recover the service with `[RECOVERED]` and the RTO measured from the
//! alarms' own timestamps; an observer whose OK never arrives keeps it `[NOT RECOVERED]`
//! past `recovery_timeout_seconds`, and the reconciler's DescribeAlarms finds it OK later.

use failover::api::operator_response::RecoveryStatus;
use failover::engine::{Invocation, ReconcileSettings};
use integration_tests::*;
use serde_json::{json, Value};

fn inv_at(clock: &TestClock) -> Invocation {
    Invocation {
        request_id: format!("inv-{}", clock.millis()),
        deadline: clock.millis() + 60_000,
    }
}

/// The time of an alarm event's state change (Unix ms).
fn state_time(event: &Value) -> i64 {
    let ts = event["detail"]["state"]["timestamp"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(ts)
        .or_else(|_| chrono::DateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.3f%z"))
        .unwrap()
        .timestamp_millis()
}

async fn deliver(engine: &ClockedEngine, clock: &TestClock, event: &Value) -> (String, String) {
    let out = engine
        .handle_alarm_event(event, &inv_at(clock))
        .await
        .expect("the alarm event is handled");
    let s = &out.services[0];
    (s.outcome.to_string(), s.detail.clone())
}

async fn recovery(engine: &ClockedEngine, clock: &TestClock) -> Option<RecoveryStatus> {
    let out = engine
        .handle_operator_request(
            &json!({"action": "status", "service": "checkout"}),
            &inv_at(clock),
        )
        .await
        .expect("status");
    out.status[0].recovery.clone()
}

async fn event_types(w: &World) -> Vec<String> {
    w.alerts()
        .await
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_observers_ok_events_recover_it_with_the_rto_measured_from_the_alarms() {
    let w = World::start_with(World::checkout_with_alarms()).await;
    let clock = TestClock::now_wall();
    let engine = w.engine_with_clock(clock.clone());
    let a0 = w.alarm(0, "ALARM", "a0").await;
    assert_eq!(deliver(&engine, &clock, &a0).await.0, "vote_recorded");
    let a1 = w.alarm(1, "ALARM", "a1").await;
    assert_eq!(deliver(&engine, &clock, &a1).await.0, "failed_over");
    let a2 = w.alarm(2, "ALARM", "a2").await;
    assert_eq!(deliver(&engine, &clock, &a2).await.0, "held");
    assert_eq!(event_types(&w).await, ["failover"]);
    assert_eq!(
        recovery(&engine, &clock).await.map(|r| r.state),
        Some("watching".into())
    );

    let mut last_ok = 0;
    for i in 0..3 {
        let ok = w.alarm(i, "OK", &format!("ok{i}")).await;
        last_ok = state_time(&ok);
        let (outcome, detail) = deliver(&engine, &clock, &ok).await;
        assert_eq!(outcome, "held");
        assert_eq!(detail.contains("recovered"), i == 2, "{detail}");
        // The duplicate delivery of the completing OK sends nothing more.
        deliver(&engine, &clock, &ok).await;
    }
    let alerts = w.alerts().await;
    let types: Vec<_> = alerts
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect();
    assert_eq!(types, ["recovered"], "exactly one");
    assert!(alerts[0].subject.starts_with("[RECOVERED] checkout"));
    assert!(alerts[0].message.contains("Measured RTO"));
    let r = recovery(&engine, &clock).await.expect("status shows it");
    assert_eq!(r.state, "recovered");
    assert_eq!(
        r.rto_ms,
        Some(last_ok - state_time(&a0)),
        "first ALARM -> the last OK, CloudWatch's timestamps"
    );
    assert_eq!(r.observers_ok.len(), 3);
    engine
        .reconcile(&inv_at(&clock), &ReconcileSettings::default())
        .await
        .unwrap();
    assert!(event_types(&w).await.is_empty(), "the run sends nothing");
}

#[tokio::test]
async fn not_recovered_pages_once_then_the_reconcilers_read_finds_the_lost_ok() {
    let w = World::start_with(World::checkout_with_alarms()).await;
    let clock = TestClock::now_wall();
    let engine = w.engine_with_clock(clock.clone());
    let a0 = w.alarm(0, "ALARM", "a0").await;
    deliver(&engine, &clock, &a0).await;
    let a1 = w.alarm(1, "ALARM", "a1").await;
    assert_eq!(deliver(&engine, &clock, &a1).await.0, "failed_over");
    let ok0 = w.alarm(0, "OK", "ok0").await;
    deliver(&engine, &clock, &ok0).await;
    assert_eq!(event_types(&w).await, ["failover"]);

    // 11 minutes on: observer 1 still in ALARM; observer 2 never left OK (no event), its
    // alarm read OK. One page naming observer 1.
    clock.advance_minutes(11);
    let settings = ReconcileSettings::default();
    let r = engine.reconcile(&inv_at(&clock), &settings).await.unwrap();
    assert_eq!(r.not_recovered, 1, "{r:?}");
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].attribute("event_type").as_deref(),
        Some("not_recovered")
    );
    assert_eq!(alerts[0].attribute("severity").as_deref(), Some("critical"));
    assert!(
        alerts[0].subject.contains("1 of 3 observers still failing"),
        "{}",
        alerts[0].subject
    );
    assert!(alerts[0]
        .message
        .contains("checkout-canary-usw2: ALARM since"));
    clock.advance_minutes(1);
    engine.reconcile(&inv_at(&clock), &settings).await.unwrap();
    assert!(event_types(&w).await.is_empty(), "paged once");
    let r = recovery(&engine, &clock).await.unwrap();
    assert_eq!(r.state, "not_recovered");

    // Observer 1 recovers, its event lost: the next run reads it OK.
    set_alarm_state(&w.sdk, "us-west-2", "checkout-canary-usw2", "OK").await;
    clock.advance_minutes(1);
    let read_at = clock.millis();
    let r = engine.reconcile(&inv_at(&clock), &settings).await.unwrap();
    assert_eq!(r.recovered, 1, "{r:?}");
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].attribute("event_type").as_deref(),
        Some("recovered")
    );
    assert_eq!(alerts[0].attribute("severity").as_deref(), Some("warning"));
    let r = recovery(&engine, &clock).await.unwrap();
    assert_eq!(r.state, "recovered");
    assert_eq!(
        r.rto_ms,
        Some(read_at - state_time(&a0)),
        "dated at the read"
    );
    assert!(r.not_recovered_paged_at.is_some());
    engine.reconcile(&inv_at(&clock), &settings).await.unwrap();
    assert!(event_types(&w).await.is_empty(), "recovered once");
}
