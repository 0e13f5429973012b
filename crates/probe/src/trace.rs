//! The timeline of one check: when each event fired, measured on a monotonic
//! clock from the start of the check. Event names are those of Go's httptrace
//! hooks that kubenurse exports, so the nurse can export them unchanged.

use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use tokio::time::Instant;

/// One point in a check's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// Name resolution started (host names only, not IP literals).
    DnsStart,
    /// Name resolution finished.
    DnsDone,
    /// TCP connect started.
    ConnectStart,
    /// TCP connect finished.
    ConnectDone,
    /// TLS handshake started.
    TlsHandshakeStart,
    /// TLS handshake finished.
    TlsHandshakeDone,
    /// A connection is ready for the request (fresh or reused).
    GotConn,
    /// The whole request (headers and body) was written.
    WroteRequest,
    /// The first byte of the response arrived.
    GotFirstRespByte,
    /// The response body was read completely.
    BodyDone,
}

impl Event {
    /// Every event, in the order they fire.
    pub const ALL: [Event; 10] = [
        Event::DnsStart,
        Event::DnsDone,
        Event::ConnectStart,
        Event::ConnectDone,
        Event::TlsHandshakeStart,
        Event::TlsHandshakeDone,
        Event::GotConn,
        Event::WroteRequest,
        Event::GotFirstRespByte,
        Event::BodyDone,
    ];

    /// The httptrace-style name kubenurse uses (`got_first_resp_byte`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::DnsStart => "dns_start",
            Event::DnsDone => "dns_done",
            Event::ConnectStart => "connect_start",
            Event::ConnectDone => "connect_done",
            Event::TlsHandshakeStart => "tls_handshake_start",
            Event::TlsHandshakeDone => "tls_handshake_done",
            Event::GotConn => "got_conn",
            Event::WroteRequest => "wrote_request",
            Event::GotFirstRespByte => "got_first_resp_byte",
            Event::BodyDone => "body_done",
        }
    }
}

/// When each event fired, as time since the check started.
#[derive(Debug, Clone, Copy)]
pub struct Trace {
    start: Instant,
    at: [Option<Duration>; Event::ALL.len()],
}

impl Trace {
    /// A trace starting now.
    pub fn start() -> Self {
        Self::start_at(Instant::now())
    }

    /// A trace that started at `start` (e.g. an intended send time in an open-model load test).
    pub fn start_at(start: Instant) -> Self {
        Self {
            start,
            at: [None; Event::ALL.len()],
        }
    }

    /// When the check started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Records that `event` fired now.
    pub fn mark(&mut self, event: Event) {
        self.mark_at(event, Instant::now());
    }

    /// Records that `event` fired at `when`.
    pub fn mark_at(&mut self, event: Event, when: Instant) {
        self.at[event as usize] = Some(when.saturating_duration_since(self.start));
    }

    /// Time from the start until `event`, if it fired.
    pub fn get(&self, event: Event) -> Option<Duration> {
        self.at[event as usize]
    }

    /// The events that fired, in timeline order.
    pub fn events(&self) -> impl Iterator<Item = (Event, Duration)> + '_ {
        Event::ALL
            .iter()
            .filter_map(|e| self.get(*e).map(|d| (*e, d)))
    }

    /// The latest event that fired, if any.
    pub fn last(&self) -> Option<Event> {
        Event::ALL
            .iter()
            .rev()
            .copied()
            .find(|e| self.get(*e).is_some())
    }

    /// Duration of each phase (not cumulative), as in httpstat: from the
    /// event that starts it to the event that ends it ([`Phase::span`]).
    pub fn phases(&self) -> Phases {
        let mut phases = Phases::default();
        for phase in Phase::ALL {
            let (start, end) = phase.span();
            if let (Some(a), Some(b)) = (self.get(start), self.get(end)) {
                *phases.get_mut(phase) = Some(b.saturating_sub(a));
            }
        }
        phases
    }
}

impl Serialize for Trace {
    /// Serialises as `{"dns_start": seconds, …}` for the events that fired.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (event, at) in self.events() {
            map.serialize_entry(event.as_str(), &at.as_secs_f64())?;
        }
        map.end()
    }
}

/// One phase of a check, between two events of its [`Trace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Name resolution.
    Dns,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Tls,
    /// Writing the request (from the connection being ready).
    Send,
    /// Waiting for the first response byte (server processing).
    Wait,
    /// Receiving the body.
    Receive,
}

impl Phase {
    /// Every phase, in the order they happen.
    pub const ALL: [Phase; 6] = [
        Phase::Dns,
        Phase::Connect,
        Phase::Tls,
        Phase::Send,
        Phase::Wait,
        Phase::Receive,
    ];

    /// The phase's name (`dns`, `connect`, `tls`, `send`, `wait`, `receive`):
    /// report keys and the nurse's `phase` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Send => "send",
            Phase::Wait => "wait",
            Phase::Receive => "receive",
        }
    }

    /// The events that start and end the phase.
    pub fn span(self) -> (Event, Event) {
        match self {
            Phase::Dns => (Event::DnsStart, Event::DnsDone),
            Phase::Connect => (Event::ConnectStart, Event::ConnectDone),
            Phase::Tls => (Event::TlsHandshakeStart, Event::TlsHandshakeDone),
            Phase::Send => (Event::GotConn, Event::WroteRequest),
            Phase::Wait => (Event::WroteRequest, Event::GotFirstRespByte),
            Phase::Receive => (Event::GotFirstRespByte, Event::BodyDone),
        }
    }

    /// The event that ends the phase (its time since the start is where the
    /// phase ends on the check's timeline).
    pub fn end(self) -> Event {
        self.span().1
    }
}

/// Per-phase durations derived from a [`Trace`]; `None` where a phase did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Phases {
    /// Name resolution.
    #[serde(with = "ward_duration::seconds::option")]
    pub dns: Option<Duration>,
    /// TCP connect.
    #[serde(with = "ward_duration::seconds::option")]
    pub connect: Option<Duration>,
    /// TLS handshake.
    #[serde(with = "ward_duration::seconds::option")]
    pub tls: Option<Duration>,
    /// Writing the request.
    #[serde(with = "ward_duration::seconds::option")]
    pub send: Option<Duration>,
    /// Waiting for the first response byte (server processing).
    #[serde(with = "ward_duration::seconds::option")]
    pub wait: Option<Duration>,
    /// Receiving the body.
    #[serde(with = "ward_duration::seconds::option")]
    pub receive: Option<Duration>,
}

impl Phases {
    /// How long `phase` took, if it happened.
    pub fn get(&self, phase: Phase) -> Option<Duration> {
        match phase {
            Phase::Dns => self.dns,
            Phase::Connect => self.connect,
            Phase::Tls => self.tls,
            Phase::Send => self.send,
            Phase::Wait => self.wait,
            Phase::Receive => self.receive,
        }
    }

    fn get_mut(&mut self, phase: Phase) -> &mut Option<Duration> {
        match phase {
            Phase::Dns => &mut self.dns,
            Phase::Connect => &mut self.connect,
            Phase::Tls => &mut self.tls,
            Phase::Send => &mut self.send,
            Phase::Wait => &mut self.wait,
            Phase::Receive => &mut self.receive,
        }
    }

    /// The phases that happened, in order, with how long each took.
    pub fn iter(&self) -> impl Iterator<Item = (Phase, Duration)> + '_ {
        Phase::ALL
            .into_iter()
            .filter_map(|p| self.get(p).map(|d| (p, d)))
    }
}
