//! [`AwsTap`]: a recording HTTP proxy on loopback in front of moto, the harness's one
//! recorder of AWS calls. Whatever has its endpoint on the tap (function processes through
//! `AWS_ENDPOINT_URL`, or an in-process engine built on [`AwsTap::sdk_config`]) is
//! recorded call by call on the wire, SDK retries included, with the operation read from
//! the request itself (module `identify`); the harness's own provisioning and inspection calls
//! go to moto directly. [`round_trips`] counts the sequential round trips among them.
//!
//! One request per client connection: the tap asks moto for `Connection: close`, reads
//! the response to the end and hands it back with `Connection: close`, so the SDK opens
//! a new connection for the next call. Plain threads, no async: it needs no runtime.
//!
//! The tap is also the harness's fault injector ([`faults`]): with a [`FaultPlan`] it
//! answers some requests itself, as the service would on a bad day (throttling in each
//! service's shape, HTTP 500/503, a connection closed without an answer, no answer until
//! the caller's timeout), delays them, or forwards them and loses the answer (the
//! at-least-once case); [`AwsTap::set_outage`] takes a whole service down for a stretch.
//! Every injected fault is counted by kind ([`AwsTap::faults_injected`]) and marked on its
//! [`TappedCall::fault`]. A crash point ([`AwsTap::crash_at`]) holds the n-th request and
//! every later one, neither forwarded nor answered, so a test can kill the function
//! process while it waits there; a held call is recorded (fault `held`) when its
//! connection closes.
//!
//! With a [`NetworkModel`] ([`AwsTap::set_network_model`]) every request waits its
//! service's modelled network delay before it is forwarded, on its own relay thread and
//! holding no lock, so parallel calls overlap as they would against AWS (see [`network`]).

pub mod faults;
mod http;
mod identify;
pub mod network;

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use faults::{fault_response, Faults, Verdict, ANSWER_LOST, LATENCY, RESET, TIMEOUT};
pub use faults::{FaultKind, FaultPlan, ServiceFaults, HELD, TIMEOUT_HOLD};
use http::{exchange, is_hop_header, read_request, wait_until_closed, Request, IO_TIMEOUT};
use identify::{credential_scope, error_code, identify};
pub use network::NetworkModel;

/// One AWS API call, as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TappedCall {
    /// Order of arrival at the tap, from 0.
    pub seq: usize,
    /// When the request arrived and when its response went back, since the tap's origin.
    pub start: Duration,
    pub end: Duration,
    /// SigV4 signing name: `dynamodb`, `route53`, `monitoring` (CloudWatch), `sns`.
    pub service: String,
    pub region: String,
    /// The API operation, e.g. `UpdateItem`, `UpdateHealthCheck`, `DescribeAlarms`, `Publish`.
    pub operation: String,
    /// HTTP status moto answered (0: no answer).
    pub status: u16,
    /// The error code of a refused call (e.g. `ConditionalCheckFailedException`), if any.
    pub error: String,
    /// What the call touched, when the request says so cheaply (item key, check id and
    /// flags, alert subject); empty otherwise.
    pub detail: String,
    /// The fault the tap injected into this call (`reset`, `HTTP 503`, `Throttling`,
    /// `latency`, `answer lost`, ...); `None` when it went through untouched.
    pub fault: Option<String>,
}

impl TappedCall {
    /// Whether the operation changes something (as opposed to reading).
    pub fn mutates(&self) -> bool {
        matches!(
            self.operation.as_str(),
            "PutItem"
                | "UpdateItem"
                | "DeleteItem"
                | "TransactWriteItems"
                | "BatchWriteItem"
                | "UpdateHealthCheck"
                | "ChangeResourceRecordSets"
                | "Publish"
                | "SetAlarmState"
                | "PutMetricAlarm"
                | "UpdateAutoScalingGroup"
                | "UpdateService"
                | "PromoteReadReplica"
                | "SwitchoverGlobalCluster"
                | "FailoverGlobalCluster"
                | "Invoke"
        )
    }

    /// Whether moto answered 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A write that was applied (not refused, e.g. by its condition).
    pub fn wrote(&self) -> bool {
        self.mutates() && self.succeeded()
    }

    /// `UpdateItem service#checkout/state`, with `(refused: <code>)` when it failed.
    pub fn label(&self) -> String {
        let mut out = self.operation.clone();
        if !self.detail.is_empty() {
            out.push(' ');
            out.push_str(&self.detail);
        }
        if self.fault.as_deref() == Some(ANSWER_LOST) {
            out.push_str(" (applied, answer lost)");
        } else if !self.succeeded() {
            let why = if self.error.is_empty() {
                format!("HTTP {}", self.status)
            } else {
                self.error.clone()
            };
            out.push_str(&format!(" (refused: {why})"));
        }
        out
    }

    /// Whether the tap answered this call itself (it never reached moto).
    pub fn injected(&self) -> bool {
        self.fault
            .as_deref()
            .is_some_and(|f| f != LATENCY && f != ANSWER_LOST)
    }
}

/// A running tap; dropping it stops accepting connections.
#[derive(Debug)]
pub struct AwsTap {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<TappedCall>>>,
    faults: Arc<Mutex<Faults>>,
    network: Arc<Mutex<Option<NetworkModel>>>,
    /// Connections accepted and not yet filed.
    in_flight: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl AwsTap {
    /// Listens on a free 127.0.0.1 port and forwards to `upstream` (moto). Times are
    /// measured from `origin`.
    pub fn start(upstream: SocketAddr, origin: Instant) -> std::io::Result<AwsTap> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let calls: Arc<Mutex<Vec<TappedCall>>> = Arc::default();
        let faults: Arc<Mutex<Faults>> = Arc::default();
        let network: Arc<Mutex<Option<NetworkModel>>> = Arc::default();
        let in_flight: Arc<AtomicUsize> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let calls = calls.clone();
            let faults = faults.clone();
            let network = network.clone();
            let in_flight = in_flight.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("aws-tap".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let calls = calls.clone();
                        let faults = faults.clone();
                        let network = network.clone();
                        // Counted before the relay starts, so a caller that has its answer
                        // can wait for the record (see `settled_since`).
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        let filed = in_flight.clone();
                        let spawned = std::thread::Builder::new()
                            .name("aws-tap-conn".into())
                            .spawn(move || {
                                if let Some(call) = relay(conn, upstream, origin, &faults, &network)
                                {
                                    let mut all = calls.lock().unwrap_or_else(|p| p.into_inner());
                                    let call = TappedCall {
                                        seq: all.len(),
                                        ..call
                                    };
                                    all.push(call);
                                }
                                filed.fetch_sub(1, Ordering::SeqCst);
                            });
                        if spawned.is_err() {
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })?
        };
        Ok(AwsTap {
            addr,
            calls,
            faults,
            network,
            in_flight,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:<port>`: the `AWS_ENDPOINT_URL` for the functions.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many calls have been recorded so far (a mark for [`AwsTap::since`]).
    /// [`Self::mark`] once the calls in flight are recorded (the tap records a call just
    /// after answering it, so a caller may already have moved on): nothing earlier is
    /// counted after it.
    pub fn settled_mark(&self) -> usize {
        self.settled_since(self.mark(), Duration::from_secs(5));
        self.mark()
    }

    pub fn mark(&self) -> usize {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The calls recorded after `mark`, in arrival order.
    pub fn since(&self, mark: usize) -> Vec<TappedCall> {
        let all = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<TappedCall> = all.iter().skip(mark).cloned().collect();
        out.sort_by_key(|c| c.start);
        out
    }

    /// Every call recorded so far.
    pub fn all(&self) -> Vec<TappedCall> {
        self.since(0)
    }

    /// Like [`AwsTap::since`], once every connection the tap has accepted is filed: the
    /// tap files a call just after answering it, so a caller holding its last answer may
    /// otherwise read before the record is there. Waits at most `max`.
    pub fn settled_since(&self, mark: usize, max: Duration) -> Vec<TappedCall> {
        let deadline = Instant::now() + max;
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.since(mark)
    }

    /// The calls filed after `*mark` (waiting up to 5 s for those in flight), moving the
    /// mark past them: each call is taken once.
    pub fn take_since(&self, mark: &mut usize) -> Vec<TappedCall> {
        let calls = self.settled_since(*mark, Duration::from_secs(5));
        *mark += calls.len();
        calls
    }

    /// `sdk` with every service's endpoint on the tap: for an engine in this process whose
    /// calls are to be recorded (or faulted) like a function's.
    pub fn sdk_config(&self, sdk: &SdkConfig) -> SdkConfig {
        sdk.to_builder().endpoint_url(self.endpoint()).build()
    }

    /// Starts injecting faults by `plan` (replacing any plan and keeping the counts), or
    /// stops injecting with `None`. Outages set with [`AwsTap::set_outage`] stay.
    pub fn set_faults(&self, plan: Option<FaultPlan>) {
        self.lock_faults().plan = plan;
    }

    /// Makes `service` (SigV4 signing name: `dynamodb`, `route53`, `monitoring`, `sns`)
    /// answer every request with `kind` until called again with `None`.
    pub fn set_outage(&self, service: &str, kind: Option<FaultKind>) {
        let mut f = self.lock_faults();
        match kind {
            Some(k) => f.outages.insert(service.to_string(), k),
            None => f.outages.remove(service),
        };
    }

    /// Adds `model`'s delay to every request from now on (before it is forwarded or a
    /// fault answers it), or no delay with `None` (the default).
    pub fn set_network_model(&self, model: Option<NetworkModel>) {
        *self.network.lock().unwrap_or_else(|p| p.into_inner()) = model;
    }

    /// The network model in force, if any.
    pub fn network_model(&self) -> Option<NetworkModel> {
        self.network
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many faults were injected so far, by kind (`ThrottlingException`, `HTTP 503`,
    /// `reset`, `latency`, `answer lost`, ...).
    pub fn faults_injected(&self) -> BTreeMap<String, usize> {
        self.lock_faults().counts.clone()
    }

    /// The seed of the current plan, if any.
    pub fn fault_seed(&self) -> Option<u64> {
        self.lock_faults().plan.as_ref().map(|p| p.seed)
    }

    /// Arms a crash point: from the `n`-th request (1-based) after this call on, requests
    /// are held unanswered and never forwarded; `None` disarms it.
    pub fn crash_at(&self, n: Option<usize>) {
        let mut f = self.lock_faults();
        f.crash_at = n;
        f.arrivals = 0;
        f.held = 0;
    }

    /// How many requests the crash point is holding (or held) since it was armed.
    pub fn held(&self) -> usize {
        self.lock_faults().held
    }

    fn lock_faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for AwsTap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(handle) = self.acceptor.take() {
            let _ = handle.join();
        }
    }
}

/// Reads one request from `client`, forwards it to `upstream` (unless a fault answers it
/// first), sends the answer back.
fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    origin: Instant,
    faults: &Mutex<Faults>,
    network: &Mutex<Option<NetworkModel>>,
) -> Option<TappedCall> {
    let _ = client.set_read_timeout(Some(IO_TIMEOUT));
    let _ = client.set_write_timeout(Some(IO_TIMEOUT));
    let (request, start) = read_request(&mut client, origin)?;
    let Request {
        request_line,
        headers,
        body,
    } = &request;
    let header = |name: &str| request.header(name);
    let (method, path) = {
        let mut parts = request_line.split_whitespace();
        (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        )
    };
    let (service, region) = credential_scope(header("authorization").unwrap_or_default());
    let (operation, detail) = identify(
        &service,
        &method,
        &path,
        header("x-amz-target"),
        header("content-type").unwrap_or_default(),
        body,
    );

    // The modelled network first, slept on this connection's thread with no lock held.
    let delay = network
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map_or(Duration::ZERO, |m| m.delay(&service));
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
    let Verdict {
        fault,
        max_latency,
        hold,
    } = faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .on_arrival(&service, &operation, &detail);
    if hold {
        // Answer nothing until the client goes away (the process was killed).
        wait_until_closed(&mut client, IO_TIMEOUT);
        return Some(TappedCall {
            seq: 0,
            start,
            end: origin.elapsed(),
            service,
            region,
            operation,
            status: 0,
            error: HELD.to_string(),
            detail,
            fault: Some(HELD.to_string()),
        });
    }
    let mut label = None;
    let (status, response) = match fault {
        Some((FaultKind::Reset, _)) => {
            label = Some(RESET.to_string());
            (0, Vec::new())
        }
        Some((FaultKind::Timeout, _)) => {
            wait_until_closed(&mut client, TIMEOUT_HOLD);
            label = Some(TIMEOUT.to_string());
            (0, Vec::new())
        }
        Some((kind, mut rng)) if FaultKind::FAILING.contains(&kind) => {
            let (status, raw, l) = fault_response(kind, &service, &mut rng);
            label = Some(l);
            (status, raw)
        }
        mut other => {
            if let Some((FaultKind::Latency, ref mut rng)) = other {
                let span = max_latency.as_millis().max(21) as u64 - 20;
                std::thread::sleep(Duration::from_millis(20 + rng.below(span + 1)));
                label = Some(LATENCY.to_string());
            }
            if let Some((FaultKind::AnswerLost, _)) = other {
                label = Some(ANSWER_LOST.to_string());
            }
            let mut forwarded = format!("{request_line}\r\n");
            for (k, v) in headers {
                if !is_hop_header(k) {
                    forwarded.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            forwarded.push_str("Connection: close\r\n\r\n");
            match exchange(upstream, forwarded.as_bytes(), body) {
                Ok(r) => r,
                Err(e) => {
                    let text = format!("aws tap: moto did not answer: {e}");
                    let reply = format!(
                        "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    (0, reply.into_bytes())
                }
            }
        }
    };
    let answer = !matches!(
        label.as_deref(),
        Some(RESET) | Some(ANSWER_LOST) | Some(TIMEOUT)
    );
    if answer {
        let _ = client.write_all(&response);
        let _ = client.flush();
    }
    let _ = client.shutdown(Shutdown::Both);
    let end = origin.elapsed();
    if let Some(l) = &label {
        faults.lock().unwrap_or_else(|p| p.into_inner()).count(l);
    }

    let error = if (200..300).contains(&status) {
        String::new()
    } else if matches!(label.as_deref(), Some(RESET) | Some(TIMEOUT)) {
        label.clone().unwrap_or_default()
    } else {
        error_code(&response)
    };
    Some(TappedCall {
        seq: 0,
        start,
        end,
        service,
        region,
        operation,
        status,
        error,
        detail,
        fault: label,
    })
}

/// The sequential round trips among `calls`: the longest chain of calls in which each
/// one started after the previous one ended. Calls that overlap count once.
pub fn round_trips(calls: &[TappedCall]) -> usize {
    let mut sorted: Vec<&TappedCall> = calls.iter().collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start: u64, end: u64) -> TappedCall {
        TappedCall {
            seq: 0,
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            service: "s".into(),
            region: String::new(),
            operation: "o".into(),
            status: 200,
            error: String::new(),
            detail: String::new(),
            fault: None,
        }
    }

    #[test]
    fn round_trips_count_sequential_calls_and_overlaps_once() {
        assert_eq!(round_trips(&[]), 0);
        assert_eq!(round_trips(&[call(0, 5)]), 1);
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
        assert_eq!(round_trips(&calls), 5);
        assert_eq!(round_trips(&[call(0, 10), call(1, 2), call(3, 4)]), 2);
    }
}
