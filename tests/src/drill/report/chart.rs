//! The report's inline SVG charts: the incident's timeline (a phase band, one lane per
//! observer, per function, for Route 53 and for SNS) and the RTO budget as a bar.

use std::fmt::Write as _;

use super::html::{esc, outcome_color};
use super::{ms, DrillReport};
use crate::drill::{Act, FUNCTIONS};

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
pub(super) fn chart(r: &DrillReport) -> String {
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
    for f in FUNCTIONS {
        lanes.push(f.into());
    }
    // Between the functions and Route 53: the lanes after it are counted from the end.
    let workflow = super::workflow_summary(r);
    if workflow.is_some() {
        lanes.push("runbook workflow".into());
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
        let lane = 4 + FUNCTIONS
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
            (_, "failed_over" | "decided" | "blocked" | "refused" | "error" | "not_in_sync") => {
                st.outcome.clone()
            }
            (_, "held") if st.detail.contains("cooldown") => "held: cooldown".into(),
            (Act::Status, _) => "status".into(),
            (Act::Approve(id), o) => format!("approve {id}: {o}"),
            (Act::Decline(id), o) => format!("decline {id}: {o}"),
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
    if let Some(w) = &workflow {
        s.push_str(&super::workflow::lane_marks(
            w,
            r,
            &x,
            lane_y(lanes.len() - 3),
        ));
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
pub(super) fn rto_bar(r: &DrillReport) -> String {
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
