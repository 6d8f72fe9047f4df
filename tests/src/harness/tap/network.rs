//! The tap's modelled network: a fixed delay per AWS service (by SigV4 signing name), added
//! to every request before it is forwarded, so that calls made in parallel overlap as they
//! would against AWS, instead of queueing behind the emulator's one-at-a-time Python.
//!
//! Each connection has its own relay thread and the delay is slept there, holding no lock:
//! eight parallel calls each delayed 75 ms take about 75 ms plus moto's own time, not 600
//! ms. moto still answers one request at a time after the delay, so a call's time on the
//! wire is the modelled delay plus moto's time (queueing included); the model's share of
//! any call is exactly [`NetworkModel::delay`] of its service.

use std::collections::BTreeMap;
use std::time::Duration;

/// The delay added to each request, by SigV4 signing name; services not named get
/// [`NetworkModel::other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkModel {
    pub delays: BTreeMap<String, Duration>,
    pub other: Duration,
}

impl NetworkModel {
    /// A Lambda function in the primary region calling AWS: DynamoDB 6 ms, SNS 14 ms,
    /// CloudWatch 20 ms, Route 53 (its control plane, served from us-east-1) 75 ms; the
    /// rest (SQS, STS) 10 ms. Round-trip figures of the right order for a same-region
    /// call (a cross-region call would add its distance), not measurements.
    pub fn aws() -> NetworkModel {
        NetworkModel {
            delays: [
                ("dynamodb", 6),
                ("sns", 14),
                ("monitoring", 20),
                ("route53", 75),
            ]
            .into_iter()
            .map(|(s, ms)| (s.to_string(), Duration::from_millis(ms)))
            .collect(),
            other: Duration::from_millis(10),
        }
    }

    /// No delay for any service.
    pub fn none() -> NetworkModel {
        NetworkModel {
            delays: BTreeMap::new(),
            other: Duration::ZERO,
        }
    }

    /// Sets `service`'s delay.
    pub fn with(mut self, service: &str, delay: Duration) -> NetworkModel {
        self.delays.insert(service.to_string(), delay);
        self
    }

    /// The delay a request to `service` gets.
    pub fn delay(&self, service: &str) -> Duration {
        self.delays.get(service).copied().unwrap_or(self.other)
    }

    /// `dynamodb 6 ms, monitoring 20 ms, route53 75 ms, sns 14 ms, other 10 ms`.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .delays
            .iter()
            .map(|(s, d)| format!("{s} {} ms", d.as_millis()))
            .collect();
        parts.push(format!("other {} ms", self.other.as_millis()));
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::time::Instant;

    use super::*;
    use crate::harness::tap::{round_trips, AwsTap};

    /// An upstream that answers one request at a time, as moto does, each after 2 ms.
    fn serial_upstream() -> std::net::SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        addr
    }

    fn signed_get(tap: &str, service: &str) {
        let mut c = TcpStream::connect(tap.trim_start_matches("http://")).unwrap();
        let req = format!(
            "GET /2013-04-01/healthcheck/abc HTTP/1.1\r\nHost: x\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n"
        );
        c.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap();
        assert!(
            out.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    #[test]
    fn modelled_delays_overlap_for_parallel_calls() {
        let tap = AwsTap::start(serial_upstream(), Instant::now()).unwrap();
        let delay = Duration::from_millis(150);
        tap.set_network_model(Some(NetworkModel::none().with("route53", delay)));
        assert_eq!(tap.network_model().unwrap().delay("route53"), delay);
        let endpoint = tap.endpoint();
        let threads: Vec<_> = (0..6)
            .map(|_| {
                let e = endpoint.clone();
                std::thread::spawn(move || signed_get(&e, "route53"))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let calls = tap.settled_since(0, Duration::from_secs(5));
        assert_eq!(calls.len(), 6, "{calls:#?}");
        for c in &calls {
            assert_eq!(c.service, "route53");
            assert!(c.end - c.start >= delay, "{c:#?}");
        }
        // Every call was in flight at once: the delays overlapped, not queued.
        let last_start = calls.iter().map(|c| c.start).max().unwrap();
        let first_end = calls.iter().map(|c| c.end).min().unwrap();
        assert!(last_start < first_end, "{calls:#?}");
        assert_eq!(round_trips(&calls), 1);

        // Without a model, nothing is added.
        tap.set_network_model(None);
        let mark = tap.mark();
        signed_get(&endpoint, "route53");
        let calls = tap.settled_since(mark, Duration::from_secs(5));
        assert_eq!(calls.len(), 1);
        assert!(tap.network_model().is_none());
    }

    #[test]
    fn the_aws_model_delays_by_signing_name() {
        let m = NetworkModel::aws();
        assert_eq!(m.delay("dynamodb"), Duration::from_millis(6));
        assert_eq!(m.delay("sns"), Duration::from_millis(14));
        assert_eq!(m.delay("monitoring"), Duration::from_millis(20));
        assert_eq!(m.delay("route53"), Duration::from_millis(75));
        assert_eq!(m.delay("sqs"), Duration::from_millis(10));
        assert_eq!(NetworkModel::none().delay("route53"), Duration::ZERO);
        let m = NetworkModel::none().with("route53", Duration::from_millis(3));
        assert_eq!(m.delay("route53"), Duration::from_millis(3));
        assert_eq!(m.describe(), "route53 3 ms, other 0 ms");
    }
}
