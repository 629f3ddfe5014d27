//! [`SandboxRunner`]: one run in a cgroup, isolated, started by the spawn helper; its output
//! read with caps, its limits watched, its use measured.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::unix::pipe;
use tokio::sync::watch;

use super::cgroup::{Cgroups, Limits};
use super::isolation::Isolation;
use super::rootfs::{self, Bind};
use super::spawn::{Command, SpawnError, Spawner};
use super::{LimitHit, RunError, RunFuture, RunOutcome, RunSpec, Runner};

/// The environment of every run: nothing of the worker's (its token may be there).
const ENV: &[&str] = &[
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "HOME=/tmp",
    "LANG=C.UTF-8",
];

const STDERR_CAP: usize = 64 * 1024;

/// Runs programs in a cgroup when it has them, isolated when it can, always started by a
/// spawn helper (see [`super::spawn`]).
#[derive(Debug)]
pub struct SandboxRunner {
    cgroups: Option<Arc<Cgroups>>,
    /// Namespaces, a filesystem view, a uid and seccomp (needs root).
    isolation: Option<Arc<Isolation>>,
    spawner: Spawner,
}

impl SandboxRunner {
    /// Starts the spawn helper. Best called before the async runtime starts, while the
    /// process has one thread (see [`Spawner::start`]).
    pub fn new(
        cgroups: Option<Arc<Cgroups>>,
        isolation: Option<Arc<Isolation>>,
    ) -> std::io::Result<SandboxRunner> {
        Ok(SandboxRunner {
            spawner: Spawner::start(isolation.clone())?,
            cgroups,
            isolation,
        })
    }

    /// The spawn helper's pid.
    pub fn helper_pid(&self) -> u32 {
        self.spawner.helper_pid()
    }

    /// Turns true if the spawn helper dies under the worker: no run can start any more.
    pub fn helper_lost(&self) -> watch::Receiver<bool> {
        self.spawner.lost()
    }
}

/// What a run waits for once the spawn helper is gone: nothing. No run can start or be
/// followed any more, and the worker exits (see `helper_lost`); the scheduler then gives its
/// jobs to another worker. Reporting a judge error instead would end the job for a failure of
/// this worker.
async fn helper_gone() -> Result<RunOutcome, RunError> {
    std::future::pending().await
}

/// Reads at most `cap` bytes; `true` in the result if there was more. With `drain`, reads
/// on to the end and drops the rest (standard error: writing more of it is no reason to
/// fail, and a closed pipe would kill the writer with SIGPIPE); without, stops at the cap
/// (standard output: over the cap is over the limit).
async fn read_capped(
    mut r: impl AsyncRead + Unpin,
    cap: usize,
    drain: bool,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut over = false;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok((out, over));
        }
        if out.len() + n > cap {
            let room = cap - out.len();
            out.extend_from_slice(&buf[..room]);
            over = true;
            if !drain {
                return Ok((out, true));
            }
            continue;
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
            let mut spec = spec;
            let program = spec.argv.first().ok_or(RunError::EmptyCommand)?.clone();
            let stdin: OwnedFd = match (&spec.terminal, &spec.piped, &spec.stdin) {
                (Some(t), _, _) => t.try_clone()?,
                (None, Some(p), _) => p.stdin.try_clone()?,
                (None, None, Some(p)) => std::fs::File::open(p)?.into(),
                (None, None, None) => std::fs::File::open("/dev/null")?.into(),
            };
            // Captured output comes through pipes of ours; piped output goes to the other
            // run; a terminal's goes to whoever holds its other side.
            let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from);
            let (stdout, stdout_w) = match (&spec.terminal, &spec.piped) {
                (Some(t), _) => (None, t.try_clone()?),
                (None, Some(p)) => (None, p.stdout.try_clone()?),
                (None, None) => {
                    let (r, w) = pipe()?;
                    (Some(r), w)
                }
            };
            let (stderr, stderr_w) = match &spec.terminal {
                Some(t) => (None, t.try_clone()?),
                None => {
                    let (r, w) = pipe()?;
                    (Some(r), w)
                }
            };
            let group = match &self.cgroups {
                Some(c) => Some(c.create(Limits {
                    memory_bytes: spec.memory_limit_bytes,
                    processes: spec.max_processes,
                })?),
                None => None,
            };
            // The lease (uid, network namespace) lives as long as the run.
            let prepared = (|| {
                let cgroups = group.as_ref().map(|g| g.open_procs()).transpose()?;
                let isolation = match &self.isolation {
                    Some(iso) => {
                        let mut binds = vec![Bind {
                            host: spec.dir.clone(),
                            inside: rootfs::BOX,
                            writable: spec.dir_writable,
                        }];
                        binds.extend(spec.binds.iter().cloned());
                        Some(iso.prepare(&binds, spec.file_size_limit)?)
                    }
                    None => None,
                };
                Ok::<_, std::io::Error>((cgroups.unwrap_or_default(), isolation))
            })();
            let spawned = match prepared {
                Ok((cgroups, isolation)) => {
                    let (isolation, lease) = isolation.unzip();
                    let mut env: Vec<String> = ENV.iter().map(|e| e.to_string()).collect();
                    if spec.dir_writable {
                        // A tool that may write its directory (a compiler) keeps its scratch
                        // files there too, so they count against the job's files and their
                        // bound, not against a /tmp of their own.
                        let seen = if isolation.is_some() {
                            rootfs::BOX.to_string_lossy().into_owned()
                        } else {
                            spec.dir.display().to_string()
                        };
                        env.push(format!("TMPDIR={seen}"));
                    }
                    if spec.terminal.is_some() {
                        env.push("TERM=xterm".into());
                    }
                    let cmd = Command {
                        argv: spec.argv.clone(),
                        env,
                        dir: spec.dir.clone(),
                        stdin,
                        stdout: stdout_w,
                        stderr: stderr_w,
                        cgroups,
                        isolation,
                        file_size: spec.file_size_limit,
                        terminal: spec.terminal.is_some(),
                    };
                    self.spawner.spawn(cmd).await.map(|child| (child, lease))
                }
                Err(e) => Err(e.into()),
            };
            // The run has its own copies now (or never will): ours must not keep a pipe (or
            // the terminal) open.
            spec.piped = None;
            spec.terminal = None;
            let (mut child, _lease) = match spawned {
                Ok(c) => c,
                Err(SpawnError::HelperGone) => return helper_gone().await,
                Err(source) => {
                    if let (Some(g), Some(c)) = (group, &self.cgroups) {
                        c.release(g).await;
                    }
                    return Err(RunError::Spawn { program, source });
                }
            };
            let started = Instant::now();

            let out_cap = usize::try_from(spec.output_limit_bytes).unwrap_or(usize::MAX);
            let mut out_task = match stdout {
                Some(fd) => {
                    let stdout = pipe::Receiver::from_owned_fd(fd)?;
                    tokio::spawn(read_capped(stdout, out_cap, false))
                }
                None => tokio::spawn(async { Ok((Vec::new(), false)) }),
            };
            let err_task = match stderr {
                Some(fd) => {
                    let stderr = pipe::Receiver::from_owned_fd(fd)?;
                    tokio::spawn(read_capped(stderr, STDERR_CAP, true))
                }
                None => tokio::spawn(async { Ok((Vec::new(), false)) }),
            };
            let mut outcome = RunOutcome::default();
            let mut out_result = None;
            let deadline = tokio::time::sleep(spec.wall_limit);
            tokio::pin!(deadline);
            let mut cpu_check = tokio::time::interval(Duration::from_millis(20));
            let exit = loop {
                tokio::select! {
                    exit = child.wait() => match exit {
                        Ok(exit) => {
                            outcome.ended_at = Some(exit.reported_at);
                            break exit;
                        }
                        Err(_) => return helper_gone().await,
                    },
                    _ = cpu_check.tick(), if group.is_some() && outcome.limit.is_none() => {
                        if group.as_ref().is_some_and(|g| g.cpu_time() > spec.time_limit) {
                            outcome.limit = Some(LimitHit::Time);
                            child.kill();
                        }
                    }
                    r = &mut out_task, if out_result.is_none() => {
                        let (data, over) = r.map_err(std::io::Error::other)??;
                        if over {
                            outcome.limit = Some(LimitHit::Output);
                            child.kill();
                        }
                        out_result = Some(data);
                    }
                    _ = &mut deadline => {
                        outcome.limit = Some(LimitHit::Time);
                        child.kill();
                    }
                    _ = cancel.changed() => {
                        outcome.cancelled = true;
                        child.kill();
                    }
                }
            };
            // Whatever the program left behind goes too: the helper killed its namespace or
            // process group; its cgroup catches any that left the process group.
            let wall = started.elapsed();
            let measured = match (group, &self.cgroups) {
                (Some(g), Some(cgroups)) => {
                    // Emptied before measuring, so that the figures are final.
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
                    Ok(r) => {
                        let (data, over) = r.map_err(std::io::Error::other)??;
                        // The reader stopped at the limit and closed the pipe, and the
                        // program died of that (EPIPE, SIGPIPE) before the loop above saw the
                        // reader's answer: the output limit is still what ended it.
                        if over && outcome.limit.is_none() && !outcome.cancelled {
                            outcome.limit = Some(LimitHit::Output);
                        }
                        data
                    }
                    Err(_) => Vec::new(),
                },
            };
            (outcome.stderr, outcome.stderr_truncated) =
                match tokio::time::timeout(grace, err_task).await {
                    Ok(r) => r.map_err(std::io::Error::other)??,
                    Err(_) => (Vec::new(), false),
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
                // Without cgroups, the CPU time of the run and the processes it waited for.
                None => {
                    outcome.memory_kb = exit.max_rss_kb;
                    exit.cpu
                }
            };
            outcome.cpu_ms = cpu.as_millis() as u32;
            if outcome.limit.is_none() && cpu > spec.time_limit {
                outcome.limit = Some(LimitHit::Time);
            }
            use std::os::unix::process::ExitStatusExt;
            outcome.exit_code = exit.status.code();
            outcome.signal = exit.status.signal();
            Ok(outcome)
        })
    }
}
