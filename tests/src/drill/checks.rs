//! What must hold: each step's expectations ([`Expect`]) and the scenario-wide ones
//! ([`Totals`](super::Totals)). A failed check also goes on the timeline.

use failover::domain::history::HistoryRecord;
use serde::{Deserialize, Serialize};

use super::report::{AlertSeen, StepRecord, Switch};
use super::timeline::{Kind, Timeline};
use super::{describe_calls, Expect, RecordView, Scenario, Snapshot, TappedCall};

/// One expectation and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The step (1-based), or `None` for the scenario-wide checks.
    pub step: Option<usize>,
    pub what: String,
    pub ok: bool,
    /// What was found.
    pub found: String,
}

/// Adds a check to `checks`; a failed one is also said on the timeline.
pub(super) fn record(
    checks: &mut Vec<Check>,
    tl: &mut Timeline,
    step: Option<usize>,
    what: String,
    ok: bool,
    found: String,
) {
    if !ok {
        tl.say(step, Kind::Fail, format!("expected {what}, found {found}"));
    }
    checks.push(Check {
        step,
        what,
        ok,
        found,
    });
}

/// What one step showed, to be held against its [`Expect`].
pub(super) struct StepSeen<'a> {
    pub outcome: &'a str,
    pub detail: &'a str,
    pub alerts: &'a [AlertSeen],
    pub after: &'a Snapshot,
    pub audit: &'a [HistoryRecord],
    pub calls: &'a [TappedCall],
    /// The switch metric's datapoints the step added (read back from moto).
    pub published: &'a [f64],
    /// The observers' alarm ARNs (index = observer - 1).
    pub observers: &'a [String],
}

/// Checks step `n` against its expectations; when every check of the step held (those
/// already in `checks` included), says so in one line.
pub(super) fn check_step(
    checks: &mut Vec<Check>,
    tl: &mut Timeline,
    n: usize,
    e: &Expect,
    seen: &StepSeen<'_>,
) {
    let mut ok_parts = Vec::new();
    let mut expect = |checks: &mut Vec<Check>, tl: &mut Timeline, what: String, ok, found| {
        if ok {
            ok_parts.push(what.clone());
        }
        record(checks, tl, Some(n), what, ok, found);
    };
    expect(
        checks,
        tl,
        format!("outcome {}", e.outcome),
        seen.outcome == e.outcome,
        format!("{} ({})", seen.outcome, seen.detail),
    );
    if let Some(text) = e.detail_contains {
        expect(
            checks,
            tl,
            format!("the outcome says '{text}'"),
            seen.detail.contains(text),
            seen.detail.to_string(),
        );
    }
    let types: Vec<&str> = seen.alerts.iter().map(|a| a.event_type.as_str()).collect();
    expect(
        checks,
        tl,
        if e.alerts.is_empty() {
            "no alert".to_string()
        } else {
            format!("alerts: {}", e.alerts.join(", "))
        },
        types == e.alerts,
        format!("{types:?}"),
    );
    let after = seen.after;
    expect(
        checks,
        tl,
        match (e.primary_forced, after.switch.is_some()) {
            (true, false) => "primary forced unhealthy".to_string(),
            (false, false) => "primary not forced unhealthy".to_string(),
            (true, true) => "primary forced out (PrimaryForcedOut=1)".to_string(),
            (false, true) => "primary not forced out".to_string(),
        },
        after.forced_out() == e.primary_forced,
        after.switch_label(),
    );
    expect(
        checks,
        tl,
        format!("phase {}", e.phase),
        after.phase == e.phase,
        after.phase.clone(),
    );
    if let Some(kind) = e.audit {
        let kinds: Vec<&str> = seen.audit.iter().map(|h| h.kind.as_str()).collect();
        expect(
            checks,
            tl,
            format!("a '{kind}' record in the audit history"),
            kinds.contains(&kind),
            format!("{kinds:?}"),
        );
    }
    if let Some(text) = e.audit_says {
        let whats: Vec<&str> = seen.audit.iter().map(|h| h.what.as_str()).collect();
        expect(
            checks,
            tl,
            format!("the audit says '{text}'"),
            whats.iter().any(|w| w.contains(text)),
            format!("{whats:?}"),
        );
    }
    if let Some(value) = e.publishes {
        expect(
            checks,
            tl,
            format!("PrimaryForcedOut={value} published (a new datapoint read back from moto)"),
            seen.published.contains(&value),
            format!("new datapoints {:?}", seen.published),
        );
    }
    if !e.voters.is_empty() {
        let name = |arn: &str| failover::domain::arn::alarm_name(arn).to_string();
        let mut want: Vec<String> = e
            .voters
            .iter()
            .filter_map(|i| seen.observers.get(i - 1))
            .map(|arn| name(arn))
            .collect();
        want.sort();
        let carried: Vec<Vec<String>> = seen
            .audit
            .iter()
            .map(|h| {
                let mut v: Vec<String> = h.votes.iter().map(|v| name(&v.observer)).collect();
                v.sort();
                v
            })
            .collect();
        expect(
            checks,
            tl,
            format!("the audit records the votes of {}", want.join(", ")),
            carried.contains(&want),
            format!("votes per record {carried:?}"),
        );
    }
    if let Some(count) = e.calls {
        expect(
            checks,
            tl,
            format!("{count} AWS calls"),
            seen.calls.len() == count,
            format!("{} ({})", seen.calls.len(), describe_calls(seen.calls)),
        );
    }
    if checks.iter().filter(|c| c.step == Some(n)).all(|c| c.ok) {
        tl.say(Some(n), Kind::Check, format!("ok: {}", ok_parts.join("; ")));
    }
}

/// What the whole incident showed, to be held against the scenario's totals.
pub(super) struct IncidentSeen<'a> {
    pub steps: &'a [StepRecord],
    pub alerts: &'a [AlertSeen],
    pub switches: &'a [Switch],
    pub calls: &'a [TappedCall],
    pub records_before: &'a [RecordView],
    pub records_after: &'a [RecordView],
    /// The world after the last step.
    pub last: &'a Snapshot,
    pub secondary_hc: &'a str,
}

/// The scenario-wide checks (not yet on the timeline: see [`announce`]).
pub(super) fn check_incident(scenario: Scenario, seen: &IncidentSeen<'_>) -> Vec<Check> {
    let totals = scenario.totals();
    let mut out = Vec::new();
    let mut check = |what: String, ok: bool, found: String| {
        out.push(Check {
            step: None,
            what,
            ok,
            found,
        })
    };
    let failovers: Vec<&Switch> = seen.switches.iter().filter(|s| s.forced).collect();
    let failbacks: Vec<&Switch> = seen.switches.iter().filter(|s| !s.forced).collect();
    let describe = |list: &[&Switch]| {
        list.iter()
            .map(|s| format!("step {} by {}", s.step, s.function))
            .collect::<Vec<_>>()
            .join(", ")
    };
    check(
        format!(
            "{} automatic failover(s), by {}",
            totals.failovers, totals.failover_by
        ),
        failovers.len() == totals.failovers
            && failovers.iter().all(|s| s.function == totals.failover_by),
        format!("{} [{}]", failovers.len(), describe(&failovers)),
    );
    check(
        format!(
            "{} failback(s), by the operator only (no automatic failback)",
            totals.failbacks
        ),
        failbacks.len() == totals.failbacks && failbacks.iter().all(|s| s.function == "operator"),
        format!("{} [{}]", failbacks.len(), describe(&failbacks)),
    );
    let types: Vec<&str> = seen.alerts.iter().map(|a| a.event_type.as_str()).collect();
    check(
        if totals.alerts.is_empty() {
            "no alert at all".to_string()
        } else {
            format!("alerts sent: exactly {}", totals.alerts.join(", "))
        },
        types == totals.alerts,
        format!("{types:?}"),
    );
    let calls = seen.calls;
    let updates = calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck")
        .count();
    if totals.switch == "metric" {
        check(
            "no UpdateHealthCheck call on the wire (the switch is the metric)".into(),
            updates == 0,
            updates.to_string(),
        );
        let values: Vec<f64> = seen
            .last
            .switch
            .as_ref()
            .map(|s| s.datapoints.iter().map(|p| p.1).collect())
            .unwrap_or_default();
        let mut moves = values.clone();
        moves.dedup();
        let want: Vec<f64> = std::iter::repeat_n([1.0, 0.0], totals.failovers)
            .flatten()
            .take(totals.failovers + totals.failbacks)
            .collect();
        check(
            format!(
                "the switch metric read back from moto moves {want:?} (1: failed over, 0: failed back), republished in between"
            ),
            moves == want && values.len() > want.len(),
            format!("{values:?}"),
        );
        let text = super::outage::SWITCHED_BY_METRIC;
        let silent: Vec<&str> = seen
            .alerts
            .iter()
            .filter(|a| !a.message.contains(text))
            .map(|a| a.subject.as_str())
            .collect();
        check(
            format!("every alert says '{text}'"),
            silent.is_empty() && !seen.alerts.is_empty(),
            format!("alerts without it: {silent:?}"),
        );
    } else {
        check(
            format!(
                "{} UpdateHealthCheck call(s) on the wire (one per switch)",
                totals.failovers + totals.failbacks
            ),
            updates == totals.failovers + totals.failbacks,
            updates.to_string(),
        );
    }
    if scenario.route53_down() {
        let route53: Vec<&TappedCall> = calls.iter().filter(|c| c.service == "route53").collect();
        let unavailable = route53.iter().filter(|c| c.status == 503).count();
        check(
            format!(
                "Route 53's API answered nothing: {} route53 call(s) by the functions, every one answered HTTP 503 by the tap",
                route53.len()
            ),
            unavailable == route53.len(),
            format!("{} calls, {unavailable} answered 503", route53.len()),
        );
        let pending: Vec<&str> = seen
            .alerts
            .iter()
            .filter(|a| a.event_type == "pending")
            .map(|a| a.subject.as_str())
            .collect();
        check(
            "no PENDING alert (the switch did not wait for Route 53)".into(),
            pending.is_empty(),
            format!("{pending:?}"),
        );
    }
    let publishes = calls.iter().filter(|c| c.operation == "Publish").count();
    check(
        format!(
            "{} SNS Publish call(s) on the wire (one per alert)",
            totals.alerts.len()
        ),
        publishes == totals.alerts.len(),
        publishes.to_string(),
    );
    let errors: Vec<String> = seen
        .steps
        .iter()
        .filter_map(|s| {
            s.response
                .as_ref()
                .err()
                .map(|e| format!("step {}: {e}", s.n))
        })
        .collect();
    check(
        "every invocation answered (no function error)".into(),
        errors.is_empty(),
        errors.join("; "),
    );
    let (before, after) = (seen.records_before, seen.records_after);
    check(
        "the failover records are unchanged (only health-check flags move)".into(),
        before == after && before.len() == 2,
        format!("{after:?}"),
    );
    let on_secondary: Vec<String> = calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck" && c.detail.starts_with(seen.secondary_hc))
        .map(TappedCall::label)
        .collect();
    check(
        "the secondary's health check is never changed".into(),
        on_secondary.is_empty(),
        on_secondary.join("; "),
    );
    check(
        format!("final phase {}", totals.final_phase),
        seen.last.phase == totals.final_phase,
        seen.last.phase.clone(),
    );
    out
}

/// Says the scenario-wide checks on the timeline, passed or not.
pub(super) fn announce(tl: &mut Timeline, checks: &[Check]) {
    for c in checks.iter().filter(|c| c.step.is_none()) {
        let kind = if c.ok { Kind::Check } else { Kind::Fail };
        tl.say(
            None,
            kind,
            format!(
                "{}: {}{}",
                if c.ok { "ok" } else { "expected" },
                c.what,
                if c.ok {
                    String::new()
                } else {
                    format!(", found {}", c.found)
                }
            ),
        );
    }
}
