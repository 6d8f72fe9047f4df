//! In-memory ports for unit tests, with the same conditional semantics as the table and
//! Route 53, call counting, and one-shot failure injection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::catalog::ReplicaLag;
use crate::decision::HealthReading;
use crate::event::ObservedState;
use crate::history::HistoryRecord;
use crate::ports::*;
use crate::state::{HealthCheckSettings, Millis, ServiceState, Vote};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn injected(op: &'static str) -> AwsError {
    AwsError::new("fake", op, ErrorKind::Unavailable, "injected failure")
}

/// Operations named here fail once each, in order of the calls.
#[derive(Default)]
pub struct Faults(Mutex<Vec<&'static str>>);

impl Faults {
    pub fn fail_next(&self, op: &'static str) {
        lock(&self.0).push(op);
    }
    fn take(&self, op: &'static str) -> bool {
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
pub struct MemStore {
    pub catalog: Mutex<Vec<(String, String)>>,
    pub states: Mutex<HashMap<String, ServiceState>>,
    pub history: Mutex<Vec<(String, HistoryRecord)>>,
    pub calls: Mutex<Vec<&'static str>>,
    pub faults: Faults,
    /// Fails the write_control call with this (1-based) number, counted over the store's life.
    pub fail_write_control_at: Mutex<Option<usize>>,
    /// Gives the write_control call with this number a subtler fault.
    pub write_fault_at: Mutex<Option<(usize, WriteFault)>>,
}

/// How a control write can go wrong besides failing outright.
#[derive(Debug, Clone, Copy)]
pub enum WriteFault {
    /// Applied, but the answer was lost: the caller sees an error.
    LandedButError,
    /// Applied, but the answer was lost and the SDK's retry failed its condition.
    LandedButConflict,
    /// Another writer (an operator's pause) got in just before.
    Interleaved,
}

impl MemStore {
    pub fn control_writes(&self) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| **c == "write_control")
            .count()
    }
    pub fn state(&self, service: &str) -> ServiceState {
        lock(&self.states).get(service).cloned().unwrap_or_default()
    }
    pub fn set_state(&self, service: &str, state: ServiceState) {
        lock(&self.states).insert(service.into(), state);
    }
    fn call(&self, op: &'static str) -> Result<(), AwsError> {
        lock(&self.calls).push(op);
        if self.faults.take(op) {
            return Err(injected(op));
        }
        Ok(())
    }
}

impl ControlStore for MemStore {
    async fn load_catalog(&self) -> Result<Vec<(String, String)>, AwsError> {
        self.call("load_catalog")?;
        Ok(lock(&self.catalog).clone())
    }
    async fn load_state(&self, service: &str) -> Result<ServiceState, AwsError> {
        self.call("load_state")?;
        Ok(self.state(service))
    }
    async fn record_vote(
        &self,
        service: &str,
        observer: &str,
        vote: &Vote,
    ) -> Result<VoteWrite, AwsError> {
        self.call("record_vote")?;
        let mut states = lock(&self.states);
        let state = states.entry(service.into()).or_default();
        if state.votes.get(observer).is_some_and(|v| v.at >= vote.at) {
            return Ok(VoteWrite::NotNewer(state.clone()));
        }
        state.votes.insert(observer.into(), vote.clone());
        Ok(VoteWrite::Recorded(state.clone()))
    }
    async fn write_control(
        &self,
        service: &str,
        expected_version: u64,
        next: &ServiceState,
    ) -> Result<ControlWrite, AwsError> {
        self.call("write_control")?;
        if lock(&self.fail_write_control_at).is_some_and(|n| n == self.control_writes()) {
            return Err(injected("write_control"));
        }
        let fault = lock(&self.write_fault_at)
            .filter(|(n, _)| *n == self.control_writes())
            .map(|(_, f)| f);
        let mut states = lock(&self.states);
        let state = states.entry(service.into()).or_default();
        if matches!(fault, Some(WriteFault::Interleaved)) {
            state.version += 1;
            state.pause = Some(crate::state::Pause {
                reason: "interleaved".into(),
                requested_by: "another writer".into(),
                since: 0,
                until: None,
            });
        }
        if state.version != expected_version {
            return Ok(ControlWrite::Conflict(Some(Box::new(state.clone()))));
        }
        let votes = std::mem::take(&mut state.votes);
        *state = ServiceState {
            votes,
            ..next.clone()
        };
        match fault {
            Some(WriteFault::LandedButError) => Err(injected("write_control")),
            Some(WriteFault::LandedButConflict) => {
                Ok(ControlWrite::Conflict(Some(Box::new(state.clone()))))
            }
            _ => Ok(ControlWrite::Written),
        }
    }
    async fn expire_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
    ) -> Result<bool, AwsError> {
        self.call("expire_votes")?;
        let mut states = lock(&self.states);
        let state = states.entry(service.into()).or_default();
        if !votes
            .iter()
            .all(|(o, at)| state.votes.get(o).is_some_and(|v| v.at == *at))
        {
            return Ok(false);
        }
        for (o, _) in votes {
            state.votes.remove(o);
        }
        Ok(true)
    }

    async fn recent_history(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>, AwsError> {
        self.call("recent_history")?;
        let mut h: Vec<HistoryRecord> = lock(&self.history)
            .iter()
            .filter(|(s, _)| s == service)
            .map(|(_, r)| r.clone())
            .collect();
        h.sort_by_key(|r| std::cmp::Reverse(r.sort_key()));
        h.truncate(limit);
        Ok(h)
    }

    async fn append_history(&self, service: &str, record: &HistoryRecord) -> Result<(), AwsError> {
        self.call("append_history")?;
        let mut h = lock(&self.history);
        if !h
            .iter()
            .any(|(s, r)| s == service && r.sort_key() == record.sort_key())
        {
            h.push((service.into(), record.clone()));
        }
        Ok(())
    }
}

#[derive(Default)]
pub struct MemHealthChecks {
    pub checks: Mutex<HashMap<String, HealthCheckConfig>>,
    pub statuses: Mutex<HashMap<String, HealthReading>>,
    pub updates: Mutex<Vec<(String, i64, HealthCheckSettings)>>,
    pub faults: Faults,
    /// Bumps the version once before the next update (someone else's change).
    pub concurrent_edit: Mutex<Option<HealthCheckSettings>>,
}

impl MemHealthChecks {
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
        if self.faults.take("get") {
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
        if self.faults.take("update") {
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
    async fn status(&self, id: &str) -> Result<HealthReading, AwsError> {
        if self.faults.take("status") {
            return Err(injected("status"));
        }
        lock(&self.statuses)
            .get(id)
            .copied()
            .ok_or_else(|| AwsError::new("fake", "status", ErrorKind::Rejected, "no such check"))
    }
}

#[derive(Default)]
pub struct MemAlarms {
    pub states: Mutex<HashMap<String, ObservedState>>,
    pub lag: Mutex<Option<f64>>,
}

impl AlarmReader for MemAlarms {
    async fn alarm_state(&self, alarm_arn: &str) -> Result<Option<ObservedState>, AwsError> {
        Ok(lock(&self.states).get(alarm_arn).copied())
    }
    async fn replica_lag(&self, _spec: &ReplicaLag, _now: Millis) -> Result<Option<f64>, AwsError> {
        Ok(*lock(&self.lag))
    }
}

#[derive(Default)]
pub struct MemNotifier {
    pub sent: Mutex<Vec<Alert>>,
    pub faults: Faults,
}

impl MemNotifier {
    pub fn sent(&self) -> Vec<Alert> {
        lock(&self.sent).clone()
    }
}

impl Notifier for MemNotifier {
    async fn publish(&self, alert: &Alert) -> Result<String, AwsError> {
        if self.faults.take("publish") {
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
