//! `AwsRunbook`, the SDK adapter of the workflow's steps, on the wire against moto: each
//! method set then read back, a not-found read is `None`, a refused call is `Rejected`.
//!
//! Where moto differs from AWS the test says so in a `MOTO:` comment:
//! - moto 5.2.5 has no SwitchoverGlobalCluster or FailoverGlobalCluster (no such action in
//!   moto/rds/responses.py): `move_writer` is covered by the mocks in
//!   shared/src/adapters/aws/runbook_mock_tests.rs, and here only the read,
//!   DescribeGlobalClusters, which moto serves (it ignores the identifier asked for and
//!   answers every global cluster; the adapter keeps the one it asked for).
//! - PromoteReadReplica: scripts/moto_server.py makes moto detach the promoted replica,
//!   refuse an unknown or standalone instance, as AWS does (stock moto does none of it).
//! - Lambda Invoke runs without Docker (scripts/moto_server.py sets moto's `lambda:
//!   use_docker: false`): the function answers the payload it was sent back, or what the
//!   test queues with `/moto-api/static/lambda-simple/response`, never a FunctionError
//!   (that answer is covered by the mocks).
//! - An ECS service runs no task: runningCount follows UpdateService's desiredCount.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use failover::adapters::aws::AwsRunbook;
use failover::domain::workflow_run::{AuroraMove, GroupCapacity, ServiceCapacity};
use failover::ports::{ErrorKind, Runbook};
use integration_tests::*;

const SECONDARY: &str = "eu-west-1";
const PRIMARY: &str = "us-east-1";

/// Creating the workflow's resources in moto. Setup, not the code under test: a failure
/// panics with the operation. Kept together so the harness's provisioning can take it.
mod provision {
    use super::*;
    use aws_config::SdkConfig;
    use aws_sdk_dynamodb::error::DisplayErrorContext;

    fn fail(operation: &str, e: impl std::error::Error) -> ! {
        panic!("{operation} failed: {}", DisplayErrorContext(&e))
    }

    /// A group `name` in `region` on a launch configuration (moto needs one, not an AMI).
    pub async fn group(sdk: &SdkConfig, region: &str, name: &str, min: i32, max: i32) {
        let asg = aws_sdk_autoscaling::Client::new(&in_region(sdk, region));
        let lc = format!("{name}-lc");
        asg.create_launch_configuration()
            .launch_configuration_name(&lc)
            .image_id("ami-00000000")
            .instance_type("t3.micro")
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateLaunchConfiguration", e));
        asg.create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name(&lc)
            .min_size(min)
            .desired_capacity(min)
            .max_size(max)
            .availability_zones(format!("{region}a"))
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateAutoScalingGroup", e));
    }

    /// Cluster `cluster` with service `service` at `desired` tasks.
    pub async fn ecs_service(
        sdk: &SdkConfig,
        region: &str,
        cluster: &str,
        service: &str,
        desired: i32,
    ) {
        let ecs = aws_sdk_ecs::Client::new(&in_region(sdk, region));
        ecs.create_cluster()
            .cluster_name(cluster)
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateCluster", e));
        ecs.create_service()
            .cluster(cluster)
            .service_name(service)
            .desired_count(desired)
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateService", e));
    }

    /// `source` in the primary region and its cross-region read replica `replica` in
    /// the secondary (named by the source's ARN, as RDS requires). The source's ARN.
    pub async fn replica(sdk: &SdkConfig, source: &str, replica: &str) -> String {
        let source_arn = aws_sdk_rds::Client::new(&in_region(sdk, PRIMARY))
            .create_db_instance()
            .db_instance_identifier(source)
            .db_instance_class("db.t3.micro")
            .engine("postgres")
            .master_username("runbook")
            .master_user_password("runbook-password-1")
            .allocated_storage(20)
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateDBInstance", e))
            .db_instance()
            .and_then(|d| d.db_instance_arn())
            .expect("an ARN")
            .to_string();
        aws_sdk_rds::Client::new(&in_region(sdk, SECONDARY))
            .create_db_instance_read_replica()
            .db_instance_identifier(replica)
            .source_db_instance_identifier(&source_arn)
            .db_instance_class("db.t3.micro")
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateDBInstanceReadReplica", e));
        source_arn
    }

    async fn db_cluster(sdk: &SdkConfig, region: &str, id: &str, global: Option<&str>) -> String {
        aws_sdk_rds::Client::new(&in_region(sdk, region))
            .create_db_cluster()
            .db_cluster_identifier(id)
            .engine("aurora-postgresql")
            .master_username("runbook")
            .master_user_password("runbook-password-1")
            .set_global_cluster_identifier(global.map(str::to_string))
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateDBCluster", e))
            .db_cluster()
            .and_then(|c| c.db_cluster_arn())
            .expect("an ARN")
            .to_string()
    }

    /// An Aurora global database: a writer cluster in the primary region, a secondary
    /// cluster in the secondary. Their ARNs (writer, secondary).
    pub async fn global_cluster(sdk: &SdkConfig, global: &str) -> (String, String) {
        // MOTO: a global cluster created from a SourceDBClusterIdentifier lists that
        // cluster without IsWriter; created empty, its first member is the writer.
        aws_sdk_rds::Client::new(&in_region(sdk, PRIMARY))
            .create_global_cluster()
            .global_cluster_identifier(global)
            .engine("aurora-postgresql")
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateGlobalCluster", e));
        let writer = db_cluster(sdk, PRIMARY, &format!("{global}-use1"), Some(global)).await;
        let secondary = db_cluster(sdk, SECONDARY, &format!("{global}-euw1"), Some(global)).await;
        (writer, secondary)
    }

    /// A function in `region` (its role created first: moto checks it exists). Its ARN.
    pub async fn function(moto: &Emulator, sdk: &SdkConfig, region: &str, name: &str) -> String {
        let role = format!("{name}-role");
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        // IAM by hand: the harness has no IAM client. moto routes on the credential scope.
        let form = format!(
            "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument={}",
            form_encode(policy)
        );
        let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, \
                    SignedHeaders=host, Signature=0";
        let headers = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", auth),
        ];
        let (status, body) = post(moto, "/", &headers, form.as_bytes());
        assert_eq!(status, 200, "CreateRole: {body}");
        // An empty zip archive: moto keeps the code, it never runs it.
        let mut zip = b"PK\x05\x06".to_vec();
        zip.extend([0u8; 18]);
        aws_sdk_lambda::Client::new(&in_region(sdk, region))
            .create_function()
            .function_name(name)
            .runtime(aws_sdk_lambda::types::Runtime::Python312)
            .role(format!("arn:aws:iam::{ACCOUNT_ID}:role/{role}"))
            .handler("index.handler")
            .code(
                aws_sdk_lambda::types::FunctionCode::builder()
                    .zip_file(aws_smithy_types::Blob::new(zip))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| fail("CreateFunction", e))
            .function_arn()
            .expect("an ARN")
            .to_string()
    }

    /// Queues what moto's Docker-less Lambda answers next in `region`.
    pub fn queue_lambda_answer(moto: &Emulator, region: &str, answer: &str) {
        let body = serde_json::json!({"region": region, "results": [answer]}).to_string();
        let path = "/moto-api/static/lambda-simple/response";
        let headers = [("Content-Type", "application/json")];
        let (status, text) = post(moto, path, &headers, body.as_bytes());
        assert_eq!(status, 201, "{path}: {text}");
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

    /// One HTTP/1.0 POST to moto: its status and body.
    fn post(moto: &Emulator, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, moto.port()));
        let mut stream = TcpStream::connect(addr).expect("moto answers");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        let mut head = format!("POST {path} HTTP/1.0\r\nHost: {addr}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream.write_all(head.as_bytes()).expect("sent");
        stream.write_all(body).expect("sent");
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
}

#[tokio::test]
async fn a_group_is_set_then_read_back_and_an_unknown_group_is_none() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let name = format!("checkout-asg-{}", unique_suffix());
    provision::group(&sdk, SECONDARY, &name, 2, 4).await;
    let runbook = AwsRunbook::new(&sdk);

    let g = runbook
        .group(SECONDARY, &name)
        .await
        .unwrap()
        .expect("found");
    // moto starts the desired instances InService at once.
    let warm = GroupCapacity {
        min: 2,
        max: 4,
        desired: 2,
        in_service: 2,
    };
    assert_eq!(g, warm);

    // Above the group's max of 4 without a max of its own: the max follows.
    runbook
        .set_group(SECONDARY, &name, 6, None, 6)
        .await
        .unwrap();
    let g = runbook
        .group(SECONDARY, &name)
        .await
        .unwrap()
        .expect("found");
    assert_eq!((g.min, g.desired, g.max), (6, 6, 6), "{g:?}");
    runbook
        .set_group(SECONDARY, &name, 3, Some(12), 3)
        .await
        .unwrap();
    let g = runbook
        .group(SECONDARY, &name)
        .await
        .unwrap()
        .expect("found");
    assert_eq!((g.min, g.desired, g.max, g.in_service), (3, 3, 12, 3));

    // Groups are regional: the same name elsewhere is not this group.
    assert_eq!(runbook.group(PRIMARY, &name).await.unwrap(), None);
    assert_eq!(runbook.group(SECONDARY, "no-such-asg").await.unwrap(), None);

    // An unknown group is refused (MOTO: it accepts a min above the max, AWS does not).
    for max in [None, Some(5)] {
        let e = runbook
            .set_group(SECONDARY, "no-such-asg", 3, max, 3)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
        assert_eq!(
            (e.service, e.operation),
            ("autoscaling", "UpdateAutoScalingGroup")
        );
        assert!(e.message.starts_with("ValidationError"), "{e}");
    }
}

#[tokio::test]
async fn an_ecs_service_is_set_then_read_back_and_a_missing_one_is_none() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let (cluster, service) = (format!("prod-{}", unique_suffix()), "checkout");
    provision::ecs_service(&sdk, SECONDARY, &cluster, service, 2).await;
    let runbook = AwsRunbook::new(&sdk);

    let s = runbook.ecs_service(SECONDARY, &cluster, service).await;
    // MOTO: no task runs until UpdateService.
    let created = ServiceCapacity {
        desired: 2,
        running: 0,
    };
    assert_eq!(s.unwrap(), Some(created));

    runbook
        .set_ecs_service(SECONDARY, &cluster, service, 8)
        .await
        .unwrap();
    let s = runbook.ecs_service(SECONDARY, &cluster, service).await;
    let scaled = ServiceCapacity {
        desired: 8,
        running: 8,
    };
    assert_eq!(s.unwrap(), Some(scaled));

    // A service the cluster does not have (a MISSING failure), a cluster that does not
    // exist, a region without either: all "not found".
    let missing = runbook.ecs_service(SECONDARY, &cluster, "nope").await;
    assert_eq!(missing.unwrap(), None);
    let no_cluster = runbook.ecs_service(SECONDARY, "no-cluster", service).await;
    assert_eq!(no_cluster.unwrap(), None);
    let elsewhere = runbook.ecs_service(PRIMARY, &cluster, service).await;
    assert_eq!(elsewhere.unwrap(), None);

    let e = runbook
        .set_ecs_service(SECONDARY, &cluster, "nope", 8)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert_eq!((e.service, e.operation), ("ecs", "UpdateService"));
}

#[tokio::test]
async fn a_promoted_replica_reads_standalone_and_cannot_be_promoted_again() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let suffix = unique_suffix();
    let (source, replica) = (
        format!("checkout-db-{suffix}"),
        format!("checkout-ro-{suffix}"),
    );
    let source_arn = provision::replica(&sdk, &source, &replica).await;
    let runbook = AwsRunbook::new(&sdk);

    let db = runbook.db_instance(SECONDARY, &replica).await.unwrap();
    let db = db.expect("found");
    // Cross-region: the source is named by its ARN.
    assert_eq!(db.replica_of.as_deref(), Some(source_arn.as_str()));
    assert_eq!(db.status, "available");
    // RDS identifiers are case-insensitive.
    let upper = runbook
        .db_instance(SECONDARY, &replica.to_uppercase())
        .await;
    assert!(upper.unwrap().is_some());

    runbook.promote_replica(SECONDARY, &replica).await.unwrap();
    let db = runbook.db_instance(SECONDARY, &replica).await.unwrap();
    let db = db.expect("found");
    assert_eq!(db.replica_of, None, "promoted: {db:?}");
    assert_eq!(db.status, "available");

    // A standalone instance is not a replica (MOTO: with scripts/moto_server.py's patch).
    let e = runbook
        .promote_replica(SECONDARY, &replica)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert!(e.message.starts_with("InvalidDBInstanceState"), "{e}");
    let e = runbook
        .promote_replica(SECONDARY, "no-such-db")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert_eq!((e.service, e.operation), ("rds", "PromoteReadReplica"));

    assert_eq!(
        runbook.db_instance(SECONDARY, "no-such-db").await.unwrap(),
        None
    );
    // The source stays in its own region.
    assert_eq!(runbook.db_instance(SECONDARY, &source).await.unwrap(), None);
}

#[tokio::test]
async fn a_global_cluster_is_read_from_moto_and_its_writer_cannot_be_moved_there() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let global = format!("checkout-global-{}", unique_suffix());
    let (writer, secondary) = provision::global_cluster(&sdk, &global).await;
    let runbook = AwsRunbook::new(&sdk);

    let g = runbook.global_cluster(SECONDARY, &global).await.unwrap();
    let g = g.expect("found");
    assert_eq!(g.writer_arn.as_deref(), Some(writer.as_str()));
    assert_eq!(g.status, "available");
    // MOTO: every global cluster comes back whatever is asked; the adapter keeps its own.
    assert_eq!(
        runbook.global_cluster(SECONDARY, "nope").await.unwrap(),
        None
    );

    // MOTO: no SwitchoverGlobalCluster in moto 5.2.5: it answers HTTP 500 without a code
    // (so, to the adapter, unanswered), and nothing changes.
    let how = AuroraMove::Switchover;
    let e = runbook
        .move_writer(SECONDARY, &global, &secondary, how)
        .await
        .expect_err("moto now serves SwitchoverGlobalCluster: test it here");
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    assert!(e.message.contains("HTTP 500"), "{e}");
    let g = runbook.global_cluster(SECONDARY, &global).await.unwrap();
    assert_eq!(
        g.expect("found").writer_arn.as_deref(),
        Some(writer.as_str())
    );
}

#[tokio::test]
async fn a_function_is_invoked_with_the_payload_in_its_region() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let name = format!("mm2-cutover-{}", unique_suffix());
    let arn = provision::function(&moto, &sdk, SECONDARY, &name).await;
    assert!(arn.contains(":eu-west-1:"), "{arn}");
    let runbook = AwsRunbook::new(&sdk);

    // MOTO: the Docker-less function answers what it was sent.
    let payload = r#"{"service":"checkout","epoch":3,"direction":"failover","who":"quorum"}"#;
    let answer = runbook.invoke(&arn, payload).await.unwrap();
    assert_eq!(answer.function_error, None);
    assert_eq!(answer.payload, payload);

    provision::queue_lambda_answer(&moto, SECONDARY, r#"{"cutover":"done"}"#);
    let answer = runbook.invoke(&arn, payload).await.unwrap();
    assert_eq!(answer.payload, r#"{"cutover":"done"}"#);

    // The region comes from the ARN: the same function named in another region does not
    // exist (MOTO: with scripts/moto_server.py's patch, as on AWS).
    let elsewhere = arn.replace(":eu-west-1:", ":us-west-2:");
    let e = runbook.invoke(&elsewhere, payload).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert_eq!((e.service, e.operation), ("lambda", "Invoke"));
    assert!(e.message.starts_with("ResourceNotFoundException"), "{e}");
}
