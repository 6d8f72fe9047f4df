//! The summary block printed at the end of the drill (and kept in the report).

use super::{answer, clock, ops_list, secs, DrillReport};
use crate::harness::stage;

/// The summary block printed at the end of the drill.
pub fn summary(r: &DrillReport) -> Vec<String> {
    let mut out = Vec::new();
    let rule = "=".repeat(100);
    out.push(String::new());
    out.push(rule.clone());
    let failures = r.failures();
    out.push(format!(
        "Drill summary, scenario '{}': {} ({} of {} checks passed)",
        r.scenario,
        if r.held { "HELD" } else { "FAILED" },
        r.checks.len() - failures.len(),
        r.checks.len()
    ));
    out.push(format!("  expected: {}", r.scenario.description()));
    let incident = r.duration.saturating_sub(r.incident_start);
    out.push(format!(
        "  incident: {} steps in {:.1} s through the Lambda runtime API (setup before it: {:.1} s)",
        r.steps.len(),
        incident.as_secs_f64(),
        r.incident_start.as_secs_f64()
    ));
    match &r.latency {
        Some(l) => {
            out.push(format!(
                "  latencies of the automatic decision (step {}, {}):",
                l.step, l.outcome
            ));
            let by_reconciler = r
                .steps
                .iter()
                .any(|s| s.n == l.step && s.function == "reconciler");
            out.push(format!(
                "    {:<24}{:>10}   quorum alarm entered ALARM {} -> decided {} ({})",
                "detection -> decision",
                secs(l.decided_at - l.quorum_alarm_at),
                clock(l.quorum_alarm_at),
                clock(l.decided_at),
                if by_reconciler {
                    "no event completed the quorum: a reconciler run decided it; deployed, that run comes at most one schedule interval (1 min) after the quorum stands"
                } else {
                    "includes the event's delivery through cargo lambda invoke"
                }
            ));
            match l.switched_at {
                Some(s) => out.push(format!(
                    "    {:<24}{:>10}   primary health check forced unhealthy at {}",
                    "decision -> switch",
                    secs(s - l.decided_at),
                    clock(s)
                )),
                None => out.push(format!(
                    "    {:<24}{:>10}   no switch: the pre-flight gate refused",
                    "decision -> switch", "-"
                )),
            }
            if let Some(p) = l.alert_published_at {
                let from = l.switched_at.unwrap_or(l.decided_at);
                out.push(format!(
                    "    {:<24}{:>10}   SNS published the alert at {}",
                    if l.switched_at.is_some() {
                        "switch -> alert"
                    } else {
                        "decision -> alert"
                    },
                    secs(p - from),
                    clock(p)
                ));
                if let Some(rcv) = l.alert_received_at {
                    out.push(format!(
                        "    {:<24}{:>10}   seen by the drill's SQS subscriber",
                        "alert -> subscriber",
                        secs(rcv - p)
                    ));
                }
            }
        }
        None => out.push("  latencies: no automatic decision was taken (none expected)".into()),
    }
    let by_op = r.calls_by_operation();
    let writes = r.calls.iter().filter(|c| c.wrote()).count();
    out.push(format!(
        "  AWS calls made by the functions: {} ({writes} writes applied), counted on the wire: {}",
        r.calls.len(),
        ops_list(&by_op)
    ));
    out.push(format!("  alerts sent: {}", r.alerts.len()));
    for a in &r.alerts {
        out.push(format!("    step {:<3} {}", a.step, a.subject));
    }
    out.push(format!(
        "  Route 53 (final): {}",
        r.records_after
            .first()
            .map(|x| format!("{} A, TTL {} s", x.name, x.ttl))
            .unwrap_or_else(|| "no failover records!".into())
    ));
    for rec in &r.records_after {
        let flags = if rec.health_check_id == r.primary_hc {
            r.final_primary.to_string()
        } else {
            r.final_secondary.to_string()
        };
        out.push(format!(
            "    {:<10}{:<15}health check {} {}",
            rec.failover, rec.value, rec.health_check_id, flags
        ));
    }
    if let Some(a) = answer(r) {
        out.push(format!(
            "    answers {} {} (derived from the flags: moto does not evaluate health checks)",
            a.failover, a.value
        ));
    }
    out.push(format!(
        "  control table (final): {} {} epoch {}",
        stage::SERVICE,
        r.final_phase,
        r.final_epoch
    ));
    match &r.rto {
        Some(b) => out.push(format!(
            "  RTO budget: detection {:.0} s (health check {} s x {}) + decision {:.2} s (measured: quorum alarm -> switch) + DNS TTL {} s = {:.1} s",
            b.detection_s, b.hc_interval_s, b.hc_threshold, b.measured_s, b.ttl_s, b.total_s
        )),
        None => out.push(
            "  RTO budget: not applicable, nothing was switched automatically in this scenario"
                .into(),
        ),
    }
    if !failures.is_empty() {
        out.push(format!("  FAILED CHECKS ({}):", failures.len()));
        for c in failures {
            out.push(format!(
                "    {}expected {}, found {}",
                c.step.map(|s| format!("step {s}: ")).unwrap_or_default(),
                c.what,
                c.found
            ));
        }
    }
    out.push(rule);
    out
}
