//! What the reconciler reads for every service at once, before it goes through them one by
//! one: the states (BatchGetItem, 100 a call, stopping before the deadline) and the
//! primaries' health checks (ListHealthChecks, at most [`CHECK_PAGES_PER_RUN`] pages a run,
//! going on where the previous run of this process stopped). `status` of every service
//! reads the same way, from the first page.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use tracing::{debug, warn};

use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::ServiceState;
use crate::domain::time::Millis;
use crate::engine::Engine;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ErrorKind, HealthCheckConfig, HealthChecks, Notifier, Runbook,
    MAX_STATES_PER_READ,
};

/// ListHealthChecks calls a reconciler run (or a `status` of every service) makes at most.
pub const CHECK_PAGES_PER_RUN: usize = 2;
/// How long a run waits for those pages before it goes on without them.
pub const LIST_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A service's state as the run loaded it.
#[derive(Debug)]
pub(crate) enum Loaded {
    /// The deadline came before its batch was asked for.
    NotReached,
    /// Its batch failed (reported once for the batch).
    Failed,
    State(Box<ServiceState>),
}

/// The health checks one run read, by id.
#[derive(Debug, Default)]
pub(crate) struct CheckPages {
    pub checks: HashMap<String, HealthCheckConfig>,
    /// ListHealthChecks calls made.
    pub calls: usize,
    /// The read that failed, if one did (the checks of the pages before it are kept).
    pub error: Option<String>,
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
    /// The states of `defs`, [`MAX_STATES_PER_READ`] a call, `fan_out` calls at once; a
    /// batch not started by `stop_at` is not reached. Returns them in the order of `defs`,
    /// with one error per failed batch.
    pub(crate) async fn load_states_until<'d>(
        &self,
        defs: &[&'d ServiceDefinition],
        stop_at: Millis,
        fan_out: usize,
    ) -> (Vec<(&'d ServiceDefinition, Loaded)>, Vec<String>) {
        let batches: Vec<Vec<&'d ServiceDefinition>> = defs
            .chunks(MAX_STATES_PER_READ)
            .map(<[&ServiceDefinition]>::to_vec)
            .collect();
        let results: Vec<(Vec<&'d ServiceDefinition>, Option<Result<_, _>>)> =
            stream::iter(batches)
                .map(|batch| async move {
                    if self.clock.now() >= stop_at {
                        return (batch, None);
                    }
                    let names: Vec<String> = batch.iter().map(|d| d.name.clone()).collect();
                    let states = self.store.load_states(&names).await;
                    (batch, Some(states))
                })
                .buffered(fan_out.max(1))
                .collect()
                .await;
        let mut loaded = Vec::with_capacity(defs.len());
        let mut errors = Vec::new();
        for (batch, result) in results {
            match result {
                None => loaded.extend(batch.into_iter().map(|d| (d, Loaded::NotReached))),
                Some(Ok(mut states)) => {
                    for def in batch {
                        match states.remove(&def.name) {
                            Some(state) => loaded.push((def, Loaded::State(Box::new(state)))),
                            None => {
                                // Never guessed as the initial state: that would republish
                                // 0 for a service that may be failed over.
                                warn!(service = %def.name, "its state was missing from the batch read; not reconciled this run");
                                errors.push(format!(
                                    "{}: its state was missing from the batch read",
                                    def.name
                                ));
                                loaded.push((def, Loaded::Failed));
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    let (first, last) = (&batch[0].name, &batch[batch.len() - 1].name);
                    warn!(services = batch.len(), %first, %last, error = %e, "states could not be read; these services wait for the next run");
                    errors.push(format!(
                        "the states of {} services ({first} .. {last}) could not be read: {e}",
                        batch.len()
                    ));
                    loaded.extend(batch.into_iter().map(|d| (d, Loaded::Failed)));
                }
            }
        }
        (loaded, errors)
    }

    /// The reconciler's pages of health checks: at most [`CHECK_PAGES_PER_RUN`] from where
    /// the previous run stopped, wrapping to the first page after the last, and never the
    /// same page twice in a run. Where to go on is kept for the next run.
    pub(crate) async fn list_check_pages_for_run(&self) -> CheckPages {
        let start = self.check_cursor_get();
        let (pages, next) = self.list_check_pages_within(start.clone()).await;
        self.check_cursor_set(next.clone());
        debug!(start = ?start, next = ?next, calls = pages.calls, checks = pages.checks.len(), "health checks listed");
        pages
    }

    /// [`Self::list_check_pages`] within [`LIST_WAIT`]: everything waiting for the list (a
    /// run's services, a status) must not wait on an unanswering Route 53 (its SDK retries
    /// for up to 20 s). Unread, the checks are not drift-checked or shown this time, and the
    /// next read starts from the same place.
    pub(crate) async fn list_check_pages_within(
        &self,
        start: Option<String>,
    ) -> (CheckPages, Option<String>) {
        let listed = tokio::time::timeout(LIST_WAIT, self.list_check_pages(start.clone())).await;
        listed.unwrap_or_else(|_| {
            warn!("ListHealthChecks did not answer in time; going on without the checks");
            let pages = CheckPages {
                error: Some(format!(
                    "listing health checks: Route 53's API did not answer within {} s",
                    LIST_WAIT.as_secs()
                )),
                ..CheckPages::default()
            };
            (pages, start)
        })
    }

    /// Up to [`CHECK_PAGES_PER_RUN`] pages from `start`; returns them and where the next
    /// read should start (`None`: the first page).
    pub(crate) async fn list_check_pages(
        &self,
        start: Option<String>,
    ) -> (CheckPages, Option<String>) {
        let mut pages = CheckPages::default();
        let mut marker = start.clone();
        while pages.calls < CHECK_PAGES_PER_RUN {
            match self.health.list_page(marker.as_deref()).await {
                Ok(page) => {
                    pages.calls += 1;
                    // AWS answers at most MAX_HEALTH_CHECKS_PER_PAGE; moto ignores MaxItems
                    // and answers every check at once, which is taken as it comes.
                    pages.checks.extend(page.checks);
                    // After the last page comes the first (`None`); back at `start`, the
                    // whole account has been read.
                    marker = page.next_marker;
                    if marker == start {
                        break;
                    }
                }
                Err(e) => {
                    pages.calls += 1;
                    warn!(marker = ?marker, error = %e, "ListHealthChecks failed; the checks not read are not drift-checked this run");
                    pages.error = Some(format!("listing health checks: {e}"));
                    // A refused marker (say, its check was deleted) starts over; a call
                    // that got no answer is asked again.
                    if e.kind == ErrorKind::Rejected {
                        marker = None;
                    }
                    break;
                }
            }
        }
        (pages, marker)
    }

    fn check_cursor_get(&self) -> Option<String> {
        self.check_cursor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn check_cursor_set(&self, next: Option<String>) {
        *self.check_cursor.lock().unwrap_or_else(|p| p.into_inner()) = next;
    }
}
