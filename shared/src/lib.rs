//! Quorum-confirmed regional failover, in layers that depend inward only:
//!
//! - [`domain`]: the pure core (catalog, alarm events, state, decisions, alerts);
//! - [`ports`]: the traits the steps need from the outside world;
//! - [`engine`]: the steps of every workflow, over the ports;
//! - [`api`]: what the functions accept and answer;
//! - [`adapters`]: AWS, Lambda and the environment behind the ports;
//! - [`metrics`]: EMF log lines, written by the engine like its traces (no API call, so no port);
//! - [`testing`]: in-memory ports (feature `test-util`).

pub mod adapters;
pub mod api;
pub mod domain;
pub mod engine;
pub mod metrics;
pub mod ports;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

pub use adapters::config::Config;
pub use domain::catalog::{Catalog, ServiceDefinition};
pub use domain::state::{Phase, ServiceState};
pub use domain::time::Millis;
pub use engine::{Engine, Invocation};
