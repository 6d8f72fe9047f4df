//! `failoverctl` (cli/) as an operator runs it: the built binary against the operator
//! function under `cargo lambda watch`, over moto, as `make local-up` runs them. stdin is
//! never a terminal here, which is what the confirmation rules are about.

use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use failover::api::operator_response::OperatorResponse;
use integration_tests::*;
use serde_json::{json, Value};

/// `target/debug/failoverctl`, built once per test run with the features `make build`
/// uses (the same `cargo build --bin` at the workspace root as the functions).
fn binary() -> &'static std::path::Path {
    static BUILT: OnceLock<std::path::PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        prebuild(&["failoverctl".to_string()]);
        workspace_root().join("target/debug/failoverctl")
    })
}

/// Runs failoverctl with `args` (stdin not a terminal, no colour, nothing of the caller's
/// AWS environment) and returns (exit code, stdout, stderr).
async fn ctl(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .env_remove("FAILOVER_OPERATOR_FUNCTION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    let out: Output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("running failoverctl");
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The operator function under cargo lambda watch, on `w`'s moto.
fn operator(w: &World) -> LambdaWatch {
    let mut env = w.emulator.function_env();
    env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
    env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
    LambdaWatch::start(&["operator"], &env)
}

fn endpoint(watch: &LambdaWatch) -> String {
    format!("http://127.0.0.1:{}", watch.port())
}

/// The state item, both health checks' flags and the alerts that reached the topic.
async fn snapshot(w: &World) -> (String, (bool, bool, i64), usize) {
    (
        format!("{:?}", w.state_item().await),
        hc(w, &w.primary).await,
        w.alerts().await.len(),
    )
}

#[tokio::test]
async fn status_table_json_dry_run_and_a_confirmed_failover() {
    let w = World::start(json!({})).await;
    let watch = operator(&w);
    let url = endpoint(&watch);
    let at = ["--endpoint-url", url.as_str()];

    // The table: a header and the service's row, columns aligned.
    let (code, out, err) = ctl(&[&["status"], &at[..]].concat()).await;
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "header and one row: {out}");
    let (head, row) = (lines[0], lines[1]);
    assert!(head.starts_with("SERVICE"), "{out}");
    assert!(row.starts_with("checkout"), "{out}");
    for (column, value) in [
        ("PHASE", "PRIMARY_ACTIVE"),
        ("EPOCH", "0 "),
        ("VOTES", "0/"),
        ("LAST TRANSITION", "-"),
    ] {
        let col = head
            .find(column)
            .unwrap_or_else(|| panic!("{column}: {out}"));
        assert_eq!(
            row.get(col..col + value.len()),
            Some(value),
            "{column} aligned: {out}"
        );
    }
    assert!(row.contains("(q 2)"), "{out}");

    // --json is the operator's response, readable as its type.
    let (code, out, err) = ctl(&[&["status", "checkout", "--json"], &at[..]].concat()).await;
    assert_eq!(code, 0, "{err}");
    let status: OperatorResponse = serde_json::from_str(&out).expect("OperatorResponse");
    assert!(status.ok && status.status.len() == 1, "{out}");
    assert_eq!(status.status[0].phase, failover::Phase::PrimaryActive);

    // One service in detail: its sections.
    let (code, out, _) = ctl(&[&["status", "checkout"], &at[..]].concat()).await;
    assert_eq!(code, 0);
    for section in ["Endpoints", "Votes", "Readiness", "Controls", "History"] {
        assert!(out.contains(section), "{section}: {out}");
    }

    // A dry run prints the plan and changes nothing.
    let before = snapshot(&w).await;
    let (code, out, err) = ctl(&[
        &["failover", "checkout", "--reason", "drill", "--dry-run"],
        &at[..],
    ]
    .concat())
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("plan (dry run)"), "{out}");
    assert!(
        out.contains("would do") && out.contains("claim epoch 1"),
        "{out}"
    );
    assert_eq!(snapshot(&w).await, before, "a dry run changes nothing");

    // Without a terminal and without --yes: the plan, then refused as usage (2), unchanged.
    let (code, _, err) =
        ctl(&[&["failover", "checkout", "--reason", "drill"], &at[..]].concat()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("would do") && err.contains("--yes"), "{err}");
    assert_eq!(snapshot(&w).await, before, "not confirmed: nothing changes");

    // Confirmed with --yes: done, FAILED_OVER, requested by $USER@local (no STS locally).
    let (code, out, err) = ctl(&[
        &[
            "failover",
            "checkout",
            "--reason",
            "drill: planned",
            "--yes",
        ],
        &at[..],
    ]
    .concat())
    .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PRIMARY_ACTIVE -> FAILED_OVER"), "{out}");
    assert!(err.contains("tester@local"), "{err}");
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "the primary is forced unhealthy");
    let (_, out, _) = ctl(&[&["status", "--json"], &at[..]].concat()).await;
    let status: OperatorResponse = serde_json::from_str(&out).unwrap();
    assert_eq!(status.status[0].phase, failover::Phase::FailedOver);
    let history: Value = serde_json::to_value(&status.status[0].history).unwrap();
    assert!(history.to_string().contains("tester@local"), "{history}");
    let (_, out, _) = ctl(&[&["status"], &at[..]].concat()).await;
    assert!(
        out.contains("FAILED_OVER") && out.contains("failover #1"),
        "{out}"
    );
}

#[tokio::test]
async fn a_refused_failover_exits_1_and_changes_nothing() {
    // The secondary's readiness alarm in ALARM: the operator refuses a planned failover.
    let w = World::start(json!({})).await;
    let alarm = put_alarm(&w.sdk, "eu-west-1", "checkout-secondary").await;
    set_alarm_state(&w.sdk, "eu-west-1", "checkout-secondary", "ALARM").await;
    let def = json!({"name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": w.primary},
        "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
        "observers": w.observers, "quorum": 2,
        "preflight": {"secondary_alarm_arn": alarm}});
    put_catalog_entry(&w.sdk, "failover-control", "checkout", &def.to_string()).await;
    let watch = operator(&w);
    let url = endpoint(&watch);
    let before = snapshot(&w).await;
    let (code, _, err) = ctl(&[
        "failover",
        "checkout",
        "--reason",
        "drill",
        "--yes",
        "--endpoint-url",
        &url,
    ])
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("REFUSED") && err.contains("not ready"),
        "{err}"
    );
    assert_eq!(snapshot(&w).await, before, "a refusal changes nothing");
    let (_, out, _) = ctl(&["status", "--endpoint-url", &url]).await;
    // (The table's readiness also names the health check: moto has no HealthCheckStatus
    // datapoints for the bulk read.)
    assert!(
        out.contains("NOT READY: ") && out.contains("alarm checkout-secondary"),
        "{out}"
    );
    // An unknown service is bad input (2), as the operator's BadRequest says.
    let (code, _, err) = ctl(&["status", "nosuch", "--endpoint-url", &url]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no service 'nosuch'"), "{err}");
}

#[tokio::test]
async fn usage_and_unreachable_exit_codes() {
    // Usage (2): a missing --reason, a flag the action does not take, a bad --until.
    for args in [
        &["failover", "checkout"][..],
        &["pause", "checkout", "--reason", "r", "--force"],
        &["pause", "checkout", "--reason", "r", "--until", "tomorrow"],
        &["approve", "checkout", "--reason", "r"],
        &["explode"],
    ] {
        let (code, _, err) = ctl(args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    // Unreachable (3): nothing listens on the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = ctl(&["status", "--endpoint-url", &url]).await;
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("unreachable"), "{err}");
    let (code, _, err) = ctl(&[
        "failover",
        "checkout",
        "--reason",
        "r",
        "--requested-by",
        "alice",
        "--yes",
        "--endpoint-url",
        &url,
    ])
    .await;
    assert_eq!(code, 3, "{err}");
}
