//! `report.json`: the report as a typed document, serde both ways. Its field names are
//! the file's contract (readers such as the drill test deserialize it into
//! [`JsonReport`]); times are RFC 3339 with milliseconds, durations whole milliseconds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    answer, derive_answer, ms, route53_api, switch_datapoints, switched_by, DrillReport, StepRecord,
};
use crate::drill::timeline::Kind;
use crate::drill::{tap, Check, HealthCheckFlags, RecordView, RtoBudget, Scenario, FUNCTIONS};

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonReport {
    pub drill: Overview,
    pub environment: Environment,
    /// The service's catalog entry, as provisioned.
    pub catalog_entry: Value,
    pub steps: Vec<StepEntry>,
    pub checks: Vec<Check>,
    pub timeline: Vec<TimelineEntry>,
    pub summary: Summary,
}

/// The verdict and the drill's extent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub scenario: Scenario,
    pub description: String,
    pub held: bool,
    #[serde(with = "rfc3339_millis")]
    pub started_at: DateTime<Utc>,
    pub duration_ms: f64,
    pub incident_start_ms: f64,
    pub checks_total: usize,
    pub checks_failed: usize,
}

/// Where the drill ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub emulator: String,
    pub functions: Vec<String>,
    pub runtime: String,
    pub invoke_port: u16,
    pub aws_call_tap: String,
    pub aws_calls_counted: String,
    pub functions_log: Option<String>,
}

/// One step as it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    pub n: usize,
    pub title: String,
    pub function: String,
    pub request_summary: String,
    pub request: Value,
    pub start_ms: f64,
    pub end_ms: f64,
    pub duration_ms: f64,
    pub cold_start: bool,
    pub response: Response,
    pub outcome: String,
    pub detail: String,
    #[serde(with = "rfc3339_millis_opt")]
    pub alarm_at: Option<DateTime<Utc>>,
    pub aws_calls: Vec<CallEntry>,
    pub sequential_round_trips: usize,
    pub changes: Vec<ChangeEntry>,
    /// The subjects of the alerts received after the step.
    pub alerts: Vec<String>,
    pub audit: Vec<AuditEntry>,
    pub phase_after: String,
    pub primary_after: String,
}

/// The function's response, or `{"error": ...}` when the invoke failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    Failed(InvokeError),
    Answered(Value),
}

/// cargo lambda's report of a failed invoke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvokeError {
    pub error: String,
}

/// One AWS call a function made, as the tap saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEntry {
    pub service: String,
    pub region: String,
    pub operation: String,
    pub detail: String,
    pub status: u16,
    pub error: String,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// A resource that changed during a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEntry {
    pub resource: String,
    pub before: String,
    pub after: String,
}

/// A record the step added to the service's audit history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub kind: String,
    pub what: String,
    pub why: String,
    pub actor: String,
    pub epoch: u64,
}

/// One timeline line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub t_ms: f64,
    pub step: Option<usize>,
    pub kind: Kind,
    pub text: String,
}

/// The summary: latencies, calls, alerts, switches, Route 53, the control table, the
/// RTO budget, and the summary block as printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub latency: Option<LatencyEntry>,
    pub aws_calls: CallCounts,
    pub alerts: Vec<AlertEntry>,
    pub switches: Vec<SwitchEntry>,
    pub route53: Route53Entry,
    /// The switch metric (metric and both modes): absent in health_check mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_metric: Option<SwitchMetricEntry>,
    /// The runbook workflow (issue 16): absent when the service has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<super::WorkflowSummary>,
    pub control_table: ControlTableEntry,
    pub rto_budget: Option<RtoBudget>,
    pub text: Vec<String>,
}

/// The first automatic decision: when each part happened (wall-clock millis) and how
/// long each took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyEntry {
    pub step: usize,
    pub outcome: String,
    pub quorum_alarm_at_ms: i64,
    pub delivered_at_ms: i64,
    pub decided_at_ms: i64,
    pub switched_at_ms: Option<i64>,
    pub alert_published_at_ms: Option<i64>,
    pub alert_received_at_ms: Option<i64>,
    pub detection_to_decision_ms: i64,
    pub decision_to_switch_ms: Option<i64>,
    pub switch_to_alert_ms: Option<i64>,
    pub alert_to_subscriber_ms: Option<i64>,
}

/// The functions' AWS calls, counted on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallCounts {
    pub total: usize,
    pub writes_applied: usize,
    pub refused: usize,
    pub by_operation: BTreeMap<String, usize>,
}

/// An alert as the drill's subscriber received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEntry {
    pub step: usize,
    pub subject: String,
    pub event_type: String,
    pub severity: String,
    pub epoch: String,
    #[serde(with = "rfc3339_millis_opt")]
    pub published_at: Option<DateTime<Utc>>,
    pub received_ms: f64,
}

/// A change of the primary's health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchEntry {
    pub step: usize,
    pub function: String,
    pub kind: SwitchKind,
    /// `health check`, `metric`, or `metric and health check`.
    #[serde(default)]
    pub mechanism: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    /// The primary's check forced unhealthy.
    Failover,
    /// The primary's check restored.
    Failback,
}

/// The failover records and health checks at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route53Entry {
    pub records: Vec<RecordEntry>,
    pub records_unchanged: bool,
    pub primary_health_check: HealthCheckEntry,
    pub secondary_health_check: HealthCheckEntry,
    /// The record Route 53 answers with, derived from the flags (and the switch alarm).
    pub answers: Option<AnswerEntry>,
    /// The functions' calls to Route 53's API.
    pub api: Route53Api,
}

/// The functions' calls to Route 53's API, counted on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route53Api {
    /// The tap answered every route53 call 503 for the whole drill.
    pub outage: bool,
    pub calls: usize,
    pub answered_503: usize,
    pub answered_2xx: usize,
}

/// The switch metric and its alarm at the end, and which mechanism switched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchMetricEntry {
    pub mode: String,
    pub alarm_arn: String,
    pub alarm_state: String,
    /// As the switch's audit record (or alert) says it.
    pub switched_by: Option<String>,
    /// Read back from moto (GetMetricData, 1 s periods), oldest first.
    pub datapoints: Vec<DatapointEntry>,
}

/// One PrimaryForcedOut datapoint and the step that published it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatapointEntry {
    pub at_ms: i64,
    pub value: f64,
    pub step: Option<usize>,
    pub function: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordEntry {
    pub name: String,
    pub set_identifier: String,
    pub failover: String,
    pub value: String,
    pub ttl: i64,
    pub health_check_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckEntry {
    pub id: String,
    pub disabled: bool,
    pub inverted: bool,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerEntry {
    pub failover: String,
    pub value: String,
    /// How the answer was derived (moto evaluates no health check).
    #[serde(default)]
    pub derived_from: String,
}

/// The service's control record at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlTableEntry {
    pub phase: String,
    pub epoch: u64,
}

impl JsonReport {
    /// Pretty JSON with the keys of every object sorted: a stable, diff-friendly file.
    pub fn to_pretty_json(&self) -> std::io::Result<String> {
        // Through a `Value`, whose maps are sorted.
        let value = serde_json::to_value(self).map_err(std::io::Error::other)?;
        serde_json::to_string_pretty(&value).map_err(std::io::Error::other)
    }
}

impl From<&DrillReport> for JsonReport {
    fn from(r: &DrillReport) -> Self {
        JsonReport {
            drill: Overview {
                scenario: r.scenario,
                description: r.scenario.description().to_string(),
                held: r.held,
                started_at: to_millis(r.started_at),
                duration_ms: ms(r.duration),
                incident_start_ms: ms(r.incident_start),
                checks_total: r.checks.len(),
                checks_failed: r.failures().len(),
            },
            environment: Environment {
                emulator: r.emulator_endpoint.clone(),
                functions: FUNCTIONS.map(String::from).to_vec(),
                runtime: "cargo lambda watch + cargo lambda invoke".into(),
                invoke_port: r.invoke_port,
                aws_call_tap: r.tap_endpoint.clone(),
                aws_calls_counted:
                    "on the wire, by a recording proxy between the functions and moto".into(),
                functions_log: r.functions_log.as_ref().map(|p| p.display().to_string()),
            },
            catalog_entry: r.definition.clone(),
            steps: r.steps.iter().map(StepEntry::from).collect(),
            checks: r.checks.clone(),
            timeline: r
                .lines
                .iter()
                .map(|l| TimelineEntry {
                    t_ms: ms(l.t),
                    step: l.step,
                    kind: l.kind,
                    text: l.text.clone(),
                })
                .collect(),
            summary: Summary::from(r),
        }
    }
}

impl From<&StepRecord> for StepEntry {
    fn from(s: &StepRecord) -> Self {
        StepEntry {
            n: s.n,
            title: s.title.clone(),
            function: s.function.to_string(),
            request_summary: s.request_summary.clone(),
            request: s.request.clone(),
            start_ms: ms(s.start),
            end_ms: ms(s.end),
            duration_ms: ms(s.end.saturating_sub(s.start)),
            cold_start: s.cold_start,
            response: match &s.response {
                Ok(v) => Response::Answered(v.clone()),
                Err(e) => Response::Failed(InvokeError { error: e.clone() }),
            },
            outcome: s.outcome.clone(),
            detail: s.detail.clone(),
            alarm_at: s.alarm_at.map(to_millis),
            aws_calls: s
                .calls
                .iter()
                .map(|c| CallEntry {
                    service: c.service.clone(),
                    region: c.region.clone(),
                    operation: c.operation.clone(),
                    detail: c.detail.clone(),
                    status: c.status,
                    error: c.error.clone(),
                    start_ms: ms(c.start),
                    end_ms: ms(c.end),
                })
                .collect(),
            sequential_round_trips: tap::round_trips(&s.calls),
            changes: s
                .changes
                .iter()
                .map(|c| ChangeEntry {
                    resource: c.resource.clone(),
                    before: c.before.clone(),
                    after: c.after.clone(),
                })
                .collect(),
            alerts: s.alerts.iter().map(|a| a.subject.clone()).collect(),
            audit: s
                .audit
                .iter()
                .map(|h| AuditEntry {
                    kind: h.kind.clone(),
                    what: h.what.clone(),
                    why: h.why.clone(),
                    actor: h.actor.clone(),
                    epoch: h.epoch,
                })
                .collect(),
            phase_after: s.phase_after.clone(),
            primary_after: match &s.switch_after {
                Some(sw) => format!("{sw}; primary check {}", s.primary_after),
                None => s.primary_after.to_string(),
            },
        }
    }
}

impl From<&DrillReport> for Summary {
    fn from(r: &DrillReport) -> Self {
        let latency = r.latency.as_ref().map(|l| LatencyEntry {
            step: l.step,
            outcome: l.outcome.clone(),
            quorum_alarm_at_ms: l.quorum_alarm_at,
            delivered_at_ms: l.delivered_at,
            decided_at_ms: l.decided_at,
            switched_at_ms: l.switched_at,
            alert_published_at_ms: l.alert_published_at,
            alert_received_at_ms: l.alert_received_at,
            detection_to_decision_ms: l.decided_at - l.quorum_alarm_at,
            decision_to_switch_ms: l.switched_at.map(|s| s - l.decided_at),
            switch_to_alert_ms: l
                .alert_published_at
                .map(|p| p - l.switched_at.unwrap_or(l.decided_at)),
            alert_to_subscriber_ms: l
                .alert_received_at
                .zip(l.alert_published_at)
                .map(|(received, published)| received - published),
        });
        let health_check = |id: &str, flags: &HealthCheckFlags| HealthCheckEntry {
            id: id.to_string(),
            disabled: flags.disabled,
            inverted: flags.inverted,
            version: flags.version,
        };
        Summary {
            latency,
            aws_calls: CallCounts {
                total: r.calls.len(),
                writes_applied: r.calls.iter().filter(|c| c.wrote()).count(),
                refused: r.calls.iter().filter(|c| !c.succeeded()).count(),
                by_operation: r.calls_by_operation(),
            },
            alerts: r
                .alerts
                .iter()
                .map(|a| AlertEntry {
                    step: a.step,
                    subject: a.subject.clone(),
                    event_type: a.event_type.clone(),
                    severity: a.severity.clone(),
                    epoch: a.epoch.clone(),
                    published_at: a.published_at.map(to_millis),
                    received_ms: ms(a.received),
                })
                .collect(),
            switches: r
                .switches
                .iter()
                .map(|s| SwitchEntry {
                    step: s.step,
                    function: s.function.to_string(),
                    kind: if s.forced {
                        SwitchKind::Failover
                    } else {
                        SwitchKind::Failback
                    },
                    mechanism: s.mechanism.to_string(),
                    before: s.before.clone(),
                    after: s.after.clone(),
                })
                .collect(),
            route53: Route53Entry {
                records: r.records_after.iter().map(RecordEntry::from).collect(),
                records_unchanged: r.records_before == r.records_after,
                primary_health_check: health_check(&r.primary_hc, &r.final_primary),
                secondary_health_check: health_check(&r.secondary_hc, &r.final_secondary),
                answers: answer(r).map(|a| AnswerEntry {
                    failover: a.failover.clone(),
                    value: a.value.clone(),
                    derived_from: derive_answer(&r.final_primary, r.final_switch.as_ref()).1,
                }),
                api: {
                    let (calls, answered_503, answered_2xx) = route53_api(r);
                    Route53Api {
                        outage: r.scenario.route53_down(),
                        calls,
                        answered_503,
                        answered_2xx,
                    }
                },
            },
            switch_metric: r.switch_alarm.as_ref().map(|alarm| SwitchMetricEntry {
                mode: r.switch_mode.to_string(),
                alarm_arn: alarm.arn.clone(),
                alarm_state: r
                    .final_switch
                    .as_ref()
                    .map(|s| s.alarm.clone())
                    .unwrap_or_default(),
                switched_by: switched_by(r),
                datapoints: switch_datapoints(r)
                    .into_iter()
                    .map(|(at_ms, value, step, function)| DatapointEntry {
                        at_ms,
                        value,
                        step,
                        function: function.to_string(),
                    })
                    .collect(),
            }),
            workflow: super::workflow_summary(r),
            control_table: ControlTableEntry {
                phase: r.final_phase.clone(),
                epoch: r.final_epoch,
            },
            rto_budget: r.rto.clone(),
            text: r.summary.clone(),
        }
    }
}

impl From<&RecordView> for RecordEntry {
    fn from(x: &RecordView) -> Self {
        RecordEntry {
            name: x.name.clone(),
            set_identifier: x.set_identifier.clone(),
            failover: x.failover.clone(),
            value: x.value.clone(),
            ttl: x.ttl,
            health_check_id: x.health_check_id.clone(),
        }
    }
}

/// `t` cut to whole milliseconds, as the file keeps it.
fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// `2026-01-31T09:27:08.177Z`.
mod rfc3339_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// [`rfc3339_millis`], or `null`.
mod rfc3339_millis_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::rfc3339_millis::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::rfc3339_millis")] DateTime<Utc>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(t)| t))
    }
}
