//! A standby's ports: it holds no state and serves nothing but the way to the leader.
//!
//! - gRPC: every call is answered `UNAVAILABLE`, with the leader's URL in the `judge-leader`
//!   metadata (clients with several `--scheduler` URLs follow it); the health service says
//!   `NOT_SERVING` for every service.
//! - HTTP: `/healthz` answers (the process is alive), `/readyz` is 503, `/metrics` shows the
//!   lease's term; every other path is 503 with a JSON error naming the leader (`leader`, its
//!   HTTP URL, and `leader_grpc`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use judge_common::pb::admin_service_server::AdminServiceServer;
use judge_common::pb::judge_service_server::JudgeServiceServer;
use judge_common::pb::worker_service_server::WorkerServiceServer;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use crate::live::leadership::Leadership;
use crate::service::{AdminApi, JudgeApi, WorkerApi};
use crate::store::LeaseView;
use crate::wiring::listeners::Listeners;
use crate::wiring::server::{ServeError, ServeOptions};

use judge_common::failover::{LEADER_KEY, STANDBY_KEY};

/// Where the leader is, as far as a standby knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hint {
    /// The leader's gRPC URL; `None` while no lease is held.
    pub grpc: Option<String>,
    pub http: Option<String>,
}

impl Hint {
    /// From the lease row: a leader only while its lease runs.
    pub fn from_lease(lease: &LeaseView) -> Hint {
        let held = lease.remaining_ms > 0 && lease.term > 0;
        let url = |s: &str| (held && !s.is_empty()).then(|| s.to_string());
        Hint {
            grpc: url(&lease.address),
            http: url(&lease.http_address),
        }
    }

    fn message(&self) -> String {
        match &self.grpc {
            Some(url) => format!("this scheduler is a standby; the leader is {url}"),
            None => "this scheduler is a standby and no scheduler leads at the moment (a \
                     takeover is under way); try again in a few seconds"
                .to_string(),
        }
    }
}

/// A standby's running servers.
pub struct Standby {
    pub addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Standby {
    /// Answers on (duplicates of) `listeners` until [`Standby::stop`].
    pub async fn start(
        opts: &ServeOptions,
        listeners: &Listeners,
        hint: watch::Receiver<Hint>,
        leadership: Leadership,
    ) -> Result<Standby, ServeError> {
        let (stop, stopped) = watch::channel(false);
        let listener = listeners.grpc()?;
        let addr = listeners.addr();
        let grpc = grpc_routes(hint.clone()).await;
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &opts.tls {
            builder = builder.tls_config(tls.server_config()?)?;
        }
        let router = builder.add_routes(grpc);
        let mut grpc_stop = stopped.clone();
        let mut tasks = vec![tokio::spawn(async move {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let stop = async move {
                let _ = grpc_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
                tracing::error!(error = %e, "the standby's gRPC server stopped");
            }
        })];
        let http_addr = match listeners.http()? {
            Some(listener) => {
                let tls = match &opts.tls {
                    Some(t) => Some(t.rustls_config()?),
                    None => None,
                };
                let app = http_routes(hint, leadership);
                let limits = opts.http;
                let mut http_stop = stopped.clone();
                tasks.push(tokio::spawn(async move {
                    let stop = async move {
                        let _ = http_stop.wait_for(|s| *s).await;
                    };
                    if let Err(e) = crate::http::serve(listener, app, tls, limits, stop).await {
                        tracing::error!(error = %e, "the standby's HTTP server stopped");
                    }
                }));
                listeners.http_addr()
            }
            None => None,
        };
        Ok(Standby {
            addr,
            http_addr,
            stop,
            tasks,
        })
    }

    /// Stops answering (at most a second for open calls to end); connections arriving from
    /// then on wait in the sockets' backlog for the next role.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(1), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

/// Health saying `NOT_SERVING`, and every other call `UNAVAILABLE` with the leader's URL.
async fn grpc_routes(hint: watch::Receiver<Hint>) -> tonic::service::Routes {
    let (reporter, health) = tonic_health::server::health_reporter();
    use tonic_health::ServingStatus::NotServing;
    reporter.set_service_status("", NotServing).await;
    reporter
        .set_not_serving::<WorkerServiceServer<WorkerApi>>()
        .await;
    reporter
        .set_not_serving::<JudgeServiceServer<JudgeApi>>()
        .await;
    reporter
        .set_not_serving::<AdminServiceServer<AdminApi>>()
        .await;
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(health);
    let hint = Arc::new(hint);
    let router = routes.routes().into_axum_router().fallback(move || {
        let hint = hint.borrow().clone();
        async move { unavailable(&hint) }
    });
    tonic::service::Routes::from(router)
}

/// The gRPC answer of a standby: `UNAVAILABLE`, the leader in the metadata.
fn unavailable(hint: &Hint) -> Response {
    let mut status = tonic::Status::unavailable(hint.message());
    status.metadata_mut().insert(
        STANDBY_KEY,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    if let Some(url) = hint.grpc.as_deref().and_then(|u| u.parse().ok()) {
        status.metadata_mut().insert(LEADER_KEY, url);
    }
    status.into_http::<axum::body::Body>()
}

fn http_routes(hint: watch::Receiver<Hint>, leadership: Leadership) -> axum::Router {
    let hint = Arc::new(hint);
    let refuse = {
        let hint = hint.clone();
        move || {
            let hint = hint.borrow().clone();
            async move { refused(&hint) }
        }
    };
    axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(refuse.clone()))
        .route(
            "/metrics",
            get(move || {
                let leadership = leadership.clone();
                async move { metrics(&leadership) }
            }),
        )
        .fallback(refuse)
}

/// An HTTP call to a standby: 503, a JSON error naming the leader.
fn refused(hint: &Hint) -> Response {
    let body = serde_json::json!({
        "error": hint.message(),
        "leader": hint.http,
        "leader_grpc": hint.grpc,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    if let Some(url) = hint
        .http
        .as_deref()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        response.headers_mut().insert(LEADER_KEY, url);
    }
    response
}

fn metrics(leadership: &Leadership) -> Response {
    let mut reg = prometheus_client::registry::Registry::with_prefix("judge");
    leadership.register(&mut reg);
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &reg) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
