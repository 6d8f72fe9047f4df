//! The first automatic decision's latencies, and the RTO budget built on them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::{AlertSeen, StepRecord};
use super::{stage, Stage};

/// Latencies of the first automatic decision (wall-clock millis).
#[derive(Debug, Clone)]
pub struct Latency {
    /// The step whose event completed the quorum, or the reconciler run that decided a
    /// standing quorum.
    pub step: usize,
    /// What was decided: `failed_over` or `blocked`.
    pub outcome: String,
    /// When the quorum-completing alarm entered ALARM (CloudWatch's state timestamp).
    pub quorum_alarm_at: i64,
    /// When its event was handed to alarm-trigger.
    pub delivered_at: i64,
    pub decided_at: i64,
    pub switched_at: Option<i64>,
    /// SNS's timestamp of the alert.
    pub alert_published_at: Option<i64>,
    /// When the drill's SQS subscriber had it.
    pub alert_received_at: Option<i64>,
}

/// The RTO budget line: configured detection, measured decision, DNS TTL. The serde
/// names are those of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RtoBudget {
    #[serde(rename = "health_check_request_interval_s")]
    pub hc_interval_s: i64,
    #[serde(rename = "health_check_failure_threshold")]
    pub hc_threshold: i64,
    pub detection_s: f64,
    /// Quorum alarm -> primary forced unhealthy, measured.
    #[serde(rename = "measured_decision_s")]
    pub measured_s: f64,
    #[serde(rename = "dns_ttl_s")]
    pub ttl_s: i64,
    pub total_s: f64,
}

/// The first automatic decision's latencies; `None` when no alarm-trigger step and no
/// reconciler run decided.
pub(super) fn latency(
    steps: &[StepRecord],
    alerts: &[AlertSeen],
    started_at: DateTime<Utc>,
) -> Option<Latency> {
    let step = steps.iter().find(|s| {
        (s.function == "alarm-trigger" && (s.outcome == "failed_over" || s.outcome == "blocked"))
            || (s.function == "reconciler" && s.outcome == "decided")
    })?;
    let exec = step.execution_after.as_ref()?;
    // A standing quorum has no deciding event: the quorum stood from the moment its
    // newest vote's alarm entered ALARM.
    let quorum_alarm_at = match step.alarm_at {
        Some(at) => at.timestamp_millis(),
        None => exec.votes.iter().map(|v| v.at).max()?,
    };
    let outcome = match (step.function, exec.switched_at) {
        ("reconciler", Some(_)) => "failed_over".to_string(),
        ("reconciler", None) => "blocked".to_string(),
        _ => step.outcome.clone(),
    };
    let wall = |d: Duration| started_at.timestamp_millis() + d.as_millis() as i64;
    let alert = alerts.iter().find(|a| a.step == step.n);
    Some(Latency {
        step: step.n,
        outcome,
        quorum_alarm_at,
        delivered_at: wall(step.start),
        decided_at: exec.decided_at,
        switched_at: exec.switched_at,
        alert_published_at: alert
            .and_then(|a| a.published_at)
            .map(|t| t.timestamp_millis())
            .or(exec.alerted_at),
        alert_received_at: alert.map(|a| wall(a.received)),
    })
}

/// The RTO budget of an automatic switch; `None` when nothing was switched.
pub(super) fn rto_budget(latency: Option<&Latency>, stage: &Stage) -> Option<RtoBudget> {
    let l = latency?;
    let switched = l.switched_at?;
    let detection_s = (stage.hc_interval * stage.hc_threshold) as f64;
    let measured_s = (switched - l.quorum_alarm_at) as f64 / 1000.0;
    Some(RtoBudget {
        hc_interval_s: stage.hc_interval,
        hc_threshold: stage.hc_threshold,
        detection_s,
        measured_s,
        ttl_s: stage::RECORD_TTL,
        total_s: detection_s + measured_s + stage::RECORD_TTL as f64,
    })
}
