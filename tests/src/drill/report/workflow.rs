//! The runbook workflow in the report (issue 16): each step's events (started, approval
//! requested, approved or declined, applied, done, failed) as the control table records
//! them in the failover's execution, and the figures: switch -> scale done, the approval's
//! wait, approval -> promoted, switch -> promoted, and the measured RTO.
//!
//! Everything comes from the steps' snapshots of the execution (`execution_after`), so it
//! is what the functions wrote, not what the drill assumed.

use std::fmt::Write as _;

use failover::domain::state::{Execution, TransitionKind};
use failover::domain::workflow::StepKind;
use failover::domain::workflow_run::WorkflowRun;
use serde::{Deserialize, Serialize};

use super::html::esc;
use super::{clock, secs, DrillReport};

/// The workflow of the (last) failover, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSummary {
    pub direction: String,
    /// Finished steps / steps, e.g. `3/3`.
    pub progress: String,
    pub steps: Vec<WorkflowStepEntry>,
    /// Oldest first.
    pub events: Vec<WorkflowEvent>,
    pub figures: WorkflowFigures,
}

/// One step at the end of the drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStepEntry {
    pub id: String,
    pub kind: String,
    pub approval: String,
    pub target: String,
    pub status: String,
    pub attempts: u32,
    /// What the read-back found (or the Lambda's answer).
    pub result: Option<String>,
    pub last_error: Option<String>,
}

/// One thing that happened to a step, when the functions recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowEvent {
    pub step_id: String,
    /// `started`, `approval requested`, `approved`, `declined`, `applied`, `done`, `failed`.
    pub event: String,
    pub at_ms: i64,
    /// The drill step after which it was first read from the control table.
    pub drill_step: Option<usize>,
    pub detail: String,
}

/// The workflow's figures (milliseconds), measured from the recorded times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowFigures {
    pub switched_at_ms: Option<i64>,
    /// The switch -> the last scale step verified.
    pub switch_to_scale_done_ms: Option<i64>,
    /// `[APPROVAL NEEDED]` recorded -> the operator's answer.
    pub approval_wait_ms: Option<i64>,
    /// The approval -> the promotion verified.
    pub approval_to_promoted_ms: Option<i64>,
    /// The switch -> the promotion verified.
    pub switch_to_promoted_ms: Option<i64>,
    /// First ALARM -> the last observer OK (`[RECOVERED]`).
    pub rto_ms: Option<i64>,
}

/// Every event recorded in `run`: `(step id, event, at, detail)`, oldest first.
pub fn events(run: &WorkflowRun) -> Vec<(String, &'static str, i64, String)> {
    let mut out = Vec::new();
    for s in &run.steps {
        let id = s.id().to_string();
        let result = s.result.clone().unwrap_or_default();
        if let Some(a) = &s.approval {
            out.push((
                id.clone(),
                "approval requested",
                a.requested_at,
                format!("{} page(s)", a.pages),
            ));
            if let Some(d) = &a.decision {
                let event = if d.approved { "approved" } else { "declined" };
                out.push((
                    id.clone(),
                    event,
                    d.at,
                    format!("by {}: {}", d.by, d.reason),
                ));
            }
        }
        if let Some(at) = s.started_at {
            out.push((id.clone(), "started", at, s.step.action.target()));
        }
        // Applied and verified in one read-back is one event; apart (a promotion still in
        // progress), the wait shows.
        if let Some(at) = s.applied_at.filter(|at| Some(*at) != s.done_at) {
            out.push((id.clone(), "applied", at, result.clone()));
        }
        if let Some(at) = s.done_at {
            out.push((id.clone(), "done", at, result.clone()));
        }
        if let (Some(at), Some(e)) = (s.failure_paged_at, &s.last_error) {
            out.push((id.clone(), "failed", at, e.clone()));
        }
    }
    out.sort_by_key(|e| e.2);
    out
}

/// The execution holding the last workflow the drill saw, and the drill step that read it.
fn last_run(r: &DrillReport) -> Option<(&Execution, &WorkflowRun)> {
    r.steps.iter().rev().find_map(|s| {
        let exec = s.execution_after.as_ref()?;
        exec.workflow.as_ref().map(|w| (exec, w))
    })
}

/// The workflow summary, when the drill's service ran one.
pub fn workflow_summary(r: &DrillReport) -> Option<WorkflowSummary> {
    let (exec, run) = last_run(r)?;
    let seen_after = |id: &str, event: &str, at: i64| {
        r.steps
            .iter()
            .find(|s| {
                s.execution_after
                    .as_ref()
                    .and_then(|e| e.workflow.as_ref())
                    .is_some_and(|w| {
                        events(w)
                            .iter()
                            .any(|x| x.0 == id && x.1 == event && x.2 == at)
                    })
            })
            .map(|s| s.n)
    };
    let events: Vec<WorkflowEvent> = events(run)
        .into_iter()
        .map(|(step_id, event, at_ms, detail)| WorkflowEvent {
            drill_step: seen_after(&step_id, event, at_ms),
            step_id,
            event: event.to_string(),
            at_ms,
            detail,
        })
        .collect();
    let scale_done = run
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.step.kind(),
                StepKind::AutoscalingGroup | StepKind::EcsService
            )
        })
        .map(|s| s.done_at)
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().max());
    let approval = run
        .steps
        .iter()
        .find_map(|s| s.approval.as_ref())
        .and_then(|a| Some((a.requested_at, a.decision.as_ref()?.at)));
    let promoted = run
        .steps
        .iter()
        .find(|s| s.step.is_database())
        .and_then(|s| s.done_at);
    let switched = exec.switched_at;
    let since = |from: Option<i64>, to: Option<i64>| Some(to? - from?);
    let figures = WorkflowFigures {
        switched_at_ms: switched,
        switch_to_scale_done_ms: since(switched, scale_done),
        approval_wait_ms: approval.map(|(asked, answered)| answered - asked),
        approval_to_promoted_ms: since(approval.map(|a| a.1), promoted),
        switch_to_promoted_ms: since(switched, promoted),
        rto_ms: exec.recovery.as_ref().and_then(|rec| rec.rto_ms),
    };
    Some(WorkflowSummary {
        direction: match run.direction {
            TransitionKind::Failover => "failover",
            TransitionKind::Failback => "failback",
        }
        .to_string(),
        progress: run.progress(),
        steps: run
            .steps
            .iter()
            .map(|s| WorkflowStepEntry {
                id: s.id().to_string(),
                kind: s.step.kind().as_str().to_string(),
                approval: s.step.approval.as_str().to_string(),
                target: s.step.action.target(),
                status: s.status.as_str().to_string(),
                attempts: s.attempts,
                result: s.result.clone(),
                last_error: s.last_error.clone(),
            })
            .collect(),
        events,
        figures,
    })
}

fn figure(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), secs)
}

/// The figures as `(label, value, how)` rows.
fn figure_rows(f: &WorkflowFigures) -> [(&'static str, String, &'static str); 5] {
    [
        (
            "switch -> scale done",
            figure(f.switch_to_scale_done_ms),
            "the switch landed -> the last scale step read back at its target",
        ),
        (
            "approval wait",
            figure(f.approval_wait_ms),
            "[APPROVAL NEEDED] recorded -> the operator's approve",
        ),
        (
            "approval -> promoted",
            figure(f.approval_to_promoted_ms),
            "approve -> the replica read back standalone",
        ),
        (
            "switch -> promoted",
            figure(f.switch_to_promoted_ms),
            "the whole runbook after the switch, human included",
        ),
        (
            "RTO (measured)",
            figure(f.rto_ms),
            "first ALARM -> the last observer OK ([RECOVERED])",
        ),
    ]
}

/// The summary block's lines.
pub(super) fn summary_lines(w: &WorkflowSummary) -> Vec<String> {
    let mut out = vec![format!(
        "  workflow ({}): {} steps done; events from the control table:",
        w.direction, w.progress
    )];
    for e in &w.events {
        out.push(format!(
            "    {} {:<12} {:<18} {}{}",
            clock(e.at_ms),
            e.step_id,
            e.event,
            e.detail,
            e.drill_step
                .map(|n| format!(" (seen after step {n})"))
                .unwrap_or_default()
        ));
    }
    for (label, value, how) in figure_rows(&w.figures) {
        out.push(format!("    {label:<24}{value:>10}   {how}"));
    }
    out
}

fn event_color(event: &str) -> &'static str {
    match event {
        "done" => "#2b8a3e",
        "approved" => "#1971c2",
        "approval requested" => "#f59f00",
        "declined" | "failed" => "#c92a2a",
        _ => "#868e96",
    }
}

/// The chart's workflow lane: one mark per event at `x(t)` (seconds since the drill began).
pub(super) fn lane_marks(
    w: &WorkflowSummary,
    r: &DrillReport,
    x: &dyn Fn(f64) -> f64,
    y: f64,
) -> String {
    let mut s = String::new();
    let started = r.started_at.timestamp_millis();
    let at = |e: &WorkflowEvent| x((e.at_ms - started) as f64 / 1000.0);
    // One mark per event (its tooltip says it all); the labels of events a few pixels apart
    // (the automatic steps run within milliseconds) are joined, alternately above and below.
    let mut clusters: Vec<(f64, Vec<String>)> = Vec::new();
    for e in &w.events {
        let cx = at(e);
        let _ = write!(
            s,
            r##"<g class="tl-mark wf-event"><title>{}: {} at {} {}</title><rect x="{:.1}" y="{:.1}" width="9" height="9" transform="rotate(45 {cx:.1} {y:.1})" fill="{}"/></g>"##,
            esc(&e.step_id),
            esc(&e.event),
            clock(e.at_ms),
            esc(&e.detail),
            cx - 4.5,
            y - 4.5,
            event_color(&e.event),
        );
        if e.event == "started" || e.event == "applied" {
            continue;
        }
        let label = format!("{} {}", e.step_id, e.event);
        match clusters.last_mut() {
            Some((x0, labels)) if cx - *x0 < 60.0 => labels.push(label),
            _ => clusters.push((cx, vec![label])),
        }
    }
    for (i, (cx, labels)) in clusters.iter().enumerate() {
        let ly = if i % 2 == 0 { y - 9.0 } else { y + 16.0 };
        let _ = write!(
            s,
            r##"<text class="mark" x="{:.1}" y="{ly:.1}">{}</text>"##,
            cx - 4.0,
            esc(&labels.join(", "))
        );
    }
    s
}

/// The HTML section: the figures, then the steps and their events.
pub(super) fn html(w: &WorkflowSummary) -> String {
    let mut h = String::from(r#"<h2>Workflow</h2><table id="workflow-figures"><tbody>"#);
    for (label, value, how) in figure_rows(&w.figures) {
        let _ = write!(
            h,
            "<tr><th>{}</th><td>{}</td><td class=\"muted\">{}</td></tr>",
            esc(label),
            esc(&value),
            esc(how)
        );
    }
    h.push_str("</tbody></table>");
    let _ = write!(
        h,
        r#"<table id="workflow"><thead><tr><th>step</th><th>kind</th><th>approval</th><th>target</th><th>status ({})</th><th>events</th></tr></thead><tbody>"#,
        esc(&w.progress)
    );
    for st in &w.steps {
        let evs: Vec<String> = w
            .events
            .iter()
            .filter(|e| e.step_id == st.id)
            .map(|e| {
                format!(
                    "{} {}{}",
                    clock(e.at_ms),
                    esc(&e.event),
                    e.drill_step
                        .map(|n| format!(" (step {n})"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let _ = write!(
            h,
            "<tr class=\"wf-step\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
            esc(&st.id),
            esc(&st.kind),
            esc(&st.approval),
            esc(&st.target),
            esc(&st.status),
            st.result
                .as_ref()
                .map(|r| format!(": {}", esc(r)))
                .unwrap_or_default(),
            evs.join("<br>")
        );
    }
    h.push_str("</tbody></table>");
    h
}
