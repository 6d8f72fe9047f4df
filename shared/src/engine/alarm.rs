//! The automated path: an observer's vote, and the decision a quorum of them makes.

use futures::future::join_all;
use tracing::{error, info, warn};

use super::{Engine, EngineError, Invocation};
use crate::api::reports::{AlarmOutcome, ServiceOutcome};
use crate::domain::alert::held_alert;
use crate::domain::arn::alarm_name;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{self, assess, check_freshness, Assessment, Hold};
use crate::domain::event::{parse_alarm_event, AlarmObservation};
use crate::domain::history::{refusal_record, HistoryRecord};
use crate::domain::state::{HeldPaged, ServiceState, Trigger, VoteRecord};
use crate::domain::time::Millis;
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook, VoteWrite,
};

/// What made the engine assess a service.
#[derive(Debug, Clone, Copy)]
pub(super) enum Prompt<'a> {
    /// An observer's event; `fresh` unless it was a duplicate or reordered delivery.
    Event {
        obs: &'a AlarmObservation,
        fresh: bool,
    },
    /// The reconciler's run, after confirming the standing votes by reading the alarms.
    Reconcile,
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
    /// Handles one alarm event of either shape.
    pub async fn handle_alarm_event(
        &self,
        payload: &serde_json::Value,
        inv: &Invocation,
    ) -> Result<AlarmOutcome, EngineError> {
        let obs = match parse_alarm_event(payload) {
            Ok(obs) => obs,
            Err(e) => {
                warn!(error = %e, "malformed alarm event refused");
                self.count_ignored(None, "malformed");
                return Err(EngineError::BadEvent(e));
            }
        };
        let catalog = self
            .catalog_for_event(|c| !c.services_observing(&obs.observer).is_empty())
            .await?;
        let services = catalog.services_observing(&obs.observer);
        let mut outcome = AlarmOutcome {
            observer: obs.observer.clone(),
            state: obs.state.to_string(),
            services: Vec::new(),
            ignored: None,
        };
        if services.is_empty() {
            info!(observer = %obs.observer, "ignored: the alarm is not an observer of any catalogued service");
            self.count_ignored(None, "unknown_observer");
            outcome.ignored = Some("unknown observer".into());
            return Ok(outcome);
        }
        let results = join_all(services.into_iter().map(|def| self.observe(def, &obs, inv))).await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(o) => outcome.services.push(o),
                Err(e) => {
                    error!(error = %e, "alarm event not fully handled; a retry will resume it");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }

    async fn observe(
        &self,
        def: &ServiceDefinition,
        obs: &AlarmObservation,
        inv: &Invocation,
    ) -> Result<ServiceOutcome, EngineError> {
        let now = self.clock.now();
        if let Err(staleness) = check_freshness(def, obs, now) {
            warn!(service = %def.name, observer = %obs.observer, event_id = %obs.event_id, reason = %staleness, "ignored alarm event");
            self.count_ignored(Some(&def.name), staleness.label());
            return Ok(self.outcome(
                def,
                "ignored",
                &ServiceState::default(),
                staleness.to_string(),
            ));
        }
        let vote = decision::vote_from(obs, now, &inv.request_id);
        let record = HistoryRecord {
            at: obs.state_changed_at,
            epoch: 0,
            kind: "observation".into(),
            actor: obs.observer.clone(),
            what: format!("{} reported {}", alarm_name(&obs.observer), obs.state),
            why: obs.reason.clone(),
            votes: Vec::new(),
            key: format!("obs#{}#{}", alarm_name(&obs.observer), obs.event_id),
            request_id: String::new(),
        };
        let (written, audited) = tokio::join!(
            self.store.record_vote(&def.name, &obs.observer, &vote),
            self.store.append_history(&def.name, &record)
        );
        let written = written.map_err(EngineError::Store)?;
        let (state, fresh) = match written {
            VoteWrite::Recorded(state) => (state, true),
            // Our own vote (this invocation, this millisecond): the SDK retried a write
            // whose answer was lost; not a redelivery.
            VoteWrite::NotNewer(state) if state.votes.get(&obs.observer) == Some(&vote) => {
                (state, true)
            }
            VoteWrite::NotNewer(state) => (state, false),
        };
        self.emit(
            Some(&def.name),
            now,
            &[(
                if fresh { "Votes" } else { "DuplicateVotes" },
                1.0,
                Unit::Count,
            )],
            &[
                ("observer", &obs.observer),
                ("state", &obs.state.to_string()),
            ],
        );
        // An OK that completes a failover's recovery records it (no call otherwise); a
        // duplicate may too: its first delivery may have failed before recording it.
        let mut state = state;
        let recovered = match self.recovery_on_vote(def, &mut state, obs.state).await {
            Ok(r) => r,
            Err(e) => {
                // The vote is safe; the redelivery (or the reconciler) records the recovery.
                audited.map_err(EngineError::Store)?;
                return Err(e);
            }
        };
        let mut outcome = self.after_vote(def, state, fresh, obs, inv).await;
        if let (Some(rec), Ok(o)) = (recovered, outcome.as_mut()) {
            o.detail.push_str(&format!(
                "; recovered: every observer OK again, measured RTO {}",
                crate::domain::recovery::rto_text(&rec)
            ));
        }
        // The vote is safe in the state item; a lost audit write fails the invocation so the
        // redelivery (a duplicate: one round trip) writes it again.
        audited.map_err(EngineError::Store)?;
        outcome
    }

    async fn after_vote(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        fresh: bool,
        obs: &AlarmObservation,
        inv: &Invocation,
    ) -> Result<ServiceOutcome, EngineError> {
        self.decide(def, state, Prompt::Event { obs, fresh }, inv)
            .await
    }

    /// Assesses a service and acts on it: the one decide-and-execute path, for an
    /// observer's event and for the reconciler's re-assessment of a standing quorum alike
    /// (the same claim, invariants, pre-flight, switch and alert).
    pub(super) async fn decide(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        prompt: Prompt<'_>,
        inv: &Invocation,
    ) -> Result<ServiceOutcome, EngineError> {
        let now = self.clock.now();
        let fresh = match prompt {
            Prompt::Event { fresh, .. } => fresh,
            Prompt::Reconcile => false,
        };
        match assess(def, &state, now) {
            Assessment::NoQuorum { live, quorum } => {
                let what = match prompt {
                    Prompt::Event { fresh: true, .. } => "vote_recorded",
                    Prompt::Event { .. } => "duplicate",
                    Prompt::Reconcile => "held",
                };
                if let Prompt::Event { obs, .. } = prompt {
                    info!(service = %def.name, observer = %obs.observer, live, quorum, outcome = what, "no quorum");
                }
                Ok(self.outcome(def, what, &state, format!("{live} of {quorum} votes live")))
            }
            Assessment::Held(hold) => {
                let refusable = matches!(
                    hold,
                    Hold::Paused { .. } | Hold::Cooldown { .. } | Hold::DailyCap { .. }
                );
                match prompt {
                    // Refused: audited once per hold (every run writes the same record, so
                    // one lost write is made good by the next) and paged once per hold.
                    Prompt::Event { fresh: true, .. } | Prompt::Reconcile if refusable => {
                        let counted = matches!(prompt, Prompt::Event { .. });
                        self.record_refusal(def, &state, &hold, counted).await?;
                    }
                    // A fresh vote onto a BLOCKED service, and every reconciler run over a
                    // held quorum: paged once per hold (a page lost to a refused publish is
                    // sent by the next run), even when no new event comes.
                    Prompt::Event { fresh: true, .. } | Prompt::Reconcile => {
                        let votes = decision::live_votes(def, &state, now);
                        self.page_held(def, &state, &hold, &votes, now).await?;
                    }
                    Prompt::Event { .. } => {}
                }
                info!(service = %def.name, hold = %hold, "quorum or not, no automatic action");
                let what = match hold {
                    Hold::InProgress { .. } => "in_progress",
                    _ if matches!(prompt, Prompt::Event { fresh: false, .. }) => "duplicate",
                    _ => "held",
                };
                Ok(self.outcome(def, what, &state, hold.to_string()))
            }
            Assessment::QuorumReached { votes } => {
                let trigger = Trigger::Quorum {
                    quorum: def.quorum,
                    observers: def.observers.len() as u32,
                };
                if let Prompt::Reconcile = prompt {
                    info!(service = %def.name, live = votes.len(), "a standing quorum, confirmed by reading the alarms, decides");
                }
                // The deciding event reads the secondary beside its claim; a duplicate or
                // the reconciler claims first and reads only if it won.
                self.start_failover(def, state, votes, trigger, inv, fresh)
                    .await
            }
            Assessment::ResumeDue { epoch } => {
                info!(service = %def.name, epoch, "resuming an unfinished transition whose owner's lease expired");
                self.resume(def, state, inv).await
            }
        }
    }

    /// A held-back quorum is audited once per hold (the record's key is the hold's) and
    /// paged once per hold. A failed audit write is logged and counted, never fails the
    /// page: the next event or reconciler run that finds the hold writes the same record.
    async fn record_refusal(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hold: &Hold,
        counted: bool,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let votes = decision::live_votes(def, state, now);
        let record = refusal_record(state, hold, votes.clone(), self.function, now);
        if counted {
            self.emit(
                Some(&def.name),
                now,
                &[("Refusals", 1.0, Unit::Count)],
                &[("reason", hold.label())],
            );
        }
        let (audited, paged) = tokio::join!(
            async {
                match &record {
                    Some(r) => self.store.append_history(&def.name, r).await,
                    None => Ok(()),
                }
            },
            self.page_held(def, state, hold, &votes, now)
        );
        if let Err(e) = audited {
            warn!(service = %def.name, hold = %hold, error = %e, "refusal record not written; the next run over this hold writes it");
            self.emit(
                Some(&def.name),
                now,
                &[("AuditWriteFailures", 1.0, Unit::Count)],
                &[("record", "refusal")],
            );
        }
        paged
    }

    /// Pages a held quorum, once per hold (see [`decision::held_page`]): claims the page
    /// with a version-guarded write, then publishes; a failed publish gives the claim back
    /// so a retry or the next reconciler run pages.
    pub(super) async fn page_held(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hold: &Hold,
        votes: &[VoteRecord],
        now: Millis,
    ) -> Result<(), EngineError> {
        let Some(page) = decision::held_page(def, state, hold, now) else {
            return Ok(());
        };
        let mut next = state.clone();
        next.version += 1;
        next.held_paged = Some(HeldPaged {
            key: page.key.clone(),
            at: now,
        });
        match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Conflict(_) => Ok(()),
            ControlWrite::Written => {
                let alert = held_alert(def, state.epoch, &page, votes);
                if let Err(e) = self.notifier.publish(&alert).await {
                    let mut undo = next.clone();
                    undo.version += 1;
                    undo.held_paged = state.held_paged.clone();
                    let _ = self
                        .store
                        .write_control(&def.name, next.version, &undo)
                        .await;
                    return Err(EngineError::StepFailed {
                        service: def.name.clone(),
                        epoch: state.epoch,
                        step: "held page",
                        cause: e.to_string(),
                    });
                }
                info!(service = %def.name, hold = page.reason, key = %page.key, "held quorum paged");
                Ok(())
            }
        }
    }

    fn count_ignored(&self, service: Option<&str>, reason: &str) {
        self.emit(
            service,
            self.clock.now(),
            &[("IgnoredEvents", 1.0, Unit::Count)],
            &[("reason", reason)],
        );
    }
}
