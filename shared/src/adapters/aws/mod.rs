//! One adapter per port, over the AWS SDK. Retries and timeouts are the SDK's own.

pub mod budget;
mod cloudwatch;
mod dynamodb;
mod dynamodb_batch;
pub mod events;
mod route53;
mod runbook;
mod sns;
#[cfg(test)]
mod wire_tests;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::ProvideErrorKind;

pub use budget::{BudgetStats, Priority, Route53Budget};
pub use cloudwatch::CloudWatchAlarms;
pub use dynamodb::DynamoStore;
pub use events::AlertEvents;
pub use route53::Route53HealthChecks;
pub use runbook::AwsRunbook;
pub use sns::{SnsNotifier, SnsThrottledIsRetryable};

use crate::adapters::clock::SystemClock;
use crate::adapters::config::{
    route53_calls_per_second_from_env, Config, ConfigError, EventsSettings,
};
use crate::engine::{Engine, EngineError};
use crate::ports::{AwsError, ErrorKind};

/// The engine wired to AWS.
pub type AwsEngine = Engine<
    DynamoStore,
    Route53HealthChecks,
    CloudWatchAlarms,
    SnsNotifier,
    SystemClock,
    AwsRunbook,
>;

/// Region, credentials and endpoint (`AWS_ENDPOINT_URL`) come from the SDK's standard
/// variables. Calls are retried by the SDK (standard mode) within a per-call deadline.
///
/// Credentials come from the environment only: Lambda puts the role's there, and the
/// default chain would build providers (web identity, SSO, IMDS) that a function never
/// uses, parsing the system's root certificates once more at every cold start.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(3))
                .operation_timeout(Duration::from_secs(8))
                .build(),
        )
        .load()
        .await
}

/// Clients for every port from one SDK configuration, Route 53's calls paced by a budget of
/// its own at the default rate ([`budget::DEFAULT_ROUTE53_CALLS_PER_SECOND`]).
pub fn engine(sdk: &SdkConfig, config: &Config, function: &'static str) -> AwsEngine {
    engine_with_budget(sdk, config, function, Route53Budget::default())
}

/// [`engine`] with the given Route 53 budget: the process's one limiter for every Route 53
/// call ([`engine_from_env`] builds it from `ROUTE53_CALLS_PER_SECOND`). Alerts' events go
/// to the default bus with the default runbook links.
pub fn engine_with_budget(
    sdk: &SdkConfig,
    config: &Config,
    function: &'static str,
    budget: Route53Budget,
) -> AwsEngine {
    engine_with_events(sdk, config, function, budget, EventsSettings::default())
}

/// [`engine_with_budget`] with every alert's EventBridge event going where `events` says
/// ([`engine_from_env`] reads `EVENT_BUS_NAME` and `RUNBOOK_BASE_URL`).
pub fn engine_with_events(
    sdk: &SdkConfig,
    config: &Config,
    function: &'static str,
    budget: Route53Budget,
    events: EventsSettings,
) -> AwsEngine {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(sdk)
            .retry_classifier(SnsThrottledIsRetryable)
            .build(),
    );
    let mut engine = Engine::new(
        DynamoStore::new(dynamodb, &config.table),
        Route53HealthChecks::with_budget(route53_client(sdk), budget),
        CloudWatchAlarms::new(sdk.clone()),
        SnsNotifier::new(sns, &config.topic_arn).with_events(AlertEvents::new(
            aws_sdk_eventbridge::Client::new(sdk),
            events,
            function,
        )),
        SystemClock,
        function,
    )
    .with_runbook(AwsRunbook::new(sdk));
    // Alarms outside the deployment's account or partition are refused at catalog load.
    engine.home_account = config.home_account();
    engine
}

/// Route 53's control plane (served from us-east-1) gets more patience: more attempts with
/// backoff inside a longer deadline, because the switch depends on it.
pub fn route53_client(sdk: &SdkConfig) -> aws_sdk_route53::Client {
    let conf = aws_sdk_route53::config::Builder::from(sdk)
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(4))
                .operation_timeout(Duration::from_secs(20))
                .build(),
        )
        .build();
    aws_sdk_route53::Client::from_conf(conf)
}

/// Error codes that mean "slow down" or "try again", not "no": the SDK's own throttling and
/// transient lists, and SNS's `Throttled`, which they lack (see [`SnsThrottledIsRetryable`]).
fn is_retryable_code(code: &str) -> bool {
    THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code) || code == "Throttled"
}

/// Classifies an SDK error as the SDK's retry classifiers do: a throttling or transient
/// code, an error the service models as retryable, any 5xx (with or without a code: a
/// gateway's HTML page has none) or 429, a timeout or a failed dispatch is "unanswered"
/// (wait and retry); anything else is the service refusing the request.
pub(crate) fn classify<E>(
    service: &'static str,
    operation: &'static str,
    err: &SdkError<E, HttpResponse>,
) -> AwsError
where
    E: ProvideErrorMetadata + ProvideErrorKind + std::error::Error + 'static,
{
    let (kind, message) = match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let status = se.raw().status().as_u16();
            let code = ProvideErrorMetadata::code(e);
            let unanswered = code.is_some_and(is_retryable_code)
                || e.retryable_error_kind().is_some()
                || (500..600).contains(&status)
                || status == 429;
            let kind = if unanswered {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Rejected
            };
            let message = match code {
                Some(code) => format!("{code}: {}", e.message().unwrap_or("no message")),
                None => format!("HTTP {status} without an AWS error code"),
            };
            (kind, message)
        }
        SdkError::ConstructionFailure(_) => (ErrorKind::Rejected, format!("{err}")),
        // Timeouts, dispatch and response failures: the service did not answer usefully.
        other => (ErrorKind::Unavailable, format!("{other:?}")),
    };
    AwsError::new(service, operation, kind, message)
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no AWS region: set AWS_REGION (Lambda sets it for you)")]
    NoRegion,
    #[error("FAILOVER_TABLE '{table}' cannot be read: {source}")]
    Table { table: String, source: AwsError },
}

/// Reads the configuration, builds the clients and warms the catalog cache. A table that
/// cannot be read at all (missing, no permission) fails start-up; a slow one does not.
pub async fn engine_from_env(function: &'static str) -> Result<AwsEngine, InitError> {
    let config = Config::from_env()?;
    let budget = Route53Budget::new(route53_calls_per_second_from_env()?);
    let events = EventsSettings::from_env()?;
    let sdk = load_sdk_config().await;
    if sdk.region().is_none() {
        return Err(InitError::NoRegion);
    }
    let engine = engine_with_events(&sdk, &config, function, budget, events);
    match engine.catalog().await {
        Ok(catalog) => {
            tracing::info!(services = catalog.len(), table = %config.table, "catalog loaded")
        }
        Err(EngineError::Catalog(e)) if e.kind == ErrorKind::Rejected => {
            return Err(InitError::Table {
                table: config.table,
                source: e,
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "catalog not loaded at start-up; will retry on the first event")
        }
    }
    Ok(engine)
}

/// `engine_from_env`, or a logged, readable start-up failure (exit status 1) that names
/// the variable at fault. Lambda reports the exit as an init error.
pub async fn engine_or_exit(function: &'static str) -> AwsEngine {
    match engine_from_env(function).await {
        Ok(engine) => engine,
        Err(e) => exit_at_start(function, &e),
    }
}

/// Logs why the function cannot start, naming the variable or field, and exits 1.
pub fn exit_at_start(function: &str, e: &dyn std::fmt::Display) -> ! {
    tracing::error!(error = %e, "{function} cannot start");
    eprintln!("{function} cannot start: {e}");
    std::process::exit(1);
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_sdk_dynamodb::types::error::ReplicatedWriteConflictException;
    use aws_sdk_route53::operation::get_health_check_status::GetHealthCheckStatusError;
    use aws_sdk_sns::operation::publish::PublishError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn raw(status: u16, body: &'static str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("a status"),
            SdkBody::from(body),
        )
    }

    fn meta(code: &str, message: &str) -> ErrorMetadata {
        ErrorMetadata::builder().code(code).message(message).build()
    }

    /// A service error as the SDK's parser leaves it: a code when the body had one.
    fn route53(status: u16, code: Option<&str>) -> AwsError {
        let e = match code {
            Some(c) => GetHealthCheckStatusError::generic(meta(c, "m")),
            // What the REST-XML parser makes of a body that is not XML (a gateway's page).
            None => GetHealthCheckStatusError::unhandled("invalid XML: <html>"),
        };
        let body = "<html><body><h1>502 Bad Gateway</h1></body></html>";
        classify(
            "route53",
            "GetHealthCheckStatus",
            &SdkError::service_error(e, raw(status, body)),
        )
    }

    #[test]
    fn a_5xx_without_an_error_code_is_unanswered_not_a_refusal() {
        for status in [500, 502, 503, 504] {
            let e = route53(status, None);
            assert_eq!(e.kind, ErrorKind::Unavailable, "HTTP {status}: {e}");
            assert!(e.message.contains(&format!("HTTP {status}")), "{e}");
        }
        // A 4xx without a code is still a refusal (a proxy saying no), 429 asks us to wait.
        assert_eq!(route53(403, None).kind, ErrorKind::Rejected);
        assert_eq!(route53(429, None).kind, ErrorKind::Unavailable);
    }

    #[test]
    fn codes_are_classified_as_the_sdk_does() {
        // Route 53's throttling answers are HTTP 400 with a code.
        for code in ["Throttling", "PriorRequestNotComplete"] {
            assert_eq!(
                route53(400, Some(code)).kind,
                ErrorKind::Unavailable,
                "{code}"
            );
        }
        // Every code on the SDK's throttling and transient lists, at HTTP 400.
        for code in THROTTLING_ERRORS
            .iter()
            .chain(TRANSIENT_ERRORS)
            .chain(&["Throttled"])
        {
            assert_eq!(
                route53(400, Some(code)).kind,
                ErrorKind::Unavailable,
                "{code}"
            );
        }
        // A refusal is a refusal; a 5xx with any code is not.
        for code in ["InvalidInput", "NoSuchHealthCheck", "AccessDenied"] {
            let e = route53(400, Some(code));
            assert_eq!(e.kind, ErrorKind::Rejected, "{code}");
            assert!(e.message.starts_with(code), "{e}");
        }
        assert_eq!(
            route53(500, Some("InternalFailure")).kind,
            ErrorKind::Unavailable
        );

        let dynamo = |e: PutItemError, status| {
            classify(
                "dynamodb",
                "PutItem",
                &SdkError::service_error(e, raw(status, "{}")),
            )
        };
        let throttled = PutItemError::generic(meta("ProvisionedThroughputExceededException", "x"));
        assert_eq!(dynamo(throttled, 400).kind, ErrorKind::Unavailable);
        let refused = PutItemError::generic(meta("ValidationException", "x"));
        assert_eq!(dynamo(refused, 400).kind, ErrorKind::Rejected);
        // Modeled as retryable by the service (no list needed).
        let conflict = PutItemError::ReplicatedWriteConflictException(
            ReplicatedWriteConflictException::builder()
                .message("x")
                .meta(meta("ReplicatedWriteConflictException", "x"))
                .build(),
        );
        assert_eq!(dynamo(conflict, 400).kind, ErrorKind::Unavailable);

        let sns = |code| {
            classify(
                "sns",
                "Publish",
                &SdkError::service_error(PublishError::generic(meta(code, "x")), raw(400, "")),
            )
            .kind
        };
        assert_eq!(sns("Throttled"), ErrorKind::Unavailable);
        assert_eq!(sns("AuthorizationError"), ErrorKind::Rejected);
    }

    #[test]
    fn no_answer_is_unanswered_and_a_request_that_cannot_be_built_is_refused() {
        let kind = |e: SdkError<PublishError, HttpResponse>| classify("sns", "Publish", &e).kind;
        assert_eq!(
            kind(SdkError::timeout_error("attempt timeout")),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(SdkError::dispatch_failure(ConnectorError::io(
                "reset".into()
            ))),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind(SdkError::construction_failure("bad input")),
            ErrorKind::Rejected
        );
    }
}
