//! A held quorum pages: a pause, the cooldown, the daily cap or BLOCKED holding back a
//! quorum sends one `held` alert per hold, with the reason, until when, and the operator
//! request that acts now; never repeated within the escalation interval. A failback that
//! changed nothing (from BLOCKED) starts no cooldown.

use super::*;
use crate::domain::decision::ESCALATION_INTERVAL_MS;
use crate::domain::event::ObservedState::{Alarm, Ok as OkState};
use crate::domain::state::Phase;

const MINUTE: i64 = 60_000;

fn held(e: &TestEngine) -> Vec<crate::domain::alert::Alert> {
    e.notifier
        .sent()
        .into_iter()
        .filter(|a| a.event_type == "held")
        .collect()
}

async fn run_at(e: &TestEngine, at: i64) -> ReconcileReport {
    e.clock.set(at);
    reconcile(e).await
}

/// Observers `i` really in ALARM since `at`, its event delivered.
async fn alarm_at(e: &TestEngine, i: usize, at: i64, id: &str) -> Vec<&'static str> {
    e.alarms.set(&observer(i), Alarm);
    e.clock.set(e.clock.now().max(at));
    send(e, &event(i, "ALARM", at, id), id).await.unwrap()
}

async fn clear_at(e: &TestEngine, i: usize, at: i64) {
    e.alarms.set(&observer(i), OkState);
    e.clock.set(e.clock.now().max(at));
    send(e, &event(i, "OK", at, &format!("ok{i}-{at}")), "ok")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_paused_quorum_pages_once_with_the_hold_and_the_request_that_acts_now() {
    let e = engine();
    let until = T0 + 30 * MINUTE;
    let until_text = chrono::DateTime::from_timestamp_millis(until)
        .unwrap()
        .to_rfc3339();
    operate(&e, op("pause", json!({"until": until_text}))).await;
    alarm_at(&e, 0, T0, "a").await;
    assert_eq!(alarm_at(&e, 1, T0 + 1000, "b").await, ["held"]);
    let pages = held(&e);
    assert_eq!(pages.len(), 1, "{:?}", alert_kinds(&e));
    let page = &pages[0];
    assert_eq!(page.severity, "critical");
    assert!(
        page.subject.starts_with("[HELD] checkout"),
        "{}",
        page.subject
    );
    for needle in [
        "reason:   paused",
        &format!("until:    {}", crate::domain::time::fmt_time(until)),
        "the reconciler re-assesses",
        r#"{"action":"failover","#,
        r#""service":"checkout""#,
        observer(0).as_str(),
        observer(1).as_str(),
    ] {
        assert!(page.message.contains(needle), "{needle}:\n{}", page.message);
    }
    assert!(
        !page.message.contains(r#""force""#),
        "a pause needs no force:\n{}",
        page.message
    );
    // The exact request in the page is one the operator accepts.
    let request: serde_json::Value = serde_json::from_str(
        page.message
            .lines()
            .find(|l| l.trim_start().starts_with('{'))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let r = e
        .handle_operator_request(
            &json!({"dry_run": true, "requested_by": "alice"})
                .as_object()
                .unwrap()
                .iter()
                .fold(request.clone(), |mut acc, (k, v)| {
                    acc[k] = v.clone();
                    acc
                }),
            &inv("op", e.clock.now()),
        )
        .await
        .unwrap();
    assert!(r.ok, "{r:?}");
    // More votes and runs within the same pause: no second page.
    alarm_at(&e, 2, T0 + 2000, "c").await;
    for minute in 1..=25 {
        run_at(&e, T0 + minute * MINUTE).await;
    }
    assert_eq!(held(&e).len(), 1, "{:?}", alert_kinds(&e));
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
}

#[tokio::test]
async fn a_cooldown_hold_pages_once_and_says_force() {
    let e = engine_with(json!({"cooldown_seconds": 3600, "max_auto_failovers_per_day": 5}));
    alarm_at(&e, 0, T0, "a").await;
    alarm_at(&e, 1, T0, "b").await;
    clear_at(&e, 0, T0 + MINUTE).await;
    clear_at(&e, 1, T0 + MINUTE).await;
    e.clock.set(T0 + 2 * MINUTE);
    assert!(operate(&e, op("failback", json!({}))).await.ok);
    // The relapse inside the cooldown: paged by the vote that completes the quorum.
    alarm_at(&e, 0, T0 + 3 * MINUTE, "a2").await;
    assert_eq!(alarm_at(&e, 1, T0 + 3 * MINUTE, "b2").await, ["held"]);
    let pages = held(&e);
    assert_eq!(pages.len(), 1);
    let until = crate::domain::time::fmt_time(T0 + 2 * MINUTE + 3_600_000);
    for needle in [
        "reason:   cooldown",
        &format!("until:    {until}"),
        r#""force":true"#,
    ] {
        assert!(
            pages[0].message.contains(needle),
            "{needle}:\n{}",
            pages[0].message
        );
    }
    for minute in 4..=40 {
        run_at(&e, T0 + minute * MINUTE).await;
    }
    assert_eq!(held(&e).len(), 1, "one page per hold");
}

#[tokio::test]
async fn a_new_hold_within_the_escalation_interval_waits_for_it_then_pages() {
    let e = engine_with(json!({"cooldown_seconds": 600, "max_auto_failovers_per_day": 5}));
    alarm_at(&e, 0, T0, "a").await;
    alarm_at(&e, 1, T0, "b").await;
    clear_at(&e, 0, T0 + MINUTE).await;
    clear_at(&e, 1, T0 + MINUTE).await;
    e.clock.set(T0 + 2 * MINUTE);
    assert!(operate(&e, op("failback", json!({}))).await.ok);
    alarm_at(&e, 0, T0 + 3 * MINUTE, "a2").await;
    alarm_at(&e, 1, T0 + 3 * MINUTE, "b2").await;
    assert_eq!(held(&e).len(), 1, "the cooldown's page at minute 3");
    // An operator pauses before the cooldown ends: a new hold, the same quorum.
    e.clock.set(T0 + 5 * MINUTE);
    assert!(operate(&e, op("pause", json!({}))).await.ok);
    let first = T0 + 3 * MINUTE;
    let mut pages = Vec::new();
    for minute in [13, 15, 17, 19] {
        run_at(&e, T0 + minute * MINUTE).await;
        pages.push((minute, held(&e).len()));
    }
    assert_eq!(
        pages,
        [(13, 1), (15, 1), (17, 1), (19, 2)],
        "the pause is paged once {} min after the cooldown's page, not sooner",
        ESCALATION_INTERVAL_MS / MINUTE
    );
    assert!(first + ESCALATION_INTERVAL_MS <= T0 + 19 * MINUTE);
    assert!(held(&e)[1].message.contains("reason:   paused"));
}

#[tokio::test]
async fn a_new_quorum_onto_a_blocked_service_pages_held_with_force() {
    let e = engine();
    e.health.add(SECONDARY, false);
    alarm_at(&e, 0, T0, "a").await;
    assert_eq!(alarm_at(&e, 1, T0, "b").await, ["blocked"]);
    // The votes that were blocked are paged by the blocked alert, not again.
    for minute in 1..=5 {
        run_at(&e, T0 + minute * MINUTE).await;
    }
    assert!(held(&e).is_empty(), "{:?}", alert_kinds(&e));
    // Later a new incident: the observers clear, then alarm again.
    clear_at(&e, 0, T0 + 6 * MINUTE).await;
    clear_at(&e, 1, T0 + 6 * MINUTE).await;
    alarm_at(&e, 0, T0 + 7 * MINUTE, "a2").await;
    alarm_at(&e, 1, T0 + 7 * MINUTE, "b2").await;
    let pages = held(&e);
    assert_eq!(pages.len(), 1, "{:?}", alert_kinds(&e));
    for needle in [
        "reason:   blocked",
        "until:    an operator acts",
        r#""force":true"#,
    ] {
        assert!(
            pages[0].message.contains(needle),
            "{needle}:\n{}",
            pages[0].message
        );
    }
    assert_eq!(e.store.state("checkout").phase, Phase::Blocked);
}

#[tokio::test]
async fn a_failback_from_blocked_starts_no_cooldown() {
    let e = engine();
    e.health.add(SECONDARY, false);
    alarm_at(&e, 0, T0, "a").await;
    assert_eq!(alarm_at(&e, 1, T0, "b").await, ["blocked"]);
    clear_at(&e, 0, T0 + MINUTE).await;
    clear_at(&e, 1, T0 + MINUTE).await;
    e.clock.set(T0 + 2 * MINUTE);
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    let state = e.store.state("checkout");
    assert_eq!(
        (state.phase, state.last_transition_at),
        (Phase::PrimaryActive, None),
        "nothing changed in Route 53: no cooldown"
    );
    // The secondary is ready now and the primary fails: the automation acts at once.
    e.health.add(SECONDARY, true);
    alarm_at(&e, 0, T0 + 3 * MINUTE, "a2").await;
    assert_eq!(
        alarm_at(&e, 1, T0 + 3 * MINUTE, "b2").await,
        ["failed_over"]
    );
    assert!(held(&e).is_empty());
}

#[tokio::test]
async fn a_held_page_lost_to_a_refused_publish_is_sent_by_the_next_run() {
    let e = engine();
    operate(&e, op("pause", json!({}))).await;
    alarm_at(&e, 0, T0, "a").await;
    e.notifier.failures.fail_next("publish");
    assert!(send(&e, &event(1, "ALARM", T0, "b"), "b").await.is_err());
    e.alarms.set(&observer(1), Alarm);
    assert!(held(&e).is_empty());
    assert_eq!(
        e.store.state("checkout").held_paged,
        None,
        "claim given back"
    );
    run_at(&e, T0 + MINUTE).await;
    assert_eq!(held(&e).len(), 1);
    run_at(&e, T0 + 2 * MINUTE).await;
    assert_eq!(held(&e).len(), 1);
}
