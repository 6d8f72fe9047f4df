//! The runbook's resources in memory: groups, services, replicas, global databases and
//! Lambdas, with a call log and failure injection (`failures.fail_next("UpdateService")`).

use std::collections::HashMap;
use std::sync::Mutex;

use super::{injected, lock, InjectedFailures};
use crate::domain::workflow_run::{
    AuroraMove, DbInstance, GlobalCluster, GroupCapacity, InvokeAnswer, ServiceCapacity,
};
use crate::ports::{AwsError, Runbook};

#[derive(Default)]
pub struct MemRunbook {
    pub groups: Mutex<HashMap<String, GroupCapacity>>,
    pub services: Mutex<HashMap<String, ServiceCapacity>>,
    pub dbs: Mutex<HashMap<String, DbInstance>>,
    pub globals: Mutex<HashMap<String, GlobalCluster>>,
    /// Answers by function ARN (a function not listed answers `{"ok":true}`).
    pub answers: Mutex<HashMap<String, InvokeAnswer>>,
    /// The status a promoted replica or a moved global database shows at first (`available`
    /// unless set: a real promotion shows `modifying` for minutes).
    pub settle_status: Mutex<Option<String>>,
    /// Every call: `Operation key`, e.g. `UpdateAutoScalingGroup eu-west-1/asg`.
    pub calls: Mutex<Vec<String>>,
    /// Every Invoke's payload.
    pub payloads: Mutex<Vec<String>>,
    pub failures: InjectedFailures,
    /// Operations named here are refused once each (`Rejected`, as AccessDenied is).
    pub refusals: InjectedFailures,
}

impl MemRunbook {
    pub fn add_group(&self, region: &str, name: &str, min: i32, max: i32, desired: i32) {
        lock(&self.groups).insert(
            format!("{region}/{name}"),
            GroupCapacity {
                min,
                max,
                desired,
                in_service: desired,
            },
        );
    }

    pub fn add_service(&self, region: &str, cluster: &str, service: &str, desired: i32) {
        lock(&self.services).insert(
            format!("{region}/{cluster}/{service}"),
            ServiceCapacity {
                desired,
                running: desired,
            },
        );
    }

    pub fn add_replica(&self, region: &str, identifier: &str, source: &str) {
        lock(&self.dbs).insert(
            format!("{region}/{identifier}"),
            DbInstance {
                replica_of: Some(source.into()),
                status: "available".into(),
            },
        );
    }

    pub fn add_global(&self, global: &str, writer_arn: &str) {
        lock(&self.globals).insert(
            global.into(),
            GlobalCluster {
                writer_arn: Some(writer_arn.into()),
                status: "available".into(),
            },
        );
    }

    /// Calls of `operation` so far.
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.split(' ').next() == Some(operation))
            .count()
    }

    fn call(&self, op: &'static str, key: &str) -> Result<(), AwsError> {
        lock(&self.calls).push(format!("{op} {key}"));
        if self.failures.take(op) {
            return Err(injected(op));
        }
        if self.refusals.take(op) {
            return Err(AwsError::new(
                "fake",
                op,
                crate::ports::ErrorKind::Rejected,
                "AccessDenied: injected refusal",
            ));
        }
        Ok(())
    }

    fn settled(&self) -> String {
        lock(&self.settle_status)
            .clone()
            .unwrap_or_else(|| "available".into())
    }
}

impl Runbook for MemRunbook {
    async fn group(&self, region: &str, name: &str) -> Result<Option<GroupCapacity>, AwsError> {
        let key = format!("{region}/{name}");
        self.call("DescribeAutoScalingGroups", &key)?;
        Ok(lock(&self.groups).get(&key).copied())
    }

    async fn set_group(
        &self,
        region: &str,
        name: &str,
        min: i32,
        max: Option<i32>,
        desired: i32,
    ) -> Result<(), AwsError> {
        let key = format!("{region}/{name}");
        self.call("UpdateAutoScalingGroup", &key)?;
        let mut groups = lock(&self.groups);
        let g = groups.get_mut(&key).ok_or_else(|| {
            AwsError::new(
                "autoscaling",
                "UpdateAutoScalingGroup",
                crate::ports::ErrorKind::Rejected,
                format!("AutoScalingGroup name not found - {name}"),
            )
        })?;
        g.min = min;
        g.desired = desired;
        g.max = max.unwrap_or(g.max).max(desired);
        Ok(())
    }

    async fn ecs_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
    ) -> Result<Option<ServiceCapacity>, AwsError> {
        let key = format!("{region}/{cluster}/{service}");
        self.call("DescribeServices", &key)?;
        Ok(lock(&self.services).get(&key).copied())
    }

    async fn set_ecs_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        desired: i32,
    ) -> Result<(), AwsError> {
        let key = format!("{region}/{cluster}/{service}");
        self.call("UpdateService", &key)?;
        lock(&self.services).entry(key).or_default().desired = desired;
        Ok(())
    }

    async fn db_instance(
        &self,
        region: &str,
        identifier: &str,
    ) -> Result<Option<DbInstance>, AwsError> {
        let key = format!("{region}/{identifier}");
        self.call("DescribeDBInstances", &key)?;
        Ok(lock(&self.dbs).get(&key).cloned())
    }

    async fn promote_replica(&self, region: &str, identifier: &str) -> Result<(), AwsError> {
        let key = format!("{region}/{identifier}");
        self.call("PromoteReadReplica", &key)?;
        let status = self.settled();
        let mut dbs = lock(&self.dbs);
        match dbs.get_mut(&key) {
            Some(db) if db.replica_of.is_some() => {
                db.replica_of = None;
                db.status = status;
                Ok(())
            }
            _ => Err(AwsError::new(
                "rds",
                "PromoteReadReplica",
                crate::ports::ErrorKind::Rejected,
                format!("InvalidDBInstanceState: {identifier} is not a read replica"),
            )),
        }
    }

    async fn global_cluster(
        &self,
        _region: &str,
        global_cluster: &str,
    ) -> Result<Option<GlobalCluster>, AwsError> {
        self.call("DescribeGlobalClusters", global_cluster)?;
        Ok(lock(&self.globals).get(global_cluster).cloned())
    }

    async fn move_writer(
        &self,
        _region: &str,
        global_cluster: &str,
        target_cluster_arn: &str,
        how: AuroraMove,
    ) -> Result<(), AwsError> {
        let op = match how {
            AuroraMove::Switchover => "SwitchoverGlobalCluster",
            AuroraMove::FailoverAllowingDataLoss => "FailoverGlobalCluster",
        };
        self.call(op, global_cluster)?;
        let status = self.settled();
        let mut globals = lock(&self.globals);
        let g = globals.entry(global_cluster.into()).or_default();
        g.writer_arn = Some(target_cluster_arn.into());
        g.status = status;
        Ok(())
    }

    async fn invoke(&self, function_arn: &str, payload: &str) -> Result<InvokeAnswer, AwsError> {
        self.call("Invoke", function_arn)?;
        lock(&self.payloads).push(payload.into());
        Ok(lock(&self.answers)
            .get(function_arn)
            .cloned()
            .unwrap_or_else(|| InvokeAnswer {
                function_error: None,
                payload: r#"{"ok":true}"#.into(),
            }))
    }
}
