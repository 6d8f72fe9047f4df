//! The operator's actions: planned failover and failback, status, pause and resume.

use super::*;
use crate::api::operator_response::StepStatus;
use crate::domain::state::{HealthCheckSettings, Phase, ServiceState};
use crate::engine::{CATALOG_MISS_REFRESH_MS, CATALOG_TTL_MS};
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
    assert_eq!(types, ["pause", "held", "resume", "failover"]);
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
    // The claim landed: the answer is no error but where epoch 2 stands and who finishes it.
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(!r.ok && r.message.contains("epoch 2 claimed"), "{r:?}");
    assert_eq!(
        (r.epoch, r.phase_after),
        (Some(2), Some(Phase::FailingBack)),
        "{r:?}"
    );
    assert!(
        r.steps
            .iter()
            .any(|s| s.name == "restore" && s.status == StepStatus::Failed),
        "{r:?}"
    );
    let next = r.next.as_deref().unwrap_or_default();
    assert!(
        next.contains("reconciler finishes epoch 2") && next.contains("asking again"),
        "{r:?}"
    );
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

/// The operator's audit records (kind `operator`) as (what, epoch).
fn operator_records(e: &TestEngine) -> Vec<(String, u64)> {
    e.store
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.kind == "operator")
        .map(|(_, r)| (r.what.clone(), r.epoch))
        .collect()
}

fn step<'a>(r: &'a OperatorResponse, name: &str) -> &'a crate::api::operator_response::StepReport {
    r.steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name}: {r:?}"))
}

#[tokio::test]
async fn an_audit_write_refused_after_the_claim_is_retried_and_the_failover_answers_ok() {
    let e = engine();
    e.store.failures.fail_next("append_history");
    let r = operate(&e, op("failover", json!({}))).await;
    assert!(r.ok, "the claim landed and the switch was made: {r:?}");
    assert_eq!((r.epoch, r.phase_after), (Some(1), Some(Phase::FailedOver)));
    let audit = step(&r, "audit");
    assert_eq!(audit.status, StepStatus::Done, "{r:?}");
    assert!(audit.detail.contains("attempt 2"), "{r:?}");
    assert!(
        r.next.as_deref().unwrap_or_default().contains("failback"),
        "{r:?}"
    );
    assert_eq!(e.health.updates.lock().unwrap().len(), 1, "one switch");
    assert_eq!(alert_kinds(&e), ["failover"], "one alert");
    assert_eq!(operator_records(&e), [("failover".to_string(), 1)]);
    // The operator's retry of the same request changes nothing more.
    assert!(operate(&e, op("failover", json!({}))).await.ok);
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
    assert_eq!(alert_kinds(&e), ["failover"]);
}

#[tokio::test]
async fn an_audit_write_that_cannot_be_retried_in_time_still_answers_ok() {
    let e = engine();
    e.store.failures.fail_next("append_history");
    // Time for the steps (the alert needs 9 s) but not for another audit attempt.
    let tight = Invocation {
        request_id: "op".into(),
        deadline: T0 + 9_500,
    };
    let r = e
        .handle_operator_request(&op("failover", json!({})), &tight)
        .await
        .expect("a landed claim is never reported as an error");
    assert!(r.ok, "{r:?}");
    assert_eq!((r.epoch, r.phase_after), (Some(1), Some(Phase::FailedOver)));
    let audit = step(&r, "audit");
    assert_eq!(audit.status, StepStatus::Failed, "{r:?}");
    assert!(audit.detail.contains("the action stands"), "{r:?}");
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
    assert_eq!(alert_kinds(&e), ["failover"]);
    // The closing step record still says who asked and why.
    let history = e.store.history.lock().unwrap().clone();
    assert!(
        history
            .iter()
            .any(|(_, h)| h.kind == "step" && h.why.contains("alice: planned maintenance")),
        "{history:?}"
    );
}

#[tokio::test]
async fn refused_audit_writes_never_fail_a_landed_failback_pause_or_resume() {
    let e = engine();
    assert!(operate(&e, op("failover", json!({}))).await.ok);
    e.clock.set(T0 + 1000);
    e.store.failures.fail_next("append_history");
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.epoch, r.phase_after),
        (Some(2), Some(Phase::PrimaryActive))
    );
    assert_eq!(step(&r, "audit").status, StepStatus::Done, "{r:?}");
    for action in ["pause", "resume"] {
        e.store.failures.fail_next("append_history");
        let r = operate(&e, op(action, json!({}))).await;
        assert!(r.ok, "{action}: {r:?}");
        assert_eq!(
            step(&r, "audit").status,
            StepStatus::Done,
            "{action}: {r:?}"
        );
        if action == "pause" {
            let next = r.next.as_deref().unwrap_or_default();
            assert!(next.contains("until action resume"), "{r:?}");
        }
    }
    let whats: Vec<String> = operator_records(&e).into_iter().map(|(w, _)| w).collect();
    assert_eq!(whats, ["failover", "failback", "pause", "resume"]);
    assert_eq!(alert_kinds(&e), ["failover", "failback", "pause", "resume"]);
}

#[tokio::test]
async fn a_failed_switch_after_the_claim_is_answered_with_the_epoch_and_who_finishes_it() {
    let e = engine();
    e.health.failures.fail_next("update");
    let r = operate(&e, op("failover", json!({}))).await;
    assert!(!r.ok, "{r:?}");
    assert_eq!(
        (r.epoch, r.phase_after),
        (Some(1), Some(Phase::FailingOver))
    );
    assert_eq!(step(&r, "claim").status, StepStatus::Done);
    assert_eq!(step(&r, "switch").status, StepStatus::Failed);
    assert!(
        r.next
            .as_deref()
            .unwrap_or_default()
            .contains("reconciler finishes epoch 1 on its next run"),
        "{r:?}"
    );
    // And so it does, with one switch and no second decision.
    reconcile(&e).await;
    let state = e.store.state("checkout");
    assert_eq!((state.phase, state.epoch), (Phase::FailedOver, 1));
    assert_eq!(e.health.updates.lock().unwrap().len(), 1);
    assert_eq!(alert_kinds(&e), ["pending", "failover"]);
}

#[tokio::test]
async fn a_service_added_after_the_catalog_was_read_is_found_at_once() {
    let e = engine();
    let reads = || {
        e.store
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == "load_catalog")
            .count()
    };
    let status = |name: &str| json!({"action": "status", "service": name});
    assert!(operate(&e, status("checkout")).await.ok);
    assert_eq!(reads(), 1);
    e.store
        .catalog
        .lock()
        .unwrap()
        .push(("payments".into(), definition(json!({"name": "payments"}))));
    e.clock.set(T0 + 1_000);
    let r = operate(&e, status("payments")).await;
    assert_eq!(r.status[0].service, "payments", "{r:?}");
    assert_eq!(reads(), 2, "the miss re-read the catalog");
    // Known services are served from the cache; a miss within 10 s of the last read
    // reads nothing, however many there are.
    assert!(operate(&e, status("checkout")).await.ok);
    for _ in 0..50 {
        let err = e
            .handle_operator_request(&status("nope"), &inv("op", e.clock.now()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "BadRequest");
    }
    assert_eq!(reads(), 2);
    e.clock.set(T0 + 1_000 + CATALOG_MISS_REFRESH_MS);
    assert!(e
        .handle_operator_request(&status("nope"), &inv("op", e.clock.now()))
        .await
        .is_err());
    assert_eq!(reads(), 3, "a miss 10 s after the last read reads again");
    // The alarm path's question (does any service have this observer?) is rate-limited
    // the same way: a flood of events from an unknown alarm makes one read per 10 s.
    let stranger = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:not-an-observer";
    for _ in 0..50 {
        let c = e
            .catalog_with(|c| !c.services_observing(stranger).is_empty())
            .await
            .unwrap();
        assert_eq!(c.len(), 2);
    }
    assert_eq!(reads(), 3);
    // A minute after the last read, the catalog is re-read without a miss.
    e.clock
        .set(T0 + 1_000 + CATALOG_MISS_REFRESH_MS + CATALOG_TTL_MS - 1);
    assert!(operate(&e, status("checkout")).await.ok);
    assert_eq!(reads(), 3);
    e.clock
        .set(T0 + 1_000 + CATALOG_MISS_REFRESH_MS + CATALOG_TTL_MS);
    assert!(operate(&e, status("checkout")).await.ok);
    assert_eq!(reads(), 4);
}

#[tokio::test]
async fn a_failed_catalog_re_read_keeps_the_last_catalog_and_waits_10_s() {
    let e = engine();
    assert!(operate(&e, json!({"action": "status"})).await.ok);
    e.clock.set(T0 + CATALOG_TTL_MS);
    e.store.failures.fail_next("load_catalog");
    assert!(
        operate(&e, json!({"action": "status"})).await.ok,
        "the last good catalog"
    );
    let loads = || {
        e.store
            .calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == "load_catalog")
            .count()
    };
    assert_eq!(loads(), 2);
    e.clock.set(T0 + CATALOG_TTL_MS + 5_000);
    assert!(operate(&e, json!({"action": "status"})).await.ok);
    assert_eq!(loads(), 2, "no re-read within 10 s of the failed one");
    e.clock.set(T0 + CATALOG_TTL_MS + CATALOG_MISS_REFRESH_MS);
    assert!(operate(&e, json!({"action": "status"})).await.ok);
    assert_eq!(loads(), 3);
}

#[tokio::test]
async fn a_claim_that_landed_although_its_answer_was_lost_goes_on_and_answers_ok() {
    let e = engine();
    *e.store.write_fault_at.lock().unwrap() = Some((1, WriteFault::LandedButError));
    let r = operate(&e, op("failover", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!((r.epoch, r.phase_after), (Some(1), Some(Phase::FailedOver)));
    assert_eq!(e.health.updates.lock().unwrap().len(), 1, "one switch");
    assert_eq!(alert_kinds(&e), ["failover"], "one alert");
    // A claim that did not land is still an error that changed nothing.
    let e = engine();
    e.store.failures.fail_next("write_control");
    let before = snapshot(&e);
    let err = e
        .handle_operator_request(&op("failover", json!({})), &inv("op", T0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "ControlTableUnavailable", "{err}");
    assert_eq!(snapshot(&e), before);
}

#[tokio::test]
async fn an_alias_refuses_the_actions_its_role_may_not_take_and_changes_nothing() {
    use crate::api::operator_request::OperatorScope;
    let e = engine();
    let out = e
        .handle_operator_request_as(
            &op("failover", json!({})),
            &inv("a1", e.clock.now()),
            OperatorScope::Approvals,
        )
        .await
        .unwrap();
    assert!(!out.ok);
    assert!(
        out.message
            .contains("approver alias, which may not failover"),
        "{}",
        out.message
    );
    assert_eq!(e.store.control_writes(), 0);
    assert!(e.notifier.sent().is_empty());
    let status = e
        .handle_operator_request_as(
            &json!({"action": "status"}),
            &inv("a2", e.clock.now()),
            OperatorScope::ReadOnly,
        )
        .await
        .unwrap();
    assert!(status.ok, "{status:?}");
    let pause = e
        .handle_operator_request_as(
            &op("pause", json!({})),
            &inv("a3", e.clock.now()),
            OperatorScope::ReadOnly,
        )
        .await
        .unwrap();
    assert!(
        !pause.ok && pause.message.contains("read-only alias"),
        "{pause:?}"
    );
    // Bad input is still named, whatever the alias.
    let err = e
        .handle_operator_request_as(
            &json!({"action": 7}),
            &inv("a4", e.clock.now()),
            OperatorScope::ReadOnly,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'action'"), "{err}");
}
