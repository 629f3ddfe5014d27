//! A chaos run with a history checker: jobs submitted while workers are killed and stopped,
//! the scheduler is killed and restarted, the disk fills and empties, and problems are
//! pushed; then every acknowledged job is checked against the store.
//!
//! The history is what the submitting client saw: each request id it sent and the job id
//! that was acknowledged for it. At the end, read straight from the database:
//! - **lost**: an acknowledged job that is missing, or that holds another submission's
//!   source or problem;
//! - **doubled**: a job that ended more than once, a test result stored twice in one
//!   attempt, one request acknowledged as two jobs, or a job of the client's that it never
//!   had acknowledged (a retry that made a second job);
//! - **wrong**: an acknowledged job that did not end done with the verdict its source
//!   deserves;
//! - **reused**: one job id acknowledged for two different requests.
//!
//! Used by the suite (a short run, `tests/tests/chaos.rs`) and by `judge-bench chaos`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use judge_scheduler::store::Store;
use judgectl::Authed;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tonic::Code;

use crate::tmpfs::{fill, Tmpfs};
use crate::{judge_client, Cluster, SchedulerProc, WorkerProc, AC_PY, WAIT, WA_PY};

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct ChaosConfig {
    pub jobs: usize,
    pub workers: usize,
    pub slots: u32,
    /// Scheduler kills (each followed by a restart on the same address and data).
    pub scheduler_kills: usize,
    /// Roughly how long submitting takes; the chaos is spread over it.
    pub submit_seconds: f64,
}

/// What happened, and what the checker found.
#[derive(Debug, Default, Clone)]
pub struct ChaosReport {
    pub jobs: usize,
    pub worker_kills: usize,
    pub worker_stops: usize,
    pub scheduler_kills: usize,
    pub disk_fills: usize,
    pub pushes: usize,
    /// Submit calls that were refused or failed and were sent again.
    pub retries: usize,
    pub lost: usize,
    pub doubled: usize,
    pub wrong: usize,
    pub reused: usize,
    /// Everything the checker found, one line each.
    pub findings: Vec<String>,
    pub elapsed: Duration,
}

impl ChaosReport {
    /// Whether the history is clean.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.doubled == 0 && self.wrong == 0 && self.reused == 0
    }
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} jobs in {:.1?}: {} worker kills, {} worker stops, {} scheduler kills, {} disk \
             fills, {} pushes, {} submit retries",
            self.jobs,
            self.elapsed,
            self.worker_kills,
            self.worker_stops,
            self.scheduler_kills,
            self.disk_fills,
            self.pushes,
            self.retries
        )?;
        write!(
            f,
            "lost {} / doubled {} / wrong {} / reused ids {}",
            self.lost, self.doubled, self.wrong, self.reused
        )?;
        for line in self.findings.iter().take(20) {
            write!(f, "\n  {line}")?;
        }
        Ok(())
    }
}

/// One of the chaos's doings.
#[derive(Debug, Clone, Copy)]
enum Act {
    KillWorker(usize),
    StopWorker(usize),
    KillScheduler,
    FillDisk,
    Push,
}

/// The order of the doings: every kind early, the scheduler kills spread out.
fn plan(cfg: &ChaosConfig) -> Vec<Act> {
    let w = cfg.workers.max(1);
    let mut acts = Vec::new();
    for round in 0..cfg.scheduler_kills.max(1) {
        acts.push(Act::KillWorker(round % w));
        acts.push(Act::Push);
        acts.push(Act::StopWorker((round + 1) % w));
        if round < cfg.scheduler_kills {
            acts.push(Act::KillScheduler);
        }
        acts.push(Act::FillDisk);
    }
    acts
}

/// What the client knows of one submission.
#[derive(Debug, Clone)]
pub struct Sent {
    pub request_id: String,
    pub source: String,
    pub want: pb::Verdict,
}

/// The submission of index `i`: every third is wrong.
pub fn submission(i: usize) -> Sent {
    let (body, want) = if i % 3 == 2 {
        (WA_PY, pb::Verdict::Wa)
    } else {
        (AC_PY, pb::Verdict::Ac)
    };
    Sent {
        request_id: format!("chaos-{i}"),
        source: format!("{body}# chaos {i}\n"),
        want,
    }
}

/// Whether a refused or failed submit is worth sending again (the scheduler restarting,
/// its disk full, a connection cut).
pub fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::ResourceExhausted
            | Code::Unknown
            | Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Internal
    )
}

/// Submits submission `i` with its own request id, sending it again while it is refused or
/// fails for a passing reason, for up to `patience`; its job id and the number of retries.
pub async fn submit_acked(
    judge: &mut JudgeServiceClient<Authed>,
    i: usize,
    patience: Duration,
) -> Result<(Sent, u64, usize)> {
    let sent = submission(i);
    let deadline = Instant::now() + patience;
    let mut retries = 0;
    loop {
        let req = pb::SubmitRequest {
            problem_id: "aplusb".into(),
            language: "python3".into(),
            source: sent.source.clone().into_bytes(),
            request_id: sent.request_id.clone(),
            ..Default::default()
        };
        match judge.submit(req).await {
            Ok(r) => return Ok((sent, r.into_inner().job_id, retries)),
            Err(s) if retryable(s.code()) && Instant::now() < deadline => {
                retries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(s) => return Err(anyhow!("submit {i}: {s}")),
        }
    }
}

/// Submits every job with its own request id, sending a refused one again until it is
/// acknowledged; the acknowledged job id of each, and the number of retries.
async fn submit_all(
    url: String,
    token: String,
    cfg: ChaosConfig,
) -> Result<(Vec<(Sent, u64)>, usize)> {
    let pace = Duration::from_secs_f64(cfg.submit_seconds / cfg.jobs.max(1) as f64);
    let mut judge = judge_client(&url, &token).await?;
    let mut acked = Vec::with_capacity(cfg.jobs);
    let mut retries = 0;
    for i in 0..cfg.jobs {
        let (sent, id, again) = submit_acked(&mut judge, i, 4 * WAIT).await?;
        retries += again;
        acked.push((sent, id));
        tokio::time::sleep(pace).await;
    }
    Ok((acked, retries))
}

/// Runs the chaos on a fresh cluster whose data dir is a tmpfs of its own.
pub async fn run(cfg: ChaosConfig) -> Result<ChaosReport> {
    let started = Instant::now();
    let mut mount = None;
    let extra = [
        "--max-attempts",
        "50",
        "--max-queued",
        "100000",
        "--max-queued-per-token",
        "100000",
        "--grace-seconds",
        "3",
    ];
    let mut c = Cluster::start_with(
        |data| {
            mount = Some(Tmpfs::mount(data, "64m")?);
            Ok(())
        },
        &extra,
    )
    .await?;
    let _mount = mount.ok_or_else(|| anyhow!("no tmpfs"))?;
    let names: Vec<String> = (0..cfg.workers).map(|i| format!("chaos{i}")).collect();
    for name in &names {
        c.add_worker(name, cfg.slots)?;
    }
    c.wait_workers(cfg.workers).await?;

    let mut report = ChaosReport {
        jobs: cfg.jobs,
        ..Default::default()
    };
    let submitter = tokio::spawn(submit_all(c.sched.url(), c.submitter.clone(), cfg));
    let acts = plan(&cfg);
    let pause = Duration::from_secs_f64(cfg.submit_seconds / (acts.len() + 1) as f64);
    let addr = c.sched.addr.to_string();
    let data = c.sched.data_dir.clone();
    for act in acts {
        tokio::time::sleep(pause).await;
        match act {
            Act::KillWorker(i) => {
                c.workers[i].kill().await;
                c.workers[i] = WorkerProc::start(
                    &c.sched.url(),
                    &c.worker_token,
                    &names[i],
                    cfg.slots,
                    c.dir.path(),
                )?;
                report.worker_kills += 1;
            }
            Act::StopWorker(i) => {
                if let Some(pid) = c.workers[i].pid() {
                    let pid = Pid::from_raw(pid as i32);
                    kill(pid, Signal::SIGSTOP)?;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    kill(pid, Signal::SIGCONT)?;
                    report.worker_stops += 1;
                }
            }
            Act::KillScheduler => {
                c.sched.kill().await;
                c.sched = SchedulerProc::start_on(&data, &addr, &extra).await?;
                report.scheduler_kills += 1;
            }
            Act::FillDisk => {
                let filler = fill(&data)?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                std::fs::remove_file(filler)?;
                report.disk_fills += 1;
            }
            Act::Push => {
                push_until_stored(&c, report.pushes).await?;
                report.pushes += 1;
            }
        }
    }
    let (acked, retries) = submitter.await??;
    report.retries = retries;

    // Every acknowledged job ends (followed through the scheduler, as a client would).
    let mut judge = judge_client(&c.sched.url(), &c.admin).await?;
    for (_, id) in &acked {
        crate::wait_finished(&mut judge, *id).await?;
    }
    let store = Store::open(&format!("sqlite://{}/judge.db", data.display())).await?;
    check(&store, &acked, &mut report).await?;
    store.close().await;
    report.elapsed = started.elapsed();
    drop(c);
    Ok(report)
}

/// Pushes a problem (a new version of `aplusb` and a problem of its own by turns), sending it
/// again while the scheduler says it cannot store it yet.
async fn push_until_stored(c: &Cluster, n: usize) -> Result<()> {
    let id = if n.is_multiple_of(2) {
        "aplusb".to_string()
    } else {
        format!("extra{n}")
    };
    let deadline = Instant::now() + WAIT;
    loop {
        match c.push_example("aplusb", &id, Some(20.0)).await {
            Ok(()) => return Ok(()),
            // Refused while the disk was full or the scheduler restarting: sent again.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The history checker: every acknowledged job against the database.
pub async fn check(store: &Store, acked: &[(Sent, u64)], report: &mut ChaosReport) -> Result<()> {
    let mut by_id: HashMap<u64, &Sent> = HashMap::new();
    let mut by_request: HashMap<&str, u64> = HashMap::new();
    for (sent, id) in acked {
        if let Some(other) = by_id.insert(*id, sent) {
            if other.request_id != sent.request_id {
                report.reused += 1;
                report.findings.push(format!(
                    "job {id} acknowledged for {} and for {}",
                    other.request_id, sent.request_id
                ));
            }
        }
        if let Some(first) = by_request.insert(&sent.request_id, *id) {
            if first != *id {
                report.doubled += 1;
                report.findings.push(format!(
                    "{} acknowledged as jobs {first} and {id}",
                    sent.request_id
                ));
            }
        }
    }
    for (sent, id) in acked {
        let Some(job) = store.job(*id).await? else {
            report.lost += 1;
            report
                .findings
                .push(format!("job {id} ({}) is missing", sent.request_id));
            continue;
        };
        let source = store.source(*id).await?;
        if source != sent.source.as_bytes()
            || job.job.spec.problem().map(|(p, _)| p) != Some("aplusb")
        {
            report.lost += 1;
            report.findings.push(format!(
                "job {id} holds another submission than {}",
                sent.request_id
            ));
            continue;
        }
        let events = store.events_after(*id, 0).await?;
        let ends = events
            .iter()
            .filter(|e| matches!(e.event, Some(pb::job_event::Event::Finished(_))))
            .count();
        let mut results = HashSet::new();
        let mut twice = 0;
        for e in &events {
            if let Some(pb::job_event::Event::Test(t)) = &e.event {
                let attempt = attempt_of(&events, e.seq);
                if !results.insert((attempt, t.index)) {
                    twice += 1;
                }
            }
        }
        if ends != 1 || twice > 0 {
            report.doubled += 1;
            report.findings.push(format!(
                "job {id}: ended {ends} times, {twice} test results stored twice"
            ));
        }
        if job.state != pb::JobState::Done || job.verdict != Some(sent.want) {
            report.wrong += 1;
            report.findings.push(format!(
                "job {id} ({}): {:?} {:?} ({}), wanted {:?}",
                sent.request_id, job.state, job.verdict, job.message, sent.want
            ));
        }
    }
    // Jobs of the client's that it never had acknowledged: a retry that made a second job.
    let ours: BTreeMap<u64, ()> = acked.iter().map(|(_, id)| (*id, ())).collect();
    let filter = judge_scheduler::store::JobFilter {
        owner: Some("student".into()),
        ..Default::default()
    };
    let stored = store.recent_jobs(u32::MAX, &filter).await?;
    for job in stored {
        if !ours.contains_key(&job.job_id) {
            report.doubled += 1;
            report.findings.push(format!(
                "job {} was stored but never acknowledged",
                job.job_id
            ));
        }
    }
    Ok(())
}

/// The attempt a job event belongs to: that of the last `Assigned` before it.
fn attempt_of(events: &[pb::JobEvent], seq: u64) -> u32 {
    events
        .iter()
        .take_while(|e| e.seq <= seq)
        .filter_map(|e| match &e.event {
            Some(pb::job_event::Event::Assigned(a)) => Some(a.attempt),
            _ => None,
        })
        .last()
        .unwrap_or(0)
}
