//! The service catalog: one DynamoDB item per service (pk="catalog", sk=<service name>),
//! whose `definition` attribute holds the JSON parsed here.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// Longest service name accepted; names end up in DynamoDB keys and log lines.
pub const MAX_SERVICE_NAME_CHARS: usize = 80;
/// Upper bound for every `*_seconds` setting, so that converting to millis can never overflow.
pub const MAX_DURATION_SECONDS: u64 = 31 * 24 * 3600;
/// Statistics CloudWatch's GetMetricData accepts by name for the replica lag check.
pub const REPLICA_LAG_STATISTICS: [&str; 5] =
    ["Average", "Maximum", "Minimum", "Sum", "SampleCount"];

/// Longest CloudWatch alarm name (API limit).
const MAX_ALARM_NAME_CHARS: usize = 255;
/// Values quoted in error messages are cut to this many chars.
const MAX_QUOTED_CHARS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDefinition {
    pub name: String,
    pub primary: Endpoint,
    pub secondary: Endpoint,
    pub observers: Vec<String>,
    #[serde(default = "default_quorum")]
    pub quorum: u32,
    #[serde(default = "default_vote_window_seconds")]
    pub vote_window_seconds: u64,
    #[serde(default = "default_max_event_age_seconds")]
    pub max_event_age_seconds: u64,
    #[serde(default = "default_cooldown_seconds")]
    pub cooldown_seconds: u64,
    #[serde(default = "default_max_auto_failovers_per_day")]
    pub max_auto_failovers_per_day: u32,
    #[serde(default)]
    pub preflight: Preflight,
    /// When the reconciler finds the primary's check drifted from the decision: re-apply
    /// the decision (`true`), or only tell humans (`false`, the default: humans win).
    #[serde(default)]
    pub enforce: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub region: String,
    pub health_check_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preflight {
    #[serde(default = "default_true")]
    pub secondary_health_check: bool,
    #[serde(default)]
    pub secondary_alarm_arn: Option<String>,
    #[serde(default)]
    pub replica_lag: Option<ReplicaLag>,
}

impl Default for Preflight {
    fn default() -> Self {
        Preflight {
            secondary_health_check: true,
            secondary_alarm_arn: None,
            replica_lag: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaLag {
    pub region: String,
    pub namespace: String,
    pub metric_name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default = "default_statistic")]
    pub statistic: String,
    #[serde(default = "default_max_seconds")]
    pub max_seconds: f64,
}

fn default_quorum() -> u32 {
    2
}
fn default_vote_window_seconds() -> u64 {
    300
}
fn default_max_event_age_seconds() -> u64 {
    300
}
fn default_cooldown_seconds() -> u64 {
    3600
}
fn default_max_auto_failovers_per_day() -> u32 {
    1
}
fn default_true() -> bool {
    true
}
fn default_statistic() -> String {
    "Maximum".to_string()
}
fn default_max_seconds() -> f64 {
    30.0
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("catalog entry '{service}': field '{field}': {message}")]
pub struct CatalogError {
    pub service: String,
    pub field: String,
    pub message: String,
}

impl CatalogError {
    fn new(service: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        CatalogError {
            service: quote_cap(service),
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ServiceDefinition {
    /// Parses and validates one catalog item. `key` is the item's sk.
    pub fn parse(key: &str, definition_json: &str) -> Result<ServiceDefinition, CatalogError> {
        let def: ServiceDefinition = serde_json::from_str(definition_json).map_err(|e| {
            let message = e.to_string();
            let field = serde_field_name(&message).unwrap_or_else(|| "definition".to_string());
            CatalogError::new(key, field, quote_cap(&message))
        })?;
        if def.name != key {
            return Err(CatalogError::new(
                key,
                "name",
                format!(
                    "'{}' does not match the item key '{}'",
                    quote_cap(&def.name),
                    quote_cap(key)
                ),
            ));
        }
        def.validate()?;
        Ok(def)
    }

    pub fn validate(&self) -> Result<(), CatalogError> {
        let err = |field: &str, message: String| Err(CatalogError::new(&self.name, field, message));

        if let Some(problem) = service_name_problem(&self.name) {
            return err("name", problem);
        }
        for (prefix, ep) in [("primary", &self.primary), ("secondary", &self.secondary)] {
            if !is_region(&ep.region) {
                return err(
                    &format!("{prefix}.region"),
                    format!("'{}' is not an AWS region", quote_cap(&ep.region)),
                );
            }
            if ep.health_check_id.trim().is_empty() {
                return err(
                    &format!("{prefix}.health_check_id"),
                    "must not be empty".into(),
                );
            }
        }
        if self.primary.region == self.secondary.region {
            return err(
                "secondary.region",
                format!(
                    "'{}' is the same as primary.region",
                    quote_cap(&self.secondary.region)
                ),
            );
        }
        if self.primary.health_check_id == self.secondary.health_check_id {
            return err(
                "secondary.health_check_id",
                "is the same as primary.health_check_id".into(),
            );
        }

        if self.observers.is_empty() {
            return err("observers", "must list at least one alarm ARN".into());
        }
        let mut seen = HashSet::new();
        for (i, arn) in self.observers.iter().enumerate() {
            let field = format!("observers[{i}]");
            if AlarmArn::parse(arn).is_none() {
                return err(
                    &field,
                    format!("'{}' is not a CloudWatch alarm ARN", quote_cap(arn)),
                );
            }
            if !seen.insert(arn.as_str()) {
                return err(&field, format!("'{}' is listed twice", quote_cap(arn)));
            }
        }
        // usize -> u64 never truncates on supported targets; compare in u64 to avoid casts down.
        let observer_count = self.observers.len() as u64;
        if self.quorum == 0 || u64::from(self.quorum) > observer_count {
            return err(
                "quorum",
                format!(
                    "{} must be between 1 and the number of observers ({observer_count})",
                    self.quorum
                ),
            );
        }

        for (field, value) in [
            ("vote_window_seconds", self.vote_window_seconds),
            ("max_event_age_seconds", self.max_event_age_seconds),
            ("cooldown_seconds", self.cooldown_seconds),
        ] {
            if value == 0 || value > MAX_DURATION_SECONDS {
                return err(
                    field,
                    format!("{value} must be between 1 and {MAX_DURATION_SECONDS}"),
                );
            }
        }
        if self.max_auto_failovers_per_day == 0 {
            return err("max_auto_failovers_per_day", "must be at least 1".into());
        }

        if let Some(arn) = &self.preflight.secondary_alarm_arn {
            if AlarmArn::parse(arn).is_none() {
                return err(
                    "preflight.secondary_alarm_arn",
                    format!("'{}' is not a CloudWatch alarm ARN", quote_cap(arn)),
                );
            }
        }
        if let Some(lag) = &self.preflight.replica_lag {
            if !is_region(&lag.region) {
                return err(
                    "preflight.replica_lag.region",
                    format!("'{}' is not an AWS region", quote_cap(&lag.region)),
                );
            }
            if lag.namespace.trim().is_empty() {
                return err(
                    "preflight.replica_lag.namespace",
                    "must not be empty".into(),
                );
            }
            if lag.metric_name.trim().is_empty() {
                return err(
                    "preflight.replica_lag.metric_name",
                    "must not be empty".into(),
                );
            }
            if lag
                .dimensions
                .iter()
                .any(|(k, v)| k.is_empty() || v.is_empty())
            {
                return err(
                    "preflight.replica_lag.dimensions",
                    "dimension names and values must not be empty".into(),
                );
            }
            if !REPLICA_LAG_STATISTICS.contains(&lag.statistic.as_str()) {
                return err(
                    "preflight.replica_lag.statistic",
                    format!(
                        "'{}' is not one of {}",
                        quote_cap(&lag.statistic),
                        REPLICA_LAG_STATISTICS.join(", ")
                    ),
                );
            }
            if !(lag.max_seconds.is_finite() && lag.max_seconds > 0.0) {
                return err(
                    "preflight.replica_lag.max_seconds",
                    format!("{} must be a finite number > 0", lag.max_seconds),
                );
            }
        }
        Ok(())
    }
}

/// All valid service definitions, with an index from observer alarm ARN to services.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    services: BTreeMap<String, ServiceDefinition>,
    by_observer: BTreeMap<String, Vec<String>>,
}

impl Catalog {
    /// Builds from (sk, definition json) pairs; every bad entry is returned as an error and skipped, the good ones are kept.
    pub fn from_entries<I: IntoIterator<Item = (String, String)>>(
        entries: I,
    ) -> (Catalog, Vec<CatalogError>) {
        let mut catalog = Catalog::default();
        let mut errors = Vec::new();
        for (key, json) in entries {
            match ServiceDefinition::parse(&key, &json) {
                Ok(def) => {
                    // DynamoDB keys are unique, so a repeat means a caller bug: keep the first.
                    if catalog.services.contains_key(&def.name) {
                        errors.push(CatalogError::new(
                            &key,
                            "name",
                            "duplicate catalog entry; the first one is kept",
                        ));
                        continue;
                    }
                    catalog.services.insert(def.name.clone(), def);
                }
                Err(e) => errors.push(e),
            }
        }
        for def in catalog.services.values() {
            for arn in &def.observers {
                catalog
                    .by_observer
                    .entry(arn.clone())
                    .or_default()
                    .push(def.name.clone());
            }
        }
        (catalog, errors)
    }

    pub fn service(&self, name: &str) -> Option<&ServiceDefinition> {
        self.services.get(name)
    }

    /// Services in name order.
    pub fn services(&self) -> impl Iterator<Item = &ServiceDefinition> {
        self.services.values()
    }

    /// Every service that lists this alarm ARN as an observer (normally one), in name order.
    pub fn services_observing(&self, alarm_arn: &str) -> Vec<&ServiceDefinition> {
        self.by_observer
            .get(alarm_arn)
            .map(|names| names.iter().filter_map(|n| self.services.get(n)).collect())
            .unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// The parts of `arn:<partition>:cloudwatch:<region>:<12-digit account>:alarm:<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlarmArn<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub alarm_name: &'a str,
}

impl<'a> AlarmArn<'a> {
    /// `None` unless `arn` is a well-formed CloudWatch alarm ARN.
    pub fn parse(arn: &'a str) -> Option<AlarmArn<'a>> {
        // splitn keeps any ':' inside the alarm name.
        let mut parts = arn.splitn(7, ':');
        let (arn_lit, partition, service, region, account_id, resource, alarm_name) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        let partition_ok = !partition.is_empty()
            && partition
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-');
        let account_ok = account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit());
        let name_ok = !alarm_name.is_empty()
            && alarm_name.chars().count() <= MAX_ALARM_NAME_CHARS
            && !alarm_name.chars().any(char::is_control);
        (arn_lit == "arn"
            && partition_ok
            && service == "cloudwatch"
            && is_region(region)
            && account_ok
            && resource == "alarm"
            && name_ok)
            .then_some(AlarmArn {
                partition,
                region,
                account_id,
                alarm_name,
            })
    }
}

/// Hand-written `^[a-z]{2}(-[a-z]+)+-\d+$` (e.g. us-east-1, us-gov-west-1).
pub fn is_region(s: &str) -> bool {
    if s.len() > 32 {
        return false;
    }
    let parts: Vec<&str> = s.split('-').collect();
    let (Some(first), Some(last), Some(middle)) = (
        parts.first(),
        parts.last(),
        parts.get(1..parts.len().saturating_sub(1)),
    ) else {
        return false;
    };
    parts.len() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && middle
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
}

fn service_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.chars().count() > MAX_SERVICE_NAME_CHARS {
        return Some(format!("longer than {MAX_SERVICE_NAME_CHARS} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Some(format!(
            "'{}' may only contain A-Z, a-z, 0-9, '_', '.', '-'",
            quote_cap(name)
        ));
    }
    None
}

/// The field serde names in "unknown field `x`", "missing field `x`" or "duplicate field `x`".
fn serde_field_name(message: &str) -> Option<String> {
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| {
            let (_, rest) = message.split_once(prefix)?;
            let (field, _) = rest.split_once('`')?;
            Some(field.to_string())
        })
}

/// Cuts a value quoted in an error message so a huge input cannot bloat logs.
fn quote_cap(s: &str) -> String {
    crate::event::quote_capped(s, MAX_QUOTED_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"{"name": "checkout",
 "primary":   {"region": "us-east-1", "health_check_id": "hc-primary"},
 "secondary": {"region": "eu-west-1", "health_check_id": "hc-secondary"},
 "observers": ["arn:aws:cloudwatch:us-east-1:210987654321:alarm:checkout-canary-use1",
               "arn:aws:cloudwatch:us-west-2:210987654321:alarm:checkout-canary-usw2",
               "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-canary-euw1"],
 "quorum": 2,
 "vote_window_seconds": 300, "max_event_age_seconds": 300,
 "cooldown_seconds": 3600, "max_auto_failovers_per_day": 1,
 "preflight": {"secondary_health_check": true,
               "secondary_alarm_arn": "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-health-euw1",
               "replica_lag": {"region": "eu-west-1", "namespace": "AWS/RDS", "metric_name": "ReplicaLag",
                               "dimensions": {"DBInstanceIdentifier": "checkout-replica"},
                               "statistic": "Maximum", "max_seconds": 30}}}"#;

    const MINIMAL: &str = r#"{"name": "checkout",
 "primary":   {"region": "us-east-1", "health_check_id": "hc-primary"},
 "secondary": {"region": "eu-west-1", "health_check_id": "hc-secondary"},
 "observers": ["arn:aws:cloudwatch:us-east-1:210987654321:alarm:a",
               "arn:aws:cloudwatch:us-west-2:210987654321:alarm:b"]}"#;

    fn full_value() -> serde_json::Value {
        serde_json::from_str(FULL).unwrap_or_default()
    }

    /// The full example with `value` set at a '/'-separated path (the parent must exist).
    fn with(path: &str, value: serde_json::Value) -> String {
        let mut v = full_value();
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        let pointer = if parent.is_empty() {
            String::new()
        } else {
            format!("/{parent}")
        };
        match v.pointer_mut(&pointer) {
            Some(serde_json::Value::Object(m)) => {
                m.insert(key.to_string(), value);
            }
            Some(serde_json::Value::Array(a)) => {
                a[key.parse::<usize>().unwrap()] = value;
            }
            _ => panic!("bad test path {path}"),
        }
        v.to_string()
    }

    /// The full example without the key at a '/'-separated path.
    fn without(path: &str) -> String {
        let mut v = full_value();
        let (parent, key) = path.rsplit_once('/').unwrap_or(("", path));
        let pointer = if parent.is_empty() {
            String::new()
        } else {
            format!("/{parent}")
        };
        if let Some(m) = v.pointer_mut(&pointer).and_then(|p| p.as_object_mut()) {
            m.remove(key);
        }
        v.to_string()
    }

    #[test]
    fn full_example_parses() {
        let def = ServiceDefinition::parse("checkout", FULL).unwrap();
        assert_eq!(def.name, "checkout");
        assert_eq!(def.primary.region, "us-east-1");
        assert_eq!(def.secondary.health_check_id, "hc-secondary");
        assert_eq!(def.observers.len(), 3);
        assert_eq!(def.quorum, 2);
        let lag = def.preflight.replica_lag.as_ref().unwrap();
        assert_eq!(lag.namespace, "AWS/RDS");
        assert_eq!(
            lag.dimensions
                .get("DBInstanceIdentifier")
                .map(String::as_str),
            Some("checkout-replica")
        );
        assert_eq!(lag.max_seconds, 30.0);
        assert!(def.preflight.secondary_alarm_arn.is_some());
        // Round-trips through serde unchanged.
        let again =
            ServiceDefinition::parse("checkout", &serde_json::to_string(&def).unwrap()).unwrap();
        assert_eq!(again, def);
    }

    #[test]
    fn minimal_example_gets_defaults() {
        let def = ServiceDefinition::parse("checkout", MINIMAL).unwrap();
        assert_eq!(def.quorum, 2);
        assert_eq!(def.vote_window_seconds, 300);
        assert_eq!(def.max_event_age_seconds, 300);
        assert_eq!(def.cooldown_seconds, 3600);
        assert_eq!(def.max_auto_failovers_per_day, 1);
        assert_eq!(def.preflight, Preflight::default());
        assert!(def.preflight.secondary_health_check);
        assert_eq!(def.preflight.secondary_alarm_arn, None);
        assert_eq!(def.preflight.replica_lag, None);
    }

    #[test]
    fn replica_lag_defaults() {
        let json = with(
            "preflight/replica_lag",
            serde_json::json!({"region": "eu-west-1", "namespace": "AWS/RDS", "metric_name": "ReplicaLag"}),
        );
        let def = ServiceDefinition::parse("checkout", &json).unwrap();
        let lag = def.preflight.replica_lag.unwrap();
        assert_eq!(lag.statistic, "Maximum");
        assert!(lag.dimensions.is_empty());
        assert_eq!(lag.max_seconds, 30.0);
        // A preflight object with only some keys keeps the other defaults.
        let json = with(
            "preflight",
            serde_json::json!({"secondary_alarm_arn": null}),
        );
        let def = ServiceDefinition::parse("checkout", &json).unwrap();
        assert_eq!(def.preflight, Preflight::default());
    }

    #[test]
    fn each_rule_names_its_field() {
        use serde_json::json;
        let arn = |r: &str, n: &str| format!("arn:aws:cloudwatch:{r}:210987654321:alarm:{n}");
        let obs3 =
            |third: serde_json::Value| json!([arn("us-east-1", "a"), arn("us-west-2", "b"), third]);
        let cases: Vec<(&str, &str, String)> = vec![
            // (case, expected field, json)
            (
                "sk differs from name",
                "name",
                with("name", json!("payments")),
            ),
            ("empty name", "name", with("name", json!(""))),
            ("long name", "name", with("name", json!("a".repeat(81)))),
            ("bad char in name", "name", with("name", json!("check out"))),
            ("unicode in name", "name", with("name", json!("chéckout"))),
            (
                "bad primary region",
                "primary.region",
                with("primary/region", json!("US-EAST-1")),
            ),
            (
                "region without number",
                "primary.region",
                with("primary/region", json!("us-east")),
            ),
            (
                "region one part",
                "secondary.region",
                with("secondary/region", json!("useast-1")),
            ),
            (
                "region trailing",
                "secondary.region",
                with("secondary/region", json!("eu-west-1a")),
            ),
            (
                "empty primary hc",
                "primary.health_check_id",
                with("primary/health_check_id", json!("")),
            ),
            (
                "blank secondary hc",
                "secondary.health_check_id",
                with("secondary/health_check_id", json!("  ")),
            ),
            (
                "same regions",
                "secondary.region",
                with("secondary/region", json!("us-east-1")),
            ),
            (
                "same hc ids",
                "secondary.health_check_id",
                with("secondary/health_check_id", json!("hc-primary")),
            ),
            ("no observers", "observers", with("observers", json!([]))),
            (
                "observer not an arn",
                "observers[2]",
                with("observers", obs3(json!("checkout-canary"))),
            ),
            (
                "observer sns arn",
                "observers[2]",
                with(
                    "observers",
                    obs3(json!("arn:aws:sns:us-east-1:210987654321:topic")),
                ),
            ),
            (
                "observer short account",
                "observers[2]",
                with(
                    "observers",
                    obs3(json!("arn:aws:cloudwatch:us-east-1:21098765432:alarm:x")),
                ),
            ),
            (
                "observer no name",
                "observers[2]",
                with(
                    "observers",
                    obs3(json!("arn:aws:cloudwatch:us-east-1:210987654321:alarm:")),
                ),
            ),
            (
                "observer dashboard",
                "observers[2]",
                with(
                    "observers",
                    obs3(json!("arn:aws:cloudwatch::210987654321:dashboard:x")),
                ),
            ),
            (
                "duplicate observer",
                "observers[2]",
                with("observers", obs3(json!(arn("us-east-1", "a")))),
            ),
            ("quorum zero", "quorum", with("quorum", json!(0))),
            ("quorum too big", "quorum", with("quorum", json!(4))),
            (
                "vote window zero",
                "vote_window_seconds",
                with("vote_window_seconds", json!(0)),
            ),
            (
                "vote window huge",
                "vote_window_seconds",
                with("vote_window_seconds", json!(u64::MAX)),
            ),
            (
                "event age zero",
                "max_event_age_seconds",
                with("max_event_age_seconds", json!(0)),
            ),
            (
                "cooldown zero",
                "cooldown_seconds",
                with("cooldown_seconds", json!(0)),
            ),
            (
                "failovers zero",
                "max_auto_failovers_per_day",
                with("max_auto_failovers_per_day", json!(0)),
            ),
            (
                "secondary alarm arn",
                "preflight.secondary_alarm_arn",
                with(
                    "preflight/secondary_alarm_arn",
                    json!("arn:aws:sns:eu-west-1:210987654321:x"),
                ),
            ),
            (
                "lag region",
                "preflight.replica_lag.region",
                with("preflight/replica_lag/region", json!("europe")),
            ),
            (
                "lag namespace",
                "preflight.replica_lag.namespace",
                with("preflight/replica_lag/namespace", json!("")),
            ),
            (
                "lag metric",
                "preflight.replica_lag.metric_name",
                with("preflight/replica_lag/metric_name", json!("")),
            ),
            (
                "lag dimensions",
                "preflight.replica_lag.dimensions",
                with("preflight/replica_lag/dimensions", json!({"": "x"})),
            ),
            (
                "lag statistic",
                "preflight.replica_lag.statistic",
                with("preflight/replica_lag/statistic", json!("p99")),
            ),
            (
                "lag max zero",
                "preflight.replica_lag.max_seconds",
                with("preflight/replica_lag/max_seconds", json!(0)),
            ),
            (
                "lag max negative",
                "preflight.replica_lag.max_seconds",
                with("preflight/replica_lag/max_seconds", json!(-1.5)),
            ),
            // serde errors
            ("unknown field", "quorom", with("quorom", json!(2))),
            (
                "unknown nested field",
                "health_check",
                with("primary/health_check", json!("x")),
            ),
            ("missing field", "observers", without("observers")),
            (
                "missing nested field",
                "metric_name",
                without("preflight/replica_lag/metric_name"),
            ),
            ("wrong type", "definition", with("quorum", json!("2"))),
            ("negative quorum", "definition", with("quorum", json!(-1))),
            ("not json", "definition", "{\"name\": ".to_string()),
            ("not an object", "definition", "[]".to_string()),
        ];
        for (case, field, json) in &cases {
            match ServiceDefinition::parse("checkout", json) {
                Ok(_) => panic!("{case}: accepted"),
                Err(e) => {
                    assert_eq!(&e.field, field, "{case}: {e}");
                    assert_eq!(e.service, "checkout", "{case}: {e}");
                    assert!(!e.message.is_empty(), "{case}");
                }
            }
        }
    }

    #[test]
    fn regions_and_arns() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-2",
            "eu-central-1",
            "cn-north-1",
            "il-central-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us",
            "us-1",
            "us-east",
            "u-east-1",
            "use-east-1",
            "us--1",
            "us-east-",
            "-us-east-1",
            "us-east-1-",
            "us-East-1",
            "us-east-x",
            "ü-east-1",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
        let arn = "arn:aws-us-gov:cloudwatch:us-gov-west-1:210987654321:alarm:a:b";
        assert_eq!(
            AlarmArn::parse(arn),
            Some(AlarmArn {
                partition: "aws-us-gov",
                region: "us-gov-west-1",
                account_id: "210987654321",
                alarm_name: "a:b",
            })
        );
        assert!(AlarmArn::parse("arn:aws:cloudwatch:us-east-1:210987654321:alarm").is_none());
        assert!(AlarmArn::parse(&format!(
            "arn:aws:cloudwatch:us-east-1:210987654321:alarm:{}",
            "x".repeat(256)
        ))
        .is_none());
        assert!(AlarmArn::parse("arn:aws:cloudwatch:us-east-1:210987654321:alarm:a\nb").is_none());
    }

    #[test]
    fn huge_values_are_capped_in_messages() {
        let long = "x".repeat(100_000);
        let err =
            ServiceDefinition::parse("checkout", &with("primary/region", serde_json::json!(long)))
                .unwrap_err();
        assert_eq!(err.field, "primary.region");
        assert!(err.to_string().len() < 400, "{}", err.to_string().len());
        let err = ServiceDefinition::parse(&long, MINIMAL).unwrap_err();
        assert!(err.to_string().len() < 600);
    }

    #[test]
    fn from_entries_keeps_good_entries() {
        let other = MINIMAL.replace("\"checkout\"", "\"payments\"");
        let (catalog, errors) = Catalog::from_entries(vec![
            ("checkout".to_string(), FULL.to_string()),
            ("broken".to_string(), "{".to_string()),
            ("payments".to_string(), other),
            ("mismatch".to_string(), MINIMAL.to_string()),
            ("checkout".to_string(), FULL.to_string()),
        ]);
        assert_eq!(catalog.len(), 2);
        assert!(!catalog.is_empty());
        assert!(catalog.service("checkout").is_some());
        assert!(catalog.service("payments").is_some());
        assert!(catalog.service("broken").is_none());
        let names: Vec<&str> = catalog.services().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["checkout", "payments"]);
        let failed: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.service.as_str(), e.field.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                ("broken", "definition"),
                ("mismatch", "name"),
                ("checkout", "name")
            ]
        );
        let empty = Catalog::default();
        assert!(empty.is_empty());
        assert!(empty.services_observing("x").is_empty());
    }

    #[test]
    fn observer_shared_by_two_services() {
        let shared = "arn:aws:cloudwatch:us-east-1:210987654321:alarm:a";
        let other = MINIMAL.replace("\"checkout\"", "\"payments\"");
        let (catalog, errors) = Catalog::from_entries(vec![
            ("payments".to_string(), other),
            ("checkout".to_string(), MINIMAL.to_string()),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<&str> = catalog
            .services_observing(shared)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["checkout", "payments"]);
        assert!(catalog
            .services_observing("arn:aws:cloudwatch:us-east-1:210987654321:alarm:zzz")
            .is_empty());
    }
}
