//! The engine over in-memory ports: every invariant of the automated path, deterministically.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::decision::DAY_MS;
use crate::engine::{Engine, EngineError, Invocation};
use crate::fakes::*;
use crate::ports::Clock;
use crate::ports::ErrorKind;
use crate::state::{HealthCheckSettings, Pause, Phase};

pub(crate) const T0: i64 = 1_795_000_000_000;
const PRIMARY: &str = "hc-primary";
const SECONDARY: &str = "hc-secondary";

pub(crate) fn observer(i: usize) -> String {
    let region = ["us-east-1", "us-west-2", "eu-west-1"][i];
    format!("arn:aws:cloudwatch:{region}:123456789012:alarm:checkout-canary-{i}")
}

fn definition(extra: Value) -> String {
    let mut def = json!({
        "name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": PRIMARY},
        "secondary": {"region": "eu-west-1", "health_check_id": SECONDARY},
        "observers": [observer(0), observer(1), observer(2)],
        "quorum": 2
    });
    if let (Some(d), Some(e)) = (def.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    def.to_string()
}

pub(crate) type TestEngine = Engine<MemStore, MemHealthChecks, MemAlarms, MemNotifier, FakeClock>;

fn engine_with(extra: Value) -> Arc<TestEngine> {
    let store = MemStore::default();
    store
        .catalog
        .lock()
        .unwrap()
        .push(("checkout".into(), definition(extra)));
    let health = MemHealthChecks::default();
    health.add(PRIMARY, false);
    health.add(SECONDARY, true);
    let clock = FakeClock::default();
    clock.set(T0);
    Arc::new(Engine::new(
        store,
        health,
        MemAlarms::default(),
        MemNotifier::default(),
        clock,
        "test",
    ))
}

pub(crate) fn engine() -> Arc<TestEngine> {
    engine_with(json!({}))
}

/// The `event_type` of every alert sent so far, in order.
pub(crate) fn alert_kinds(e: &TestEngine) -> Vec<String> {
    e.notifier
        .sent()
        .iter()
        .map(|a| a.event_type.clone())
        .collect()
}

/// An EventBridge alarm event for observer `i` whose state changed at `at`.
pub(crate) fn event(i: usize, state: &str, at: i64, id: &str) -> Value {
    let ts = chrono::DateTime::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339();
    let arn = observer(i);
    let name = arn.rsplit(':').next().unwrap().to_string();
    json!({
        "version": "0", "id": id, "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": ts,
        "region": "us-east-1", "resources": [arn],
        "detail": {"alarmName": name, "configuration": {"metrics": []},
                   "state": {"value": state, "reason": "canary failing", "timestamp": ts}}
    })
}

pub(crate) fn inv(id: &str, clock_now: i64) -> Invocation {
    Invocation {
        request_id: id.into(),
        deadline: clock_now + 60_000,
    }
}

async fn send(e: &TestEngine, ev: &Value, id: &str) -> Result<Vec<&'static str>, EngineError> {
    let out = e.handle_alarm_event(ev, &inv(id, e.clock.now())).await?;
    Ok(out.services.iter().map(|s| s.outcome).collect())
}

#[tokio::test]
async fn quorum_of_two_fails_over_once_and_never_fails_back() {
    let e = engine();
    assert_eq!(
        send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
            .await
            .unwrap(),
        ["vote_recorded"]
    );
    assert_eq!(
        e.health.get_now(PRIMARY).settings,
        HealthCheckSettings {
            disabled: false,
            inverted: false
        }
    );
    assert_eq!(
        send(&e, &event(1, "ALARM", T0 - 500, "b"), "r2")
            .await
            .unwrap(),
        ["failed_over"]
    );

    let hc = e.health.get_now(PRIMARY);
    assert!(
        hc.settings.forces_unhealthy(),
        "primary must be Disabled and Inverted"
    );
    assert_eq!(
        e.health.get_now(SECONDARY).version,
        1,
        "secondary untouched"
    );
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::FailedOver);
    assert_eq!(state.epoch, 1);
    let exec = state.execution.unwrap();
    assert_eq!(
        exec.prior,
        Some(HealthCheckSettings {
            disabled: false,
            inverted: false
        })
    );
    assert_eq!(
        (exec.version_before, exec.version_after),
        (Some(1), Some(2))
    );
    assert_eq!(exec.votes.len(), 2);

    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].subject,
        "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)"
    );
    assert_eq!(sent[0].event_type, "failover");
    assert!(sent[0].message.contains(&observer(0)) && sent[0].message.contains("Status page"));

    // Duplicates, the third observer and recoveries change nothing and send nothing.
    for (i, state, at, id) in [
        (1, "ALARM", T0 - 500, "b"),
        (2, "ALARM", T0 - 100, "c"),
        (0, "OK", T0, "d"),
        (1, "OK", T0, "e"),
    ] {
        send(&e, &event(i, state, at, id), "r3").await.unwrap();
    }
    assert_eq!(e.notifier.sent().len(), 1);
    assert_eq!(
        e.store.state("checkout").phase,
        Phase::FailedOver,
        "no automatic failback"
    );
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
}

#[tokio::test]
async fn one_observer_many_times_is_one_vote() {
    let e = engine();
    for k in 0..10 {
        let out = send(&e, &event(0, "ALARM", T0 - 1000, "a"), &format!("r{k}"))
            .await
            .unwrap();
        assert_eq!(out, [if k == 0 { "vote_recorded" } else { "duplicate" }]);
    }
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    assert!(e.notifier.sent().is_empty());
}

#[tokio::test]
async fn ok_retracts_and_a_reordered_older_alarm_does_not_resurrect_the_vote() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 3000, "a1"), "r")
        .await
        .unwrap();
    send(&e, &event(0, "OK", T0 - 2000, "a2"), "r")
        .await
        .unwrap();
    // The ALARM redelivered after its OK is older than the recorded state: not a vote.
    send(&e, &event(0, "ALARM", T0 - 3000, "a1"), "r")
        .await
        .unwrap();
    send(&e, &event(1, "ALARM", T0 - 1000, "b"), "r")
        .await
        .unwrap();
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    assert!(e.notifier.sent().is_empty());
}

#[tokio::test]
async fn votes_outside_the_window_do_not_count() {
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    send(&e, &event(0, "ALARM", T0 - 120_000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["vote_recorded"]
    );
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
}

#[tokio::test]
async fn stale_future_unknown_and_malformed_events_change_nothing() {
    let e = engine();
    let stale = event(0, "ALARM", T0 - 301_000, "a");
    let future = event(0, "ALARM", T0 + 120_000, "a");
    let mut unknown = event(0, "ALARM", T0, "a");
    unknown["resources"] = json!(["arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-else"]);
    unknown["detail"]["alarmName"] = json!("someone-else");
    for ev in [&stale, &future] {
        assert_eq!(send(&e, ev, "r").await.unwrap(), ["ignored"]);
    }
    let out = e.handle_alarm_event(&unknown, &inv("r", T0)).await.unwrap();
    assert!(out.services.is_empty() && out.ignored.is_some());
    let err = e
        .handle_alarm_event(&json!({"source": "aws.cloudwatch"}), &inv("r", T0))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::BadEvent(_)), "{err}");
    assert!(
        e.store.states.lock().unwrap().is_empty(),
        "no state written"
    );
    assert!(
        e.store.history.lock().unwrap().is_empty(),
        "no audit written"
    );
    let calls = e.store.calls.lock().unwrap().clone();
    assert_eq!(calls, ["load_catalog"], "only the catalog was read, once");
}

#[tokio::test]
async fn secondary_not_ready_blocks_pages_and_changes_nothing() {
    let e = engine();
    e.health.add(SECONDARY, false);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["blocked"]
    );
    assert_eq!(
        e.health.get_now(PRIMARY).settings,
        HealthCheckSettings {
            disabled: false,
            inverted: false
        }
    );
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::Blocked);
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].event_type, "blocked");
    assert!(
        sent[0]
            .message
            .contains("unhealthy (0 of 8 checkers healthy)"),
        "{}",
        sent[0].message
    );
    // More votes while blocked: nothing more.
    send(&e, &event(2, "ALARM", T0, "c"), "r").await.unwrap();
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn secondary_alarm_and_replica_lag_gate_the_failover() {
    let alarm = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-secondary";
    let extra = json!({"preflight": {"secondary_alarm_arn": alarm, "replica_lag": {
        "region": "eu-west-1", "namespace": "AWS/RDS", "metric_name": "ReplicaLag", "max_seconds": 30}}});
    for (alarm_state, lag, want) in [
        (
            Some(crate::event::ObservedState::Ok),
            Some(3.0),
            "failed_over",
        ),
        (
            Some(crate::event::ObservedState::Alarm),
            Some(3.0),
            "blocked",
        ),
        (None, Some(3.0), "blocked"),
        (Some(crate::event::ObservedState::Ok), Some(31.0), "blocked"),
        (Some(crate::event::ObservedState::Ok), None, "blocked"),
    ] {
        let e = engine_with(extra.clone());
        if let Some(s) = alarm_state {
            e.alarms.states.lock().unwrap().insert(alarm.into(), s);
        }
        *e.alarms.lag.lock().unwrap() = lag;
        send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
            .await
            .unwrap();
        let out = send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap();
        assert_eq!(out, [want], "alarm {alarm_state:?} lag {lag:?}");
    }
}

#[tokio::test]
async fn paused_service_records_votes_but_does_not_act() {
    let e = engine();
    let mut state = e.store.state("checkout");
    state.pause = Some(Pause {
        reason: "db upgrade".into(),
        requested_by: "bob".into(),
        since: T0 - 10,
        until: Some(T0 + 600_000),
    });
    e.store.set_state("checkout", state);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["held"]
    );
    let state = e.store.state("checkout");
    assert_eq!(state.votes.len(), 2, "votes recorded while paused");
    assert_eq!(state.phase, Phase::PrimaryActive);
    assert!(e.notifier.sent().is_empty());
    let history = e.store.history.lock().unwrap().clone();
    assert!(history
        .iter()
        .any(|(_, r)| r.kind == "refusal" && r.why.contains("paused")));

    // An expired pause no longer holds: the next vote acts on the live quorum.
    e.clock.set(T0 + 600_001);
    send(&e, &event(2, "ALARM", T0 + 600_000, "c"), "r")
        .await
        .unwrap();
    assert_eq!(
        e.store.state("checkout").phase,
        Phase::PrimaryActive,
        "the older votes left the window"
    );
}

#[tokio::test]
async fn cooldown_and_daily_cap_hold_back_a_new_quorum() {
    let e = engine();
    let mut state = e.store.state("checkout");
    state.last_transition_at = Some(T0 - 60_000);
    e.store.set_state("checkout", state);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["held"]
    );

    let e = engine_with(json!({"cooldown_seconds": 60, "max_auto_failovers_per_day": 1}));
    let mut state = e.store.state("checkout");
    state.last_transition_at = Some(T0 - 120_000);
    state.auto_failovers = vec![T0 - DAY_MS + 60_000];
    e.store.set_state("checkout", state);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["held"]
    );
    let history = e.store.history.lock().unwrap().clone();
    assert!(history
        .iter()
        .any(|(_, r)| r.kind == "refusal" && r.what.contains("daily_cap")));
    // A day after the earlier failover the cap no longer applies.
    e.clock.set(T0 + 61_000);
    send(&e, &event(2, "ALARM", T0 + 60_000, "c"), "r")
        .await
        .unwrap();
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
}

#[tokio::test]
async fn failure_between_claim_and_switch_is_finished_by_the_redelivery() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.health.faults.fail_next("update");
    let err = send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::StepFailed { step: "switch", .. }),
        "{err}"
    );
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::FailingOver);
    assert_eq!(
        state.execution.as_ref().unwrap().lease_until,
        0,
        "lease released for the retry"
    );
    // One PENDING alert says the switch waits and why; no failover alert yet.
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].event_type, "pending");
    assert!(
        sent[0]
            .subject
            .starts_with("[PENDING] checkout: failover us-east-1 -> eu-west-1"),
        "{}",
        sent[0].subject
    );
    assert!(
        sent[0].message.contains("step:  switch"),
        "{}",
        sent[0].message
    );
    assert!(
        sent[0].message.contains("injected"),
        "the cause: {}",
        sent[0].message
    );

    // Lambda redelivers the same event: it is a duplicate vote, and it finishes the work.
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    assert_eq!(alert_kinds(&e), ["pending", "failover"]);
    let closing = &e.notifier.sent()[1].message;
    assert!(closing.contains("The switch waited"), "{closing}");
    assert_eq!(e.store.state("checkout").epoch, 1, "same epoch");
    send(&e, &event(1, "ALARM", T0, "b"), "r4").await.unwrap();
    assert_eq!(alert_kinds(&e), ["pending", "failover"]);
}

#[tokio::test]
async fn a_switch_failing_again_on_retry_sends_no_second_pending_alert() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.health.faults.fail_next("update");
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    e.health.faults.fail_next("update");
    send(&e, &event(1, "ALARM", T0, "b"), "r3")
        .await
        .unwrap_err();
    let report = reconcile(&e).await;
    assert_eq!(report.resumed, 1, "{report:?}");
    let kinds = alert_kinds(&e);
    assert_eq!(kinds, ["pending", "failover"]);
}

#[tokio::test]
async fn a_secondary_that_cannot_be_read_for_want_of_an_answer_waits_instead_of_blocking() {
    let e = engine_with(json!({"preflight": {"secondary_health_check": true}}));
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.health.faults.fail_next("status");
    let err = send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::StepFailed {
                step: "pre-flight",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("readiness could not be read"),
        "{err}"
    );
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::FailingOver, "pending, not BLOCKED");
    assert!(state.execution.as_ref().unwrap().preflight.is_empty());
    assert_eq!(e.notifier.sent()[0].event_type, "pending");
    // The next attempt reads the secondary again and switches.
    let report = reconcile(&e).await;
    assert_eq!(report.resumed, 1, "{report:?}");
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    let kinds = alert_kinds(&e);
    assert_eq!(kinds, ["pending", "failover"]);
}

#[tokio::test]
async fn failure_between_switch_and_alert_resumes_without_a_second_switch() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.notifier.faults.fail_next("publish");
    let err = send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::StepFailed { step: "alert", .. }),
        "{err}"
    );
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    assert_eq!(
        e.health.updates.lock().unwrap().len(),
        1,
        "the switch is not repeated"
    );
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]
            .message
            .contains("Disabled=false Inverted=false -> Disabled=true Inverted=true"),
        "{}",
        sent[0].message
    );
}

#[tokio::test]
async fn a_lost_closing_write_after_the_alert_never_sends_it_twice() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    // The deciding vote writes the claim, the switch's progress, then the closing write.
    *e.store.fail_write_control_at.lock().unwrap() = Some(e.store.control_writes() + 3);
    let err = send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::StepFailed {
                step: "closing write",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(e.notifier.sent().len(), 1);
    let exec = e.store.state("checkout").execution.unwrap();
    assert!(exec.alerted_at.is_some() && exec.alert_message_id.is_some());
    assert_eq!(exec.lease_until, 0, "the lease is released for the retry");
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    assert_eq!(e.notifier.sent().len(), 1, "no second alert");
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
}

/// The deciding vote's control writes: 1 claim, 2 the switch's progress, 3 the closing write.
const CLOSING_WRITE: usize = 3;

async fn deciding_vote_with(
    e: &TestEngine,
    fault: WriteFault,
) -> Result<Vec<&'static str>, EngineError> {
    deciding_vote_with_fault_at(e, CLOSING_WRITE, fault).await
}

async fn deciding_vote_with_fault_at(
    e: &TestEngine,
    write: usize,
    fault: WriteFault,
) -> Result<Vec<&'static str>, EngineError> {
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    *e.store.write_fault_at.lock().unwrap() = Some((e.store.control_writes() + write, fault));
    send(e, &event(1, "ALARM", T0, "b"), "r2").await
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_still_carried_out_by_its_claimant() {
    // The SDK retried the claim after its first answer was lost; the retry's condition
    // fails against the claim itself. Reading that as "claimed by someone else" would leave
    // the lease held by nobody working until it expires.
    let e = engine();
    assert_eq!(
        deciding_vote_with_fault_at(&e, 1, WriteFault::LandedButConflict)
            .await
            .unwrap(),
        ["failed_over"]
    );
    let kinds = alert_kinds(&e);
    assert_eq!(kinds, ["failover"]);
    assert_eq!(e.store.state("checkout").epoch, 1);
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_switch_record_whose_answer_was_lost_does_not_stop_the_switch() {
    let e = engine();
    assert_eq!(
        deciding_vote_with_fault_at(&e, 2, WriteFault::LandedButConflict)
            .await
            .unwrap(),
        ["failed_over"]
    );
    assert_eq!(e.notifier.sent().len(), 1);
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
}

#[tokio::test]
async fn a_claim_by_someone_else_at_the_same_version_is_still_lost() {
    // Interleaved: another writer moved the version first; our write did not land.
    let e = engine();
    assert_eq!(
        deciding_vote_with_fault_at(&e, 1, WriteFault::Interleaved)
            .await
            .unwrap(),
        ["claim_lost"]
    );
    assert!(e.notifier.sent().is_empty());
    assert!(e.health.updates.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_closing_write_whose_answer_was_lost_is_not_taken_for_a_conflict() {
    let e = engine();
    assert_eq!(
        deciding_vote_with(&e, WriteFault::LandedButConflict)
            .await
            .unwrap(),
        ["failed_over"]
    );
    assert_eq!(e.notifier.sent().len(), 1);
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
}

#[tokio::test]
async fn a_write_by_someone_else_during_the_alert_is_kept_and_the_alert_recorded() {
    let e = engine();
    assert_eq!(
        deciding_vote_with(&e, WriteFault::Interleaved)
            .await
            .unwrap(),
        ["failed_over"]
    );
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::FailedOver);
    assert!(state.pause.is_some(), "the other writer's change survives");
    assert!(state.execution.unwrap().alerted_at.is_some());
    // Nothing is left for a redelivery or the reconciler to send again.
    send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap();
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn a_refused_alert_whose_closing_write_errored_after_landing_is_still_reopened() {
    let e = engine();
    e.notifier.faults.fail_next("publish");
    deciding_vote_with(&e, WriteFault::LandedButError)
        .await
        .unwrap_err();
    let state = e.store.state("checkout");
    assert_eq!(
        state.phase,
        Phase::FailingOver,
        "the closing write was taken back"
    );
    assert_eq!(state.execution.as_ref().unwrap().alerted_at, None);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    assert_eq!(e.notifier.sent().len(), 1, "the retry sent the alert, once");
}

#[tokio::test]
async fn without_time_for_the_alert_round_trip_nothing_is_sent_and_the_retry_closes() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    let tight = Invocation {
        request_id: "r2".into(),
        deadline: e.clock.now() + 5_000,
    };
    e.handle_alarm_event(&event(1, "ALARM", T0, "b"), &tight)
        .await
        .unwrap_err();
    assert!(e.notifier.sent().is_empty());
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::FailingOver);
    assert_eq!(state.execution.unwrap().lease_until, 0);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn a_refused_alert_reopens_the_closed_transition_for_the_retry() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.notifier.faults.fail_next("publish");
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    // The closing write went out with the alert; SNS refused, so it was taken back.
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::FailingOver);
    let exec = state.execution.unwrap();
    assert_eq!(exec.alerted_at, None);
    assert!(exec.switched_at.is_some());
    assert_eq!(exec.lease_until, 0);
    assert!(
        state.auto_failovers.is_empty(),
        "the cap counts completed failovers only"
    );
}

#[tokio::test]
async fn an_owner_that_died_is_taken_over_only_after_its_lease() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    // The owner of this claim died right after claiming it.
    let mut state = e.store.state("checkout");
    state.votes.insert(
        observer(1),
        crate::state::Vote {
            state: crate::event::ObservedState::Alarm,
            at: T0,
            event_id: "b".into(),
            reason: "x".into(),
            received_at: T0,
            received_by: "r".into(),
        },
    );
    let votes = crate::decision::live_votes(
        &crate::catalog::ServiceDefinition::parse("checkout", &definition(json!({}))).unwrap(),
        &state,
        T0,
    );
    let claimant = crate::decision::Claimant {
        owner: "dead-invocation".into(),
        lease_until: T0 + 60_000,
    };
    let claimed = crate::decision::claim_failover(
        &state,
        votes,
        crate::state::Trigger::Quorum {
            quorum: 2,
            observers: 3,
        },
        &claimant,
        T0,
    );
    e.store.set_state("checkout", claimed);

    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["in_progress"]
    );
    assert!(e.notifier.sent().is_empty());
    e.clock.set(T0 + 60_001);
    // Past the lease (the event is still fresh): the redelivery takes over and finishes.
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r4").await.unwrap(),
        ["failed_over"]
    );
    assert_eq!(e.notifier.sent().len(), 1);
    assert_eq!(e.store.state("checkout").execution.unwrap().owner, "r4");
}

#[tokio::test]
async fn version_conflict_rereads_and_never_overwrites_blindly() {
    let e = engine();
    *e.health.concurrent_edit.lock().unwrap() = Some(HealthCheckSettings {
        disabled: true,
        inverted: false,
    });
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap(),
        ["failed_over"]
    );
    let updates = e.health.updates.lock().unwrap().clone();
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].1, 2, "the update used the re-read version");
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
}

#[tokio::test]
async fn fifty_concurrent_deliveries_make_one_decision() {
    let e = engine();
    let mut tasks = Vec::new();
    for k in 0..50 {
        let e = e.clone();
        let ev = event(
            k % 3,
            "ALARM",
            T0 - 1000 + (k % 3) as i64,
            &format!("ev{}", k % 3),
        );
        tasks.push(tokio::spawn(async move {
            e.handle_alarm_event(&ev, &inv(&format!("r{k}"), T0)).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.extend(
            t.await
                .unwrap()
                .unwrap()
                .services
                .into_iter()
                .map(|s| s.outcome),
        );
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == "failed_over").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(e.notifier.sent().len(), 1);
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
    assert_eq!(e.store.state("checkout").epoch, 1);
}

#[tokio::test]
async fn a_control_table_outage_is_an_error_to_retry_not_a_silent_drop() {
    let e = engine();
    e.store.faults.fail_next("record_vote");
    let err = send(&e, &event(0, "ALARM", T0, "a"), "r")
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Store(ref x) if x.kind == ErrorKind::Unavailable),
        "{err}"
    );
    assert_eq!(
        send(&e, &event(0, "ALARM", T0, "a"), "r").await.unwrap(),
        ["vote_recorded"]
    );
}

#[tokio::test]
async fn a_bad_catalog_entry_does_not_take_the_others_down() {
    let e = engine();
    e.store.catalog.lock().unwrap().push((
        "broken".into(),
        "{\"name\": \"broken\", \"quorom\": 2}".into(),
    ));
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["failed_over"]
    );
}

// ---- The operator's actions ----

fn op(action: &str, extra: Value) -> Value {
    let mut v = json!({"action": action, "service": "checkout", "reason": "planned maintenance", "requested_by": "alice"});
    if let (Some(d), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            d.insert(k.clone(), x.clone());
        }
    }
    v
}

async fn operate(e: &TestEngine, payload: Value) -> crate::operator::OperatorResponse {
    e.handle_operator_request(&payload, &inv("op", e.clock.now()))
        .await
        .unwrap()
}

/// Everything an action could change, to prove a dry run or a refusal changed nothing.
fn snapshot(
    e: &TestEngine,
) -> (
    crate::state::ServiceState,
    usize,
    usize,
    crate::ports::HealthCheckConfig,
) {
    (
        e.store.state("checkout"),
        e.store.history.lock().unwrap().len(),
        e.notifier.sent().len(),
        e.health.get_now(PRIMARY),
    )
}

#[tokio::test]
async fn planned_failover_status_and_failback_restore_the_prior_flags_exactly() {
    let e = engine();
    // A check that someone had disabled (which reads as healthy): failback must restore exactly that.
    e.health
        .checks
        .lock()
        .unwrap()
        .get_mut(PRIMARY)
        .unwrap()
        .settings = HealthCheckSettings {
        disabled: true,
        inverted: false,
    };
    let r = operate(&e, op("failover", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.phase_before, r.phase_after, r.epoch),
        (Some(Phase::PrimaryActive), Some(Phase::FailedOver), Some(1))
    );
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].message.contains("operator alice")
            && sent[0].message.contains("planned maintenance"),
        "{}",
        sent[0].message
    );

    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    assert_eq!(status.status.len(), 1);
    assert_eq!(status.status[0]["phase"], "FAILED_OVER");
    assert!(status.status[0]["history"].as_array().unwrap().len() >= 2);
    assert!(
        status.status[0]["cooldown_remaining_seconds"]
            .as_i64()
            .unwrap()
            > 0
    );

    e.clock.set(T0 + 60_000);
    let r = operate(
        &e,
        op("failback", json!({"reason": "primary healthy since 09:40"})),
    )
    .await;
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.phase_after, r.epoch),
        (Some(Phase::PrimaryActive), Some(2))
    );
    assert_eq!(
        e.health.get_now(PRIMARY).settings,
        HealthCheckSettings {
            disabled: true,
            inverted: false
        },
        "prior flags restored exactly"
    );
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].event_type, "failback");
    assert_eq!(
        sent[1].subject,
        "[FAILBACK] checkout: eu-west-1 -> us-east-1 (epoch 2)"
    );
    let state = e.store.state("checkout");
    assert_eq!(
        state.last_transition_at,
        Some(T0 + 60_000),
        "failback starts the cooldown"
    );
}

#[tokio::test]
async fn planned_failover_needs_a_ready_secondary_unless_forced() {
    let e = engine();
    e.health.add(SECONDARY, false);
    let before = snapshot(&e);
    let r = operate(&e, op("failover", json!({}))).await;
    assert!(!r.ok && r.message.contains("not ready"), "{r:?}");
    assert_eq!(snapshot(&e), before, "a refusal changes nothing");

    let r = operate(&e, op("failover", json!({"force": true}))).await;
    assert!(r.ok, "{r:?}");
    let exec = e.store.state("checkout").execution.unwrap();
    assert!(matches!(
        exec.trigger,
        crate::state::Trigger::Operator { forced: true, .. }
    ));
    assert!(
        e.notifier.sent()[0].message.contains("FORCED"),
        "the alert says it was forced"
    );
}

#[tokio::test]
async fn failback_waits_for_the_observers_unless_forced() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap();
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    let before = snapshot(&e);
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(!r.ok && r.message.contains("still vote ALARM"), "{r:?}");
    assert_eq!(snapshot(&e), before);
    let r = operate(&e, op("failback", json!({"force": true}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(
        e.health.get_now(PRIMARY).settings,
        HealthCheckSettings {
            disabled: false,
            inverted: false
        }
    );
}

#[tokio::test]
async fn dry_runs_change_nothing_and_send_nothing() {
    let e = engine();
    let dry = |payload: Value| {
        let e = e.clone();
        async move {
            let before = snapshot(&e);
            let r = operate(&e, payload.clone()).await;
            assert!(r.ok && r.dry_run, "{payload}: {r:?}");
            assert!(
                r.steps
                    .iter()
                    .any(|s| s.status == crate::operator::StepStatus::WouldDo),
                "{r:?}"
            );
            assert_eq!(snapshot(&e), before, "{payload}");
        }
    };
    dry(op("failover", json!({"dry_run": true}))).await;
    dry(op("pause", json!({"dry_run": true}))).await;
    operate(&e, op("pause", json!({}))).await;
    dry(op("resume", json!({"dry_run": true}))).await;
    operate(&e, op("resume", json!({}))).await;
    operate(&e, op("failover", json!({}))).await;
    let before = snapshot(&e);
    let r = operate(&e, op("failback", json!({"dry_run": true}))).await;
    assert!(r.ok, "{r:?}");
    assert!(
        r.steps
            .iter()
            .any(|s| s.name == "restore" && s.detail.contains("-> Disabled=false Inverted=false")),
        "{r:?}"
    );
    assert_eq!(snapshot(&e), before);
}

#[tokio::test]
async fn repeated_requests_do_the_work_once() {
    let e = engine();
    for _ in 0..3 {
        assert!(operate(&e, op("failover", json!({}))).await.ok);
    }
    assert_eq!(e.notifier.sent().len(), 1);
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
    e.clock.set(T0 + 1000);
    for _ in 0..3 {
        assert!(operate(&e, op("failback", json!({}))).await.ok);
    }
    assert_eq!(e.notifier.sent().len(), 2);
    assert_eq!(e.health.updates.lock().unwrap().len(), 2);
    for _ in 0..2 {
        assert!(operate(&e, op("pause", json!({}))).await.ok);
    }
    assert_eq!(e.notifier.sent().len(), 3);
    for _ in 0..2 {
        assert!(operate(&e, op("resume", json!({}))).await.ok);
    }
    assert_eq!(e.notifier.sent().len(), 4);
    let types = alert_kinds(&e);
    assert_eq!(types, ["failover", "failback", "pause", "resume"]);
}

#[tokio::test]
async fn pause_holds_a_quorum_and_resume_acts_on_it_at_once() {
    let e = engine();
    assert!(operate(&e, op("pause", json!({}))).await.ok);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r").await.unwrap(),
        ["held"]
    );
    assert_eq!(
        e.store.state("checkout").votes.len(),
        2,
        "votes recorded while paused"
    );
    assert!(!e.health.get_now(PRIMARY).settings.forces_unhealthy());
    let r = operate(&e, op("resume", json!({"reason": "upgrade done"}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.phase_after, Some(Phase::FailedOver), "{r:?}");
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    let types = alert_kinds(&e);
    assert_eq!(types, ["pause", "resume", "failover"]);
}

#[tokio::test]
async fn an_expired_pause_no_longer_holds() {
    let e = engine();
    let until = chrono::DateTime::from_timestamp_millis(T0 + 60_000)
        .unwrap()
        .to_rfc3339();
    assert!(operate(&e, op("pause", json!({"until": until}))).await.ok);
    e.clock.set(T0 + 60_001);
    send(&e, &event(0, "ALARM", T0 + 59_000, "a"), "r")
        .await
        .unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0 + 60_000, "b"), "r")
            .await
            .unwrap(),
        ["failed_over"]
    );
}

#[tokio::test]
async fn bad_operator_requests_are_refused_and_change_nothing() {
    let e = engine();
    let before = snapshot(&e);
    for payload in [
        json!(null),
        json!({"action": "failover", "service": "nope", "reason": "r", "requested_by": "a"}),
        json!({"action": "status", "service": "nope"}),
        json!({"action": "failover", "service": "checkout"}),
        json!({"action": "reboot", "service": "checkout"}),
    ] {
        let err = e
            .handle_operator_request(&payload, &inv("op", T0))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "BadRequest", "{payload}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("field '") || text.contains("JSON object"),
            "{payload}: {err}"
        );
    }
    assert_eq!(snapshot(&e), before);
}

#[tokio::test]
async fn a_failed_failback_step_is_resumed_by_the_retry() {
    let e = engine();
    operate(&e, op("failover", json!({}))).await;
    e.clock.set(T0 + 1000);
    e.health.faults.fail_next("update");
    let err = e
        .handle_operator_request(&op("failback", json!({})), &inv("op2", T0 + 1000))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("restore"), "{err}");
    assert_eq!(e.store.state("checkout").phase, Phase::FailingBack);
    assert_eq!(e.notifier.sent()[1].event_type, "pending");
    assert!(
        e.notifier.sent()[1]
            .subject
            .contains("failback eu-west-1 -> us-east-1"),
        "{}",
        e.notifier.sent()[1].subject
    );
    // The failed step released its lease: the operator's retry finishes that failback
    // (it does not start another).
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert!(r.steps.iter().any(|s| s.name == "resume"), "{:?}", r.steps);
    let state = e.store.state("checkout");
    assert_eq!((state.phase, state.epoch), (Phase::PrimaryActive, 2));
    let kinds = alert_kinds(&e);
    assert_eq!(kinds, ["failover", "pending", "failback"]);
}

// ---- The reconciler ----

use crate::reconcile::ReconcileSettings;

async fn reconcile(e: &TestEngine) -> crate::reconcile::ReconcileReport {
    e.reconcile(
        &inv("reconciler", e.clock.now()),
        &ReconcileSettings::default(),
    )
    .await
    .unwrap()
}

async fn two_votes(e: &TestEngine) -> Result<Vec<&'static str>, EngineError> {
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    send(e, &event(1, "ALARM", T0, "b"), "r2").await
}

#[tokio::test]
async fn the_reconciler_finishes_a_failover_interrupted_at_every_step_boundary() {
    // (fault to inject, where it strikes)
    // (fault, where it strikes, whether the switch is left waiting: a PENDING alert)
    let boundaries: [(&str, &str, bool); 4] = [
        ("update", "after the claim, before the switch", true),
        (
            "write_control@2",
            "after the switch, before its record (verify)",
            true,
        ),
        (
            "publish",
            "after the switch was recorded, before the alert",
            false,
        ),
        (
            "write_control@3",
            "after the alert, before the closing write",
            false,
        ),
    ];
    for (fault, boundary, pending) in boundaries {
        let e = engine();
        match fault {
            "update" => e.health.faults.fail_next("update"),
            "publish" => e.notifier.faults.fail_next("publish"),
            _ => {}
        }
        send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
            .await
            .unwrap();
        if let Some(n) = fault.strip_prefix("write_control@") {
            // Let the claim (write 1) through, fail write n of this invocation.
            let skip: usize = n.parse().unwrap();
            *e.store.fail_write_control_at.lock().unwrap() = Some(e.store.control_writes() + skip);
        }
        let err = send(&e, &event(1, "ALARM", T0, "b"), "r2").await;
        assert!(err.is_err(), "{boundary}: the invocation must fail");
        assert_ne!(
            e.store.state("checkout").phase,
            Phase::FailedOver,
            "{boundary}"
        );
        let report = reconcile(&e).await;
        assert_eq!(report.resumed, 1, "{boundary}: {report:?}");
        assert_eq!(
            e.store.state("checkout").phase,
            Phase::FailedOver,
            "{boundary}"
        );
        assert!(
            e.health.get_now(PRIMARY).settings.forces_unhealthy(),
            "{boundary}"
        );
        let failovers = e
            .notifier
            .sent()
            .iter()
            .filter(|a| a.event_type == "failover")
            .count();
        assert_eq!(failovers, 1, "{boundary}: exactly one failover alert");
        let pendings = e
            .notifier
            .sent()
            .iter()
            .filter(|a| a.event_type == "pending")
            .count();
        assert_eq!(pendings, usize::from(pending), "{boundary}: PENDING alerts");
        assert_eq!(
            e.health.updates.lock().unwrap().len(),
            1,
            "{boundary}: one switch"
        );
        let again = reconcile(&e).await;
        assert_eq!((again.resumed, again.drifts), (0, 0), "{boundary}");
        assert_eq!(
            e.notifier.sent().len(),
            1 + usize::from(pending),
            "{boundary}"
        );
    }
}

#[tokio::test]
async fn a_killed_owner_is_finished_by_the_reconciler_only_after_its_lease() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    let def = crate::catalog::ServiceDefinition::parse("checkout", &definition(json!({}))).unwrap();
    let mut state = e.store.state("checkout");
    state.votes.insert(
        observer(1),
        crate::state::Vote {
            state: crate::event::ObservedState::Alarm,
            at: T0,
            event_id: "b".into(),
            reason: "x".into(),
            received_at: T0,
            received_by: "r".into(),
        },
    );
    let votes = crate::decision::live_votes(&def, &state, T0);
    let claimant = crate::decision::Claimant {
        owner: "killed".into(),
        lease_until: T0 + 900_000,
    };
    e.store.set_state(
        "checkout",
        crate::decision::claim_failover(
            &state,
            votes,
            crate::state::Trigger::Quorum {
                quorum: 2,
                observers: 3,
            },
            &claimant,
            T0,
        ),
    );
    assert_eq!(
        reconcile(&e).await.resumed,
        0,
        "the owner may still be working"
    );
    assert!(e.notifier.sent().is_empty());
    e.clock.set(T0 + 900_001);
    assert_eq!(reconcile(&e).await.resumed, 1);
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn drift_is_reported_once_each_way_and_reapplied_only_with_enforce() {
    for enforce in [false, true] {
        let e = engine_with(json!({"enforce": enforce}));
        two_votes(&e).await.unwrap();
        // Someone un-forces the check by hand.
        e.health
            .checks
            .lock()
            .unwrap()
            .get_mut(PRIMARY)
            .unwrap()
            .settings = HealthCheckSettings {
            disabled: false,
            inverted: false,
        };
        let r = reconcile(&e).await;
        assert_eq!(
            (r.drifts, r.reapplied),
            (1, usize::from(enforce)),
            "enforce={enforce}: {r:?}"
        );
        let drift_alerts = |e: &TestEngine| {
            e.notifier
                .sent()
                .iter()
                .filter(|a| a.event_type == "drift")
                .count()
        };
        assert_eq!(drift_alerts(&e), 1);
        assert_eq!(
            e.health.get_now(PRIMARY).settings.forces_unhealthy(),
            enforce
        );
        let r = reconcile(&e).await;
        assert_eq!(r.drifts, 0, "not repeated on the next run");
        assert_eq!(drift_alerts(&e), 1);
        if enforce {
            assert!(
                e.store.state("checkout").drift.is_none(),
                "resolved once re-applied"
            );
        }
    }
    // The other way: primary active, but its check forced unhealthy by hand.
    let e = engine();
    e.health
        .checks
        .lock()
        .unwrap()
        .get_mut(PRIMARY)
        .unwrap()
        .settings = HealthCheckSettings::FORCED_UNHEALTHY;
    let r = reconcile(&e).await;
    assert_eq!(r.drifts, 1);
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].message.contains("expected: not forced unhealthy"),
        "{}",
        sent[0].message
    );
    assert_eq!(reconcile(&e).await.drifts, 0);
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn a_blocked_service_is_escalated_on_schedule_and_not_more_often() {
    let e = engine();
    e.health.add(SECONDARY, false);
    assert_eq!(two_votes(&e).await.unwrap(), ["blocked"]);
    let escalations = |e: &TestEngine| {
        e.notifier
            .sent()
            .iter()
            .filter(|a| a.event_type == "escalation")
            .count()
    };
    let mut seen = Vec::new();
    for minute in [5, 11, 12, 20, 26, 27, 41] {
        e.clock.set(T0 + minute * 60_000);
        reconcile(&e).await;
        seen.push((minute, escalations(&e)));
    }
    assert_eq!(
        seen,
        [(5, 0), (11, 1), (12, 1), (20, 1), (26, 2), (27, 2), (41, 3)]
    );
}

#[tokio::test]
async fn an_expired_pause_is_resumed_with_an_alert_and_old_votes_are_dropped() {
    let e = engine();
    let until = chrono::DateTime::from_timestamp_millis(T0 + 60_000)
        .unwrap()
        .to_rfc3339();
    operate(&e, op("pause", json!({"until": until}))).await;
    send(&e, &event(0, "ALARM", T0, "a"), "r").await.unwrap();
    e.clock.set(T0 + 600_000);
    let r = reconcile(&e).await;
    assert_eq!((r.pauses_expired, r.votes_expired), (1, 1), "{r:?}");
    let state = e.store.state("checkout");
    assert!(state.pause.is_none() && state.votes.is_empty());
    let types = alert_kinds(&e);
    assert_eq!(types, ["pause", "resume"]);
    assert_eq!(reconcile(&e).await.pauses_expired, 0);
}

#[tokio::test]
async fn the_reconciler_stops_before_the_deadline_and_says_what_it_did_not_reach() {
    let e = engine();
    let near = Invocation {
        request_id: "r".into(),
        deadline: T0 + 1000,
    };
    let r = e
        .reconcile(&near, &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(
        (r.checked, r.not_reached.clone()),
        (0, vec!["checkout".to_string()])
    );
}

#[tokio::test]
async fn a_vote_whose_answer_was_lost_still_counts_as_fresh() {
    // The store already holds exactly the vote this invocation writes (its first attempt
    // landed, the answer was lost, the SDK retried): fresh, not a duplicate.
    let e = engine();
    let ev = event(0, "ALARM", T0 - 1000, "a");
    let obs = crate::event::parse_alarm_event(&ev).unwrap();
    let vote = crate::decision::vote_from(&obs, e.clock.now(), "r1");
    e.store
        .states
        .lock()
        .unwrap()
        .entry("checkout".into())
        .or_default()
        .votes
        .insert(obs.observer.clone(), vote);
    assert_eq!(send(&e, &ev, "r1").await.unwrap(), ["vote_recorded"]);
    // A redelivery (another invocation, even in the same millisecond) is a duplicate.
    assert_eq!(send(&e, &ev, "r2").await.unwrap(), ["duplicate"]);
}
