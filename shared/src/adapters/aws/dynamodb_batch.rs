//! BatchGetItem of many services' state items (the reconciler's and `status`'s bulk read).

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::KeysAndAttributes;
use tracing::error;

use super::classify;
use super::dynamodb::{service_of, state_from_item, DynamoStore};
use crate::domain::state::ServiceState;
use crate::ports::{AwsError, ErrorKind, MAX_STATES_PER_READ};

/// Keys DynamoDB leaves unprocessed are asked again this many times, the pause doubling.
const UNPROCESSED_RETRIES: u32 = 5;
const UNPROCESSED_BACKOFF_MS: u64 = 50;

impl DynamoStore {
    pub(super) async fn batch_load_states(
        &self,
        services: &[String],
    ) -> Result<HashMap<String, ServiceState>, AwsError> {
        // BatchGetItem refuses the same key twice in one request.
        let mut wanted: Vec<&String> = services.iter().collect();
        wanted.sort();
        wanted.dedup();
        let mut states = HashMap::with_capacity(wanted.len());
        let mut unreadable = HashSet::new();
        for chunk in wanted.chunks(MAX_STATES_PER_READ) {
            let mut keys: Vec<_> = chunk.iter().map(|service| self.key(service)).collect();
            let mut retries = 0;
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| {
                        AwsError::new(
                            "dynamodb",
                            "BatchGetItem",
                            ErrorKind::Rejected,
                            e.to_string(),
                        )
                    })?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| classify("dynamodb", "BatchGetItem", &e))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    let Some(service) = service_of(item) else {
                        continue;
                    };
                    // One unreadable item must not hide the other 99 services; it is left
                    // out (never taken as the initial state) and the caller reports it.
                    match state_from_item(item) {
                        Ok(state) => {
                            states.insert(service.to_string(), state);
                        }
                        Err(e) => {
                            error!(service, error = %e, "state item unreadable; left out of the batch");
                            unreadable.insert(service.to_string());
                        }
                    }
                }
                keys = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
                if keys.is_empty() {
                    break;
                }
                if retries == UNPROCESSED_RETRIES {
                    return Err(AwsError::new(
                        "dynamodb",
                        "BatchGetItem",
                        ErrorKind::Unavailable,
                        format!(
                            "{} keys still unprocessed after {UNPROCESSED_RETRIES} retries",
                            keys.len()
                        ),
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(
                    UNPROCESSED_BACKOFF_MS << retries,
                ))
                .await;
                retries += 1;
            }
        }
        // A service without an item has the initial state, as `load_state` says.
        for service in wanted {
            if !unreadable.contains(service) {
                states.entry(service.clone()).or_default();
            }
        }
        Ok(states)
    }
}
