//! A simulated worker: a real gRPC client of the worker service that finishes every job the
//! moment it gets it. Benchmarks use hundreds or thousands of them in one process.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use judge_common::pb;
use pb::worker_command::Command;
use pb::worker_report::Report;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

type Client = judge_common::pb::worker_service_client::WorkerServiceClient<judgectl::Authed>;

/// One `Connect` up to its `Welcome`: the client, the feed and the session key.
pub async fn connect(
    url: &str,
    token: &str,
    hello: pb::ConnectRequest,
) -> Result<(Client, tonic::Streaming<pb::WorkerCommand>, String)> {
    let mut client = crate::worker_client(url, token).await?;
    let mut feed = client.connect(hello).await?.into_inner();
    match feed.message().await? {
        Some(pb::WorkerCommand {
            command: Some(Command::Welcome(w)),
        }) => Ok((client, feed, w.session_id)),
        other => bail!("expected Welcome, got {other:?}"),
    }
}

/// Called with each assigned job id and when it arrived.
pub type OnAssign = std::sync::Arc<dyn Fn(u64, Instant) + Send + Sync>;

/// Connects as `name` and serves until the feed ends; resource reports every `report_every`.
/// A connect that fails (the listen queue full, the scheduler busy) is tried again with
/// backoff, up to a minute, so that a fleet connecting at once gets in whole.
pub async fn run(
    url: String,
    token: String,
    name: String,
    slots: u32,
    report_every: Duration,
    on_assign: Option<OnAssign>,
) -> Result<()> {
    run_offering(url, token, name, slots, report_every, on_assign, "python3").await
}

/// [`run`], offering `language` instead of python3.
pub async fn run_offering(
    url: String,
    token: String,
    name: String,
    slots: u32,
    report_every: Duration,
    on_assign: Option<OnAssign>,
    language: &str,
) -> Result<()> {
    let spec = Spec {
        runs: false,
        url,
        token,
        name,
        slots,
        report_every,
        language: language.to_string(),
        verdict: pb::Verdict::Ac,
        message: String::new(),
    };
    serve(spec, on_assign).await
}

/// A broken worker (its judging fails: its toolchain, say): python3, a judge error on every
/// judge job; run jobs (the quarantine's probe) it runs right when `runs_well`.
pub async fn run_broken(
    url: String,
    token: String,
    name: String,
    slots: u32,
    runs_well: bool,
) -> Result<()> {
    let spec = Spec {
        runs: runs_well,
        url,
        token,
        name,
        slots,
        report_every: Duration::from_secs(1),
        language: "python3".into(),
        verdict: pb::Verdict::Je,
        message: "sandbox: cannot create the cgroup (simulated)".into(),
    };
    serve(spec, None).await
}

/// What a simulated worker is and how it ends every job.
struct Spec {
    /// It also takes run jobs, and answers each with the quarantine probe's known answer.
    runs: bool,
    url: String,
    token: String,
    name: String,
    slots: u32,
    report_every: Duration,
    language: String,
    verdict: pb::Verdict,
    message: String,
}

/// Serves jobs until the feed ends, finishing each at once as `spec` says.
async fn serve(spec: Spec, on_assign: Option<OnAssign>) -> Result<()> {
    let Spec {
        runs,
        url,
        token,
        name,
        slots,
        report_every,
        language,
        verdict,
        message,
    } = spec;
    let hello = pb::ConnectRequest {
        name,
        slots,
        job_types: if runs {
            vec!["judge".into(), "run".into()]
        } else {
            vec!["judge".into()]
        },
        languages: vec![pb::LanguageInfo {
            id: language,
            version: "sim".into(),
        }],
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(50);
    let (client, mut feed, session) = loop {
        match connect(&url, &token, hello.clone()).await {
            Ok(connected) => break connected,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    };
    let (tx, rx) = mpsc::channel::<pb::WorkerReport>(1024);
    let mut reports = client;
    let report_task = tokio::spawn(async move { reports.report(ReceiverStream::new(rx)).await });
    let job = |job_id, attempt, update| pb::WorkerReport {
        session_id: session.clone(),
        report: Some(Report::Job(pb::JobUpdate {
            job_id,
            attempt,
            update: Some(update),
        })),
    };
    let mut ticker = tokio::time::interval(report_every);
    loop {
        tokio::select! {
            cmd = feed.message() => {
                // The scheduler going away ends a simulated worker quietly.
                let Ok(Some(cmd)) = cmd else { break };
                if let Some(Command::Assign(a)) = cmd.command {
                    if let Some(f) = &on_assign {
                        f(a.job_id, Instant::now());
                    }
                    use pb::job_update::Update;
                    tx.send(job(a.job_id, a.attempt, Update::Accepted(pb::Accepted {}))).await?;
                    let run = matches!(a.spec, Some(pb::assign::Spec::Run(_))).then(|| pb::RunResult {
                        outcome: pb::RunOutcome::Exited as i32,
                        exit_code: Some(0),
                        stdout: judge_common::probe::PROBE_OUTPUT.as_bytes().to_vec(),
                        ..Default::default()
                    });
                    let done = match run {
                        Some(run) => pb::Finished { verdict: 0, message: String::new(), cancelled: false, score: None, run: Some(run) },
                        None => pb::Finished { verdict: verdict as i32, message: message.clone(), cancelled: false, score: None, run: None },
                    };
                    tx.send(job(a.job_id, a.attempt, Update::Finished(done))).await?;
                }
            }
            _ = ticker.tick() => {
                let usage = pb::ResourceUsage { cpu_percent: 1.0, memory_free_bytes: 1 << 30, ..Default::default() };
                tx.send(pb::WorkerReport { session_id: session.clone(), report: Some(Report::Resources(usage)) }).await?;
            }
        }
    }
    drop(tx);
    let _ = report_task.await;
    Ok(())
}
