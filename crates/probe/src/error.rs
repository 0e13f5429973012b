//! Errors: a failed check carries a [`ProbeError`] (a stable class, the event
//! that failed, and a message); building a prober from bad configuration
//! returns a [`ConfigError`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::trace::{Event, Trace};

/// The stable, low-cardinality class of a failed check (used as a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Name resolution failed (including DNS-check failures: timeouts, bad rcodes).
    Dns,
    /// The server refused the TCP connection.
    ConnectRefused,
    /// The TCP connection did not complete in time.
    ConnectTimeout,
    /// Another connect failure (network unreachable, no route, …).
    Connect,
    /// The TLS handshake failed (unknown CA, wrong name, protocol mismatch, …).
    Tls,
    /// Connected and sent the request, but no response byte arrived in time.
    TimeoutFirstByte,
    /// The response started but did not complete in time.
    Timeout,
    /// The peer reset or closed the connection before the response completed.
    Reset,
    /// The peer spoke something that is not valid HTTP, or the response was too large.
    Protocol,
    /// The response status was not one the check accepts.
    HttpStatus,
}

impl ErrorClass {
    /// The label value (`connect_refused`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Dns => "dns",
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::Connect => "connect",
            ErrorClass::Tls => "tls",
            ErrorClass::TimeoutFirstByte => "timeout_first_byte",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Reset => "reset",
            ErrorClass::Protocol => "protocol",
            ErrorClass::HttpStatus => "http_status",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a check failed: class, the trace event that carried the error, and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeError {
    /// Stable class for metrics and exit decisions.
    pub class: ErrorClass,
    /// The event whose completion failed (`dns_done`, `connect_done`,
    /// `tls_handshake_done`, `wrote_request`), or `None` for errors after the
    /// request was written (kubenurse counts those as `round_trip_error`).
    #[serde(serialize_with = "event_name")]
    pub event: Option<Event>,
    /// What happened, naming the target.
    pub message: String,
}

impl ProbeError {
    /// A new error.
    pub fn new(class: ErrorClass, event: Option<Event>, message: impl Into<String>) -> Self {
        Self {
            class,
            event,
            message: message.into(),
        }
    }
}

impl ProbeError {
    /// A timeout, classified by the last event that fired before it.
    pub fn timed_out(trace: &Trace, target: &str, timeout: Duration) -> Self {
        let (class, event, what) = match trace.last() {
            None | Some(Event::DnsStart) => {
                (ErrorClass::Dns, Some(Event::DnsDone), "resolving the name")
            }
            Some(Event::DnsDone) | Some(Event::ConnectStart) => (
                ErrorClass::ConnectTimeout,
                Some(Event::ConnectDone),
                "connecting",
            ),
            Some(Event::ConnectDone) | Some(Event::TlsHandshakeStart)
                if trace.get(Event::TlsHandshakeStart).is_some() =>
            {
                (
                    ErrorClass::Tls,
                    Some(Event::TlsHandshakeDone),
                    "in the TLS handshake",
                )
            }
            Some(Event::ConnectDone)
            | Some(Event::TlsHandshakeStart)
            | Some(Event::TlsHandshakeDone)
            | Some(Event::GotConn)
            | Some(Event::WroteRequest) => (
                ErrorClass::TimeoutFirstByte,
                None,
                "waiting for the first response byte",
            ),
            Some(Event::GotFirstRespByte) | Some(Event::BodyDone) => {
                (ErrorClass::Timeout, None, "reading the response")
            }
        };
        ProbeError::new(
            class,
            event,
            format!("{target}: timed out after {timeout:?} {what}"),
        )
    }
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)
    }
}

impl std::error::Error for ProbeError {}

fn event_name<S: serde::Serializer>(e: &Option<Event>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => s.serialize_str(e.as_str()),
        None => s.serialize_none(),
    }
}

/// Which TLS setting named a file: what a file error is about, so that a
/// caller can tell the user which of its own settings to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsFile {
    /// An extra CA certificate to trust.
    CaFile,
    /// The client certificate chain (mutual TLS).
    ClientCert,
    /// The client private key (mutual TLS).
    ClientKey,
    /// A server's certificate chain (an agent serving HTTPS).
    ServerCert,
    /// A server's private key.
    ServerKey,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFile::CaFile => "CA file",
            TlsFile::ClientCert => "client certificate",
            TlsFile::ClientKey => "client key",
            TlsFile::ServerCert => "server certificate",
            TlsFile::ServerKey => "server key",
        })
    }
}

/// Invalid prober configuration or target.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file named in the configuration could not be read.
    #[error("reading {file} {path}: {source}")]
    Read {
        /// Which setting named the file.
        file: TlsFile,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file held nothing usable.
    #[error("{file} {path}: {reason}")]
    Pem {
        /// Which setting named the file.
        file: TlsFile,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls rejected the TLS settings.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A target string could not be parsed.
    #[error("target {input:?}: {reason}")]
    Target {
        /// The text given.
        input: String,
        /// What was expected.
        reason: String,
    },
}

impl ConfigError {
    /// The TLS setting whose file this error is about, if it is about a file.
    pub fn tls_file(&self) -> Option<TlsFile> {
        match self {
            ConfigError::Read { file, .. } | ConfigError::Pem { file, .. } => Some(*file),
            ConfigError::Tls(_) | ConfigError::Target { .. } => None,
        }
    }
}
