//! `judge-scheduler`: wiring only. Flags (with environment fallbacks) override the optional
//! TOML config file, which overrides the built-in defaults shown in `--help`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use judge_scheduler::core::CoreConfig;
use judge_scheduler::driver::now_ms;
use judge_scheduler::server::{self, ServeOptions};
use judge_scheduler::store::{Role, Store};
use judge_scheduler::tokens;
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "judge-scheduler",
    version,
    about = "The judge scheduler: durable job queue and worker feed"
)]
struct Cli {
    /// Log as JSON lines (filter with RUST_LOG, e.g. RUST_LOG=judge_scheduler=debug).
    #[arg(long, global = true, env = "JUDGE_LOG_JSON")]
    log_json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the scheduler.
    Serve(ServeArgs),
    /// Create, list and revoke API tokens (works on the database directly).
    #[command(subcommand)]
    Token(TokenCmd),
    /// Delete test data that no problem version references (the server also does this hourly).
    Gc {
        #[command(flatten)]
        store: StoreArgs,
        /// Keep files younger than this many seconds (a push may still be recording them)
        #[arg(long, default_value_t = 600.0)]
        min_age_seconds: f64,
    },
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Data directory: SQLite database and test-data blobs [default: ./judge-data]
    #[arg(long, env = "JUDGE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL, sqlite://PATH or postgres://... [default: sqlite://<data-dir>/judge.db]
    #[arg(long, env = "JUDGE_DATABASE_URL")]
    database: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:7070]
    #[arg(long, env = "JUDGE_LISTEN")]
    listen: Option<SocketAddr>,
    /// TOML file with any of: listen, database, data_dir, max_queued, max_source_bytes,
    /// grace_seconds, max_attempts, report_timeout_seconds, locality_wait_seconds,
    /// gc_interval_seconds
    #[arg(long, env = "JUDGE_CONFIG")]
    config: Option<PathBuf>,
    /// Most jobs waiting at once; Submit answers RESOURCE_EXHAUSTED beyond [default: 10000]
    #[arg(long, env = "JUDGE_MAX_QUEUED")]
    max_queued: Option<usize>,
    /// Largest accepted source file in bytes [default: 262144]
    #[arg(long, env = "JUDGE_MAX_SOURCE_BYTES")]
    max_source_bytes: Option<usize>,
    /// Seconds a lost worker's jobs wait for it to reconnect [default: 10]
    #[arg(long, env = "JUDGE_GRACE_SECONDS")]
    grace_seconds: Option<f64>,
    /// Attempts per job before it fails as a judge error [default: 3]
    #[arg(long, env = "JUDGE_MAX_ATTEMPTS")]
    max_attempts: Option<u32>,
    /// Seconds without a report after which a connected worker counts as lost [default: 30]
    #[arg(long, env = "JUDGE_REPORT_TIMEOUT_SECONDS")]
    report_timeout_seconds: Option<f64>,
    /// Seconds a job may wait for a worker that already has its files before it goes to one
    /// that must download them [default: 5]
    #[arg(long, env = "JUDGE_LOCALITY_WAIT_SECONDS")]
    locality_wait_seconds: Option<f64>,
    /// Seconds between sweeps that delete test data no problem version uses any more
    /// [default: 3600]
    #[arg(long, env = "JUDGE_GC_INTERVAL_SECONDS")]
    gc_interval_seconds: Option<f64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database: Option<String>,
    data_dir: Option<PathBuf>,
    max_queued: Option<usize>,
    max_source_bytes: Option<usize>,
    grace_seconds: Option<f64>,
    max_attempts: Option<u32>,
    report_timeout_seconds: Option<f64>,
    locality_wait_seconds: Option<f64>,
    gc_interval_seconds: Option<f64>,
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print it alone on stdout (it is shown only once).
    Create {
        /// worker (job feed only), submitter (submit and read) or admin (everything)
        #[arg(long)]
        role: Role,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token; workers using it are disconnected within a second.
    Revoke {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn database_url(data_dir: &Path, database: Option<String>) -> Result<String> {
    if let Some(url) = database {
        return Ok(url);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    Ok(format!("sqlite://{}/judge.db", data_dir.display()))
}

fn seconds(what: &str, s: f64) -> Result<Duration> {
    if !(s.is_finite() && s > 0.0) {
        bail!("{what} must be a positive number of seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn serve_options(args: ServeArgs) -> Result<ServeOptions> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let defaults = ServeOptions::default();
    let core_defaults = CoreConfig::default();
    let data_dir = args
        .store
        .data_dir
        .or(file.data_dir)
        .unwrap_or(defaults.data_dir);
    let database_url = database_url(&data_dir, args.store.database.or(file.database))?;
    let grace = args
        .grace_seconds
        .or(file.grace_seconds)
        .map(|s| seconds("grace", s))
        .transpose()?;
    let timeout = args
        .report_timeout_seconds
        .or(file.report_timeout_seconds)
        .map(|s| seconds("report timeout", s))
        .transpose()?;
    let max_attempts = args
        .max_attempts
        .or(file.max_attempts)
        .unwrap_or(core_defaults.max_attempts);
    if max_attempts == 0 {
        bail!("max attempts must be at least 1");
    }
    Ok(ServeOptions {
        listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
        database_url,
        data_dir,
        core: CoreConfig {
            max_queued: args
                .max_queued
                .or(file.max_queued)
                .unwrap_or(core_defaults.max_queued),
            grace_ms: grace.map_or(core_defaults.grace_ms, |d| d.as_millis() as i64),
            max_attempts,
            report_timeout_ms: timeout
                .map_or(core_defaults.report_timeout_ms, |d| d.as_millis() as i64),
            locality_wait_ms: match args.locality_wait_seconds.or(file.locality_wait_seconds) {
                // Zero is a meaningful choice here: never wait for a warm worker.
                Some(s) if s.is_finite() && s >= 0.0 => (s * 1000.0) as i64,
                Some(s) => bail!("locality wait must be zero or more seconds, got {s}"),
                None => core_defaults.locality_wait_ms,
            },
            ..core_defaults
        },
        gc_interval: match args.gc_interval_seconds.or(file.gc_interval_seconds) {
            Some(s) => seconds("gc interval", s)?,
            None => defaults.gc_interval,
        },
        max_source_bytes: args
            .max_source_bytes
            .or(file.max_source_bytes)
            .unwrap_or(defaults.max_source_bytes),
        ..defaults
    })
}

async fn open_store(args: StoreArgs) -> Result<Store> {
    let data_dir = args.data_dir.unwrap_or_else(|| PathBuf::from("judge-data"));
    let url = database_url(&data_dir, args.database)?;
    Store::open(&url)
        .await
        .with_context(|| format!("opening {url}"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    judge_common::logging::init(cli.log_json);
    match cli.command {
        Cmd::Serve(args) => {
            let opts = serve_options(args)?;
            let running = server::start(opts, shutdown_signal()).await?;
            // Scripts and tests read this line to find the port (with --listen 127.0.0.1:0).
            println!("listening on {}", running.addr);
            tracing::info!(addr = %running.addr, "scheduler listening");
            running.task.await.context("server task")??;
        }
        Cmd::Token(TokenCmd::Create { role, name, store }) => {
            if name.is_empty() || name.len() > 64 {
                bail!("token name must be 1 to 64 characters");
            }
            let store = open_store(store).await?;
            let (record, text) = tokens::issue(&name, role, now_ms());
            store.insert_token(&record).await?;
            println!("{text}");
        }
        Cmd::Gc {
            store,
            min_age_seconds,
        } => {
            let data_dir = store
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from("judge-data"));
            if !(min_age_seconds.is_finite() && min_age_seconds >= 0.0) {
                bail!("--min-age-seconds must be zero or more");
            }
            let store = open_store(store).await?;
            let blobs = judge_scheduler::blobs::BlobStore::open(data_dir.join("blobs")).await?;
            let r = judge_scheduler::gc::sweep(
                &store,
                &blobs,
                Duration::from_secs_f64(min_age_seconds),
            )
            .await?;
            println!(
                "pruned {} problem versions; removed {} files ({} bytes), kept {}",
                r.pruned_versions, r.removed, r.freed_bytes, r.kept
            );
        }
        Cmd::Token(TokenCmd::List { store }) => {
            let store = open_store(store).await?;
            println!("{:<24} {:<10} {:<8}", "NAME", "ROLE", "STATUS");
            for t in store.tokens().await? {
                let status = if t.revoked { "revoked" } else { "active" };
                println!("{:<24} {:<10} {:<8}", t.name, t.role.as_str(), status);
            }
        }
        Cmd::Token(TokenCmd::Revoke { name, store }) => {
            let store = open_store(store).await?;
            store.revoke_token(&name, now_ms()).await?;
            eprintln!("revoked {name}");
        }
    }
    Ok(())
}
