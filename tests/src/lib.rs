//! Test harness for the failover functions, run against the moto AWS emulator on
//! loopback. Tests reach nothing else.
//!
//! [`harness`], one module per role:
//! * [`harness::emulator`]: [`Emulator`], a private moto server per test (serialised so
//!   DynamoDB conditional writes are atomic, see `scripts/moto_server.py`).
//! * [`harness::provision`]: the one provisioning path. A [`harness::provision::ControlPlane`]
//!   (control table, alert topic with an SQS subscriber) and services made by
//!   [`harness::provision::provision_service`]; the SDK calls they are made of in
//!   [`harness::provision::resources`]. [`harness::alerts`] reads what reached the topic.
//! * The beds built on it: [`World`] (one service, the engine in this process over the
//!   real SDK adapters), [`harness::stage::Stage`] (a deployment-like `checkout` with the
//!   Route 53 record pair, for function processes and the drill) and
//!   [`harness::rig::Rig`] (a stage, a tap and the functions under `cargo lambda watch`).
//! * [`harness::tap`]: [`harness::tap::AwsTap`], the one recorder of AWS calls (a proxy
//!   in front of moto: calls counted on the wire, [`harness::tap::round_trips`]) and the
//!   one fault injector on the wire ([`harness::tap::faults`]). [`harness::failing_ports`]
//!   fails one port call at an exact step instead, in process; [`harness::random`] is the
//!   one seeded generator.
//! * Two ways to run the functions through the Lambda Runtime API:
//!   [`harness::lambda_watch`] ([`LambdaWatch`]: `cargo lambda watch` and
//!   `cargo lambda invoke`, debug builds; the tests and the drill) and
//!   [`harness::runtime_api`] (our own Runtime API and the shipped `bootstrap`
//!   processes; the bench).
//! * [`harness::process`]: child processes, free ports, log files.
//!
//! Beside it: [`fixtures`] (the alarm-event fixtures of `shared/tests/fixtures/events/`),
//! [`storm`] (alarm storms), [`drill`] (the scripted drill and its reports) and [`bench`]
//! (`make bench`).
//!
//! Tools come from the project venv (`make tools`), located by `$FAILOVER_VENV` or
//! `<workspace>/.venv`.
//!
//! ```no_run
//! use integration_tests::*;
//! use serde_json::json;
//!
//! # async fn example() {
//! let w = World::start(json!({})).await;
//! let mut env = w.emulator.function_env();
//! env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
//! env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
//! let lambda = LambdaWatch::start(&["alarm-trigger"], &env);
//! let response = lambda.invoke("alarm-trigger", &json!({})).await;
//! let alerts = w.alerts().await;
//! # let _ = (response, alerts);
//! # }
//! ```

pub mod bench;
pub mod drill;
pub mod fixtures;
pub mod harness;
pub mod storm;

pub use fixtures::*;
pub use harness::alerts::{receive_sns_messages, SnsAttribute, SnsEnvelope};
pub use harness::emulator::{
    in_region, Emulator, MotoMode, ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY,
};
pub use harness::lambda_watch::{prebuild, LambdaWatch, LambdaWatchOptions};
pub use harness::process::{log_tail, venv_dir, workspace_root};
pub use harness::provision::resources::{
    create_control_table, create_health_check, create_topic_with_queue, enable_ttl,
    get_health_check, put_alarm, put_catalog_entry, set_alarm_state, unique_suffix,
    CONTROL_TABLE_PK, CONTROL_TABLE_SK,
};
pub use harness::world::{hc, inv, observer_arn, ClockedEngine, TestClock, World, ACCOUNT};
