//! operator: planned failover, failback, status, pause and resume, by hand.

use failover::adapters::aws::AwsEngine;
use failover::api::operator_response::OperatorResponse;
use failover::engine::EngineError;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub const FUNCTION: &str = "operator";

pub async fn handler(
    engine: &AwsEngine,
    event: LambdaEvent<Value>,
) -> Result<OperatorResponse, EngineError> {
    engine
        .handle_operator_request(&event.payload, &(&event.context).into())
        .await
}
