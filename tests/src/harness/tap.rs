//! [`AwsTap`]: a recording HTTP proxy on loopback, between the function processes and
//! moto. The functions' `AWS_ENDPOINT_URL` points at the tap; the drill's own
//! provisioning and inspection calls go to moto directly. So every call the tap records
//! was made by a function, counted on the wire (SDK retries included), with the
//! operation read from the request itself:
//!
//! * the SigV4 credential scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`)
//!   gives the signing service and region;
//! * `X-Amz-Target` (DynamoDB, awsJson), the Smithy RPC v2 CBOR path
//!   `/service/<svc>/operation/<Op>` (CloudWatch), the `Action=` form field (SNS, awsQuery)
//!   or the REST path (Route 53) gives the operation.
//!
//! One request per client connection: the tap asks moto for `Connection: close`, reads
//! the response to the end and hands it back with `Connection: close`, so the SDK opens
//! a new connection for the next call. Plain threads, no async: it needs no runtime.
//!
//! Fault injection ([`FaultPlan`], [`AwsTap::set_faults`]): with a plan, the tap answers
//! some requests itself, as the service would on a bad day, BEFORE forwarding them (moto
//! never sees them): the service's throttling error (DynamoDB
//! `ProvisionedThroughputExceededException` / `ThrottlingException` in awsJson, Route 53
//! `Throttling` / `PriorRequestNotComplete` and SNS `Throttled` in an XML
//! `ErrorResponse`), HTTP 500 or 503, or a connection closed without an answer; or it
//! delays the request before forwarding it. One kind forwards first: [`FaultKind::AnswerLost`]
//! lets moto apply the request and then closes the connection without the answer, the
//! at-least-once case (the SDK retries something that was done). [`FaultKind::Timeout`]
//! answers nothing until the caller's own timeout gives up. A plan can also make a
//! whole service unavailable for a stretch ([`AwsTap::set_outage`]).
//!
//! Decisions are seeded and replayable: whether a request is hit, and how, is drawn from
//! a xorshift generator seeded by the plan's seed, the request's identity (service,
//! operation, what it touches) and how many times that identity was seen before, not by
//! arrival order, so concurrent calls inside one invocation do not reshuffle the faults.
//! Every injected fault is counted by kind ([`AwsTap::faults_injected`]) and marked on
//! its [`TappedCall::fault`].
//!
//! A crash point ([`AwsTap::crash_at`]) holds the n-th request from then on and every
//! later one: none is forwarded or answered, so the test can kill the function process
//! while it waits there, as if it had died just before that call. A held call is recorded
//! (fault `held`) when its connection closes.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const MAX_HEAD: usize = 64 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// One AWS API call a function made, as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TappedCall {
    /// Order of arrival at the tap, from 0.
    pub seq: usize,
    /// When the request arrived and when its response went back, since the drill began.
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
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let calls = calls.clone();
            let faults = faults.clone();
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
                        let _ = std::thread::Builder::new()
                            .name("aws-tap-conn".into())
                            .spawn(move || {
                                if let Some(call) = relay(conn, upstream, origin, &faults) {
                                    let mut all = calls.lock().unwrap_or_else(|p| p.into_inner());
                                    let call = TappedCall {
                                        seq: all.len(),
                                        ..call
                                    };
                                    all.push(call);
                                }
                            });
                    }
                })?
        };
        Ok(AwsTap {
            addr,
            calls,
            faults,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:<port>`: the `AWS_ENDPOINT_URL` for the functions.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many calls have been recorded so far (a mark for [`AwsTap::since`]).
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

const LATENCY: &str = "latency";
/// A request held at the crash point (never forwarded, never answered).
pub const HELD: &str = "held";
const ANSWER_LOST: &str = "answer lost";
const RESET: &str = "reset";
const TIMEOUT: &str = "timeout";
/// How long a [`FaultKind::Timeout`] holds a request at most: longer than any of the
/// SDK's attempt timeouts (3 s, Route 53 4 s), so the caller's own timeout fires.
pub const TIMEOUT_HOLD: Duration = Duration::from_secs(6);

/// What can go wrong between a function and AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// The service's own throttling error, HTTP 400: DynamoDB
    /// `ProvisionedThroughputExceededException` or `ThrottlingException` (awsJson), Route 53
    /// `Throttling` or `PriorRequestNotComplete` (REST-XML `ErrorResponse`), SNS `Throttled`
    /// (awsQuery `ErrorResponse`). CloudWatch (CBOR) gets HTTP 503 instead.
    Throttle,
    /// HTTP 500 with the service's internal-error shape.
    ServerError,
    /// HTTP 503, service unavailable.
    Unavailable,
    /// The connection is closed without an answer; the request never reaches moto.
    Reset,
    /// The request is held back a while (up to [`FaultPlan::max_latency`]), then forwarded.
    Latency,
    /// The request is forwarded and applied, then the connection is closed without the
    /// answer: the caller cannot tell it from [`FaultKind::Reset`] (at-least-once effects).
    AnswerLost,
    /// No answer at all: the request is held (never forwarded) until the caller gives up
    /// (the SDK's attempt timeout) or [`TIMEOUT_HOLD`] passes.
    Timeout,
}

impl FaultKind {
    /// Every kind that fails the call before it reaches moto.
    pub const FAILING: [FaultKind; 4] = [
        FaultKind::Throttle,
        FaultKind::ServerError,
        FaultKind::Unavailable,
        FaultKind::Reset,
    ];
}

/// One service's fault rate and the kinds drawn from (uniformly).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFaults {
    /// Probability that one request (each SDK attempt counts) is hit, 0.0 to 1.0.
    pub probability: f64,
    pub kinds: Vec<FaultKind>,
}

/// A seeded fault plan: per service, a probability and the kinds of fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    pub seed: u64,
    /// By SigV4 signing name: `dynamodb`, `route53`, `monitoring` (CloudWatch), `sns`.
    pub services: BTreeMap<String, ServiceFaults>,
    /// The longest delay [`FaultKind::Latency`] adds (uniform from 20 ms).
    pub max_latency: Duration,
}

impl FaultPlan {
    /// Signing names of the services the functions call.
    pub const SERVICES: [&'static str; 4] = ["dynamodb", "route53", "monitoring", "sns"];

    /// A plan that injects nothing yet.
    pub fn new(seed: u64) -> Self {
        FaultPlan {
            seed,
            services: BTreeMap::new(),
            max_latency: Duration::from_millis(400),
        }
    }

    /// Hits `service`'s requests with `probability`, drawing from `kinds`.
    pub fn service(mut self, service: &str, probability: f64, kinds: &[FaultKind]) -> Self {
        self.services.insert(
            service.to_string(),
            ServiceFaults {
                probability,
                kinds: kinds.to_vec(),
            },
        );
        self
    }

    /// The fault for the `occurrence`-th request (from 0) with this identity, if any.
    fn draw(
        &self,
        service: &str,
        identity: &str,
        occurrence: u64,
    ) -> Option<(FaultKind, XorShift)> {
        let rates = self.services.get(service)?;
        if rates.kinds.is_empty() {
            return None;
        }
        let mut rng = XorShift::new(
            self.seed ^ fnv1a(identity.as_bytes()) ^ occurrence.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        if rng.unit() >= rates.probability {
            return None;
        }
        let kind = rates.kinds[rng.below(rates.kinds.len() as u64) as usize];
        Some((kind, rng))
    }
}

/// A tiny xorshift64* generator (seeded through splitmix64, so any seed works, 0 too).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The tap's fault state: the plan, the outages, what was seen and what was injected.
#[derive(Debug, Default)]
struct Faults {
    plan: Option<FaultPlan>,
    outages: BTreeMap<String, FaultKind>,
    /// Requests seen per identity (for the draw).
    seen: HashMap<String, u64>,
    counts: BTreeMap<String, usize>,
    /// The crash point: hold the n-th request (1-based) after arming, and all later ones.
    crash_at: Option<usize>,
    arrivals: usize,
    held: usize,
}

impl Faults {
    fn decide(&mut self, service: &str, identity: &str) -> Option<(FaultKind, XorShift)> {
        let n = self.seen.entry(identity.to_string()).or_insert(0);
        let occurrence = *n;
        *n += 1;
        if let Some(kind) = self.outages.get(service) {
            let seed = self.plan.as_ref().map_or(0, |p| p.seed);
            return Some((
                *kind,
                XorShift::new(seed ^ fnv1a(identity.as_bytes()) ^ occurrence),
            ));
        }
        self.plan.as_ref()?.draw(service, identity, occurrence)
    }

    fn max_latency(&self) -> Duration {
        self.plan
            .as_ref()
            .map_or(Duration::from_millis(400), |p| p.max_latency)
    }
}

/// An injected answer: `(status, raw response, label)`.
fn fault_response(kind: FaultKind, service: &str, rng: &mut XorShift) -> (u16, Vec<u8>, String) {
    let request_id = format!("fault-{:016x}", rng.next_u64());
    let (status, code, message) = match (kind, service) {
        (FaultKind::Throttle, "dynamodb") => {
            if rng.below(2) == 0 {
                (
                    400,
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
                )
            } else {
                (
                    400,
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                )
            }
        }
        (FaultKind::Throttle, "route53") => {
            if rng.below(2) == 0 {
                (400, "Throttling", "Rate exceeded")
            } else {
                (
                    400,
                    "PriorRequestNotComplete",
                    "The request was rejected because Route 53 was still processing a prior request.",
                )
            }
        }
        (FaultKind::Throttle, "sns") => (400, "Throttled", "Rate exceeded"),
        (FaultKind::ServerError, _) => (
            500,
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
        _ => (
            503,
            "ServiceUnavailable",
            "Service is unavailable. Please try again later.",
        ),
    };
    let (content_type, body) = match service {
        "dynamodb" => {
            let code = match (status, code) {
                (500, _) => "InternalServerError",
                (_, c) => c,
            };
            let prefix = if code == "ThrottlingException" {
                "com.amazon.coral.availability"
            } else {
                "com.amazonaws.dynamodb.v20120810"
            };
            (
                "application/x-amz-json-1.0",
                serde_json::json!({"__type": format!("{prefix}#{code}"), "message": message})
                    .to_string(),
            )
        }
        "route53" => (
            "text/xml",
            format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                if status == 400 { "Sender" } else { "Receiver" }
            ),
        ),
        "sns" => (
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                if status == 400 { "Sender" } else { "Receiver" }
            ),
        ),
        // CloudWatch speaks CBOR: a bare status is enough for the SDK to retry.
        _ => ("text/plain", String::new()),
    };
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let mut raw = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: {request_id}\r\nx-amz-request-id: {request_id}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body.as_bytes());
    let label = if status == 400 {
        code.to_string()
    } else {
        format!("HTTP {status}")
    };
    (status, raw, label)
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
) -> Option<TappedCall> {
    let _ = client.set_read_timeout(Some(IO_TIMEOUT));
    let _ = client.set_write_timeout(Some(IO_TIMEOUT));
    let mut buf = Vec::new();
    let head_end = read_head(&mut client, &mut buf)?;
    let start = origin.elapsed();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut body = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        read_to_len(&mut client, &mut body, len)?;
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(&mut client, &mut body)?;
    }

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
        &body,
    );

    let (fault, max_latency, hold) = {
        let mut f = faults.lock().unwrap_or_else(|p| p.into_inner());
        let hold = match f.crash_at {
            Some(n) => {
                f.arrivals += 1;
                f.arrivals >= n
            }
            None => false,
        };
        if hold {
            f.held += 1;
        }
        // Route 53 details start with the health check's id, which moto makes up anew
        // each run: leave it out so the same seed replays the same faults.
        let stable = match service.as_str() {
            "route53" => detail.split_once(' ').map_or("", |(_, rest)| rest),
            _ => detail.as_str(),
        };
        let identity = format!("{service} {operation} {stable}");
        (f.decide(&service, &identity), f.max_latency(), hold)
    };
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
            for (k, v) in &headers {
                if !is_hop_header(k) {
                    forwarded.push_str(&format!("{k}: {v}\r\n"));
                }
            }
            forwarded.push_str("Connection: close\r\n\r\n");
            match exchange(upstream, forwarded.as_bytes(), &body) {
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
        let mut f = faults.lock().unwrap_or_else(|p| p.into_inner());
        *f.counts.entry(l.clone()).or_insert(0) += 1;
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

/// The error code in an error response: awsJson `__type`, XML `<Code>`, or the
/// `x-amzn-query-error` header; empty when none is found.
fn error_code(response: &[u8]) -> String {
    let Some(head_end) = find(response, b"\r\n\r\n") else {
        return String::new();
    };
    let head = String::from_utf8_lossy(&response[..head_end]);
    if let Some(v) = head.split("\r\n").find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case("x-amzn-query-error"))
            .map(|(_, v)| v.trim().to_string())
    }) {
        return v.split(';').next().unwrap_or_default().to_string();
    }
    let body = &response[head_end + 4..];
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        if let Some(t) = v.get("__type").and_then(|t| t.as_str()) {
            return t.rsplit('#').next().unwrap_or(t).to_string();
        }
    }
    xml_value(&String::from_utf8_lossy(body), "Code").unwrap_or_default()
}

fn is_hop_header(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

/// Reads until the end of the header block; returns the index of its `\r\n\r\n`.
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            return Some(i);
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn read_to_len(stream: &mut TcpStream, body: &mut Vec<u8>, len: usize) -> Option<()> {
    let mut chunk = [0u8; 16384];
    while body.len() < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Some(())
}

/// Reads a chunked body to its terminating chunk, keeping the raw bytes.
fn read_chunked(stream: &mut TcpStream, body: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16384];
    let mut pos = 0;
    loop {
        // One chunk header line at `pos`.
        let line_end = loop {
            if let Some(i) = find(&body[pos..], b"\r\n") {
                break pos + i;
            }
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        };
        let size_text = String::from_utf8_lossy(&body[pos..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers (usually none) end with an empty line.
            while find(&body[line_end..], b"\r\n\r\n").is_none() {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some(());
        }
        let next = line_end + 2 + size + 2;
        while body.len() < next {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        pos = next;
    }
}

/// Sends one request to moto and reads its whole response (moto closes the connection).
fn exchange(upstream: SocketAddr, head: &[u8], body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    stream.write_all(head)?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let head_end = find(&raw, b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header block in moto's response"))?;
    let head_text = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(0);
    let mut out = format!("{status_line}\r\n");
    for line in lines {
        let name = line.split(':').next().unwrap_or_default().trim();
        if !is_hop_header(name) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut response = out.into_bytes();
    response.extend_from_slice(&raw[head_end + 4..]);
    Ok((status, response))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `(service, region)` from a SigV4 `Authorization` header.
fn credential_scope(auth: &str) -> (String, String) {
    let scope = auth
        .split("Credential=")
        .nth(1)
        .and_then(|s| s.split([',', ' ']).next())
        .unwrap_or_default();
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [_, _, region, service, ..] => (service.to_string(), region.to_string()),
        _ => ("unknown".into(), String::new()),
    }
}

/// The operation and a short detail, from whatever the protocol puts on the wire.
fn identify(
    service: &str,
    method: &str,
    raw_path: &str,
    target: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> (String, String) {
    let path = raw_path.split('?').next().unwrap_or_default();
    if let Some(target) = target {
        let op = target.rsplit('.').next().unwrap_or(target).to_string();
        let detail = if service == "dynamodb" {
            dynamodb_key(body)
        } else {
            String::new()
        };
        return (op, detail);
    }
    if let Some(rest) = path.strip_prefix("/service/") {
        if let Some((_, op)) = rest.split_once("/operation/") {
            return (op.to_string(), String::new());
        }
    }
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let form = String::from_utf8_lossy(body);
        let field = |name: &str| {
            form.split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == name)
                .map(|(_, v)| percent_decode(v))
        };
        if let Some(action) = field("Action") {
            let detail = field("Subject").unwrap_or_default();
            return (action, detail);
        }
    }
    if service == "route53" {
        return route53_operation(method, path, body);
    }
    (format!("{method} {path}"), String::new())
}

fn route53_operation(method: &str, path: &str, body: &[u8]) -> (String, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (method, segments.as_slice()) {
        ("GET", [_, "healthcheck", _, "status"]) => "GetHealthCheckStatus",
        ("GET", [_, "healthcheck", _]) => "GetHealthCheck",
        ("POST", [_, "healthcheck", _]) => "UpdateHealthCheck",
        ("DELETE", [_, "healthcheck", _]) => "DeleteHealthCheck",
        ("POST", [_, "healthcheck"]) => "CreateHealthCheck",
        ("GET", [_, "healthcheck"]) => "ListHealthChecks",
        ("GET", [_, "hostedzone", _, "rrset"]) => "ListResourceRecordSets",
        ("POST", [_, "hostedzone", _, "rrset"]) => "ChangeResourceRecordSets",
        _ => return (format!("{method} {path}"), String::new()),
    };
    let mut detail = match segments.as_slice() {
        [_, "healthcheck", id, ..] => id.to_string(),
        _ => String::new(),
    };
    if op == "UpdateHealthCheck" {
        let xml = String::from_utf8_lossy(body);
        for tag in ["Disabled", "Inverted", "HealthCheckVersion"] {
            if let Some(v) = xml_value(&xml, tag) {
                detail.push_str(&format!(" {tag}={v}"));
            }
        }
    }
    (op.to_string(), detail)
}

fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find('<')? + start;
    Some(xml[start..end].trim().to_string())
}

/// `pk/sk` of the item a DynamoDB request addresses (`Key` or `Item`), if it has one.
fn dynamodb_key(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let key = v.get("Key").or_else(|| v.get("Item"));
    let attr = |name: &str| {
        key.and_then(|k| k.get(name))
            .and_then(|a| a.get("S"))
            .and_then(|s| s.as_str())
            .map(str::to_owned)
    };
    match (attr("pk"), attr("sk")) {
        (Some(pk), Some(sk)) => {
            // History keys are `history#<time>#<epoch>#<key>`: keep the record's kind.
            let sk = match sk.splitn(4, '#').collect::<Vec<_>>().as_slice() {
                ["history", _, _, key] => {
                    let kind: Vec<&str> = key.split('#').take(2).collect();
                    format!("history#{}", kind.join("#"))
                }
                _ => sk,
            };
            format!("{pk}/{sk}")
        }
        _ => match v.get("KeyConditionExpression").and_then(|e| e.as_str()) {
            Some(_) => v
                .get("ExpressionAttributeValues")
                .and_then(|vals| vals.get(":pk"))
                .and_then(|a| a.get("S"))
                .and_then(|s| s.as_str())
                .map(|pk| format!("{pk}/*"))
                .unwrap_or_default(),
            None => String::new(),
        },
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads (and drops) from `client` until it closes the connection or `max` passes.
fn wait_until_closed(client: &mut TcpStream, max: Duration) {
    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
    let until = Instant::now() + max;
    let mut byte = [0u8; 1];
    while Instant::now() < until {
        match client.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}
