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

use super::{caller, check_ident};
use crate::blobs::{is_sha256, BlobStore};
use crate::core::{Event, JobProgress, SessionId, Usage, WorkerHello};
use crate::driver::{DriverHandle, Sessions, ToWorker};
use crate::store::NameClaim;
use judge_common::job_kind::JobKind;

/// Commands a worker may have unread before it counts as stuck.
const FEED_CAPACITY: usize = 256;
/// Most slots a worker may offer.
pub const MAX_SLOTS: u32 = 256;
/// Most languages and job types a worker may offer.
const MAX_OFFERS: usize = 64;
/// Most files a worker may list in its cache, at connect or in one report.
const MAX_LISTED_FILES: usize = 1_000_000;
/// Most attempts a worker may offer back at connect.
const MAX_RUNNING: usize = 4096;
/// Longest test name and message a report may carry.
const MAX_NAME: usize = 1024;
const MAX_MESSAGE: usize = 64 * 1024;
/// Bytes per `FileChunk`.
const CHUNK: usize = 4 << 20;

pub struct WorkerApi {
    pub languages: super::Offered,
    pub job_types: super::Offered,
    /// The most standard output (and error) a `run` job's result may carry.
    pub max_run_output: u64,
    pub consoles: crate::consoles::Consoles,
    pub store: crate::store::Store,
    pub driver: DriverHandle,
    pub sessions: Sessions,
    pub blobs: BlobStore,
    pub transfers: Transfers,
}

/// Bounds on file transfers: so many at once in all, and two per connection, so one worker
/// fetching many files cannot crowd the others out of the scheduler's bandwidth.
#[derive(Clone)]
pub struct Transfers {
    total: std::sync::Arc<tokio::sync::Semaphore>,
    /// Permits of `total`.
    limit: usize,
    per_peer: std::sync::Arc<
        std::sync::Mutex<
            std::collections::HashMap<std::net::SocketAddr, std::sync::Arc<tokio::sync::Semaphore>>,
        >,
    >,
}

/// Concurrent transfers per worker connection.
const PER_PEER: usize = 2;

impl Transfers {
    pub fn new(total: usize) -> Self {
        Transfers {
            total: std::sync::Arc::new(tokio::sync::Semaphore::new(total)),
            per_peer: Default::default(),
            limit: total,
        }
    }

    /// Transfers running now.
    pub fn in_flight(&self) -> usize {
        self.limit.saturating_sub(self.total.available_permits())
    }

    /// Waits for a transfer slot; the permits are held for as long as the transfer lasts.
    async fn acquire(
        &self,
        peer: Option<std::net::SocketAddr>,
    ) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        let mut permits = Vec::with_capacity(2);
        if let Some(peer) = peer {
            let sem = {
                let mut map = self.per_peer.lock().unwrap_or_else(|p| p.into_inner());
                // Forget peers with nothing in flight, so the map does not grow forever.
                map.retain(|_, s| s.available_permits() < PER_PEER);
                map.entry(peer)
                    .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(PER_PEER)))
                    .clone()
            };
            if let Ok(p) = sem.acquire_owned().await {
                permits.push(p);
            }
        }
        if let Ok(p) = self.total.clone().acquire_owned().await {
            permits.push(p);
        }
        permits
    }
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
        ToWorker::Assign(a) => C::Assign(pb::Assign {
            job_id: a.job_id,
            attempt: a.attempt,
            language: a.job.language,
            source: a.source,
            problem: a.problem.map(|p| (*p).clone()),
            run_all_tests: a.job.run_all_tests,
            run: a.run,
            console: a.console,
        }),
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

fn hello_from(req: pb::ConnectRequest, token_id: String) -> Result<WorkerHello, Status> {
    check_ident("worker name", &req.name)?;
    if req.slots == 0 || req.slots > MAX_SLOTS {
        return Err(Status::invalid_argument(format!(
            "slots must be 1 to {MAX_SLOTS}, got {}",
            req.slots
        )));
    }
    if req.job_types.len() > MAX_OFFERS || req.languages.len() > MAX_OFFERS {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_OFFERS} job types and {MAX_OFFERS} languages"
        )));
    }
    if req.running.len() > MAX_RUNNING {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_RUNNING} running attempts, got {}",
            req.running.len()
        )));
    }
    check_files("cached", &req.cached)?;
    for l in &req.languages {
        if l.version.len() > MAX_NAME {
            return Err(Status::invalid_argument(format!(
                "language {:?}: version text over {MAX_NAME} bytes",
                l.id
            )));
        }
    }
    if req.job_types.is_empty() {
        return Err(Status::invalid_argument(
            "job_types is empty: name at least one, e.g. \"judge\"",
        ));
    }
    for t in &req.job_types {
        t.parse::<JobKind>()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
    }
    if req.languages.is_empty() {
        return Err(Status::invalid_argument(
            "languages is empty: the worker must offer at least one",
        ));
    }
    for l in &req.languages {
        check_ident("language", &l.id)?;
    }
    Ok(WorkerHello {
        name: req.name,
        token_id,
        slots: req.slots,
        job_types: req.job_types,
        languages: req.languages.into_iter().map(|l| l.id).collect(),
        cached: req.cached,
        cache: req.cache.unwrap_or_default(),
        running: req
            .running
            .into_iter()
            .map(|r| (r.job_id, r.attempt))
            .collect(),
    })
}

/// A list of cached files: bounded, and every entry a SHA-256.
fn check_files(what: &str, files: &[String]) -> Result<(), Status> {
    if files.len() > MAX_LISTED_FILES {
        return Err(Status::invalid_argument(format!(
            "{what}: at most {MAX_LISTED_FILES} files, got {}",
            files.len()
        )));
    }
    if let Some(bad) = files.iter().find(|f| !is_sha256(f)) {
        return Err(Status::invalid_argument(format!(
            "{what}: {bad:?} is not a lowercase hex SHA-256"
        )));
    }
    Ok(())
}

/// Text a report carries: at most `max` bytes.
fn check_len(what: &str, text: &str, max: usize) -> Result<(), Status> {
    if text.len() > max {
        return Err(Status::invalid_argument(format!(
            "{what} is {} bytes; at most {max}",
            text.len()
        )));
    }
    Ok(())
}

/// The largest score a worker may report, either way: beyond any package's ranges.
const MAX_SCORE: f64 = 1e12;

fn check_score(what: &str, score: f64) -> Result<f64, Status> {
    if score.is_finite() && score.abs() <= MAX_SCORE {
        Ok(score)
    } else {
        Err(Status::invalid_argument(format!(
            "{what} {score} is not a finite number within ±{MAX_SCORE}"
        )))
    }
}

/// Translates one report into a core event.
/// A `run` job's result from a worker, within every bound: a known outcome, an exit code or
/// a signal that can be, output no longer than any run may keep.
fn run_result(r: pb::RunResult, max_output: u64) -> Result<pb::RunResult, Status> {
    use pb::RunOutcome as O;
    let bad = |why: String| Err(Status::invalid_argument(format!("run result: {why}")));
    let outcome = match O::try_from(r.outcome) {
        Ok(O::Unspecified) | Err(_) => return bad(format!("invalid outcome {}", r.outcome)),
        Ok(o) => o,
    };
    if outcome == O::Exited && !r.exit_code.is_some_and(|c| (0..=255).contains(&c)) {
        return bad(format!("exit code {:?} of an exited run", r.exit_code));
    }
    if outcome == O::Signaled && !r.signal.is_some_and(|s| (1..=64).contains(&s)) {
        return bad(format!("signal {:?} of a signaled run", r.signal));
    }
    for (name, len) in [("stdout", r.stdout.len()), ("stderr", r.stderr.len())] {
        if len as u64 > max_output {
            return bad(format!("{name} is {len} bytes; at most {max_output}"));
        }
    }
    if r.compile_message.len() > MAX_MESSAGE {
        return bad(format!(
            "compile message is {} bytes; at most {MAX_MESSAGE}",
            r.compile_message.len()
        ));
    }
    Ok(r)
}

fn event_from(
    session: SessionId,
    report: pb::WorkerReport,
    max_run_output: u64,
) -> Result<Event, Status> {
    use pb::worker_report::Report;
    let missing =
        || Status::invalid_argument("report has no content (set resources, job or draining)");
    Ok(match report.report.ok_or_else(missing)? {
        Report::Resources(r)
            if !(r.cpu_percent.is_finite() && (0.0..=100_000.0).contains(&r.cpu_percent)) =>
        {
            return Err(Status::invalid_argument(format!(
                "cpu_percent {} is not a percentage",
                r.cpu_percent
            )))
        }
        Report::Resources(r) => Event::Resources {
            session,
            usage: Usage {
                cpu_percent: r.cpu_percent,
                memory_free_bytes: r.memory_free_bytes,
                disk_free_bytes: r.disk_free_bytes,
            },
        },
        Report::Draining(_) => Event::WorkerDraining { session },
        Report::Cache(c) => {
            check_files("added", &c.added)?;
            check_files("removed", &c.removed)?;
            Event::CacheChanged {
                session,
                added: c.added,
                removed: c.removed,
                stats: c.stats.unwrap_or_default(),
            }
        }
        Report::Job(j) => {
            use pb::job_update::Update;
            if j.job_id == 0 || j.attempt == 0 {
                return Err(Status::invalid_argument(
                    "job update needs job_id and attempt (both > 0)",
                ));
            }
            let missing = || {
                Status::invalid_argument(format!("job update for job {} has no content", j.job_id))
            };
            let progress = match j.update.ok_or_else(missing)? {
                Update::Accepted(_) => JobProgress::Accepted,
                Update::Compiling(_) => JobProgress::Compiling,
                Update::Test(t) => {
                    verdict(t.verdict)?;
                    check_len("test name", &t.name, MAX_NAME)?;
                    check_len("test message", &t.message, MAX_MESSAGE)?;
                    if let Some(s) = t.score {
                        check_score("test score", s)?;
                    }
                    JobProgress::Test(t)
                }
                Update::Group(g) => {
                    verdict(g.verdict)?;
                    check_len("group name", &g.name, MAX_NAME)?;
                    check_score("group score", g.score)?;
                    if !g.groups.is_empty() {
                        return Err(Status::invalid_argument(
                            "a group result from a worker has no subgroups",
                        ));
                    }
                    JobProgress::Group(g)
                }
                Update::Finished(f) if f.message.len() > MAX_MESSAGE => {
                    return Err(Status::invalid_argument(format!(
                        "finished message is {} bytes; at most {MAX_MESSAGE}",
                        f.message.len()
                    )))
                }
                Update::Finished(f) => JobProgress::Finished {
                    verdict: if f.cancelled || f.run.is_some() {
                        pb::Verdict::Unspecified
                    } else {
                        verdict(f.verdict)?
                    },
                    run: match f.run {
                        Some(r) => Some(Box::new(run_result(r, max_run_output)?)),
                        None => None,
                    },
                    message: f.message,
                    cancelled: f.cancelled,
                    score: match f.score {
                        Some(s) => Some(check_score("score", s)?),
                        None => None,
                    },
                },
            };
            Event::Progress {
                session,
                job_id: j.job_id,
                attempt: j.attempt,
                progress,
            }
        }
    })
}

fn verdict(v: i32) -> Result<pb::Verdict, Status> {
    match pb::Verdict::try_from(v) {
        Ok(pb::Verdict::Unspecified) | Err(_) => {
            Err(Status::invalid_argument(format!("invalid verdict {v}")))
        }
        Ok(v) => Ok(v),
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
            .claim_worker_name(&hello.name, &who.token_id, crate::driver::now_ms())
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
            .offer(&offered, &hello.job_types, crate::driver::now_ms())
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

    type AttachStream = super::console::AttachStream;

    async fn attach(
        &self,
        req: Request<Streaming<pb::AttachUp>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let who = caller(&req)?;
        let stream =
            super::console::attach(&self.consoles, &self.sessions, who, req.into_inner()).await?;
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
        let path = self.blobs.path(&req.sha256);
        let mut file = tokio::fs::File::open(&path)
            .await
            .map_err(|_| Status::not_found(format!("no file with SHA-256 {}", req.sha256)))?;
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
