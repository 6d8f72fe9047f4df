//! Test harness for the failover functions, run against the moto AWS emulator.
//!
//! * [`Emulator`]: a private moto server per test (serialised so DynamoDB
//!   conditional writes are atomic, see `scripts/moto_server.py`), with
//!   [`Emulator::sdk_config`] for the harness's own SDK clients and
//!   [`Emulator::function_env`] for function processes.
//! * Provisioning/inspection helpers on the real SDK clients:
//!   [`create_control_table`], [`create_topic_with_queue`],
//!   [`receive_sns_messages`], [`create_health_check`], [`get_health_check`],
//!   [`put_alarm`], [`set_alarm_state`].
//! * Alarm-event fixtures from `shared/tests/fixtures/events/` and catalog
//!   helpers: [`fixture`], [`fresh_fixture`], [`observer_of`],
//!   [`put_catalog_entry`] (module `fixtures`).
//! * [`LambdaWatch`]: runs workspace function binaries under
//!   `cargo lambda watch` and invokes them with `cargo lambda invoke`.
//!
//! Tools come from the project venv (`make tools`), located by
//! `$FAILOVER_VENV` or `<workspace>/.venv`.
//!
//! ```no_run
//! use integration_tests::*;
//! use serde_json::json;
//!
//! # async fn example() {
//! let moto = Emulator::start();
//! let config = moto.sdk_config().await;
//! let table = create_control_table(&config, "failover-control").await;
//! let (topic_arn, queue_url) = create_topic_with_queue(&config, "failover-events").await;
//!
//! let mut env = moto.function_env();
//! env.push(("FAILOVER_TABLE".into(), table));
//! env.push(("ALERT_TOPIC_ARN".into(), topic_arn));
//! let lambda = LambdaWatch::start(&["alarm-trigger"], &env);
//! let response = lambda.invoke("alarm-trigger", &json!({})).await;
//! let notifications =
//!     receive_sns_messages(&config, &queue_url, std::time::Duration::from_secs(5)).await;
//! # let _ = (response, notifications);
//! # }
//! ```

pub mod bench;
pub mod drill;
mod emulator;
pub mod faults;
pub mod fixtures;
mod lambda;
mod provision;
pub mod rig;
pub mod storm;
mod support;
mod world;

pub use emulator::{
    in_region, Emulator, MotoMode, ACCESS_KEY_ID, ACCOUNT_ID, REGION, SECRET_ACCESS_KEY,
};
pub use fixtures::*;
pub use lambda::{prebuild, LambdaWatch, LambdaWatchOptions};
pub use provision::{
    create_control_table, create_health_check, create_topic_with_queue, enable_ttl,
    get_health_check, put_alarm, receive_sns_messages, set_alarm_state, unique_suffix,
    SnsAttribute, SnsEnvelope, CONTROL_TABLE_PK, CONTROL_TABLE_SK,
};
pub use support::{log_tail, venv_dir, workspace_root};
pub use world::{hc, inv, observer_arn, ClockedEngine, TestClock, World, ACCOUNT};
