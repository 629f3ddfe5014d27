//! A simulated worker: a real gRPC client of the worker service that finishes every job the
//! moment it gets it. Benchmarks use hundreds or thousands of them in one process.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use judge_common::pb;
use pb::worker_command::Command;
use pb::worker_report::Report;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Called with each assigned job id and when it arrived.
pub type OnAssign = std::sync::Arc<dyn Fn(u64, Instant) + Send + Sync>;

/// Connects as `name` and serves until the feed ends; resource reports every `report_every`.
pub async fn run(
    url: String,
    token: String,
    name: String,
    slots: u32,
    report_every: Duration,
    on_assign: Option<OnAssign>,
) -> Result<()> {
    let mut client = crate::worker_client(&url, &token).await?;
    let hello = pb::ConnectRequest {
        name,
        slots,
        job_types: vec!["judge".into()],
        languages: vec![pb::LanguageInfo {
            id: "python3".into(),
            version: "sim".into(),
        }],
        ..Default::default()
    };
    let mut feed = client.connect(hello).await?.into_inner();
    let session = match feed.message().await? {
        Some(pb::WorkerCommand {
            command: Some(Command::Welcome(w)),
        }) => w.session_id,
        other => bail!("expected Welcome, got {other:?}"),
    };
    let (tx, rx) = mpsc::channel::<pb::WorkerReport>(1024);
    let mut reports = client.clone();
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
                let Some(cmd) = cmd? else { break };
                if let Some(Command::Assign(a)) = cmd.command {
                    if let Some(f) = &on_assign {
                        f(a.job_id, Instant::now());
                    }
                    use pb::job_update::Update;
                    tx.send(job(a.job_id, a.attempt, Update::Accepted(pb::Accepted {}))).await?;
                    let done = pb::Finished { verdict: pb::Verdict::Ac as i32, message: String::new(), cancelled: false };
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
