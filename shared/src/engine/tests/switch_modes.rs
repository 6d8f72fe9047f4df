//! The switch mechanisms over in-memory ports: `metric` never calls Route 53's API, `both`
//! switches when either mechanism lands and the reconciler completes the other, and a
//! failback waits for the primary's probe.

use super::*;
use crate::domain::state::Phase;

const SWITCH_ALARM: &str =
    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-primary-switch";
const PROBE: &str = "hc-probe";
const MIN: i64 = 60_000;

fn switch(mode: &str) -> Value {
    json!({"switch": {"mode": mode, "alarm_arn": SWITCH_ALARM}})
}

/// Route 53's checkers report the secondary healthy (or not) through HealthCheckStatus.
fn secondary_health(e: &TestEngine, healthy: bool) {
    let now = e.clock.now();
    e.alarms
        .health_between("hc-secondary", now - 4 * MIN, now, healthy);
}

/// Two observers alarm; the outcome of the deciding event.
async fn incident(e: &TestEngine) -> &'static str {
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    let out = send(e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    out[0]
}

/// The two observers that decided report OK again, a minute after the incident.
async fn deciders_recover(e: &TestEngine) {
    send(e, &event(0, "OK", T0 + MIN, "c"), "r3").await.unwrap();
    send(e, &event(1, "OK", T0 + MIN, "d"), "r4").await.unwrap();
}

#[tokio::test]
async fn a_metric_failover_publishes_1_and_never_calls_route53() {
    let e = engine_with(switch("metric"));
    secondary_health(&e, true);
    e.health.set_down(true);
    assert_eq!(incident(&e).await, "failed_over");
    assert_eq!(e.alarms.published_for("checkout"), vec![1.0]);
    assert_eq!(e.health.call_count(), 0, "{:?}", e.health.calls);
    assert_eq!(alert_kinds(&e), vec!["failover"]);
    let alert = &e.notifier.sent()[0];
    assert!(
        alert
            .message
            .contains("switched by: metric; Route 53's API was not needed"),
        "{}",
        alert.message
    );
    let exec = e.store.state("checkout").execution.unwrap();
    assert!(exec.metric_switched_at.is_some() && exec.check_switched_at.is_none());
    let (ok, detail) = exec
        .preflight
        .iter()
        .find(|c| c.name.starts_with("secondary health check"))
        .map(|c| (c.ok, c.detail.clone()))
        .unwrap();
    assert!(
        ok && detail.contains("HealthCheckStatus metric"),
        "{detail}"
    );
    let history = e.store.history.lock().unwrap().clone();
    assert!(
        history
            .iter()
            .any(|(_, r)| r.what.contains("switched by: metric")),
        "{history:?}"
    );
}

#[tokio::test]
async fn a_metric_failover_with_the_secondary_health_unread_decides_on_the_rest_and_says_so() {
    let e = engine_with(switch("metric"));
    // No HealthCheckStatus datapoint at all (CloudWatch in us-east-1 has nothing to say).
    assert_eq!(incident(&e).await, "failed_over");
    let alert = &e.notifier.sent()[0];
    assert!(
        alert.message.contains("could not be read"),
        "{}",
        alert.message
    );
    assert!(
        alert.message.contains("need no Route 53 API"),
        "{}",
        alert.message
    );
}

#[tokio::test]
async fn a_metric_failover_onto_a_secondary_that_answered_unhealthy_is_blocked() {
    let e = engine_with(switch("metric"));
    secondary_health(&e, false);
    assert_eq!(incident(&e).await, "blocked");
    assert!(e.alarms.published_for("checkout").is_empty());
    assert_eq!(alert_kinds(&e), vec!["blocked"]);
}

#[tokio::test]
async fn a_refused_put_metric_data_leaves_the_failover_pending_and_the_retry_lands_it() {
    let e = engine_with(switch("metric"));
    secondary_health(&e, true);
    e.alarms.failures.fail_next("put_switch_values");
    assert!(send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .is_ok());
    assert!(send(&e, &event(1, "ALARM", T0, "b"), "r2").await.is_err());
    assert_eq!(e.store.state("checkout").phase, Phase::FailingOver);
    assert_eq!(alert_kinds(&e), vec!["pending"]);
    e.clock.set(T0 + 1000);
    reconcile(&e).await;
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    assert_eq!(alert_kinds(&e), vec!["pending", "failover"]);
    assert_eq!(e.alarms.published_for("checkout").first(), Some(&1.0));
}

#[tokio::test(start_paused = true)]
async fn both_with_route53_down_switches_by_metric_and_the_reconciler_completes_the_check() {
    let e = engine_with(switch("both"));
    secondary_health(&e, true);
    e.health.set_down(true);
    assert_eq!(incident(&e).await, "failed_over");
    assert_eq!(alert_kinds(&e), vec!["failover"], "one alert, no PENDING");
    let alert = &e.notifier.sent()[0];
    assert!(
        alert.message.contains("switched by: metric;"),
        "{}",
        alert.message
    );
    assert!(
        alert.message.contains("NOT changed yet"),
        "{}",
        alert.message
    );
    assert!(!e.health.get_now("hc-primary").settings.forces_unhealthy());

    // Route 53 answers again: the reconciler lands the health-check mechanism, once.
    e.health.set_down(false);
    let state = e.store.state("checkout");
    let def = e
        .catalog()
        .await
        .unwrap()
        .service("checkout")
        .unwrap()
        .clone();
    let (after, done) = e.complete_switch(&def, state).await.unwrap();
    assert!(done);
    assert!(e.health.get_now("hc-primary").settings.forces_unhealthy());
    let exec = after.execution.unwrap();
    assert!(exec.check_switched_at.is_some() && exec.route53_unanswered.is_none());
    assert_eq!(
        exec.prior.map(|p| p.to_string()).as_deref(),
        Some("Disabled=false Inverted=false")
    );
    let (_, again) = e
        .complete_switch(&def, e.store.state("checkout"))
        .await
        .unwrap();
    assert!(!again, "nothing left to complete");
    assert_eq!(alert_kinds(&e), vec!["failover"]);
}

#[tokio::test]
async fn both_with_route53_answering_lands_both_mechanisms() {
    let e = engine_with(switch("both"));
    secondary_health(&e, true);
    assert_eq!(incident(&e).await, "failed_over");
    assert!(e.health.get_now("hc-primary").settings.forces_unhealthy());
    assert_eq!(e.alarms.published_for("checkout"), vec![1.0]);
    let alert = &e.notifier.sent()[0];
    assert!(
        alert
            .message
            .contains("switched by: metric and health check"),
        "{}",
        alert.message
    );

    // The failback restores both.
    e.clock.set(T0 + 10 * MIN);
    deciders_recover(&e).await;
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(e.alarms.published_for("checkout"), vec![1.0, 0.0]);
    assert!(!e.health.get_now("hc-primary").settings.forces_unhealthy());
}

#[tokio::test]
async fn a_metric_failback_publishes_0_without_route53() {
    let e = engine_with(switch("metric"));
    secondary_health(&e, true);
    e.health.set_down(true);
    assert_eq!(incident(&e).await, "failed_over");
    e.clock.set(T0 + 10 * MIN);
    deciders_recover(&e).await;
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    assert_eq!(e.alarms.published_for("checkout"), vec![1.0, 0.0]);
    assert_eq!(e.health.call_count(), 0);
    assert_eq!(alert_kinds(&e), vec!["failover", "failback"]);
}

#[tokio::test]
async fn a_failback_waits_until_the_primary_probe_has_been_healthy_long_enough() {
    let mut extra = switch("metric");
    extra["primary"] = json!({"region": "us-east-1", "health_check_id": "hc-primary",
        "probe_health_check_id": PROBE});
    let e = engine_with(extra);
    secondary_health(&e, true);
    assert_eq!(incident(&e).await, "failed_over");
    deciders_recover(&e).await;

    // Down for the incident's first minutes, healthy for the last 2 minutes.
    let now = T0 + 10 * MIN;
    e.clock.set(now);
    e.alarms.health_between(PROBE, T0, now - 3 * MIN, false);
    e.alarms.health_between(PROBE, now - 2 * MIN, now, true);
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(!r.ok, "{r:?}");
    assert!(
        r.message.contains("healthy for 2m")
            && r.message.contains("failback_min_healthy_seconds=300"),
        "{}",
        r.message
    );
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);

    // `force` goes ahead anyway, and says what it skipped.
    let forced = operate(&e, op("failback", json!({"force": true, "dry_run": true}))).await;
    assert!(forced.ok, "{forced:?}");
    assert!(forced
        .steps
        .iter()
        .any(|s| s.name == "probe" && s.detail.contains("healthy for 2m")));

    // Three more healthy minutes: 5 in all, the minimum.
    let later = now + 3 * MIN;
    e.clock.set(later);
    e.alarms.health_between(PROBE, now + MIN, later, true);
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
}

#[tokio::test]
async fn an_unhealthy_probe_refuses_the_failback_and_says_for_how_long() {
    let mut extra = json!({});
    extra["primary"] = json!({"region": "us-east-1", "health_check_id": "hc-primary",
        "probe_health_check_id": PROBE});
    let e = engine_with(extra);
    e.health.add(PROBE, false);
    assert_eq!(incident(&e).await, "failed_over");
    deciders_recover(&e).await;
    let now = T0 + 10 * MIN;
    e.clock.set(now);
    e.alarms.health_between(PROBE, now - 7 * MIN, now, false);
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(!r.ok);
    assert!(r.message.contains("unhealthy for 7m"), "{}", r.message);
    // Nothing at all read from the probe: refused too, saying why.
    e.alarms.health.lock().unwrap().clear();
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(!r.ok);
    assert!(
        r.message.contains("no HealthCheckStatus datapoints"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn both_failback_lifts_a_forced_check_whose_switch_was_never_confirmed() {
    let e = engine_with(switch("both"));
    secondary_health(&e, true);
    e.health.set_down(true);
    assert_eq!(incident(&e).await, "failed_over");
    let exec = e.store.state("checkout").execution.unwrap();
    assert!(exec.check_switched_at.is_none() && exec.prior.is_none());
    // The UpdateHealthCheck given up on after 2 s landed after all, unrecorded.
    e.health.set_down(false);
    e.health
        .checks
        .lock()
        .unwrap()
        .get_mut("hc-primary")
        .unwrap()
        .settings = crate::domain::state::HealthCheckSettings::FORCED_UNHEALTHY;
    e.clock.set(T0 + 10 * MIN);
    deciders_recover(&e).await;
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert!(
        !e.health.get_now("hc-primary").settings.forces_unhealthy(),
        "the failback must not leave the primary forced out"
    );
    assert_eq!(e.alarms.published_for("checkout"), vec![1.0, 0.0]);
}

#[tokio::test]
async fn a_metric_failback_from_blocked_switches_nothing_and_starts_no_cooldown() {
    let e = engine_with(switch("metric"));
    secondary_health(&e, false);
    assert_eq!(incident(&e).await, "blocked");
    e.clock.set(T0 + 10 * MIN);
    deciders_recover(&e).await;
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    let state = e.store.state("checkout");
    assert_eq!(state.phase, Phase::PrimaryActive);
    assert!(e.alarms.published_for("checkout").is_empty());
    assert_eq!(state.last_transition_at, None, "no cooldown");
    let alert = e.notifier.sent().last().cloned().unwrap();
    assert_eq!(alert.event_type, "failback");
    assert!(
        alert.message.contains("nothing was switched"),
        "{}",
        alert.message
    );
}
