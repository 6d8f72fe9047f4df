//! The automated path: votes, quorum, the pre-flight gate, and what holds a quorum back.

use super::*;
use crate::domain::decision::DAY_MS;
use crate::domain::state::{HealthCheckSettings, Pause, Phase};
use crate::ports::ErrorKind;

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
            Some(crate::domain::event::ObservedState::Ok),
            Some(3.0),
            "failed_over",
        ),
        (
            Some(crate::domain::event::ObservedState::Alarm),
            Some(3.0),
            "blocked",
        ),
        (None, Some(3.0), "blocked"),
        (
            Some(crate::domain::event::ObservedState::Ok),
            Some(31.0),
            "blocked",
        ),
        (
            Some(crate::domain::event::ObservedState::Ok),
            None,
            "blocked",
        ),
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
    assert_eq!(alert_kinds(&e), ["held"], "the held quorum is paged once");
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
async fn a_control_table_outage_is_an_error_to_retry_not_a_silent_drop() {
    let e = engine();
    e.store.failures.fail_next("record_vote");
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

#[tokio::test]
async fn an_observer_of_a_service_added_later_is_found_once_the_catalog_is_10_s_old() {
    use crate::engine::CATALOG_MISS_REFRESH_MS;
    let e = engine();
    let reads = || {
        let calls = e.store.calls.lock().unwrap();
        calls.iter().filter(|c| **c == "load_catalog").count()
    };
    let newcomer = |at: i64| {
        let mut ev = event(0, "ALARM", at, &format!("n{at}"));
        let arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:payments-canary-0";
        ev["resources"] = json!([arn]);
        ev["detail"]["alarmName"] = json!("payments-canary-0");
        ev
    };
    send(&e, &event(1, "ALARM", T0, "a"), "r1").await.unwrap();
    assert_eq!(reads(), 1);
    let payments = json!({"name": "payments", "quorum": 1, "observers": [
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:payments-canary-0",
        "arn:aws:cloudwatch:us-west-2:123456789012:alarm:payments-canary-1"]});
    e.store
        .catalog
        .lock()
        .unwrap()
        .push(("payments".into(), definition(payments)));
    // Within 10 s of the last read an unknown alarm costs no call: it is ignored.
    e.clock.set(T0 + 1_000);
    let out = e
        .handle_alarm_event(&newcomer(T0 + 1_000), &inv("r2", T0 + 1_000))
        .await
        .unwrap();
    assert_eq!(out.ignored.as_deref(), Some("unknown observer"));
    assert_eq!(reads(), 1);
    // Once the catalog is 10 s old, the unknown alarm re-reads it and is found.
    let later = T0 + CATALOG_MISS_REFRESH_MS;
    e.clock.set(later);
    let out = e
        .handle_alarm_event(&newcomer(later), &inv("r3", later))
        .await
        .unwrap();
    assert_eq!(reads(), 2, "the miss re-read the catalog");
    assert_eq!(out.services.len(), 1, "{out:?}");
    assert_eq!(out.services[0].service, "payments");
}
