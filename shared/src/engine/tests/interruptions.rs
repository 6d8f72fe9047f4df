//! A transition interrupted anywhere (a failed step, a lost answer, an owner that died,
//! fifty deliveries at once) still happens exactly once, with exactly one alert.

use super::*;
use crate::domain::decision::vote_from;
use crate::domain::event::parse_alarm_event;
use crate::domain::state::{HealthCheckSettings, Phase};

#[tokio::test]
async fn failure_between_claim_and_switch_is_finished_by_the_redelivery() {
    let e = engine();
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.health.failures.fail_next("update");
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
    e.health.failures.fail_next("update");
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    e.health.failures.fail_next("update");
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
    e.health.failures.fail_next("status");
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
    e.notifier.failures.fail_next("publish");
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
    e.notifier.failures.fail_next("publish");
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
    e.notifier.failures.fail_next("publish");
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
        crate::domain::state::Vote {
            state: crate::domain::event::ObservedState::Alarm,
            at: T0,
            event_id: "b".into(),
            reason: "x".into(),
            received_at: T0,
            received_by: "r".into(),
            confirmed_at: None,
        },
    );
    let votes = crate::domain::decision::live_votes(
        &crate::domain::catalog::ServiceDefinition::parse("checkout", &definition(json!({})))
            .unwrap(),
        &state,
        T0,
    );
    let claimant = crate::domain::decision::Claimant {
        owner: "dead-invocation".into(),
        lease_until: T0 + 60_000,
    };
    let claimed = crate::domain::decision::claim_failover(
        &state,
        votes,
        crate::domain::state::Trigger::Quorum {
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
async fn a_vote_whose_answer_was_lost_still_counts_as_fresh() {
    // The store already holds exactly the vote this invocation writes (its first attempt
    // landed, the answer was lost, the SDK retried): fresh, not a duplicate.
    let e = engine();
    let ev = event(0, "ALARM", T0 - 1000, "a");
    let obs = parse_alarm_event(&ev).unwrap();
    let vote = vote_from(&obs, e.clock.now(), "r1");
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
