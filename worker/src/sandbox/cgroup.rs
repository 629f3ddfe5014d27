//! cgroups for runs: a memory limit (OOM reported as MLE), a process/thread limit (fork
//! bombs), CPU time counted over every process of the run, and a kill of the whole group so no
//! detached child outlives its run.
//!
//! Both hierarchies are supported: v1 where the controllers are mounted per controller (as on
//! many hosts still), v2 where the unified hierarchy has them. Run groups are created under
//! the worker's *own* cgroup (from `/proc/self/cgroup`), so a worker in a container or a
//! delegated systemd unit stays inside what it was given.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Where this worker creates run groups.
#[derive(Debug)]
pub struct Cgroups {
    version: Version,
    /// v1: the worker's base per controller (memory, pids, cpuacct); v2: one unified base.
    memory: PathBuf,
    pids: PathBuf,
    cpu: PathBuf,
    /// Whether groups have a swap limit (v1 `memory.memsw.*`, v2 `memory.swap.max`).
    swap: bool,
    /// Empty groups of finished runs, reused: making and removing groups costs milliseconds.
    pool: std::sync::Mutex<Vec<RunGroup>>,
    /// v2 before Linux 6.12 cannot reset `memory.peak`: a reused group would report an
    /// earlier run's peak, so there groups are not reused. Learnt at the first reset.
    peak_resets: std::sync::atomic::AtomicBool,
}

/// Run groups are numbered process-wide: two `Cgroups` in one process share the base directory.
static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

/// Limits of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub processes: u32,
}

/// One run's group. Give it back with [`Cgroups::release`] when the run is over.
#[derive(Debug)]
pub struct RunGroup {
    version: Version,
    memory: PathBuf,
    pids: PathBuf,
    cpu: PathBuf,
    /// Its `cgroup.procs` files, open for writing (runs join through them).
    procs: Vec<std::os::fd::OwnedFd>,
    /// v2: `memory.peak`, kept open: a reset applies to the descriptor that wrote it, and
    /// reads through that descriptor give the peak since.
    peak: Option<std::fs::File>,
    /// The limits set now: a reused group with the same ones needs no writes.
    limits: Option<Limits>,
    /// Counters at the start of this run (a reused group keeps counting from before).
    cpu_base: Duration,
    oom_base: u64,
}

fn read(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// `key value` lines (cpu.stat, memory.events, memory.oom_control).
fn stat(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
}

/// Removes the groups of earlier workers in `parent` whose process is gone (a worker killed
/// with SIGKILL cannot clean up after itself). Groups with processes in them stay.
fn sweep_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("judge-worker-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(runs) = std::fs::read_dir(entry.path()) {
            for run in runs.flatten().filter(|r| r.path().is_dir()) {
                let _ = std::fs::remove_dir(run.path());
            }
        }
        let _ = std::fs::remove_dir(entry.path());
    }
}

impl Cgroups {
    /// Finds usable controllers, or says why there are none.
    pub fn detect() -> Result<Cgroups, String> {
        let own =
            read(Path::new("/proc/self/cgroup")).map_err(|e| format!("/proc/self/cgroup: {e}"))?;
        let base = format!("judge-worker-{}", std::process::id());
        let unified = Path::new(ROOT).join("cgroup.controllers");
        if let Ok(controllers) = read(&unified) {
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            if has("memory") && has("pids") && has("cpu") {
                let path = own
                    .lines()
                    .find_map(|l| l.strip_prefix("0::"))
                    .unwrap_or("/");
                let dir = Path::new(ROOT)
                    .join(path.trim_start_matches('/'))
                    .join(&base);
                return Self::setup_v2(dir);
            }
        }
        // v1: one line per hierarchy, "id:controller[,controller]:path".
        let find = |name: &str| -> Option<PathBuf> {
            own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                ctrls.split(',').any(|c| c == name).then(|| {
                    Path::new(ROOT)
                        .join(ctrls)
                        .join(path.trim_start_matches('/'))
                        .join(&base)
                })
            })
        };
        let (Some(memory), Some(pids), Some(cpu)) = (find("memory"), find("pids"), find("cpuacct"))
        else {
            return Err("no cgroup v2 with memory, pids and cpu controllers, and no v1 memory, pids and cpuacct hierarchies".into());
        };
        for dir in [&memory, &pids, &cpu] {
            if let Some(parent) = dir.parent() {
                sweep_stale(parent);
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(Cgroups {
            version: Version::V1,
            swap: memory.join("memory.memsw.limit_in_bytes").exists(),
            memory,
            pids,
            cpu,
            pool: Default::default(),
            peak_resets: true.into(),
        })
    }

    fn setup_v2(dir: PathBuf) -> Result<Cgroups, String> {
        if let Some(parent) = dir.parent() {
            sweep_stale(parent);
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let enable = |d: &Path| write(&d.join("cgroup.subtree_control"), "+memory +pids +cpu");
        // Controllers can be handed down only from a group without processes of its own: if
        // the worker sits in its parent, it moves itself into a leaf beside its run groups.
        if let Some(parent) = dir.parent() {
            if enable(parent).is_err() {
                let leaf = parent.join("judge-worker-self");
                std::fs::create_dir_all(&leaf).map_err(|e| e.to_string())?;
                write(&leaf.join("cgroup.procs"), "0").map_err(|e| e.to_string())?;
                enable(parent).map_err(|e| format!("cannot enable controllers: {e}"))?;
            }
        }
        enable(&dir).map_err(|e| format!("cannot enable controllers: {e}"))?;
        Ok(Cgroups {
            version: Version::V2,
            swap: dir.join("memory.swap.max").exists(),
            memory: dir.clone(),
            pids: dir.clone(),
            cpu: dir,
            pool: Default::default(),
            peak_resets: true.into(),
        })
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// A group for one run, with its limits set: a pooled one if there is one, else new.
    pub fn create(&self, limits: Limits) -> std::io::Result<RunGroup> {
        let pooled = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut group = match pooled {
            Some(g) => g,
            None => {
                let name = format!("run-{}", NEXT_RUN.fetch_add(1, Ordering::Relaxed));
                let mut group = RunGroup {
                    version: self.version,
                    memory: self.memory.join(&name),
                    pids: self.pids.join(&name),
                    cpu: self.cpu.join(&name),
                    procs: Vec::new(),
                    peak: None,
                    limits: None,
                    cpu_base: Duration::ZERO,
                    oom_base: 0,
                };
                for dir in group.dirs() {
                    std::fs::create_dir_all(dir)?;
                }
                group.procs = group
                    .dirs()
                    .into_iter()
                    .map(|d| {
                        std::fs::OpenOptions::new()
                            .write(true)
                            .open(d.join("cgroup.procs"))
                            .map(Into::into)
                    })
                    .collect::<std::io::Result<_>>()?;
                if self.version == Version::V2 {
                    group.peak = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(group.memory.join("memory.peak"))
                        .ok();
                }
                group
            }
        };
        if group.limits != Some(limits) {
            group.set_limits(self.swap, limits)?;
        }
        // Per-run peak; a reused group's counters restart here.
        match self.version {
            Version::V1 => {
                let _ = write(&group.memory.join("memory.max_usage_in_bytes"), "0");
                if self.swap {
                    let _ = write(&group.memory.join("memory.memsw.max_usage_in_bytes"), "0");
                }
            }
            // On kernels that allow it (6.12+); on older ones the peak counts from the
            // group's birth, so the group is not reused (see `release`).
            Version::V2 => {
                use std::io::Write;
                // Before 6.12 the file is read-only: it did not open for writing.
                let reset = match group.peak.as_ref() {
                    Some(mut peak) => peak.write_all(b"reset").is_ok(),
                    None => false,
                };
                if !reset {
                    self.peak_resets.store(false, Ordering::Relaxed);
                }
            }
        }
        group.cpu_base = group.raw_cpu_time();
        group.oom_base = group.raw_oom_kills();
        Ok(group)
    }

    /// Takes back a finished run's group: emptied, and kept for the next run (where its
    /// peak memory can be reset; else removed).
    pub async fn release(&self, group: RunGroup) {
        if self.peak_resets.load(Ordering::Relaxed) && group.kill_all().await {
            self.pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(group);
        } else {
            group.close().await;
        }
    }
}

impl Drop for Cgroups {
    /// The worker's groups go with it.
    fn drop(&mut self) {
        for group in self
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            for dir in group.dirs() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        for dir in [&self.memory, &self.pids, &self.cpu] {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl RunGroup {
    fn set_limits(&mut self, swap: bool, limits: Limits) -> std::io::Result<()> {
        self.limits = None;
        let mem = limits.memory_bytes.to_string();
        match self.version {
            Version::V1 => {
                // Lower memsw first when shrinking, raise it last when growing: the kernel
                // insists memsw >= memory at every step.
                let memsw = self.memory.join("memory.memsw.limit_in_bytes");
                if swap {
                    let _ = write(&memsw, &mem);
                }
                write(&self.memory.join("memory.limit_in_bytes"), &mem)?;
                if swap {
                    write(&memsw, &mem)?;
                }
            }
            Version::V2 => {
                write(&self.memory.join("memory.max"), &mem)?;
                if swap {
                    write(&self.memory.join("memory.swap.max"), "0")?;
                }
            }
        }
        write(&self.pids.join("pids.max"), &limits.processes.to_string())?;
        self.limits = Some(limits);
        Ok(())
    }

    fn dirs(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = vec![&self.memory, &self.pids, &self.cpu];
        v.sort();
        v.dedup();
        v
    }

    /// The `cgroup.procs` files, open for writing: a run writes "0" to each to join the group
    /// before it execs.
    pub fn open_procs(&self) -> std::io::Result<Vec<std::os::fd::OwnedFd>> {
        self.procs.iter().map(|fd| fd.try_clone()).collect()
    }

    /// CPU time of every process of this run.
    pub fn cpu_time(&self) -> Duration {
        self.raw_cpu_time().saturating_sub(self.cpu_base)
    }

    fn raw_cpu_time(&self) -> Duration {
        match self.version {
            Version::V1 => read(&self.cpu.join("cpuacct.usage"))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .map_or(Duration::ZERO, Duration::from_nanos),
            Version::V2 => read(&self.cpu.join("cpu.stat"))
                .ok()
                .and_then(|s| stat(&s, "usage_usec"))
                .map_or(Duration::ZERO, Duration::from_micros),
        }
    }

    /// Highest memory use of the group (v2: since this run's reset, where the kernel can).
    pub fn memory_peak(&self) -> u64 {
        let text = match (self.version, &self.peak) {
            (Version::V2, Some(peak)) => {
                use std::os::unix::fs::FileExt;
                let mut buf = [0u8; 32];
                peak.read_at(&mut buf, 0)
                    .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
            }
            (Version::V2, None) => read(&self.memory.join("memory.peak")),
            (Version::V1, _) => read(&self.memory.join("memory.max_usage_in_bytes")),
        };
        text.ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
    }

    /// Whether the kernel killed something of this run for lack of memory.
    pub fn oom_killed(&self) -> bool {
        self.raw_oom_kills() > self.oom_base
    }

    fn raw_oom_kills(&self) -> u64 {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        read(&self.memory.join(file))
            .ok()
            .and_then(|s| stat(&s, "oom_kill "))
            .unwrap_or(0)
    }

    /// Process ids still in the group.
    pub fn pids(&self) -> Vec<i32> {
        read(&self.pids.join("cgroup.procs"))
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills everything in the group, until it is empty; false if it could not be emptied.
    pub async fn kill_all(&self) -> bool {
        let kill_file = self.pids.join("cgroup.kill");
        if self.version == Version::V2 && kill_file.exists() {
            let _ = write(&kill_file, "1");
        }
        // A fork bomb can race the killer; the pids limit bounds it, so this converges.
        for _ in 0..200 {
            let pids = self.pids();
            if pids.is_empty() {
                return true;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::warn!(group = %self.pids.display(), "processes survived repeated SIGKILL");
        false
    }

    /// Kills what is left and removes the group.
    pub async fn close(self) {
        self.kill_all().await;
        for dir in self.dirs() {
            // Killed processes leave the group once reaped; give them a moment.
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
