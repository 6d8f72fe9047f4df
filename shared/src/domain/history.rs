//! Audit records: one per observation, decision, step, refusal and operator action.

use serde::{Deserialize, Serialize};

use super::state::VoteRecord;
use super::time::{fmt_time_ms, Millis};

/// How long audit records are kept (the table's TTL attribute is set from it).
pub const HISTORY_RETENTION_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub at: Millis,
    pub epoch: u64,
    /// observation | decision | refusal | step | blocked | ignored
    pub kind: String,
    /// Who: the observer's alarm ARN, the invocation, or the operator.
    pub actor: String,
    pub what: String,
    pub why: String,
    #[serde(default)]
    pub votes: Vec<VoteRecord>,
    /// Makes the sort key unique and a rewrite of the same record idempotent.
    pub key: String,
}

impl HistoryRecord {
    /// `history#<time>#<epoch>#<key>`: sorts by time, so `status` reads the newest first.
    pub fn sort_key(&self) -> String {
        format!(
            "history#{}#{:08}#{}",
            fmt_time_ms(self.at),
            self.epoch,
            self.key
        )
    }

    pub fn expires_at_secs(&self) -> i64 {
        self.at / 1000 + HISTORY_RETENTION_DAYS * 86_400
    }
}
