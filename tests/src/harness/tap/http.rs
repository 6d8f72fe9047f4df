//! The tap's HTTP/1.1 relay plumbing: read a request (Content-Length or chunked), send it
//! to moto on a fresh connection and read the whole answer, hold a connection open.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const MAX_HEAD: usize = 64 * 1024;
/// How long one read or write on a connection may take.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// One request as the client sent it.
pub(super) struct Request {
    /// `POST / HTTP/1.1`.
    pub(super) request_line: String,
    pub(super) headers: Vec<(String, String)>,
    /// As read: a chunked body keeps its framing, and is forwarded so.
    pub(super) body: Vec<u8>,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request from `client`, and when its head had arrived (since `origin`).
pub(super) fn read_request(client: &mut TcpStream, origin: Instant) -> Option<(Request, Duration)> {
    let mut buf = Vec::new();
    let head_end = read_head(client, &mut buf)?;
    let start = origin.elapsed();
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut request = Request {
        request_line,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    if let Some(len) = request
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        read_to_len(client, &mut request.body, len)?;
    } else if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        read_chunked(client, &mut request.body)?;
    }
    Some((request, start))
}

pub(super) fn is_hop_header(name: &str) -> bool {
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
pub(super) fn exchange(
    upstream: SocketAddr,
    head: &[u8],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
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

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads (and drops) from `client` until it closes the connection or `max` passes.
pub(super) fn wait_until_closed(client: &mut TcpStream, max: Duration) {
    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
    let until = Instant::now() + max;
    let mut byte = [0u8; 1];
    while Instant::now() < until {
        match client.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}
