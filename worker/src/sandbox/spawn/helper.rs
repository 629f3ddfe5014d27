//! The spawn helper: a process of its own, forked by [`super::Spawner::start`], that starts
//! every run and reaps it.
//!
//! It has one thread, so it can fork safely, and it starts runs with `CLONE_VM |
//! CLONE_VFORK` (see [`super::child`]), so starting one costs no copy of anything. It is the
//! parent of every run, so only it reaps them, and only it signals them: a kill can never hit
//! a process that reused a reaped run's pid. It may itself have been forked from a
//! multi-threaded process (a test, or a worker that started it late), so it never allocates
//! and never takes a lock: raw syscalls on buffers allocated before the fork.
//!
//! When the worker's end of the socket closes (the worker exited or was killed), the helper
//! kills every run it has and exits.

use std::os::fd::RawFd;

use super::child;
use super::wire::{self, Header, Reply, Spawn, Stage, MAX_FDS};
use crate::sandbox::isolation::Isolation;

/// Runs in progress at once, at most.
const MAX_RUNS: usize = 1024;
const STACK: usize = 256 * 1024;

/// The helper's memory, allocated before the fork.
pub struct Buffers {
    msg: Vec<u8>,
    control: Vec<u64>,
    stack: Vec<u128>,
    /// Runs in progress: tag and pid.
    runs: Vec<Option<(u64, libc::pid_t)>>,
}

impl Buffers {
    pub fn new() -> Buffers {
        // SAFETY: a macro of arithmetic.
        let control = unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) };
        Buffers {
            msg: vec![0; wire::MAX_REQUEST],
            control: vec![0; (control as usize).div_ceil(8)],
            stack: vec![0; STACK / 16],
            runs: vec![None; MAX_RUNS],
        }
    }
}

/// The helper's state: its socket, its isolation, and its buffers (with its runs).
struct Helper<'a> {
    sock: RawFd,
    isolation: Option<&'a Isolation>,
    buffers: &'a mut Buffers,
}

fn errno() -> i32 {
    // SAFETY: reads this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// The helper's life. Call only in the child of a fork; never returns.
///
/// # Safety
/// Must run in a freshly forked child; `sock` is its end of the socket pair.
pub unsafe fn run(sock: RawFd, isolation: Option<&Isolation>, buffers: &mut Buffers) -> ! {
    let sock = match setup(sock, isolation) {
        Ok(s) => s,
        Err((stage, errno)) => {
            let reply = Reply {
                kind: wire::READY,
                stage: stage.0,
                // Never 0, which means ready.
                errno: if errno == 0 { libc::EIO } else { errno },
                ..Reply::default()
            };
            send(sock, &reply);
            libc::_exit(1);
        }
    };
    let mut helper = Helper {
        sock: sock.0,
        isolation,
        buffers,
    };
    helper.reply(Reply {
        kind: wire::READY,
        ..Reply::default()
    });
    helper.serve(sock.1)
}

/// Enters the runs' namespaces, lets go of every inherited descriptor but the socket, and
/// takes SIGCHLD through a signalfd. Returns the socket and the signalfd.
unsafe fn setup(
    sock: RawFd,
    isolation: Option<&Isolation>,
) -> Result<(RawFd, RawFd), (Stage, i32)> {
    let fail = |stage| Err((stage, errno()));
    // Runs get their stdio by dup2 onto 0, 1 and 2: keep those taken, so that descriptors
    // received later never land there.
    for fd in 0..3 {
        if libc::fcntl(fd, libc::F_GETFD) == -1 {
            libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        }
    }
    if let Some(iso) = isolation {
        // Once here, so that every run starts in the empty network namespace and copies the
        // template's filesystem by cloning.
        if iso.enter().is_err() {
            return fail(Stage::SETUP);
        }
    }
    let sock = if sock < 3 {
        libc::fcntl(sock, libc::F_DUPFD_CLOEXEC, 3)
    } else {
        sock
    };
    if sock > 3 {
        libc::syscall(libc::SYS_close_range, 3u32, (sock - 1) as u32, 0u32);
    }
    libc::syscall(libc::SYS_close_range, (sock + 1) as u32, u32::MAX, 0u32);
    // Runs inherit dispositions: every signal back to its default (std ignores SIGPIPE).
    for sig in 1..=libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    let mut all: libc::sigset_t = std::mem::zeroed();
    libc::sigfillset(&mut all);
    libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
    let mut chld: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut chld);
    libc::sigaddset(&mut chld, libc::SIGCHLD);
    let sigfd = libc::signalfd(-1, &chld, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
    if sigfd < 0 {
        return fail(Stage::SETUP);
    }
    // Orphans of unisolated runs come here to be reaped, rather than to the host's init.
    libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    libc::prctl(libc::PR_SET_NAME, c"judge-spawn".as_ptr());
    Ok((sock, sigfd))
}

/// Sends one reply; false if the worker is gone.
unsafe fn send(sock: RawFd, reply: &Reply) -> bool {
    let bytes = wire::bytes_of(reply);
    loop {
        let n = libc::send(sock, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL);
        if n >= 0 {
            return true;
        }
        if errno() != libc::EINTR {
            return false;
        }
    }
}

impl Helper<'_> {
    fn isolated(&self) -> bool {
        self.isolation.is_some()
    }

    unsafe fn reply(&mut self, reply: Reply) {
        if !send(self.sock, &reply) {
            self.quit();
        }
    }

    unsafe fn failed(&mut self, tag: u64, stage: Stage, errno: i32) {
        self.reply(Reply {
            kind: wire::FAILED,
            tag,
            stage: stage.0,
            errno,
            ..Reply::default()
        });
    }

    /// Kills a run: PID 1 of its namespace when isolated (which ends every process in it),
    /// else its process group.
    unsafe fn kill(&self, pid: libc::pid_t) {
        let target = if self.isolated() { pid } else { -pid };
        libc::kill(target, libc::SIGKILL);
    }

    /// The worker is gone: so are its runs.
    unsafe fn quit(&mut self) -> ! {
        for i in 0..self.buffers.runs.len() {
            if let Some((_, pid)) = self.buffers.runs[i] {
                self.kill(pid);
            }
        }
        libc::_exit(0)
    }

    unsafe fn serve(&mut self, sigfd: RawFd) -> ! {
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: self.sock,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: sigfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if libc::poll(fds.as_mut_ptr(), 2, -1) < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                self.quit();
            }
            if fds[1].revents != 0 {
                let mut info = [0u8; 128 * 8];
                while libc::read(sigfd, info.as_mut_ptr().cast(), info.len()) > 0 {}
                self.reap();
            }
            if fds[0].revents != 0 {
                self.receive();
            }
        }
    }

    /// Reaps every run that has ended and reports it.
    unsafe fn reap(&mut self) {
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_ALL, 0, &mut info, flags) != 0 || info.si_pid() == 0 {
                return;
            }
            let pid = info.si_pid();
            let place = self
                .buffers
                .runs
                .iter()
                .position(|r| r.is_some_and(|r| r.1 == pid));
            // Still a zombie, so its pid cannot be reused yet: what it left in its process
            // group goes now.
            if place.is_some() && !self.isolated() {
                self.kill(pid);
            }
            let mut status = 0;
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::wait4(pid, &mut status, 0, &mut usage);
            let Some((tag, _)) = place.and_then(|p| self.buffers.runs[p].take()) else {
                continue;
            };
            let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
            self.reply(Reply {
                kind: wire::EXITED,
                tag,
                pid,
                status,
                cpu_us: micros(usage.ru_utime) + micros(usage.ru_stime),
                max_rss_kb: usage.ru_maxrss as u64,
                ..Reply::default()
            });
        }
    }

    /// Receives one request and carries it out.
    unsafe fn receive(&mut self) {
        let mut iov = libc::iovec {
            iov_base: self.buffers.msg.as_mut_ptr().cast(),
            iov_len: self.buffers.msg.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = self.buffers.control.as_mut_ptr().cast();
        msg.msg_controllen = self.buffers.control.len() * 8;
        let n = libc::recvmsg(self.sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n == 0 || (n < 0 && errno() != libc::EINTR && errno() != libc::EAGAIN) {
            self.quit();
        }
        if n < 0 {
            return;
        }
        let mut fds = [-1; MAX_FDS];
        let mut count = 0;
        let mut too_many = msg.msg_flags & libc::MSG_CTRUNC != 0;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let len = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..len {
                    let fd = std::ptr::read_unaligned(data.add(i));
                    if count < MAX_FDS {
                        fds[count] = fd;
                        count += 1;
                    } else {
                        libc::close(fd);
                        too_many = true;
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let bytes = &self.buffers.msg[..n as usize];
        let header: Option<Header> = wire::read(bytes);
        match header {
            Some(h) if h.kind == wire::KILL => {
                let run = self.buffers.runs.iter().flatten().find(|r| r.0 == h.tag);
                if let Some(&(_, pid)) = run {
                    self.kill(pid);
                }
            }
            Some(h) if h.kind == wire::SPAWN && !too_many => {
                let spawn = Spawn::parse(h, bytes);
                let wanted = 3 + h.cgroups as usize + h.binds as usize + h.netns as usize;
                match spawn {
                    Some(spawn) if wanted == count => self.spawn(&spawn, &fds[..count]),
                    _ => self.failed(h.tag, Stage::REQUEST, libc::EINVAL),
                }
            }
            Some(h) => self.failed(h.tag, Stage::REQUEST, libc::EINVAL),
            None => self.failed(0, Stage::REQUEST, libc::EINVAL),
        }
        for fd in &fds[..count] {
            libc::close(*fd);
        }
    }

    /// Starts one run: `fds` are its stdio, cgroups and binds, closed by the caller after.
    unsafe fn spawn(&mut self, spawn: &Spawn, fds: &[RawFd]) {
        let tag = spawn.header.tag;
        let Some(place) = self.buffers.runs.iter().position(Option::is_none) else {
            return self.failed(tag, Stage::TOO_MANY_RUNS, libc::EAGAIN);
        };
        let mut args = child::Args {
            spawn,
            fds,
            isolation: self.isolation,
            failed: None,
        };
        let mut flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
        if self.isolated() {
            flags |=
                libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
        }
        let stack = self.buffers.stack.as_mut_ptr_range().end;
        let pid = libc::clone(
            child::main,
            stack.cast(),
            flags,
            (&mut args as *mut child::Args).cast(),
        );
        if pid < 0 {
            return self.failed(tag, Stage::CLONE, errno());
        }
        // The child wrote this, in this memory, before it exec'd or exited.
        if let Some((stage, errno)) = std::ptr::read_volatile(&args.failed) {
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            return self.failed(tag, stage, errno);
        }
        self.buffers.runs[place] = Some((tag, pid));
        self.reply(Reply {
            kind: wire::STARTED,
            tag,
            pid,
            ..Reply::default()
        });
    }
}
