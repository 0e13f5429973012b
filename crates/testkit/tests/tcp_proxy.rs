//! The TCP proxy's silent idle drop: an idle connection is forgotten with no
//! FIN and no RST, while one in use keeps working.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ward_testkit::backend::Backend;
use ward_testkit::tcp_proxy::TcpProxy;
use ward_testkit::wait;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/// Sends one request and reads until the backend's `ok\n` body has arrived.
fn round_trip(conn: &mut TcpStream) -> String {
    conn.write_all(REQUEST).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.ends_with(b"\r\n\r\nok\n") {
        let n = conn
            .read(&mut buf)
            .expect("a response within the read timeout");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn idle_drop_forgets_an_idle_connection_without_fin_or_rst() {
    let backend = Backend::builder()
        .idle_timeout(Duration::from_secs(60))
        .start()
        .unwrap();
    let proxy = TcpProxy::with_idle_drop(backend.addr(), Duration::from_millis(300)).unwrap();
    let mut conn = TcpStream::connect(proxy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(round_trip(&mut conn).starts_with("HTTP/1.1 200 OK"));
    assert!(round_trip(&mut conn).starts_with("HTTP/1.1 200 OK"));
    // Stay idle past the drop: this idle period is what is under test.
    wait::until(Duration::from_millis(400), || None::<()>);
    conn.write_all(REQUEST)
        .expect("no RST: the write is accepted");
    conn.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let err = conn.read(&mut buf).expect_err("no answer and no FIN");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    assert_eq!(backend.requests(), 2, "the third request never reached it");
    assert_eq!(backend.idle_closes(), 0);

    // A new connection is a new entry: it works again.
    let mut fresh = TcpStream::connect(proxy.addr()).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert!(round_trip(&mut fresh).starts_with("HTTP/1.1 200 OK"));
}
