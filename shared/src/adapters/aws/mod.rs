//! One adapter per port, over the AWS SDK. Retries and timeouts are the SDK's own.

mod cloudwatch;
mod dynamodb;
mod route53;
mod sns;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use cloudwatch::CloudWatchAlarms;
pub use dynamodb::DynamoStore;
pub use route53::Route53HealthChecks;
pub use sns::{SnsNotifier, SnsThrottledIsRetryable};

use crate::adapters::clock::SystemClock;
use crate::adapters::config::{Config, ConfigError};
use crate::engine::{Engine, EngineError};
use crate::ports::{AwsError, ErrorKind};

/// The engine wired to AWS.
pub type AwsEngine =
    Engine<DynamoStore, Route53HealthChecks, CloudWatchAlarms, SnsNotifier, SystemClock>;

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

/// Clients for every port from one SDK configuration.
pub fn engine(sdk: &SdkConfig, config: &Config, function: &'static str) -> AwsEngine {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(sdk)
            .retry_classifier(SnsThrottledIsRetryable)
            .build(),
    );
    Engine::new(
        DynamoStore::new(dynamodb, &config.table),
        Route53HealthChecks::new(route53_client(sdk)),
        CloudWatchAlarms::new(sdk.clone()),
        SnsNotifier::new(sns, &config.topic_arn),
        SystemClock,
        function,
    )
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

/// Classifies an SDK error: throttling, 5xx, timeouts and dispatch failures are worth retrying.
pub(crate) fn classify<E, R>(
    service: &'static str,
    operation: &'static str,
    err: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let (kind, message) = match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().unwrap_or("Unknown");
            let retryable = matches!(
                code,
                "ThrottlingException"
                    | "Throttling"
                    | "Throttled"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "PriorRequestNotComplete"
                    | "InternalServerError"
                    | "InternalFailure"
                    | "ServiceUnavailable"
                    | "InternalError"
            );
            let kind = if retryable {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Rejected
            };
            (
                kind,
                format!("{code}: {}", e.message().unwrap_or("no message")),
            )
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
    let sdk = load_sdk_config().await;
    if sdk.region().is_none() {
        return Err(InitError::NoRegion);
    }
    let engine = engine(&sdk, &config, function);
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
