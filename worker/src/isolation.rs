//! What a run's process does to itself between fork and exec: new PID, IPC and UTS
//! namespaces, an empty network namespace, rlimits as backstops, and a seccomp filter refusing
//! what a submission never needs.
//!
//! The PID namespace takes a second fork: the process that called `unshare` stays outside, and
//! its child is PID 1 of the new namespace. That child goes on to exec the program; the one
//! outside only waits for it and exits the same way, so the runner sees the program's status.
//! Inside, the program can signal nothing outside its namespace (`kill(-1)` reaches only its
//! own children), and when it exits every process it left behind dies with it.
//!
//! Not yet here (the rest of the sandbox): a private filesystem view (mount namespace), a
//! per-slot uid without capabilities. Until then a run can read what root can read.
//!
//! Everything between fork and exec must be async-signal-safe: no allocation, no locks. The
//! filter is compiled before the fork, and only raw syscalls run after it.

use std::io;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

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

/// Prepared before any fork: the compiled filter, and one empty network namespace that every
/// run enters (creating a network namespace per run costs milliseconds; entering one does not,
/// and an empty one isolates just as well: only a loopback device, down).
#[derive(Debug)]
pub struct Isolation {
    filter: BpfProgram,
    netns: std::os::fd::OwnedFd,
}

/// Makes an empty network namespace and returns a handle to it. `unshare` on a thread of its
/// own changes only that thread, which then ends.
fn empty_netns() -> Result<std::os::fd::OwnedFd, String> {
    std::thread::spawn(|| {
        // SAFETY: plain syscall on this short-lived thread only.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNET): {}",
                io::Error::last_os_error()
            ));
        }
        std::fs::File::open("/proc/thread-self/ns/net")
            .map(std::os::fd::OwnedFd::from)
            .map_err(|e| format!("/proc/thread-self/ns/net: {e}"))
    })
    .join()
    .map_err(|_| "netns thread panicked".to_string())?
}

/// Per-run backstops, applied with `setrlimit`.
#[derive(Debug, Clone, Copy)]
pub struct Backstops {
    /// Largest file the run may write.
    pub file_size: u64,
}

impl Isolation {
    pub fn new() -> Result<Isolation, String> {
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
        })
    }

    /// Enters the isolation. Call only in a freshly forked child, right before exec: it forks
    /// again, and returns only in the process that will exec (PID 1 of the new namespace).
    ///
    /// # Safety
    /// Must run between fork and exec of a (possibly multi-threaded) parent: it uses only
    /// async-signal-safe calls.
    pub unsafe fn enter(&self, limits: Backstops) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if libc::setns(self.netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        if libc::unshare(flags) != 0 {
            return Err(io::Error::last_os_error());
        }
        match libc::fork() {
            -1 => return Err(io::Error::last_os_error()),
            0 => {} // PID 1 of the new namespace: goes on to exec.
            child => relay(child),
        }
        // If the relay outside dies (the worker killed it), die too.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
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
        seccompiler::apply_filter(&self.filter)
            .map_err(|_| io::Error::from_raw_os_error(libc::EPERM))?;
        Ok(())
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
