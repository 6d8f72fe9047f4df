//! `lambda-echo`: a throwaway Lambda function used only by the harness's own
//! smoke test (`tests/tests/runtime_api_smoke.rs`) to prove that
//! `cargo lambda watch` + `cargo lambda invoke` and the environment passing in
//! [`integration_tests::LambdaWatch`] work, independently of the real
//! functions (which may not be implemented yet).
//!
//! It speaks the Lambda Runtime API (`$AWS_LAMBDA_RUNTIME_API`) with std only,
//! so it does not need `lambda_runtime` as a dependency of this crate:
//!
//! * payload `{"fail": "<message>"}` -> reports an invocation error
//!   (`errorType` = `EchoError`, `errorMessage` = message);
//! * any other payload -> responds `{"echo": <payload>, "env": {...}}` where
//!   `env` holds the AWS/failover variables the function process sees.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Map, Value};

/// Variables echoed back so tests can check what the function received.
const ECHOED_ENV_PREFIXES: &[&str] = &["AWS_", "FAILOVER_", "ECHO_"];
/// Never echoed even if they match a prefix.
const HIDDEN_ENV: &[&str] = &["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.0 exchange (HTTP/1.0 so the server neither keeps the connection
/// alive nor uses chunked encoding: the body is everything up to EOF).
///
/// `api` is `$AWS_LAMBDA_RUNTIME_API`: `host:port` on AWS; `cargo lambda
/// watch` hands out `http://127.0.0.1:PORT/.rt/<function>` (scheme and a
/// per-function path prefix), which the `lambda_runtime` crate also accepts.
fn http(api: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<Response> {
    let api = api.strip_prefix("http://").unwrap_or(api);
    let (authority, prefix) = match api.find('/') {
        Some(i) => (&api[..i], api[i..].trim_end_matches('/')),
        None => (api, ""),
    };
    let mut stream = TcpStream::connect(authority)?;
    let head = format!(
        "{method} {prefix}{path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;

    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn handle(payload: &Value) -> Result<Value, String> {
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(message.to_string());
    }
    let mut env = Map::new();
    for (key, value) in std::env::vars() {
        if ECHOED_ENV_PREFIXES.iter().any(|p| key.starts_with(p))
            && !HIDDEN_ENV.contains(&key.as_str())
        {
            env.insert(key, Value::String(value));
        }
    }
    Ok(json!({ "echo": payload, "env": env }))
}

fn main() {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .expect("AWS_LAMBDA_RUNTIME_API is not set: run me through a Lambda runtime API host");
    let base = "/2018-06-01/runtime/invocation";
    loop {
        let next = match http(&api, "GET", &format!("{base}/next"), b"") {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                eprintln!("lambda-echo: next invocation returned HTTP {}", r.status);
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            Err(e) => {
                eprintln!("lambda-echo: runtime API {api:?} unreachable: {e}");
                std::process::exit(1);
            }
        };
        let Some(request_id) = next
            .header("Lambda-Runtime-Aws-Request-Id")
            .map(str::to_owned)
        else {
            eprintln!("lambda-echo: next invocation without a request id");
            continue;
        };
        let payload: Value = serde_json::from_slice(&next.body).unwrap_or(Value::Null);
        let (path, body) = match handle(&payload) {
            Ok(out) => (format!("{base}/{request_id}/response"), out),
            Err(message) => (
                format!("{base}/{request_id}/error"),
                json!({ "errorType": "EchoError", "errorMessage": message }),
            ),
        };
        let body = serde_json::to_vec(&body).expect("serialising a JSON value");
        if let Err(e) = http(&api, "POST", &path, &body) {
            eprintln!("lambda-echo: posting the result failed: {e}");
        }
    }
}
