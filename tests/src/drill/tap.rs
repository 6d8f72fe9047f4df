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
        if !self.succeeded() {
            let why = if self.error.is_empty() {
                format!("HTTP {}", self.status)
            } else {
                self.error.clone()
            };
            out.push_str(&format!(" (refused: {why})"));
        }
        out
    }
}

/// A running tap; dropping it stops accepting connections.
#[derive(Debug)]
pub struct AwsTap {
    addr: SocketAddr,
    calls: Arc<Mutex<Vec<TappedCall>>>,
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
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let calls = calls.clone();
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
                        let _ = std::thread::Builder::new()
                            .name("aws-tap-conn".into())
                            .spawn(move || {
                                if let Some(call) = relay(conn, upstream, origin) {
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

/// Reads one request from `client`, forwards it to `upstream`, sends the answer back.
fn relay(mut client: TcpStream, upstream: SocketAddr, origin: Instant) -> Option<TappedCall> {
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

    let mut forwarded = format!("{request_line}\r\n");
    for (k, v) in &headers {
        if !is_hop_header(k) {
            forwarded.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let (status, response) = match exchange(upstream, forwarded.as_bytes(), &body) {
        Ok(r) => r,
        Err(e) => {
            let text = format!("aws tap: moto did not answer: {e}");
            let reply = format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            (0, reply.into_bytes())
        }
    };
    let _ = client.write_all(&response);
    let _ = client.flush();
    let _ = client.shutdown(Shutdown::Both);
    let end = origin.elapsed();

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
    let error = if (200..300).contains(&status) {
        String::new()
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
