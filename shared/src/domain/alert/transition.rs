//! The alerts of a transition: failover, blocked, pending, failback.

use std::fmt::Write;

use super::switch::data_plane_changes;
use super::{decision_section, footer, preflight_section, subject, versions, waited_note, Alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{Execution, HealthCheckSettings, TransitionKind};
use crate::domain::switch::{SwitchMode, SWITCH_METRIC, SWITCH_NAMESPACE};
use crate::domain::text::clip;

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
    if def.switch.mode == SwitchMode::HealthCheck {
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
    } else {
        data_plane_changes(&mut m, def, exec);
    }
    super::workflow_section(&mut m, def, exec);
    let _ = writeln!(m, "What was deliberately NOT done (needs a human)");
    if !def.workflow.iter().any(|s| s.is_database()) {
        let _ = writeln!(
            m,
            "  - No database was promoted. If {} is writable only in {}, promote its replica by hand.",
            def.name, def.primary.region
        );
    }
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
    let state = match (exec.switched_at, def.switch.mode) {
        (Some(_), _) => format!(
            "  The switch already landed ({}); only the confirmation is left.",
            super::switched_by(def, exec)
        ),
        (None, SwitchMode::HealthCheck) => format!(
            "  Route 53 health check {} (primary, {}): the change is not confirmed; until it is, assume DNS still answers with {from}.",
            def.primary.health_check_id, def.primary.region
        ),
        (None, _) => format!(
            "  CloudWatch PutMetricData of {SWITCH_NAMESPACE}/{SWITCH_METRIC} in {}: not accepted yet; until it is, assume DNS still answers with {from}.",
            def.switch.metric_region().unwrap_or("?")
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
        "  Nothing needs doing unless this lasts. {}",
        match def.switch.mode {
            SwitchMode::HealthCheck => "Route 53's control plane is in us-east-1: check the AWS Health Dashboard.",
            _ => "The switch is a CloudWatch data-plane call in the switch alarm's region: check that region on the AWS Health Dashboard.",
        }
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
    if exec.nothing_switched && def.switch.mode != SwitchMode::HealthCheck {
        let _ = writeln!(m, "  Nothing: the failover had been blocked, so nothing was switched and nothing needed undoing.\n");
    } else if def.switch.mode == SwitchMode::HealthCheck {
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
    } else {
        data_plane_changes(&mut m, def, exec);
    }
    super::failback_workflow_section(&mut m, def);
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
