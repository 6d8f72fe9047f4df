//! The operator's actions: planned failover and failback, status, pause and resume.

use super::*;
use crate::domain::state::{HealthCheckSettings, Phase, ServiceState};
use crate::ports::HealthCheckConfig;

/// Everything an action could change, to prove a dry run or a refusal changed nothing.
fn snapshot(e: &TestEngine) -> (ServiceState, usize, usize, HealthCheckConfig) {
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
    let s = &status.status[0];
    assert_eq!(s.phase, Phase::FailedOver);
    assert!(s.history.len() >= 2);
    assert!(s.cooldown_remaining_seconds > 0);

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
        crate::domain::state::Trigger::Operator { forced: true, .. }
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
                    .any(|s| s.status == crate::api::operator_response::StepStatus::WouldDo),
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
    e.health.failures.fail_next("update");
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
