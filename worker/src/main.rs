//! `judge-worker`: wiring only. Dials out to the scheduler; opens no listening socket.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use judge_worker::judge::languages::{self, Language};
use judge_worker::WorkerOptions;
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "judge-worker",
    version,
    about = "A judge worker: dials out to the scheduler and judges submissions"
)]
struct Cli {
    /// Scheduler URL [default: http://127.0.0.1:7070]
    #[arg(long, env = "JUDGE_SCHEDULER")]
    scheduler: Option<String>,
    /// Worker token (from `judge-scheduler token create --role worker`)
    #[arg(long, env = "JUDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Read the token from this file instead
    #[arg(long, env = "JUDGE_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Worker name, unique in the cluster [default: the host name]
    #[arg(long, env = "JUDGE_WORKER_NAME")]
    name: Option<String>,
    /// Submissions judged at once [default: 1]
    #[arg(long, env = "JUDGE_SLOTS")]
    slots: Option<u32>,
    /// Directory for fetched test data and submissions being judged [default: ./judge-work]
    #[arg(long, env = "JUDGE_WORK_DIR")]
    work_dir: Option<PathBuf>,
    /// Directory of the test-data cache [default: <work-dir>/cache]
    #[arg(long, env = "JUDGE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Disk budget of the cache, e.g. 20GiB or 500MB [default: 10GiB]
    #[arg(long, env = "JUDGE_CACHE_SIZE")]
    cache_size: Option<String>,
    /// Job types taken, comma-separated [default: judge]
    #[arg(long, env = "JUDGE_JOB_TYPES", value_delimiter = ',')]
    job_types: Option<Vec<String>>,
    /// Seconds to finish running jobs after SIGTERM before exiting anyway [default: 60]
    #[arg(long, env = "JUDGE_DRAIN_TIMEOUT_SECONDS")]
    drain_timeout_seconds: Option<f64>,
    /// Sandboxed runs get uids from this one on, one each, 1000 in all; pick a range no
    /// account of the host uses [default: 60000]
    #[arg(long, env = "JUDGE_SANDBOX_UID_BASE")]
    sandbox_uid_base: Option<u32>,
    /// TOML file with any of: scheduler, token_file, name, slots, work_dir, cache_dir,
    /// cache_size, job_types, drain_timeout_seconds, sandbox_uid_base, and [[language]]
    /// tables replacing built-in languages
    #[arg(long, env = "JUDGE_WORKER_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines (filter with RUST_LOG)
    #[arg(long, env = "JUDGE_LOG_JSON")]
    log_json: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    scheduler: Option<String>,
    token_file: Option<PathBuf>,
    name: Option<String>,
    slots: Option<u32>,
    work_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    cache_size: Option<String>,
    job_types: Option<Vec<String>>,
    drain_timeout_seconds: Option<f64>,
    sandbox_uid_base: Option<u32>,
    #[serde(default)]
    language: Vec<Language>,
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// Reads the configuration and prepares the sandbox while the process has one thread (its
/// spawn helper is forked then: small, and safely), then starts the async runtime.
fn main() -> Result<()> {
    let cli = Cli::parse();
    judge_common::logging::init(cli.log_json);
    let file: FileConfig = match &cli.config {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => FileConfig::default(),
    };
    let token = match (cli.token, cli.token_file.or(file.token_file)) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(&path)
            .with_context(|| format!("reading token file {}", path.display()))?
            .trim()
            .to_string(),
        (None, None) => bail!("no token: pass --token, --token-file or set JUDGE_TOKEN"),
    };
    let slots = cli.slots.or(file.slots).unwrap_or(1);
    if slots == 0 {
        bail!("--slots must be at least 1");
    }
    let drain_timeout = cli
        .drain_timeout_seconds
        .or(file.drain_timeout_seconds)
        .unwrap_or(60.0);
    if !(drain_timeout.is_finite() && drain_timeout >= 0.0) {
        bail!("--drain-timeout-seconds must be a non-negative number");
    }
    let mut langs = languages::defaults();
    for l in file.language {
        langs.insert(l.id.clone(), l);
    }
    let cache_size = match cli.cache_size.or(file.cache_size) {
        Some(s) => judge_worker::cache::parse_size(&s).map_err(anyhow::Error::msg)?,
        None => 10 << 30,
    };
    let opts = WorkerOptions {
        cache_dir: cli.cache_dir.or(file.cache_dir),
        cache_size,
        scheduler: cli
            .scheduler
            .or(file.scheduler)
            .unwrap_or_else(|| "http://127.0.0.1:7070".into()),
        token,
        name: cli.name.or(file.name).unwrap_or_else(host_name),
        slots,
        work_dir: cli
            .work_dir
            .or(file.work_dir)
            .unwrap_or_else(|| PathBuf::from("judge-work")),
        job_types: cli
            .job_types
            .or(file.job_types)
            .unwrap_or_else(|| vec!["judge".into()]),
        languages: langs,
        sandbox_uid_base: cli
            .sandbox_uid_base
            .or(file.sandbox_uid_base)
            .unwrap_or(judge_worker::DEFAULT_SANDBOX_UID_BASE),
    };
    if opts.sandbox_uid_base == 0 {
        bail!("--sandbox-uid-base must not be 0 (root)");
    }
    let prepared = judge_worker::prepare(&opts)?;
    tokio::runtime::Runtime::new()?.block_on(run(opts, prepared, slots, drain_timeout))
}

/// Runs the worker until SIGTERM or Ctrl-C, then drains.
async fn run(
    opts: WorkerOptions,
    prepared: judge_worker::Prepared,
    slots: u32,
    drain_timeout: f64,
) -> Result<()> {
    let name = opts.name.clone();
    let worker = judge_worker::start_prepared(opts, prepared).await?;
    let offered: Vec<String> = worker
        .languages
        .iter()
        .map(|l| format!("{} ({})", l.id, l.version))
        .collect();
    tracing::info!(worker = %name, slots, languages = %offered.join(", "), "worker started");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut task = worker.task;
    let mut lost = worker.helper_lost.clone();
    tokio::select! {
        _ = &mut task => return Ok(()),
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        // Every run would fail: better to exit and be restarted; the scheduler re-queues
        // the jobs this worker held.
        Ok(_) = lost.wait_for(|l| *l) => bail!("the spawn helper died; exiting"),
    }
    tracing::info!(
        running = worker.executor.running(),
        "draining: no new jobs; finishing running ones"
    );
    let _ = worker.drain.send(true);
    if tokio::time::timeout(Duration::from_secs_f64(drain_timeout), task)
        .await
        .is_err()
    {
        tracing::warn!(
            "drain timeout; exiting with jobs still running (the scheduler re-queues them)"
        );
    }
    Ok(())
}
