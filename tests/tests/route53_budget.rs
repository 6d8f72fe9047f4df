//! Route 53's API down for a whole incident, and the Route 53 API budget, on the wire: the
//! engine over the real SDK adapters through the tap, which answers every `route53` call
//! with HTTP 503 (`set_outage`) or records every one for the per-second count.
//!
//! `health_check` mode with Route 53 down keeps today's behaviour (a PENDING alert, the
//! switch waits until Route 53 answers): `faults.rs`, `route53_outage` and the tests
//! `route53_unavailable_then_a_redelivery_completes_the_switch` and
//! `route53_throttling_then_the_reconciler_completes_the_switch`.

use std::time::{Duration, Instant};

use failover::adapters::aws::AwsEngine;
use failover::engine::{ReconcileSettings, ROUTE53_WAIT};
use futures::future::join_all;
use integration_tests::harness::provision::bulk::{provision_many, BulkService};
use integration_tests::harness::provision::resources::{put_health_status, switch_datapoints};
use integration_tests::harness::provision::SECONDARY_REGION;
use integration_tests::harness::tap::{FaultKind, TappedCall};
use integration_tests::harness::world::alarm_event;
use integration_tests::*;
use serde_json::json;

const MIN: i64 = 60_000;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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

fn count(calls: &[TappedCall], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

/// `checkout` in `mode` with real observer alarms, the secondary reported healthy by
/// Route 53's checkers (its `HealthCheckStatus` metric), and Route 53's API answering 503.
async fn outage_world(mode: &'static str) -> World {
    let w = World::start_with(World::checkout_with_alarms().switch_mode(mode)).await;
    let now = now_ms();
    let minutes: Vec<i64> = (0..4).map(|k| now - k * MIN).collect();
    put_health_status(&w.sdk, &w.secondary, true, &minutes).await;
    w
}

/// Subjects of the alerts since the last read.
async fn subjects(w: &World) -> Vec<(String, String)> {
    w.alerts()
        .await
        .into_iter()
        .map(|a| (a.subject, a.message))
        .collect()
}

#[tokio::test]
async fn metric_mode_fails_over_and_back_while_route53_answers_nothing() {
    let w = outage_world("metric").await;
    let tap = w.tap();
    tap.set_outage("route53", Some(FaultKind::Unavailable));
    let engine = w.engine_through(&tap);
    assert_eq!(send(&w, &engine, 0, "ALARM").await, "vote_recorded");
    assert_eq!(send(&w, &engine, 1, "ALARM").await, "failed_over");
    let sent = subjects(&w).await;
    assert_eq!(sent.len(), 1, "one alert, no PENDING: {sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILOVER] checkout"),
        "{}",
        sent[0].0
    );
    assert!(sent[0].1.contains("switched by: metric;"), "{}", sent[0].1);
    let now = now_ms();
    let points = switch_datapoints(
        &w.sdk,
        SECONDARY_REGION,
        "checkout",
        (now - 5 * MIN, now + MIN),
    )
    .await;
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0].2, 1.0, "PrimaryForcedOut=1: {points:?}");

    send(&w, &engine, 0, "OK").await;
    send(&w, &engine, 1, "OK").await;
    let r = engine
        .handle_operator_request(
            &json!({"action": "failback", "service": "checkout",
                    "reason": "primary back", "requested_by": "alice"}),
            &inv("failback"),
        )
        .await
        .expect("the operator request");
    assert!(r.ok, "{r:?}");
    let sent = subjects(&w).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILBACK] checkout"),
        "{}",
        sent[0].0
    );
    let calls = tap.all();
    let route53: Vec<_> = calls.iter().filter(|c| c.service == "route53").collect();
    assert!(route53.is_empty(), "nothing asked Route 53: {route53:#?}");
    assert_eq!(hc(&w, &w.primary).await, (false, false, 1), "untouched");
}

#[tokio::test]
async fn both_mode_switches_by_metric_while_route53_is_down_and_the_reconciler_completes_the_check_once(
) {
    let w = outage_world("both").await;
    let tap = w.tap();
    tap.set_outage("route53", Some(FaultKind::Unavailable));
    let engine = w.engine_through(&tap);
    let mut mark = tap.settled_mark();
    assert_eq!(send(&w, &engine, 0, "ALARM").await, "vote_recorded");
    let started = Instant::now();
    assert_eq!(send(&w, &engine, 1, "ALARM").await, "failed_over");
    let took = started.elapsed();
    assert!(
        took < ROUTE53_WAIT + Duration::from_millis(1500),
        "the decision waited for Route 53 at most {ROUTE53_WAIT:?}: {took:?}"
    );
    let calls = tap.take_since(&mut mark);
    let refused: Vec<_> = calls.iter().filter(|c| c.service == "route53").collect();
    assert!(
        !refused.is_empty()
            && refused
                .iter()
                .all(|c| c.fault.as_deref() == Some("HTTP 503")),
        "Route 53 was asked and answered only 503: {refused:#?}"
    );
    let sent = subjects(&w).await;
    assert_eq!(sent.len(), 1, "one alert, no PENDING: {sent:#?}");
    assert!(
        sent[0].0.starts_with("[FAILOVER] checkout"),
        "{}",
        sent[0].0
    );
    assert!(sent[0].1.contains("switched by: metric;"), "{}", sent[0].1);
    assert!(sent[0].1.contains("NOT changed yet"), "{}", sent[0].1);
    assert_eq!(
        hc(&w, &w.primary).await,
        (false, false, 1),
        "not yet forced"
    );

    // Route 53 answers again: the next reconciler run forces the check, exactly once.
    tap.set_outage("route53", None);
    let settings = ReconcileSettings::default();
    let report = engine
        .reconcile(&inv("r1"), &settings)
        .await
        .expect("run 1");
    assert_eq!(report.switches_completed, 1, "{report:?}");
    let calls = tap.take_since(&mut mark);
    let updates: Vec<_> = calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck")
        .collect();
    assert_eq!(updates.len(), 1, "{calls:#?}");
    assert!(updates[0].succeeded(), "{:?}", updates[0]);
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "the primary's check is forced now");
    let report = engine
        .reconcile(&inv("r2"), &settings)
        .await
        .expect("run 2");
    assert_eq!(report.switches_completed, 0, "{report:?}");
    let calls = tap.take_since(&mut mark);
    assert_eq!(count(&calls, "UpdateHealthCheck"), 0, "{calls:#?}");
    assert!(subjects(&w).await.is_empty(), "no second alert");
    let audited = w.history().await.iter().any(|item| {
        item.values().any(|v| {
            v.as_s()
                .is_ok_and(|s| s.contains("both-mode switch is complete"))
        })
    });
    assert!(audited, "the completion is in the audit history");
}

/// Services switched at once, one engine (one process) with a Route 53 budget.
const SERVICES: usize = 30;
const BUDGET: usize = 10;

/// `SERVICES` services in `mode`; observers 0 of each vote, then observers 1 of every
/// service at once through an engine with a budget of [`BUDGET`] Route 53 calls a second.
/// Returns the world, the services, the deciding calls on the wire and how long it took.
async fn region_wide(mode: Option<&str>) -> (World, Vec<BulkService>, Vec<TappedCall>, Duration) {
    let w = World::start(json!({})).await;
    let services = provision_many(&w.sdk, &w.config.table, "svc", SERVICES, json!({}), mode).await;
    let tap = w.tap();
    let engine = w.engine_with_budget(&tap, BUDGET as u32);
    let event = |s: &BulkService, i: usize| {
        let region = integration_tests::harness::provision::bulk::BULK_OBSERVER_REGIONS[i];
        alarm_event(
            region,
            &format!("{}-o{i}", s.name),
            "ALARM",
            chrono::Utc::now(),
            &format!("{}-{i}", s.name),
        )
    };
    let votes = join_all(services.iter().map(|s| {
        let e = event(s, 0);
        let engine = &engine;
        async move { engine.handle_alarm_event(&e, &inv("vote")).await }
    }))
    .await;
    for v in votes {
        assert_eq!(
            v.expect("vote").services[0].outcome.to_string(),
            "vote_recorded"
        );
    }
    let mark = tap.settled_mark();
    let started = Instant::now();
    let decided = join_all(services.iter().map(|s| {
        let e = event(s, 1);
        let engine = &engine;
        async move { engine.handle_alarm_event(&e, &inv("decide")).await }
    }))
    .await;
    let took = started.elapsed();
    for (s, d) in services.iter().zip(decided) {
        let d = d.unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(
            d.services[0].outcome.to_string(),
            "failed_over",
            "{}",
            s.name
        );
    }
    let calls = tap.settled_since(mark, Duration::from_secs(5));
    (w, services, calls, took)
}

/// The most Route 53 calls that arrived in any one-second window.
fn busiest_second(calls: &[TappedCall]) -> usize {
    let starts: Vec<Duration> = calls
        .iter()
        .filter(|c| c.service == "route53")
        .map(|c| c.start)
        .collect();
    starts
        .iter()
        .map(|t0| {
            starts
                .iter()
                .filter(|t| **t >= *t0 && **t < *t0 + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Every Route 53 call: arrival and answer times on the tap (ms), operation, status.
fn route53_timeline(calls: &[TappedCall]) -> String {
    calls
        .iter()
        .filter(|c| c.service == "route53")
        .map(|c| {
            format!(
                "{:>8.1} {:>8.1} {} {}",
                c.start.as_secs_f64() * 1000.0,
                c.end.as_secs_f64() * 1000.0,
                c.operation,
                c.status
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_region_wide_event_never_spends_more_than_the_route53_budget() {
    let (w, services, calls, took) = region_wide(None).await;
    let route53 = calls.iter().filter(|c| c.service == "route53").count();
    let busiest = busiest_second(&calls);
    eprintln!(
        "{SERVICES} services decided at once, budget {BUDGET}/s: {route53} Route 53 calls, at most {busiest} in any second, last switch after {took:.1?}"
    );
    assert!(
        busiest <= BUDGET,
        "{busiest} Route 53 calls in one second:\n{}",
        route53_timeline(&calls)
    );
    assert_eq!(
        count(&calls, "UpdateHealthCheck"),
        SERVICES,
        "one switch each"
    );
    assert!(
        route53 > BUDGET,
        "the test must need more than one second's budget: {route53}"
    );
    for s in &services {
        let (disabled, inverted, _) = hc(&w, &s.primary_hc).await;
        assert!(disabled && inverted, "{} switched", s.name);
    }
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), SERVICES, "one alert each");
}

#[tokio::test]
async fn a_region_wide_event_in_metric_mode_makes_no_route53_call() {
    let (w, services, calls, took) = region_wide(Some("metric")).await;
    eprintln!("{SERVICES} metric services decided at once: last switch after {took:.1?}");
    let route53: Vec<_> = calls.iter().filter(|c| c.service == "route53").collect();
    assert!(route53.is_empty(), "{route53:#?}");
    let now = now_ms();
    for s in &services {
        let points = switch_datapoints(
            &w.sdk,
            SECONDARY_REGION,
            &s.name,
            (now - 5 * MIN, now + MIN),
        )
        .await;
        assert!(
            points.iter().any(|p| p.2 == 1.0),
            "{} switched: {points:?}",
            s.name
        );
        assert_eq!(hc(&w, &s.primary_hc).await, (false, false, 1), "{}", s.name);
    }
    assert_eq!(w.alerts().await.len(), SERVICES, "one alert each");
}
