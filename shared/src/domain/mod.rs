//! The pure core: what a service is (catalog), what an alarm said (event), what was decided
//! (state, decision) and what people are told (history, alert). No SDK, no clock, no I/O:
//! everything it needs is passed in.

pub mod alert;
pub mod arn;
pub mod catalog;
pub mod decision;
pub mod event;
pub mod history;
pub mod probe;
pub mod readiness;
pub mod recovery;
pub mod state;
pub mod switch;
pub mod text;
pub mod time;
pub mod workflow;
pub mod workflow_run;
