//! Alerts to the SNS topic, with attributes subscriptions can filter on, and (when
//! [`SnsNotifier::with_events`] is set, as the functions wire it) to EventBridge beside it.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::classify;
use super::events::AlertEvents;
use crate::domain::alert::Alert;
use crate::ports::{AwsError, ErrorKind, Notifier};

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
    events: Option<AlertEvents>,
}

impl SnsNotifier {
    /// SNS only; [`SnsNotifier::with_events`] adds the EventBridge event.
    pub fn new(client: Client, topic_arn: &str) -> Self {
        SnsNotifier {
            client,
            topic_arn: topic_arn.to_string(),
            events: None,
        }
    }

    /// Every alert is also put on EventBridge, in the same round trip as the Publish.
    pub fn with_events(mut self, events: AlertEvents) -> Self {
        self.events = Some(events);
        self
    }
}

/// SNS answers a throttled Publish with the code `Throttled`, which is not in the SDK's list
/// of throttling codes, so without this the SDK would not retry it.
#[derive(Debug, Default)]
pub struct SnsThrottledIsRetryable;

impl ClassifyRetry for SnsThrottledIsRetryable {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let code = match ctx.output_or_error() {
            Some(Err(err)) => OrchestratorError::as_operation_error(err)
                .and_then(|e| e.downcast_ref::<aws_sdk_sns::operation::publish::PublishError>())
                .and_then(|e| e.code()),
            _ => None,
        };
        match code {
            Some("Throttled") => RetryAction::throttling_error(),
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "SNS Throttled is retryable"
    }
}

fn attr(data_type: &str, value: &str) -> Result<MessageAttributeValue, AwsError> {
    MessageAttributeValue::builder()
        .data_type(data_type)
        .string_value(value)
        .build()
        .map_err(|e| AwsError::new("sns", "Publish", ErrorKind::Rejected, e.to_string()))
}

impl SnsNotifier {
    async fn publish_to_sns(&self, alert: &Alert) -> Result<String, AwsError> {
        let out = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message(&alert.message)
            .message_attributes("service", attr("String", &alert.service)?)
            .message_attributes("event_type", attr("String", &alert.event_type)?)
            .message_attributes("epoch", attr("Number", &alert.epoch.to_string())?)
            .message_attributes("severity", attr("String", &alert.severity)?)
            .send()
            .await
            .map_err(|e| classify("sns", "Publish", &e))?;
        Ok(out.message_id().unwrap_or_default().to_string())
    }
}

impl Notifier for SnsNotifier {
    /// The Publish and the PutEvents leave together (one round trip, not two). The result is
    /// SNS's alone: SNS is the page of record, and the engine's at-most-once bookkeeping
    /// (the closing write, the outbox) hangs on it. A PutEvents error or a refused entry is
    /// logged at ERROR and counted as `EventsNotPut` by [`AlertEvents::put`], never an error
    /// here; a retried alert (SNS refused it) puts its event again, so a tool may see it twice.
    ///
    /// A slow EventBridge does not hold the alert (and so the closing write that waits on
    /// it): once SNS has answered, the event gets [`EVENT_GRACE_AFTER_SNS`] more, then it is
    /// given up, logged and counted as not put.
    async fn publish(&self, alert: &Alert) -> Result<String, AwsError> {
        match &self.events {
            Some(events) => {
                // Boxed: two SDK futures side by side are large in debug builds.
                let (published, put) = beside(
                    Box::pin(self.publish_to_sns(alert)),
                    Box::pin(events.put(alert)),
                    EVENT_GRACE_AFTER_SNS,
                )
                .await;
                if put.is_none() {
                    events.not_put(
                        alert,
                        &format!(
                            "no answer within {} ms of SNS's: given up",
                            EVENT_GRACE_AFTER_SNS.as_millis()
                        ),
                    );
                }
                published
            }
            None => self.publish_to_sns(alert).await,
        }
    }
}

/// Once SNS has answered, how much longer the alert's EventBridge event may take.
pub const EVENT_GRACE_AFTER_SNS: Duration = Duration::from_millis(500);

/// Runs `publish` and `put` together; returns once `publish` has answered and `put` has
/// too, or `grace` after `publish` at the latest (`None`: `put` was given up).
async fn beside<P: Future, E: Future>(
    publish: P,
    put: E,
    grace: Duration,
) -> (P::Output, Option<E::Output>) {
    let mut publish = std::pin::pin!(publish);
    let mut put = std::pin::pin!(put);
    let mut put_out = None;
    let published = loop {
        tokio::select! {
            p = &mut publish => break p,
            r = &mut put, if put_out.is_none() => put_out = Some(r),
        }
    };
    if put_out.is_none() {
        put_out = tokio::time::timeout(grace, put).await.ok();
    }
    (published, put_out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_event_answering_within_the_grace_is_kept() {
        let sleep = |ms| tokio::time::sleep(Duration::from_millis(ms));
        let (p, e) = beside(
            async {
                sleep(100).await;
                1
            },
            async {
                sleep(300).await;
                2
            },
            EVENT_GRACE_AFTER_SNS,
        )
        .await;
        assert_eq!((p, e), (1, Some(2)));
        let (p, e) = beside(
            async {
                sleep(100).await;
                1
            },
            async {
                sleep(100 + 8_000).await;
                2
            },
            EVENT_GRACE_AFTER_SNS,
        )
        .await;
        assert_eq!((p, e), (1, None));
    }

    /// On the paused clock: an EventBridge that never answers holds the alert exactly the
    /// grace after SNS's answer, not its own 8 s operation timeout.
    #[tokio::test(start_paused = true)]
    async fn a_silent_eventbridge_holds_the_alert_only_the_grace_after_sns() {
        let started = tokio::time::Instant::now();
        let (p, e) = beside(
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                "m-1"
            },
            std::future::pending::<()>(),
            EVENT_GRACE_AFTER_SNS,
        )
        .await;
        assert_eq!((p, e), ("m-1", None));
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(100) + EVENT_GRACE_AFTER_SNS
        );
    }
}
