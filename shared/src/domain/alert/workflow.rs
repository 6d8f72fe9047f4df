//! The workflow's alerts: `[APPROVAL NEEDED]` with the exact operator requests that answer
//! it, one alert per step (`[STEP DONE]` or `[STEP FAILED]`), `[WORKFLOW DECLINED]` with
//! what was left undone, and the sections the failover and failback alerts add.

use std::fmt::Write;

use serde_json::json;

use super::{subject, Alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{Execution, TransitionKind};
use crate::domain::text::clip;
use crate::domain::time::{fmt_duration_ms, fmt_time};
use crate::domain::workflow::{StepAction, WorkflowStep};
use crate::domain::workflow_run::{StepRun, WorkflowRun};

/// What a step changes, for people: `min 12, desired 12` on its resource.
pub fn step_change(step: &WorkflowStep, trigger_is_operator: bool) -> String {
    match &step.action {
        StepAction::AutoscalingGroup {
            min, max, desired, ..
        } => match max {
            Some(max) => format!("set min {min}, desired {desired}, max {max}"),
            None => format!("set min {min}, desired {desired}"),
        },
        StepAction::EcsService { desired, .. } => format!("set desired count {desired}"),
        StepAction::RdsReadReplica { .. } => {
            "promote the read replica to a standalone writer".into()
        }
        StepAction::AuroraGlobal {
            allow_data_loss, ..
        } => {
            if *allow_data_loss && !trigger_is_operator {
                "fail over the global database (FailoverGlobalCluster, AllowDataLoss)".into()
            } else {
                "switch over the global database (SwitchoverGlobalCluster, no data loss)".into()
            }
        }
        StepAction::Invoke { .. } => "invoke with the transition; its answer is recorded".into(),
    }
}

/// One line per step: `1. scale-web  autoscaling group ... : set min 12, desired 12 [automatic]`.
pub fn workflow_lines(steps: &[WorkflowStep], operator: bool) -> Vec<String> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}. {} ({}) {}: {} [{}]",
                i + 1,
                s.id,
                s.kind().as_str(),
                s.action.target(),
                step_change(s, operator),
                match s.approval {
                    crate::domain::workflow::Approval::None => "automatic",
                    crate::domain::workflow::Approval::Required => "needs approval",
                }
            )
        })
        .collect()
}

/// The failover alert's workflow section: what runs next, in order.
pub fn workflow_section(m: &mut String, def: &ServiceDefinition, exec: &Execution) {
    let Some(run) = WorkflowRun::plan(&def.workflow, exec.kind) else {
        return;
    };
    let operator = is_operator(exec);
    let _ = writeln!(
        m,
        "Workflow (runs now, in order; automatic steps at once, approval steps page [APPROVAL NEEDED])"
    );
    let steps: Vec<WorkflowStep> = run.steps.iter().map(|s| s.step.clone()).collect();
    for line in workflow_lines(&steps, operator) {
        let _ = writeln!(m, "  {line}");
    }
    let _ = writeln!(m);
}

/// The failback alert's section: the scale-back, and the database steps a human must undo.
pub fn failback_workflow_section(m: &mut String, def: &ServiceDefinition) {
    if def.workflow.is_empty() {
        return;
    }
    if let Some(run) = WorkflowRun::plan(&def.workflow, TransitionKind::Failback) {
        let _ = writeln!(m, "Workflow on failback (scale-back, runs now)");
        let steps: Vec<WorkflowStep> = run.steps.iter().map(|s| s.step.clone()).collect();
        for line in workflow_lines(&steps, true) {
            let _ = writeln!(m, "  {line}");
        }
    }
    let dbs: Vec<&WorkflowStep> = def.workflow.iter().filter(|s| s.is_database()).collect();
    if !dbs.is_empty() {
        let _ = writeln!(
            m,
            "Not reversed automatically (a human must do this; the failback does not wait for it):"
        );
        for s in dbs {
            let todo = match &s.action {
                StepAction::RdsReadReplica { identifier, region } => format!(
                    "if {identifier} ({region}) was promoted (the failover's [STEP DONE]), it is the writer now: re-create a read replica in {} from it, or move the writes back and re-create {identifier} as a replica; if the step was declined or never ran, nothing to undo",
                    def.primary.region
                ),
                StepAction::AuroraGlobal { global_cluster, .. } => format!(
                    "if {global_cluster}'s writer was moved to the secondary (the failover's [STEP DONE]), switch it back with SwitchoverGlobalCluster once the primary cluster has caught up; if the step was declined or never ran, nothing to undo"
                ),
                _ => String::new(),
            };
            let _ = writeln!(m, "  - {}: {todo}", s.id);
        }
    }
    let _ = writeln!(m);
}

fn is_operator(exec: &Execution) -> bool {
    matches!(exec.trigger, crate::domain::state::Trigger::Operator { .. })
}

fn direction(exec: &Execution) -> &'static str {
    match exec.kind {
        TransitionKind::Failover => "failover",
        TransitionKind::Failback => "failback",
    }
}

/// The operator request that answers an approval, as JSON (what to send, verbatim).
pub fn answer_request(service: &str, step: &str, approve: bool) -> String {
    json!({
        "action": if approve { "approve" } else { "decline" },
        "service": service,
        "step": step,
        "reason": "<why>",
        "requested_by": "<you>"
    })
    .to_string()
}

/// The `failoverctl` command that answers an approval (service names and step ids are
/// `A-Z a-z 0-9 _ . -`, so it pastes into a shell as it is; only the reason is to fill in).
pub fn answer_command(service: &str, step: &str, approve: bool) -> String {
    format!(
        "failoverctl {} {service} --step {step} --reason \"<why>\"",
        if approve { "approve" } else { "decline" }
    )
}

/// A step waits for a human: the exact requests that approve or decline it.
pub fn approval_alert(
    def: &ServiceDefinition,
    exec: &Execution,
    s: &StepRun,
    page: u32,
    now: i64,
) -> Alert {
    let tail = if page > 1 {
        format!(
            ": approve {} (re-page {page}, epoch {})",
            s.id(),
            exec.epoch
        )
    } else {
        format!(": approve {} (epoch {})", s.id(), exec.epoch)
    };
    let mut m = String::new();
    let _ = writeln!(
        m,
        "APPROVAL NEEDED: the {} of {} to {} (epoch {}) waits for a human at step '{}'.\n",
        direction(exec),
        def.name,
        def.secondary.region,
        exec.epoch,
        s.id()
    );
    let _ = writeln!(m, "Step");
    let _ = writeln!(m, "  {} ({})", s.id(), s.step.kind().as_str());
    let _ = writeln!(m, "  resource: {}", s.step.action.target());
    let _ = writeln!(m, "  change:   {}", step_change(&s.step, is_operator(exec)));
    if let Some(a) = &s.approval {
        let _ = writeln!(
            m,
            "  waiting since {} ({})",
            fmt_time(a.requested_at),
            fmt_duration_ms(now - a.requested_at)
        );
    }
    let _ = writeln!(
        m,
        "\nThe DNS switch is done; this step and the ones after it wait. Approve (invoke the operator function with):\n  {}\nor decline (ends the workflow; what is left undone is paged):\n  {}",
        answer_request(&def.name, s.id(), true),
        answer_request(&def.name, s.id(), false)
    );
    let _ = writeln!(
        m,
        "\nOr with failoverctl (the approver role):\n  {}\n  {}",
        answer_command(&def.name, s.id(), true),
        answer_command(&def.name, s.id(), false)
    );
    let _ = writeln!(
        m,
        "\nUnanswered, this page repeats every escalation interval."
    );
    Alert {
        subject: subject("[APPROVAL NEEDED]", &def.name, &tail),
        message: m,
        service: def.name.clone(),
        event_type: "approval".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}

/// A step verified done.
pub fn step_done_alert(def: &ServiceDefinition, exec: &Execution, s: &StepRun) -> Alert {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "STEP DONE: {} of the {} of {} (epoch {}).\n",
        s.id(),
        direction(exec),
        def.name,
        exec.epoch
    );
    let _ = writeln!(m, "  resource: {}", s.step.action.target());
    let _ = writeln!(m, "  change:   {}", step_change(&s.step, is_operator(exec)));
    let _ = writeln!(
        m,
        "  verified: {}",
        clip(s.result.as_deref().unwrap_or("-"), 500)
    );
    if let (Some(start), Some(done)) = (s.started_at, s.done_at) {
        let _ = writeln!(
            m,
            "  took:     {} (attempts: {})",
            fmt_duration_ms(done - start),
            s.attempts
        );
    }
    if let Some(d) = s.approval.as_ref().and_then(|a| a.decision.as_ref()) {
        let _ = writeln!(
            m,
            "  approved: by {} ({})",
            clip(&d.by, 100),
            clip(&d.reason, 300)
        );
    }
    Alert {
        subject: subject(
            "[STEP DONE]",
            &def.name,
            &format!(": {} (epoch {})", s.id(), exec.epoch),
        ),
        message: m,
        service: def.name.clone(),
        event_type: "step_done".into(),
        epoch: exec.epoch,
        severity: "info".into(),
    }
}

/// A step failed; it is retried with backoff (paged once).
pub fn step_failed_alert(def: &ServiceDefinition, exec: &Execution, s: &StepRun) -> Alert {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "STEP FAILED: {} of the {} of {} (epoch {}). The DNS switch is done; this step and the ones after it wait.\n",
        s.id(),
        direction(exec),
        def.name,
        exec.epoch
    );
    let _ = writeln!(m, "  resource: {}", s.step.action.target());
    let _ = writeln!(m, "  change:   {}", step_change(&s.step, is_operator(exec)));
    let _ = writeln!(
        m,
        "  error:    {}",
        clip(s.last_error.as_deref().unwrap_or("-"), 500)
    );
    if let Some(at) = s.next_attempt_at {
        let _ = writeln!(
            m,
            "  retry:    from {} (attempt {} so far), by the reconciler",
            fmt_time(at),
            s.attempts
        );
    }
    let _ = writeln!(
        m,
        "\nThis page is sent once per step; [STEP DONE] follows when a retry succeeds. Fix the cause (permissions, the resource's name, its state) or do the step by hand."
    );
    Alert {
        subject: subject(
            "[STEP FAILED]",
            &def.name,
            &format!(": {} (epoch {})", s.id(), exec.epoch),
        ),
        message: m,
        service: def.name.clone(),
        event_type: "step_failed".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}

/// A human declined a step: the workflow ended there; what was left undone.
pub fn declined_alert(
    def: &ServiceDefinition,
    exec: &Execution,
    run: &WorkflowRun,
    step: &StepRun,
) -> Alert {
    let mut m = String::new();
    let decision = step.approval.as_ref().and_then(|a| a.decision.as_ref());
    let _ = writeln!(
        m,
        "WORKFLOW DECLINED: step '{}' of the {} of {} (epoch {}) was declined{}. The workflow ended there.\n",
        step.id(),
        direction(exec),
        def.name,
        exec.epoch,
        decision.map_or(String::new(), |d| format!(
            " by {} ({})",
            clip(&d.by, 100),
            clip(&d.reason, 300)
        ))
    );
    let _ = writeln!(
        m,
        "Left undone (do these by hand if they are still needed):"
    );
    for s in run.undone() {
        let _ = writeln!(
            m,
            "  - {} ({}): {} on {}",
            s.id(),
            s.status.as_str(),
            step_change(&s.step, is_operator(exec)),
            s.step.action.target()
        );
    }
    let done: Vec<&str> = run
        .steps
        .iter()
        .filter(|s| s.status == crate::domain::workflow_run::StepStatus::Done)
        .map(|s| s.id())
        .collect();
    if !done.is_empty() {
        let _ = writeln!(m, "Done before it: {}", done.join(", "));
    }
    Alert {
        subject: subject(
            "[WORKFLOW DECLINED]",
            &def.name,
            &format!(": {} (epoch {})", step.id(), exec.epoch),
        ),
        message: m,
        service: def.name.clone(),
        event_type: "workflow_declined".into(),
        epoch: exec.epoch,
        severity: "critical".into(),
    }
}
