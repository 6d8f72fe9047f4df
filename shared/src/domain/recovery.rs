//! Recovery confirmed and measured: the runbook's post-failover validation, done by the
//! same independent observers that decided. After a failover has switched, their canaries
//! reach the secondary; when every observer reports OK again (its latest state OK, dated
//! after the switch) the service has recovered, and the measured RTO is first ALARM -> the
//! last observer's OK. An observer whose OK event did not arrive (lost, or it never left
//! OK and so sends none) counts from the reconciler's read of its alarm, dated at the read:
//! an upper bound. The watch belongs to the failover's execution, so a new epoch (a
//! failback, another failover) ends it.

use serde::{Deserialize, Serialize};

use super::arn::alarm_name;
use super::catalog::ServiceDefinition;
use super::event::ObservedState;
use super::state::{Execution, Phase, ServiceState, TransitionKind};
use super::time::{fmt_duration_ms, fmt_time, secs, Millis};

/// How an observer's OK after the switch was learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OkSource {
    /// Its alarm's state change (the time is CloudWatch's).
    Event,
    /// The reconciler's read of the alarm (the time is the read's: an upper bound).
    Read,
}

/// One observer OK again after the switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObserverOk {
    pub observer: String,
    pub at: Millis,
    pub source: OkSource,
}

/// The recovery of one failover, recorded in its execution (`Execution::recovery`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// Every observer OK again: the last one's OK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<Millis>,
    /// The measured RTO: first ALARM -> the last observer's OK. `None` for a failover
    /// without an ALARM vote (an operator's planned one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<Millis>,
    /// The earliest ALARM among the votes that decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_alarm_at: Option<Millis>,
    /// Each observer's OK, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observers_ok: Vec<ObserverOk>,
    /// When the `[NOT RECOVERED]` page was recorded (once per epoch), and who still failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_recovered_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_failing: Vec<String>,
}

/// A failover whose recovery is being watched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Watch<'a> {
    pub exec: &'a Execution,
    pub switched_at: Millis,
    /// `recovery_timeout_seconds` after the switch.
    pub deadline: Millis,
}

/// The watch over `state`, if any: FAILED_OVER by a failover that switched and completed,
/// not yet recovered. Also after a `[NOT RECOVERED]` page: a later recovery is still told.
pub fn watch<'a>(def: &ServiceDefinition, state: &'a ServiceState) -> Option<Watch<'a>> {
    if state.phase != Phase::FailedOver {
        return None;
    }
    let exec = state.execution.as_ref()?;
    if exec.kind != TransitionKind::Failover || exec.completed_at.is_none() {
        return None;
    }
    let switched_at = exec.switched_at?;
    if exec
        .recovery
        .as_ref()
        .is_some_and(|r| r.recovered_at.is_some())
    {
        return None;
    }
    Some(Watch {
        exec,
        switched_at,
        deadline: switched_at.saturating_add(secs(def.recovery_timeout_seconds)),
    })
}

/// What a read of the observers' alarms found: when, and each alarm's state (`None`: not read).
pub struct Reads<'a> {
    pub at: Millis,
    pub state: &'a (dyn Fn(&str) -> Option<ObservedState> + Sync),
}

impl Reads<'_> {
    /// No read (the alarm path: the event's vote is all there is).
    pub fn none() -> Reads<'static> {
        Reads {
            at: 0,
            state: &|_| None,
        }
    }
}

/// Where one observer stands: OK after the switch, or why not (for the page).
fn standing(
    state: &ServiceState,
    observer: &str,
    switched_at: Millis,
    reads: &Reads<'_>,
) -> Result<ObserverOk, String> {
    let vote = state.votes.get(observer);
    if let Some(v) = vote.filter(|v| v.state == ObservedState::Ok && v.at > switched_at) {
        return Ok(ObserverOk {
            observer: observer.into(),
            at: v.at,
            source: OkSource::Event,
        });
    }
    let read = (reads.state)(observer);
    // A read counts unless a newer event says otherwise.
    if read == Some(ObservedState::Ok) && vote.is_none_or(|v| v.at <= reads.at) {
        return Ok(ObserverOk {
            observer: observer.into(),
            at: reads.at,
            source: OkSource::Read,
        });
    }
    let mut why = match vote {
        Some(v) if v.state == ObservedState::Ok => {
            format!(
                "OK since {}, before the switch; no OK since",
                fmt_time(v.at)
            )
        }
        Some(v) => format!("{} since {}", v.state, fmt_time(v.at)),
        None => "no recent vote".to_string(),
    };
    if let Some(r) = read {
        why.push_str(&format!("; its alarm read {r} at {}", fmt_time(reads.at)));
    }
    Err(format!("{}: {why}", alarm_name(observer)))
}

/// What the watch says now.
#[derive(Debug, Clone, PartialEq)]
pub enum RecoveryCheck {
    /// No switched failover awaits recovery.
    NotWatching,
    /// Every observer is OK again: the record to write.
    Recovered(Recovery),
    /// Not yet. `page`: the timeout has passed and `[NOT RECOVERED]` has not been paged.
    Waiting {
        failing: Vec<String>,
        deadline: Millis,
        page: bool,
    },
}

/// The pure check: each observer's latest vote (and, from the reconciler, the read of its
/// alarm), against the switch time and the timeout.
pub fn check(
    def: &ServiceDefinition,
    state: &ServiceState,
    reads: &Reads<'_>,
    now: Millis,
) -> RecoveryCheck {
    let Some(w) = watch(def, state) else {
        return RecoveryCheck::NotWatching;
    };
    let (mut oks, mut failing) = (Vec::new(), Vec::new());
    for o in &def.observers {
        match standing(state, o, w.switched_at, reads) {
            Ok(ok) => oks.push(ok),
            Err(why) => failing.push(why),
        }
    }
    let before = w.exec.recovery.clone().unwrap_or_default();
    if failing.is_empty() && !oks.is_empty() {
        oks.sort_by_key(|o| (o.at, o.observer.clone()));
        let recovered_at = oks.iter().map(|o| o.at).max();
        let first_alarm_at = w.exec.votes.iter().map(|v| v.at).min();
        return RecoveryCheck::Recovered(Recovery {
            recovered_at,
            rto_ms: first_alarm_at.zip(recovered_at).map(|(a, r)| r - a),
            first_alarm_at,
            observers_ok: oks,
            ..before
        });
    }
    RecoveryCheck::Waiting {
        failing,
        deadline: w.deadline,
        page: now >= w.deadline && before.not_recovered_at.is_none(),
    }
}

/// `state` with `recovery` recorded in its execution: the next version.
pub fn with_recovery(state: &ServiceState, recovery: Recovery) -> ServiceState {
    let mut next = state.clone();
    next.version = state.version + 1;
    if let Some(exec) = next.execution.as_mut() {
        exec.recovery = Some(recovery);
    }
    next
}

/// `state` with the `[NOT RECOVERED]` page recorded (who still fails, and when).
pub fn with_not_recovered(state: &ServiceState, failing: Vec<String>, now: Millis) -> ServiceState {
    let mut rec = state
        .execution
        .as_ref()
        .and_then(|e| e.recovery.clone())
        .unwrap_or_default();
    rec.not_recovered_at = Some(now);
    rec.still_failing = failing;
    with_recovery(state, rec)
}

/// The observers whose alarm the reconciler reads for this service: while a recovery is
/// watched, those without an OK event after the switch.
pub fn observers_to_read(def: &ServiceDefinition, state: &ServiceState) -> Vec<String> {
    let Some(w) = watch(def, state) else {
        return Vec::new();
    };
    def.observers
        .iter()
        .filter(|o| standing(state, o, w.switched_at, &Reads::none()).is_err())
        .cloned()
        .collect()
}

/// Whether the vote of `observer` must be kept from expiry: it is a measurement of the
/// recovery being watched (an OK after the switch).
pub fn keeps_vote(def: &ServiceDefinition, state: &ServiceState, observer: &str) -> bool {
    watch(def, state)
        .is_some_and(|w| standing(state, observer, w.switched_at, &Reads::none()).is_ok())
}

/// The measured timeline, in order: first ALARM, decision, switch, each observer's OK.
pub fn timeline(exec: &Execution, rec: &Recovery) -> Vec<(String, Millis)> {
    let mut t = Vec::new();
    if let Some(first) = exec.votes.iter().min_by_key(|v| v.at) {
        t.push((
            format!("first ALARM ({})", alarm_name(&first.observer)),
            first.at,
        ));
    }
    t.push(("decision".to_string(), exec.decided_at));
    if let Some(s) = exec.switched_at {
        t.push(("switch".to_string(), s));
    }
    for o in &rec.observers_ok {
        let how = match o.source {
            OkSource::Event => "",
            OkSource::Read => ", found by the reconciler's read",
        };
        t.push((format!("{} OK{how}", alarm_name(&o.observer)), o.at));
    }
    t
}

/// `4m 10s` (or `-` without an ALARM to measure from).
pub fn rto_text(rec: &Recovery) -> String {
    rec.rto_ms.map_or("-".into(), fmt_duration_ms)
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod tests;
