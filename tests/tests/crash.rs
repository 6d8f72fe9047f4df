//! A crash at every step boundary (the README's "Reliability"): the built functions run under
//! `cargo lambda watch` (the Lambda Runtime API) with their AWS calls through the
//! recording tap. A reference run checks the sequential round trips of a deciding vote
//! and of an operator failback against what the engine makes; then, for each boundary, a fresh deployment is driven to
//! it, the tap holds the first call of the next round trip (and everything after it),
//! the function process is SIGKILLed while it waits there, and a new execution
//! environment is started. The event is redelivered at once (the dead owner's lease
//! still holds), again after the lease (ended in the table: see [`Rig::expire_lease`]),
//! and the reconciler runs: the work completes exactly once (one switch applied, one
//! alert, one epoch).
//!
//! Boundaries, not points inside a round trip: the calls of one round trip leave the
//! process together. Inside the last round trip (the alert beside the closing write) a
//! crash in the microseconds between the two requests could record the alert as sent
//! without sending it; the README says so.

use std::time::{Duration, Instant};

use failover::api::operator_response::OperatorResponse;
use integration_tests::harness::rig::{applied_updates, outcome, Rig};
use integration_tests::harness::tap::{TappedCall, HELD};
use serde_json::{json, Value};

/// How long the watcher waits for an invocation.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The deciding vote's round trips, as the engine makes them: the vote ‖ its audit record;
/// the claim ‖ the pre-flight reads ‖ the primary's check; the switch ‖ its progress write ‖
/// the decision record; the alert ‖ the closing write ‖ its audit record.
const DECIDING_VOTE: &[&[&str]] = &[
    &["PutItem", "UpdateItem"],
    &[
        "DescribeAlarms",
        "GetHealthCheck",
        "GetHealthCheckStatus",
        "UpdateItem",
    ],
    &["UpdateHealthCheck", "PutItem", "UpdateItem"],
    &["Publish", "PutEvents", "PutItem", "UpdateItem"],
];

/// An operator failback in a fresh process: init's catalog read, the state, the claim,
/// the request's audit record, the primary's check, the restore ‖ its progress write ‖ the
/// decision record, the alert ‖ the closing write ‖ its audit record, the state for the answer.
const OPERATOR_FAILBACK: &[&[&str]] = &[
    &["Query"],
    &["GetItem"],
    &["UpdateItem"],
    &["PutItem"],
    &["GetHealthCheck"],
    &["UpdateHealthCheck", "PutItem", "UpdateItem"],
    &["Publish", "PutEvents", "PutItem", "UpdateItem"],
    &["GetItem"],
];

/// Checks that a reference run made exactly `expected`'s round trips (calls in arrival
/// order; inside a round trip any order: its calls leave together, and the next round
/// trip's only after all of them were answered) and returns where each one starts
/// (1-based call numbers for the crash point).
fn round_trip_starts(calls: &[TappedCall], expected: &[&[&str]]) -> Vec<usize> {
    let seen: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
    assert_eq!(
        seen.len(),
        expected.iter().map(|rt| rt.len()).sum::<usize>(),
        "the reference run's calls {seen:?}, expected round trips {expected:?}"
    );
    let mut starts = Vec::new();
    let mut i = 0;
    for rt in expected {
        let mut got = seen[i..i + rt.len()].to_vec();
        got.sort_unstable();
        let mut want = rt.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "round trip {} of {seen:?}", starts.len() + 1);
        starts.push(i + 1);
        i += rt.len();
    }
    starts
}

/// The operations the crash point held (the dead invocation's next round trip).
fn held_operations(calls: &[TappedCall]) -> Vec<&str> {
    calls
        .iter()
        .filter(|c| c.fault.as_deref() == Some(HELD))
        .map(|c| c.operation.as_str())
        .collect()
}

fn failback_request(id: &str) -> Value {
    json!({"action": "failback", "service": "checkout", "requested_by": "alice",
        "reason": format!("primary healthy again ({id})")})
}

/// Runs `payload` through `function` until the tap holds call `n` (1-based, counted from
/// now), kills the process there and starts a fresh execution environment. Returns the
/// calls the dead invocation made (the held ones included).
async fn crash_at(rig: &mut Rig, function: &str, payload: &Value, n: usize) -> Vec<TappedCall> {
    let mark = rig.tap.mark();
    rig.tap.crash_at(Some(n));
    {
        let invoke = rig.watch.invoke(function, payload);
        let kill = async {
            while rig.tap.held() == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Let the rest of the round trip reach the tap (and be held) before the kill.
            tokio::time::sleep(Duration::from_millis(150)).await;
            rig.watch.kill_function(function)
        };
        tokio::select! {
            r = invoke => panic!("{function} finished before call {n} (no crash point reached): {r:?}"),
            killed = kill => assert_eq!(killed, 1, "one {function} process killed"),
        }
    }
    rig.restart_watch().await;
    rig.tap.crash_at(None);
    // The held connections close with the process; wait until they are recorded.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let calls = rig.tap.since(mark);
        let held = calls
            .iter()
            .filter(|c| c.fault.as_deref() == Some(HELD))
            .count();
        if held > 0 || Instant::now() > deadline {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two observers' ALARM events: the first is delivered, the second is returned.
async fn first_vote(rig: &Rig, tag: &str) -> Value {
    let e0 = rig.alarm_event(0, "ALARM", &format!("{tag}-0")).await;
    let first = rig.deliver(&e0).await;
    assert_eq!(outcome(&first), "vote_recorded", "{first:?}");
    rig.alarm_event(1, "ALARM", &format!("{tag}-1")).await
}

/// A failed-over deployment whose observers have recovered (failback is allowed).
async fn failed_over_and_recovered(rig: &Rig, tag: &str) {
    let deciding = first_vote(rig, tag).await;
    let r = rig.deliver(&deciding).await;
    assert_eq!(outcome(&r), "failed_over", "{r:?}");
    for i in 0..2 {
        let ok = rig.alarm_event(i, "OK", &format!("{tag}-ok-{i}")).await;
        let r = rig.deliver(&ok).await;
        assert!(r.is_ok(), "{r:?}");
    }
}

#[tokio::test]
async fn a_failover_killed_at_every_step_boundary_completes_exactly_once() {
    // Reference run: the deciding vote's round trips on the wire.
    let reference = Rig::start(|s| s.definition.clone(), INVOKE_TIMEOUT).await;
    let deciding = first_vote(&reference, "ref").await;
    let mark = reference.tap.mark();
    let r = reference.deliver(&deciding).await;
    assert_eq!(outcome(&r), "failed_over", "{r:?}");
    let starts = round_trip_starts(&reference.tap.since(mark), DECIDING_VOTE);
    drop(reference);

    let boundaries = [
        "before the vote",
        "after the vote, before the claim",
        "after the claim, before the switch",
        "after the switch, before the alert",
    ];
    for (j, boundary) in boundaries.iter().enumerate() {
        let n = starts[j];
        let mut rig = Rig::start(|s| s.definition.clone(), INVOKE_TIMEOUT).await;
        let deciding = first_vote(&rig, &format!("b{j}")).await;
        let dead = crash_at(&mut rig, "alarm-trigger", &deciding, n).await;
        let held = held_operations(&dead);
        let at_crash = rig.stage.snapshot().await;

        // Lambda redelivers at once (the dead owner's lease may still hold), again after
        // the lease, and the reconciler runs.
        let again = rig.deliver(&deciding).await;
        let at_once = outcome(&again);
        rig.expire_lease().await;
        let later = rig.deliver(&deciding).await;
        let after_lease = outcome(&later);
        let tick = rig.reconcile(1).await;
        assert!(tick.is_ok(), "{boundary}: {tick:?}");
        let tick2 = rig.reconcile(2).await;
        assert_eq!(tick2.as_ref().unwrap().resumed, 0, "{boundary}: {tick2:?}");

        let done = rig.stage.snapshot().await;
        let alerts = rig.alerts(Duration::from_secs(2)).await;
        let calls = rig.tap.all();
        let context = format!(
            "{boundary} (held from call {n}: {held:?}); state at the crash {} epoch {}; redelivery at once: {at_once}; after the lease: {after_lease}; reconciler {tick:?}",
            at_crash.phase, at_crash.epoch
        );
        assert!(!held.is_empty(), "{context}");
        assert_eq!(
            (done.phase.as_str(), done.epoch),
            ("FAILED_OVER", 1),
            "{context}"
        );
        assert!(
            done.primary.disabled && done.primary.inverted,
            "{context}: {}",
            done.primary
        );
        assert_eq!(applied_updates(&calls).len(), 1, "one switch; {context}");
        let kinds: Vec<&str> = alerts.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(kinds, ["failover"], "one alert; {context}");
        let published = calls
            .iter()
            .filter(|c| c.operation == "Publish" && c.wrote())
            .count();
        assert_eq!(published, 1, "one Publish; {context}");
        // While the dead owner's lease held, the redelivery did not act on its claim.
        if at_crash.epoch == 1 {
            assert_eq!(at_once, "in_progress", "{context}");
        }
        println!("crash {context}");
    }
}

#[tokio::test]
async fn a_failback_killed_at_every_step_boundary_completes_exactly_once() {
    let reference = Rig::start(|s| s.definition.clone(), INVOKE_TIMEOUT).await;
    failed_over_and_recovered(&reference, "ref").await;
    let mark = reference.tap.mark();
    let r = reference.operate(&failback_request("ref")).await;
    assert_eq!(r.as_ref().map(|v| v.ok), Ok(true), "{r:?}");
    let starts = round_trip_starts(&reference.tap.since(mark), OPERATOR_FAILBACK);
    drop(reference);

    for (j, n) in starts.into_iter().enumerate() {
        let mut rig = Rig::start(|s| s.definition.clone(), INVOKE_TIMEOUT).await;
        failed_over_and_recovered(&rig, &format!("fb{j}")).await;
        let _ = rig.alerts(Duration::from_millis(500)).await; // the failover's alert
        let request = failback_request(&format!("fb{j}"));
        let dead = crash_at(&mut rig, "operator", &request, n).await;
        let held = held_operations(&dead);
        let at_crash = rig.stage.snapshot().await;

        // The operator asks again at once, again after the lease; the reconciler runs.
        let again = rig.operate(&request).await;
        rig.expire_lease().await;
        let later = rig.operate(&request).await;
        let tick = rig.reconcile(1).await;
        assert!(tick.is_ok(), "{tick:?}");
        let tick2 = rig.reconcile(2).await;
        assert_eq!(tick2.as_ref().unwrap().resumed, 0, "{tick2:?}");

        let done = rig.stage.snapshot().await;
        let alerts = rig.alerts(Duration::from_secs(2)).await;
        let calls = rig.tap.since(0);
        let msg = |r: &Result<OperatorResponse, String>| match r {
            Ok(v) => v.message.clone(),
            Err(e) => e.clone(),
        };
        let context = format!(
            "failback round trip {j} (held from call {n}: {held:?}); state at the crash {} epoch {}; operator again at once: {}; after the lease: {}; reconciler {tick:?}",
            at_crash.phase,
            at_crash.epoch,
            msg(&again),
            msg(&later)
        );
        assert!(!held.is_empty(), "{context}");
        assert_eq!(
            (done.phase.as_str(), done.epoch),
            ("PRIMARY_ACTIVE", 2),
            "{context}"
        );
        assert!(
            !done.primary.disabled && !done.primary.inverted,
            "the prior flags restored; {context}: {}",
            done.primary
        );
        // Two switches in all: the failover's and the failback's restore.
        assert_eq!(applied_updates(&calls).len(), 2, "{context}");
        let kinds: Vec<&str> = alerts.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(kinds, ["failback"], "one failback alert; {context}");
        let published = calls
            .iter()
            .filter(|c| c.operation == "Publish" && c.wrote() && c.detail.starts_with("[FAILBACK]"))
            .count();
        assert_eq!(published, 1, "one FAILBACK Publish; {context}");
        // While the dead owner's lease held, the operator was told to wait; after it, the
        // operator's retry finished that failback rather than starting another.
        if at_crash.phase == "FAILING_BACK" {
            let again = again.as_ref().expect("the operator answers");
            assert!(!again.ok, "{context}");
            assert!(again.message.contains("in progress"), "{context}");
            let later = later.as_ref().expect("the operator answers");
            assert!(later.ok, "{context}");
            assert!(
                later.steps.iter().any(|s| s.name == "resume"),
                "{context}: {later:?}"
            );
        }
        println!("crash {context}");
    }
}
