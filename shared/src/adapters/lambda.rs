//! The Lambda runtime's side of the engine: the invocation it runs under, and how an engine
//! error is reported. The only module that knows `lambda_runtime`.

use crate::domain::time::Millis;
use crate::engine::{EngineError, Invocation};

/// How the Lambda runtime reports an engine error: a stable type and a readable message.
impl From<EngineError> for lambda_runtime::Diagnostic {
    fn from(e: EngineError) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_string(),
            error_message: e.to_string(),
        }
    }
}

impl From<&lambda_runtime::Context> for Invocation {
    fn from(ctx: &lambda_runtime::Context) -> Invocation {
        let raw = Millis::try_from(ctx.deadline).unwrap_or(Millis::MAX);
        // Lambda sends an epoch-millis deadline; cargo lambda's emulator sends the timeout
        // itself (e.g. 600000). Anything before 2001 is such a duration: count it from now.
        let deadline = if raw < 1_000_000_000_000 {
            chrono::Utc::now().timestamp_millis().saturating_add(raw)
        } else {
            raw
        };
        Invocation {
            request_id: ctx.request_id.clone(),
            deadline,
        }
    }
}
