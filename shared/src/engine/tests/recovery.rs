//! Recovery confirmed and measured: after a failover the observers' OKs send one
//! `[RECOVERED]` with the measured RTO; duplicates and reordered OKs send nothing more; the
//! timeout pages `[NOT RECOVERED]` once and a later recovery is still told; a failback ends
//! the watch; an OK whose event was lost is found by the reconciler's read.

use super::*;
use crate::domain::event::ObservedState;
use crate::domain::recovery::{OkSource, Recovery};

fn count(e: &TestEngine, kind: &str) -> usize {
    alert_kinds(e).iter().filter(|k| *k == kind).count()
}

fn recovery(e: &TestEngine) -> Option<Recovery> {
    e.store.state("checkout").execution.and_then(|x| x.recovery)
}

/// At `at` on the engine's clock, observer `i` reports `state` (its state changed at `at`).
async fn at(e: &TestEngine, at: i64, i: usize, state: &str) -> Vec<&'static str> {
    e.clock.set(at);
    send(e, &event(i, state, at, &format!("{i}-{state}-{at}")), "inv")
        .await
        .unwrap()
}

/// Observer 0 alarms at T0, observer 1 at T0+10 s (quorum: switched at T0+10 s), observer
/// 2 at T0+20 s.
async fn failed_over(e: &TestEngine) {
    assert_eq!(at(e, T0, 0, "ALARM").await, ["vote_recorded"]);
    assert_eq!(at(e, T0 + 10_000, 1, "ALARM").await, ["failed_over"]);
    assert_eq!(at(e, T0 + 20_000, 2, "ALARM").await, ["held"]);
    assert_eq!(alert_kinds(e), ["failover"]);
}

#[tokio::test]
async fn every_observer_ok_again_sends_one_recovered_with_the_measured_rto() {
    let e = engine();
    failed_over(&e).await;
    let calls_before = e.store.calls.lock().unwrap().len();
    at(&e, T0 + 60_000, 0, "OK").await;
    at(&e, T0 + 70_000, 1, "OK").await;
    let calls: Vec<&str> = e.store.calls.lock().unwrap()[calls_before..]
        .iter()
        .copied()
        .filter(|c| *c != "load_catalog")
        .collect();
    assert_eq!(
        calls,
        [
            "record_vote",
            "append_history",
            "record_vote",
            "append_history"
        ],
        "an OK that does not complete the recovery: the vote and its audit record only"
    );
    assert_eq!(count(&e, "recovered"), 0, "observer 2 still fails");
    assert!(recovery(&e).is_none());
    e.clock.set(T0 + 90_000);
    let out = e
        .handle_alarm_event(
            &event(2, "OK", T0 + 90_000, "2-ok"),
            &inv("inv", T0 + 90_000),
        )
        .await
        .unwrap();
    assert_eq!(count(&e, "recovered"), 1, "{:?}", alert_kinds(&e));
    assert!(
        out.services[0].detail.contains("measured RTO 1m 30s"),
        "{}",
        out.services[0].detail
    );
    let r = recovery(&e).expect("recorded");
    assert_eq!(r.rto_ms, Some(90_000), "first ALARM T0 -> last OK T0+90 s");
    assert_eq!(r.recovered_at, Some(T0 + 90_000));
    assert_eq!(r.first_alarm_at, Some(T0));
    assert_eq!(r.observers_ok.len(), 3);
    assert!(r.observers_ok.iter().all(|o| o.source == OkSource::Event));
    let alert = e.notifier.sent().last().cloned().unwrap();
    assert!(
        alert.subject.starts_with("[RECOVERED] checkout"),
        "{}",
        alert.subject
    );
    assert_eq!(alert.severity, "info");
    for line in [
        "first ALARM",
        "decision",
        "switch",
        "checkout-canary-2 OK",
        "1m 30s (90000 ms)",
    ] {
        assert!(alert.message.contains(line), "{line}: {}", alert.message);
    }
    assert!(
        e.store.state("checkout").outbox.is_empty(),
        "sent and removed"
    );
    let audited = e
        .store
        .history
        .lock()
        .unwrap()
        .iter()
        .any(|(_, h)| h.kind == "recovery");
    assert!(audited, "an audit record");
    // status shows the figures.
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let rs = status.status[0]
        .recovery
        .clone()
        .expect("status shows the recovery");
    assert_eq!(rs.state, "recovered");
    assert_eq!(rs.rto_ms, Some(90_000));
    assert_eq!(rs.observers_ok.len(), 3);
}

#[tokio::test]
async fn duplicate_and_reordered_ok_events_and_later_runs_do_not_send_it_again() {
    let e = engine();
    failed_over(&e).await;
    at(&e, T0 + 60_000, 0, "OK").await;
    at(&e, T0 + 70_000, 1, "OK").await;
    at(&e, T0 + 90_000, 2, "OK").await;
    assert_eq!(count(&e, "recovered"), 1);
    // The same event again, an older OK delivered late, a newer OK, and reconciler runs.
    let last = event(2, "OK", T0 + 90_000, "2-OK-1795000090000");
    send(&e, &last, "again").await.unwrap();
    e.clock.set(T0 + 95_000);
    send(&e, &event(1, "OK", T0 + 65_000, "late"), "late")
        .await
        .unwrap();
    for i in 0..3 {
        e.alarms.set(&observer(i), ObservedState::Ok);
    }
    let r = reconcile(&e).await;
    assert_eq!(r.recovered, 0, "{r:?}");
    e.clock.set(T0 + 900_000);
    let r = reconcile(&e).await;
    assert_eq!((r.recovered, r.not_recovered), (0, 0), "{r:?}");
    assert_eq!(alert_kinds(&e), ["failover", "recovered"]);
    assert_eq!(recovery(&e).unwrap().rto_ms, Some(90_000), "unchanged");
}

#[tokio::test]
async fn not_recovered_after_the_timeout_pages_once_then_a_recovery_is_still_sent() {
    let e = engine();
    failed_over(&e).await;
    at(&e, T0 + 60_000, 0, "OK").await;
    e.alarms.set(&observer(0), ObservedState::Ok);
    e.alarms.set(&observer(1), ObservedState::Alarm);
    e.alarms.set(&observer(2), ObservedState::Alarm);
    // Before the deadline (the switch at T0+10 s + 600 s): nothing.
    e.clock.set(T0 + 600_000);
    let r = reconcile(&e).await;
    assert_eq!(r.not_recovered, 0, "{r:?}");
    e.clock.set(T0 + 610_000);
    let r = reconcile(&e).await;
    assert_eq!(r.not_recovered, 1, "{r:?}");
    assert_eq!(count(&e, "not_recovered"), 1);
    let page = e.notifier.sent().last().cloned().unwrap();
    assert_eq!(page.severity, "critical");
    assert!(
        page.subject.contains("2 of 3 observers still failing"),
        "{}",
        page.subject
    );
    assert!(
        page.message.contains("checkout-canary-1: ALARM since")
            && page.message.contains("checkout-canary-2: ALARM since")
            && !page.message.contains("checkout-canary-0:"),
        "{}",
        page.message
    );
    e.clock.set(T0 + 700_000);
    reconcile(&e).await;
    assert_eq!(count(&e, "not_recovered"), 1, "paged once");
    assert!(
        e.store.state("checkout").votes.contains_key(&observer(0)),
        "observer 0's OK measures the recovery: kept from expiry"
    );
    // A later recovery.
    at(&e, T0 + 720_000, 1, "OK").await;
    at(&e, T0 + 730_000, 2, "OK").await;
    assert_eq!(alert_kinds(&e), ["failover", "not_recovered", "recovered"]);
    let rec = e.notifier.sent().last().cloned().unwrap();
    assert_eq!(rec.severity, "warning", "after the page");
    assert!(
        rec.message.contains("after the [NOT RECOVERED] page"),
        "{}",
        rec.message
    );
    let r = recovery(&e).unwrap();
    assert_eq!(r.rto_ms, Some(730_000));
    assert!(r.not_recovered_at.is_some());
}

#[tokio::test]
async fn a_failback_before_recovery_ends_the_watch() {
    let e = engine();
    failed_over(&e).await;
    e.clock.set(T0 + 30_000);
    let out = operate(&e, op("failback", json!({"force": true}))).await;
    assert!(out.ok, "{}", out.message);
    for i in 0..3 {
        at(&e, T0 + 40_000 + i as i64 * 1000, i, "OK").await;
        e.alarms.set(&observer(i), ObservedState::Ok);
    }
    e.clock.set(T0 + 900_000);
    let r = reconcile(&e).await;
    assert_eq!((r.recovered, r.not_recovered), (0, 0), "{r:?}");
    // (The OKs of observers 1 and 2 leave a quorum in the cooldown: a `held` page.)
    assert_eq!(
        (count(&e, "recovered"), count(&e, "not_recovered")),
        (0, 0),
        "{:?}",
        alert_kinds(&e)
    );
    assert!(recovery(&e).is_none());
}

#[tokio::test]
async fn an_ok_whose_event_was_lost_is_found_by_the_reconcilers_read() {
    let e = engine();
    failed_over(&e).await;
    at(&e, T0 + 60_000, 0, "OK").await;
    at(&e, T0 + 70_000, 1, "OK").await;
    // Observer 2's OK event never arrives; its alarm reads OK.
    for i in 0..3 {
        e.alarms.set(&observer(i), ObservedState::Ok);
    }
    e.alarms.reads.lock().unwrap().clear();
    e.clock.set(T0 + 120_000);
    let r = reconcile(&e).await;
    assert_eq!(r.recovered, 1, "{r:?}");
    assert_eq!(
        e.alarms.reads.lock().unwrap().as_slice(),
        [("eu-west-1".to_string(), 1)],
        "one DescribeAlarms, for the observer without an OK event"
    );
    assert_eq!(alert_kinds(&e), ["failover", "recovered"]);
    let r = recovery(&e).unwrap();
    assert_eq!(r.rto_ms, Some(120_000), "dated at the read");
    assert_eq!(r.observers_ok.last().unwrap().source, OkSource::Read);
    let rec = e.notifier.sent().last().cloned().unwrap();
    assert!(
        rec.message.contains("found by the reconciler's read"),
        "{}",
        rec.message
    );
    reconcile(&e).await;
    assert_eq!(count(&e, "recovered"), 1, "once");
}
