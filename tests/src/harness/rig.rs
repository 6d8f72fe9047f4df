//! [`Rig`]: moto provisioned like a deployment ([`Stage`]), the recording [`AwsTap`] in
//! front of it, and the built functions under `cargo lambda watch` with their
//! `AWS_ENDPOINT_URL` on the tap. Used by the fault-injection and crash tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use failover::api::operator_response::OperatorResponse;
use failover::api::reports::{AlarmOutcome, ReconcileReport};
use serde_json::{json, Value};

use crate::harness::alerts::receive_sns_messages;
use crate::harness::emulator::{Emulator, ACCOUNT_ID, REGION};
use crate::harness::lambda_watch::{LambdaWatch, LambdaWatchOptions};
use crate::harness::provision::resources::put_catalog_entry;
use crate::harness::stage::{self, Stage};
use crate::harness::tap::{AwsTap, TappedCall};

/// The functions every rig serves.
const FUNCTIONS: [&str; 3] = ["alarm-trigger", "reconciler", "operator"];

pub struct Rig {
    pub stage: Stage,
    pub tap: AwsTap,
    pub watch: LambdaWatch,
    options: LambdaWatchOptions,
}

impl Rig {
    /// `definition` gives the catalog entry from the provisioned stage (the stage's own:
    /// `|s| s.definition.clone()`); it is written before the functions start.
    /// `invoke_timeout` is each invocation's deadline, so also how long a lease lasts.
    pub async fn start(definition: impl FnOnce(&Stage) -> Value, invoke_timeout: Duration) -> Rig {
        let emulator = tokio::task::spawn_blocking(Emulator::start)
            .await
            .expect("starting moto");
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port()));
        let stage = {
            let mut quiet = |_: String| {};
            Stage::provision(emulator, &mut quiet).await
        };
        let definition = definition(&stage);
        if definition != stage.definition {
            put_catalog_entry(
                &stage.sdk,
                stage::TABLE,
                stage::SERVICE,
                &definition.to_string(),
            )
            .await;
        }
        let tap = AwsTap::start(upstream, Instant::now()).expect("starting the tap");
        let env = stage.function_env(&tap.endpoint());
        let mut options = LambdaWatchOptions::new(&FUNCTIONS, &env);
        options.invoke_timeout = invoke_timeout;
        let watch = start_watch(options.clone()).await;
        Rig {
            stage,
            tap,
            watch,
            options,
        }
    }

    /// Stops the watcher and its function processes and starts a new one: a fresh
    /// execution environment, as Lambda gives after a crash.
    pub async fn restart_watch(&mut self) {
        let fresh = start_watch(self.options.clone()).await;
        let old = std::mem::replace(&mut self.watch, fresh);
        tokio::task::spawn_blocking(move || drop(old))
            .await
            .expect("stopping the old watcher");
    }

    /// Sets observer `i`'s alarm (0-based) to `state` in moto and returns its event.
    pub async fn alarm_event(&self, i: usize, state: &str, id: &str) -> Value {
        let o = &self.stage.observers[i];
        let previous = if state == "ALARM" { "OK" } else { "ALARM" };
        let (at, now) = self.stage.set_alarm(o.region, &o.name, state).await;
        assert_eq!(now, state);
        self.stage.event(o, state, previous, at, id)
    }

    /// Ends the lease of an unfinished transition now, as its owner's deadline passing
    /// would; returns whether there was one to end. `cargo lambda watch` announces a
    /// 600 s deadline whatever its `--timeout`, so a killed owner's lease would otherwise
    /// hold for ten minutes (on Lambda: the function's timeout, 60 s).
    pub async fn expire_lease(&self) -> bool {
        use failover::ports::{ControlStore, ControlWrite};
        let state = self
            .stage
            .store
            .load_state(stage::SERVICE)
            .await
            .expect("reading the state item");
        let mut next = state.clone();
        let Some(exec) = next.execution.as_mut().filter(|e| e.completed_at.is_none()) else {
            return false;
        };
        exec.lease_until = exec
            .lease_until
            .min(chrono::Utc::now().timestamp_millis() - 1);
        next.version += 1;
        let written = self
            .stage
            .store
            .write_control(stage::SERVICE, state.version, &next)
            .await
            .expect("writing the state item");
        assert!(
            matches!(written, ControlWrite::Written),
            "the state changed while expiring the lease"
        );
        true
    }

    /// Delivers an alarm event to alarm-trigger.
    pub async fn deliver(&self, event: &Value) -> Result<AlarmOutcome, String> {
        self.watch.invoke_as("alarm-trigger", event).await
    }

    /// Sends a request to the operator.
    pub async fn operate(&self, request: &Value) -> Result<OperatorResponse, String> {
        self.watch.invoke_as("operator", request).await
    }

    /// One scheduled reconciler run.
    pub async fn reconcile(&self, n: usize) -> Result<ReconcileReport, String> {
        let now = chrono::Utc::now();
        let tick = json!({"version": "0", "id": format!("rig-tick-{n}"),
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT_ID, "time": now.to_rfc3339(), "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/failover-reconciler")],
            "detail": {}});
        self.watch.invoke_as("reconciler", &tick).await
    }

    /// The alerts the SQS subscriber received since the last call:
    /// `(event_type, subject, message)`.
    pub async fn alerts(&self, wait: Duration) -> Vec<(String, String, String)> {
        receive_sns_messages(&self.stage.sdk, &self.stage.queue_url, wait)
            .await
            .into_iter()
            .map(|e| {
                (
                    e.attribute("event_type").unwrap_or_default(),
                    e.subject.clone(),
                    e.message.clone(),
                )
            })
            .collect()
    }
}

async fn start_watch(options: LambdaWatchOptions) -> LambdaWatch {
    tokio::task::spawn_blocking(move || LambdaWatch::start_with(options))
        .await
        .expect("starting cargo lambda watch")
}

/// The first service's outcome in an alarm-trigger response, `ignored`, or `error`.
pub fn outcome(response: &Result<AlarmOutcome, String>) -> String {
    match response {
        Ok(o) => o
            .services
            .first()
            .map(|s| s.outcome)
            .or_else(|| o.ignored.as_ref().map(|_| "ignored"))
            .unwrap_or("?")
            .to_string(),
        Err(_) => "error".into(),
    }
}

/// The UpdateHealthCheck calls moto applied.
pub fn applied_updates(calls: &[TappedCall]) -> Vec<&TappedCall> {
    calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck" && c.wrote())
        .collect()
}
