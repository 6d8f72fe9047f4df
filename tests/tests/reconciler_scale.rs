//! The reconciler on the wire against moto, counted by the tap: it keeps the switch metric's
//! stream (the decided value republished every run, read back from moto) and reports a
//! switch alarm that disagrees with the decision past the grace once; and at 1,000
//! services a steady-state run costs a handful of calls (issue 15: at most 2 Route 53
//! calls, ListHealthChecks, and at most 15 DynamoDB calls).
//!
//! MOTO: ListHealthChecks ignores MaxItems and Marker (every check in one page), so the
//! 2,000 checks of the 1,000 services come back in one call here; on AWS they are two
//! pages of 1,000, which is what the bound of 2 allows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use failover::api::reports::ReconcileReport;
use failover::domain::switch::SWITCH_ALARM_GRACE_MS;
use failover::engine::{Invocation, ReconcileSettings};
use integration_tests::harness::provision::bulk::provision_many;
use integration_tests::harness::provision::resources::{put_health_status, switch_datapoints};
use integration_tests::harness::provision::SECONDARY_REGION;
use integration_tests::harness::tap::TappedCall;
use integration_tests::*;
use serde_json::json;

const MIN: i64 = 60_000;

fn inv_at(clock: &TestClock) -> Invocation {
    Invocation {
        request_id: format!("inv-{}", clock.millis()),
        deadline: clock.millis() + 60_000,
    }
}

fn by_operation(calls: &[TappedCall]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in calls {
        *out.entry(format!("{} {}", c.service, c.operation))
            .or_insert(0) += 1;
    }
    out
}

fn count(calls: &[TappedCall], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

#[tokio::test]
async fn the_reconciler_republishes_the_decided_value_and_reports_a_switch_alarm_drift_once() {
    let w = World::start_with(World::checkout_with_alarms().switch_mode("metric")).await;
    let alarm = w.switch_alarm.clone().expect("the switch alarm");
    let alarm_name = alarm.rsplit(':').next().unwrap().to_string();
    let t0 = chrono::Utc::now().timestamp_millis();
    let minutes: Vec<i64> = (0..4).map(|k| t0 - k * MIN).collect();
    put_health_status(&w.sdk, &w.secondary, true, &minutes).await;
    let clock = TestClock::now_wall();
    let tap = w.tap();
    let engine = w.engine_with_clock_through(clock.clone(), &tap);
    for (i, outcome) in [(0, "vote_recorded"), (1, "failed_over")] {
        let e = w.alarm(i, "ALARM", &format!("e{i}")).await;
        let out = engine
            .handle_alarm_event(&e, &inv_at(&clock))
            .await
            .expect("the event");
        assert_eq!(out.services[0].outcome.to_string(), outcome);
    }
    assert_eq!(w.alerts().await.len(), 1, "the failover alert");
    let settings = ReconcileSettings::default();
    let mut mark = tap.settled_mark();
    // One run a minute; moto never evaluates the switch alarm: it stays OK (as a broken
    // alarm would), inside the grace for the first runs, at its end from minute 5.
    let run = |minute: i64| {
        let (clock, engine, settings) = (&clock, &engine, &settings);
        async move {
            clock.advance_minutes(1);
            let report: ReconcileReport = engine
                .reconcile(&inv_at(clock), settings)
                .await
                .expect("the reconciler run");
            assert!(report.errors.is_empty(), "minute {minute}: {report:?}");
            report
        }
    };
    let mut drift_alerts = Vec::new();
    for minute in 1..=7 {
        let report = run(minute).await;
        let calls = tap.take_since(&mut mark);
        assert_eq!(
            report.switch_values_published, 1,
            "minute {minute}: {report:?}"
        );
        assert_eq!(
            count(&calls, "PutMetricData"),
            1,
            "minute {minute}: {calls:#?}"
        );
        let alerts = w.alerts().await;
        let past_grace = minute * MIN >= SWITCH_ALARM_GRACE_MS;
        assert_eq!(
            report.switch_drifts,
            alerts.len(),
            "minute {minute}: {report:?} {alerts:#?}"
        );
        if !past_grace {
            assert!(
                alerts.is_empty(),
                "minute {minute}: inside the grace: {alerts:#?}"
            );
        }
        drift_alerts.extend(alerts.into_iter().map(|a| (minute, a)));
    }
    assert_eq!(
        drift_alerts.len(),
        1,
        "one drift alert, not repeated: {drift_alerts:#?}"
    );
    let (minute, drift) = &drift_alerts[0];
    assert_eq!(
        *minute,
        SWITCH_ALARM_GRACE_MS / MIN,
        "the first run once the grace is over"
    );
    assert!(
        drift.subject.starts_with("[DRIFT] checkout"),
        "{}",
        drift.subject
    );
    assert!(drift.message.contains(&alarm), "{}", drift.message);
    assert!(
        drift.message.contains("switch alarm OK"),
        "{}",
        drift.message
    );
    let audited = w.history().await.iter().any(|item| {
        item.values()
            .any(|v| v.as_s().is_ok_and(|s| s.contains("found switch alarm OK")))
    });
    assert!(audited, "the drift is in the audit history");

    // Every run republished 1: one datapoint in each minute since the failover.
    let points = switch_datapoints(
        &w.sdk,
        SECONDARY_REGION,
        "checkout",
        (t0 - MIN, clock.millis() + MIN),
    )
    .await;
    assert_eq!(points.len(), 8, "the failover's and 7 runs': {points:?}");
    assert!(
        points
            .iter()
            .all(|&(_, lo, hi, n)| (lo, hi, n) == (1.0, 1.0, 1.0)),
        "{points:?}"
    );

    // The alarm agrees again (CloudWatch evaluated it): the drift clears, with no alert.
    set_alarm_state(&w.sdk, SECONDARY_REGION, &alarm_name, "ALARM").await;
    let report = run(8).await;
    assert_eq!(report.switch_drifts, 0, "{report:?}");
    assert!(w.alerts().await.is_empty());
}

/// Services catalogued for the scale test.
const SERVICES: usize = 1_000;

#[tokio::test]
async fn a_steady_state_run_over_1000_services_makes_at_most_2_route53_and_15_dynamodb_calls() {
    let w = World::start(json!({})).await;
    let setup = Instant::now();
    provision_many(&w.sdk, &w.config.table, "svc", SERVICES, json!({}), None).await;
    let setup = setup.elapsed();
    eprintln!(
        "provisioned {SERVICES} services ({} health checks, catalog by BatchWriteItem) in {setup:.1?}",
        2 * SERVICES
    );
    assert!(setup < Duration::from_secs(90), "setup took {setup:?}");
    let tap = w.tap();
    let engine = w.engine_through(&tap);
    let settings = ReconcileSettings::default();
    let mut mark = tap.settled_mark();
    let mut runs = Vec::new();
    for n in 1..=3 {
        let started = Instant::now();
        let report = engine
            .reconcile(&inv(&format!("r{n}")), &settings)
            .await
            .expect("the reconciler run");
        let took = started.elapsed();
        let calls = tap.take_since(&mut mark);
        assert!(report.errors.is_empty(), "run {n}: {:?}", report.errors);
        assert_eq!(report.services, SERVICES + 1, "run {n}: {report:?}");
        assert!(report.not_reached.is_empty(), "run {n}: {report:?}");
        eprintln!(
            "reconciler run {n} over {} services: {took:.1?}, {} AWS calls {:?}, readiness evaluated for {}",
            report.services,
            calls.len(),
            by_operation(&calls),
            report.readiness_evaluated
        );
        // Readiness (issue 17): the secondaries' health from HealthCheckStatus, 500 a
        // GetMetricData call, never a Route 53 API call; run 1 evaluates every service.
        let reads = calls
            .iter()
            .filter(|c| c.operation == "GetMetricData")
            .count();
        assert!(
            reads <= report.readiness_evaluated.div_ceil(500),
            "run {n}: {reads} GetMetricData for {} evaluations",
            report.readiness_evaluated
        );
        if n == 1 {
            assert_eq!(report.readiness_evaluated, SERVICES + 1, "{report:?}");
        }
        runs.push(calls);
    }
    // Run 1 is a cold start (the catalog read, the kept definitions written); runs 2 and
    // 3 are the steady state: every service PRIMARY_ACTIVE, no votes, nothing to write.
    for (n, calls) in runs.iter().enumerate().skip(1) {
        let route53: Vec<&TappedCall> = calls.iter().filter(|c| c.service == "route53").collect();
        assert!(
            route53.len() <= 2 && route53.iter().all(|c| c.operation == "ListHealthChecks"),
            "run {}: {:?}",
            n + 1,
            by_operation(calls)
        );
        let dynamodb = calls.iter().filter(|c| c.service == "dynamodb").count();
        assert!(
            dynamodb <= 15,
            "run {}: {dynamodb} DynamoDB calls: {:?}",
            n + 1,
            by_operation(calls)
        );
        assert!(
            calls.iter().all(|c| !c.wrote()),
            "run {}: a steady state writes nothing: {:?}",
            n + 1,
            by_operation(calls)
        );
    }
}
