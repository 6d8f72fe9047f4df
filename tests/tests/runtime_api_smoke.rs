//! The Lambda Runtime API path of the harness, end to end, on the throwaway
//! `lambda-echo` binary (tests/src/bin/lambda-echo.rs): `cargo lambda watch`
//! runs the pre-built binary, `cargo lambda invoke` reaches it, and the
//! function sees the emulator's environment.
//!
//! Real functions are driven the same way, e.g.
//! `LambdaWatch::start(&["alarm-trigger"], &env)` then
//! `watch.invoke("alarm-trigger", &event).await`.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn cargo_lambda_watch_and_invoke_run_a_workspace_binary() {
    let moto = Emulator::start();
    let mut env = moto.function_env();
    // A value with commas and '=' survives (no --env-var splitting).
    env.push(("FAILOVER_SMOKE".into(), "a,b=c d".into()));

    let t = Instant::now();
    let watch = LambdaWatch::start(&["lambda-echo"], &env);
    let started = t.elapsed();

    let t = Instant::now();
    let out = watch
        .invoke("lambda-echo", &json!({"hello": [1, 2, 3]}))
        .await
        .expect("first invoke");
    let first = t.elapsed();
    assert_eq!(out["echo"], json!({"hello": [1, 2, 3]}));
    let seen: HashMap<String, String> = serde_json::from_value(out["env"].clone()).unwrap();
    assert_eq!(seen["AWS_ENDPOINT_URL"], moto.endpoint());
    assert_eq!(seen["AWS_REGION"], "us-east-1");
    assert_eq!(seen["AWS_ACCESS_KEY_ID"], "test");
    assert_eq!(seen["AWS_EC2_METADATA_DISABLED"], "true");
    assert_eq!(seen["FAILOVER_SMOKE"], "a,b=c d");
    assert_eq!(seen["AWS_LAMBDA_FUNCTION_NAME"], "lambda-echo");
    assert!(
        seen["AWS_LAMBDA_RUNTIME_API"].contains(&format!("127.0.0.1:{}", watch.port())),
        "{seen:?}"
    );

    let t = Instant::now();
    let err = watch
        .invoke("lambda-echo", &json!({"fail": "boom"}))
        .await
        .expect_err("function error");
    assert!(err.contains("EchoError") && err.contains("boom"), "{err}");
    let again = watch
        .invoke("lambda-echo", &json!("still alive"))
        .await
        .expect("invoke after a function error");
    assert_eq!(again["echo"], "still alive");
    let warm = t.elapsed() / 2;

    // The watcher ran the binary pre-built by LambdaWatch::start: no compile.
    let log = watch.log();
    assert!(log.contains("Running `target/debug/lambda-echo`"), "{log}");
    assert!(
        !log.contains("Compiling"),
        "cargo run rebuilt something:\n{log}"
    );

    let pid = watch.pid();
    drop(watch);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "cargo lambda watch survived Drop"
    );
    eprintln!(
        "[runtime-api] watch ready in {started:?} (incl. prebuild), first invoke {first:?}, warm invokes ~{warm:?}"
    );
}
