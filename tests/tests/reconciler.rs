//! The reconciler against moto: interrupted failovers finished, drift, `enforce` (never
//! over a decision that moved on, never while paused, every re-apply audited), escalation,
//! expired pauses, and the built binary through the Lambda Runtime API.

use std::sync::Mutex;

use failover::api::reports::ReconcileReport;
use failover::domain::decision::HealthReading;
use failover::domain::state::HealthCheckSettings;
use failover::engine::Invocation;
use failover::engine::ReconcileSettings;
use failover::ports::{AwsError, HealthCheckConfig, HealthChecks, UpdateError};
use integration_tests::harness::failing_ports::{FailFirstPublish, FailFirstUpdate, FailingStore};
use integration_tests::*;
use serde_json::json;
use tokio::sync::oneshot;

fn inv_at(clock: &TestClock) -> Invocation {
    Invocation {
        request_id: format!("inv-{}", clock.millis()),
        deadline: clock.millis() + 60_000,
    }
}

#[tokio::test]
async fn one_run_finishes_a_failover_interrupted_at_each_step_boundary() {
    // after the claim: UpdateHealthCheck fails. After the switch: Route 53 applies it but the
    // progress write beside it fails. After the verify (the read-back in UpdateHealthCheck's
    // answer): SNS refuses the alert. After the alert: the closing write beside it fails.
    for boundary in [
        "after the claim",
        "after the switch",
        "after the verify",
        "after the alert",
    ] {
        let w = World::start(json!({})).await;
        let now = chrono::Utc::now();
        let p = w.ports(&w.sdk);
        // Control writes of the deciding invocation: 1 claim, 2 prior flags, 3 closing write.
        let n = match boundary {
            "after the switch" => 2,
            "after the alert" => 3,
            _ => usize::MAX,
        };
        let interrupted = failover::Engine::new(
            FailingStore::nth_control_write(p.store, n),
            FailFirstUpdate(p.health_checks, (boundary == "after the claim").into()),
            p.alarms,
            FailFirstPublish(p.notifier, (boundary == "after the verify").into()),
            failover::adapters::clock::SystemClock,
            "alarm-trigger",
        );
        interrupted
            .handle_alarm_event(
                &fresh_fixture("eventbridge-with-alarm-tags.json", now),
                &inv("a"),
            )
            .await
            .unwrap();
        let err = interrupted
            .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
            .await;
        assert!(err.is_err(), "{boundary}: interrupted");
        let switched = hc(&w, &w.primary).await;
        assert_eq!(
            (switched.0, switched.1),
            if boundary == "after the claim" {
                (false, false)
            } else {
                (true, true)
            },
            "{boundary}: the primary check (Disabled, Inverted) when interrupted"
        );
        // A switch step that failed (after the claim, after the switch) announces the wait.
        let pending = matches!(boundary, "after the claim" | "after the switch");
        let before: Vec<String> = w
            .alerts()
            .await
            .iter()
            .map(|a| a.attribute("event_type").unwrap_or_default())
            .collect();
        let expected: &[&str] = match boundary {
            "after the alert" => &["failover"],
            _ if pending => &["pending"],
            _ => &[],
        };
        assert_eq!(
            before, expected,
            "{boundary}: alerts sent before the reconciler"
        );
        let sent_before = usize::from(boundary == "after the alert");
        assert_eq!(
            w.state_item().await.unwrap()["phase"].as_s().unwrap(),
            "FAILING_OVER",
            "{boundary}"
        );

        let reconciler = w.engine();
        let report = reconciler
            .reconcile(&inv("reconciler"), &ReconcileSettings::default())
            .await
            .unwrap();
        assert_eq!(report.resumed, 1, "{boundary}: {report:?}");
        assert_eq!(
            w.state_item().await.unwrap()["phase"].as_s().unwrap(),
            "FAILED_OVER",
            "{boundary}"
        );
        assert!(hc(&w, &w.primary).await.0, "{boundary}");
        let alerts = w.alerts().await;
        let failovers = alerts
            .iter()
            .filter(|a| a.attribute("event_type").as_deref() == Some("failover"))
            .count();
        assert_eq!(
            (sent_before + failovers, sent_before + alerts.len()),
            (1, 1),
            "{boundary}: exactly one failover alert"
        );
        let again = reconciler
            .reconcile(&inv("reconciler-2"), &ReconcileSettings::default())
            .await
            .unwrap();
        assert_eq!((again.resumed, again.drifts), (0, 0));
        assert!(w.alerts().await.is_empty());
    }
}

#[tokio::test]
async fn drift_both_ways_is_alerted_once_and_reapplied_only_with_enforce() {
    for enforce in [false, true] {
        let w = World::start(json!({"enforce": enforce})).await;
        let engine = w.engine();
        let now = chrono::Utc::now();
        engine
            .handle_alarm_event(
                &fresh_fixture("eventbridge-with-alarm-tags.json", now),
                &inv("a"),
            )
            .await
            .unwrap();
        engine
            .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
            .await
            .unwrap();
        w.alerts().await;
        w.set_primary_flags(false, false).await; // a human un-forces it
        let r = engine
            .reconcile(&inv("r1"), &ReconcileSettings::default())
            .await
            .unwrap();
        assert_eq!((r.drifts, r.reapplied), (1, usize::from(enforce)), "{r:?}");
        let alerts = w.alerts().await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].attribute("event_type").as_deref(), Some("drift"));
        assert!(
            alerts[0]
                .message
                .contains("found:    Disabled=false Inverted=false"),
            "{}",
            alerts[0].message
        );
        assert_eq!(
            hc(&w, &w.primary).await.0,
            enforce,
            "re-applied only with enforce"
        );
        let r = engine
            .reconcile(&inv("r2"), &ReconcileSettings::default())
            .await
            .unwrap();
        assert_eq!(r.drifts, 0);
        assert!(w.alerts().await.is_empty(), "not repeated on the next run");
    }
    // Primary active, but forced unhealthy by hand.
    let w = World::start(json!({})).await;
    w.set_primary_flags(true, true).await;
    let engine = w.engine();
    assert_eq!(
        engine
            .reconcile(&inv("r"), &ReconcileSettings::default())
            .await
            .unwrap()
            .drifts,
        1
    );
    assert_eq!(w.alerts().await.len(), 1);
    assert_eq!(
        engine
            .reconcile(&inv("r"), &ReconcileSettings::default())
            .await
            .unwrap()
            .drifts,
        0
    );
    assert!(w.alerts().await.is_empty());
}

#[tokio::test]
async fn blocked_escalation_realerts_on_schedule_and_not_more_often() {
    let w = World::start(json!({})).await;
    let alarm = put_alarm(&w.sdk, "eu-west-1", "checkout-secondary").await;
    set_alarm_state(&w.sdk, "eu-west-1", "checkout-secondary", "ALARM").await;
    put_catalog_entry(
        &w.sdk,
        "failover-control",
        "checkout",
        &json!({"name": "checkout",
            "primary": {"region": "us-east-1", "health_check_id": w.primary},
            "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
            "observers": w.observers, "quorum": 2,
            "preflight": {"secondary_alarm_arn": alarm}})
        .to_string(),
    )
    .await;
    let clock = TestClock::now_wall();
    let engine = w.engine_with_clock(clock.clone());
    let now = chrono::DateTime::from_timestamp_millis(clock.millis()).unwrap();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv_at(&clock),
        )
        .await
        .unwrap();
    let out = engine
        .handle_alarm_event(
            &fresh_fixture("alarm-action-metric.json", now),
            &inv_at(&clock),
        )
        .await
        .unwrap();
    assert_eq!(out.services[0].outcome, "blocked");
    assert_eq!(w.alerts().await.len(), 1, "the blocked page");
    let mut escalations = Vec::new();
    for step in [5, 6, 1, 8, 6, 1] {
        clock.advance_minutes(step);
        engine
            .reconcile(&inv_at(&clock), &ReconcileSettings::default())
            .await
            .unwrap();
        escalations.push(
            w.alerts()
                .await
                .iter()
                .filter(|a| a.attribute("event_type").as_deref() == Some("escalation"))
                .count(),
        );
    }
    // Minutes 5, 11, 12, 20, 26, 27: escalate after 10 minutes blocked, then every 15.
    assert_eq!(escalations, [0, 1, 0, 0, 1, 0]);
}

#[tokio::test]
async fn an_expired_pause_is_resumed_with_an_alert() {
    let w = World::start(json!({})).await;
    let clock = TestClock::now_wall();
    let engine = w.engine_with_clock(clock.clone());
    let until = chrono::DateTime::from_timestamp_millis(clock.millis() + 120_000)
        .unwrap()
        .to_rfc3339();
    let r = engine
        .handle_operator_request(&json!({"action": "pause", "service": "checkout", "reason": "db upgrade", "requested_by": "bob", "until": until}), &inv_at(&clock))
        .await
        .unwrap();
    assert!(r.ok);
    assert_eq!(w.alerts().await.len(), 1);
    clock.advance_minutes(3);
    let report = engine
        .reconcile(&inv_at(&clock), &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(report.pauses_expired, 1);
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].attribute("event_type").as_deref(), Some("resume"));
    assert!(!w.state_item().await.unwrap().contains_key("pause"));
}

#[tokio::test]
async fn the_built_reconciler_runs_through_the_runtime_api() {
    let w = World::start(json!({})).await;
    w.set_primary_flags(true, true).await;
    let mut env = w.emulator.function_env();
    env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
    env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
    let watch = LambdaWatch::start(&["reconciler"], &env);
    let tick = json!({"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": chrono::Utc::now().to_rfc3339(), "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/failover-reconciler"], "detail": {}});
    let out: ReconcileReport = watch
        .invoke_as("reconciler", &tick)
        .await
        .expect("reconciler run");
    assert_eq!(out.services, 1, "{out:?}");
    assert_eq!(out.checked, 1, "{out:?}\n{}", watch.log());
    assert_eq!(out.drifts, 1, "{out:?}");
    let out: ReconcileReport = watch
        .invoke_as("reconciler", &tick)
        .await
        .expect("second run");
    assert_eq!(out.drifts, 0, "{out:?}");
    assert_eq!(w.alerts().await.len(), 1);
}

/// The real Route 53 adapter whose first `get` waits: it says when it is reached and goes
/// on when told, so another invocation's failover lands at exactly that point.
struct GatedChecks<H> {
    inner: H,
    gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl<H: HealthChecks> HealthChecks for GatedChecks<H> {
    async fn get(&self, id: &str) -> Result<HealthCheckConfig, AwsError> {
        let gate = self.gate.lock().unwrap().take();
        if let Some((reached, go)) = gate {
            let _ = reached.send(());
            let _ = go.await;
        }
        self.inner.get(id).await
    }
    async fn list_page(
        &self,
        marker: Option<&str>,
    ) -> Result<failover::ports::HealthCheckPage, AwsError> {
        // The reconciler reads the checks by page: the gate holds whichever read is first.
        let gate = self.gate.lock().unwrap().take();
        if let Some((reached, go)) = gate {
            let _ = reached.send(());
            let _ = go.await;
        }
        self.inner.list_page(marker).await
    }
    async fn update(
        &self,
        id: &str,
        version: i64,
        settings: HealthCheckSettings,
    ) -> Result<HealthCheckConfig, UpdateError> {
        self.inner.update(id, version, settings).await
    }
    async fn status(&self, id: &str) -> Result<HealthReading, AwsError> {
        self.inner.status(id).await
    }
}

/// The audit records of `kind`, as (epoch, what, why).
async fn history_of(w: &World, kind: &str) -> Vec<(String, String, String)> {
    w.history()
        .await
        .iter()
        .filter(|h| h["kind"].as_s().unwrap() == kind)
        .map(|h| {
            (
                h["epoch"].as_n().unwrap().clone(),
                h["what"].as_s().unwrap().clone(),
                h["why"].as_s().unwrap().clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn enforce_does_not_revert_a_failover_that_lands_during_the_run() {
    // The reconciler reads the state (PRIMARY_ACTIVE); the alarm-trigger fails over; then
    // the reconciler reads the primary's check: forced, against the phase it read.
    let w = World::start(json!({"enforce": true})).await;
    let now = chrono::Utc::now();
    let trigger = w.engine();
    trigger
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    let (reached_tx, reached) = oneshot::channel();
    let (go, go_rx) = oneshot::channel();
    let p = w.ports(&w.sdk);
    let reconciler = failover::Engine::new(
        p.store,
        GatedChecks {
            inner: p.health_checks,
            gate: Mutex::new(Some((reached_tx, go_rx))),
        },
        p.alarms,
        p.notifier,
        failover::adapters::clock::SystemClock,
        "reconciler",
    );
    let run_inv = inv("reconciler");
    let settings = ReconcileSettings::default();
    let incident = async {
        reached.await.expect("the reconciler reads the check");
        let out = trigger
            .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
            .await
            .unwrap();
        assert_eq!(out.services[0].outcome, "failed_over");
        go.send(()).unwrap();
    };
    let (report, ()) = tokio::join!(reconciler.reconcile(&run_inv, &settings), incident);
    let report = report.unwrap();
    assert_eq!((report.drifts, report.reapplied), (0, 0), "{report:?}");
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "the fresh failover stands");
    assert_eq!(
        w.state_item().await.unwrap()["phase"].as_s().unwrap(),
        "FAILED_OVER"
    );
    let kinds: Vec<String> = w
        .alerts()
        .await
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["failover"], "no drift alert about our own failover");
    let again = reconciler
        .reconcile(&inv("reconciler-2"), &settings)
        .await
        .unwrap();
    assert_eq!((again.drifts, again.reapplied), (0, 0), "{again:?}");
    assert!(hc(&w, &w.primary).await.0);
}

#[tokio::test]
async fn enforce_waits_out_a_pause_and_audits_the_reapply() {
    let w = World::start(json!({"enforce": true})).await;
    let engine = w.engine();
    let now = chrono::Utc::now();
    for (fixture, id) in [
        ("eventbridge-with-alarm-tags.json", "a"),
        ("alarm-action-metric.json", "b"),
    ] {
        engine
            .handle_alarm_event(&fresh_fixture(fixture, now), &inv(id))
            .await
            .unwrap();
    }
    let operator = |action: &str| json!({"action": action, "service": "checkout", "reason": "db upgrade", "requested_by": "bob"});
    let paused = engine
        .handle_operator_request(&operator("pause"), &inv("op-1"))
        .await
        .unwrap();
    assert!(paused.ok, "{paused:?}");
    w.alerts().await;
    w.set_primary_flags(false, false).await; // un-forced by hand during the maintenance

    let settings = ReconcileSettings::default();
    let r = engine.reconcile(&inv("r1"), &settings).await.unwrap();
    assert_eq!((r.drifts, r.reapplied), (1, 0), "{r:?}");
    assert!(!hc(&w, &w.primary).await.0, "not while paused");
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].message.contains("the service is paused by bob"),
        "{}",
        alerts[0].message
    );
    let drift = history_of(&w, "drift").await;
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert!(drift[0].2.contains("not re-applied"), "{drift:?}");
    let r = engine.reconcile(&inv("r2"), &settings).await.unwrap();
    assert_eq!((r.drifts, r.reapplied), (0, 0), "reported once: {r:?}");
    assert!(w.alerts().await.is_empty());
    assert!(!hc(&w, &w.primary).await.0);

    let resumed = engine
        .handle_operator_request(&operator("resume"), &inv("op-2"))
        .await
        .unwrap();
    assert!(resumed.ok, "{resumed:?}");
    let r = engine.reconcile(&inv("r3"), &settings).await.unwrap();
    assert_eq!(r.reapplied, 1, "re-applied once the pause is over: {r:?}");
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted);
    let enforced = history_of(&w, "enforce").await;
    assert_eq!(enforced.len(), 1, "{enforced:?}");
    let (epoch, what, why) = &enforced[0];
    assert_eq!(epoch, "1");
    assert!(
        what.contains("found Disabled=false Inverted=false")
            && what.contains("re-applied Disabled=true Inverted=true"),
        "{what}"
    );
    assert!(why.contains("set to Disabled=true Inverted=true"), "{why}");
}
