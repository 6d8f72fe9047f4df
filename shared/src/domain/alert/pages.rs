//! The pages that call a human outside a transition: pause, drift, escalation, a held
//! quorum, a catalog entry that stopped parsing.

use std::fmt::Write;

use super::{subject, Alert};
use crate::domain::catalog::{BadVersion, LastGood, ServiceDefinition};
use crate::domain::decision::HeldPage;
use crate::domain::state::{Drift, Pause, Phase, VoteRecord};
use crate::domain::switch::{SWITCH_METRIC, SWITCH_NAMESPACE};
use crate::domain::text::clip;
use crate::domain::time::fmt_time;

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
                "The catalog says enforce=true, so the reconciler re-applies the decision: {result}"
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

/// A catalog entry that stopped parsing (or never parsed): once per bad version. With a last
/// good definition the service is still protected on it (warning); without, it is not
/// protected at all (critical).
pub fn catalog_alert(service: &str, bad: &BadVersion, last_good: Option<&LastGood>) -> Alert {
    let field = clip(&bad.field, 40);
    let (tail, severity) = match last_good {
        Some(_) => (
            format!(": entry refused (field '{field}'), running on its last good definition"),
            "warning",
        ),
        None => (
            format!(": NOT PROTECTED, entry refused (field '{field}')"),
            "critical",
        ),
    };
    let subject = subject("[CATALOG]", service, &tail);
    let mut m = String::new();
    let _ = writeln!(
        m,
        "CATALOG: the catalog entry of {service} does not parse (seen since {}).\n",
        fmt_time(bad.since)
    );
    let _ = writeln!(m, "  field: {}", clip(&bad.field, 200));
    let _ = writeln!(m, "  error: {}", clip(&bad.error, 500));
    match last_good {
        Some(good) => {
            let _ = writeln!(
                m,
                "\nThe service stays protected on its last good definition (in use since {}): its \
                 observers still vote and a quorum still fails it over. Nothing else changes until \
                 the entry is fixed; the fix is used at the next catalog read.",
                fmt_time(good.since)
            );
        }
        None => {
            let _ = writeln!(
                m,
                "\nNo definition of this entry ever parsed: the service is NOT PROTECTED. Its \
                 alarms are ignored until the entry is fixed."
            );
        }
    }
    let _ = writeln!(
        m,
        "\nFix the entry (Terraform writes it: `definition` of item pk=catalog, sk={service}); \
         the operator's status shows the fallback until then. This version is paged once."
    );
    Alert {
        subject,
        message: m,
        service: service.to_string(),
        event_type: "catalog".into(),
        epoch: 0,
        severity: severity.into(),
    }
}

/// The switch alarm (`metric` and `both` modes) disagrees with the decision.
pub fn switch_drift_alert(def: &ServiceDefinition, epoch: u64, drift: &Drift, arn: &str) -> Alert {
    let subject = subject(
        "[DRIFT]",
        &def.name,
        &format!(
            ": the switch alarm disagrees with {} (epoch {epoch})",
            drift.phase
        ),
    );
    let region = def.switch.metric_region().unwrap_or("?");
    let mut m = String::new();
    let _ = writeln!(
        m,
        "DRIFT: {} is {} but its switch alarm says otherwise.\n",
        def.name, drift.phase
    );
    let _ = writeln!(m, "  alarm:    {arn}");
    let _ = writeln!(m, "  expected: {}", drift.expected);
    let _ = writeln!(m, "  found:    {}", drift.found);
    let _ = writeln!(m, "  since:    {}\n", fmt_time(drift.detected_at));
    let _ = writeln!(
        m,
        "The reconciler republishes {SWITCH_NAMESPACE}/{SWITCH_METRIC} Service={} in {region} every run, so the value itself is re-applied; an alarm that still disagrees points at the alarm: check that it exists, watches that metric and dimension (Maximum >= 1 over 60 s, missing data ignored), and that nothing changed it by hand. Until it agrees, Route 53's calculated check may not follow the decision.",
        def.name
    );
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
