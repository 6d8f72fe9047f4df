//! `report.json` from a small hand-made report: its field names, and that it reads back
//! into the same typed document.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::json::{JsonReport, Response, SwitchKind};
use super::{AlertSeen, DrillReport, StepRecord, Switch};
use crate::drill::timeline::{Kind, Line};
use crate::drill::{
    Act, Change, Check, HealthCheckFlags, Latency, RecordView, RtoBudget, Scenario, TappedCall,
};

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

fn flags(forced: bool) -> HealthCheckFlags {
    HealthCheckFlags {
        disabled: forced,
        inverted: forced,
        version: 1,
    }
}

fn record(failover: &str, value: &str, hc: &str) -> RecordView {
    RecordView {
        name: "checkout.example.com.".into(),
        set_identifier: failover.to_ascii_lowercase(),
        failover: failover.into(),
        value: value.into(),
        ttl: 60,
        health_check_id: hc.into(),
    }
}

fn step(n: usize, response: Result<Value, String>, outcome: &str) -> StepRecord {
    let ms = |m| Duration::from_millis(m);
    StepRecord {
        n,
        title: format!("step {n}"),
        act: Act::Alarm(2, "ALARM"),
        function: "alarm-trigger",
        request_summary: "an event".into(),
        request: json!({"source": "aws.cloudwatch"}),
        start: ms(1_000),
        end: ms(1_250),
        cold_start: n == 1,
        response,
        outcome: outcome.into(),
        detail: "us-east-1 -> eu-west-1".into(),
        alarm_at: Some(at(1_700_000_000_123)),
        calls: vec![TappedCall {
            seq: 0,
            start: ms(1_010),
            end: ms(1_020),
            service: "route53".into(),
            region: "us-east-1".into(),
            operation: "UpdateHealthCheck".into(),
            status: 200,
            error: String::new(),
            detail: "hc-primary".into(),
            fault: None,
        }],
        changes: vec![Change {
            resource: "Route 53 health check hc-primary".into(),
            before: flags(false).to_string(),
            after: flags(true).to_string(),
        }],
        alerts: Vec::new(),
        audit: Vec::new(),
        phase_after: "FAILED_OVER".into(),
        primary_after: flags(true),
        switch_after: None,
        published: Vec::new(),
        execution_after: None,
    }
}

fn report() -> DrillReport {
    let alert = AlertSeen {
        step: 1,
        subject: "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)".into(),
        message: "checkout failed over".into(),
        event_type: "failover".into(),
        severity: "critical".into(),
        epoch: "1".into(),
        published_at: Some(at(1_700_000_000_400)),
        received: Duration::from_millis(1_500),
    };
    let steps = vec![
        step(
            1,
            Ok(json!({"services": [{"outcome": "failed_over"}]})),
            "failed_over",
        ),
        step(2, Err("cargo lambda invoke failed".into()), "error"),
    ];
    let records = vec![
        record("PRIMARY", "192.0.2.10", "hc-primary"),
        record("SECONDARY", "198.51.100.10", "hc-secondary"),
    ];
    DrillReport {
        scenario: Scenario::Quorum,
        held: false,
        started_at: at(1_700_000_000_000) + chrono::Duration::microseconds(456),
        incident_start: Duration::from_millis(900),
        duration: Duration::from_millis(3_000),
        emulator_endpoint: "http://127.0.0.1:1".into(),
        tap_endpoint: "http://127.0.0.1:2".into(),
        invoke_port: 3,
        primary_hc: "hc-primary".into(),
        secondary_hc: "hc-secondary".into(),
        definition: json!({"name": "checkout", "quorum": 2}),
        lines: vec![Line {
            t: Duration::from_millis(1_000),
            step: Some(1),
            kind: Kind::Decided,
            text: "alarm-trigger: failed_over".into(),
        }],
        calls: steps.iter().flat_map(|s| s.calls.clone()).collect(),
        steps,
        checks: vec![Check {
            step: Some(2),
            what: "outcome ok".into(),
            ok: false,
            found: "error".into(),
        }],
        alerts: vec![alert],
        switches: vec![Switch {
            step: 1,
            function: "alarm-trigger",
            forced: true,
            mechanism: "health check",
            before: flags(false).to_string(),
            after: flags(true).to_string(),
        }],
        records_before: records.clone(),
        records_after: records,
        final_phase: "FAILED_OVER".into(),
        final_epoch: 1,
        final_primary: flags(true),
        final_secondary: flags(false),
        switch_mode: "health_check",
        switch_alarm: None,
        final_switch: None,
        latency: Some(Latency {
            step: 1,
            outcome: "failed_over".into(),
            quorum_alarm_at: 1_700_000_000_123,
            delivered_at: 1_700_000_000_130,
            decided_at: 1_700_000_000_200,
            switched_at: Some(1_700_000_000_300),
            alert_published_at: Some(1_700_000_000_400),
            alert_received_at: Some(1_700_000_000_450),
        }),
        rto: Some(RtoBudget {
            hc_interval_s: 30,
            hc_threshold: 3,
            detection_s: 90.0,
            measured_s: 0.177,
            ttl_s: 60,
            total_s: 150.177,
        }),
        summary: vec!["Drill summary".into()],
        json_path: None,
        html_path: None,
        functions_log: None,
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[test]
fn the_json_report_reads_back_as_the_same_document() {
    let doc = JsonReport::from(&report());
    let text = doc.to_pretty_json().unwrap();
    let back: JsonReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, doc);
    assert_eq!(back.drill.scenario, Scenario::Quorum);
    assert_eq!(
        back.drill.started_at.to_rfc3339(),
        "2023-11-14T22:13:20+00:00"
    );
    assert_eq!(back.steps[0].response, doc.steps[0].response);
    assert!(
        matches!(&back.steps[1].response, Response::Failed(e) if e.error == "cargo lambda invoke failed")
    );
    assert_eq!(back.summary.switches[0].kind, SwitchKind::Failover);
    assert_eq!(
        back.summary
            .latency
            .as_ref()
            .unwrap()
            .alert_to_subscriber_ms,
        Some(50)
    );
}

/// The field names are the file's contract: these are the ones readers use.
#[test]
fn the_json_report_keeps_its_field_names() {
    let v: Value =
        serde_json::from_str(&JsonReport::from(&report()).to_pretty_json().unwrap()).unwrap();
    assert_eq!(
        keys(&v),
        [
            "catalog_entry",
            "checks",
            "drill",
            "environment",
            "steps",
            "summary",
            "timeline"
        ]
    );
    assert_eq!(
        keys(&v["drill"]),
        [
            "checks_failed",
            "checks_total",
            "description",
            "duration_ms",
            "held",
            "incident_start_ms",
            "scenario",
            "started_at"
        ]
    );
    assert_eq!(
        keys(&v["environment"]),
        [
            "aws_call_tap",
            "aws_calls_counted",
            "emulator",
            "functions",
            "functions_log",
            "invoke_port",
            "runtime"
        ]
    );
    assert_eq!(
        keys(&v["steps"][0]),
        [
            "alarm_at",
            "alerts",
            "audit",
            "aws_calls",
            "changes",
            "cold_start",
            "detail",
            "duration_ms",
            "end_ms",
            "function",
            "n",
            "outcome",
            "phase_after",
            "primary_after",
            "request",
            "request_summary",
            "response",
            "sequential_round_trips",
            "start_ms",
            "title"
        ]
    );
    assert_eq!(
        keys(&v["steps"][0]["aws_calls"][0]),
        [
            "detail",
            "end_ms",
            "error",
            "operation",
            "region",
            "service",
            "start_ms",
            "status"
        ]
    );
    assert_eq!(
        v["steps"][1]["response"],
        json!({"error": "cargo lambda invoke failed"})
    );
    assert_eq!(keys(&v["checks"][0]), ["found", "ok", "step", "what"]);
    assert_eq!(keys(&v["timeline"][0]), ["kind", "step", "t_ms", "text"]);
    assert_eq!(v["timeline"][0]["kind"], "response");
    let summary = &v["summary"];
    assert_eq!(
        keys(summary),
        [
            "alerts",
            "aws_calls",
            "control_table",
            "latency",
            "route53",
            "rto_budget",
            "switches",
            "text"
        ]
    );
    assert_eq!(
        keys(&summary["latency"]),
        [
            "alert_published_at_ms",
            "alert_received_at_ms",
            "alert_to_subscriber_ms",
            "decided_at_ms",
            "decision_to_switch_ms",
            "delivered_at_ms",
            "detection_to_decision_ms",
            "outcome",
            "quorum_alarm_at_ms",
            "step",
            "switch_to_alert_ms",
            "switched_at_ms"
        ]
    );
    assert_eq!(
        keys(&summary["aws_calls"]),
        ["by_operation", "refused", "total", "writes_applied"]
    );
    assert_eq!(
        keys(&summary["alerts"][0]),
        [
            "epoch",
            "event_type",
            "published_at",
            "received_ms",
            "severity",
            "step",
            "subject"
        ]
    );
    assert_eq!(
        summary["alerts"][0]["published_at"],
        "2023-11-14T22:13:20.400Z"
    );
    assert_eq!(
        keys(&summary["switches"][0]),
        ["after", "before", "function", "kind", "mechanism", "step"]
    );
    assert_eq!(summary["switches"][0]["kind"], "failover");
    assert_eq!(
        keys(&summary["route53"]),
        [
            "answers",
            "api",
            "primary_health_check",
            "records",
            "records_unchanged",
            "secondary_health_check"
        ]
    );
    assert_eq!(
        keys(&summary["route53"]["primary_health_check"]),
        ["disabled", "id", "inverted", "version"]
    );
    assert_eq!(summary["route53"]["answers"]["failover"], "SECONDARY");
    assert_eq!(summary["route53"]["answers"]["value"], "198.51.100.10");
    assert!(summary["route53"]["answers"]["derived_from"]
        .as_str()
        .unwrap()
        .contains("moto does not evaluate health checks"));
    assert_eq!(
        keys(&summary["route53"]["api"]),
        ["answered_2xx", "answered_503", "calls", "outage"]
    );
    assert_eq!(
        summary["route53"]["api"]["calls"], 2,
        "one UpdateHealthCheck in each step"
    );
    assert!(summary.get("switch_metric").is_none(), "health_check mode");
    assert_eq!(keys(&summary["control_table"]), ["epoch", "phase"]);
    assert_eq!(
        keys(&summary["rto_budget"]),
        [
            "detection_s",
            "dns_ttl_s",
            "health_check_failure_threshold",
            "health_check_request_interval_s",
            "measured_decision_s",
            "total_s"
        ]
    );
}
