//! Continuous failover readiness (`domain::readiness`), in the reconciler's run: the
//! services whose slot fell since the last run are read in bulk (the secondaries' health
//! from Route 53's `HealthCheckStatus` metric, 500 a GetMetricData call, no Route 53 API
//! call; their readiness alarms in the run's DescribeAlarms; replica lag and capacity per
//! service), evaluated with the pre-flight's own checks, and a change is written with its
//! `readiness` page due (the outbox). An evaluation with a read that got no answer is left
//! for the next slot: a throttled read is not a secondary that stopped being ready.

use std::collections::{HashMap, HashSet};

use futures::stream::{self, StreamExt};
use tracing::{info, warn};

use crate::domain::alert::readiness_alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{preflight_checks, HealthReading, PreflightReadings};
use crate::domain::probe::PROBE_STALE_MS;
use crate::domain::readiness::{evaluate, ReadinessChange};
use crate::domain::state::ServiceState;
use crate::domain::time::Millis;
use crate::engine::outbox;
use crate::engine::standing::AlarmReadings;
use crate::engine::{Engine, EngineError};
use crate::metrics::Unit;
use crate::ports::{
    AwsError, Clock, CloudWatch, ControlStore, ControlWrite, Datapoint, ErrorKind, HealthChecks,
    Notifier, Runbook, MAX_SERIES_PER_READ,
};

/// How far back the secondaries' HealthCheckStatus is read.
const HEALTH_LOOKBACK_MS: Millis = 5 * 60_000;
/// Per-service reads (replica lag, capacity) at once.
const READ_FAN_OUT: usize = 8;

/// What a run read for the services whose readiness is due.
#[derive(Debug, Default)]
pub(in crate::engine) struct ReadinessReads {
    /// The services evaluated this run.
    pub due: HashSet<String>,
    /// HealthCheckStatus by secondary health check id; `Err` when the read failed.
    health: HashMap<String, Vec<Datapoint>>,
    health_error: Option<AwsError>,
    /// By service.
    lags: HashMap<String, Result<Option<f64>, AwsError>>,
    capacity: HashMap<String, Result<Option<i32>, AwsError>>,
    /// GetMetricData calls for the health reads.
    pub health_calls: usize,
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
    /// The bulk reads for the `due` services (their readiness alarms are read with the
    /// run's other alarms).
    pub(super) async fn read_readiness_inputs(
        &self,
        due: &[&ServiceDefinition],
        now: Millis,
    ) -> ReadinessReads {
        let mut reads = ReadinessReads {
            due: due.iter().map(|d| d.name.clone()).collect(),
            ..Default::default()
        };
        if due.is_empty() {
            return reads;
        }
        let ids: Vec<String> = due
            .iter()
            .filter(|d| d.preflight.secondary_health_check)
            .map(|d| d.secondary.health_check_id.clone())
            .collect();
        let health = async {
            if ids.is_empty() {
                return (Ok(HashMap::new()), 0);
            }
            let calls = ids.len().div_ceil(MAX_SERIES_PER_READ);
            (
                self.alarms
                    .health_statuses(&ids, now - HEALTH_LOOKBACK_MS, now)
                    .await,
                calls,
            )
        };
        let per_service = stream::iter(due.iter().copied())
            .map(|d| async move {
                let lag = match d.preflight.replica_lag.as_ref() {
                    Some(spec) => Some(
                        self.alarms
                            .replica_lag(spec, now)
                            .await
                            .map(|v| v.map(|v| spec.to_seconds(v))),
                    ),
                    None => None,
                };
                (d.name.clone(), lag, self.read_capacity(d).await)
            })
            .buffer_unordered(READ_FAN_OUT)
            .collect::<Vec<_>>();
        let ((health, calls), per_service) = tokio::join!(health, per_service);
        reads.health_calls = calls;
        match health {
            Ok(h) => reads.health = h,
            Err(e) => reads.health_error = Some(e),
        }
        for (name, lag, capacity) in per_service {
            if let Some(l) = lag {
                reads.lags.insert(name.clone(), l);
            }
            if let Some(c) = capacity {
                reads.capacity.insert(name, c);
            }
        }
        reads
    }

    /// Evaluates `def`'s readiness from the run's reads and writes a change (or the first
    /// evaluation) with its page due. `true` when a page was recorded.
    pub(super) async fn watch_readiness(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        reads: &ReadinessReads,
        alarms: &AlarmReadings,
    ) -> Result<bool, EngineError> {
        if !reads.due.contains(&def.name) {
            return Ok(false);
        }
        let now = self.clock.now();
        let mut unanswered = Vec::new();
        let mut keep = |what: &str, r: Option<&Result<Option<f64>, AwsError>>| {
            r.map(|r| match r {
                Ok(v) => Ok(*v),
                Err(e) => {
                    if e.kind == ErrorKind::Unavailable {
                        unanswered.push(format!("{what}: {e}"));
                    }
                    Err(e.to_string())
                }
            })
        };
        let replica_lag = keep("replica lag", reads.lags.get(&def.name));
        let capacity = reads.capacity.get(&def.name).map(|r| match r {
            Ok(v) => Ok(*v),
            Err(e) => {
                if e.kind == ErrorKind::Unavailable {
                    unanswered.push(format!("capacity: {e}"));
                }
                Err(e.to_string())
            }
        });
        let secondary_alarm = def.preflight.secondary_alarm_arn.as_ref().map(|arn| {
            let r = alarms.get(arn);
            if let Err(e) = &r {
                unanswered.push(format!("secondary alarm: {e}"));
            }
            r
        });
        // The health check: from its metric; no recent datapoint is "unknown", not a failure.
        let mut health_unknown = None;
        let secondary_health = if def.preflight.secondary_health_check {
            let id = &def.secondary.health_check_id;
            match (
                &reads.health_error,
                reads.health.get(id).and_then(|v| v.last()),
            ) {
                (Some(e), _) if e.kind == ErrorKind::Unavailable => {
                    unanswered.push(format!("HealthCheckStatus: {e}"));
                    None
                }
                (Some(e), _) => Some(Err(e.to_string())),
                (None, Some(p)) if now - p.at <= PROBE_STALE_MS => Some(Ok(HealthReading {
                    healthy_checkers: u32::from(p.value >= 1.0),
                    checkers: 1,
                })),
                (None, _) => {
                    health_unknown = Some(format!(
                        "no recent HealthCheckStatus datapoint for {id}: not counted"
                    ));
                    None
                }
            }
        } else {
            None
        };
        if !unanswered.is_empty() {
            info!(service = %def.name, unanswered = ?unanswered, "readiness not evaluated: a read got no answer; the next slot tries again");
            return Ok(false);
        }
        let readings = PreflightReadings {
            secondary_health,
            secondary_alarm,
            replica_lag,
            capacity,
        };
        let mut checks = preflight_checks(def, &readings);
        if let Some(why) = health_unknown {
            let name = format!("secondary health check {}", def.secondary.health_check_id);
            if let Some(c) = checks.iter_mut().find(|c| c.name == name) {
                c.ok = true;
                c.detail = why;
            }
        }
        let (record, change) = evaluate(state.readiness.as_ref(), &checks, now);
        self.emit(
            Some(&def.name),
            now,
            &[(
                "ReadinessNotReady",
                if record.ready { 0.0 } else { 1.0 },
                Unit::Count,
            )],
            &[],
        );
        // A steady service writes nothing: only the first evaluation and a change do.
        if state.readiness.is_some() && change == ReadinessChange::Unchanged {
            return Ok(false);
        }
        let mut next = state.clone();
        next.version += 1;
        next.readiness = Some(record.clone());
        let paged = change != ReadinessChange::Unchanged;
        if paged {
            let what = if record.ready {
                "ready for failover again".to_string()
            } else {
                format!("not ready for failover: {}", record.failing.join("; "))
            };
            let audit = self.record(state.epoch, "readiness", what, String::new());
            outbox::enqueue(
                &mut next,
                format!("readiness#{}#{}", record.ready, record.since),
                &readiness_alert(def, &record, state.epoch),
                Some(audit),
                now,
            );
        }
        match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Written => {
                *state = next;
                if paged {
                    if let Err(e) = self.send_due(def, state).await {
                        warn!(service = %def.name, error = %e, "the readiness page is due; the next run sends it");
                    }
                }
                Ok(paged)
            }
            // Another writer first: the next slot evaluates again.
            ControlWrite::Conflict(_) => Ok(false),
        }
    }
}
