//! Alert text: one SNS message per transition, readable at 3 a.m. and filterable by attributes.
//! `transition` has the alerts of a failover or failback, `pages` those that call a human for
//! anything else; the sections they share are here.

mod event;
mod pages;
mod readiness;
mod recovery;
mod switch;
mod transition;
mod workflow;

use std::fmt::Write;

pub use event::{event_detail, runbook_anchor, DEFAULT_RUNBOOK_BASE_URL, EVENT_SOURCE};
pub use pages::{
    catalog_alert, drift_alert, escalation_alert, held_alert, pause_alert, switch_drift_alert,
};
pub use readiness::readiness_alert;
pub use recovery::{not_recovered_alert, recovered_alert};
pub use switch::switched_by;
pub use transition::{blocked_alert, failback_alert, failover_alert, pending_alert};
pub use workflow::{
    answer_command, answer_request, approval_alert, declined_alert, failback_workflow_section,
    step_change, step_done_alert, step_failed_alert, workflow_lines, workflow_section,
};

use super::catalog::ServiceDefinition;
use super::state::{Execution, Trigger};
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
