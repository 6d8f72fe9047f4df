//! The outside world behind the ports: the AWS SDK clients, the Lambda runtime, the
//! environment, and the log lines that carry metrics and traces.

pub mod aws;
pub mod config;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod telemetry;
