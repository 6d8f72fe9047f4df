//! Incidents as they really run: observers that stay in ALARM (CloudWatch sends one event
//! per change, never a repeat), alarms that start minutes apart, and holds (a pause, the
//! cooldown, the daily cap) that end while the quorum still stands. The reconciler confirms
//! standing votes by reading the alarms and decides a quorum that stands.

use super::*;
use crate::domain::event::ObservedState::{Alarm, Ok as OkState};
use crate::domain::state::Phase;

const MINUTE: i64 = 60_000;

/// Observer `i`'s alarm really is in `state` (what DescribeAlarms answers).
fn alarm(e: &TestEngine, i: usize, state: crate::domain::event::ObservedState) {
    e.alarms.set(&observer(i), state);
}

async fn run_at(e: &TestEngine, at: i64) -> ReconcileReport {
    e.clock.set(at);
    reconcile(e).await
}

fn failover_alerts(e: &TestEngine) -> usize {
    alert_kinds(e).iter().filter(|k| *k == "failover").count()
}

#[tokio::test]
async fn staggered_observers_are_decided_by_the_next_reconciler_run_and_only_once() {
    // A enters ALARM and stays; B enters ALARM after A's vote window has passed.
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    alarm(&e, 0, Alarm);
    assert_eq!(
        send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap(),
        ["vote_recorded"]
    );
    e.clock.set(T0 + 90_000);
    alarm(&e, 1, Alarm);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0 + 90_000, "b"), "r2")
            .await
            .unwrap(),
        ["vote_recorded"],
        "A was last confirmed 90 s ago, outside the 60 s window"
    );
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);

    let r = run_at(&e, T0 + 100_000).await;
    assert!(r.errors.is_empty(), "{r:?}");
    let state = e.store.state("checkout");
    assert_eq!(
        (state.phase, state.epoch),
        (Phase::FailedOver, 1),
        "both alarms stand: the run decides"
    );
    assert_eq!(state.execution.as_ref().unwrap().votes.len(), 2);
    assert_eq!(alert_kinds(&e), ["failover"]);
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);

    for minute in 1..=5 {
        run_at(&e, T0 + 100_000 + minute * MINUTE).await;
    }
    assert_eq!(e.store.state("checkout").epoch, 1, "one decision");
    assert_eq!(alert_kinds(&e), ["failover"]);
    assert_eq!(e.health.updates.lock().unwrap().len(), 1, "one switch");
}

#[tokio::test]
async fn a_vote_confirmed_by_the_reconciler_stays_live_for_a_later_event() {
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    alarm(&e, 0, Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    for minute in 1..=6 {
        let r = run_at(&e, T0 + minute * MINUTE).await;
        assert!(r.errors.is_empty() && r.votes_expired == 0, "{r:?}");
    }
    let vote = &e.store.state("checkout").votes[&observer(0)];
    assert_eq!(
        (vote.at, vote.confirmed_at),
        (T0, Some(T0 + 6 * MINUTE)),
        "the read confirms the vote; the event's time still orders it"
    );
    // One DescribeAlarms per run, for the one region with a standing ALARM vote.
    assert_eq!(
        e.alarms.reads.lock().unwrap().clone(),
        vec![("us-east-1".to_string(), 1); 6]
    );
    e.clock.set(T0 + 6 * MINUTE + 30_000);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0 + 6 * MINUTE + 30_000, "b"), "r2")
            .await
            .unwrap(),
        ["failed_over"],
        "A, in ALARM for six minutes, is live: B's event decides at once"
    );
}

#[tokio::test]
async fn a_late_ok_newer_than_the_vote_still_retracts_it_after_a_confirmation() {
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    alarm(&e, 0, Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    run_at(&e, T0 + 50_000).await;
    assert_eq!(
        e.store.state("checkout").votes[&observer(0)].confirmed_at,
        Some(T0 + 50_000)
    );
    // A went OK at T0+30 s (before the read, which CloudWatch answered late); its event
    // arrives after the confirmation and is newer than the vote: it retracts it.
    e.clock.set(T0 + 55_000);
    send(&e, &event(0, "OK", T0 + 30_000, "a-ok"), "r2")
        .await
        .unwrap();
    let vote = &e.store.state("checkout").votes[&observer(0)];
    assert_eq!((vote.state, vote.confirmed_at), (OkState, None));
    // A read that still says ALARM does not bring the retracted vote back.
    alarm(&e, 1, Alarm);
    assert_eq!(
        send(&e, &event(1, "ALARM", T0 + 56_000, "b"), "r3")
            .await
            .unwrap(),
        ["vote_recorded"]
    );
    run_at(&e, T0 + 60_000).await;
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::PrimaryActive);
    assert_eq!(state.votes[&observer(0)].state, OkState);
    assert!(e.notifier.sent().is_empty());
}

#[tokio::test]
async fn a_read_that_finds_the_alarm_no_longer_in_alarm_confirms_nothing() {
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    alarm(&e, 0, OkState); // its OK event was lost
    run_at(&e, T0 + 30_000).await;
    assert_eq!(
        e.store.state("checkout").votes[&observer(0)].confirmed_at,
        None
    );
    alarm(&e, 1, Alarm);
    send(&e, &event(1, "ALARM", T0 + 90_000, "b"), "r2")
        .await
        .unwrap();
    run_at(&e, T0 + 100_000).await;
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    // A's unconfirmed vote leaves the table once past the window and the event age.
    let r = run_at(&e, T0 + 11 * MINUTE).await;
    assert_eq!(r.votes_expired, 1, "{r:?}");
    assert!(!e.store.state("checkout").votes.contains_key(&observer(0)));
    assert!(e.notifier.sent().is_empty());
}

#[tokio::test]
async fn one_standing_alarm_is_no_quorum_however_many_runs_confirm_it() {
    let e = engine();
    alarm(&e, 0, Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    for minute in 1..=30 {
        let r = run_at(&e, T0 + minute * MINUTE).await;
        assert_eq!(r.votes_expired, 0, "a standing ALARM is kept: {r:?}");
    }
    let state = e.store.state("checkout");
    assert_eq!((state.phase, state.epoch), (Phase::PrimaryActive, 0));
    assert!(e.notifier.sent().is_empty());
    assert!(e.health.updates.lock().unwrap().is_empty());
    // No claim: the control item was written once, by the first readiness evaluation
    // (ready, so no page), and never again: a steady readiness writes nothing.
    assert_eq!(e.store.control_writes(), 1);
    assert!(
        state.readiness.as_ref().is_some_and(|r| r.ready),
        "{state:?}"
    );
    assert!(state.execution.is_none());
}

#[tokio::test]
async fn a_timed_pause_that_ends_while_the_alarms_stand_decides_in_that_run() {
    let e = engine();
    let until = chrono::DateTime::from_timestamp_millis(T0 + 2 * MINUTE)
        .unwrap()
        .to_rfc3339();
    operate(&e, op("pause", json!({"until": until}))).await;
    alarm(&e, 0, Alarm);
    alarm(&e, 1, Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    assert_eq!(
        send(&e, &event(1, "ALARM", T0 + 1000, "b"), "r2")
            .await
            .unwrap(),
        ["held"]
    );
    // Still paused: the run keeps the votes live and does not act.
    let r = run_at(&e, T0 + MINUTE).await;
    assert_eq!(r.pauses_expired, 0);
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    // Past the pause and past the votes' 300 s window from their events.
    let r = run_at(&e, T0 + 7 * MINUTE).await;
    assert_eq!(r.pauses_expired, 1, "{r:?}");
    let state = e.store.state("checkout");
    assert_eq!((state.phase, state.epoch), (Phase::FailedOver, 1));
    assert_eq!(alert_kinds(&e), ["pause", "held", "resume", "failover"]);
    run_at(&e, T0 + 8 * MINUTE).await;
    assert_eq!(failover_alerts(&e), 1);
}

/// Fails over on A and B at T0, both clear at T0+1 min, the operator fails back at
/// T0+2 min, and both relapse at T0+3 min (their events arrive, then nothing more).
async fn fail_over_back_and_relapse(e: &TestEngine) {
    alarm(e, 0, Alarm);
    alarm(e, 1, Alarm);
    send(e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    send(e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap();
    e.clock.set(T0 + MINUTE);
    for i in 0..2 {
        alarm(e, i, OkState);
        send(e, &event(i, "OK", T0 + MINUTE, &format!("ok{i}")), "r3")
            .await
            .unwrap();
    }
    e.clock.set(T0 + 2 * MINUTE);
    let r = operate(e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    e.clock.set(T0 + 3 * MINUTE);
    for i in 0..2 {
        alarm(e, i, Alarm);
        let out = send(
            e,
            &event(i, "ALARM", T0 + 3 * MINUTE, &format!("re{i}")),
            "r4",
        )
        .await
        .unwrap();
        assert_eq!(out, [if i == 0 { "vote_recorded" } else { "held" }]);
    }
}

#[tokio::test]
async fn a_cooldown_that_ends_with_the_alarms_standing_fails_over_again() {
    let e = engine_with(json!({"cooldown_seconds": 600, "max_auto_failovers_per_day": 2}));
    fail_over_back_and_relapse(&e).await;
    // Held by the cooldown while it lasts (the reads keep the votes live) ...
    for minute in 4..=11 {
        run_at(&e, T0 + minute * MINUTE).await;
        assert_eq!(e.store.state("checkout").epoch, 2, "minute {minute}");
    }
    // ... and decided by the first run after it, with no new event.
    run_at(&e, T0 + 13 * MINUTE).await;
    let state = e.store.state("checkout");
    assert_eq!((state.phase, state.epoch), (Phase::FailedOver, 3));
    assert_eq!(
        alert_kinds(&e),
        ["failover", "failback", "held", "failover"],
        "the relapse held by the cooldown is paged once"
    );
}

#[tokio::test]
async fn the_daily_cap_pages_a_standing_quorum_once_and_its_reset_decides() {
    let e = engine_with(json!({"cooldown_seconds": 60}));
    fail_over_back_and_relapse(&e).await;
    let paged = alert_kinds(&e);
    for minute in [5, 6, 60, 600] {
        run_at(&e, T0 + minute * MINUTE).await;
    }
    assert_eq!(
        alert_kinds(&e),
        paged,
        "the cap holds the standing quorum; paged once, by the relapse's vote"
    );
    assert_eq!(
        alert_kinds(&e).iter().filter(|k| *k == "held").count(),
        1,
        "{paged:?}"
    );
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    run_at(&e, T0 + 24 * 60 * MINUTE + MINUTE).await;
    let state = e.store.state("checkout");
    assert_eq!((state.phase, state.epoch), (Phase::FailedOver, 3));
    assert_eq!(alert_kinds(&e).last().map(String::as_str), Some("failover"));
}

#[tokio::test]
async fn the_daily_cap_page_lost_to_a_refused_publish_is_sent_by_the_reconciler() {
    let e = engine_with(json!({"cooldown_seconds": 60}));
    alarm(&e, 0, Alarm);
    alarm(&e, 1, Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    send(&e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap();
    e.clock.set(T0 + MINUTE);
    for i in 0..2 {
        alarm(&e, i, OkState);
        send(&e, &event(i, "OK", T0 + MINUTE, &format!("ok{i}")), "r3")
            .await
            .unwrap();
    }
    e.clock.set(T0 + 2 * MINUTE);
    assert!(operate(&e, op("failback", json!({}))).await.ok);
    e.clock.set(T0 + 5 * MINUTE);
    alarm(&e, 0, Alarm);
    alarm(&e, 1, Alarm);
    send(&e, &event(0, "ALARM", T0 + 5 * MINUTE, "re0"), "r4")
        .await
        .unwrap();
    e.notifier.failures.fail_next("publish");
    assert!(send(&e, &event(1, "ALARM", T0 + 5 * MINUTE, "re1"), "r5")
        .await
        .is_err());
    assert_eq!(alert_kinds(&e), ["failover", "failback"]);
    run_at(&e, T0 + 6 * MINUTE).await;
    assert_eq!(alert_kinds(&e), ["failover", "failback", "held"]);
    assert!(e.notifier.sent()[2].message.contains("daily_cap"));
    run_at(&e, T0 + 7 * MINUTE).await;
    assert_eq!(alert_kinds(&e), ["failover", "failback", "held"]);
}

#[tokio::test]
async fn standing_alarms_are_read_in_batches_of_100_per_region_once_each() {
    // 60 services, each with two alarms of its own in us-east-1 and one shared in
    // eu-west-1; quorum 3 with two in ALARM: nothing decides, every vote is confirmed.
    let e = engine();
    let shared = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:shared-canary".to_string();
    let mut catalog = Vec::new();
    for s in 0..60 {
        let name = format!("svc{s:02}");
        let own: Vec<String> = (0..2)
            .map(|i| format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}-{i}"))
            .collect();
        let def = json!({
            "name": name,
            "primary": {"region": "us-east-1", "health_check_id": PRIMARY},
            "secondary": {"region": "eu-west-1", "health_check_id": SECONDARY},
            "observers": [own[0], own[1], shared],
            "quorum": 3
        });
        catalog.push((name.clone(), def.to_string()));
        let mut state = crate::domain::state::ServiceState::default();
        for arn in own.iter().chain([&shared]) {
            e.alarms.set(arn, Alarm);
        }
        for arn in [&own[0], &shared] {
            state.votes.insert(
                arn.clone(),
                crate::domain::state::Vote {
                    state: Alarm,
                    at: T0,
                    event_id: "e".into(),
                    reason: String::new(),
                    received_at: T0,
                    received_by: "r".into(),
                    confirmed_at: None,
                },
            );
        }
        e.store.set_state(&name, state);
    }
    *e.store.catalog.lock().unwrap() = catalog;
    let r = run_at(&e, T0 + MINUTE).await;
    assert!(r.errors.is_empty(), "{r:?}");
    let mut reads = e.alarms.reads.lock().unwrap().clone();
    reads.sort();
    assert_eq!(
        reads,
        [("eu-west-1".to_string(), 1), ("us-east-1".to_string(), 60),],
        "one call per region: 60 distinct names in us-east-1, the shared alarm once"
    );
    let confirmations = e
        .store
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| **c == "confirm_votes")
        .count();
    assert_eq!(confirmations, 60, "one conditional write per service");
    assert!(e.notifier.sent().is_empty());
    // With the second alarm of each service voting too: 120 names, two calls.
    for s in 0..60 {
        let name = format!("svc{s:02}");
        let mut state = e.store.state(&name);
        let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}-1");
        let mut vote = state.votes.values().next().unwrap().clone();
        vote.confirmed_at = None;
        state.votes.insert(arn, vote);
        state.votes.remove(&shared);
        e.store.set_state(&name, state);
    }
    e.alarms.reads.lock().unwrap().clear();
    run_at(&e, T0 + 2 * MINUTE).await;
    let mut reads = e.alarms.reads.lock().unwrap().clone();
    reads.sort();
    assert_eq!(
        reads,
        [
            ("us-east-1".to_string(), 20),
            ("us-east-1".to_string(), 100)
        ]
    );
}

#[tokio::test]
async fn a_failed_alarm_read_confirms_nothing_and_is_reported() {
    let e = engine_with(json!({"vote_window_seconds": 60, "max_event_age_seconds": 600}));
    alarm(&e, 0, Alarm);
    send(&e, &event(0, "ALARM", T0, "a"), "r1").await.unwrap();
    e.alarms.failures.fail_next("alarm_states");
    let r = run_at(&e, T0 + 30_000).await;
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert!(r.errors[0].contains("us-east-1"), "{r:?}");
    assert_eq!(
        e.store.state("checkout").votes[&observer(0)].confirmed_at,
        None
    );
    let r = run_at(&e, T0 + 40_000).await;
    assert!(r.errors.is_empty());
    assert_eq!(
        e.store.state("checkout").votes[&observer(0)].confirmed_at,
        Some(T0 + 40_000)
    );
}
