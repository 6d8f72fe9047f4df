//! The reconciler: it finishes interrupted transitions, reports and repairs drift,
//! escalates what stays stuck, and expires pauses and old votes.

use super::*;
use crate::domain::state::{HealthCheckSettings, Phase};

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
            "update" => e.health.failures.fail_next("update"),
            "publish" => e.notifier.failures.fail_next("publish"),
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
    let def = crate::domain::catalog::ServiceDefinition::parse("checkout", &definition(json!({})))
        .unwrap();
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
    let votes = crate::domain::decision::live_votes(&def, &state, T0);
    let claimant = crate::domain::decision::Claimant {
        owner: "killed".into(),
        lease_until: T0 + 900_000,
    };
    e.store.set_state(
        "checkout",
        crate::domain::decision::claim_failover(
            &state,
            votes,
            crate::domain::state::Trigger::Quorum {
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
