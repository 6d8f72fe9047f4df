//! The failover drill: a whole incident through the real Lambda runtime.
//!
//! [`run`] starts a moto server, provisions what a deployment would have (see
//! [`stage`]), starts the three functions under `cargo lambda watch` and drives a
//! scripted incident ([`Scenario`]) through `cargo lambda invoke`: alarm states set in the
//! emulator and the matching events delivered, duplicates, a stale redelivery, a
//! reconciler run, the operator. Every step's result is checked against what the
//! product must do; the timeline, a summary (latencies, AWS calls, alerts, Route 53, RTO
//! budget) and the checks come back as a [`DrillReport`], which [`report`] writes as JSON
//! and as a self-contained HTML page.
//!
//! The functions reach moto through an [`AwsTap`] (a recording proxy on loopback), so
//! every AWS call they make is counted on the wire; the drill's own calls go to moto
//! directly and are not counted.
//!
//! Everything the drill starts (moto, the tap, `cargo lambda watch` and the function
//! processes) is owned by values that stop it on drop: dropping the future returned by
//! [`run`] (e.g. on Ctrl-C) or a panic cleans up too.
//!
//! Modules: [`scenario`] (the scripts; [`outage`]: Route 53's API down; [`runbook`]: the workflow), `run` (driving the incident) and `step` (one
//! step of it), `checks` (what must hold), `latency` (the decision's latencies and the
//! RTO budget), `timeline`, `describe` (one-line descriptions), [`report`] (JSON, HTML).

mod checks;
mod describe;
mod latency;
pub mod outage;
pub mod report;
mod run;
pub mod runbook;
pub mod scenario;
mod step;
mod timeline;

use std::path::PathBuf;

pub use checks::Check;
pub use describe::describe_calls;
pub use latency::{Latency, RtoBudget};
pub use report::{AlertSeen, DrillReport, StepRecord, Switch};
pub use run::run;
pub use scenario::{Act, Expect, Scenario, Step, Totals};
pub use timeline::{Kind, Line, Timeline};

// The harness's provisioning and tap, as the drill's modules name them.
use crate::harness::stage::{
    self, Change, HealthCheckFlags, RecordView, Snapshot, Stage, SwitchAlarm, SwitchView,
};
use crate::harness::tap::{self, AwsTap, TappedCall};

use crate::workspace_root;

/// The functions the drill runs.
pub const FUNCTIONS: [&str; 3] = ["alarm-trigger", "operator", "reconciler"];

/// How to run a drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub scenario: Scenario,
    /// Where `report.json` and `report.html` go (created if missing); `None`: no files.
    pub out_dir: Option<PathBuf>,
    /// Print the timeline while the drill runs (the demo); otherwise it is only kept in
    /// the report (the tests print it when a check fails).
    pub echo: bool,
}

impl DrillOptions {
    /// The demo's defaults: print as it goes, reports under `target/drill/`.
    pub fn demo(scenario: Scenario) -> Self {
        DrillOptions {
            scenario,
            out_dir: Some(default_out_dir()),
            echo: true,
        }
    }
}

/// `<workspace>/target/drill`.
pub fn default_out_dir() -> PathBuf {
    workspace_root().join("target/drill")
}
