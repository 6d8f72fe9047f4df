//! Configuration from the environment, checked once at start-up.

use crate::adapters::aws::budget::{
    DEFAULT_ROUTE53_CALLS_PER_SECOND, MAX_ROUTE53_CALLS_PER_SECOND,
};
use crate::domain::alert::DEFAULT_RUNBOOK_BASE_URL;
use crate::domain::arn::HomeAccount;
use crate::domain::time::secs;
use crate::engine::ReconcileSettings;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is empty")]
    Empty(&'static str),
    #[error("environment variable {name} is invalid: {message}")]
    Invalid { name: &'static str, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DynamoDB control table.
    pub table: String,
    /// The SNS topic every alert goes to.
    pub topic_arn: String,
}

pub const FAILOVER_TABLE: &str = "FAILOVER_TABLE";
pub const ALERT_TOPIC_ARN: &str = "ALERT_TOPIC_ARN";
/// What every function reads at start-up; Terraform sets each (checked by tests/tests/infra.rs).
pub const ENV_VARS: &[&str] = &[FAILOVER_TABLE, ALERT_TOPIC_ARN];

pub const ESCALATION_INTERVAL_SECONDS: &str = "ESCALATION_INTERVAL_SECONDS";
/// What the reconciler reads besides [`ENV_VARS`].
pub const RECONCILER_ENV_VARS: &[&str] = &[ESCALATION_INTERVAL_SECONDS];
/// Optional, every function: the Route 53 calls a second this process may make (1 to 10,
/// default 4). Route 53's API budget is the account's, shared with every other tool in it.
pub const ROUTE53_CALLS_PER_SECOND: &str = "ROUTE53_CALLS_PER_SECOND";

/// Optional, every function: the EventBridge bus every alert is also put on (a name or an
/// ARN; unset: `default`). Terraform sets it only for a bus of its own.
pub const EVENT_BUS_NAME: &str = "EVENT_BUS_NAME";
/// Optional, every function: where the events' `runbook_url` points (the README's sections
/// are appended as anchors); unset: [`DEFAULT_RUNBOOK_BASE_URL`].
pub const RUNBOOK_BASE_URL: &str = "RUNBOOK_BASE_URL";

/// Where every alert's EventBridge event goes, and the runbook its links point into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsSettings {
    pub bus: String,
    pub runbook_base: String,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings {
            bus: "default".into(),
            runbook_base: DEFAULT_RUNBOOK_BASE_URL.into(),
        }
    }
}

impl EventsSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// A set but bad value fails start-up naming the variable: an alert's event put on a
    /// bus that cannot exist would be lost on every alert, silently but for a metric.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut s = EventsSettings::default();
        if let Some(v) = get(EVENT_BUS_NAME) {
            let v = v.trim();
            if v.is_empty() {
                return Err(ConfigError::Empty(EVENT_BUS_NAME));
            }
            // PutEvents' EventBusName: a name or an ARN, 1 to 256 of these characters.
            if v.len() > 256
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
            {
                return Err(ConfigError::Invalid {
                    name: EVENT_BUS_NAME,
                    message: format!(
                        "'{}' is not an event bus name or ARN (1-256 of A-Z a-z 0-9 . _ - / :)",
                        crate::domain::text::clip(v, 300)
                    ),
                });
            }
            s.bus = v.to_string();
        }
        if let Some(v) = get(RUNBOOK_BASE_URL) {
            let v = v.trim();
            if v.is_empty() {
                return Err(ConfigError::Empty(RUNBOOK_BASE_URL));
            }
            if !(v.starts_with("https://") || v.starts_with("http://"))
                || v.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ConfigError::Invalid {
                    name: RUNBOOK_BASE_URL,
                    message: format!(
                        "'{}' is not an http(s) URL",
                        crate::domain::text::clip(v, 300)
                    ),
                });
            }
            s.runbook_base = v.to_string();
        }
        Ok(s)
    }
}

/// `ROUTE53_CALLS_PER_SECOND` from the environment, or the default when unset.
pub fn route53_calls_per_second_from_env() -> Result<u32, ConfigError> {
    route53_calls_per_second(std::env::var(ROUTE53_CALLS_PER_SECOND).ok().as_deref())
}

/// `ROUTE53_CALLS_PER_SECOND`'s value (`None`: unset, the default): a whole number from 1
/// to [`MAX_ROUTE53_CALLS_PER_SECOND`] (Route 53 refills an account's bucket at 10 a second).
pub fn route53_calls_per_second(value: Option<&str>) -> Result<u32, ConfigError> {
    let Some(v) = value else {
        return Ok(DEFAULT_ROUTE53_CALLS_PER_SECOND);
    };
    let v = v.trim();
    if v.is_empty() {
        return Err(ConfigError::Empty(ROUTE53_CALLS_PER_SECOND));
    }
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_ROUTE53_CALLS_PER_SECOND).contains(n))
        .ok_or_else(|| ConfigError::Invalid {
            name: ROUTE53_CALLS_PER_SECOND,
            message: format!(
                "'{v}' is not a whole number of calls a second between 1 and \
                 {MAX_ROUTE53_CALLS_PER_SECOND}"
            ),
        })
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Same as `from_env`, from any source (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let read = |name: &'static str| -> Result<String, ConfigError> {
            let v = get(name).ok_or(ConfigError::Missing(name))?;
            let v = v.trim().to_string();
            if v.is_empty() {
                return Err(ConfigError::Empty(name));
            }
            Ok(v)
        };
        let table = read(FAILOVER_TABLE)?;
        if table.len() < 3
            || table.len() > 255
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ConfigError::Invalid {
                name: FAILOVER_TABLE,
                message: format!(
                    "'{table}' is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .)"
                ),
            });
        }
        let topic_arn = read(ALERT_TOPIC_ARN)?;
        let parts: Vec<&str> = topic_arn.split(':').collect();
        // Its partition and account are the deployment's (see `home_account`).
        if parts.len() != 6
            || parts[2] != "sns"
            || parts[5].is_empty()
            || HomeAccount::of_arn(&topic_arn).is_none()
        {
            return Err(ConfigError::Invalid {
                name: ALERT_TOPIC_ARN,
                message: format!(
                    "'{topic_arn}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
                ),
            });
        }
        Ok(Config { table, topic_arn })
    }

    /// The partition and account the functions run in, from the alert topic's ARN (the
    /// topic is the deployment's own): known without an API call at start-up. `None` only
    /// for a `Config` built by hand with a malformed ARN.
    pub fn home_account(&self) -> Option<HomeAccount> {
        HomeAccount::of_arn(&self.topic_arn)
    }
}

impl ReconcileSettings {
    /// `ESCALATION_INTERVAL_SECONDS` (optional, 60 to 86400) overrides the default 15 minutes.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut s = ReconcileSettings::default();
        if let Ok(v) = std::env::var(ESCALATION_INTERVAL_SECONDS) {
            let secs_value: u64 = v
                .trim()
                .parse()
                .ok()
                .filter(|n| (60..=86_400).contains(n))
                .ok_or(ConfigError::Invalid {
                    name: ESCALATION_INTERVAL_SECONDS,
                    message: format!("'{v}' is not a number of seconds between 60 and 86400"),
                })?;
            s.escalation_interval_ms = secs(secs_value);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn every_bad_variable_is_named() {
        let topic = "arn:aws:sns:us-east-1:123456789012:failover-alerts";
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(ALERT_TOPIC_ARN, topic)], "FAILOVER_TABLE is not set"),
            (
                &[(FAILOVER_TABLE, " "), (ALERT_TOPIC_ARN, topic)],
                "FAILOVER_TABLE is empty",
            ),
            (
                &[(FAILOVER_TABLE, "t/x"), (ALERT_TOPIC_ARN, topic)],
                "FAILOVER_TABLE is invalid",
            ),
            (&[(FAILOVER_TABLE, "control")], "ALERT_TOPIC_ARN is not set"),
            (
                &[(FAILOVER_TABLE, "control"), (ALERT_TOPIC_ARN, "")],
                "ALERT_TOPIC_ARN is empty",
            ),
            (
                &[(FAILOVER_TABLE, "control"), (ALERT_TOPIC_ARN, "my-topic")],
                "ALERT_TOPIC_ARN is invalid",
            ),
            // The deployment's account comes from the topic: it must be a real one.
            (
                &[
                    (FAILOVER_TABLE, "control"),
                    (ALERT_TOPIC_ARN, "arn:aws:sns:us-east-1:12345:alerts"),
                ],
                "ALERT_TOPIC_ARN is invalid",
            ),
            (
                &[
                    (FAILOVER_TABLE, "control"),
                    (ALERT_TOPIC_ARN, "arn::sns:us-east-1:123456789012:alerts"),
                ],
                "ALERT_TOPIC_ARN is invalid",
            ),
        ];
        for (pairs, want) in cases {
            let err = cfg(pairs).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
        let ok = cfg(&[(FAILOVER_TABLE, "control"), (ALERT_TOPIC_ARN, topic)]).unwrap();
        assert_eq!(ok.table, "control");
        assert_eq!(
            ok.home_account(),
            Some(HomeAccount {
                partition: "aws".into(),
                account_id: "123456789012".into()
            })
        );
        let gov = cfg(&[
            (FAILOVER_TABLE, "control"),
            (
                ALERT_TOPIC_ARN,
                "arn:aws-us-gov:sns:us-gov-west-1:210987654321:alerts",
            ),
        ])
        .unwrap();
        assert_eq!(
            gov.home_account().map(|h| (h.partition, h.account_id)),
            Some(("aws-us-gov".into(), "210987654321".into()))
        );
    }

    fn events(pairs: &[(&str, &str)]) -> Result<EventsSettings, ConfigError> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EventsSettings::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn the_event_bus_and_runbook_default_and_name_themselves_when_bad() {
        assert_eq!(events(&[]), Ok(EventsSettings::default()));
        assert_eq!(EventsSettings::default().bus, "default");
        let arn = "arn:aws:events:us-east-1:123456789012:event-bus/ops-alerts";
        for bus in ["ops-alerts", " ops.alerts_2 ", arn] {
            assert_eq!(events(&[(EVENT_BUS_NAME, bus)]).unwrap().bus, bus.trim());
        }
        let long = "b".repeat(257);
        for bad in ["", " ", "ops alerts", "bus*", "bus\nname", long.as_str()] {
            let err = events(&[(EVENT_BUS_NAME, bad)]).unwrap_err().to_string();
            assert!(err.contains(EVENT_BUS_NAME), "{bad:?}: {err}");
        }
        assert!(events(&[(EVENT_BUS_NAME, &"b".repeat(256))]).is_ok());
        let wiki = "https://wiki.example.com/failover";
        assert_eq!(
            events(&[(RUNBOOK_BASE_URL, wiki)]).unwrap().runbook_base,
            wiki
        );
        for bad in ["", "wiki/failover", "https://wiki/a b"] {
            let err = events(&[(RUNBOOK_BASE_URL, bad)]).unwrap_err().to_string();
            assert!(err.contains(RUNBOOK_BASE_URL), "{bad:?}: {err}");
        }
    }

    #[test]
    fn route53_calls_per_second_defaults_and_names_itself_when_bad() {
        assert_eq!(route53_calls_per_second(None), Ok(4));
        assert_eq!(route53_calls_per_second(Some(" 7 ")), Ok(7));
        assert_eq!(route53_calls_per_second(Some("1")), Ok(1));
        assert_eq!(route53_calls_per_second(Some("10")), Ok(10));
        for bad in ["", " ", "0", "11", "-1", "2.5", "four"] {
            let err = route53_calls_per_second(Some(bad)).unwrap_err().to_string();
            assert!(err.contains(ROUTE53_CALLS_PER_SECOND), "{bad:?}: {err}");
        }
    }
}
