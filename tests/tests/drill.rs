//! The failover drill's scenarios (the code behind `make demo`), each through the real
//! Lambda runtime: its own moto server, recording tap and `cargo lambda watch` with the
//! three built functions, driven by `cargo lambda invoke`. The drill checks every step's
//! expected outcome itself (`report.held`); these tests also assert each scenario's
//! headline outcome directly, and that the JSON and HTML reports are written.

use integration_tests::drill::report::JsonReport;
use integration_tests::drill::{self, DrillOptions, DrillReport, Scenario};

/// Runs `scenario` quietly, reports into this test's own directory, and fails with the
/// whole timeline when the drill did not hold.
async fn drill(scenario: Scenario) -> DrillReport {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("drill-{scenario}"));
    let _ = std::fs::remove_dir_all(&out);
    let report = drill::run(DrillOptions {
        scenario,
        out_dir: Some(out),
        echo: false,
    })
    .await;
    assert!(
        report.held,
        "the drill '{scenario}' did not hold:\n{}",
        report.text()
    );
    check_reports(&report);
    report
}

/// The JSON says the same as the report; the HTML is one self-contained page with the
/// timeline chart and the timeline rows.
fn check_reports(report: &DrillReport) {
    let json_path = report.json_path.as_ref().expect("report.json written");
    let json: JsonReport =
        serde_json::from_str(&std::fs::read_to_string(json_path).expect("read report.json"))
            .expect("report.json is a drill report");
    assert_eq!(json.drill.scenario, report.scenario);
    assert!(json.drill.held);
    assert_eq!(json.steps.len(), report.steps.len());
    assert_eq!(json.summary.aws_calls.total, report.calls.len());
    assert_eq!(json.summary.alerts.len(), report.alerts.len());

    let html = std::fs::read_to_string(report.html_path.as_ref().expect("report.html written"))
        .expect("read report.html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"<svg id="timeline-chart""#), "no chart");
    assert!(html.contains(r#"data-held="true""#));
    assert_eq!(
        html.matches(r#"class="tl-event "#).count(),
        report.lines.len(),
        "one timeline row per line"
    );
    assert!(html.matches(r#"class="tl-mark""#).count() >= report.steps.len());
    for external in ["<script", "<link", "src=", "@import", "url("] {
        assert!(
            !html.contains(external),
            "the report must be self-contained, found {external}"
        );
    }
}

fn outcome<'a>(report: &'a DrillReport, title_start: &str) -> &'a str {
    report
        .steps
        .iter()
        .find(|s| s.title.starts_with(title_start))
        .unwrap_or_else(|| panic!("no step '{title_start}' in {:?}", report.outcomes()))
        .outcome
        .as_str()
}

fn switches(report: &DrillReport) -> Vec<(&'static str, bool)> {
    report
        .switches
        .iter()
        .map(|s| (s.function, s.forced))
        .collect()
}

#[tokio::test]
async fn quorum_fails_over_once_and_only_the_operator_fails_back() {
    let r = drill(Scenario::Quorum).await;
    assert_eq!(r.alert_types(), ["failover", "recovered", "failback"]);
    assert!(
        r.alerts[1]
            .subject
            .starts_with("[RECOVERED] checkout: all observers OK on eu-west-1, RTO "),
        "{}",
        r.alerts[1].subject
    );
    assert_eq!(
        r.alerts[0].subject,
        "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)"
    );
    // One failover by alarm-trigger, no automatic failback, one failback by the operator.
    assert_eq!(switches(&r), [("alarm-trigger", true), ("operator", false)]);
    assert_eq!(outcome(&r, "observer 1 goes to ALARM"), "vote_recorded");
    assert_eq!(
        outcome(&r, "observer 1's event delivered again"),
        "duplicate"
    );
    let stale = r
        .steps
        .iter()
        .find(|s| s.title.starts_with("a stale redelivery"))
        .expect("stale step");
    assert_eq!(stale.outcome, "ignored");
    assert!(stale.calls.is_empty(), "a stale event costs no AWS call");
    assert_eq!(
        outcome(&r, "observer 2 goes to ALARM: quorum"),
        "failed_over"
    );
    assert_eq!(outcome(&r, "observer 3 recovers"), "held");
    assert_eq!(outcome(&r, "reconciler run"), "in_sync");
    assert_eq!(outcome(&r, "planned failback"), "ok");
    assert_eq!(
        (r.final_phase.as_str(), r.final_epoch),
        ("PRIMARY_ACTIVE", 2)
    );
    assert!(!r.final_primary.forced_unhealthy());
    // Counted on the wire: exactly two Route 53 changes and three alerts published.
    let ops = r.calls_by_operation();
    assert_eq!(ops.get("UpdateHealthCheck"), Some(&2), "{ops:?}");
    assert_eq!(ops.get("Publish"), Some(&3), "{ops:?}");
    // The measured decision and the RTO budget.
    let l = r.latency.as_ref().expect("latency of the failover");
    let switched = l.switched_at.expect("switched");
    assert!(l.quorum_alarm_at <= l.decided_at && l.decided_at <= switched);
    let rto = r.rto.as_ref().expect("RTO budget");
    assert_eq!((rto.detection_s, rto.ttl_s), (90.0, 60));
    assert!((rto.total_s - (150.0 + rto.measured_s)).abs() < 1e-9);
}

#[tokio::test]
async fn blocked_pages_once_and_switches_nothing() {
    let r = drill(Scenario::Blocked).await;
    assert_eq!(r.alert_types(), ["blocked"]);
    assert!(r.switches.is_empty(), "{:?}", r.switches);
    assert_eq!(
        outcome(&r, "observer 2 goes to ALARM: quorum, but"),
        "blocked"
    );
    assert_eq!(
        outcome(&r, "the operator tries a planned failover"),
        "refused"
    );
    assert_eq!(r.final_phase, "BLOCKED");
    assert!(!r.final_primary.forced_unhealthy());
    assert_eq!(r.calls_by_operation().get("UpdateHealthCheck"), None);
    assert!(r.rto.is_none(), "nothing switched: no RTO budget");
}

#[tokio::test]
async fn flapping_is_held_by_the_cooldown() {
    let r = drill(Scenario::Flapping).await;
    assert_eq!(r.alert_types(), ["failover", "failback", "held"]);
    assert_eq!(switches(&r), [("alarm-trigger", true), ("operator", false)]);
    let held = r
        .steps
        .iter()
        .find(|s| s.title.starts_with("observer 2 alarms again"))
        .expect("the second quorum");
    assert_eq!(held.outcome, "held");
    assert!(held.detail.contains("cooldown"), "{}", held.detail);
    assert!(held.audit.iter().any(|h| h.kind == "refusal"));
    let pages: Vec<&str> = held.alerts.iter().map(|a| a.event_type.as_str()).collect();
    assert_eq!(pages, ["held"], "the held quorum pages a human once");
    assert_eq!(r.final_phase, "PRIMARY_ACTIVE");
    assert_eq!(r.calls_by_operation().get("UpdateHealthCheck"), Some(&2));
}

#[tokio::test]
async fn a_single_observer_changes_nothing() {
    let r = drill(Scenario::Split).await;
    assert!(r.alerts.is_empty(), "{:?}", r.alert_types());
    assert!(r.switches.is_empty());
    assert_eq!(
        (r.final_phase.as_str(), r.final_epoch),
        ("PRIMARY_ACTIVE", 0)
    );
    assert!(r.latency.is_none());
    let ops = r.calls_by_operation();
    for op in ["UpdateHealthCheck", "Publish"] {
        assert_eq!(ops.get(op), None, "{ops:?}");
    }
    assert!(r
        .steps
        .iter()
        .filter(|s| s.function == "alarm-trigger")
        .all(|s| s.outcome == "vote_recorded" || s.outcome == "duplicate"));
}

#[tokio::test]
async fn staggered_observers_are_decided_by_the_reconciler() {
    let r = drill(Scenario::Staggered).await;
    let window = drill::scenario::STAGGERED_VOTE_WINDOW_SECONDS;
    assert_eq!(r.definition["vote_window_seconds"], window);
    let step = |title_start: &str| {
        r.steps
            .iter()
            .find(|s| s.title.starts_with(title_start))
            .unwrap_or_else(|| panic!("no step '{title_start}' in {:?}", r.outcomes()))
    };
    // The observers entered ALARM further apart than the vote window, and both stay there.
    let (first, second) = (
        step("observer 1 goes to ALARM"),
        step("observer 2 goes to ALARM"),
    );
    let apart = second.alarm_at.unwrap() - first.alarm_at.unwrap();
    assert!(apart.num_seconds() > window as i64, "{apart}");
    // Observer 2's event finds observer 1's vote no longer live: no event decides.
    assert_eq!(second.outcome, "vote_recorded");
    assert!(
        second.detail.contains("1 of 2 votes live"),
        "{}",
        second.detail
    );
    assert!(second.alerts.is_empty());

    // The reconciler reads both alarms, confirms both votes and fails over, once.
    let decided = step("reconciler run: both alarms");
    assert_eq!(
        (decided.function, decided.outcome.as_str()),
        ("reconciler", "decided")
    );
    assert!(
        decided.detail.contains("2 votes confirmed"),
        "{}",
        decided.detail
    );
    assert!(
        decided
            .calls
            .iter()
            .any(|c| c.operation == "DescribeAlarms"),
        "the run reads the standing alarms"
    );
    let pages: Vec<&str> = decided
        .alerts
        .iter()
        .map(|a| a.event_type.as_str())
        .collect();
    assert_eq!(pages, ["failover"]);
    assert_eq!(switches(&r), [("reconciler", true)]);
    let voters: Vec<Vec<&str>> = decided
        .audit
        .iter()
        .filter(|h| !h.votes.is_empty())
        .map(|h| {
            let mut v: Vec<&str> = h
                .votes
                .iter()
                .map(|v| failover::domain::arn::alarm_name(&v.observer))
                .collect();
            v.sort();
            v
        })
        .collect();
    assert!(
        voters.contains(&vec!["checkout-canary-use1", "checkout-canary-usw2"]),
        "the audit shows the deciding votes: {voters:?}"
    );
    assert_eq!(outcome(&r, "reconciler run again"), "in_sync");

    assert_eq!((r.final_phase.as_str(), r.final_epoch), ("FAILED_OVER", 1));
    assert!(r.final_primary.forced_unhealthy());
    let ops = r.calls_by_operation();
    assert_eq!(ops.get("UpdateHealthCheck"), Some(&1), "{ops:?}");
    assert_eq!(ops.get("Publish"), Some(&1), "{ops:?}");
    // The decision's latency is measured from the quorum's newest alarm to the switch.
    let l = r
        .latency
        .as_ref()
        .expect("latency of the reconciler's decision");
    assert_eq!((l.step, l.outcome.as_str()), (decided.n, "failed_over"));
    assert_eq!(
        l.quorum_alarm_at,
        second.alarm_at.unwrap().timestamp_millis()
    );
    assert!(r.rto.is_some());
}

#[tokio::test]
async fn a_control_plane_outage_switches_by_metric_without_route53() {
    let r = drill(Scenario::ControlPlaneOutage).await;
    assert_eq!(r.definition["switch"]["mode"], "metric");
    // One failover alert (no PENDING), the recovery, one failback alert; the switch moved
    // by the metric.
    assert_eq!(r.alert_types(), ["failover", "recovered", "failback"]);
    assert!(
        r.alerts
            .iter()
            .all(|a| a.message.contains(drill::outage::SWITCHED_BY_METRIC)),
        "{:?}",
        r.alerts.iter().map(|a| &a.message).collect::<Vec<_>>()
    );
    let by: Vec<(&str, bool, &str)> = r
        .switches
        .iter()
        .map(|s| (s.function, s.forced, s.mechanism))
        .collect();
    assert_eq!(
        by,
        [
            ("alarm-trigger", true, "metric"),
            ("operator", false, "metric")
        ]
    );
    assert_eq!(
        outcome(&r, "observer 2 goes to ALARM: quorum"),
        "failed_over"
    );
    // Route 53's API answered nothing: every route53 call got the tap's 503, none reached moto.
    let route53: Vec<_> = r.calls.iter().filter(|c| c.service == "route53").collect();
    assert!(
        route53.iter().all(|c| c.status == 503 && c.injected()),
        "{route53:#?}"
    );
    let ops = r.calls_by_operation();
    assert_eq!(ops.get("UpdateHealthCheck"), None, "{ops:?}");
    assert!(!r.final_primary.forced_unhealthy(), "the check never moved");
    // The stream, read back from moto: 1 at the failover, republished by the reconciler's
    // runs, 0 at the failback and after it.
    let stream: Vec<(f64, &str)> = drill::report::switch_datapoints(&r)
        .into_iter()
        .map(|(_, v, _, function)| (v, function))
        .collect();
    assert_eq!(
        stream,
        [
            (1.0, "alarm-trigger"),
            (1.0, "reconciler"),
            (1.0, "reconciler"),
            (0.0, "operator"),
            (0.0, "reconciler")
        ]
    );
    // The planned failback is refused by the probe's gate; the forced one goes through.
    let refused = r
        .steps
        .iter()
        .find(|s| s.title.starts_with("planned failback"))
        .expect("the planned failback");
    assert_eq!(refused.outcome, "refused");
    assert!(
        refused.detail.contains(drill::outage::PROBE_GATE),
        "{}",
        refused.detail
    );
    assert_eq!(outcome(&r, "failback by the operator with force"), "ok");
    assert_eq!(
        (r.final_phase.as_str(), r.final_epoch),
        ("PRIMARY_ACTIVE", 2)
    );
    // The report says which mechanism switched and what Route 53 answers, derived.
    let json: JsonReport =
        serde_json::from_str(&std::fs::read_to_string(r.json_path.as_ref().unwrap()).unwrap())
            .unwrap();
    let metric = json.summary.switch_metric.as_ref().expect("switch_metric");
    assert_eq!(
        metric.switched_by.as_deref(),
        Some(drill::outage::SWITCHED_BY_METRIC)
    );
    assert_eq!(metric.alarm_state, "OK");
    let api = &json.summary.route53.api;
    assert!(api.outage && api.answered_2xx == 0 && api.answered_503 == api.calls);
    let answer = json.summary.route53.answers.as_ref().expect("an answer");
    assert_eq!(answer.failover, "PRIMARY");
    assert!(answer.derived_from.contains("CALCULATED"), "{answer:?}");
}

#[tokio::test]
async fn runbook_scales_at_once_and_promotes_the_replica_on_approval() {
    let r = drill(Scenario::Runbook).await;
    let promote = drill::runbook::PROMOTE;
    assert_eq!(
        r.alert_types(),
        [
            "failover",
            "step_done",
            "step_done",
            "approval",
            "step_done",
            "recovered"
        ]
    );
    assert_eq!(switches(&r), [("alarm-trigger", true)]);
    let step = |title_start: &str| {
        r.steps
            .iter()
            .find(|s| s.title.starts_with(title_start))
            .unwrap_or_else(|| panic!("no step '{title_start}' in {:?}", r.outcomes()))
    };
    // The quorum's invocation switched, scaled both (read back from moto by the drill) and
    // paged for the promotion; it did not promote.
    let quorum = step("observer 2 goes to ALARM: quorum");
    assert_eq!(quorum.outcome, "failed_over");
    let subjects: Vec<&str> = quorum.alerts.iter().map(|a| a.subject.as_str()).collect();
    assert_eq!(
        subjects[1..],
        [
            "[STEP DONE] checkout: scale-web (epoch 1)",
            "[STEP DONE] checkout: scale-api (epoch 1)",
            "[APPROVAL NEEDED] checkout: approve promote-db (epoch 1)"
        ]
    );
    let moved = |s: &drill::StepRecord, resource: &str| {
        s.changes
            .iter()
            .find(|c| c.resource.starts_with(resource))
            .map(|c| c.after.clone())
    };
    assert_eq!(
        moved(quorum, "Auto Scaling group eu-west-1/checkout-asg").as_deref(),
        Some("min 6 desired 6 max 12 (6 InService)")
    );
    assert!(
        moved(quorum, "ECS service eu-west-1/checkout-prod/checkout-api")
            .is_some_and(|after| after.starts_with("desired 8")),
        "{:?}",
        quorum.changes
    );
    assert_eq!(moved(quorum, "RDS instance"), None, "no promotion yet");
    let ops: Vec<&str> = quorum.calls.iter().map(|c| c.operation.as_str()).collect();
    for op in ["UpdateAutoScalingGroup", "UpdateService"] {
        assert_eq!(ops.iter().filter(|o| **o == op).count(), 1, "{ops:?}");
    }
    assert!(!ops.contains(&"PromoteReadReplica"), "{ops:?}");
    // The operator's approval promoted the replica, verified standalone in moto.
    let approve = step("the operator approves the promotion");
    assert_eq!(approve.act, drill::Act::Approve(promote));
    assert_eq!(approve.outcome, "ok");
    assert!(approve
        .calls
        .iter()
        .any(|c| c.operation == "PromoteReadReplica"));
    assert!(
        moved(approve, "RDS instance eu-west-1/checkout-replica")
            .is_some_and(|after| after.starts_with("standalone")),
        "{:?}",
        approve.changes
    );
    // The report's workflow: every step done, its events on the timeline, the figures.
    let json: JsonReport =
        serde_json::from_str(&std::fs::read_to_string(r.json_path.as_ref().unwrap()).unwrap())
            .unwrap();
    let w = json
        .summary
        .workflow
        .as_ref()
        .expect("the workflow in report.json");
    assert_eq!(w.progress, "3/3");
    let statuses: Vec<(&str, &str)> = w
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("scale-web", "done"),
            ("scale-api", "done"),
            (promote, "done")
        ]
    );
    let events: Vec<(&str, &str, Option<usize>)> = w
        .events
        .iter()
        .filter(|e| e.step_id == promote)
        .map(|e| (e.step_id.as_str(), e.event.as_str(), e.drill_step))
        .collect();
    let (asked, approved) = (quorum.n, approve.n);
    assert_eq!(
        events
            .iter()
            .map(|e| (e.1, e.2))
            .filter(|(e, _)| *e != "applied")
            .collect::<Vec<_>>(),
        [
            ("approval requested", Some(asked)),
            ("approved", Some(approved)),
            ("started", Some(approved)),
            ("done", Some(approved))
        ]
    );
    let f = &w.figures;
    let scale = f.switch_to_scale_done_ms.expect("switch -> scale done");
    let wait = f.approval_wait_ms.expect("approval wait");
    let promoted = f.switch_to_promoted_ms.expect("switch -> promoted");
    assert!(scale >= 0 && wait > 0 && promoted >= scale + wait, "{f:?}");
    let rto = f.rto_ms.expect("the measured RTO");
    assert!(r.alerts[5]
        .subject
        .starts_with("[RECOVERED] checkout: all observers OK on eu-west-1, RTO "));
    assert!(
        rto > promoted,
        "the observers recovered after the promotion: {f:?}"
    );
    let html = std::fs::read_to_string(r.html_path.as_ref().unwrap()).unwrap();
    assert!(html.contains(r#"<table id="workflow">"#));
    assert_eq!(
        html.matches(r#"class="tl-mark wf-event""#).count(),
        w.events.len()
    );
    assert_eq!((r.final_phase.as_str(), r.final_epoch), ("FAILED_OVER", 1));
}
