//! Harness for end-to-end tests: starts the real binaries on loopback, talks to them over
//! gRPC, and waits on events (never on fixed sleeps).

pub mod cases;
pub mod chaos;
pub mod curl;
pub mod ha;
pub mod packages;
pub mod proxy;
pub mod pty;
pub mod raw;
pub mod sharesim;
pub mod sim;
pub mod tmpfs;
pub mod tracesim;
pub mod vm;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use judge_common::auth::Bearer;
use judge_common::pb;
use judge_common::pb::admin_service_client::AdminServiceClient;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use judgectl::Authed;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Generous: CI machines are slow and debug builds slower.
pub const WAIT: Duration = Duration::from_secs(60);

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of a workspace binary. The first call builds all of them (a no-op when they are up
/// to date): `cargo test -p judge-tests` alone would not rebuild another package's binaries,
/// and testing a stale binary is worse than a second of `cargo build`.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .map(|d| {
            if d.ends_with("deps") {
                d.parent().map(Path::to_path_buf).unwrap_or(d)
            } else {
                d
            }
        })
        .expect("test binary has a directory");
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Build in the profile this program was built in (the benchmark runs in release).
        let release = dir.ends_with("release");
        let mut build = std::process::Command::new(cargo);
        // What cargo set for this test crate must not reach the build: build scripts that
        // watch such variables (ring's watches CARGO_PKG_NAME) would rebuild every time.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            let per_crate = ["CARGO_PKG_", "CARGO_BIN_", "CARGO_CFG_"]
                .iter()
                .any(|p| key.starts_with(p))
                || [
                    "CARGO_MANIFEST_DIR",
                    "CARGO_MANIFEST_PATH",
                    "CARGO_MANIFEST_LINKS",
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "OUT_DIR",
                ]
                .contains(&key.as_ref());
            if per_crate {
                build.env_remove(key.as_ref());
            }
        }
        let status = build
            .args(["build", "--bins"])
            .args(release.then_some("--release"))
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the binaries failed");
    });
    dir.join(name)
}

/// Asserts that `r` was refused with `code` and a message mentioning `needle`.
pub fn assert_status<T: std::fmt::Debug>(
    r: Result<T, tonic::Status>,
    code: tonic::Code,
    needle: &str,
) {
    let err = r.expect_err("the request should be refused");
    assert_eq!(err.code(), code, "{}", err.message());
    assert!(
        err.message().contains(needle),
        "message {:?} should mention {needle:?}",
        err.message()
    );
}

/// Polls `f` until it yields a value, or fails after `timeout` naming what it waited for.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a token with the scheduler's own command.
pub fn token(data_dir: &Path, role: &str, name: &str) -> Result<String> {
    token_with(data_dir, role, name, &[])
}

/// As [`token`], with more flags for `token create` (`--max-priority contest`, say).
pub fn token_with(data_dir: &Path, role: &str, name: &str, extra: &[&str]) -> Result<String> {
    let mut args = vec!["create", "--role", role, "--name", name];
    args.extend(extra);
    token_command(data_dir, &args)
}

/// Runs `judge-scheduler token ARGS` (as an operator would, beside the scheduler): its
/// standard output, trimmed.
pub fn token_command(data_dir: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(bin("judge-scheduler"))
        .arg("token")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()?;
    if !out.status.success() {
        bail!(
            "token {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// Tests and benchmarks submit in bursts from one token: the per-token rate, running and
/// console limits stay out of their way unless `extra` (a test's own flags) sets them.
pub fn relaxed_limits(extra: &[&str]) -> Vec<&'static str> {
    let mut limits = Vec::new();
    for (flag, value) in [
        ("--submit-rate", "1000000"),
        ("--submit-burst", "1000000"),
        ("--max-running-per-token", "1000000"),
        ("--max-consoles-per-token", "1000000"),
    ] {
        if !extra.iter().any(|a| a.starts_with(flag)) {
            limits.extend([flag, value]);
        }
    }
    limits
}

/// A `judge-scheduler serve` process.
pub struct SchedulerProc {
    child: Child,
    pub addr: SocketAddr,
    /// Where its HTTP side listens (a free port unless the test chose one).
    pub http_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    log: PathBuf,
}

impl SchedulerProc {
    /// Starts on a free loopback port with the given extra flags.
    pub async fn start(data_dir: &Path, extra: &[&str]) -> Result<SchedulerProc> {
        Self::start_on(data_dir, "127.0.0.1:0", extra).await
    }

    pub async fn start_on(data_dir: &Path, listen: &str, extra: &[&str]) -> Result<SchedulerProc> {
        std::fs::create_dir_all(data_dir)?;
        // Beside the data dir, not in it: a test may fill the data dir's disk.
        let log = data_dir.parent().unwrap_or(data_dir).join(format!(
            "scheduler-{}.log",
            std::time::UNIX_EPOCH.elapsed()?.as_nanos()
        ));
        let own_http = extra.iter().any(|a| a.starts_with("--http-listen"));
        let limits = relaxed_limits(extra);
        let mut child = Command::new(bin("judge-scheduler"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", listen])
            .args(if own_http {
                &[][..]
            } else {
                &["--http-listen", "127.0.0.1:0"][..]
            })
            .args(extra)
            .args(&limits)
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
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .map_err(|_| {
                anyhow!(
                    "scheduler did not start; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })??
            .ok_or_else(|| {
                anyhow!(
                    "scheduler exited; log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })?;
        let addr = line
            .strip_prefix("listening on ")
            .ok_or_else(|| anyhow!("unexpected first line {line:?}"))?
            .parse()?;
        let http_off = extra.windows(2).any(|w| w == ["--http-listen", "none"]);
        let http_addr = if http_off {
            None
        } else {
            let line = tokio::time::timeout(WAIT, lines.next_line())
                .await
                .map_err(|_| anyhow!("no http line"))??
                .ok_or_else(|| anyhow!("scheduler exited before its http line"))?;
            Some(
                line.strip_prefix("http listening on ")
                    .ok_or_else(|| anyhow!("unexpected second line {line:?}"))?
                    .parse()?,
            )
        };
        Ok(SchedulerProc {
            child,
            addr,
            http_addr,
            data_dir: data_dir.to_path_buf(),
            log,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A `judge-worker` process.
pub struct WorkerProc {
    child: Child,
    pub name: String,
    log: PathBuf,
}

impl WorkerProc {
    pub fn start(
        scheduler: &str,
        token: &str,
        name: &str,
        slots: u32,
        dir: &Path,
    ) -> Result<WorkerProc> {
        Self::start_with(scheduler, token, name, slots, dir, &[])
    }

    /// Starts with extra flags (e.g. `--cache-size 3MiB`). The work dir depends only on the
    /// name, so a restarted worker finds its cache again.
    pub fn start_with(
        scheduler: &str,
        token: &str,
        name: &str,
        slots: u32,
        dir: &Path,
        extra: &[&str],
    ) -> Result<WorkerProc> {
        let work = dir.join(format!("work-{name}"));
        std::fs::create_dir_all(&work)?;
        let log = dir.join(format!(
            "worker-{name}-{}.log",
            std::time::UNIX_EPOCH.elapsed()?.as_nanos()
        ));
        let child = Command::new(bin("judge-worker"))
            .args(["--scheduler", scheduler, "--token", token, "--name", name])
            .args(["--slots", &slots.to_string()])
            .arg("--work-dir")
            .arg(&work)
            .args(["--drain-timeout-seconds", "30"])
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("JUDGE_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()
            .context("starting judge-worker")?;
        Ok(WorkerProc {
            child,
            name: name.to_string(),
            log,
        })
    }

    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM: the worker drains.
    pub fn terminate(&self) -> Result<()> {
        let pid = self
            .child
            .id()
            .ok_or_else(|| anyhow!("worker already exited"))?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        )?;
        Ok(())
    }

    /// Waits for the process to exit on its own; its exit status.
    pub async fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        Ok(tokio::time::timeout(timeout, self.child.wait())
            .await
            .map_err(|_| anyhow!("worker did not exit"))??)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The pid of the worker's spawn helper (`judge-spawn`, its child).
    pub fn spawn_helper(&self) -> Option<u32> {
        children_of(self.pid()?)
            .into_iter()
            .find(|p| proc_status(*p, "Name").as_deref() == Some("judge-spawn"))
    }
}

/// A field of `/proc/<pid>/status`, if the process exists.
pub fn proc_status(pid: u32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// The processes whose parent is `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    let parent = pid.to_string();
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|p| proc_status(*p, "PPid").as_deref() == Some(parent.as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until process `pid` is gone (or a zombie), for at most [`WAIT`].
pub async fn wait_gone(pid: u32) -> Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while proc_status(pid, "State").is_some_and(|s| !s.starts_with('Z')) {
        if tokio::time::Instant::now() > deadline {
            bail!("process {pid} still there after {WAIT:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Inodes of the listening TCP sockets on this machine (IPv4 and IPv6).
pub fn listening_socket_inodes() -> std::collections::HashSet<u64> {
    let mut out = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Column 3 is the state (0A = LISTEN), column 9 the inode.
            if cols.get(3) == Some(&"0A") {
                if let Some(inode) = cols.get(9).and_then(|i| i.parse().ok()) {
                    out.insert(inode);
                }
            }
        }
    }
    out
}

/// Inodes of the sockets a process has open.
pub fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.filter_map(|fd| {
        let target = std::fs::read_link(fd.ok()?.path()).ok()?;
        let t = target.to_str()?;
        t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    })
    .collect()
}

/// The CA the harness's clients trust for `https://` URLs (see [`trust_ca`]).
static TRUSTED_CA: std::sync::RwLock<Option<PathBuf>> = std::sync::RwLock::new(None);

/// Makes every client of the harness trust `ca` for `https://` URLs.
pub fn trust_ca(ca: &Path) {
    *TRUSTED_CA.write().unwrap_or_else(|p| p.into_inner()) = Some(ca.to_path_buf());
}

async fn channel(url: &str) -> Result<judge_common::failover::Failover> {
    let tls = judge_common::channel::ClientTls {
        ca_cert: url
            .starts_with("https://")
            .then(|| TRUSTED_CA.read().unwrap_or_else(|p| p.into_inner()).clone())
            .flatten(),
        identity: None,
    };
    judgectl::dial(url, &tls).await
}

pub async fn judge_client(url: &str, token: &str) -> Result<JudgeServiceClient<Authed>> {
    // Run jobs' results carry whole outputs.
    Ok(
        JudgeServiceClient::with_interceptor(channel(url).await?, Bearer::new(token)?)
            .max_decoding_message_size(1 << 30)
            .max_encoding_message_size(1 << 30),
    )
}

pub async fn admin_client(url: &str, token: &str) -> Result<AdminServiceClient<Authed>> {
    Ok(AdminServiceClient::with_interceptor(
        channel(url).await?,
        Bearer::new(token)?,
    ))
}

pub async fn worker_client(url: &str, token: &str) -> Result<WorkerServiceClient<Authed>> {
    Ok(WorkerServiceClient::with_interceptor(
        channel(url).await?,
        Bearer::new(token)?,
    ))
}

/// Pushes a problem directory, like `judgectl problem push`.
pub async fn push(
    admin: &mut AdminServiceClient<Authed>,
    dir: &Path,
    id: &str,
    time_limit: Option<f64>,
) -> Result<()> {
    judgectl::push::push(admin, dir, Some(id.to_string()), time_limit).await?;
    Ok(())
}

/// One of the bundled example problems.
pub fn example_problem(name: &str) -> PathBuf {
    workspace().join("examples/problems").join(name)
}

/// Submits `source` and returns the job id.
pub async fn submit(
    judge: &mut JudgeServiceClient<Authed>,
    problem: &str,
    language: &str,
    source: &str,
) -> Result<u64> {
    let req = pb::SubmitRequest {
        problem_id: problem.into(),
        language: language.into(),
        source: source.as_bytes().to_vec(),
        ..Default::default()
    };
    Ok(judge.submit(req).await?.into_inner().job_id)
}

pub fn is_final(state: i32) -> bool {
    matches!(
        pb::JobState::try_from(state),
        Ok(pb::JobState::Done) | Ok(pb::JobState::Cancelled) | Ok(pb::JobState::Failed)
    )
}

/// Waits until the job has ended (following its event stream, resuming if it drops).
pub async fn wait_finished(judge: &mut JudgeServiceClient<Authed>, job_id: u64) -> Result<pb::Job> {
    wait_state(judge, job_id, "finished", |j| is_final(j.state)).await
}

/// Waits until `pred` holds for the job, re-reading it after every event.
pub async fn wait_state(
    judge: &mut JudgeServiceClient<Authed>,
    job_id: u64,
    what: &str,
    pred: impl Fn(&pb::Job) -> bool,
) -> Result<pb::Job> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut after = 0;
    loop {
        if let Ok(job) = judge.get_job(pb::GetJobRequest { job_id }).await {
            let job = job.into_inner();
            if pred(&job) {
                return Ok(job);
            }
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            bail!("job {job_id} not {what} within {WAIT:?}");
        }
        // Block until the next event (or a short while, if the stream is unavailable).
        let next = async {
            let mut s = judge
                .watch_job(pb::WatchJobRequest {
                    job_id,
                    after_seq: after,
                })
                .await
                .ok()?
                .into_inner();
            s.message().await.ok().flatten()
        };
        match tokio::time::timeout((deadline - now).min(Duration::from_secs(2)), next).await {
            Ok(Some(ev)) => after = ev.seq,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A Python submission for `aplusb` that runs for about `seconds` before answering.
pub fn slow_aplusb(seconds: f64) -> String {
    format!("import time\ntime.sleep({seconds})\na, b = map(int, input().split())\nprint(a + b)\n")
}

/// Whether headless Chromium and its driver are installed; when not, the caller skips (and
/// this fails instead with `JUDGE_REQUIRE_TOOLS=1`).
pub fn browser_ready() -> anyhow::Result<bool> {
    let driver = workspace().join("tests/browser/node_modules/playwright-core");
    let ready = driver.exists() && std::path::Path::new("/usr/bin/chromium").exists();
    if !ready {
        if std::env::var("JUDGE_REQUIRE_TOOLS").as_deref() == Ok("1") {
            anyhow::bail!(
                "chromium or tests/browser/node_modules missing (npm ci in tests/browser)"
            );
        }
        eprintln!("SKIPPED: chromium or playwright-core not installed");
    }
    Ok(ready)
}

/// A run job that sleeps a second (Python).
pub fn sleeping_run() -> pb::SubmitRequest {
    pb::SubmitRequest {
        language: "python3".into(),
        job_type: "run".into(),
        source: b"import time\ntime.sleep(1)\n".to_vec(),
        ..Default::default()
    }
}

pub const AC_PY: &str = "a, b = map(int, input().split())\nprint(a + b)\n";
pub const WA_PY: &str = "a, b = map(int, input().split())\nprint(a - b)\n";

/// A scheduler with tokens made and the `aplusb` example pushed: the start of most tests.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub sched: SchedulerProc,
    pub admin: String,
    pub worker_token: String,
    pub submitter: String,
    pub workers: Vec<WorkerProc>,
}

impl Cluster {
    pub async fn start(extra: &[&str]) -> Result<Cluster> {
        Self::start_with(|_| Ok(()), extra).await
    }

    /// Like [`Cluster::start`], calling `prepare` with the (empty) data dir first: to mount
    /// a small file system there, for example.
    pub async fn start_with(
        prepare: impl FnOnce(&Path) -> Result<()>,
        extra: &[&str],
    ) -> Result<Cluster> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data)?;
        prepare(&data)?;
        let admin = token(&data, "admin", "admin")?;
        let worker_token = token(&data, "worker", "workers")?;
        let submitter = token(&data, "submitter", "student")?;
        // As if a standard worker had connected once: Submit accepts only offered languages.
        let store =
            judge_scheduler::store::Store::open(&format!("sqlite://{}/judge.db", data.display()))
                .await?;
        let standard: Vec<(String, String)> = ["c", "cpp", "java", "python3", "rust"]
            .iter()
            .map(|l| (l.to_string(), "test".to_string()))
            .collect();
        store.offer_languages(&standard, 0).await?;
        store.close().await;
        let sched = SchedulerProc::start(&data, extra).await?;
        let mut a = admin_client(&sched.url(), &admin).await?;
        push(&mut a, &example_problem("aplusb"), "aplusb", Some(20.0)).await?;
        Ok(Cluster {
            dir,
            sched,
            admin,
            worker_token,
            submitter,
            workers: Vec::new(),
        })
    }

    /// A cluster whose scheduler scales the fleet: a worker token for the workers it starts
    /// is written to `token_file` (and passed as `--scale-token-file`); `flags` are the
    /// commands, bounds and timings.
    pub async fn start_scaling(token_file: &Path, flags: &[&str]) -> Result<Cluster> {
        let path = token_file.to_path_buf();
        let file = token_file.to_string_lossy().into_owned();
        let mut all = vec!["--scale-token-file", file.as_str()];
        all.extend_from_slice(flags);
        Self::start_with(
            move |data| {
                std::fs::write(&path, token(data, "worker", "autoscale")?)?;
                Ok(())
            },
            &all,
        )
        .await
    }

    pub fn add_worker(&mut self, name: &str, slots: u32) -> Result<()> {
        self.add_worker_at(&self.sched.url(), name, slots)
    }

    pub fn add_worker_at(&mut self, url: &str, name: &str, slots: u32) -> Result<()> {
        self.add_worker_with(url, name, slots, &[])
    }

    pub fn add_worker_with(
        &mut self,
        url: &str,
        name: &str,
        slots: u32,
        extra: &[&str],
    ) -> Result<()> {
        let w =
            WorkerProc::start_with(url, &self.worker_token, name, slots, self.dir.path(), extra)?;
        self.workers.push(w);
        Ok(())
    }

    /// The worker as `ListWorkers` shows it now.
    pub async fn worker_info(&self, name: &str) -> Result<pb::WorkerInfo> {
        let mut judge = self.judge().await?;
        let list = judge
            .list_workers(pb::ListWorkersRequest {})
            .await?
            .into_inner()
            .workers;
        list.into_iter()
            .find(|w| w.name == name && w.connected)
            .ok_or_else(|| anyhow!("worker {name} not connected"))
    }

    /// Makes and pushes a problem whose one test has an input of `size` bytes (a number on
    /// the first line, filler after) and a short answer; [`FIRST_LINE_PY`] solves it.
    pub async fn push_sized(&self, id: &str, size: usize, seed: u8) -> Result<PathBuf> {
        let dir = self.dir.path().join("problems").join(id);
        std::fs::create_dir_all(dir.join("data/secret"))?;
        let mut input = format!("{seed}{id}\n").into_bytes();
        input.resize(size.max(input.len()), b'.');
        input.push(b'\n');
        std::fs::write(dir.join("data/secret/1.in"), &input)?;
        std::fs::write(dir.join("data/secret/1.ans"), format!("{seed}{id}\n"))?;
        let mut admin = admin_client(&self.sched.url(), &self.admin).await?;
        push(&mut admin, &dir, id, Some(20.0)).await?;
        Ok(dir)
    }
}

/// Solves the problems of [`Cluster::push_sized`].
pub const FIRST_LINE_PY: &str = "import sys\nprint(sys.stdin.readline().strip())\n";

impl Cluster {
    pub async fn judge(&self) -> Result<JudgeServiceClient<Authed>> {
        judge_client(&self.sched.url(), &self.admin).await
    }

    /// A new submitter token `name`, once the running scheduler accepts it (it learns of
    /// new tokens at its next refresh): the token and a client that uses it.
    pub async fn another_submitter(
        &self,
        name: &str,
    ) -> Result<(String, JudgeServiceClient<Authed>)> {
        self.another_submitter_with(name, &[]).await
    }

    /// As [`Cluster::another_submitter`], with more flags for `token create`.
    pub async fn another_submitter_with(
        &self,
        name: &str,
        extra: &[&str],
    ) -> Result<(String, JudgeServiceClient<Authed>)> {
        let text = token_with(&self.dir.path().join("data"), "submitter", name, extra)?;
        let client = judge_client(&self.sched.url(), &text).await?;
        eventually(&format!("{name}'s token works"), WAIT, || {
            let mut client = client.clone();
            async move {
                client
                    .list_problems(pb::ListProblemsRequest {})
                    .await
                    .ok()
                    .map(|_| ())
            }
        })
        .await?;
        Ok((text, client))
    }

    /// Pushes the bundled example problem `example` as problem `id`, with its time limit
    /// replaced when given.
    pub async fn push_example(
        &self,
        example: &str,
        id: &str,
        time_limit: Option<f64>,
    ) -> Result<()> {
        let mut admin = admin_client(&self.sched.url(), &self.admin).await?;
        push(&mut admin, &example_problem(example), id, time_limit).await
    }

    /// Waits until `n` workers are connected.
    pub async fn wait_workers(&self, n: usize) -> Result<Vec<pb::WorkerInfo>> {
        connected_workers(&self.judge().await?, n, WAIT)
            .await
            .map_err(|e| {
                let logs: Vec<String> = self.workers.iter().map(|w| w.log()).collect();
                anyhow!("{e}; worker logs: {}", logs.join("\n---\n"))
            })
    }

    /// Runs `judgectl` as the admin against this cluster's scheduler.
    pub fn judgectl(&self, args: &[&str]) -> Result<std::process::Output> {
        Ok(std::process::Command::new(bin("judgectl"))
            .args(["--scheduler", &self.sched.url(), "--token", &self.admin])
            .args(args)
            .output()?)
    }

    /// Every log, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut s = format!("== scheduler ==\n{}", self.sched.log());
        for w in &self.workers {
            s.push_str(&format!("\n== worker {} ==\n{}", w.name, w.log()));
        }
        s
    }
}

/// Waits until `pred` holds for the workers `ListWorkers` shows; returns them.
pub async fn workers_where(
    judge: &JudgeServiceClient<Authed>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&[pb::WorkerInfo]) -> bool,
) -> Result<Vec<pb::WorkerInfo>> {
    let pred = &pred;
    eventually(what, timeout, || {
        let mut judge = judge.clone();
        async move {
            let list = judge
                .list_workers(pb::ListWorkersRequest {})
                .await
                .ok()?
                .into_inner()
                .workers;
            pred(&list).then_some(list)
        }
    })
    .await
}

/// Waits until at least `n` workers are connected; returns them.
pub async fn connected_workers(
    judge: &JudgeServiceClient<Authed>,
    n: usize,
    timeout: Duration,
) -> Result<Vec<pb::WorkerInfo>> {
    let list = workers_where(judge, &format!("{n} connected workers"), timeout, |l| {
        l.iter().filter(|w| w.connected).count() >= n
    })
    .await?;
    Ok(list.into_iter().filter(|w| w.connected).collect())
}

/// Submits a job that runs about `seconds` and waits until a worker runs it.
pub async fn start_slow(judge: &mut JudgeServiceClient<Authed>, seconds: f64) -> Result<u64> {
    let id = submit(judge, "aplusb", "python3", &slow_aplusb(seconds)).await?;
    wait_state(judge, id, "running", |j| {
        j.state == pb::JobState::Running as i32
    })
    .await?;
    Ok(id)
}

/// All events of a finished job, in order, as the scheduler sends them until it ends the
/// watch (after the job's last end: a job judged again ends once per judging).
pub async fn events(
    judge: &mut JudgeServiceClient<Authed>,
    job_id: u64,
) -> Result<Vec<pb::JobEvent>> {
    let mut stream = judge
        .watch_job(pb::WatchJobRequest {
            job_id,
            after_seq: 0,
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(WAIT, stream.message())
            .await
            .map_err(|_| anyhow!("no event within {WAIT:?}"))??;
        let Some(ev) = next else { break };
        out.push(ev);
    }
    Ok(out)
}

/// A connected TCP socket of another process, as its options stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOptions {
    pub local: String,
    pub peer: String,
    pub nodelay: bool,
    pub keepalive: bool,
}

/// The options of every connected TCP socket that process `pid` has open, read from copies
/// of its descriptors (`pidfd_getfd`, which needs root or ptrace rights over it).
pub fn tcp_options(pid: u32) -> Result<Vec<TcpOptions>> {
    use nix::sys::socket::{getpeername, getsockname, getsockopt, sockopt, SockaddrStorage};
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: a plain system call with integer arguments.
    let pidfd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if pidfd < 0 {
        bail!("pidfd_open({pid}): {}", std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        let is_socket = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        let Some(target) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call with integer arguments.
        let fd =
            unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) };
        if fd < 0 {
            continue; // closed meanwhile
        }
        // SAFETY: the descriptor was just returned to us and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let Ok(peer) = getpeername::<SockaddrStorage>(fd.as_raw_fd()) else {
            continue; // a listener, or not connected
        };
        if peer.as_sockaddr_in().is_none() && peer.as_sockaddr_in6().is_none() {
            continue; // a Unix socket
        }
        let local = getsockname::<SockaddrStorage>(fd.as_raw_fd())?;
        out.push(TcpOptions {
            local: local.to_string(),
            peer: peer.to_string(),
            nodelay: getsockopt(&fd, sockopt::TcpNoDelay)?,
            keepalive: getsockopt(&fd, sockopt::KeepAlive)?,
        });
    }
    Ok(out)
}
