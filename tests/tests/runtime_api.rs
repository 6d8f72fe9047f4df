//! The built alarm-trigger binary, driven through the Lambda Runtime API
//! (`cargo lambda watch` + `cargo lambda invoke`) against moto.

use std::process::Command;

use integration_tests::*;
use serde_json::json;

const TABLE: &str = "failover-control";

#[tokio::test]
async fn the_built_function_fails_over_once_through_the_runtime_api() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    create_control_table(&sdk, TABLE).await;
    let (topic_arn, queue_url) = create_topic_with_queue(&sdk, "failover-alerts").await;
    let primary = create_health_check(&sdk, "checkout.us-east-1.example.com").await;
    let secondary = create_health_check(&sdk, "checkout.eu-west-1.example.com").await;
    let now = chrono::Utc::now();
    let first = fresh_fixture("eventbridge-with-alarm-tags.json", now);
    let second = fresh_fixture("alarm-action-metric.json", now);
    let third = fresh_fixture("eventbridge-metric-alarm-to-alarm.json", now);
    let def = json!({"name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": primary},
        "secondary": {"region": "eu-west-1", "health_check_id": secondary},
        "observers": [observer_of(&first), observer_of(&second), observer_of(&third)],
        "quorum": 2});
    put_catalog_entry(&sdk, TABLE, "checkout", &def.to_string()).await;

    let mut env = moto.function_env();
    env.push(("FAILOVER_TABLE".into(), TABLE.into()));
    env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
    let watch = LambdaWatch::start(&["alarm-trigger"], &env);

    let out = watch
        .invoke("alarm-trigger", &first)
        .await
        .expect("first vote");
    assert_eq!(out["services"][0]["outcome"], "vote_recorded", "{out}");
    let out = watch
        .invoke("alarm-trigger", &second)
        .await
        .expect("deciding vote");
    assert_eq!(out["services"][0]["outcome"], "failed_over", "{out}");
    assert_eq!(out["services"][0]["phase"], "FAILED_OVER");
    let out = watch
        .invoke("alarm-trigger", &second)
        .await
        .expect("duplicate");
    assert_eq!(out["services"][0]["outcome"], "duplicate", "{out}");

    let (disabled, inverted, _) = get_health_check(&sdk, &primary).await;
    assert!(disabled && inverted, "primary forced unhealthy");
    assert_eq!(get_health_check(&sdk, &secondary).await, (false, false, 1));
    let alerts =
        receive_sns_messages(&sdk, &queue_url, std::time::Duration::from_millis(500)).await;
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
    let out = watch
        .invoke("alarm-trigger", &stale)
        .await
        .expect("stale event");
    assert_eq!(out["services"][0]["outcome"], "ignored", "{out}");
    assert!(
        receive_sns_messages(&sdk, &queue_url, std::time::Duration::from_millis(200))
            .await
            .is_empty()
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
