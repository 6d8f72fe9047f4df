//! What moto (5.2.5, started by the harness) does for every AWS call the
//! failover functions make. Each test starts its own [`Emulator`].
//!
//! CloudWatch goes through the CBOR->JSON translation in
//! `scripts/moto_server.py`: aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR,
//! which moto 5.2.5 does not (the stock `moto_server` answers 404).
//!
//! Where moto differs from AWS the test asserts moto's actual behaviour and
//! says so in a `MOTO:` comment, so a moto upgrade that changes it shows up
//! here first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::error::ProvideErrorMetadata;
use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{
    Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit, StateValue,
};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TimeToLiveStatus,
};
use aws_sdk_sns::types::MessageAttributeValue;
use integration_tests::*;

const VOTE_ATTR: &str = "vote#arn:aws:cloudwatch:us-east-1:123456789012:alarm:a";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn vote(at: i64, state: &str) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("at".to_string(), n(at)),
        ("state".to_string(), s(state)),
    ]))
}

fn started(what: &str) -> (Emulator, Instant) {
    let t = Instant::now();
    let moto = Emulator::start();
    eprintln!(
        "[{what}] moto up in {:?} on {}",
        moto.startup_time(),
        moto.endpoint()
    );
    (moto, t)
}

/// The product's vote write: `SET #v = :v` on a top-level attribute whose
/// name contains `#` and `:`, only if absent or older.
async fn vote_update(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    at: i64,
    state: &str,
    return_old_on_failure: bool,
) -> Result<HashMap<String, AttributeValue>, UpdateItemError> {
    let mut req = ddb
        .update_item()
        .table_name(table)
        .key("pk", s("service#checkout"))
        .key("sk", s("state"))
        .update_expression("SET #v = :v")
        .condition_expression("attribute_not_exists(#v) OR #v.#at < :at")
        .expression_attribute_names("#v", VOTE_ATTR)
        .expression_attribute_names("#at", "at")
        .expression_attribute_values(":v", vote(at, state))
        .expression_attribute_values(":at", n(at))
        .return_values(ReturnValue::AllNew);
    if return_old_on_failure {
        req = req
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    req.send()
        .await
        .map(|out| out.attributes.unwrap_or_default())
        .map_err(|e| e.into_service_error())
}

#[tokio::test]
async fn emulator_starts_answers_and_is_reaped_on_drop() {
    let (moto, t) = started("lifecycle");
    let endpoint = moto.endpoint();
    assert_eq!(endpoint, format!("http://127.0.0.1:{}", moto.port()));
    assert_eq!(moto.mode(), MotoMode::Serialised);
    let env: HashMap<_, _> = moto.function_env().into_iter().collect();
    assert_eq!(env["AWS_ENDPOINT_URL"], endpoint);
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "test");
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "test");
    assert_eq!(env["AWS_EC2_METADATA_DISABLED"], "true");

    // The SDK config reaches it.
    let config = moto.sdk_config().await;
    let tables = aws_sdk_dynamodb::Client::new(&config)
        .list_tables()
        .send()
        .await
        .expect("ListTables");
    assert!(tables.table_names().is_empty());
    create_control_table(&config, "t").await;
    moto.reset();
    let tables = aws_sdk_dynamodb::Client::new(&config)
        .list_tables()
        .send()
        .await
        .expect("ListTables");
    assert!(tables.table_names().is_empty(), "reset wipes state");

    let pid = moto.pid();
    let log = moto.log_path().to_path_buf();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(moto);
    // Killed and reaped (a zombie would still have a /proc entry).
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "moto pid {pid} survived Drop"
    );
    assert!(!log.exists(), "log removed after a passing test");
    eprintln!("[lifecycle] {:?}", t.elapsed());
}

#[tokio::test]
async fn dynamodb_conditional_vote_update_on_a_hash_and_colon_attribute_name() {
    let (moto, t) = started("ddb-vote");
    let config = moto.sdk_config().await;
    let table = create_control_table(&config, "failover-control").await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);

    // New item: attribute_not_exists(#v) holds; ALL_NEW returns the whole item.
    let item = vote_update(&ddb, &table, 10, "ALARM", false).await.unwrap();
    assert_eq!(item["pk"], s("service#checkout"));
    assert_eq!(item[VOTE_ATTR], vote(10, "ALARM"));

    // A newer vote replaces it (nested path #v.#at compared).
    let item = vote_update(&ddb, &table, 20, "OK", false).await.unwrap();
    assert_eq!(item[VOTE_ATTR], vote(20, "OK"));

    // An older vote is refused; with ReturnValuesOnConditionCheckFailure=ALL_OLD
    // the ConditionalCheckFailedException carries the current item.
    match vote_update(&ddb, &table, 15, "ALARM", true).await {
        Err(UpdateItemError::ConditionalCheckFailedException(e)) => {
            let old = e.item().expect("ALL_OLD item on the exception");
            assert_eq!(old[VOTE_ATTR], vote(20, "OK"));
        }
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    // Without it, no item.
    match vote_update(&ddb, &table, 15, "ALARM", false).await {
        Err(UpdateItemError::ConditionalCheckFailedException(e)) => assert!(e.item().is_none()),
        other => panic!("expected ConditionalCheckFailedException, got {other:?}"),
    }
    // An equal timestamp is not newer.
    assert!(vote_update(&ddb, &table, 20, "ALARM", false).await.is_err());
    eprintln!("[ddb-vote] {:?}", t.elapsed());
}

#[tokio::test]
async fn dynamodb_query_begins_with_and_ttl() {
    let (moto, t) = started("ddb-query-ttl");
    let config = moto.sdk_config().await;
    let table = create_control_table(&config, "failover-control").await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    for sk in [
        "history#0002",
        "history#0001",
        "state",
        "historyX",
        "vote#a",
    ] {
        ddb.put_item()
            .table_name(&table)
            .item("pk", s("service#checkout"))
            .item("sk", s(sk))
            .send()
            .await
            .unwrap();
    }
    ddb.put_item()
        .table_name(&table)
        .item("pk", s("service#other"))
        .item("sk", s("history#0001"))
        .send()
        .await
        .unwrap();
    let out = ddb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
        .expression_attribute_values(":pk", s("service#checkout"))
        .expression_attribute_values(":p", s("history#"))
        .send()
        .await
        .unwrap();
    let sks: Vec<_> = out
        .items()
        .iter()
        .map(|i| i["sk"].as_s().unwrap().clone())
        .collect();
    assert_eq!(sks, ["history#0001", "history#0002"], "sorted by sk");

    enable_ttl(&config, &table, "expires_at").await;
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let desc = ttl.time_to_live_description().unwrap();
    assert_eq!(desc.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(desc.attribute_name(), Some("expires_at"));

    // MOTO: TTL is recorded but never enforced: an item expired in 1970 stays.
    ddb.put_item()
        .table_name(&table)
        .item("pk", s("service#checkout"))
        .item("sk", s("expired"))
        .item("expires_at", n(1))
        .send()
        .await
        .unwrap();
    let got = ddb
        .get_item()
        .table_name(&table)
        .key("pk", s("service#checkout"))
        .key("sk", s("expired"))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_some());
    eprintln!("[ddb-query-ttl] {:?}", t.elapsed());
}

/// The failover lock: of 50 concurrent conditional writes exactly one wins.
/// The stock `moto_server` fails this (more than one winner in ~1 round in 5
/// measured with 50 threads); the harness's serialised server must not.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_exactly_one_winner_among_50_concurrent_conditional_updates() {
    let (moto, t) = started("ddb-race");
    let config = moto.sdk_config().await;
    let table = create_control_table(&config, "failover-control").await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    const ROUNDS: usize = 5;
    const WRITERS: usize = 50;
    for round in 0..ROUNDS {
        let pk = format!("service#race-{round}");
        // Half the rounds race on creating the attribute, half on bumping a
        // version that every writer read as 0 (optimistic concurrency).
        if round % 2 == 1 {
            ddb.put_item()
                .table_name(&table)
                .item("pk", s(&pk))
                .item("sk", s("state"))
                .item("version", n(0))
                .send()
                .await
                .unwrap();
        }
        let writes = (0..WRITERS).map(|i| {
            let ddb = ddb.clone();
            let table = table.clone();
            let pk = pk.clone();
            tokio::spawn(async move {
                let req = ddb
                    .update_item()
                    .table_name(table)
                    .key("pk", s(&pk))
                    .key("sk", s("state"))
                    .expression_attribute_values(":w", s(&format!("writer-{i}")));
                let req = if round % 2 == 0 {
                    req.update_expression("SET #o = :w")
                        .condition_expression("attribute_not_exists(#o)")
                        .expression_attribute_names("#o", "owner")
                } else {
                    req.update_expression("SET #o = :w, #ver = :new")
                        .condition_expression("#ver = :old")
                        .expression_attribute_names("#o", "owner")
                        .expression_attribute_names("#ver", "version")
                        .expression_attribute_values(":old", n(0))
                        .expression_attribute_values(":new", n(1))
                };
                match req.send().await.map_err(|e| e.into_service_error()) {
                    Ok(_) => true,
                    Err(UpdateItemError::ConditionalCheckFailedException(_)) => false,
                    Err(other) => panic!("unexpected error: {other:?}"),
                }
            })
        });
        let results = futures::future::join_all(writes).await;
        let winners = results.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(winners, 1, "round {round}: {winners} winners");
    }
    eprintln!(
        "[ddb-race] {ROUNDS} rounds x {WRITERS} writers in {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn route53_health_check_get_update_and_status() {
    let (moto, t) = started("route53");
    let config = moto.sdk_config().await;
    let r53 = aws_sdk_route53::Client::new(&config);
    let id = create_health_check(&config, "checkout.us-east-1.example.com").await;
    assert_eq!(get_health_check(&config, &id).await, (false, false, 1));

    let full = r53
        .get_health_check()
        .health_check_id(&id)
        .send()
        .await
        .unwrap();
    let cfg = full.health_check().unwrap().health_check_config().unwrap();
    assert_eq!(cfg.port(), Some(443));
    assert_eq!(cfg.resource_path(), Some("/health"));
    assert_eq!(
        cfg.fully_qualified_domain_name(),
        Some("checkout.us-east-1.example.com")
    );

    // Disabled and Inverted are stored and returned.
    let out = r53
        .update_health_check()
        .health_check_id(&id)
        .health_check_version(1)
        .disabled(true)
        .inverted(true)
        .send()
        .await
        .unwrap();
    let hc = out.health_check().unwrap();
    let c = hc.health_check_config().unwrap();
    assert_eq!((c.disabled(), c.inverted()), (Some(true), Some(true)));
    // MOTO: HealthCheckVersion is never incremented (AWS: 1 -> 2 here).
    assert_eq!(hc.health_check_version(), 1);
    assert_eq!(get_health_check(&config, &id).await, (true, true, 1));

    // MOTO: a stale HealthCheckVersion is accepted and applied (AWS: 409
    // HealthCheckVersionMismatch). Optimistic concurrency on health checks
    // cannot be exercised against moto.
    let out = r53
        .update_health_check()
        .health_check_id(&id)
        .health_check_version(999)
        .disabled(false)
        .send()
        .await
        .expect("moto ignores HealthCheckVersion");
    assert_eq!(out.health_check().unwrap().health_check_version(), 1);
    assert_eq!(get_health_check(&config, &id).await, (false, true, 1));

    // MOTO: GetHealthCheckStatus returns one canned observation, always a
    // success, whatever the check's config or Disabled/Inverted.
    let status = r53
        .get_health_check_status()
        .health_check_id(&id)
        .send()
        .await
        .unwrap();
    let obs = status.health_check_observations();
    assert_eq!(obs.len(), 1);
    let report = obs[0].status_report().and_then(|r| r.status()).unwrap();
    assert!(
        report.starts_with("Success: HTTP Status Code: 200"),
        "{report}"
    );

    // Unknown ids are errors.
    assert!(r53
        .get_health_check()
        .health_check_id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .is_err());
    eprintln!("[route53] {:?}", t.elapsed());
}

#[tokio::test]
async fn sns_publish_with_subject_and_attributes_reaches_an_sqs_subscriber() {
    let (moto, t) = started("sns");
    let config = moto.sdk_config().await;
    let (topic_arn, queue_url) = create_topic_with_queue(&config, "failover-alerts").await;
    assert_eq!(
        topic_arn,
        "arn:aws:sns:us-east-1:123456789012:failover-alerts"
    );
    let sns = aws_sdk_sns::Client::new(&config);
    let attr = |t: &str, v: &str| {
        MessageAttributeValue::builder()
            .data_type(t)
            .string_value(v)
            .build()
            .unwrap()
    };
    let published = sns
        .publish()
        .topic_arn(&topic_arn)
        .subject("[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)")
        .message("line one\nline two")
        .message_attributes("event_type", attr("String", "failover"))
        .message_attributes("epoch", attr("Number", "1"))
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic_arn)
        .message("no subject")
        .send()
        .await
        .unwrap();

    let got = receive_sns_messages(&config, &queue_url, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let first = got
        .iter()
        .find(|e| e.message == "line one\nline two")
        .expect("the first message");
    assert_eq!(Some(first.message_id.as_str()), published.message_id());
    assert_eq!(first.topic_arn, topic_arn);
    assert_eq!(
        first.subject,
        "[FAILOVER] checkout: us-east-1 -> eu-west-1 (epoch 1)"
    );
    assert_eq!(first.attribute("event_type").as_deref(), Some("failover"));
    assert_eq!(
        first.attributes["epoch"],
        SnsAttribute {
            data_type: "Number".into(),
            value: "1".into()
        }
    );
    assert_eq!(first.raw["Type"], "Notification");
    let second = got.iter().find(|e| e.message == "no subject").unwrap();
    assert_eq!(second.subject, "", "SNS omits an absent Subject");
    assert!(second.attributes.is_empty());

    // Drained: nothing left, and an empty queue returns after `wait`.
    let t2 = Instant::now();
    assert!(
        receive_sns_messages(&config, &queue_url, Duration::from_millis(300))
            .await
            .is_empty()
    );
    assert!(t2.elapsed() >= Duration::from_millis(300));
    eprintln!("[sns] {:?}", t.elapsed());
}

/// The serialised server exempts SQS: a long poll waiting for a message must
/// neither block other services nor miss a message published meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_long_poll_does_not_stall_the_serialised_server() {
    let (moto, t) = started("sqs-long-poll");
    let config = moto.sdk_config().await;
    let (topic_arn, queue_url) = create_topic_with_queue(&config, "long-poll").await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let poll = tokio::spawn(async move {
        sqs.receive_message()
            .queue_url(queue_url)
            .wait_time_seconds(5)
            .send()
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t_other = Instant::now();
    create_control_table(&config, "meanwhile").await;
    aws_sdk_sns::Client::new(&config)
        .publish()
        .topic_arn(&topic_arn)
        .message("wake up")
        .send()
        .await
        .unwrap();
    let other = t_other.elapsed();
    assert!(other < Duration::from_secs(3), "blocked for {other:?}");
    let received = poll.await.unwrap();
    assert_eq!(received.messages().len(), 1);
    eprintln!(
        "[sqs-long-poll] other calls took {other:?} during the poll; {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn cloudwatch_alarms_are_regional_and_metric_data_is_returned() {
    let (moto, t) = started("cloudwatch");
    let config = moto.sdk_config().await;
    let arn = put_alarm(&config, "us-west-2", "checkout-canary-usw2").await;
    assert_eq!(
        arn,
        "arn:aws:cloudwatch:us-west-2:123456789012:alarm:checkout-canary-usw2"
    );

    let usw2 = aws_sdk_cloudwatch::Client::new(&in_region(&config, "us-west-2"));
    let use1 = aws_sdk_cloudwatch::Client::new(&config);
    let describe = |c: &aws_sdk_cloudwatch::Client| {
        c.describe_alarms()
            .alarm_names("checkout-canary-usw2")
            .alarm_names("no-such-alarm")
            .send()
    };
    let alarms = describe(&usw2).await.unwrap();
    assert_eq!(alarms.metric_alarms().len(), 1, "unknown names are skipped");
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.state_value(), Some(&StateValue::Ok));
    // The same name in another region: not there.
    assert!(describe(&use1).await.unwrap().metric_alarms().is_empty());

    set_alarm_state(&config, "us-west-2", "checkout-canary-usw2", "ALARM").await;
    let alarms = describe(&usw2).await.unwrap();
    let alarm = &alarms.metric_alarms()[0];
    assert_eq!(alarm.state_value(), Some(&StateValue::Alarm));
    assert!(alarm.state_updated_timestamp().is_some());
    assert_eq!(alarm.state_reason(), Some("integration test set ALARM"));
    set_alarm_state(&config, "us-west-2", "checkout-canary-usw2", "OK").await;
    let alarms = describe(&usw2).await.unwrap();
    assert_eq!(
        alarms.metric_alarms()[0].state_value(),
        Some(&StateValue::Ok)
    );

    // Errors come back as modelled errors with their code.
    let err = usw2
        .set_alarm_state()
        .alarm_name("no-such-alarm")
        .state_value(StateValue::Alarm)
        .state_reason("x")
        .send()
        .await
        .expect_err("unknown alarm");
    assert_eq!(err.code(), Some("ResourceNotFound"), "{err:?}");

    // GetMetricData over data put with PutMetricData.
    let now = std::time::SystemTime::now();
    usw2.put_metric_data()
        .namespace("Failover/Test")
        .metric_data(
            MetricDatum::builder()
                .metric_name("ReplicaLag")
                .value(42.0)
                .unit(StandardUnit::Seconds)
                .timestamp(CwDateTime::from(now))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let query = MetricDataQuery::builder()
        .id("lag")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("Failover/Test")
                        .metric_name("ReplicaLag")
                        .build(),
                )
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .build();
    let data = usw2
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(CwDateTime::from(now - Duration::from_secs(600)))
        .end_time(CwDateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .unwrap();
    let results = data.metric_data_results();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].id(), Some("lag"));
    assert_eq!(results[0].values(), [42.0]);
    eprintln!("[cloudwatch] {:?}", t.elapsed());
}

/// Why the harness does not run the stock `moto_server`: it cannot serve the
/// Rust CloudWatch client at all (RPC v2 CBOR is answered 404).
#[tokio::test]
async fn stock_moto_server_cannot_serve_the_rust_cloudwatch_client() {
    let moto = Emulator::start_with(MotoMode::Stock);
    eprintln!("[stock] moto up in {:?}", moto.startup_time());
    let config = moto.sdk_config().await;
    let err = aws_sdk_cloudwatch::Client::new(&config)
        .describe_alarms()
        .alarm_names("a")
        .send()
        .await
        .expect_err("moto 5.2.5 has no RPC v2 CBOR support");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(404), "{err:?}");
}
