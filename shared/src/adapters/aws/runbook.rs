//! The runbook's steps over the AWS SDK: Auto Scaling groups, ECS services, RDS read
//! replicas, Aurora global databases and the user's Lambdas, each in the region the step
//! names (one client per service and region, built on first use and kept).
//!
//! A read of something that does not exist answers `Ok(None)`, as the in-memory twin
//! (`testing::MemRunbook`) does; every other failure is classified by [`classify`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{Region, SdkConfig};
use aws_sdk_autoscaling::types::{AutoScalingGroup, LifecycleState};
use aws_sdk_ecs::operation::describe_services::{DescribeServicesError, DescribeServicesOutput};
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
use aws_sdk_rds::operation::describe_global_clusters::DescribeGlobalClustersError;
use aws_smithy_types::Blob;

use super::classify;
use crate::domain::workflow::arn_region;
use crate::domain::workflow_run::{
    AuroraMove, DbInstance, GlobalCluster, GroupCapacity, InvokeAnswer, ServiceCapacity,
    INVOKE_TIMEOUT_MS,
};
use crate::ports::{AwsError, ErrorKind, Runbook};

/// The most of a function's answer kept (it goes into the audit history and an alert).
pub const MAX_INVOKE_PAYLOAD_BYTES: usize = 4096;
/// How long the user's function may take to answer. One attempt only: a retried Invoke
/// would run the function twice, so a timeout is left to the workflow's own retry.
const INVOKE_TIMEOUT: Duration = Duration::from_millis(INVOKE_TIMEOUT_MS as u64);

/// One client per region, built from the shared configuration the first time a region is
/// asked for, then reused (a client holds its connection pool).
pub(crate) struct RegionClients<C> {
    sdk: SdkConfig,
    build: fn(&SdkConfig, Region) -> C,
    clients: Mutex<HashMap<String, C>>,
}

impl<C: Clone> RegionClients<C> {
    pub(crate) fn new(sdk: &SdkConfig, build: fn(&SdkConfig, Region) -> C) -> Self {
        RegionClients {
            sdk: sdk.clone(),
            build,
            clients: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, region: &str) -> C {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| (self.build)(&self.sdk, Region::new(region.to_string())))
            .clone()
    }

    /// A ready-made client for `region` (tests: a mocked one).
    #[cfg(test)]
    pub(crate) fn insert(&self, region: &str, client: C) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.insert(region.to_string(), client);
    }
}

impl<C> std::fmt::Debug for RegionClients<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("RegionClients")
            .field("regions", &clients.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[derive(Debug)]
pub struct AwsRunbook {
    pub(crate) autoscaling: RegionClients<aws_sdk_autoscaling::Client>,
    pub(crate) ecs: RegionClients<aws_sdk_ecs::Client>,
    pub(crate) rds: RegionClients<aws_sdk_rds::Client>,
    pub(crate) lambda: RegionClients<aws_sdk_lambda::Client>,
}

impl AwsRunbook {
    pub fn new(sdk: &SdkConfig) -> Self {
        AwsRunbook {
            autoscaling: RegionClients::new(sdk, |sdk, region| {
                let conf = aws_sdk_autoscaling::config::Builder::from(sdk).region(region);
                aws_sdk_autoscaling::Client::from_conf(conf.build())
            }),
            ecs: RegionClients::new(sdk, |sdk, region| {
                let conf = aws_sdk_ecs::config::Builder::from(sdk).region(region);
                aws_sdk_ecs::Client::from_conf(conf.build())
            }),
            rds: RegionClients::new(sdk, |sdk, region| {
                let conf = aws_sdk_rds::config::Builder::from(sdk).region(region);
                aws_sdk_rds::Client::from_conf(conf.build())
            }),
            lambda: RegionClients::new(sdk, |sdk, region| {
                let conf = aws_sdk_lambda::config::Builder::from(sdk)
                    .region(region)
                    .retry_config(RetryConfig::standard().with_max_attempts(1))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(Duration::from_secs(2))
                            .operation_attempt_timeout(INVOKE_TIMEOUT)
                            .operation_timeout(INVOKE_TIMEOUT)
                            .build(),
                    );
                aws_sdk_lambda::Client::from_conf(conf.build())
            }),
        }
    }
}

fn refused(service: &'static str, operation: &'static str, message: String) -> AwsError {
    AwsError::new(service, operation, ErrorKind::Rejected, message)
}

/// A group's sizes; InService counts only instances in that lifecycle state.
pub(crate) fn group_capacity(g: &AutoScalingGroup) -> GroupCapacity {
    let in_service = g
        .instances()
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
        .count();
    GroupCapacity {
        min: g.min_size().unwrap_or_default(),
        max: g.max_size().unwrap_or_default(),
        desired: g.desired_capacity().unwrap_or_default(),
        in_service: i32::try_from(in_service).unwrap_or(i32::MAX),
    }
}

/// DescribeServices answers an unknown service with a `MISSING` failure, and keeps a
/// deleted one for a while as `INACTIVE`: both are "no such service". Any other failure
/// (a refusal for that service) is an error.
pub(crate) fn service_capacity(
    out: &DescribeServicesOutput,
    service: &str,
) -> Result<Option<ServiceCapacity>, AwsError> {
    if let Some(f) = out.failures().first() {
        return match f.reason() {
            Some("MISSING") => Ok(None),
            reason => Err(refused(
                "ecs",
                "DescribeServices",
                format!(
                    "{service}: {} {}",
                    reason.unwrap_or("failure"),
                    f.detail().unwrap_or_default()
                ),
            )),
        };
    }
    Ok(out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
        .map(|s| ServiceCapacity {
            desired: s.desired_count(),
            running: s.running_count(),
        }))
}

/// The writer is the member with `IsWriter`; the status is the global cluster's own.
pub(crate) fn global_cluster_of(g: &aws_sdk_rds::types::GlobalCluster) -> GlobalCluster {
    GlobalCluster {
        writer_arn: g
            .global_cluster_members()
            .iter()
            .find(|m| m.is_writer() == Some(true))
            .and_then(|m| m.db_cluster_arn())
            .map(str::to_string),
        status: g.status().unwrap_or_default().to_string(),
    }
}

/// The function's answer as text (invalid UTF-8 replaced), cut at a character boundary
/// to at most [`MAX_INVOKE_PAYLOAD_BYTES`].
pub(crate) fn answer_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(MAX_INVOKE_PAYLOAD_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl Runbook for AwsRunbook {
    async fn group(&self, region: &str, name: &str) -> Result<Option<GroupCapacity>, AwsError> {
        let out = self
            .autoscaling
            .get(region)
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "DescribeAutoScalingGroups", &e))?;
        // An unknown name is an empty list, not an error.
        Ok(out
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(name))
            .map(group_capacity))
    }

    async fn set_group(
        &self,
        region: &str,
        name: &str,
        min: i32,
        max: Option<i32>,
        desired: i32,
    ) -> Result<(), AwsError> {
        // Without a max of its own, the step still gets its desired capacity: the group's
        // max is raised to it when lower (AWS refuses a desired capacity above the max), as
        // the in-memory twin does.
        let max = match max {
            Some(m) => Some(m),
            None => match self.group(region, name).await? {
                Some(g) if g.max < desired => Some(desired),
                _ => None,
            },
        };
        self.autoscaling
            .get(region)
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(min)
            .desired_capacity(desired)
            .set_max_size(max)
            .send()
            .await
            .map_err(|e| classify("autoscaling", "UpdateAutoScalingGroup", &e))?;
        Ok(())
    }

    async fn ecs_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
    ) -> Result<Option<ServiceCapacity>, AwsError> {
        let answer = self
            .ecs
            .get(region)
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await;
        match answer {
            Ok(out) => service_capacity(&out, service),
            // No cluster, so no such service either.
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DescribeServicesError::ClusterNotFoundException(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("ecs", "DescribeServices", &e)),
        }
    }

    async fn set_ecs_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        desired: i32,
    ) -> Result<(), AwsError> {
        self.ecs
            .get(region)
            .update_service()
            .cluster(cluster)
            .service(service)
            .desired_count(desired)
            .send()
            .await
            .map_err(|e| classify("ecs", "UpdateService", &e))?;
        Ok(())
    }

    async fn db_instance(
        &self,
        region: &str,
        identifier: &str,
    ) -> Result<Option<DbInstance>, AwsError> {
        let answer = self
            .rds
            .get(region)
            .describe_db_instances()
            .db_instance_identifier(identifier)
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DescribeDBInstancesError::DbInstanceNotFoundFault(_))
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(classify("rds", "DescribeDBInstances", &e)),
        };
        // RDS keeps identifiers in lower case, whatever case they were asked in.
        let this = |db: &&aws_sdk_rds::types::DbInstance| {
            db.db_instance_identifier()
                .is_some_and(|id| id.eq_ignore_ascii_case(identifier))
        };
        Ok(out.db_instances().iter().find(this).map(|db| DbInstance {
            // A cross-region replica names its source by ARN; empty means none.
            replica_of: db
                .read_replica_source_db_instance_identifier()
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            status: db.db_instance_status().unwrap_or_default().to_string(),
        }))
    }

    async fn promote_replica(&self, region: &str, identifier: &str) -> Result<(), AwsError> {
        self.rds
            .get(region)
            .promote_read_replica()
            .db_instance_identifier(identifier)
            .send()
            .await
            .map_err(|e| classify("rds", "PromoteReadReplica", &e))?;
        Ok(())
    }

    async fn global_cluster(
        &self,
        region: &str,
        global_cluster: &str,
    ) -> Result<Option<GlobalCluster>, AwsError> {
        let answer = self
            .rds
            .get(region)
            .describe_global_clusters()
            .global_cluster_identifier(global_cluster)
            .send()
            .await;
        match answer {
            // Only the one asked for (moto answers every global cluster, whatever was asked).
            Ok(out) => Ok(out
                .global_clusters()
                .iter()
                .find(|g| {
                    g.global_cluster_identifier()
                        .is_some_and(|id| id.eq_ignore_ascii_case(global_cluster))
                })
                .map(global_cluster_of)),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(DescribeGlobalClustersError::GlobalClusterNotFoundFault(_))
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("rds", "DescribeGlobalClusters", &e)),
        }
    }

    async fn move_writer(
        &self,
        region: &str,
        global_cluster: &str,
        target_cluster_arn: &str,
        how: AuroraMove,
    ) -> Result<(), AwsError> {
        let rds = self.rds.get(region);
        match how {
            AuroraMove::Switchover => rds
                .switchover_global_cluster()
                .global_cluster_identifier(global_cluster)
                .target_db_cluster_identifier(target_cluster_arn)
                .send()
                .await
                .map(drop)
                .map_err(|e| classify("rds", "SwitchoverGlobalCluster", &e)),
            AuroraMove::FailoverAllowingDataLoss => rds
                .failover_global_cluster()
                .global_cluster_identifier(global_cluster)
                .target_db_cluster_identifier(target_cluster_arn)
                .allow_data_loss(true)
                .send()
                .await
                .map(drop)
                .map_err(|e| classify("rds", "FailoverGlobalCluster", &e)),
        }
    }

    async fn invoke(&self, function_arn: &str, payload: &str) -> Result<InvokeAnswer, AwsError> {
        let region = arn_region(function_arn);
        if region.is_empty() {
            return Err(refused(
                "lambda",
                "Invoke",
                format!("{function_arn}: not a function ARN with a region"),
            ));
        }
        let out = self
            .lambda
            .get(region)
            .invoke()
            .function_name(function_arn)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.as_bytes()))
            .send()
            .await
            .map_err(|e| classify("lambda", "Invoke", &e))?;
        Ok(InvokeAnswer {
            function_error: out.function_error().map(str::to_string),
            payload: answer_text(out.payload().map(Blob::as_ref).unwrap_or_default()),
        })
    }
}

#[cfg(test)]
#[path = "runbook_mock_tests.rs"]
mod mock_tests;
