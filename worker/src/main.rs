//! `judge-worker`: wiring only. Dials out to the scheduler; opens no listening socket.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser};
use judge_worker::config::WorkerConfig;
use judge_worker::WorkerOptions;

#[derive(Parser)]
#[command(
    name = "judge-worker",
    version,
    about = "A judge worker: dials out to the scheduler and judges submissions"
)]
struct Cli {
    #[command(flatten)]
    config: WorkerConfig,
    /// Worker token (from `judge-scheduler token create --role worker`); --token-file is
    /// better, as a flag shows in `ps`
    #[arg(long, env = "JUDGE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// TOML file with any of the keys above (snake_case, e.g. `cache_size = "20GiB"`) and
    /// `[[language]]` tables; flags and environment variables win over it
    #[arg(long = "config", env = "JUDGE_WORKER_CONFIG")]
    config_file: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit (non-zero naming a bad key)
    #[arg(long)]
    check_config: bool,
    /// Log as JSON lines (filter with RUST_LOG)
    #[arg(long, env = "JUDGE_LOG_JSON")]
    log_json: bool,
}

/// Reads the configuration and prepares the sandbox while the process has one thread (its
/// spawn helper is forked then: small, and safely), then starts the async runtime.
fn main() -> Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    judge_common::logging::init(cli.log_json);
    let config = judge_common::config::layered(&matches, &cli.config, cli.config_file.as_deref())?;
    if cli.check_config {
        config.options(String::new())?;
        print!("{}", judge_common::config::to_toml(&config)?);
        return Ok(());
    }
    let token = match (cli.token, &config.token_file) {
        (Some(t), _) => t,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading token file {}", path.display()))?
            .trim()
            .to_string(),
        (None, None) => bail!("no token: pass --token, --token-file or set JUDGE_TOKEN"),
    };
    let opts = config.options(token)?;
    let prepared = judge_worker::prepare(&opts)?;
    tokio::runtime::Runtime::new()?.block_on(run(opts, prepared, config.drain_timeout()))
}

/// Runs the worker until SIGTERM or Ctrl-C, then drains.
async fn run(
    opts: WorkerOptions,
    prepared: judge_worker::Prepared,
    drain_timeout: std::time::Duration,
) -> Result<()> {
    let (name, slots) = (opts.name.clone(), opts.slots);
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
    if tokio::time::timeout(drain_timeout, task).await.is_err() {
        tracing::warn!(
            "drain timeout; exiting with jobs still running (the scheduler re-queues them)"
        );
    }
    Ok(())
}
