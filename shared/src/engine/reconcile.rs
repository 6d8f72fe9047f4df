//! The reconciler's run: read every state and what the services share in a few calls
//! (`snapshot`: BatchGetItem, 100 a call; at most two ListHealthChecks a run, going on
//! where the last run stopped), republish the switch metric (`switch_metric`), then for
//! every catalogued service send the alerts still due (`outbox`), finish interrupted
//! transitions, confirm the standing ALARM votes and decide a quorum that stands
//! (`standing`), complete a `both`-mode switch, verify Route 53 and the switch alarm
//! against the decision (`drift`: reported, and with `enforce` re-applied;
//! `switch_metric`), escalate what is stuck, and expire pauses and votes.

use futures::stream::{self, StreamExt};
use tracing::{debug, error, info, warn};

mod drift;
mod readiness;
mod snapshot;
mod switch_metric;

use snapshot::CheckPages;
pub(crate) use snapshot::Loaded;
pub use snapshot::CHECK_PAGES_PER_RUN;
use switch_metric::check_mechanism_pending;

use super::alarm::Prompt;
use super::outbox;
use super::recovery::RecoveryAct;
use super::standing::AlarmReadings;
use super::{Engine, EngineError, Invocation};
use crate::api::reports::ReconcileReport;
use crate::domain::alert::{escalation_alert, pause_alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{assess, expired_votes, held_page, Assessment};
use crate::domain::history::HistoryRecord;
use crate::domain::recovery::{self, Reads};
use crate::domain::state::{Phase, ServiceState};
use crate::domain::time::{fmt_time, Millis};
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthCheckConfig, HealthChecks, Notifier,
    Runbook,
};

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
    /// How often the reconciler runs (its schedule): a readiness slot that fell within this
    /// is due (`domain::readiness`).
    pub run_period_ms: Millis,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        ReconcileSettings {
            escalation_interval_ms: crate::domain::decision::ESCALATION_INTERVAL_MS,
            blocked_grace_ms: 10 * 60_000,
            fan_out: 8,
            deadline_margin_ms: 3_000,
            run_period_ms: 60_000,
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
    /// A new drift of the switch alarm was reported.
    switch_drift: bool,
    /// Both mode: the mechanism that did not land with the transition landed now.
    completed: bool,
    /// Why completing it failed (the next run tries again).
    completion_error: Option<String>,
    /// Its primary check was not in this run's ListHealthChecks pages: not drift-checked.
    check_not_read: bool,
    /// The failover's recovery was recorded by this run.
    recovered: bool,
    /// `[NOT RECOVERED]` was recorded by this run.
    not_recovered: bool,
    workflow_steps: usize,
    readiness_paged: bool,
}

/// What every service of a run shares, read once after the states.
struct RunReadings {
    alarms: AlarmReadings,
    /// `None`: no service needed its health check read.
    checks: Option<CheckPages>,
    readiness: readiness::ReadinessReads,
}

/// One service in a run.
enum Reached {
    /// The deadline came first.
    No,
    /// Its state could not be read (reported once for its batch).
    LoadFailed,
    Yes(Result<ServiceReport, EngineError>),
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
        let fan_out = settings.fan_out.max(1);
        // Every state first, 100 a BatchGetItem; then, read after them, what all services
        // share: the alarms (the standing ALARM votes' and the switch alarms', one
        // DescribeAlarms per region and 100 names), the primaries' health checks (at most
        // two ListHealthChecks), and the switch metric republished (one PutMetricData per
        // region).
        let read_at = self.clock.now();
        let (loaded, load_errors) = self.load_states_until(&defs, stop_at, fan_out).await;
        let states: Vec<(&ServiceDefinition, &ServiceState)> = loaded
            .iter()
            .filter_map(|(def, l)| match l {
                Loaded::State(state) => Some((*def, &**state)),
                _ => None,
            })
            .collect();
        let needs_checks = states.iter().any(|(def, state)| {
            def.switch.uses_health_check()
                && !matches!(state.phase, Phase::FailingOver | Phase::FailingBack)
        });
        let switch_alarms = states
            .iter()
            .filter(|(def, _)| def.switch.uses_metric())
            .filter_map(|(def, _)| def.switch.alarm_arn.clone())
            // The observers of failovers awaiting recovery that sent no OK since the switch.
            .chain(
                states
                    .iter()
                    .flat_map(|(def, state)| recovery::observers_to_read(def, state)),
            );
        let due: Vec<&ServiceDefinition> = states
            .iter()
            .filter(|(def, state)| {
                crate::domain::readiness::due(def, state, read_at, settings.run_period_ms)
            })
            .map(|(def, _)| *def)
            .collect();
        let switch_alarms = switch_alarms.chain(
            due.iter()
                .filter_map(|d| d.preflight.secondary_alarm_arn.clone()),
        );
        let (alarms, checks, republished, ready_reads) = tokio::join!(
            self.read_standing_alarms(states.iter().copied(), switch_alarms),
            async {
                if needs_checks {
                    Some(self.list_check_pages_for_run().await)
                } else {
                    None
                }
            },
            self.republish_switch_values(&states, read_at),
            self.read_readiness_inputs(&due, read_at),
        );
        let mut report = ReconcileReport {
            services: defs.len(),
            errors: load_errors,
            switch_values_published: republished.values,
            health_checks_listed: checks.as_ref().map_or(0, |c| c.checks.len()),
            ..Default::default()
        };
        report.errors.extend(alarms.errors.iter().cloned());
        report
            .errors
            .extend(checks.as_ref().and_then(|c| c.error.clone()));
        report.errors.extend(republished.errors);
        report.readiness_evaluated = ready_reads.due.len();
        let run = RunReadings {
            alarms,
            checks,
            readiness: ready_reads,
        };
        let run = &run;
        let results: Vec<(String, Reached)> = stream::iter(loaded)
            .map(|(def, loaded)| async move {
                let result = match loaded {
                    Loaded::NotReached => Reached::No,
                    Loaded::Failed => Reached::LoadFailed,
                    Loaded::State(_) if self.clock.now() >= stop_at => Reached::No,
                    Loaded::State(state) => Reached::Yes(
                        self.reconcile_service(def, *state, run, inv, settings)
                            .await,
                    ),
                };
                (def.name.clone(), result)
            })
            .buffer_unordered(fan_out)
            .collect()
            .await;
        for (name, result) in results {
            match result {
                Reached::No => report.not_reached.push(name),
                Reached::LoadFailed => {}
                Reached::Yes(Err(e)) => {
                    error!(service = %name, error = %e, "reconcile failed for this service; the next run retries");
                    report.checked += 1;
                    report.errors.push(format!("{name}: {e}"));
                }
                Reached::Yes(Ok(r)) => {
                    report.checked += 1;
                    report.resumed += usize::from(r.resumed);
                    report.drifts += usize::from(r.drift);
                    report.reapplied += usize::from(r.reapplied);
                    report.escalations += usize::from(r.escalated);
                    report.pauses_expired += usize::from(r.pause_expired);
                    report.votes_expired += r.votes_expired;
                    report.votes_confirmed += r.votes_confirmed;
                    report.decided += usize::from(r.decided);
                    report.switch_drifts += usize::from(r.switch_drift);
                    report.switches_completed += usize::from(r.completed);
                    report.checks_not_read += usize::from(r.check_not_read);
                    report.recovered += usize::from(r.recovered);
                    report.not_recovered += usize::from(r.not_recovered);
                    report.workflow_steps_done += r.workflow_steps;
                    report.readiness_pages += usize::from(r.readiness_paged);
                    if let Some(e) = r.completion_error {
                        report.errors.push(format!("{name}: {e}"));
                    }
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
                ("SwitchDrifts", report.switch_drifts as f64, Unit::Count),
                (
                    "SwitchValuesPublished",
                    report.switch_values_published as f64,
                    Unit::Count,
                ),
                (
                    "HealthCheckListCalls",
                    run.checks.as_ref().map_or(0, |c| c.calls) as f64,
                    Unit::Count,
                ),
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

    /// The primary's check to verify `state` against: from this run's pages while the
    /// state is still the one loaded before they were read; after this run changed it (a
    /// transition finished, an alert marked sent) the pages may predate a switch, so it is
    /// read again, as the deciding path does. `None`: not in this run's pages.
    async fn primary_check(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        loaded_version: u64,
        run: &RunReadings,
    ) -> Result<Option<HealthCheckConfig>, EngineError> {
        let id = &def.primary.health_check_id;
        if state.version != loaded_version {
            return self
                .health
                .get(id)
                .await
                .map(Some)
                .map_err(EngineError::Store);
        }
        let listed = run.checks.as_ref().and_then(|p| p.checks.get(id)).copied();
        if listed.is_none() {
            debug!(service = %def.name, health_check = %id, "its health check was not in this run's ListHealthChecks pages; not drift-checked this run (the pages go on where this run stopped)");
        }
        Ok(listed)
    }

    async fn reconcile_service(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
        run: &RunReadings,
        inv: &Invocation,
        settings: &ReconcileSettings,
    ) -> Result<ServiceReport, EngineError> {
        let mut report = ServiceReport::default();
        let now = self.clock.now();
        let loaded_version = state.version;

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

        let (confirmed, n) = self.confirm_standing(def, state, &run.alarms).await?;
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
            let outcome = Box::pin(self.decide(def, state.clone(), Prompt::Reconcile, inv)).await?;
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
                // Both mode: the transition landed by the metric alone; the health check
                // is completed now (verified by read-back), and drift-checked by the next
                // run. One that could not be completed is not a drift either.
                let mut completing = false;
                if check_mechanism_pending(def, &state) {
                    match self.complete_pending_switch(def, state.clone()).await {
                        Ok((next, landed)) => {
                            state = next;
                            report.completed = landed;
                            completing = landed;
                        }
                        Err(e) => {
                            warn!(service = %def.name, error = %e, "the health check could not be completed; the next run tries again");
                            report.completion_error = Some(e.to_string());
                            completing = true;
                        }
                    }
                }
                if def.switch.uses_health_check() && !completing {
                    match self.primary_check(def, &state, loaded_version, run).await? {
                        Some(hc) => {
                            let (drift, reapplied) = self.verify(def, &mut state, hc).await?;
                            report.drift = drift;
                            report.reapplied = reapplied;
                        }
                        None => report.check_not_read = true,
                    }
                }
                if def.switch.uses_metric() {
                    report.switch_drift = self
                        .check_switch_alarm(def, &mut state, &run.alarms)
                        .await?;
                }
            }
            Phase::FailingOver | Phase::FailingBack => {}
        }

        // A failover awaiting recovery (after the drift checks, which read
        // the pages as loaded): an OK whose event was lost is found by the read,
        // and the timeout pages once.
        let reads = Reads {
            at: run.alarms.at,
            state: &|o: &str| run.alarms.get(o).ok().flatten(),
        };
        match Box::pin(self.watch_recovery(def, &mut state, &reads, true)).await? {
            RecoveryAct::Recovered(_) => report.recovered = true,
            RecoveryAct::NotRecovered => report.not_recovered = true,
            RecoveryAct::Nothing => {}
        }
        // Boxed: each is a large future, and this one holds every step of a run.
        report.workflow_steps = Box::pin(self.reconcile_workflow(
            def,
            &mut state,
            inv,
            settings.escalation_interval_ms,
        ))
        .await;
        report.readiness_paged =
            Box::pin(self.watch_readiness(def, &mut state, &run.readiness, &run.alarms)).await?;

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
        let mut old = expired_votes(def, state, now);
        // An OK that measures a recovery being watched is kept until the watch ends.
        old.retain(|(o, _)| !recovery::keeps_vote(def, state, o));
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
            request_id: String::new(),
        }
    }
}
