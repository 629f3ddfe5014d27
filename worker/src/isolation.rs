//! What a run's process does to itself between fork and exec: an empty network namespace,
//! its own view of the filesystem (see [`crate::rootfs`]), new PID, IPC and UTS namespaces,
//! rlimits as backstops, a uid of its own without any capability, and a seccomp filter
//! refusing what a submission never needs.
//!
//! The PID namespace takes a second fork: the process that called `unshare` stays outside, and
//! its child is PID 1 of the new namespace. That child goes on to exec the program; the one
//! outside only waits for it and exits the same way, so the runner sees the program's status.
//! Inside, the program can signal nothing outside its namespace (`kill(-1)` reaches only its
//! own children), and when it exits every process it left behind dies with it.
//!
//! Everything between fork and exec must be async-signal-safe: no allocation, no locks. The
//! filter, the paths and the mount options are prepared before the fork, and only raw
//! syscalls run after it.

use std::io;

use std::path::PathBuf;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use crate::rootfs::{self, Bind, Prepared, Template};
use crate::uids::{UidLease, UidPool};

/// Syscalls a submission, compiler or validator never needs; they fail with EPERM.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_kexec_load,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_acct,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_iopl,
    libc::SYS_ioperm,
];

/// Prepared before any fork: the compiled filter, one empty network namespace that every
/// run enters (creating a network namespace per run costs milliseconds; entering one does not,
/// and an empty one isolates just as well: only a loopback device, down), the template of the
/// runs' filesystem, and the pool of uids.
#[derive(Debug)]
pub struct Isolation {
    filter: BpfProgram,
    netns: std::os::fd::OwnedFd,
    root: Template,
    uids: UidPool,
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
}

impl IsolationConfig {
    /// The base view only, and the default uids: for tests and benchmarks.
    pub fn base(staging: PathBuf) -> IsolationConfig {
        IsolationConfig {
            read_only: Vec::new(),
            staging,
            uid_base: crate::DEFAULT_SANDBOX_UID_BASE,
            uid_count: crate::SANDBOX_UIDS,
        }
    }
}

/// One run's part of the isolation, prepared before the fork.
#[derive(Debug)]
pub struct RunIsolation {
    view: Prepared,
    uid: libc::uid_t,
    limits: Backstops,
}

/// An empty network namespace: only a loopback device, down.
fn empty_netns() -> Result<std::os::fd::OwnedFd, String> {
    crate::namespace::on_own_thread(libc::CLONE_NEWNET, "net", || Ok(()))
}

/// Per-run backstops, applied with `setrlimit`.
#[derive(Debug, Clone, Copy)]
pub struct Backstops {
    /// Largest file the run may write.
    pub file_size: u64,
}

impl Isolation {
    /// Compiles the filter and builds the namespaces runs will enter. Needs root.
    pub fn new(config: &IsolationConfig) -> Result<Isolation, String> {
        let arch =
            TargetArch::try_from(std::env::consts::ARCH).map_err(|e| format!("seccomp: {e:?}"))?;
        // `c_long` is `i64` only on 64-bit targets; the conversion is needed elsewhere.
        #[allow(clippy::useless_conversion)]
        let rules = DENIED
            .iter()
            .map(|nr| (i64::from(*nr), Vec::new()))
            .collect();
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(|e| format!("seccomp: {e}"))?;
        let filter: BpfProgram = filter.try_into().map_err(|e| format!("seccomp: {e:?}"))?;
        Ok(Isolation {
            filter,
            netns: empty_netns()?,
            root: Template::build(&config.read_only, &config.staging)?,
            uids: UidPool::new(config.uid_base, config.uid_count),
        })
    }

    /// Prepares one run: lends it a uid, gives it the writable binds, and readies the paths.
    /// Keep the lease until the run has ended.
    pub fn prepare(
        &self,
        binds: &[Bind],
        limits: Backstops,
    ) -> io::Result<(RunIsolation, UidLease)> {
        let lease = self
            .uids
            .lease()
            .ok_or_else(|| io::Error::other("every sandbox uid is in use"))?;
        for b in binds.iter().filter(|b| b.writable) {
            std::os::unix::fs::chown(&b.host, Some(lease.uid()), Some(lease.uid()))?;
        }
        let view = Prepared::new(binds, limits.file_size)?;
        Ok((
            RunIsolation {
                view,
                uid: lease.uid(),
                limits,
            },
            lease,
        ))
    }

    /// Enters the isolation. Call only in a freshly forked child, right before exec: it forks
    /// again, and returns only in the process that will exec (PID 1 of the new namespace).
    ///
    /// # Safety
    /// Must run between fork and exec of a (possibly multi-threaded) parent: it uses only
    /// async-signal-safe calls.
    pub unsafe fn enter(&self, run: &RunIsolation) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fail = || Err(io::Error::last_os_error());
        if libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            return fail();
        }
        let cloned = self.root.clone_binds(&run.view)?;
        self.root.enter()?;
        let flags =
            libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if libc::unshare(flags) != 0 {
            return fail();
        }
        self.root.attach(&run.view, &cloned)?;
        match libc::fork() {
            -1 => return fail(),
            0 => {} // PID 1 of the new namespace: goes on to exec.
            child => relay(child),
        }
        rootfs::mount_proc()?;
        let limits = run.limits;
        let set = |res, value: u64| {
            let lim = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            libc::setrlimit(res, &lim)
        };
        set(libc::RLIMIT_CORE, 0);
        set(libc::RLIMIT_FSIZE, limits.file_size);
        let stack = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        libc::setrlimit(libc::RLIMIT_STACK, &stack);
        libc::umask(0o022);
        // A uid of its own: leaving root drops every capability, and nothing it runs can
        // regain any (no_new_privs, set by the filter below, also disarms set-uid files).
        let uid = run.uid;
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setresgid(uid, uid, uid) != 0
            || libc::setresuid(uid, uid, uid) != 0
        {
            return fail();
        }
        // If the relay outside dies (the worker killed it), die too. Set after the uid
        // change, which clears it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        seccompiler::apply_filter(&self.filter)
            .map_err(|_| io::Error::from_raw_os_error(libc::EPERM))?;
        Ok(())
    }
}

/// Kills a run started through [`Isolation::enter`], given its relay (the process the
/// spawner sees). Only PID 1 is killed, which ends everything in its namespace: the relay
/// must outlive it so that it, not the host's init, reaps it, for a zombie nobody reaps
/// keeps its place in the process limit of a cgroup that is reused. The relay then exits by
/// itself.
pub fn kill(relay: nix::unistd::Pid) {
    let children = format!("/proc/{relay}/task/{relay}/children");
    let text = std::fs::read_to_string(children).unwrap_or_default();
    for pid in text.split_whitespace().filter_map(|p| p.parse().ok()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The process outside the namespace: waits for PID 1 and ends the same way.
unsafe fn relay(child: libc::pid_t) -> ! {
    // It never execs, so it must let go of every descriptor it inherited: above all the
    // spawner's exec-status pipe, which would otherwise keep `spawn()` waiting for the whole
    // run, and the program's output pipes.
    libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    let mut status = 0;
    while libc::waitpid(child, &mut status, 0) == -1 {
        if *libc::__errno_location() != libc::EINTR {
            libc::_exit(127);
        }
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
    libc::_exit(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        127
    })
}
