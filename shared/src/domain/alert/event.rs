//! The EventBridge event every alert is also put as (`source` [`EVENT_SOURCE`], `detail-type`
//! the alert's `event_type`): the alert's structured fields, so a rule can route it to any
//! tool (PagerDuty, a webhook) without parsing the message. Built from the alert alone, so
//! the event always says what the page said.

use serde_json::{json, Value};

use super::Alert;

/// The events' `source`; Terraform's rules match on it.
pub const EVENT_SOURCE: &str = "regional-failover";

/// The README, where every `runbook_url` points (`RUNBOOK_BASE_URL` overrides it).
pub const DEFAULT_RUNBOOK_BASE_URL: &str =
    "https://github.com/regional-failover/regional-failover/blob/main/README.md";

/// The README section that tells what to do about an `event_type`.
pub fn runbook_anchor(event_type: &str) -> &'static str {
    match event_type {
        "recovered" | "not_recovered" => "#recovery",
        "approval" | "step_done" | "step_failed" | "workflow_declined" => "#workflow",
        // A human must act: fail over by hand, release a hold, fix what drifted or is stuck.
        "blocked" | "held" | "escalation" | "drift" => "#runbook",
        _ => "#alerts",
    }
}

/// The event's `detail`: service, epoch, event type, severity, subject, the message's first
/// line, the decision's votes, what was changed, the runbook section and a dedup key that
/// one failover shares with its recovery (`<service>#<epoch>`).
pub fn event_detail(alert: &Alert, runbook_base: &str) -> Value {
    let summary = summary(&alert.message);
    let changed = first_line_under(&alert.message, "What was changed").unwrap_or(summary);
    json!({
        "service": alert.service,
        "epoch": alert.epoch,
        "event_type": alert.event_type,
        "severity": alert.severity,
        "subject": alert.subject,
        "summary": summary,
        "votes": votes(&alert.message),
        "changed": changed,
        "runbook_url": format!(
            "{}{}",
            runbook_base.trim_end_matches('#'),
            runbook_anchor(&alert.event_type)
        ),
        "dedup_key": format!("{}#{}", alert.service, alert.epoch),
    })
}

/// The message's first non-empty line.
fn summary(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}

/// The first non-empty line after the section heading `heading` (a line of its own).
fn first_line_under<'a>(message: &'a str, heading: &str) -> Option<&'a str> {
    message
        .lines()
        .skip_while(|l| l.trim_end() != heading)
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
}

/// The decision section's vote lines (`    - <observer> ALARM since ...`), without the dash.
fn votes(message: &str) -> Vec<&str> {
    message
        .lines()
        .skip_while(|l| l.trim_end() != "  votes:")
        .skip(1)
        .map_while(|l| l.strip_prefix("    - "))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::{
        approval_alert, blocked_alert, failback_alert, failover_alert, pause_alert,
        recovered_alert, step_done_alert,
    };
    use crate::domain::catalog::ServiceDefinition;
    use crate::domain::decision::{claim_failback, claim_failover, complete_transition, Claimant};
    use crate::domain::recovery::Recovery;
    use crate::domain::state::{
        Execution, HealthCheckSettings, Pause, ServiceState, Trigger, VoteRecord,
    };
    use crate::domain::time::Millis;
    use crate::domain::workflow_run::WorkflowRun;

    const T: Millis = 1_795_000_000_000;
    const BASE: &str = "https://example.com/README.md";

    fn arn(i: usize) -> String {
        format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-canary-{i}")
    }

    fn def(workflow: &str) -> ServiceDefinition {
        ServiceDefinition::parse(
            "checkout",
            &format!(
                r#"{{"name":"checkout","primary":{{"region":"us-east-1","health_check_id":"hc-p"}},
                   "secondary":{{"region":"eu-west-1","health_check_id":"hc-s"}},
                   "observers":["{}","{}","{}"],"quorum":2{workflow}}}"#,
                arn(0),
                arn(1),
                arn(2)
            ),
        )
        .unwrap()
    }

    fn claimant() -> Claimant {
        Claimant {
            owner: "alarm-trigger/req-1".into(),
            lease_until: T + 60_000,
        }
    }

    /// A failover of epoch 1 decided by observers 0 and 1, switched and verified.
    fn failover() -> (ServiceState, Execution) {
        let votes = [(0, T), (1, T + 10_000)]
            .iter()
            .map(|(i, at)| VoteRecord {
                observer: arn(*i),
                at: *at,
                reason: format!("canary {i} failing"),
            })
            .collect();
        let trigger = Trigger::Quorum {
            quorum: 2,
            observers: 3,
        };
        let mut s = claim_failover(
            &ServiceState::default(),
            votes,
            trigger,
            &claimant(),
            T + 11_000,
        );
        let exec = s.execution.as_mut().unwrap();
        exec.prior = Some(HealthCheckSettings {
            disabled: false,
            inverted: false,
        });
        exec.switched_at = Some(T + 12_000);
        let exec = exec.clone();
        (complete_transition(&s, T + 12_500), exec)
    }

    #[test]
    fn a_failover_carries_its_votes_what_changed_and_one_dedup_key_with_its_recovery() {
        let (_, exec) = failover();
        let d = def("");
        let alert = failover_alert(&d, &exec);
        let detail = event_detail(&alert, BASE);
        assert_eq!(detail["service"], "checkout");
        assert_eq!(detail["epoch"], 1);
        assert_eq!(detail["event_type"], "failover");
        assert_eq!(detail["severity"], "critical");
        assert_eq!(detail["subject"], alert.subject.as_str());
        assert_eq!(
            detail["summary"],
            "FAILOVER: checkout now answers from the secondary region eu-west-1 (was us-east-1). Epoch 1."
        );
        let votes: Vec<&str> = detail["votes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(votes.len(), 2, "{votes:?}");
        for (i, v) in votes.iter().enumerate() {
            assert!(v.starts_with(&format!("{} ALARM since ", arn(i))), "{v}");
            assert!(v.ends_with(&format!(": canary {i} failing")), "{v}");
        }
        let changed = detail["changed"].as_str().unwrap();
        assert!(
            changed.starts_with("Route 53 health check hc-p (primary, us-east-1): "),
            "{changed}"
        );
        assert_eq!(detail["runbook_url"], format!("{BASE}#alerts"));
        assert_eq!(detail["dedup_key"], "checkout#1");

        // The recovery of the same failover resolves the same incident.
        let rec = Recovery {
            recovered_at: Some(T + 90_000),
            rto_ms: Some(90_000),
            first_alarm_at: Some(T),
            ..Recovery::default()
        };
        let recovered = event_detail(&recovered_alert(&d, &exec, &rec), BASE);
        assert_eq!(recovered["event_type"], "recovered");
        assert_eq!(recovered["severity"], "info");
        assert_eq!(recovered["dedup_key"], detail["dedup_key"]);
        assert_eq!(recovered["votes"], json!([]));
        assert_eq!(recovered["runbook_url"], format!("{BASE}#recovery"));
        // No "What was changed" section: the summary stands in.
        assert!(recovered["summary"]
            .as_str()
            .unwrap()
            .starts_with("RECOVERED: every observer of checkout reports OK again"));
        assert_eq!(recovered["changed"], recovered["summary"]);
    }

    #[test]
    fn an_operators_failback_has_no_votes_and_says_what_it_restored() {
        let (state, _) = failover();
        let trigger = Trigger::Operator {
            requested_by: "alice".into(),
            reason: "primary healthy".into(),
            forced: false,
        };
        let restore = Some(HealthCheckSettings {
            disabled: false,
            inverted: false,
        });
        let s = claim_failback(&state, restore, vec![], trigger, &claimant(), T + 600_000);
        let exec = s.execution.as_ref().unwrap();
        let detail = event_detail(&failback_alert(&def(""), exec), BASE);
        assert_eq!(detail["event_type"], "failback");
        assert_eq!(detail["severity"], "warning");
        assert_eq!(detail["epoch"], 2);
        assert_eq!(detail["dedup_key"], "checkout#2");
        assert_eq!(detail["votes"], json!([]));
        let changed = detail["changed"].as_str().unwrap();
        assert!(
            changed.contains("(the flags recorded before the failover)"),
            "{changed}"
        );
    }

    #[test]
    fn a_blocked_failover_points_at_the_runbook_and_changed_nothing() {
        let (_, mut exec) = failover();
        exec.switched_at = None;
        exec.blocked_reason = Some("secondary health check unhealthy".into());
        let detail = event_detail(&blocked_alert(&def(""), &exec), BASE);
        assert_eq!(detail["event_type"], "blocked");
        assert_eq!(detail["runbook_url"], format!("{BASE}#runbook"));
        assert_eq!(detail["votes"].as_array().unwrap().len(), 2);
        // Nothing was changed: no such section, so the summary says what happened.
        assert!(detail["changed"]
            .as_str()
            .unwrap()
            .starts_with("BLOCKED: a quorum of observers says checkout"));
    }

    #[test]
    fn the_workflows_alerts_point_at_the_workflow_section() {
        let d = def(
            r#","workflow":[{"id":"promote-db","kind":"rds_read_replica","region":"eu-west-1",
                "identifier":"checkout-db-replica"}]"#,
        );
        let (_, exec) = failover();
        let mut run = WorkflowRun::plan(&d.workflow, exec.kind).unwrap();
        let step = run.steps.remove(0);
        let approval = event_detail(&approval_alert(&d, &exec, &step, 1, T + 20_000), BASE);
        assert_eq!(approval["event_type"], "approval");
        assert_eq!(approval["severity"], "critical");
        assert_eq!(approval["runbook_url"], format!("{BASE}#workflow"));
        assert_eq!(approval["dedup_key"], "checkout#1");
        assert!(approval["summary"]
            .as_str()
            .unwrap()
            .starts_with("APPROVAL NEEDED: the failover of checkout"));
        let done = event_detail(&step_done_alert(&d, &exec, &step), BASE);
        assert_eq!(done["event_type"], "step_done");
        assert_eq!(done["runbook_url"], format!("{BASE}#workflow"));
    }

    #[test]
    fn a_pause_is_info_and_its_summary_is_its_first_line() {
        let pause = Pause {
            reason: "db upgrade".into(),
            requested_by: "bob".into(),
            since: T,
            until: None,
        };
        let detail = event_detail(&pause_alert(&def(""), &pause, true, 3), BASE);
        assert_eq!(detail["event_type"], "pause");
        assert_eq!(detail["severity"], "info");
        assert_eq!(detail["dedup_key"], "checkout#3");
        assert_eq!(detail["runbook_url"], format!("{BASE}#alerts"));
        assert_eq!(
            detail["summary"],
            "PAUSED: automatic failover for checkout is off until resumed by hand. Votes are still recorded; nothing is switched automatically."
        );
        assert_eq!(detail["changed"], detail["summary"]);
    }

    #[test]
    fn every_event_type_has_a_section() {
        let cases = [
            ("failover", "#alerts"),
            ("failback", "#alerts"),
            ("pending", "#alerts"),
            ("pause", "#alerts"),
            ("resume", "#alerts"),
            ("catalog", "#alerts"),
            ("readiness", "#alerts"),
            ("blocked", "#runbook"),
            ("held", "#runbook"),
            ("escalation", "#runbook"),
            ("drift", "#runbook"),
            ("recovered", "#recovery"),
            ("not_recovered", "#recovery"),
            ("approval", "#workflow"),
            ("step_done", "#workflow"),
            ("step_failed", "#workflow"),
            ("workflow_declined", "#workflow"),
        ];
        for (event_type, anchor) in cases {
            assert_eq!(runbook_anchor(event_type), anchor, "{event_type}");
        }
        // A base given with a trailing '#' does not double it.
        let alert = Alert {
            subject: "[HELD] checkout".into(),
            message: "\n\nHELD: x\n".into(),
            service: "checkout".into(),
            event_type: "held".into(),
            epoch: 0,
            severity: "critical".into(),
        };
        let detail = event_detail(&alert, "https://wiki/x#");
        assert_eq!(detail["runbook_url"], "https://wiki/x#runbook");
        assert_eq!(detail["summary"], "HELD: x");
        assert_eq!(detail["dedup_key"], "checkout#0");
    }
}
