//! reconciler: runs every minute (EventBridge schedule) and makes the world match the decisions.

use failover::adapters::aws::AwsEngine;
use failover::api::reports::ReconcileReport;
use failover::engine::{EngineError, ReconcileSettings};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub const FUNCTION: &str = "reconciler";

/// The schedule's event carries nothing the run needs; it is only the tick.
pub async fn handler(
    engine: &AwsEngine,
    settings: &ReconcileSettings,
    event: LambdaEvent<Value>,
) -> Result<ReconcileReport, EngineError> {
    engine.reconcile(&(&event.context).into(), settings).await
}
