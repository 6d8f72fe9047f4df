//! Process, port and log-file plumbing shared by [`crate::Emulator`] and
//! [`crate::LambdaWatch`]. Linux-only (uses `/proc` and `kill(1)`), which is
//! what CI and the development machines run.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Workspace root: the parent of this crate's manifest directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The project-local Python venv holding `moto` and `cargo-lambda`:
/// `$FAILOVER_VENV` when set and non-empty, else `<workspace root>/.venv`
/// (created by `make tools`).
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("FAILOVER_VENV") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join(".venv"),
    }
}

/// A path inside the venv that must exist, with a message saying how to get it.
pub(crate) fn venv_file(relative: &str) -> PathBuf {
    let path = venv_dir().join(relative);
    assert!(
        path.exists(),
        "{} not found: run `make tools` (or point FAILOVER_VENV at a venv with \
         moto[server] and cargo-lambda installed)",
        path.display()
    );
    path
}

/// A port that was free a moment ago on 127.0.0.1 (bind port 0, read it,
/// release it). Callers retry if somebody else grabs it in between.
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// A fresh log file path under `$TMPDIR/failover-integration/`.
pub(crate) fn new_log_path(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join("failover-integration");
    std::fs::create_dir_all(&dir).expect("creating the harness log directory");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{prefix}-{}-{n}.log", std::process::id()))
}

/// stdout+stderr redirection for a child: both go to `path` (truncated).
pub(crate) fn log_stdio(path: &Path) -> (Stdio, Stdio) {
    let file = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("creating log file {}: {e}", path.display()));
    let clone = file.try_clone().expect("duplicating a log file handle");
    (Stdio::from(file), Stdio::from(clone))
}

/// The last `lines` lines of a log file (lossy UTF-8), for panic messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return format!("<cannot read {}: {e}>", path.display()),
    };
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Sends `signal` (e.g. "TERM", "KILL") to `pid` with kill(1); std has no
/// portable way to send anything but SIGKILL. Returns whether kill succeeded.
pub(crate) fn send_signal(pid: u32, signal: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// All live descendants of `pid` (children, grandchildren, ...) from /proc.
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ..." - comm may contain spaces/parens.
            let Some(after_comm) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            let mut fields = after_comm.split_whitespace();
            let _state = fields.next();
            if let Some(ppid) = fields.next().and_then(|s| s.parse::<u32>().ok()) {
                parent_of.push((child, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for &(child, ppid) in &parent_of {
            if ppid == p && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Stops `child` and everything it started: SIGTERM to the child first (so a
/// supervisor such as `cargo lambda watch` can stop and reap its own children),
/// then, after `grace`, SIGKILL to whatever is left; finally reaps the child.
pub(crate) fn terminate_tree(child: &mut Child, grace: Duration) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = child.id();
    let tree = descendants(pid);
    if !grace.is_zero() && send_signal(pid, "TERM") {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    for p in tree {
        // Only processes that still exist; a reused pid is extremely unlikely
        // within the grace period and would need to be ours anyway (same uid).
        if Path::new(&format!("/proc/{p}")).exists() {
            send_signal(p, "KILL");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Minimal HTTP/1.0 request over a fresh TCP connection; returns the status
/// code and body. Used for readiness probes and moto's `/moto-api/` calls, so
/// the crate needs no HTTP client dependency.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let status = std::str::from_utf8(&raw[..raw.len().min(32)])
        .ok()
        .and_then(|s| s.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line in the response"))?;
    let body = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| raw[i + 4..].to_vec())
        .unwrap_or_default();
    Ok((status, body))
}

/// Environment variables a child process must not inherit from the test
/// process: make's jobserver (a nested cargo would try to join it) and the
/// per-crate variables `cargo test` sets, which are meaningless (and could
/// perturb fingerprints) for a nested cargo invocation. `LD_LIBRARY_PATH`
/// (which `cargo test` points at build-script outputs) does perturb them: it
/// re-runs the aws-lc-sys/ring build scripts and rebuilds the SDK stack.
pub(crate) fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let scrub = matches!(
            key,
            "MAKEFLAGS" | "MFLAGS" | "MAKELEVEL" | "CARGO_MAKEFLAGS" | "CARGO_PRIMARY_PACKAGE"
        ) || key.starts_with("CARGO_PKG_")
            || key.starts_with("CARGO_BIN_")
            || key.starts_with("CARGO_MANIFEST_")
            || key.starts_with("CARGO_CRATE_")
            || key == "CARGO_TARGET_TMPDIR"
            || key == "CARGO_RUSTC_CURRENT_DIR"
            || key == "LD_LIBRARY_PATH";
        if scrub {
            cmd.env_remove(key);
        }
    }
}

/// Removes every inherited `AWS_*` variable so a child never picks up the
/// developer's real profile, credentials or endpoints by accident.
pub(crate) fn scrub_aws_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("AWS_")) {
            cmd.env_remove(key);
        }
    }
}
