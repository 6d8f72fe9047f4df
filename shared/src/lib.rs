//! Quorum-confirmed regional failover: the pure decision core, the ports it needs,
//! the AWS SDK adapters behind them, and the execution steps shared by the functions.

pub mod alert;
pub mod aws;
pub mod catalog;
pub mod config;
pub mod decision;
pub mod engine;
pub mod event;
pub mod history;
mod manual;
pub mod metrics;
pub mod operator;
pub mod ports;
pub mod reconcile;
pub mod state;
pub mod telemetry;

#[cfg(test)]
mod bad_input_tests;
#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod fakes;

pub use catalog::{Catalog, ServiceDefinition};
pub use config::Config;
pub use engine::{Engine, Invocation};
pub use state::{Millis, Phase, ServiceState};
