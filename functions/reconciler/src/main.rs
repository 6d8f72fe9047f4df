//! (The reconciler run's future is deep: the default layout depth of 128 is not enough.)
#![recursion_limit = "256"]

use failover::engine::ReconcileSettings;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use reconciler::{handler, FUNCTION};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    failover::adapters::telemetry::init();
    let settings = ReconcileSettings::from_env()
        .unwrap_or_else(|e| failover::adapters::aws::exit_at_start(FUNCTION, &e));
    let engine = failover::adapters::aws::engine_or_exit(FUNCTION).await;
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(&engine, &settings, event)
    }))
    .await
}
