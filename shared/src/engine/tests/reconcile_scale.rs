//! The reconciler and `status` at 1,000 services: a steady-state run costs a bounded number
//! of calls (BatchGetItem 100 a call, at most two ListHealthChecks, no GetHealthCheck or
//! GetHealthCheckStatus), and an account with more health checks than two pages is
//! covered over several runs.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::domain::catalog::ReplicaLag;
use crate::domain::decision::HealthReading;
use crate::domain::event::ObservedState;
use crate::domain::state::{HealthCheckSettings, ServiceState};
use crate::domain::time::Millis;
use crate::engine::reconcile::CHECK_PAGES_PER_RUN;
use crate::ports::{
    AwsError, CloudWatch, Datapoint, HealthCheckConfig, HealthCheckPage, HealthChecks, UpdateError,
};

/// Route 53 in memory, every call named in order.
#[derive(Default)]
pub(super) struct CountingHealth {
    pub inner: MemHealthChecks,
    pub calls: Mutex<Vec<&'static str>>,
}

impl CountingHealth {
    fn note(&self, op: &'static str) {
        self.calls.lock().unwrap().push(op);
    }
    pub(super) fn count(&self, op: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == op)
            .count()
    }
}

impl HealthChecks for CountingHealth {
    async fn get(&self, id: &str) -> Result<HealthCheckConfig, AwsError> {
        self.note("get");
        self.inner.get(id).await
    }
    async fn list_page(&self, marker: Option<&str>) -> Result<HealthCheckPage, AwsError> {
        self.note("list_page");
        self.inner.list_page(marker).await
    }
    async fn update(
        &self,
        id: &str,
        version: i64,
        settings: HealthCheckSettings,
    ) -> Result<HealthCheckConfig, UpdateError> {
        self.note("update");
        self.inner.update(id, version, settings).await
    }
    async fn status(&self, id: &str) -> Result<HealthReading, AwsError> {
        self.note("status");
        self.inner.status(id).await
    }
}

/// CloudWatch in memory, every call named in order, and each PutMetricData's (region, values).
#[derive(Default)]
pub(super) struct CountingAlarms {
    pub inner: MemAlarms,
    pub calls: Mutex<Vec<&'static str>>,
    pub puts: Mutex<Vec<(String, usize)>>,
}

impl CountingAlarms {
    fn note(&self, op: &'static str) {
        self.calls.lock().unwrap().push(op);
    }
    pub(super) fn count(&self, op: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| **c == op)
            .count()
    }
}

impl CloudWatch for CountingAlarms {
    async fn alarm_state(&self, alarm_arn: &str) -> Result<Option<ObservedState>, AwsError> {
        self.note("alarm_state");
        self.inner.alarm_state(alarm_arn).await
    }
    async fn alarm_states(
        &self,
        region: &str,
        alarm_names: &[String],
    ) -> Result<HashMap<String, ObservedState>, AwsError> {
        self.note("alarm_states");
        self.inner.alarm_states(region, alarm_names).await
    }
    async fn replica_lag(&self, spec: &ReplicaLag, now: Millis) -> Result<Option<f64>, AwsError> {
        self.note("replica_lag");
        self.inner.replica_lag(spec, now).await
    }
    async fn put_switch_values(
        &self,
        region: &str,
        values: &[(String, f64)],
        now: Millis,
    ) -> Result<(), AwsError> {
        self.note("put_switch_values");
        self.puts
            .lock()
            .unwrap()
            .push((region.to_string(), values.len()));
        self.inner.put_switch_values(region, values, now).await
    }
    async fn switch_values(
        &self,
        region: &str,
        services: &[String],
        now: Millis,
    ) -> Result<HashMap<String, Datapoint>, AwsError> {
        self.note("switch_values");
        self.inner.switch_values(region, services, now).await
    }
    async fn health_statuses(
        &self,
        health_check_ids: &[String],
        from: Millis,
        now: Millis,
    ) -> Result<HashMap<String, Vec<Datapoint>>, AwsError> {
        self.note("health_statuses");
        self.inner
            .health_statuses(health_check_ids, from, now)
            .await
    }
}

pub(super) type FleetEngine =
    Engine<MemStore, CountingHealth, CountingAlarms, MemNotifier, FakeClock>;

pub(super) fn name(i: usize) -> String {
    format!("svc{i:04}")
}

pub(super) fn primary_check(i: usize) -> String {
    format!("hc-p-{i:04}")
}

/// The switch alarm of service `i` in `region`.
pub(super) fn switch_alarm(i: usize, region: &str) -> String {
    format!(
        "arn:aws:cloudwatch:{region}:123456789012:alarm:{}-switch",
        name(i)
    )
}

/// `n` services (`svc0000`..), each with its own primary and secondary check (healthy,
/// not forced), the three shared observers, and the catalog fields `extra(i)` adds.
pub(super) fn fleet(n: usize, extra: impl Fn(usize) -> Value) -> FleetEngine {
    let store = MemStore::default();
    let health = CountingHealth::default();
    {
        let mut catalog = store.catalog.lock().unwrap();
        for i in 0..n {
            let mut def = json!({
                "name": name(i),
                "primary": {"region": "us-east-1", "health_check_id": primary_check(i)},
                "secondary": {"region": "eu-west-1", "health_check_id": format!("hc-s-{i:04}")},
                "observers": [observer(0), observer(1), observer(2)],
                "quorum": 2
            });
            if let (Some(d), Some(e)) = (def.as_object_mut(), extra(i).as_object()) {
                for (k, v) in e {
                    d.insert(k.clone(), v.clone());
                }
            }
            catalog.push((name(i), def.to_string()));
            health.inner.add(&primary_check(i), true);
            health.inner.add(&format!("hc-s-{i:04}"), true);
        }
    }
    let clock = FakeClock::default();
    clock.set(T0);
    let mut e = Engine::new(
        store,
        health,
        CountingAlarms::default(),
        MemNotifier::default(),
        clock,
        "test",
    );
    e.metrics = false;
    e
}

pub(super) async fn run(e: &FleetEngine) -> ReconcileReport {
    e.reconcile(
        &inv("reconciler", e.clock.now()),
        &ReconcileSettings::default(),
    )
    .await
    .unwrap()
}

/// What a run called: (store calls, Route 53 calls), from the marks taken before it.
pub(super) fn calls_since(
    e: &FleetEngine,
    store_from: usize,
    health_from: usize,
) -> (Vec<&'static str>, Vec<&'static str>) {
    (
        e.store.calls.lock().unwrap()[store_from..].to_vec(),
        e.health.calls.lock().unwrap()[health_from..].to_vec(),
    )
}

pub(super) fn marks(e: &FleetEngine) -> (usize, usize) {
    (
        e.store.calls.lock().unwrap().len(),
        e.health.calls.lock().unwrap().len(),
    )
}

#[tokio::test]
async fn a_steady_run_at_1000_services_makes_10_state_reads_and_2_health_check_lists() {
    let e = fleet(1000, |_| json!({}));
    // The first run writes the catalog's kept versions; the steady state begins after it.
    let first = run(&e).await;
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    let (s0, h0) = marks(&e);
    let r = run(&e).await;
    let (store, route53) = calls_since(&e, s0, h0);
    assert_eq!(
        (r.checked, r.drifts, r.checks_not_read),
        (1000, 0, 0),
        "{r:?}"
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let states = store.iter().filter(|c| **c == "load_states").count();
    assert_eq!(states, 10, "100 states a BatchGetItem");
    assert!(
        store.len() <= 15,
        "at most the catalog and 10 state reads: {store:?}"
    );
    assert!(
        store
            .iter()
            .all(|c| matches!(*c, "load_states" | "load_catalog")),
        "{store:?}"
    );
    // 2,000 checks (a primary and a secondary each): two pages, no per-service read.
    assert_eq!(route53, ["list_page", "list_page"]);
    assert_eq!(r.health_checks_listed, 2000);
    assert_eq!(
        e.alarms.count("alarm_states"),
        0,
        "no vote stands: no DescribeAlarms"
    );
    assert_eq!(e.alarms.count("put_switch_values"), 0, "no metric service");
    assert!(e.notifier.sent().is_empty());
}

#[tokio::test]
async fn a_drift_at_1000_services_is_found_from_the_pages_and_reported_once() {
    let e = fleet(1000, |_| json!({}));
    run(&e).await;
    e.health
        .inner
        .checks
        .lock()
        .unwrap()
        .get_mut(&primary_check(737))
        .unwrap()
        .settings = HealthCheckSettings::FORCED_UNHEALTHY;
    let (_, h0) = marks(&e);
    let r = run(&e).await;
    assert_eq!(r.drifts, 1, "{r:?}");
    let (_, route53) = calls_since(&e, 0, h0);
    assert_eq!(
        route53,
        ["list_page", "list_page"],
        "no GetHealthCheck to find it"
    );
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].service.as_str(), sent[0].event_type.as_str()),
        ("svc0737", "drift")
    );
    assert_eq!(run(&e).await.drifts, 0, "reported once");
}

#[tokio::test]
async fn an_account_with_more_than_2000_checks_is_covered_over_runs_by_a_kept_cursor() {
    // 2 services, 2,500 checks: the second service's check sorts into the third page.
    let e = fleet(2, |_| json!({}));
    {
        let mut checks = e.health.inner.checks.lock().unwrap();
        let template = checks[&primary_check(0)];
        for i in 0..2496 {
            checks.insert(format!("hc-a-{i:04}"), template);
        }
        // Sorted: hc-a-* (2,496), hc-p-0000, hc-p-0001, hc-s-0000, hc-s-0001; put the
        // second primary past 2,000 by renaming it.
        let p1 = checks.remove(&primary_check(1)).unwrap();
        checks.insert("hc-z-0001".into(), p1);
    }
    {
        let mut catalog = e.store.catalog.lock().unwrap();
        let def = catalog[1].1.replace("hc-p-0001", "hc-z-0001");
        catalog[1].1 = def;
    }
    // Someone forces the far check by hand: a drift that only a run reaching it sees.
    e.health
        .inner
        .checks
        .lock()
        .unwrap()
        .get_mut("hc-z-0001")
        .unwrap()
        .settings = HealthCheckSettings::FORCED_UNHEALTHY;
    let lists = |e: &FleetEngine| e.health.inner.lists.lock().unwrap().clone();

    let r1 = run(&e).await;
    assert_eq!(lists(&e), [None, Some("1000".to_string())]);
    assert_eq!((r1.drifts, r1.checks_not_read), (0, 2), "{r1:?}");

    let r2 = run(&e).await;
    assert_eq!(
        lists(&e)[2..],
        [Some("2000".to_string()), None],
        "on where the last run stopped, then round to the first page"
    );
    assert_eq!((r2.drifts, r2.checks_not_read), (1, 0), "{r2:?}");
    assert_eq!(e.notifier.sent().len(), 1);

    let r3 = run(&e).await;
    assert_eq!(
        lists(&e)[4..],
        [Some("1000".to_string()), Some("2000".to_string())]
    );
    assert_eq!(r3.drifts, 0, "{r3:?}");
    assert!(lists(&e).len() <= 3 * CHECK_PAGES_PER_RUN);
    assert_eq!(e.health.count("get"), 0);
}

#[tokio::test]
async fn a_fleet_of_metric_services_makes_no_health_check_list_at_all() {
    let e = fleet(
        300,
        |i| json!({"switch": {"mode": "metric", "alarm_arn": switch_alarm(i, "eu-west-1")}}),
    );
    run(&e).await;
    run(&e).await;
    assert_eq!(e.health.count("list_page"), 0);
    assert_eq!(e.health.count("get"), 0);
}

#[tokio::test]
async fn a_refused_state_batch_is_one_error_and_the_other_batches_go_on() {
    let e = fleet(250, |_| json!({}));
    run(&e).await;
    e.store.failures.fail_next("load_states");
    let r = run(&e).await;
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(r.errors[0].contains("100 services"), "{:?}", r.errors);
    assert_eq!(r.checked, 150);
    assert!(r.not_reached.is_empty());
}

#[tokio::test]
async fn status_of_1000_services_reads_in_bulk() {
    let e = fleet(1000, |i| {
        if i % 2 == 0 {
            json!({"primary": {"region": "us-east-1", "health_check_id": primary_check(i),
                               "probe_health_check_id": format!("hc-probe-{i:04}")}})
        } else {
            json!({"switch": {"mode": "both", "alarm_arn": switch_alarm(i, "eu-west-1")}})
        }
    });
    // 500 probes and 1,000 secondaries more: 2,500 checks, so some primaries are past
    // the two pages a status reads.
    for i in (0..1000).step_by(2) {
        e.health.inner.add(&format!("hc-probe-{i:04}"), true);
    }
    e.alarms
        .inner
        .health_between("hc-s-0001", T0 - 5 * 60_000, T0, false);
    e.alarms
        .inner
        .health_between("hc-probe-0000", T0 - 20 * 60_000, T0, true);
    e.alarms
        .inner
        .set(&switch_alarm(1, "eu-west-1"), ObservedState::Ok);
    let (s0, h0) = marks(&e);
    let out = e
        .handle_operator_request(&json!({"action": "status"}), &inv("op", T0))
        .await
        .unwrap();
    let (store, route53) = calls_since(&e, s0, h0);
    assert_eq!(out.status.len(), 1000);
    let states = store.iter().filter(|c| **c == "load_states").count();
    assert_eq!(states, 10);
    assert!(!store.contains(&"load_state"), "{store:?}");
    assert_eq!(
        route53,
        ["list_page", "list_page"],
        "no get, no status per service"
    );
    assert_eq!(
        e.alarms.count("health_statuses"),
        2,
        "secondaries and probes, in bulk"
    );
    assert_eq!(e.alarms.count("alarm_state"), 0);
    assert_eq!(e.alarms.count("switch_values"), 1, "one region");
    assert_eq!(
        e.alarms.count("alarm_states"),
        5,
        "500 switch alarms, 100 a call"
    );

    let by_name: HashMap<&str, &crate::api::operator_response::ServiceStatus> =
        out.status.iter().map(|s| (s.service.as_str(), s)).collect();
    let first = by_name["svc0000"];
    let probe = first.primary_probe.as_ref().expect("the probe is read");
    assert_eq!(probe.healthy, Some(true), "{probe:?}");
    assert_eq!(
        first.switch.as_ref().unwrap().mode,
        crate::domain::switch::SwitchMode::HealthCheck
    );
    let one = by_name["svc0001"];
    let sw = one.switch.as_ref().unwrap();
    assert_eq!(
        (sw.alarm_state, sw.decided_value),
        (Some(ObservedState::Ok), Some(0.0))
    );
    assert!(one.primary_probe.is_none());
    let secondary = &one.preflight[0];
    assert!(!secondary.ok, "{secondary:?}");
    assert!(secondary.detail.contains("unhealthy"), "{secondary:?}");
    // Checks sort hc-p-*, hc-probe-*, hc-s-*: every primary is in the first page.
    assert!(matches!(
        first.primary.health_check,
        crate::api::operator_response::HealthCheckStatus::Read { .. }
    ));

    // With 2,000 more checks sorting first, the primaries are not in the two pages.
    {
        let mut checks = e.health.inner.checks.lock().unwrap();
        let template = checks[&primary_check(0)];
        for i in 0..2000 {
            checks.insert(format!("hc-a-{i:04}"), template);
        }
    }
    let out = e
        .handle_operator_request(&json!({"action": "status"}), &inv("op", T0))
        .await
        .unwrap();
    assert_eq!(
        out.status[0].primary.health_check,
        crate::api::operator_response::HealthCheckStatus::Unreadable {
            error: "not read in this status (the account has more than 2,000 health checks)".into()
        }
    );
    // One service keeps its own reads.
    let (_, h0) = marks(&e);
    let one = e
        .handle_operator_request(
            &json!({"action": "status", "service": "svc0001"}),
            &inv("op", T0),
        )
        .await
        .unwrap();
    assert!(matches!(
        one.status[0].primary.health_check,
        crate::api::operator_response::HealthCheckStatus::Read { .. }
    ));
    let (_, route53) = calls_since(&e, 0, h0);
    assert!(!route53.contains(&"list_page"), "{route53:?}");
}

/// A state failed over by the metric at `at` (both or metric mode); the health check
/// landed too when `check_landed`.
pub(super) fn failed_over_by_metric(at: Millis, check_landed: bool) -> ServiceState {
    let exec = json!({
        "epoch": 1, "kind": "failover",
        "trigger": {"type": "quorum", "quorum": 2, "observers": 3},
        "decided_at": at, "votes": [], "owner": "r", "lease_until": at,
        "preflight": [],
        "prior": {"disabled": false, "inverted": false},
        "switched_at": at, "metric_switched_at": at,
        "check_switched_at": if check_landed { Some(at) } else { None },
        "completed_at": at
    });
    ServiceState {
        phase: crate::domain::state::Phase::FailedOver,
        epoch: 1,
        version: 4,
        last_transition_at: Some(at),
        execution: Some(serde_json::from_value(exec).unwrap()),
        ..Default::default()
    }
}
