//! The contracts on the wire: each response reads back as what was sent, in the spelling
//! clients and the drill read by field name.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::operator_request::Action;
use super::operator_response::*;
use super::reports::*;
use crate::domain::event::ObservedState;
use crate::domain::state::{Phase, PreflightCheck, VoteRecord};

/// Serializes, checks the JSON, and reads it back as the same value.
fn round_trip<T>(value: &T, wire: Value)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_value(value).unwrap();
    assert_eq!(json, wire);
    let back: T = serde_json::from_value(json).unwrap();
    assert_eq!(&back, value);
}

fn status() -> ServiceStatus {
    ServiceStatus {
        service: "checkout".into(),
        phase: Phase::FailedOver,
        epoch: 1,
        primary: PrimaryStatus {
            region: "us-east-1".into(),
            health_check_id: "hc-p".into(),
            health_check: HealthCheckStatus::Read {
                disabled: true,
                inverted: true,
                version: 2,
            },
        },
        secondary: EndpointStatus {
            region: "eu-west-1".into(),
            health_check_id: "hc-s".into(),
        },
        live_votes: vec![VoteRecord {
            observer: "arn-a".into(),
            at: 5,
            reason: "down".into(),
        }],
        quorum: 2,
        observers: 3,
        votes: BTreeMap::from([(
            "arn-a".to_string(),
            VoteStatus {
                state: ObservedState::Alarm,
                at: "2026-11-20T09:14:02Z".into(),
                reason: "down".into(),
            },
        )]),
        preflight: vec![PreflightCheck {
            name: "secondary health check hc-s".into(),
            ok: true,
            detail: "healthy".into(),
        }],
        paused: None,
        cooldown_remaining_seconds: 3540,
        execution: None,
        history: Vec::new(),
        catalog: None,
        switch: None,
        primary_probe: None,
        recovery: None,
        workflow: None,
        readiness: None,
    }
}

#[test]
fn operator_status_response_round_trips_in_its_wire_spelling() {
    let r = OperatorResponse {
        ok: true,
        action: Action::Status,
        service: Some("checkout".into()),
        phase_before: Some(Phase::FailedOver),
        phase_after: Some(Phase::FailedOver),
        epoch: Some(1),
        dry_run: false,
        steps: Vec::new(),
        message: "1 service(s)".into(),
        next: None,
        status: vec![status()],
    };
    round_trip(
        &r,
        json!({
            "ok": true, "action": "status", "service": "checkout",
            "phase_before": "FAILED_OVER", "phase_after": "FAILED_OVER", "epoch": 1,
            "dry_run": false, "steps": [], "message": "1 service(s)",
            "status": [{
                "service": "checkout", "phase": "FAILED_OVER", "epoch": 1,
                "primary": {"region": "us-east-1", "health_check_id": "hc-p",
                            "health_check": {"disabled": true, "inverted": true, "version": 2}},
                "secondary": {"region": "eu-west-1", "health_check_id": "hc-s"},
                "live_votes": [{"observer": "arn-a", "at": 5, "reason": "down"}],
                "quorum": 2,
                "observers": 3,
                "votes": {"arn-a": {"state": "ALARM", "at": "2026-11-20T09:14:02Z", "reason": "down"}},
                "preflight": [{"name": "secondary health check hc-s", "ok": true, "detail": "healthy"}],
                "paused": null,
                "cooldown_remaining_seconds": 3540,
                "execution": null,
                "history": []
            }]
        }),
    );
    assert!(r.status[0]
        .to_string()
        .contains("\"phase\":\"FAILED_OVER\""));
}

#[test]
fn an_action_response_has_no_status_and_spells_its_steps() {
    let mut s = status();
    s.primary.health_check = HealthCheckStatus::Unreadable {
        error: "route53 GetHealthCheck: throttled".into(),
    };
    s.paused = Some(PauseStatus {
        reason: "db upgrade".into(),
        requested_by: "bob".into(),
        since: "2026-11-20T09:00:00Z".into(),
        until: None,
    });
    let wire = serde_json::to_value(&s).unwrap();
    assert_eq!(
        wire["primary"]["health_check"],
        json!({"error": "route53 GetHealthCheck: throttled"})
    );
    assert_eq!(wire["paused"]["until"], Value::Null);
    assert_eq!(serde_json::from_value::<ServiceStatus>(wire).unwrap(), s);

    let r = OperatorResponse {
        ok: false,
        action: Action::Failover,
        service: None,
        phase_before: None,
        phase_after: None,
        epoch: None,
        dry_run: true,
        steps: vec![StepReport::new(
            "claim",
            StepStatus::WouldDo,
            "claim epoch 1",
        )],
        message: "dry run".into(),
        next: None,
        status: Vec::new(),
    };
    round_trip(
        &r,
        json!({
            "ok": false, "action": "failover", "service": null, "phase_before": null,
            "phase_after": null, "epoch": null, "dry_run": true,
            "steps": [{"name": "claim", "status": "would-do", "detail": "claim epoch 1"}],
            "message": "dry run"
        }),
    );
    // A landed action says what happens next.
    let landed = OperatorResponse {
        ok: true,
        dry_run: false,
        epoch: Some(1),
        steps: vec![StepReport::new("claim", StepStatus::Done, "epoch 1")],
        message: "checkout: failed_over".into(),
        next: Some("fail back with action failback".into()),
        ..r
    };
    round_trip(
        &landed,
        json!({
            "ok": true, "action": "failover", "service": null, "phase_before": null,
            "phase_after": null, "epoch": 1, "dry_run": false,
            "steps": [{"name": "claim", "status": "done", "detail": "epoch 1"}],
            "message": "checkout: failed_over", "next": "fail back with action failback"
        }),
    );
}

#[test]
fn alarm_and_reconciler_reports_round_trip() {
    let out = AlarmOutcome {
        observer: "arn-a".into(),
        state: "ALARM".into(),
        services: vec![ServiceOutcome {
            service: "checkout".into(),
            outcome: "failed_over",
            phase: Phase::FailedOver,
            epoch: 1,
            detail: "us-east-1 -> eu-west-1".into(),
        }],
        ignored: None,
    };
    round_trip(
        &out,
        json!({"observer": "arn-a", "state": "ALARM", "ignored": null,
               "services": [{"service": "checkout", "outcome": "failed_over", "phase": "FAILED_OVER",
                             "epoch": 1, "detail": "us-east-1 -> eu-west-1"}]}),
    );
    let mut unknown = serde_json::to_value(&out).unwrap();
    unknown["services"][0]["outcome"] = json!("exploded");
    let err = serde_json::from_value::<AlarmOutcome>(unknown).unwrap_err();
    assert!(
        err.to_string().contains("unknown outcome 'exploded'"),
        "{err}"
    );

    let report = ReconcileReport {
        services: 2,
        checked: 1,
        votes_confirmed: 2,
        decided: 1,
        not_reached: vec!["payments".into()],
        duration_ms: 40,
        ..ReconcileReport::default()
    };
    round_trip(
        &report,
        json!({"services": 2, "checked": 1, "resumed": 0, "drifts": 0, "reapplied": 0,
               "escalations": 0, "pauses_expired": 0, "votes_expired": 0,
               "votes_confirmed": 2, "decided": 1, "not_reached": ["payments"], "errors": [], "duration_ms": 40}),
    );
}
