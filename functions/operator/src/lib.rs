//! operator: planned failover, failback, status, pause, resume, approve and decline, by hand.

use failover::adapters::aws::AwsEngine;
use failover::api::operator_request::OperatorScope;
use failover::api::operator_response::OperatorResponse;
use failover::engine::EngineError;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub const FUNCTION: &str = "operator";

pub async fn handler(
    engine: &AwsEngine,
    event: LambdaEvent<Value>,
) -> Result<OperatorResponse, EngineError> {
    // The alias it was invoked through limits the actions (README: Who may act).
    let scope = OperatorScope::of_invoked_arn(&event.context.invoked_function_arn);
    engine
        .handle_operator_request_as(&event.payload, &(&event.context).into(), scope)
        .await
}
