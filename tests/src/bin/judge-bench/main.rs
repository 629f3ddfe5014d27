//! Benchmarks against the real `judge-scheduler` binary on SQLite, driven by simulated
//! workers (real gRPC clients that finish each job at once) or real workers. Each is
//! `cargo run --release --bin judge-bench -- COMMAND`; BENCHMARKS.md has the figures.
//!
//! - `throughput`: jobs/s end to end (submit to result stored), then p50/p99 submit-to-assign
//!   latency at half that rate, in plaintext and over TLS.
//! - `fleet`: the same with fleets of 1, 100, 1,000 and 5,000 workers, as ratios.
//! - `workers`: connected workers one scheduler holds with resource reports every 3 s, its
//!   memory per worker and its CPU for the reports.
//! - `routing`: routing policies on one trace in simulated time.
//! - `transfer`: one large file into a worker's cache, against `dd`.
//! - `sandbox`: per-run cost of the sandbox, then judging throughput.
//! - `first-judging`: a 100-test problem on a cold worker, with and without Nagle.
//! - `stuck`: how long a job stays on a stopped or killed worker.
//! - `interactive`: a query/answer round trip between a sandboxed submission and interactor
//!   against bare pipes, and judging an interactive problem against a batch one.
//! - `console`: a keystroke's round trip through a console against a loopback TCP echo, a
//!   console's output throughput against loopback TCP, and many consoles at once on
//!   simulated workers with the scheduler's memory per console.
//! - `http`: HTTP submit throughput and SSE fan-out, as ratios to the gRPC path.
//! - `share`: the sharing simulation, a million events, fair share against oldest-first.
//! - `failover`: two schedulers on one PostgreSQL, the leader killed again and again: time
//!   to a new leader and to the first new assignment; throughput on PostgreSQL against SQLite.
//! - `flood`: one student's flood and another's single jobs on the real cluster: the light
//!   student's waits with fair share against oldest-first.

mod console;
mod contention;
mod failover;
mod first_judging;
mod flood;
mod http;
mod interactive;
mod passes;
mod share;
mod stuck;
mod uploads;
mod vm;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use judge_common::pb;
use judge_scheduler::store::Store;
use judge_tests::{
    admin_client, connected_workers, eventually, example_problem, judge_client, push, sim,
    wait_finished, SchedulerProc,
};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Throughput {
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[command(flatten)]
        load: Load,
    },
    /// Plaintext throughput and latency with fleets of each size, as ratios to the first.
    Fleet {
        /// Fleet sizes, comma-separated
        #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1000, 5000])]
        counts: Vec<usize>,
        #[command(flatten)]
        load: Load,
    },
    /// Routing policies side by side on one synthetic trace, in simulated time.
    Routing {
        /// How long the locality policy waits for a warm worker, in ms (the core's default)
        #[arg(long, default_value_t = judge_scheduler::core::CoreConfig::default().locality_wait_ms)]
        wait_ms: i64,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// One large file from the scheduler into a worker's cache over loopback.
    Transfer {
        #[arg(long, default_value_t = 500)]
        size_mb: usize,
    },
    /// Per-run cost of the sandbox against a bare fork+exec, then judging throughput in C.
    Sandbox {
        #[arg(long, default_value_t = 500)]
        runs: usize,
        /// Submissions for the judging throughput run (0: the per-run figures only)
        #[arg(long, default_value_t = 40)]
        submissions: usize,
    },
    /// Two schedulers on one PostgreSQL: the leader killed again and again, the time to the
    /// standby leading and to the first new assignment; then throughput on PostgreSQL
    /// against SQLite.
    Failover {
        /// Kills of the leader
        #[arg(long, default_value_t = 10)]
        kills: usize,
        /// The schedulers' lease, seconds
        #[arg(long, default_value_t = 8.0)]
        lease_seconds: f64,
        /// How often the leader renews, seconds
        #[arg(long, default_value_t = 2.0)]
        renew_seconds: f64,
        /// Simulated workers of the throughput runs
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[command(flatten)]
        load: Load,
    },
    /// A worker VM (Debian 12, cgroup v2, cloud-init): boot to connected and to its first
    /// verdict, then `sandbox`'s per-run figures inside the guest (KVM where it runs a guest,
    /// else emulation, whose figures mean nothing).
    Vm {
        /// Runs of each variant inside the guest
        #[arg(long, default_value_t = 300)]
        runs: usize,
    },
    /// Interactive round trips, sandboxed against bare pipes; interactive judging against
    /// batch judging of the same tests.
    Interactive {
        #[arg(long, default_value_t = 10_000)]
        trips: usize,
        /// Submissions of each kind for the judging figure
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// A multi-pass test (3 passes) against a batch test, with and without a custom
    /// validator, judged on one warm worker.
    Passes {
        /// Submissions of each kind
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    Workers {
        #[arg(long, default_value_t = 5_000)]
        count: usize,
        /// Seconds between each worker's resource reports (the scheduler's default)
        #[arg(long, default_value_t = 3)]
        report_seconds: u64,
    },
    /// The first judging of a many-test problem on a cold worker, with and without Nagle.
    FirstJudging {
        #[arg(long, default_value_t = 100)]
        tests: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// How long a job stays on a stopped or killed worker, with the default timeouts.
    Stuck,
    /// Consoles: keystroke round trips and throughput against loopback TCP, then many at
    /// once on simulated workers.
    /// The HTTP side against gRPC: submit throughput, then fan-out to many watchers.
    Http {
        #[arg(long, default_value_t = 10_000)]
        jobs: usize,
        #[arg(long, default_value_t = 64)]
        submitters: usize,
        #[arg(long, default_value_t = 1_000)]
        watchers: usize,
    },
    /// Submit throughput with problem pushes interleaved, as a ratio to a plain run.
    Contention {
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        #[arg(long, default_value_t = 64)]
        submitters: usize,
        #[arg(long, default_value_t = 200)]
        pushes: usize,
    },
    /// Jobs through worker kills and stops, scheduler kills, a full disk and pushes; the
    /// history checker's lost / doubled / wrong counts (needs root: the data dir is a tmpfs).
    Chaos {
        #[arg(long, default_value_t = 1_000)]
        jobs: usize,
        #[arg(long, default_value_t = 2)]
        workers: usize,
        #[arg(long, default_value_t = 2)]
        slots: u32,
        #[arg(long, default_value_t = 3)]
        scheduler_kills: usize,
        /// Seconds over which the jobs are submitted (and the chaos spread)
        #[arg(long, default_value_t = 60.0)]
        submit_seconds: f64,
    },
    /// Many unauthenticated large uploads at once: the scheduler's memory, and how much body
    /// it let in before answering.
    Uploads {
        #[arg(long, default_value_t = 100)]
        clients: usize,
        #[arg(long, default_value_t = 100)]
        size_mb: u64,
    },
    /// Sharing one fleet, simulated on the real core: a million events of owners of
    /// unequal demand in every class; rules checked, waits per class, Jain's index; fair
    /// share and oldest-first on the same load.
    /// One student queues many jobs of 1 s, another submits a few: the second's waits with
    /// fair share and with oldest-first, on the real cluster.
    Flood {
        #[arg(long, default_value_t = 200)]
        jobs: usize,
        /// The other student's jobs, spread over the flood
        #[arg(long, default_value_t = 20)]
        light: usize,
        /// Slots of the one worker
        #[arg(long, default_value_t = 4)]
        slots: u32,
    },
    Share {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    Console {
        #[arg(long, default_value_t = 2_000)]
        trips: usize,
        #[arg(long, default_value_t = 100)]
        consoles: usize,
        /// Simulated workers the consoles are spread over
        #[arg(long, default_value_t = 10)]
        sim_workers: usize,
    },
}

/// The load of a throughput run.
#[derive(clap::Args, Clone, Copy)]
struct Load {
    #[arg(long, default_value_t = 20_000)]
    jobs: usize,
    /// Slots of each simulated worker
    #[arg(long, default_value_t = 64)]
    slots: u32,
    /// Concurrent submitting clients
    #[arg(long, default_value_t = 64)]
    submitters: usize,
    /// Length of the fixed-rate latency run
    #[arg(long, default_value_t = 10)]
    latency_seconds: u64,
}

type Times = Arc<Mutex<HashMap<u64, Instant>>>;

struct Setup {
    _dir: tempfile::TempDir,
    sched: SchedulerProc,
    /// The PostgreSQL server the scheduler stores in, if not SQLite (dropped after it).
    _pg: Option<judge_tests::ha::PgServer>,
    /// The scheduler's URL: https:// when it serves TLS.
    url: String,
    store: Store,
    admin: String,
    worker: String,
}

async fn setup() -> Result<Setup> {
    setup_with(false).await
}

/// A scheduler with the `aplusb` example, serving TLS with a self-signed certificate if
/// `tls` (the benchmark's clients then trust its CA); room in the queue for any load, and a
/// report timeout that survives this machine's two cores saturated by the benchmark.
async fn setup_with(tls: bool) -> Result<Setup> {
    setup_on(tls, bench_args()).await
}

/// Room in the queue for any load, and a report timeout that survives this machine's two
/// cores saturated by the benchmark.
fn bench_args() -> Vec<String> {
    [
        "--max-queued",
        "1000000",
        "--max-queued-per-token",
        "1000000",
        "--report-timeout-seconds",
        "60",
    ]
    .map(String::from)
    .to_vec()
}

/// A scheduler with the `aplusb` example and `args` besides.
async fn setup_on(tls: bool, args: Vec<String>) -> Result<Setup> {
    setup_stored(tls, args, None).await
}

/// As [`setup_on`], storing in `pg` when given (a PostgreSQL server of the run's own).
async fn setup_stored(
    tls: bool,
    mut args: Vec<String>,
    pg: Option<judge_tests::ha::PgServer>,
) -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let db_flags: Vec<String> = match &pg {
        Some(pg) => vec!["--database".into(), pg.url()],
        None => Vec::new(),
    };
    let db_args: Vec<&str> = db_flags.iter().map(String::as_str).collect();
    let admin = judge_tests::token_with(&data, "admin", "admin", &db_args)?;
    let worker = judge_tests::token_with(&data, "worker", "sim", &db_args)?;
    args.extend(db_flags.iter().cloned());
    if tls {
        let certs = dir.path().join("tls");
        let out = std::process::Command::new(judge_tests::bin("judge-scheduler"))
            .args(["tls", "self-signed", "--host", "127.0.0.1", "--out"])
            .arg(&certs)
            .output()?;
        anyhow::ensure!(out.status.success(), "tls self-signed failed");
        judge_tests::trust_ca(&certs.join("ca.pem"));
        for (flag, file) in [
            ("--tls-cert", "server.pem"),
            ("--tls-key", "server-key.pem"),
        ] {
            args.push(flag.into());
            args.push(certs.join(file).display().to_string());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sched = SchedulerProc::start(&data, &args).await?;
    let scheme = if tls { "https" } else { "http" };
    let url = format!("{scheme}://{}", sched.addr);
    let mut a = admin_client(&url, &admin).await?;
    push(&mut a, &example_problem("aplusb"), "aplusb", None).await?;
    let store = match &pg {
        Some(pg) => Store::open(&pg.url()).await?,
        None => Store::open(&format!("sqlite://{}/judge.db", data.display())).await?,
    };
    Ok(Setup {
        _dir: dir,
        _pg: pg,
        sched,
        url,
        store,
        admin,
        worker,
    })
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds (user and system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command's ")", fields 14 and 15 of the line are utime and stime.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    ticks as f64 / hz
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn submit_req() -> pb::SubmitRequest {
    pb::SubmitRequest {
        problem_id: "aplusb".into(),
        language: "python3".into(),
        source: b"print(sum(map(int, input().split())))\n".to_vec(),
        ..Default::default()
    }
}

/// Submits `jobs` jobs from `submitters` concurrent submitters (spread over `clients`), each
/// as fast as it goes; returns once every `Submit` is answered.
async fn submit_all(
    clients: &[judge_common::pb::judge_service_client::JudgeServiceClient<judgectl::Authed>],
    submitters: usize,
    jobs: usize,
) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..submitters {
        let mut client = clients[i % clients.len()].clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < jobs {
                client.submit(submit_req()).await?;
            }
            Ok::<(), tonic::Status>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn wait_done(store: &Store, n: u64) -> Result<()> {
    eventually(
        &format!("{n} jobs stored done"),
        Duration::from_secs(600),
        || async {
            let counts = store.job_counts().await.ok()?;
            (counts.get("done").copied().unwrap_or(0) >= n).then_some(())
        },
    )
    .await
}

/// What one throughput run measured.
struct Figures {
    rate: f64,
    p50: Duration,
    p99: Duration,
}

/// Throughput and latency in plaintext, then the same over TLS, side by side.
async fn throughput(workers: usize, load: Load) -> Result<()> {
    let plain = throughput_once(false, workers, load).await?;
    let tls = throughput_once(true, workers, load).await?;
    println!("tls/plaintext: {}", tls.against(&plain));
    Ok(())
}

impl Figures {
    /// These figures as ratios to `base`'s.
    fn against(&self, base: &Figures) -> String {
        format!(
            "throughput x{:.2}, p50 submit->assign x{:.2}, p99 x{:.2}",
            self.rate / base.rate,
            self.p50.as_secs_f64() / base.p50.as_secs_f64(),
            self.p99.as_secs_f64() / base.p99.as_secs_f64()
        )
    }
}

/// The same throughput run with fleets of each size, one after another, then side by side.
async fn fleet(counts: &[usize], load: Load) -> Result<()> {
    let mut rows = Vec::new();
    for &n in counts {
        let f = throughput_once(false, n, load).await?;
        rows.push((n, f));
    }
    let Some((_, base)) = rows.first() else {
        return Ok(());
    };
    println!("fleet: workers, jobs/s, x first, p50 submit->assign, p99");
    for (n, f) in &rows {
        println!(
            "fleet: {n:>6} {:>8.0} {:>6.2} {:>10.2?} {:>10.2?}",
            f.rate,
            f.rate / base.rate,
            f.p50,
            f.p99
        );
    }
    Ok(())
}

async fn throughput_once(tls: bool, workers: usize, load: Load) -> Result<Figures> {
    let s = setup_with(tls).await?;
    let label = if tls { "tls" } else { "plaintext" };
    throughput_on(s, label, workers, load).await
}

/// The throughput and latency runs on a scheduler already set up.
async fn throughput_on(s: Setup, label: &str, workers: usize, load: Load) -> Result<Figures> {
    let Load {
        jobs,
        slots,
        submitters,
        latency_seconds,
    } = load;
    let assigned: Times = Default::default();
    let on_assign: sim::OnAssign = {
        let assigned = assigned.clone();
        Arc::new(move |id, at| {
            assigned
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, at);
        })
    };
    start_fleet(&s, workers, slots, Duration::from_secs(5), Some(on_assign))?;
    let clients = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(judge_client(&s.url.clone(), &s.admin).await?);
        }
        v
    };
    connected_workers(&clients[0], workers, Duration::from_secs(300)).await?;

    // 1. Saturation: as many submitters as asked, as fast as they go.
    let started = Instant::now();
    submit_all(&clients, submitters, jobs).await?;
    let submitted_in = started.elapsed();
    wait_done(&s.store, jobs as u64).await?;
    let elapsed = started.elapsed();
    let rate = jobs as f64 / elapsed.as_secs_f64();
    println!("{label} throughput: {jobs} jobs submitted in {submitted_in:.2?}, all stored done after {elapsed:.2?}");
    println!("{label} throughput: {rate:.0} jobs/s end to end (submit -> result stored), {workers} simulated workers x {slots} slots, {submitters} submitters");

    // 2. Latency at half that rate, open loop: submissions go out on a fixed schedule.
    let target = (rate / 2.0).max(1.0);
    let total = (target * latency_seconds as f64) as usize;
    let submit_at: Times = Default::default();
    let period = Duration::from_secs_f64(1.0 / target);
    let begin = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        tokio::time::sleep_until(begin + period.mul_f64(i as f64)).await;
        let mut client = clients[i % clients.len()].clone();
        let submit_at = submit_at.clone();
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let id = client.submit(submit_req()).await?.into_inner().job_id;
            submit_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, t0);
            Ok::<(), tonic::Status>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    wait_done(&s.store, (jobs + total) as u64).await?;
    let actual_rate = total as f64 / begin.elapsed().as_secs_f64();
    let assigned = assigned.lock().unwrap_or_else(|p| p.into_inner());
    let mut lat: Vec<Duration> = submit_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter_map(|(id, t0)| assigned.get(id).map(|t1| t1.saturating_duration_since(*t0)))
        .collect();
    if lat.len() != total {
        bail!(
            "only {} of {total} latency jobs were seen assigned",
            lat.len()
        );
    }
    lat.sort();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "{label} latency: {total} jobs at {target:.0}/s (achieved {actual_rate:.0}/s): submit-to-assign p50 {p50:.2?}, p99 {p99:.2?}, max {:.2?}",
        lat.last().copied().unwrap_or_default()
    );
    Ok(Figures { rate, p50, p99 })
}

/// Room for two sockets per simulated worker (client and server side) in this process.
fn raise_fd_limit(workers: usize) -> Result<()> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let want = (workers as u64) * 2 + 1024;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want.min(hard), hard)?;
    }
    Ok(())
}

/// Starts `count` simulated workers, paced (a hundred every 10 ms) so that the listen queue
/// is not flooded; each also retries its connect, so that the whole fleet gets in.
fn start_fleet(
    s: &Setup,
    count: usize,
    slots: u32,
    report_every: Duration,
    on_assign: Option<sim::OnAssign>,
) -> Result<()> {
    raise_fd_limit(count)?;
    let s_url = s.url.clone();
    let s_token = s.worker.clone();
    tokio::spawn(async move {
        for i in 0..count {
            let (url, tok, cb) = (s_url.clone(), s_token.clone(), on_assign.clone());
            tokio::spawn(async move {
                let name = format!("sim{i}");
                if let Err(e) = sim::run(url, tok, name, slots, report_every, cb).await {
                    eprintln!("sim{i}: {e}");
                }
            });
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    Ok(())
}

async fn hold_workers(count: usize, report_seconds: u64) -> Result<()> {
    let s = setup().await?;
    let pid = s
        .sched
        .pid()
        .ok_or_else(|| anyhow::anyhow!("scheduler pid"))?;
    let judge = judge_client(&s.url.clone(), &s.admin).await?;
    let before = rss_bytes(pid);
    let started = Instant::now();
    start_fleet(&s, count, 4, Duration::from_secs(report_seconds), None)?;
    let connected = connected_workers(&judge, count, Duration::from_secs(300))
        .await?
        .len();
    let connect_time = started.elapsed();
    // Let two full report rounds pass, then measure; the scheduler's CPU meanwhile is what
    // the reports cost (nothing else happens).
    let window = Duration::from_secs(report_seconds * 2 + 1);
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(window).await;
    let cpu = cpu_seconds(pid) - cpu_before;
    let after = rss_bytes(pid);
    let mut j = judge.clone();
    let still = j
        .list_workers(pb::ListWorkersRequest {})
        .await?
        .into_inner()
        .workers
        .iter()
        .filter(|w| w.connected)
        .count();
    let per_worker = after.saturating_sub(before) as f64 / count as f64;
    println!("workers: {connected} connected in {connect_time:.2?}; {still} still connected after {}s of reports every {report_seconds}s", report_seconds * 2 + 1);
    println!(
        "workers: scheduler RSS {:.1} MiB idle -> {:.1} MiB with {count} workers = {:.1} KiB per worker",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0,
        per_worker / 1024.0
    );
    let reports = count as f64 * window.as_secs_f64() / report_seconds as f64;
    println!(
        "workers: scheduler CPU for reports {:.1}% of a core ({:.0} reports/s, {:.1} us each)",
        100.0 * cpu / window.as_secs_f64(),
        count as f64 / report_seconds as f64,
        cpu / reports * 1e6
    );
    if still < count {
        bail!("{} workers were dropped", count - still);
    }
    Ok(())
}

fn routing(wait_ms: i64, seed: u64) {
    use judge_scheduler::core::Policy;
    use judge_tests::tracesim::{run, Trace, TraceConfig};
    let trace = Trace::generate(TraceConfig {
        seed,
        ..TraceConfig::default()
    });
    let c = &trace.config;
    println!(
        "trace: {} jobs, {} problems of {}-{} MB (Zipf s={}), {} workers x {} slots, {} GiB caches, {} MB/s, run mean {} ms, gap mean {} ms",
        c.jobs, c.problems, c.min_bytes / 1_000_000, c.max_bytes / 1_000_000, c.zipf_s, c.workers, c.slots,
        c.cache_bytes >> 30, c.bytes_per_ms / 1000.0, c.mean_run_ms, c.mean_gap_ms
    );
    let bound = trace.lower_bound();
    let least = run(&trace, Policy::LeastLoaded, 0);
    println!(
        "{:<22} {:>12} {:>10} {:>12} {:>12} {:>12}",
        "policy", "GB fetched", "x bound", "x least-ld", "mean wait", "p99 wait"
    );
    println!(
        "{:<22} {:>12.2} {:>10.2} {:>12} {:>12} {:>12}",
        "offline lower bound",
        bound as f64 / 1e9,
        1.0,
        "",
        "",
        ""
    );
    for (name, policy, wait) in [
        ("locality (ours)", Policy::Locality, wait_ms),
        ("locality, no wait", Policy::Locality, 0),
        ("least-loaded", Policy::LeastLoaded, 0),
        ("random", Policy::Random, 0),
    ] {
        let o = if policy == Policy::LeastLoaded {
            least.clone()
        } else {
            run(&trace, policy, wait)
        };
        println!(
            "{:<22} {:>12.2} {:>10.2} {:>12.3} {:>9.0} ms {:>9.0} ms",
            name,
            o.bytes_fetched as f64 / 1e9,
            o.bytes_fetched as f64 / bound as f64,
            o.bytes_fetched as f64 / least.bytes_fetched as f64,
            o.mean_wait_ms,
            o.p99_wait_ms
        );
    }
}

async fn transfer(size_mb: usize) -> Result<()> {
    use std::io::Write;
    let s = setup().await?;
    // A problem whose one input is `size_mb` MB of random bytes.
    let dir = s._dir.path().join("big");
    std::fs::create_dir_all(dir.join("data/secret"))?;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("data/secret/1.in"))?);
        let mut block = vec![0u8; 1 << 20];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..size_mb {
            for b in block.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b.copy_from_slice(&x.to_le_bytes()[..b.len()]);
            }
            f.write_all(&block)?;
        }
    }
    std::fs::write(dir.join("data/secret/1.ans"), "0\n")?;
    let mut admin = admin_client(&s.url.clone(), &s.admin).await?;
    let pid = s
        .sched
        .pid()
        .ok_or_else(|| anyhow::anyhow!("scheduler pid"))?;
    let rss_before = rss_bytes(pid);
    let pushed = Instant::now();
    push(&mut admin, &dir, "big", None).await?;
    let push_time = pushed.elapsed();
    let rss_after = rss_bytes(pid);
    let spec = s.store.problem_spec("big", 1).await?;
    let input = spec.tests[0].input.clone().expect("input");
    let blob = s
        .sched
        .data_dir
        .join("blobs")
        .join(&input.sha256[..2])
        .join(&input.sha256);

    // Baseline in the same run: read (and hash, as the cache does) the same file from disk.
    let t = Instant::now();
    let mut h = <sha2::Sha256 as sha2::Digest>::new();
    std::io::copy(&mut std::fs::File::open(&blob)?, &mut h)?;
    let disk = t.elapsed();

    let channel = judgectl::dial(&s.url, &Default::default()).await?;
    let client = pb::worker_service_client::WorkerServiceClient::with_interceptor(
        channel,
        judge_common::auth::Bearer::new(&s.worker)?,
    )
    .max_decoding_message_size(64 << 20);
    // The bare stream, bytes counted and dropped: what gRPC over loopback costs alone.
    let t = Instant::now();
    let mut raw = client
        .clone()
        .fetch_file(pb::FetchFileRequest {
            sha256: input.sha256.clone(),
            offset: 0,
        })
        .await?
        .into_inner();
    let mut streamed = 0u64;
    while let Some(chunk) = raw.message().await? {
        streamed += chunk.data.len() as u64;
    }
    let raw_time = t.elapsed();
    let cache_dir = s._dir.path().join("cache");
    std::fs::create_dir_all(&cache_dir)?;
    // Baseline in the same run: what this file system takes in writes, with dd (4 MiB
    // blocks, no fsync, as the cache writes), then flushed and removed.
    let dd_file = cache_dir.join("dd-baseline");
    let t = Instant::now();
    let status = std::process::Command::new("dd")
        .args([
            "if=/dev/zero",
            "bs=4M",
            &format!("count={}", size_mb.div_ceil(4)),
        ])
        .arg(format!("of={}", dd_file.display()))
        .stderr(std::process::Stdio::null())
        .status()?;
    let dd = t.elapsed();
    anyhow::ensure!(status.success(), "dd failed");
    let dd_bytes = std::fs::metadata(&dd_file)?.len();
    std::fs::remove_file(&dd_file)?;
    nix::unistd::sync();
    let cache = judge_worker::cache::FileCache::open(cache_dir, 2 << 30, client).await?;
    let t = Instant::now();
    let pinned = cache.acquire(&input).await?;
    let fetch = t.elapsed();
    let size = std::fs::metadata(&pinned.path)?.len();
    let mbps = |d: Duration| size as f64 / 1e6 / d.as_secs_f64();
    println!(
        "transfer: {size_mb} MB pushed in {push_time:.2?} ({:.0} MB/s); scheduler RSS {:.1} -> {:.1} MiB",
        mbps(push_time),
        rss_before as f64 / 1048576.0,
        rss_after as f64 / 1048576.0
    );
    println!(
        "transfer: disk read+hash {disk:.2?} = {:.0} MB/s",
        mbps(disk)
    );
    println!(
        "transfer: bare gRPC stream {raw_time:.2?} = {:.0} MB/s",
        streamed as f64 / 1e6 / raw_time.as_secs_f64()
    );
    let dd_mbps = dd_bytes as f64 / 1e6 / dd.as_secs_f64();
    println!("transfer: dd write {dd:.2?} = {dd_mbps:.0} MB/s");
    println!(
        "transfer: scheduler -> worker cache (hash verified) {fetch:.2?} = {:.0} MB/s = {:.2}x disk read+hash = {:.2}x dd write",
        mbps(fetch),
        disk.as_secs_f64() / fetch.as_secs_f64(),
        mbps(fetch) / dd_mbps
    );
    Ok(())
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The worker's sandbox layers, as a worker running as root makes them.
type SandboxLayers = (
    Arc<judge_worker::sandbox::cgroup::Cgroups>,
    Arc<judge_worker::sandbox::isolation::Isolation>,
);

fn sandbox_layers() -> Result<SandboxLayers> {
    let cgroups =
        Arc::new(judge_worker::sandbox::cgroup::Cgroups::detect().map_err(anyhow::Error::msg)?);
    let isolation = Arc::new(
        judge_worker::sandbox::isolation::Isolation::new(
            &judge_worker::sandbox::isolation::IsolationConfig::base(
                std::env::temp_dir().join("judge-bench-root"),
            ),
        )
        .map_err(anyhow::Error::msg)?,
    );
    Ok((cgroups, isolation))
}

async fn sandbox(runs: usize, submissions: usize) -> Result<()> {
    use judge_worker::sandbox::{RunSpec, Runner, SandboxRunner};
    let (cgroups, isolation) = sandbox_layers()?;
    let variants = [
        ("plain runner", SandboxRunner::new(None, None)?),
        (
            "cgroups only",
            SandboxRunner::new(Some(cgroups.clone()), None)?,
        ),
        (
            "isolation only",
            SandboxRunner::new(None, Some(isolation.clone()))?,
        ),
        (
            "sandboxed (both)",
            SandboxRunner::new(Some(cgroups), Some(isolation))?,
        ),
    ];
    let spec = RunSpec {
        argv: vec!["/bin/true".into()],
        dir: std::env::temp_dir(),
        dir_writable: false,
        binds: Vec::new(),
        stdin: None,
        time_limit: Duration::from_secs(1),
        wall_limit: Duration::from_secs(2),
        memory_limit_bytes: 256 << 20,
        output_limit_bytes: 1 << 20,
        max_processes: 16,
        file_size_limit: 1 << 20,
        piped: None,
        terminal: None,
    };
    // Cancel: from the cancel signal to the run being over (its whole group killed), for a
    // sandboxed program that sleeps.
    let sandboxed = &variants[variants.len() - 1].1;
    let mut sleeper = spec.clone();
    sleeper.argv = vec![
        "/usr/bin/python3".into(),
        "-c".into(),
        "import time; time.sleep(3600)".into(),
    ];
    sleeper.wall_limit = Duration::from_secs(60);
    let mut cancels = Vec::new();
    for _ in 0..50 {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let run = sandboxed.run(sleeper.clone(), rx);
        tokio::pin!(run);
        // Let it start (a benchmark may sleep; it is not asserting anything).
        if let Ok(early) = tokio::time::timeout(Duration::from_millis(100), &mut run).await {
            anyhow::bail!("the sleeper ended by itself: {early:?}");
        }
        let t = Instant::now();
        tx.send(true)?;
        let out = run.await?;
        cancels.push(t.elapsed());
        anyhow::ensure!(out.cancelled, "the sleeper was cancelled: {out:?}");
    }
    cancels.sort();
    println!(
        "cancel: sandboxed sleeper, 50 cancels: median {:.2?}, max {:.2?} (aim: within 100 ms)",
        cancels[cancels.len() / 2],
        cancels[cancels.len() - 1]
    );

    let (_tx, rx) = tokio::sync::watch::channel(false);
    // Interleaved, so drift on the machine hits every variant alike.
    let mut bare = Vec::with_capacity(runs);
    let mut forked = Vec::with_capacity(runs);
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(runs); variants.len()];
    for _ in 0..runs {
        let t = Instant::now();
        let st = tokio::process::Command::new("/bin/true").status().await?;
        bare.push(t.elapsed());
        anyhow::ensure!(st.success());
        // The same with an empty pre_exec hook, which makes std fork() instead of posix_spawn.
        let t = Instant::now();
        let mut cmd = tokio::process::Command::new("/bin/true");
        // SAFETY: the hook does nothing.
        unsafe {
            cmd.pre_exec(|| Ok(()));
        }
        anyhow::ensure!(cmd.status().await?.success());
        forked.push(t.elapsed());
        for (i, (name, runner)) in variants.iter().enumerate() {
            let t = Instant::now();
            let out = runner.run(spec.clone(), rx.clone()).await?;
            times[i].push(t.elapsed());
            anyhow::ensure!(out.success(), "{name}: /bin/true failed: {out:?}");
        }
    }
    let b = median(bare);
    println!("sandbox: /bin/true, median of {runs}: bare fork+exec {b:.2?}");
    let f = median(forked);
    println!("sandbox: {:<17} {f:.2?}  ratio {:.2}  (an empty pre_exec hook: fork() instead of posix_spawn)", "bare, forced fork", f.as_secs_f64() / b.as_secs_f64());
    for ((name, _), t) in variants.iter().zip(times) {
        let m = median(t);
        println!(
            "sandbox: {name:<17} {m:.2?}  ratio {:.2}  overhead {:.2?}",
            m.as_secs_f64() / b.as_secs_f64(),
            m.saturating_sub(b)
        );
    }

    if submissions == 0 {
        return Ok(());
    }
    // Judging throughput: a 10-test problem in C on one worker with 2 slots.
    let setup = setup().await?;
    let dir = setup._dir.path().join("ten");
    write_sum_problem(&dir, 10)?;
    let mut admin = admin_client(&setup.sched.url(), &setup.admin).await?;
    push(&mut admin, &dir, "ten", None).await?;
    let work = setup._dir.path().join("worker");
    let mut worker =
        judge_tests::WorkerProc::start(&setup.sched.url(), &setup.worker, "bench", 2, &work)?;
    let mut judge = judge_client(&setup.sched.url(), &setup.admin).await?;
    connected_workers(&judge, 1, Duration::from_secs(30)).await?;
    let source = SUM_C;
    let started = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..submissions {
        ids.push(judge_tests::submit(&mut judge, "ten", "c", source).await?);
    }
    for id in ids {
        let job = wait_finished(&mut judge, id).await?;
        anyhow::ensure!(job.verdict == pb::Verdict::Ac as i32, "job {id}: {job:?}");
    }
    let took = started.elapsed();
    println!(
        "judging: {submissions} C submissions x 10 tests on one worker (2 slots): {took:.2?} = {:.1} submissions/s (compile included)",
        submissions as f64 / took.as_secs_f64()
    );
    worker.kill().await;
    Ok(())
}

/// Sums two numbers, in C: solves [`write_sum_problem`].
const SUM_C: &str = "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);return 0;}\n";

/// Writes a problem of `tests` small tests (two numbers in, their sum out) at `dir`.
/// Judges the sum submission on each of `problems` (pushed already) `rounds` times, by
/// turns, on one real worker warmed first (files fetched, validators built): the submit to
/// verdict times, per problem.
async fn side_by_side(s: &Setup, problems: &[&str], rounds: usize) -> Result<Vec<Vec<Duration>>> {
    let work = s._dir.path().join("worker");
    let mut worker = judge_tests::WorkerProc::start(&s.sched.url(), &s.worker, "w", 1, &work)?;
    let mut judge = judge_client(&s.sched.url(), &s.admin).await?;
    connected_workers(&judge, 1, Duration::from_secs(60)).await?;
    let mut times = vec![Vec::new(); problems.len()];
    for round in 0..=rounds {
        for (i, p) in problems.iter().enumerate() {
            let t = Instant::now();
            let id = judge_tests::submit(&mut judge, p, "c", SUM_C).await?;
            let job = wait_finished(&mut judge, id).await?;
            anyhow::ensure!(job.verdict == pb::Verdict::Ac as i32, "{p}: {job:?}");
            // Round 0 warms the worker.
            if round > 0 {
                times[i].push(t.elapsed());
            }
        }
    }
    worker.kill().await;
    Ok(times)
}

fn write_sum_problem(dir: &std::path::Path, tests: usize) -> Result<()> {
    std::fs::create_dir_all(dir.join("data/secret"))?;
    for i in 0..tests {
        let input = format!("{i} {}\n", i * 7);
        std::fs::write(dir.join(format!("data/secret/{i:03}.in")), input)?;
        std::fs::write(
            dir.join(format!("data/secret/{i:03}.ans")),
            format!("{}\n", i * 8),
        )?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match args.cmd {
        Cmd::Throughput { workers, load } => throughput(workers, load).await,
        Cmd::Fleet { counts, load } => fleet(&counts, load).await,
        Cmd::Routing { wait_ms, seed } => {
            routing(wait_ms, seed);
            Ok(())
        }
        Cmd::Transfer { size_mb } => transfer(size_mb).await,
        Cmd::Sandbox { runs, submissions } => sandbox(runs, submissions).await,
        Cmd::Vm { runs } => vm::run(runs).await,
        Cmd::Failover {
            kills,
            lease_seconds,
            renew_seconds,
            workers,
            load,
        } => failover::run(kills, lease_seconds, renew_seconds, workers, load).await,
        Cmd::FirstJudging { tests, rounds } => first_judging::run(tests, rounds).await,
        Cmd::Stuck => stuck::run().await,
        Cmd::Http {
            jobs,
            submitters,
            watchers,
        } => http::run(jobs, submitters, watchers).await,
        Cmd::Share { events, seed } => share::run(events, seed),
        Cmd::Flood { jobs, light, slots } => flood::run(jobs, light, slots).await,
        Cmd::Console {
            trips,
            consoles,
            sim_workers,
        } => console::run(trips, consoles, sim_workers).await,
        Cmd::Contention {
            jobs,
            submitters,
            pushes,
        } => contention::run(jobs, submitters, pushes).await,
        Cmd::Chaos {
            jobs,
            workers,
            slots,
            scheduler_kills,
            submit_seconds,
        } => {
            let report = judge_tests::chaos::run(judge_tests::chaos::ChaosConfig {
                jobs,
                workers,
                slots,
                scheduler_kills,
                submit_seconds,
            })
            .await?;
            println!("{report}");
            anyhow::ensure!(report.clean(), "the history is not clean");
            Ok(())
        }
        Cmd::Uploads { clients, size_mb } => uploads::run(clients, size_mb).await,
        Cmd::Interactive { trips, rounds } => interactive::run(trips, rounds).await,
        Cmd::Passes { rounds } => passes::run(rounds).await,
        Cmd::Workers {
            count,
            report_seconds,
        } => hold_workers(count, report_seconds).await,
    }
}
