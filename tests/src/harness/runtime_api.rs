//! Our own Lambda Runtime API on loopback, and the function processes that poll it: the
//! path the bench measures through (the other path, `cargo lambda watch`, is
//! [`crate::harness::lambda_watch`]).
//!
//! [`RuntimeApi`] serves the four routes a custom runtime uses (`lambda_runtime` 1.x):
//! `GET /2018-06-01/runtime/invocation/next` (held until an event is queued),
//! `POST /2018-06-01/runtime/invocation/<id>/response` and `.../<id>/error`, and
//! `POST /2018-06-01/runtime/init/error`. HTTP/1.1 with keep-alive, one thread per
//! connection, no async. It timestamps what a benchmark needs, on the clock of the bench
//! (an `origin` shared with the [`crate::harness::tap::AwsTap`]):
//!
//! * the first `/next` (the end of init);
//! * for each invocation, when the event went out (after the `/next` answer was written)
//!   and when the function's answer arrived (its request head read).
//!
//! Several processes may poll one API (a storm); each invocation goes to whichever polls.
//! [`FunctionProcess`] spawns a real `bootstrap` binary with the environment Lambda gives
//! a `provided.al2023` function (`AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_*`, region,
//! credentials), reads its peak RSS (`VmHWM`) and its CPU time (`/proc/<pid>/task/*/schedstat`).

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::emulator::{ACCOUNT_ID, REGION};
use crate::harness::process::log_tail;

const PREFIX: &str = "/2018-06-01/runtime/";
/// The invocation deadline the API announces (the functions' configured timeout is 55-60 s).
const DEADLINE: Duration = Duration::from_secs(60);

/// What became of one invocation.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request_id: String,
    /// When the event was handed to the function (just before the `/next` answer was
    /// written) and when its answer arrived (its request head read), since origin.
    pub sent: Duration,
    pub answered: Duration,
    /// `true` for `/response`, `false` for `/error`.
    pub ok: bool,
    pub body: Value,
}

impl Outcome {
    /// Invocation latency as the Runtime API sees it (Lambda's billed duration, roughly).
    pub fn latency(&self) -> Duration {
        self.answered.saturating_sub(self.sent)
    }
}

struct Pending {
    id: String,
    body: Vec<u8>,
    reply: mpsc::Sender<Outcome>,
}

struct InFlight {
    sent: Duration,
    reply: mpsc::Sender<Outcome>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Pending>,
    in_flight: HashMap<String, InFlight>,
    first_poll: Option<Duration>,
    /// `/next` requests waiting for an event now.
    pollers: usize,
    init_error: Option<String>,
    shutdown: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
    origin: Instant,
    function_arn: String,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A Lambda Runtime API for one function name, on a free 127.0.0.1 port.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl RuntimeApi {
    pub fn start(function: &str, origin: Instant) -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            cond: Condvar::new(),
            origin,
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{function}",
                REGION, ACCOUNT_ID
            ),
        });
        let stop = Arc::new(AtomicBool::new(false));
        {
            let shared = shared.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("runtime-api".into())
                .spawn(move || {
                    for conn in listener.incoming() {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let Ok(conn) = conn else { continue };
                        let shared = shared.clone();
                        let _ = std::thread::Builder::new()
                            .name("runtime-api-conn".into())
                            .spawn(move || serve(conn, &shared));
                    }
                })?;
        }
        Ok(RuntimeApi { addr, shared, stop })
    }

    /// `127.0.0.1:<port>`, as Lambda sets `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Queues one event; the answer comes on the receiver.
    pub fn submit(&self, event: &Value) -> mpsc::Receiver<Outcome> {
        let (tx, rx) = mpsc::channel();
        let id = format!(
            "bench-{:08}-{}",
            NEXT_ID.fetch_add(1, Ordering::Relaxed),
            std::process::id()
        );
        let body = serde_json::to_vec(event).expect("event JSON");
        self.shared.lock().queue.push_back(Pending {
            id,
            body,
            reply: tx,
        });
        self.shared.cond.notify_all();
        rx
    }

    /// Queues one event and waits for its answer.
    pub fn invoke(&self, event: &Value, timeout: Duration) -> Result<Outcome, String> {
        self.submit(event)
            .recv_timeout(timeout)
            .map_err(|_| format!("no answer within {timeout:?}"))
    }

    /// When the first `GET .../invocation/next` arrived, since origin.
    pub fn first_poll(&self) -> Option<Duration> {
        self.shared.lock().first_poll
    }

    /// How many `/next` requests are waiting for an event (idle function processes).
    pub fn pollers(&self) -> usize {
        self.shared.lock().pollers
    }

    /// Waits until a function has polled for its first event (init done), or gave up.
    pub fn wait_first_poll(
        &self,
        timeout: Duration,
        process: &mut FunctionProcess,
    ) -> Result<Duration, String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.shared.lock();
                if let Some(t) = state.first_poll {
                    return Ok(t);
                }
                if let Some(e) = &state.init_error {
                    return Err(format!("init error: {e}"));
                }
            }
            if let Some(status) = process.exited() {
                return Err(format!(
                    "{} exited during init ({status}); log {}:\n{}",
                    process.function,
                    process.log.display(),
                    log_tail(&process.log, 20)
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!("no poll within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.shared.lock().shutdown = true;
        self.shared.cond.notify_all();
        // Wakes the acceptor so it sees the stop flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// One client connection: requests in sequence (keep-alive) until it closes.
fn serve(mut conn: TcpStream, shared: &Shared) {
    let _ = conn.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let Some((method, path, body, arrived)) = read_request(&mut conn, &mut buf, shared) else {
            return;
        };
        let rest = path.strip_prefix(PREFIX).unwrap_or(&path).to_string();
        let parts: Vec<&str> = rest.split('/').collect();
        let written = match (method.as_str(), parts.as_slice()) {
            ("GET", ["invocation", "next"]) => next(&mut conn, shared, arrived),
            ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
                let pending = shared.lock().in_flight.remove(*id);
                if let Some(p) = pending {
                    let body = serde_json::from_slice(&body)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
                    let _ = p.reply.send(Outcome {
                        request_id: id.to_string(),
                        sent: p.sent,
                        answered: arrived,
                        ok: *kind == "response",
                        body,
                    });
                }
                respond(&mut conn, 202, &[], br#"{"status":"OK"}"#)
            }
            ("POST", ["init", "error"]) => {
                shared.lock().init_error = Some(String::from_utf8_lossy(&body).into_owned());
                respond(&mut conn, 202, &[], br#"{"status":"OK"}"#)
            }
            _ => respond(&mut conn, 404, &[], br#"{"errorMessage":"not found"}"#),
        };
        if !written {
            return;
        }
    }
}

/// Holds `/next` until an event is queued (or the API stops), then hands it out.
fn next(conn: &mut TcpStream, shared: &Shared, arrived: Duration) -> bool {
    let pending = {
        let mut state = shared.lock();
        state.first_poll.get_or_insert(arrived);
        state.pollers += 1;
        loop {
            if state.shutdown {
                state.pollers -= 1;
                return false;
            }
            if let Some(p) = state.queue.pop_front() {
                state.pollers -= 1;
                break p;
            }
            state = shared.cond.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    };
    let deadline_ms = (chrono::Utc::now() + DEADLINE).timestamp_millis();
    let headers = [
        ("Lambda-Runtime-Aws-Request-Id", pending.id.clone()),
        ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
        (
            "Lambda-Runtime-Invoked-Function-Arn",
            shared.function_arn.clone(),
        ),
        (
            "Lambda-Runtime-Trace-Id",
            format!(
                "Root=1-{:08x}-{:024x};Sampled=0",
                chrono::Utc::now().timestamp(),
                NEXT_ID.load(Ordering::Relaxed)
            ),
        ),
    ];
    // Stamped and registered before the write: once the bytes are in the socket the
    // function may run (and call AWS) before this thread is scheduled again.
    shared.lock().in_flight.insert(
        pending.id.clone(),
        InFlight {
            sent: shared.origin.elapsed(),
            reply: pending.reply.clone(),
        },
    );
    respond(conn, 200, &headers, &pending.body)
}

fn respond(conn: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) -> bool {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    conn.write_all(&out).and_then(|_| conn.flush()).is_ok()
}

/// Reads one request: method, path, body and when its head arrived (since origin).
fn read_request(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    shared: &Shared,
) -> Option<(String, String, Vec<u8>, Duration)> {
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let arrived = shared.origin.elapsed();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
    };
    let mut rest = buf.split_off(head_end + 4);
    buf.clear();
    let body = if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while rest.len() < len {
            let n = conn.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        *buf = rest.split_off(len);
        rest
    } else if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&rest, b"\r\n") {
                    break i;
                }
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            };
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            let need = line_end + 2 + size + 2;
            while rest.len() < need {
                let n = conn.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                rest.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&rest[line_end + 2..line_end + 2 + size]);
            rest.drain(..need);
            if size == 0 {
                break;
            }
        }
        *buf = rest;
        body
    } else {
        *buf = rest;
        Vec::new()
    };
    Some((method, path, body, arrived))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A function's `bootstrap` running against a [`RuntimeApi`]. Dropping it kills it.
pub struct FunctionProcess {
    child: Child,
    pub function: String,
    pub pid: u32,
    /// When it was spawned, since origin (taken just before the fork).
    pub spawned: Duration,
    pub log: PathBuf,
}

impl FunctionProcess {
    /// Spawns `binary` with a clean environment: what Lambda sets for a `provided.al2023`
    /// function with 256 MB, plus `extra` (endpoint, table, topic, credentials).
    pub fn spawn(
        binary: &Path,
        function: &str,
        api: &RuntimeApi,
        extra: &[(String, String)],
        log: &Path,
        origin: Instant,
    ) -> std::io::Result<FunctionProcess> {
        let file = std::fs::File::create(log)?;
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .env("TZ", ":UTC")
            .env("LANG", "en_US.UTF-8")
            .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
        let spawned = origin.elapsed();
        let child = cmd.spawn()?;
        Ok(FunctionProcess {
            pid: child.id(),
            child,
            function: function.to_string(),
            spawned,
            log: log.to_path_buf(),
        })
    }

    /// Exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Peak resident set size (`VmHWM`), bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        self.status_field("VmHWM:")
    }

    /// Current resident set size (`VmRSS`), bytes.
    pub fn rss(&self) -> Option<u64> {
        self.status_field("VmRSS:")
    }

    fn status_field(&self, name: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// CPU time of all live threads so far (schedstat, nanoseconds).
    pub fn cpu_time(&self) -> Duration {
        let mut ns = 0u64;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) {
            for t in tasks.flatten() {
                if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                    ns += s
                        .split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
        Duration::from_nanos(ns)
    }

    /// Threads alive now.
    pub fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
