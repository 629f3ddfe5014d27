//! A raw worker: the worker service driven by hand, one message at a time, as an attacker (or
//! a test) would, with nothing of the real worker's good manners.

use anyhow::{anyhow, bail, Result};
use judge_common::pb;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use judgectl::Authed;
use pb::worker_command::Command;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::WAIT;

/// A connected raw worker: its feed and an open report stream.
pub struct RawWorker {
    pub client: WorkerServiceClient<Authed>,
    pub feed: Streaming<pb::WorkerCommand>,
    pub welcome: pb::Welcome,
    reports: mpsc::Sender<pb::WorkerReport>,
}

/// What a one-slot python3 worker says when it connects.
pub fn hello(name: &str, running: Vec<pb::RunningAttempt>) -> pb::ConnectRequest {
    pb::ConnectRequest {
        name: name.into(),
        slots: 1,
        job_types: vec!["judge".into()],
        languages: vec![pb::LanguageInfo {
            id: "python3".into(),
            version: "raw".into(),
        }],
        running,
        ..Default::default()
    }
}

/// A job update as a report on `session`.
pub fn update(
    session: &str,
    job_id: u64,
    attempt: u32,
    u: pb::job_update::Update,
) -> pb::WorkerReport {
    pb::WorkerReport {
        session_id: session.to_string(),
        report: Some(pb::worker_report::Report::Job(pb::JobUpdate {
            job_id,
            attempt,
            update: Some(u),
        })),
    }
}

/// The last update of an attempt with `verdict`.
pub fn finished(verdict: pb::Verdict) -> pb::job_update::Update {
    pb::job_update::Update::Finished(pb::Finished {
        verdict: verdict as i32,
        message: String::new(),
        cancelled: false,
        score: None,
        run: None,
    })
}

impl RawWorker {
    /// Connects; the scheduler's refusal as the error's status when it refuses.
    pub async fn connect(url: &str, token: &str, hello: pb::ConnectRequest) -> Result<RawWorker> {
        let mut client = crate::worker_client(url, token).await?;
        let mut feed = client.connect(hello).await?.into_inner();
        let welcome = match tokio::time::timeout(WAIT, feed.message()).await?? {
            Some(pb::WorkerCommand {
                command: Some(Command::Welcome(w)),
            }) => w,
            other => bail!("expected Welcome, got {other:?}"),
        };
        let (reports, rx) = mpsc::channel(64);
        let mut c = client.clone();
        tokio::spawn(async move { c.report(ReceiverStream::new(rx)).await });
        Ok(RawWorker {
            client,
            feed,
            welcome,
            reports,
        })
    }

    /// Waits for the next `Assign`.
    pub async fn assigned(&mut self) -> Result<pb::Assign> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.feed.message())
                .await
                .map_err(|_| anyhow!("no assignment within {WAIT:?}"))??;
            match msg.and_then(|m| m.command) {
                Some(Command::Assign(a)) => return Ok(a),
                Some(_) => continue,
                None => bail!("the feed ended"),
            }
        }
    }

    /// Sends a job update on this worker's own session.
    pub async fn send(&self, job_id: u64, attempt: u32, u: pb::job_update::Update) -> Result<()> {
        let msg = update(&self.welcome.session_id, job_id, attempt, u);
        self.reports
            .send(msg)
            .await
            .map_err(|_| anyhow!("report stream closed"))
    }
}

/// One report stream carrying `msgs`; how the scheduler answered it.
pub async fn report_once(
    url: &str,
    token: &str,
    msgs: Vec<pb::WorkerReport>,
) -> Result<Result<(), tonic::Status>> {
    let mut client = crate::worker_client(url, token).await?;
    Ok(client.report(tokio_stream::iter(msgs)).await.map(|_| ()))
}
