//! `judgectl console`: a program running live on a worker, on this terminal.
//!
//! When standard input is a terminal it goes into raw mode (each key is sent as typed, Ctrl-C
//! and Ctrl-D included, and the program's terminal decides what they mean) and is restored
//! on every way out; window-size changes are forwarded. Otherwise standard input is streamed
//! as it comes and the program reads end-of-file after it. judgectl exits with the
//! program's exit code (see [`crate::run`] for the codes of other endings).

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use pb::console_event::Event as Ev;
use pb::console_request::Msg;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::Authed;

/// Bytes of input per message.
const CHUNK: usize = 4096;

/// The terminal's settings before raw mode, put back when dropped.
struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enter() -> std::io::Result<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// This terminal's size, or 24×80 when there is none.
fn size() -> pb::TerminalSize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize through the pointer, which outlives the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_row > 0 && ws.ws_col > 0 {
        pb::TerminalSize {
            rows: u32::from(ws.ws_row),
            cols: u32::from(ws.ws_col),
        }
    } else {
        pb::TerminalSize { rows: 24, cols: 80 }
    }
}

/// A line on stderr that reads right in raw mode too.
fn say(raw: bool, text: &str) {
    let end = if raw { "\r\n" } else { "\n" };
    eprint!("judgectl: {text}{end}");
}

/// Runs `source` live; the exit code to leave with.
pub async fn console(
    client: &mut JudgeServiceClient<Authed>,
    language: String,
    source: Vec<u8>,
    limits: pb::RunLimits,
) -> anyhow::Result<u8> {
    let tty = std::io::stdin().is_terminal();
    let (tx, rx) = mpsc::channel(16);
    let open = pb::ConsoleOpen {
        language,
        source,
        size: Some(size()),
        limits: Some(limits),
        piped_input: !tty,
    };
    let msg = |m| pb::ConsoleRequest { msg: Some(m) };
    tx.send(msg(Msg::Open(open))).await?;
    let mut events = client
        .console(ReceiverStream::new(rx))
        .await
        .map_err(|s| anyhow::anyhow!(crate::status_line(&s)))?
        .into_inner();
    // From here on the terminal is raw until this function returns, whichever way.
    let raw = if tty { Some(RawMode::enter()?) } else { None };
    let is_raw = raw.is_some();
    spawn_input(tx.clone(), tty);
    if tty {
        spawn_resizes(tx.clone())?;
    }
    let mut stdout = std::io::stdout();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        let ev = tokio::select! {
            ev = events.message() => ev,
            _ = terminate.recv() => return Ok(crate::run::EXIT_NO_RESULT),
            _ = hangup.recv() => return Ok(crate::run::EXIT_NO_RESULT),
        };
        let ev = match ev {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                say(is_raw, "the console ended without its end");
                return Ok(crate::run::EXIT_NO_RESULT);
            }
            Err(s) => {
                drop(raw);
                let why = match s.code() {
                    // The stream broke rather than the scheduler refusing: it stopped, or
                    // another took over; a console lives only on the one it started on.
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
                        format!(
                            "the connection to the scheduler was lost (it stopped, or another \
                             took over), and the program with it ({})",
                            crate::status_line(&s)
                        )
                    }
                    _ => crate::status_line(&s),
                };
                say(false, &format!("the console ended: {why}"));
                return Ok(crate::run::EXIT_NO_RESULT);
            }
        };
        match ev.event {
            Some(Ev::Output(bytes)) => {
                stdout.write_all(&bytes)?;
                stdout.flush()?;
            }
            Some(Ev::Queued(q)) => say(is_raw, &format!("console {} queued", q.job_id)),
            Some(Ev::Assigned(a)) => say(is_raw, &format!("on worker {}", a.worker)),
            Some(Ev::Compiling(_)) => say(is_raw, "compiling"),
            Some(Ev::Running(_)) => say(is_raw, "running"),
            Some(Ev::End(end)) => {
                drop(raw);
                return Ok(ended(&end));
            }
            None => {}
        }
    }
}

/// Tells how the console ended (unless the program simply exited); the exit code.
fn ended(end: &pb::ConsoleEnd) -> u8 {
    let result = (end.outcome != 0).then(|| pb::RunResult {
        outcome: end.outcome,
        exit_code: end.exit_code,
        signal: end.signal,
        ..Default::default()
    });
    match pb::RunOutcome::try_from(end.outcome) {
        Ok(pb::RunOutcome::Exited) => {}
        Ok(pb::RunOutcome::CompileError) => say(
            false,
            &format!("compile error:\n{}", end.message.trim_end()),
        ),
        Ok(o) if o != pb::RunOutcome::Unspecified => say(
            false,
            &format!(
                "console {} ended: {}{}",
                end.job_id,
                judge_common::json::outcome_name(end.outcome),
                end.signal
                    .map(|s| format!(", signal {s}"))
                    .unwrap_or_default()
            ),
        ),
        _ => say(
            false,
            &format!("console {} ended: {}", end.job_id, end.message),
        ),
    }
    crate::run::exit_code(result.as_ref())
}

/// Streams standard input (from a thread: reading a terminal blocks), then, when it is not
/// a terminal, its end.
fn spawn_input(tx: mpsc::Sender<pb::ConsoleRequest>, tty: bool) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let msg = match stdin.read(&mut buf) {
                Ok(0) | Err(_) if tty => return,
                Ok(0) | Err(_) => Msg::Eof(pb::ConsoleEof {}),
                Ok(n) => Msg::Input(buf[..n].to_vec()),
            };
            let eof = matches!(msg, Msg::Eof(_));
            if tx
                .blocking_send(pb::ConsoleRequest { msg: Some(msg) })
                .is_err()
                || eof
            {
                return;
            }
        }
    });
}

/// Forwards this terminal's size whenever it changes.
fn spawn_resizes(tx: mpsc::Sender<pb::ConsoleRequest>) -> std::io::Result<()> {
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    tokio::spawn(async move {
        while winch.recv().await.is_some() {
            let msg = pb::ConsoleRequest {
                msg: Some(Msg::Resize(size())),
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}
