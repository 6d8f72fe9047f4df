//! The TLS first-handshake probe: how long the first ClientHellos of a function process
//! take, which shows whether the TLS library seeds its random generator from CPU jitter
//! at the first handshake (`bench --tls-probe`, and a line of `make bench`).

use std::io::Read;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::phases::function_env;
use crate::harness::emulator::{ACCOUNT_ID, REGION};
use crate::harness::runtime_api::{FunctionProcess, RuntimeApi};

/// Accept -> ClientHello of the first TLS connections one alarm-trigger process opens at
/// init (the catalog read, against a listener that hangs up: the SDK retries it).
pub fn tls_first_hello(
    bootstrap: &Path,
    logs: &Path,
    origin: Instant,
) -> Result<Vec<Duration>, String> {
    let probe = HelloProbe::start().map_err(|e| e.to_string())?;
    let api = RuntimeApi::start("alarm-trigger", origin).map_err(|e| e.to_string())?;
    let topic = format!("arn:aws:sns:{REGION}:{}:bench-alerts", ACCOUNT_ID);
    let env = function_env("bench-events", &probe.endpoint(), &topic);
    let log = logs.join("alarm-trigger-tls-probe.log");
    let mut p = FunctionProcess::spawn(bootstrap, "alarm-trigger", &api, &env, &log, origin)
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while probe.times().len() < 3 && Instant::now() < deadline {
        if p.exited().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(probe.times())
}

/// Accepts TLS clients on loopback and times each connection from accept to its first
/// bytes (the ClientHello), then hangs up. The first connection of a process pays the
/// one-time seeding of the TLS library's random generator (AWS-LC's CPU-jitter entropy,
/// unless built with `AWS_LC_SYS_NO_JITTER_ENTROPY=1`); the later ones do not.
pub struct HelloProbe {
    addr: SocketAddr,
    times: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<AtomicBool>,
}

impl HelloProbe {
    pub fn start() -> std::io::Result<HelloProbe> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let times: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (times, stop) = (times.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let accepted = Instant::now();
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut b = [0u8; 1];
                    if conn.read(&mut b).is_ok_and(|n| n == 1) {
                        times
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(accepted.elapsed());
                    }
                    let _ = conn.shutdown(Shutdown::Both);
                }
            });
        }
        Ok(HelloProbe { addr, times, stop })
    }

    /// `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Accept -> ClientHello, per connection, in order.
    pub fn times(&self) -> Vec<Duration> {
        self.times.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for HelloProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}
