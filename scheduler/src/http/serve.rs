//! Serving the HTTP side's connections, with the bounds a public port needs.
//!
//! A connection costs a file descriptor and memory whether or not it ever sends a request, so
//! each one is held to time limits and their number is capped:
//! - at most [`HttpLimits::max_connections`] at once; one more is accepted and closed at once
//!   (a cheap refusal that keeps the listen queue moving, instead of leaving it to fill);
//! - the TLS handshake and every request's headers must arrive within
//!   [`HttpLimits::header_timeout`]; an idle keep-alive connection waiting for its next request
//!   is waiting for headers too, so it is closed after the same time.
//!
//! HTTP/1.1 only (over TLS too: the ALPN offered here is `http/1.1`): what browsers, curl and
//! Prometheus speak to this port, and what has a header timeout. gRPC has its own port.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

/// The bounds of the HTTP side (their defaults are the scheduler's config's).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time for a TLS handshake, and for a request's headers (also the idle time of a
    /// keep-alive connection).
    pub header_timeout: Duration,
    /// Time for a WebSocket console's opening message after the upgrade.
    pub console_open_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves; over TLS with `tls`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(|config| {
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let open = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => return Ok(()),
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of descriptors, or a connection reset before it was taken: neither
                // is a reason to stop serving. A short pause lets descriptors come back.
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!("HTTP connection refused: too many open");
            drop(tcp);
            continue;
        };
        let (acceptor, router) = (acceptor.clone(), router.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tcp.set_nodelay(true);
            match acceptor {
                None => connection(tcp, router, limits).await,
                Some(acceptor) => {
                    // A client that fails (or never finishes) the handshake is its own problem.
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp));
                    if let Ok(Ok(stream)) = handshake.await {
                        connection(stream, router, limits).await;
                    }
                }
            }
        });
    }
}

/// Serves one connection's requests (and its upgrade to a WebSocket, if asked).
async fn connection<I>(io: I, router: Router, limits: HttpLimits)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |req| tower::ServiceExt::oneshot(router.clone(), req));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let _ = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}
