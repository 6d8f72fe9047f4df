//! The pure decision core: no SDK types, no clock, no I/O. Everything it needs is passed in.

use super::arn::alarm_name;
use super::catalog::{InsufficientData, ServiceDefinition};
use super::event::{AlarmObservation, ObservedState};
use super::state::{
    Execution, HealthCheckSettings, Phase, PreflightCheck, ServiceState, TransitionKind, Trigger,
    Vote, VoteRecord,
};
use super::time::{fmt_time, secs, Millis};

/// Events dated further in the future than this are refused: clocks disagree a little, never by minutes.
pub const MAX_CLOCK_SKEW_MS: Millis = 30_000;
pub const DAY_MS: Millis = 86_400_000;

/// Why an event is ignored before it touches any state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staleness {
    Stale { age_ms: Millis, limit_ms: Millis },
    FutureDated { ahead_ms: Millis },
}

impl Staleness {
    pub fn label(&self) -> &'static str {
        match self {
            Staleness::Stale { .. } => "stale",
            Staleness::FutureDated { .. } => "future_dated",
        }
    }
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Staleness::Stale { age_ms, limit_ms } => write!(
                f,
                "event is {}s old, older than max_event_age_seconds={}",
                age_ms / 1000,
                limit_ms / 1000
            ),
            Staleness::FutureDated { ahead_ms } => {
                write!(f, "event is dated {}s in the future", ahead_ms / 1000)
            }
        }
    }
}

/// Freshness of an observation: both the envelope time and the state time must be recent.
pub fn check_freshness(
    def: &ServiceDefinition,
    obs: &AlarmObservation,
    now: Millis,
) -> Result<(), Staleness> {
    let limit_ms = secs(def.max_event_age_seconds);
    let oldest = obs.state_changed_at.min(obs.event_time);
    let newest = obs.state_changed_at.max(obs.event_time);
    if newest - now > MAX_CLOCK_SKEW_MS {
        return Err(Staleness::FutureDated {
            ahead_ms: newest - now,
        });
    }
    if now - oldest > limit_ms {
        return Err(Staleness::Stale {
            age_ms: now - oldest,
            limit_ms,
        });
    }
    Ok(())
}

pub fn vote_from(obs: &AlarmObservation, now: Millis, received_by: &str) -> Vote {
    Vote {
        state: obs.state,
        at: obs.state_changed_at,
        event_id: obs.event_id.clone(),
        reason: obs.reason.clone(),
        received_at: now,
        received_by: received_by.to_string(),
        confirmed_at: None,
    }
}

/// The observers of this service whose latest known state is ALARM, confirmed (by its
/// event or by a read of the alarm) inside the vote window. Votes from alarms no longer in
/// the catalog do not count.
pub fn live_votes(def: &ServiceDefinition, state: &ServiceState, now: Millis) -> Vec<VoteRecord> {
    let window = secs(def.vote_window_seconds);
    def.observers
        .iter()
        .filter_map(|observer| {
            let vote = state.votes.get(observer)?;
            let live = vote.state == ObservedState::Alarm
                && now - vote.last_confirmed() <= window
                && vote.at - now <= MAX_CLOCK_SKEW_MS;
            live.then(|| VoteRecord {
                observer: observer.clone(),
                at: vote.at,
                reason: vote.reason.clone(),
            })
        })
        .collect()
}

/// The catalogued observers whose stored vote is ALARM, live or not, as (observer, the
/// vote's `at`): a read of the alarm that still finds it in ALARM confirms the vote.
pub fn standing_alarms(def: &ServiceDefinition, state: &ServiceState) -> Vec<(String, Millis)> {
    def.observers
        .iter()
        .filter_map(|o| {
            let v = state.votes.get(o)?;
            (v.state == ObservedState::Alarm).then(|| (o.clone(), v.at))
        })
        .collect()
}

/// Vote records that no longer matter, as (observer, the vote's `at`): last confirmed
/// longer ago than both the vote window and `max_event_age_seconds` (until then an OK
/// still refuses a late, older ALARM, and a confirmed ALARM is kept).
pub fn expired_votes(
    def: &ServiceDefinition,
    state: &ServiceState,
    now: Millis,
) -> Vec<(String, Millis)> {
    let keep = secs(def.vote_window_seconds.max(def.max_event_age_seconds));
    state
        .votes
        .iter()
        .filter(|(_, v)| now - v.last_confirmed() > keep)
        .map(|(o, v)| (o.clone(), v.at))
        .collect()
}

/// What the automated path should do with a service, given its state after a vote.
#[derive(Debug, Clone, PartialEq)]
pub enum Assessment {
    /// Fewer than `quorum` live ALARM votes: record, do nothing.
    NoQuorum { live: usize, quorum: u32 },
    /// Quorum is live and nothing holds it back: one invocation must claim the decision.
    QuorumReached { votes: Vec<VoteRecord> },
    /// A decided transition is unfinished and its owner's lease has run out: finish it.
    ResumeDue { epoch: u64 },
    /// Quorum or not, the automated path must not act.
    Held(Hold),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Hold {
    /// A transition is in progress and its owner still holds the lease.
    InProgress {
        epoch: u64,
        owner: String,
        lease_until: Millis,
    },
    /// Already failed over, blocked, or failing back: votes cannot fail over again.
    Phase(Phase),
    Paused {
        until: Option<Millis>,
        live: usize,
    },
    Cooldown {
        remaining_ms: Millis,
        live: usize,
    },
    DailyCap {
        count: usize,
        cap: u32,
    },
}

impl Hold {
    pub fn label(&self) -> &'static str {
        match self {
            Hold::InProgress { .. } => "in_progress",
            Hold::Phase(_) => "phase",
            Hold::Paused { .. } => "paused",
            Hold::Cooldown { .. } => "cooldown",
            Hold::DailyCap { .. } => "daily_cap",
        }
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::InProgress { epoch, owner, .. } => {
                write!(f, "epoch {epoch} is in progress, owned by {owner}")
            }
            Hold::Phase(p) => write!(f, "service is {p}; automatic failover does not apply"),
            Hold::Paused { until: Some(u), .. } => write!(f, "paused until {}", fmt_time(*u)),
            Hold::Paused { until: None, .. } => write!(f, "paused until resumed"),
            Hold::Cooldown { remaining_ms, .. } => {
                write!(f, "in cooldown for another {}s", remaining_ms / 1000)
            }
            Hold::DailyCap { count, cap } => write!(
                f,
                "{count} automatic failovers in the last 24h reached max_auto_failovers_per_day={cap}"
            ),
        }
    }
}

pub fn assess(def: &ServiceDefinition, state: &ServiceState, now: Millis) -> Assessment {
    match state.phase {
        Phase::FailingOver | Phase::FailingBack => {
            return match &state.execution {
                Some(exec) if exec.lease_until > now => Assessment::Held(Hold::InProgress {
                    epoch: exec.epoch,
                    owner: exec.owner.clone(),
                    lease_until: exec.lease_until,
                }),
                _ => Assessment::ResumeDue { epoch: state.epoch },
            };
        }
        Phase::FailedOver | Phase::Blocked => return Assessment::Held(Hold::Phase(state.phase)),
        Phase::PrimaryActive => {}
    }
    let votes = live_votes(def, state, now);
    let live = votes.len();
    if live < def.quorum as usize {
        return Assessment::NoQuorum {
            live,
            quorum: def.quorum,
        };
    }
    if let Some(pause) = state.pause.as_ref().filter(|p| p.active_at(now)) {
        return Assessment::Held(Hold::Paused {
            until: pause.until,
            live,
        });
    }
    if let Some(remaining_ms) = cooldown_remaining(def, state, now) {
        return Assessment::Held(Hold::Cooldown { remaining_ms, live });
    }
    let count = recent_auto_failovers(state, now).count();
    if count >= def.max_auto_failovers_per_day as usize {
        return Assessment::Held(Hold::DailyCap {
            count,
            cap: def.max_auto_failovers_per_day,
        });
    }
    Assessment::QuorumReached { votes }
}

/// A held quorum is paged at most this often (the reconciler's escalation interval).
pub const ESCALATION_INTERVAL_MS: Millis = 15 * 60_000;

/// What a `held` page says: which hold, why, until when, and what an operator can do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPage {
    /// Stable for as long as this one hold lasts: one page per key.
    pub key: String,
    /// `paused`, `cooldown`, `daily_cap` or `blocked`.
    pub reason: &'static str,
    pub detail: String,
    /// When the hold ends by itself; `None`: only an operator ends it.
    pub until: Option<Millis>,
    /// The operator request (JSON) that fails over now.
    pub act_now: String,
}

/// The page a held quorum is owed, if any: `hold` holds back a quorum of live votes (for
/// BLOCKED: a new quorum, all of it newer than the blocked decision, whose own `blocked`
/// alert paged the votes it saw), and no page went out for this hold or within
/// [`ESCALATION_INTERVAL_MS`] of the last one.
pub fn held_page(
    def: &ServiceDefinition,
    state: &ServiceState,
    hold: &Hold,
    now: Millis,
) -> Option<HeldPage> {
    let force = cooldown_remaining(def, state, now).is_some() || state.phase == Phase::Blocked;
    let (key, reason, until) = match hold {
        Hold::Paused { until, .. } => {
            let since = state.pause.as_ref().map_or(0, |p| p.since);
            (format!("paused#{since}"), "paused", *until)
        }
        Hold::Cooldown { remaining_ms, .. } => {
            let started = state.last_transition_at.unwrap_or_default();
            (
                format!("cooldown#{started}"),
                "cooldown",
                Some(now + remaining_ms),
            )
        }
        Hold::DailyCap { .. } => {
            let oldest = recent_auto_failovers(state, now).min().unwrap_or(now);
            (
                format!("daily_cap#{oldest}"),
                "daily_cap",
                Some(oldest + DAY_MS),
            )
        }
        Hold::Phase(Phase::Blocked) => {
            let decided = state.execution.as_ref().map_or(0, |e| e.decided_at);
            let newer = live_votes(def, state, now)
                .iter()
                .filter(|v| v.at > decided)
                .count();
            if newer < def.quorum as usize {
                return None;
            }
            (format!("blocked#{}", state.epoch), "blocked", None)
        }
        Hold::Phase(_) | Hold::InProgress { .. } => return None,
    };
    let paged = state.held_paged.as_ref();
    if paged.is_some_and(|p| p.key == key || now - p.at < ESCALATION_INTERVAL_MS) {
        return None;
    }
    let mut request = serde_json::json!({
        "action": "failover",
        "service": def.name,
        "reason": format!("quorum of observers in ALARM, automatic failover held ({reason})"),
        "requested_by": "<your name>",
    });
    if force {
        request["force"] = serde_json::Value::Bool(true);
    }
    Some(HeldPage {
        key,
        reason,
        detail: hold.to_string(),
        until,
        act_now: request.to_string(),
    })
}

/// Time left in the cooldown that follows every completed transition, if any.
pub fn cooldown_remaining(
    def: &ServiceDefinition,
    state: &ServiceState,
    now: Millis,
) -> Option<Millis> {
    let remaining = state.last_transition_at? + secs(def.cooldown_seconds) - now;
    (remaining > 0).then_some(remaining)
}

fn recent_auto_failovers(state: &ServiceState, now: Millis) -> impl Iterator<Item = Millis> + '_ {
    state
        .auto_failovers
        .iter()
        .copied()
        .filter(move |t| now - t < DAY_MS)
}

/// Who claims a decision and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    pub owner: String,
    pub lease_until: Millis,
}

/// The state that claiming an automatic failover writes: next epoch, FAILING_OVER.
/// The store writes it only if `state.version` is still current, so one claim wins.
pub fn claim_failover(
    state: &ServiceState,
    votes: Vec<VoteRecord>,
    trigger: Trigger,
    claimant: &Claimant,
    now: Millis,
) -> ServiceState {
    let mut next = state.clone();
    next.phase = Phase::FailingOver;
    next.epoch = state.epoch + 1;
    next.version = state.version + 1;
    next.execution = Some(new_execution(
        next.epoch,
        TransitionKind::Failover,
        trigger,
        votes,
        claimant,
        now,
    ));
    next
}

/// The state that claiming a failback writes: next epoch, FAILING_BACK, and the flags to
/// restore on the primary's check (`None` when it was never changed, e.g. from BLOCKED).
pub fn claim_failback(
    state: &ServiceState,
    restore: Option<HealthCheckSettings>,
    votes: Vec<VoteRecord>,
    trigger: Trigger,
    claimant: &Claimant,
    now: Millis,
) -> ServiceState {
    let mut next = state.clone();
    next.phase = Phase::FailingBack;
    next.epoch = state.epoch + 1;
    next.version = state.version + 1;
    let mut exec = new_execution(
        next.epoch,
        TransitionKind::Failback,
        trigger,
        votes,
        claimant,
        now,
    );
    exec.prior = restore;
    exec.nothing_switched = state
        .execution
        .as_ref()
        .is_none_or(|e| e.kind == TransitionKind::Failover && e.switched_at.is_none());
    next.execution = Some(exec);
    next
}

/// Marks a transition complete: its phase, and the cooldown and daily cap it starts.
/// Only a completed switch counts; a blocked failover, or a failback from BLOCKED, changed
/// nothing.
pub fn complete_transition(state: &ServiceState, now: Millis) -> ServiceState {
    let mut next = state.clone();
    next.version = state.version + 1;
    if let Some(exec) = next.execution.as_mut() {
        exec.completed_at = Some(now);
        exec.lease_until = now;
        // Only a switch that changed Route 53 starts the cooldown: a failback from BLOCKED
        // (nothing to restore) leaves the automated path armed.
        let switched = exec.switched_at.is_some();
        next.phase = match (exec.kind, exec.blocked_reason.is_some()) {
            (TransitionKind::Failover, true) => Phase::Blocked,
            (TransitionKind::Failover, false) => Phase::FailedOver,
            (TransitionKind::Failback, _) => Phase::PrimaryActive,
        };
        if switched {
            next.last_transition_at = Some(exec.decided_at);
            next.auto_failovers = recent_auto_failovers(state, now).collect();
            if exec.kind == TransitionKind::Failover
                && matches!(exec.trigger, Trigger::Quorum { .. })
            {
                next.auto_failovers.push(exec.decided_at);
            }
        }
    }
    next
}

fn new_execution(
    epoch: u64,
    kind: TransitionKind,
    trigger: Trigger,
    votes: Vec<VoteRecord>,
    claimant: &Claimant,
    now: Millis,
) -> Execution {
    Execution {
        epoch,
        kind,
        trigger,
        decided_at: now,
        votes,
        owner: claimant.owner.clone(),
        lease_until: claimant.lease_until,
        preflight: Vec::new(),
        prior: None,
        prior_note: None,
        version_before: None,
        version_after: None,
        switched_at: None,
        metric_switched_at: None,
        check_switched_at: None,
        route53_unanswered: None,
        nothing_switched: false,
        blocked_reason: None,
        pending_alerted_at: None,
        alerted_at: None,
        alert_message_id: None,
        completed_at: None,
        recovery: None,
        workflow: None,
    }
}

/// Takes over an unfinished execution whose lease has expired.
pub fn take_over(state: &ServiceState, claimant: &Claimant) -> Option<ServiceState> {
    let mut next = state.clone();
    let exec = next.execution.as_mut()?;
    exec.owner = claimant.owner.clone();
    exec.lease_until = claimant.lease_until;
    next.version = state.version + 1;
    Some(next)
}

/// What the secondary looked like when we checked it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreflightReadings {
    /// `Some(Ok(healthy))` when checked; `Some(Err(why))` when it could not be read.
    pub secondary_health: Option<Result<HealthReading, String>>,
    pub secondary_alarm: Option<Result<Option<ObservedState>, String>>,
    /// Latest replica lag in seconds; `Ok(None)` when the metric has no recent data.
    pub replica_lag: Option<Result<Option<f64>, String>>,
    /// `preflight.capacity`: InService instances or running tasks; `Ok(None)`: not found.
    pub capacity: Option<Result<Option<i32>, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthReading {
    pub healthy_checkers: u32,
    pub checkers: u32,
}

impl HealthReading {
    /// Route 53 reports a check healthy when more than 18% of its checkers do.
    pub fn healthy(self) -> bool {
        self.checkers > 0 && u64::from(self.healthy_checkers) * 100 > u64::from(self.checkers) * 18
    }
}

/// The pre-flight gate. Anything that cannot be read counts as not ready: an automatic
/// failover onto a secondary we could not look at is the wrong default; an operator can force.
pub fn preflight_checks(
    def: &ServiceDefinition,
    readings: &PreflightReadings,
) -> Vec<PreflightCheck> {
    let mut checks = Vec::new();
    let pf = &def.preflight;
    if pf.secondary_health_check {
        let name = format!("secondary health check {}", def.secondary.health_check_id);
        checks.push(match &readings.secondary_health {
            Some(Ok(r)) => PreflightCheck {
                name,
                ok: r.healthy(),
                detail: format!(
                    "{} ({} of {} checkers healthy)",
                    if r.healthy() { "healthy" } else { "unhealthy" },
                    r.healthy_checkers,
                    r.checkers
                ),
            },
            Some(Err(e)) => not_ready(name, format!("could not be read: {e}")),
            None => not_ready(name, "not checked".into()),
        });
    }
    if let Some(arn) = &pf.secondary_alarm_arn {
        let name = format!("secondary alarm {}", alarm_name(arn));
        checks.push(match &readings.secondary_alarm {
            Some(Ok(Some(ObservedState::Ok))) => PreflightCheck {
                name,
                ok: true,
                detail: "OK".into(),
            },
            Some(Ok(Some(ObservedState::InsufficientData)))
                if pf.secondary_alarm_insufficient_data == InsufficientData::Ready =>
            {
                PreflightCheck {
                    name,
                    ok: true,
                    detail: "INSUFFICIENT_DATA (counted as ready: \
                             preflight.secondary_alarm_insufficient_data)"
                        .into(),
                }
            }
            Some(Ok(Some(s))) => not_ready(name, s.to_string()),
            Some(Ok(None)) => not_ready(name, "alarm not found".into()),
            Some(Err(e)) => not_ready(name, format!("could not be read: {e}")),
            None => not_ready(name, "not checked".into()),
        });
    }
    if let Some(lag) = &pf.replica_lag {
        let name = format!("replica lag {} {}", lag.namespace, lag.metric_name);
        checks.push(match &readings.replica_lag {
            Some(Ok(Some(v))) if *v <= lag.max_seconds => PreflightCheck {
                name,
                ok: true,
                detail: format!("{v:.1}s (limit {}s)", lag.max_seconds),
            },
            Some(Ok(Some(v))) => not_ready(
                name,
                format!("{v:.1}s is over the limit of {}s", lag.max_seconds),
            ),
            Some(Ok(None)) => not_ready(name, "no recent datapoints".into()),
            Some(Err(e)) => not_ready(name, format!("could not be read: {e}")),
            None => not_ready(name, "not checked".into()),
        });
    }
    if let Some(floor) = &pf.capacity {
        checks.push(super::workflow::capacity_check(
            floor,
            readings.capacity.as_ref(),
        ));
    }
    checks
}

fn not_ready(name: String, detail: String) -> PreflightCheck {
    PreflightCheck {
        name,
        ok: false,
        detail,
    }
}

pub fn preflight_passed(checks: &[PreflightCheck]) -> bool {
    checks.iter().all(|c| c.ok)
}

#[cfg(test)]
#[path = "decision_tests.rs"]
mod tests;
