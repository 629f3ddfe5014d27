//! Everything that isolates a run, and the [`Runner`] trait the judge runs programs through.
//!
//! The layers, outermost first (see `docs/ARCHITECTURE.md`):
//! - [`cgroup`]: memory and process limits, CPU time over every process of the run, and
//!   killing the whole group (cgroup v1 or v2, detected);
//! - [`isolation`]: what every run gets when the worker is root: a network namespace of its
//!   own ([`netns`]), a filesystem view ([`rootfs`]), a uid of its own ([`uids`]) and a
//!   seccomp filter ([`seccomp`]);
//! - [`spawn`]: the single-threaded helper, forked before the async runtime, that clones each
//!   run into new mount, PID, IPC and UTS namespaces and is the only parent of runs;
//! - [`runner`]: [`SandboxRunner`], which ties them together for one run: pipes, limits,
//!   output caps, measurement.
//!
//! [`SandboxRunner`] runs the program in a cgroup when the worker has cgroups (memory limit
//! (MLE), process limit, CPU time over all the run's processes, the whole group killed at the
//! end) and isolated when the worker is root (namespaces, its own filesystem view, its own
//! uid, seccomp: see [`isolation`]). Without cgroups, CPU time and peak memory are what
//! `wait4` reports for the program and the processes it waited for; without isolation, the
//! run sees the worker's files, and the judging code passes it host paths instead of the
//! sandbox's (see [`Runner::sandboxed`]).

pub mod cgroup;
pub mod isolation;
pub mod namespace;
pub mod netns;
pub mod rootfs;
pub mod runner;
pub mod seccomp;
pub mod spawn;
pub mod uids;

pub use crate::core::verdict::LimitHit;
pub use runner::SandboxRunner;

use std::future::Future;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use rootfs::Bind;
use spawn::SpawnError;

/// What to run and within which limits.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub argv: Vec<String>,
    /// The run's directory: its working directory, shown at `/box` in the sandbox.
    pub dir: PathBuf,
    /// Compilers write into their directory; submissions and validators may not.
    pub dir_writable: bool,
    /// Files and directories besides `dir` (a validator's input, answer and feedback dir).
    pub binds: Vec<Bind>,
    /// File fed to standard input; none means empty input.
    pub stdin: Option<PathBuf>,
    pub time_limit: Duration,
    pub wall_limit: Duration,
    pub memory_limit_bytes: u64,
    pub output_limit_bytes: u64,
    /// Processes and threads the run may have at once.
    pub max_processes: u32,
    /// Largest file the run may write (RLIMIT_FSIZE), and the size of its `/tmp`.
    pub file_size_limit: u64,
    /// Standard input and output joined to pipes instead (an interactive problem's submission
    /// and interactor); `stdin` is then ignored and the output is not captured.
    pub piped: Option<Piped>,
    /// A terminal's other side as standard input, output and error, and the run's
    /// controlling terminal (a console); `stdin` and `piped` are then ignored and nothing is
    /// captured. The runner drops its copy once the run has started.
    pub terminal: Option<Arc<OwnedFd>>,
}

/// The ends of two pipes a run gets as its standard input and output. The runner hands the
/// run its own copies and drops these once the run has started, so that the caller's last
/// copies go when its specs do: each side then sees end-of-file when the other ends.
#[derive(Debug, Clone)]
pub struct Piped {
    pub stdin: Arc<OwnedFd>,
    pub stdout: Arc<OwnedFd>,
}

/// How a run ended.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_ms: u32,
    pub wall_ms: u32,
    pub memory_kb: u64,
    pub stdout: Vec<u8>,
    /// The first 64 KiB of standard error (the rest is read and dropped).
    pub stderr: Vec<u8>,
    /// Standard error went past 64 KiB.
    pub stderr_truncated: bool,
    pub limit: Option<LimitHit>,
    pub cancelled: bool,
    /// When the runner saw the run end (which of two runs ended first).
    pub ended_at: Option<Instant>,
}

impl RunOutcome {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && self.limit.is_none() && !self.cancelled
    }
}

/// The run could not be carried out: the judge's fault, never the submission's.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: SpawnError },
    #[error("empty command")]
    EmptyCommand,
    #[error("i/o error while running: {0}")]
    Io(#[from] std::io::Error),
}

pub type RunFuture<'a> = Pin<Box<dyn Future<Output = Result<RunOutcome, RunError>> + Send + 'a>>;

/// Runs processes. `cancel` turning true stops the run at once.
pub trait Runner: Send + Sync {
    fn run(&self, spec: RunSpec, cancel: watch::Receiver<bool>) -> RunFuture<'_>;
    /// Whether runs see the sandbox's paths (`/box`, `/judge/input`...) rather than the host's.
    fn sandboxed(&self) -> bool;
}

/// The path a run sees for `bind`: where the sandbox shows it, or the host path without one.
pub fn path_in_run(runner: &dyn Runner, bind: &Bind) -> String {
    if runner.sandboxed() {
        bind.inside.to_string_lossy().into_owned()
    } else {
        bind.host.display().to_string()
    }
}
