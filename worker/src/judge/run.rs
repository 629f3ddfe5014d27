//! Running one process with limits.
//!
//! [`SandboxRunner`] runs the program in a cgroup when the worker has cgroups (memory limit
//! (MLE), process limit, CPU time over all the run's processes, the whole group killed at the
//! end) and isolated when the worker is root (namespaces, its own filesystem view, its own
//! uid, seccomp: see [`crate::isolation`]). Without cgroups, wall time stands in for CPU time
//! and memory is not measured; without isolation, the run sees the worker's files, and the
//! judging code passes it host paths instead of the sandbox's (see [`Runner::sandboxed`]).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use crate::cgroup::{Cgroups, Limits};
use crate::isolation::{Backstops, Isolation};
use crate::rootfs::{self, Bind};

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
}

/// Which limit stopped the run, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Time,
    Memory,
    Output,
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
    /// The first 64 KiB of standard error.
    pub stderr: Vec<u8>,
    pub limit: Option<LimitHit>,
    pub cancelled: bool,
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
    Spawn {
        program: String,
        source: std::io::Error,
    },
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

/// The environment of every run: nothing of the worker's (its token may be there).
const ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("HOME", "/tmp"),
    ("LANG", "C.UTF-8"),
];

const STDERR_CAP: usize = 64 * 1024;

/// Runs programs in a cgroup when it has them, isolated when it can.
#[derive(Debug, Default)]
pub struct SandboxRunner {
    pub cgroups: Option<std::sync::Arc<Cgroups>>,
    /// Namespaces, rlimits and seccomp (needs root).
    pub isolation: Option<std::sync::Arc<Isolation>>,
}

/// Reads at most `cap` bytes; `true` in the result if there was more.
async fn read_capped(
    mut r: impl AsyncRead + Unpin,
    cap: usize,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((out, false));
        }
        if out.len() + n > cap {
            let room = cap - out.len();
            out.extend_from_slice(&buf[..room]);
            return Ok((out, true));
        }
        out.extend_from_slice(&buf[..n]);
    }
}

impl Runner for SandboxRunner {
    fn sandboxed(&self) -> bool {
        self.isolation.is_some()
    }

    fn run(&self, spec: RunSpec, mut cancel: watch::Receiver<bool>) -> RunFuture<'_> {
        Box::pin(async move {
            let (prog, args) = spec.argv.split_first().ok_or(RunError::EmptyCommand)?;
            let stdin = match &spec.stdin {
                Some(p) => Stdio::from(std::fs::File::open(p)?),
                None => Stdio::null(),
            };
            let group = match &self.cgroups {
                Some(c) => Some(c.create(Limits {
                    memory_bytes: spec.memory_limit_bytes,
                    processes: spec.max_processes,
                })?),
                None => None,
            };
            let mut cmd = tokio::process::Command::new(prog);
            cmd.args(args)
                .env_clear()
                .envs(ENV.iter().copied())
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            let procs = group.as_ref().map(|g| g.procs_files()).unwrap_or_default();
            let backstops = Backstops {
                file_size: spec.file_size_limit,
            };
            // The uid lease lives as long as the run.
            let (isolation, _uid) = match &self.isolation {
                Some(iso) => {
                    let mut binds = vec![Bind {
                        host: spec.dir.clone(),
                        inside: rootfs::BOX,
                        writable: spec.dir_writable,
                    }];
                    binds.extend(spec.binds.iter().cloned());
                    let (run, lease) = iso.prepare(&binds, backstops)?;
                    (Some((iso.clone(), run)), Some(lease))
                }
                None => {
                    cmd.current_dir(&spec.dir);
                    (None, None)
                }
            };
            let isolated = isolation.is_some();
            if !procs.is_empty() || isolated {
                // SAFETY: between fork and exec only async-signal-safe calls happen here:
                // open, write and close on paths allocated before the fork, then the
                // isolation's raw syscalls on data prepared before it (`Isolation::enter`).
                unsafe {
                    cmd.pre_exec(move || {
                        for path in &procs {
                            let fd = nix::fcntl::open(
                                path.as_c_str(),
                                nix::fcntl::OFlag::O_WRONLY,
                                nix::sys::stat::Mode::empty(),
                            )
                            .map_err(std::io::Error::from)?;
                            nix::unistd::write(&fd, b"0").map_err(std::io::Error::from)?;
                        }
                        if let Some((iso, run)) = &isolation {
                            iso.enter(run)?;
                        }
                        Ok(())
                    });
                }
            }
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(source) => {
                    if let (Some(g), Some(c)) = (group, &self.cgroups) {
                        c.release(g).await;
                    }
                    return Err(RunError::Spawn {
                        program: prog.clone(),
                        source,
                    });
                }
            };
            let pid = child.id().map(|id| Pid::from_raw(id as i32));
            let kill = || match pid {
                Some(relay) if isolated => crate::isolation::kill(relay),
                Some(leader) => {
                    let _ = killpg(leader, Signal::SIGKILL);
                }
                None => {}
            };
            let started = Instant::now();
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
            let stderr = child
                .stderr
                .take()
                .ok_or_else(|| std::io::Error::other("no stderr pipe"))?;
            let out_cap = usize::try_from(spec.output_limit_bytes).unwrap_or(usize::MAX);
            let mut out_task = tokio::spawn(read_capped(stdout, out_cap));
            let err_task = tokio::spawn(read_capped(stderr, STDERR_CAP));
            let mut outcome = RunOutcome::default();
            let mut out_result = None;
            let deadline = tokio::time::sleep(spec.wall_limit);
            tokio::pin!(deadline);
            let mut cpu_check = tokio::time::interval(Duration::from_millis(20));
            let status = loop {
                tokio::select! {
                    status = child.wait() => break status?,
                    _ = cpu_check.tick(), if group.is_some() && outcome.limit.is_none() => {
                        if group.as_ref().is_some_and(|g| g.cpu_time() > spec.time_limit) {
                            outcome.limit = Some(LimitHit::Time);
                            kill();
                        }
                    }
                    r = &mut out_task, if out_result.is_none() => {
                        let (data, over) = r.map_err(std::io::Error::other)??;
                        if over {
                            outcome.limit = Some(LimitHit::Output);
                            kill();
                        }
                        out_result = Some(data);
                    }
                    _ = &mut deadline => {
                        outcome.limit = Some(LimitHit::Time);
                        kill();
                    }
                    _ = cancel.changed() => {
                        outcome.cancelled = true;
                        kill();
                    }
                }
            };
            // Whatever the program left behind in its process group, and in its cgroup even if
            // it left the process group, goes too.
            kill();
            let wall = started.elapsed();
            let measured = match (group, &self.cgroups) {
                (Some(g), Some(cgroups)) => {
                    g.kill_all().await;
                    let m = (g.cpu_time(), g.memory_peak(), g.oom_killed());
                    cgroups.release(g).await;
                    Some(m)
                }
                _ => None,
            };
            // A grandchild that left the group could hold the pipes open; don't wait on it.
            let grace = Duration::from_secs(2);
            outcome.stdout = match out_result {
                Some(d) => d,
                None => match tokio::time::timeout(grace, out_task).await {
                    Ok(r) => r.map_err(std::io::Error::other)??.0,
                    Err(_) => Vec::new(),
                },
            };
            outcome.stderr = match tokio::time::timeout(grace, err_task).await {
                Ok(r) => r.map_err(std::io::Error::other)??.0,
                Err(_) => Vec::new(),
            };
            outcome.wall_ms = wall.as_millis() as u32;
            let cpu = match measured {
                Some((cpu, peak, oom)) => {
                    outcome.memory_kb = peak / 1024;
                    if oom && outcome.limit.is_none() {
                        outcome.limit = Some(LimitHit::Memory);
                    }
                    cpu
                }
                None => wall,
            };
            outcome.cpu_ms = cpu.as_millis() as u32;
            if outcome.limit.is_none() && cpu > spec.time_limit {
                outcome.limit = Some(LimitHit::Time);
            }
            use std::os::unix::process::ExitStatusExt;
            outcome.exit_code = status.code();
            outcome.signal = status.signal();
            Ok(outcome)
        })
    }
}
