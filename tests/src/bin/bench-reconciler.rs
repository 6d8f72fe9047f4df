//! `make bench`: the reconciler over 200 catalogued services against moto. Reports the run's
//! duration (median, min, max over repeated runs) and the AWS calls per service, and writes
//! them to target/bench/reconciler.json.

use std::time::Instant;

use failover::aws::{engine_with_log, CallLog};
use failover::engine::Invocation;
use failover::reconcile::ReconcileSettings;
use failover::Config;
use integration_tests::*;
use serde_json::json;

const SERVICES: usize = 200;
const RUNS: usize = 7;

#[tokio::main]
async fn main() {
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    create_control_table(&sdk, "failover-control").await;
    let (topic_arn, _queue) = create_topic_with_queue(&sdk, "failover-alerts").await;
    let t = Instant::now();
    for i in 0..SERVICES {
        let name = format!("svc-{i:03}");
        let primary = create_health_check(&sdk, &format!("{name}.us-east-1.example.com")).await;
        let secondary = create_health_check(&sdk, &format!("{name}.eu-west-1.example.com")).await;
        let def = json!({"name": name,
            "primary": {"region": "us-east-1", "health_check_id": primary},
            "secondary": {"region": "eu-west-1", "health_check_id": secondary},
            "observers": [observer_arn("us-east-1", &format!("{name}-use1")), observer_arn("us-west-2", &format!("{name}-usw2")), observer_arn("eu-west-1", &format!("{name}-euw1"))],
            "quorum": 2});
        put_catalog_entry(&sdk, "failover-control", &name, &def.to_string()).await;
    }
    println!(
        "provisioned {SERVICES} services in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let config = Config {
        table: "failover-control".into(),
        topic_arn,
    };
    let log = CallLog::default();
    let mut engine = engine_with_log(&sdk, &config, "reconciler", Some(log.clone()));
    engine.metrics = false;
    let settings = ReconcileSettings::default();
    let mut durations = Vec::new();
    let mut calls_per_run = Vec::new();
    for run in 0..RUNS {
        log.take();
        let inv = Invocation {
            request_id: format!("bench-{run}"),
            deadline: chrono::Utc::now().timestamp_millis() + 60_000,
        };
        let t = Instant::now();
        let report = engine.reconcile(&inv, &settings).await.expect("reconcile");
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(report.checked, SERVICES, "{report:?}");
        assert!(report.errors.is_empty(), "{report:?}");
        let calls = log.take();
        // The first run also reads the catalog (then cached for a minute).
        let per_service =
            calls.iter().filter(|c| c.operation != "Query").count() as f64 / SERVICES as f64;
        println!(
            "run {run}: {elapsed:.0} ms, {} AWS calls ({per_service:.2} per service)",
            calls.len()
        );
        durations.push(elapsed);
        calls_per_run.push(per_service);
    }
    durations.sort_by(f64::total_cmp);
    let median = durations[RUNS / 2];
    let result = json!({
        "benchmark": "reconciler",
        "services": SERVICES,
        "runs": RUNS,
        "fan_out": settings.fan_out,
        "duration_ms": {"median": median, "min": durations[0], "max": durations[RUNS - 1]},
        "per_service_ms_median": median / SERVICES as f64,
        "aws_calls_per_service": calls_per_run[RUNS - 1],
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
        "emulator": "moto 5.2.5 on loopback (serialised launcher)",
    });
    let dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(
        dir.join("reconciler.json"),
        serde_json::to_string_pretty(&result).expect("json"),
    )
    .expect("write results");
    println!(
        "\n| benchmark | services | median | min | max | per service | AWS calls per service |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| reconciler run | {SERVICES} | {median:.0} ms | {:.0} ms | {:.0} ms | {:.2} ms | {:.2} |",
        durations[0],
        durations[RUNS - 1],
        median / SERVICES as f64,
        calls_per_run[RUNS - 1]
    );
    println!("\nwritten to {}", dir.join("reconciler.json").display());
}
