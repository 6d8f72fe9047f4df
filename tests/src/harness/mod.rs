//! Standing the system up for a test, one module per role (see the crate docs).

pub mod alerts;
pub mod emulator;
pub mod failing_ports;
pub mod lambda_watch;
pub mod process;
pub mod provision;
pub mod random;
pub mod rig;
pub mod runtime_api;
pub mod stage;
pub mod tap;
pub mod world;
