//! The worker's connection against a fake scheduler on loopback (a real gRPC server, in
//! process): a session takes an assignment and reports its updates; when the feed breaks,
//! the worker dials again offering the attempt it holds, and once the new session adopts it,
//! the attempt's whole history goes out again and its end follows; a `Drain` command stops
//! the worker once nothing is left to run or send; a `Cancel` stops an attempt; a report
//! stream the scheduler breaks ends the session as a broken feed does.

use std::sync::Arc;
use std::time::Duration;

use judge_common::auth::Bearer;
use judge_common::pb;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use judge_common::pb::worker_service_server::{WorkerService, WorkerServiceServer};
use judge_worker::attach::Attacher;
use judge_worker::cache::FileCache;
use judge_worker::connection::{Connection, Identity};
use judge_worker::executor::{Executor, JudgeFuture, Judging};
use judge_worker::judge::Outcome;
use judge_worker::resources::Sampler;
use pb::job_update::Update;
use pb::worker_command::Command;
use tokio::sync::{mpsc, watch, Mutex, Notify};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

const WAIT: Duration = Duration::from_secs(20);

/// What the fake scheduler sees, for the test to read.
enum Seen {
    Connected(
        pb::ConnectRequest,
        mpsc::Sender<Result<pb::WorkerCommand, Status>>,
    ),
    Update(pb::JobUpdate),
}

/// A scheduler that hands every `Connect` (with the channel its feed comes from) and every
/// job update to the test.
struct FakeScheduler {
    seen: mpsc::Sender<Seen>,
    /// Set: the report stream open now fails at its next message.
    break_reports: Arc<std::sync::atomic::AtomicBool>,
}

#[tonic::async_trait]
impl WorkerService for FakeScheduler {
    type ConnectStream = ReceiverStream<Result<pb::WorkerCommand, Status>>;

    async fn connect(
        &self,
        req: Request<pb::ConnectRequest>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        let _ = self.seen.send(Seen::Connected(req.into_inner(), tx)).await;
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn report(
        &self,
        req: Request<Streaming<pb::WorkerReport>>,
    ) -> Result<Response<pb::ReportAck>, Status> {
        use std::sync::atomic::Ordering;
        let mut reports = req.into_inner();
        while let Ok(Some(r)) = reports.message().await {
            if self.break_reports.swap(false, Ordering::SeqCst) {
                return Err(Status::unavailable(
                    "the scheduler's end of the stream broke",
                ));
            }
            if let Some(pb::worker_report::Report::Job(u)) = r.report {
                let _ = self.seen.send(Seen::Update(u)).await;
            }
        }
        Ok(Response::new(pb::ReportAck {}))
    }

    type FetchFileStream = ReceiverStream<Result<pb::FileChunk, Status>>;

    async fn fetch_file(
        &self,
        _: Request<pb::FetchFileRequest>,
    ) -> Result<Response<Self::FetchFileStream>, Status> {
        Err(Status::unimplemented("no files here"))
    }

    type AttachStream = ReceiverStream<Result<pb::AttachDown, Status>>;

    async fn attach(
        &self,
        _: Request<Streaming<pb::AttachUp>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        Err(Status::unimplemented("no consoles here"))
    }
}

/// Judging that reports one test, then waits for the test's word (or a cancel) to end.
struct Held {
    release: Arc<Notify>,
}

impl Judging for Held {
    fn judge<'a>(
        &'a self,
        _: &'a pb::Assign,
        report: &'a (dyn Fn(Update) + Send + Sync),
        mut cancel: watch::Receiver<bool>,
    ) -> JudgeFuture<'a> {
        Box::pin(async move {
            report(Update::Test(pb::TestResult {
                name: "secret/1".into(),
                verdict: pb::Verdict::Ac as i32,
                ..Default::default()
            }));
            tokio::select! {
                _ = self.release.notified() => Outcome::Verdict {
                    verdict: pb::Verdict::Ac,
                    message: String::new(),
                    score: None,
                },
                _ = cancel.wait_for(|c| *c) => Outcome::Cancelled,
            }
        })
    }
}

fn welcome(key: &str, adopted: Vec<pb::RunningAttempt>) -> Result<pb::WorkerCommand, Status> {
    Ok(pb::WorkerCommand {
        command: Some(Command::Welcome(pb::Welcome {
            session_id: key.into(),
            epoch: 1,
            report_interval_ms: 100,
            adopted,
        })),
    })
}

/// The next thing the fake scheduler saw.
async fn next(seen: &Mutex<mpsc::Receiver<Seen>>) -> Seen {
    tokio::time::timeout(WAIT, seen.lock().await.recv())
        .await
        .expect("the worker did something within 20 s")
        .expect("the fake scheduler is up")
}

/// Updates until (and with) the first of `kind`, as (job, attempt, kind) names.
async fn updates_until(seen: &Mutex<mpsc::Receiver<Seen>>, last: &str) -> Vec<&'static str> {
    let mut out = Vec::new();
    loop {
        let Seen::Update(u) = next(seen).await else {
            panic!("a new session while waiting for updates");
        };
        let kind = match u.update {
            Some(Update::Accepted(_)) => "accepted",
            Some(Update::Test(_)) => "test",
            Some(Update::Finished(f)) if f.cancelled => "cancelled",
            Some(Update::Finished(_)) => "finished",
            _ => "other",
        };
        out.push(kind);
        if kind == last || (last == "finished" && kind == "cancelled") {
            return out;
        }
    }
}

/// A fake scheduler on loopback and a worker connected to it (judging with [`Held`]): what
/// the scheduler sees, the switch that ends a judging, and the worker's task.
async fn start() -> (
    Mutex<mpsc::Receiver<Seen>>,
    Arc<Notify>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
) {
    let (seen, release, worker, dir, _) = start_breakable().await;
    (seen, release, worker, dir)
}

/// As [`start`], with the switch that breaks the report stream open now.
async fn start_breakable() -> (
    Mutex<mpsc::Receiver<Seen>>,
    Arc<Notify>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let break_reports = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = mpsc::channel(64);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(WorkerServiceServer::new(FakeScheduler {
                seen: seen_tx,
                break_reports: break_reports.clone(),
            }))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let dir = tempfile::tempdir().unwrap();
    let channel =
        judge_common::failover::Failover::new(&[format!("http://{addr}")], &Default::default())
            .unwrap();
    let client = WorkerServiceClient::with_interceptor(channel, Bearer::new("t").unwrap());
    let cache = FileCache::open(dir.path().join("cache"), 1 << 20, client.clone())
        .await
        .unwrap();
    let release = Arc::new(Notify::new());
    let executor = Executor::new(Arc::new(Held {
        release: release.clone(),
    }));
    let (drain, _) = watch::channel(false);
    let connection = Connection {
        client: client.clone(),
        attacher: Attacher::new(client),
        identity: Identity {
            name: "w".into(),
            slots: 1,
            job_types: vec!["judge".into()],
            languages: Vec::new(),
        },
        executor,
        cache,
        sampler: Sampler::new(dir.path().to_path_buf()),
        drain,
    };
    let worker = tokio::spawn(connection.run());
    (Mutex::new(seen_rx), release, worker, dir, break_reports)
}

/// The worker dials again offering attempt 1 of `job_id` (updates still in flight from the
/// old session are passed over); the new session adopts it, its whole history comes again,
/// then, once judging ends, its end. The new session's feed.
async fn adopted_again(
    seen: &Mutex<mpsc::Receiver<Seen>>,
    release: &Notify,
    job_id: u64,
) -> mpsc::Sender<Result<pb::WorkerCommand, Status>> {
    let feed = loop {
        match next(seen).await {
            Seen::Connected(hello, feed) => {
                let held: Vec<(u64, u32)> = hello
                    .running
                    .iter()
                    .map(|a| (a.job_id, a.attempt))
                    .collect();
                assert_eq!(held, [(job_id, 1)], "the running attempt is offered back");
                break feed;
            }
            Seen::Update(_) => continue,
        }
    };
    let adopted = vec![pb::RunningAttempt { job_id, attempt: 1 }];
    feed.send(welcome("session-two", adopted)).await.unwrap();
    assert_eq!(updates_until(seen, "test").await, ["accepted", "test"]);
    release.notify_one();
    assert_eq!(updates_until(seen, "finished").await, ["finished"]);
    feed
}

/// A command on the feed.
async fn command(feed: &mpsc::Sender<Result<pb::WorkerCommand, Status>>, c: Command) {
    feed.send(Ok(pb::WorkerCommand { command: Some(c) }))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_broken_feed_is_dialled_again_and_the_adopted_attempt_replayed() {
    let (seen, release, worker, _dir) = start().await;

    // Session 1: an assignment; its first updates arrive.
    let Seen::Connected(hello, feed) = next(&seen).await else {
        panic!("the worker must connect first");
    };
    assert!(hello.running.is_empty(), "{hello:?}");
    feed.send(welcome("session-one", Vec::new())).await.unwrap();
    let assign = pb::Assign {
        job_id: 5,
        attempt: 1,
        ..Default::default()
    };
    command(&feed, Command::Assign(assign)).await;
    assert_eq!(updates_until(&seen, "test").await, ["accepted", "test"]);

    // The feed breaks. The worker dials again and offers the attempt it still runs.
    drop(feed);
    let feed = adopted_again(&seen, &release, 5).await;

    // Drain: with nothing left to run or send, the worker stops.
    command(&feed, Command::Drain(pb::Drain {})).await;
    tokio::time::timeout(WAIT, worker)
        .await
        .expect("the worker stopped after draining")
        .unwrap();
}

#[tokio::test]
async fn a_cancel_on_the_feed_stops_the_attempt() {
    let (seen, _release, _worker, _dir) = start().await;
    let Seen::Connected(_, feed) = next(&seen).await else {
        panic!("the worker must connect first");
    };
    feed.send(welcome("session", Vec::new())).await.unwrap();
    let assign = pb::Assign {
        job_id: 6,
        attempt: 1,
        ..Default::default()
    };
    command(&feed, Command::Assign(assign)).await;
    assert_eq!(updates_until(&seen, "test").await, ["accepted", "test"]);
    command(
        &feed,
        Command::Cancel(pb::Cancel {
            job_id: 6,
            attempt: 1,
        }),
    )
    .await;
    assert_eq!(updates_until(&seen, "finished").await, ["cancelled"]);
}

#[tokio::test]
async fn a_broken_report_stream_ends_the_session_and_the_attempt_is_offered_again() {
    let (seen, release, _worker, _dir, break_reports) = start_breakable().await;
    let Seen::Connected(_, feed) = next(&seen).await else {
        panic!("the worker must connect first");
    };
    feed.send(welcome("session-one", Vec::new())).await.unwrap();
    let assign = pb::Assign {
        job_id: 7,
        attempt: 1,
        ..Default::default()
    };
    command(&feed, Command::Assign(assign)).await;
    assert_eq!(updates_until(&seen, "test").await, ["accepted", "test"]);

    // The report stream breaks at its next message (the resource report is due every
    // 100 ms). The feed is still open: the worker must drop the session all the same.
    break_reports.store(true, std::sync::atomic::Ordering::SeqCst);
    adopted_again(&seen, &release, 7).await;
    drop(feed);
}
