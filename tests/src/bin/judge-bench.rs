//! Scheduler benchmarks against the real `judge-scheduler` binary on SQLite, driven by
//! simulated workers (real gRPC clients that finish each job at once).
//!
//! `cargo run --release --bin judge-bench -- throughput` : jobs/s end to end (submit to result
//!     stored), then p50/p99 submit-to-assign latency at half that rate.
//! `cargo run --release --bin judge-bench -- workers`    : connected workers one scheduler
//!     holds with resource reports every 5 s, and its memory per worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use judge_common::pb;
use judge_scheduler::store::Store;
use judge_tests::{
    admin_client, eventually, example_problem, judge_client, push, sim, token, SchedulerProc,
};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Throughput {
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[arg(long, default_value_t = 64)]
        slots: u32,
        /// Concurrent submitting clients
        #[arg(long, default_value_t = 64)]
        submitters: usize,
        /// Length of the fixed-rate latency run
        #[arg(long, default_value_t = 10)]
        latency_seconds: u64,
    },
    Workers {
        #[arg(long, default_value_t = 5_000)]
        count: usize,
        /// Seconds between each worker's resource reports
        #[arg(long, default_value_t = 5)]
        report_seconds: u64,
    },
}

type Times = Arc<Mutex<HashMap<u64, Instant>>>;

struct Setup {
    _dir: tempfile::TempDir,
    sched: SchedulerProc,
    store: Store,
    admin: String,
    worker: String,
}

async fn setup() -> Result<Setup> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    let admin = token(&data, "admin", "admin")?;
    let worker = token(&data, "worker", "sim")?;
    let sched = SchedulerProc::start(
        &data,
        &["--max-queued", "1000000", "--report-timeout-seconds", "60"],
    )
    .await?;
    let mut a = admin_client(&sched.url(), &admin).await?;
    push(&mut a, &example_problem("aplusb"), "aplusb", None).await?;
    let store = Store::open(&format!("sqlite://{}/judge.db", data.display())).await?;
    Ok(Setup {
        _dir: dir,
        sched,
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

async fn throughput(
    jobs: usize,
    workers: usize,
    slots: u32,
    submitters: usize,
    latency_seconds: u64,
) -> Result<()> {
    let s = setup().await?;
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
    for i in 0..workers {
        let (url, tok) = (s.sched.url(), s.worker.clone());
        let cb = on_assign.clone();
        tokio::spawn(sim::run(
            url,
            tok,
            format!("sim{i}"),
            slots,
            Duration::from_secs(5),
            Some(cb),
        ));
    }
    let clients = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(judge_client(&s.sched.url(), &s.admin).await?);
        }
        v
    };
    let judge = clients[0].clone();
    eventually(
        "simulated workers connected",
        Duration::from_secs(30),
        || {
            let mut judge = judge.clone();
            async move {
                let w = judge
                    .list_workers(pb::ListWorkersRequest {})
                    .await
                    .ok()?
                    .into_inner()
                    .workers;
                (w.iter().filter(|w| w.connected).count() == workers).then_some(())
            }
        },
    )
    .await?;

    // 1. Saturation: as many submitters as asked, as fast as they go.
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
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
    let submitted_in = started.elapsed();
    wait_done(&s.store, jobs as u64).await?;
    let elapsed = started.elapsed();
    let rate = jobs as f64 / elapsed.as_secs_f64();
    println!("throughput: {jobs} jobs submitted in {submitted_in:.2?}, all stored done after {elapsed:.2?}");
    println!("throughput: {rate:.0} jobs/s end to end (submit -> result stored), {workers} simulated workers x {slots} slots, {submitters} submitters");

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
    println!(
        "latency: {total} jobs at {target:.0}/s (achieved {actual_rate:.0}/s): submit-to-assign p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
    Ok(())
}

async fn hold_workers(count: usize, report_seconds: u64) -> Result<()> {
    // Two sockets per worker (client and server side) live in this process and the scheduler.
    let want = (count as u64) * 2 + 1024;
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
    if soft < want {
        nix::sys::resource::setrlimit(
            nix::sys::resource::Resource::RLIMIT_NOFILE,
            want.min(hard),
            hard,
        )?;
    }
    let s = setup().await?;
    let pid = s
        .sched
        .pid()
        .ok_or_else(|| anyhow::anyhow!("scheduler pid"))?;
    let judge = judge_client(&s.sched.url(), &s.admin).await?;
    let before = rss_bytes(pid);
    let started = Instant::now();
    for i in 0..count {
        let (url, tok) = (s.sched.url(), s.worker.clone());
        tokio::spawn(async move {
            if let Err(e) = sim::run(
                url,
                tok,
                format!("sim{i}"),
                4,
                Duration::from_secs(report_seconds),
                None,
            )
            .await
            {
                eprintln!("sim{i}: {e}");
            }
        });
        if i % 100 == 99 {
            // Pace the connects a little so the listen backlog never overflows.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let connected = eventually(
        &format!("{count} workers connected"),
        Duration::from_secs(300),
        || {
            let mut judge = judge.clone();
            async move {
                let w = judge
                    .list_workers(pb::ListWorkersRequest {})
                    .await
                    .ok()?
                    .into_inner()
                    .workers;
                let n = w.iter().filter(|w| w.connected).count();
                (n >= count).then_some(n)
            }
        },
    )
    .await?;
    let connect_time = started.elapsed();
    // Let two full report rounds pass, then measure.
    tokio::time::sleep(Duration::from_secs(report_seconds * 2 + 1)).await;
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
    if still < count {
        bail!("{} workers were dropped", count - still);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match args.cmd {
        Cmd::Throughput {
            jobs,
            workers,
            slots,
            submitters,
            latency_seconds,
        } => throughput(jobs, workers, slots, submitters, latency_seconds).await,
        Cmd::Workers {
            count,
            report_seconds,
        } => hold_workers(count, report_seconds).await,
    }
}
