//! [`Emulator`]: one private moto server per test.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

use crate::harness::process;

/// Region every harness client and function uses unless told otherwise.
pub const REGION: &str = "us-east-1";
/// moto's default account id (it appears in every ARN moto returns).
pub const ACCOUNT_ID: &str = "123456789012";
/// Static credentials moto accepts (it does not check signatures).
pub const ACCESS_KEY_ID: &str = "test";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "test";

const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(20);
const BIND_ATTEMPTS: usize = 5;

/// How the moto server handles concurrent requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MotoMode {
    /// `scripts/moto_server.py --mode serialised` (default): one request at a
    /// time across all services except SQS (see the script's docstring). Makes
    /// DynamoDB conditional writes and every other read-check-write in moto
    /// atomic, as they are on AWS.
    #[default]
    Serialised,
    /// `scripts/moto_server.py --mode single`: werkzeug with `threaded=False`.
    /// SQS long polls stall every other request while they wait.
    SingleThreaded,
    /// The venv's stock `moto_server` entry point (werkzeug `threaded=True`,
    /// no lock across moto's read-check-write sequences: racy under
    /// concurrent conditional writes). For comparison/diagnosis only.
    Stock,
}

/// A moto server on 127.0.0.1 and a free port, private to its owner.
///
/// Started from the project venv (`$FAILOVER_VENV`, default
/// `<workspace>/.venv`); its stdout/stderr go to a log file under
/// `$TMPDIR/failover-integration/`. Dropping it kills the server and reaps
/// it (also while unwinding from a failed assertion); the log file is
/// removed unless the thread is panicking, in which case its path and tail
/// are printed to stderr.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
    mode: MotoMode,
    startup: Duration,
    keep_log: bool,
}

impl Emulator {
    /// Starts a serialised moto server ([`MotoMode::Serialised`]) and waits
    /// until it answers HTTP. Blocks for about 1-2 s; panics (naming the log
    /// file) if the server does not come up within 20 s
    /// (`FAILOVER_MOTO_START_TIMEOUT_SECS` overrides).
    pub fn start() -> Self {
        Self::start_with(MotoMode::default())
    }

    /// Like [`Emulator::start`], with an explicit [`MotoMode`].
    pub fn start_with(mode: MotoMode) -> Self {
        let timeout = std::env::var("FAILOVER_MOTO_START_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_START_TIMEOUT);
        let mut last_log = None;
        for _ in 0..BIND_ATTEMPTS {
            match Self::try_start(mode, timeout) {
                Ok(emulator) => return emulator,
                // Somebody took the port between free_port() and moto's bind.
                Err(StartError::PortTaken(log)) => last_log = Some(log),
                Err(StartError::Failed(message)) => panic!("{message}"),
            }
        }
        let log = last_log.expect("at least one attempt");
        panic!(
            "moto could not bind a free port after {BIND_ATTEMPTS} attempts; last log {}:\n{}",
            log.display(),
            process::log_tail(&log, 20)
        );
    }

    fn try_start(mode: MotoMode, timeout: Duration) -> Result<Self, StartError> {
        let port = process::free_port();
        let log = process::new_log_path(&format!("moto-{port}"));
        let (stdout, stderr) = process::log_stdio(&log);
        let mut cmd = match mode {
            MotoMode::Stock => {
                let mut cmd = Command::new(process::venv_file("bin/moto_server"));
                cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
                cmd
            }
            MotoMode::Serialised | MotoMode::SingleThreaded => {
                let script = process::workspace_root().join("scripts/moto_server.py");
                assert!(script.exists(), "{} is missing", script.display());
                let mut cmd = Command::new(process::venv_file("bin/python"));
                cmd.arg(script)
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .args([
                        "--mode",
                        if mode == MotoMode::Serialised {
                            "serialised"
                        } else {
                            "single"
                        },
                    ])
                    .args(["--parent-pid", &std::process::id().to_string()]);
                cmd
            }
        };
        process::scrub_env(&mut cmd);
        process::scrub_aws_env(&mut cmd);
        cmd.env("PYTHONUNBUFFERED", "1")
            .env("MOTO_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);

        let started = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| StartError::Failed(format!("spawning moto ({cmd:?}) failed: {e}")))?;
        // From here on `emulator` owns the child: any early return or panic
        // drops it, which kills and reaps the process.
        let mut emulator = Emulator {
            child,
            port,
            log: log.clone(),
            mode,
            startup: Duration::ZERO,
            // Until startup succeeds, a failure must leave the log behind.
            keep_log: true,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = started + timeout;
        loop {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                let tail = process::log_tail(&log, 30);
                if tail.contains("Address already in use") {
                    return Err(StartError::PortTaken(log));
                }
                return Err(StartError::Failed(format!(
                    "moto exited during startup ({status}); log {}:\n{tail}",
                    log.display()
                )));
            }
            if let Ok((status, _)) =
                process::http_request(addr, "GET", "/moto-api/", b"", Duration::from_millis(500))
            {
                if status < 500 {
                    emulator.startup = started.elapsed();
                    emulator.keep_log = false;
                    return Ok(emulator);
                }
            }
            if Instant::now() >= deadline {
                return Err(StartError::Failed(format!(
                    "moto did not answer on {addr} within {timeout:?}; log {}:\n{}",
                    log.display(),
                    process::log_tail(&log, 30)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The TCP port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The concurrency mode this server was started in.
    pub fn mode(&self) -> MotoMode {
        self.mode
    }

    /// Where moto's stdout/stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Time from spawning moto until it first answered HTTP.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// SDK configuration for the harness's own clients: region us-east-1,
    /// static test credentials, every service pointed at this server.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "moto",
            ))
            .endpoint_url(self.endpoint())
            .load()
            .await
    }

    /// Environment for a function process under test: the AWS SDK's default
    /// chain then resolves this server as endpoint, us-east-1 and the test
    /// credentials, and never probes EC2 instance metadata.
    pub fn function_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// [`Emulator::function_env`] with the calls going to `endpoint` (a tap in front of
    /// this server) instead.
    pub fn function_env_through(&self, endpoint: &str) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .function_env()
            .into_iter()
            .filter(|(k, _)| k != "AWS_ENDPOINT_URL")
            .collect();
        env.push(("AWS_ENDPOINT_URL".into(), endpoint.to_string()));
        env
    }

    /// Wipes all moto state (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        match process::http_request(
            addr,
            "POST",
            "/moto-api/reset",
            b"",
            Duration::from_secs(10),
        ) {
            Ok((200, _)) => {}
            other => panic!("moto reset failed: {other:?}"),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // moto is a single Python process: SIGKILL is enough and immediate.
        process::terminate_tree(&mut self.child, Duration::ZERO);
        if std::thread::panicking() && !self.keep_log {
            eprintln!(
                "moto log kept at {} (last lines):\n{}",
                self.log.display(),
                process::log_tail(&self.log, 40)
            );
        } else if !self.keep_log {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

enum StartError {
    PortTaken(PathBuf),
    Failed(String),
}

/// `config` with its region replaced (same endpoint and credentials), for
/// calls that must go to another region's backend (e.g. CloudWatch alarms).
pub fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config
        .to_builder()
        .region(Region::new(region.to_string()))
        .build()
}
