//! alarm-trigger: records each observer's vote and, on a confirmed quorum, fails over once.

use failover::adapters::aws::AwsEngine;
use failover::api::reports::AlarmOutcome;
use failover::engine::EngineError;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub const FUNCTION: &str = "alarm-trigger";

pub async fn handler(
    engine: &AwsEngine,
    event: LambdaEvent<Value>,
) -> Result<AlarmOutcome, EngineError> {
    engine
        .handle_alarm_event(&event.payload, &(&event.context).into())
        .await
}
