//! The last round trip of a transition: the alert, the closing state write and the audit
//! record together, so that no redelivery sends the alert twice and none is lost.

use tracing::{error, info, warn};

use super::{Engine, EngineError};
use crate::domain::alert::Alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::complete_transition;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{Execution, ServiceState};
use crate::domain::time::Millis;
use crate::domain::workflow_run::WorkflowRun;
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// The last round trip of a transition: the alert, the closing state write and the
    /// audit record go out together. The closing write already marks the alert sent, so no
    /// redelivery can send it twice; if SNS refuses it, the write is taken back (the
    /// transition reopens with the lease released) and the retry sends it. Without the time
    /// for that round trip left, nothing is sent and the retry closes. Returns the closed
    /// state and the execution with the SNS message id, which only this invocation knows.
    pub(super) async fn close_with_alert(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        exec: Execution,
        pending: Option<(Alert, HistoryRecord)>,
        step: &'static str,
    ) -> Result<(ServiceState, Execution), EngineError> {
        let now = self.clock.now();
        if pending.is_some() && exec.lease_until - now < CLOSE_BUDGET_MS {
            return Err(self
                .fail_step(
                    def,
                    state,
                    exec,
                    step,
                    "too little time left to publish and record the alert; the retry sends it"
                        .into(),
                )
                .await);
        }
        let mut marked = exec.clone();
        marked.alerted_at.get_or_insert(now);
        // The runbook starts with the close of a transition that switched (`workflow`).
        if marked.workflow.is_none() && marked.switched_at.is_some() {
            marked.workflow = WorkflowRun::plan(&def.workflow, marked.kind);
        }
        let mut done = closing_state(&state, &marked, now);
        let write = self.write_transition(&def.name, state.version, &done);
        let Some((alert, record)) = pending else {
            return match write.await {
                Ok(ControlWrite::Written) => Ok((done, marked)),
                Ok(ControlWrite::Conflict(_)) => {
                    Err(self.ownership_lost(def, exec.epoch, "closing write"))
                }
                Err(e) => Err(self
                    .fail_step(def, state, exec, "closing write", e.to_string())
                    .await),
            };
        };
        let (published, saved, audited) = tokio::join!(
            self.notifier.publish(&alert),
            write,
            self.store.append_history(&def.name, &record)
        );
        if let Err(e) = audited {
            warn!(error = %e, "audit record for the step not written; the state item keeps it");
        }
        let mut saved = saved;
        // Someone else wrote the item meanwhile (a pause, a vote expiry, drift bookkeeping)
        // while the transition is still ours: close on top of their write, once.
        if let Ok(ControlWrite::Conflict(Some(cur))) = &saved {
            if published.is_ok() && is_open(cur, &exec) {
                done = closing_state(cur, &marked, now);
                saved = self.write_transition(&def.name, cur.version, &done).await;
            }
        }
        match (published, saved) {
            (Ok(id), Ok(ControlWrite::Written)) => {
                info!(service = %def.name, epoch = exec.epoch, message_id = %id, subject = %alert.subject, "alert published");
                marked.alert_message_id = Some(id);
                // The stored execution (completed, its lease released) with the message id,
                // which only this invocation knows: what follows writes on top of it.
                if let Some(e) = done.execution.as_mut() {
                    e.alert_message_id = marked.alert_message_id.clone();
                }
                Ok((done, marked))
            }
            (Ok(id), Ok(ControlWrite::Conflict(_))) => {
                warn!(service = %def.name, epoch = exec.epoch, message_id = %id, "alert published, but the transition is no longer this invocation's");
                Err(self.ownership_lost(def, exec.epoch, step))
            }
            (Ok(id), Err(e)) => {
                // Sent but not recorded: record it now so the retry only closes.
                marked.alert_message_id = Some(id);
                Err(self
                    .fail_step(
                        def,
                        state,
                        marked,
                        "closing write",
                        format!("the alert was sent but the closing write failed: {e}"),
                    )
                    .await)
            }
            (Err(e), Ok(ControlWrite::Written)) => {
                self.take_back(def, state, done.version, &exec, &alert, &e.to_string())
                    .await;
                Err(self.step_failed(def, exec.epoch, step, e.to_string()))
            }
            (Err(e), Ok(ControlWrite::Conflict(cur))) => match cur {
                // Our write did not land and the transition is still ours: free it now.
                Some(cur) if is_open(&cur, &exec) => {
                    Err(self.fail_step(def, *cur, exec, step, e.to_string()).await)
                }
                _ => {
                    warn!(service = %def.name, epoch = exec.epoch, error = %e, "alert not published and the transition is no longer this invocation's");
                    Err(self.ownership_lost(def, exec.epoch, step))
                }
            },
            (Err(e), Err(we)) => {
                // The write may have landed all the same: release the lease over the state
                // before it, or else take the closing write back.
                if self.release(def, state.clone(), &exec).await.is_err() {
                    self.take_back(def, state, done.version, &exec, &alert, &e.to_string())
                        .await;
                }
                Err(self.step_failed(
                    def,
                    exec.epoch,
                    step,
                    format!("{e}; the closing write failed too: {we}"),
                ))
            }
        }
    }

    /// Reopens a transition whose closing write landed but whose alert SNS refused.
    async fn take_back(
        &self,
        def: &ServiceDefinition,
        before: ServiceState,
        closed_version: u64,
        exec: &Execution,
        alert: &Alert,
        publish_error: &str,
    ) {
        let mut reopened = before;
        reopened.version = closed_version;
        if let Err(undo) = self.release(def, reopened, exec).await {
            error!(
                service = %def.name, epoch = exec.epoch, subject = %alert.subject,
                alert_message = %alert.message, publish_error, undo_error = %undo,
                "ALERT NOT DELIVERED and the control table records it as sent: page the on-call by hand"
            );
            self.emit(
                Some(&def.name),
                self.clock.now(),
                &[("AlertsLost", 1.0, Unit::Count)],
                &[],
            );
        }
    }
}

/// What the alert's round trip needs at most (the SDK's operation timeout is 8 s), so a
/// closing write never lands with its alert cut off by the invocation's deadline.
const CLOSE_BUDGET_MS: Millis = 9_000;

fn closing_state(base: &ServiceState, exec: &Execution, now: Millis) -> ServiceState {
    let mut closing = base.clone();
    closing.execution = Some(exec.clone());
    complete_transition(&closing, now)
}

/// The item still holds this invocation's unfinished transition.
fn is_open(current: &ServiceState, exec: &Execution) -> bool {
    current
        .execution
        .as_ref()
        .is_some_and(|e| e.epoch == exec.epoch && e.owner == exec.owner && e.completed_at.is_none())
}
