//! The outbox: an alert that SNS refuses once is recorded as due and delivered by the next
//! reconciler run, exactly once; a run after that sends nothing. Drift, a pause's end (with
//! its audit record) and escalation go through it.

use super::*;
use crate::domain::state::HealthCheckSettings;

fn count(e: &TestEngine, kind: &str) -> usize {
    alert_kinds(e).iter().filter(|k| *k == kind).count()
}

fn history_kinds(e: &TestEngine) -> Vec<(String, String)> {
    e.store
        .history
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r)| (r.kind.clone(), r.what.clone()))
        .collect()
}

/// Run 1 meets the refused Publish; run 2 delivers; run 3 sends nothing more.
async fn delivered_once_after_a_refusal(e: &TestEngine, kind: &str) {
    assert_eq!(count(e, kind), 0, "{kind}: refused, not sent");
    assert_eq!(
        e.store.state("checkout").outbox.len(),
        1,
        "{kind}: recorded as due"
    );
    reconcile(e).await;
    assert_eq!(count(e, kind), 1, "{kind}: the next run delivers it");
    assert!(
        e.store.state("checkout").outbox.is_empty(),
        "{kind}: marked sent"
    );
    reconcile(e).await;
    assert_eq!(count(e, kind), 1, "{kind}: exactly once");
}

#[tokio::test]
async fn a_drift_alert_refused_once_is_delivered_by_the_next_run_exactly_once() {
    let e = engine();
    e.health
        .checks
        .lock()
        .unwrap()
        .get_mut(PRIMARY)
        .unwrap()
        .settings = HealthCheckSettings::FORCED_UNHEALTHY;
    e.notifier.failures.fail_next("publish");
    let r = reconcile(&e).await;
    assert_eq!(r.drifts, 1, "{r:?}");
    assert!(
        e.store.state("checkout").drift.is_some(),
        "the drift is stored"
    );
    delivered_once_after_a_refusal(&e, "drift").await;
}

#[tokio::test]
async fn a_pause_expiry_alert_and_its_record_survive_a_refused_audit_write() {
    let e = engine();
    let until = chrono::DateTime::from_timestamp_millis(T0 + 60_000)
        .unwrap()
        .to_rfc3339();
    operate(&e, op("pause", json!({"until": until}))).await;
    e.clock.set(T0 + 120_000);
    // The record is written first: refused, the alert is not tried and both stay due.
    e.store.failures.fail_next("append_history");
    let r = reconcile(&e).await;
    assert_eq!(r.pauses_expired, 1, "{r:?}");
    assert!(e.store.state("checkout").pause.is_none());
    let resumed = |e: &TestEngine| {
        history_kinds(e)
            .iter()
            .filter(|(_, what)| what.starts_with("pause expired"))
            .count()
    };
    assert_eq!(resumed(&e), 0, "the audit write was refused");
    delivered_once_after_a_refusal(&e, "resume").await;
    assert_eq!(resumed(&e), 1, "its audit record is written with it, once");
}

#[tokio::test]
async fn a_pause_expiry_alert_refused_after_its_record_is_sent_once_with_one_record() {
    let e = engine();
    let until = chrono::DateTime::from_timestamp_millis(T0 + 60_000)
        .unwrap()
        .to_rfc3339();
    operate(&e, op("pause", json!({"until": until}))).await;
    e.clock.set(T0 + 120_000);
    e.notifier.failures.fail_next("publish");
    reconcile(&e).await;
    e.clock.set(T0 + 180_000);
    delivered_once_after_a_refusal(&e, "resume").await;
    let records = history_kinds(&e)
        .iter()
        .filter(|(_, what)| what.starts_with("pause expired"))
        .count();
    assert_eq!(records, 1, "written again on the retry, still one record");
}

#[tokio::test]
async fn an_escalation_refused_once_is_delivered_by_the_next_run_not_a_new_one() {
    let e = engine();
    e.health.add(SECONDARY, false);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap(),
        ["blocked"]
    );
    e.clock.set(T0 + 11 * 60_000);
    e.notifier.failures.fail_next("publish");
    reconcile(&e).await;
    // One minute later: within the escalation interval, so only the due one goes out.
    e.clock.set(T0 + 12 * 60_000);
    delivered_once_after_a_refusal(&e, "escalation").await;
    let records = history_kinds(&e)
        .iter()
        .filter(|(kind, _)| kind == "escalation")
        .count();
    assert_eq!(records, 1);
}

#[tokio::test]
async fn nothing_due_costs_a_reconciler_run_no_call() {
    let e = engine();
    // The first run writes the catalog's kept versions; the steady state begins after it.
    reconcile(&e).await;
    let calls = |e: &TestEngine| e.store.calls.lock().unwrap().clone();
    let first = calls(&e).len();
    reconcile(&e).await;
    let steady = calls(&e)[first..].to_vec();
    // One BatchGetItem for the one service (it was one GetItem before issue 15).
    assert_eq!(steady, ["load_states"], "{steady:?}");
}

#[tokio::test]
async fn a_pending_alert_refused_once_is_delivered_by_the_reconciler_exactly_once() {
    let e = engine();
    // The switch fails after the claim: the PENDING alert is due, and SNS refuses it.
    e.health.failures.fail_next("update");
    e.notifier.failures.fail_next("publish");
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    assert!(send(&e, &event(1, "ALARM", T0, "b"), "r2").await.is_err());
    assert_eq!(count(&e, "pending"), 0);
    assert_eq!(e.store.state("checkout").outbox.len(), 1, "recorded as due");
    // The next run sends it, then finishes the failover.
    reconcile(&e).await;
    assert_eq!(alert_kinds(&e), ["pending", "failover"]);
    assert!(e.store.state("checkout").outbox.is_empty());
    reconcile(&e).await;
    assert_eq!(count(&e, "pending"), 1, "exactly once");
}
