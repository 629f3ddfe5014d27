//! The worker's configuration: one struct for its flags, their environment variables and its
//! TOML file (`--config`), each default written once, in the attribute `--help` shows.
//! [`WorkerConfig::options`] checks every value and names the key of a bad one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use judge_common::channel::ClientTls;
use judge_common::config::{seconds_or_zero, ConfigError};
use serde::{Deserialize, Serialize};

use crate::judge::languages::{self, Language};
use crate::startup::WorkerOptions;

/// Most slots a worker may offer.
pub const MAX_SLOTS: u32 = 256;

/// Every key of the worker's configuration (flags, environment, TOML file).
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Scheduler URL, or several separated by commas (schedulers sharing one PostgreSQL: the
    /// worker follows the one that leads)
    #[arg(long, env = "JUDGE_SCHEDULER", default_value = "http://127.0.0.1:7070")]
    pub scheduler: String,
    /// PEM file of the CA that signed the scheduler's certificate, for an https:// scheduler
    /// [default: the system's roots]
    #[arg(long, env = "JUDGE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// PEM certificate this worker presents to the scheduler (mutual TLS, with --client-key)
    #[arg(long, env = "JUDGE_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// PEM key of --client-cert
    #[arg(long, env = "JUDGE_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// Read the worker token from this file (or pass --token / JUDGE_TOKEN)
    #[arg(long, env = "JUDGE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Worker name, unique in the cluster [default: the host name]
    #[arg(long, env = "JUDGE_WORKER_NAME")]
    pub name: Option<String>,
    /// Submissions judged at once (1 to 256)
    #[arg(long, env = "JUDGE_SLOTS", default_value_t = 1)]
    pub slots: u32,
    /// Directory for fetched test data and submissions being judged
    #[arg(long, env = "JUDGE_WORK_DIR", default_value = "judge-work")]
    pub work_dir: PathBuf,
    /// Directory of the test-data cache [default: <work-dir>/cache]
    #[arg(long, env = "JUDGE_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Disk budget of the cache, e.g. 20GiB or 500MB
    #[arg(long, env = "JUDGE_CACHE_SIZE", default_value = "10GiB")]
    pub cache_size: String,
    /// Job types taken, comma-separated: judge (problems' tests), run (one run on given
    /// input), console (a live program on a terminal)
    #[arg(
        long,
        env = "JUDGE_JOB_TYPES",
        value_delimiter = ',',
        default_value = "judge,run,console"
    )]
    pub job_types: Vec<String>,
    /// Seconds to finish running jobs after SIGTERM before exiting anyway
    #[arg(long, env = "JUDGE_DRAIN_TIMEOUT_SECONDS", default_value_t = 60.0)]
    pub drain_timeout_seconds: f64,
    /// Sandboxed runs get uids from this one on, one each, 1000 in all; pick a range no
    /// account of the host uses
    #[arg(long, env = "JUDGE_SANDBOX_UID_BASE", default_value_t = crate::sandbox::uids::DEFAULT_SANDBOX_UID_BASE)]
    pub sandbox_uid_base: u32,
    /// Refuse to start unless runs are fully sandboxed (root, cgroups, namespaces), instead
    /// of judging with what the host allows
    #[arg(long, env = "JUDGE_REQUIRE_SANDBOX", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_sandbox: bool,
    /// Most MiB a job's own files (its source, what its compiler writes) may take on disk; a
    /// compile that writes past it is a compile error saying so (16 to 1048576)
    #[arg(long, env = "JUDGE_JOB_DISK_MIB", default_value_t = 1024)]
    pub job_disk_mib: u64,
    /// Languages replacing or adding to the built-in ones (TOML only: `[[language]]` tables)
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language: Vec<Language>,
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

/// A name-like value, as the scheduler checks it (see [`judge_common::ident`]).
fn check_ident(key: &str, value: &str) -> Result<(), ConfigError> {
    judge_common::ident::check(value).map_err(|e| ConfigError::value(key, e))
}

impl WorkerConfig {
    /// The name the worker connects under: the configured one or the host name.
    pub fn effective_name(&self) -> String {
        self.name.clone().unwrap_or_else(host_name)
    }

    /// Checks every value and builds what the worker starts with.
    pub fn options(&self, token: String) -> Result<WorkerOptions, ConfigError> {
        let schedulers = judge_common::failover::split_urls(&self.scheduler)
            .map_err(|e| ConfigError::value("scheduler", e.to_string()))?;
        for url in &schedulers {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::value(
                    "scheduler",
                    format!("{url:?} is not an http:// or https:// URL"),
                ));
            }
        }
        let identity = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => {
                return Err(ConfigError::value(
                    "client_cert",
                    "client_cert and client_key go together",
                ))
            }
        };
        let tls = ClientTls {
            ca_cert: self.ca_cert.clone(),
            identity,
        };
        if schedulers.iter().any(|u| u.starts_with("http://")) && tls != ClientTls::default() {
            return Err(ConfigError::value(
                "scheduler",
                "ca_cert or a client certificate is set, but the URL is http://: use https://",
            ));
        }
        let name = self.effective_name();
        check_ident("name", &name)?;
        if !(16..=1 << 20).contains(&self.job_disk_mib) {
            return Err(ConfigError::value(
                "job_disk_mib",
                format!("must be 16 to 1048576, got {}", self.job_disk_mib),
            ));
        }
        if !(1..=MAX_SLOTS).contains(&self.slots) {
            return Err(ConfigError::value(
                "slots",
                format!("must be 1 to {MAX_SLOTS}, got {}", self.slots),
            ));
        }
        let cache_size = crate::cache::parse_size(&self.cache_size)
            .map_err(|e| ConfigError::value("cache_size", e))?;
        if self.job_types.is_empty() {
            return Err(ConfigError::value(
                "job_types",
                "name at least one, e.g. judge",
            ));
        }
        for t in &self.job_types {
            t.parse::<judge_common::job_kind::JobKind>()
                .map_err(|e| ConfigError::value("job_types", e.to_string()))?;
        }
        seconds_or_zero("drain_timeout_seconds", self.drain_timeout_seconds)?;
        if self.sandbox_uid_base == 0 {
            return Err(ConfigError::value(
                "sandbox_uid_base",
                "must not be 0 (root)",
            ));
        }
        if self
            .sandbox_uid_base
            .checked_add(crate::sandbox::uids::SANDBOX_UIDS)
            .is_none()
        {
            return Err(ConfigError::value(
                "sandbox_uid_base",
                format!(
                    "{} leaves no room for {} uids",
                    self.sandbox_uid_base,
                    crate::sandbox::uids::SANDBOX_UIDS
                ),
            ));
        }
        let mut langs: BTreeMap<String, Language> = languages::defaults();
        for l in &self.language {
            check_ident("language.id", &l.id)?;
            if l.run.is_empty() || l.version.is_empty() {
                return Err(ConfigError::value(
                    "language",
                    format!("{}: `run` and `version` need at least one word each", l.id),
                ));
            }
            langs.insert(l.id.clone(), l.clone());
        }
        Ok(WorkerOptions {
            schedulers,
            tls,
            token,
            name,
            slots: self.slots,
            work_dir: self.work_dir.clone(),
            cache_dir: self.cache_dir.clone(),
            cache_size,
            job_types: self.job_types.clone(),
            languages: langs,
            sandbox_uid_base: self.sandbox_uid_base,
            require_sandbox: self.require_sandbox,
            // At most 2^20 MiB: fits.
            job_disk_bytes: self.job_disk_mib << 20,
        })
    }

    /// How long a drain may take (valid once [`Self::options`] passed).
    pub fn drain_timeout(&self) -> std::time::Duration {
        seconds_or_zero("drain_timeout_seconds", self.drain_timeout_seconds).unwrap_or_default()
    }
}
