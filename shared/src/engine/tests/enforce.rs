//! `enforce`: the reconciler re-applies the decision only over the decision it read (a
//! failover that lands during its run is never reverted, a check changed since its read is
//! not overwritten), never while the service is paused, and audits every re-apply.

use std::sync::Mutex;

use tokio::sync::oneshot;

use super::*;
use crate::domain::decision::HealthReading;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{HealthCheckSettings, Phase};
use crate::ports::{AwsError, HealthCheckConfig, HealthChecks, UpdateError};
use crate::testing::WriteFault;

const UNFORCED: HealthCheckSettings = HealthCheckSettings {
    disabled: false,
    inverted: false,
};

fn set_primary(e: &TestEngine, settings: HealthCheckSettings) {
    let mut checks = e.health.checks.lock().unwrap();
    let hc = checks.get_mut(PRIMARY).unwrap();
    hc.settings = settings;
    hc.version += 1; // as Route 53 does for a change by hand
}

async fn failed_over(e: &TestEngine) {
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    assert_eq!(
        send(e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap(),
        ["failed_over"]
    );
}

fn history(e: &TestEngine, kind: &str) -> Vec<HistoryRecord> {
    e.store
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.kind == kind)
        .map(|(_, r)| r.clone())
        .collect()
}

fn drift_alerts(e: &TestEngine) -> Vec<String> {
    e.notifier
        .sent()
        .into_iter()
        .filter(|a| a.event_type == "drift")
        .map(|a| a.message)
        .collect()
}

/// Route 53 in memory whose first read of a check (`get`, or the reconciler's
/// `list_page`) waits: it says when it is reached and goes on when told, so a test can land
/// another invocation's transition at exactly that point.
struct GatedHealth {
    inner: MemHealthChecks,
    gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

impl GatedHealth {
    async fn pass_gate(&self) {
        let gate = self.gate.lock().unwrap().take();
        if let Some((reached, go)) = gate {
            let _ = reached.send(());
            let _ = go.await;
        }
    }
}

impl HealthChecks for GatedHealth {
    async fn get(&self, id: &str) -> Result<HealthCheckConfig, AwsError> {
        self.pass_gate().await;
        self.inner.get(id).await
    }
    async fn list_page(
        &self,
        marker: Option<&str>,
    ) -> Result<crate::ports::HealthCheckPage, AwsError> {
        self.pass_gate().await;
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

#[tokio::test]
async fn a_failover_that_lands_during_the_run_is_not_reverted() {
    // The reconciler reads the state (PRIMARY_ACTIVE), the alarm-trigger fails over, then
    // the reconciler reads the check: forced, against its stale phase.
    let store = MemStore::default();
    store
        .catalog
        .lock()
        .unwrap()
        .push(("checkout".into(), definition(json!({"enforce": true}))));
    let inner = MemHealthChecks::default();
    inner.add(PRIMARY, false);
    inner.add(SECONDARY, true);
    let (reached_tx, reached) = oneshot::channel();
    let (go, go_rx) = oneshot::channel();
    let clock = FakeClock::default();
    clock.set(T0);
    let e = Engine::new(
        store,
        GatedHealth {
            inner,
            gate: Mutex::new(Some((reached_tx, go_rx))),
        },
        MemAlarms::default(),
        MemNotifier::default(),
        clock,
        "test",
    );
    let first = e
        .handle_alarm_event(&event(0, "ALARM", T0 - 1000, "a"), &inv("r1", T0))
        .await
        .unwrap();
    assert_eq!(first.services[0].outcome, "vote_recorded");

    let settings = ReconcileSettings::default();
    let reconciler = inv("reconciler", T0);
    let run = e.reconcile(&reconciler, &settings);
    let incident = async {
        reached.await.expect("the reconciler reads the check");
        let out = e
            .handle_alarm_event(&event(1, "ALARM", T0, "b"), &inv("r2", T0))
            .await
            .unwrap();
        assert_eq!(out.services[0].outcome, "failed_over");
        go.send(()).unwrap();
    };
    let (report, ()) = tokio::join!(run, incident);
    let report = report.unwrap();

    assert_eq!((report.drifts, report.reapplied), (0, 0), "{report:?}");
    let hc = e.health.inner.get_now(PRIMARY);
    assert!(
        hc.settings.forces_unhealthy(),
        "the fresh failover stands: {}",
        hc.settings
    );
    assert_eq!(
        e.health.inner.updates.lock().unwrap().len(),
        1,
        "one switch"
    );
    let state = e.store.state("checkout");
    assert_eq!(
        (state.phase, state.drift.clone()),
        (Phase::FailedOver, None)
    );
    let kinds: Vec<String> = e
        .notifier
        .sent()
        .into_iter()
        .map(|a| a.event_type)
        .collect();
    assert_eq!(kinds, ["failover"], "no drift alert about our own failover");

    // The next run reads the new decision and finds nothing to do.
    let again = e
        .reconcile(&inv("reconciler-2", T0), &settings)
        .await
        .unwrap();
    assert_eq!((again.drifts, again.reapplied), (0, 0), "{again:?}");
    assert_eq!(e.notifier.sent().len(), 1);
}

#[tokio::test]
async fn a_check_changed_after_the_runs_read_is_not_overwritten() {
    let e = engine_with(json!({"enforce": true}));
    failed_over(&e).await;
    set_primary(&e, UNFORCED);
    // Someone changes the check again between the reconciler's read and its update.
    let theirs = HealthCheckSettings {
        disabled: true,
        inverted: false,
    };
    *e.health.concurrent_edit.lock().unwrap() = Some(theirs);
    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (0, 0), "{r:?}");
    assert_eq!(
        e.health.get_now(PRIMARY).settings,
        theirs,
        "not overwritten"
    );
    assert!(
        drift_alerts(&e).is_empty(),
        "nothing reported on a stale read"
    );
    assert!(history(&e, "enforce").is_empty());

    // The next run judges what is there now.
    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (1, 1), "{r:?}");
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    let alerts = drift_alerts(&e);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].contains("found:    Disabled=true Inverted=false"),
        "{}",
        alerts[0]
    );
}

#[tokio::test]
async fn a_paused_service_with_drift_is_reported_once_and_reapplied_only_after_the_pause() {
    let e = engine_with(json!({"enforce": true}));
    failed_over(&e).await;
    assert!(operate(&e, op("pause", json!({}))).await.ok);
    set_primary(&e, UNFORCED);

    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (1, 0), "{r:?}");
    assert_eq!(
        e.health.get_now(PRIMARY).settings,
        UNFORCED,
        "not while paused"
    );
    let alerts = drift_alerts(&e);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].contains("the service is paused by alice"),
        "{}",
        alerts[0]
    );
    let drift = history(&e, "drift");
    assert_eq!(drift.len(), 1);
    assert!(drift[0].why.contains("not re-applied"), "{}", drift[0].why);
    assert!(history(&e, "enforce").is_empty());

    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (0, 0), "reported once: {r:?}");
    assert_eq!(drift_alerts(&e).len(), 1);
    assert_eq!(e.health.get_now(PRIMARY).settings, UNFORCED);

    assert!(operate(&e, op("resume", json!({}))).await.ok);
    let r = reconcile(&e).await;
    assert_eq!(
        (r.drifts, r.reapplied),
        (0, 1),
        "re-applied after the pause: {r:?}"
    );
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    let enforced = history(&e, "enforce");
    assert_eq!(enforced.len(), 1, "{enforced:?}");
    assert_eq!(enforced[0].epoch, 1);
    assert!(
        enforced[0]
            .what
            .contains("found Disabled=false Inverted=false (version")
            && enforced[0]
                .what
                .contains("re-applied Disabled=true Inverted=true"),
        "{}",
        enforced[0].what
    );
    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (0, 0), "{r:?}");
    assert!(e.store.state("checkout").drift.is_none(), "resolved");
    assert_eq!(drift_alerts(&e).len(), 1);
}

#[tokio::test]
async fn a_reapply_whose_state_write_conflicts_is_still_audited_and_alerted() {
    let e = engine_with(json!({"enforce": true}));
    failed_over(&e).await;
    set_primary(&e, UNFORCED);
    // Another writer gets in between the re-apply and the drift's state write.
    *e.store.write_fault_at.lock().unwrap() =
        Some((e.store.control_writes() + 1, WriteFault::Interleaved));
    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (1, 1), "{r:?}");
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    let enforced = history(&e, "enforce");
    assert_eq!(enforced.len(), 1, "the re-apply is audited");
    assert_eq!(enforced[0].epoch, 1);
    assert!(
        enforced[0]
            .what
            .contains("re-applied Disabled=true Inverted=true"),
        "{}",
        enforced[0].what
    );
    assert!(
        enforced[0]
            .why
            .contains("set to Disabled=true Inverted=true"),
        "{}",
        enforced[0].why
    );
    let alerts = drift_alerts(&e);
    assert_eq!(alerts.len(), 1, "and alerted");
    assert!(
        alerts[0].contains("re-applies the decision: set to"),
        "{}",
        alerts[0]
    );
}

#[tokio::test]
async fn a_refused_audit_write_of_a_reapply_is_retried() {
    let e = engine_with(json!({"enforce": true}));
    failed_over(&e).await;
    set_primary(&e, UNFORCED);
    e.store.failures.fail_next("append_history");
    let r = reconcile(&e).await;
    assert!(r.errors.is_empty(), "{r:?}");
    assert_eq!((r.drifts, r.reapplied), (1, 1), "{r:?}");
    assert_eq!(history(&e, "enforce").len(), 1);
    assert_eq!(drift_alerts(&e).len(), 1);
}

#[tokio::test]
async fn a_failed_reapply_is_audited_and_tried_again_on_the_next_run() {
    let e = engine_with(json!({"enforce": true}));
    failed_over(&e).await;
    set_primary(&e, UNFORCED);
    e.health.failures.fail_next("update");
    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (1, 0), "{r:?}");
    assert_eq!(e.health.get_now(PRIMARY).settings, UNFORCED);
    let enforced = history(&e, "enforce");
    assert_eq!(enforced.len(), 1);
    assert!(
        enforced[0].what.contains("could not re-apply") && enforced[0].why.contains("failed:"),
        "{enforced:?}"
    );
    e.clock.set(T0 + 60_000);
    let r = reconcile(&e).await;
    assert_eq!((r.drifts, r.reapplied), (0, 1), "{r:?}");
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    assert_eq!(history(&e, "enforce").len(), 2, "each attempt audited");
    assert_eq!(drift_alerts(&e).len(), 1, "the drift is alerted once");
}
