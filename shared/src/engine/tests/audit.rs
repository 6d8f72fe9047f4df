//! The audit cannot lose the decision: one decision record per epoch (votes, pre-flight,
//! prior flags, who, why), written beside the switch and again by whoever finishes the
//! transition; one record per failed step and attempt; one refusal record per hold. A
//! failed audit write never fails the decision.

use super::*;
use crate::domain::event::ObservedState::Alarm;
use crate::domain::history::HistoryRecord;
use crate::domain::state::Phase;

/// Every audit record of the service with this `kind`.
fn records(e: &TestEngine, kind: &str) -> Vec<HistoryRecord> {
    e.store
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, r)| s == "checkout" && r.kind == kind)
        .map(|(_, r)| r.clone())
        .collect()
}

fn appends(e: &TestEngine) -> usize {
    e.store
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| **c == "append_history")
        .count()
}

#[tokio::test]
async fn the_decision_is_recorded_once_with_its_votes_preflight_and_prior_flags() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap(),
        ["failed_over"]
    );
    let decisions = records(&e, "decision");
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    let d = &decisions[0];
    assert_eq!((d.epoch, d.at, d.key.as_str()), (1, T0, "decision"));
    assert_eq!(d.actor, "r2", "who: the invocation that won the claim");
    assert_eq!(d.why, "quorum of 2 of 3 observers in ALARM");
    assert_eq!(d.votes.len(), 2, "{:?}", d.votes);
    assert!(
        d.what
            .contains("failover decided, epoch 1: us-east-1 -> eu-west-1"),
        "{}",
        d.what
    );
    assert!(
        d.what
            .contains("pre-flight: secondary health check hc-secondary ok"),
        "{}",
        d.what
    );
    assert!(
        d.what
            .contains("primary check before: Disabled=false Inverted=false (version 1)"),
        "{}",
        d.what
    );

    // Redeliveries change nothing in the audit either.
    e.clock.set(T0 + 5_000);
    send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap();
    assert_eq!(records(&e, "decision").len(), 1);
}

#[tokio::test]
async fn a_failed_decision_record_write_neither_fails_the_failover_nor_is_lost() {
    // A standing quorum decided by the reconciler: its first audit write is the decision's.
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    e.alarms.set(&observer(0), Alarm);
    e.alarms.set(&observer(1), Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    e.clock.set(T0 + 90_000);
    send(&e, &event(1, "ALARM", T0 + 90_000, "b"), "r2")
        .await
        .unwrap();
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);

    let before = appends(&e);
    e.store.failures.fail_next("append_history");
    e.clock.set(T0 + 100_000);
    let r = reconcile(&e).await;
    assert!(r.errors.is_empty(), "the decision stands: {r:?}");
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    assert_eq!(alert_kinds(&e), ["failover"]);
    assert_eq!(
        appends(&e) - before,
        3,
        "the decision beside the switch (refused), again beside the close, the closing step"
    );
    let decisions = records(&e, "decision");
    assert_eq!(decisions.len(), 1, "written by the close: {decisions:?}");
    assert_eq!(decisions[0].actor, "reconciler");
    assert_eq!(decisions[0].votes.len(), 2);
}

#[tokio::test]
async fn each_failed_step_is_recorded_with_its_attempt_and_the_resume_records_the_decision() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    // The switch fails; the decision record that went beside it is refused as well.
    e.health.failures.fail_next("update");
    e.store.failures.fail_next("append_history");
    e.store.failures.fail_next("append_history");
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert_eq!(e.store.state("checkout").phase, Phase::FailingOver);
    assert!(records(&e, "decision").is_empty(), "its write was refused");
    let failed = records(&e, "step_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].key, "step_failed#switch#1");
    assert!(
        failed[0].what.starts_with("switch failed (attempt 1): ")
            && failed[0].what.contains("injected"),
        "{}",
        failed[0].what
    );
    assert_eq!(failed[0].votes.len(), 2, "the votes are in the record");

    // The redelivery fails at the switch again: a second record, numbered 2.
    e.clock.set(T0 + 2_000);
    e.health.failures.fail_next("update");
    send(&e, &event(1, "ALARM", T0, "b"), "r3")
        .await
        .unwrap_err();
    let mut keys: Vec<String> = records(&e, "step_failed")
        .into_iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["step_failed#switch#1", "step_failed#switch#2"]);
    assert_eq!(
        records(&e, "decision").len(),
        1,
        "the resumed run wrote the decision record beside its switch attempt"
    );

    // The reconciler finishes it; the decision is still recorded once.
    e.clock.set(T0 + 4_000);
    let r = reconcile(&e).await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    let decisions = records(&e, "decision");
    assert_eq!(decisions.len(), 1, "{decisions:?}");
    assert_eq!(
        decisions[0].at, T0,
        "dated at the decision, whoever wrote it"
    );
}

#[tokio::test]
async fn a_retried_close_writes_its_step_record_once() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.notifier.failures.fail_next("publish");
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    e.clock.set(T0 + 3_000);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    let steps = records(&e, "step");
    assert_eq!(steps.len(), 1, "one closing record per step: {steps:?}");
    assert!(steps[0].what.starts_with("switch: "), "{}", steps[0].what);
    assert_eq!(records(&e, "decision").len(), 1);
}

#[tokio::test]
async fn a_held_quorum_has_one_refusal_record_per_hold_even_when_its_write_fails() {
    let e = engine();
    let paused = operate(&e, op("pause", json!({}))).await;
    assert!(paused.ok, "{paused:?}");
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    // The deciding vote's observation record and its refusal record are both refused:
    // the invocation fails for its observation record, and Lambda's retry is a duplicate.
    e.store.failures.fail_next("append_history");
    e.store.failures.fail_next("append_history");
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert_eq!(
        alert_kinds(&e),
        ["pause", "held"],
        "the page is not held up by the audit"
    );
    assert!(records(&e, "refusal").is_empty());
    e.clock.set(T0 + 1_000);
    send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap();

    // The reconciler finds the quorum still held by the same pause and writes the record.
    e.clock.set(T0 + 30_000);
    let r = reconcile(&e).await;
    assert!(r.errors.is_empty(), "{r:?}");
    let refusals = records(&e, "refusal");
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(
        refusals[0].what.contains("(paused)"),
        "{}",
        refusals[0].what
    );
    assert_eq!(refusals[0].votes.len(), 2);

    // A third observer's fresh vote, and more runs, in the same hold: still one record.
    e.clock.set(T0 + 40_000);
    send(&e, &event(2, "ALARM", T0 + 40_000, "c"), "r4")
        .await
        .unwrap();
    e.clock.set(T0 + 50_000);
    reconcile(&e).await;
    assert_eq!(records(&e, "refusal").len(), 1);
    assert_eq!(alert_kinds(&e), ["pause", "held"], "one page per hold");
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
}

#[tokio::test]
async fn an_operator_action_is_audited_with_the_invocation_request_id_for_cloudtrail() {
    let e = engine();
    let out = e
        .handle_operator_request(
            &op("pause", serde_json::json!({})),
            &inv("7f3c-request", e.clock.now()),
        )
        .await
        .unwrap();
    assert!(out.ok, "{out:?}");
    let r = records(&e, "operator");
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].request_id, "7f3c-request");
    assert_eq!(r[0].actor, "alice");
    // Records not made by an operator carry none.
    assert!(e
        .store
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, h)| h.kind != "operator")
        .all(|(_, h)| h.request_id.is_empty()));
}
