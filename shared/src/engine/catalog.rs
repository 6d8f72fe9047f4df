//! The catalog as the functions see it: cached, re-read once a minute and on a miss, each
//! service on its current definition or, when that stopped parsing, on its last good one.
//! The reconciler keeps the last good definitions and pages each bad version once.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use tracing::{error, info, warn};

use super::{Engine, EngineError};
use crate::domain::alert::catalog_alert;
use crate::domain::catalog::{BadVersion, Catalog, CatalogItem, KeptVersions, LastGood};
use crate::domain::time::Millis;
use crate::metrics::Unit;
use crate::ports::{Clock, CloudWatch, ControlStore, HealthChecks, Notifier, Runbook};

/// The catalog is re-read at most this often.
pub const CATALOG_TTL_MS: Millis = 60_000;

/// A catalog that does not know a requested service or observer (a new entry) is re-read
/// at once, but a miss re-reads at most this often, so a flood of events from unknown
/// alarms cannot turn into a flood of Queries. A failed re-read is retried no sooner.
pub const CATALOG_MISS_REFRESH_MS: Millis = 10_000;

/// The function that keeps the catalog's versions and pages bad ones: the reconciler runs
/// every minute off every request path, so a vote's and an operator action's round trips
/// stay as they are; the others only read the kept versions with the catalog.
pub const CATALOG_KEEPER: &str = "reconciler";

/// Kept-version writes in flight at once.
const KEEP_FAN_OUT: usize = 8;

/// The last good catalog and when it was read; when a miss last re-read it; when a
/// re-read last failed.
#[derive(Default)]
pub(super) struct CatalogCache {
    catalog: Option<(Arc<Catalog>, Millis)>,
    miss_read_at: Option<Millis>,
    failed_at: Option<Millis>,
}

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// The cached catalog, re-read when older than a minute. A bad entry is logged by name
    /// and field and runs on its last good definition (or is skipped when it has none); if
    /// a re-read fails, the last good catalog is kept.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, EngineError> {
        self.catalog_with(|_| true).await
    }

    /// The cached catalog, re-read as [`Engine::catalog`] does, and also at once when `knows`
    /// is false for it (a service or observer added since it was read); a miss re-reads at
    /// most once every [`CATALOG_MISS_REFRESH_MS`].
    pub async fn catalog_with(
        &self,
        knows: impl Fn(&Catalog) -> bool,
    ) -> Result<Arc<Catalog>, EngineError> {
        self.catalog_refreshed_on_miss(knows, 0).await
    }

    /// As [`Engine::catalog_with`] for an alarm event: a miss re-reads only a catalog read
    /// at least [`CATALOG_MISS_REFRESH_MS`] ago, so an event from an alarm that is no
    /// observer costs no call within 10 s of a read (the path stays free of round trips).
    pub async fn catalog_for_event(
        &self,
        knows: impl Fn(&Catalog) -> bool,
    ) -> Result<Arc<Catalog>, EngineError> {
        self.catalog_refreshed_on_miss(knows, CATALOG_MISS_REFRESH_MS)
            .await
    }

    /// The catalog as last read, without reading (for `status`'s view of the fallbacks).
    pub(super) async fn cached_catalog(&self) -> Option<Arc<Catalog>> {
        self.catalog
            .lock()
            .await
            .catalog
            .as_ref()
            .map(|c| c.0.clone())
    }

    async fn catalog_refreshed_on_miss(
        &self,
        knows: impl Fn(&Catalog) -> bool,
        min_age: Millis,
    ) -> Result<Arc<Catalog>, EngineError> {
        let now = self.clock.now();
        let (catalog, items) = self.read_if_due(knows, min_age, now).await?;
        // The bookkeeping runs after the cache's lock is released.
        if let Some(items) = items.filter(|_| self.function == CATALOG_KEEPER) {
            self.keep_versions(&items, &catalog, now).await;
        }
        Ok(catalog)
    }

    /// The cached catalog, or a fresh read and its items when one is due.
    async fn read_if_due(
        &self,
        knows: impl Fn(&Catalog) -> bool,
        min_age: Millis,
        now: Millis,
    ) -> Result<(Arc<Catalog>, Option<Vec<CatalogItem>>), EngineError> {
        let mut cached = self.catalog.lock().await;
        let since = |t: Option<Millis>| t.is_none_or(|t| now - t >= CATALOG_MISS_REFRESH_MS);
        if let Some((catalog, loaded_at)) = cached.catalog.clone() {
            let stale = now - loaded_at >= CATALOG_TTL_MS;
            let miss = !stale
                && since(cached.miss_read_at)
                && now - loaded_at >= min_age
                && !knows(&catalog);
            if !since(cached.failed_at) || !(stale || miss) {
                return Ok((catalog, None));
            }
            if miss {
                cached.miss_read_at = Some(now);
            }
        }
        match self.store.load_catalog_items().await {
            Ok(items) => {
                let (catalog, errors) =
                    Catalog::from_items_in(&items, self.home_account.as_ref(), now);
                for e in &errors {
                    error!(error = %e, "catalog entry refused");
                }
                for (key, r) in catalog.refusals() {
                    match r.last_good_since {
                        Some(_) => {
                            warn!(service = %key, "the service runs on its last good definition")
                        }
                        None => {
                            error!(service = %key, "the service is not protected: no definition of it parses")
                        }
                    }
                }
                self.emit(
                    None,
                    now,
                    &[
                        ("CatalogServices", catalog.len() as f64, Unit::Count),
                        ("CatalogErrors", errors.len() as f64, Unit::Count),
                    ],
                    &[],
                );
                let catalog = Arc::new(catalog);
                cached.catalog = Some((catalog.clone(), now));
                cached.failed_at = None;
                Ok((catalog, Some(items)))
            }
            Err(e) => {
                let Some((catalog, _)) = cached.catalog.clone() else {
                    return Err(EngineError::Catalog(e));
                };
                cached.failed_at = Some(now);
                warn!(error = %e, "catalog re-read failed; keeping the last good one");
                Ok((catalog, None))
            }
        }
    }

    /// The keeper's bookkeeping after a read: a definition that parses becomes its entry's
    /// last good one; a bad version is recorded and paged once (the write is conditional
    /// on the kept `rev`, so of concurrent runs exactly one pages); the kept versions of a
    /// deleted entry are cleared, so a new entry of that name never runs on an old
    /// definition. A failure is logged; the next read does it again.
    async fn keep_versions(&self, items: &[CatalogItem], catalog: &Catalog, now: Millis) {
        stream::iter(items)
            .for_each_concurrent(KEEP_FAN_OUT, |item| self.keep_item(item, catalog, now))
            .await;
    }

    async fn keep_item(&self, item: &CatalogItem, catalog: &Catalog, now: Millis) {
        let kept = &item.kept;
        let Some(definition) = &item.definition else {
            if kept.last_good.is_some() || kept.bad.is_some() {
                self.write_kept(&item.key, kept, KeptVersions::default())
                    .await;
            }
            return;
        };
        let same = |d: &String| d == definition;
        let Some(refusal) = catalog.refusal(&item.key) else {
            let current = kept.last_good.as_ref().filter(|g| same(&g.definition));
            if current.is_some() && kept.bad.is_none() {
                return;
            }
            let last_good = LastGood {
                definition: definition.clone(),
                since: current.map_or(now, |g| g.since),
            };
            let next = KeptVersions {
                last_good: Some(last_good),
                ..KeptVersions::default()
            };
            self.write_kept(&item.key, kept, next).await;
            return;
        };
        if kept
            .bad
            .as_ref()
            .is_some_and(|b| same(&b.definition) && b.paged_at.is_some())
        {
            return;
        }
        let bad = BadVersion {
            definition: definition.clone(),
            since: refusal.since,
            field: refusal.error.field.clone(),
            error: refusal.error.message.clone(),
            paged_at: Some(now),
        };
        let next = KeptVersions {
            last_good: kept.last_good.clone(),
            bad: Some(bad.clone()),
            rev: 0,
        };
        // The claim: recorded as paged first, so a concurrent run does not page it too.
        let Some(claimed) = self.write_kept(&item.key, kept, next).await else {
            return;
        };
        let in_use = kept
            .last_good
            .as_ref()
            .filter(|_| refusal.last_good_since.is_some());
        let alert = catalog_alert(&item.key, &bad, in_use);
        match self.notifier.publish(&alert).await {
            Ok(id) => info!(service = %item.key, message_id = %id, "catalog alert sent"),
            Err(e) => {
                // Given back, so the next read pages it again.
                warn!(service = %item.key, error = %e, "catalog alert not sent; the next run retries");
                let unpaged = KeptVersions {
                    bad: Some(BadVersion {
                        paged_at: None,
                        ..bad
                    }),
                    ..claimed.clone()
                };
                self.write_kept(&item.key, &claimed, unpaged).await;
            }
        }
    }

    /// Writes `next` over `current` (as read) with the next `rev`; the stored value, or
    /// `None` when another writer was first or the write failed.
    async fn write_kept(
        &self,
        key: &str,
        current: &KeptVersions,
        mut next: KeptVersions,
    ) -> Option<KeptVersions> {
        next.rev = current.rev + 1;
        match self.store.write_kept(key, current.rev, &next).await {
            Ok(true) => Some(next),
            Ok(false) => {
                info!(service = %key, "kept catalog versions changed meanwhile; the next read decides again");
                None
            }
            Err(e) => {
                warn!(service = %key, error = %e, "kept catalog versions not written; the next read retries");
                None
            }
        }
    }
}
