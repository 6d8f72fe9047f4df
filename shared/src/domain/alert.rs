//! Alert text: one SNS message per transition, readable at 3 a.m. and filterable by attributes.

use std::fmt::Write;

use super::catalog::ServiceDefinition;
use super::decision::HeldPage;
use super::state::{
    Drift, Execution, HealthCheckSettings, Pause, Phase, TransitionKind, Trigger, VoteRecord,
};
use super::text::clip;
use super::time::fmt_time;

/// SNS refuses subjects over 100 characters.
pub const MAX_SUBJECT_CHARS: usize = 100;

/// One alert, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    pub message: String,
    /// String attributes except `epoch`, which is sent as a Number.
    pub service: String,
    pub event_type: String,
    pub epoch: u64,
    pub severity: String,
}

pub fn failover_alert(def: &ServiceDefinition, exec: &Execution) -> Alert {
    let subject = subject(
        "[FAILOVER]",
        &def.name,
        &format!(
            ": {} -> {} (epoch {})",
            def.primary.region, def.secondary.region, exec.epoch
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "FAILOVER: {} now answers from the secondary region {} (was {}). Epoch {}.\n",
        def.name, def.secondary.region, def.primary.region, exec.epoch
    );
    decision_section(&mut m, def, exec);
    preflight_section(&mut m, exec);
    let after = HealthCheckSettings::FORCED_UNHEALTHY;
    let _ = writeln!(m, "What was changed");
    match exec.prior {
        Some(prior) => {
            let _ = writeln!(
                m,
                "  Route 53 health check {} (primary, {}): {} -> {}{}",
                def.primary.health_check_id,
                def.primary.region,
                prior,
                after,
                versions(exec)
            );
        }
        None => {
            let _ = writeln!(
                m,
                "  Route 53 health check {} (primary, {}): -> {}",
                def.primary.health_check_id, def.primary.region, after
            );
        }
    }
    if let Some(note) = &exec.prior_note {
        let _ = writeln!(m, "  Note: {note}");
    }
    waited_note(&mut m, exec);
    let _ = writeln!(
        m,
        "  Verified by read-back: the check now reports forced unhealthy, so the failover record answers with the secondary.\n"
    );
    let _ = writeln!(m, "What was deliberately NOT done (needs a human)");
    let _ = writeln!(
        m,
        "  - No database was promoted. If {} is writable only in {}, promote its replica by hand.",
        def.name, def.primary.region
    );
    let _ = writeln!(
        m,
        "  - Failback is never automatic: when {} is healthy again, run the operator's failback with a reason.\n",
        def.primary.region
    );
    let _ = writeln!(m, "Post-failover checklist");
    let _ = writeln!(
        m,
        "  1. DNS: the failover record resolves to the {} endpoint (allow for the record's TTL).",
        def.secondary.region
    );
    let _ = writeln!(
        m,
        "  2. Health: secondary health check {} stays healthy; error rate and latency in {} are normal.",
        def.secondary.health_check_id, def.secondary.region
    );
    let _ = writeln!(
        m,
        "  3. Data: writes succeed; replica lag and replication direction are what you expect."
    );
    let _ = writeln!(
        m,
        "  4. Canaries: observer canaries recover against the secondary."
    );
    let _ = writeln!(
        m,
        "  5. Dependencies: allow-lists, webhooks and third parties reach {}.\n",
        def.secondary.region
    );
    let _ = writeln!(m, "Status page (ready to paste)");
    let _ = writeln!(
        m,
        "  We are investigating degraded service for {}. Traffic has been moved to our standby region and service is being restored. Next update within 30 minutes.",
        def.name
    );
    footer(&mut m, exec);
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "failover".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}

/// The pre-flight gate refused an automatic failover: page a human, change nothing.
pub fn blocked_alert(def: &ServiceDefinition, exec: &Execution) -> Alert {
    let subject = subject(
        "[BLOCKED]",
        &def.name,
        &format!(
            ": failover to {} refused, secondary not ready (epoch {})",
            def.secondary.region, exec.epoch
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "BLOCKED: a quorum of observers says {} in {} is down, but the secondary {} is not ready, so NOTHING was changed. Epoch {}.\n",
        def.name, def.primary.region, def.secondary.region, exec.epoch
    );
    decision_section(&mut m, def, exec);
    preflight_section(&mut m, exec);
    let _ = writeln!(m, "What to do");
    let _ = writeln!(m, "  - Fix the failing pre-flight checks above, or");
    let _ = writeln!(
        m,
        "  - fail over by hand with the operator's failover and force=true (recorded as forced), or"
    );
    let _ = writeln!(
        m,
        "  - if the primary is fine after all, fail back to clear the BLOCKED state.\n"
    );
    let _ = writeln!(m, "Status page (ready to paste)");
    let _ = writeln!(
        m,
        "  We are investigating degraded service for {}. Our engineers are working on it. Next update within 30 minutes.",
        def.name
    );
    footer(&mut m, exec);
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "blocked".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}

/// A decided transition is waiting: a step of the switch failed (typically Route 53's
/// control plane unreachable). Sent once per epoch; the FAILOVER or FAILBACK alert follows when done.
pub fn pending_alert(def: &ServiceDefinition, exec: &Execution, step: &str, why: &str) -> Alert {
    let (what, from, to) = match exec.kind {
        TransitionKind::Failover => ("failover", &def.primary.region, &def.secondary.region),
        TransitionKind::Failback => ("failback", &def.secondary.region, &def.primary.region),
    };
    let subject = subject(
        "[PENDING]",
        &def.name,
        &format!(
            ": {what} {from} -> {to} decided, switch waiting (epoch {})",
            exec.epoch
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "PENDING: the {what} of {} ({from} -> {to}) is decided, but the switch is NOT done yet. Epoch {}.\n",
        def.name, exec.epoch
    );
    let _ = writeln!(m, "Why it is waiting");
    let _ = writeln!(m, "  step:  {step}");
    let _ = writeln!(m, "  error: {}", clip(why, 500));
    let state = match exec.switched_at {
        Some(_) => format!(
            "  Route 53 health check {} already changed; only the confirmation is left.",
            def.primary.health_check_id
        ),
        None => format!(
            "  Route 53 health check {} (primary, {}): the change is not confirmed; until it is, assume DNS still answers with {from}.",
            def.primary.health_check_id, def.primary.region
        ),
    };
    let _ = writeln!(m, "{state}\n");
    decision_section(&mut m, def, exec);
    let _ = writeln!(m, "What happens next");
    let _ = writeln!(
        m,
        "  The decision is kept. The event's redelivery and the reconciler (every minute) retry the switch; nothing is done twice. You get the [{}] alert when it is done, or an [ESCALATION] if it stays stuck.",
        what.to_uppercase()
    );
    let _ = writeln!(
        m,
        "  Nothing needs doing unless this lasts. Route 53's control plane is in us-east-1: check the AWS Health Dashboard."
    );
    footer(&mut m, exec);
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "pending".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}

/// An operator moved the service back to the primary.
pub fn failback_alert(def: &ServiceDefinition, exec: &Execution) -> Alert {
    let subject = subject(
        "[FAILBACK]",
        &def.name,
        &format!(
            ": {} -> {} (epoch {})",
            def.secondary.region, def.primary.region, exec.epoch
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "FAILBACK: {} answers from the primary region {} again (was {}). Epoch {}.\n",
        def.name, def.primary.region, def.secondary.region, exec.epoch
    );
    decision_section(&mut m, def, exec);
    let _ = writeln!(m, "What was changed");
    match exec.prior {
        Some(prior) => {
            let _ = writeln!(
                m,
                "  Route 53 health check {} (primary, {}): {} -> {} (the flags recorded before the failover){}",
                def.primary.health_check_id,
                def.primary.region,
                HealthCheckSettings::FORCED_UNHEALTHY,
                prior,
                versions(exec)
            );
            waited_note(&mut m, exec);
            let _ = writeln!(m, "  Verified by read-back. Route 53 answers with the primary as soon as its check passes.\n");
        }
        None => {
            let _ = writeln!(m, "  Nothing in Route 53: the primary's check was never changed (the failover had been blocked).\n");
        }
    }
    let _ = writeln!(m, "Post-failback checklist");
    let _ = writeln!(m, "  1. DNS: the failover record resolves to the {} endpoint (after the secondary record's TTL).", def.primary.region);
    let _ = writeln!(
        m,
        "  2. Health: primary health check {} is healthy; error rate and latency in {} are normal.",
        def.primary.health_check_id, def.primary.region
    );
    let _ = writeln!(
        m,
        "  3. Data: replication runs {} -> {} again, if it was reversed.",
        def.primary.region, def.secondary.region
    );
    let _ = writeln!(
        m,
        "  4. Automatic failover is armed again after the {}s cooldown.\n",
        def.cooldown_seconds
    );
    let _ = writeln!(m, "Status page (ready to paste)");
    let _ = writeln!(
        m,
        "  Service for {} has been fully restored to our primary region. We will keep monitoring.",
        def.name
    );
    footer(&mut m, exec);
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "failback".into(),
        epoch: exec.epoch,
        severity: "warning".into(),
    }
}

/// Automatic actions paused (`paused`) or resumed.
pub fn pause_alert(def: &ServiceDefinition, pause: &Pause, paused: bool, epoch: u64) -> Alert {
    let (tag, event_type, tail) = if paused {
        let until = pause.until.map_or("resumed by hand".to_string(), fmt_time);
        (
            "[PAUSED]",
            "pause",
            format!(": automatic failover off until {until}"),
        )
    } else {
        (
            "[RESUMED]",
            "resume",
            ": automatic failover armed again".to_string(),
        )
    };
    let subject = subject(tag, &def.name, &tail);
    let mut m = String::new();
    if paused {
        let _ = writeln!(
            m,
            "PAUSED: automatic failover for {} is off until {}. Votes are still recorded; nothing is switched automatically.",
            def.name,
            pause.until.map_or("resumed by hand".to_string(), fmt_time)
        );
    } else {
        let _ = writeln!(
            m,
            "RESUMED: automatic failover for {} is armed again (paused since {}). Live votes are evaluated at once.",
            def.name,
            fmt_time(pause.since)
        );
    }
    let _ = writeln!(m, "  by:     {}", clip(&pause.requested_by, 100));
    let _ = writeln!(m, "  reason: {}", clip(&pause.reason, 300));
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: event_type.into(),
        epoch,
        severity: "info".into(),
    }
}

/// The primary's check does not match the decision (changed by hand, or lost).
pub fn drift_alert(
    def: &ServiceDefinition,
    epoch: u64,
    drift: &Drift,
    reapplied: Option<&str>,
) -> Alert {
    let subject = subject(
        "[DRIFT]",
        &def.name,
        &format!(": Route 53 disagrees with {} (epoch {epoch})", drift.phase),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "DRIFT: {} is {} but its primary health check {} says otherwise.\n",
        def.name, drift.phase, def.primary.health_check_id
    );
    let _ = writeln!(m, "  expected: {}", drift.expected);
    let _ = writeln!(m, "  found:    {}", drift.found);
    let _ = writeln!(m, "  since:    {}\n", fmt_time(drift.detected_at));
    match reapplied {
        Some(result) => {
            let _ = writeln!(
                m,
                "The catalog says enforce=true, so the decision was re-applied: {result}"
            );
        }
        None => {
            let _ = writeln!(m, "The catalog says enforce=false: nothing was changed. Humans win, but check that this change was intended:");
            let _ = writeln!(m, "  - intended: run the operator's failover or failback so the state matches Route 53;");
            let _ = writeln!(
                m,
                "  - not intended: put the check back (or set enforce=true for this service)."
            );
        }
    }
    let _ = writeln!(
        m,
        "\nThis drift is reported once; the next alert comes when it changes."
    );
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "drift".into(),
        epoch,
        severity: "critical".into(),
    }
}

/// Still blocked, or a transition that could not complete: a human is needed.
pub fn escalation_alert(def: &ServiceDefinition, epoch: u64, phase: Phase, why: &str) -> Alert {
    let subject = subject(
        "[ESCALATION]",
        &def.name,
        &format!(": still {phase} (epoch {epoch})"),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "ESCALATION: {} needs a human. It is {} (epoch {}).\n",
        def.name, phase, epoch
    );
    let _ = writeln!(m, "  why: {}", clip(why, 500));
    let _ = writeln!(m, "\nRun the operator's status for details; fail over with force, or fail back, to resolve it.");
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "escalation".into(),
        epoch,
        severity: "critical".into(),
    }
}

/// A quorum stands but a hold (pause, cooldown, daily cap, BLOCKED) keeps automation from
/// acting: a human decides now, or the hold ends and the reconciler re-assesses.
pub fn held_alert(
    def: &ServiceDefinition,
    epoch: u64,
    page: &HeldPage,
    votes: &[VoteRecord],
) -> Alert {
    let until = page.until.map_or("an operator acts".to_string(), fmt_time);
    let subject = subject(
        "[HELD]",
        &def.name,
        &format!(
            ": quorum says {} is down, held ({}) until {until}",
            def.primary.region, page.reason
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "HELD: a quorum of observers says {} in {} is down, but automatic failover is held: {}.\n",
        def.name, def.primary.region, page.detail
    );
    let _ = writeln!(m, "Hold");
    let _ = writeln!(m, "  reason:   {}", page.reason);
    let _ = writeln!(m, "  until:    {until}");
    if page.until.is_some() {
        let _ = writeln!(
            m,
            "  then:     the reconciler re-assesses; if the quorum still stands, it fails over"
        );
    }
    let _ = writeln!(m, "\nVotes");
    for v in votes {
        let _ = writeln!(
            m,
            "  - {} ALARM since {}: {}",
            v.observer,
            fmt_time(v.at),
            clip(&v.reason, 300)
        );
    }
    let _ = writeln!(m, "\nAct now");
    let _ = writeln!(
        m,
        "  If the primary is really down, fail over now: invoke the operator with"
    );
    let _ = writeln!(m, "  {}", page.act_now);
    let _ = writeln!(
        m,
        "  If the observers are wrong, find out why before anything else moves."
    );
    let _ = writeln!(m, "\n-- regional failover, epoch {epoch}");
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "held".into(),
        epoch,
        severity: "critical".into(),
    }
}

fn decision_section(m: &mut String, def: &ServiceDefinition, exec: &Execution) {
    let _ = writeln!(m, "Decision");
    let _ = writeln!(m, "  service:  {}", def.name);
    let _ = writeln!(m, "  time:     {}", fmt_time(exec.decided_at));
    match &exec.trigger {
        Trigger::Quorum { quorum, observers } => {
            let _ = writeln!(
                m,
                "  trigger:  automatic, {} of {} observers in ALARM (quorum {}) within {}s",
                exec.votes.len(),
                observers,
                quorum,
                def.vote_window_seconds
            );
        }
        Trigger::Operator {
            requested_by,
            reason,
            forced,
        } => {
            let _ = writeln!(
                m,
                "  trigger:  operator {}{}, reason: {}",
                clip(requested_by, 100),
                if *forced {
                    " (FORCED past the safety checks)"
                } else {
                    ""
                },
                clip(reason, 300)
            );
        }
    }
    if !exec.votes.is_empty() {
        let _ = writeln!(m, "  votes:");
        for v in &exec.votes {
            let _ = writeln!(
                m,
                "    - {} ALARM since {}: {}",
                v.observer,
                fmt_time(v.at),
                clip(&v.reason, 300)
            );
        }
    }
    let _ = writeln!(m);
}

fn preflight_section(m: &mut String, exec: &Execution) {
    let _ = writeln!(m, "Pre-flight checks on the secondary");
    if exec.preflight.is_empty() {
        let _ = writeln!(m, "  (none configured)");
    }
    for c in &exec.preflight {
        let _ = writeln!(
            m,
            "  [{}] {}: {}",
            if c.ok { "ok" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    if let Some(reason) = &exec.blocked_reason {
        let _ = writeln!(m, "  Blocked because: {reason}");
    }
    let _ = writeln!(m);
}

/// After a PENDING alert, the closing alert says how long the switch waited.
fn waited_note(m: &mut String, exec: &Execution) {
    if let (Some(pending), Some(switched)) = (exec.pending_alerted_at, exec.switched_at) {
        let _ = writeln!(
            m,
            "  The switch waited: a step could not reach AWS at first (PENDING alert at {}); it was made at {}, {:.0}s after the decision.",
            fmt_time(pending),
            fmt_time(switched),
            (switched - exec.decided_at) as f64 / 1000.0
        );
    }
}

fn footer(m: &mut String, exec: &Execution) {
    let _ = writeln!(
        m,
        "\n-- regional failover, epoch {}, decided by {}",
        exec.epoch, exec.owner
    );
}

fn versions(exec: &Execution) -> String {
    match (exec.version_before, exec.version_after) {
        (Some(b), Some(a)) => format!(" (HealthCheckVersion {b} -> {a})"),
        _ => String::new(),
    }
}

/// `<tag> <service><tail>`, cut to SNS's limit by shortening the service name first.
fn subject(tag: &str, service: &str, tail: &str) -> String {
    let fixed = tag.chars().count() + 1 + tail.chars().count();
    let room = MAX_SUBJECT_CHARS.saturating_sub(fixed);
    let s = format!("{tag} {}{tail}", clip(service, room));
    // SNS subjects must be printable single lines; strip control characters.
    let s: String = s.chars().filter(|c| !c.is_control()).collect();
    s.chars().take(MAX_SUBJECT_CHARS).collect()
}
