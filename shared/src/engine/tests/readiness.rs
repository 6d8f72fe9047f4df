//! Continuous failover readiness (issue 17): evaluated by the reconciler on each service's
//! slot, one page when the secondary stops being ready, one when it is ready again.

use serde_json::json;

use super::*;
use crate::domain::event::ObservedState;
use crate::ports::{ControlStore, Runbook};

const SECONDARY_ALARM: &str = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-secondary";
const MINUTE: i64 = 60_000;

async fn run_at(e: &TestEngine, at: i64) -> ReconcileReport {
    e.clock.set(at);
    e.reconcile(
        &inv(&format!("run-{at}"), at),
        &ReconcileSettings::default(),
    )
    .await
    .unwrap()
}

fn readiness_alerts(e: &TestEngine) -> Vec<String> {
    e.notifier
        .sent()
        .iter()
        .filter(|a| a.event_type == "readiness")
        .map(|a| a.subject.clone())
        .collect()
}

fn ready_engine() -> std::sync::Arc<TestEngine> {
    let e = engine_with(json!({
        "preflight": {"secondary_alarm_arn": SECONDARY_ALARM,
                      "capacity": {"kind": "autoscaling_group", "region": "eu-west-1", "name": "web", "at_least": 3}},
        "readiness_interval_seconds": 300
    }));
    e.alarms.set(SECONDARY_ALARM, ObservedState::Ok);
    e.runbook.add_group("eu-west-1", "web", 3, 10, 3);
    e
}

#[tokio::test]
async fn not_ready_is_paged_once_ready_again_once_and_nothing_is_repeated() {
    let e = ready_engine();
    // Never evaluated: evaluated on the next run; ready, so no page.
    let r = run_at(&e, T0).await;
    assert_eq!((r.readiness_evaluated, r.readiness_pages), (1, 0), "{r:?}");
    let st = e.store.state("checkout");
    assert!(st.readiness.as_ref().is_some_and(|r| r.ready), "{st:?}");
    let writes = e.store.control_writes();

    // Warm capacity drops below the floor and the readiness alarm fires.
    e.runbook
        .groups
        .lock()
        .unwrap()
        .get_mut("eu-west-1/web")
        .unwrap()
        .in_service = 1;
    e.alarms.set(SECONDARY_ALARM, ObservedState::Alarm);
    let mut evaluated = 0;
    for m in 1..=15 {
        let r = run_at(&e, T0 + m * MINUTE).await;
        evaluated += r.readiness_evaluated;
    }
    assert_eq!(evaluated, 3, "once per 300 s over 15 runs a minute apart");
    let pages = readiness_alerts(&e);
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(
        pages[0],
        "[NOT READY] checkout: eu-west-1 cannot take a failover (2 checks fail)"
    );
    let sent = e.notifier.sent();
    let msg = &sent
        .iter()
        .find(|a| a.event_type == "readiness")
        .unwrap()
        .message;
    assert!(msg.contains("capacity: autoscaling group web (eu-west-1) InService instances: 1, below the floor of 3"), "{msg}");
    // One write for the change; the unchanged evaluations after it write nothing.
    assert_eq!(
        e.store.control_writes(),
        writes + 1 + 1,
        "the change and its outbox removal"
    );

    // Fixed: one [READY], then quiet.
    e.runbook
        .groups
        .lock()
        .unwrap()
        .get_mut("eu-west-1/web")
        .unwrap()
        .in_service = 3;
    e.alarms.set(SECONDARY_ALARM, ObservedState::Ok);
    for m in 16..=30 {
        run_at(&e, T0 + m * MINUTE).await;
    }
    let pages = readiness_alerts(&e);
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(
        pages[1].starts_with("[READY] checkout: eu-west-1 ready for failover again"),
        "{}",
        pages[1]
    );
    // The status shows it and its age.
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let r = status.status[0].readiness.clone().unwrap();
    assert!(r.ready && r.failing.is_empty(), "{r:?}");
    assert_eq!(r.interval_seconds, 300);
    assert!(
        !r.age.is_empty() && !r.last_evaluated_at.is_empty(),
        "{r:?}"
    );
    // Audited.
    let history = e.store.recent_history("checkout", 20).await.unwrap();
    assert_eq!(history.iter().filter(|h| h.kind == "readiness").count(), 2);
}

#[tokio::test]
async fn a_read_without_an_answer_is_not_a_secondary_that_stopped_being_ready() {
    let e = ready_engine();
    run_at(&e, T0).await;
    // Every slot for half an hour, the group read is throttled.
    for m in 1..=30 {
        e.runbook.failures.fail_next("DescribeAutoScalingGroups");
        run_at(&e, T0 + m * MINUTE).await;
    }
    assert!(readiness_alerts(&e).is_empty());
    assert!(e.store.state("checkout").readiness.unwrap().ready);
    let _ = e.runbook.group("eu-west-1", "web").await;
}

#[tokio::test]
async fn a_failed_over_service_is_not_evaluated_and_a_blocked_failover_agrees_with_readiness() {
    let e = ready_engine();
    e.runbook
        .groups
        .lock()
        .unwrap()
        .get_mut("eu-west-1/web")
        .unwrap()
        .in_service = 0;
    let r = run_at(&e, T0).await;
    assert_eq!(r.readiness_pages, 1, "a first evaluation that fails pages");
    // The same checks gate the failover: the quorum is BLOCKED by capacity.
    e.runbook
        .groups
        .lock()
        .unwrap()
        .get_mut("eu-west-1/web")
        .unwrap()
        .in_service = 5;
    e.clock.set(T0 + MINUTE);
    send(&e, &event(0, "ALARM", T0 + MINUTE - 1000, "a"), "r1")
        .await
        .unwrap();
    send(&e, &event(1, "ALARM", T0 + MINUTE - 1000, "b"), "r2")
        .await
        .unwrap();
    assert_eq!(
        e.store.state("checkout").phase,
        crate::domain::state::Phase::FailedOver
    );
    let before = e.notifier.sent().len();
    for m in 2..=12 {
        let r = run_at(&e, T0 + m * MINUTE).await;
        assert_eq!(
            r.readiness_evaluated, 0,
            "failed over: the secondary is serving"
        );
    }
    assert_eq!(readiness_alerts(&e).len(), 1);
    assert!(e.notifier.sent().len() >= before);
}
