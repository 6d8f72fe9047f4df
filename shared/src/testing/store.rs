//! The control table in memory: catalog items, state items guarded by version, history.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{injected, lock, InjectedFailures};
use crate::domain::catalog::{CatalogItem, KeptVersions};
use crate::domain::event::ObservedState;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{Pause, ServiceState, Vote};
use crate::domain::time::Millis;
use crate::ports::{AwsError, ControlStore, ControlWrite, VoteWrite};

#[derive(Default)]
pub struct MemStore {
    pub catalog: Mutex<Vec<(String, String)>>,
    /// The versions kept beside catalog entries, by service (items of their own).
    pub kept: Mutex<HashMap<String, KeptVersions>>,
    pub states: Mutex<HashMap<String, ServiceState>>,
    pub history: Mutex<Vec<(String, HistoryRecord)>>,
    pub calls: Mutex<Vec<&'static str>>,
    pub failures: InjectedFailures,
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
        if self.failures.take(op) {
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
    async fn load_catalog_items(&self) -> Result<Vec<CatalogItem>, AwsError> {
        self.call("load_catalog")?;
        let kept = lock(&self.kept).clone();
        let mut items: Vec<CatalogItem> = lock(&self.catalog)
            .iter()
            .map(|(key, definition)| CatalogItem {
                key: key.clone(),
                definition: Some(definition.clone()),
                kept: kept.get(key).cloned().unwrap_or_default(),
            })
            .collect();
        // Kept versions whose entry is gone are returned too, as the table's Query does.
        for (key, versions) in kept {
            if !items.iter().any(|i| i.key == key) {
                items.push(CatalogItem {
                    key,
                    definition: None,
                    kept: versions,
                });
            }
        }
        Ok(items)
    }
    async fn write_kept(
        &self,
        service: &str,
        expected_rev: u64,
        next: &KeptVersions,
    ) -> Result<bool, AwsError> {
        self.call("write_kept")?;
        let mut kept = lock(&self.kept);
        if kept.get(service).map_or(0, |k| k.rev) != expected_rev {
            return Ok(false);
        }
        kept.insert(service.into(), next.clone());
        Ok(true)
    }
    async fn load_state(&self, service: &str) -> Result<ServiceState, AwsError> {
        self.call("load_state")?;
        Ok(self.state(service))
    }
    async fn load_states(
        &self,
        services: &[String],
    ) -> Result<HashMap<String, ServiceState>, AwsError> {
        let mut out = HashMap::with_capacity(services.len());
        for chunk in services.chunks(crate::ports::MAX_STATES_PER_READ) {
            self.call("load_states")?;
            for s in chunk {
                out.insert(s.clone(), self.state(s));
            }
        }
        Ok(out)
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
            state.pause = Some(Pause {
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
    async fn confirm_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
        confirmed_at: Millis,
    ) -> Result<VoteWrite, AwsError> {
        self.call("confirm_votes")?;
        let mut states = lock(&self.states);
        let state = states.entry(service.into()).or_default();
        let unchanged = votes.iter().all(|(o, at)| {
            state
                .votes
                .get(o)
                .is_some_and(|v| v.at == *at && v.state == ObservedState::Alarm)
        });
        if !unchanged {
            return Ok(VoteWrite::NotNewer(state.clone()));
        }
        for (o, _) in votes {
            if let Some(v) = state.votes.get_mut(o) {
                v.confirmed_at = Some(confirmed_at);
            }
        }
        Ok(VoteWrite::Recorded(state.clone()))
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
