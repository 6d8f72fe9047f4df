//! The automated path against moto over HTTP, through the real SDK clients.

use std::sync::Arc;

use integration_tests::harness::failing_ports::FailFirstPublish;
use integration_tests::harness::tap::{round_trips, TappedCall};
use integration_tests::*;
use serde_json::json;

fn outcomes(out: &failover::api::reports::AlarmOutcome) -> Vec<&'static str> {
    out.services.iter().map(|s| s.outcome).collect()
}

#[tokio::test]
async fn quorum_fails_over_once_with_every_event_shape() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    let now = chrono::Utc::now();

    // Observer 1 via EventBridge (plain metric alarm): a vote, nothing else.
    let e1 = fresh_fixture("eventbridge-with-alarm-tags.json", now);
    assert_eq!(
        outcomes(&engine.handle_alarm_event(&e1, &inv("r1")).await.unwrap()),
        ["vote_recorded"]
    );
    assert_eq!(hc(&w, &w.primary).await, (false, false, 1));
    assert!(w.alerts().await.is_empty());

    // Observer 2 via CloudWatch's direct alarm action: quorum, failover.
    let e2 = fresh_fixture("alarm-action-metric.json", now);
    assert_eq!(
        outcomes(&engine.handle_alarm_event(&e2, &inv("r2")).await.unwrap()),
        ["failed_over"]
    );
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "primary forced unhealthy");
    assert_eq!(
        hc(&w, &w.secondary).await,
        (false, false, 1),
        "secondary untouched"
    );

    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(
        a.subject,
        "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)"
    );
    assert_eq!(a.attribute("event_type").as_deref(), Some("failover"));
    assert_eq!(a.attribute("service").as_deref(), Some("checkout"));
    assert_eq!(a.attribute("epoch").as_deref(), Some("1"));
    assert_eq!(a.attribute("severity").as_deref(), Some("critical"));
    for needle in [
        w.observers[0].as_str(),
        w.observers[1].as_str(),
        w.primary.as_str(),
        "Disabled=false Inverted=false -> Disabled=true Inverted=true",
        "NOT done",
        "Status page",
    ] {
        assert!(
            a.message.contains(needle),
            "alert lacks {needle:?}:\n{}",
            a.message
        );
    }

    // The third observer (EventBridge metric alarm), duplicates, and recoveries: no more action.
    for f in [
        "eventbridge-metric-alarm-to-alarm.json",
        "alarm-action-metric.json",
        "eventbridge-metric-alarm-to-ok.json",
    ] {
        engine
            .handle_alarm_event(&fresh_fixture(f, now), &inv("r3"))
            .await
            .unwrap();
    }
    assert!(w.alerts().await.is_empty());
    assert!(hc(&w, &w.primary).await.0, "no automatic failback");
    let state = w.state_item().await.unwrap();
    assert_eq!(state["phase"].as_s().unwrap(), "FAILED_OVER");
    assert_eq!(state["epoch"].as_n().unwrap(), "1");
    let history = w.history().await;
    let kinds: Vec<String> = history
        .iter()
        .map(|h| h["kind"].as_s().unwrap().clone())
        .collect();
    assert!(
        kinds.iter().filter(|k| *k == "observation").count() >= 4,
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|k| k == "step"), "{kinds:?}");
}

#[tokio::test]
async fn composite_and_metric_math_observers_count_as_votes() {
    let w = World::start(json!({})).await;
    let now = chrono::Utc::now();
    let composite = fresh_fixture("eventbridge-composite-alarm.json", now);
    let math = fresh_fixture("eventbridge-metric-math-from-insufficient-data.json", now);
    let composite_action = fresh_fixture("alarm-action-composite.json", now);
    let observers = json!([
        observer_of(&composite),
        observer_of(&math),
        observer_of(&composite_action)
    ]);
    put_catalog_entry(
        &w.sdk,
        "failover-control",
        "checkout",
        &json!({"name": "checkout",
                "primary": {"region": "us-east-1", "health_check_id": w.primary},
                "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
                "observers": observers, "quorum": 3,
                "preflight": {"secondary_health_check": false}})
        .to_string(),
    )
    .await;
    let engine = w.engine();
    assert_eq!(
        outcomes(
            &engine
                .handle_alarm_event(&composite, &inv("a"))
                .await
                .unwrap()
        ),
        ["vote_recorded"]
    );
    assert_eq!(
        outcomes(&engine.handle_alarm_event(&math, &inv("b")).await.unwrap()),
        ["vote_recorded"]
    );
    assert_eq!(
        outcomes(
            &engine
                .handle_alarm_event(&composite_action, &inv("c"))
                .await
                .unwrap()
        ),
        ["failed_over"]
    );
    assert_eq!(w.alerts().await.len(), 1);
}

#[tokio::test]
async fn fifty_concurrent_duplicated_deliveries_make_exactly_one_decision() {
    let w = World::start(json!({})).await;
    let tap = w.tap();
    let engine = Arc::new(w.engine_through(&tap));
    engine.catalog().await.unwrap();
    let now = chrono::Utc::now();
    let events = [
        fresh_fixture("eventbridge-with-alarm-tags.json", now),
        fresh_fixture("alarm-action-metric.json", now),
        fresh_fixture("eventbridge-metric-alarm-to-alarm.json", now),
    ];
    let mut tasks = Vec::new();
    for k in 0..50 {
        let engine = engine.clone();
        let ev = events[k % 3].clone();
        tasks.push(tokio::spawn(async move {
            engine
                .handle_alarm_event(&ev, &inv(&format!("inv-{k}")))
                .await
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let out = t.await.unwrap().expect("every delivery is handled");
        all.extend(outcomes(&out));
    }
    assert_eq!(
        all.iter().filter(|o| **o == "failed_over").count(),
        1,
        "{all:?}"
    );
    let alerts = w.alerts().await;
    let failovers: Vec<_> = alerts
        .iter()
        .filter(|a| a.attribute("event_type").as_deref() == Some("failover"))
        .collect();
    assert_eq!(failovers.len(), 1, "{alerts:?}");
    assert_eq!(alerts.len(), 1);
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted);
    // moto neither checks nor bumps HealthCheckVersion, so count the calls instead.
    let updates = tap
        .take_since(&mut 0)
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck")
        .count();
    assert_eq!(updates, 1, "exactly one UpdateHealthCheck");
    assert_eq!(hc(&w, &w.secondary).await, (false, false, 1));
    assert_eq!(w.state_item().await.unwrap()["epoch"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn round_trips_per_event_kind() {
    let w = World::start(json!({})).await;
    // A read-only pre-flight check, to show it runs in parallel with the claim.
    let alarm = put_alarm(&w.sdk, "eu-west-1", "checkout-secondary-health").await;
    set_alarm_state(&w.sdk, "eu-west-1", "checkout-secondary-health", "OK").await;
    let def = json!({"name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": w.primary},
        "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
        "observers": w.observers, "quorum": 2,
        "preflight": {"secondary_health_check": true, "secondary_alarm_arn": alarm}});
    put_catalog_entry(&w.sdk, "failover-control", "checkout", &def.to_string()).await;
    let tap = w.tap();
    let engine = w.engine_through(&tap);
    engine.catalog().await.unwrap();
    let mut mark = 0;
    tap.take_since(&mut mark);
    let now = chrono::Utc::now();

    let first = fresh_fixture("eventbridge-with-alarm-tags.json", now);
    engine.handle_alarm_event(&first, &inv("a")).await.unwrap();
    let calls = tap.take_since(&mut mark);
    assert_eq!(round_trips(&calls), 1, "non-deciding vote: {calls:?}");
    report("non-deciding vote", &calls);

    engine.handle_alarm_event(&first, &inv("b")).await.unwrap();
    let calls = tap.take_since(&mut mark);
    assert_eq!(round_trips(&calls), 1, "duplicate: {calls:?}");
    report("duplicate", &calls);

    let mut stale = first.clone();
    set_times(&mut stale, now - chrono::Duration::hours(3));
    engine.handle_alarm_event(&stale, &inv("c")).await.unwrap();
    assert!(
        tap.take_since(&mut mark).is_empty(),
        "a stale event makes no AWS call"
    );
    let mut unknown = first.clone();
    unknown["resources"] = json!([observer_arn("us-east-1", "nobody")]);
    unknown["detail"]["alarmName"] = json!("nobody");
    engine
        .handle_alarm_event(&unknown, &inv("d"))
        .await
        .unwrap();
    assert!(
        tap.take_since(&mut mark).is_empty(),
        "an unknown alarm makes no AWS call"
    );

    let deciding = fresh_fixture("alarm-action-metric.json", now);
    assert_eq!(
        outcomes(
            &engine
                .handle_alarm_event(&deciding, &inv("e"))
                .await
                .unwrap()
        ),
        ["failed_over"]
    );
    let calls = tap.take_since(&mut mark);
    report("deciding vote", &calls);
    assert_eq!(
        round_trips(&calls),
        4,
        "vote; claim || pre-flight || GetHealthCheck; UpdateHealthCheck || progress; \
         Publish || closing write || audit: {calls:?}"
    );
    let last_start = calls.iter().map(|c| c.start).max().unwrap();
    let last_round: Vec<_> = calls.iter().filter(|c| c.end > last_start).collect();
    assert!(
        last_round.iter().any(|c| c.operation == "Publish")
            && last_round.iter().any(|c| c.operation == "UpdateItem"),
        "the alert and the closing write share the last round trip: {calls:?}"
    );

    engine
        .handle_alarm_event(&deciding, &inv("f"))
        .await
        .unwrap();
    let calls = tap.take_since(&mut mark);
    assert_eq!(
        round_trips(&calls),
        1,
        "duplicate after the decision: {calls:?}"
    );
}

fn report(kind: &str, calls: &[TappedCall]) {
    let ops: Vec<String> = calls
        .iter()
        .map(|c| format!("{}.{}", c.service, c.operation))
        .collect();
    println!(
        "ROUNDTRIPS {kind}: depth {} calls {} {ops:?}",
        round_trips(calls),
        calls.len()
    );
}

#[tokio::test]
async fn failure_between_claim_and_switch_is_finished_by_a_redelivery() {
    let w = World::start(json!({})).await;
    let engine = w.engine_failing_first_switch();
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    let deciding = fresh_fixture("alarm-action-metric.json", now);
    let err = engine
        .handle_alarm_event(&deciding, &inv("b"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("switch"), "{err}");
    assert_eq!(
        w.state_item().await.unwrap()["phase"].as_s().unwrap(),
        "FAILING_OVER"
    );
    assert!(!hc(&w, &w.primary).await.0);
    let pending = w.alerts().await;
    assert_eq!(pending.len(), 1, "one PENDING alert: {pending:?}");
    assert_eq!(
        pending[0].attribute("event_type").as_deref(),
        Some("pending")
    );

    // Lambda's retry redelivers the same event.
    assert_eq!(
        outcomes(
            &engine
                .handle_alarm_event(&deciding, &inv("c"))
                .await
                .unwrap()
        ),
        ["failed_over"]
    );
    assert!(hc(&w, &w.primary).await.0);
    let done = w.alerts().await;
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].attribute("event_type").as_deref(), Some("failover"));
    engine
        .handle_alarm_event(&deciding, &inv("d"))
        .await
        .unwrap();
    assert!(w.alerts().await.is_empty(), "no second alert");
    assert_eq!(w.state_item().await.unwrap()["epoch"].as_n().unwrap(), "1");
}

#[tokio::test]
async fn failure_between_switch_and_alert_is_finished_without_a_second_switch_or_alert() {
    let w = World::start(json!({})).await;
    let tap = w.tap();
    let p = w.ports(&tap.sdk_config(&w.sdk));
    let engine = failover::Engine::new(
        p.store,
        p.health_checks,
        p.alarms,
        FailFirstPublish(p.notifier, true.into()),
        failover::adapters::clock::SystemClock,
        "alarm-trigger",
    );
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    let deciding = fresh_fixture("alarm-action-metric.json", now);
    let err = engine
        .handle_alarm_event(&deciding, &inv("b"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("alert"), "{err}");
    assert!(hc(&w, &w.primary).await.0, "switched");
    assert!(w.alerts().await.is_empty());

    assert_eq!(
        outcomes(
            &engine
                .handle_alarm_event(&deciding, &inv("c"))
                .await
                .unwrap()
        ),
        ["failed_over"]
    );
    assert!(hc(&w, &w.primary).await.0);
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]
            .message
            .contains("Disabled=false Inverted=false -> Disabled=true Inverted=true"),
        "{}",
        alerts[0].message
    );
    engine
        .handle_alarm_event(&deciding, &inv("d"))
        .await
        .unwrap();
    assert!(w.alerts().await.is_empty());
    let updates = tap
        .take_since(&mut 0)
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck")
        .count();
    assert_eq!(updates, 1, "the switch is never repeated");
}

#[tokio::test]
async fn secondary_alarm_gates_the_failover_through_describe_alarms() {
    for (secondary_state, want) in [("ALARM", "blocked"), ("OK", "failed_over")] {
        let w = World::start(json!({})).await;
        let alarm = put_alarm(&w.sdk, "eu-west-1", "checkout-secondary-health").await;
        set_alarm_state(
            &w.sdk,
            "eu-west-1",
            "checkout-secondary-health",
            secondary_state,
        )
        .await;
        let def = json!({"name": "checkout",
            "primary": {"region": "us-east-1", "health_check_id": w.primary},
            "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
            "observers": w.observers, "quorum": 2,
            "preflight": {"secondary_health_check": false, "secondary_alarm_arn": alarm}});
        put_catalog_entry(&w.sdk, "failover-control", "checkout", &def.to_string()).await;
        let engine = w.engine();
        let now = chrono::Utc::now();
        engine
            .handle_alarm_event(
                &fresh_fixture("eventbridge-with-alarm-tags.json", now),
                &inv("a"),
            )
            .await
            .unwrap();
        let out = engine
            .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
            .await
            .unwrap();
        assert_eq!(outcomes(&out), [want], "secondary alarm {secondary_state}");
        let alerts = w.alerts().await;
        assert_eq!(alerts.len(), 1);
        if want == "blocked" {
            assert_eq!(
                alerts[0].attribute("event_type").as_deref(),
                Some("blocked")
            );
            assert!(
                alerts[0]
                    .message
                    .contains("[FAIL] secondary alarm checkout-secondary-health: ALARM"),
                "{}",
                alerts[0].message
            );
            assert_eq!(
                hc(&w, &w.primary).await,
                (false, false, 1),
                "nothing changed"
            );
            assert_eq!(
                w.state_item().await.unwrap()["phase"].as_s().unwrap(),
                "BLOCKED"
            );
            // More votes while blocked page no more.
            engine
                .handle_alarm_event(
                    &fresh_fixture("eventbridge-metric-alarm-to-alarm.json", now),
                    &inv("c"),
                )
                .await
                .unwrap();
            assert!(w.alerts().await.is_empty());
        } else {
            assert!(hc(&w, &w.primary).await.0);
        }
    }
}

#[tokio::test]
async fn stale_unknown_and_malformed_events_change_nothing() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    // The fixtures as shipped are days old: stale.
    for f in FIXTURES {
        let ev = fixture(f);
        let out = engine.handle_alarm_event(&ev, &inv("x")).await.unwrap();
        assert!(
            out.services.iter().all(|s| s.outcome == "ignored"),
            "{f}: {out:?}"
        );
    }
    for bad in [
        json!(null),
        json!([]),
        json!({}),
        json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change"}),
        json!("ALARM"),
    ] {
        assert!(
            engine.handle_alarm_event(&bad, &inv("x")).await.is_err(),
            "{bad}"
        );
    }
    assert!(w.state_item().await.is_none(), "no state written");
    assert!(w.history().await.is_empty(), "no audit written");
    assert!(w.alerts().await.is_empty());
    assert_eq!(hc(&w, &w.primary).await, (false, false, 1));
}

#[tokio::test]
async fn a_bad_catalog_entry_is_skipped_and_the_others_still_fail_over() {
    let w = World::start(json!({})).await;
    put_catalog_entry(
        &w.sdk,
        "failover-control",
        "broken",
        r#"{"name": "broken", "quorum": 9}"#,
    )
    .await;
    let engine = w.engine();
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    let out = engine
        .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
        .await
        .unwrap();
    assert_eq!(outcomes(&out), ["failed_over"]);
}

#[tokio::test]
async fn a_paused_service_records_votes_but_takes_no_action() {
    use failover::ports::ControlStore;
    let w = World::start(json!({})).await;
    let store = failover::adapters::aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&w.sdk),
        &w.config.table,
    );
    let paused = failover::ServiceState {
        version: 1,
        pause: Some(failover::domain::state::Pause {
            reason: "db upgrade".into(),
            requested_by: "bob".into(),
            since: chrono::Utc::now().timestamp_millis(),
            until: None,
        }),
        ..Default::default()
    };
    store.write_control("checkout", 0, &paused).await.unwrap();
    let engine = w.engine();
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    let out = engine
        .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
        .await
        .unwrap();
    assert_eq!(outcomes(&out), ["held"]);
    let state = store.load_state("checkout").await.unwrap();
    assert_eq!(state.votes.len(), 2, "votes are recorded while paused");
    assert_eq!(state.phase, failover::Phase::PrimaryActive);
    assert_eq!(hc(&w, &w.primary).await, (false, false, 1));
    let held: Vec<Option<String>> = w
        .alerts()
        .await
        .iter()
        .map(|a| a.attribute("event_type"))
        .collect();
    assert_eq!(
        held,
        [Some("held".to_string())],
        "the held quorum pages once"
    );
    let history = w.history().await;
    assert!(
        history
            .iter()
            .any(|h| h["kind"].as_s().unwrap() == "refusal"),
        "the held quorum is audited"
    );
}
