//! The driver on a real SQLite file, with a clock the test moves by hand: an assignment
//! leaves for its worker only once its job is committed (persist, then send); after a
//! restart the job is rebuilt from the store, waits its grace for its worker, then goes out
//! again; an attempt past its worst case, by the injected clock, is taken back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use judge_common::problem::build_manifest;
use judge_scheduler::core::{CoreConfig, JobId, JobSpec, NewJob, WorkerHello};
use judge_scheduler::driver::clock::{Clock, ManualClock};
use judge_scheduler::driver::{
    recovery, Driver, DriverConfig, DriverHandle, Payload, Sessions, ToWorker,
};
use judge_scheduler::live::catalog::Catalog;
use judge_scheduler::live::consoles::Consoles;
use judge_scheduler::live::watch::WatchHub;
use judge_scheduler::store::Store;
use tokio::sync::mpsc;

/// Long enough for anything this test waits on; a failure says what it waited for.
const WAIT: Duration = Duration::from_secs(20);

struct Running {
    handle: DriverHandle,
    task: tokio::task::JoinHandle<Result<(), judge_scheduler::store::StoreError>>,
}

/// A store with problem `p` (one test), in `dir`.
async fn store_with_problem(dir: &std::path::Path) -> Store {
    let url = format!("sqlite://{}/judge.db?mode=rwc", dir.display());
    let store = Store::open(&url).await.expect("sqlite store");
    let files = common::one_test_package();
    let manifest = build_manifest("p", &files, |_| None, Some(1.0)).unwrap();
    store
        .insert_problem("p", &manifest, &files, 1)
        .await
        .unwrap();
    store
}

/// A driver rebuilt from `store` (as at start), reading time from `clock`.
async fn start(store: &Store, config: CoreConfig, clock: Arc<ManualClock>) -> Running {
    let catalog = Catalog::new(store.clone());
    let rebuilt = recovery::rebuild(store, &catalog, config, clock.now_ms())
        .await
        .unwrap();
    let driver_config = DriverConfig {
        epoch: 1,
        tick: Duration::from_millis(20),
        report_interval: Duration::from_secs(3),
        max_batch: 64,
    };
    let (handle, task) = Driver::new(
        rebuilt,
        store.clone(),
        catalog,
        WatchHub::default(),
        Sessions::default(),
        Consoles::default(),
        driver_config,
    )
    .with_clock(clock)
    .spawn(64);
    Running { handle, task }
}

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
    };
    let payload = Payload {
        source: b"int main(void) { return 0; }\n".to_vec(),
        ..Default::default()
    };
    d.submit(job, Some(p), payload, None)
        .await
        .unwrap()
        .unwrap()
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
    let Running { handle, task } = d;
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
    assert_eq!(next_assignment(&mut feed).await, (id, 2));
    stored(&store, id, "assigned again", |s, a| {
        s == pb::JobState::Assigned && a == 2
    })
    .await;
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
