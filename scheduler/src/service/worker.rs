//! `WorkerService`: the job feed, the report stream and file downloads.

use std::pin::Pin;
use std::task::{Context, Poll};

use judge_common::pb;
use judge_common::pb::worker_service_server::WorkerService;
use tokio::io::AsyncSeekExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use super::caller;
use super::worker_input::{event_from, hello_from};
use crate::core::{Event, JobProgress, SessionId};
use crate::driver::{DriverHandle, Sessions, ToWorker, Work};
use crate::store::blobs::{is_sha256, BlobStore};
use crate::store::NameClaim;

/// Commands a worker may have unread before it counts as stuck.
const FEED_CAPACITY: usize = 256;
/// Bytes per `FileChunk`.
const CHUNK: usize = 4 << 20;

pub struct WorkerApi {
    pub languages: crate::app::Offered,
    pub job_types: crate::app::Offered,
    /// The most standard output (and error) a `run` job's result may carry.
    pub max_run_output: u64,
    pub consoles: crate::live::consoles::Consoles,
    pub store: crate::store::Store,
    pub driver: DriverHandle,
    pub sessions: Sessions,
    pub blobs: BlobStore,
    pub transfers: crate::live::transfers::Transfers,
}

/// A worker's feed. When tonic drops it (the worker hung up, or the connection died), the
/// core hears `WorkerDisconnected`: the worker is registered exactly as long as this lives.
pub struct Feed {
    inner: ReceiverStream<ToWorker>,
    session: SessionId,
    driver: DriverHandle,
    /// Set once a `Closed` went out: the stream ends after it.
    ended: bool,
}

/// The wire form of what the driver sends a worker; `Closed` ends the stream with a status.
fn to_wire(msg: ToWorker) -> Result<pb::WorkerCommand, Status> {
    use pb::worker_command::Command as C;
    let command = match msg {
        ToWorker::Welcome {
            session_key,
            epoch,
            report_interval,
            adopted,
        } => C::Welcome(pb::Welcome {
            session_id: session_key,
            epoch,
            report_interval_ms: u32::try_from(report_interval.as_millis()).unwrap_or(u32::MAX),
            adopted: adopted
                .into_iter()
                .map(|(job_id, attempt)| pb::RunningAttempt { job_id, attempt })
                .collect(),
        }),
        ToWorker::Assign(a) => {
            use pb::assign::Spec;
            let (spec, run_all_tests) = match a.work {
                Work::Judge {
                    problem,
                    run_all_tests,
                } => (Spec::Problem((*problem).clone()), run_all_tests),
                Work::Run(input) => (Spec::Run(input), false),
                Work::Console(console) => (Spec::Console(console), false),
            };
            C::Assign(pb::Assign {
                job_id: a.job_id,
                attempt: a.attempt,
                language: a.language,
                source: a.source,
                run_all_tests,
                spec: Some(spec),
            })
        }
        ToWorker::Cancel { job_id, attempt } => C::Cancel(pb::Cancel { job_id, attempt }),
        ToWorker::Drain => C::Drain(pb::Drain {}),
        ToWorker::Closed { reason } => {
            return Err(Status::aborted(format!("session closed: {reason}")))
        }
    };
    Ok(pb::WorkerCommand {
        command: Some(command),
    })
}

impl Stream for Feed {
    type Item = Result<pb::WorkerCommand, Status>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(msg)) => {
                let wire = to_wire(msg);
                self.ended = wire.is_err();
                Poll::Ready(Some(wire))
            }
            other => other.map(|_| None),
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.driver.send_later(Event::WorkerDisconnected {
            session: self.session,
        });
    }
}

impl WorkerApi {
    /// Forwards a session's reports to the driver until the worker ends the stream or the
    /// session closes.
    async fn reports(
        &self,
        (session, key): (SessionId, &str),
        first: pb::WorkerReport,
        stream: &mut Streaming<pb::WorkerReport>,
        closed: &mut tokio::sync::watch::Receiver<()>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        self.forward(session, first).await?;
        loop {
            tokio::select! {
                msg = stream.message() => {
                    let Some(msg) = msg? else { return Ok(Response::new(pb::ReportAck {})) };
                    if msg.session_id != key {
                        return Err(Status::invalid_argument(
                            "a report for another session on this session's stream",
                        ));
                    }
                    self.forward(session, msg).await?;
                }
                _ = closed.changed() => {
                    return Err(Status::failed_precondition(format!("session {session} closed: connect again")));
                }
            }
        }
    }

    async fn forward(&self, session: SessionId, report: pb::WorkerReport) -> Result<(), Status> {
        let event = event_from(session, report, self.max_run_output)?;
        if let Event::Progress {
            job_id,
            attempt,
            progress,
            ..
        } = &event
        {
            let kind = match progress {
                JobProgress::Accepted => "accepted",
                JobProgress::Compiling => "compiling",
                JobProgress::Test(_) => "test",
                JobProgress::Group(_) => "group",
                JobProgress::Finished { .. } => "finished",
            };
            tracing::debug_span!("attempt", job_id, attempt)
                .in_scope(|| tracing::debug!(report = kind, "job update"));
        }
        Ok(self.driver.send(event).await?)
    }
}

#[tonic::async_trait]
impl WorkerService for WorkerApi {
    type ConnectStream = Feed;

    async fn connect(&self, req: Request<pb::ConnectRequest>) -> Result<Response<Feed>, Status> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let offered: Vec<(String, String)> = req
            .languages
            .iter()
            .map(|l| (l.id.clone(), l.version.clone()))
            .collect();
        let hello = hello_from(req, who.token_id.clone())?;
        // A name belongs to the token that first registered it: an impostor is refused
        // before it can replace the holder's connection or touch its attempts.
        if self
            .store
            .claim_worker_name(&hello.name, &who.token_id, self.driver.now_ms())
            .await?
            == NameClaim::Taken
        {
            tracing::warn!(worker = %hello.name, token = %who.token_name, "worker name held by another token; refused");
            return Err(Status::permission_denied(format!(
                "worker name {:?} belongs to another token: pick another name, or free it with \
                 `judge-scheduler worker forget {}`",
                hello.name, hello.name
            )));
        }
        // Remembered before the worker is registered: a submission it could take is never
        // refused for an unknown language.
        self.store
            .offer(&offered, &hello.job_types, self.driver.now_ms())
            .await?;
        self.languages
            .offered(offered.into_iter().map(|(id, _)| id));
        self.job_types.offered(hello.job_types.iter().cloned());
        let name = hello.name.clone();
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        let session = self.driver.connect(hello, tx).await?;
        tracing::info!(worker = %name, session, "worker connected");
        Ok(Response::new(Feed {
            inner: ReceiverStream::new(rx),
            session,
            driver: self.driver.clone(),
            ended: false,
        }))
    }

    type AttachStream = super::attach::AttachStream;

    async fn attach(
        &self,
        req: Request<Streaming<pb::AttachUp>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let who = caller(&req)?;
        let stream =
            super::attach::attach(&self.consoles, &self.sessions, who, req.into_inner()).await?;
        Ok(Response::new(stream))
    }

    async fn report(
        &self,
        req: Request<Streaming<pb::WorkerReport>>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        let who = caller(&req)?;
        let mut stream = req.into_inner();
        let Some(first) = stream.message().await? else {
            return Ok(Response::new(pb::ReportAck {}));
        };
        let key = first.session_id.clone();
        let (session, owner, worker, mut closed) = self.sessions.find(&key).ok_or_else(|| {
            Status::failed_precondition("unknown or stale session: connect again")
        })?;
        // Whatever a token opened belongs to it: another token's reports change nothing.
        if owner != who.token_id {
            tracing::warn!(worker = %worker, session, "report on a session of another token refused");
            return Err(Status::permission_denied(
                "this session was opened by another token",
            ));
        }
        let span = tracing::info_span!("session", worker = %worker, session);
        self.reports((session, &key), first, &mut stream, &mut closed)
            .instrument(span)
            .await
    }

    type FetchFileStream = ReceiverStream<Result<pb::FileChunk, Status>>;

    async fn fetch_file(
        &self,
        req: Request<pb::FetchFileRequest>,
    ) -> Result<Response<Self::FetchFileStream>, Status> {
        let peer = req.remote_addr();
        let req = req.into_inner();
        if !is_sha256(&req.sha256) {
            return Err(Status::invalid_argument(format!(
                "{:?} is not a lowercase hex SHA-256",
                req.sha256
            )));
        }
        let not_found = || Status::not_found(format!("no file with SHA-256 {}", req.sha256));
        let path = match self.blobs.local(&req.sha256).await {
            Ok(Some(path)) => path,
            Ok(None) => return Err(not_found()),
            Err(e) => {
                return Err(Status::internal(format!(
                    "reading blob {}: {e}",
                    req.sha256
                )))
            }
        };
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| not_found())?;
        let total = file
            .metadata()
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .len();
        if req.offset > total {
            return Err(Status::out_of_range(format!(
                "offset {} is past the end ({total} bytes)",
                req.offset
            )));
        }
        file.seek(std::io::SeekFrom::Start(req.offset))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let permits = self.transfers.acquire(peer).await;
        let (tx, rx) = mpsc::channel(4);
        let mut file = file.into_std().await;
        // One blocking thread reads ahead while tonic sends: no blocking-pool round trip per
        // chunk, and disk reads overlap the network.
        tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let _permits = permits;
            let mut offset = req.offset;
            loop {
                let mut buf = vec![0u8; CHUNK];
                let mut n = 0;
                while n < CHUNK {
                    match file.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) => {
                            let _ = tx
                                .blocking_send(Err(Status::internal(format!("read failed: {e}"))));
                            return;
                        }
                    }
                }
                if n == 0 && offset < total {
                    let _ = tx.blocking_send(Err(Status::data_loss("file shrank while reading")));
                    return;
                }
                buf.truncate(n);
                let chunk = pb::FileChunk {
                    offset,
                    data: buf.into(),
                    total_size: total,
                };
                offset += n as u64;
                if tx.blocking_send(Ok(chunk)).is_err() || n == 0 || offset >= total {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}
