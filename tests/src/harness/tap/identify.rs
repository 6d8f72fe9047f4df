//! What a request is, read from the request itself: the signing service and region from
//! the SigV4 credential scope, the operation from `X-Amz-Target` (awsJson), the RPC v2
//! CBOR path (CloudWatch), the `Action=` form field (awsQuery) or the REST path
//! (Route 53); a short detail of what it touches; and the error code of an answer.

use super::http::find;

/// `(service, region)` from a SigV4 `Authorization` header.
pub(super) fn credential_scope(auth: &str) -> (String, String) {
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
pub(super) fn identify(
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

pub(super) fn route53_operation(method: &str, path: &str, body: &[u8]) -> (String, String) {
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

pub(super) fn xml_value(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find('<')? + start;
    Some(xml[start..end].trim().to_string())
}

/// `pk/sk` of the item a DynamoDB request addresses (`Key` or `Item`), if it has one.
pub(super) fn dynamodb_key(body: &[u8]) -> String {
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

pub(super) fn percent_decode(s: &str) -> String {
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

/// The error code in an error response: awsJson `__type`, XML `<Code>`, or the
/// `x-amzn-query-error` header; empty when none is found.
pub(super) fn error_code(response: &[u8]) -> String {
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
