//! What a run's process does between `clone` and `exec`.
//!
//! The helper clones it with `CLONE_VM | CLONE_VFORK`: it runs in the helper's memory, on a
//! stack of its own, while the helper waits for it to exec or exit. Nothing is copied, so
//! starting a run costs the same however big the helper is, and a failed step is reported by
//! writing into [`Args::failed`], which the helper reads once it resumes. Only raw syscalls
//! happen here: no allocation, no locks, no change to memory the helper relies on.
//!
//! When the helper is isolated, the clone also made new mount, PID, IPC and UTS namespaces:
//! this process is PID 1 of its own, in a copy of the template's filesystem, in its
//! own network namespace (see [`crate::sandbox::isolation`]). Killing it ends every process
//! of the run.

use super::wire::{Spawn, Stage};
use crate::sandbox::isolation::Isolation;

/// What the child is given, on the helper's stack.
pub struct Args<'a> {
    pub spawn: &'a Spawn,
    /// stdin, stdout, stderr, then the cgroups' `cgroup.procs`, then the binds' mounts, then
    /// (isolated) the run's network namespace.
    pub fds: &'a [libc::c_int],
    pub isolation: Option<&'a Isolation>,
    /// Set by the child when a step fails: the step and errno.
    pub failed: Option<(Stage, i32)>,
}

/// The clone's entry point, given an [`Args`] that outlives it (the helper waits for it:
/// `CLONE_VFORK`). Returns only by exec (success) or `_exit(127)`.
pub extern "C" fn main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: the helper passes its `Args` and waits until this process execs or exits;
    // only raw syscalls follow.
    unsafe {
        let args = &mut *arg.cast::<Args>();
        if let Err((stage, errno)) = prepare(args) {
            args.failed = Some((stage, errno));
            libc::_exit(127);
        }
        let s = args.spawn;
        libc::execve(s.program, s.argv.as_ptr(), s.envp.as_ptr());
        args.failed = Some((Stage::EXEC, errno()));
        libc::_exit(127)
    }
}

fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// `Err((stage, errno))` if `ret` is negative.
fn at(stage: Stage, ret: libc::c_long) -> Result<(), (Stage, i32)> {
    if ret < 0 {
        Err((stage, errno()))
    } else {
        Ok(())
    }
}

unsafe fn prepare(args: &Args) -> Result<(), (Stage, i32)> {
    let s = args.spawn;
    let h = &s.header;
    let cgroups = h.cgroups as usize;
    let (stdio, rest) = args.fds.split_at(3);
    let (cgroup_fds, rest) = rest.split_at(cgroups);
    let (bind_fds, netns_fd) = rest.split_at(h.binds as usize);
    // First into the cgroups, so that everything the run does counts.
    for fd in cgroup_fds {
        if libc::write(*fd, b"0".as_ptr().cast(), 1) != 1 {
            return Err((Stage::CGROUP, errno()));
        }
    }
    match args.isolation {
        Some(_) => {
            // A network namespace of its own: nothing of another run's network is in reach.
            if let Some(fd) = netns_fd.first() {
                at(Stage::NETNS, libc::setns(*fd, libc::CLONE_NEWNET).into())?;
            }
            for (fd, point) in bind_fds.iter().zip(&s.bind_points) {
                at(Stage::BIND, crate::sandbox::rootfs::attach(*fd, *point))?;
            }
            at(Stage::TMP, crate::sandbox::rootfs::mount_tmp(s.tmp_options))?;
            at(
                Stage::DIR,
                libc::chdir(crate::sandbox::rootfs::BOX.as_ptr()).into(),
            )?;
            at(Stage::PROC, crate::sandbox::rootfs::mount_proc())?;
        }
        None => {
            // Its own process group, which the helper kills when it is cancelled or ends (a
            // terminal's session below is one too).
            if h.terminal == 0 {
                at(Stage::DIR, libc::setpgid(0, 0).into())?;
            }
            at(Stage::DIR, libc::chdir(s.dir).into())?;
        }
    }
    for (fd, target) in stdio.iter().zip(0..) {
        at(Stage::STDIO, libc::dup2(*fd, target).into())?;
    }
    if h.terminal != 0 {
        // A session of its own whose controlling terminal is its stdin: the terminal's
        // Ctrl-C and Ctrl-\ signal its foreground process group, which is the run.
        at(Stage::STDIO, libc::setsid().into())?;
        at(Stage::STDIO, libc::ioctl(0, libc::TIOCSCTTY, 0).into())?;
    }
    // Nothing of the helper's or the worker's stays open: not the socket, not the binds.
    libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    let limit = |res, value: u64| {
        let lim = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        libc::setrlimit(res, &lim)
    };
    limit(libc::RLIMIT_CORE, 0);
    limit(libc::RLIMIT_FSIZE, h.file_size);
    limit(libc::RLIMIT_STACK, libc::RLIM_INFINITY);
    libc::umask(0o022);
    if h.set_uid != 0 {
        at(Stage::UID, crate::sandbox::isolation::drop_to(h.uid))?;
    }
    // If the helper dies (the worker is gone), so does the run. Set after the uid change,
    // which clears it.
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    // The helper blocks every signal; the program starts with none blocked.
    let mut none: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut none);
    libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    if let Some(iso) = args.isolation {
        iso.apply_filter().map_err(|e| (Stage::SECCOMP, e))?;
    }
    Ok(())
}
