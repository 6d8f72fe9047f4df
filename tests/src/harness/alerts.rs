//! What reached the alert topic: the SNS notifications its SQS subscriber received.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use serde_json::Value;

fn fail(operation: &str, error: impl std::error::Error) -> ! {
    panic!("{operation} failed: {}", DisplayErrorContext(&error))
}

/// One SNS attribute as carried in the notification JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsAttribute {
    /// `Type`: `String`, `Number`, `Binary`, `String.Array`.
    pub data_type: String,
    /// `Value` (base64 for `Binary`).
    pub value: String,
}

/// An SNS notification as delivered to an SQS subscriber with
/// RawMessageDelivery=false.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsEnvelope {
    /// `MessageId`.
    pub message_id: String,
    /// `TopicArn`.
    pub topic_arn: String,
    /// `Subject`; empty when the publisher gave none (SNS then omits it).
    pub subject: String,
    /// `Message`: the published body.
    pub message: String,
    /// `MessageAttributes`, by name.
    pub attributes: BTreeMap<String, SnsAttribute>,
    /// The whole notification document.
    pub raw: Value,
}

impl SnsEnvelope {
    /// Parses an SQS body holding an SNS notification document.
    pub fn parse(body: &str) -> Result<Self, String> {
        let raw: Value =
            serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
        let text = |key: &str| raw.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut attributes = BTreeMap::new();
        if let Some(map) = raw.get("MessageAttributes").and_then(Value::as_object) {
            for (name, attr) in map {
                let field = |k: &str| {
                    attr.get(k)
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .ok_or_else(|| format!("attribute {name} lacks {k}: {attr}"))
                };
                attributes.insert(
                    name.clone(),
                    SnsAttribute {
                        data_type: field("Type")?,
                        value: field("Value")?,
                    },
                );
            }
        }
        Ok(SnsEnvelope {
            message_id: text("MessageId").ok_or_else(|| format!("no MessageId: {body}"))?,
            topic_arn: text("TopicArn").ok_or_else(|| format!("no TopicArn: {body}"))?,
            subject: text("Subject").unwrap_or_default(),
            message: text("Message").ok_or_else(|| format!("no Message: {body}"))?,
            attributes,
            raw,
        })
    }

    /// The value of attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.attributes.get(name).map(|a| a.value.clone())
    }

    /// `Message` parsed as JSON.
    pub fn message_json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.message)
    }
}

/// Receives (and deletes) the SNS notifications in `queue_url`: polls for up
/// to `wait` for the first message, then drains until a receive comes back
/// empty. Returns them in receive order (SQS standard queues do not promise
/// publish order). Panics if a body is not an SNS notification.
pub async fn receive_sns_messages(
    config: &SdkConfig,
    queue_url: &str,
    wait: Duration,
) -> Vec<SnsEnvelope> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    loop {
        // Short polls: SNS->SQS delivery in moto happens inside Publish, so a
        // message is either there or not; no need to hold a long poll open.
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(30)
            .send()
            .await
            .unwrap_or_else(|e| fail(&format!("ReceiveMessage {queue_url}"), e));
        let messages = received.messages();
        if messages.is_empty() {
            if !out.is_empty() || Instant::now() >= deadline {
                return out;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        for message in messages {
            let body = message.body().unwrap_or_default();
            let envelope = SnsEnvelope::parse(body)
                .unwrap_or_else(|e| panic!("SQS message in {queue_url} is not SNS: {e}"));
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap_or_else(|e| fail("DeleteMessage", e));
            }
            out.push(envelope);
        }
    }
}
