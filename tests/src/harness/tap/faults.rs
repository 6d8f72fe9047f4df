//! The tap's fault injector: a seeded [`FaultPlan`] (per service, a probability and the
//! kinds of fault), outages of a whole service, and the crash point; the answers the tap
//! gives instead of moto's, shaped like each service's own errors.
//!
//! Decisions are replayable: whether a request is hit, and how, is drawn from a generator
//! seeded by the plan's seed, the request's identity (service, operation, what it
//! touches) and how many times that identity was seen before, not by arrival order, so
//! concurrent calls inside one invocation do not reshuffle the faults.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::harness::random::XorShift;

pub(super) const LATENCY: &str = "latency";
/// A request held at the crash point (never forwarded, never answered).
pub const HELD: &str = "held";
pub(super) const ANSWER_LOST: &str = "answer lost";
pub(super) const RESET: &str = "reset";
pub(super) const TIMEOUT: &str = "timeout";
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
    /// HTTP 502 or 504 from a gateway in front of the service: an HTML page, no AWS error
    /// code and no request id (the service itself never saw the request).
    Gateway,
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
    pub const FAILING: [FaultKind; 5] = [
        FaultKind::Throttle,
        FaultKind::ServerError,
        FaultKind::Unavailable,
        FaultKind::Gateway,
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

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The tap's fault state: the plan, the outages, what was seen and what was injected.
#[derive(Debug, Default)]
pub(super) struct Faults {
    pub(super) plan: Option<FaultPlan>,
    pub(super) outages: BTreeMap<String, FaultKind>,
    /// Requests seen per identity (for the draw).
    seen: HashMap<String, u64>,
    pub(super) counts: BTreeMap<String, usize>,
    /// The crash point: hold the n-th request (1-based) after arming, and all later ones.
    pub(super) crash_at: Option<usize>,
    pub(super) arrivals: usize,
    pub(super) held: usize,
}

/// What the tap does with one request.
pub(super) struct Verdict {
    /// The fault to inject, with the generator its details are drawn from.
    pub(super) fault: Option<(FaultKind, XorShift)>,
    pub(super) max_latency: Duration,
    /// Held at the crash point: neither forwarded nor answered.
    pub(super) hold: bool,
}

impl Faults {
    /// Decides the fate of a request to `service` with `operation` touching `detail`.
    pub(super) fn on_arrival(&mut self, service: &str, operation: &str, detail: &str) -> Verdict {
        let hold = match self.crash_at {
            Some(n) => {
                self.arrivals += 1;
                self.arrivals >= n
            }
            None => false,
        };
        if hold {
            self.held += 1;
        }
        // Route 53 details start with the health check's id, which moto makes up anew
        // each run: leave it out so the same seed replays the same faults.
        let stable = match service {
            "route53" => detail.split_once(' ').map_or("", |(_, rest)| rest),
            _ => detail,
        };
        let identity = format!("{service} {operation} {stable}");
        Verdict {
            fault: self.decide(service, &identity),
            max_latency: self.max_latency(),
            hold,
        }
    }

    /// Counts one injected fault of kind `label`.
    pub(super) fn count(&mut self, label: &str) {
        *self.counts.entry(label.to_string()).or_insert(0) += 1;
    }

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
pub(super) fn fault_response(
    kind: FaultKind,
    service: &str,
    rng: &mut XorShift,
) -> (u16, Vec<u8>, String) {
    if kind == FaultKind::Gateway {
        return gateway_response(rng);
    }
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

/// A gateway's own error page, as a load balancer or proxy answers: HTML, no AWS error
/// code, no AWS request id.
fn gateway_response(rng: &mut XorShift) -> (u16, Vec<u8>, String) {
    let (status, reason) = if rng.below(2) == 0 {
        (502, "Bad Gateway")
    } else {
        (504, "Gateway Timeout")
    };
    let body = format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut raw = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body.as_bytes());
    (status, raw, format!("HTTP {status}"))
}
