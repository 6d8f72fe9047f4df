//! The service catalog: one DynamoDB item per service (pk="catalog", sk=<service name>),
//! whose `definition` attribute holds the JSON parsed here.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _, IntoDeserializer};
use serde::{Deserialize, Deserializer, Serialize};

use super::arn::HomeAccount;
use super::switch::Switch;
use super::text::quote_capped;
use super::time::Millis;
use super::workflow::{CapacityFloor, WorkflowStep};

/// Longest service name accepted; names end up in DynamoDB keys and log lines.
pub const MAX_SERVICE_NAME_CHARS: usize = 80;
/// Upper bound for every `*_seconds` setting, so that converting to millis can never overflow.
pub const MAX_DURATION_SECONDS: u64 = 31 * 24 * 3600;
/// Statistics CloudWatch's GetMetricData accepts by name for the replica lag check.
pub const REPLICA_LAG_STATISTICS: [&str; 5] =
    ["Average", "Maximum", "Minimum", "Sum", "SampleCount"];

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
    /// How traffic is switched (`domain::switch`); Route 53's API by default.
    #[serde(default)]
    pub switch: Switch,
    /// A failback without `force` needs the primary's probe healthy for this long.
    #[serde(default = "default_failback_min_healthy_seconds")]
    pub failback_min_healthy_seconds: u64,
    /// After a failover switched, every observer must be OK again within this long, or
    /// `[NOT RECOVERED]` pages (`domain::recovery`).
    #[serde(default = "default_recovery_timeout_seconds")]
    pub recovery_timeout_seconds: u64,
    /// How often the reconciler evaluates the pre-flight while the primary is active
    /// (`domain::readiness`).
    #[serde(default = "default_readiness_interval_seconds")]
    pub readiness_interval_seconds: u64,
    /// The runbook after the switch (`domain::workflow`): scale, promote, invoke.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflow: Vec<WorkflowStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub region: String,
    pub health_check_id: String,
    /// A health check on the same endpoint that is never flipped, so the primary's real
    /// health stays visible while its switched check is forced (primary only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_health_check_id: Option<String>,
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
    /// What the secondary's readiness alarm in INSUFFICIENT_DATA counts as. An idle
    /// passive secondary often has no data, so `ready` is offered; `not_ready` stays the default.
    #[serde(default, deserialize_with = "choice_or_null")]
    pub secondary_alarm_insufficient_data: InsufficientData,
    /// The secondary's warm capacity a failover needs (`domain::workflow::CapacityFloor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<CapacityFloor>,
}

impl Default for Preflight {
    fn default() -> Self {
        Preflight {
            secondary_health_check: true,
            secondary_alarm_arn: None,
            replica_lag: None,
            secondary_alarm_insufficient_data: InsufficientData::default(),
            capacity: None,
        }
    }
}

/// `preflight.secondary_alarm_insufficient_data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsufficientData {
    #[default]
    NotReady,
    Ready,
}

/// `preflight.replica_lag.unit`: the unit the metric is published in. Aurora's
/// `AuroraGlobalDBReplicationLag` and `AuroraReplicaLag` are in milliseconds, RDS's
/// `ReplicaLag` in seconds; `max_seconds` is always seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LagUnit {
    #[default]
    Seconds,
    Milliseconds,
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
    #[serde(default, deserialize_with = "choice_or_null")]
    pub unit: LagUnit,
}

impl ReplicaLag {
    /// The metric's value in seconds, to compare with `max_seconds`.
    pub fn to_seconds(&self, value: f64) -> f64 {
        match self.unit {
            LagUnit::Seconds => value,
            LagUnit::Milliseconds => value / 1000.0,
        }
    }
}

/// A choice spelled as a string (`"milliseconds"`), or `null` for the default: Terraform
/// writes `null` for an optional input it was not given. Read as a string first, so a
/// number or a bool is refused at its field rather than as broken JSON.
fn choice_or_null<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + DeserializeOwned,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(T::default()),
        Some(s) => T::deserialize(s.into_deserializer())
            .map_err(|e: serde::de::value::Error| D::Error::custom(e)),
    }
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
fn default_failback_min_healthy_seconds() -> u64 {
    300
}
fn default_recovery_timeout_seconds() -> u64 {
    600
}
fn default_readiness_interval_seconds() -> u64 {
    300
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
        Self::parse_in(key, definition_json, None)
    }

    /// [`Self::parse`], refusing alarm ARNs outside `home` (the deployment's partition and
    /// account) when it is given.
    pub fn parse_in(
        key: &str,
        definition_json: &str,
        home: Option<&HomeAccount>,
    ) -> Result<ServiceDefinition, CatalogError> {
        let mut json = serde_json::Deserializer::from_str(definition_json);
        let def: ServiceDefinition = serde_path_to_error::deserialize(&mut json)
            .map_err(|e| parse_error(key, Some(e.path()), e.inner()))?;
        json.end().map_err(|e| parse_error(key, None, &e))?;
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
        def.validate_in(home)?;
        Ok(def)
    }
}

/// All valid service definitions, with an index from observer alarm ARN to services.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    services: BTreeMap<String, ServiceDefinition>,
    by_observer: BTreeMap<String, Vec<String>>,
    /// Entries whose definition does not parse, by key (see [`Catalog::from_items_in`]).
    refused: BTreeMap<String, Refusal>,
}

/// What the reconciler keeps beside a catalog entry, in an item of its own (Terraform owns
/// the entry's item and deletes attributes it did not write): the last definition that
/// parsed and the bad version last seen. `rev` orders concurrent writers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptVersions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good: Option<LastGood>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad: Option<BadVersion>,
    #[serde(default)]
    pub rev: u64,
}

/// The last definition of an entry that parsed, and when it was first seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastGood {
    pub definition: String,
    pub since: Millis,
}

/// A definition that does not parse: when it was first seen, why, and when it was paged
/// (`None`: not yet, or the page failed and is due again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadVersion {
    pub definition: String,
    pub since: Millis,
    pub field: String,
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paged_at: Option<Millis>,
}

/// One catalog entry as stored, with its kept versions. `definition`: `None` when only the
/// kept versions are left (the entry was deleted); `""` when the attribute is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogItem {
    pub key: String,
    pub definition: Option<String>,
    pub kept: KeptVersions,
}

/// An entry whose definition does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub error: CatalogError,
    /// When this bad version was first seen (as kept; else when it was read).
    pub since: Millis,
    /// The `since` of the last good definition the service runs on; `None`: no definition
    /// of it parses, so it is not protected.
    pub last_good_since: Option<Millis>,
}

impl Catalog {
    /// Builds from (sk, definition json) pairs; every bad entry is returned as an error and skipped, the good ones are kept.
    pub fn from_entries<I: IntoIterator<Item = (String, String)>>(
        entries: I,
    ) -> (Catalog, Vec<CatalogError>) {
        Self::from_entries_in(entries, None)
    }

    /// [`Self::from_entries`], refusing entries with an alarm ARN outside `home`.
    pub fn from_entries_in<I: IntoIterator<Item = (String, String)>>(
        entries: I,
        home: Option<&HomeAccount>,
    ) -> (Catalog, Vec<CatalogError>) {
        let mut catalog = Catalog::default();
        let mut errors = Vec::new();
        for (key, json) in entries {
            match ServiceDefinition::parse_in(&key, &json, home) {
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

    /// Builds from stored items: an entry whose definition does not parse runs on its last
    /// good definition if that still parses, and is a [`Refusal`] either way; the errors
    /// name every refused entry.
    pub fn from_items_in(
        items: &[CatalogItem],
        home: Option<&HomeAccount>,
        now: Millis,
    ) -> (Catalog, Vec<CatalogError>) {
        let mut entries = Vec::new();
        let mut refused = BTreeMap::new();
        let mut errors = Vec::new();
        for item in items {
            let Some(definition) = &item.definition else {
                continue;
            };
            let error = match ServiceDefinition::parse_in(&item.key, definition, home) {
                Ok(_) => {
                    entries.push((item.key.clone(), definition.clone()));
                    continue;
                }
                Err(e) => e,
            };
            let kept = &item.kept;
            let last_good = kept
                .last_good
                .as_ref()
                .filter(|g| ServiceDefinition::parse_in(&item.key, &g.definition, home).is_ok());
            if let Some(g) = last_good {
                entries.push((item.key.clone(), g.definition.clone()));
            }
            let since = kept
                .bad
                .as_ref()
                .filter(|b| &b.definition == definition)
                .map_or(now, |b| b.since);
            let refusal = Refusal {
                error: error.clone(),
                since,
                last_good_since: last_good.map(|g| g.since),
            };
            refused.insert(item.key.clone(), refusal);
            errors.push(error);
        }
        let (mut catalog, more) = Self::from_entries_in(entries, home);
        errors.extend(more);
        catalog.refused = refused;
        (catalog, errors)
    }

    /// Why entry `key` does not parse, if it does not.
    pub fn refusal(&self, key: &str) -> Option<&Refusal> {
        self.refused.get(key)
    }

    /// Every entry that does not parse, in key order.
    pub fn refusals(&self) -> impl Iterator<Item = (&String, &Refusal)> {
        self.refused.iter()
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

/// Cuts a value quoted in an error message so a huge input cannot bloat logs.
fn quote_cap(s: &str) -> String {
    quote_capped(s, MAX_QUOTED_CHARS)
}

/// A definition serde refused: the field is serde's path to the fault, or the whole
/// `definition` when the JSON itself is broken or the fault is at its top.
fn parse_error(
    key: &str,
    path: Option<&serde_path_to_error::Path>,
    e: &serde_json::Error,
) -> CatalogError {
    let field = match path.map(ToString::to_string) {
        Some(path) if path != "." && !e.is_syntax() && !e.is_eof() => quote_cap(&path),
        _ => "definition".to_string(),
    };
    CatalogError::new(key, field, quote_cap(&e.to_string()))
}

#[path = "catalog_validate.rs"]
mod validate;

#[cfg(test)]
#[path = "catalog_tests.rs"]
mod tests;
