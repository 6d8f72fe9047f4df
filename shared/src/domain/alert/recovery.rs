//! The recovery alerts: `[RECOVERED]` with the measured timeline and RTO, and
//! `[NOT RECOVERED]` when the observers have not all reported OK within
//! `recovery_timeout_seconds` of the switch.

use std::fmt::Write;

use super::{subject, switched_by, Alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::recovery::{rto_text, timeline, Recovery};
use crate::domain::state::Execution;
use crate::domain::text::clip;
use crate::domain::time::{fmt_duration_ms, fmt_time, fmt_time_ms, Millis};

/// Every observer reports OK again after the failover of `exec`.
pub fn recovered_alert(def: &ServiceDefinition, exec: &Execution, rec: &Recovery) -> Alert {
    let rto = rto_text(rec);
    let subject = subject(
        "[RECOVERED]",
        &def.name,
        &format!(
            ": all observers OK on {}, RTO {rto} (epoch {})",
            def.secondary.region, exec.epoch
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "RECOVERED: every observer of {} reports OK again since the failover to {} (epoch {}). \
         The observers that decided confirm the secondary is serving.\n",
        def.name, def.secondary.region, exec.epoch
    );
    let _ = writeln!(m, "Measured timeline");
    let start = rec.first_alarm_at.unwrap_or(exec.decided_at);
    for (what, at) in timeline(exec, rec) {
        let _ = writeln!(
            m,
            "  {}  +{:>9}  {}",
            fmt_time_ms(at),
            format!("{:.1}s", (at - start) as f64 / 1000.0),
            what
        );
    }
    let _ = writeln!(m, "  ({})\n", switched_by(def, exec));
    match rec.rto_ms {
        Some(ms) => {
            let _ = writeln!(
                m,
                "Measured RTO (first ALARM -> last observer OK): {rto} ({ms} ms)"
            );
        }
        None => {
            let _ = writeln!(
                m,
                "No observer was in ALARM when it was decided (an operator's failover): no RTO to measure."
            );
        }
    }
    if let (Some(switched), Some(done)) = (exec.switched_at, rec.recovered_at) {
        let _ = writeln!(
            m,
            "Switch -> last observer OK: {}",
            fmt_duration_ms(done - switched)
        );
    }
    if rec
        .observers_ok
        .iter()
        .any(|o| o.source == crate::domain::recovery::OkSource::Read)
    {
        let _ = writeln!(
            m,
            "An OK marked 'found by the reconciler's read' had no event (lost, or the alarm never left OK): its time is the read's, an upper bound."
        );
    }
    if let Some(paged) = rec.not_recovered_at {
        let _ = writeln!(
            m,
            "This recovery came after the [NOT RECOVERED] page of {} (recovery_timeout_seconds={}).",
            fmt_time(paged),
            def.recovery_timeout_seconds
        );
    }
    let _ = writeln!(
        m,
        "\nNext: downgrade the incident; failback stays a human's decision (operator `failback`)."
    );
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "recovered".into(),
        epoch: exec.epoch,
        severity: if rec.not_recovered_at.is_some() {
            "warning"
        } else {
            "info"
        }
        .into(),
    }
}

/// The observers have not all reported OK within `recovery_timeout_seconds` of the switch.
pub fn not_recovered_alert(
    def: &ServiceDefinition,
    exec: &Execution,
    failing: &[String],
    deadline: Millis,
) -> Alert {
    let subject = subject(
        "[NOT RECOVERED]",
        &def.name,
        &format!(
            ": {} of {} observers still failing (epoch {})",
            failing.len(),
            def.observers.len(),
            exec.epoch
        ),
    );
    let mut m = String::new();
    let _ = writeln!(
        m,
        "NOT RECOVERED: {} failed over to {} (epoch {}), but not every observer reports OK again \
         {} after the switch (recovery_timeout_seconds={}, deadline {}).\n",
        def.name,
        def.secondary.region,
        exec.epoch,
        fmt_duration_ms(deadline - exec.switched_at.unwrap_or(deadline)),
        def.recovery_timeout_seconds,
        fmt_time(deadline)
    );
    let _ = writeln!(m, "Still failing");
    for f in failing {
        let _ = writeln!(m, "  - {}", clip(f, 300));
    }
    if let Some(s) = exec.switched_at {
        let _ = writeln!(m, "\n  decided:  {}", fmt_time(exec.decided_at));
        let _ = writeln!(m, "  switched: {}", fmt_time(s));
    }
    let _ = writeln!(
        m,
        "\nCheck: is the secondary really serving (capacity, database, dependencies)? Is DNS \
         answering with the secondary? Are the failing canaries' own regions healthy?\n\
         A later recovery still sends [RECOVERED] with the measured RTO."
    );
    Alert {
        subject,
        message: m,
        service: def.name.clone(),
        event_type: "not_recovered".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}
