//! The target of `ward probe --demo`: a tiny HTTP server on 127.0.0.1 that
//! answers every request with `hello from ward`, so a first run needs no
//! server of the user's.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The demo server's answer to every request.
pub const BODY: &[u8] = b"hello from ward\n";

/// A running demo server; it stops when dropped.
#[derive(Debug)]
pub struct Demo {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Demo {
    /// Starts the server on a free loopback port (call inside a runtime).
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(BODY))))
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The server's URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Prober, ProberConfig, Target};

    #[tokio::test]
    async fn the_demo_answers_a_check() {
        let demo = Demo::start().await.unwrap();
        let target: Target = demo.url().parse().unwrap();
        let prober = Prober::new(ProberConfig::default()).unwrap();
        let outcome = prober.check(&target).await;
        assert!(outcome.success, "{:?}", outcome.error);
        assert_eq!(outcome.body_bytes, BODY.len() as u64);
    }
}
