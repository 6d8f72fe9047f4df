//! Every alert also put on EventBridge (`domain::alert::event_detail`), so that rules can
//! route it to PagerDuty, a webhook or any other tool. SNS stays the page of record: a put
//! that fails is logged at ERROR and counted (`EventsNotPut`), and never fails the alert.

use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::classify;
use crate::adapters::config::EventsSettings;
use crate::domain::alert::{event_detail, Alert, EVENT_SOURCE};
use crate::metrics::{emit, Unit};

/// The metric counted for every alert whose event did not reach the bus.
pub const EVENTS_NOT_PUT: &str = "EventsNotPut";

#[derive(Debug, Clone)]
pub struct AlertEvents {
    client: Client,
    settings: EventsSettings,
    /// The metric's `Function` dimension.
    function: &'static str,
}

impl AlertEvents {
    pub fn new(client: Client, settings: EventsSettings, function: &'static str) -> Self {
        AlertEvents {
            client,
            settings,
            function,
        }
    }

    /// The bus the events go to.
    pub fn bus(&self) -> &str {
        &self.settings.bus
    }

    /// The PutEvents entry of `alert`.
    pub fn entry(&self, alert: &Alert) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(EVENT_SOURCE)
            .detail_type(&alert.event_type)
            .detail(event_detail(alert, &self.settings.runbook_base).to_string())
            .event_bus_name(&self.settings.bus)
            .build()
    }

    /// Puts `alert`'s event. Returns why it was not put, after logging and counting it;
    /// the caller does not act on it (the SNS page is what the alert's result reports).
    pub async fn put(&self, alert: &Alert) -> Result<(), String> {
        let result = self
            .client
            .put_events()
            .entries(self.entry(alert))
            .send()
            .await;
        let why = match result {
            Ok(out) => match not_put(&out) {
                None => return Ok(()),
                Some(why) => why,
            },
            Err(e) => classify("events", "PutEvents", &e).to_string(),
        };
        self.not_put(alert, &why);
        Err(why)
    }

    /// Logs at ERROR and counts (`EventsNotPut`) that `alert`'s event was not put.
    pub fn not_put(&self, alert: &Alert, why: &str) {
        tracing::error!(
            subject = %alert.subject,
            service = %alert.service,
            event_type = %alert.event_type,
            bus = %self.settings.bus,
            error = %why,
            "alert event NOT put on EventBridge (the SNS alert is unaffected)"
        );
        emit(
            self.function,
            Some(&alert.service),
            chrono::Utc::now().timestamp_millis(),
            &[(EVENTS_NOT_PUT, 1.0, Unit::Count)],
            &[("event_type", &alert.event_type)],
        );
    }
}

/// Why an answered PutEvents did not put the entry: EventBridge answers 200 with
/// `FailedEntryCount` > 0 and the entry's error code when it refuses an entry.
pub fn not_put(out: &PutEventsOutput) -> Option<String> {
    if out.failed_entry_count() == 0 {
        return None;
    }
    let errors: Vec<String> = out
        .entries()
        .iter()
        .filter(|e| e.error_code().is_some())
        .map(|e| {
            format!(
                "{}: {}",
                e.error_code().unwrap_or_default(),
                e.error_message().unwrap_or("no message")
            )
        })
        .collect();
    Some(format!(
        "FailedEntryCount {}: {}",
        out.failed_entry_count(),
        if errors.is_empty() {
            "no error code".to_string()
        } else {
            errors.join("; ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use aws_sdk_eventbridge::types::PutEventsResultEntry;

    use super::*;

    #[test]
    fn a_refused_entry_is_not_put_and_says_why() {
        let ok = PutEventsOutput::builder()
            .failed_entry_count(0)
            .entries(PutEventsResultEntry::builder().event_id("e-1").build())
            .build();
        assert_eq!(not_put(&ok), None);
        let refused = PutEventsOutput::builder()
            .failed_entry_count(1)
            .entries(
                PutEventsResultEntry::builder()
                    .error_code("InternalFailure")
                    .error_message("try again")
                    .build(),
            )
            .build();
        assert_eq!(
            not_put(&refused).as_deref(),
            Some("FailedEntryCount 1: InternalFailure: try again")
        );
    }

    #[test]
    fn the_entry_is_the_alerts_event_on_the_configured_bus() {
        let conf = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .build();
        let settings = EventsSettings {
            bus: "ops-alerts".into(),
            runbook_base: "https://wiki/failover".into(),
        };
        let events = AlertEvents::new(Client::from_conf(conf), settings, "test");
        let alert = Alert {
            subject: "[HELD] checkout: quorum held by the cooldown".into(),
            message: "HELD: checkout\n".into(),
            service: "checkout".into(),
            event_type: "held".into(),
            epoch: 4,
            severity: "critical".into(),
        };
        let e = events.entry(&alert);
        assert_eq!(e.source(), Some(EVENT_SOURCE));
        assert_eq!(e.detail_type(), Some("held"));
        assert_eq!(e.event_bus_name(), Some("ops-alerts"));
        let detail: serde_json::Value = serde_json::from_str(e.detail().unwrap()).unwrap();
        assert_eq!(detail["runbook_url"], "https://wiki/failover#runbook");
        assert_eq!(detail["dedup_key"], "checkout#4");
    }
}
