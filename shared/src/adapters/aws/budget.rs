//! The Route 53 API budget: one limiter per process in front of every Route 53 call.
//!
//! Route 53's API is budgeted per account (shared with every other tool in it), so this
//! process spends at most `per_second` calls in any sliding second. A call holds its slot
//! while it is in flight ([`Slot`]), and the slot stays taken until one second (plus
//! [`MARGIN`]) after its answer: the `per_second + 1`-th call cannot leave before a second
//! after an earlier one was answered, so counting calls per second on the wire never sees
//! more than `per_second`, however late a granted call reaches the network.
//!
//! Two priorities: the deciding path (`get`, `update`, `status`) is served first; the
//! background (`list_page`) takes a slot only while no deciding call waits. The budget only
//! delays: it never fails a call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The default number of Route 53 calls a second (`ROUTE53_CALLS_PER_SECOND`).
pub const DEFAULT_ROUTE53_CALLS_PER_SECOND: u32 = 4;
/// The most that may be configured: Route 53's own refill rate per account.
pub const MAX_ROUTE53_CALLS_PER_SECOND: u32 = 10;
/// Slack on top of the second, so that a call's network jitter cannot land two windows'
/// worth of calls in the same second on the wire.
pub const MARGIN: Duration = Duration::from_millis(25);
const WINDOW: Duration = Duration::from_secs(1);

/// Who asks for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// A decision waits on the call (`get`, `update`, `status`): served first.
    Deciding,
    /// Work that can wait (`list_page`): only when no deciding call is waiting.
    Background,
}

/// What the budget has done so far (for the benchmark and the metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Calls let through.
    pub granted: u64,
    /// Of which on the deciding path.
    pub granted_deciding: u64,
    /// The total time callers waited for a slot.
    pub waited: Duration,
    /// Of which on the deciding path.
    pub waited_deciding: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Calls granted and not yet answered.
    in_flight: usize,
    /// When the calls of the last second (plus the margin) were answered, oldest first.
    answered: VecDeque<Instant>,
    stats: BudgetStats,
}

/// A granted call's slot: held while the call is in flight, counted from its answer when
/// dropped.
#[must_use = "hold the slot until the call is answered"]
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Inner>,
    waited: Duration,
}

impl Slot {
    /// How long the caller waited for it.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut st = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
            st.in_flight = st.in_flight.saturating_sub(1);
            st.answered.push_back(Instant::now());
        }
        self.inner.changed.notify_waiters();
    }
}

#[derive(Debug)]
struct Inner {
    per_second: usize,
    state: Mutex<State>,
    /// Deciding callers waiting for a slot.
    deciding_waiting: AtomicUsize,
    /// Wakes waiters when a slot was granted or a deciding caller stopped waiting.
    changed: Notify,
}

/// The limiter; clones share it.
#[derive(Debug, Clone)]
pub struct Route53Budget {
    inner: Arc<Inner>,
}

impl Default for Route53Budget {
    fn default() -> Self {
        Route53Budget::new(DEFAULT_ROUTE53_CALLS_PER_SECOND)
    }
}

/// Counts a deciding caller as waiting until it is granted or dropped (cancelled).
struct DecidingWaiter<'a>(&'a Inner);

impl Drop for DecidingWaiter<'_> {
    fn drop(&mut self) {
        self.0.deciding_waiting.fetch_sub(1, Ordering::SeqCst);
        // Background callers may now go.
        self.0.changed.notify_waiters();
    }
}

impl Route53Budget {
    /// At most `per_second` calls in any sliding second (0 is taken as 1).
    pub fn new(per_second: u32) -> Self {
        Route53Budget {
            inner: Arc::new(Inner {
                per_second: per_second.max(1) as usize,
                state: Mutex::new(State::default()),
                deciding_waiting: AtomicUsize::new(0),
                changed: Notify::new(),
            }),
        }
    }

    pub fn per_second(&self) -> u32 {
        self.inner.per_second as u32
    }

    pub fn stats(&self) -> BudgetStats {
        self.lock().stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a slot, held until the returned [`Slot`] is dropped (when the call is answered).
    pub async fn acquire(&self, priority: Priority) -> Slot {
        let inner = &*self.inner;
        let start = Instant::now();
        let _waiter = (priority == Priority::Deciding).then(|| {
            inner.deciding_waiting.fetch_add(1, Ordering::SeqCst);
            DecidingWaiter(inner)
        });
        loop {
            // Registered before the state is read, so no wake-up between the two is lost.
            let changed = inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let wake_at = {
                let mut st = self.lock();
                let now = Instant::now();
                while st
                    .answered
                    .front()
                    .is_some_and(|t| *t + WINDOW + MARGIN <= now)
                {
                    st.answered.pop_front();
                }
                let taken = st.in_flight + st.answered.len();
                let may = priority == Priority::Deciding
                    || inner.deciding_waiting.load(Ordering::SeqCst) == 0;
                if may && taken < inner.per_second {
                    st.in_flight += 1;
                    let waited = now - start;
                    st.stats.granted += 1;
                    st.stats.waited += waited;
                    if priority == Priority::Deciding {
                        st.stats.granted_deciding += 1;
                        st.stats.waited_deciding += waited;
                    }
                    drop(st);
                    // `_waiter` drops here (a deciding caller no longer waits) and wakes
                    // the others to look again.
                    inner.changed.notify_waiters();
                    return Slot {
                        inner: self.inner.clone(),
                        waited,
                    };
                }
                // The oldest answered slot frees first; with every slot in flight, the next
                // answer wakes us. A background caller behind a deciding one waits to be woken.
                if may && taken >= inner.per_second {
                    st.answered.front().map(|t| *t + WINDOW + MARGIN)
                } else {
                    None
                }
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    #[tokio::test(start_paused = true)]
    async fn n_grants_at_once_then_the_next_waits_a_second() {
        let budget = Route53Budget::new(4);
        let t0 = Instant::now();
        for _ in 0..4 {
            assert_eq!(
                budget.acquire(Priority::Deciding).await.waited(),
                Duration::ZERO
            );
        }
        assert_eq!(Instant::now(), t0);
        let waited = budget.acquire(Priority::Deciding).await.waited();
        assert_eq!(waited, WINDOW + MARGIN);
        assert_eq!(Instant::now() - t0, WINDOW + MARGIN);
        let stats = budget.stats();
        assert_eq!(stats.granted, 5);
        assert_eq!(stats.granted_deciding, 5);
        assert_eq!(stats.waited, WINDOW + MARGIN);
    }

    #[tokio::test(start_paused = true)]
    async fn no_sliding_second_holds_more_than_n_grants() {
        let budget = Route53Budget::new(4);
        let t0 = Instant::now();
        let grants = Arc::new(StdMutex::new(Vec::new()));
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let budget = budget.clone();
                let grants = grants.clone();
                tokio::spawn(async move {
                    // Some arrive later, some are background.
                    tokio::time::sleep(Duration::from_millis(37 * (i % 7))).await;
                    let p = if i % 3 == 0 {
                        Priority::Background
                    } else {
                        Priority::Deciding
                    };
                    drop(budget.acquire(p).await);
                    grants.lock().unwrap().push(Instant::now() - t0);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let mut at = grants.lock().unwrap().clone();
        at.sort();
        assert_eq!(at.len(), 40);
        for (i, start) in at.iter().enumerate() {
            let in_window = at[i..].iter().filter(|t| **t - *start < WINDOW).count();
            assert!(
                in_window <= 4,
                "{in_window} grants within a second of {start:?}"
            );
        }
        // And it does not dawdle: 40 calls at 4 a second take about 10 windows.
        assert!(*at.last().unwrap() <= (WINDOW + MARGIN) * 10, "{at:?}");
        assert_eq!(budget.stats().granted, 40);
    }

    #[tokio::test(start_paused = true)]
    async fn a_deciding_call_overtakes_a_waiting_background_one() {
        let budget = Route53Budget::new(2);
        drop(budget.acquire(Priority::Background).await);
        drop(budget.acquire(Priority::Background).await);
        let order = Arc::new(StdMutex::new(Vec::new()));
        let background = {
            let (budget, order) = (budget.clone(), order.clone());
            tokio::spawn(async move {
                drop(budget.acquire(Priority::Background).await);
                order.lock().unwrap().push("background");
            })
        };
        // The background caller is already waiting when the deciding one arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let deciding = {
            let (budget, order) = (budget.clone(), order.clone());
            tokio::spawn(async move {
                drop(budget.acquire(Priority::Deciding).await);
                order.lock().unwrap().push("deciding");
            })
        };
        let deciding2 = {
            let (budget, order) = (budget.clone(), order.clone());
            tokio::spawn(async move {
                drop(budget.acquire(Priority::Deciding).await);
                order.lock().unwrap().push("deciding");
            })
        };
        background.await.unwrap();
        deciding.await.unwrap();
        deciding2.await.unwrap();
        // Both deciding calls take the next two slots; the background one the one after.
        assert_eq!(
            *order.lock().unwrap(),
            vec!["deciding", "deciding", "background"]
        );
        let stats = budget.stats();
        assert_eq!(stats.granted, 5);
        assert_eq!(stats.granted_deciding, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_deciding_caller_does_not_hold_back_the_background() {
        let budget = Route53Budget::new(1);
        drop(budget.acquire(Priority::Deciding).await);
        // A deciding caller gives up before its slot comes.
        let gave_up = tokio::time::timeout(
            Duration::from_millis(200),
            budget.acquire(Priority::Deciding),
        )
        .await;
        assert!(gave_up.is_err());
        let t0 = Instant::now();
        drop(budget.acquire(Priority::Background).await);
        // The background caller got the slot as soon as the window allowed.
        assert_eq!(
            Instant::now() - t0,
            WINDOW + MARGIN - Duration::from_millis(200)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_is_counted_from_its_answer_not_its_grant() {
        let budget = Route53Budget::new(1);
        let t0 = Instant::now();
        let slot = budget.acquire(Priority::Deciding).await;
        // The call takes 400 ms to be answered (or to reach the wire late).
        let answer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            drop(slot);
        });
        let _next = budget.acquire(Priority::Deciding).await;
        assert_eq!(
            Instant::now() - t0,
            Duration::from_millis(400) + WINDOW + MARGIN
        );
        answer.await.unwrap();
    }
}
