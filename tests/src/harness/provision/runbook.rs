//! The workflow's resources (issue 16) in moto, and their read-backs: an Auto Scaling
//! group and an ECS service in the secondary region, pre-warmed below full capacity, and
//! an RDS instance in the primary region with a cross-region read replica in the
//! secondary (moto 5.2.5 creates it from the source's ARN, as RDS does). [`workflow`]
//! and [`capacity_floor`] give the catalog's `workflow` and `preflight.capacity` on them
//! (see [`super::ServiceSpec::workflow`]).
//!
//! What moto does and does not do here (checked against moto 5.2.5):
//! - the group needs a launch configuration (any image id; no EC2 call, so no EC2 crate)
//!   and starts `desired` instances InService at once; UpdateAutoScalingGroup moves them;
//! - an ECS service starts with runningCount 0 (moto runs no task); UpdateService sets
//!   runningCount to the new desiredCount, so one UpdateService at the pre-warm count makes
//!   the service read as running, as ECS would once its tasks started;
//! - stock moto's PromoteReadReplica keeps `ReadReplicaSourceDBInstanceIdentifier` (and
//!   the source's `ReadReplicaDBInstanceIdentifiers`), so a promoted instance would still
//!   read as a replica: `scripts/moto_server.py` (how the harness runs moto) detaches it
//!   as RDS does, cross-region sources included.
//!
//! Like [`super::resources`], these panic with the operation and the SDK error: they set
//! up and inspect fixtures, they are not the code under test.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use serde_json::{json, Value};

use super::{PRIMARY_REGION, SECONDARY_REGION};
use crate::harness::emulator::in_region;

fn fail(operation: &str, error: impl std::error::Error) -> ! {
    panic!("{operation} failed: {}", DisplayErrorContext(&error))
}

/// Capacities of the pre-warmed secondary and of the scale steps' targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunbookCapacity {
    /// The group's min and desired while passive (also its `on_failback`), and its max.
    pub group_warm: i32,
    pub group_max: i32,
    /// The group's min and desired after the failover.
    pub group_full: i32,
    /// The ECS service's desired count while passive (also its `on_failback`) and after.
    pub service_warm: i32,
    pub service_full: i32,
}

impl Default for RunbookCapacity {
    fn default() -> Self {
        RunbookCapacity {
            group_warm: 2,
            group_max: 12,
            group_full: 6,
            service_warm: 2,
            service_full: 8,
        }
    }
}

/// What [`provision_runbook`] created, by name and ARN.
#[derive(Debug, Clone)]
pub struct RunbookResources {
    /// Where the group, the ECS service and the replica are (the secondary region).
    pub region: &'static str,
    pub capacity: RunbookCapacity,
    pub launch_configuration: String,
    pub group: String,
    pub group_arn: String,
    pub cluster: String,
    pub ecs_service: String,
    pub ecs_service_arn: String,
    /// The writer, in the primary region.
    pub primary_db_region: &'static str,
    pub primary_db: String,
    pub primary_db_arn: String,
    /// Its read replica, in the secondary region.
    pub replica: String,
    pub replica_arn: String,
}

/// An Auto Scaling group as DescribeAutoScalingGroups reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRead {
    pub min: i32,
    pub desired: i32,
    pub max: i32,
    pub in_service: usize,
}

impl std::fmt::Display for GroupRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "min {} desired {} max {} ({} InService)",
            self.min, self.desired, self.max, self.in_service
        )
    }
}

/// An ECS service as DescribeServices reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRead {
    pub desired: i32,
    pub running: i32,
}

impl std::fmt::Display for ServiceRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "desired {} ({} running)", self.desired, self.running)
    }
}

/// An RDS instance's role as DescribeDBInstances reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbRead {
    /// `ReadReplicaSourceDBInstanceIdentifier`: a replica while it has one.
    pub replica_of: Option<String>,
    pub status: String,
}

impl DbRead {
    pub fn standalone(&self) -> bool {
        self.replica_of.is_none()
    }
}

impl std::fmt::Display for DbRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.replica_of {
            Some(src) => write!(f, "read replica of {src}, {}", self.status),
            None => write!(f, "standalone, {}", self.status),
        }
    }
}

/// Creates `<service>-asg` (launch configuration `<service>-web`), cluster
/// `<service>-prod` with service `<service>-api`, `<service>-db` in the primary region and
/// its replica `<service>-replica` in the secondary, at `capacity`'s warm counts.
pub async fn provision_runbook(
    sdk: &SdkConfig,
    service: &str,
    capacity: RunbookCapacity,
) -> RunbookResources {
    let region = SECONDARY_REGION;
    let secondary = in_region(sdk, region);
    let (launch_configuration, group) = (format!("{service}-web"), format!("{service}-asg"));
    let asg = aws_sdk_autoscaling::Client::new(&secondary);
    asg.create_launch_configuration()
        .launch_configuration_name(&launch_configuration)
        .image_id("ami-00000000")
        .instance_type("t3.micro")
        .send()
        .await
        .unwrap_or_else(|e| {
            fail(
                &format!("CreateLaunchConfiguration {launch_configuration}"),
                e,
            )
        });
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .launch_configuration_name(&launch_configuration)
        .min_size(capacity.group_warm)
        .desired_capacity(capacity.group_warm)
        .max_size(capacity.group_max)
        .availability_zones(format!("{region}a"))
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateAutoScalingGroup {group}"), e));
    let group_arn = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&group)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("DescribeAutoScalingGroups {group}"), e))
        .auto_scaling_groups()
        .first()
        .and_then(|g| g.auto_scaling_group_arn())
        .unwrap_or_else(|| panic!("DescribeAutoScalingGroups {group}: no ARN"))
        .to_string();

    let (cluster, ecs_service) = (format!("{service}-prod"), format!("{service}-api"));
    let ecs = aws_sdk_ecs::Client::new(&secondary);
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateCluster {cluster}"), e));
    let ecs_service_arn = ecs
        .create_service()
        .cluster(&cluster)
        .service_name(&ecs_service)
        .desired_count(capacity.service_warm)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateService {ecs_service}"), e))
        .service()
        .and_then(|s| s.service_arn())
        .unwrap_or_else(|| panic!("CreateService {ecs_service}: no ARN"))
        .to_string();
    // moto runs no task: UpdateService is what makes it report the tasks running.
    ecs.update_service()
        .cluster(&cluster)
        .service(&ecs_service)
        .desired_count(capacity.service_warm)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("UpdateService {ecs_service}"), e));

    let (primary_db, replica) = (format!("{service}-db"), format!("{service}-replica"));
    let primary_db_arn = aws_sdk_rds::Client::new(&in_region(sdk, PRIMARY_REGION))
        .create_db_instance()
        .db_instance_identifier(&primary_db)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .master_username("drill")
        .master_user_password("drill-password-1")
        .allocated_storage(20)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateDBInstance {primary_db}"), e))
        .db_instance()
        .and_then(|d| d.db_instance_arn())
        .unwrap_or_else(|| panic!("CreateDBInstance {primary_db}: no ARN"))
        .to_string();
    // Cross-region: the source is named by its ARN, as RDS requires.
    let replica_arn = aws_sdk_rds::Client::new(&secondary)
        .create_db_instance_read_replica()
        .db_instance_identifier(&replica)
        .source_db_instance_identifier(&primary_db_arn)
        .db_instance_class("db.t3.micro")
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateDBInstanceReadReplica {replica}"), e))
        .db_instance()
        .and_then(|d| d.db_instance_arn())
        .unwrap_or_else(|| panic!("CreateDBInstanceReadReplica {replica}: no ARN"))
        .to_string();

    RunbookResources {
        region,
        capacity,
        launch_configuration,
        group,
        group_arn,
        cluster,
        ecs_service,
        ecs_service_arn,
        primary_db_region: PRIMARY_REGION,
        primary_db,
        primary_db_arn,
        replica,
        replica_arn,
    }
}

impl RunbookResources {
    /// The catalog's `workflow` on these resources: scale the group, then the ECS
    /// service (automatic, both scaled back on failback), then promote the replica
    /// (approval required: the kind's default).
    pub fn workflow(&self) -> Value {
        let c = self.capacity;
        json!([
            {"id": "scale-web", "kind": "autoscaling_group", "region": self.region,
             "name": self.group, "min": c.group_full, "desired": c.group_full,
             "on_failback": {"min": c.group_warm, "desired": c.group_warm}},
            {"id": "scale-api", "kind": "ecs_service", "region": self.region,
             "cluster": self.cluster, "service": self.ecs_service, "desired": c.service_full,
             "on_failback": {"desired": c.service_warm}},
            {"id": "promote-db", "kind": "rds_read_replica", "region": self.region,
             "identifier": self.replica}
        ])
    }

    /// `preflight.capacity`: the group must have its warm count InService.
    pub fn capacity_floor(&self) -> Value {
        json!({"kind": "autoscaling_group", "region": self.region, "name": self.group,
               "at_least": self.capacity.group_warm})
    }

    pub async fn group(&self, sdk: &SdkConfig) -> Option<GroupRead> {
        group_capacity(sdk, self.region, &self.group).await
    }

    pub async fn ecs(&self, sdk: &SdkConfig) -> Option<ServiceRead> {
        service_counts(sdk, self.region, &self.cluster, &self.ecs_service).await
    }

    pub async fn replica_role(&self, sdk: &SdkConfig) -> Option<DbRead> {
        db_role(sdk, self.region, &self.replica).await
    }

    /// One line naming everything, for a setup timeline.
    pub fn describe(&self) -> String {
        let c = self.capacity;
        format!(
            "workflow resources: Auto Scaling group {}/{} (launch configuration {}, min {w} desired {w} max {}), ECS service {}/{}/{} (desired {}), RDS {}/{} with cross-region read replica {}/{}",
            self.region,
            self.group,
            self.launch_configuration,
            c.group_max,
            self.region,
            self.cluster,
            self.ecs_service,
            c.service_warm,
            self.primary_db_region,
            self.primary_db,
            self.region,
            self.replica,
            w = c.group_warm,
        )
    }
}

/// The group `name` in `region`, `None` when it does not exist.
pub async fn group_capacity(sdk: &SdkConfig, region: &str, name: &str) -> Option<GroupRead> {
    let out = aws_sdk_autoscaling::Client::new(&in_region(sdk, region))
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("DescribeAutoScalingGroups {name} in {region}"), e));
    let g = out.auto_scaling_groups().first()?;
    Some(GroupRead {
        min: g.min_size().unwrap_or_default(),
        desired: g.desired_capacity().unwrap_or_default(),
        max: g.max_size().unwrap_or_default(),
        in_service: g
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
            .count(),
    })
}

/// The ECS service's counts, `None` when it is missing or inactive.
pub async fn service_counts(
    sdk: &SdkConfig,
    region: &str,
    cluster: &str,
    service: &str,
) -> Option<ServiceRead> {
    let out = aws_sdk_ecs::Client::new(&in_region(sdk, region))
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("DescribeServices {cluster}/{service}"), e));
    let s = out
        .services()
        .iter()
        .find(|s| s.status() == Some("ACTIVE"))?;
    Some(ServiceRead {
        desired: s.desired_count(),
        running: s.running_count(),
    })
}

/// The instance's role, `None` when it does not exist.
pub async fn db_role(sdk: &SdkConfig, region: &str, identifier: &str) -> Option<DbRead> {
    let out = aws_sdk_rds::Client::new(&in_region(sdk, region))
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
        {
            return None
        }
        Err(e) => fail(&format!("DescribeDBInstances {identifier} in {region}"), e),
    };
    let db = out.db_instances().first()?;
    Some(DbRead {
        replica_of: db
            .read_replica_source_db_instance_identifier()
            .map(str::to_string),
        status: db.db_instance_status().unwrap_or_default().to_string(),
    })
}

/// A Lambda function `name` in `region` for an `invoke` step, with its execution role
/// (moto's CreateFunction refuses a role IAM does not have). moto runs it without Docker:
/// Invoke answers the payload it was sent back (see `scripts/moto_server.py`). Its ARN.
pub async fn provision_function(
    emulator: &crate::harness::emulator::Emulator,
    sdk: &SdkConfig,
    region: &str,
    name: &str,
) -> String {
    let role = format!("{name}-role");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    // IAM by hand: the harness has no IAM client; moto routes on the credential scope.
    let form = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument={}",
        form_encode(policy)
    );
    let (status, body) = post_form(emulator.port(), &form);
    assert_eq!(status, 200, "CreateRole {role}: {body}");
    // An empty zip archive: moto keeps the code and never runs it.
    let mut zip = b"PK\x05\x06".to_vec();
    zip.extend([0u8; 18]);
    aws_sdk_lambda::Client::new(&in_region(sdk, region))
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .role(format!(
            "arn:aws:iam::{}:role/{role}",
            crate::harness::emulator::ACCOUNT_ID
        ))
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_smithy_types::Blob::new(zip))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| fail(&format!("CreateFunction {name}"), e))
        .function_arn()
        .unwrap_or_else(|| panic!("CreateFunction {name}: no ARN"))
        .to_string()
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One IAM form POST to moto on `port` (HTTP/1.0): its status and body.
fn post_form(port: u16, form: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port));
    let mut stream = std::net::TcpStream::connect(addr).expect("moto answers");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("a read timeout");
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, \
                SignedHeaders=host, Signature=0";
    let head = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n",
        form.len()
    );
    stream.write_all(head.as_bytes()).expect("sent");
    stream.write_all(form.as_bytes()).expect("sent");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}
