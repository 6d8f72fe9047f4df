//! The calls moto cannot serve, against `aws-smithy-mocks`: moto 5.2.5 has no
//! SwitchoverGlobalCluster or FailoverGlobalCluster (its rds/responses.py has neither
//! action), so the Aurora global database calls are checked here against the request and
//! response shapes of AWS's RDS API reference. Also here: what moto's Lambda (without
//! Docker) never answers (`FunctionError`, a large or non-UTF-8 payload), the Auto Scaling
//! max raised for a desired capacity above it, and the mappings of the read answers.
//! The rest runs against moto in tests/tests/runbook_adapters.rs.

use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance, LifecycleState};
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::types::{Failure, Service};
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::types::InvocationType;
use aws_sdk_rds::operation::describe_global_clusters::{
    DescribeGlobalClustersError, DescribeGlobalClustersOutput,
};
use aws_sdk_rds::operation::failover_global_cluster::FailoverGlobalClusterOutput;
use aws_sdk_rds::operation::switchover_global_cluster::SwitchoverGlobalClusterOutput;
use aws_sdk_rds::types::error::{GlobalClusterNotFoundFault, InvalidGlobalClusterStateFault};
use aws_sdk_rds::types::{FailoverState, FailoverStatus, GlobalClusterMember};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::Blob;

use super::*;

const REGION: &str = "eu-west-1";
const PRIMARY: &str = "arn:aws:rds:us-east-1:123456789012:cluster:checkout-use1";
const TARGET: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:checkout-euw1";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:mm2-cutover";

/// A runbook whose `region` clients are the mocked ones given; any other region would get
/// a client without endpoint or credentials, so a call there fails the test.
fn runbook() -> AwsRunbook {
    AwsRunbook::new(&SdkConfig::builder().build())
}

fn rds(rules: &[&Rule]) -> AwsRunbook {
    let r = runbook();
    let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    r.rds.insert(REGION, client);
    r
}

/// DescribeGlobalClusters' answer for checkout-global as AWS shapes it: one member per
/// region, `IsWriter` on the primary's, `Status` of the global cluster itself.
fn global(writer: &str, reader: &str, status: &str) -> DescribeGlobalClustersOutput {
    let member = |arn: &str, is_writer| {
        GlobalClusterMember::builder()
            .db_cluster_arn(arn)
            .is_writer(is_writer)
            .build()
    };
    DescribeGlobalClustersOutput::builder()
        .global_clusters(
            aws_sdk_rds::types::GlobalCluster::builder()
                .global_cluster_identifier("checkout-global")
                .global_cluster_arn("arn:aws:rds::123456789012:global-cluster:checkout-global")
                .status(status)
                .engine("aurora-postgresql")
                .global_cluster_members(member(reader, false))
                .global_cluster_members(member(writer, true))
                .build(),
        )
        .build()
}

#[tokio::test]
async fn global_cluster_reads_the_writer_member_and_the_status() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let before =
        mock!(aws_sdk_rds::Client::describe_global_clusters).then_compute_output(move |req| {
            seen.lock()
                .unwrap()
                .push(req.global_cluster_identifier().map(str::to_string));
            global(PRIMARY, TARGET, "available")
        });
    let during = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .then_output(|| global(PRIMARY, TARGET, "switching-over"));
    let after = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .then_output(|| global(TARGET, PRIMARY, "available"));
    let r = rds(&[&before, &during, &after]);

    let read = || r.global_cluster(REGION, "checkout-global");
    let g = read().await.unwrap().expect("found");
    assert_eq!(g.writer_arn.as_deref(), Some(PRIMARY));
    assert_eq!(g.status, "available");
    let g = read().await.unwrap().expect("found");
    assert_eq!(
        (g.writer_arn.as_deref(), g.status.as_str()),
        (Some(PRIMARY), "switching-over")
    );
    let g = read().await.unwrap().expect("found");
    assert_eq!(
        (g.writer_arn.as_deref(), g.status.as_str()),
        (Some(TARGET), "available")
    );
    assert_eq!(*asked.lock().unwrap(), vec![Some("checkout-global".into())]);
    assert_eq!(after.num_calls(), 1);
}

#[test]
fn a_global_cluster_without_a_writer_member_has_no_writer() {
    // Mid-failover AWS may list no member as writer; FailoverState says where it goes.
    let g = aws_sdk_rds::types::GlobalCluster::builder()
        .status("failing-over")
        .global_cluster_members(
            GlobalClusterMember::builder()
                .db_cluster_arn(TARGET)
                .is_writer(false)
                .build(),
        )
        .failover_state(
            FailoverState::builder()
                .status(FailoverStatus::FailingOver)
                .from_db_cluster_arn(PRIMARY)
                .to_db_cluster_arn(TARGET)
                .is_data_loss_allowed(true)
                .build(),
        )
        .build();
    let read = global_cluster_of(&g);
    assert_eq!(read.writer_arn, None);
    assert_eq!(read.status, "failing-over");
}

#[tokio::test]
async fn an_unknown_global_cluster_is_none_and_other_errors_are_classified() {
    let missing = mock!(aws_sdk_rds::Client::describe_global_clusters).then_error(|| {
        DescribeGlobalClustersError::GlobalClusterNotFoundFault(
            GlobalClusterNotFoundFault::builder()
                .message("Global cluster nope not found")
                .meta(
                    ErrorMetadata::builder()
                        .code("GlobalClusterNotFoundFault")
                        .build(),
                )
                .build(),
        )
    });
    let denied = mock!(aws_sdk_rds::Client::describe_global_clusters).then_error(|| {
        DescribeGlobalClustersError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform rds:DescribeGlobalClusters")
                .build(),
        )
    });
    let down = mock!(aws_sdk_rds::Client::describe_global_clusters)
        .sequence()
        .http_status(503, None)
        .build();
    let r = rds(&[&missing, &denied, &down]);

    assert_eq!(r.global_cluster(REGION, "nope").await.unwrap(), None);
    let e = r
        .global_cluster(REGION, "checkout-global")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert!(e.message.starts_with("AccessDenied"), "{e}");
    let e = r
        .global_cluster(REGION, "checkout-global")
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    assert_eq!(down.num_calls(), 1);
}

#[tokio::test]
async fn a_switchover_names_the_global_cluster_and_the_target_cluster() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = sent.clone();
    let switchover =
        mock!(aws_sdk_rds::Client::switchover_global_cluster).then_compute_output(move |req| {
            seen.lock().unwrap().push((
                req.global_cluster_identifier().map(str::to_string),
                req.target_db_cluster_identifier().map(str::to_string),
            ));
            SwitchoverGlobalClusterOutput::builder().build()
        });
    let failover = mock!(aws_sdk_rds::Client::failover_global_cluster)
        .then_output(|| FailoverGlobalClusterOutput::builder().build());
    let r = rds(&[&switchover, &failover]);

    r.move_writer(REGION, "checkout-global", TARGET, AuroraMove::Switchover)
        .await
        .unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        vec![(Some("checkout-global".into()), Some(TARGET.into()))]
    );
    // A planned move never fails over.
    assert_eq!(failover.num_calls(), 0);
}

#[tokio::test]
async fn a_failover_allowing_data_loss_says_so_in_the_request() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = sent.clone();
    let failover =
        mock!(aws_sdk_rds::Client::failover_global_cluster).then_compute_output(move |req| {
            seen.lock().unwrap().push((
                req.global_cluster_identifier().map(str::to_string),
                req.target_db_cluster_identifier().map(str::to_string),
                req.allow_data_loss(),
                req.switchover(),
            ));
            FailoverGlobalClusterOutput::builder().build()
        });
    let r = rds(&[&failover]);

    let how = AuroraMove::FailoverAllowingDataLoss;
    r.move_writer(REGION, "checkout-global", TARGET, how)
        .await
        .unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        vec![(
            Some("checkout-global".into()),
            Some(TARGET.into()),
            Some(true),
            None
        )]
    );
}

#[tokio::test]
async fn a_refused_switchover_is_rejected_and_names_the_operation() {
    let busy = mock!(aws_sdk_rds::Client::switchover_global_cluster).then_error(|| {
        aws_sdk_rds::operation::switchover_global_cluster::SwitchoverGlobalClusterError::InvalidGlobalClusterStateFault(
            InvalidGlobalClusterStateFault::builder()
                .message("The global cluster is already switching over")
                .meta(ErrorMetadata::builder().code("InvalidGlobalClusterStateFault").build())
                .build(),
        )
    });
    let r = rds(&[&busy]);
    let e = r
        .move_writer(REGION, "checkout-global", TARGET, AuroraMove::Switchover)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert_eq!(e.operation, "SwitchoverGlobalCluster");
    assert!(
        e.message.starts_with("InvalidGlobalClusterStateFault"),
        "{e}"
    );
}

fn lambda(rules: &[&Rule]) -> AwsRunbook {
    let r = runbook();
    let client = mock_client!(aws_sdk_lambda, RuleMode::Sequential, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    r.lambda.insert(REGION, client);
    r
}

#[tokio::test]
async fn invoke_asks_for_a_synchronous_answer_in_the_function_region() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = sent.clone();
    let ok = mock!(aws_sdk_lambda::Client::invoke).then_compute_output(move |req| {
        seen.lock().unwrap().push((
            req.function_name().map(str::to_string),
            req.invocation_type().cloned(),
            req.payload().map(|p| p.as_ref().to_vec()),
        ));
        InvokeOutput::builder()
            .status_code(200)
            .payload(Blob::new(r#"{"cutover":"done"}"#))
            .build()
    });
    let r = lambda(&[&ok]);
    let payload = r#"{"service":"checkout","epoch":3,"direction":"failover"}"#;

    let answer = r.invoke(FUNCTION, payload).await.unwrap();
    assert_eq!(answer.function_error, None);
    assert_eq!(answer.payload, r#"{"cutover":"done"}"#);
    assert_eq!(
        *sent.lock().unwrap(),
        vec![(
            Some(FUNCTION.into()),
            Some(InvocationType::RequestResponse),
            Some(payload.as_bytes().to_vec())
        )]
    );
}

#[tokio::test]
async fn a_function_error_is_in_the_answer_and_the_payload_is_capped() {
    let failed = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
        InvokeOutput::builder()
            .status_code(200)
            .function_error("Unhandled")
            .payload(Blob::new(
                r#"{"errorType":"Kafka","errorMessage":"cutover refused"}"#,
            ))
            .build()
    });
    // 5,000 bytes of 'é' (two bytes each), then invalid UTF-8.
    let mut big = "é".repeat(2_500).into_bytes();
    big.extend_from_slice(&[0xff, 0xfe]);
    let large = mock!(aws_sdk_lambda::Client::invoke).then_output(move || {
        InvokeOutput::builder()
            .status_code(200)
            .payload(Blob::new(big.clone()))
            .build()
    });
    let r = lambda(&[&failed, &large]);

    let answer = r.invoke(FUNCTION, "{}").await.unwrap();
    assert_eq!(answer.function_error.as_deref(), Some("Unhandled"));
    assert!(answer.payload.contains("cutover refused"));

    let answer = r.invoke(FUNCTION, "{}").await.unwrap();
    assert_eq!(answer.payload.len(), MAX_INVOKE_PAYLOAD_BYTES);
    assert!(answer.payload.chars().all(|c| c == 'é'));
}

#[test]
fn an_answer_is_cut_at_a_character_boundary_and_invalid_bytes_are_replaced() {
    assert_eq!(answer_text(b"ok"), "ok");
    assert_eq!(answer_text(&[b'a', 0xff, b'b']), "a\u{fffd}b");
    // 4,095 ASCII bytes then a two-byte character: it does not fit, nothing is split.
    let mut text = "a".repeat(4_095);
    text.push('é');
    assert_eq!(answer_text(text.as_bytes()), "a".repeat(4_095));
}

#[tokio::test]
async fn invoke_refuses_an_arn_without_a_region_without_calling() {
    let never = mock!(aws_sdk_lambda::Client::invoke)
        .then_output(|| InvokeOutput::builder().status_code(200).build());
    let r = lambda(&[&never]);
    let e = r.invoke("mm2-cutover", "{}").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert_eq!(never.num_calls(), 0);
}

#[tokio::test]
async fn a_desired_capacity_above_the_max_raises_the_max_when_the_step_sets_none() {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let seen = sent.clone();
    let describe = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_output(
        || {
            aws_sdk_autoscaling::operation::describe_auto_scaling_groups::DescribeAutoScalingGroupsOutput::builder()
                .auto_scaling_groups(
                    AutoScalingGroup::builder()
                        .auto_scaling_group_name("checkout-asg")
                        .min_size(1)
                        .max_size(4)
                        .desired_capacity(1)
                        .build(),
                )
                .build()
        },
    );
    let update = mock!(aws_sdk_autoscaling::Client::update_auto_scaling_group)
        .then_compute_output(move |req| {
            seen.lock()
                .unwrap()
                .push((req.min_size(), req.desired_capacity(), req.max_size()));
            aws_sdk_autoscaling::operation::update_auto_scaling_group::UpdateAutoScalingGroupOutput::builder().build()
        });
    let r = runbook();
    let client = mock_client!(
        aws_sdk_autoscaling,
        RuleMode::MatchAny,
        [&describe, &update],
        |c| c.retry_config(RetryConfig::disabled())
    );
    r.autoscaling.insert(REGION, client);

    // Above the max of 4: the max follows. Within it: left alone. Given: sent as is.
    r.set_group(REGION, "checkout-asg", 6, None, 6)
        .await
        .unwrap();
    r.set_group(REGION, "checkout-asg", 2, None, 3)
        .await
        .unwrap();
    r.set_group(REGION, "checkout-asg", 2, Some(10), 3)
        .await
        .unwrap();
    assert_eq!(
        *sent.lock().unwrap(),
        vec![
            (Some(6), Some(6), Some(6)),
            (Some(2), Some(3), None),
            (Some(2), Some(3), Some(10))
        ]
    );
    assert_eq!(describe.num_calls(), 2, "no read when the step gives a max");
}

#[test]
fn in_service_counts_only_instances_in_service() {
    let instance = |id: &str, state| {
        Instance::builder()
            .instance_id(id)
            .lifecycle_state(state)
            .build()
    };
    let g = AutoScalingGroup::builder()
        .min_size(3)
        .max_size(12)
        .desired_capacity(3)
        .instances(instance("i-1", LifecycleState::InService))
        .instances(instance("i-2", LifecycleState::Pending))
        .instances(instance("i-3", LifecycleState::InService))
        .instances(instance("i-4", LifecycleState::Terminating))
        .build();
    let c = group_capacity(&g);
    assert_eq!(
        (c.min, c.max, c.desired, c.in_service),
        (3, 12, 3, 2),
        "{c:?}"
    );
}

#[test]
fn ecs_missing_or_inactive_is_none_and_another_failure_is_refused() {
    let failure = |reason: &str| {
        DescribeServicesOutput::builder()
            .failures(
                Failure::builder()
                    .arn("arn:aws:ecs:eu-west-1:123456789012:service/prod/checkout")
                    .reason(reason)
                    .build(),
            )
            .build()
    };
    let service = |status: &str| {
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("checkout")
                    .status(status)
                    .desired_count(8)
                    .running_count(5)
                    .build(),
            )
            .build()
    };
    assert_eq!(service_capacity(&failure("MISSING"), "checkout"), Ok(None));
    assert_eq!(service_capacity(&service("INACTIVE"), "checkout"), Ok(None));
    assert_eq!(
        service_capacity(&DescribeServicesOutput::builder().build(), "checkout"),
        Ok(None)
    );
    assert_eq!(
        service_capacity(&service("ACTIVE"), "checkout"),
        Ok(Some(ServiceCapacity {
            desired: 8,
            running: 5
        }))
    );
    let e = service_capacity(&failure("ACCESS_DENIED"), "checkout").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Rejected, "{e}");
    assert!(e.message.contains("ACCESS_DENIED"), "{e}");
}
