//! HTTP(S) checks on hyper's low-level connection API, so every phase can be
//! timed: [`Connector`] resolves, connects (directly or through an HTTP
//! forward proxy: absolute-form requests for http URLs, a `CONNECT` tunnel for
//! https ones) and handshakes (TLS, ALPN h2 or HTTP/1.1); a [`Connection`]
//! sends requests and times the request write and the first response byte at
//! the socket.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONNECTION, HOST, PROXY_AUTHORIZATION, USER_AGENT};
use http::{Method, Request, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use url::Url;

use crate::error::{ErrorClass, ProbeError};
use crate::outcome::ConnectionFacts;
use crate::proxy::ProxyConfig;
use crate::target::join_host_port;
use crate::tcp;
use crate::trace::{Event, Trace};

/// The `User-Agent` sent unless the request sets one.
pub const USER_AGENT_VALUE: &str = concat!("ward/", env!("CARGO_PKG_VERSION"));

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/2 when the TLS server offers it via ALPN, else HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only (prior knowledge on plain HTTP).
    Http2,
}

/// Which response statuses count as success.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AcceptStatus {
    /// Any 2xx.
    #[default]
    Success,
    /// Exactly these codes.
    Exact(Vec<u16>),
    /// Any status: only transport errors fail.
    Any,
}

impl AcceptStatus {
    /// True when `status` is accepted.
    pub fn accepts(&self, status: u16) -> bool {
        match self {
            AcceptStatus::Success => (200..300).contains(&status),
            AcceptStatus::Exact(codes) => codes.contains(&status),
            AcceptStatus::Any => true,
        }
    }
}

/// One HTTP request to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method (default GET).
    pub method: Method,
    /// Absolute http(s) URL.
    pub url: Url,
    /// Extra headers (e.g. `Authorization` for the API server only).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Request body (empty for none).
    pub body: Bytes,
    /// Connect to this address instead of resolving the URL's host.
    pub connect_to: Option<SocketAddr>,
    /// Which statuses count as success.
    pub accept: AcceptStatus,
    /// Follow redirects as Go's `http.Client` does (see [`HttpRequest::redirected`]).
    pub follow_redirects: bool,
}

impl HttpRequest {
    /// A GET of `url` that accepts 2xx.
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::GET,
            url,
            headers: Vec::new(),
            body: Bytes::new(),
            connect_to: None,
            accept: AcceptStatus::default(),
            follow_redirects: false,
        }
    }

    /// The request that follows a `status` answer with `location`, as Go's
    /// `http.Client` makes it, or `None` when `status` is not followed (only
    /// 301, 302, 303, 307 and 308 are). `Ok(None)` also without a Location.
    ///
    /// 301, 302 and 303 turn any method but HEAD into a bodiless GET; 307 and
    /// 308 repeat the request. Credentials (`Authorization`,
    /// `WWW-Authenticate`, `Cookie`, `Cookie2`) are dropped when the new URL
    /// is on another host than this request's (stricter than Go, which keeps
    /// them for subdomains) or goes from https to http; once dropped they are
    /// not sent again, as in Go since 1.22.11.
    pub fn redirected(
        &self,
        status: u16,
        location: Option<&HeaderValue>,
    ) -> Result<Option<HttpRequest>, ProbeError> {
        let resend = match status {
            301..=303 => false,
            307 | 308 => true,
            _ => return Ok(None),
        };
        let Some(location) = location else {
            return Ok(None);
        };
        let bad = |reason: String| ProbeError::new(ErrorClass::Protocol, None, reason);
        let text = location.to_str().map_err(|_| {
            bad(format!(
                "{} answered {status} with a Location that is not text",
                self.url
            ))
        })?;
        let url = self
            .url
            .join(text)
            .map_err(|e| bad(format!("failed to parse Location header {text:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(format!(
                "{} redirects to {url}: unsupported protocol scheme {:?}",
                self.url,
                url.scheme()
            )));
        }
        let mut next = self.clone();
        let same_host = url.host_str().map(str::to_ascii_lowercase)
            == self.url.host_str().map(str::to_ascii_lowercase);
        let downgrade = self.url.scheme() == "https" && url.scheme() == "http";
        if !same_host || downgrade {
            next.headers
                .retain(|(name, _)| !SENSITIVE_ON_REDIRECT.contains(&name.as_str()));
        }
        if !resend {
            if next.method != Method::HEAD {
                next.method = Method::GET;
            }
            next.body = Bytes::new();
        }
        // An address pinned for the first URL holds only for its host and port.
        if !same_host || url.port_or_known_default() != self.url.port_or_known_default() {
            next.connect_to = None;
        }
        next.url = url;
        Ok(Some(next))
    }

    /// Builds the hyper request for a connection speaking `version`.
    pub fn to_hyper(&self, version: Version) -> Result<Request<Full<Bytes>>, ProbeError> {
        self.build(version, None, false)
    }

    /// The hyper request; through a proxy (`Some(authorization)`), in
    /// absolute form (`GET http://host/path`) with the proxy's credentials;
    /// `close` asks an HTTP/1.1 server to close the connection after
    /// answering (`Connection: close`).
    fn build(
        &self,
        version: Version,
        proxy: Option<&Option<HeaderValue>>,
        close: bool,
    ) -> Result<Request<Full<Bytes>>, ProbeError> {
        let bad = |e: String| ProbeError::new(ErrorClass::Protocol, Some(Event::WroteRequest), e);
        let path_and_query = match self.url.query() {
            Some(q) => format!("{}?{q}", self.url.path()),
            None => self.url.path().to_string(),
        };
        let authority = authority(&self.url);
        let uri: Uri = if version == Version::HTTP_2 || proxy.is_some() {
            format!("{}://{authority}{path_and_query}", self.url.scheme())
        } else {
            path_and_query
        }
        .parse()
        .map_err(|e| bad(format!("bad request URI for {}: {e}", self.url)))?;
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .version(version);
        if version != Version::HTTP_2 {
            builder = builder.header(HOST, authority);
        }
        let mut request = builder
            .body(Full::new(self.body.clone()))
            .map_err(|e| bad(format!("building request for {}: {e}", self.url)))?;
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
        if let Some(Some(authorization)) = proxy {
            headers.insert(PROXY_AUTHORIZATION, authorization.clone());
        }
        if close && version == Version::HTTP_11 {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(request)
    }
}

fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(p) => join_host_port(host, p),
        None => host.to_string(),
    }
}

/// Headers a redirect to another host does not carry (Go's `shouldCopyHeaderOnRedirect`).
const SENSITIVE_ON_REDIRECT: [&str; 4] = ["authorization", "www-authenticate", "cookie", "cookie2"];

/// Facts about the TLS session of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// Protocol version (`TLSv1_3`, …).
    pub version: String,
    /// Negotiated ALPN protocol, if any.
    pub alpn: Option<String>,
    /// `notAfter` of the server's leaf certificate, seconds since the Unix epoch.
    pub cert_not_after: Option<i64>,
}

/// Opens connections: resolve, connect, TLS handshake, HTTP handshake, each traced.
#[derive(Clone)]
pub struct Connector {
    tls: TlsConnector,
    version: HttpVersion,
    proxy: ProxyConfig,
}

impl Connector {
    /// A connector using `tls` for https URLs and speaking `version`.
    pub fn new(tls: Arc<ClientConfig>, version: HttpVersion) -> Self {
        let tls = match version {
            HttpVersion::Auto => tls,
            HttpVersion::Http1 | HttpVersion::Http2 => {
                let mut config = (*tls).clone();
                config.alpn_protocols = vec![if version == HttpVersion::Http2 {
                    b"h2".to_vec()
                } else {
                    b"http/1.1".to_vec()
                }];
                Arc::new(config)
            }
        };
        Self {
            tls: TlsConnector::from(tls),
            version,
            proxy: ProxyConfig::default(),
        }
    }

    /// The same connector, reaching the URLs `proxy` names through their proxy.
    pub fn with_proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = proxy;
        self
    }

    /// Opens a connection for `url` (connecting to `connect_to` when given,
    /// else through the configured proxy when it covers `url`), marking trace
    /// events up to `got_conn`. The dns and connect events are the proxy's
    /// when there is one.
    pub async fn connect(
        &self,
        url: &Url,
        connect_to: Option<SocketAddr>,
        trace: &mut Trace,
    ) -> Result<Connection, ProbeError> {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let proxy = connect_to
            .is_none()
            .then(|| self.proxy.for_url(url))
            .flatten();
        let (stream, remote, proxy_auth) = match proxy {
            None => {
                let (stream, remote) = tcp::connect(&host, port, connect_to, trace).await?;
                (stream, remote, None)
            }
            Some(proxy) => {
                let proxy_host = proxy
                    .host_str()
                    .unwrap_or_default()
                    .trim_matches(['[', ']']);
                let proxy_port = proxy.port_or_known_default().unwrap_or(80);
                let (mut stream, remote) =
                    tcp::connect(proxy_host, proxy_port, None, trace).await?;
                let authorization = proxy_authorization(proxy);
                if url.scheme() == "https" {
                    tunnel(
                        &mut stream,
                        &join_host_port(&host, port),
                        remote,
                        &authorization,
                    )
                    .await?;
                }
                (stream, remote, Some(authorization))
            }
        };
        // Plain http through a proxy: absolute-form HTTP/1.1 requests to the proxy.
        let absolute_form = proxy_auth.filter(|_| url.scheme() == "http");
        let (io, tls_info) = if url.scheme() == "https" {
            trace.mark(Event::TlsHandshakeStart);
            let name = ServerName::try_from(host.clone()).map_err(|e| {
                ProbeError::new(
                    ErrorClass::Tls,
                    Some(Event::TlsHandshakeDone),
                    format!("{host} is not a valid TLS server name: {e}"),
                )
            })?;
            let tls = self.tls.connect(name, stream).await.map_err(|e| {
                ProbeError::new(
                    ErrorClass::Tls,
                    Some(Event::TlsHandshakeDone),
                    format!(
                        "TLS handshake with {} ({remote}): {}",
                        join_host_port(&host, port),
                        tls_reason(&e)
                    ),
                )
            })?;
            trace.mark(Event::TlsHandshakeDone);
            let (_, session) = tls.get_ref();
            let info = TlsInfo {
                version: session
                    .protocol_version()
                    .map(|v| format!("{v:?}"))
                    .unwrap_or_default(),
                alpn: session
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned()),
                cert_not_after: session
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(crate::tls::not_after),
            };
            (Stream::Tls(Box::new(tls)), Some(info))
        } else {
            (Stream::Plain(stream), None)
        };
        let h2 = match (&tls_info, self.version) {
            _ if absolute_form.is_some() => false,
            (_, HttpVersion::Http2) => true,
            (Some(info), HttpVersion::Auto) => info.alpn.as_deref() == Some("h2"),
            _ => false,
        };
        let clock = Arc::new(IoClock::new(trace.started(), h2));
        let io = TokioIo::new(Timed {
            inner: io,
            clock: clock.clone(),
            frames: h2.then(FrameScanner::default),
        });
        let handshake_err = |e: hyper::Error| {
            ProbeError::new(
                ErrorClass::Protocol,
                Some(Event::WroteRequest),
                format!("HTTP handshake with {remote}: {e}"),
            )
        };
        let sender = if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(handshake_err)?;
            let ended = clock.clone();
            tokio::spawn(async move {
                let _ = conn.await;
                ended.peer_closed(PeerCloseKind::Ended);
            });
            Sender::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(handshake_err)?;
            let ended = clock.clone();
            tokio::spawn(async move {
                let _ = conn.await;
                ended.peer_closed(PeerCloseKind::Ended);
            });
            Sender::H1(sender)
        };
        Ok(Connection {
            sender,
            clock,
            remote,
            tls: tls_info,
            requests: 0,
            goaways_taken: 0,
            opened: Instant::now(),
            absolute_form,
            single_use: false,
        })
    }
}

/// `Basic` credentials from the proxy URL's user info (percent-decoded, as Go).
fn proxy_authorization(proxy: &Url) -> Option<HeaderValue> {
    if proxy.username().is_empty() && proxy.password().is_none() {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = format!(
        "{}:{}",
        decode(proxy.username()),
        decode(proxy.password().unwrap_or_default())
    );
    let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
    HeaderValue::from_str(&format!("Basic {encoded}")).ok()
}

/// The longest proxy answer to `CONNECT` read before giving up.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// Asks the proxy at `remote` for a tunnel to `target` (`host:port`) and
/// reads its answer head; anything but 200 is an error naming the status.
async fn tunnel(
    stream: &mut TcpStream,
    target: &str,
    remote: SocketAddr,
    authorization: &Option<HeaderValue>,
) -> Result<(), ProbeError> {
    let failed = |reason: String| {
        ProbeError::new(
            ErrorClass::Connect,
            None,
            format!("proxy {remote} tunnel to {target}: {reason}"),
        )
    };
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(value) = authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(USER_AGENT.as_str().as_bytes());
    request.extend_from_slice(format!(": {USER_AGENT_VALUE}\r\n\r\n").as_bytes());
    stream
        .write_all(&request)
        .await
        .map_err(|e| failed(format!("sending CONNECT: {e}")))?;
    // Byte by byte: nothing after the head may be consumed (it is the TLS handshake's).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_RESPONSE {
            return Err(failed(format!(
                "answer head longer than {MAX_CONNECT_RESPONSE} bytes"
            )));
        }
        match stream.read_u8().await {
            Ok(byte) => head.push(byte),
            Err(e) => return Err(failed(format!("reading the answer to CONNECT: {e}"))),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    match (parts.next(), parts.next()) {
        (Some(v), Some("200")) if v.starts_with("HTTP/1.") => Ok(()),
        (Some(v), Some(_)) if v.starts_with("HTTP/1.") => Err(failed(format!(
            "answered {}",
            status_line.split_once(' ').map_or("", |(_, s)| s)
        ))),
        _ => Err(failed(format!("not an HTTP answer: {status_line:?}"))),
    }
}

fn tls_reason(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(cert)) => format!("invalid certificate: {cert:?}"),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One open HTTP connection; reusable for further requests while not closed.
pub struct Connection {
    sender: Sender,
    clock: Arc<IoClock>,
    remote: SocketAddr,
    tls: Option<TlsInfo>,
    requests: u64,
    /// GOAWAY frames already returned by [`Connection::take_goaways`].
    goaways_taken: u64,
    /// When the connection was ready for its first request.
    opened: Instant,
    /// Through a proxy to a plain http URL: the proxy's credentials, if any.
    absolute_form: Option<Option<HeaderValue>>,
    /// Requests say `Connection: close` ([`Connection::single_use`]).
    single_use: bool,
}

/// The head of a response; the body is read with [`ResponseHead::read_body`].
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: Version,
    /// The response's headers.
    pub headers: http::HeaderMap,
    body: Incoming,
    remote: SocketAddr,
    target: String,
}

impl ResponseHead {
    /// True when the server lets the connection carry another request: not
    /// an HTTP/1.1 `Connection: close`, and for HTTP/1.0 only with an
    /// explicit `Connection: keep-alive` (HTTP/2 always).
    pub fn keeps_alive(&self) -> bool {
        keeps_alive(self.version, &self.headers)
    }

    /// Reads (and discards) the body, at most `max_body` bytes, until
    /// `timeout` after the trace started; marks `body_done`. Returns the byte count.
    pub async fn read_body(
        self,
        trace: &mut Trace,
        max_body: u64,
        timeout: Duration,
    ) -> Result<u64, ProbeError> {
        self.read_body_into(trace, max_body, timeout, None).await
    }

    /// Like [`ResponseHead::read_body`], also appending the body to `keep` when given.
    pub async fn read_body_into(
        mut self,
        trace: &mut Trace,
        max_body: u64,
        timeout: Duration,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<u64, ProbeError> {
        let deadline = trace.started() + timeout;
        let remote = self.remote;
        let mut body_bytes = 0u64;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return Err(ProbeError::timed_out(trace, &self.target, timeout)),
                Ok(None) => break,
                Ok(Some(frame)) => frame.map_err(|e| request_error(&e, remote, true, true))?,
            };
            if let Some(data) = frame.data_ref() {
                body_bytes += data.len() as u64;
                if body_bytes > max_body {
                    return Err(ProbeError::new(
                        ErrorClass::Protocol,
                        None,
                        format!("response body from {remote} exceeds {max_body} bytes"),
                    ));
                }
                if let Some(keep) = keep.as_deref_mut() {
                    keep.extend_from_slice(data);
                }
            }
        }
        trace.mark(Event::BodyDone);
        Ok(body_bytes)
    }
}

impl Connection {
    /// True once the peer or an error closed the connection.
    pub fn is_closed(&self) -> bool {
        match &self.sender {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// The address connected to.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// TLS session facts, for https connections.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// Waits until the connection ends while idle, up to `deadline`: the peer's
    /// FIN or RST (stamped when the socket reported it), or the connection
    /// ending for another reason (e.g. unsolicited data). `None` at the deadline.
    ///
    /// Used to measure a server's idle keep-alive timeout from the client side.
    pub async fn peer_close(&self, deadline: Instant) -> Option<PeerClose> {
        loop {
            let notified = self.clock.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(close) = self.clock.close() {
                return Some(close);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.clock.close();
            }
        }
    }

    /// What the request in flight on this connection has reached at the
    /// socket, readable after a deadline around [`Connection::send`] dropped it.
    pub fn progress(&self) -> Progress {
        Progress(self.clock.clone())
    }

    /// HTTP/2 GOAWAY frames the server sent on this connection so far (0 on HTTP/1).
    pub fn goaways(&self) -> u64 {
        self.clock.goaways.load(Ordering::Relaxed)
    }

    /// GOAWAY frames received since the last call (all of them on the first).
    pub fn take_goaways(&mut self) -> u64 {
        let seen = self.goaways();
        let new = seen.saturating_sub(self.goaways_taken);
        self.goaways_taken = seen;
        new
    }

    /// What the next request on this connection finds, as of now: fresh or
    /// reused, how long the connection has been open, and for a reused one
    /// how long nothing arrived on it (since the end of the last response).
    pub fn facts(&self) -> ConnectionFacts {
        let now = Instant::now();
        let reused = self.requests > 0;
        ConnectionFacts {
            reused,
            age: Some(now.saturating_duration_since(self.opened)),
            idle: reused
                .then(|| self.clock.last_read())
                .flatten()
                .map(|at| now.saturating_duration_since(at)),
        }
    }

    /// How many requests were sent on this connection before the current one.
    pub fn requests_sent(&self) -> u64 {
        self.requests
    }

    /// The HTTP version spoken.
    pub fn version(&self) -> Version {
        match self.sender {
            Sender::H1(_) => Version::HTTP_11,
            Sender::H2(_) => Version::HTTP_2,
        }
    }

    /// Marks the connection as used for one request: an HTTP/1.1 request
    /// then says `Connection: close`, as Go's transport does with keep-alives
    /// disabled, and the server closes at once instead of waiting for
    /// another request.
    pub fn single_use(&mut self) {
        self.single_use = true;
    }

    /// Sends `request` and waits for the response head until `timeout` after
    /// the trace started; marks `got_conn`, `wrote_request` and `got_first_resp_byte`.
    pub async fn send(
        &mut self,
        request: &HttpRequest,
        trace: &mut Trace,
        timeout: Duration,
    ) -> Result<ResponseHead, ProbeError> {
        let deadline = trace.started() + timeout;
        let hyper_request =
            request.build(self.version(), self.absolute_form.as_ref(), self.single_use)?;
        let remote = self.remote;
        let target = request.url.to_string();
        let timed_out = |trace: &mut Trace, clock: &Arc<IoClock>| {
            Progress(clock.clone()).mark(trace);
            ProbeError::timed_out(trace, &target, timeout)
        };
        if let Sender::H1(s) = &mut self.sender {
            match tokio::time::timeout_at(deadline, s.ready()).await {
                Err(_) => return Err(timed_out(trace, &self.clock)),
                Ok(Err(_)) => {
                    return Err(ProbeError::new(
                        ErrorClass::Reset,
                        Some(Event::WroteRequest),
                        format!("connection to {remote} closed before the request was sent"),
                    ))
                }
                Ok(Ok(())) => {}
            }
        }
        trace.mark(Event::GotConn);
        self.clock.arm();
        self.requests += 1;
        let sent = match &mut self.sender {
            Sender::H1(s) => tokio::time::timeout_at(deadline, s.send_request(hyper_request)).await,
            Sender::H2(s) => tokio::time::timeout_at(deadline, s.send_request(hyper_request)).await,
        };
        let Ok(sent) = sent else {
            return Err(timed_out(trace, &self.clock));
        };
        let (written, first_byte) = self.clock.marks();
        if let Some(at) = written {
            trace.mark_at(Event::WroteRequest, at);
        }
        let response =
            sent.map_err(|e| request_error(&e, remote, written.is_some(), first_byte.is_some()))?;
        let first_byte = first_byte.unwrap_or_else(Instant::now);
        trace.mark_at(Event::GotFirstRespByte, first_byte);
        if written.is_none() {
            trace.mark_at(Event::WroteRequest, first_byte);
        }
        let status = response.status().as_u16();
        let version = response.version();
        let (parts, body) = response.into_parts();
        Ok(ResponseHead {
            status,
            version,
            headers: parts.headers,
            body,
            remote,
            target,
        })
    }
}

/// The socket-level marks of the request in flight on a [`Connection`]:
/// when it was written and when the first response byte arrived, so that a
/// check cut off by an outer deadline is classified by what really happened
/// (a head trickling in is not a silent server).
#[derive(Clone)]
pub struct Progress(Arc<IoClock>);

impl Progress {
    /// Marks `wrote_request` and `got_first_resp_byte` on `trace` when they
    /// happened, provided `trace` reached `got_conn` (the marks are this
    /// request's only from then on).
    pub fn mark(&self, trace: &mut Trace) {
        if trace.get(Event::GotConn).is_none() {
            return;
        }
        let (written, first_byte) = self.0.marks();
        if let Some(at) = written {
            trace.mark_at(Event::WroteRequest, at);
        }
        if let Some(at) = first_byte {
            trace.mark_at(Event::GotFirstRespByte, at);
        }
    }
}

/// HTTP/1.x persistence (RFC 9112 9.3): HTTP/1.1 connections persist unless
/// a `Connection` header says `close`; HTTP/1.0 ones only with `keep-alive`.
fn keeps_alive(version: Version, headers: &http::HeaderMap) -> bool {
    let says = |token: &str| {
        headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match version {
        Version::HTTP_09 => false,
        Version::HTTP_10 => says("keep-alive") && !says("close"),
        Version::HTTP_11 => !says("close"),
        _ => true,
    }
}

/// Classifies a hyper error by what had happened on the socket.
fn request_error(
    e: &hyper::Error,
    remote: SocketAddr,
    written: bool,
    first_byte: bool,
) -> ProbeError {
    let io_kind = std::iter::successors(std::error::Error::source(e), |s| s.source())
        .find_map(|s| s.downcast_ref::<io::Error>())
        .map(io::Error::kind);
    let reset = matches!(
        io_kind,
        Some(
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
        )
    ) || e.is_incomplete_message()
        || e.is_canceled()
        || e.is_closed();
    let class = if reset {
        ErrorClass::Reset
    } else {
        ErrorClass::Protocol
    };
    let what = match (written, first_byte) {
        (false, _) => "writing the request",
        (true, false) => "waiting for the response",
        (true, true) => "reading the response",
    };
    let event = (!written).then_some(Event::WroteRequest);
    ProbeError::new(
        class,
        event,
        format!("{what} from {remote}: {}", error_chain(e)),
    )
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// How a connection ended, as seen by [`Connection::peer_close`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerCloseKind {
    /// The peer closed cleanly (a read returned end-of-stream).
    Fin,
    /// The peer reset the connection (a read failed with ECONNRESET).
    Reset,
    /// The connection ended without either being seen (unsolicited data, protocol error).
    Ended,
}

/// When and how the peer closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerClose {
    /// Monotonic time the close was observed at the socket.
    pub at: Instant,
    /// FIN, RST or another end.
    pub kind: PeerCloseKind,
}

/// Socket-level timestamps: the last write and the first read after a request
/// started, and when (and how) the peer closed the connection.
///
/// On a multiplexed (HTTP/2) connection the first read after a request may be
/// a control frame (the server's SETTINGS, a PING), not the response: there
/// the clock records writes only, and the response's first byte is taken when
/// hyper hands over the decoded response head.
struct IoClock {
    base: Instant,
    multiplexed: bool,
    last_write: AtomicU64,
    first_read: AtomicU64,
    /// The latest read that returned data (any request).
    last_read: AtomicU64,
    close_at: AtomicU64,
    close_kind: std::sync::atomic::AtomicU8,
    closed: tokio::sync::Notify,
    /// HTTP/2 GOAWAY frames read from the server.
    goaways: AtomicU64,
}

impl IoClock {
    fn new(base: Instant, multiplexed: bool) -> Self {
        Self {
            base,
            multiplexed,
            last_write: AtomicU64::new(0),
            first_read: AtomicU64::new(u64::MAX),
            last_read: AtomicU64::new(0),
            close_at: AtomicU64::new(0),
            close_kind: std::sync::atomic::AtomicU8::new(0),
            closed: tokio::sync::Notify::new(),
            goaways: AtomicU64::new(0),
        }
    }

    /// Records the first close of the connection and wakes waiters.
    fn peer_closed(&self, kind: PeerCloseKind) {
        let code = match kind {
            PeerCloseKind::Fin => 1,
            PeerCloseKind::Reset => 2,
            PeerCloseKind::Ended => 3,
        };
        if self
            .close_kind
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.close_at.store(self.stamp(), Ordering::Release);
        }
        self.closed.notify_waiters();
    }

    fn close(&self) -> Option<PeerClose> {
        let kind = match self.close_kind.load(Ordering::Acquire) {
            1 => PeerCloseKind::Fin,
            2 => PeerCloseKind::Reset,
            3 => PeerCloseKind::Ended,
            _ => return None,
        };
        // The stamp follows the kind by a few instructions; fall back to now.
        let at = self
            .at(self.close_at.load(Ordering::Acquire))
            .unwrap_or_else(Instant::now);
        Some(PeerClose { at, kind })
    }

    fn stamp(&self) -> u64 {
        // +1 so that 0 means "not yet".
        Instant::now()
            .saturating_duration_since(self.base)
            .as_nanos() as u64
            + 1
    }

    /// Starts timing a new request: clears the marks.
    fn arm(&self) {
        self.last_write.store(0, Ordering::Relaxed);
        self.first_read.store(0, Ordering::Relaxed);
    }

    fn wrote(&self) {
        if self.multiplexed || self.first_read.load(Ordering::Relaxed) == 0 {
            self.last_write.store(self.stamp(), Ordering::Relaxed);
        }
    }

    fn read(&self) {
        let now = self.stamp();
        self.last_read.store(now, Ordering::Relaxed);
        if !self.multiplexed && self.first_read.load(Ordering::Relaxed) == 0 {
            self.first_read.store(now, Ordering::Relaxed);
        }
    }

    /// When data last arrived on the connection.
    fn last_read(&self) -> Option<Instant> {
        self.at(self.last_read.load(Ordering::Relaxed))
    }

    fn at(&self, v: u64) -> Option<Instant> {
        (v != 0 && v != u64::MAX).then(|| self.base + std::time::Duration::from_nanos(v - 1))
    }

    /// (request written, first response byte) since the last `arm`.
    fn marks(&self) -> (Option<Instant>, Option<Instant>) {
        (
            self.at(self.last_write.load(Ordering::Relaxed)),
            self.at(self.first_read.load(Ordering::Relaxed)),
        )
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// A stream that stamps the [`IoClock`] on every write and the first read,
/// and on HTTP/2 follows the server's frames to count its GOAWAYs.
struct Timed {
    inner: Stream,
    clock: Arc<IoClock>,
    frames: Option<FrameScanner>,
}

/// The HTTP/2 frame type of GOAWAY (RFC 9113 6.8).
const GOAWAY: u8 = 0x7;

/// Follows the frame boundaries of what an HTTP/2 server sends (after TLS):
/// a 9-byte header (24-bit payload length, type, flags, stream id), then the
/// payload. hyper does not tell a GOAWAY apart from other ends of a
/// connection; the bytes do.
#[derive(Debug, Default)]
struct FrameScanner {
    header: [u8; 9],
    have: usize,
    skip: usize,
}

impl FrameScanner {
    /// Takes the next bytes read; returns how many GOAWAY frame headers they completed.
    fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut goaways = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip -= n;
                data = &data[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == self.header.len() {
                let [a, b, c, kind, ..] = self.header;
                if kind == GOAWAY {
                    goaways += 1;
                }
                self.skip = u32::from_be_bytes([0, a, b, c]) as usize;
                self.have = 0;
            }
        }
        goaways
    }
}

impl AsyncRead for Timed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = match &mut this.inner {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if let (Some(frames), Poll::Ready(Ok(()))) = (&mut this.frames, &poll) {
            let goaways = frames.feed(&buf.filled()[before..]);
            if goaways > 0 {
                this.clock.goaways.fetch_add(goaways, Ordering::Relaxed);
            }
        }
        match &poll {
            Poll::Ready(Ok(())) if buf.filled().len() > before => this.clock.read(),
            Poll::Ready(Ok(())) if buf.remaining() > 0 => {
                this.clock.peer_closed(PeerCloseKind::Fin)
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                this.clock.peer_closed(PeerCloseKind::Reset)
            }
            _ => {}
        }
        poll
    }
}

impl AsyncWrite for Timed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = match &mut this.inner {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, data),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        };
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.wrote();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let poll = match &mut this.inner {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        };
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.wrote();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() as u32).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, 0, 0, 0, 0, 0];
        f.extend_from_slice(payload);
        f
    }

    /// GOAWAY frames are counted wherever the reads split the stream, and a
    /// payload that happens to contain a GOAWAY-like header is skipped.
    #[test]
    fn frame_scanner_counts_goaways_across_any_read_boundaries() {
        let mut stream = frame(0x4, &[0; 6]); // SETTINGS
        stream.extend(frame(0x0, &frame(GOAWAY, &[0; 8]))); // DATA carrying look-alike bytes
        stream.extend(frame(GOAWAY, &[0, 0, 0, 1, 0, 0, 0, 0]));
        stream.extend(frame(0x6, &[0; 8])); // PING
        stream.extend(frame(GOAWAY, &[0, 0, 0, 3, 0, 0, 0, 2, b'x']));
        for chunk in [1, 2, 5, 9, 10, stream.len()] {
            let mut scanner = FrameScanner::default();
            let counted: u64 = stream.chunks(chunk).map(|c| scanner.feed(c)).sum();
            assert_eq!(counted, 2, "reads of {chunk} bytes");
        }
    }

    /// HTTP/1.1 persists unless told `close`; HTTP/1.0 (`python3 -m
    /// http.server`) only when told `keep-alive`.
    #[test]
    fn persistence_follows_the_version_and_the_connection_header() {
        let headers = |value: Option<&str>| {
            let mut h = http::HeaderMap::new();
            if let Some(v) = value {
                h.insert(http::header::CONNECTION, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        for (version, connection, persists) in [
            (Version::HTTP_11, None, true),
            (Version::HTTP_11, Some("close"), false),
            (Version::HTTP_11, Some("Upgrade, Close"), false),
            (Version::HTTP_11, Some("keep-alive"), true),
            (Version::HTTP_10, None, false),
            (Version::HTTP_10, Some("Keep-Alive"), true),
            (Version::HTTP_2, None, true),
        ] {
            assert_eq!(
                keeps_alive(version, &headers(connection)),
                persists,
                "{version:?} {connection:?}"
            );
        }
    }
}
