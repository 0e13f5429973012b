//! Loopback ports and a minimal blocking HTTP/1.1 client for readiness checks.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// A TCP port on `ip` (a loopback address) that was free a moment ago.
pub fn free_port_on(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free TCP port on {ip}: {e}"))
}

/// A port on 127.0.0.1 free for both TCP and UDP (for DNS servers).
pub fn free_dual_port() -> u16 {
    for _ in 0..100 {
        let port = free_port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP on 127.0.0.1 after 100 tries")
}

/// True when something accepts TCP connections at `addr`.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// A response from [`http_get`]: status code and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body as text (lossy UTF-8).
    pub body: String,
}

/// One HTTP/1.1 request with `Connection: close` and a form-encoded body;
/// `None` on any transport error.
pub fn http_request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<Response> {
    exchange(
        addr,
        method,
        path,
        "application/x-www-form-urlencoded",
        body,
        Duration::from_secs(10),
    )
}

/// One HTTP/1.1 request with a JSON body, waiting up to `timeout` for the
/// answer (a WebDriver command can take seconds); `None` on any transport error.
pub fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Option<Response> {
    exchange(addr, method, path, "application/json", body, timeout)
}

/// Sends one request and reads the answer: its body by `Content-Length`
/// when given (some servers, chromedriver among them, keep the connection
/// open whatever the request says), else to the end of the stream.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    timeout: Duration,
) -> Option<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: {content_type}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 || line.trim().is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.trim().eq_ignore_ascii_case("chunked");
        }
    }
    let mut raw = Vec::new();
    if method != "HEAD" {
        match length.filter(|_| !chunked) {
            Some(n) => {
                raw.resize(n, 0);
                reader.read_exact(&mut raw).ok()?;
            }
            None => {
                reader.read_to_end(&mut raw).ok()?;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let body = if chunked {
        dechunk(&text)
    } else {
        text.into_owned()
    };
    Some(Response { status, body })
}

/// `GET path` on `addr`; see [`http_request`].
pub fn http_get(addr: SocketAddr, path: &str) -> Option<Response> {
    http_request(addr, "GET", path, "")
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
