//! The sandbox's parts, prepared once at start: an empty network namespace for the spawn
//! helper, the template of the runs' filesystem (see [`crate::sandbox::rootfs`]), the seccomp
//! filter refusing what a submission never needs, and the pools of uids and of network
//! namespaces; and per run, its directories, its uid and its network namespace.
//!
//! The spawn helper enters its network namespace and the template once ([`Isolation::enter`])
//! and clones each run into new mount, PID, IPC and UTS namespaces (see `sandbox/spawn/`);
//! the run then enters a network namespace of its own, which no
//! other run in progress shares ([`crate::sandbox::netns`]).
//! The run is PID 1 of its own: it can signal nothing outside (`kill(-1)` reaches only its
//! own children), and when it exits every process it left behind dies with it. Before exec
//! it leaves root for its own uid ([`drop_to`]) and installs the filter
//! ([`Isolation::apply_filter`]).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use seccompiler::BpfProgram;

use crate::sandbox::netns::{NetnsLease, NetnsPool};
use crate::sandbox::rootfs::{self, Bind, Template};
use crate::sandbox::uids::{UidLease, UidPool};

/// Prepared before any fork: the compiled filter, the helper's empty network namespace, the
/// template of the runs' filesystem, and the pools of uids and network namespaces.
#[derive(Debug)]
pub struct Isolation {
    filter: BpfProgram,
    netns: std::os::fd::OwnedFd,
    root: Template,
    uids: UidPool,
    run_netns: NetnsPool,
}

/// What one run holds while it runs: its uid and its network namespace.
#[derive(Debug)]
pub struct RunLease {
    pub uid: UidLease,
    pub netns: NetnsLease,
}

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct IsolationConfig {
    /// Host paths the toolchains need besides [`rootfs::BASE_VIEW`], shown read-only.
    pub read_only: Vec<PathBuf>,
    /// An empty directory of the worker's where the runs' root is put together.
    pub staging: PathBuf,
    /// Runs get uids from `uid_base` on, one each.
    pub uid_base: u32,
    pub uid_count: u32,
    /// Network namespaces made at start (as many as runs at once, typically); more are made
    /// when needed.
    pub netns_ready: usize,
}

impl IsolationConfig {
    /// The base view only, and the default uids: for tests and benchmarks.
    pub fn base(staging: PathBuf) -> IsolationConfig {
        IsolationConfig {
            read_only: Vec::new(),
            staging,
            uid_base: crate::sandbox::uids::DEFAULT_SANDBOX_UID_BASE,
            uid_count: crate::sandbox::uids::SANDBOX_UIDS,
            netns_ready: 2,
        }
    }
}

/// One run's part of the isolation, prepared by the worker: its directories as detached
/// mounts with their mount points, its uid, and its `/tmp`.
#[derive(Debug)]
pub struct RunIsolation {
    pub(crate) binds: Vec<(OwnedFd, &'static CStr)>,
    pub(crate) uid: libc::uid_t,
    pub(crate) tmp_options: CString,
    /// Its network namespace (held open by the run's [`RunLease`]).
    pub(crate) netns: std::os::fd::RawFd,
}

/// An empty network namespace: only a loopback device, down (the helper's own).
fn empty_netns() -> Result<std::os::fd::OwnedFd, String> {
    crate::sandbox::namespace::on_own_thread(libc::CLONE_NEWNET, "net", || Ok(()))
}

impl Isolation {
    /// Compiles the filter and builds the namespaces runs will enter. Needs root.
    pub fn new(config: &IsolationConfig) -> Result<Isolation, String> {
        let filter = crate::sandbox::seccomp::filter()?;
        Ok(Isolation {
            filter,
            netns: empty_netns()?,
            root: Template::build(&config.read_only, &config.staging)?,
            uids: UidPool::new(config.uid_base, config.uid_count),
            run_netns: NetnsPool::new(config.netns_ready)?,
        })
    }

    /// Network namespaces made and not in use now.
    pub fn idle_netns(&self) -> usize {
        self.run_netns.idle()
    }

    /// Prepares one run: lends it a uid and a network namespace, gives it the writable binds,
    /// and clones every bind as a detached mount. `tmp_bytes` is the size of its `/tmp`.
    /// Keep the lease until the run has ended.
    pub fn prepare(&self, binds: &[Bind], tmp_bytes: u64) -> io::Result<(RunIsolation, RunLease)> {
        if binds.len() > rootfs::MAX_BINDS {
            return Err(io::Error::other(format!(
                "{} binds, at most {}",
                binds.len(),
                rootfs::MAX_BINDS
            )));
        }
        let uid = self
            .uids
            .lease()
            .ok_or_else(|| io::Error::other("every sandbox uid is in use"))?;
        let netns = self.run_netns.lease()?;
        for b in binds.iter().filter(|b| b.writable) {
            give_tree(&b.host, uid.uid())?;
        }
        let binds = binds
            .iter()
            .map(|b| Ok((rootfs::clone_bind(&b.host, b.writable)?, b.inside)))
            .collect::<io::Result<_>>()?;
        Ok((
            RunIsolation {
                binds,
                uid: uid.uid(),
                tmp_options: rootfs::tmp_options(tmp_bytes),
                netns: netns.raw_fd(),
            },
            RunLease { uid, netns },
        ))
    }

    /// Enters the empty network namespace and the template of the runs' filesystem. The spawn
    /// helper does this once, so that every run it clones starts there.
    ///
    /// # Safety
    /// Async-signal-safe; the caller has one thread.
    pub unsafe fn enter(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            return Err(io::Error::last_os_error());
        }
        self.root.enter()
    }

    /// Installs the filter on the calling thread (and sets no_new_privs); the errno if not.
    ///
    /// # Safety
    /// Async-signal-safe: call it last before exec.
    pub unsafe fn apply_filter(&self) -> Result<(), i32> {
        seccompiler::apply_filter(&self.filter).map_err(|_| libc::EPERM)
    }
}

/// Leaves root for `uid` (group too, no supplementary groups): every capability goes, and
/// nothing run later can regain any (no_new_privs, set with the filter, also disarms set-uid
/// files). Raw syscalls: libc's wrappers would try to change every thread of the process.
///
/// # Safety
/// Async-signal-safe.
pub unsafe fn drop_to(uid: libc::uid_t) -> libc::c_long {
    let steps = [
        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()),
        libc::syscall(libc::SYS_setresgid, uid, uid, uid),
        libc::syscall(libc::SYS_setresuid, uid, uid, uid),
    ];
    steps.into_iter().find(|r| *r < 0).unwrap_or(0)
}

/// Makes `dir` and everything in it `uid`'s: a writable folder may hold what an earlier run
/// left (a multi-pass validator's feedback, kept from pass to pass), which this run, with a
/// uid of its own, must be able to change. Links are changed themselves, never followed, so
/// a link an earlier run planted cannot hand this run a file outside the folder.
fn give_tree(dir: &std::path::Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid))?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            std::os::unix::fs::lchown(&path, Some(uid), Some(uid))?;
            if std::fs::symlink_metadata(&path)?.is_dir() {
                stack.push(path);
            }
        }
    }
    Ok(())
}
