//! The outside world behind the ports: the AWS SDK clients, the Lambda runtime, the
//! environment, and the subscriber that writes the traces.

pub mod aws;
pub mod clock;
pub mod config;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod telemetry;
