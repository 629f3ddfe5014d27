//! Two schedulers on one PostgreSQL server of the test's own, for the fail-over tests and
//! `judge-bench failover`: real processes on loopback, each on ports fixed at start (a
//! standby and the leader it becomes answer on the same ones).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::{bin, WorkerProc, WAIT};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Whether a PostgreSQL server can be started here; says SKIPPED loudly when not, and fails
/// instead under `JUDGE_REQUIRE_TOOLS=1` (as `.ci/run` sets).
pub fn postgres_available(test: &str) -> Result<bool> {
    let found = Path::new(PG_BIN).join("initdb").exists()
        && nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .is_some()
        && nix::unistd::geteuid().is_root();
    if found {
        return Ok(true);
    }
    let why = format!("{PG_BIN}/initdb, a postgres user and root are needed");
    if std::env::var("JUDGE_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
        bail!("{test}: {why}");
    }
    eprintln!("*** SKIPPED {test}: {why} ***");
    Ok(false)
}

/// A PostgreSQL 15 server in a temporary directory, on a free loopback port.
pub struct PgServer {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PgServer {
    pub fn start() -> Result<PgServer> {
        let dir = tempfile::tempdir()?;
        let owner =
            nix::unistd::User::from_name("postgres")?.ok_or_else(|| anyhow!("no postgres user"))?;
        nix::unistd::chown(dir.path(), Some(owner.uid), Some(owner.gid))?;
        let port = free_port()?;
        let pg = PgServer { dir, port };
        pg.as_postgres(
            &["initdb", "-D"],
            &[&pg.data(), "-U", "judge", "--auth=trust"],
        )?;
        pg.start_again()?;
        Ok(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, cmd: &[&str], args: &[&str]) -> Result<()> {
        let out = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join(cmd[0]))
            .args(&cmd[1..])
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "{} failed: {}",
                cmd[0],
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Starts the server (again, after [`PgServer::stop`]); returns once it accepts.
    pub fn start_again(&self) -> Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.as_postgres(
            &["pg_ctl", "-D"],
            &[&self.data(), "-w", "-l", &log, "-o", &options, "start"],
        )
    }

    /// Stops the server at once (`immediate`: as a crash, recovered at the next start).
    pub fn stop(&self) -> Result<()> {
        self.as_postgres(
            &["pg_ctl", "-D"],
            &[&self.data(), "-m", "immediate", "-w", "stop"],
        )
    }

    pub fn url(&self) -> String {
        format!("postgres://judge@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A free loopback port (bound, then let go).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// One `judge-scheduler serve` on the shared database.
pub struct HaScheduler {
    child: Child,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    log: PathBuf,
}

impl HaScheduler {
    /// Starts on fixed free ports; returns once its ports answer (as a standby or leader).
    pub async fn start(db: &str, data_dir: &Path, extra: &[&str]) -> Result<HaScheduler> {
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        Self::start_on(db, data_dir, grpc, http, extra).await
    }

    /// Starts on the given ports (a scheduler started again where it was).
    pub async fn start_on(
        db: &str,
        data_dir: &Path,
        grpc: SocketAddr,
        http: SocketAddr,
        extra: &[&str],
    ) -> Result<HaScheduler> {
        std::fs::create_dir_all(data_dir)?;
        let log = data_dir.parent().unwrap_or(data_dir).join(format!(
            "scheduler-{}-{}.log",
            grpc.port(),
            std::time::UNIX_EPOCH.elapsed()?.as_nanos()
        ));
        let mut child = Command::new(bin("judge-scheduler"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--database", db])
            .args(["--listen", &grpc.to_string()])
            .args(["--http-listen", &http.to_string()])
            .args(["--max-queued", "100000", "--max-queued-per-token", "100000"])
            .args(extra)
            .args(crate::relaxed_limits(extra))
            .env(
                "RUST_LOG",
                std::env::var("JUDGE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting judge-scheduler")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .map_err(|_| anyhow!("the scheduler did not start"))??;
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        match first {
            Some(line) if line == format!("listening on {grpc}") => {}
            other => bail!("unexpected first line {other:?}; log: {}", read_log()),
        }
        // Later lines (a restart as a standby prints them again) are read and dropped.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(HaScheduler {
            child,
            grpc,
            http,
            log,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Result<Pid> {
        Ok(Pid::from_raw(
            self.child.id().ok_or_else(|| anyhow!("gone"))? as i32,
        ))
    }

    pub fn signal(&self, sig: Signal) -> Result<()> {
        kill(self.pid()?, sig)?;
        Ok(())
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the process to end (after SIGTERM, say).
    pub async fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        Ok(tokio::time::timeout(timeout, self.child.wait()).await??)
    }

    /// Whether it leads: its `/readyz` says ready (within a second: a stopped process's
    /// port still accepts, and never answers).
    pub async fn leads(&self) -> bool {
        let ready = tokio::time::timeout(Duration::from_secs(1), http_get(self.http, "/readyz"));
        matches!(ready.await, Ok(Ok((200, _))))
    }
}

/// A GET on the HTTP side: the status and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    http_call(addr, "GET", path, "").await
}

/// A request with a JSON body (empty for none): the status and the body.
pub async fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(u16, String)> {
    let call = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        let status = out
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("no status in {out:?}"))?;
        let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        Ok::<_, anyhow::Error>((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), call).await?
}

/// Two schedulers on a PostgreSQL of their own, the first leading, tokens made, and the
/// `aplusb` example pushed.
pub struct Pair {
    pub dir: tempfile::TempDir,
    pub scheds: Vec<HaScheduler>,
    pub admin: String,
    pub submitter: String,
    pub worker_token: String,
    pub workers: Vec<WorkerProc>,
    extra: Vec<String>,
    // Dropped last: the schedulers go before their database.
    pub pg: PgServer,
}

impl Pair {
    pub async fn start(extra: &[&str]) -> Result<Pair> {
        let pg = PgServer::start()?;
        let dir = tempfile::tempdir()?;
        let db = pg.url();
        let mut tokens = Vec::new();
        for (role, name) in [
            ("admin", "admin"),
            ("submitter", "student"),
            ("worker", "fleet"),
        ] {
            let at = ["--database", db.as_str()];
            tokens.push(crate::token_with(
                &dir.path().join("tokens"),
                role,
                name,
                &at,
            )?);
        }
        let a = HaScheduler::start(&db, &dir.path().join("a"), extra).await?;
        let deadline = Instant::now() + WAIT;
        while !a.leads().await {
            if Instant::now() > deadline {
                bail!("the first scheduler never led; log: {}", a.log());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let b = HaScheduler::start(&db, &dir.path().join("b"), extra).await?;
        let pair = Pair {
            dir,
            scheds: vec![a, b],
            admin: tokens[0].clone(),
            submitter: tokens[1].clone(),
            worker_token: tokens[2].clone(),
            workers: Vec::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            pg,
        };
        let mut admin = crate::admin_client(&pair.urls(), &pair.admin).await?;
        crate::push(
            &mut admin,
            &crate::example_problem("aplusb"),
            "aplusb",
            Some(20.0),
        )
        .await?;
        Ok(pair)
    }

    /// Both URLs, as workers and judgectl are given them.
    pub fn urls(&self) -> String {
        self.scheds
            .iter()
            .map(HaScheduler::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn db(&self) -> String {
        self.pg.url()
    }

    /// `judge-scheduler token ARGS` on the pair's database: its output.
    pub fn token(&self, args: &[&str]) -> Result<String> {
        let db = self.db();
        let mut args = args.to_vec();
        args.extend(["--database", db.as_str()]);
        crate::token_command(&self.dir.path().join("tokens"), &args)
    }

    pub fn add_worker(&mut self, name: &str, slots: u32) -> Result<()> {
        let w = WorkerProc::start(
            &self.urls(),
            &self.worker_token,
            name,
            slots,
            self.dir.path(),
        )?;
        self.workers.push(w);
        Ok(())
    }

    /// The index of the one that leads, once one does (within `timeout`).
    pub async fn leader(&self, timeout: Duration) -> Result<usize> {
        self.leader_besides(None, timeout).await
    }

    /// The index of the one that leads, once one other than `old` does.
    pub async fn leader_besides(&self, old: Option<usize>, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            for (i, s) in self.scheds.iter().enumerate() {
                if Some(i) != old && s.leads().await {
                    return Ok(i);
                }
            }
            if Instant::now() > deadline {
                bail!("no scheduler leads; logs:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts scheduler `i` again on its ports (after a kill), as it would be by systemd.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        let (grpc, http) = (self.scheds[i].grpc, self.scheds[i].http);
        let name = if i == 0 { "a" } else { "b" };
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.scheds[i] = HaScheduler::start_on(
            &self.pg.url(),
            &self.dir.path().join(name),
            grpc,
            http,
            &extra,
        )
        .await?;
        Ok(())
    }

    /// Connected workers as the leader sees them.
    pub async fn wait_workers(&self, n: usize) -> Result<()> {
        let judge = crate::judge_client(&self.urls(), &self.admin).await?;
        crate::connected_workers(&judge, n, WAIT).await?;
        Ok(())
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.scheds.iter().enumerate() {
            out.push_str(&format!("--- scheduler {i}\n{}\n", tail(&s.log())));
        }
        for w in &self.workers {
            out.push_str(&format!("--- worker {}\n{}\n", w.name, tail(&w.log())));
        }
        out
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
