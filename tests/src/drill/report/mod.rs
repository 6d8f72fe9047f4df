//! The drill's report: what it saw ([`DrillReport`]) and how it is written: the text
//! summary ([`summary`]), `report.json` ([`json`]) and a self-contained HTML page
//! ([`html`], with its timeline chart from [`chart`]).

mod chart;
pub mod html;
pub mod json;
mod summary;
#[cfg(test)]
mod tests;
pub mod workflow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use failover::domain::history::HistoryRecord;
use serde_json::Value;

pub use html::to_html;
pub use json::JsonReport;
pub use summary::summary;
pub use workflow::{workflow_summary, WorkflowSummary};

use super::timeline::Line;
use super::{
    Act, Change, Check, HealthCheckFlags, Latency, RecordView, RtoBudget, Scenario, SwitchAlarm,
    SwitchView, TappedCall,
};

/// An alert as the SQS subscriber received it.
#[derive(Debug, Clone)]
pub struct AlertSeen {
    pub step: usize,
    pub subject: String,
    /// The alert's body.
    pub message: String,
    pub event_type: String,
    pub severity: String,
    pub epoch: String,
    /// SNS's `Timestamp` of the notification (when it was published).
    pub published_at: Option<DateTime<Utc>>,
    /// When the drill received it, since the drill began.
    pub received: Duration,
}

/// A change of the primary's health check: a failover (forced unhealthy) or a failback.
#[derive(Debug, Clone)]
pub struct Switch {
    pub step: usize,
    /// The function whose invocation made it.
    pub function: &'static str,
    /// `true`: forced unhealthy (failover); `false`: restored (failback).
    pub forced: bool,
    /// What moved: `health check` (the primary's flags), `metric` (PrimaryForcedOut), or
    /// `metric and health check`.
    pub mechanism: &'static str,
    pub before: String,
    pub after: String,
}

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub n: usize,
    pub title: String,
    pub act: Act,
    pub function: &'static str,
    /// What was invoked, in one line.
    pub request_summary: String,
    pub request: Value,
    /// The invoke, since the drill began.
    pub start: Duration,
    pub end: Duration,
    /// The first invoke of this function (includes its start-up).
    pub cold_start: bool,
    /// The function's response, or cargo lambda's error report.
    pub response: Result<Value, String>,
    pub outcome: String,
    pub detail: String,
    /// When the alarm entered its state (alarm steps), wall clock.
    pub alarm_at: Option<DateTime<Utc>>,
    pub calls: Vec<TappedCall>,
    pub changes: Vec<Change>,
    pub alerts: Vec<AlertSeen>,
    pub audit: Vec<HistoryRecord>,
    pub phase_after: String,
    pub primary_after: HealthCheckFlags,
    /// The switch metric and its alarm after the step (metric and both modes).
    pub switch_after: Option<SwitchView>,
    /// The switch metric's datapoints this step added (values), read back from moto.
    pub published: Vec<f64>,
    pub execution_after: Option<failover::domain::state::Execution>,
}

/// Everything the drill saw and concluded.
#[derive(Debug, Clone)]
pub struct DrillReport {
    pub scenario: Scenario,
    /// Every check passed.
    pub held: bool,
    pub started_at: DateTime<Utc>,
    /// When the incident (step 1) began, since the drill began.
    pub incident_start: Duration,
    pub duration: Duration,
    pub emulator_endpoint: String,
    pub tap_endpoint: String,
    pub invoke_port: u16,
    pub primary_hc: String,
    pub secondary_hc: String,
    pub definition: Value,
    pub lines: Vec<Line>,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<Check>,
    pub calls: Vec<TappedCall>,
    pub alerts: Vec<AlertSeen>,
    pub switches: Vec<Switch>,
    pub records_before: Vec<RecordView>,
    pub records_after: Vec<RecordView>,
    pub final_phase: String,
    pub final_epoch: u64,
    pub final_primary: HealthCheckFlags,
    pub final_secondary: HealthCheckFlags,
    /// `switch.mode` of the service.
    pub switch_mode: &'static str,
    /// The switch alarm and the metric at the end (metric and both modes).
    pub switch_alarm: Option<SwitchAlarm>,
    pub final_switch: Option<SwitchView>,
    pub latency: Option<Latency>,
    pub rto: Option<RtoBudget>,
    /// The summary block, as printed.
    pub summary: Vec<String>,
    pub json_path: Option<PathBuf>,
    pub html_path: Option<PathBuf>,
    pub functions_log: Option<PathBuf>,
}

impl DrillReport {
    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    /// The whole timeline and summary as text (what the demo prints).
    pub fn text(&self) -> String {
        let mut out: Vec<String> = self.lines.iter().map(Line::render).collect();
        out.extend(self.summary.iter().cloned());
        out.join("\n")
    }

    /// The alerts' `event_type`s, in the order received.
    pub fn alert_types(&self) -> Vec<&str> {
        self.alerts.iter().map(|a| a.event_type.as_str()).collect()
    }

    /// Each step's title and outcome.
    pub fn outcomes(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .map(|s| (s.title.as_str(), s.outcome.as_str()))
            .collect()
    }

    /// The calls the functions made, by operation.
    pub fn calls_by_operation(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in &self.calls {
            *m.entry(c.operation.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// Writes `report.json` and `report.html` into `dir`; returns their paths.
pub fn write(r: &DrillReport, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let json_path = dir.join("report.json");
    let html_path = dir.join("report.html");
    std::fs::write(&json_path, JsonReport::from(r).to_pretty_json()? + "\n")?;
    std::fs::write(&html_path, to_html(r))?;
    Ok((json_path, html_path))
}

/// Which record Route 53 answers with, and how that was derived. moto evaluates no health
/// check of any kind, so it is derived: the endpoint check is healthy unless forced
/// (Disabled and Inverted); with a switch alarm, the PRIMARY record's CALCULATED check is
/// the endpoint check AND the CLOUDWATCH_METRIC check on that alarm (unhealthy while the
/// alarm is in ALARM; INSUFFICIENT_DATA keeps the last known status, healthy here).
pub fn derive_answer(
    primary: &HealthCheckFlags,
    switch: Option<&SwitchView>,
) -> (&'static str, String) {
    let endpoint = !primary.forced_unhealthy();
    match switch {
        None => (
            if endpoint { "PRIMARY" } else { "SECONDARY" },
            format!(
                "the primary's check is {} ({primary}); moto does not evaluate health checks",
                if endpoint {
                    "healthy"
                } else {
                    "forced unhealthy"
                }
            ),
        ),
        Some(s) => {
            let metric = s.alarm != "ALARM";
            let health = |ok: bool| if ok { "healthy" } else { "unhealthy" };
            (
                if endpoint && metric { "PRIMARY" } else { "SECONDARY" },
                format!(
                    "CALCULATED = endpoint check {} AND metric check {} (switch alarm {}) = {}; moto evaluates no health check and no alarm",
                    health(endpoint),
                    health(metric),
                    s.alarm,
                    health(endpoint && metric)
                ),
            )
        }
    }
}

/// The record Route 53 answers with at the end ([`derive_answer`]).
pub fn answer(report: &DrillReport) -> Option<&RecordView> {
    let (want, _) = derive_answer(&report.final_primary, report.final_switch.as_ref());
    report.records_after.iter().find(|r| r.failover == want)
}

/// The functions' Route 53 API calls: `(calls, answered 503, answered 2xx)`.
pub fn route53_api(report: &DrillReport) -> (usize, usize, usize) {
    let calls: Vec<&TappedCall> = report
        .calls
        .iter()
        .filter(|c| c.service == "route53")
        .collect();
    (
        calls.len(),
        calls.iter().filter(|c| c.status == 503).count(),
        calls.iter().filter(|c| c.succeeded()).count(),
    )
}

/// `switched by: ...; Route 53's API ...` as the first switch's audit record (or alert)
/// says it.
pub fn switched_by(report: &DrillReport) -> Option<String> {
    let texts = report
        .steps
        .iter()
        .flat_map(|s| s.audit.iter().map(|h| h.what.as_str()))
        .chain(report.alerts.iter().map(|a| a.message.as_str()));
    for text in texts {
        if let Some(at) = text.find("switched by:") {
            let rest = &text[at..];
            let end = [rest.find(" (switch mode"), rest.find('\n')]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(rest.len());
            return Some(rest[..end].trim().to_string());
        }
    }
    None
}

/// The switch metric's datapoints at the end, each with the step after which it was first
/// read back (the step whose invocation published it): `(at, value, step, function)`. `at`
/// is the start of its one-second period.
pub fn switch_datapoints(report: &DrillReport) -> Vec<(i64, f64, Option<usize>, &'static str)> {
    let Some(view) = &report.final_switch else {
        return Vec::new();
    };
    view.datapoints
        .iter()
        .map(|&(at, value)| {
            let step = report.steps.iter().find(|s| {
                s.switch_after
                    .as_ref()
                    .is_some_and(|v| v.datapoints.contains(&(at, value)))
            });
            (
                at,
                value,
                step.map(|s| s.n),
                step.map_or("?", |s| s.function),
            )
        })
        .collect()
}

/// `1.234 s`.
fn secs(ms: i64) -> String {
    format!("{:.3} s", ms as f64 / 1000.0)
}

/// Wall-clock millis as `HH:MM:SS.mmm`.
fn clock(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Whole milliseconds, as a float (the JSON's `*_ms` fields).
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round()
}

/// `UpdateItem 10, PutItem 8, ...`: most frequent first.
fn ops_list(by_op: &BTreeMap<String, usize>) -> String {
    let mut ops: Vec<(&String, &usize)> = by_op.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    ops.iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
