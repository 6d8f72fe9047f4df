//! Every alert also put on EventBridge (issue 17), observed as a tool would: through the
//! control plane's rule on the default bus (pattern `{"source": ["regional-failover"]}`)
//! and its SQS target, in moto. moto 5.2.5 delivers PutEvents to the SQS targets of the
//! matching rules itself (moto/events/models.py, `put_events` -> `Rule.send_to_targets`),
//! so nothing is patched for it.

use std::time::Duration;

use failover::adapters::aws::{AlertEvents, SnsNotifier};
use failover::adapters::config::EventsSettings;
use failover::domain::alert::{runbook_anchor, Alert, DEFAULT_RUNBOOK_BASE_URL};
use failover::ports::Notifier;
use integration_tests::harness::tap::TappedCall;
use integration_tests::*;
use serde_json::{json, Value};

/// Receives (and deletes) the events the rule delivered to its queue, in arrival order.
async fn events(w: &World) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let mut out = Vec::new();
    loop {
        // PutEvents delivers to the target inside the call (moto), so short polls suffice.
        let received = sqs
            .receive_message()
            .queue_url(&w.events_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .expect("ReceiveMessage");
        if received.messages().is_empty() {
            return out;
        }
        for m in received.messages() {
            out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("JSON event"));
            sqs.delete_message()
                .queue_url(&w.events_queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("DeleteMessage");
        }
    }
}

async fn alerts(w: &World) -> Vec<SnsEnvelope> {
    receive_sns_messages(&w.sdk, &w.queue_url, Duration::from_millis(300)).await
}

fn first_line(message: &str) -> &str {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap()
}

/// The event of `alert`, as the tool gets it: the alert's fields, its votes and links.
fn check_event(alert: &SnsEnvelope, event: &Value) {
    let attr = |name: &str| alert.attribute(name).unwrap_or_default();
    let event_type = attr("event_type");
    assert_eq!(event["source"], "regional-failover", "{event}");
    assert_eq!(event["detail-type"], event_type.as_str(), "{event}");
    let d = &event["detail"];
    // Sorted: serde_json keeps insertion order when a workspace crate turns on its
    // `preserve_order` feature, so the order depends on what is built together.
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = [
        "service",
        "epoch",
        "event_type",
        "severity",
        "subject",
        "summary",
        "votes",
        "changed",
        "runbook_url",
        "dedup_key",
    ];
    want.sort_unstable();
    assert_eq!(keys, want, "{d}");
    assert_eq!(d["service"], attr("service").as_str());
    assert_eq!(d["epoch"].to_string(), attr("epoch"), "a number: {d}");
    assert_eq!(d["event_type"], event_type.as_str());
    assert_eq!(d["severity"], attr("severity").as_str());
    assert_eq!(d["subject"], alert.subject.as_str());
    assert_eq!(d["summary"], first_line(&alert.message));
    assert!(!d["changed"].as_str().unwrap().is_empty(), "{d}");
    assert_eq!(
        d["runbook_url"],
        format!("{DEFAULT_RUNBOOK_BASE_URL}{}", runbook_anchor(&event_type))
    );
    assert_eq!(d["dedup_key"], format!("checkout#{}", attr("epoch")));
}

/// The alerts and events since the last call: one event per alert, in the same order.
async fn step(w: &World, want: &[&str]) -> Vec<(SnsEnvelope, Value)> {
    let alerts = alerts(w).await;
    let events = events(w).await;
    let types: Vec<String> = alerts
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect();
    assert_eq!(types, want, "the alerts on the topic");
    let detail_types: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(detail_types, want, "one event per alert: {events:#?}");
    for (a, e) in alerts.iter().zip(&events) {
        check_event(a, e);
    }
    alerts.into_iter().zip(events).collect()
}

/// The Publish and the PutEvents of each alert overlap on the wire: one round trip.
fn assert_same_round_trips(calls: &[TappedCall], alerts: usize) {
    let of =
        |op: &str| -> Vec<&TappedCall> { calls.iter().filter(|c| c.operation == op).collect() };
    let (publishes, puts) = (of("Publish"), of("PutEvents"));
    assert_eq!(
        (publishes.len(), puts.len()),
        (alerts, alerts),
        "{calls:#?}"
    );
    for (p, e) in publishes.iter().zip(&puts) {
        assert_eq!(e.service, "events");
        assert!(
            p.start < e.end && e.start < p.end,
            "Publish {:?}..{:?} and PutEvents {:?}..{:?} were not in flight together",
            p.start,
            p.end,
            e.start,
            e.end
        );
    }
}

#[tokio::test]
async fn every_alert_of_a_failover_its_recovery_and_failback_is_one_event_on_the_bus() {
    let w = World::start_with(World::checkout_with_alarms()).await;
    let tap = w.tap();
    let engine = w.engine_through(&tap);
    let handle = |event: Value, id: &'static str| {
        let engine = &engine;
        async move {
            let out = engine
                .handle_alarm_event(&event, &inv(id))
                .await
                .expect("the alarm event is handled");
            out.services[0].outcome.to_string()
        }
    };

    // Two of three observers alarm: one failover, its event carries both votes.
    let a0 = w.alarm(0, "ALARM", "a0").await;
    assert_eq!(handle(a0, "a0").await, "vote_recorded");
    step(&w, &[]).await;
    let a1 = w.alarm(1, "ALARM", "a1").await;
    assert_eq!(handle(a1, "a1").await, "failed_over");
    let a2 = w.alarm(2, "ALARM", "a2").await;
    assert_eq!(handle(a2, "a2").await, "held");
    let failover = step(&w, &["failover"]).await;
    let (_, event) = &failover[0];
    let votes = event["detail"]["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 2, "{votes:?}");
    for (v, i) in votes.iter().zip([0, 1]) {
        let v = v.as_str().unwrap();
        assert!(v.starts_with(&w.observers[i]), "{v}");
        assert!(v.contains(" ALARM since "), "{v}");
    }
    assert_eq!(event["detail"]["epoch"], 1);
    assert_eq!(event["detail"]["severity"], "critical");
    let changed = event["detail"]["changed"].as_str().unwrap();
    assert!(
        changed.starts_with(&format!("Route 53 health check {} (primary", w.primary)),
        "{changed}"
    );

    // Every observer recovers: one `recovered`, the same incident (dedup key) as the failover.
    for (i, id) in [(0, "ok0"), (1, "ok1"), (2, "ok2")] {
        let ok = w.alarm(i, "OK", id).await;
        handle(ok, id).await;
    }
    let recovered = step(&w, &["recovered"]).await;
    let (_, event) = &recovered[0];
    assert_eq!(event["detail"]["dedup_key"], "checkout#1");
    assert_eq!(event["detail"]["votes"], json!([]));
    assert!(event["detail"]["runbook_url"]
        .as_str()
        .unwrap()
        .ends_with("#recovery"));

    // The operator fails back: a new epoch, a new incident key.
    let out = engine
        .handle_operator_request(
            &json!({"action": "failback", "service": "checkout", "requested_by": "alice",
                    "reason": "primary healthy again"}),
            &inv("fb"),
        )
        .await
        .expect("failback");
    assert!(out.ok, "{}", out.message);
    let failback = step(&w, &["failback"]).await;
    let (_, event) = &failback[0];
    assert_eq!(event["detail"]["dedup_key"], "checkout#2");
    assert_eq!(event["detail"]["severity"], "warning");

    assert_same_round_trips(&tap.all(), 3);
}

fn alert(subject: &str) -> Alert {
    Alert {
        subject: subject.into(),
        message: "PAUSED: automatic failover for checkout is off.\n".into(),
        service: "checkout".into(),
        event_type: "pause".into(),
        epoch: 0,
        severity: "info".into(),
    }
}

fn notifier(w: &World, topic_arn: &str, bus: &str) -> SnsNotifier {
    let settings = EventsSettings {
        bus: bus.into(),
        ..EventsSettings::default()
    };
    SnsNotifier::new(aws_sdk_sns::Client::new(&w.sdk), topic_arn).with_events(AlertEvents::new(
        aws_sdk_eventbridge::Client::new(&w.sdk),
        settings,
        "test",
    ))
}

#[tokio::test]
async fn the_alerts_result_is_snss_an_event_not_put_fails_nothing() {
    let w = World::start(json!({})).await;

    // A bus that does not exist: PutEvents is refused, the alert is published all the same.
    let lost = notifier(&w, &w.config.topic_arn, "no-such-bus");
    let id = lost
        .publish(&alert("[PAUSED] checkout: the bus is missing"))
        .await
        .expect("the alert is SNS's result");
    assert!(!id.is_empty());
    let sent = alerts(&w).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "[PAUSED] checkout: the bus is missing");
    assert!(
        events(&w).await.is_empty(),
        "nothing reached the default bus"
    );

    // The same on the default bus: the rule gets it (the emptiness above is not vacuous).
    let put = notifier(&w, &w.config.topic_arn, "default");
    put.publish(&alert("[PAUSED] checkout: on the bus"))
        .await
        .unwrap();
    assert_eq!(alerts(&w).await.len(), 1);
    let got = events(&w).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["detail"]["subject"], "[PAUSED] checkout: on the bus");

    // SNS refusing is the alert's failure even though its event went out beside it (the
    // engine retries the alert, and the event with it).
    let missing_topic = w
        .config
        .topic_arn
        .replace("failover-alerts", "no-such-topic");
    let refused = notifier(&w, &missing_topic, "default")
        .publish(&alert("[PAUSED] checkout: no topic"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(events(&w).await.len(), 1, "put concurrently, not after SNS");
}
