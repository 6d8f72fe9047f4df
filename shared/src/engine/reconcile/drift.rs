//! The reconciler's check of Route 53 against the decision. A drift is reported once; with
//! `enforce` the decision is re-applied, but only over the decision this run read: the
//! state's version is re-read just before (a failover or failback that landed since the
//! run read the state is never reverted) and the check's version is sent with the update
//! (a switch after that read wins). Never while the service is paused. Every re-apply is
//! audited, also when the state write after it conflicts.

use std::time::Duration;

use tracing::{error, info, warn};

use super::switch_metric::is_switch_drift;
use crate::domain::alert::drift_alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{Drift, HealthCheckSettings, Phase, ServiceState};
use crate::domain::time::fmt_time;
use crate::engine::outbox;
use crate::engine::{Engine, EngineError};
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthCheckConfig, HealthChecks, Notifier,
    Runbook, UpdateError,
};

/// Port calls for one drift audit record (the SDK retries each call itself).
const AUDIT_ATTEMPTS: u32 = 3;
/// The pause before the second attempt, doubled before each later one.
const AUDIT_BACKOFF_MS: u64 = 200;

/// What `enforce` did about a drift.
enum Reapply {
    /// `enforce` is off: reported, not changed.
    Off,
    /// `enforce` is on but the service is paused: reported, not changed.
    Paused(String),
    /// The check was set to `target` (`applied`), or the attempt failed and the next run
    /// tries again; `result` says which.
    Attempted {
        target: HealthCheckSettings,
        applied: bool,
        result: String,
    },
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
    /// Compares the primary's check `hc` (read after `state`: from this run's
    /// ListHealthChecks pages, or its own GetHealthCheck) with what the phase says. A new
    /// drift is alerted once (and, with `enforce` and no pause, re-applied); a resolved one
    /// is cleared. Returns (a new drift reported, the decision re-applied).
    pub(super) async fn verify(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        hc: HealthCheckConfig,
    ) -> Result<(bool, bool), EngineError> {
        let should_be_forced = state.phase == Phase::FailedOver;
        if hc.settings.forces_unhealthy() == should_be_forced {
            self.clear_drift(def, state).await?;
            return Ok((false, false));
        }
        let now = self.clock.now();
        let expected = if should_be_forced {
            format!(
                "forced unhealthy ({})",
                HealthCheckSettings::FORCED_UNHEALTHY
            )
        } else {
            "not forced unhealthy".to_string()
        };
        let found = format!("{} (version {})", hc.settings, hc.version);
        let drift = Drift {
            detected_at: now,
            phase: state.phase,
            expected: expected.clone(),
            found: found.clone(),
        };
        let new_drift = state
            .drift
            .as_ref()
            .is_none_or(|d| d.phase != drift.phase || d.found != drift.found);
        let paused = state.pause.as_ref().filter(|p| p.active_at(now));
        let reapply = match (def.enforce, paused) {
            (false, _) => Reapply::Off,
            (true, Some(p)) => Reapply::Paused(format!(
                "paused by {} until {} ({})",
                p.requested_by,
                p.until.map_or("resumed by hand".into(), fmt_time),
                p.reason
            )),
            (true, None) => match self.reapply(def, state, hc, should_be_forced).await? {
                Some(r) => r,
                None => return Ok((false, false)),
            },
        };
        let attempted = matches!(reapply, Reapply::Attempted { .. });
        if !new_drift && !attempted {
            return Ok((false, false));
        }
        warn!(service = %def.name, expected = %expected, found = %found, "drift between the decision and Route 53");
        let read_version = state.version;
        let (record, alert_note, applied) = match &reapply {
            Reapply::Off => (
                self.record(
                    state.epoch,
                    "drift",
                    format!("expected {expected}, found {found}"),
                    "enforce=false: reported, not changed".into(),
                ),
                None,
                false,
            ),
            Reapply::Paused(pause) => (
                self.record(
                    state.epoch,
                    "drift",
                    format!("expected {expected}, found {found}"),
                    format!("enforce=true, but the service is {pause}: reported, not re-applied"),
                ),
                Some(format!(
                    "not now: the service is {pause}; the first reconciler run after the pause re-applies it"
                )),
                false,
            ),
            Reapply::Attempted {
                target,
                applied,
                result,
            } => (
                self.record(
                    state.epoch,
                    "enforce",
                    format!(
                        "found {found}; {} {target} to primary health check {}",
                        if *applied {
                            "re-applied"
                        } else {
                            "could not re-apply"
                        },
                        def.primary.health_check_id
                    ),
                    format!(
                        "enforce=true: {} (epoch {}, state version {}) expects {expected}; {result}",
                        drift.phase, state.epoch, read_version
                    ),
                ),
                Some(result.clone()),
                *applied,
            ),
        };
        let alert = drift_alert(def, state.epoch, &drift, alert_note.as_deref());
        let mut next = state.clone();
        next.version += 1;
        next.drift = Some(drift.clone());
        if new_drift {
            // Recorded as due with the drift itself: stored, its alert cannot be lost.
            outbox::enqueue(
                &mut next,
                format!("drift#{}#{}", state.epoch, drift.detected_at),
                &alert,
                None,
                now,
            );
        }
        let stored = match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Written => {
                *state = next;
                true
            }
            // Someone else acted; the next run looks again. A re-apply already made is
            // still audited and alerted below: it changed Route 53.
            ControlWrite::Conflict(_) if !attempted => return Ok((false, false)),
            ControlWrite::Conflict(_) => {
                warn!(service = %def.name, "the state changed after the re-apply; audited, the next run verifies again");
                false
            }
        };
        // Recorded before the alert: what was changed must not depend on SNS.
        self.audit_drift(def, &record).await;
        if stored {
            // A refused Publish leaves it due: the next run sends it.
            if let Err(e) = self.send_due(def, state).await {
                warn!(service = %def.name, error = %e, "the drift alert is due; the next run sends it");
            }
        } else if new_drift {
            // The drift was not stored (a re-apply raced another write): the next run
            // finds it again if it stays, so this alert is sent directly, once.
            self.notifier
                .publish(&alert)
                .await
                .map_err(EngineError::Store)?;
        }
        Ok((new_drift, applied))
    }

    /// Sets the primary's check back to what the decision says, if the decision is still
    /// the one this run read. `None`: it moved on (the state has a new version, or the
    /// check changed since it was read): nothing done, the next run looks again.
    async fn reapply(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hc: HealthCheckConfig,
        should_be_forced: bool,
    ) -> Result<Option<Reapply>, EngineError> {
        // Read after the check: a transition claims before it switches, so a switch that
        // this run's read of the check saw has already moved the state's version.
        let current = self
            .store
            .load_state(&def.name)
            .await
            .map_err(EngineError::Store)?;
        if current.version != state.version {
            info!(service = %def.name, read = state.version, now = current.version, phase = %current.phase, "the decision moved on since this run read it; not re-applied");
            return Ok(None);
        }
        let target = if should_be_forced {
            HealthCheckSettings::FORCED_UNHEALTHY
        } else {
            // Un-force: back to what the check had before the last failover.
            state
                .execution
                .as_ref()
                .and_then(|e| e.prior)
                .filter(|p| !p.forces_unhealthy())
                .unwrap_or(HealthCheckSettings {
                    disabled: false,
                    inverted: false,
                })
        };
        let id = &def.primary.health_check_id;
        let (applied, result) = match self.health.update(id, hc.version, target).await {
            Ok(after) if after.settings == target => {
                (true, format!("set to {target} (version {})", after.version))
            }
            Ok(after) => (
                false,
                format!("update returned {} instead of {target}", after.settings),
            ),
            Err(UpdateError::VersionMismatch { sent }) => {
                info!(service = %def.name, health_check = %id, sent, "the check changed since this run read it; not re-applied");
                return Ok(None);
            }
            Err(UpdateError::Aws(e)) => (false, format!("failed: {e}")),
        };
        Ok(Some(Reapply::Attempted {
            target,
            applied,
            result,
        }))
    }

    /// Route 53 matches the decision again: the stored drift is cleared (a switch alarm's
    /// drift is `switch_metric`'s to clear).
    async fn clear_drift(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
    ) -> Result<(), EngineError> {
        if state.drift.as_ref().is_none_or(is_switch_drift) {
            return Ok(());
        }
        let mut next = state.clone();
        next.version += 1;
        next.drift = None;
        if let ControlWrite::Written = self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            let record = self.record(
                state.epoch,
                "reconcile",
                "drift resolved".into(),
                "Route 53 matches the decision again".into(),
            );
            self.audit_drift(def, &record).await;
            *state = next;
        }
        Ok(())
    }

    /// Writes a drift record, retried (the same record, so a rewrite keeps one item). One
    /// that never lands is logged and counted (`AuditWriteFailures`) but fails nothing:
    /// the re-apply it records has happened, and its alert still goes out.
    pub(super) async fn audit_drift(&self, def: &ServiceDefinition, record: &HistoryRecord) {
        let mut backoff = AUDIT_BACKOFF_MS;
        for attempt in 1..=AUDIT_ATTEMPTS {
            match self.store.append_history(&def.name, record).await {
                Ok(()) => return,
                Err(e) if attempt < AUDIT_ATTEMPTS => {
                    warn!(service = %def.name, attempt, error = %e, "drift audit record refused; retrying");
                    tokio::time::sleep(Duration::from_millis(backoff)).await;
                    backoff *= 2;
                }
                Err(e) => {
                    error!(service = %def.name, attempt, error = %e, what = %record.what, "drift audit record not written");
                    self.emit(
                        Some(&def.name),
                        self.clock.now(),
                        &[("AuditWriteFailures", 1.0, Unit::Count)],
                        &[],
                    );
                }
            }
        }
    }
}
