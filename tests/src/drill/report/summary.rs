//! The summary block printed at the end of the drill (and kept in the report).

use super::{
    answer, clock, derive_answer, ops_list, route53_api, secs, switch_datapoints, switched_by,
    DrillReport,
};
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
                    "    {:<24}{:>10}   {} at {}",
                    "decision -> switch",
                    secs(s - l.decided_at),
                    if r.switch_alarm.is_some() {
                        "switch landed (PutMetricData PrimaryForcedOut=1 accepted)"
                    } else {
                        "primary health check forced unhealthy"
                    },
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
    if let Some(w) = super::workflow_summary(r) {
        out.extend(super::workflow::summary_lines(&w));
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
        let (_, why) = derive_answer(&r.final_primary, r.final_switch.as_ref());
        out.push(format!(
            "    answers {} {} (derived: {why})",
            a.failover, a.value
        ));
    }
    let (calls, unavailable, answered) = route53_api(r);
    out.push(format!(
        "  Route 53's API: {calls} call(s) by the functions, {unavailable} answered 503, {answered} answered 2xx{}",
        if r.scenario.route53_down() {
            format!(
                " (the tap's outage of route53 for the whole drill): {}{}",
                if answered == 0 { "it answered nothing" } else { "IT ANSWERED" },
                if calls == 0 {
                    "; the functions never asked it (any call would have got 503)"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        }
    ));
    if let Some(alarm) = &r.switch_alarm {
        out.push(format!(
            "  switch: mode {}; {}",
            r.switch_mode,
            switched_by(r).map_or("no switch recorded".to_string(), |s| format!(
                "{s} (as the switch's audit record and alert say)"
            ))
        ));
        let points: Vec<String> = switch_datapoints(r)
            .iter()
            .map(|(at, v, step, function)| {
                format!(
                    "{v} at {} ({})",
                    clock(*at),
                    step.map_or("?".to_string(), |n| format!("step {n}, {function}"))
                )
            })
            .collect();
        out.push(format!(
            "  switch metric RegionalFailover/PrimaryForcedOut Service={} in {}, read back from moto: {}",
            stage::SERVICE,
            alarm.region,
            if points.is_empty() {
                "no datapoint".to_string()
            } else {
                points.join(", ")
            }
        ));
        out.push(format!(
            "    switch alarm {} (final): {} (set by the drill as CloudWatch would from the datapoints: moto evaluates no alarm)",
            alarm.name,
            r.final_switch.as_ref().map_or("?", |s| s.alarm.as_str())
        ));
    }
    out.push(format!(
        "  control table (final): {} {} epoch {}",
        stage::SERVICE,
        r.final_phase,
        r.final_epoch
    ));
    match &r.rto {
        Some(b) => {
            out.push(format!(
                "  RTO budget: detection {:.0} s (health check {} s x {}) + decision {:.2} s (measured: quorum alarm -> switch) + DNS TTL {} s = {:.1} s",
                b.detection_s, b.hc_interval_s, b.hc_threshold, b.measured_s, b.ttl_s, b.total_s
            ));
            if r.switch_alarm.is_some() {
                out.push(
                    "    plus, by metric: the switch alarm's 60 s period, then Route 53's evaluation of the CLOUDWATCH_METRIC and CALCULATED checks (AWS documents no figure for that; not measured here: moto evaluates neither)"
                        .into(),
                );
            }
        }
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
