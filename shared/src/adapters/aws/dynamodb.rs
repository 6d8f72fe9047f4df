//! The control table: catalog items, the per-service state item, and audit history.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;

use super::classify;
use crate::domain::catalog::{CatalogItem, KeptVersions};
use crate::domain::history::HistoryRecord;
use crate::domain::state::{Execution, Pause, Phase, ServiceState, Vote};
use crate::domain::time::Millis;
use crate::ports::{AwsError, ControlStore, ControlWrite, ErrorKind, VoteWrite};

pub const CATALOG_PK: &str = "catalog";
pub const STATE_SK: &str = "state";
/// Votes are top-level attributes `vote#<alarm ARN>`, so one SET works on a new item too.
pub const VOTE_PREFIX: &str = "vote#";
/// The reconciler's kept versions of entry `<name>`: `pk = "catalog"`, `sk = "kept#<name>"`
/// (a service name cannot hold `#`), so the catalog's one Query returns them too.
pub const KEPT_PREFIX: &str = "kept#";

#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
}

pub fn service_pk(service: &str) -> String {
    format!("service#{service}")
}

impl DynamoStore {
    /// A conditional update of a vote: the state it wrote, or, when its condition failed,
    /// the state that beat it (`ALL_OLD` in the error; without it, read the state: one more
    /// round trip).
    async fn vote_write(
        &self,
        service: &str,
        result: Result<UpdateItemOutput, SdkError<UpdateItemError, HttpResponse>>,
    ) -> Result<VoteWrite, AwsError> {
        match result {
            Ok(out) => Ok(VoteWrite::Recorded(
                out.attributes()
                    .map_or(Ok(ServiceState::default()), state_from_item)?,
            )),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(cf)) => match cf.item() {
                    Some(item) => Ok(VoteWrite::NotNewer(state_from_item(item)?)),
                    None => Ok(VoteWrite::NotNewer(self.load_state(service).await?)),
                },
                _ => Err(classify("dynamodb", "UpdateItem", &e)),
            },
        }
    }

    pub fn new(client: Client, table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_string(),
        }
    }

    pub(super) fn key(&self, service: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_string(), s(service_pk(service))),
            ("sk".to_string(), s(STATE_SK)),
        ])
    }
}

/// The service a state item's key names (`pk = "service#<name>"`).
pub(super) fn service_of(item: &HashMap<String, AttributeValue>) -> Option<&str> {
    item.get("pk")?.as_s().ok()?.strip_prefix("service#")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn corrupt(field: &str, detail: impl std::fmt::Display) -> AwsError {
    AwsError::new(
        "dynamodb",
        "parse state item",
        ErrorKind::Rejected,
        format!("state item attribute '{field}' is not valid: {detail}"),
    )
}

fn to_av<T: serde::Serialize>(field: &str, v: &T) -> Result<AttributeValue, AwsError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| corrupt(field, e))
}

fn from_av<T: DeserializeOwned>(field: &str, v: &AttributeValue) -> Result<T, AwsError> {
    serde_dynamo::from_attribute_value(v.clone()).map_err(|e| corrupt(field, e))
}

fn number<T: std::str::FromStr>(field: &str, v: &AttributeValue) -> Result<T, AwsError> {
    match v {
        AttributeValue::N(x) => x.parse().map_err(|_| corrupt(field, x)),
        other => Err(corrupt(field, format!("{other:?}"))),
    }
}

/// A kept-versions item. One that cannot be read counts as none (logged), keeping its
/// `rev`, so the next write replaces it and the catalog itself still loads.
fn kept_from_item(service: &str, mut item: HashMap<String, AttributeValue>) -> KeptVersions {
    for key in ["pk", "sk"] {
        item.remove(key);
    }
    let rev = item
        .get("rev")
        .and_then(|v| number("rev", v).ok())
        .unwrap_or(0);
    serde_dynamo::from_item(item).unwrap_or_else(|e| {
        tracing::warn!(service, error = %e, "kept catalog versions unreadable; ignored");
        KeptVersions {
            rev,
            ..KeptVersions::default()
        }
    })
}

/// Reads a state item; a missing item is the initial state.
pub fn state_from_item(item: &HashMap<String, AttributeValue>) -> Result<ServiceState, AwsError> {
    let mut state = ServiceState::default();
    for (name, value) in item {
        match name.as_str() {
            "pk" | "sk" => {}
            "phase" => {
                let text = value.as_s().map_err(|_| corrupt(name, "not a string"))?;
                state.phase = Phase::parse(text).ok_or_else(|| corrupt(name, text))?;
            }
            "epoch" => state.epoch = number(name, value)?,
            "version" => state.version = number(name, value)?,
            "last_transition_at" => state.last_transition_at = Some(number(name, value)?),
            "held_paged" => state.held_paged = Some(from_av(name, value)?),
            "escalated_at" => state.escalated_at = Some(number(name, value)?),
            "drift" => state.drift = Some(from_av(name, value)?),
            "outbox" => state.outbox = from_av(name, value)?,
            "readiness" => state.readiness = Some(from_av(name, value)?),
            "auto_failovers" => state.auto_failovers = from_av(name, value)?,
            "pause" => state.pause = Some(from_av::<Pause>(name, value)?),
            "exec" => state.execution = Some(from_av::<Execution>(name, value)?),
            other => {
                if let Some(observer) = other.strip_prefix(VOTE_PREFIX) {
                    state
                        .votes
                        .insert(observer.to_string(), from_av::<Vote>(name, value)?);
                }
            }
        }
    }
    Ok(state)
}

impl ControlStore for DynamoStore {
    async fn load_catalog(&self) -> Result<Vec<(String, String)>, AwsError> {
        let items = self.load_catalog_items().await?.into_iter();
        Ok(items.filter_map(|i| Some((i.key, i.definition?))).collect())
    }

    async fn load_catalog_items(&self) -> Result<Vec<CatalogItem>, AwsError> {
        let pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(CATALOG_PK))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await;
        let mut entries: BTreeMap<String, CatalogItem> = BTreeMap::new();
        for item in pages {
            let item = item.map_err(|e| classify("dynamodb", "Query", &e))?;
            let key = item
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            if let Some(service) = key.strip_prefix(KEPT_PREFIX) {
                let entry = entries.entry(service.to_string()).or_default();
                entry.key = service.to_string();
                entry.kept = kept_from_item(service, item);
                continue;
            }
            // A missing or non-string definition is reported by the catalog parser, by name.
            let definition = item
                .get("definition")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let entry = entries.entry(key.clone()).or_default();
            entry.key = key;
            entry.definition = Some(definition);
        }
        Ok(entries.into_values().collect())
    }

    async fn write_kept(
        &self,
        service: &str,
        expected_rev: u64,
        next: &KeptVersions,
    ) -> Result<bool, AwsError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(next).map_err(|e| corrupt("kept", e))?;
        item.insert("pk".into(), s(CATALOG_PK));
        item.insert("sk".into(), s(format!("{KEPT_PREFIX}{service}")));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#rev) OR #rev = :expected")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":expected", n(expected_rev))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("dynamodb", "PutItem", &e)),
        }
    }

    async fn load_state(&self, service: &str) -> Result<ServiceState, AwsError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(service)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("dynamodb", "GetItem", &e))?;
        out.item()
            .map_or(Ok(ServiceState::default()), state_from_item)
    }

    async fn load_states(
        &self,
        services: &[String],
    ) -> Result<HashMap<String, ServiceState>, AwsError> {
        self.batch_load_states(services).await
    }

    async fn record_vote(
        &self,
        service: &str,
        observer: &str,
        vote: &Vote,
    ) -> Result<VoteWrite, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(service)))
            .update_expression(
                "SET #v = :v, #phase = if_not_exists(#phase, :phase0), \
                 #epoch = if_not_exists(#epoch, :zero), #version = if_not_exists(#version, :zero)",
            )
            .condition_expression("attribute_not_exists(#v) OR #v.#at < :at")
            .expression_attribute_names("#v", format!("{VOTE_PREFIX}{observer}"))
            .expression_attribute_names("#at", "at")
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", to_av("vote", vote)?)
            .expression_attribute_values(":at", n(vote.at))
            .expression_attribute_values(":phase0", s(Phase::PrimaryActive.as_str()))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        self.vote_write(service, result).await
    }

    async fn write_control(
        &self,
        service: &str,
        expected_version: u64,
        next: &ServiceState,
    ) -> Result<ControlWrite, AwsError> {
        let mut sets = vec![
            "#phase = :phase",
            "#epoch = :epoch",
            "#version = :next",
            "#af = :af",
        ];
        let mut removes = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(service)))
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_names("#epoch", "epoch")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#af", "auto_failovers")
            .expression_attribute_names("#lta", "last_transition_at")
            .expression_attribute_names("#held", "held_paged")
            .expression_attribute_names("#esc", "escalated_at")
            .expression_attribute_names("#drift", "drift")
            .expression_attribute_names("#outbox", "outbox")
            .expression_attribute_names("#ready", "readiness")
            .expression_attribute_names("#pause", "pause")
            .expression_attribute_names("#exec", "exec")
            .expression_attribute_values(":phase", s(next.phase.as_str()))
            .expression_attribute_values(":epoch", n(next.epoch))
            .expression_attribute_values(":next", n(next.version))
            .expression_attribute_values(":expected", n(expected_version))
            .expression_attribute_values(":af", to_av("auto_failovers", &next.auto_failovers)?);
        match next.last_transition_at {
            Some(t) => {
                sets.push("#lta = :lta");
                req = req.expression_attribute_values(":lta", n(t));
            }
            None => removes.push("#lta"),
        }
        match &next.held_paged {
            Some(h) => {
                sets.push("#held = :held");
                req = req.expression_attribute_values(":held", to_av("held_paged", h)?);
            }
            None => removes.push("#held"),
        }
        match next.escalated_at {
            Some(t) => {
                sets.push("#esc = :esc");
                req = req.expression_attribute_values(":esc", n(t));
            }
            None => removes.push("#esc"),
        }
        match &next.drift {
            Some(d) => {
                sets.push("#drift = :drift");
                req = req.expression_attribute_values(":drift", to_av("drift", d)?);
            }
            None => removes.push("#drift"),
        }
        if next.outbox.is_empty() {
            removes.push("#outbox");
        } else {
            sets.push("#outbox = :outbox");
            req = req.expression_attribute_values(":outbox", to_av("outbox", &next.outbox)?);
        }
        match &next.readiness {
            Some(r) => {
                sets.push("#ready = :ready");
                req = req.expression_attribute_values(":ready", to_av("readiness", r)?);
            }
            None => removes.push("#ready"),
        }
        match &next.pause {
            Some(p) => {
                sets.push("#pause = :pause");
                req = req.expression_attribute_values(":pause", to_av("pause", p)?);
            }
            None => removes.push("#pause"),
        }
        match &next.execution {
            Some(x) => {
                sets.push("#exec = :exec");
                req = req.expression_attribute_values(":exec", to_av("exec", x)?);
            }
            None => removes.push("#exec"),
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let condition = if expected_version == 0 {
            "attribute_not_exists(#version) OR #version = :expected"
        } else {
            "#version = :expected"
        };
        let result = req
            .update_expression(expr)
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ControlWrite::Written),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(cf)) => {
                    Ok(ControlWrite::Conflict(
                        cf.item().map(state_from_item).transpose()?.map(Box::new),
                    ))
                }
                _ => Err(classify("dynamodb", "UpdateItem", &e)),
            },
        }
    }

    async fn confirm_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
        confirmed_at: Millis,
    ) -> Result<VoteWrite, AwsError> {
        if votes.is_empty() {
            return Ok(VoteWrite::NotNewer(self.load_state(service).await?));
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(service)))
            .expression_attribute_names("#at", "at")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#c", "confirmed_at")
            .expression_attribute_values(":alarm", s("ALARM"))
            .expression_attribute_values(":c", n(confirmed_at));
        let mut sets = Vec::new();
        let mut conditions = Vec::new();
        for (i, (observer, at)) in votes.iter().enumerate() {
            req = req
                .expression_attribute_names(format!("#v{i}"), format!("{VOTE_PREFIX}{observer}"))
                .expression_attribute_values(format!(":at{i}"), n(at));
            sets.push(format!("#v{i}.#c = :c"));
            // Only the very vote that was read: a newer event (OK included) wins.
            conditions.push(format!("(#v{i}.#at = :at{i} AND #v{i}.#st = :alarm)"));
        }
        let result = req
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        self.vote_write(service, result).await
    }

    async fn expire_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
    ) -> Result<bool, AwsError> {
        if votes.is_empty() {
            return Ok(true);
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(self.key(service)))
            .expression_attribute_names("#at", "at");
        let mut removes = Vec::new();
        let mut conditions = Vec::new();
        for (i, (observer, at)) in votes.iter().enumerate() {
            req = req
                .expression_attribute_names(format!("#v{i}"), format!("{VOTE_PREFIX}{observer}"))
                .expression_attribute_values(format!(":at{i}"), n(at));
            removes.push(format!("#v{i}"));
            conditions.push(format!("#v{i}.#at = :at{i}"));
        }
        let result = req
            .update_expression(format!("REMOVE {}", removes.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(classify("dynamodb", "UpdateItem", &e)),
        }
    }

    async fn recent_history(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>, AwsError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :h)")
            .expression_attribute_values(":pk", s(service_pk(service)))
            .expression_attribute_values(":h", s("history#"))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| classify("dynamodb", "Query", &e))?;
        out.items()
            .iter()
            .map(|item| {
                let mut item = item.clone();
                for key in ["pk", "sk", "expires_at"] {
                    item.remove(key);
                }
                serde_dynamo::from_item(item).map_err(|e| corrupt("history", e))
            })
            .collect()
    }

    async fn append_history(&self, service: &str, record: &HistoryRecord) -> Result<(), AwsError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(record).map_err(|e| corrupt("history", e))?;
        item.insert("pk".into(), s(service_pk(service)));
        item.insert("sk".into(), s(record.sort_key()));
        item.insert("expires_at".into(), n(record.expires_at_secs()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("dynamodb", "PutItem", &e)),
        }
    }
}
