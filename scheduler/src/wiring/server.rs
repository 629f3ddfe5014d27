//! Starts a scheduler: store, core, driver, token refresh and the gRPC server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use judge_common::pb::admin_service_server::AdminServiceServer;
use judge_common::pb::judge_service_server::JudgeServiceServer;
use judge_common::pb::worker_service_server::WorkerServiceServer;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;

use crate::app::{App, Bounds, Offered, SubmitRate, Watchers};
use crate::core::{CoreConfig, Event};
use crate::driver::clock::{SharedClock, SystemClock};
use crate::driver::{Driver, DriverConfig, DriverHandle, Sessions};
use crate::live::catalog::Catalog;
use crate::live::tokens::TokenCache;
use crate::live::watch::WatchHub;
use crate::service::{auth, AdminApi, JudgeApi, WorkerApi};
use crate::store::blobs::BlobStore;
use crate::store::{Store, StoreError};
use crate::wiring::listeners::{Addresses, ListenError, Listeners};

use judge_common::channel::WINDOW;

/// Everything `serve` needs, checked; built by `ServeConfig::options` in `config.rs` (which
/// also gives its defaults).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The HTTP side (API, dashboard, metrics, health); `None` for none.
    pub http_listen: Option<SocketAddr>,
    /// The web origin allowed to call the API from a browser.
    pub http_allow_origin: Option<String>,
    /// TLS on every connection, when set.
    pub tls: Option<crate::wiring::tls::TlsFiles>,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub core: CoreConfig,
    pub max_source_bytes: usize,
    /// Most `WatchJob` streams one token may have open.
    pub max_watches_per_token: usize,
    /// Submissions per second per token, over time.
    pub submit_rate: f64,
    /// Submissions per token at once before the rate applies.
    pub submit_burst: u32,
    /// How often revocations are picked up from the store.
    pub token_refresh: Duration,
    pub report_interval: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_timeout: Duration,
    /// How often unreferenced test data is swept away.
    pub gc_interval: Duration,
    /// Workers the listen backlog is sized for.
    pub fleet_size: u32,
    /// The most a `run` job may ask for.
    pub run: judge_common::run_limits::RunMaxima,
    /// Largest standard input of a `run` job.
    pub max_stdin_bytes: usize,
    pub console: crate::app::ConsoleLimits,
    /// Connection and time bounds of the HTTP side.
    pub http: crate::http::HttpLimits,
    /// File holding the token `/metrics` asks for.
    pub metrics_token_file: Option<PathBuf>,
    /// Autoscaling's commands, when configured (the core's part is in `core`).
    pub scale: Option<ScaleSetup>,
    /// How long a run job's input and output are kept after it ends.
    pub keep_run_io: Duration,
    /// Most bytes one token's run jobs may hold while kept.
    pub max_run_bytes_per_token: u64,
    /// The leader's lease on a shared (PostgreSQL) database.
    pub lease: crate::core::lease::LeaseTerms,
    /// The gRPC URL standbys name while this scheduler leads (derived when `None`).
    pub advertise: Option<String>,
    /// The HTTP URL standbys name while this scheduler leads (derived when `None`).
    pub advertise_http: Option<String>,
}

/// Autoscaling's commands as configured; the token is read from its file at start.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleSetup {
    pub up: String,
    pub down: Option<String>,
    pub token_file: PathBuf,
    /// A command running longer is killed and counts as failed.
    pub timeout: Duration,
}

/// Why the scheduler could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot use {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error(transparent)]
    Tls(#[from] crate::wiring::tls::TlsError),
    #[error(transparent)]
    Instance(#[from] crate::wiring::instance::InstanceError),
}

impl From<ListenError> for ServeError {
    fn from(e: ListenError) -> Self {
        ServeError::Listen {
            addr: e.addr,
            source: e.source,
        }
    }
}

impl ServeOptions {
    /// Where this scheduler listens.
    pub fn addresses(&self) -> Addresses {
        Addresses {
            grpc: self.listen,
            http: self.http_listen,
            fleet_size: self.fleet_size,
        }
    }
}

/// How long a stopping scheduler lets open calls finish before it cuts their connections.
const DRAIN: Duration = Duration::from_secs(1);

/// A running scheduler.
pub struct Running {
    pub addr: SocketAddr,
    /// Where the HTTP side listens, if it does.
    pub http_addr: Option<SocketAddr>,
    pub task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

/// Opens the store, recovers unfinished jobs, binds and serves until `shutdown` resolves or
/// the store fails. The one scheduler of its database (SQLite; see `leader.rs` for several
/// on PostgreSQL).
pub async fn start(
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Running, ServeError> {
    let leadership = crate::live::leadership::Leadership::default();
    leadership.lead(0);
    serve(opts, None, None, leadership, shutdown).await
}

/// As [`start`], for the leader of `term` on a shared database: every write is fenced on
/// the term (a deposed leader's fails with `StoreError::Deposed`).
pub(crate) async fn lead(
    opts: ServeOptions,
    listeners: &Listeners,
    term: i64,
    leadership: crate::live::leadership::Leadership,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Running, ServeError> {
    leadership.lead(term);
    serve(opts, Some(listeners), Some(term), leadership, shutdown).await
}

/// Serves on `listeners` (duplicates of them), or on sockets bound here if `None`.
async fn serve(
    opts: ServeOptions,
    listeners: Option<&Listeners>,
    term: Option<i64>,
    leadership: crate::live::leadership::Leadership,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Running, ServeError> {
    // Before anything touches the database: a second scheduler on it stops here.
    let mut instance = crate::wiring::instance::InstanceLock::acquire(&opts.database_url)?;
    let store = Store::open(&opts.database_url).await?;
    let store = match term {
        Some(term) => store.fenced(term),
        None => store,
    };
    let blob_dir = opts.data_dir.join("blobs");
    let blobs = BlobStore::open(&blob_dir)
        .await
        .map_err(|source| ServeError::Io {
            path: blob_dir.display().to_string(),
            source,
        })?
        .backed_by(&store);
    let epoch = match store.next_epoch().await {
        Ok(epoch) => epoch,
        // Epochs only tell this run's sessions from an earlier run's: one not stored
        // repeats at worst after another start on a full disk, and sessions never outlive
        // a run.
        Err(StoreError::DiskFull(why)) => {
            tracing::warn!(%why, "the disk is full: starting anyway; writes are refused until there is room");
            store.epoch().await? + 1
        }
        Err(e) => return Err(e.into()),
    };
    let catalog = Catalog::new(store.clone());
    // The one clock of this scheduler: the driver, the services, recovery and the gc read it.
    let clock: SharedClock = std::sync::Arc::new(SystemClock);
    let rebuilt =
        crate::driver::recovery::rebuild(&store, &catalog, opts.core.clone(), clock.now_ms())
            .await?;
    tracing::info!(epoch, "recovered state from the store");

    let tokens = TokenCache::default();
    tokens.replace(store.tokens().await?);
    let tokens_http = tokens.clone();
    let hub = WatchHub::default();
    let sessions = Sessions::default();
    let consoles = crate::live::consoles::Consoles::default();
    let mut metrics = crate::live::metrics::Metrics::default();
    metrics.leadership = leadership;
    // The one count of the jobs table; committed changes move it from here on.
    metrics
        .jobs
        .seed(store.job_tally().await?, store.unfinished_states().await?);
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let http_stopping = stopping.clone();
    let drain_watch = stopping.clone();
    let scale = match &opts.scale {
        Some(s) => Some(crate::driver::commands::ScaleCommands::new(
            s.up.clone(),
            s.down.clone(),
            read_secret(&s.token_file)?.into(),
            s.timeout,
        )),
        None => None,
    };
    let driver_config = DriverConfig {
        epoch,
        tick: Duration::from_millis(200),
        report_interval: opts.report_interval,
        max_batch: 1024,
        scale,
    };
    let (driver, driver_task) = Driver::new(
        rebuilt,
        store.clone(),
        catalog.clone(),
        hub.clone(),
        sessions.clone(),
        consoles.clone(),
        driver_config,
    )
    .with_metrics(metrics.clone())
    .with_clock(clock.clone())
    .spawn(8192);
    tokio::spawn(refresh_tokens(
        store.clone(),
        tokens.clone(),
        driver.clone(),
        opts.token_refresh,
    ));
    tokio::spawn(collect_garbage(
        store.clone(),
        blobs.clone(),
        clock.clone(),
        opts.gc_interval,
        crate::store::gc::Keep {
            min_age: crate::store::gc::MIN_AGE,
            run_io: opts.keep_run_io,
        },
    ));

    let bound;
    let listeners = match listeners {
        Some(given) => given,
        None => {
            bound = Listeners::bind(opts.addresses())?;
            &bound
        }
    };
    let listener = listeners.grpc()?;
    let http_listener = listeners.http()?;
    let keepalive = opts.keepalive_interval;
    let addr = listeners.addr();
    if let Some(lock) = instance.as_mut() {
        lock.describe(&format!("listening on {addr}"));
    }

    use crate::app::auth::{ADMINS, PEOPLE, WORKERS};
    let languages = Offered::new("language", store.offered_languages().await?);
    let job_types = Offered::new("job type", store.offered_job_types().await?);
    let transfers = crate::live::transfers::Transfers::new(32);
    let worker_api = WorkerApi {
        languages: languages.clone(),
        job_types: job_types.clone(),
        max_run_output: opts.run.output_bytes,
        consoles: consoles.clone(),
        store: store.clone(),
        transfers: transfers.clone(),
        driver: driver.clone(),
        sessions,
        blobs: blobs.clone(),
    };
    let app = std::sync::Arc::new(App {
        catalog,
        driver: driver.clone(),
        store: store.clone(),
        blobs,
        hub,
        languages: languages.clone(),
        job_types,
        bounds: Bounds {
            max_source_bytes: opts.max_source_bytes,
            max_stdin_bytes: opts.max_stdin_bytes,
            run_maxima: opts.run,
            max_run_bytes_per_token: opts.max_run_bytes_per_token,
            console: opts.console,
        },
        stopping,
        watchers: Watchers::new(opts.max_watches_per_token),
        rate: SubmitRate::new(opts.submit_rate, opts.submit_burst),
        tokens: tokens.clone(),
        rejudging: Default::default(),
    });
    // Messages as large as the biggest a run job can bring: its input and source in, its
    // output and error back from the worker (tonic's default is 4 MiB).
    let submit_bytes = opts.max_stdin_bytes + opts.max_source_bytes + (1 << 20);
    let output = usize::try_from(opts.run.output_bytes).unwrap_or(usize::MAX / 4);
    let report_bytes = output.saturating_mul(2).saturating_add(1 << 20);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<JudgeServiceServer<JudgeApi>>()
        .await;
    health_reporter
        .set_serving::<WorkerServiceServer<WorkerApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(judge_common::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Io {
            path: "reflection".into(),
            source: std::io::Error::other(e),
        })?;
    let mut builder = tonic::transport::Server::builder();
    let mutual = opts.tls.as_ref().is_some_and(|t| t.client_ca.is_some());
    if let Some(tls) = &opts.tls {
        builder = builder.tls_config(tls.server_config()?)?;
    }
    let router = builder
        // Big flow-control windows: test data uploads are hundreds of MB, and the HTTP/2
        // default (64 KiB) would stall them on every round trip.
        .initial_stream_window_size(Some(WINDOW))
        .initial_connection_window_size(Some(2 * WINDOW))
        .max_frame_size(Some(judge_common::channel::FRAME))
        .http2_keepalive_interval(Some(opts.keepalive_interval))
        .http2_keepalive_timeout(Some(opts.keepalive_timeout))
        .tcp_keepalive(Some(opts.keepalive_interval))
        // One span per call, so that a call's logs (and a session's, inside it) read as one;
        // at debug level, as a span per call at info costs a few percent of throughput.
        .trace_fn(|req| tracing::debug_span!("rpc", method = %req.uri().path()))
        // Health and reflection need no token: they reveal nothing a probe may not know.
        .add_service(health)
        .add_service(reflection)
        .add_service(InterceptedService::new(
            WorkerServiceServer::new(worker_api).max_decoding_message_size(report_bytes),
            auth(tokens.clone(), WORKERS, mutual),
        ))
        .add_service(InterceptedService::new(
            JudgeServiceServer::new(JudgeApi(app.clone())).max_decoding_message_size(submit_bytes),
            auth(tokens.clone(), PEOPLE, false),
        ))
        .add_service(InterceptedService::new(
            AdminServiceServer::new(AdminApi(app.clone())),
            auth(tokens, ADMINS, false),
        ));

    let http_addr = match http_listener {
        Some(listener) => {
            let addr = listeners.http_addr().unwrap_or(addr);
            let metrics_token = match &opts.metrics_token_file {
                Some(path) => Some(read_secret(path)?),
                None => None,
            };
            let state = crate::http::HttpState {
                app: app.clone(),
                tokens: tokens_http,
                store: store.clone(),
                driver: driver.clone(),
                consoles,
                metrics,
                transfers: transfers.clone(),
                allow_origin: match &opts.http_allow_origin {
                    Some(o) => Some(o.parse().map_err(|_| ServeError::Listen {
                        addr,
                        source: std::io::Error::other("bad --http-allow-origin"),
                    })?),
                    None => None,
                },
                max_body: submit_bytes,
                limits: opts.http,
                metrics_token,
                spool_dir: opts.data_dir.clone(),
            };
            let router = crate::http::router(state);
            let limits = opts.http;
            let stop = crate::app::stopped(http_stopping);
            let tls = match &opts.tls {
                Some(t) => Some(t.rustls_config()?),
                None => None,
            };
            tokio::spawn(async move {
                if let Err(e) = crate::http::serve(listener, router, tls, limits, stop).await {
                    tracing::error!(error = %e, "the HTTP server stopped");
                }
            });
            Some(addr)
        }
        None => None,
    };

    let task = tokio::spawn(async move {
        // Every accepted connection without Nagle's delay (each small response would wait
        // for the peer's delayed ACK, about 40 ms) and with TCP keepalive; tonic sets these
        // itself only on listeners it binds.
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(keepalive));
        // Stop serving when asked, or when the driver stops (the store failed).
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<Result<(), ServeError>>();
        let watcher = tokio::spawn(async move {
            let result = tokio::select! {
                _ = shutdown => {
                    // Live consoles end first, telling their clients why.
                    let _ = stopping_tx.send(true);
                    Ok(())
                }
                r = driver_task => match r {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(ServeError::Store(e)),
                    Err(join) => Err(ServeError::Io { path: "driver".into(), source: std::io::Error::other(join) }),
                },
            };
            // Either way the scheduler is stopping: consoles end, the drain starts.
            let _ = stopping_tx.send(true);
            let _ = stop_tx.send(result);
        });
        let (result_tx, result_rx) = tokio::sync::oneshot::channel();
        let mut draining = drain_watch;
        let serving = router.serve_with_incoming_shutdown(incoming, async move {
            let r = stop_rx.await.unwrap_or(Ok(()));
            let _ = result_tx.send(r);
        });
        // A graceful shutdown waits for open streams, and a worker's feed never ends by
        // itself: past DRAIN the connections are cut, and workers dial again (another
        // scheduler, if one takes over).
        tokio::select! {
            served = serving => served?,
            _ = async {
                let _ = draining.wait_for(|s| *s).await;
                tokio::time::sleep(DRAIN).await;
            } => tracing::info!("connections still open after the drain: cut"),
        }
        watcher.abort();
        drop(driver);
        store.close().await;
        // Only now may another scheduler open the database.
        drop(instance);
        result_rx.await.unwrap_or(Ok(()))
    });
    Ok(Running {
        addr,
        http_addr,
        task,
    })
}

/// Picks up tokens created or revoked by `judge-scheduler token ...` in another process;
/// a revoked worker token's sessions are closed at once.
async fn refresh_tokens(store: Store, tokens: TokenCache, driver: DriverHandle, every: Duration) {
    let mut interval = tokio::time::interval(every);
    loop {
        interval.tick().await;
        match store.tokens().await {
            Ok(list) => {
                for token_id in tokens.replace(list) {
                    tracing::info!(token_id, "token revoked; closing its sessions");
                    if driver.send(Event::TokenRevoked { token_id }).await.is_err() {
                        return;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not refresh tokens"),
        }
    }
}

/// Sweeps unreferenced test data now and then (`judge-scheduler gc` does it on demand).
async fn collect_garbage(
    store: Store,
    blobs: BlobStore,
    clock: SharedClock,
    every: Duration,
    keep: crate::store::gc::Keep,
) {
    let mut interval = tokio::time::interval(every);
    interval.tick().await; // not at start-up
    loop {
        interval.tick().await;
        match crate::store::gc::sweep(&store, &blobs, keep, clock.now_ms()).await {
            Ok(r) => tracing::info!(
                expired_run_io = r.expired_run_io,
                removed = r.removed,
                freed_bytes = r.freed_bytes,
                kept = r.kept,
                "gc sweep"
            ),
            Err(e) => tracing::warn!(error = %e, "gc sweep failed"),
        }
    }
}

/// A secret kept in a file (surrounding white space dropped); an empty one is refused.
fn read_secret(path: &std::path::Path) -> Result<String, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(ServeError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other("the file is empty; it should hold a token"),
        });
    }
    Ok(secret.to_string())
}
