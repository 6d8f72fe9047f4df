//! Fault injection between the functions and AWS (the README's "Reliability"): the built
//! functions run under `cargo lambda watch` (the real Lambda runtime API, as in
//! `drill.rs`), each test with its own moto, and their AWS calls go through the recording
//! tap with a seeded [`FaultPlan`]: throttling errors shaped like each service's,
//! HTTP 500/503, connections closed without an answer, added latency, and answers lost
//! after the request was applied (the at-least-once case). Every injected fault is
//! decided before the request is forwarded, from the seed and the request's identity, so a
//! run replays with its seed; a failing test prints the seed and the faults it injected.
//!
//! Not covered here: a `HealthCheckVersion` conflict between the read and the update.
//! moto neither checks nor bumps the version, so the conflict cannot be produced on the
//! wire; the engine's unit tests over in-memory ports cover the re-read-and-decide-again
//! path.
//!
//! The tests assert invariants (one decision, one switch, one alert, nothing applied
//! twice), not timings.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use integration_tests::harness::random::XorShift;
use integration_tests::harness::rig::{applied_updates, outcome, Rig};
use integration_tests::harness::tap::{AwsTap, FaultKind, FaultPlan, TappedCall};
use serde_json::json;

/// How often an invocation that returned an error is delivered again (Lambda's
/// asynchronous invoke retries twice; EventBridge's own retries come on top).
const MAX_REDELIVERIES: usize = 3;

/// Prints the seed and the injected faults when the test fails, so the run can be replayed.
struct SeedReport<'a> {
    test: &'static str,
    seed: u64,
    tap: &'a AwsTap,
}

impl Drop for SeedReport<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{}: FAILED with fault seed {} (replay: the same seed injects the same faults); faults injected: {:?}",
                self.test,
                self.seed,
                self.tap.faults_injected()
            );
        }
    }
}

fn by_kind_summary(calls: &[TappedCall]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in calls {
        if let Some(f) = &c.fault {
            *m.entry(format!("{} {}", c.service, f)).or_insert(0) += 1;
        }
    }
    m
}

/// a. 30% of the functions' AWS calls fail (every service, every kind; DynamoDB and
/// Route 53 also lose answers after applying the request) while the three observers'
/// ALARM events arrive, each three times, shuffled by the seed. An invocation that fails
/// is delivered again, up to [`MAX_REDELIVERIES`] times. Then, with the faults off, the
/// reconciler runs until the service has settled.
async fn incident_with_failing_calls(seed: u64, rate: f64) {
    let started = Instant::now();
    // A short invocation deadline: a lease that could not be released expires soon.
    let rig = Rig::start(|s| s.definition.clone(), Duration::from_secs(15)).await;
    let guard = SeedReport {
        test: "incident_with_failing_calls",
        seed,
        tap: &rig.tap,
    };
    let all = [
        FaultKind::Throttle,
        FaultKind::ServerError,
        FaultKind::Unavailable,
        FaultKind::Reset,
        FaultKind::Latency,
        FaultKind::AnswerLost,
    ];
    // SNS without AnswerLost: a lost Publish answer makes the SDK publish again, a second
    // copy of the alert that nothing in the product can take back (see the report).
    let plan = FaultPlan::new(seed)
        .service("dynamodb", rate, &all)
        .service("route53", rate, &all)
        .service("monitoring", rate, &all[..5])
        .service("sns", rate, &all[..5]);

    let mut events = Vec::new();
    for i in 0..3 {
        events.push(
            rig.alarm_event(i, "ALARM", &format!("faults-{seed}-{i}"))
                .await,
        );
    }
    let mut deliveries: Vec<(usize, usize)> = (0..3).flat_map(|i| [(i, 0); 3]).collect();
    XorShift::new(seed).shuffle(&mut deliveries);
    let order: Vec<usize> = deliveries.iter().map(|(i, _)| i + 1).collect();

    rig.tap.set_faults(Some(plan));
    let mut queue: VecDeque<(usize, usize)> = deliveries.into_iter().collect();
    let mut log = Vec::new();
    let mut gave_up = 0;
    while let Some((i, attempt)) = queue.pop_front() {
        let response = rig.deliver(&events[i]).await;
        log.push(format!(
            "observer {} (delivery {}): {}",
            i + 1,
            attempt + 1,
            outcome(&response)
        ));
        if response.is_err() {
            if attempt < MAX_REDELIVERIES {
                queue.push_back((i, attempt + 1));
            } else {
                gave_up += 1;
            }
        }
    }
    rig.tap.set_faults(None);
    let injected = rig.tap.faults_injected();

    // Faults off: the reconciler finishes whatever is left (a lease that could not be
    // released during the faults keeps the transition until the invocation's deadline).
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut runs = 0;
    loop {
        runs += 1;
        let r = rig.reconcile(runs).await;
        log.push(format!(
            "reconciler run {runs}: {}",
            r.as_ref().map_or_else(
                |e| e.clone(),
                |v| serde_json::to_string(v).unwrap_or_default()
            )
        ));
        let snap = rig.stage.snapshot().await;
        let settled = snap.phase == "FAILED_OVER" || snap.phase == "BLOCKED";
        if (settled && runs >= 2) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(if settled { 0 } else { 1000 })).await;
    }

    let snap = rig.stage.snapshot().await;
    let alerts = rig.alerts(Duration::from_secs(3)).await;
    let calls = rig.tap.all();
    let context = format!(
        "seed {seed}, rate {rate}; delivery order {order:?}; faults injected {injected:?}; {gave_up} events given up after {MAX_REDELIVERIES} redeliveries\n{}\nalerts {:?}",
        log.join("\n"),
        alerts.iter().map(|a| &a.1).collect::<Vec<_>>()
    );

    // One decision, and it was carried through.
    assert_eq!(snap.epoch, 1, "exactly one decision (epoch 1); {context}");
    assert_eq!(snap.phase, "FAILED_OVER", "{context}");
    assert!(
        snap.primary.disabled && snap.primary.inverted,
        "primary forced unhealthy: {}; {context}",
        snap.primary
    );
    assert!(
        !snap.secondary.disabled && !snap.secondary.inverted,
        "secondary untouched; {context}"
    );
    // Exactly one failover alert reached the subscriber.
    let failover_alerts: Vec<&(String, String, String)> =
        alerts.iter().filter(|a| a.0 == "failover").collect();
    assert_eq!(failover_alerts.len(), 1, "one failover alert; {context}");
    assert_eq!(
        failover_alerts[0].1,
        "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)"
    );
    // Route 53: one intended change. Every UpdateHealthCheck that moto applied is the same
    // request (primary, Disabled=true Inverted=true, the version read for epoch 1); a
    // second application only ever follows one whose answer was lost (the SDK's retry,
    // which real Route 53 refuses by HealthCheckVersion and moto accepts).
    let updates = applied_updates(&calls);
    assert!(!updates.is_empty(), "{context}");
    for u in &updates {
        assert_eq!(
            u.detail, updates[0].detail,
            "one intended change; {context}"
        );
        assert!(u.detail.starts_with(&rig.stage.primary_hc), "{}", u.detail);
        assert!(
            u.detail.contains("Disabled=true Inverted=true"),
            "{}",
            u.detail
        );
    }
    let lost = updates
        .iter()
        .filter(|u| u.fault.as_deref() == Some("answer lost"))
        .count();
    assert!(
        updates.len() <= 1 + lost,
        "UpdateHealthCheck applied {} times with {lost} answers lost; {context}",
        updates.len()
    );
    // SNS: the failover alert published (applied) once on the wire.
    let publishes = calls
        .iter()
        .filter(|c| c.operation == "Publish" && c.wrote() && c.detail.starts_with("[FAILOVER]"))
        .count();
    assert_eq!(publishes, 1, "one Publish of the failover alert; {context}");
    // A switch step that failed announced the wait once, never more.
    let pending = alerts.iter().filter(|a| a.0 == "pending").count();
    assert!(
        pending <= 1,
        "at most one PENDING alert per epoch; {context}"
    );
    assert!(
        injected.values().sum::<usize>() > 0,
        "the plan injected nothing; {context}"
    );
    drop(guard);
    println!(
        "incident_with_failing_calls seed {seed}, rate {rate}: {:.1} s, {} AWS calls, faults injected {:?} (by service {:?}), {} UpdateHealthCheck applied ({lost} answers lost), {} reconciler runs\n  {}",
        started.elapsed().as_secs_f64(),
        calls.len(),
        injected,
        by_kind_summary(&calls),
        updates.len(),
        runs,
        log.join("\n  ")
    );
}

#[tokio::test]
async fn thirty_percent_of_calls_failing_seed_7() {
    incident_with_failing_calls(7, 0.3).await;
}

#[tokio::test]
async fn thirty_percent_of_calls_failing_seed_1234() {
    incident_with_failing_calls(1234, 0.3).await;
}

#[tokio::test]
async fn thirty_percent_of_calls_failing_seed_20261123() {
    incident_with_failing_calls(20_261_123, 0.3).await;
}

/// Half of the calls failing: invocations fail outright (the SDK's retries are not
/// enough) and are redelivered; the decision is still taken once and carried through.
#[tokio::test]
async fn half_of_calls_failing_seed_4_with_redeliveries() {
    incident_with_failing_calls(4, 0.5).await;
}

/// Seed 13 at 50% loses the answer to the claim itself: the SDK's retry finds the
/// claim already written. The claimant must carry it out, not report "claimed by another"
/// and leave the lease held by nobody.
#[tokio::test]
async fn half_of_calls_failing_seed_13_loses_the_answer_to_the_claim() {
    incident_with_failing_calls(13, 0.5).await;
}

/// Seed 3 at 60% throttles SNS (`Throttled`, a code outside the SDK's own throttling list)
/// on the failover alert: the SNS client retries it like any throttling error.
#[tokio::test]
async fn sixty_percent_of_calls_failing_seed_3_throttles_the_alert() {
    incident_with_failing_calls(3, 0.6).await;
}

/// How the switch is finished once Route 53 is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finisher {
    /// Lambda redelivers the failed invocation's event.
    Redelivery,
    /// The one-minute reconciler.
    Reconciler,
}

/// b. Route 53's API answers every call with `outage` while the deciding event arrives:
/// the invocation fails, the state says the switch is pending (FAILING_OVER, the lease
/// released, nothing switched) and one PENDING alert says so and why. Route 53 comes back;
/// a redelivery or a reconciler run completes the switch, with exactly one failover alert,
/// no second PENDING alert and nothing done twice.
///
/// With `health_check_preflight` the secondary's Route 53 health-check status is part of
/// the pre-flight, so the outage also leaves the secondary's readiness unread: that waits
/// (pending) too, instead of blocking the failover for good.
async fn route53_outage(
    seed: u64,
    outage: FaultKind,
    finisher: Finisher,
    health_check_preflight: bool,
) {
    let started = Instant::now();
    let rig = Rig::start(
        |s| {
            let mut d = s.definition.clone();
            d["preflight"] = json!({"secondary_health_check": health_check_preflight,
                "secondary_alarm_arn": s.secondary_alarm_arn});
            d
        },
        Duration::from_secs(40),
    )
    .await;
    let guard = SeedReport {
        test: "route53_unavailable",
        seed,
        tap: &rig.tap,
    };
    rig.tap.set_faults(Some(FaultPlan::new(seed)));

    let e1 = rig.alarm_event(0, "ALARM", &format!("r53-{seed}-1")).await;
    let e2 = rig.alarm_event(1, "ALARM", &format!("r53-{seed}-2")).await;
    let first = rig.deliver(&e1).await;
    assert_eq!(outcome(&first), "vote_recorded", "{first:?}");

    rig.tap.set_outage("route53", Some(outage));
    let mark = rig.tap.mark();
    let deciding = rig.deliver(&e2).await;
    let during = rig.tap.since(mark);
    let failure = deciding
        .as_ref()
        .expect_err("the deciding invocation fails while Route 53 is down")
        .clone();
    let pending = rig.stage.snapshot().await;
    let alerts_during = rig.alerts(Duration::from_secs(1)).await;
    let exec = pending.execution.clone().expect("a decision was recorded");
    assert_eq!(pending.epoch, 1, "decided once: {failure}");
    assert_eq!(
        pending.phase, "FAILING_OVER",
        "the switch is pending: {failure}"
    );
    assert!(exec.switched_at.is_none() && exec.completed_at.is_none());
    assert_eq!(exec.lease_until, 0, "the failed step released its lease");
    assert!(!pending.primary.forced_unhealthy(), "nothing switched yet");
    // One PENDING alert: the switch waits, and why; no failover alert before the switch.
    assert!(
        alerts_during.iter().all(|a| a.0 != "failover"),
        "no failover alert before the switch: {alerts_during:?}"
    );
    let pending_alerts: Vec<&(String, String, String)> =
        alerts_during.iter().filter(|a| a.0 == "pending").collect();
    assert_eq!(
        pending_alerts.len(),
        1,
        "one PENDING alert: {alerts_during:?}"
    );
    let (_, pending_subject, pending_text) = pending_alerts[0];
    assert_eq!(
        pending_subject,
        "[PENDING] checkout: failover us-east-1 -> eu-west-1 decided, switch waiting (epoch 1)"
    );
    let step = if health_check_preflight {
        "step:  pre-flight"
    } else {
        "step:  read primary health check"
    };
    assert!(pending_text.contains(step), "{pending_text}");
    assert!(
        pending_text.contains("route53") || pending_text.contains("Route 53"),
        "the PENDING alert names Route 53: {pending_text}"
    );
    let r53_during: Vec<&TappedCall> = during.iter().filter(|c| c.service == "route53").collect();
    assert!(
        !r53_during.is_empty() && r53_during.iter().all(|c| c.injected()),
        "every Route 53 call refused by the outage: {r53_during:?}"
    );
    assert!(
        applied_updates(&during).is_empty(),
        "nothing reached Route 53"
    );
    let cause_named = failure.contains("Route 53")
        || failure.contains("route53")
        || failure.contains("health check");
    assert!(cause_named, "the error names the failed step: {failure}");

    // Route 53 is back.
    rig.tap.set_outage("route53", None);
    match finisher {
        Finisher::Redelivery => {
            let finish = rig.deliver(&e2).await;
            assert!(finish.is_ok(), "{finisher:?} after the outage: {finish:?}");
            assert_eq!(outcome(&finish), "failed_over", "{finish:?}");
        }
        Finisher::Reconciler => {
            let finish = rig.reconcile(1).await;
            assert!(finish.is_ok(), "{finisher:?} after the outage: {finish:?}");
            assert_eq!(finish.as_ref().unwrap().resumed, 1, "{finish:?}");
        }
    }
    // A late duplicate and a reconciler run afterwards change nothing.
    let late = rig.deliver(&e2).await;
    assert!(late.is_ok(), "{late:?}");
    let tick = rig.reconcile(2).await;
    assert!(tick.is_ok(), "{tick:?}");

    let done = rig.stage.snapshot().await;
    let alerts = rig.alerts(Duration::from_secs(3)).await;
    let calls = rig.tap.all();
    assert_eq!((done.phase.as_str(), done.epoch), ("FAILED_OVER", 1));
    assert!(
        done.primary.disabled && done.primary.inverted,
        "{}",
        done.primary
    );
    let failover_alerts: Vec<&(String, String, String)> =
        alerts.iter().filter(|a| a.0 == "failover").collect();
    assert_eq!(
        failover_alerts.len(),
        1,
        "exactly one failover alert: {:?}",
        alerts.iter().map(|a| &a.1).collect::<Vec<_>>()
    );
    let updates = applied_updates(&calls);
    assert_eq!(
        updates.len(),
        1,
        "one UpdateHealthCheck applied: {updates:?}"
    );
    let published: Vec<&str> = calls
        .iter()
        .filter(|c| c.operation == "Publish" && c.wrote())
        .map(|c| c.detail.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        published,
        ["[PENDING] checkout", "[FAILOVER] checkout"],
        "one PENDING and one FAILOVER Publish, nothing else"
    );
    let injected = rig.tap.faults_injected();
    let other_alerts: Vec<&String> = alerts_during
        .iter()
        .chain(&alerts)
        .filter(|a| a.0 != "failover")
        .map(|a| &a.1)
        .collect();
    drop(guard);
    println!(
        "route53_unavailable ({outage:?}, finished by {finisher:?}) seed {seed}: {:.1} s; deciding invocation failed with: {failure}\n  faults injected {injected:?}; Route 53 calls refused during the outage: {}; alerts other than the failover alert: {other_alerts:?}\n  the PENDING alert during the outage:\n{pending_text}\n  the failover alert after the outage:\n{}",
        started.elapsed().as_secs_f64(),
        r53_during.len(),
        failover_alerts[0].2
    );
}

#[tokio::test]
async fn route53_unavailable_then_a_redelivery_completes_the_switch() {
    route53_outage(11, FaultKind::Unavailable, Finisher::Redelivery, false).await;
}

#[tokio::test]
async fn route53_throttling_then_the_reconciler_completes_the_switch() {
    route53_outage(12, FaultKind::Throttle, Finisher::Reconciler, false).await;
}

/// Every Route 53 call times out (no answer until the SDK's 4 s attempt timeout, five
/// attempts in its 20 s deadline).
#[tokio::test]
async fn route53_timing_out_then_a_redelivery_completes_the_switch() {
    route53_outage(14, FaultKind::Timeout, Finisher::Redelivery, false).await;
}

#[tokio::test]
async fn route53_unavailable_with_the_health_check_preflight_waits_instead_of_blocking() {
    route53_outage(13, FaultKind::Unavailable, Finisher::Reconciler, true).await;
}
