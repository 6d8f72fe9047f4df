//! In-memory ports with the same conditional semantics as the table and Route 53, call
//! counting, and failure injection: the engine's unit tests run on them, and other crates'
//! tests can too (feature `test-util`).

mod runbook;
mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::domain::alert::Alert;
use crate::domain::catalog::ReplicaLag;
use crate::domain::decision::HealthReading;
use crate::domain::event::ObservedState;
use crate::domain::state::HealthCheckSettings;
use crate::domain::time::Millis;
use crate::ports::{
    AwsError, Clock, CloudWatch, Datapoint, ErrorKind, HealthCheckConfig, HealthCheckPage,
    HealthChecks, Notifier, UpdateError, MAX_HEALTH_CHECKS_PER_PAGE,
};

pub use runbook::MemRunbook;
pub use store::{MemStore, WriteFault};

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn injected(op: &'static str) -> AwsError {
    AwsError::new("fake", op, ErrorKind::Unavailable, "injected failure")
}

/// Operations named here fail once each, in order of the calls.
#[derive(Default)]
pub struct InjectedFailures(Mutex<Vec<&'static str>>);

impl InjectedFailures {
    pub fn fail_next(&self, op: &'static str) {
        lock(&self.0).push(op);
    }
    pub(crate) fn take(&self, op: &'static str) -> bool {
        let mut v = lock(&self.0);
        match v.iter().position(|o| *o == op) {
            Some(i) => {
                v.remove(i);
                true
            }
            None => false,
        }
    }
}

#[derive(Default)]
pub struct MemHealthChecks {
    pub checks: Mutex<HashMap<String, HealthCheckConfig>>,
    pub statuses: Mutex<HashMap<String, HealthReading>>,
    pub updates: Mutex<Vec<(String, i64, HealthCheckSettings)>>,
    pub failures: InjectedFailures,
    /// Bumps the version once before the next update (someone else's change).
    pub concurrent_edit: Mutex<Option<HealthCheckSettings>>,
    /// Every `list_page` call's marker.
    pub lists: Mutex<Vec<Option<String>>>,
    /// Every call, by operation (get, update, status, list_page).
    pub calls: Mutex<Vec<&'static str>>,
    /// Route 53's API answers nothing (every call Unavailable) while set.
    pub down: std::sync::atomic::AtomicBool,
}

impl MemHealthChecks {
    /// Counts the call; Unavailable while `down` is set.
    fn call(&self, op: &'static str) -> Result<(), AwsError> {
        lock(&self.calls).push(op);
        if self.down.load(Ordering::SeqCst) {
            return Err(AwsError::new(
                "route53",
                op,
                ErrorKind::Unavailable,
                "503 Service Unavailable (injected: Route 53's API is down)",
            ));
        }
        Ok(())
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    pub fn call_count(&self) -> usize {
        lock(&self.calls).len()
    }
    pub fn add(&self, id: &str, healthy: bool) {
        lock(&self.checks).insert(
            id.into(),
            HealthCheckConfig {
                settings: HealthCheckSettings {
                    disabled: false,
                    inverted: false,
                },
                version: 1,
            },
        );
        lock(&self.statuses).insert(
            id.into(),
            HealthReading {
                healthy_checkers: if healthy { 8 } else { 0 },
                checkers: 8,
            },
        );
    }
    pub fn get_now(&self, id: &str) -> HealthCheckConfig {
        lock(&self.checks)[id]
    }
}

impl HealthChecks for MemHealthChecks {
    async fn get(&self, id: &str) -> Result<HealthCheckConfig, AwsError> {
        self.call("get")?;
        if self.failures.take("get") {
            return Err(injected("get"));
        }
        lock(&self.checks)
            .get(id)
            .copied()
            .ok_or_else(|| AwsError::new("fake", "get", ErrorKind::Rejected, "no such check"))
    }
    async fn update(
        &self,
        id: &str,
        version: i64,
        settings: HealthCheckSettings,
    ) -> Result<HealthCheckConfig, UpdateError> {
        self.call("update").map_err(UpdateError::Aws)?;
        if self.failures.take("update") {
            return Err(UpdateError::Aws(injected("update")));
        }
        let mut checks = lock(&self.checks);
        let hc = checks
            .get_mut(id)
            .ok_or_else(|| AwsError::new("fake", "update", ErrorKind::Rejected, "no such check"))?;
        if let Some(other) = lock(&self.concurrent_edit).take() {
            hc.settings = other;
            hc.version += 1;
        }
        if hc.version != version {
            return Err(UpdateError::VersionMismatch { sent: version });
        }
        lock(&self.updates).push((id.into(), version, settings));
        hc.settings = settings;
        hc.version += 1;
        Ok(*hc)
    }
    async fn list_page(&self, marker: Option<&str>) -> Result<HealthCheckPage, AwsError> {
        self.call("list_page")?;
        if self.failures.take("list_page") {
            return Err(injected("list_page"));
        }
        lock(&self.lists).push(marker.map(str::to_string));
        let checks = lock(&self.checks);
        let mut ids: Vec<&String> = checks.keys().collect();
        ids.sort();
        let start = marker.and_then(|m| m.parse::<usize>().ok()).unwrap_or(0);
        let page: Vec<(String, HealthCheckConfig)> = ids
            .iter()
            .skip(start)
            .take(MAX_HEALTH_CHECKS_PER_PAGE)
            .map(|id| ((*id).clone(), checks[*id]))
            .collect();
        let end = start + page.len();
        Ok(HealthCheckPage {
            checks: page,
            next_marker: (end < ids.len()).then(|| end.to_string()),
        })
    }
    async fn status(&self, id: &str) -> Result<HealthReading, AwsError> {
        self.call("status")?;
        if self.failures.take("status") {
            return Err(injected("status"));
        }
        lock(&self.statuses)
            .get(id)
            .copied()
            .ok_or_else(|| AwsError::new("fake", "status", ErrorKind::Rejected, "no such check"))
    }
}

/// Alarms by ARN. `alarm_states` sees those whose ARN is in the region asked, by name.
#[derive(Default)]
pub struct MemAlarms {
    pub states: Mutex<HashMap<String, ObservedState>>,
    pub lag: Mutex<Option<f64>>,
    /// Every `alarm_states` call: (region, how many names).
    pub reads: Mutex<Vec<(String, usize)>>,
    pub failures: InjectedFailures,
    /// Switch values published: (region, service, value, at), in order.
    pub published: Mutex<Vec<(String, String, f64, Millis)>>,
    /// Route 53's HealthCheckStatus datapoints by check id, oldest first.
    pub health: Mutex<HashMap<String, Vec<Datapoint>>>,
}

impl MemAlarms {
    pub fn set(&self, alarm_arn: &str, state: ObservedState) {
        lock(&self.states).insert(alarm_arn.into(), state);
    }
}

impl CloudWatch for MemAlarms {
    async fn alarm_state(&self, alarm_arn: &str) -> Result<Option<ObservedState>, AwsError> {
        Ok(lock(&self.states).get(alarm_arn).copied())
    }
    async fn alarm_states(
        &self,
        region: &str,
        alarm_names: &[String],
    ) -> Result<HashMap<String, ObservedState>, AwsError> {
        lock(&self.reads).push((region.into(), alarm_names.len()));
        if self.failures.take("alarm_states") {
            return Err(injected("alarm_states"));
        }
        assert!(
            alarm_names.len() <= crate::ports::MAX_ALARMS_PER_READ,
            "DescribeAlarms takes at most 100 names"
        );
        Ok(lock(&self.states)
            .iter()
            .filter_map(|(arn, state)| {
                let a = crate::domain::arn::AlarmArn::parse(arn)?;
                (a.region == region && alarm_names.iter().any(|n| n == a.alarm_name))
                    .then(|| (a.alarm_name.to_string(), *state))
            })
            .collect())
    }
    async fn replica_lag(&self, _spec: &ReplicaLag, _now: Millis) -> Result<Option<f64>, AwsError> {
        Ok(*lock(&self.lag))
    }
    async fn put_switch_values(
        &self,
        region: &str,
        values: &[(String, f64)],
        now: Millis,
    ) -> Result<(), AwsError> {
        if self.failures.take("put_switch_values") {
            return Err(injected("put_switch_values"));
        }
        let mut published = lock(&self.published);
        for (service, value) in values {
            published.push((region.into(), service.clone(), *value, now));
        }
        Ok(())
    }
    async fn switch_values(
        &self,
        region: &str,
        services: &[String],
        _now: Millis,
    ) -> Result<HashMap<String, Datapoint>, AwsError> {
        if self.failures.take("switch_values") {
            return Err(injected("switch_values"));
        }
        let mut out = HashMap::new();
        for (r, service, value, at) in lock(&self.published).iter() {
            if r == region && services.contains(service) {
                out.insert(
                    service.clone(),
                    Datapoint {
                        at: *at,
                        value: *value,
                    },
                );
            }
        }
        Ok(out)
    }
    async fn health_statuses(
        &self,
        health_check_ids: &[String],
        from: Millis,
        now: Millis,
    ) -> Result<HashMap<String, Vec<Datapoint>>, AwsError> {
        if self.failures.take("health_statuses") {
            return Err(injected("health_statuses"));
        }
        Ok(lock(&self.health)
            .iter()
            .filter(|(id, _)| health_check_ids.contains(id))
            .map(|(id, points)| {
                let points: Vec<Datapoint> = points
                    .iter()
                    .filter(|p| p.at >= from && p.at <= now)
                    .copied()
                    .collect();
                (id.clone(), points)
            })
            .filter(|(_, p)| !p.is_empty())
            .collect())
    }
}

impl MemAlarms {
    /// The switch values published for `service`, oldest first.
    pub fn published_for(&self, service: &str) -> Vec<f64> {
        lock(&self.published)
            .iter()
            .filter(|(_, s, _, _)| s == service)
            .map(|(_, _, v, _)| *v)
            .collect()
    }
    /// Route 53's checkers report `healthy` for the check, minute by minute over [from, to].
    pub fn health_between(&self, id: &str, from: Millis, to: Millis, healthy: bool) {
        let mut health = lock(&self.health);
        let points = health.entry(id.into()).or_default();
        let mut t = from;
        while t <= to {
            points.push(Datapoint {
                at: t,
                value: if healthy { 1.0 } else { 0.0 },
            });
            t += 60_000;
        }
        points.sort_by_key(|p| p.at);
    }
}

#[derive(Default)]
pub struct MemNotifier {
    pub sent: Mutex<Vec<Alert>>,
    pub failures: InjectedFailures,
}

impl MemNotifier {
    pub fn sent(&self) -> Vec<Alert> {
        lock(&self.sent).clone()
    }
}

impl Notifier for MemNotifier {
    async fn publish(&self, alert: &Alert) -> Result<String, AwsError> {
        if self.failures.take("publish") {
            return Err(injected("publish"));
        }
        let mut sent = lock(&self.sent);
        sent.push(alert.clone());
        Ok(format!("msg-{}", sent.len()))
    }
}

#[derive(Default)]
pub struct FakeClock(pub AtomicI64);

impl FakeClock {
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}
