//! The built alarm-trigger binary, driven through the Lambda Runtime API
//! (`cargo lambda watch` + `cargo lambda invoke`) against moto.

use std::process::Command;

use failover::api::reports::AlarmOutcome;
use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn the_built_function_fails_over_once_through_the_runtime_api() {
    let w = World::start(json!({})).await;
    let now = chrono::Utc::now();
    let first = fresh_fixture("eventbridge-with-alarm-tags.json", now);
    let second = fresh_fixture("alarm-action-metric.json", now);

    let mut env = w.emulator.function_env();
    env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
    env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
    let watch = LambdaWatch::start(&["alarm-trigger"], &env);

    let out: AlarmOutcome = watch
        .invoke_as("alarm-trigger", &first)
        .await
        .expect("first vote");
    assert_eq!(out.services[0].outcome, "vote_recorded", "{out:?}");
    let out: AlarmOutcome = watch
        .invoke_as("alarm-trigger", &second)
        .await
        .expect("deciding vote");
    assert_eq!(out.services[0].outcome, "failed_over", "{out:?}");
    assert_eq!(out.services[0].phase, failover::Phase::FailedOver);
    let out: AlarmOutcome = watch
        .invoke_as("alarm-trigger", &second)
        .await
        .expect("duplicate");
    assert_eq!(out.services[0].outcome, "duplicate", "{out:?}");

    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "primary forced unhealthy");
    assert_eq!(hc(&w, &w.secondary).await, (false, false, 1));
    let alerts =
        receive_sns_messages(&w.sdk, &w.queue_url, std::time::Duration::from_millis(500)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        alerts[0].subject,
        "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)"
    );

    // Malformed input is a clear function error, and the function keeps serving.
    let err = watch
        .invoke(
            "alarm-trigger",
            &json!({"detail-type": "CloudWatch Alarm State Change"}),
        )
        .await
        .expect_err("malformed event");
    assert!(err.contains("BadEvent"), "{err}");
    let stale = fixture("eventbridge-metric-alarm-to-ok.json");
    let out: AlarmOutcome = watch
        .invoke_as("alarm-trigger", &stale)
        .await
        .expect("stale event");
    assert_eq!(out.services[0].outcome, "ignored", "{out:?}");
    assert!(
        receive_sns_messages(&w.sdk, &w.queue_url, std::time::Duration::from_millis(200))
            .await
            .is_empty()
    );

    // The watcher ran the binary LambdaWatch::start pre-built: no compile. Dropping it
    // stops it.
    let log = watch.log();
    assert!(
        log.contains("Running `target/debug/alarm-trigger`"),
        "{log}"
    );
    assert!(
        !log.contains("Compiling"),
        "cargo run rebuilt something:\n{log}"
    );
    let pid = watch.pid();
    drop(watch);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "cargo lambda watch survived Drop"
    );
}

/// Missing or bad configuration stops the function at start-up, naming the variable.
#[test]
fn bad_configuration_fails_at_start_up_naming_the_variable() {
    prebuild(&["alarm-trigger".to_string()]);
    let binary = workspace_root().join("target/debug/alarm-trigger");
    let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
    for (env, expected) in [
        (
            vec![("ALERT_TOPIC_ARN", topic)],
            "FAILOVER_TABLE is not set",
        ),
        (
            vec![("FAILOVER_TABLE", ""), ("ALERT_TOPIC_ARN", topic)],
            "FAILOVER_TABLE is empty",
        ),
        (
            vec![("FAILOVER_TABLE", "control")],
            "ALERT_TOPIC_ARN is not set",
        ),
        (
            vec![("FAILOVER_TABLE", "control"), ("ALERT_TOPIC_ARN", "alerts")],
            "ALERT_TOPIC_ARN is invalid",
        ),
    ] {
        let out = Command::new(&binary)
            .env_clear()
            .envs(env.iter().copied())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .output()
            .expect("run the function binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{env:?} must fail start-up");
        assert!(text.contains(expected), "{env:?}: {text}");
    }
}
