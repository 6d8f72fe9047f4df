use alarm_trigger::{handler, FUNCTION};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    failover::adapters::telemetry::init();
    let engine = failover::adapters::aws::engine_or_exit(FUNCTION).await;
    run(service_fn(|event: LambdaEvent<Value>| {
        handler(&engine, event)
    }))
    .await
}
