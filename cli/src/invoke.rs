//! Where the operator is and how it is called: Lambda's Invoke API, either the deployed
//! function (the standard AWS configuration) or `cargo lambda watch`'s invoke endpoint of
//! the local stack, which speaks the same API.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_lambda::config::Credentials;
use aws_sdk_lambda::primitives::Blob;
use clap::Args;
use failover::api::operator_request::MAX_REQUESTED_BY_CHARS;
use failover::api::operator_response::OperatorResponse;
use serde_json::Value;

use crate::Fail;

/// The local stack's function name under `cargo lambda watch` (its binary's name).
const LOCAL_FUNCTION: &str = "operator";
const STACK_ENV: &str = "target/local/stack.env";
const LOCAL_REGION: &str = "us-east-1";

#[derive(Args)]
pub struct Target {
    /// The deployed operator function (name or ARN); without it, the local stack.
    #[arg(
        long,
        global = true,
        env = "FAILOVER_OPERATOR_FUNCTION",
        value_name = "NAME"
    )]
    function_name: Option<String>,
    /// AWS profile for the deployed function (else AWS_PROFILE / the default chain).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// AWS region for the deployed function (else AWS_REGION / the profile's).
    #[arg(long, global = true)]
    region: Option<String>,
    /// A Lambda Invoke endpoint to use instead (e.g. http://127.0.0.1:9000 of cargo lambda watch).
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
}

pub struct Operator {
    lambda: aws_sdk_lambda::Client,
    function: String,
    /// Where it goes, for messages.
    place: String,
    /// The caller's identity is read with STS only for the deployed function.
    sts: Option<aws_sdk_sts::Client>,
}

fn timeouts() -> TimeoutConfig {
    // A cold start under cargo lambda watch, or a transition with its steps, can take a
    // while; a dead endpoint must not.
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(150))
        .build()
}

impl Operator {
    pub async fn connect(target: &Target) -> Result<Operator, Fail> {
        let Some(function) = target.function_name.as_deref().filter(|f| !f.is_empty()) else {
            return Self::local(target);
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts())
            .retry_config(RetryConfig::standard().with_max_attempts(2));
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &target.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &target.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        let Some(region) = sdk.region().map(|r| r.to_string()) else {
            return Err(Fail::Usage(
                "no AWS region: use --region, AWS_REGION or a profile with a region".into(),
            ));
        };
        Ok(Operator {
            lambda: aws_sdk_lambda::Client::new(&sdk),
            function: function.to_string(),
            place: format!("function {function} in {region}"),
            sts: Some(aws_sdk_sts::Client::new(&sdk)),
        })
    }

    /// The local stack: `--endpoint-url`, else `target/local/stack.env`'s INVOKE_PORT.
    fn local(target: &Target) -> Result<Operator, Fail> {
        let url = match &target.endpoint_url {
            Some(url) => url.clone(),
            None => format!("http://127.0.0.1:{}", local_port()?),
        };
        // cargo lambda watch does not check signatures; the SDK wants some credentials.
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(LOCAL_REGION))
            .endpoint_url(&url)
            .credentials_provider(Credentials::new(
                "local",
                "local",
                None,
                None,
                "failoverctl",
            ))
            .timeout_config(timeouts())
            // Its function errors are HTTP 500, which the SDK would retry: send once.
            .retry_config(RetryConfig::standard().with_max_attempts(1))
            .build();
        Ok(Operator {
            lambda: aws_sdk_lambda::Client::from_conf(config),
            function: LOCAL_FUNCTION.into(),
            place: format!("the local stack at {url}"),
            sts: None,
        })
    }

    /// Invokes the operator with `payload`: its answer typed, and as sent (for `--json`).
    pub async fn call(&self, payload: &Value) -> Result<(OperatorResponse, Value), Fail> {
        let out = match self
            .lambda
            .invoke()
            .function_name(&self.function)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // cargo lambda watch answers a function error with HTTP 500 and the error as
                // the body; Lambda itself with 200 and X-Amz-Function-Error (below).
                let raw = e.raw_response();
                let body = raw.and_then(|r| r.body().bytes()).unwrap_or_default();
                if let Some(error) = serde_json::from_slice::<Value>(body)
                    .ok()
                    .filter(|v| v.get("errorType").is_some())
                {
                    return Err(self.function_error(&error));
                }
                // An HTTP answer that is not a function error: say what it was.
                let answer = raw
                    .map(|r| {
                        let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
                        match (r.status().as_u16(), text.trim()) {
                            (408, "") => " (HTTP 408: the function did not answer in time)".into(),
                            (code, "") => format!(" (HTTP {code}, no body)"),
                            (code, text) => format!(" (HTTP {code}: {text})"),
                        }
                    })
                    .unwrap_or_default();
                return Err(Fail::Unreachable(format!(
                    "invoking the operator ({}) failed: {}{answer}",
                    self.place,
                    causes(&e)
                )));
            }
        };
        let bytes = out.payload().map(|b| b.as_ref()).unwrap_or_default();
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| {
            Fail::Unreachable(format!(
                "the operator ({}) answered something that is not JSON ({e}): {}",
                self.place,
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ))
        })?;
        if out.function_error().is_some() {
            return Err(self.function_error(&raw));
        }
        let response = serde_json::from_value(raw.clone()).map_err(|e| {
            Fail::Unreachable(format!(
                "the operator ({}) answered in an unknown shape ({e}); is failoverctl older than the function?",
                self.place
            ))
        })?;
        Ok((response, raw))
    }

    /// A function error: the operator's `BadRequest` is bad input (2, e.g. an unknown
    /// service); anything else means it could not do its job (3).
    fn function_error(&self, error: &Value) -> Fail {
        let kind = error["errorType"].as_str().unwrap_or_default();
        let message = error["errorMessage"].as_str().unwrap_or_default();
        if kind == "BadRequest" {
            Fail::Usage(format!("the operator refused the request: {message}"))
        } else {
            Fail::Unreachable(format!(
                "the operator function failed ({}): {kind}: {message}",
                self.place
            ))
        }
    }

    /// Who is asking, for `requested_by`: the caller's ARN from STS, else `$USER@local`
    /// (with a note saying why).
    pub async fn caller(&self) -> (String, Option<String>) {
        let fallback = format!(
            "{}@local",
            std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "unknown".into())
        );
        let Some(sts) = &self.sts else {
            return (
                fallback.clone(),
                Some(format!(
                    "local stack (no STS): requested_by = {fallback}; --requested-by to change"
                )),
            );
        };
        let why = match sts.get_caller_identity().send().await {
            Ok(id) => match id.arn() {
                Some(arn) => return (fit_requested_by(arn), None),
                None => "STS named no ARN".to_string(),
            },
            Err(e) => format!("STS GetCallerIdentity failed: {}", causes(&e)),
        };
        let note = format!("{why}; requested_by = {fallback}");
        (fallback, Some(note))
    }
}

/// An error and its sources on one line, without the SDK's debug dump.
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = err.source();
    }
    parts.join(": ")
}

/// An ARN can outgrow `requested_by`'s limit: keep its end (role and session name), which
/// says who; the invocation's request id matches it to CloudTrail anyway.
fn fit_requested_by(arn: &str) -> String {
    let n = arn.chars().count();
    arn.chars()
        .skip(n.saturating_sub(MAX_REQUESTED_BY_CHARS))
        .collect()
}

/// INVOKE_PORT from `target/local/stack.env`, looked up from the current directory
/// upwards, then in the workspace this binary was built from.
fn local_port() -> Result<String, Fail> {
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf);
    let candidates = std::env::current_dir()
        .ok()
        .into_iter()
        .flat_map(|d| {
            d.ancestors()
                .map(Path::to_path_buf)
                .collect::<Vec<PathBuf>>()
        })
        .chain(built_in)
        .map(|d| d.join(STACK_ENV));
    for path in candidates {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        return text
            .lines()
            .find_map(|l| l.strip_prefix("INVOKE_PORT="))
            .map(|p| p.trim().to_string())
            .ok_or_else(|| Fail::Unreachable(format!("{} has no INVOKE_PORT", path.display())));
    }
    Err(Fail::Unreachable(
        "no local stack is running: start one with `make local-up`, or name the deployed operator with --function-name".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_arn_keeps_its_end() {
        let arn = format!(
            "arn:aws:sts::123456789012:assumed-role/FailoverOperator/{}",
            "a".repeat(90)
        );
        let kept = fit_requested_by(&arn);
        assert_eq!(kept.chars().count(), MAX_REQUESTED_BY_CHARS);
        assert!(arn.ends_with(&kept));
        assert_eq!(
            fit_requested_by("arn:aws:iam::1:user/bob"),
            "arn:aws:iam::1:user/bob"
        );
    }
}
