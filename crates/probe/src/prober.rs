//! A configured prober: TLS settings, timeout, connection reuse and HTTP
//! version, checking any [`Target`] and returning an [`Outcome`]. Errors are
//! values in the outcome, never panics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ClientConfig;

use crate::dns::{self, DnsFailure, DnsQuery};
use crate::error::{ConfigError, ErrorClass, ProbeError};
use crate::http::{Connection, Connector, HttpRequest, HttpVersion, Progress};
use crate::outcome::{Hop, Outcome};
use crate::proxy::ProxyConfig;
use crate::target::{join_host_port, Target};
use crate::tcp;
use crate::tls::TlsConfig;
use crate::trace::{Event, Trace};

/// Settings shared by every check of a prober.
#[derive(Debug, Clone)]
pub struct ProberConfig {
    /// Deadline for one whole check.
    pub timeout: Duration,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Keep connections open and reuse them for later checks of the same origin.
    pub reuse: bool,
    /// HTTP version preference.
    pub http_version: HttpVersion,
    /// Largest response body read before the check fails.
    pub max_body: u64,
    /// Forward proxies for HTTP checks (none by default).
    pub proxy: ProxyConfig,
}

/// The most requests one HTTP check makes when following redirects (Go's
/// `http.Client`: "stopped after 10 redirects" at the tenth redirect answer).
pub const MAX_REQUESTS: usize = 10;

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            tls: TlsConfig::default(),
            reuse: false,
            http_version: HttpVersion::Auto,
            max_body: 1 << 20,
            proxy: ProxyConfig::default(),
        }
    }
}

type PoolKey = (String, Option<SocketAddr>);

/// Runs checks with one configuration; cheap to share behind an `Arc`.
pub struct Prober {
    config: ProberConfig,
    tls: Arc<ClientConfig>,
    connector: Connector,
    idle: Mutex<HashMap<PoolKey, Vec<Connection>>>,
}

impl Prober {
    /// Builds a prober; fails on unreadable CA or client-certificate files.
    pub fn new(config: ProberConfig) -> Result<Self, ConfigError> {
        let tls = config.tls.build()?;
        Ok(Self {
            connector: Connector::new(tls.clone(), config.http_version)
                .with_proxy(config.proxy.clone()),
            tls,
            config,
            idle: Mutex::new(HashMap::new()),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProberConfig {
        &self.config
    }

    /// Checks a target: an HTTP GET accepting 2xx, a TCP connect, or a DNS query expecting NOERROR.
    pub async fn check(&self, target: &Target) -> Outcome {
        match target {
            Target::Http(url) => self.check_http(&HttpRequest::get(url.clone())).await,
            Target::Tcp { host, port } => self.check_tcp(host, *port).await,
            Target::Dns(query) => self.check_dns(query).await,
        }
    }

    /// Sends one HTTP request within the timeout.
    pub async fn check_http(&self, request: &HttpRequest) -> Outcome {
        self.http(request, None).await
    }

    /// Sends one HTTP request within the timeout and returns the body too (at most `max_body` bytes).
    pub async fn fetch_http(&self, request: &HttpRequest) -> (Outcome, Vec<u8>) {
        let mut body = Vec::new();
        let outcome = self.http(request, Some(&mut body)).await;
        (outcome, body)
    }

    /// One request, or with `follow_redirects` a chain of at most
    /// [`MAX_REQUESTS`], all within one timeout. The outcome describes the
    /// last request; the redirects before it are in `redirects`.
    async fn http(&self, request: &HttpRequest, mut body: Option<&mut Vec<u8>>) -> Outcome {
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let mut redirects = Vec::new();
        let mut request = std::borrow::Cow::Borrowed(request);
        loop {
            let mut trace = Trace::start();
            let mut outcome = Outcome::new(request.url.as_str(), trace);
            if let Some(body) = body.as_deref_mut() {
                body.clear();
            }
            let mut progress = None;
            let result = tokio::time::timeout_at(
                deadline,
                self.http_round(
                    &request,
                    &mut trace,
                    &mut outcome,
                    body.as_deref_mut(),
                    &mut progress,
                ),
            )
            .await;
            let error = match result {
                Ok(Ok(None)) => None,
                Ok(Ok(Some(next))) if redirects.len() + 1 < MAX_REQUESTS => {
                    redirects.push(Hop {
                        target: request.url.to_string(),
                        status: outcome.status.unwrap_or_default(),
                        events: trace,
                    });
                    request = std::borrow::Cow::Owned(next);
                    continue;
                }
                Ok(Ok(Some(next))) => {
                    // As Go's url.Error: the target is where the last redirect pointed.
                    outcome.target = next.url.to_string();
                    Some(ProbeError::new(
                        ErrorClass::Protocol,
                        None,
                        format!("stopped after {MAX_REQUESTS} redirects"),
                    ))
                }
                Ok(Err(e)) => Some(e),
                Err(_) => {
                    // Classified by what the socket saw (a head trickling
                    // in is `timeout`, not `timeout_first_byte`).
                    if let Some(progress) = &progress {
                        progress.mark(&mut trace);
                    }
                    Some(ProbeError::timed_out(
                        &trace,
                        request.url.as_str(),
                        self.config.timeout,
                    ))
                }
            };
            let mut outcome = outcome.finish(trace, error);
            if let Some(first) = redirects.first() {
                outcome.total = first.events.started().elapsed();
            }
            outcome.redirects = redirects;
            return outcome;
        }
    }

    async fn http_round(
        &self,
        request: &HttpRequest,
        trace: &mut Trace,
        outcome: &mut Outcome,
        body: Option<&mut Vec<u8>>,
        progress: &mut Option<Progress>,
    ) -> Result<Option<HttpRequest>, ProbeError> {
        let key: PoolKey = (origin(&request.url), request.connect_to);
        let pooled = if self.config.reuse {
            self.checkout(&key, outcome)
        } else {
            None
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let mut conn = self
                    .connector
                    .connect(&request.url, request.connect_to, trace)
                    .await?;
                if !self.config.reuse {
                    conn.single_use();
                }
                conn
            }
        };
        *progress = Some(conn.progress());
        outcome.connection = conn.facts();
        outcome.remote_addr = Some(conn.remote());
        outcome.tls = conn.tls().cloned();
        let exchanged = self
            .exchange(&mut conn, request, trace, outcome, body)
            .await;
        outcome.goaways += conn.take_goaways();
        let (status, location) = exchanged?;
        if self.config.reuse && !conn.is_closed() {
            self.checkin(key, conn);
        }
        if request.follow_redirects {
            if let Some(next) = request.redirected(status, location.as_ref())? {
                return Ok(Some(next));
            }
        }
        if request.accept.accepts(status) {
            Ok(None)
        } else {
            Err(ProbeError::new(
                ErrorClass::HttpStatus,
                None,
                format!("{} answered HTTP {status}", request.url),
            ))
        }
    }

    /// Sends `request` on `conn` and reads the body: the status and `Location`.
    async fn exchange(
        &self,
        conn: &mut Connection,
        request: &HttpRequest,
        trace: &mut Trace,
        outcome: &mut Outcome,
        body: Option<&mut Vec<u8>>,
    ) -> Result<(u16, Option<http::HeaderValue>), ProbeError> {
        let head = conn.send(request, trace, self.config.timeout).await?;
        let status = head.status;
        let location = head.headers.get(http::header::LOCATION).cloned();
        outcome.status = Some(status);
        outcome.http_version = Some(format!("{:?}", head.version));
        outcome.body_bytes = head
            .read_body_into(trace, self.config.max_body, self.config.timeout, body)
            .await?;
        Ok((status, location))
    }

    /// An open pooled connection for `key`; the GOAWAYs that closed pooled
    /// ones since their last check go to `outcome`.
    fn checkout(&self, key: &PoolKey, outcome: &mut Outcome) -> Option<Connection> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(key)?;
        while let Some(mut conn) = list.pop() {
            outcome.goaways += conn.take_goaways();
            if !conn.is_closed() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, key: PoolKey, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.entry(key).or_default().push(conn);
    }

    /// Opens (and closes) one TCP connection within the timeout.
    pub async fn check_tcp(&self, host: &str, port: u16) -> Outcome {
        let mut trace = Trace::start();
        let target = format!("tcp://{}", join_host_port(host, port));
        let mut outcome = Outcome::new(&target, trace);
        let result = tokio::time::timeout(
            self.config.timeout,
            tcp::connect(host, port, None, &mut trace),
        )
        .await;
        let error = match result {
            Ok(Ok((_, addr))) => {
                outcome.remote_addr = Some(addr);
                None
            }
            Ok(Err(e)) => Some(e),
            Err(_) => Some(ProbeError::timed_out(&trace, &target, self.config.timeout)),
        };
        outcome.finish(trace, error)
    }

    /// Sends one DNS query within the timeout; anything but NOERROR fails the check.
    pub async fn check_dns(&self, query: &DnsQuery) -> Outcome {
        let mut trace = Trace::start();
        let mut outcome = Outcome::new(query.to_string(), trace);
        let result = dns::query(query, Some(&self.tls), self.config.timeout, &mut trace).await;
        let error = match result {
            Ok(answer) => {
                let failure = DnsFailure::of_answer(&answer).map(|f| {
                    ProbeError::new(
                        ErrorClass::Dns,
                        Some(Event::DnsDone),
                        format!(
                            "{} {} via {}: {}{}",
                            query.record_type,
                            query.name,
                            query.server_addr(),
                            answer.rcode,
                            if f == DnsFailure::Truncated {
                                " (truncated)"
                            } else {
                                ""
                            }
                        ),
                    )
                });
                outcome.dns = Some(answer);
                failure
            }
            Err(e) => Some(e.to_probe_error()),
        };
        outcome.finish(trace, error)
    }
}

/// `scheme://host:port` of a URL, the key for reusable connections.
fn origin(url: &url::Url) -> String {
    format!(
        "{}://{}",
        url.scheme(),
        join_host_port(
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        )
    )
}
