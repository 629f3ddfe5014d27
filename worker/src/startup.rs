//! Starting a worker: probe the toolchains, ready the work dir, set up the sandbox as far as
//! the host allows (saying plainly what it lacks), then open the cache and dial the scheduler.
//!
//! [`prepare`] is synchronous and runs before the async runtime exists, because it forks the
//! spawn helper (see [`crate::sandbox::spawn`]), which is only safe while the process has one
//! thread; [`start_prepared`] runs on the runtime.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use judge_common::auth::Bearer;
use judge_common::pb;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use tokio::sync::watch;

use crate::cache::FileCache;
use crate::connection::{Connection, Identity};
use crate::executor::Executor;
use crate::judge::languages::Language;
use crate::judge::{self, Judge};
use crate::resources;
use crate::sandbox::{cgroup, isolation, SandboxRunner};

/// What a worker needs to start.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The scheduler's URL, or those of several sharing one database (one leads).
    pub schedulers: Vec<String>,
    /// TLS towards an `https://` scheduler.
    pub tls: judge_common::channel::ClientTls,
    pub token: String,
    pub name: String,
    pub slots: u32,
    pub work_dir: PathBuf,
    /// Where test data is cached [default: <work-dir>/cache].
    pub cache_dir: Option<PathBuf>,
    pub cache_size: u64,
    pub job_types: Vec<String>,
    pub languages: BTreeMap<String, Language>,
    /// Runs get uids from here on, one each (never shared by two runs at once).
    pub sandbox_uid_base: u32,
    /// Refuse to start without the whole sandbox (cgroups and isolation).
    pub require_sandbox: bool,
    /// Most bytes a job's own files may take on disk.
    pub job_disk_bytes: u64,
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Channel(#[from] judge_common::channel::ChannelError),
    #[error(transparent)]
    Token(#[from] judge_common::auth::BadToken),
    #[error("work dir {0}: {1}")]
    WorkDir(String, std::io::Error),
    #[error("none of the configured languages has a working toolchain here")]
    NoLanguages,
    #[error("cannot start the spawn helper: {0}")]
    Spawner(std::io::Error),
    #[error("the sandbox is required (require_sandbox) but incomplete: {0}")]
    NoSandbox(String),
}

/// A started worker: wait on `task`; flip `drain` to stop gracefully.
pub struct RunningWorker {
    pub drain: watch::Sender<bool>,
    /// Turns true if the spawn helper dies (killed from outside): the worker can judge no
    /// more and should exit, so that its supervisor restarts it.
    pub helper_lost: watch::Receiver<bool>,
    pub task: tokio::task::JoinHandle<()>,
    pub executor: Executor,
    pub languages: Vec<pb::LanguageInfo>,
}

/// What a worker makes before its async runtime starts: the languages it offers, its work
/// dir, and the runner, whose spawn helper is best forked while the process has one thread.
pub struct Prepared {
    languages: Vec<pb::LanguageInfo>,
    offered: BTreeMap<String, Language>,
    work_dir: PathBuf,
    runner: Arc<SandboxRunner>,
}

/// Probes the toolchains, readies the work dir, and sets up the sandbox as far as this host
/// allows (saying plainly what it lacks).
pub fn prepare(opts: &WorkerOptions) -> Result<Prepared, StartError> {
    let mut languages = Vec::new();
    let mut located = opts.languages.clone();
    located.values_mut().for_each(Language::locate);
    for lang in located.values() {
        match lang.probe_version() {
            Some(version) => languages.push(pb::LanguageInfo {
                id: lang.id.clone(),
                version,
            }),
            None => tracing::warn!(language = %lang.id, "toolchain not found; not offering it"),
        }
    }
    if languages.is_empty() {
        return Err(StartError::NoLanguages);
    }
    let offered: BTreeMap<String, Language> = located
        .into_iter()
        .filter(|(id, _)| languages.iter().any(|l| &l.id == id))
        .collect();

    let shown = opts.work_dir.display().to_string();
    let wd = |e| StartError::WorkDir(shown.clone(), e);
    std::fs::create_dir_all(&opts.work_dir).map_err(wd)?;
    // Nobody else on the host reads the test data or submissions. Inside the work dir, files
    // are readable by all (umask 022), so a sandboxed validator, with a uid of its own, can
    // read the input and answer shown to it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&opts.work_dir, std::fs::Permissions::from_mode(0o700)).map_err(wd)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // Absolute, because validators and runs get paths while working in other directories.
    let work_dir = std::path::absolute(&opts.work_dir).map_err(wd)?;
    let mut missing = Vec::new();
    let cgroups = match cgroup::Cgroups::detect() {
        Ok(c) => {
            tracing::info!(version = ?c.version(), "cgroups: memory, process and CPU-time limits enforced");
            Some(Arc::new(c))
        }
        Err(why) => {
            tracing::warn!(%why, "NO CGROUPS: memory and process limits are not enforced and CPU time is wall time (run as root or with a delegated cgroup)");
            missing.push(format!("no cgroups ({why})"));
            None
        }
    };
    let isolation = if !nix::unistd::geteuid().is_root() {
        tracing::warn!("NO ISOLATION: not root, so runs see the worker's files and get no namespaces, uid or seccomp filter; only judge code you trust");
        missing.push("not root, so no isolation".into());
        None
    } else {
        let config = isolation::IsolationConfig {
            read_only: offered
                .values()
                .flat_map(|l| l.read_only.iter().map(PathBuf::from))
                .collect(),
            staging: work_dir.join("rootfs"),
            uid_base: opts.sandbox_uid_base,
            uid_count: crate::sandbox::uids::SANDBOX_UIDS,
            // A submission and its validator (or interactor) may run at once in each slot.
            netns_ready: opts.slots as usize * 2,
        };
        match isolation::Isolation::new(&config) {
            Ok(i) => Some(Arc::new(i)),
            Err(why) => {
                tracing::warn!(%why, "NO ISOLATION: runs see the worker's files and get no namespaces, uid or seccomp filter; only judge code you trust");
                missing.push(format!("no isolation ({why})"));
                None
            }
        }
    };
    if opts.require_sandbox && !missing.is_empty() {
        return Err(StartError::NoSandbox(missing.join("; ")));
    }
    let runner = SandboxRunner::new(cgroups, isolation).map_err(StartError::Spawner)?;
    Ok(Prepared {
        languages,
        offered,
        work_dir,
        runner: Arc::new(runner),
    })
}

/// Prepares (see [`prepare`]) and starts the worker.
pub async fn start(opts: WorkerOptions) -> Result<RunningWorker, StartError> {
    let prepared = prepare(&opts)?;
    start_prepared(opts, prepared).await
}

/// Opens the cache, dials the scheduler and starts taking jobs.
pub async fn start_prepared(
    opts: WorkerOptions,
    prepared: Prepared,
) -> Result<RunningWorker, StartError> {
    let Prepared {
        languages,
        offered,
        work_dir,
        runner,
    } = prepared;
    let channel = judge_common::failover::Failover::new(&opts.schedulers, &opts.tls)?;
    let client = WorkerServiceClient::with_interceptor(channel, Bearer::new(&opts.token)?)
        .max_decoding_message_size(64 << 20);
    let cache_dir = opts
        .cache_dir
        .clone()
        .unwrap_or_else(|| opts.work_dir.join("cache"));
    let cache = FileCache::open(cache_dir.clone(), opts.cache_size, client.clone())
        .await
        .map_err(|e| StartError::WorkDir(cache_dir.display().to_string(), e))?;
    let helper_lost = runner.helper_lost();
    let attacher = crate::attach::Attacher::new(client.clone());
    let judge = Judge {
        runner,
        languages: offered,
        cache: cache.clone(),
        work_dir: work_dir.clone(),
        validators: judge::validator::Validators::new(work_dir.join("validators")),
        attacher: Some(attacher.clone()),
        job_disk_bytes: opts.job_disk_bytes,
    };
    let executor = Executor::new(Arc::new(judge));
    let (drain, _) = watch::channel(false);
    let connection = Connection {
        client,
        attacher,
        identity: Identity {
            name: opts.name,
            slots: opts.slots,
            job_types: opts.job_types,
            languages: languages.clone(),
        },
        executor: executor.clone(),
        cache,
        sampler: resources::Sampler::new(work_dir),
        drain: drain.clone(),
    };
    let task = tokio::spawn(connection.run());
    Ok(RunningWorker {
        drain,
        helper_lost,
        task,
        executor,
        languages,
    })
}
