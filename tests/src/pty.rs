//! A program driven through a real pseudo-terminal, as a person at a keyboard drives it:
//! keys written to the terminal's master side, the screen read back from it.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

/// A child process whose standard input, output and error are one terminal.
pub struct PtyProc {
    pub child: Child,
    master: std::fs::File,
    /// The other side, kept to look at its settings (raw or not).
    slave: OwnedFd,
    screen: Arc<(Mutex<Vec<u8>>, Condvar)>,
}

impl PtyProc {
    /// Starts `cmd` on a new terminal of 24×80.
    pub fn spawn(mut cmd: Command) -> Result<PtyProc> {
        let ws = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&ws, None)?;
        let io = |fd: &OwnedFd| -> Result<Stdio> { Ok(Stdio::from(fd.try_clone()?)) };
        cmd.stdin(io(&pty.slave)?)
            .stdout(io(&pty.slave)?)
            .stderr(io(&pty.slave)?);
        // Its own session with this terminal as the controlling one, as a login shell has.
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let master = std::fs::File::from(pty.master);
        let screen = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (mut reader, shared) = (master.try_clone()?, screen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every process holding the terminal is gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let (lock, cv) = &*shared;
                lock.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
        Ok(PtyProc {
            child,
            master,
            slave: pty.slave,
            screen,
        })
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &[u8]) -> Result<()> {
        self.master.write_all(keys)?;
        Ok(self.master.flush()?)
    }

    /// Resizes the terminal, as a person dragging its window's corner does (its foreground
    /// process group gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> Result<()> {
        use std::os::fd::AsRawFd;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize through the pointer, which outlives the call.
        if unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Everything shown so far.
    pub fn screen(&self) -> String {
        let (lock, _) = &*self.screen;
        String::from_utf8_lossy(&lock.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// Waits until the screen shows `text`.
    pub fn expect(&self, text: &str, timeout: Duration) -> Result<()> {
        let (lock, cv) = &*self.screen;
        let deadline = Instant::now() + timeout;
        let mut screen = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if String::from_utf8_lossy(&screen).contains(text) {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(anyhow!(
                    "the screen never showed {text:?}; it shows:\n{}",
                    String::from_utf8_lossy(&screen)
                ));
            }
            screen = cv
                .wait_timeout(screen, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits for the program to exit.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "still running; the screen shows:\n{}",
                    self.screen()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the terminal is in its usual (cooked, echoing) mode.
    pub fn cooked(&self) -> Result<bool> {
        use nix::sys::termios::{tcgetattr, LocalFlags};
        let t = tcgetattr(self.slave.as_fd())?;
        Ok(t.local_flags
            .contains(LocalFlags::ICANON | LocalFlags::ECHO))
    }
}

impl Drop for PtyProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
