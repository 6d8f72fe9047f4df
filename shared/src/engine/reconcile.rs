//! The reconciler's run: for every catalogued service, send the alerts still due
//! (`outbox`), finish interrupted transitions, confirm the standing ALARM votes and decide
//! a quorum that stands (`standing`), verify Route 53 against the decision (`drift`:
//! reported, and with `enforce` re-applied), escalate what is stuck, and expire pauses
//! and votes.

use futures::stream::{self, StreamExt};
use tracing::{error, info, warn};

mod drift;

use super::alarm::Prompt;
use super::outbox;
use super::standing::AlarmReadings;
use super::{Engine, EngineError, Invocation};
use crate::api::reports::ReconcileReport;
use crate::domain::alert::{escalation_alert, pause_alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{assess, expired_votes, held_page, Assessment};
use crate::domain::history::HistoryRecord;
use crate::domain::state::{Phase, ServiceState};
use crate::domain::time::{fmt_time, Millis};
use crate::metrics::Unit;
use crate::ports::{AlarmReader, Clock, ControlStore, ControlWrite, HealthChecks, Notifier};

/// How the reconciler paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    /// Re-alert about a blocked or stuck service at most this often.
    pub escalation_interval_ms: Millis,
    /// A service BLOCKED for longer than this is escalated.
    pub blocked_grace_ms: Millis,
    /// Services checked at once.
    pub fan_out: usize,
    /// Stop starting new services this long before the invocation's deadline.
    pub deadline_margin_ms: Millis,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            escalation_interval_ms: crate::domain::decision::ESCALATION_INTERVAL_MS,
            blocked_grace_ms: 10 * 60_000,
            fan_out: 8,
            deadline_margin_ms: 3_000,
        }
    }
}

#[derive(Debug, Default)]
struct ServiceReport {
    resumed: bool,
    drift: bool,
    reapplied: bool,
    escalated: bool,
    pause_expired: bool,
    votes_expired: usize,
    votes_confirmed: usize,
    /// A standing quorum was decided in this run (claimed, by this run or a racing event).
    decided: bool,
}

impl<S, H, A, N, C> Engine<S, H, A, N, C>
where
    S: ControlStore,
    H: HealthChecks,
    A: AlarmReader,
    N: Notifier,
    C: Clock,
{
    /// One reconciler run over the whole catalog, with a bounded fan-out, stopping before
    /// the invocation's deadline.
    pub async fn reconcile(
        &self,
        inv: &Invocation,
        settings: &ReconcileSettings,
    ) -> Result<ReconcileReport, EngineError> {
        let started = self.clock.now();
        let catalog = self.catalog().await?;
        let defs: Vec<&ServiceDefinition> = catalog.services().collect();
        let stop_at = inv.deadline - settings.deadline_margin_ms;
        info!(
            deadline = inv.deadline,
            now = started,
            services = defs.len(),
            "reconciler run starts"
        );
        // Every state first: the standing ALARM votes of all services are confirmed with
        // one DescribeAlarms per observer region (and 100 names), not one per service.
        let fan_out = settings.fan_out.max(1);
        let loaded: Vec<(
            &ServiceDefinition,
            Option<Result<ServiceState, EngineError>>,
        )> = stream::iter(defs.iter().copied())
            .map(|def| async move {
                if self.clock.now() >= stop_at {
                    return (def, None);
                }
                let state = self.store.load_state(&def.name).await;
                (def, Some(state.map_err(EngineError::Store)))
            })
            .buffered(fan_out)
            .collect()
            .await;
        let readings = self
            .read_standing_alarms(
                loaded
                    .iter()
                    .filter_map(|(def, state)| Some((*def, state.as_ref()?.as_ref().ok()?))),
            )
            .await;
        let readings = &readings;
        let results: Vec<(String, Option<Result<ServiceReport, EngineError>>)> =
            stream::iter(loaded)
                .map(|(def, state)| async move {
                    let result = match state {
                        None => None,
                        Some(Err(e)) => Some(Err(e)),
                        Some(Ok(_)) if self.clock.now() >= stop_at => None,
                        Some(Ok(state)) => Some(
                            self.reconcile_service(def, state, readings, inv, settings)
                                .await,
                        ),
                    };
                    (def.name.clone(), result)
                })
                .buffer_unordered(fan_out)
                .collect()
                .await;
        let mut report = ReconcileReport {
            services: defs.len(),
            errors: readings.errors.clone(),
            ..Default::default()
        };
        for (name, result) in results {
            match result {
                None => report.not_reached.push(name),
                Some(Err(e)) => {
                    error!(service = %name, error = %e, "reconcile failed for this service; the next run retries");
                    report.checked += 1;
                    report.errors.push(format!("{name}: {e}"));
                }
                Some(Ok(r)) => {
                    report.checked += 1;
                    report.resumed += usize::from(r.resumed);
                    report.drifts += usize::from(r.drift);
                    report.reapplied += usize::from(r.reapplied);
                    report.escalations += usize::from(r.escalated);
                    report.pauses_expired += usize::from(r.pause_expired);
                    report.votes_expired += r.votes_expired;
                    report.votes_confirmed += r.votes_confirmed;
                    report.decided += usize::from(r.decided);
                }
            }
        }
        report.not_reached.sort();
        if !report.not_reached.is_empty() {
            warn!(not_reached = ?report.not_reached, "deadline near: these services wait for the next run");
        }
        let now = self.clock.now();
        report.duration_ms = now - started;
        // The heartbeat: an alarm on its absence catches a dead control plane.
        self.emit(
            None,
            now,
            &[
                ("ReconcilerRuns", 1.0, Unit::Count),
                ("ServicesChecked", report.checked as f64, Unit::Count),
                ("VotesConfirmed", report.votes_confirmed as f64, Unit::Count),
                (
                    "StandingQuorumDecisions",
                    report.decided as f64,
                    Unit::Count,
                ),
                ("Drifts", report.drifts as f64, Unit::Count),
                ("Resumes", report.resumed as f64, Unit::Count),
                ("Escalations", report.escalations as f64, Unit::Count),
                (
                    "ServicesNotReached",
                    report.not_reached.len() as f64,
                    Unit::Count,
                ),
                ("ReconcileErrors", report.errors.len() as f64, Unit::Count),
                (
                    "ReconcileDuration",
                    report.duration_ms as f64,
                    Unit::Milliseconds,
                ),
            ],
            &[],
        );
        info!(?report, "reconciler run done");
        Ok(report)
    }

    async fn reconcile_service(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
        readings: &AlarmReadings,
        inv: &Invocation,
        settings: &ReconcileSettings,
    ) -> Result<ServiceReport, EngineError> {
        let mut report = ServiceReport::default();
        let now = self.clock.now();

        // What an earlier run recorded as due and SNS refused goes out first.
        if !state.outbox.is_empty() {
            if let Err(e) = self.send_due(def, &mut state).await {
                warn!(service = %def.name, error = %e, "due alerts still undelivered; the next run retries");
            }
        }

        if let Some(pause) = state.pause.clone().filter(|p| !p.active_at(now)) {
            let until = pause.until.map_or("-".into(), fmt_time);
            // The alert and its audit record are recorded as due in the write that ends
            // the pause: a refused Publish or audit write loses neither.
            let record = self.record(
                state.epoch,
                "reconcile",
                "pause expired; automatic actions resumed".into(),
                format!("pause until {until}"),
            );
            let mut next = state.clone();
            next.version += 1;
            next.pause = None;
            outbox::enqueue(
                &mut next,
                format!("resume#{}#{}", state.epoch, pause.until.unwrap_or(now)),
                &pause_alert(def, &pause, false, state.epoch),
                Some(record),
                now,
            );
            if let ControlWrite::Written = self
                .store
                .write_control(&def.name, state.version, &next)
                .await
                .map_err(EngineError::Store)?
            {
                report.pause_expired = true;
                state = next;
                // Undelivered, it stays due; deciding a standing quorum goes on regardless.
                if let Err(e) = self.send_due(def, &mut state).await {
                    warn!(service = %def.name, error = %e, "the pause-expiry alert is due; the next run sends it");
                }
            }
        }

        if matches!(state.phase, Phase::FailingOver | Phase::FailingBack) {
            let lease_expired = state
                .execution
                .as_ref()
                .is_none_or(|e| e.lease_until <= now);
            if lease_expired {
                info!(service = %def.name, epoch = state.epoch, "finishing an interrupted transition");
                match self.resume(def, state.clone(), inv).await {
                    Ok(outcome) => {
                        report.resumed = outcome.outcome != "in_progress";
                        state = self
                            .store
                            .load_state(&def.name)
                            .await
                            .map_err(EngineError::Store)?;
                    }
                    Err(e) => {
                        // The failed step released the lease (a new version), and may just
                        // have sent the PENDING alert: escalate over what is stored now,
                        // and not within an escalation interval of that alert.
                        let current = self
                            .store
                            .load_state(&def.name)
                            .await
                            .map_err(EngineError::Store)?;
                        let announced = current
                            .execution
                            .as_ref()
                            .and_then(|x| x.pending_alerted_at)
                            .is_some_and(|t| now - t < settings.escalation_interval_ms);
                        if !announced {
                            report.escalated = self
                                .escalate(
                                    def,
                                    &current,
                                    settings,
                                    &format!("the transition could not complete: {e}"),
                                )
                                .await?;
                        }
                        return Ok(report);
                    }
                }
            }
        }

        let (confirmed, n) = self.confirm_standing(def, state, readings).await?;
        state = confirmed;
        report.votes_confirmed = n;
        report.votes_expired = self.expire_old_votes(def, &state, now).await?;

        // A quorum that stands is decided now, as an event would decide it: a hold that
        // has ended (pause, cooldown, the daily cap's day) holds no more.
        if matches!(state.phase, Phase::PrimaryActive | Phase::Blocked) {
            // Whether deciding may write: a claim, or a held quorum's page.
            let writes = match assess(def, &state, now) {
                Assessment::NoQuorum { .. } => false,
                Assessment::Held(hold) => held_page(def, &state, &hold, now).is_some(),
                _ => true,
            };
            let outcome = self
                .decide(def, state.clone(), Prompt::Reconcile, inv)
                .await?;
            if matches!(outcome.outcome, "failed_over" | "blocked" | "claim_lost") {
                report.decided = true;
                // Verified and escalated by the next run, over the state it leaves.
                return Ok(report);
            }
            if writes {
                // A held quorum may have written (the daily cap's page): read it again.
                state = self
                    .store
                    .load_state(&def.name)
                    .await
                    .map_err(EngineError::Store)?;
            }
        }

        match state.phase {
            Phase::FailedOver | Phase::PrimaryActive | Phase::Blocked => {
                let (drift, reapplied) = self.verify(def, &mut state).await?;
                report.drift = drift;
                report.reapplied = reapplied;
            }
            Phase::FailingOver | Phase::FailingBack => {}
        }

        if state.phase == Phase::Blocked {
            let since = state
                .execution
                .as_ref()
                .and_then(|e| e.completed_at)
                .unwrap_or(now);
            if now - since > settings.blocked_grace_ms {
                let why = state
                    .execution
                    .as_ref()
                    .and_then(|e| e.blocked_reason.clone())
                    .unwrap_or_else(|| "blocked".into());
                report.escalated = self
                    .escalate(
                        def,
                        &state,
                        settings,
                        &format!("blocked since {}: {why}", fmt_time(since)),
                    )
                    .await?;
            }
        }
        Ok(report)
    }

    /// Re-alerts about a stuck service, at most once per escalation interval.
    async fn escalate(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        settings: &ReconcileSettings,
        why: &str,
    ) -> Result<bool, EngineError> {
        let now = self.clock.now();
        if state
            .escalated_at
            .is_some_and(|t| now - t < settings.escalation_interval_ms)
        {
            return Ok(false);
        }
        let mut next = state.clone();
        next.version += 1;
        next.escalated_at = Some(now);
        let record = self.record(state.epoch, "escalation", why.into(), "re-alerted".into());
        outbox::enqueue(
            &mut next,
            format!("escalation#{}#{now}", state.epoch),
            &escalation_alert(def, state.epoch, state.phase, why),
            Some(record),
            now,
        );
        if let ControlWrite::Conflict(_) = self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            return Ok(false);
        }
        // Recorded as due with the slot: a refused Publish leaves it for the next run.
        let mut state = next;
        if let Err(e) = self.send_due(def, &mut state).await {
            warn!(service = %def.name, error = %e, "the escalation is due; the next run sends it");
        }
        Ok(true)
    }

    /// Drops vote records that no longer matter (OK and INSUFFICIENT_DATA included) so the
    /// state item does not keep them forever; a confirmed ALARM is kept.
    async fn expire_old_votes(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        now: Millis,
    ) -> Result<usize, EngineError> {
        let old = expired_votes(def, state, now);
        if old.is_empty() {
            return Ok(0);
        }
        let removed = self
            .store
            .expire_votes(&def.name, &old)
            .await
            .map_err(EngineError::Store)?;
        Ok(if removed { old.len() } else { 0 })
    }

    /// An audit record by this function, keyed by its kind and time (deterministic once
    /// built: recorded as due with an alert, its rewrite keeps one item).
    pub(super) fn record(
        &self,
        epoch: u64,
        kind: &str,
        what: String,
        why: String,
    ) -> HistoryRecord {
        let now = self.clock.now();
        HistoryRecord {
            at: now,
            epoch,
            kind: kind.into(),
            actor: self.function.into(),
            what,
            why,
            votes: Vec::new(),
            key: format!("{kind}#{now}"),
        }
    }
}
