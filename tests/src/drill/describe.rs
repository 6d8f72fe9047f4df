//! One-line descriptions for the timeline: a function's response as an outcome and a
//! detail, a decided transition, the AWS calls of a step.

use chrono::DateTime;
use failover::api::operator_response::{HealthCheckStatus, OperatorResponse, ServiceStatus};
use failover::api::reports::{AlarmOutcome, ReconcileReport};
use serde::Deserialize;
use serde_json::Value;

use super::tap::round_trips;
use super::{Act, TappedCall};

/// The step's outcome in one word, and a readable detail, from the function's response
/// read as the function's typed answer.
pub(super) fn outcome_of(
    function: &str,
    act: Act,
    response: &Result<Value, String>,
) -> (String, String) {
    let v = match response {
        Ok(v) => v,
        Err(e) => return ("error".into(), shorten(e, 300)),
    };
    let unreadable = |e: serde_json::Error| ("unreadable".to_string(), format!("{e}: {v}"));
    match function {
        "alarm-trigger" => match AlarmOutcome::deserialize(v) {
            Err(e) => unreadable(e),
            Ok(AlarmOutcome {
                ignored: Some(reason),
                ..
            }) => ("ignored".into(), reason),
            Ok(a) => match a.services.first() {
                Some(s) => (
                    s.outcome.to_string(),
                    format!("{} (phase {}, epoch {})", s.detail, s.phase, s.epoch),
                ),
                None => ("no_service".into(), v.to_string()),
            },
        },
        "operator" => match OperatorResponse::deserialize(v) {
            Err(e) => unreadable(e),
            Ok(r) => {
                let outcome = if r.ok { "ok" } else { "refused" };
                match (act, r.status.first()) {
                    (Act::Status, Some(s)) => (outcome.into(), describe_status(s)),
                    _ => (
                        outcome.into(),
                        format!(
                            "{} [{} -> {}]",
                            r.message,
                            r.phase_before.map_or("?", |p| p.as_str()),
                            r.phase_after.map_or("?", |p| p.as_str()),
                        ),
                    ),
                }
            }
        },
        _ => match ReconcileReport::deserialize(v) {
            Err(e) => unreadable(e),
            Ok(r) => {
                let in_sync = r.services == r.checked
                    && r.drifts == 0
                    && r.resumed == 0
                    && r.escalations == 0
                    && r.errors.is_empty()
                    && r.not_reached.is_empty();
                let outcome = match (in_sync, r.decided) {
                    (false, _) => "not_in_sync",
                    (true, 0) => "in_sync",
                    // A standing quorum (no event) decided by this run.
                    (true, _) => "decided",
                };
                (
                    outcome.into(),
                    format!(
                        "checked {} of {} services, {} votes confirmed, {} standing quorums decided, {} drifts, {} resumed, {} escalations, errors {:?}, not reached {:?}",
                        r.checked, r.services, r.votes_confirmed, r.decided, r.drifts, r.resumed,
                        r.escalations, r.errors, r.not_reached
                    ),
                )
            }
        },
    }
}

/// One service's status in one line: phase, votes, the primary's flags, the pre-flight.
fn describe_status(s: &ServiceStatus) -> String {
    let preflight: Vec<String> = s
        .preflight
        .iter()
        .map(|c| format!("{} {}", c.name, if c.ok { "ok" } else { "NOT ok" }))
        .collect();
    let flags = match &s.primary.health_check {
        HealthCheckStatus::Read {
            disabled, inverted, ..
        } => format!("Disabled={disabled} Inverted={inverted}"),
        HealthCheckStatus::Unreadable { error } => format!("unreadable ({error})"),
    };
    format!(
        "{} epoch {}; {} of {} votes live; primary check {flags}; pre-flight: {}; cooldown {} s",
        s.phase,
        s.epoch,
        s.live_votes.len(),
        s.quorum,
        preflight.join(", "),
        s.cooldown_remaining_seconds
    )
}

/// A decided transition in one line: what, by whom, why, and the pre-flight results.
pub(super) fn describe_decision(exec: &failover::domain::state::Execution) -> String {
    use failover::domain::state::{TransitionKind, Trigger};
    let kind = match exec.kind {
        TransitionKind::Failover => "failover",
        TransitionKind::Failback => "failback",
    };
    let why = match &exec.trigger {
        Trigger::Quorum { quorum, observers } => {
            let votes: Vec<String> = exec
                .votes
                .iter()
                .map(|v| {
                    format!(
                        "{} since {}",
                        failover::domain::arn::alarm_name(&v.observer),
                        DateTime::from_timestamp_millis(v.at)
                            .map(|t| t.format("%H:%M:%S%.3f").to_string())
                            .unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "quorum: {} of {observers} observers in ALARM, {quorum} needed ({})",
                exec.votes.len(),
                votes.join(", ")
            )
        }
        Trigger::Operator {
            requested_by,
            reason,
            forced,
        } => format!(
            "operator {requested_by}: {reason}{}",
            if *forced { " (forced)" } else { "" }
        ),
    };
    let preflight: Vec<String> = exec
        .preflight
        .iter()
        .map(|c| format!("{} {}", c.name, if c.ok { "ok" } else { "NOT ok" }))
        .collect();
    let mut out = format!(
        "epoch {} {kind}, claimed by {}: {why}",
        exec.epoch, exec.owner
    );
    if !preflight.is_empty() {
        out.push_str(&format!("; pre-flight: {}", preflight.join(", ")));
    }
    if let Some(b) = &exec.blocked_reason {
        out.push_str(&format!("; BLOCKED: {b}"));
    }
    out
}

/// `4 AWS calls, 2 sequential: UpdateItem service#checkout/state, PutItem ...`.
pub fn describe_calls(calls: &[TappedCall]) -> String {
    if calls.is_empty() {
        return "0 AWS calls".into();
    }
    let depth = round_trips(calls);
    let writes = calls.iter().filter(|c| c.wrote()).count();
    let refused = calls.iter().filter(|c| !c.succeeded()).count();
    let list: Vec<String> = calls.iter().map(TappedCall::label).collect();
    format!(
        "{} AWS calls ({writes} writes applied{}), {depth} sequential: {}",
        calls.len(),
        if refused > 0 {
            format!(", {refused} refused")
        } else {
            String::new()
        },
        list.join(", ")
    )
}

/// `s` on one line, cut to `max` characters.
pub(super) fn shorten(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}
