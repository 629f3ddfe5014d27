//! `judge-scheduler`: wiring only. Flags (with environment fallbacks) override the optional
//! TOML config file, which overrides the built-in defaults shown in `--help` (see
//! `judge_scheduler::wiring::config`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use judge_scheduler::app;
use judge_scheduler::driver::clock::{Clock, SystemClock};
use judge_scheduler::live::tokens;
use judge_scheduler::store::{Role, Store};
use judge_scheduler::wiring::config::{database_url, defaults, ServeConfig};
use judge_scheduler::wiring::{leader, server};

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
    Serve(Box<ServeArgs>),
    /// Create, list and revoke API tokens (works on the database directly).
    #[command(subcommand)]
    Token(TokenCmd),
    /// TLS material for a classroom without a PKI.
    #[command(subcommand)]
    Tls(TlsCmd),
    /// Manage worker names (each belongs to the token that first registered it).
    #[command(subcommand)]
    Worker(WorkerCmd),
    /// Delete test data that no problem version references (the server also does this hourly).
    Gc {
        #[command(flatten)]
        store: StoreArgs,
        /// Keep files younger than this many seconds (a push may still be recording them)
        #[arg(long, default_value_t = judge_scheduler::store::gc::MIN_AGE.as_secs_f64())]
        min_age_seconds: f64,
        /// Days a run job's input and output are kept after it ends
        #[arg(long, env = "JUDGE_KEEP_RUN_IO_DAYS", default_value_t = defaults::KEEP_RUN_IO_DAYS)]
        keep_run_io_days: f64,
    },
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Data directory: SQLite database and test-data blobs
    #[arg(long, env = "JUDGE_DATA_DIR", default_value = defaults::DATA_DIR)]
    data_dir: PathBuf,
    /// Database URL, sqlite://PATH or postgres://... [default: sqlite://<data-dir>/judge.db]
    #[arg(long, env = "JUDGE_DATABASE_URL")]
    database: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ServeConfig,
    /// TOML file with any of the keys above (snake_case, e.g. `max_queued = 500`); flags and
    /// environment variables win over it
    #[arg(long = "config", env = "JUDGE_CONFIG")]
    config_file: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit (non-zero naming a bad key)
    #[arg(long)]
    check_config: bool,
}

#[derive(Subcommand)]
enum TlsCmd {
    /// Write a CA (ca.pem, ca-key.pem) and a server certificate signed by it (server.pem,
    /// server-key.pem) for the given host names or IP addresses; with --client, client
    /// certificates for mutual TLS (NAME.pem, NAME-key.pem). Keys are mode 0600.
    SelfSigned {
        /// A name or address clients use to reach the scheduler (repeat for more)
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// A client certificate to make, e.g. one per worker (repeat for more)
        #[arg(long = "client")]
        clients: Vec<String>,
        /// Directory to write into (made if missing)
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum WorkerCmd {
    /// Free a worker name, so that a worker with any worker token may take it.
    Forget {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Create a token and print it alone on stdout (it is shown only once); with
    /// --names-file, one token per name, printed as `NAME TOKEN` lines.
    Create {
        /// worker (job feed only), submitter (submit and read own jobs) or admin (everything)
        #[arg(long)]
        role: Role,
        /// The token's name (also the owner shown on its jobs)
        #[arg(
            long,
            required_unless_present = "names_file",
            conflicts_with = "names_file"
        )]
        name: Option<String>,
        /// A file with one name per line (blank lines and `#` comments skipped), e.g. a class
        /// list: makes every token in one transaction, or none
        #[arg(long)]
        names_file: Option<PathBuf>,
        /// The highest priority class its jobs may ask for: contest, normal or bulk (an
        /// admin's may ask for any)
        #[arg(long, default_value = "normal")]
        max_priority: judge_common::priority::Priority,
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

/// Creates the data directory (private to this user: it holds the SQLite file, test data
/// and uploads in progress).
fn ready_data_dir(data_dir: &Path, database: Option<&str>) -> Result<String> {
    judge_scheduler::wiring::private::make_private(data_dir)
        .with_context(|| format!("preparing {}", data_dir.display()))?;
    Ok(database_url(data_dir, database))
}

async fn open_store(args: StoreArgs) -> Result<Store> {
    let url = ready_data_dir(&args.data_dir, args.database.as_deref())?;
    Store::open(&url)
        .await
        .with_context(|| format!("opening {url}"))
}

/// The names in a class list: one per line, blank lines and `#` comments skipped, no
/// repeats.
fn read_names(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut names: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if names.iter().any(|n| n == name) {
            bail!("{}:{}: {name:?} is listed twice", path.display(), i + 1);
        }
        names.push(name.to_string());
    }
    if names.is_empty() {
        bail!("{} lists no names", path.display());
    }
    Ok(names)
}

/// Prints where the ports are: scripts and tests read these lines to find them (with
/// `--listen 127.0.0.1:0`).
fn announce(addr: std::net::SocketAddr, http: Option<std::net::SocketAddr>) {
    println!("listening on {addr}");
    if let Some(http) = http {
        println!("http listening on {http}");
    }
    tracing::info!(%addr, ?http, "scheduler listening");
}

/// Starts this program again from the top, in this process (same pid, arguments and
/// environment): a deposed leader keeps nothing of its leadership. Every socket and file
/// is closed on exec but the listening sockets, handed on so that the ports never refuse;
/// and standard input, output and error.
fn restart(listeners: &judge_scheduler::wiring::listeners::Listeners) -> ! {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let _ = args.next();
    let mut command = std::process::Command::new("/proc/self/exe");
    command.args(args);
    if let Err(e) = listeners.hand_on(&mut command) {
        tracing::warn!(error = %e, "cannot hand the listening sockets on; the new start binds them anew");
    }
    let err = command.exec();
    tracing::error!(error = %err, "cannot start again; exiting for the supervisor to restart");
    std::process::exit(75)
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
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)?;
    judge_common::logging::init(cli.log_json);
    match cli.command {
        Cmd::Serve(args) => {
            let serve_matches = matches
                .subcommand_matches("serve")
                .context("serve arguments")?;
            let config = judge_common::config::layered(
                serve_matches,
                &args.config,
                args.config_file.as_deref(),
            )?;
            let opts = config.options()?;
            if args.check_config {
                print!("{}", judge_common::config::to_toml(&config)?);
                return Ok(());
            }
            ready_data_dir(&config.data_dir, config.database.as_deref())?;
            if opts.database_url.starts_with("sqlite:") {
                let running = server::start(opts, shutdown_signal()).await?;
                announce(running.addr, running.http_addr);
                running.task.await.context("server task")??;
                return Ok(());
            }
            // PostgreSQL: one of possibly several schedulers; it leads or stands by.
            match leader::run(opts, shutdown_signal(), Box::new(announce)).await? {
                leader::Ended::Stopped => {}
                leader::Ended::Deposed { why, listeners } => {
                    tracing::warn!(%why, "deposed: starting again as a standby");
                    restart(&listeners);
                }
            }
        }
        Cmd::Token(TokenCmd::Create {
            role,
            name,
            names_file,
            max_priority,
            store,
        }) => {
            let names = match (&name, &names_file) {
                (Some(n), _) => vec![n.clone()],
                (None, Some(path)) => read_names(path)?,
                (None, None) => bail!("give --name or --names-file"),
            };
            let store = open_store(store).await?;
            let issued =
                app::tokens::issue_tokens(&store, &names, role, max_priority, SystemClock.now_ms())
                    .await?;
            for (record, text) in issued {
                if name.is_some() {
                    println!("{text}");
                } else {
                    println!("{} {text}", record.name);
                }
            }
        }
        Cmd::Tls(TlsCmd::SelfSigned {
            hosts,
            clients,
            out,
        }) => {
            for c in &clients {
                tokens::check_name(c).map_err(|e| anyhow::anyhow!("--client: {e}"))?;
            }
            let written = judge_scheduler::wiring::tls::self_signed(&hosts, &clients, &out)?;
            for f in written.files {
                println!("{}", f.display());
            }
        }
        Cmd::Worker(WorkerCmd::Forget { name, store }) => {
            let store = open_store(store).await?;
            if store.forget_worker_name(&name).await? {
                eprintln!("worker name {name} is free");
            } else {
                bail!("no token holds the worker name {name:?}");
            }
        }
        Cmd::Gc {
            store,
            min_age_seconds,
            keep_run_io_days,
        } => {
            let data_dir = store.data_dir.clone();
            if !(min_age_seconds.is_finite() && min_age_seconds >= 0.0) {
                bail!("--min-age-seconds must be zero or more");
            }
            let store = open_store(store).await?;
            let blobs = judge_scheduler::store::blobs::BlobStore::open(data_dir.join("blobs"))
                .await?
                .backed_by(&store);
            let keep = judge_scheduler::store::gc::Keep {
                min_age: Duration::from_secs_f64(min_age_seconds),
                run_io: judge_scheduler::wiring::config::keep_run_io(keep_run_io_days)?,
            };
            let now = SystemClock.now_ms();
            let r = judge_scheduler::store::gc::sweep(&store, &blobs, keep, now).await?;
            println!(
                "pruned {} problem versions; removed {} files ({} bytes), kept {}; dropped the \
                 input and output of {} run jobs",
                r.pruned_versions, r.removed, r.freed_bytes, r.kept, r.expired_run_io
            );
        }
        Cmd::Token(TokenCmd::List { store }) => {
            let store = open_store(store).await?;
            println!("{:<24} {:<10} {:<8}", "NAME", "ROLE", "STATUS");
            for t in app::tokens::list_tokens(&store).await? {
                let status = if t.revoked { "revoked" } else { "active" };
                println!("{:<24} {:<10} {:<8}", t.name, t.role.as_str(), status);
            }
        }
        Cmd::Token(TokenCmd::Revoke { name, store }) => {
            let store = open_store(store).await?;
            app::tokens::revoke_token(&store, &name, SystemClock.now_ms()).await?;
            eprintln!("revoked {name}");
        }
    }
    Ok(())
}
