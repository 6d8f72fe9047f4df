//! The small traits the engine needs from the outside world. Each has one AWS SDK adapter
//! (`crate::adapters::aws`); tests use the in-memory ones in `crate::testing`.

use std::collections::HashMap;
use std::future::Future;

use crate::domain::catalog::{CatalogItem, KeptVersions, ReplicaLag};
use crate::domain::decision::HealthReading;
use crate::domain::event::ObservedState;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{HealthCheckSettings, ServiceState, Vote};
use crate::domain::time::Millis;
use crate::domain::workflow_run::{
    AuroraMove, DbInstance, GlobalCluster, GroupCapacity, InvokeAnswer, ServiceCapacity,
};

use crate::domain::alert::Alert;

/// A failed AWS call, classified for retry decisions and for the alert text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation}: {message}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled, timed out, 5xx or no answer: worth retrying later.
    Unavailable,
    /// The request itself was refused (validation, not found, access denied).
    Rejected,
}

impl AwsError {
    pub fn new(
        service: &'static str,
        operation: &'static str,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        AwsError {
            service,
            operation,
            kind,
            message: message.into(),
        }
    }
}

/// The result of recording an observer's state.
#[derive(Debug, Clone, PartialEq)]
pub enum VoteWrite {
    /// The vote was newer than what the table had; here is the state after the write.
    Recorded(ServiceState),
    /// The table already had this event or a newer one from the same observer (a duplicate
    /// or reordered delivery). The state is the current one, as the failed condition returned it.
    NotNewer(ServiceState),
}

/// A conditional control write that found another version in place.
#[derive(Debug, Clone, PartialEq)]
pub enum ControlWrite {
    Written,
    /// Someone else wrote first; the current state, when the store returned it.
    Conflict(Option<Box<ServiceState>>),
}

pub trait ControlStore: Send + Sync {
    /// Every catalog item as (sk, definition JSON).
    fn load_catalog(&self) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    /// Every catalog entry with the versions kept beside it, in the same one Query.
    fn load_catalog_items(&self)
        -> impl Future<Output = Result<Vec<CatalogItem>, AwsError>> + Send;
    /// Writes entry `service`'s kept versions if their stored `rev` is still
    /// `expected_rev` (0: none stored); `next.rev` must be `expected_rev + 1`. `false`:
    /// another writer was first.
    fn write_kept(
        &self,
        service: &str,
        expected_rev: u64,
        next: &KeptVersions,
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    fn load_state(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<ServiceState, AwsError>> + Send;
    /// The states of many services (BatchGetItem, [`MAX_STATES_PER_READ`] keys a call, the
    /// keys DynamoDB leaves unprocessed asked again); a service without an item has the
    /// default state, like [`Self::load_state`].
    fn load_states(
        &self,
        services: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ServiceState>, AwsError>> + Send;
    /// Records the vote only if it is newer than the observer's last one. One round trip.
    fn record_vote(
        &self,
        service: &str,
        observer: &str,
        vote: &Vote,
    ) -> impl Future<Output = Result<VoteWrite, AwsError>> + Send;
    /// Writes the control part of `next` (everything but the votes) if the stored version is
    /// still `expected_version`. `next.version` must be `expected_version + 1`.
    fn write_control(
        &self,
        service: &str,
        expected_version: u64,
        next: &ServiceState,
    ) -> impl Future<Output = Result<ControlWrite, AwsError>> + Send;
    /// Marks the given ALARM votes (observer, the vote's `at`) confirmed at `confirmed_at`
    /// if every one is still that ALARM vote; one conditional round trip. `Recorded`: the
    /// state after the write; `NotNewer`: a vote changed meanwhile (a newer event won),
    /// nothing written, the current state.
    fn confirm_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
        confirmed_at: Millis,
    ) -> impl Future<Output = Result<VoteWrite, AwsError>> + Send;
    /// Removes the given votes (observer, the vote's `at`) if they are still those votes.
    /// Returns whether they were removed (a newer vote in the meantime keeps them all).
    fn expire_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
    ) -> impl Future<Output = Result<bool, AwsError>> + Send;
    /// The newest `limit` audit records, newest first.
    fn recent_history(
        &self,
        service: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<HistoryRecord>, AwsError>> + Send;
    /// Appends an audit record; writing the same record twice keeps one.
    fn append_history(
        &self,
        service: &str,
        record: &HistoryRecord,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A Route 53 health check's flags and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub settings: HealthCheckSettings,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("health check version {sent} is no longer current")]
    VersionMismatch { sent: i64 },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// BatchGetItem takes at most this many keys a call.
pub const MAX_STATES_PER_READ: usize = 100;
/// ListHealthChecks returns at most this many checks a call.
pub const MAX_HEALTH_CHECKS_PER_PAGE: usize = 1000;

/// One page of the account's health checks (ListHealthChecks), by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthCheckPage {
    pub checks: Vec<(String, HealthCheckConfig)>,
    /// Where the next page starts; `None` after the last.
    pub next_marker: Option<String>,
}

/// Route 53's health checks, through its API (a control plane served from us-east-1, on a
/// per-account budget). The adapter paces every call with one token bucket per process;
/// `get`, `update` and `status` (the deciding path) go before `list_page` (the background).
pub trait HealthChecks: Send + Sync {
    fn get(&self, id: &str) -> impl Future<Output = Result<HealthCheckConfig, AwsError>> + Send;
    /// Up to [`MAX_HEALTH_CHECKS_PER_PAGE`] checks from `marker` (`None`: the first page).
    fn list_page(
        &self,
        marker: Option<&str>,
    ) -> impl Future<Output = Result<HealthCheckPage, AwsError>> + Send;
    /// Sets the flags if the check is still at `version`; returns the stored result.
    fn update(
        &self,
        id: &str,
        version: i64,
        settings: HealthCheckSettings,
    ) -> impl Future<Output = Result<HealthCheckConfig, UpdateError>> + Send;
    fn status(&self, id: &str) -> impl Future<Output = Result<HealthReading, AwsError>> + Send;
}

/// DescribeAlarms takes at most this many alarm names a call.
pub const MAX_ALARMS_PER_READ: usize = 100;

/// GetMetricData takes at most this many series a call.
pub const MAX_SERIES_PER_READ: usize = 500;
/// PutMetricData takes at most this many values a call.
pub const MAX_VALUES_PER_PUT: usize = 1000;

/// A metric's datapoint: when, and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    pub at: Millis,
    pub value: f64,
}

/// CloudWatch, a regional data plane: alarms, metric reads and the switch metric.
pub trait CloudWatch: Send + Sync {
    /// The alarm's current state (region from its ARN); `None` when it does not exist.
    fn alarm_state(
        &self,
        alarm_arn: &str,
    ) -> impl Future<Output = Result<Option<ObservedState>, AwsError>> + Send;
    /// The current state of up to [`MAX_ALARMS_PER_READ`] alarms of `region`, by alarm
    /// name, in one call (DescribeAlarms); an alarm that does not exist is absent.
    fn alarm_states(
        &self,
        region: &str,
        alarm_names: &[String],
    ) -> impl Future<Output = Result<HashMap<String, ObservedState>, AwsError>> + Send;
    /// The metric's latest value over the last few minutes; `None` without datapoints.
    fn replica_lag(
        &self,
        spec: &ReplicaLag,
        now: Millis,
    ) -> impl Future<Output = Result<Option<f64>, AwsError>> + Send;
    /// Publishes the switch metric (`domain::switch`: `RegionalFailover` / `PrimaryForcedOut`,
    /// dimension `Service`) for each (service, value) in `region`, timestamped `now`, with
    /// as few PutMetricData calls as fit ([`MAX_VALUES_PER_PUT`] a call).
    fn put_switch_values(
        &self,
        region: &str,
        values: &[(String, f64)],
        now: Millis,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The switch metric's latest datapoint per service in `region` over the last few
    /// minutes (GetMetricData, [`MAX_SERIES_PER_READ`] series a call); a service without
    /// one is absent.
    fn switch_values(
        &self,
        region: &str,
        services: &[String],
        now: Millis,
    ) -> impl Future<Output = Result<HashMap<String, Datapoint>, AwsError>> + Send;
    /// Route 53's `HealthCheckStatus` (`AWS/Route53`, us-east-1; 1 healthy, 0 unhealthy)
    /// per health check id, the Minimum of each minute from `from` to `now`, oldest first
    /// (GetMetricData, [`MAX_SERIES_PER_READ`] series a call); a check without data is absent.
    fn health_statuses(
        &self,
        health_check_ids: &[String],
        from: Millis,
        now: Millis,
    ) -> impl Future<Output = Result<HashMap<String, Vec<Datapoint>>, AwsError>> + Send;
}

pub trait Notifier: Send + Sync {
    /// Publishes and returns the message id.
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<String, AwsError>> + Send;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

/// The runbook's resources in the secondary region (`domain::workflow`): Auto Scaling
/// groups, ECS services, RDS replicas, Aurora global databases and the user's Lambdas. The
/// region of each call is the step's (`region`, or the ARN's). `None`: the resource does
/// not exist (a read that found nothing, not an error).
pub trait Runbook: Send + Sync {
    /// DescribeAutoScalingGroups.
    fn group(
        &self,
        region: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<GroupCapacity>, AwsError>> + Send;
    /// UpdateAutoScalingGroup: MinSize, DesiredCapacity and, when given, MaxSize.
    fn set_group(
        &self,
        region: &str,
        name: &str,
        min: i32,
        max: Option<i32>,
        desired: i32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DescribeServices.
    fn ecs_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = Result<Option<ServiceCapacity>, AwsError>> + Send;
    /// UpdateService: desiredCount.
    fn set_ecs_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        desired: i32,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DescribeDBInstances.
    fn db_instance(
        &self,
        region: &str,
        identifier: &str,
    ) -> impl Future<Output = Result<Option<DbInstance>, AwsError>> + Send;
    /// PromoteReadReplica.
    fn promote_replica(
        &self,
        region: &str,
        identifier: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// DescribeGlobalClusters, asked in `region`.
    fn global_cluster(
        &self,
        region: &str,
        global_cluster: &str,
    ) -> impl Future<Output = Result<Option<GlobalCluster>, AwsError>> + Send;
    /// SwitchoverGlobalCluster, or FailoverGlobalCluster with AllowDataLoss, in `region`.
    fn move_writer(
        &self,
        region: &str,
        global_cluster: &str,
        target_cluster_arn: &str,
        how: AuroraMove,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// Invoke (RequestResponse) with a JSON payload; the function's own failure is in the
    /// answer (`function_error`), not an `AwsError`.
    fn invoke(
        &self,
        function_arn: &str,
        payload: &str,
    ) -> impl Future<Output = Result<InvokeAnswer, AwsError>> + Send;
}

/// A deployment without runbook clients: every call is refused, so a workflow step fails
/// (and pages) instead of being skipped silently. Services without a workflow never call it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRunbook;

impl NoRunbook {
    fn refused(operation: &'static str) -> AwsError {
        AwsError::new(
            "runbook",
            operation,
            ErrorKind::Rejected,
            "this engine was built without runbook clients",
        )
    }
}

impl Runbook for NoRunbook {
    async fn group(&self, _: &str, _: &str) -> Result<Option<GroupCapacity>, AwsError> {
        Err(Self::refused("DescribeAutoScalingGroups"))
    }
    async fn set_group(
        &self,
        _: &str,
        _: &str,
        _: i32,
        _: Option<i32>,
        _: i32,
    ) -> Result<(), AwsError> {
        Err(Self::refused("UpdateAutoScalingGroup"))
    }
    async fn ecs_service(
        &self,
        _: &str,
        _: &str,
        _: &str,
    ) -> Result<Option<ServiceCapacity>, AwsError> {
        Err(Self::refused("DescribeServices"))
    }
    async fn set_ecs_service(&self, _: &str, _: &str, _: &str, _: i32) -> Result<(), AwsError> {
        Err(Self::refused("UpdateService"))
    }
    async fn db_instance(&self, _: &str, _: &str) -> Result<Option<DbInstance>, AwsError> {
        Err(Self::refused("DescribeDBInstances"))
    }
    async fn promote_replica(&self, _: &str, _: &str) -> Result<(), AwsError> {
        Err(Self::refused("PromoteReadReplica"))
    }
    async fn global_cluster(&self, _: &str, _: &str) -> Result<Option<GlobalCluster>, AwsError> {
        Err(Self::refused("DescribeGlobalClusters"))
    }
    async fn move_writer(&self, _: &str, _: &str, _: &str, _: AuroraMove) -> Result<(), AwsError> {
        Err(Self::refused("SwitchoverGlobalCluster"))
    }
    async fn invoke(&self, _: &str, _: &str) -> Result<InvokeAnswer, AwsError> {
        Err(Self::refused("Invoke"))
    }
}
