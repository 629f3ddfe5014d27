//! The guest agent: how a test runs a command inside a VM. It talks over a virtio serial port
//! (a Unix socket on the host), not the network: the guest has no inbound path, as a worker
//! behind a school's NAT has none, and the tests keep it that way.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// A client of `qemu-guest-agent` in one VM.
pub struct Agent {
    socket: PathBuf,
}

/// One connection, in sync with the agent (answers to earlier, abandoned calls skipped).
struct Session {
    reader: BufReader<tokio::net::unix::OwnedReadHalf>,
    writer: tokio::net::unix::OwnedWriteHalf,
}

impl Session {
    async fn open(socket: &Path) -> Result<Session> {
        let stream = UnixStream::connect(socket)
            .await
            .with_context(|| format!("guest agent socket {}", socket.display()))?;
        let (read, writer) = stream.into_split();
        let mut session = Session {
            reader: BufReader::new(read),
            writer,
        };
        // guest-sync echoes a fresh id: whatever comes before it is stale.
        let id = u64::from(std::process::id()) << 20 | u64::from(rand_id());
        session
            .send(&json!({"execute": "guest-sync", "arguments": {"id": id}}))
            .await?;
        loop {
            let reply = session.receive().await?;
            if reply.get("return").and_then(Value::as_u64) == Some(id) {
                return Ok(session);
            }
        }
    }

    async fn send(&mut self, message: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(message)?;
        line.push(b'\n');
        self.writer.write_all(&line).await?;
        Ok(())
    }

    async fn receive(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).await? == 0 {
            bail!("the guest agent closed the connection");
        }
        let text = line.trim();
        serde_json::from_str(text).with_context(|| format!("guest agent said {text:?}"))
    }

    async fn call(&mut self, execute: &str, arguments: Value) -> Result<Value> {
        self.send(&json!({"execute": execute, "arguments": arguments}))
            .await?;
        let reply = self.receive().await?;
        if let Some(error) = reply.get("error") {
            bail!("guest agent {execute}: {error}");
        }
        reply
            .get("return")
            .cloned()
            .ok_or_else(|| anyhow!("guest agent {execute}: no return in {reply}"))
    }
}

/// A small number that differs between calls (sync ids need not be secret).
fn rand_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Agent {
    pub fn new(socket: PathBuf) -> Agent {
        Agent { socket }
    }

    /// Waits until the agent in the guest answers (it starts late in the guest's boot).
    pub async fn wait(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let attempt =
                tokio::time::timeout(Duration::from_secs(3), Session::open(&self.socket)).await;
            if let Ok(Ok(_)) = attempt {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the guest agent did not answer within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs `script` with `/bin/sh -c` in the guest, as root, and waits for it to end.
    pub async fn sh(&self, script: &str, timeout: Duration) -> Result<Output> {
        let run = async {
            let mut session = Session::open(&self.socket).await?;
            let started = session
                .call(
                    "guest-exec",
                    json!({"path": "/bin/sh", "arg": ["-c", script], "capture-output": true}),
                )
                .await?;
            let pid = started
                .get("pid")
                .and_then(Value::as_i64)
                .ok_or_else(|| anyhow!("guest-exec gave no pid: {started}"))?;
            loop {
                let status = session
                    .call("guest-exec-status", json!({"pid": pid}))
                    .await?;
                if status.get("exited").and_then(Value::as_bool) == Some(true) {
                    let text = |key: &str| -> Result<String> {
                        let data = status.get(key).and_then(Value::as_str).unwrap_or("");
                        let bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
                        Ok(String::from_utf8_lossy(&bytes).into_owned())
                    };
                    return Ok(Output {
                        // A command killed by a signal has no exit code: say so as -signal.
                        code: status
                            .get("exitcode")
                            .and_then(Value::as_i64)
                            .or_else(|| status.get("signal").and_then(Value::as_i64).map(|s| -s))
                            .unwrap_or(-1),
                        stdout: text("out-data")?,
                        stderr: text("err-data")?,
                    });
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| anyhow!("{script:?} did not end in the guest within {timeout:?}"))?
    }

    /// Like [`Agent::sh`], failing unless the script exits 0; its standard output.
    pub async fn check(&self, script: &str, timeout: Duration) -> Result<String> {
        let out = self.sh(script, timeout).await?;
        if out.code != 0 {
            bail!(
                "{script:?} exited {} in the guest:\n{}{}",
                out.code,
                out.stdout,
                out.stderr
            );
        }
        Ok(out.stdout)
    }

    /// Starts `script` in the guest without waiting: for commands that take the agent down
    /// with them (a reboot).
    pub async fn spawn(&self, script: &str) -> Result<()> {
        let mut session = Session::open(&self.socket).await?;
        session
            .call(
                "guest-exec",
                json!({"path": "/bin/sh", "arg": ["-c", script]}),
            )
            .await?;
        Ok(())
    }
}
