//! Records every AWS call an SDK client makes (service, operation, start, end), so tests
//! and benchmarks can count calls and the sequential round trips on a critical path.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    /// Since the log was created; includes the SDK's retries.
    pub start: Duration,
    pub end: Duration,
}

#[derive(Debug, Clone)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
    origin: Instant,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog {
            calls: Arc::default(),
            origin: Instant::now(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl CallLog {
    /// Takes the calls recorded so far, clearing the log.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The number of sequential round trips: the longest chain of calls in which each one
/// started after the previous one ended. Calls that overlap count once.
pub fn critical_path_depth(calls: &[Call]) -> usize {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|c| c.end);
    let mut depth = vec![1usize; sorted.len()];
    for i in 0..sorted.len() {
        for j in 0..i {
            if sorted[j].end <= sorted[i].start {
                depth[i] = depth[i].max(depth[j] + 1);
            }
        }
    }
    depth.into_iter().max().unwrap_or(0)
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "CallLog"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let end = Instant::now();
        let start = cfg.load::<Started>().map_or(end, |s| s.0);
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown".into(), "unknown".into()), |m| {
                (m.service().to_string(), m.name().to_string())
            });
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Call {
                service,
                operation,
                start: start.duration_since(self.origin),
                end: end.duration_since(self.origin),
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: u64, end: u64) -> Call {
        Call {
            service: "s".into(),
            operation: "o".into(),
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
        }
    }

    #[test]
    fn depth_counts_sequential_calls_and_overlaps_once() {
        assert_eq!(critical_path_depth(&[]), 0);
        assert_eq!(critical_path_depth(&[call(0, 5)]), 1);
        // vote; claim || read || read; update; alert || history; final write
        let calls = [
            call(0, 5),
            call(6, 10),
            call(6, 12),
            call(7, 9),
            call(13, 20),
            call(21, 25),
            call(21, 23),
            call(26, 30),
        ];
        assert_eq!(critical_path_depth(&calls), 5);
        assert_eq!(
            critical_path_depth(&[call(0, 10), call(1, 2), call(3, 4)]),
            2
        );
    }
}
