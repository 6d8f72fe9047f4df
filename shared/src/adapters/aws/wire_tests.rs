//! The adapters against canned HTTP answers, for what moto never does: DynamoDB leaving
//! keys unprocessed (moto only does beyond 16 MB of items) and ListHealthChecks paging
//! (moto ignores MaxItems and Marker). The requests the SDK sends are recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

use super::budget::Route53Budget;
use super::{DynamoStore, Route53HealthChecks};
use crate::domain::state::{Phase, ServiceState};
use crate::ports::{ControlStore, ErrorKind, HealthChecks};

/// Answers each request with the next canned (status, body); records (uri, body).
#[derive(Debug, Clone, Default)]
struct Canned {
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Canned {
    fn new(answers: &[(u16, &str)]) -> Self {
        let c = Canned::default();
        c.answers
            .lock()
            .unwrap()
            .extend(answers.iter().map(|(s, b)| (*s, b.to_string())));
        c
    }
    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

impl HttpConnector for Canned {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        self.requests
            .lock()
            .unwrap()
            .push((request.uri().to_string(), body));
        let (status, body) = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a canned answer for every request");
        let response = HttpResponse::new(
            StatusCode::try_from(status).expect("a status"),
            SdkBody::from(body),
        );
        HttpConnectorFuture::ready(Ok(response))
    }
}

impl HttpClient for Canned {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

fn dynamo(canned: &Canned) -> DynamoStore {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "AKID", "SECRET", None, None, "test",
        ))
        .http_client(canned.clone())
        .build();
    DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), "control")
}

fn route53(canned: &Canned) -> Route53HealthChecks {
    let conf = aws_sdk_route53::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_sdk_route53::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_route53::config::Credentials::new(
            "AKID", "SECRET", None, None, "test",
        ))
        .http_client(canned.clone())
        .build();
    Route53HealthChecks::with_budget(
        aws_sdk_route53::Client::from_conf(conf),
        Route53Budget::new(10),
    )
}

fn key(service: &str) -> String {
    format!(r#"{{"pk":{{"S":"service#{service}"}},"sk":{{"S":"state"}}}}"#)
}

#[tokio::test(start_paused = true)]
async fn unprocessed_keys_are_asked_again_until_answered() {
    let first = format!(
        r#"{{"Responses":{{"control":[{{"pk":{{"S":"service#a"}},"sk":{{"S":"state"}},"phase":{{"S":"FAILED_OVER"}},"epoch":{{"N":"3"}},"version":{{"N":"4"}}}}]}},
            "UnprocessedKeys":{{"control":{{"Keys":[{b},{c}],"ConsistentRead":true}}}}}}"#,
        b = key("b"),
        c = key("c"),
    );
    let second = r#"{"Responses":{"control":[{"pk":{"S":"service#b"},"sk":{"S":"state"},"phase":{"S":"BLOCKED"},"epoch":{"N":"1"},"version":{"N":"2"}}]},"UnprocessedKeys":{}}"#;
    let canned = Canned::new(&[(200, first.as_str()), (200, second)]);
    let store = dynamo(&canned);
    let services: Vec<String> = ["a", "b", "c", "a"].map(String::from).to_vec();
    let states = store.load_states(&services).await.unwrap();
    assert_eq!(states.len(), 3);
    assert_eq!(states["a"].phase, Phase::FailedOver);
    assert_eq!((states["a"].epoch, states["a"].version), (3, 4));
    assert_eq!(states["b"].phase, Phase::Blocked);
    assert_eq!(
        states["c"],
        ServiceState::default(),
        "no item: the initial state"
    );
    let requests = canned.requests();
    assert_eq!(requests.len(), 2);
    let asked: serde_json::Value = serde_json::from_str(&requests[0].1).unwrap();
    let keys = &asked["RequestItems"]["control"];
    assert_eq!(keys["ConsistentRead"], true, "{asked}");
    assert_eq!(
        keys["Keys"].as_array().unwrap().len(),
        3,
        "a, b, c once each"
    );
    let again: serde_json::Value = serde_json::from_str(&requests[1].1).unwrap();
    assert_eq!(
        again["RequestItems"]["control"]["Keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn keys_left_unprocessed_every_time_are_unavailable_in_the_end() {
    let body = format!(
        r#"{{"Responses":{{"control":[]}},"UnprocessedKeys":{{"control":{{"Keys":[{}]}}}}}}"#,
        key("a")
    );
    let canned = Canned::new(&[(200, body.as_str()); 6]);
    let store = dynamo(&canned);
    let t0 = tokio::time::Instant::now();
    let err = store.load_states(&["a".to_string()]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert_eq!(err.operation, "BatchGetItem");
    assert_eq!(canned.requests().len(), 6, "the first ask and five more");
    // 50 + 100 + 200 + 400 + 800 ms of backoff.
    assert_eq!(t0.elapsed(), std::time::Duration::from_millis(1550));
}

#[tokio::test]
async fn more_than_100_services_take_one_call_per_100() {
    let empty = r#"{"Responses":{"control":[]},"UnprocessedKeys":{}}"#;
    let canned = Canned::new(&[(200, empty); 3]);
    let store = dynamo(&canned);
    let services: Vec<String> = (0..201).map(|i| format!("s{i}")).collect();
    let states = store.load_states(&services).await.unwrap();
    assert_eq!(states.len(), 201);
    let sizes: Vec<usize> = canned
        .requests()
        .iter()
        .map(|(_, body)| {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            v["RequestItems"]["control"]["Keys"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [100, 100, 1]);
}

const LIST_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListHealthChecksResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <HealthChecks>
    <HealthCheck>
      <Id>hc-1</Id><CallerReference>r1</CallerReference>
      <HealthCheckConfig><Type>HTTPS</Type><Inverted>true</Inverted><Disabled>true</Disabled></HealthCheckConfig>
      <HealthCheckVersion>7</HealthCheckVersion>
    </HealthCheck>
    <HealthCheck>
      <Id>hc-2</Id><CallerReference>r2</CallerReference>
      <HealthCheckConfig><Type>HTTPS</Type></HealthCheckConfig>
      <HealthCheckVersion>1</HealthCheckVersion>
    </HealthCheck>
  </HealthChecks>
  <Marker></Marker><IsTruncated>true</IsTruncated><NextMarker>hc-2</NextMarker><MaxItems>1000</MaxItems>
</ListHealthChecksResponse>"#;

const LAST_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListHealthChecksResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
  <HealthChecks>
    <HealthCheck>
      <Id>hc-3</Id><CallerReference>r3</CallerReference>
      <HealthCheckConfig><Type>HTTPS</Type><Disabled>false</Disabled></HealthCheckConfig>
      <HealthCheckVersion>2</HealthCheckVersion>
    </HealthCheck>
  </HealthChecks>
  <Marker>hc-2</Marker><IsTruncated>false</IsTruncated><MaxItems>1000</MaxItems>
</ListHealthChecksResponse>"#;

#[tokio::test]
async fn list_page_asks_for_1000_and_follows_the_next_marker() {
    let canned = Canned::new(&[(200, LIST_PAGE), (200, LAST_PAGE)]);
    let checks = route53(&canned);
    let first = checks.list_page(None).await.unwrap();
    assert_eq!(first.next_marker.as_deref(), Some("hc-2"));
    assert_eq!(first.checks.len(), 2);
    let (id, hc1) = &first.checks[0];
    assert_eq!(id, "hc-1");
    assert!(hc1.settings.disabled && hc1.settings.inverted);
    assert_eq!(hc1.version, 7);
    assert!(!first.checks[1].1.settings.disabled);
    let last = checks
        .list_page(first.next_marker.as_deref())
        .await
        .unwrap();
    assert_eq!(last.next_marker, None);
    assert_eq!(last.checks[0].0, "hc-3");
    assert_eq!(last.checks[0].1.version, 2);

    let uris: Vec<String> = canned.requests().into_iter().map(|(u, _)| u).collect();
    assert!(uris[0].contains("/2013-04-01/healthcheck?"), "{uris:?}");
    assert!(uris[0].contains("maxitems=1000"), "{uris:?}");
    assert!(!uris[0].contains("marker="), "{uris:?}");
    assert!(uris[1].contains("marker=hc-2"), "{uris:?}");
    assert_eq!(checks.budget().stats().granted, 2);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_state_item_is_left_out_not_taken_as_the_initial_state() {
    // `b`'s phase is not a phase: it must not hide `a`, nor read as PRIMARY_ACTIVE.
    let body = r#"{"Responses":{"control":[
        {"pk":{"S":"service#a"},"sk":{"S":"state"},"phase":{"S":"FAILED_OVER"},"epoch":{"N":"3"},"version":{"N":"4"}},
        {"pk":{"S":"service#b"},"sk":{"S":"state"},"phase":{"S":"SIDEWAYS"},"epoch":{"N":"1"},"version":{"N":"2"}}]},
        "UnprocessedKeys":{}}"#;
    let canned = Canned::new(&[(200, body)]);
    let store = dynamo(&canned);
    let services: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let states = store.load_states(&services).await.unwrap();
    assert_eq!(states["a"].phase, Phase::FailedOver);
    assert!(!states.contains_key("b"), "{states:?}");
    assert_eq!(states["c"], ServiceState::default());
}
