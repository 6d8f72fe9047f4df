//! alarm-trigger: records each observer's vote and, on a confirmed quorum, fails over once.

use failover::aws::AwsEngine;
use failover::engine::{AlarmOutcome, EngineError, Invocation};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

pub const FUNCTION: &str = "alarm-trigger";

/// The engine error as the runtime reports it: a stable type and a readable message.
#[derive(Debug)]
pub struct HandlerError(pub EngineError);

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: e.0.kind().to_string(),
            error_message: e.0.to_string(),
        }
    }
}

pub async fn handler(
    engine: &AwsEngine,
    event: LambdaEvent<Value>,
) -> Result<AlarmOutcome, HandlerError> {
    let inv = Invocation {
        request_id: event.context.request_id.clone(),
        deadline: i64::try_from(event.context.deadline).unwrap_or(i64::MAX),
    };
    engine
        .handle_alarm_event(&event.payload, &inv)
        .await
        .map_err(HandlerError)
}
