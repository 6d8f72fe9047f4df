//! The one path for the alerts that are not a transition's closing alert (drift, a pause's
//! end, escalation): an outbox on the state item. An alert is recorded as due in the same
//! conditional write as what it reports, then published, then removed from the outbox (a
//! version-guarded write). A Publish that is refused leaves it due, and every reconciler
//! run sends what is due before anything else, so one refused Publish loses nothing.
//!
//! Delivery is at least once, in practice once: a send that crashes after SNS took the
//! message and before the entry is removed is sent again by the next run (SNS standard
//! topics have no deduplication). The window is one DynamoDB round trip.
//!
//! The failover/failback alert keeps its own mechanism (`close`: marked sent in the
//! closing write, taken back when Publish is refused), which costs no round trip more on
//! the deciding vote. `held` and `catalog` pages keep their claims too: each gives its
//! claim back when Publish is refused, so the next run pages again.

use tracing::{info, warn};

use super::{Engine, EngineError};
use crate::domain::alert::Alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{DueAlert, ServiceState};
use crate::domain::time::Millis;
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

/// Attempts at removing a sent entry when other writers move the state's version.
const MARK_SENT_ATTEMPTS: u32 = 3;

/// Records `alert` as due in `next`, the state about to be written with what it reports.
/// The same `id` recorded twice keeps one entry.
pub(super) fn enqueue(
    next: &mut ServiceState,
    id: String,
    alert: &Alert,
    record: Option<HistoryRecord>,
    now: Millis,
) {
    if next.outbox.iter().any(|d| d.id == id) {
        return;
    }
    next.outbox.push(DueAlert {
        id,
        due_at: now,
        subject: alert.subject.clone(),
        message: alert.message.clone(),
        event_type: alert.event_type.clone(),
        epoch: alert.epoch,
        severity: alert.severity.clone(),
        record,
    });
}

fn alert_of(due: &DueAlert, service: &str) -> Alert {
    Alert {
        subject: due.subject.clone(),
        message: due.message.clone(),
        service: service.into(),
        event_type: due.event_type.clone(),
        epoch: due.epoch,
        severity: due.severity.clone(),
    }
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
    /// Sends every alert due in `state` (as stored: `state` is what the store holds at
    /// `state.version`), oldest first, each after its audit record, and removes each sent
    /// one; `state` follows the writes. Returns how many were sent. An alert SNS refuses
    /// stays due for the next run; the first such error is returned after the others were
    /// tried.
    pub(super) async fn send_due(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
    ) -> Result<usize, EngineError> {
        let mut sent = 0;
        let mut first_error = None;
        for due in state.outbox.clone() {
            match self.send_one(def, &due).await {
                Ok(message_id) => {
                    info!(service = %def.name, id = %due.id, event_type = %due.event_type, %message_id, "due alert published");
                    sent += 1;
                    if let Err(e) = self.mark_sent(def, state, &due.id).await {
                        // Published, still listed: the next run sends it again (at least once).
                        warn!(service = %def.name, id = %due.id, error = %e, "alert published but not marked sent; the next run may send it again");
                        first_error.get_or_insert(e);
                    }
                }
                Err(e) => {
                    warn!(service = %def.name, id = %due.id, event_type = %due.event_type, error = %e, "alert not delivered; it stays due and the next reconciler run sends it");
                    first_error.get_or_insert(e);
                }
            }
        }
        let now = self.clock.now();
        if sent > 0 {
            self.emit(
                Some(&def.name),
                now,
                &[("AlertsSentFromOutbox", sent as f64, Unit::Count)],
                &[],
            );
        }
        match first_error {
            None => Ok(sent),
            Some(e) => {
                self.emit(
                    Some(&def.name),
                    now,
                    &[("AlertsDue", state.outbox.len() as f64, Unit::Count)],
                    &[],
                );
                Err(e)
            }
        }
    }

    /// The audit record first (idempotent by its key), then the alert.
    async fn send_one(
        &self,
        def: &ServiceDefinition,
        due: &DueAlert,
    ) -> Result<String, EngineError> {
        if let Some(record) = &due.record {
            self.store
                .append_history(&def.name, record)
                .await
                .map_err(EngineError::Store)?;
        }
        self.notifier
            .publish(&alert_of(due, &def.name))
            .await
            .map_err(EngineError::Store)
    }

    /// Removes entry `id` from the outbox, guarded by the state's version; over a write
    /// that moved the version first, tries again on the state it returned.
    async fn mark_sent(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        id: &str,
    ) -> Result<(), EngineError> {
        for _ in 0..MARK_SENT_ATTEMPTS {
            if !state.outbox.iter().any(|d| d.id == id) {
                return Ok(());
            }
            let mut next = state.clone();
            next.version += 1;
            next.outbox.retain(|d| d.id != id);
            match self
                .store
                .write_control(&def.name, state.version, &next)
                .await
                .map_err(EngineError::Store)?
            {
                ControlWrite::Written => {
                    *state = next;
                    return Ok(());
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
        Err(EngineError::Store(crate::ports::AwsError::new(
            "dynamodb",
            "UpdateItem",
            crate::ports::ErrorKind::Unavailable,
            format!("the state kept changing; alert {id} is still listed as due"),
        )))
    }
}
