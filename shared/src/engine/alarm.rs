//! The automated path: an observer's vote, and the decision a quorum of them makes.

use futures::future::join_all;
use tracing::{error, info, warn};

use super::{Engine, EngineError, Invocation};
use crate::api::reports::{AlarmOutcome, ServiceOutcome};
use crate::domain::alert::capped_alert;
use crate::domain::arn::alarm_name;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{self, assess, check_freshness, Assessment, Hold};
use crate::domain::event::{parse_alarm_event, AlarmObservation};
use crate::domain::history::HistoryRecord;
use crate::domain::state::{ServiceState, Trigger, VoteRecord};
use crate::domain::time::Millis;
use crate::metrics::Unit;
use crate::ports::{
    AlarmReader, Clock, ControlStore, ControlWrite, HealthChecks, Notifier, VoteWrite,
};

impl<S, H, A, N, C> Engine<S, H, A, N, C>
where
    S: ControlStore,
    H: HealthChecks,
    A: AlarmReader,
    N: Notifier,
    C: Clock,
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
        let catalog = self.catalog().await?;
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
        let outcome = self.after_vote(def, state, fresh, obs, inv).await;
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
        let now = self.clock.now();
        match assess(def, &state, now) {
            Assessment::NoQuorum { live, quorum } => {
                let what = if fresh { "vote_recorded" } else { "duplicate" };
                info!(service = %def.name, observer = %obs.observer, live, quorum, outcome = what, "no quorum");
                Ok(self.outcome(def, what, &state, format!("{live} of {quorum} votes live")))
            }
            Assessment::Held(hold) => {
                if fresh
                    && matches!(
                        hold,
                        Hold::Paused { .. } | Hold::Cooldown { .. } | Hold::DailyCap { .. }
                    )
                {
                    self.record_refusal(def, &state, &hold, obs).await?;
                }
                info!(service = %def.name, hold = %hold, "quorum or not, no automatic action");
                let what = match hold {
                    Hold::InProgress { .. } => "in_progress",
                    _ if !fresh => "duplicate",
                    _ => "held",
                };
                Ok(self.outcome(def, what, &state, hold.to_string()))
            }
            Assessment::QuorumReached { votes } => {
                let trigger = Trigger::Quorum {
                    quorum: def.quorum,
                    observers: def.observers.len() as u32,
                };
                self.start_failover(def, state, votes, trigger, inv, fresh)
                    .await
            }
            Assessment::ResumeDue { epoch } => {
                info!(service = %def.name, epoch, "resuming an unfinished transition whose owner's lease expired");
                self.resume(def, state, inv).await
            }
        }
    }

    /// A held-back quorum is audited once per vote; the daily cap also pages, once a day.
    async fn record_refusal(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hold: &Hold,
        obs: &AlarmObservation,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let votes = decision::live_votes(def, state, now);
        let record = HistoryRecord {
            at: now,
            epoch: state.epoch,
            kind: "refusal".into(),
            actor: self.function.into(),
            what: format!("automatic failover not started ({})", hold.label()),
            why: hold.to_string(),
            votes: votes.clone(),
            key: format!("refusal#{}#{}", hold.label(), obs.event_id),
        };
        self.emit(
            Some(&def.name),
            now,
            &[("Refusals", 1.0, Unit::Count)],
            &[("reason", hold.label())],
        );
        let (audited, paged) = tokio::join!(
            self.store.append_history(&def.name, &record),
            self.page_daily_cap(def, state, hold, &votes, now)
        );
        audited.map_err(EngineError::Store)?;
        paged
    }

    /// Claims the day's cap page with a version-guarded write, then publishes; a failed
    /// publish gives the claim back so the retry pages.
    async fn page_daily_cap(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hold: &Hold,
        votes: &[VoteRecord],
        now: Millis,
    ) -> Result<(), EngineError> {
        let Hold::DailyCap { count, .. } = hold else {
            return Ok(());
        };
        if state
            .cap_paged_at
            .is_some_and(|t| now - t < decision::DAY_MS)
        {
            return Ok(());
        }
        let mut next = state.clone();
        next.version += 1;
        next.cap_paged_at = Some(now);
        match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Conflict(_) => Ok(()),
            ControlWrite::Written => {
                let alert = capped_alert(def, state.epoch, *count, votes);
                if let Err(e) = self.notifier.publish(&alert).await {
                    let mut undo = next.clone();
                    undo.version += 1;
                    undo.cap_paged_at = state.cap_paged_at;
                    let _ = self
                        .store
                        .write_control(&def.name, next.version, &undo)
                        .await;
                    return Err(EngineError::StepFailed {
                        service: def.name.clone(),
                        epoch: state.epoch,
                        step: "daily cap page",
                        cause: e.to_string(),
                    });
                }
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
