//! The scheduler's configuration: one struct for `serve`'s flags, their environment variables
//! and its TOML file (`--config`). Each default is a constant below, written once and shown by
//! `--help`; [`ServeConfig::options`] checks every value and names the key of a bad one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use judge_common::config::{seconds, seconds_or_zero, ConfigError};
use judge_common::run_limits::RunMaxima;
use serde::{Deserialize, Serialize};

use crate::app::ConsoleLimits;
use crate::core::CoreConfig;
use crate::wiring::server::{ScaleSetup, ServeOptions};

/// The defaults, each used once by the flags and once by [`ServeConfig::default`].
pub mod defaults {
    use crate::core::CoreConfig;

    pub const LISTEN: &str = "127.0.0.1:7070";
    pub const HTTP_LISTEN: &str = "127.0.0.1:7071";
    pub const DATA_DIR: &str = "judge-data";
    pub const MAX_QUEUED: usize = CoreConfig::DEFAULT.max_queued;
    pub const MAX_QUEUED_PER_TOKEN: usize = CoreConfig::DEFAULT.max_queued_per_owner;
    pub const MAX_WATCHES_PER_TOKEN: usize = 64;
    pub const MAX_RUNNING_PER_TOKEN: usize = CoreConfig::DEFAULT.max_running_per_owner;
    pub const MAX_CONSOLES_PER_TOKEN: usize = CoreConfig::DEFAULT.max_consoles_per_owner;
    pub const SUBMIT_RATE: f64 = 5.0;
    pub const AGING_SECONDS: f64 = CoreConfig::DEFAULT.aging_ms as f64 / 1000.0;
    pub const QUEUE_ORDER: &str = CoreConfig::DEFAULT.order.as_str();
    pub const QUARANTINE_STRIKES: u32 = CoreConfig::DEFAULT.breaker.strikes;
    pub const QUARANTINE_WINDOW_SECONDS: f64 =
        CoreConfig::DEFAULT.breaker.window_ms as f64 / 1000.0;
    pub const QUARANTINE_MAX_SHARE: f64 = CoreConfig::DEFAULT.breaker.max_share;
    pub const QUARANTINE_COOLDOWN_SECONDS: f64 =
        CoreConfig::DEFAULT.breaker.cooldown_ms as f64 / 1000.0;
    pub const SUBMIT_BURST: u32 = 30;
    pub const MAX_SOURCE_BYTES: usize = 256 * 1024;
    pub const GRACE_SECONDS: f64 = CoreConfig::DEFAULT.grace_ms as f64 / 1000.0;
    pub const MAX_ATTEMPTS: u32 = CoreConfig::DEFAULT.max_attempts;
    pub const REPORT_TIMEOUT_SECONDS: f64 = CoreConfig::DEFAULT.report_timeout_ms as f64 / 1000.0;
    pub const REPORT_INTERVAL_SECONDS: f64 = 3.0;
    pub const LOCALITY_WAIT_SECONDS: f64 = CoreConfig::DEFAULT.locality_wait_ms as f64 / 1000.0;
    pub const ATTEMPT_SLACK_SECONDS: f64 = CoreConfig::DEFAULT.attempt_slack_ms as f64 / 1000.0;
    pub const GC_INTERVAL_SECONDS: f64 = 3600.0;
    pub const KEEPALIVE_INTERVAL_SECONDS: f64 = 10.0;
    pub const KEEPALIVE_TIMEOUT_SECONDS: f64 = 20.0;
    pub const TOKEN_REFRESH_SECONDS: f64 = 1.0;
    pub const FLEET_SIZE: u32 = 4096;
    pub const RUN_MAX_TIME_SECONDS: f64 = 10.0;
    pub const RUN_MAX_MEMORY_MIB: u64 = 1024;
    pub const RUN_MAX_OUTPUT_MIB: u64 = 4;
    pub const MAX_STDIN_MIB: u64 = 16;
    pub const CONSOLE_MAX_SECONDS: u32 = 600;
    pub const CONSOLE_IDLE_SECONDS: u32 = 120;
    pub const HTTP_MAX_CONNECTIONS: usize = 1024;
    pub const HTTP_HEADER_TIMEOUT_SECONDS: f64 = 10.0;
    pub const CONSOLE_OPEN_TIMEOUT_SECONDS: f64 = 10.0;
    pub const KEEP_RUN_IO_DAYS: f64 = 7.0;
    pub const MAX_RUN_MIB_PER_TOKEN: u64 = 256;
    pub const MIN_WORKERS: u32 = 0;
    pub const MAX_WORKERS: u32 = 10;
    pub const SCALE_BACKLOG_SECONDS: f64 = 60.0;
    pub const SCALE_SUSTAIN_SECONDS: f64 = 30.0;
    pub const SCALE_IDLE_SECONDS: f64 = 300.0;
    pub const SCALE_COOLDOWN_SECONDS: f64 = 120.0;
    pub const SCALE_COMMAND_TIMEOUT_SECONDS: f64 = 300.0;
    pub const LEASE_SECONDS: f64 = 8.0;
    pub const RENEW_SECONDS: f64 = 2.0;
    /// Names of the workers autoscaling starts begin with this.
    pub const SCALE_PREFIX: &str = "auto-";
}

/// Largest source file the scheduler can be told to accept.
pub const MAX_SOURCE_BYTES_LIMIT: usize = 64 << 20;
/// Most attempts a job can be given.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// Largest fleet the listen backlog can be sized for.
pub const FLEET_SIZE_LIMIT: u32 = 1_000_000;
/// Largest standard input a `run` job can be allowed, MiB.
pub const MAX_STDIN_MIB_LIMIT: u64 = 256;

/// Every key of `judge-scheduler serve` (flags, environment, TOML file).
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on (gRPC)
    #[arg(long, env = "JUDGE_LISTEN", default_value = defaults::LISTEN)]
    pub listen: SocketAddr,
    /// Address of the HTTP side (JSON API, dashboard, metrics, health), with the same TLS
    /// settings as the gRPC port; "none" turns it off
    #[arg(long, env = "JUDGE_HTTP_LISTEN", default_value = defaults::HTTP_LISTEN)]
    pub http_listen: String,
    /// The one web origin (e.g. https://class.example.org) whose pages may call the JSON
    /// API from a browser [default: none]
    #[arg(long, env = "JUDGE_HTTP_ALLOW_ORIGIN")]
    pub http_allow_origin: Option<String>,
    /// PEM certificate (chain) of the scheduler: every connection is TLS (https:// URLs)
    #[arg(long, env = "JUDGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, env = "JUDGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA whose certificates workers must present (mutual TLS), besides their token
    #[arg(long, env = "JUDGE_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Data directory: the SQLite database (unless --database names another) and test-data
    /// blobs
    #[arg(long, env = "JUDGE_DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,
    /// Database URL, sqlite://PATH or postgres://... [default: sqlite://<data-dir>/judge.db]
    #[arg(long, env = "JUDGE_DATABASE_URL")]
    pub database: Option<String>,
    /// Most jobs waiting at once; Submit answers RESOURCE_EXHAUSTED beyond
    #[arg(long, env = "JUDGE_MAX_QUEUED", default_value_t = defaults::MAX_QUEUED)]
    pub max_queued: usize,
    /// Most jobs one token may have waiting at once; beyond, its Submit answers
    /// RESOURCE_EXHAUSTED while other tokens still submit
    #[arg(long, env = "JUDGE_MAX_QUEUED_PER_TOKEN", default_value_t = defaults::MAX_QUEUED_PER_TOKEN)]
    pub max_queued_per_token: usize,
    /// Most WatchJob streams one token may have open at once
    #[arg(long, env = "JUDGE_MAX_WATCHES_PER_TOKEN", default_value_t = defaults::MAX_WATCHES_PER_TOKEN)]
    pub max_watches_per_token: usize,
    /// Most jobs one token may have on workers at once; its other jobs wait while other
    /// tokens' go
    #[arg(long, env = "JUDGE_MAX_RUNNING_PER_TOKEN", default_value_t = defaults::MAX_RUNNING_PER_TOKEN)]
    pub max_running_per_token: usize,
    /// Most consoles one token may have open at once
    #[arg(long, env = "JUDGE_MAX_CONSOLES_PER_TOKEN", default_value_t = defaults::MAX_CONSOLES_PER_TOKEN)]
    pub max_consoles_per_token: usize,
    /// Submissions (and consoles opened) per second per token, over time; beyond, they are
    /// refused with the seconds to wait (0.001 to 1000000)
    #[arg(long, env = "JUDGE_SUBMIT_RATE", default_value_t = defaults::SUBMIT_RATE)]
    pub submit_rate: f64,
    /// Submissions one token may make at once before the rate applies (1 to 1000000)
    #[arg(long, env = "JUDGE_SUBMIT_BURST", default_value_t = defaults::SUBMIT_BURST)]
    pub submit_burst: u32,
    /// Seconds a job of a lower priority class waits at most while higher ones flow: past
    /// it, it goes as if it were a contest job
    #[arg(long, env = "JUDGE_AGING_SECONDS", default_value_t = defaults::AGING_SECONDS)]
    pub aging_seconds: f64,
    /// The order of jobs within a class: fair-share (the owner with the fewest jobs on
    /// workers first, each owner's oldest first) or oldest-first (whoever owns it; a
    /// baseline for comparison)
    #[arg(long, env = "JUDGE_QUEUE_ORDER", default_value = defaults::QUEUE_ORDER)]
    pub queue_order: String,
    /// Judge errors a worker gives, that the next worker does not give on the same job,
    /// within the window that quarantine it (it gets no jobs until `judgectl worker
    /// release`) (1 to 1000)
    #[arg(long, env = "JUDGE_QUARANTINE_STRIKES", default_value_t = defaults::QUARANTINE_STRIKES)]
    pub quarantine_strikes: u32,
    /// The window of --quarantine-strikes, seconds
    #[arg(long, env = "JUDGE_QUARANTINE_WINDOW_SECONDS", default_value_t = defaults::QUARANTINE_WINDOW_SECONDS)]
    pub quarantine_window_seconds: f64,
    /// Most of the connected fleet quarantined at once (0 to 1; one worker always may be);
    /// past it the scheduler logs an error instead
    #[arg(long, env = "JUDGE_QUARANTINE_MAX_SHARE", default_value_t = defaults::QUARANTINE_MAX_SHARE)]
    pub quarantine_max_share: f64,
    /// Seconds a quarantined worker waits before its known-answer probe (a one-line
    /// program in a language it offers): the right answer lets it back
    #[arg(long, env = "JUDGE_QUARANTINE_COOLDOWN_SECONDS", default_value_t = defaults::QUARANTINE_COOLDOWN_SECONDS)]
    pub quarantine_cooldown_seconds: f64,
    /// Largest accepted source file in bytes (at most 64 MiB)
    #[arg(long, env = "JUDGE_MAX_SOURCE_BYTES", default_value_t = defaults::MAX_SOURCE_BYTES)]
    pub max_source_bytes: usize,
    /// Seconds a lost worker's jobs wait for it to reconnect
    #[arg(long, env = "JUDGE_GRACE_SECONDS", default_value_t = defaults::GRACE_SECONDS)]
    pub grace_seconds: f64,
    /// Attempts per job before it fails as a judge error (1 to 100)
    #[arg(long, env = "JUDGE_MAX_ATTEMPTS", default_value_t = defaults::MAX_ATTEMPTS)]
    pub max_attempts: u32,
    /// Seconds without a report after which a connected worker counts as lost (stuck); its
    /// jobs are queued again at once
    #[arg(long, env = "JUDGE_REPORT_TIMEOUT_SECONDS", default_value_t = defaults::REPORT_TIMEOUT_SECONDS)]
    pub report_timeout_seconds: f64,
    /// Seconds between workers' resource reports (told to each worker when it connects);
    /// must be well below the report timeout
    #[arg(long, env = "JUDGE_REPORT_INTERVAL_SECONDS", default_value_t = defaults::REPORT_INTERVAL_SECONDS)]
    pub report_interval_seconds: f64,
    /// Seconds a job may wait for a worker that already has its files before it goes to one
    /// that must download them (0: never wait)
    #[arg(long, env = "JUDGE_LOCALITY_WAIT_SECONDS", default_value_t = defaults::LOCALITY_WAIT_SECONDS)]
    pub locality_wait_seconds: f64,
    /// Seconds an attempt may run past its worst case (every limit hit, files fetched at
    /// 1 MB/s) before it is taken back from its worker and re-queued
    #[arg(long, env = "JUDGE_ATTEMPT_SLACK_SECONDS", default_value_t = defaults::ATTEMPT_SLACK_SECONDS)]
    pub attempt_slack_seconds: f64,
    /// Seconds between sweeps that delete test data no problem version uses any more
    #[arg(long, env = "JUDGE_GC_INTERVAL_SECONDS", default_value_t = defaults::GC_INTERVAL_SECONDS)]
    pub gc_interval_seconds: f64,
    /// Seconds between HTTP/2 and TCP keepalive probes on every connection
    #[arg(long, env = "JUDGE_KEEPALIVE_INTERVAL_SECONDS", default_value_t = defaults::KEEPALIVE_INTERVAL_SECONDS)]
    pub keepalive_interval_seconds: f64,
    /// Seconds without an answer to a keepalive probe before a connection counts as dead
    #[arg(long, env = "JUDGE_KEEPALIVE_TIMEOUT_SECONDS", default_value_t = defaults::KEEPALIVE_TIMEOUT_SECONDS)]
    pub keepalive_timeout_seconds: f64,
    /// Seconds between re-reads of the token table (a revoked token stops working this fast)
    #[arg(long, env = "JUDGE_TOKEN_REFRESH_SECONDS", default_value_t = defaults::TOKEN_REFRESH_SECONDS)]
    pub token_refresh_seconds: f64,
    /// Workers this scheduler is sized for: the listen backlog holds this many connection
    /// attempts at once, a whole fleet redialling after a restart (1 to 1000000; the kernel
    /// caps it at net.core.somaxconn)
    #[arg(long, env = "JUDGE_FLEET_SIZE", default_value_t = defaults::FLEET_SIZE)]
    pub fleet_size: u32,
    /// Most CPU seconds a `run` job may ask for (0.05 to 60); one that asks for none gets
    /// 2 s or this, whichever is less
    #[arg(long, env = "JUDGE_RUN_MAX_TIME_SECONDS", default_value_t = defaults::RUN_MAX_TIME_SECONDS)]
    pub run_max_time_seconds: f64,
    /// Most memory a `run` job may ask for, MiB (16 to 16384); the default is 1024 or this
    #[arg(long, env = "JUDGE_RUN_MAX_MEMORY_MIB", default_value_t = defaults::RUN_MAX_MEMORY_MIB)]
    pub run_max_memory_mib: u64,
    /// Most standard output a `run` job may ask for, MiB (1 to 1024; its standard error is
    /// kept up to the same size); the default is 1 MiB
    #[arg(long, env = "JUDGE_RUN_MAX_OUTPUT_MIB", default_value_t = defaults::RUN_MAX_OUTPUT_MIB)]
    pub run_max_output_mib: u64,
    /// Largest standard input of a `run` job, MiB (1 to 256)
    #[arg(long, env = "JUDGE_MAX_STDIN_MIB", default_value_t = defaults::MAX_STDIN_MIB)]
    pub max_stdin_mib: u64,
    /// Most seconds a console stays open (1 to 86400)
    #[arg(long, env = "JUDGE_CONSOLE_MAX_SECONDS", default_value_t = defaults::CONSOLE_MAX_SECONDS)]
    pub console_max_seconds: u32,
    /// Seconds without input or output after which a console is closed (1 to 86400)
    #[arg(long, env = "JUDGE_CONSOLE_IDLE_SECONDS", default_value_t = defaults::CONSOLE_IDLE_SECONDS)]
    pub console_idle_seconds: u32,
    /// Most HTTP connections open at once; one more is closed as soon as it is accepted
    /// (1 to 1000000)
    #[arg(long, env = "JUDGE_HTTP_MAX_CONNECTIONS", default_value_t = defaults::HTTP_MAX_CONNECTIONS)]
    pub http_max_connections: usize,
    /// Seconds an HTTP connection has for its TLS handshake and each request's headers; an
    /// idle keep-alive connection is closed after as long
    #[arg(long, env = "JUDGE_HTTP_HEADER_TIMEOUT_SECONDS", default_value_t = defaults::HTTP_HEADER_TIMEOUT_SECONDS)]
    pub http_header_timeout_seconds: f64,
    /// Seconds a WebSocket console has to send its opening message (with its token)
    #[arg(long, env = "JUDGE_CONSOLE_OPEN_TIMEOUT_SECONDS", default_value_t = defaults::CONSOLE_OPEN_TIMEOUT_SECONDS)]
    pub console_open_timeout_seconds: f64,
    /// Days a `run` job's input and output are kept after it ends (then dropped by the gc
    /// sweep; its outcome and use stay); 0.00001 (about a second) to 3650
    #[arg(long, env = "JUDGE_KEEP_RUN_IO_DAYS", default_value_t = defaults::KEEP_RUN_IO_DAYS)]
    pub keep_run_io_days: f64,
    /// Most MiB one token's `run` jobs may hold (source, input, output) while kept; a run
    /// job past it is refused with RESOURCE_EXHAUSTED (1 to 1048576)
    #[arg(long, env = "JUDGE_MAX_RUN_MIB_PER_TOKEN", default_value_t = defaults::MAX_RUN_MIB_PER_TOKEN)]
    pub max_run_mib_per_token: u64,
    /// File holding the bearer token /metrics asks for (Prometheus' `authorization`
    /// credentials_file) [default: none, /metrics is open]
    #[arg(long, env = "JUDGE_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// Autoscaling: a shell command that starts a worker, run with JUDGE_WORKER_NAME,
    /// JUDGE_TOKEN (from --scale-token-file) and JUDGE_SCALE_REASON in its environment
    /// [default: none, the fleet is fixed]
    #[arg(long, env = "JUDGE_SCALE_UP_COMMAND")]
    pub scale_up_command: Option<String>,
    /// A shell command that stops a worker's machine once the worker is drained, run with
    /// JUDGE_WORKER_NAME and JUDGE_SCALE_REASON [default: none, draining is all]
    #[arg(long, env = "JUDGE_SCALE_DOWN_COMMAND")]
    pub scale_down_command: Option<String>,
    /// File holding the worker token handed to started workers (needed with
    /// --scale-up-command)
    #[arg(long, env = "JUDGE_SCALE_TOKEN_FILE")]
    pub scale_token_file: Option<PathBuf>,
    /// Autoscaling: the fewest workers; below, one is started at once (0 to 10000)
    #[arg(long, env = "JUDGE_MIN_WORKERS", default_value_t = defaults::MIN_WORKERS)]
    pub min_workers: u32,
    /// Autoscaling: the most workers, counting those started and not yet joined
    /// (1 to 10000)
    #[arg(long, env = "JUDGE_MAX_WORKERS", default_value_t = defaults::MAX_WORKERS)]
    pub max_workers: u32,
    /// Autoscaling: the longest the connected slots should need to clear the queued work
    /// (queued jobs times the mean attempt time), seconds
    #[arg(long, env = "JUDGE_SCALE_BACKLOG_SECONDS", default_value_t = defaults::SCALE_BACKLOG_SECONDS)]
    pub scale_backlog_seconds: f64,
    /// Autoscaling: how long the queue stays over that before a worker is started, seconds
    #[arg(long, env = "JUDGE_SCALE_SUSTAIN_SECONDS", default_value_t = defaults::SCALE_SUSTAIN_SECONDS)]
    pub scale_sustain_seconds: f64,
    /// Autoscaling: how long a started worker may be idle before it is drained and its
    /// down command runs, seconds
    #[arg(long, env = "JUDGE_SCALE_IDLE_SECONDS", default_value_t = defaults::SCALE_IDLE_SECONDS)]
    pub scale_idle_seconds: f64,
    /// Autoscaling: the least time between two decisions the same way, seconds
    #[arg(long, env = "JUDGE_SCALE_COOLDOWN_SECONDS", default_value_t = defaults::SCALE_COOLDOWN_SECONDS)]
    pub scale_cooldown_seconds: f64,
    /// Autoscaling: a scale command still running after this many seconds is killed and
    /// counts as failed (a failed up command backs off, a failed down command is tried again)
    #[arg(long, env = "JUDGE_SCALE_COMMAND_TIMEOUT_SECONDS", default_value_t = defaults::SCALE_COMMAND_TIMEOUT_SECONDS)]
    pub scale_command_timeout_seconds: f64,
    /// Several schedulers on one PostgreSQL: how long the leader's lease lasts, seconds; a
    /// standby takes over this long after the leader was last heard of (SQLite: one
    /// scheduler, no lease)
    #[arg(long, env = "JUDGE_LEASE_SECONDS", default_value_t = defaults::LEASE_SECONDS)]
    pub lease_seconds: f64,
    /// How often the leader renews its lease, seconds (at most half of lease_seconds)
    #[arg(long, env = "JUDGE_RENEW_SECONDS", default_value_t = defaults::RENEW_SECONDS)]
    pub renew_seconds: f64,
    /// The gRPC URL standbys send clients to while this scheduler leads, as clients dial it
    /// (e.g. https://judge-a.example.org:7070) [default: http(s)://<host name>:<port of
    /// --listen>, or its address when it names one]
    #[arg(long, env = "JUDGE_ADVERTISE_URL")]
    pub advertise_url: Option<String>,
    /// The HTTP URL standbys name while this scheduler leads [default: as advertise_url,
    /// with the port of --http-listen]
    #[arg(long, env = "JUDGE_ADVERTISE_HTTP_URL")]
    pub advertise_http_url: Option<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: defaults::LISTEN
                .parse()
                .expect("the default address parses"),
            http_listen: defaults::HTTP_LISTEN.to_string(),
            http_allow_origin: None,
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            data_dir: defaults::DATA_DIR.into(),
            database: None,
            max_queued: defaults::MAX_QUEUED,
            max_queued_per_token: defaults::MAX_QUEUED_PER_TOKEN,
            max_watches_per_token: defaults::MAX_WATCHES_PER_TOKEN,
            max_running_per_token: defaults::MAX_RUNNING_PER_TOKEN,
            max_consoles_per_token: defaults::MAX_CONSOLES_PER_TOKEN,
            submit_rate: defaults::SUBMIT_RATE,
            submit_burst: defaults::SUBMIT_BURST,
            aging_seconds: defaults::AGING_SECONDS,
            queue_order: defaults::QUEUE_ORDER.to_string(),
            quarantine_strikes: defaults::QUARANTINE_STRIKES,
            quarantine_window_seconds: defaults::QUARANTINE_WINDOW_SECONDS,
            quarantine_max_share: defaults::QUARANTINE_MAX_SHARE,
            quarantine_cooldown_seconds: defaults::QUARANTINE_COOLDOWN_SECONDS,
            max_source_bytes: defaults::MAX_SOURCE_BYTES,
            grace_seconds: defaults::GRACE_SECONDS,
            max_attempts: defaults::MAX_ATTEMPTS,
            report_timeout_seconds: defaults::REPORT_TIMEOUT_SECONDS,
            report_interval_seconds: defaults::REPORT_INTERVAL_SECONDS,
            locality_wait_seconds: defaults::LOCALITY_WAIT_SECONDS,
            attempt_slack_seconds: defaults::ATTEMPT_SLACK_SECONDS,
            gc_interval_seconds: defaults::GC_INTERVAL_SECONDS,
            keepalive_interval_seconds: defaults::KEEPALIVE_INTERVAL_SECONDS,
            keepalive_timeout_seconds: defaults::KEEPALIVE_TIMEOUT_SECONDS,
            token_refresh_seconds: defaults::TOKEN_REFRESH_SECONDS,
            fleet_size: defaults::FLEET_SIZE,
            run_max_time_seconds: defaults::RUN_MAX_TIME_SECONDS,
            run_max_memory_mib: defaults::RUN_MAX_MEMORY_MIB,
            run_max_output_mib: defaults::RUN_MAX_OUTPUT_MIB,
            max_stdin_mib: defaults::MAX_STDIN_MIB,
            console_max_seconds: defaults::CONSOLE_MAX_SECONDS,
            console_idle_seconds: defaults::CONSOLE_IDLE_SECONDS,
            http_max_connections: defaults::HTTP_MAX_CONNECTIONS,
            http_header_timeout_seconds: defaults::HTTP_HEADER_TIMEOUT_SECONDS,
            console_open_timeout_seconds: defaults::CONSOLE_OPEN_TIMEOUT_SECONDS,
            metrics_token_file: None,
            scale_up_command: None,
            scale_down_command: None,
            scale_token_file: None,
            min_workers: defaults::MIN_WORKERS,
            max_workers: defaults::MAX_WORKERS,
            scale_backlog_seconds: defaults::SCALE_BACKLOG_SECONDS,
            scale_sustain_seconds: defaults::SCALE_SUSTAIN_SECONDS,
            scale_idle_seconds: defaults::SCALE_IDLE_SECONDS,
            scale_cooldown_seconds: defaults::SCALE_COOLDOWN_SECONDS,
            scale_command_timeout_seconds: defaults::SCALE_COMMAND_TIMEOUT_SECONDS,
            lease_seconds: defaults::LEASE_SECONDS,
            renew_seconds: defaults::RENEW_SECONDS,
            advertise_url: None,
            advertise_http_url: None,
            keep_run_io_days: defaults::KEEP_RUN_IO_DAYS,
            max_run_mib_per_token: defaults::MAX_RUN_MIB_PER_TOKEN,
        }
    }
}

/// The database URL: the given one, or the SQLite file in the data dir.
pub fn database_url(data_dir: &Path, database: Option<&str>) -> String {
    match database {
        Some(url) => url.to_string(),
        None => format!("sqlite://{}/judge.db", data_dir.display()),
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl ServeConfig {
    /// Checks every value and builds what the server starts with. Touches nothing on disk.
    pub fn options(&self) -> Result<ServeOptions, ConfigError> {
        let database_url = database_url(&self.data_dir, self.database.as_deref());
        if !["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|p| database_url.starts_with(p))
        {
            return Err(ConfigError::value(
                "database",
                format!("{database_url:?} is not a sqlite:// or postgres:// URL"),
            ));
        }
        for (key, value) in [
            ("max_queued", self.max_queued),
            ("max_queued_per_token", self.max_queued_per_token),
            ("max_watches_per_token", self.max_watches_per_token),
            ("max_running_per_token", self.max_running_per_token),
            ("max_consoles_per_token", self.max_consoles_per_token),
        ] {
            if !(1..=1_000_000).contains(&value) {
                return Err(ConfigError::value(
                    key,
                    format!("must be 1 to 1000000, got {value}"),
                ));
            }
        }
        if !(self.submit_rate.is_finite() && (0.001..=1e6).contains(&self.submit_rate)) {
            return Err(ConfigError::value(
                "submit_rate",
                format!(
                    "must be 0.001 to 1000000 a second, got {}",
                    self.submit_rate
                ),
            ));
        }
        if !(1..=1_000_000).contains(&self.submit_burst) {
            return Err(ConfigError::value(
                "submit_burst",
                format!("must be 1 to 1000000, got {}", self.submit_burst),
            ));
        }
        if !(1..=1 << 20).contains(&self.max_run_mib_per_token) {
            return Err(ConfigError::value(
                "max_run_mib_per_token",
                format!("must be 1 to 1048576, got {}", self.max_run_mib_per_token),
            ));
        }
        if !(1..=1_000_000).contains(&self.http_max_connections) {
            return Err(ConfigError::value(
                "http_max_connections",
                format!("must be 1 to 1000000, got {}", self.http_max_connections),
            ));
        }
        if !(1..=MAX_SOURCE_BYTES_LIMIT).contains(&self.max_source_bytes) {
            return Err(ConfigError::value(
                "max_source_bytes",
                format!(
                    "must be 1 to {MAX_SOURCE_BYTES_LIMIT}, got {}",
                    self.max_source_bytes
                ),
            ));
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return Err(ConfigError::value(
                "max_attempts",
                format!(
                    "must be 1 to {MAX_ATTEMPTS_LIMIT}, got {}",
                    self.max_attempts
                ),
            ));
        }
        if !(1..=FLEET_SIZE_LIMIT).contains(&self.fleet_size) {
            return Err(ConfigError::value(
                "fleet_size",
                format!("must be 1 to {FLEET_SIZE_LIMIT}, got {}", self.fleet_size),
            ));
        }
        let run = self.run_maxima()?;
        if !(1..=MAX_STDIN_MIB_LIMIT).contains(&self.max_stdin_mib) {
            return Err(ConfigError::value(
                "max_stdin_mib",
                format!(
                    "must be 1 to {MAX_STDIN_MIB_LIMIT}, got {}",
                    self.max_stdin_mib
                ),
            ));
        }
        for (key, value) in [
            ("console_max_seconds", self.console_max_seconds),
            ("console_idle_seconds", self.console_idle_seconds),
        ] {
            if !(1..=86_400).contains(&value) {
                return Err(ConfigError::value(
                    key,
                    format!("must be 1 to 86400, got {value}"),
                ));
            }
        }
        let grace = seconds("grace_seconds", self.grace_seconds)?;
        let aging = seconds("aging_seconds", self.aging_seconds)?;
        if !(1..=1000).contains(&self.quarantine_strikes) {
            return Err(ConfigError::value(
                "quarantine_strikes",
                format!("must be 1 to 1000, got {}", self.quarantine_strikes),
            ));
        }
        let quarantine_window =
            seconds("quarantine_window_seconds", self.quarantine_window_seconds)?;
        let (scale, scale_setup) = self.scaling()?;
        let quarantine_cooldown = seconds(
            "quarantine_cooldown_seconds",
            self.quarantine_cooldown_seconds,
        )?;
        if !(0.0..=1.0).contains(&self.quarantine_max_share) {
            return Err(ConfigError::value(
                "quarantine_max_share",
                format!("must be 0 to 1, got {}", self.quarantine_max_share),
            ));
        }
        let order = crate::core::QueueOrder::from_name(&self.queue_order).ok_or_else(|| {
            ConfigError::value(
                "queue_order",
                format!("{:?} is not fair-share or oldest-first", self.queue_order),
            )
        })?;
        let report_timeout = seconds("report_timeout_seconds", self.report_timeout_seconds)?;
        let report_interval = seconds("report_interval_seconds", self.report_interval_seconds)?;
        if report_interval * 2 > report_timeout {
            return Err(ConfigError::value(
                "report_interval_seconds",
                format!(
                    "{} s leaves no room for a late report within report_timeout_seconds ({} s): \
                     make it at most half of that",
                    self.report_interval_seconds, self.report_timeout_seconds
                ),
            ));
        }
        let locality_wait = seconds_or_zero("locality_wait_seconds", self.locality_wait_seconds)?;
        let attempt_slack = seconds_or_zero("attempt_slack_seconds", self.attempt_slack_seconds)?;
        let keepalive_interval = seconds(
            "keepalive_interval_seconds",
            self.keepalive_interval_seconds,
        )?;
        let keepalive_timeout =
            seconds("keepalive_timeout_seconds", self.keepalive_timeout_seconds)?;
        let tls =
            match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(crate::wiring::tls::TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.client_ca.clone(),
                }),
                (None, None) if self.client_ca.is_some() => return Err(ConfigError::value(
                    "client_ca",
                    "mutual TLS needs the scheduler's own certificate: set tls_cert and tls_key",
                )),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::value(
                        "tls_cert",
                        "tls_cert and tls_key go together",
                    ))
                }
            };
        let http_listen = match self.http_listen.as_str() {
            "none" => None,
            addr => Some(addr.parse::<SocketAddr>().map_err(|e| {
                ConfigError::value(
                    "http_listen",
                    format!("{addr:?} is not an address like 127.0.0.1:7071, or none: {e}"),
                )
            })?),
        };
        if let Some(origin) = &self.http_allow_origin {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.ends_with('/')
                && origin.is_ascii()
                && !origin.contains(char::is_whitespace);
            if !ok {
                return Err(ConfigError::value(
                    "http_allow_origin",
                    format!("{origin:?} is not an origin like https://class.example.org"),
                ));
            }
        }
        Ok(ServeOptions {
            listen: self.listen,
            http_listen,
            http_allow_origin: self.http_allow_origin.clone(),
            tls,
            database_url,
            data_dir: self.data_dir.clone(),
            core: CoreConfig {
                max_queued: self.max_queued,
                max_queued_per_owner: self.max_queued_per_token,
                max_running_per_owner: self.max_running_per_token,
                max_consoles_per_owner: self.max_consoles_per_token,
                aging_ms: millis(aging),
                order,
                breaker: crate::core::BreakerConfig {
                    strikes: self.quarantine_strikes,
                    window_ms: millis(quarantine_window),
                    max_share: self.quarantine_max_share,
                    cooldown_ms: millis(quarantine_cooldown),
                },
                scale,
                grace_ms: millis(grace),
                max_attempts: self.max_attempts,
                report_timeout_ms: millis(report_timeout),
                locality_wait_ms: millis(locality_wait),
                attempt_slack_ms: millis(attempt_slack),
                ..CoreConfig::DEFAULT
            },
            max_source_bytes: self.max_source_bytes,
            max_watches_per_token: self.max_watches_per_token,
            submit_rate: self.submit_rate,
            submit_burst: self.submit_burst,
            token_refresh: seconds("token_refresh_seconds", self.token_refresh_seconds)?,
            report_interval,
            keepalive_interval,
            keepalive_timeout,
            gc_interval: seconds("gc_interval_seconds", self.gc_interval_seconds)?,
            fleet_size: self.fleet_size,
            run,
            // At most 256 MiB: fits.
            max_stdin_bytes: (self.max_stdin_mib << 20) as usize,
            console: ConsoleLimits {
                max_seconds: self.console_max_seconds,
                idle_seconds: self.console_idle_seconds,
            },
            http: crate::http::HttpLimits {
                max_connections: self.http_max_connections,
                header_timeout: seconds(
                    "http_header_timeout_seconds",
                    self.http_header_timeout_seconds,
                )?,
                console_open_timeout: seconds(
                    "console_open_timeout_seconds",
                    self.console_open_timeout_seconds,
                )?,
            },
            metrics_token_file: self.metrics_token_file.clone(),
            scale: scale_setup,
            keep_run_io: keep_run_io(self.keep_run_io_days)?,
            // At most 2^20 MiB: fits.
            max_run_bytes_per_token: self.max_run_mib_per_token << 20,
            lease: self.lease()?,
            advertise: self.advertise_url.clone(),
            advertise_http: self.advertise_http_url.clone(),
        })
    }

    /// The leader's lease, checked: a renewal must come well within the lease.
    fn lease(&self) -> Result<crate::core::lease::LeaseTerms, ConfigError> {
        for (key, value) in [
            ("lease_seconds", self.lease_seconds),
            ("renew_seconds", self.renew_seconds),
        ] {
            if !(value.is_finite() && (0.1..=3600.0).contains(&value)) {
                return Err(ConfigError::value(
                    key,
                    format!("must be 0.1 to 3600 seconds, got {value}"),
                ));
            }
        }
        if self.renew_seconds * 2.0 > self.lease_seconds {
            return Err(ConfigError::value(
                "renew_seconds",
                format!(
                    "must be at most half of lease_seconds ({}), got {}: a lease must \
                     survive a failed renewal",
                    self.lease_seconds, self.renew_seconds
                ),
            ));
        }
        for (key, url) in [
            ("advertise_url", &self.advertise_url),
            ("advertise_http_url", &self.advertise_http_url),
        ] {
            if let Some(url) = url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::value(
                        key,
                        format!("{url:?}: use http://HOST:PORT or https://HOST:PORT"),
                    ));
                }
            }
        }
        Ok(crate::core::lease::LeaseTerms {
            lease_ms: (self.lease_seconds * 1000.0).round() as u64,
            renew_ms: (self.renew_seconds * 1000.0).round() as u64,
        })
    }

    /// The most a `run` job may ask for, each within what any run may have.
    fn run_maxima(&self) -> Result<RunMaxima, ConfigError> {
        use judge_common::run_limits::{MEMORY_BYTES, OUTPUT_BYTES, TIME_MS};
        let time_ms = self.run_max_time_seconds * 1000.0;
        if !(time_ms.is_finite() && (TIME_MS.0 as f64..=TIME_MS.1 as f64).contains(&time_ms)) {
            return Err(ConfigError::value(
                "run_max_time_seconds",
                format!("must be 0.05 to 60, got {}", self.run_max_time_seconds),
            ));
        }
        let mib = |key: &str, v: u64, (min, max): (u64, u64)| {
            let (lo, hi) = ((min >> 20).max(1), max >> 20);
            if (lo..=hi).contains(&v) {
                Ok(v << 20)
            } else {
                Err(ConfigError::value(
                    key,
                    format!("must be {lo} to {hi} MiB, got {v}"),
                ))
            }
        };
        Ok(RunMaxima {
            time_ms: time_ms.round() as u32,
            memory_bytes: mib("run_max_memory_mib", self.run_max_memory_mib, MEMORY_BYTES)?,
            output_bytes: mib("run_max_output_mib", self.run_max_output_mib, OUTPUT_BYTES)?,
        })
    }
}

/// How long a run job's input and output are kept, from `keep_run_io_days`.
pub fn keep_run_io(days: f64) -> Result<Duration, ConfigError> {
    if !(days.is_finite() && (0.00001..=3650.0).contains(&days)) {
        return Err(ConfigError::value(
            "keep_run_io_days",
            format!("must be 0.00001 (about a second) to 3650 days, got {days}"),
        ));
    }
    Ok(Duration::from_secs_f64(days * 86_400.0))
}

impl Default for ServeOptions {
    /// The defaults of [`ServeConfig`], which `--help` shows.
    fn default() -> Self {
        ServeConfig::default()
            .options()
            .expect("the default configuration is valid")
    }
}

impl ServeConfig {
    /// Autoscaling's settings, checked: the core's part and the commands' (none unless
    /// --scale-up-command is set).
    fn scaling(
        &self,
    ) -> Result<(Option<crate::core::ScaleConfig>, Option<ScaleSetup>), ConfigError> {
        for (key, value) in [
            ("min_workers", self.min_workers),
            ("max_workers", self.max_workers),
        ] {
            if value > 10_000 {
                return Err(ConfigError::value(
                    key,
                    format!("must be at most 10000, got {value}"),
                ));
            }
        }
        if self.max_workers == 0 || self.min_workers > self.max_workers {
            return Err(ConfigError::value(
                "max_workers",
                format!(
                    "must be at least 1 and at least min_workers ({}), got {}",
                    self.min_workers, self.max_workers
                ),
            ));
        }
        let backlog = seconds("scale_backlog_seconds", self.scale_backlog_seconds)?;
        let sustain = seconds_or_zero("scale_sustain_seconds", self.scale_sustain_seconds)?;
        let idle = seconds("scale_idle_seconds", self.scale_idle_seconds)?;
        let cooldown = seconds_or_zero("scale_cooldown_seconds", self.scale_cooldown_seconds)?;
        let timeout = seconds(
            "scale_command_timeout_seconds",
            self.scale_command_timeout_seconds,
        )?;
        let Some(up) = &self.scale_up_command else {
            if self.scale_down_command.is_some() {
                return Err(ConfigError::value(
                    "scale_down_command",
                    "autoscaling needs scale_up_command too",
                ));
            }
            return Ok((None, None));
        };
        if up.trim().is_empty() {
            return Err(ConfigError::value("scale_up_command", "is empty"));
        }
        let Some(token_file) = &self.scale_token_file else {
            return Err(ConfigError::value(
                "scale_token_file",
                "autoscaling needs a worker token for the workers it starts: make one with \
                 `judge-scheduler token create --role worker` and name its file",
            ));
        };
        let core = crate::core::ScaleConfig {
            min_workers: self.min_workers,
            max_workers: self.max_workers,
            backlog_ms: millis(backlog),
            sustain_ms: millis(sustain),
            idle_ms: millis(idle),
            cooldown_ms: millis(cooldown),
            prefix: defaults::SCALE_PREFIX.to_string(),
        };
        let setup = ScaleSetup {
            up: up.clone(),
            down: self.scale_down_command.clone(),
            token_file: token_file.clone(),
            timeout,
        };
        Ok((Some(core), Some(setup)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_match_the_core() {
        let opts = ServeConfig::default()
            .options()
            .expect("defaults are valid");
        assert_eq!(opts.core.max_queued, CoreConfig::DEFAULT.max_queued);
        assert_eq!(opts.core.grace_ms, CoreConfig::DEFAULT.grace_ms);
        assert_eq!(
            opts.core.report_timeout_ms,
            CoreConfig::DEFAULT.report_timeout_ms
        );
        assert_eq!(opts.database_url, "sqlite://judge-data/judge.db");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let bad = |f: fn(&mut ServeConfig)| {
            let mut c = ServeConfig::default();
            f(&mut c);
            c.options().expect_err("refused").to_string()
        };
        assert!(bad(|c| c.max_attempts = 0).starts_with("max_attempts:"));
        assert!(bad(|c| c.grace_seconds = -1.0).starts_with("grace_seconds:"));
        assert!(bad(|c| c.grace_seconds = f64::NAN).starts_with("grace_seconds:"));
        assert!(bad(|c| c.report_interval_seconds = 20.0).starts_with("report_interval_seconds:"));
        assert!(bad(|c| c.database = Some("mysql://x".into())).starts_with("database:"));
        assert!(bad(|c| c.max_source_bytes = 0).starts_with("max_source_bytes:"));
        assert!(bad(|c| c.fleet_size = 0).starts_with("fleet_size:"));
        assert!(bad(|c| c.run_max_time_seconds = 61.0).starts_with("run_max_time_seconds:"));
        assert!(bad(|c| c.run_max_memory_mib = 1 << 40).starts_with("run_max_memory_mib:"));
        assert!(bad(|c| c.run_max_output_mib = 0).starts_with("run_max_output_mib:"));
        assert!(bad(|c| c.max_stdin_mib = 0).starts_with("max_stdin_mib:"));
        assert!(bad(|c| c.console_idle_seconds = 0).starts_with("console_idle_seconds:"));
        assert!(bad(|c| c.http_listen = "anywhere".into()).starts_with("http_listen:"));
        assert!(bad(|c| c.http_allow_origin = Some("*".into())).starts_with("http_allow_origin:"));
        assert!(bad(|c| c.queue_order = "random".into()).starts_with("queue_order:"));
        assert!(bad(|c| c.quarantine_strikes = 0).starts_with("quarantine_strikes:"));
        assert!(bad(|c| c.max_workers = 0).starts_with("max_workers:"));
        assert!(bad(|c| {
            c.min_workers = 5;
            c.max_workers = 2;
        })
        .starts_with("max_workers:"));
        assert!(
            bad(|c| c.scale_up_command = Some("start-vm".into())).starts_with("scale_token_file:")
        );
        assert!(bad(|c| c.scale_down_command = Some("stop-vm".into()))
            .starts_with("scale_down_command:"));
        assert!(bad(|c| c.scale_idle_seconds = -1.0).starts_with("scale_idle_seconds:"));
        assert!(bad(|c| c.renew_seconds = 10.0).starts_with("renew_seconds:"));
        assert!(bad(|c| c.renew_seconds = 6.0).starts_with("renew_seconds:"));
        assert!(bad(|c| c.lease_seconds = -1.0).starts_with("lease_seconds:"));
        assert!(
            bad(|c| c.advertise_url = Some("judge-a:7070".into())).starts_with("advertise_url:")
        );
        assert!(bad(|c| c.scale_command_timeout_seconds = 0.0)
            .starts_with("scale_command_timeout_seconds:"));
        assert!(bad(|c| c.quarantine_max_share = 1.5).starts_with("quarantine_max_share:"));
        assert!(
            bad(|c| c.quarantine_window_seconds = 0.0).starts_with("quarantine_window_seconds:")
        );
        let oldest = ServeConfig {
            queue_order: "oldest-first".into(),
            ..ServeConfig::default()
        };
        let order = oldest.options().expect("valid").core.order;
        assert_eq!(order, crate::core::QueueOrder::OldestFirst);
        let off = ServeConfig {
            http_listen: "none".into(),
            ..ServeConfig::default()
        };
        assert_eq!(off.options().expect("valid").http_listen, None);
        // Zero is a real choice for the locality wait.
        let c = ServeConfig {
            locality_wait_seconds: 0.0,
            ..ServeConfig::default()
        };
        assert_eq!(c.options().expect("valid").core.locality_wait_ms, 0);
    }
}
