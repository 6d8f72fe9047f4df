//! `make demo`: a failover drill against a local moto server, through the real SDK clients.
//! One observer's ALARM (no action), a second one (failover: one alert), an OK (no failback).

use std::time::Instant;

use failover::aws::{engine_with_log, CallLog};
use failover::engine::Invocation;
use failover::ports::ControlStore;
use failover::Config;
use integration_tests::*;
use serde_json::json;

struct Timeline(Instant);

impl Timeline {
    fn say(&self, what: impl AsRef<str>) {
        println!(
            "[{:>6.2}s] {}",
            self.0.elapsed().as_secs_f64(),
            what.as_ref()
        );
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("drill expectation failed: {what}"))
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("\nDRILL FAILED: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let t = Timeline(Instant::now());
    let emulator = Emulator::start();
    t.say(format!("emulator: moto server on {}", emulator.endpoint()));
    let sdk = emulator.sdk_config().await;
    create_control_table(&sdk, "failover-control").await;
    let (topic_arn, queue_url) = create_topic_with_queue(&sdk, "failover-alerts").await;
    let primary = create_health_check(&sdk, "checkout.us-east-1.example.com").await;
    let secondary = create_health_check(&sdk, "checkout.eu-west-1.example.com").await;
    let secondary_alarm = put_alarm(&sdk, "eu-west-1", "checkout-secondary-health").await;
    set_alarm_state(&sdk, "eu-west-1", "checkout-secondary-health", "OK").await;
    t.say(format!(
        "provisioned: table failover-control, topic failover-alerts -> SQS, health checks primary={primary} secondary={secondary}"
    ));

    let now = chrono::Utc::now();
    let events = [
        (
            "us-east-1 canary ALARM (EventBridge)",
            fresh_fixture("eventbridge-with-alarm-tags.json", now),
        ),
        (
            "us-west-2 canary ALARM (alarm action)",
            fresh_fixture("alarm-action-metric.json", now),
        ),
        (
            "eu-west-1 canary OK (EventBridge)",
            fresh_fixture("eventbridge-metric-alarm-to-ok.json", now),
        ),
    ];
    let observers: Vec<String> = [
        events[0].1.clone(),
        events[1].1.clone(),
        fresh_fixture("eventbridge-metric-alarm-to-alarm.json", now),
    ]
    .iter()
    .map(observer_of)
    .collect();
    let definition = json!({
        "name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": primary},
        "secondary": {"region": "eu-west-1", "health_check_id": secondary},
        "observers": observers,
        "quorum": 2,
        "preflight": {"secondary_health_check": true, "secondary_alarm_arn": secondary_alarm}
    });
    put_catalog_entry(
        &sdk,
        "failover-control",
        "checkout",
        &definition.to_string(),
    )
    .await;
    t.say("catalog: checkout, 3 observers, quorum 2, pre-flight: secondary health check healthy and its alarm OK");

    let config = Config {
        table: "failover-control".into(),
        topic_arn,
    };
    let log = CallLog::default();
    let mut engine = engine_with_log(&sdk, &config, "alarm-trigger", Some(log.clone()));
    engine.metrics = false;
    engine.catalog().await.map_err(|e| e.to_string())?;
    log.take();

    let mut alerts_seen = 0;
    for (step, (label, event)) in events.iter().enumerate() {
        let inv = Invocation {
            request_id: format!("demo-{}", step + 1),
            deadline: chrono::Utc::now().timestamp_millis() + 30_000,
        };
        let out = engine
            .handle_alarm_event(event, &inv)
            .await
            .map_err(|e| e.to_string())?;
        let calls = log.take();
        let s = &out.services[0];
        t.say(format!(
            "event {}: {label} -> {} ({}); {} AWS calls, {} sequential",
            step + 1,
            s.outcome,
            s.detail,
            calls.len(),
            failover::aws::critical_path_depth(&calls)
        ));
        let (disabled, inverted, version) = get_health_check(&sdk, &primary).await;
        t.say(format!("         primary health check: Disabled={disabled} Inverted={inverted} (version {version})"));
        let alerts =
            receive_sns_messages(&sdk, &queue_url, std::time::Duration::from_millis(300)).await;
        for a in &alerts {
            t.say(format!("         ALERT {}", a.subject));
            for line in a.message.lines() {
                println!("           | {line}");
            }
        }
        alerts_seen += alerts.len();
        match step {
            0 => check(
                !disabled && alerts.is_empty() && s.outcome == "vote_recorded",
                "one vote changes nothing",
            )?,
            1 => check(
                disabled && inverted && alerts.len() == 1 && s.outcome == "failed_over",
                "quorum fails over with one alert",
            )?,
            _ => check(
                disabled && inverted && alerts.is_empty(),
                "an OK never fails back",
            )?,
        }
    }
    check(alerts_seen == 1, "exactly one alert in the drill")?;

    let store = failover::aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table);
    let state = store
        .load_state("checkout")
        .await
        .map_err(|e| e.to_string())?;
    println!("\nFinal state of checkout");
    println!(
        "  phase: {}  epoch: {}  version: {}",
        state.phase, state.epoch, state.version
    );
    for (observer, v) in &state.votes {
        println!(
            "  vote {observer}: {} at {}",
            v.state,
            failover::decision::fmt_time(v.at)
        );
    }
    if let Some(exec) = &state.execution {
        println!(
            "  epoch {}: primary check before the switch: {}; alert sent at {}",
            exec.epoch,
            exec.prior.map_or("unknown".into(), |p| p.to_string()),
            exec.alerted_at
                .map_or("never".into(), failover::decision::fmt_time)
        );
    }
    println!("\nDrill held: one failover, one alert, no automatic failback.");
    Ok(())
}
