//! `make local-up`: a local stack for the operator targets and for trying things by hand.
//! moto with the demo's `checkout` service provisioned, and the functions under
//! `cargo lambda watch`. Writes `target/local/stack.env`; runs until SIGINT/SIGTERM.

use std::io::Write;

use integration_tests::*;
use serde_json::json;

#[tokio::main]
async fn main() {
    let w = World::start(json!({})).await;
    let mut env = w.emulator.function_env();
    env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
    env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
    let watch = LambdaWatch::start(&["alarm-trigger", "operator"], &env);
    let dir = workspace_root().join("target/local");
    std::fs::create_dir_all(&dir).expect("create target/local");
    let path = dir.join("stack.env");
    let mut f = std::fs::File::create(&path).expect("write stack.env");
    writeln!(
        f,
        "ENDPOINT={}\nINVOKE_PORT={}\nQUEUE_URL={}\nTABLE={}\nTOPIC_ARN={}\nPRIMARY_HEALTH_CHECK={}\nSECONDARY_HEALTH_CHECK={}\nPID={}",
        w.emulator.endpoint(),
        watch.port(),
        w.queue_url,
        w.config.table,
        w.config.topic_arn,
        w.primary,
        w.secondary,
        std::process::id()
    )
    .expect("write stack.env");
    println!(
        "local stack up: moto {}, functions on invoke port {} (service 'checkout'); details in {}",
        w.emulator.endpoint(),
        watch.port(),
        path.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = std::fs::remove_file(&path);
    println!("local stack down");
    // Dropping `watch` and `w` stops cargo lambda watch and moto.
}
