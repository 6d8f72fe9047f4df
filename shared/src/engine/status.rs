//! The operator's `status`: each service's state, its primary check as read now, the
//! secondary's pre-flight, its switch (the switch alarm and metric), the primary's probe,
//! and its newest audit records.
//!
//! `status` of one service reads that service's own (GetItem, GetHealthCheck,
//! GetHealthCheckStatus). `status` of every service is bounded like the reconciler: the
//! states with BatchGetItem (100 a call), the primary checks from at most two
//! ListHealthChecks pages, the secondaries' health from Route 53's HealthCheckStatus
//! metric (GetMetricData, 500 a call), the alarms with DescribeAlarms (100 a call and
//! region); only the audit records (and a replica-lag metric, where one is configured)
//! are read per service.

use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;
use futures::stream::{self, StreamExt};

use super::readiness::readiness_checks;
use super::{Engine, EngineError};
use crate::api::operator_request::{Action, OperatorRequest};
use crate::api::operator_response::{
    CatalogStatus, EndpointStatus, HealthCheckStatus, OperatorResponse, PauseStatus, PrimaryStatus,
    ReadinessStatus, ServiceStatus, SwitchStatus, VoteStatus,
};
use crate::domain::catalog::{Catalog, ServiceDefinition};
use crate::domain::decision::{
    cooldown_remaining, live_votes, preflight_checks, PreflightReadings,
};
use crate::domain::event::ObservedState;
use crate::domain::history::HistoryRecord;
use crate::domain::probe::{probe_health, ProbeHealth};
use crate::domain::state::{PreflightCheck, ServiceState};
use crate::domain::switch::{decided_value, SwitchMode};
use crate::domain::time::{fmt_time, Millis};
use crate::ports::{
    AwsError, Clock, CloudWatch, ControlStore, Datapoint, HealthChecks, Notifier, Runbook,
};

/// How many audit records `status` returns per service.
pub const STATUS_HISTORY: usize = 20;
/// Per-service reads (audit records, replica lag) in flight at once in `status` of every service.
const STATUS_FAN_OUT: usize = 16;
/// How far back the secondaries' HealthCheckStatus is read.
const SECONDARY_WINDOW_MS: Millis = 10 * 60_000;
/// A primary check missing from the pages read.
pub const CHECK_NOT_LISTED: &str =
    "not read in this status (the account has more than 2,000 health checks)";

/// What one service's status is built from, however it was read.
struct Parts {
    state: ServiceState,
    history: Vec<HistoryRecord>,
    health_check: HealthCheckStatus,
    preflight: Vec<PreflightCheck>,
    switch: SwitchStatus,
    probe: Option<ProbeHealth>,
}

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    pub(super) async fn status(
        &self,
        req: &OperatorRequest,
        defs: Vec<&ServiceDefinition>,
    ) -> Result<OperatorResponse, EngineError> {
        let catalog = self.cached_catalog().await;
        let catalog = catalog.as_deref();
        let statuses = match (req.service.as_deref(), defs.as_slice()) {
            (Some(_), [def]) => vec![self.service_status(def, catalog).await?],
            _ => self.every_status(&defs, catalog).await?,
        };
        let mut r = OperatorResponse {
            ok: true,
            action: Action::Status,
            service: req.service.clone(),
            phase_before: None,
            phase_after: None,
            epoch: None,
            dry_run: req.dry_run,
            steps: Vec::new(),
            message: String::new(),
            next: None,
            status: statuses,
        };
        if let [one] = r.status.as_slice() {
            r.phase_before = Some(one.phase);
            r.phase_after = r.phase_before;
            r.epoch = Some(one.epoch);
        }
        r.message = format!("{} service(s)", r.status.len());
        // Entries that never parsed have no status of their own: named here, unprotected.
        let unprotected: Vec<String> = catalog
            .into_iter()
            .flat_map(Catalog::refusals)
            .filter(|(key, r)| {
                r.last_good_since.is_none()
                    && req.service.as_deref().is_none_or(|n| n == key.as_str())
            })
            .map(|(_, r)| r.error.to_string())
            .collect();
        if !unprotected.is_empty() {
            r.message.push_str(&format!(
                "; NOT PROTECTED (no definition parses): {}",
                unprotected.join("; ")
            ));
        }
        Ok(r)
    }

    /// One service, with its own reads.
    async fn service_status(
        &self,
        def: &ServiceDefinition,
        catalog: Option<&Catalog>,
    ) -> Result<ServiceStatus, EngineError> {
        let now = self.clock.now();
        let alarm = async {
            match &def.switch.alarm_arn {
                Some(arn) if def.switch.uses_metric() => Some(
                    self.alarms
                        .alarm_state(arn)
                        .await
                        .map_err(|e| e.to_string()),
                ),
                _ => None,
            }
        };
        let value = async {
            if !def.switch.uses_metric() {
                return None;
            }
            let region = def.switch.metric_region()?;
            let names = [def.name.clone()];
            Some(
                self.alarms
                    .switch_values(region, &names, now)
                    .await
                    .map(|mut v| v.remove(&def.name))
                    .map_err(|e| e.to_string()),
            )
        };
        // The pre-flight reads the primary's check only in health_check mode; in both mode
        // it is switched too, so status reads it here.
        let both_check = async {
            match def.switch.mode {
                SwitchMode::Both => Some(self.health.get(&def.primary.health_check_id).await),
                _ => None,
            }
        };
        let (state, history, readings, alarm, value, probe, both_check) = tokio::join!(
            self.store.load_state(&def.name),
            self.store.recent_history(&def.name, STATUS_HISTORY),
            self.read_readiness(def),
            alarm,
            value,
            self.read_probe(def),
            both_check
        );
        let state = state.map_err(EngineError::Store)?;
        let history = history.map_err(EngineError::Store)?;
        let primary = both_check.as_ref().unwrap_or(&readings.primary);
        let health_check = match primary {
            Ok(h) => HealthCheckStatus::Read {
                disabled: h.settings.disabled,
                inverted: h.settings.inverted,
                version: h.version,
            },
            Err(e) => HealthCheckStatus::Unreadable {
                error: e.to_string(),
            },
        };
        let parts = Parts {
            switch: switch_status(def, &state, alarm, value),
            state,
            history,
            health_check,
            preflight: readiness_checks(def, &readings),
            probe,
        };
        Ok(build(def, parts, catalog, now))
    }

    /// Every service, with the reads shared: a bounded number of calls however many.
    async fn every_status(
        &self,
        defs: &[&ServiceDefinition],
        catalog: Option<&Catalog>,
    ) -> Result<Vec<ServiceStatus>, EngineError> {
        if defs.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
        let mut secondaries: Vec<String> = defs
            .iter()
            .filter(|d| d.preflight.secondary_health_check)
            .map(|d| d.secondary.health_check_id.clone())
            .collect();
        secondaries.sort();
        secondaries.dedup();
        let alarm_arns: Vec<String> = defs
            .iter()
            .flat_map(|d| {
                let switch = d
                    .switch
                    .alarm_arn
                    .clone()
                    .filter(|_| d.switch.uses_metric());
                d.preflight
                    .secondary_alarm_arn
                    .clone()
                    .into_iter()
                    .chain(switch)
            })
            .collect();
        let secondary_health = async {
            if secondaries.is_empty() {
                return Ok(HashMap::new());
            }
            self.alarms
                .health_statuses(&secondaries, now - SECONDARY_WINDOW_MS, now)
                .await
        };
        let histories = stream::iter(defs.iter().copied())
            .map(|d| self.store.recent_history(&d.name, STATUS_HISTORY))
            .buffered(STATUS_FAN_OUT)
            .collect::<Vec<_>>();
        let lags = stream::iter(defs.iter().copied())
            .map(|d| async move {
                let spec = d.preflight.replica_lag.as_ref()?;
                Some(
                    self.alarms
                        .replica_lag(spec, now)
                        .await
                        .map(|v| v.map(|v| spec.to_seconds(v)))
                        .map_err(|e| e.to_string()),
                )
            })
            .buffered(STATUS_FAN_OUT)
            .collect::<Vec<_>>();
        let capacities = stream::iter(defs.iter().copied())
            .map(|d| async move {
                self.read_capacity(d)
                    .await
                    .map(|r| r.map_err(|e| e.to_string()))
            })
            .buffered(STATUS_FAN_OUT)
            .collect::<Vec<_>>();
        let lags = async { tokio::join!(lags, capacities) };
        let (
            states,
            (checks, _),
            secondary_health,
            alarms,
            values,
            probes,
            histories,
            (lags, capacities),
        ) = tokio::join!(
            self.store.load_states(&names),
            self.list_check_pages_within(None),
            secondary_health,
            self.read_alarms(alarm_arns),
            self.read_switch_values(defs, now),
            self.read_probes(defs),
            histories,
            lags
        );
        let mut states = states.map_err(EngineError::Store)?;
        let secondary_health: Result<HashMap<String, Vec<Datapoint>>, AwsError> = secondary_health;
        let probes: HashMap<String, ProbeHealth> = probes
            .into_iter()
            .map(|p| (p.health_check_id.clone(), p))
            .collect();
        let mut out = Vec::with_capacity(defs.len());
        for (((def, history), replica_lag), capacity) in
            defs.iter().zip(histories).zip(lags).zip(capacities)
        {
            let history = history.map_err(EngineError::Store)?;
            // Left out of the batch (an unreadable item): read alone, so the error names it
            // rather than showing the initial state.
            let state = match states.remove(&def.name) {
                Some(state) => state,
                None => self
                    .store
                    .load_state(&def.name)
                    .await
                    .map_err(EngineError::Store)?,
            };
            let primary = &def.primary.health_check_id;
            let health_check = match (checks.checks.get(primary), &checks.error) {
                (Some(h), _) => HealthCheckStatus::Read {
                    disabled: h.settings.disabled,
                    inverted: h.settings.inverted,
                    version: h.version,
                },
                (None, Some(e)) => HealthCheckStatus::Unreadable { error: e.clone() },
                (None, None) => HealthCheckStatus::Unreadable {
                    error: CHECK_NOT_LISTED.into(),
                },
            };
            let readings = PreflightReadings {
                // Read from the metric below, not with GetHealthCheckStatus.
                secondary_health: None,
                secondary_alarm: def
                    .preflight
                    .secondary_alarm_arn
                    .as_ref()
                    .map(|arn| alarms.get(arn)),
                replica_lag,
                capacity,
            };
            let mut preflight = preflight_checks(def, &readings);
            let secondary_name =
                format!("secondary health check {}", def.secondary.health_check_id);
            for check in preflight.iter_mut().filter(|c| c.name == secondary_name) {
                *check = secondary_check(def, &secondary_health, now);
            }
            let alarm = def
                .switch
                .alarm_arn
                .as_ref()
                .filter(|_| def.switch.uses_metric())
                .map(|arn| alarms.get(arn));
            let value = values.get(&def.name).cloned();
            let probe = def
                .primary
                .probe_health_check_id
                .as_ref()
                .and_then(|id| probes.get(id).cloned());
            let parts = Parts {
                switch: switch_status(def, &state, alarm, value),
                state,
                history,
                health_check,
                preflight,
                probe,
            };
            out.push(build(def, parts, catalog, now));
        }
        Ok(out)
    }

    /// The switch metric's latest value of every `metric`/`both` service, one read per
    /// region (500 series a call), by service.
    async fn read_switch_values(
        &self,
        defs: &[&ServiceDefinition],
        now: Millis,
    ) -> HashMap<String, Result<Option<Datapoint>, String>> {
        let mut by_region: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for def in defs.iter().filter(|d| d.switch.uses_metric()) {
            if let Some(region) = def.switch.metric_region() {
                by_region.entry(region).or_default().push(def.name.clone());
            }
        }
        let results = join_all(by_region.iter().map(|(region, names)| async move {
            (names, self.alarms.switch_values(region, names, now).await)
        }))
        .await;
        let mut out = HashMap::new();
        for (names, result) in results {
            match result {
                Ok(mut values) => {
                    for name in names {
                        out.insert(name.clone(), Ok(values.remove(name)));
                    }
                }
                Err(e) => {
                    for name in names {
                        out.insert(name.clone(), Err(e.to_string()));
                    }
                }
            }
        }
        out
    }
}

/// The secondary's health check from Route 53's HealthCheckStatus metric.
fn secondary_check(
    def: &ServiceDefinition,
    points: &Result<HashMap<String, Vec<Datapoint>>, AwsError>,
    now: Millis,
) -> PreflightCheck {
    let id = &def.secondary.health_check_id;
    let name = format!("secondary health check {id}");
    match points {
        Ok(points) => {
            let series: Vec<(Millis, f64)> = points
                .get(id)
                .map(|p| p.iter().map(|d| (d.at, d.value)).collect())
                .unwrap_or_default();
            let health = probe_health(id, &series, now);
            // No recent datapoint is unknown, not unhealthy: counted as the readiness
            // evaluation and the metric-mode gate count it.
            let unknown = if health.healthy.is_none() {
                "; unknown, not counted"
            } else {
                ""
            };
            PreflightCheck {
                name,
                ok: health.healthy != Some(false),
                detail: format!(
                    "{} (Route 53's HealthCheckStatus metric{unknown})",
                    health.detail
                ),
            }
        }
        Err(e) => PreflightCheck {
            name,
            ok: false,
            detail: format!("could not be read: {e}"),
        },
    }
}

/// The switch as read: `alarm` and `value` are `None` when not read (health_check mode).
fn switch_status(
    def: &ServiceDefinition,
    state: &ServiceState,
    alarm: Option<Result<Option<ObservedState>, String>>,
    value: Option<Result<Option<Datapoint>, String>>,
) -> SwitchStatus {
    let mut s = SwitchStatus {
        mode: def.switch.mode,
        alarm_arn: def.switch.alarm_arn.clone(),
        alarm_state: None,
        alarm_detail: None,
        decided_value: None,
        metric_value: None,
        metric_at: None,
        metric_detail: None,
    };
    if !def.switch.uses_metric() {
        return s;
    }
    s.decided_value = decided_value(state);
    match alarm {
        Some(Ok(Some(state))) => s.alarm_state = Some(state),
        Some(Ok(None)) => s.alarm_detail = Some("the switch alarm does not exist".into()),
        Some(Err(e)) => s.alarm_detail = Some(format!("could not be read: {e}")),
        None => s.alarm_detail = Some("not read".into()),
    }
    match value {
        Some(Ok(Some(p))) => {
            s.metric_value = Some(p.value);
            s.metric_at = Some(fmt_time(p.at));
        }
        Some(Ok(None)) => s.metric_detail = Some("no recent datapoint".into()),
        Some(Err(e)) => s.metric_detail = Some(format!("could not be read: {e}")),
        None => s.metric_detail = Some("not read".into()),
    }
    s
}

fn build(
    def: &ServiceDefinition,
    parts: Parts,
    catalog: Option<&Catalog>,
    now: Millis,
) -> ServiceStatus {
    let Parts {
        state,
        history,
        health_check,
        preflight,
        switch,
        probe,
    } = parts;
    let recovery = super::recovery::recovery_status(def, &state, now);
    let workflow = super::workflow_view::workflow_status(def, &state);
    let readiness = state.readiness.as_ref().map(|r| ReadinessStatus {
        ready: r.ready,
        since: fmt_time(r.since),
        age: crate::domain::time::fmt_duration_ms(now - r.since),
        failing: r.failing.clone(),
        last_evaluated_at: fmt_time(
            crate::domain::readiness::last_slot(def, now).max(r.checked_at),
        ),
        interval_seconds: def.readiness_interval_seconds,
    });
    let votes = state
        .votes
        .iter()
        .map(|(observer, v)| {
            let vote = VoteStatus {
                state: v.state,
                at: fmt_time(v.at),
                reason: v.reason.clone(),
            };
            (observer.clone(), vote)
        })
        .collect();
    let paused = state
        .pause
        .as_ref()
        .filter(|p| p.active_at(now))
        .map(|p| PauseStatus {
            reason: p.reason.clone(),
            requested_by: p.requested_by.clone(),
            since: fmt_time(p.since),
            until: p.until.map(fmt_time),
        });
    ServiceStatus {
        service: def.name.clone(),
        phase: state.phase,
        epoch: state.epoch,
        primary: PrimaryStatus {
            region: def.primary.region.clone(),
            health_check_id: def.primary.health_check_id.clone(),
            health_check,
        },
        secondary: EndpointStatus {
            region: def.secondary.region.clone(),
            health_check_id: def.secondary.health_check_id.clone(),
        },
        live_votes: live_votes(def, &state, now),
        quorum: def.quorum,
        observers: u32::try_from(def.observers.len()).unwrap_or(u32::MAX),
        votes,
        preflight,
        paused,
        cooldown_remaining_seconds: cooldown_remaining(def, &state, now).map_or(0, |ms| ms / 1000),
        execution: state.execution,
        history,
        catalog: catalog.and_then(|c| c.refusal(&def.name)).and_then(|r| {
            Some(CatalogStatus::LastGood {
                since: fmt_time(r.since),
                field: r.error.field.clone(),
                error: r.error.message.clone(),
                definition_since: fmt_time(r.last_good_since?),
            })
        }),
        switch: Some(switch),
        primary_probe: probe,
        workflow,
        readiness,
        recovery,
    }
}
