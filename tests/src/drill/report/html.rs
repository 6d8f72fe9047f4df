//! The self-contained HTML report: inline CSS, inline SVG charts (see [`super::chart`]),
//! no scripts, no external resources. `make report-check` looks for its ids and classes.

use std::fmt::Write as _;

use super::chart::{chart, rto_bar};
use super::{
    answer, clock, derive_answer, ms, ops_list, route53_api, secs, switch_datapoints, switched_by,
    DrillReport,
};
use crate::drill::describe_calls;
use crate::harness::stage;

pub(super) fn esc(s: &str) -> String {
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

pub(super) fn outcome_color(outcome: &str) -> &'static str {
    match outcome {
        "failed_over" | "decided" => "#e8590c",
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
    if let Some(w) = super::workflow_summary(r) {
        h.push_str(r#"<div class="muted">Workflow lane: each step's events as the control table records them (amber: approval requested, blue: approved, green: done, red: failed or declined, grey: started or applied).</div>"#);
        h.push_str(&super::workflow::html(&w));
    }

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
            "answers <b>{} {}</b> <span class=\"muted\">(derived: {})</span>",
            esc(&a.failover),
            esc(&a.value),
            esc(&derive_answer(&r.final_primary, r.final_switch.as_ref()).1)
        );
    }
    h.push_str(&row("Route 53 (final)", route53));
    let (calls, unavailable, answered) = route53_api(r);
    let _ = write!(
        h,
        r#"<tr id="route53-api"><th>Route 53's API</th><td>{calls} call(s) by the functions, {unavailable} answered 503, {answered} answered 2xx{}</td></tr>"#,
        if r.scenario.route53_down() {
            format!(
                " <span class=\"{}\">(down for the whole drill: the tap answered every route53 call 503; {})</span>",
                if answered == 0 { "ok" } else { "bad" },
                if answered == 0 { "it answered nothing" } else { "it answered" }
            ) + if calls == 0 {
                " <span class=\"muted\">the functions never asked it (any call would have got 503)</span>"
            } else {
                ""
            }
        } else {
            String::new()
        }
    );
    if let Some(alarm) = &r.switch_alarm {
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
        let _ = write!(
            h,
            r#"<tr id="switch-mechanism"><th>switch</th><td>mode <code>{}</code>: <b>{}</b> <span class="muted">(as the switch's audit record and alert say)</span><br>metric RegionalFailover/PrimaryForcedOut Service={} in {}, read back from moto: {}<br>switch alarm {}: {} <span class="muted">(set by the drill as CloudWatch would from the datapoints: moto evaluates no alarm)</span></td></tr>"#,
            esc(r.switch_mode),
            esc(&switched_by(r).unwrap_or_else(|| "no switch recorded".into())),
            stage::SERVICE,
            esc(alarm.region),
            esc(&if points.is_empty() {
                "no datapoint".to_string()
            } else {
                points.join(", ")
            }),
            esc(&alarm.name),
            esc(r.final_switch.as_ref().map_or("?", |s| s.alarm.as_str()))
        );
    }
    h.push_str(&row(
        "control table (final)",
        format!(
            "{} {} epoch {}",
            stage::SERVICE,
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
