//! Starting runs from a single-threaded helper process, never from a tokio thread.
//!
//! Forking the worker itself would copy a large, multi-threaded process (slow, and only
//! async-signal-safe code may run in the copy). Instead [`Spawner::start`] forks a small
//! helper once (the worker's `main` does it before the runtime exists); the worker sends it
//! each command with the run's descriptors (stdio, cgroups, the sandbox's directories) over a
//! socket pair, and the helper starts the run, tells its pid, and later reaps it and tells how
//! it ended. See [`helper`] for the helper's side and [`child`] for what a run does before
//! exec.

mod child;
mod helper;
pub mod wire;

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::sandbox::isolation::{Isolation, RunIsolation};
use wire::{Reply, Stage};

/// Why a run could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{}: {source}", stage.describe())]
    Step { stage: Stage, source: io::Error },
    #[error("the spawn helper is gone")]
    HelperGone,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What to start.
#[derive(Debug)]
pub struct Command {
    pub argv: Vec<String>,
    /// `KEY=value` pairs: the run's whole environment.
    pub env: Vec<String>,
    /// Where it starts when not isolated (isolated runs start in `/box`).
    pub dir: PathBuf,
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// The `cgroup.procs` files of the run's cgroups, open for writing.
    pub cgroups: Vec<OwnedFd>,
    /// The run's part of the sandbox, when the spawner is isolated.
    pub isolation: Option<RunIsolation>,
    /// Largest file the run may write.
    pub file_size: u64,
    /// stdin (and stdout, stderr) is a terminal: the run starts a session with it as its
    /// controlling terminal, so that Ctrl-C there is SIGINT to it.
    pub terminal: bool,
}

/// How a run ended, as its parent saw it.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: std::process::ExitStatus,
    /// CPU time of the run and the processes it waited for (`wait4`'s accounting).
    pub cpu: Duration,
    pub max_rss_kb: u64,
    /// When the helper's word of the end arrived. The helper reaps and reports runs in the
    /// order they end, and one thread reads its reports in turn, so of two runs the one that
    /// ended first has the earlier stamp (an interactive test's "who ended first").
    pub reported_at: std::time::Instant,
}

/// Starts runs through a helper process. Dropping it ends the helper and its runs.
#[derive(Debug)]
pub struct Spawner {
    inner: Arc<Inner>,
    isolated: bool,
}

#[derive(Debug)]
struct Inner {
    sock: OwnedFd,
    helper: libc::pid_t,
    next_tag: AtomicU64,
    pending: Arc<Mutex<Pending>>,
    /// Set when the worker ends the helper itself, so its end is not a loss.
    closing: Arc<AtomicBool>,
    lost: watch::Receiver<bool>,
}

/// Runs the worker waits on, by tag; `closed` once the helper is gone.
#[derive(Debug, Default)]
struct Pending {
    closed: bool,
    runs: HashMap<u64, Waiting>,
}

#[derive(Debug)]
struct Waiting {
    started: Option<oneshot::Sender<Result<u32, (Stage, i32)>>>,
    exited: oneshot::Sender<Exit>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        // The helper reads end-of-file even though the reader thread still holds a copy of
        // the socket: it kills its runs and exits, and the reader reaps it.
        // SAFETY: plain syscall on our descriptor.
        unsafe { libc::shutdown(self.sock.as_raw_fd(), libc::SHUT_WR) };
    }
}

/// Sends `msg` with `fds` attached.
fn send_with_fds(sock: RawFd, msg: &[u8], fds: &[RawFd], flags: libc::c_int) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: msg.as_ptr() as *mut libc::c_void,
        iov_len: msg.len(),
    };
    let len = std::mem::size_of_val(fds);
    // SAFETY: arithmetic macros.
    let space = unsafe { libc::CMSG_SPACE(len as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    // SAFETY: the header points at live buffers of the sizes given; the control buffer has
    // room for one SCM_RIGHTS message with `fds`.
    unsafe {
        let mut hdr: libc::msghdr = std::mem::zeroed();
        hdr.msg_iov = &mut iov;
        hdr.msg_iovlen = 1;
        if !fds.is_empty() {
            hdr.msg_control = control.as_mut_ptr().cast();
            hdr.msg_controllen = space;
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(len as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(c).cast(), fds.len());
        }
        loop {
            if libc::sendmsg(sock, &hdr, flags | libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Receives one reply (blocking); `None` when the helper is gone.
fn recv_reply(sock: RawFd) -> Option<Reply> {
    let mut buf = [0u8; std::mem::size_of::<Reply>()];
    loop {
        // SAFETY: reads into a local buffer of the size given.
        let n = unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n > 0 {
            return wire::read(&buf[..n as usize]);
        }
        if n == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return None;
        }
    }
}

/// `name` as a shell finds it: itself when it holds a `/`, else the first file of that name in
/// a directory of `path` (colon-separated).
pub fn find_program(name: &str, path: &OsStr) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(name.into());
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Finds `program` on the `PATH` of the run's environment.
fn resolve(program: &str, env: &[String]) -> io::Result<PathBuf> {
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/bin:/bin");
    find_program(program, path.as_ref()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{program} is not on the PATH {path}"),
        )
    })
}

fn c_string(s: impl AsRef<[u8]>) -> io::Result<CString> {
    CString::new(s.as_ref()).map_err(|_| io::Error::other("a NUL byte in a command"))
}

impl Spawner {
    /// Forks the helper. Isolated runs (when `isolation` is given) enter its namespaces and
    /// filesystem view. Best called while the process has one thread, before the runtime
    /// starts: the helper is then small. It is correct from any thread.
    pub fn start(isolation: Option<Arc<Isolation>>) -> io::Result<Spawner> {
        let mut pair = [0; 2];
        // SAFETY: plain syscall into a local array.
        let ret = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                pair.as_mut_ptr(),
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just made and are ours.
        let (ours, theirs) = unsafe {
            use std::os::fd::FromRawFd;
            (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1]))
        };
        let mut buffers = helper::Buffers::new();
        // SAFETY: the child runs only the helper, which never allocates and never returns.
        let helper = match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()),
            // SAFETY: this is the freshly forked child, as `helper::run` requires; `theirs`
            // is its end of the pair, and it never returns into the parent's code.
            0 => unsafe { helper::run(theirs.as_raw_fd(), isolation.as_deref(), &mut buffers) },
            pid => pid,
        };
        drop(theirs);
        drop(buffers);
        let failure = match recv_reply(ours.as_raw_fd()) {
            Some(r) if r.kind == wire::READY && r.errno == 0 => None,
            Some(r) if r.kind == wire::READY => {
                let stage = Stage(r.stage);
                Some(format!(
                    "spawn helper: {}: {}",
                    stage.describe(),
                    io::Error::from_raw_os_error(r.errno)
                ))
            }
            _ => Some("the spawn helper did not start".to_string()),
        };
        if let Some(why) = failure {
            // SAFETY: ends and reaps our own child.
            unsafe {
                libc::kill(helper, libc::SIGKILL);
                libc::waitpid(helper, std::ptr::null_mut(), 0);
            }
            return Err(io::Error::other(why));
        }
        let pending = Arc::new(Mutex::new(Pending::default()));
        let closing = Arc::new(AtomicBool::new(false));
        let (lost_tx, lost) = watch::channel(false);
        let reader = Reader {
            sock: ours.try_clone()?,
            pending: pending.clone(),
            helper,
            closing: closing.clone(),
            lost: lost_tx,
        };
        std::thread::Builder::new()
            .name("judge-spawn-reader".into())
            .spawn(move || reader.run())?;
        Ok(Spawner {
            inner: Arc::new(Inner {
                sock: ours,
                helper,
                next_tag: AtomicU64::new(1),
                pending,
                closing,
                lost,
            }),
            isolated: isolation.is_some(),
        })
    }

    /// Whether runs are isolated.
    pub fn isolated(&self) -> bool {
        self.isolated
    }

    /// The helper's pid.
    pub fn helper_pid(&self) -> u32 {
        self.inner.helper as u32
    }

    /// Turns true if the helper dies while the spawner still needs it (killed from outside):
    /// no run can start any more.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.inner.lost.clone()
    }

    /// Starts `cmd`; returns once it has exec'd (or failed to).
    pub async fn spawn(&self, cmd: Command) -> Result<Child, SpawnError> {
        let program = cmd
            .argv
            .first()
            .ok_or_else(|| io::Error::other("empty command"))?;
        let program = c_string(resolve(program, &cmd.env)?.as_os_str().as_bytes())?;
        let args = cmd
            .argv
            .iter()
            .map(c_string)
            .collect::<io::Result<Vec<_>>>()?;
        let env = cmd
            .env
            .iter()
            .map(c_string)
            .collect::<io::Result<Vec<_>>>()?;
        let dir = c_string(cmd.dir.as_os_str().as_bytes())?;
        let tag = self.inner.next_tag.fetch_add(1, Ordering::Relaxed);
        let iso = cmd.isolation.as_ref();
        let points: Vec<_> = iso
            .map(|i| i.binds.iter().map(|b| b.1).collect())
            .unwrap_or_default();
        let msg = wire::SpawnRequest {
            tag,
            program: &program,
            dir: &dir,
            tmp_options: iso.map(|i| i.tmp_options.as_c_str()).unwrap_or(c""),
            args: &args,
            env: &env,
            bind_points: &points,
            cgroups: cmd.cgroups.len(),
            uid: iso.map(|i| i.uid),
            netns: iso.is_some(),
            terminal: cmd.terminal,
            file_size: cmd.file_size,
        }
        .encode()?;
        let mut fds: Vec<RawFd> = [&cmd.stdin, &cmd.stdout, &cmd.stderr]
            .into_iter()
            .chain(&cmd.cgroups)
            .map(AsRawFd::as_raw_fd)
            .collect();
        fds.extend(
            iso.iter()
                .flat_map(|i| i.binds.iter().map(|b| b.0.as_raw_fd())),
        );
        fds.extend(iso.map(|i| i.netns));

        let (started_tx, started) = oneshot::channel();
        let (exited_tx, exited) = oneshot::channel();
        {
            let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.closed {
                return Err(SpawnError::HelperGone);
            }
            pending.runs.insert(
                tag,
                Waiting {
                    started: Some(started_tx),
                    exited: exited_tx,
                },
            );
        }
        let sock = self.inner.sock.as_raw_fd();
        let sent = match send_with_fds(sock, &msg, &fds, libc::MSG_DONTWAIT) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The helper is behind: wait for room off the runtime's threads. The
                // descriptors stay open (in `cmd`) until the message is sent.
                let inner = self.inner.clone();
                tokio::task::spawn_blocking(move || {
                    let _keep = (&cmd, &inner);
                    send_with_fds(inner.sock.as_raw_fd(), &msg, &fds, 0)
                })
                .await
                .map_err(io::Error::other)?
            }
            other => {
                drop(cmd);
                other
            }
        };
        if let Err(e) = sent {
            self.forget(tag);
            return Err(e.into());
        }
        // Our copies of the descriptors (in `cmd`) are closed by now: the pipes must end when
        // the run's side does. From here the run is killed if this future is dropped: the
        // kill follows the request on the socket, so the helper starts the run, then kills it.
        let mut child = Child {
            tag,
            pid: 0,
            exited: Some(exited),
            inner: self.inner.clone(),
        };
        let failed = match started.await {
            Ok(Ok(pid)) => {
                child.pid = pid;
                return Ok(child);
            }
            Ok(Err((stage, errno))) => SpawnError::Step {
                stage,
                source: io::Error::from_raw_os_error(errno),
            },
            Err(_) => SpawnError::HelperGone,
        };
        // Nothing to kill.
        child.exited = None;
        Err(failed)
    }

    fn forget(&self, tag: u64) {
        let mut pending = self.inner.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.runs.remove(&tag);
    }
}

/// The reader thread's part: hands each reply to whoever waits for it, until the helper is
/// gone.
struct Reader {
    sock: OwnedFd,
    pending: Arc<Mutex<Pending>>,
    helper: libc::pid_t,
    closing: Arc<AtomicBool>,
    lost: watch::Sender<bool>,
}

impl Reader {
    fn run(self) {
        while let Some(reply) = recv_reply(self.sock.as_raw_fd()) {
            self.dispatch(reply);
        }
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.closed = true;
        // Everyone still waiting learns that the helper is gone.
        pending.runs.clear();
        drop(pending);
        let mut status = 0;
        // SAFETY: reaps our own child, the helper.
        unsafe { libc::waitpid(self.helper, &mut status, 0) };
        if !self.closing.load(Ordering::SeqCst) {
            tracing::error!(helper = self.helper, status, "the spawn helper died");
            let _ = self.lost.send(true);
        }
    }

    fn dispatch(&self, reply: Reply) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        match reply.kind {
            wire::STARTED => {
                if let Some(started) = pending
                    .runs
                    .get_mut(&reply.tag)
                    .and_then(|w| w.started.take())
                {
                    let _ = started.send(Ok(reply.pid as u32));
                }
            }
            wire::FAILED => {
                if let Some(w) = pending.runs.remove(&reply.tag) {
                    let stage = Stage(reply.stage);
                    if let Some(started) = w.started {
                        let _ = started.send(Err((stage, reply.errno)));
                    }
                }
            }
            wire::EXITED => {
                if let Some(w) = pending.runs.remove(&reply.tag) {
                    let _ = w.exited.send(Exit {
                        status: std::process::ExitStatus::from_raw(reply.status),
                        cpu: Duration::from_micros(reply.cpu_us),
                        max_rss_kb: reply.max_rss_kb,
                        reported_at: std::time::Instant::now(),
                    });
                }
            }
            other => tracing::warn!(kind = other, "unknown reply from the spawn helper"),
        }
    }
}

/// A started run. Dropping it before it has ended kills it.
#[derive(Debug)]
pub struct Child {
    tag: u64,
    pid: u32,
    exited: Option<oneshot::Receiver<Exit>>,
    inner: Arc<Inner>,
}

impl Child {
    /// The run's pid (PID 1 of its namespace, when isolated), as the worker sees it.
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// Kills the run (its whole namespace or process group) if it is still running.
    pub fn kill(&self) {
        let msg = wire::kill(self.tag);
        let _ = send_with_fds(self.inner.sock.as_raw_fd(), wire::bytes_of(&msg), &[], 0);
    }

    /// Waits for the run to end.
    pub async fn wait(&mut self) -> Result<Exit, SpawnError> {
        let exited = self.exited.as_mut().ok_or(SpawnError::HelperGone)?;
        let exit = exited.await.map_err(|_| SpawnError::HelperGone);
        self.exited = None;
        exit
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exited.is_some() {
            self.kill();
        }
    }
}
