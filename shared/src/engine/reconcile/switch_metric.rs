//! The switch metric, every run (`metric` and `both` services): each service's decided
//! value republished (one PutMetricData call per region for all its services, so the
//! stream never goes silent: republishing is the metric's re-apply, no `enforce` needed),
//! the switch alarm compared with the decision (a drift is reported once, through the
//! outbox, and cleared when the alarm agrees again), and in `both` mode the mechanism
//! that did not land with the transition completed.
//!
//! The state item keeps one drift: a switch-alarm drift is told apart by its `expected`
//! ([`is_switch_drift`]). In `both` mode a health-check drift takes the slot first; the
//! switch alarm's is reported once that one has cleared.

use std::collections::BTreeMap;

use futures::future::join_all;
use tracing::{debug, error, info, warn};

use crate::domain::alert::switch_drift_alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{Drift, Phase, ServiceState, TransitionKind};
use crate::domain::switch::{
    decided_value, switch_alarm_drift, SwitchMode, SWITCH_METRIC, SWITCH_NAMESPACE,
};
use crate::domain::time::Millis;
use crate::engine::outbox;
use crate::engine::standing::AlarmReadings;
use crate::engine::{Engine, EngineError};
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

/// How a switch-alarm drift's `expected` begins (`domain::switch::switch_alarm_drift`).
const SWITCH_DRIFT_PREFIX: &str = "switch alarm";

/// Whether a stored drift is the switch alarm's (not the primary health check's).
pub(crate) fn is_switch_drift(d: &Drift) -> bool {
    d.expected.starts_with(SWITCH_DRIFT_PREFIX)
}

/// What republishing did this run.
#[derive(Debug, Default)]
pub(super) struct Republished {
    /// Values PutMetricData accepted.
    pub values: usize,
    /// PutMetricData calls made (one per region).
    pub calls: usize,
    pub errors: Vec<String>,
}

/// `both` mode: the transition landed by the metric alone; the health check is still to be
/// switched (a failover's forced check, or a failback's restored one).
pub(super) fn check_mechanism_pending(def: &ServiceDefinition, state: &ServiceState) -> bool {
    if def.switch.mode != SwitchMode::Both {
        return false;
    }
    let Some(exec) = state.execution.as_ref() else {
        return false;
    };
    let settled = matches!(
        (state.phase, exec.kind),
        (Phase::FailedOver, TransitionKind::Failover)
            | (Phase::PrimaryActive, TransitionKind::Failback)
    );
    settled
        && exec.completed_at.is_some()
        && exec.check_switched_at.is_none()
        && exec.metric_switched_at.is_some()
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
    /// Publishes the decided value of every metric service in `states` (none while a
    /// failover's switch has not landed), one call per region, timestamped `read_at`: a
    /// time before the states were read, so a value that a transition made stale since
    /// lands in a period before that transition's own datapoint, never after it.
    pub(super) async fn republish_switch_values(
        &self,
        states: &[(&ServiceDefinition, &ServiceState)],
        read_at: Millis,
    ) -> Republished {
        let mut by_region: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
        for (def, state) in states {
            if !def.switch.uses_metric() {
                continue;
            }
            let (Some(region), Some(value)) = (def.switch.metric_region(), decided_value(state))
            else {
                continue;
            };
            by_region
                .entry(region)
                .or_default()
                .push((def.name.clone(), value));
        }
        let results = join_all(by_region.iter().map(|(region, values)| async move {
            (
                *region,
                values.len(),
                self.alarms.put_switch_values(region, values, read_at).await,
            )
        }))
        .await;
        let mut out = Republished::default();
        for (region, n, result) in results {
            out.calls += 1;
            match result {
                Ok(()) => out.values += n,
                Err(e) => {
                    error!(region = %region, services = n, error = %e, "the switch metric could not be republished; the next run publishes it again");
                    out.errors.push(format!(
                        "republishing {SWITCH_NAMESPACE}/{SWITCH_METRIC} for {n} services in {region}: {e}"
                    ));
                }
            }
        }
        out
    }

    /// `both` mode: lands the mechanism that did not land with the transition. Returns the
    /// state to go on with and whether it landed now.
    pub(super) async fn complete_pending_switch(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
    ) -> Result<(ServiceState, bool), EngineError> {
        info!(service = %def.name, phase = %state.phase, "both mode: the health check did not land with the transition; completing it");
        self.complete_switch(def, state).await
    }

    /// Compares the switch alarm with the decision. A new drift is recorded with its alert
    /// and audit record as due (the outbox) and sent; a resolved one is cleared. Returns
    /// whether a new drift was reported.
    pub(super) async fn check_switch_alarm(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        readings: &AlarmReadings,
    ) -> Result<bool, EngineError> {
        let Some(arn) = def.switch.alarm_arn.as_deref() else {
            return Ok(false);
        };
        let alarm = match readings.get(arn) {
            Ok(alarm) => alarm,
            Err(why) => {
                debug!(service = %def.name, alarm = %arn, %why, "the switch alarm was not read this run; not checked");
                return Ok(false);
            }
        };
        let now = self.clock.now();
        let stored = state.drift.clone();
        let Some((expected, found)) = switch_alarm_drift(state, alarm, now) else {
            if stored.as_ref().is_some_and(is_switch_drift) {
                self.clear_switch_drift(def, state).await?;
            }
            return Ok(false);
        };
        match &stored {
            // The health check's drift has the slot (both mode): this one waits for it.
            Some(d) if !is_switch_drift(d) => {
                debug!(service = %def.name, "a health-check drift is reported; the switch alarm's waits until it clears");
                return Ok(false);
            }
            Some(d) if d.phase == state.phase && d.found == found => return Ok(false),
            _ => {}
        }
        warn!(service = %def.name, %expected, %found, "drift between the decision and the switch alarm");
        let drift = Drift {
            detected_at: now,
            phase: state.phase,
            expected,
            found,
        };
        let value = decided_value(state).unwrap_or_default();
        let record = self.record(
            state.epoch,
            "drift",
            format!("expected {}, found {}", drift.expected, drift.found),
            format!("the reconciler republishes {SWITCH_NAMESPACE}/{SWITCH_METRIC}={value} every run; reported, the alarm is not changed"),
        );
        let mut next = state.clone();
        next.version += 1;
        next.drift = Some(drift.clone());
        outbox::enqueue(
            &mut next,
            format!("switch-drift#{}#{}", state.epoch, drift.detected_at),
            &switch_drift_alert(def, state.epoch, &drift, arn),
            Some(record),
            now,
        );
        match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Written => *state = next,
            // Someone else acted; the next run looks again.
            ControlWrite::Conflict(_) => return Ok(false),
        }
        if let Err(e) = self.send_due(def, state).await {
            warn!(service = %def.name, error = %e, "the switch drift alert is due; the next run sends it");
        }
        Ok(true)
    }

    /// The switch alarm agrees with the decision again: its stored drift is cleared.
    async fn clear_switch_drift(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
    ) -> Result<(), EngineError> {
        let mut next = state.clone();
        next.version += 1;
        next.drift = None;
        if let ControlWrite::Written = self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            info!(service = %def.name, "the switch alarm agrees with the decision again");
            let record = self.record(
                state.epoch,
                "reconcile",
                "switch alarm drift resolved".into(),
                "the switch alarm matches the decision again".into(),
            );
            self.audit_drift(def, &record).await;
            *state = next;
        }
        Ok(())
    }
}
