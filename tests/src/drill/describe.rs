//! One-line descriptions for the timeline: a function's response as an outcome and a
//! detail, a decided transition, the AWS calls of a step.

use chrono::DateTime;
use serde_json::Value;

use super::tap::round_trips;
use super::{Act, TappedCall};

/// The step's outcome in one word, and a readable detail, from the function's response.
pub(super) fn outcome_of(
    function: &str,
    act: Act,
    response: &Result<Value, String>,
) -> (String, String) {
    let v = match response {
        Ok(v) => v,
        Err(e) => return ("error".into(), shorten(e, 300)),
    };
    match function {
        "alarm-trigger" => {
            if let Some(reason) = v["ignored"].as_str() {
                return ("ignored".into(), reason.to_string());
            }
            let s = &v["services"][0];
            match s["outcome"].as_str() {
                Some(o) => (
                    o.to_string(),
                    format!(
                        "{} (phase {}, epoch {})",
                        s["detail"].as_str().unwrap_or_default(),
                        s["phase"].as_str().unwrap_or_default(),
                        s["epoch"]
                    ),
                ),
                None => ("no_service".into(), v.to_string()),
            }
        }
        "operator" if act == Act::Status => {
            let s = &v["status"][0];
            let preflight: Vec<String> = s["preflight"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            format!(
                                "{} {}",
                                c["name"].as_str().unwrap_or_default(),
                                if c["ok"].as_bool() == Some(true) {
                                    "ok"
                                } else {
                                    "NOT ok"
                                }
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let hc = &s["primary"]["health_check"];
            let outcome = if v["ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "refused"
            };
            (
                outcome.into(),
                format!(
                    "{} epoch {}; {} of {} votes live; primary check Disabled={} Inverted={}; pre-flight: {}; cooldown {} s",
                    s["phase"].as_str().unwrap_or_default(),
                    s["epoch"],
                    s["live_votes"].as_array().map_or(0, Vec::len),
                    s["quorum"],
                    hc["disabled"],
                    hc["inverted"],
                    preflight.join(", "),
                    s["cooldown_remaining_seconds"]
                ),
            )
        }
        "operator" => {
            let outcome = if v["ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "refused"
            };
            (
                outcome.into(),
                format!(
                    "{} [{} -> {}]",
                    v["message"].as_str().unwrap_or_default(),
                    v["phase_before"].as_str().unwrap_or("?"),
                    v["phase_after"].as_str().unwrap_or("?"),
                ),
            )
        }
        _ => {
            let count = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
            let empty = |k: &str| v[k].as_array().is_some_and(Vec::is_empty);
            let in_sync = count("services") == count("checked")
                && count("drifts") == 0
                && count("resumed") == 0
                && count("escalations") == 0
                && empty("errors")
                && empty("not_reached");
            (
                if in_sync { "in_sync" } else { "not_in_sync" }.into(),
                format!(
                    "checked {} of {} services, {} drifts, {} resumed, {} escalations, errors {}, not reached {}",
                    v["checked"], v["services"], v["drifts"], v["resumed"], v["escalations"],
                    v["errors"], v["not_reached"]
                ),
            )
        }
    }
}

/// A decided transition in one line: what, by whom, why, and the pre-flight results.
pub(super) fn describe_decision(exec: &failover::state::Execution) -> String {
    use failover::state::{TransitionKind, Trigger};
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
                        failover::decision::alarm_name(&v.observer),
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
