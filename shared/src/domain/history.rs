//! Audit records: one per observation, decision, step, refusal and operator action.

use serde::{Deserialize, Serialize};

use super::decision::{Hold, DAY_MS};
use super::state::{Execution, ServiceState, TransitionKind, Trigger, VoteRecord};
use super::time::{fmt_time, fmt_time_ms, Millis};

/// How long audit records are kept (the table's TTL attribute is set from it).
pub const HISTORY_RETENTION_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub at: Millis,
    pub epoch: u64,
    /// observation | decision | refusal | step | step_failed | blocked | ignored
    pub kind: String,
    /// Who: the observer's alarm ARN, the invocation, or the operator.
    pub actor: String,
    pub what: String,
    pub why: String,
    #[serde(default)]
    pub votes: Vec<VoteRecord>,
    /// Makes the sort key unique and a rewrite of the same record idempotent.
    pub key: String,
    /// The Lambda request id of the invocation that acted (operator actions): matches the
    /// invocation's CloudTrail data event, whose caller identity is the real one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id: String,
}

impl HistoryRecord {
    /// `history#<time>#<epoch>#<key>`: sorts by time, so `status` reads the newest first.
    pub fn sort_key(&self) -> String {
        format!(
            "history#{}#{:08}#{}",
            fmt_time_ms(self.at),
            self.epoch,
            self.key
        )
    }

    pub fn expires_at_secs(&self) -> i64 {
        self.at / 1000 + HISTORY_RETENTION_DAYS * 86_400
    }
}

/// Who asked for a transition and why, as the audit records say it.
pub fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Quorum { quorum, observers } => {
            format!("quorum of {quorum} of {observers} observers in ALARM")
        }
        Trigger::Operator {
            requested_by,
            reason,
            forced,
        } => format!(
            "{requested_by}: {reason}{}",
            if *forced { " (forced)" } else { "" }
        ),
    }
}

/// The decision itself, once per epoch: dated at the decision and keyed by the epoch, so
/// every writer of it (the claimant, a retry, the reconciler that resumes) writes the same
/// item and the table keeps one. It holds the votes, the pre-flight results and the
/// primary check's prior flags as far as they are known when it is written.
pub fn decision_record(exec: &Execution, from: &str, to: &str) -> HistoryRecord {
    let kind = match exec.kind {
        TransitionKind::Failover => "failover",
        TransitionKind::Failback => "failback",
    };
    let mut what = format!("{kind} decided, epoch {}: {from} -> {to}", exec.epoch);
    if !exec.preflight.is_empty() {
        let checks: Vec<String> = exec
            .preflight
            .iter()
            .map(|c| {
                let verdict = if c.ok { "ok" } else { "NOT ok" };
                format!("{} {verdict} ({})", c.name, c.detail)
            })
            .collect();
        what.push_str(&format!("; pre-flight: {}", checks.join(", ")));
    }
    if let Some(prior) = exec.prior {
        what.push_str(&format!("; primary check before: {prior}"));
        if let Some(v) = exec.version_before {
            what.push_str(&format!(" (version {v})"));
        }
    }
    if let Some(note) = &exec.prior_note {
        what.push_str(&format!("; {note}"));
    }
    if let Some(reason) = &exec.blocked_reason {
        what.push_str(&format!("; BLOCKED: {reason}"));
    }
    HistoryRecord {
        at: exec.decided_at,
        epoch: exec.epoch,
        kind: "decision".into(),
        actor: exec.owner.clone(),
        what,
        why: trigger_text(&exec.trigger),
        votes: exec.votes.clone(),
        key: "decision".into(),
        request_id: String::new(),
    }
}

/// A step that failed: which, why, and the how-manyth failure of that step in this epoch
/// (`attempt`, 1-based; 0 when the earlier records could not be read). One record per attempt.
pub fn step_failed_record(
    exec: &Execution,
    step: &str,
    cause: &str,
    attempt: u32,
    at: Millis,
) -> HistoryRecord {
    HistoryRecord {
        at,
        epoch: exec.epoch,
        kind: STEP_FAILED.into(),
        actor: exec.owner.clone(),
        what: match attempt {
            0 => format!("{step} failed (attempt number unknown): {cause}"),
            n => format!("{step} failed (attempt {n}): {cause}"),
        },
        why: trigger_text(&exec.trigger),
        votes: exec.votes.clone(),
        key: format!("{STEP_FAILED}#{step}#{attempt}"),
        request_id: String::new(),
    }
}

/// The `kind` of a failed step's record.
pub const STEP_FAILED: &str = "step_failed";

/// How many failures of `step` in `epoch` these records show (the next attempt is one more).
pub fn failed_attempts(records: &[HistoryRecord], epoch: u64, step: &str) -> u32 {
    let prefix = format!("{STEP_FAILED}#{step}#");
    records
        .iter()
        .filter(|r| r.epoch == epoch && r.kind == STEP_FAILED && r.key.starts_with(&prefix))
        .count() as u32
}

/// When the hold that refuses a quorum began: the pause's start, the transition that
/// started the cooldown, the oldest automatic failover of the day. `None` for the holds
/// that are not refusals (a transition in progress, a phase).
pub fn hold_started(state: &ServiceState, hold: &Hold, now: Millis) -> Option<Millis> {
    match hold {
        Hold::Paused { .. } => state.pause.as_ref().map(|p| p.since),
        Hold::Cooldown { .. } => state.last_transition_at,
        Hold::DailyCap { .. } => state
            .auto_failovers
            .iter()
            .copied()
            .filter(|t| now - t < DAY_MS)
            .min(),
        Hold::InProgress { .. } | Hold::Phase(_) => None,
    }
}

/// One refusal record per hold: dated at the hold's start and keyed by it, so every event
/// and reconciler run that finds the quorum held by the same hold writes the same item.
pub fn refusal_record(
    state: &ServiceState,
    hold: &Hold,
    votes: Vec<VoteRecord>,
    actor: &str,
    now: Millis,
) -> Option<HistoryRecord> {
    let since = hold_started(state, hold, now)?;
    Some(HistoryRecord {
        at: since,
        epoch: state.epoch,
        kind: "refusal".into(),
        actor: actor.into(),
        what: format!(
            "automatic failover not started ({}), quorum first held at {}",
            hold.label(),
            fmt_time(now)
        ),
        why: hold.to_string(),
        votes,
        key: format!("refusal#{}#{since}", hold.label()),
        request_id: String::new(),
    })
}
