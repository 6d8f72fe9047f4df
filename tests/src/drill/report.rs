//! The drill's summary (text), and the same as JSON and as one self-contained HTML page
//! (inline CSS, an inline SVG timeline chart, no scripts, no external resources).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::{describe_calls, DrillReport, RecordView, StepRecord};
use crate::drill::{sequential_round_trips, Act};

fn secs(ms: i64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Which record Route 53 answers with: the PRIMARY unless its check is forced unhealthy
/// (moto does not evaluate health checks, so this is derived from the flags).
pub fn answer(report: &DrillReport) -> Option<&RecordView> {
    let want = if report.final_primary.forced_unhealthy() {
        "SECONDARY"
    } else {
        "PRIMARY"
    };
    report.records_after.iter().find(|r| r.failover == want)
}

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
            out.push(format!(
                "    {:<24}{:>10}   quorum alarm entered ALARM {} -> decided {} (includes the event's delivery through cargo lambda invoke)",
                "detection -> decision",
                secs(l.decided_at - l.quorum_alarm_at),
                clock(l.quorum_alarm_at),
                clock(l.decided_at)
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
        super::stage::SERVICE,
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

fn ops_list(by_op: &BTreeMap<String, usize>) -> String {
    let mut ops: Vec<(&String, &usize)> = by_op.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    ops.iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round()
}

/// The whole report as JSON.
pub fn to_json(r: &DrillReport) -> Value {
    let steps: Vec<Value> = r.steps.iter().map(step_json).collect();
    let latency = r.latency.as_ref().map(|l| {
        json!({
            "step": l.step,
            "outcome": l.outcome,
            "quorum_alarm_at_ms": l.quorum_alarm_at,
            "delivered_at_ms": l.delivered_at,
            "decided_at_ms": l.decided_at,
            "switched_at_ms": l.switched_at,
            "alert_published_at_ms": l.alert_published_at,
            "alert_received_at_ms": l.alert_received_at,
            "detection_to_decision_ms": l.decided_at - l.quorum_alarm_at,
            "decision_to_switch_ms": l.switched_at.map(|s| s - l.decided_at),
            "switch_to_alert_ms": l.alert_published_at.map(|p| p - l.switched_at.unwrap_or(l.decided_at)),
            "alert_to_subscriber_ms": l.alert_received_at.zip(l.alert_published_at).map(|(rcv, p)| rcv - p),
        })
    });
    let rto = r.rto.as_ref().map(|b| {
        json!({
            "health_check_request_interval_s": b.hc_interval_s,
            "health_check_failure_threshold": b.hc_threshold,
            "detection_s": b.detection_s,
            "measured_decision_s": b.measured_s,
            "dns_ttl_s": b.ttl_s,
            "total_s": b.total_s,
        })
    });
    let records = |list: &[RecordView]| -> Vec<Value> {
        list.iter()
            .map(|x| {
                json!({"name": x.name, "set_identifier": x.set_identifier, "failover": x.failover,
                             "value": x.value, "ttl": x.ttl, "health_check_id": x.health_check_id})
            })
            .collect()
    };
    json!({
        "drill": {
            "scenario": r.scenario.name(),
            "description": r.scenario.description(),
            "held": r.held,
            "started_at": r.started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "duration_ms": ms(r.duration),
            "incident_start_ms": ms(r.incident_start),
            "checks_total": r.checks.len(),
            "checks_failed": r.failures().len(),
        },
        "environment": {
            "emulator": r.emulator_endpoint,
            "functions": super::FUNCTIONS,
            "runtime": "cargo lambda watch + cargo lambda invoke",
            "invoke_port": r.invoke_port,
            "aws_call_tap": r.tap_endpoint,
            "aws_calls_counted": "on the wire, by a recording proxy between the functions and moto",
            "functions_log": r.functions_log.as_ref().map(|p| p.display().to_string()),
        },
        "catalog_entry": r.definition,
        "steps": steps,
        "checks": r.checks.iter().map(|c| json!({"step": c.step, "what": c.what, "ok": c.ok, "found": c.found})).collect::<Vec<_>>(),
        "timeline": r.lines.iter().map(|l| json!({"t_ms": ms(l.t), "step": l.step, "kind": l.kind.name(), "text": l.text})).collect::<Vec<_>>(),
        "summary": {
            "latency": latency,
            "aws_calls": {
                "total": r.calls.len(),
                "writes_applied": r.calls.iter().filter(|c| c.wrote()).count(),
                "refused": r.calls.iter().filter(|c| !c.succeeded()).count(),
                "by_operation": r.calls_by_operation(),
            },
            "alerts": r.alerts.iter().map(|a| json!({"step": a.step, "subject": a.subject, "event_type": a.event_type,
                "severity": a.severity, "epoch": a.epoch,
                "published_at": a.published_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                "received_ms": ms(a.received)})).collect::<Vec<_>>(),
            "switches": r.switches.iter().map(|s| json!({"step": s.step, "function": s.function,
                "kind": if s.forced { "failover" } else { "failback" }, "before": s.before, "after": s.after})).collect::<Vec<_>>(),
            "route53": {
                "records": records(&r.records_after),
                "records_unchanged": r.records_before == r.records_after,
                "primary_health_check": {"id": r.primary_hc, "disabled": r.final_primary.disabled,
                    "inverted": r.final_primary.inverted, "version": r.final_primary.version},
                "secondary_health_check": {"id": r.secondary_hc, "disabled": r.final_secondary.disabled,
                    "inverted": r.final_secondary.inverted, "version": r.final_secondary.version},
                "answers": answer(r).map(|a| json!({"failover": a.failover, "value": a.value})),
            },
            "control_table": {"phase": r.final_phase, "epoch": r.final_epoch},
            "rto_budget": rto,
            "text": r.summary,
        }
    })
}

fn step_json(s: &StepRecord) -> Value {
    json!({
        "n": s.n,
        "title": s.title,
        "function": s.function,
        "request_summary": s.request_summary,
        "request": s.request,
        "start_ms": ms(s.start),
        "end_ms": ms(s.end),
        "duration_ms": ms(s.end.saturating_sub(s.start)),
        "cold_start": s.cold_start,
        "response": match &s.response { Ok(v) => v.clone(), Err(e) => json!({"error": e}) },
        "outcome": s.outcome,
        "detail": s.detail,
        "alarm_at": s.alarm_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        "aws_calls": s.calls.iter().map(|c| json!({"service": c.service, "region": c.region, "operation": c.operation,
            "detail": c.detail, "status": c.status, "error": c.error, "start_ms": ms(c.start), "end_ms": ms(c.end)})).collect::<Vec<_>>(),
        "sequential_round_trips": sequential_round_trips(&s.calls),
        "changes": s.changes.iter().map(|c| json!({"resource": c.resource, "before": c.before, "after": c.after})).collect::<Vec<_>>(),
        "alerts": s.alerts.iter().map(|a| a.subject.clone()).collect::<Vec<_>>(),
        "audit": s.audit.iter().map(|h| json!({"kind": h.kind, "what": h.what, "why": h.why, "actor": h.actor, "epoch": h.epoch})).collect::<Vec<_>>(),
        "phase_after": s.phase_after,
        "primary_after": s.primary_after.to_string(),
    })
}

/// Writes `report.json` and `report.html` into `dir`; returns their paths.
pub fn write(r: &DrillReport, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json_path = dir.join("report.json");
    let html_path = dir.join("report.html");
    let text = serde_json::to_string_pretty(&to_json(r)).map_err(std::io::Error::other)?;
    std::fs::write(&json_path, text + "\n")?;
    std::fs::write(&html_path, to_html(r))?;
    Ok((json_path, html_path))
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn outcome_color(outcome: &str) -> &'static str {
    match outcome {
        "failed_over" => "#e8590c",
        "blocked" | "refused" | "error" | "not_in_sync" => "#c92a2a",
        "ok" => "#2b8a3e",
        "vote_recorded" => "#1971c2",
        "duplicate" => "#74c0fc",
        "ignored" => "#adb5bd",
        "held" | "in_progress" | "claim_lost" => "#868e96",
        "in_sync" => "#7048e8",
        _ => "#495057",
    }
}

fn phase_color(phase: &str) -> &'static str {
    match phase {
        "PRIMARY_ACTIVE" => "#2b8a3e",
        "FAILED_OVER" => "#e8590c",
        "BLOCKED" => "#c92a2a",
        _ => "#f59f00",
    }
}

/// A "nice" tick step for a span of `span` seconds and about 10 ticks.
fn tick_step(span: f64) -> f64 {
    let raw = (span / 10.0).max(0.1);
    let pow = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if raw <= m * pow {
            return m * pow;
        }
    }
    10.0 * pow
}

/// The inline SVG timeline chart: a phase band, one lane per observer, per function,
/// for Route 53 and for SNS.
fn chart(r: &DrillReport) -> String {
    const W: f64 = 1180.0;
    const LEFT: f64 = 190.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 16.0;
    const LANE: f64 = 38.0;
    let Some(first) = r.steps.first() else {
        return String::new();
    };
    let t0 = first.start.as_secs_f64() - 0.3;
    let t1 = r
        .steps
        .last()
        .map_or(t0 + 1.0, |s| s.end.as_secs_f64() + 0.5)
        .max(t0 + 1.0);
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    let wall_t = |ms_wall: i64| (ms_wall - r.started_at.timestamp_millis()) as f64 / 1000.0;
    let mut lanes: Vec<String> = vec!["phase".into()];
    for o in [
        "observer 1 (us-east-1)",
        "observer 2 (us-west-2)",
        "observer 3 (eu-west-1)",
    ] {
        lanes.push(o.into());
    }
    for f in super::FUNCTIONS {
        lanes.push(f.into());
    }
    lanes.push("Route 53 primary check".into());
    lanes.push("SNS alerts".into());
    let lane_y = |i: usize| TOP + i as f64 * LANE + LANE / 2.0;
    let height = TOP + lanes.len() as f64 * LANE + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg id="timeline-chart" class="chart" role="img" aria-label="Drill timeline" viewBox="0 0 {W} {height}" width="{W}" height="{height}">"##
    );
    // Lanes and labels.
    for (i, name) in lanes.iter().enumerate() {
        let y = lane_y(i);
        if i % 2 == 1 {
            let _ = write!(
                s,
                r##"<rect x="0" y="{:.1}" width="{W}" height="{LANE}" fill="#f8f9fa"/>"##,
                y - LANE / 2.0
            );
        }
        let _ = write!(
            s,
            r##"<text class="lane" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT - 12.0,
            y + 4.0,
            esc(name)
        );
    }
    // Axis.
    let axis_y = TOP + lanes.len() as f64 * LANE + 6.0;
    let step = tick_step(t1 - t0);
    let base = first.start.as_secs_f64();
    let mut tick = (((t0 - base) / step).ceil()) * step;
    while base + tick <= t1 {
        let tx = x(base + tick);
        let _ = write!(
            s,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{axis_y:.1}" stroke="#dee2e6" stroke-width="1"/><text class="tick" x="{tx:.1}" y="{:.1}" text-anchor="middle">+{:.1}s</text>"##,
            axis_y + 16.0,
            if tick.abs() < 1e-9 { 0.0 } else { tick }
        );
        tick += step;
    }
    // Phase band.
    let mut phase = "PRIMARY_ACTIVE".to_string();
    let mut seg_start = t0;
    let mut segments = Vec::new();
    for st in &r.steps {
        if st.phase_after != phase {
            // When the transition closed, if it closed during this step; else the step's end.
            let at = st
                .execution_after
                .as_ref()
                .and_then(|e| e.completed_at.or(e.alerted_at))
                .map(wall_t)
                .filter(|t| *t >= st.start.as_secs_f64() && *t <= st.end.as_secs_f64())
                .unwrap_or(st.end.as_secs_f64());
            segments.push((seg_start, at, phase.clone()));
            seg_start = at;
            phase = st.phase_after.clone();
        }
    }
    segments.push((seg_start, t1, phase));
    let y = lane_y(0);
    for (a, b, p) in segments {
        let _ = write!(
            s,
            r##"<g class="tl-phase"><title>{p}</title><rect x="{:.1}" y="{:.1}" width="{:.1}" height="22" rx="3" fill="{}"/><text class="band" x="{:.1}" y="{:.1}">{p}</text></g>"##,
            x(a),
            y - 11.0,
            (x(b) - x(a)).max(1.0),
            phase_color(&p),
            x(a) + 6.0,
            y + 4.0
        );
    }
    // Observers' events.
    let mut last_state = ["OK"; 3];
    for st in &r.steps {
        let (i, kind) = match st.act {
            Act::Alarm(i, state) => {
                last_state[i - 1] = state;
                (i, "event")
            }
            Act::Duplicate(i) => (i, "duplicate"),
            Act::Stale(i) => (i, "stale"),
            _ => continue,
        };
        let state = last_state[i - 1];
        let color = if state == "ALARM" {
            "#c92a2a"
        } else {
            "#2b8a3e"
        };
        let cx = x(st.start.as_secs_f64());
        let cy = lane_y(i);
        let (fill, stroke, dash) = match kind {
            "event" => (color, color, ""),
            "duplicate" => ("#ffffff", color, ""),
            _ => ("#ffffff", "#868e96", r#" stroke-dasharray="3 2""#),
        };
        // Labels above the circle; the stale one (right after the duplicate) to its right.
        let (label, label_x, label_y, anchor) = match kind {
            "event" => (state.to_string(), cx, cy - 11.0, "middle"),
            "duplicate" => ("duplicate".to_string(), cx, cy - 11.0, "middle"),
            _ => ("stale".to_string(), cx + 10.0, cy + 4.0, "start"),
        };
        let _ = write!(
            s,
            r##"<g class="tl-mark"><title>step {}: {}</title><circle cx="{cx:.1}" cy="{cy:.1}" r="7" fill="{fill}" stroke="{stroke}" stroke-width="2"{dash}/><text class="mark" x="{label_x:.1}" y="{label_y:.1}" text-anchor="{anchor}">{}</text></g>"##,
            st.n,
            esc(&st.title),
            esc(&label)
        );
    }
    // Function invocations.
    for st in &r.steps {
        let lane = 4 + super::FUNCTIONS
            .iter()
            .position(|f| *f == st.function)
            .unwrap_or(0);
        let y = lane_y(lane);
        let a = x(st.start.as_secs_f64());
        let w = (x(st.end.as_secs_f64()) - a).max(3.0);
        let color = outcome_color(&st.outcome);
        let label = match (st.act, st.outcome.as_str()) {
            (Act::Failback, "ok") => "failback".to_string(),
            (Act::Failover, o) => format!("failover: {o}"),
            (_, "failed_over" | "blocked" | "refused" | "error" | "not_in_sync") => {
                st.outcome.clone()
            }
            (_, "held") if st.detail.contains("cooldown") => "held: cooldown".into(),
            (Act::Status, _) => "status".into(),
            (Act::Reconcile, o) => o.to_string(),
            _ => String::new(),
        };
        let _ = write!(
            s,
            r##"<g class="tl-mark"><title>step {}: {} -> {}: {} ({} ms, {} AWS calls)</title><rect x="{a:.1}" y="{:.1}" width="{w:.1}" height="16" rx="2" fill="{color}"/>"##,
            st.n,
            esc(&st.title),
            esc(&st.outcome),
            esc(&st.detail),
            ms(st.end.saturating_sub(st.start)),
            st.calls.len(),
            y - 8.0
        );
        if !label.is_empty() {
            let _ = write!(
                s,
                r##"<text class="mark" x="{:.1}" y="{:.1}">{}</text>"##,
                a,
                y - 11.0,
                esc(&label)
            );
        }
        s.push_str("</g>");
    }
    // Route 53 switches.
    let y = lane_y(lanes.len() - 2);
    for sw in &r.switches {
        let st = &r.steps[sw.step - 1];
        let t = st
            .execution_after
            .as_ref()
            .and_then(|e| e.switched_at)
            .map(wall_t)
            .unwrap_or(st.end.as_secs_f64());
        let cx = x(t);
        let (color, label) = if sw.forced {
            ("#e8590c", "forced unhealthy")
        } else {
            ("#2b8a3e", "restored")
        };
        let _ = write!(
            s,
            r##"<g class="tl-mark"><title>step {}: {}: {} -> {}</title><path d="M {cx:.1} {:.1} L {:.1} {y:.1} L {cx:.1} {:.1} L {:.1} {y:.1} Z" fill="{color}"/><text class="mark" x="{:.1}" y="{:.1}">{label}</text></g>"##,
            sw.step,
            sw.function,
            esc(&sw.before),
            esc(&sw.after),
            y - 9.0,
            cx + 9.0,
            y + 9.0,
            cx - 9.0,
            cx + 12.0,
            y + 4.0
        );
    }
    // Alerts.
    let y = lane_y(lanes.len() - 1);
    for a in &r.alerts {
        let t = a
            .published_at
            .map(|p| wall_t(p.timestamp_millis()))
            .unwrap_or(a.received.as_secs_f64());
        let cx = x(t);
        let tag = a
            .subject
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[');
        let _ = write!(
            s,
            r##"<g class="tl-mark"><title>step {}: {}</title><rect x="{:.1}" y="{:.1}" width="16" height="12" fill="#fff3bf" stroke="#e67700" stroke-width="1.5"/><path d="M {:.1} {:.1} L {cx:.1} {:.1} L {:.1} {:.1}" fill="none" stroke="#e67700" stroke-width="1.2"/><text class="mark" x="{:.1}" y="{:.1}">{}</text></g>"##,
            a.step,
            esc(&a.subject),
            cx - 8.0,
            y - 6.0,
            cx - 8.0,
            y - 6.0,
            y + 1.0,
            cx + 8.0,
            y - 6.0,
            cx + 12.0,
            y + 4.0,
            esc(tag)
        );
    }
    s.push_str("</svg>");
    s
}

/// A horizontal stacked bar of the RTO budget.
fn rto_bar(r: &DrillReport) -> String {
    let Some(b) = &r.rto else {
        return "<p class=\"muted\">No automatic switch in this scenario: no RTO budget.</p>"
            .into();
    };
    let w = 1000.0;
    let scale = w / b.total_s.max(1.0);
    let parts = [
        (
            format!(
                "detection {:.0} s (health check {} s x {})",
                b.detection_s, b.hc_interval_s, b.hc_threshold
            ),
            b.detection_s,
            "#748ffc",
        ),
        (
            format!("decision + switch {:.2} s (measured)", b.measured_s),
            b.measured_s,
            "#e8590c",
        ),
        (format!("DNS TTL {} s", b.ttl_s), b.ttl_s as f64, "#63e6be"),
    ];
    let mut s = String::from(
        r##"<svg id="rto-bar" viewBox="0 0 1180 70" width="1180" height="70" role="img" aria-label="RTO budget">"##,
    );
    let mut at = 0.0;
    for (i, (label, v, color)) in parts.iter().enumerate() {
        let width = (v * scale).max(3.0);
        let _ = write!(
            s,
            r##"<g><title>{}</title><rect x="{:.1}" y="8" width="{width:.1}" height="22" fill="{color}"/><text class="mark" x="{:.1}" y="{}">{}</text></g>"##,
            esc(label),
            at,
            at + 2.0,
            if i == 1 { 62 } else { 46 },
            esc(label)
        );
        at += width;
    }
    let _ = write!(
        s,
        r##"<text class="mark" x="{:.1}" y="24" font-weight="bold">= {:.1} s</text></svg>"##,
        at + 8.0,
        b.total_s
    );
    s
}

const CSS: &str = r#"
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #212529; margin: 24px 32px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #dee2e6; padding-bottom: 4px; }
.muted { color: #6c757d; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; color: #fff; font-weight: 600; font-size: 13px; vertical-align: middle; }
.held { background: #2b8a3e; } .failed { background: #c92a2a; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin-top: 14px; }
.card { border: 1px solid #dee2e6; border-radius: 6px; padding: 8px 12px; }
.card .v { font-size: 20px; font-weight: 600; } .card .k { color: #6c757d; font-size: 12px; }
table { border-collapse: collapse; width: 100%; margin-top: 6px; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #f1f3f5; vertical-align: top; }
th { background: #f8f9fa; font-weight: 600; }
td.t, td.n { font-variant-numeric: tabular-nums; white-space: nowrap; color: #495057; }
tr.kind-step td { background: #e7f5ff; font-weight: 600; }
tr.kind-change td.x { color: #d9480f; font-weight: 600; } tr.kind-alert td.x { color: #e67700; font-weight: 600; }
tr.kind-fail td { background: #fff5f5; color: #c92a2a; font-weight: 600; }
tr.kind-calls td.x { color: #868e96; font-size: 12px; }
.k-tag { display: inline-block; min-width: 64px; font-size: 12px; color: #495057; }
.chart text.lane { font-size: 12px; fill: #343a40; } .chart text.tick { font-size: 11px; fill: #868e96; }
.chart text.mark, #rto-bar text.mark { font-size: 11px; fill: #212529; } .chart text.band { font-size: 11px; fill: #fff; font-weight: 600; }
pre { background: #f8f9fa; padding: 10px; overflow-x: auto; font-size: 12px; }
details { margin: 4px 0; } summary { cursor: pointer; }
.ok { color: #2b8a3e; font-weight: 600; } .bad { color: #c92a2a; font-weight: 600; }
"#;

/// The self-contained HTML report.
pub fn to_html(r: &DrillReport) -> String {
    let mut h = String::new();
    let failures = r.failures();
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Failover drill: {scenario} ({verdict})</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body data-held="{held}" data-scenario="{scenario}">
<h1>Failover drill: scenario <code>{scenario}</code> <span class="badge {cls}">{verdict}</span></h1>
<div class="muted">{desc}</div>
<div class="muted">{started} &middot; {steps} steps &middot; {passed} of {total} checks passed &middot; moto on loopback, functions under cargo lambda watch; nothing here touched real AWS</div>
"#,
        scenario = r.scenario.name(),
        verdict = if r.held { "HELD" } else { "FAILED" },
        held = r.held,
        cls = if r.held { "held" } else { "failed" },
        desc = esc(r.scenario.description()),
        started = r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        steps = r.steps.len(),
        passed = r.checks.len() - failures.len(),
        total = r.checks.len(),
    );

    // Summary cards.
    let card = |k: &str, v: String| {
        format!(
            r#"<div class="card"><div class="k">{}</div><div class="v">{}</div></div>"#,
            esc(k),
            esc(&v)
        )
    };
    h.push_str(r#"<section id="summary"><div class="cards">"#);
    match &r.latency {
        Some(l) => {
            h.push_str(&card(
                "detection -> decision",
                secs(l.decided_at - l.quorum_alarm_at),
            ));
            h.push_str(&card(
                "decision -> switch",
                l.switched_at
                    .map(|s| secs(s - l.decided_at))
                    .unwrap_or_else(|| "no switch".into()),
            ));
            h.push_str(&card(
                "switch -> alert",
                l.alert_published_at
                    .map(|p| secs(p - l.switched_at.unwrap_or(l.decided_at)))
                    .unwrap_or_else(|| "-".into()),
            ));
        }
        None => {
            h.push_str(&card("detection -> decision", "no decision".into()));
            h.push_str(&card("decision -> switch", "-".into()));
            h.push_str(&card("switch -> alert", "-".into()));
        }
    }
    h.push_str(&card(
        "RTO budget",
        r.rto
            .as_ref()
            .map(|b| format!("{:.1} s", b.total_s))
            .unwrap_or_else(|| "n/a".into()),
    ));
    h.push_str(&card(
        "AWS calls by the functions",
        format!(
            "{} ({} writes)",
            r.calls.len(),
            r.calls.iter().filter(|c| c.wrote()).count()
        ),
    ));
    h.push_str(&card("alerts sent", r.alerts.len().to_string()));
    h.push_str(&card(
        "switches (failover / failback)",
        format!(
            "{} / {}",
            r.switches.iter().filter(|s| s.forced).count(),
            r.switches.iter().filter(|s| !s.forced).count()
        ),
    ));
    h.push_str(&card(
        "final state",
        format!("{} epoch {}", r.final_phase, r.final_epoch),
    ));
    h.push_str("</div></section>\n");

    if !failures.is_empty() {
        h.push_str(r#"<h2 class="bad">Failed checks</h2><ul id="failures">"#);
        for c in &failures {
            let _ = write!(
                h,
                "<li>{}expected {}, found <code>{}</code></li>",
                c.step.map(|s| format!("step {s}: ")).unwrap_or_default(),
                esc(&c.what),
                esc(&c.found)
            );
        }
        h.push_str("</ul>");
    }

    h.push_str("<h2>Timeline</h2>");
    h.push_str(&chart(r));
    h.push_str(r#"<div class="muted">Times from the first step. Circles: alarm events delivered (red ALARM, green OK, hollow: duplicate, dashed: stale). Bars: invocations, coloured by outcome (hover for details). Diamonds: the primary's health check changed. Envelopes: alerts published.</div>"#);

    h.push_str("<h2>Summary</h2>");
    h.push_str(r#"<table id="summary-table"><tbody>"#);
    let row = |k: &str, v: String| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), v);
    if let Some(l) = &r.latency {
        h.push_str(&row(
            "decision",
            format!(
                "step {} ({}): the quorum alarm entered ALARM at {}, delivered at {}, decided at {}",
                l.step,
                esc(&l.outcome),
                clock(l.quorum_alarm_at),
                clock(l.delivered_at),
                clock(l.decided_at)
            ),
        ));
    }
    h.push_str(&row(
        "AWS calls",
        format!(
            "{} made by the functions, counted on the wire: {}",
            r.calls.len(),
            esc(&ops_list(&r.calls_by_operation()))
        ),
    ));
    let alerts: Vec<String> = r
        .alerts
        .iter()
        .map(|a| format!("step {}: <code>{}</code>", a.step, esc(&a.subject)))
        .collect();
    h.push_str(&row(
        "alerts",
        if alerts.is_empty() {
            "none".into()
        } else {
            alerts.join("<br>")
        },
    ));
    let mut route53 = String::new();
    for rec in &r.records_after {
        let flags = if rec.health_check_id == r.primary_hc {
            r.final_primary.to_string()
        } else {
            r.final_secondary.to_string()
        };
        let _ = write!(
            route53,
            "{} A {} <b>{}</b> {} TTL {} s, health check {} {}<br>",
            esc(&rec.name),
            esc(&rec.set_identifier),
            esc(&rec.failover),
            esc(&rec.value),
            rec.ttl,
            esc(&rec.health_check_id),
            esc(&flags)
        );
    }
    if let Some(a) = answer(r) {
        let _ = write!(
            route53,
            "answers <b>{} {}</b> <span class=\"muted\">(derived from the flags: moto does not evaluate health checks)</span>",
            esc(&a.failover),
            esc(&a.value)
        );
    }
    h.push_str(&row("Route 53 (final)", route53));
    h.push_str(&row(
        "control table (final)",
        format!(
            "{} {} epoch {}",
            super::stage::SERVICE,
            esc(&r.final_phase),
            r.final_epoch
        ),
    ));
    h.push_str(&row(
        "RTO budget",
        r.rto
            .as_ref()
            .map(|b| {
                format!(
                    "detection {:.0} s (health check {} s x {}) + decision {:.2} s (measured: quorum alarm -> switch) + DNS TTL {} s = <b>{:.1} s</b>",
                    b.detection_s, b.hc_interval_s, b.hc_threshold, b.measured_s, b.ttl_s, b.total_s
                )
            })
            .unwrap_or_else(|| "not applicable: nothing was switched automatically".into()),
    ));
    h.push_str("</tbody></table>");
    h.push_str(&rto_bar(r));

    h.push_str("<h2>Steps</h2><table id=\"steps\"><thead><tr><th>#</th><th>step</th><th>function</th><th>outcome</th><th>ms</th><th>AWS calls</th><th>changes</th><th>alerts</th></tr></thead><tbody>");
    for st in &r.steps {
        let changes: Vec<String> = st
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{}: {} -&gt; {}",
                    esc(&c.resource),
                    esc(&c.before),
                    esc(&c.after)
                )
            })
            .collect();
        let _ = write!(
            h,
            r#"<tr class="step-row"><td class="n">{}</td><td>{}<details><summary class="muted">request, response, calls</summary><div class="muted">{}</div><pre>{}</pre><pre>{}</pre></details></td><td>{}{}</td><td><span style="color:{}">{}</span><br><span class="muted">{}</span></td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td></tr>"#,
            st.n,
            esc(&st.title),
            esc(&st.request_summary),
            esc(&match &st.response {
                Ok(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
                Err(e) => e.clone(),
            }),
            esc(&describe_calls(&st.calls)),
            st.function,
            if st.cold_start {
                " <span class=\"muted\">(cold start)</span>"
            } else {
                ""
            },
            outcome_color(&st.outcome),
            esc(&st.outcome),
            esc(&st.detail),
            ms(st.end.saturating_sub(st.start)),
            st.calls.len(),
            changes.join("<br>"),
            st.alerts
                .iter()
                .map(|a| format!("<code>{}</code>", esc(&a.subject)))
                .collect::<Vec<_>>()
                .join("<br>")
        );
    }
    h.push_str("</tbody></table>");

    h.push_str(r#"<h2>Timeline, line by line</h2><table id="timeline"><thead><tr><th>t</th><th>step</th><th>what</th></tr></thead><tbody>"#);
    for l in &r.lines {
        let _ = write!(
            h,
            r#"<tr class="tl-event kind-{}"><td class="t">{:.2} s</td><td class="n">{}</td><td class="x"><span class="k-tag">{}</span> {}</td></tr>"#,
            l.kind.name(),
            l.t.as_secs_f64(),
            l.step.map(|s| s.to_string()).unwrap_or_default(),
            esc(l.kind.tag()),
            esc(&l.text)
        );
    }
    h.push_str("</tbody></table>");

    h.push_str(r#"<h2>Checks</h2><table id="checks"><thead><tr><th>step</th><th>expected</th><th>result</th><th>found</th></tr></thead><tbody>"#);
    for c in &r.checks {
        let _ = write!(
            h,
            r#"<tr><td class="n">{}</td><td>{}</td><td class="{}">{}</td><td class="muted">{}</td></tr>"#,
            c.step
                .map(|s| s.to_string())
                .unwrap_or_else(|| "all".into()),
            esc(&c.what),
            if c.ok { "ok" } else { "bad" },
            if c.ok { "ok" } else { "FAILED" },
            if c.ok { String::new() } else { esc(&c.found) }
        );
    }
    h.push_str("</tbody></table>");

    let _ = write!(
        h,
        r#"<h2>Catalog entry</h2><pre>{}</pre>
<p class="muted">Generated by <code>make demo SCENARIO={}</code>. AWS calls are counted on the wire by a recording proxy between the functions and moto (SDK retries included); the drill's own provisioning and inspection calls are not counted.</p>
</body></html>
"#,
        esc(&serde_json::to_string_pretty(&r.definition).unwrap_or_default()),
        r.scenario.name()
    );
    h
}
