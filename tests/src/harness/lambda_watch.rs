//! [`LambdaWatch`]: run workspace function binaries behind the Lambda Runtime
//! API emulator of `cargo lambda watch`, and invoke them with
//! `cargo lambda invoke`.
//!
//! How it fits together (cargo-lambda 1.9.2):
//!
//! * [`LambdaWatch::start`] first runs `cargo build --bin <f>...` at the
//!   workspace root (a no-op when `make build` already built them), so the
//!   first invoke does not include a compile.
//! * It then starts, in the workspace root,
//!   `cargo-lambda lambda watch --wait --ignore-changes --invoke-address
//!   127.0.0.1 --invoke-port <free port> --timeout <secs> --concurrency <n>`.
//!   `--wait` starts nothing until the first invoke of a function;
//!   `--ignore-changes` keeps edits made while tests run from restarting it.
//!   On the first invoke of `<f>` the watcher runs
//!   `cargo run --manifest-path Cargo.toml --bin <f>` (already fresh, so no
//!   build) with `AWS_LAMBDA_RUNTIME_API=http://127.0.0.1:<port>/.rt/<f>`,
//!   `AWS_LAMBDA_FUNCTION_NAME=<f>` and the environment of the watch process,
//!   which is where the emulator endpoint, credentials and test variables go.
//! * [`LambdaWatch::invoke`] runs `cargo-lambda lambda invoke <f>
//!   --invoke-address 127.0.0.1 --invoke-port <port> --data-ascii <json>
//!   --output-format json`; exit 0 prints the function's JSON response, a
//!   function error exits 1 with `Error: <errorType>` / `× <errorMessage>` on
//!   stderr.
//!
//! Same features as `make build`: the nested `cargo run` runs at the workspace
//! root without `-p`, so it resolves features like `cargo build --workspace`.
//! `cargo test` builds binaries with dev-dependency features unified in
//! (e.g. `aws-smithy-http-client/test-util`), which are different artifacts;
//! without a prior `cargo build` the first `LambdaWatch` in a run compiles the
//! non-test variant of the dependency graph (minutes on 2 cores).

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::harness::process;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const BIND_ATTEMPTS: usize = 5;

/// Options for [`LambdaWatch::start_with`].
#[derive(Debug, Clone)]
pub struct LambdaWatchOptions {
    /// Binary names of the functions to serve (each is pre-built).
    pub functions: Vec<String>,
    /// Extra environment for the functions (e.g. [`crate::Emulator::function_env`]
    /// plus table/topic names). Inherited `AWS_*` variables are removed first.
    pub env: Vec<(String, String)>,
    /// Maximum concurrent instances per function (`--concurrency`,
    /// cargo-lambda's default is 1: concurrent invokes then queue).
    pub concurrency: u32,
    /// How long one invoke may take (`--timeout`, seconds granularity).
    pub invoke_timeout: Duration,
}

impl LambdaWatchOptions {
    /// Options for `functions` with `env`, concurrency 1, 60 s invoke timeout.
    pub fn new(functions: &[&str], env: &[(String, String)]) -> Self {
        LambdaWatchOptions {
            functions: functions.iter().map(|f| f.to_string()).collect(),
            env: env.to_vec(),
            concurrency: 1,
            invoke_timeout: Duration::from_secs(60),
        }
    }
}

/// A running `cargo lambda watch` serving workspace function binaries.
/// Dropping it stops the watcher and the function processes it started.
#[derive(Debug)]
pub struct LambdaWatch {
    child: Child,
    port: u16,
    log: PathBuf,
    invoke_timeout: Duration,
}

impl LambdaWatch {
    /// Builds `functions` (if needed) and starts `cargo lambda watch` with
    /// `env` in the functions' environment; see the module docs.
    pub fn start(functions: &[&str], env: &[(String, String)]) -> Self {
        Self::start_with(LambdaWatchOptions::new(functions, env))
    }

    /// Like [`LambdaWatch::start`] with all options.
    pub fn start_with(options: LambdaWatchOptions) -> Self {
        prebuild(&options.functions);
        let mut last_log = None;
        for _ in 0..BIND_ATTEMPTS {
            match Self::try_start(&options) {
                Ok(watch) => return watch,
                Err(log) => last_log = Some(log),
            }
        }
        let log = last_log.expect("at least one attempt");
        panic!(
            "cargo lambda watch could not bind a free port after {BIND_ATTEMPTS} attempts; \
             last log {}:\n{}",
            log.display(),
            process::log_tail(&log, 20)
        );
    }

    /// `Err(log)` only when the port was taken (worth a retry); panics on
    /// anything else.
    fn try_start(options: &LambdaWatchOptions) -> Result<Self, PathBuf> {
        let port = process::free_port();
        let log = process::new_log_path(&format!("lambda-watch-{port}"));
        let (stdout, stderr) = process::log_stdio(&log);
        let timeout_secs = options.invoke_timeout.as_secs().max(1);
        let mut cmd = Command::new(process::venv_file("bin/cargo-lambda"));
        cmd.args(["lambda", "watch", "--wait", "--ignore-changes"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .args(["--timeout", &timeout_secs.to_string()])
            .args(["--concurrency", &options.concurrency.max(1).to_string()])
            .args(["--color", "never"])
            .current_dir(process::workspace_root());
        process::scrub_env(&mut cmd);
        process::scrub_aws_env(&mut cmd);
        cmd.envs(options.env.iter().map(|(k, v)| (k, v)))
            .env("CARGO_TERM_COLOR", "never")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning cargo lambda watch ({cmd:?}) failed: {e}"));
        let mut watch = LambdaWatch {
            child,
            port,
            log: log.clone(),
            invoke_timeout: options.invoke_timeout,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = watch.child.try_wait() {
                let tail = process::log_tail(&log, 30);
                if tail.contains("Address already in use") || tail.contains("AddrInUse") {
                    return Err(log);
                }
                panic!(
                    "cargo lambda watch exited during startup ({status}); log {}:\n{tail}",
                    log.display()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(watch);
            }
            if Instant::now() >= deadline {
                panic!(
                    "cargo lambda watch did not listen on {addr} within {READY_TIMEOUT:?}; log {}:\n{}",
                    log.display(),
                    process::log_tail(&log, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Process id of the `cargo lambda watch` process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The invoke port (`--invoke-port`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the watcher's (and the functions') stdout/stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The watcher's log so far (function logs included).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// SIGKILLs the running instances of `function` (the watcher's descendants whose
    /// executable is `target/debug/<function>`) and returns how many were killed. The
    /// watcher does not start a killed function again: start a new watcher (a fresh
    /// execution environment) afterwards.
    pub fn kill_function(&self, function: &str) -> usize {
        let exe = format!("/{function}");
        process::descendants(self.child.id())
            .into_iter()
            .filter(|pid| {
                std::fs::read_link(format!("/proc/{pid}/exe"))
                    .is_ok_and(|p| p.to_string_lossy().ends_with(&exe))
            })
            .filter(|pid| process::send_signal(*pid, "KILL"))
            .count()
    }

    /// Invokes `function` with `payload` through `cargo lambda invoke`.
    /// `Ok(response)` is the function's JSON response; `Err` carries
    /// cargo-lambda's report: for a function error it contains the error type
    /// and message, for a timeout or crash the watcher's complaint.
    pub async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, String> {
        let mut cmd = Command::new(process::venv_file("bin/cargo-lambda"));
        cmd.args(["lambda", "invoke", function])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &self.port.to_string()])
            .args(["--data-ascii", &payload.to_string()])
            .args(["--output-format", "json"])
            .args(["--color", "never"]);
        process::scrub_env(&mut cmd);
        process::scrub_aws_env(&mut cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The watcher answers with an error once its own --timeout passes;
        // this is only a backstop against a wedged client.
        let deadline = self.invoke_timeout + Duration::from_secs(30);
        let label = format!("cargo lambda invoke {function}");
        let output = tokio::task::spawn_blocking(move || run_with_deadline(cmd, deadline))
            .await
            .map_err(|e| format!("{label}: {e}"))??;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let report = if stderr.trim().is_empty() {
                stdout.trim()
            } else {
                stderr.trim()
            };
            return Err(format!("{label} failed ({}): {report}", output.status));
        }
        serde_json::from_str(stdout.trim())
            .map_err(|e| format!("{label}: response is not JSON ({e}): {stdout}"))
    }

    /// [`LambdaWatch::invoke`], the response read as the function's typed answer (e.g.
    /// `failover::api::reports::AlarmOutcome`).
    pub async fn invoke_as<T: DeserializeOwned>(
        &self,
        function: &str,
        payload: &Value,
    ) -> Result<T, String> {
        let response = self.invoke(function, payload).await?;
        serde_json::from_value(response.clone())
            .map_err(|e| format!("{function}: unexpected response ({e}): {response}"))
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        // SIGTERM lets the watcher stop its function processes and reap them;
        // anything left after the grace period is SIGKILLed.
        process::terminate_tree(&mut self.child, Duration::from_secs(5));
        if std::thread::panicking() {
            eprintln!(
                "cargo lambda watch log kept at {} (last lines):\n{}",
                self.log.display(),
                process::log_tail(&self.log, 60)
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// `cargo build --bin <f>...` at the workspace root, the same feature
/// resolution as the watcher's `cargo run --bin <f>`.
/// Builds workspace binaries with the features `make build` uses (no-op when fresh).
pub fn prebuild(functions: &[String]) {
    if functions.is_empty() {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let log = process::new_log_path("lambda-prebuild");
    let (stdout, stderr) = process::log_stdio(&log);
    let mut cmd = Command::new(cargo);
    cmd.arg("build").current_dir(process::workspace_root());
    for f in functions {
        cmd.args(["--bin", f]);
    }
    process::scrub_env(&mut cmd);
    let status = cmd
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .status()
        .unwrap_or_else(|e| panic!("running {cmd:?} failed: {e}"));
    if !status.success() {
        panic!(
            "{cmd:?} failed ({status}); log {}:\n{}",
            log.display(),
            process::log_tail(&log, 60)
        );
    }
    let _ = std::fs::remove_file(&log);
}

/// Runs `cmd` to completion, killing it if it outlives `deadline`.
fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Result<std::process::Output, String> {
    let child = cmd
        .spawn()
        .map_err(|e| format!("spawning {cmd:?} failed: {e}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(result) => result.map_err(|e| format!("waiting for {cmd:?} failed: {e}")),
        Err(_) => {
            process::send_signal(pid, "KILL");
            // The waiting thread reaps it.
            let _ = rx.recv_timeout(Duration::from_secs(5));
            Err(format!("{cmd:?} did not finish within {deadline:?}"))
        }
    }
}
