//! The driver on a real SQLite file, with a clock the test moves by hand: an assignment
//! leaves for its worker only once its job is committed (persist, then send); after a
//! restart the job is rebuilt from the store, waits its grace for its worker, then goes out
//! again; an attempt past its worst case, by the injected clock, is taken back. Through the
//! driver's storage seam, a real store that refuses a batch on command: a full disk refuses
//! the batch's requests and sends nothing, any other failure stops the driver sending
//! nothing, and a restart goes on; a batch held long by a busy store makes no worker look
//! silent.

mod common;

use common::{start, start_on, store_with_problem, Running};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use judge_scheduler::core::{
    CoreConfig, JobId, JobSpec, NewJob, Persist, RecoveredJob, RequestId, SubmitError, WorkerHello,
};
use judge_scheduler::driver::clock::ManualClock;
use judge_scheduler::driver::{storage::Storage, DriverError, DriverHandle, Payload, ToWorker};
use judge_scheduler::live::catalog::Catalog;
use judge_scheduler::store::{AssignPayload, Store, StoreError};
use tokio::sync::mpsc;

/// Long enough for anything this test waits on; a failure says what it waited for.
const WAIT: Duration = Duration::from_secs(20);

/// Connects worker `w` (one slot, C); its feed, past the welcome.
async fn connect(d: &DriverHandle) -> mpsc::Receiver<ToWorker> {
    let (tx, mut rx) = mpsc::channel(16);
    let hello = WorkerHello {
        name: "w".into(),
        token_id: "t".into(),
        slots: 1,
        job_types: vec!["judge".into()],
        languages: vec!["c".into()],
        ..Default::default()
    };
    d.connect(hello, tx).await.unwrap();
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(ToWorker::Welcome { .. })) => rx,
        other => panic!("no welcome: {other:?}"),
    }
}

async fn submit(d: &DriverHandle, store: &Store) -> JobId {
    try_submit(d, store).await.unwrap().unwrap()
}

/// Submits a judge job of problem `p`: the driver's answer.
async fn try_submit(
    d: &DriverHandle,
    store: &Store,
) -> Result<Result<JobId, SubmitError>, DriverError> {
    let catalog = Catalog::new(store.clone());
    let p = catalog.version("p", 1).await.unwrap().unwrap();
    let job = NewJob {
        spec: JobSpec::Judge {
            problem: "p".into(),
            version: 1,
            run_all_tests: false,
        },
        language: "c".into(),
        owner: "alice".into(),
        request_id: Some("r1".into()),
        supersede_key: None,
        priority: Default::default(),
    };
    let payload = Payload {
        source: b"int main(void) { return 0; }\n".to_vec(),
        ..Default::default()
    };
    d.submit(job, Some(p), payload, None).await
}

/// The next assignment on the feed (other commands, a cancel say, are passed over).
async fn next_assignment(feed: &mut mpsc::Receiver<ToWorker>) -> (JobId, u32) {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            match feed.recv().await {
                Some(ToWorker::Assign(a)) => return (a.job_id, a.attempt),
                Some(_) => continue,
                None => panic!("the feed closed"),
            }
        }
    });
    found.await.expect("an assignment within 20 s")
}

/// Attempt `attempt` of job `id` comes on the feed, and the store has it assigned.
async fn goes_out(feed: &mut mpsc::Receiver<ToWorker>, store: &Store, id: JobId, attempt: u32) {
    assert_eq!(next_assignment(feed).await, (id, attempt));
    stored(store, id, "assigned", |s, a| {
        s == pb::JobState::Assigned && a == attempt
    })
    .await;
}

/// Waits until the stored job satisfies `pred`.
async fn stored(store: &Store, id: JobId, what: &str, pred: impl Fn(pb::JobState, u32) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let job = store.job(id).await.unwrap().unwrap();
        if pred(job.state, job.attempt) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never {what}: {:?}, attempt {}",
            job.state,
            job.attempt
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn an_assignment_leaves_after_its_commit_and_a_restart_rebuilds_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_problem(dir.path()).await;
    let clock = Arc::new(ManualClock::new(1_000_000));
    let config = CoreConfig::DEFAULT;
    let d = start(&store, config.clone(), clock.clone()).await;
    let mut feed = connect(&d.handle).await;
    let id = submit(&d.handle, &store).await;
    assert_eq!(next_assignment(&mut feed).await, (id, 1));
    // Persist, then send: when the worker has it, the store already has it.
    let job = store.job(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempt), (pb::JobState::Assigned, 1));
    assert_eq!(job.submitted_at, 1_000_000, "stamped by the injected clock");

    // The scheduler stops (every handle gone) and starts again from the store.
    let Running { handle, task, .. } = d;
    drop(handle);
    drop(feed);
    task.await.unwrap().unwrap();
    let d = start(&store, config.clone(), clock.clone()).await;
    // Its attempt waits for its worker for the grace period, by the clock...
    assert_eq!(d.handle.waiting(id).await.unwrap(), None, "not queued yet");
    clock.advance(config.grace_ms + 1);
    // ...then it is queued again, and goes to the worker that connects.
    stored(&store, id, "queued again", |s, _| s == pb::JobState::Queued).await;
    let mut feed = connect(&d.handle).await;
    goes_out(&mut feed, &store, id, 2).await;
}

#[tokio::test]
async fn an_attempt_past_its_worst_case_by_the_clock_is_taken_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_problem(dir.path()).await;
    let clock = Arc::new(ManualClock::new(5_000_000));
    // A worker that never reports is not taken for a lost one here: only the deadline acts.
    let config = CoreConfig {
        report_timeout_ms: 1 << 40,
        ..CoreConfig::DEFAULT
    };
    let d = start(&store, config.clone(), clock.clone()).await;
    let mut feed = connect(&d.handle).await;
    let id = submit(&d.handle, &store).await;
    assert_eq!(next_assignment(&mut feed).await, (id, 1));
    let worst = Catalog::new(store.clone())
        .version("p", 1)
        .await
        .unwrap()
        .unwrap()
        .worst_case_ms;
    // Nothing happens while time stands still...
    tokio::time::sleep(Duration::from_millis(100)).await;
    stored(&store, id, "still on attempt 1", |s, a| {
        s == pb::JobState::Assigned && a == 1
    })
    .await;
    // ...and the attempt is taken back once the clock passes its worst case.
    clock.advance(worst + config.attempt_slack_ms + 1);
    assert_eq!(next_assignment(&mut feed).await, (id, 2));
    stored(&store, id, "on attempt 2", |_, a| a == 2).await;
}

/// A real store that refuses the next batch with the error it is given, as a full disk or
/// a database locked past the store's patience would; or holds the next batch until told,
/// as a busy database would.
#[derive(Clone)]
struct Faulty {
    inner: Store,
    next: Arc<std::sync::Mutex<Option<StoreError>>>,
    /// While set, the next batch waits for it to be notified.
    hold: Arc<std::sync::Mutex<Option<Arc<tokio::sync::Notify>>>>,
    /// Notified when a held batch has begun to wait.
    holding: Arc<tokio::sync::Notify>,
}

impl Faulty {
    fn new(inner: Store) -> Self {
        Faulty {
            inner,
            next: Default::default(),
            hold: Default::default(),
            holding: Default::default(),
        }
    }

    fn fail_next(&self, e: StoreError) {
        *self.next.lock().unwrap() = Some(e);
    }

    /// The next batch waits until the returned handle is notified.
    fn hold_next(&self) -> Arc<tokio::sync::Notify> {
        let release = Arc::new(tokio::sync::Notify::new());
        *self.hold.lock().unwrap() = Some(release.clone());
        release
    }
}

impl Storage for Faulty {
    async fn persist(
        &self,
        changes: &[&Persist],
        sources: &HashMap<RequestId, Payload>,
    ) -> Result<(), StoreError> {
        let held = self.hold.lock().unwrap().take();
        if let Some(release) = held {
            self.holding.notify_one();
            release.notified().await;
        }
        let refusal = self.next.lock().unwrap().take();
        match refusal {
            Some(e) => Err(e),
            None => self.inner.persist(changes, sources).await,
        }
    }

    async fn assign_payloads(
        &self,
        ids: &[JobId],
    ) -> Result<HashMap<JobId, AssignPayload>, StoreError> {
        self.inner.assign_payloads(ids).await
    }

    async fn unfinished(&self) -> Result<Vec<RecoveredJob>, StoreError> {
        self.inner.unfinished().await
    }

    async fn max_job_id(&self) -> Result<JobId, StoreError> {
        self.inner.max_job_id().await
    }
}

/// The next command on the feed, if one comes within a short wait.
async fn next_command(feed: &mut mpsc::Receiver<ToWorker>) -> Option<ToWorker> {
    tokio::time::timeout(Duration::from_millis(300), feed.recv())
        .await
        .ok()
        .flatten()
}

#[tokio::test]
async fn a_batch_the_disk_has_no_room_for_is_refused_and_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_problem(dir.path()).await;
    let faulty = Faulty::new(store.clone());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let d = start_on(faulty.clone(), &store, CoreConfig::DEFAULT, clock).await;
    let mut feed = connect(&d.handle).await;

    faulty.fail_next(StoreError::DiskFull("no space left on device".into()));
    let refused = try_submit(&d.handle, &store).await;
    assert!(
        matches!(refused, Err(DriverError::DiskFull(_))),
        "the submitter learns the disk is full: {refused:?}"
    );
    // Nothing of the batch reaches the worker: no assignment, only the session's close
    // (so that it reconnects and re-sends what it holds).
    match next_command(&mut feed).await {
        Some(ToWorker::Closed { .. }) => {}
        other => panic!("expected the session to close, got {other:?}"),
    }
    assert!(
        store.unfinished().await.unwrap().is_empty(),
        "the store holds no trace of the refused job"
    );

    // The driver carries on: once there is room, the same submission is taken and sent.
    let mut feed = connect(&d.handle).await;
    let id = submit(&d.handle, &store).await;
    goes_out(&mut feed, &store, id, 1).await;
}

#[tokio::test]
async fn a_batch_that_fails_otherwise_stops_the_driver_sending_nothing_and_a_restart_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_problem(dir.path()).await;
    let faulty = Faulty::new(store.clone());
    let clock = Arc::new(ManualClock::new(1_000_000));
    let d = start_on(faulty.clone(), &store, CoreConfig::DEFAULT, clock.clone()).await;
    let mut feed = connect(&d.handle).await;

    faulty.fail_next(StoreError::Busy("locked past the store's patience".into()));
    let refused = try_submit(&d.handle, &store).await;
    assert!(
        matches!(refused, Err(DriverError::Gone)),
        "the submitter is told the scheduler is gone, not that its job is kept: {refused:?}"
    );
    let Running { handle, task, .. } = d;
    let ended = task.await.unwrap();
    assert!(
        matches!(ended, Err(StoreError::Busy(_))),
        "crash-only: the driver stops with the store's error: {ended:?}"
    );
    drop(handle);
    // The worker got nothing but the end of its feed.
    while let Some(cmd) = next_command(&mut feed).await {
        assert!(
            !matches!(cmd, ToWorker::Assign(_)),
            "nothing of the failed batch is sent"
        );
    }
    assert!(store.unfinished().await.unwrap().is_empty());

    // A restart from the store takes submissions again.
    let d = start(&store, CoreConfig::DEFAULT, clock).await;
    let mut feed = connect(&d.handle).await;
    let id = submit(&d.handle, &store).await;
    assert_eq!(next_assignment(&mut feed).await, (id, 1));
}

/// A batch held 60 s by a busy store (by the driver's clock) makes nobody lost: the worker's
/// reports were queued behind it. Silence after it still counts.
#[tokio::test]
async fn a_stalled_batch_does_not_make_the_fleet_look_silent() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_problem(dir.path()).await;
    let faulty = Faulty::new(store.clone());
    let clock = Arc::new(ManualClock::new(5_000_000));
    let config = CoreConfig::DEFAULT;
    let d = start_on(faulty.clone(), &store, config.clone(), clock.clone()).await;
    let mut feed = connect(&d.handle).await;
    let release = faulty.hold_next();
    let waiter = {
        let (handle, store) = (d.handle.clone(), store.clone());
        tokio::spawn(async move { submit(&handle, &store).await })
    };
    tokio::time::timeout(WAIT, faulty.holding.notified())
        .await
        .expect("the batch is held");
    clock.advance(60_000);
    release.notify_one();
    let id = tokio::time::timeout(WAIT, waiter).await.unwrap().unwrap();
    // The driver ticks every 20 ms: ample ticks to have closed the session by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    match next_command(&mut feed).await {
        Some(ToWorker::Assign(a)) => assert_eq!(a.job_id, id),
        other => panic!("the worker should get the job, not {other:?}"),
    }
    assert!(
        next_command(&mut feed).await.is_none(),
        "nothing else: the session stays open"
    );
    // Real silence past the timeout still closes it.
    clock.advance(config.report_timeout_ms + 1);
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match feed.recv().await {
                Some(ToWorker::Closed { reason }) => break reason,
                Some(_) => continue,
                None => panic!("feed ended without a reason"),
            }
        }
    })
    .await
    .expect("closed for silence");
    assert!(closed.contains("no report"), "{closed}");
}
