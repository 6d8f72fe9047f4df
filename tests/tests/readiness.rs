//! Continuous failover readiness on the wire (issue 17): moto with the secondary's
//! readiness alarm really set (SetAlarmState), the reconciler run on a hand-moved clock as
//! its one-minute schedule would: one `[NOT READY]` when the secondary stops being ready,
//! nothing repeated while it stays so, one `[READY]` when it is ready again.

use failover::engine::{Invocation, ReconcileSettings};
use integration_tests::*;
use serde_json::json;

fn inv_at(clock: &TestClock) -> Invocation {
    Invocation {
        request_id: format!("run-{}", clock.millis()),
        deadline: clock.millis() + 60_000,
    }
}

async fn readiness_pages(w: &World) -> Vec<(String, String)> {
    w.alerts()
        .await
        .iter()
        .filter(|a| a.attribute("event_type").as_deref() == Some("readiness"))
        .map(|a| {
            (
                a.subject.clone(),
                a.attribute("severity").unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_secondary_not_ready_pages_once_and_ready_again_once() {
    let w = World::start_with(
        World::checkout_with_alarms()
            .readiness_alarm(true)
            .settings(json!({"readiness_interval_seconds": 120})),
    )
    .await;
    let clock = TestClock::now_wall();
    let engine = w.engine_with_clock(clock.clone());
    let settings = ReconcileSettings::default();
    let run = |label: &'static str| {
        let engine = &engine;
        let clock = &clock;
        let settings = &settings;
        async move {
            let r = engine
                .reconcile(&inv_at(clock), settings)
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
            assert!(r.errors.is_empty(), "{label}: {:?}", r.errors);
            r
        }
    };
    // Never evaluated: the first run evaluates it; ready, so no page.
    let r = run("first").await;
    assert_eq!((r.readiness_evaluated, r.readiness_pages), (1, 0), "{r:?}");

    // The secondary's readiness alarm fires and stays in ALARM for ten minutes of runs.
    set_alarm_state(&w.sdk, "eu-west-1", "checkout-secondary-ready", "ALARM").await;
    let mut evaluated = 0;
    for _ in 0..10 {
        clock.advance_minutes(1);
        evaluated += run("alarm").await.readiness_evaluated;
    }
    assert_eq!(
        evaluated, 5,
        "once every 120 s over ten runs a minute apart"
    );
    let pages = readiness_pages(&w).await;
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(
        pages[0]
            .0
            .starts_with("[NOT READY] checkout: eu-west-1 cannot take a failover"),
        "{pages:?}"
    );
    assert_eq!(pages[0].1, "warning");

    // Fixed: one [READY], then nothing more.
    set_alarm_state(&w.sdk, "eu-west-1", "checkout-secondary-ready", "OK").await;
    for _ in 0..10 {
        clock.advance_minutes(1);
        run("ok").await;
    }
    let pages = readiness_pages(&w).await;
    assert_eq!(
        pages.len(),
        1,
        "only the new page is read from the queue: {pages:?}"
    );
    assert_eq!(
        pages[0],
        (
            "[READY] checkout: eu-west-1 ready for failover again".to_string(),
            "info".to_string()
        )
    );
    // status shows it, with its age.
    let out = engine
        .handle_operator_request(
            &json!({"action": "status", "service": "checkout"}),
            &inv_at(&clock),
        )
        .await
        .unwrap();
    let r = out.status[0]
        .readiness
        .clone()
        .expect("readiness in status");
    assert!(r.ready && r.failing.is_empty(), "{r:?}");
    assert_eq!(r.interval_seconds, 120);
}
