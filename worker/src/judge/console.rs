//! A console: the program runs in the sandbox with a pseudo-terminal as its standard input,
//! output and error, and the terminal's other side is relayed over the `Attach` stream the
//! worker dials. Prompts reach the client before a newline; Ctrl-C is SIGINT to the program,
//! Ctrl-D end of input, as at a local terminal.
//!
//! The program runs under `/bin/sh`: in its PID namespace the first process is init, which
//! the kernel spares from every signal it does not handle, so a program started as init
//! would ignore Ctrl-C. Under the shell it is an ordinary process of the terminal's
//! foreground group, and the shell exits as it did (128 + N when signal N ended it). The
//! shell traps SIGINT and SIGQUIT with a no-op, so that it waits for the program instead of
//! dying with it (a trap, not an ignore: the program gets the default actions back).
//!
//! Bounded both ways: output is read from the terminal only when the previous chunk has
//! been taken (a client that does not read stalls the program, as a full terminal does), and
//! input is read from the stream only when the previous input is written.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use pb::job_update::Update;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tonic::Streaming;

use super::run::Program;
use super::testset::ending;
use super::{judge_error, Judge, Outcome, RUN_FILE_SIZE};
use crate::core::verdict::console_outcome;
use crate::sandbox::{RunOutcome, RunSpec};

/// Most bytes of output sent in one message: what the scheduler takes.
const CHUNK: usize = judge_common::console_bounds::MAX_OUTPUT;
/// Ctrl-D: end of input for a program reading the terminal line by line.
const EOF_CHAR: u8 = 0x04;

/// The terminal's side the worker holds, non-blocking.
struct Master(AsyncFd<OwnedFd>);

impl Master {
    fn new(fd: OwnedFd) -> std::io::Result<Master> {
        use nix::fcntl::{fcntl, FcntlArg, OFlag};
        let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
        fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: the descriptor is owned here and is neither replaced nor closed while
        // registered (the AsyncFd owns it until it is dropped).
        let fd = unsafe { AsyncFd::register(fd) }.map_err(std::io::Error::from)?;
        Ok(Master(fd))
    }

    /// Some bytes of output (as many as are there, up to [`CHUNK`]: a terminal hands out a
    /// few KiB a read, and each message costs more than each byte); empty once every
    /// process holding the terminal is gone.
    async fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; CHUNK];
        let mut filled = 0;
        let mut closed = false;
        loop {
            let mut guard = self.0.readable().await?;
            loop {
                let r = guard.try_io(|fd| {
                    nix::unistd::read(fd.get_ref(), &mut buf[filled..])
                        .map_err(std::io::Error::from)
                });
                match r {
                    Ok(Ok(0)) => {
                        closed = true;
                        break;
                    }
                    Ok(Ok(n)) => {
                        filled += n;
                        if filled == buf.len() {
                            break;
                        }
                    }
                    // EIO: the other side is closed for good.
                    Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                        closed = true;
                        break;
                    }
                    Ok(Err(e)) if filled == 0 => return Err(e),
                    Ok(Err(_)) => break,
                    // Nothing more for now.
                    Err(_would_block) => break,
                }
            }
            if filled > 0 || closed {
                buf.truncate(filled);
                return Ok(buf);
            }
        }
    }

    /// Writes some of `bytes`; how many.
    async fn write(&self, bytes: &[u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.0.writable().await?;
            match guard
                .try_io(|fd| nix::unistd::write(fd.get_ref(), bytes).map_err(std::io::Error::from))
            {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    fn resize(&self, size: &pb::TerminalSize) {
        let ws = winsize(size);
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which outlives the call.
        unsafe {
            libc::ioctl(self.0.get_ref().as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

fn winsize(size: &pb::TerminalSize) -> nix::pty::Winsize {
    nix::pty::Winsize {
        ws_row: size.rows.min(u32::from(u16::MAX)) as u16,
        ws_col: size.cols.min(u32::from(u16::MAX)) as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// A new terminal of `size`: the worker's side and the program's. Piped input is not
/// echoed (a person's typing is).
fn terminal(size: &pb::TerminalSize, echo: bool) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    let pty = nix::pty::openpty(&winsize(size), None)?;
    for fd in [&pty.master, &pty.slave] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    if !echo {
        let mut t = tcgetattr(&pty.slave)?;
        t.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t)?;
    }
    Ok((pty.master, pty.slave))
}

/// How the relay ended, besides the run's own outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// The program ended by itself (or hit a limit of the run).
    Ran,
    /// No input and no output for the idle limit.
    Idle,
    /// The job was cancelled, or the scheduler's side of the stream went away.
    Cancelled,
}

impl Judge {
    /// Runs `assign`'s program live on a terminal relayed through `Attach`.
    pub(super) async fn console_in(
        &self,
        dir: &Path,
        assign: &pb::Assign,
        spec: &pb::ConsoleSpec,
        report: &(dyn Fn(Update) + Send + Sync),
        cancel: watch::Receiver<bool>,
    ) -> Outcome {
        let Some(attacher) = &self.attacher else {
            return judge_error("this worker cannot attach consoles");
        };
        let size = match spec.size {
            Some(s) if judge_common::console_bounds::size_ok(s.rows, s.cols) => s,
            other => return judge_error(format!("terminal size {other:?}")),
        };
        if !(1..=86_400).contains(&spec.max_seconds) || !(1..=86_400).contains(&spec.idle_seconds) {
            return judge_error("console seconds outside 1 to 86400");
        }
        let Program {
            lang,
            limits,
            class,
        } = match self
            .program(dir, assign, spec.limits.as_ref(), report, &cancel)
            .await
        {
            Ok(p) => p,
            Err(end) => return end,
        };
        let (master, slave) = match terminal(&size, !spec.piped_input) {
            Ok((m, s)) => (m, Arc::new(s)),
            Err(e) => return judge_error(format!("cannot open a terminal: {e}")),
        };
        let master = match Master::new(master) {
            Ok(m) => m,
            Err(e) => return judge_error(format!("terminal: {e}")),
        };
        let (up, down) = match attacher.open(assign.job_id, assign.attempt).await {
            Ok(streams) => streams,
            Err(s) => return judge_error(format!("cannot attach the console: {}", s.message())),
        };
        let mut argv: Vec<String> = ["/bin/sh", "-c", "trap : INT QUIT; \"$@\"; exit $?", "sh"]
            .map(String::from)
            .to_vec();
        argv.extend(lang.expand(&lang.run, &class, limits.memory_bytes));
        let run_spec = RunSpec {
            argv,
            dir: dir.to_path_buf(),
            dir_writable: false,
            binds: Vec::new(),
            stdin: None,
            time_limit: limits.time,
            wall_limit: Duration::from_secs(u64::from(spec.max_seconds)),
            memory_limit_bytes: limits.memory_bytes,
            output_limit_bytes: limits.output_bytes,
            // The shell too.
            max_processes: lang.max_processes.saturating_add(1),
            file_size_limit: RUN_FILE_SIZE,
            piped: None,
            terminal: Some(slave.clone()),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let run = self.runner.run(run_spec, stop_rx);
        let idle = Duration::from_secs(u64::from(spec.idle_seconds));
        let (run, stop) = relay(&master, up.clone(), down, run, idle, cancel, stop_tx).await;
        // Our copy of the terminal's other side, held until now, lets the last output
        // through before the stream ends.
        drain(&master, &slave, &up).await;
        drop(up);
        let run = match run {
            Ok(r) => r,
            Err(e) => return judge_error(format!("console: {e}")),
        };
        if stop == Stop::Cancelled {
            return Outcome::Cancelled;
        }
        let outcome = console_outcome(
            stop == Stop::Idle,
            run.cpu_ms < millis(limits.time),
            ending(&run, lang.memory_error.as_deref()),
            run.signal.is_some(),
        );
        Outcome::Ran(Box::new(pb::RunResult {
            outcome: outcome as i32,
            exit_code: (outcome == pb::RunOutcome::Exited)
                .then_some(run.exit_code)
                .flatten(),
            signal: run.signal,
            time_ms: run.cpu_ms,
            wall_ms: run.wall_ms,
            memory_kb: run.memory_kb,
            ..Default::default()
        }))
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Relays between the terminal and the stream until the run ends; then sends what output
/// is left and closes the stream. The run, and why it stopped.
async fn relay(
    master: &Master,
    up: mpsc::Sender<pb::AttachUp>,
    mut down: Streaming<pb::AttachDown>,
    run: crate::sandbox::RunFuture<'_>,
    idle: Duration,
    mut cancel: watch::Receiver<bool>,
    stop_tx: watch::Sender<bool>,
) -> (Result<RunOutcome, crate::sandbox::RunError>, Stop) {
    use pb::attach_down::Msg as Down;
    tokio::pin!(run);
    let mut stop = Stop::Ran;
    let stop_with = |why: Stop, stop: &mut Stop| {
        if *stop == Stop::Ran {
            *stop = why;
            let _ = stop_tx.send(true);
        }
    };
    let idle_at = tokio::time::sleep(idle);
    tokio::pin!(idle_at);
    // Input waiting to be written, and output waiting to be sent.
    let mut input: Vec<u8> = Vec::new();
    let mut last_input: Option<u8> = None;
    let mut output: Option<Vec<u8>> = None;
    let mut down_open = true;
    let mut master_open = true;
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            Ok(()) = cancel.changed() => {
                if *cancel.borrow() {
                    stop_with(Stop::Cancelled, &mut stop);
                }
            }
            _ = &mut idle_at => {
                stop_with(Stop::Idle, &mut stop);
                idle_at.as_mut().reset(Instant::now() + Duration::from_secs(86_400));
            }
            msg = down.message(), if down_open && input.is_empty() => {
                idle_at.as_mut().reset(Instant::now() + idle);
                match msg {
                    Ok(Some(pb::AttachDown { msg: Some(Down::Input(b)) })) => input = b,
                    Ok(Some(pb::AttachDown { msg: Some(Down::Resize(s)) })) => master.resize(&s),
                    Ok(Some(pb::AttachDown { msg: Some(Down::Eof(_)) })) => {
                        // A partial line needs one Ctrl-D to be read, and one more for EOF.
                        input = match last_input {
                            Some(b'\n') | None => vec![EOF_CHAR],
                            Some(_) => vec![EOF_CHAR, EOF_CHAR],
                        };
                    }
                    Ok(Some(_)) => {}
                    // The client (or the scheduler) is gone: the program is stopped.
                    Ok(None) | Err(_) => {
                        down_open = false;
                        stop_with(Stop::Cancelled, &mut stop);
                    }
                }
            }
            n = master.write(&input), if !input.is_empty() => match n {
                Ok(n) => {
                    last_input = input.get(n.saturating_sub(1)).copied().or(last_input);
                    input.drain(..n);
                }
                Err(_) => input.clear(),
            },
            bytes = master.read(), if master_open && output.is_none() => match bytes {
                Ok(b) if !b.is_empty() => {
                    idle_at.as_mut().reset(Instant::now() + idle);
                    output = Some(b);
                }
                _ => master_open = false,
            },
            permit = up.reserve(), if output.is_some() => match permit {
                Ok(permit) => permit.send(output_msg(output.take().unwrap_or_default())),
                Err(_) => {
                    output = None;
                    stop_with(Stop::Cancelled, &mut stop);
                }
            },
        }
    };
    // Output read and not sent yet goes first; `drain` sends what is still in the terminal.
    if let Some(b) = output.take() {
        let _ = up.send(output_msg(b)).await;
    }
    (result, stop)
}

/// Longest the end of a console waits for the terminal's last output.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Sends what the program wrote last and is still on its way through the terminal.
///
/// The kernel hands a terminal's output to its reader asynchronously: a program that
/// prints and exits may be gone before its last bytes reach the master, and once the
/// terminal's other side is closed the master answers EIO, so those bytes would be lost
/// (on a busy machine, often). The worker holds its own copy of that side (`slave`) until
/// now: it writes a marker there, which arrives after everything the program wrote, and
/// reads until the marker.
async fn drain(master: &Master, slave: &OwnedFd, up: &mpsc::Sender<pb::AttachUp>) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let marker = format!("\u{1}judge-end-{:016x}\u{1}", rand::random::<u64>()).into_bytes();
    // The program is gone: nothing else shares this side's blocking mode now.
    let nonblocking = fcntl(slave, FcntlArg::F_GETFL)
        .map(OFlag::from_bits_truncate)
        .and_then(|f| fcntl(slave, FcntlArg::F_SETFL(f | OFlag::O_NONBLOCK)));
    if nonblocking.is_err() {
        return;
    }
    let work = async {
        let mut written = 0;
        let mut pending: Vec<u8> = Vec::new();
        loop {
            if written < marker.len() {
                match nix::unistd::write(slave, &marker[written..]) {
                    Ok(n) => written += n,
                    Err(nix::errno::Errno::EAGAIN) => {}
                    Err(_) => return,
                }
            }
            let chunk = if written < marker.len() {
                // The terminal is full: read some to make room, or wait a moment.
                match tokio::time::timeout(Duration::from_millis(20), master.read()).await {
                    Ok(r) => r,
                    Err(_) => continue,
                }
            } else {
                master.read().await
            };
            match chunk {
                Ok(b) if !b.is_empty() => pending.extend_from_slice(&b),
                _ => return,
            }
            if let Some(at) = pending.windows(marker.len()).position(|w| w == marker) {
                pending.truncate(at);
                send_output(up, &pending).await;
                return;
            }
            // Keep what could be the start of the marker; send the rest.
            let keep = pending.len().min(marker.len() - 1);
            let ready: Vec<u8> = pending.drain(..pending.len() - keep).collect();
            if !send_output(up, &ready).await {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_LIMIT, work).await;
}

/// Sends `bytes` in messages the scheduler takes; false once the stream is gone.
async fn send_output(up: &mpsc::Sender<pb::AttachUp>, bytes: &[u8]) -> bool {
    for piece in bytes.chunks(CHUNK) {
        if up.send(output_msg(piece.to_vec())).await.is_err() {
            return false;
        }
    }
    true
}

fn output_msg(bytes: Vec<u8>) -> pb::AttachUp {
    pb::AttachUp {
        msg: Some(pb::attach_up::Msg::Output(bytes)),
    }
}
