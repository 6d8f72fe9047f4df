//! The reconciler and the switch metric: every run republishes each metric service's
//! decided value with one PutMetricData per region, reads the switch alarms in batches,
//! reports a switch alarm that disagrees with the decision once and clears it when it
//! agrees, and completes a `both` switch whose health check did not land.

use super::reconcile_scale::{
    failed_over_by_metric, fleet, marks, name, primary_check, run, switch_alarm, FleetEngine,
};
use super::*;
use crate::domain::event::ObservedState;
use crate::domain::state::Phase;
use crate::domain::switch::SWITCH_ALARM_GRACE_MS;

const MINUTE: i64 = 60_000;

fn metric(i: usize) -> Value {
    json!({"switch": {"mode": "metric", "alarm_arn": switch_alarm(i, "eu-west-1")}})
}

fn drift_alerts(e: &FleetEngine) -> Vec<String> {
    e.notifier
        .sent()
        .into_iter()
        .filter(|a| a.event_type == "drift")
        .map(|a| a.message)
        .collect()
}

fn history(e: &FleetEngine, kind: &str) -> Vec<String> {
    e.store
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.kind == kind)
        .map(|(_, r)| r.what.clone())
        .collect()
}

#[tokio::test]
async fn a_run_at_1000_metric_services_puts_once_per_region_and_reads_the_alarms_100_a_call() {
    // 600 metric services with their alarm in eu-west-1, 400 both with it in us-west-2.
    let e = fleet(1000, |i| {
        if i < 600 {
            metric(i)
        } else {
            json!({"switch": {"mode": "both", "alarm_arn": switch_alarm(i, "us-west-2")}})
        }
    });
    run(&e).await;
    e.alarms.puts.lock().unwrap().clear();
    e.alarms.inner.reads.lock().unwrap().clear();
    let (s0, _) = marks(&e);
    let r = run(&e).await;
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.switch_values_published, 1000);
    let mut puts = e.alarms.puts.lock().unwrap().clone();
    puts.sort();
    assert_eq!(
        puts,
        [
            ("eu-west-1".to_string(), 600),
            ("us-west-2".to_string(), 400)
        ],
        "one PutMetricData per region, for all its services"
    );
    let mut reads = e.alarms.inner.reads.lock().unwrap().clone();
    reads.sort();
    let mut expected = vec![("eu-west-1".to_string(), 100); 6];
    expected.extend(vec![("us-west-2".to_string(), 100); 4]);
    assert_eq!(
        reads, expected,
        "DescribeAlarms, 100 names a call, per region"
    );
    // Only the both services need their check: still at most two pages.
    assert_eq!(e.health.count("list_page"), 2 * 2);
    assert_eq!(e.health.count("get"), 0);
    let store = e.store.calls.lock().unwrap()[s0..].to_vec();
    assert!(store.len() <= 15, "{store:?}");
    assert_eq!(e.alarms.inner.published_for(&name(0)), [0.0, 0.0]);
}

#[tokio::test]
async fn a_switch_alarm_drift_is_alerted_once_and_cleared_when_it_agrees() {
    let e = fleet(1, metric);
    let arn = switch_alarm(0, "eu-west-1");
    e.store
        .set_state(&name(0), failed_over_by_metric(T0, false));
    e.alarms.inner.set(&arn, ObservedState::Ok);

    // Within the grace the alarm may still be catching up.
    e.clock.set(T0 + MINUTE);
    let r = run(&e).await;
    assert_eq!(r.switch_drifts, 0, "{r:?}");
    assert_eq!(
        e.alarms.inner.published_for(&name(0)),
        [1.0],
        "the decided value"
    );

    e.clock.set(T0 + SWITCH_ALARM_GRACE_MS + MINUTE);
    let r = run(&e).await;
    assert_eq!(r.switch_drifts, 1, "{r:?}");
    let alerts = drift_alerts(&e);
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0].contains("switch alarm OK"), "{}", alerts[0]);
    assert!(alerts[0].contains(&arn), "{}", alerts[0]);
    assert_eq!(history(&e, "drift").len(), 1, "audited with its alert");
    assert!(e.store.state(&name(0)).outbox.is_empty(), "sent");

    e.clock.set(T0 + SWITCH_ALARM_GRACE_MS + 2 * MINUTE);
    assert_eq!(run(&e).await.switch_drifts, 0, "not repeated");
    assert_eq!(drift_alerts(&e).len(), 1);

    e.alarms.inner.set(&arn, ObservedState::Alarm);
    e.clock.set(T0 + SWITCH_ALARM_GRACE_MS + 3 * MINUTE);
    let r = run(&e).await;
    assert_eq!(r.switch_drifts, 0);
    assert_eq!(e.store.state(&name(0)).drift, None, "cleared");
    assert_eq!(history(&e, "reconcile"), ["switch alarm drift resolved"]);
    assert_eq!(drift_alerts(&e).len(), 1, "clearing sends nothing");
    assert_eq!(
        e.alarms.inner.published_for(&name(0)),
        [1.0, 1.0, 1.0, 1.0],
        "republished every run"
    );
}

#[tokio::test]
async fn a_switch_alarm_that_could_not_be_read_is_not_a_drift() {
    let e = fleet(1, metric);
    e.store
        .set_state(&name(0), failed_over_by_metric(T0, false));
    e.clock.set(T0 + SWITCH_ALARM_GRACE_MS + MINUTE);
    e.alarms.inner.failures.fail_next("alarm_states");
    let r = run(&e).await;
    assert_eq!((r.switch_drifts, r.errors.len()), (0, 1), "{r:?}");
    // Read, and missing: that is a drift.
    let r = run(&e).await;
    assert_eq!(r.switch_drifts, 1, "{r:?}");
    assert!(drift_alerts(&e)[0].contains("does not exist"));
}

#[tokio::test]
async fn a_refused_put_is_an_error_of_the_run_and_the_next_run_publishes_again() {
    let e = fleet(3, metric);
    e.alarms.inner.failures.fail_next("put_switch_values");
    let r = run(&e).await;
    assert_eq!(r.switch_values_published, 0);
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert!(
        r.errors[0].contains("3 services in eu-west-1"),
        "{:?}",
        r.errors
    );
    assert_eq!(r.checked, 3, "the services are reconciled regardless");
    let r = run(&e).await;
    assert_eq!((r.switch_values_published, r.errors.len()), (3, 0));
}

#[tokio::test]
async fn a_both_switch_whose_health_check_did_not_land_is_completed_by_the_reconciler() {
    let e = fleet(
        1,
        |i| json!({"switch": {"mode": "both", "alarm_arn": switch_alarm(i, "eu-west-1")}}),
    );
    e.store
        .set_state(&name(0), failed_over_by_metric(T0, false));
    e.alarms
        .inner
        .set(&switch_alarm(0, "eu-west-1"), ObservedState::Alarm);
    e.clock.set(T0 + MINUTE);
    let r = run(&e).await;
    assert_eq!((r.switches_completed, r.drifts), (1, 0), "{r:?}");
    assert!(
        e.health
            .inner
            .get_now(&primary_check(0))
            .settings
            .forces_unhealthy(),
        "the health check is forced now"
    );
    let state = e.store.state(&name(0));
    assert_eq!(state.phase, Phase::FailedOver);
    assert!(state.execution.unwrap().check_switched_at.is_some());

    e.clock.set(T0 + 2 * MINUTE);
    let r = run(&e).await;
    assert_eq!(
        (r.switches_completed, r.drifts, r.switch_drifts),
        (0, 0, 0),
        "{r:?}"
    );
    assert_eq!(e.health.count("update"), 1, "one switch");
}

#[tokio::test]
async fn a_both_switch_whose_check_landed_is_not_completed_again() {
    let e = fleet(
        1,
        |i| json!({"switch": {"mode": "both", "alarm_arn": switch_alarm(i, "eu-west-1")}}),
    );
    e.store.set_state(&name(0), failed_over_by_metric(T0, true));
    e.health
        .inner
        .checks
        .lock()
        .unwrap()
        .get_mut(&primary_check(0))
        .unwrap()
        .settings = crate::domain::state::HealthCheckSettings::FORCED_UNHEALTHY;
    let r = run(&e).await;
    assert_eq!((r.switches_completed, r.drifts), (0, 0), "{r:?}");
    assert_eq!(e.health.count("update"), 0);
}

#[tokio::test]
async fn in_both_mode_a_check_drift_and_a_switch_alarm_drift_are_each_alerted_once() {
    let e = fleet(
        1,
        |i| json!({"switch": {"mode": "both", "alarm_arn": switch_alarm(i, "eu-west-1")}}),
    );
    e.store.set_state(&name(0), failed_over_by_metric(T0, true));
    e.alarms
        .inner
        .set(&switch_alarm(0, "eu-west-1"), ObservedState::Ok);
    // The check is left un-forced by hand, and the switch alarm disagrees too.
    e.clock.set(T0 + SWITCH_ALARM_GRACE_MS + MINUTE);
    let r = run(&e).await;
    assert_eq!(
        (r.drifts, r.switch_drifts),
        (1, 0),
        "the check's first: {r:?}"
    );
    let r = run(&e).await;
    assert_eq!((r.drifts, r.switch_drifts), (0, 0), "no ping-pong: {r:?}");
    // The check is put back: its drift clears, and the switch alarm's is reported.
    e.health
        .inner
        .checks
        .lock()
        .unwrap()
        .get_mut(&primary_check(0))
        .unwrap()
        .settings = crate::domain::state::HealthCheckSettings::FORCED_UNHEALTHY;
    let r = run(&e).await;
    assert_eq!((r.drifts, r.switch_drifts), (0, 1), "{r:?}");
    let r = run(&e).await;
    assert_eq!((r.drifts, r.switch_drifts), (0, 0), "{r:?}");
    assert_eq!(drift_alerts(&e).len(), 2);
}
