//! Every switch mode end to end against moto, as a user sees it: the observers' alarms
//! really in ALARM (SetAlarmState), their events handled by the engine over the real SDK
//! adapters through the recording tap, then the switch (the Route 53 health check, or the
//! `RegionalFailover`/`PrimaryForcedOut` datapoint read back from moto in the secondary
//! region), the alerts on the topic's SQS subscriber, the audit records in the table; and
//! the failback gated by the primary's probe.
//!
//! moto evaluates neither alarms nor health checks: the tests publish Route 53's
//! `HealthCheckStatus` datapoints themselves (`put_health_status`), as its checkers would.
//! Route 53 down for a whole incident: `route53_budget.rs` (`metric`, `both`) and
//! `faults.rs` (`route53_outage`, today's `health_check` behaviour: PENDING, the switch waits).

use failover::adapters::aws::AwsEngine;
use failover::api::operator_response::{OperatorResponse, StepStatus};
use failover::domain::switch::SWITCH_NAMESPACE;
use integration_tests::harness::provision::resources::{put_health_status, switch_datapoints};
use integration_tests::harness::provision::SECONDARY_REGION;
use integration_tests::harness::tap::TappedCall;
use integration_tests::*;
use serde_json::{json, Value};

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `checkout` with real observer alarms, in `mode` (`None`: the default, health_check).
async fn world(mode: Option<&'static str>) -> World {
    let mut spec = World::checkout_with_alarms();
    if let Some(mode) = mode {
        spec = spec.switch_mode(mode);
    }
    let w = World::start_with(spec).await;
    // Route 53's checkers find the secondary healthy (read from CloudWatch in metric/both).
    let now = now_ms();
    let minutes: Vec<i64> = (0..4).map(|k| now - k * MIN).collect();
    put_health_status(&w.sdk, &w.secondary, true, &minutes).await;
    w
}

/// Observers 0 and 1 go to ALARM (quorum 2): the deciding event's outcome.
async fn incident(w: &World, engine: &AwsEngine) -> String {
    assert_eq!(send(w, engine, 0, "ALARM").await, "vote_recorded");
    send(w, engine, 1, "ALARM").await
}

async fn send(w: &World, engine: &AwsEngine, i: usize, state: &str) -> String {
    let id = format!("{i}-{state}");
    let event = w.alarm(i, state, &id).await;
    let out = engine
        .handle_alarm_event(&event, &inv(&id))
        .await
        .expect("the alarm event is handled");
    out.services[0].outcome.to_string()
}

/// Both observers recover, then the operator fails back.
async fn failback(w: &World, engine: &AwsEngine, extra: Value) -> OperatorResponse {
    send(w, engine, 0, "OK").await;
    send(w, engine, 1, "OK").await;
    let mut req = json!({"action": "failback", "service": "checkout",
        "reason": "primary healthy again", "requested_by": "alice"});
    for (k, v) in extra.as_object().into_iter().flatten() {
        req[k] = v.clone();
    }
    engine
        .handle_operator_request(&req, &inv("failback"))
        .await
        .expect("the operator request")
}

/// An invocation whose deadline is a minute after `clock`'s now.
fn inv_at(clock: &TestClock) -> failover::engine::Invocation {
    failover::engine::Invocation {
        request_id: format!("inv-{}", clock.millis()),
        deadline: clock.millis() + 60_000,
    }
}

fn count(calls: &[TappedCall], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

fn route53(calls: &[TappedCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.service == "route53")
        .map(TappedCall::label)
        .collect()
}

/// (min, max) of the switch metric over the last 10 minutes, in the secondary region.
async fn switch_metric(w: &World) -> Vec<(f64, f64)> {
    let now = now_ms();
    switch_datapoints(
        &w.sdk,
        SECONDARY_REGION,
        "checkout",
        (now - 10 * MIN, now + MIN),
    )
    .await
    .into_iter()
    .map(|(_, min, max, _)| (min, max))
    .collect()
}

/// The alerts' subjects and bodies since the last read.
async fn alerts(w: &World) -> Vec<(String, String)> {
    w.alerts()
        .await
        .into_iter()
        .map(|a| (a.subject, a.message))
        .collect()
}

/// Exactly one alert since the last read: its subject starts with `subject`, its body
/// says `says`.
async fn assert_one_alert(w: &World, subject: &str, says: &str) {
    let sent = alerts(w).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(sent[0].0.starts_with(subject), "{}", sent[0].0);
    assert!(sent[0].1.contains(says), "{}", sent[0].1);
}

async fn audit_mentions(w: &World, needle: &str) -> bool {
    w.history().await.iter().any(|item| {
        item.values()
            .any(|v| v.as_s().is_ok_and(|s| s.contains(needle)))
    })
}

#[tokio::test]
async fn metric_mode_fails_over_by_one_datapoint_and_back_by_another_without_route53() {
    let w = world(Some("metric")).await;
    let tap = w.tap();
    let engine = w.engine_through(&tap);
    let mut mark = tap.settled_mark();

    assert_eq!(incident(&w, &engine).await, "failed_over");
    let calls = tap.take_since(&mut mark);
    assert!(route53(&calls).is_empty(), "{:?}", route53(&calls));
    let puts: Vec<&TappedCall> = calls
        .iter()
        .filter(|c| c.operation == "PutMetricData")
        .collect();
    assert_eq!(puts.len(), 1, "one PutMetricData: {calls:#?}");
    assert_eq!(
        puts[0].region, SECONDARY_REGION,
        "in the switch alarm's region"
    );
    assert_eq!(
        switch_metric(&w).await,
        [(1.0, 1.0)],
        "{SWITCH_NAMESPACE} PrimaryForcedOut=1 in {SECONDARY_REGION}"
    );
    assert_eq!(hc(&w, &w.primary).await, (false, false, 1), "untouched");
    assert_eq!(hc(&w, &w.secondary).await, (false, false, 1), "untouched");
    assert_one_alert(&w, "[FAILOVER] checkout", "switched by: metric;").await;
    assert!(audit_mentions(&w, "switched by: metric").await);

    let r = failback(&w, &engine, json!({})).await;
    assert!(r.ok, "{r:?}");
    let calls = tap.take_since(&mut mark);
    assert!(route53(&calls).is_empty(), "{:?}", route53(&calls));
    assert_eq!(count(&calls, "PutMetricData"), 1, "{calls:#?}");
    // The failover's 1 and the failback's 0, in the same minute or in two.
    let points = switch_metric(&w).await;
    let lowest = points.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    let highest = points.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    assert_eq!((lowest, highest), (0.0, 1.0), "{points:?}");
    assert_eq!(hc(&w, &w.primary).await, (false, false, 1));
    let sent = alerts(&w).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILBACK] checkout"),
        "{}",
        sent[0].0
    );
}

#[tokio::test]
async fn both_mode_lands_the_datapoint_and_the_forced_check_and_failback_restores_both() {
    let w = world(Some("both")).await;
    let tap = w.tap();
    let engine = w.engine_through(&tap);
    let mut mark = tap.settled_mark();

    assert_eq!(incident(&w, &engine).await, "failed_over");
    let calls = tap.take_since(&mut mark);
    assert_eq!(
        (
            count(&calls, "PutMetricData"),
            count(&calls, "UpdateHealthCheck")
        ),
        (1, 1),
        "{calls:#?}"
    );
    assert_eq!(switch_metric(&w).await, [(1.0, 1.0)]);
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(
        disabled && inverted,
        "the primary's check is forced unhealthy"
    );
    assert_one_alert(
        &w,
        "[FAILOVER] checkout",
        "switched by: metric and health check",
    )
    .await;

    let r = failback(&w, &engine, json!({})).await;
    assert!(r.ok, "{r:?}");
    let calls = tap.take_since(&mut mark);
    assert_eq!(
        (
            count(&calls, "PutMetricData"),
            count(&calls, "UpdateHealthCheck")
        ),
        (1, 1),
        "{calls:#?}"
    );
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(!disabled && !inverted, "the prior flags are restored");
    let lowest = switch_metric(&w)
        .await
        .iter()
        .map(|p| p.0)
        .fold(f64::MAX, f64::min);
    assert_eq!(lowest, 0.0, "the failback published 0");
    let sent = alerts(&w).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILBACK] checkout"),
        "{}",
        sent[0].0
    );
}

#[tokio::test]
async fn health_check_mode_still_forces_the_check_and_publishes_no_metric() {
    let w = world(None).await;
    let tap = w.tap();
    let engine = w.engine_through(&tap);
    let mut mark = tap.settled_mark();
    assert_eq!(incident(&w, &engine).await, "failed_over");
    let calls = tap.take_since(&mut mark);
    assert_eq!(count(&calls, "UpdateHealthCheck"), 1, "{calls:#?}");
    assert_eq!(count(&calls, "PutMetricData"), 0, "{calls:#?}");
    assert_eq!(
        count(&calls, "GetHealthCheckStatus"),
        1,
        "the secondary's health from Route 53's API, as before"
    );
    assert!(switch_metric(&w).await.is_empty());
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted);
    let sent = alerts(&w).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILOVER] checkout"),
        "{}",
        sent[0].0
    );
}

#[tokio::test]
async fn a_failback_waits_for_the_probe_to_be_healthy_for_five_minutes_unless_forced() {
    let w = World::start_with(World::checkout_with_alarms().probe(true)).await;
    let probe = w.probe.clone().expect("the probe check");
    let now = now_ms();
    let minutes: Vec<i64> = (0..4).map(|k| now - k * MIN).collect();
    put_health_status(&w.sdk, &w.secondary, true, &minutes).await;
    let clock = TestClock::now_wall();
    let tap = w.tap();
    let engine = w.engine_with_clock_through(clock.clone(), &tap);
    let event = |i: usize, state: &'static str| {
        let w = &w;
        let engine = &engine;
        async move {
            let id = format!("{i}-{state}");
            let e = w.alarm(i, state, &id).await;
            engine
                .handle_alarm_event(&e, &inv(&id))
                .await
                .expect("handled")
                .services[0]
                .outcome
                .to_string()
        }
    };
    assert_eq!(event(0, "ALARM").await, "vote_recorded");
    assert_eq!(event(1, "ALARM").await, "failed_over");
    event(0, "OK").await;
    event(1, "OK").await;
    assert_eq!(alerts(&w).await.len(), 1, "the failover alert");

    // Ten minutes on: the probe was unhealthy from minute 3 to 7, healthy for the last 2.
    clock.advance_minutes(10);
    let t = clock.millis();
    let at = |ks: std::ops::RangeInclusive<i64>| ks.map(|k| t - k * MIN).collect::<Vec<_>>();
    put_health_status(&w.sdk, &probe, false, &at(3..=7)).await;
    put_health_status(&w.sdk, &probe, true, &at(0..=2)).await;
    let operate = |extra: Value| {
        let engine = &engine;
        let clock = &clock;
        async move {
            let mut req = json!({"action": "failback", "service": "checkout",
                "reason": "primary healthy again", "requested_by": "alice"});
            for (k, v) in extra.as_object().into_iter().flatten() {
                req[k] = v.clone();
            }
            engine
                .handle_operator_request(&req, &inv_at(clock))
                .await
                .expect("the operator request")
        }
    };
    let mut mark = tap.settled_mark();
    let refused = operate(json!({})).await;
    assert!(!refused.ok, "{refused:?}");
    for needle in [
        "healthy for 2m",
        "failback_min_healthy_seconds=300",
        "force",
    ] {
        assert!(
            refused.message.contains(needle),
            "{needle}: {}",
            refused.message
        );
    }
    let calls = tap.take_since(&mut mark);
    assert!(
        calls.iter().all(|c| !c.mutates()),
        "a refusal changes nothing: {calls:#?}"
    );
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "still failed over");

    // `force` skips the probe (a dry run, to leave the real failback to the probe).
    let forced = operate(json!({"force": true, "dry_run": true})).await;
    assert!(forced.ok, "{forced:?}");
    let step = forced
        .steps
        .iter()
        .find(|s| s.name == "probe")
        .expect("a probe step");
    assert_eq!(step.status, StepStatus::Skipped, "{step:?}");
    assert!(step.detail.contains("healthy for 2m"), "{step:?}");

    // Three more healthy minutes: five in all.
    clock.advance_minutes(3);
    let t2 = clock.millis();
    let later: Vec<i64> = (0..3).map(|k| t2 - k * MIN).collect();
    put_health_status(&w.sdk, &probe, true, &later).await;
    let accepted = operate(json!({})).await;
    assert!(accepted.ok, "{accepted:?}");
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(!disabled && !inverted, "failed back");
    let sent = alerts(&w).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILBACK] checkout"),
        "{}",
        sent[0].0
    );
    eprintln!(
        "refused: {}\naccepted: {:?}",
        refused.message, accepted.steps
    );
}
