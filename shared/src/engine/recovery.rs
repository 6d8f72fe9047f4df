//! Recovery confirmed and measured, over the ports (the decisions are `domain::recovery`).
//!
//! - The alarm path: an OK vote's write already returns the state; the pure check decides
//!   there, and only the event that completes the recovery writes (one conditional write
//!   recording the recovery with its `[RECOVERED]` alert due, then the outbox sends it).
//! - The reconciler: the observers without an OK event after the switch are read with the
//!   standing votes' DescribeAlarms (`standing`), which finds an OK whose event was lost,
//!   and the timeout pages `[NOT RECOVERED]` once, through the outbox too.
//!
//! Both writes are guarded by the state's version, and the alerts' outbox ids are per
//! epoch, so none is sent twice; a new epoch replaces the execution and ends the watch.

use tracing::{info, warn};

use super::outbox;
use super::{Engine, EngineError};
use crate::api::operator_response::RecoveryStatus;
use crate::domain::alert::{not_recovered_alert, recovered_alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::event::ObservedState;
use crate::domain::recovery::{
    self, rto_text, with_not_recovered, with_recovery, Reads, Recovery, RecoveryCheck,
};
use crate::domain::state::ServiceState;
use crate::domain::time::{fmt_time, Millis};
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

/// Attempts at the recovery write when other writers move the state's version.
const ATTEMPTS: u32 = 3;

/// What watching the recovery did.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RecoveryAct {
    Nothing,
    /// Recorded (and its alert due, sent unless SNS refused it).
    Recovered(Recovery),
    /// `[NOT RECOVERED]` recorded and due.
    NotRecovered,
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
    /// The alarm path, after an OK vote's write returned `state`: records the recovery
    /// when this vote completes it. Any other event costs no call.
    pub(super) async fn recovery_on_vote(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        observed: ObservedState,
    ) -> Result<Option<Recovery>, EngineError> {
        if observed != ObservedState::Ok {
            return Ok(None);
        }
        let now = self.clock.now();
        if !matches!(
            recovery::check(def, state, &Reads::none(), now),
            RecoveryCheck::Recovered(_)
        ) {
            return Ok(None);
        }
        Ok(
            match self
                .watch_recovery(def, state, &Reads::none(), false)
                .await?
            {
                RecoveryAct::Recovered(r) => Some(r),
                _ => None,
            },
        )
    }

    /// Checks the watch over `state` (with what the reconciler read, if anything) and
    /// records what it finds: the recovery, or with `may_page` the timeout's page. One
    /// version-guarded write with the alert due in it, then the outbox sends it; a write
    /// that lost to another is checked again on the state it returned.
    pub(super) async fn watch_recovery(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        reads: &Reads<'_>,
        may_page: bool,
    ) -> Result<RecoveryAct, EngineError> {
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let Some(exec) = state.execution.clone() else {
                return Ok(RecoveryAct::Nothing);
            };
            let (mut next, act) = match recovery::check(def, state, reads, now) {
                RecoveryCheck::Recovered(rec) => {
                    let next = with_recovery(state, rec.clone());
                    let exec = next.execution.clone().unwrap_or(exec);
                    let alert = recovered_alert(def, &exec, &rec);
                    let record = self.record(
                        exec.epoch,
                        "recovery",
                        format!(
                            "recovered: every observer OK again; measured RTO {}",
                            rto_text(&rec)
                        ),
                        recovery::timeline(&exec, &rec)
                            .iter()
                            .map(|(what, at)| format!("{what} {}", fmt_time(*at)))
                            .collect::<Vec<_>>()
                            .join(" -> "),
                    );
                    let mut next = next;
                    outbox::enqueue(
                        &mut next,
                        format!("recovered#{}", exec.epoch),
                        &alert,
                        Some(record),
                        now,
                    );
                    (next, RecoveryAct::Recovered(rec))
                }
                RecoveryCheck::Waiting {
                    failing,
                    deadline,
                    page: true,
                } if may_page => {
                    let mut next = with_not_recovered(state, failing.clone(), now);
                    let record = self.record(
                        exec.epoch,
                        "not_recovered",
                        format!(
                            "not recovered: {} of {} observers still failing {}s after the switch",
                            failing.len(),
                            def.observers.len(),
                            def.recovery_timeout_seconds
                        ),
                        failing.join("; "),
                    );
                    outbox::enqueue(
                        &mut next,
                        format!("not_recovered#{}", exec.epoch),
                        &not_recovered_alert(def, &exec, &failing, deadline),
                        Some(record),
                        now,
                    );
                    (next, RecoveryAct::NotRecovered)
                }
                _ => return Ok(RecoveryAct::Nothing),
            };
            match self
                .store
                .write_control(&def.name, state.version, &next)
                .await
                .map_err(EngineError::Store)?
            {
                ControlWrite::Written => {
                    self.recorded(def, &act, now);
                    if let Err(e) = self.send_due(def, &mut next).await {
                        warn!(service = %def.name, error = %e, "the recovery alert is due; the next reconciler run sends it");
                    }
                    *state = next;
                    return Ok(act);
                }
                ControlWrite::Conflict(Some(current)) => *state = *current,
                ControlWrite::Conflict(None) => {
                    *state = self
                        .store
                        .load_state(&def.name)
                        .await
                        .map_err(EngineError::Store)?;
                }
            }
        }
        info!(service = %def.name, "the state kept changing; the recovery is checked again by the next event or run");
        Ok(RecoveryAct::Nothing)
    }

    fn recorded(&self, def: &ServiceDefinition, act: &RecoveryAct, now: Millis) {
        match act {
            RecoveryAct::Recovered(rec) => {
                info!(service = %def.name, rto_ms = ?rec.rto_ms, recovered_at = ?rec.recovered_at, "recovered: every observer OK again");
                let mut values = vec![("Recoveries", 1.0, Unit::Count)];
                if let Some(ms) = rec.rto_ms {
                    values.push(("MeasuredRTO", ms as f64, Unit::Milliseconds));
                }
                self.emit(Some(&def.name), now, &values, &[]);
            }
            RecoveryAct::NotRecovered => {
                warn!(service = %def.name, "not recovered within recovery_timeout_seconds: paged");
                self.emit(
                    Some(&def.name),
                    now,
                    &[("NotRecovered", 1.0, Unit::Count)],
                    &[],
                );
            }
            RecoveryAct::Nothing => {}
        }
    }
}

/// What `status` shows of a failover's recovery: watched, recovered (the figures), or
/// paged as not recovered; `None` when no switched failover is current.
pub(super) fn recovery_status(
    def: &ServiceDefinition,
    state: &ServiceState,
    now: Millis,
) -> Option<RecoveryStatus> {
    let exec = state.execution.as_ref()?;
    let recorded = exec.recovery.clone();
    let watched = recovery::watch(def, state);
    let switched = exec.switched_at?;
    let deadline = switched.saturating_add(crate::domain::time::secs(def.recovery_timeout_seconds));
    let (rec, failing) = match (&recorded, watched) {
        (Some(r), _) if r.recovered_at.is_some() => (r.clone(), Vec::new()),
        (_, Some(_)) => match recovery::check(def, state, &Reads::none(), now) {
            RecoveryCheck::Waiting { failing, .. } => {
                let mut r = recorded.clone().unwrap_or_default();
                r.observers_ok = def
                    .observers
                    .iter()
                    .filter(|o| !recovery::observers_to_read(def, state).contains(o))
                    .filter_map(|o| {
                        let v = state.votes.get(o)?;
                        Some(recovery::ObserverOk {
                            observer: o.clone(),
                            at: v.at,
                            source: recovery::OkSource::Event,
                        })
                    })
                    .collect();
                (r, failing)
            }
            RecoveryCheck::Recovered(r) => (r, Vec::new()),
            RecoveryCheck::NotWatching => return None,
        },
        _ => return None,
    };
    let state_text = if rec.recovered_at.is_some() {
        "recovered"
    } else if rec.not_recovered_at.is_some() {
        "not_recovered"
    } else {
        "watching"
    };
    Some(RecoveryStatus {
        state: state_text.into(),
        switched_at: fmt_time(switched),
        deadline: fmt_time(deadline),
        first_alarm_at: rec.first_alarm_at.map(fmt_time),
        recovered_at: rec.recovered_at.map(fmt_time),
        rto_ms: rec.rto_ms,
        rto: rec.rto_ms.map(|_| rto_text(&rec)),
        observers_ok: rec.observers_ok.clone(),
        still_failing: failing,
        not_recovered_paged_at: rec.not_recovered_at.map(fmt_time),
    })
}
