//! The application layer in-process, on a real SQLite file and a running driver, with no
//! network: the rules both edges (gRPC and HTTP) reach through it. A caller comes from a
//! real token through the one check every request passes.

mod common;

use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use judge_common::run_limits::RunMaxima;
use judge_scheduler::app::auth::{authorize, ADMINS, PEOPLE};
use judge_scheduler::app::{
    tokens, App, AppError, Bounds, ConsoleLimits, Offered, SubmitJob, SubmitRate, Watchers,
};
use judge_scheduler::core::CoreConfig;
use judge_scheduler::driver::clock::ManualClock;
use judge_scheduler::live::catalog::Catalog;
use judge_scheduler::live::tokens::{Caller, TokenCache};
use judge_scheduler::store::blobs::BlobStore;
use judge_scheduler::store::Role;
use tokio_stream::StreamExt;

struct World {
    app: App,
    _driver: common::Running,
    _dir: tempfile::TempDir,
    /// Keeps `stopping` open: the scheduler is not stopping.
    _stop: tokio::sync::watch::Sender<bool>,
    tokens: Vec<String>,
    clock: Arc<ManualClock>,
}

/// An application over a store with problem `p`, tokens `alice` and `bob` (submitters) and
/// `root` (admin); no worker has offered anything yet. One watch per token; a rate that
/// never binds.
async fn world() -> World {
    world_with(SubmitRate::new(1000.0, 1000)).await
}

/// As [`world`], with the submission rate given.
async fn world_with(rate: SubmitRate) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = common::store_with_problem(dir.path()).await;
    let clock = Arc::new(ManualClock::new(1_000_000));
    let driver = common::start(&store, CoreConfig::DEFAULT, clock.clone()).await;
    let mut texts = Vec::new();
    for (name, role) in [
        ("alice", Role::Submitter),
        ("bob", Role::Submitter),
        ("root", Role::Admin),
    ] {
        let issued = tokens::issue_tokens(&store, &[name.to_string()], role, Default::default(), 1)
            .await
            .unwrap();
        texts.push(issued[0].1.clone());
    }
    let cache = TokenCache::default();
    cache.replace(tokens::list_tokens(&store).await.unwrap());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let app = App {
        catalog: Catalog::new(store.clone()),
        driver: driver.handle.clone(),
        store: store.clone(),
        blobs: BlobStore::open(dir.path().join("blobs")).await.unwrap(),
        hub: driver.hub.clone(),
        languages: Offered::new("language", []),
        job_types: Offered::new("job type", []),
        bounds: Bounds {
            max_source_bytes: 1000,
            max_stdin_bytes: 100,
            run_maxima: RunMaxima {
                time_ms: 10_000,
                memory_bytes: 1 << 30,
                output_bytes: 1 << 20,
            },
            max_run_bytes_per_token: 10_000,
            console: ConsoleLimits {
                max_seconds: 600,
                idle_seconds: 60,
            },
        },
        stopping,
        watchers: Watchers::new(1),
        rate,
        tokens: cache,
        rejudging: Default::default(),
    };
    World {
        app,
        _driver: driver,
        _dir: dir,
        _stop: stop,
        tokens: texts,
        clock,
    }
}

impl World {
    /// The caller token `i` (0 alice, 1 bob, 2 root) is, through the one check.
    fn caller(&self, i: usize) -> Caller {
        let header = format!("Bearer {}", self.tokens[i]);
        authorize(&self.app.tokens, Some(&header), PEOPLE).unwrap()
    }

    /// Some worker has offered C for judge and run jobs.
    fn offer(&self) {
        self.app.languages.offered(["c".to_string()]);
        self.app
            .job_types
            .offered(["judge".to_string(), "run".to_string()]);
    }
}

fn judge_job(request_id: &str) -> SubmitJob {
    SubmitJob {
        problem: "p".into(),
        language: "c".into(),
        source: b"int main(void) { return 0; }".to_vec(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

fn invalid(r: Result<impl std::fmt::Debug, AppError>) -> String {
    match r {
        Err(AppError::Invalid(m)) => m,
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

#[tokio::test]
async fn only_a_known_token_of_an_allowed_role_passes_the_check() {
    let w = world().await;
    let tokens = &w.app.tokens;
    let alice = format!("Bearer {}", w.tokens[0]);
    assert!(matches!(
        authorize(tokens, Some(&alice), ADMINS),
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        authorize(tokens, Some("Bearer nope"), PEOPLE),
        Err(AppError::Unauthenticated(_))
    ));
    assert!(matches!(
        authorize(tokens, None, PEOPLE),
        Err(AppError::Unauthenticated(_))
    ));
    let root = format!("Bearer {}", w.tokens[2]);
    assert_eq!(
        authorize(tokens, Some(&root), ADMINS).unwrap().role,
        Role::Admin
    );
}

#[tokio::test]
async fn a_submission_waits_for_some_worker_to_have_offered_its_language() {
    let w = world().await;
    let alice = w.caller(0);
    let refused = invalid(w.app.submit(&alice, judge_job("")).await);
    assert!(
        refused.contains("no worker of this cluster has offered job type \"judge\""),
        "{refused}"
    );
    w.offer();
    let job = w.app.submit(&alice, judge_job("")).await.unwrap();
    let seen = w.app.get_job(&alice, job).await.unwrap();
    assert_eq!((seen.problem_id.as_str(), seen.problem_version), ("p", 1));
    assert_eq!(seen.state, pb::JobState::Queued as i32);
}

#[tokio::test]
async fn bad_submissions_are_refused_naming_the_problem() {
    let w = world().await;
    w.offer();
    let alice = w.caller(0);
    let cases: Vec<(SubmitJob, &str)> = vec![
        (
            SubmitJob {
                source: Vec::new(),
                ..judge_job("")
            },
            "source is empty",
        ),
        (
            SubmitJob {
                source: vec![b'x'; 1001],
                ..judge_job("")
            },
            "source is 1001 bytes; the limit is 1000 bytes",
        ),
        (judge_job("has space"), "request_id must be"),
        (
            SubmitJob {
                supersede_key: "k".repeat(200),
                ..judge_job("")
            },
            "supersede_key must be 1 to 64 printable ASCII characters without spaces (got 200 bytes)",
        ),
        (
            SubmitJob {
                job_type: "console".into(),
                ..judge_job("")
            },
            "console jobs are live",
        ),
        (
            SubmitJob {
                stdin: b"1 2".to_vec(),
                ..judge_job("")
            },
            "stdin and limits are for run jobs",
        ),
        (
            SubmitJob {
                problem: String::new(),
                job_type: "run".into(),
                limits: Some(pb::RunLimits {
                    time_limit_ms: Some(10_001),
                    ..Default::default()
                }),
                ..judge_job("")
            },
            "limits: ",
        ),
        (
            SubmitJob {
                problem: String::new(),
                job_type: "run".into(),
                stdin: vec![0; 101],
                ..judge_job("")
            },
            "stdin is 101 bytes; the limit is 100 bytes",
        ),
    ];
    for (cmd, words) in cases {
        let m = invalid(w.app.submit(&alice, cmd).await);
        assert!(m.contains(words), "{m:?} should say {words:?}");
    }
    match w
        .app
        .submit(
            &alice,
            SubmitJob {
                problem: "nope".into(),
                ..judge_job("")
            },
        )
        .await
    {
        Err(AppError::NotFound(m)) => assert_eq!(m, "problem \"nope\" not found"),
        other => panic!("{other:?}"),
    }
    assert!(
        w.app.list_jobs(&alice, Default::default()).await.is_err(),
        "limit 0"
    );
}

#[tokio::test]
async fn a_retry_gets_the_same_job_and_another_owner_finds_nothing() {
    let w = world().await;
    w.offer();
    let (alice, bob) = (w.caller(0), w.caller(1));
    let first = w.app.submit(&alice, judge_job("try-1")).await.unwrap();
    let again = w.app.submit(&alice, judge_job("try-1")).await.unwrap();
    assert_eq!(first, again, "the retry is the same job");
    // Bob's own request id of the same words is his own job.
    let bobs = w.app.submit(&bob, judge_job("try-1")).await.unwrap();
    assert_ne!(bobs, first);

    let not_found = AppError::NotFound(format!("job {first} not found"));
    assert_eq!(w.app.get_job(&bob, first).await.unwrap_err(), not_found);
    assert_eq!(w.app.cancel_job(&bob, first).await.unwrap_err(), not_found);
    assert_eq!(
        w.app.watch_job(&bob, first, 0).await.unwrap_err(),
        not_found,
        "word for word the same as a job that does not exist"
    );
    let listed = w
        .app
        .list_jobs(
            &bob,
            judge_scheduler::app::ListJobs {
                limit: 10,
                owner: Some("alice".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        listed.iter().all(|j| j.owner == "bob"),
        "a submitter lists only its own jobs, whatever owner it asks for"
    );
    // The owner cancels it; then it cannot be cancelled again.
    assert_eq!(
        w.app.cancel_job(&alice, first).await.unwrap(),
        pb::JobState::Cancelled
    );
    assert!(matches!(
        w.app.cancel_job(&alice, first).await,
        Err(AppError::Precondition(_))
    ));
}

#[tokio::test]
async fn a_token_holds_only_so_many_watches_and_a_closed_one_frees_its_place() {
    let w = world().await;
    w.offer();
    let alice = w.caller(0);
    let job = w.app.submit(&alice, judge_job("")).await.unwrap();
    let mut first = w.app.watch_job(&alice, job, 0).await.unwrap();
    let submitted = tokio::time::timeout(Duration::from_secs(10), first.next())
        .await
        .expect("the stored events come at once")
        .unwrap()
        .unwrap();
    assert!(matches!(
        submitted.event,
        Some(pb::job_event::Event::Submitted(_))
    ));
    assert!(matches!(
        w.app.watch_job(&alice, job, 0).await,
        Err(AppError::Exhausted(_))
    ));
    // Another token has a place of its own.
    let root = w.caller(2);
    let _roots = w.app.watch_job(&root, job, 0).await.unwrap();
    // Closing the first frees its place, once its task has seen the close.
    drop(first);
    let freed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(s) = w.app.watch_job(&alice, job, 0).await {
                return s;
            }
            tokio::task::yield_now().await;
        }
    });
    freed.await.expect("the closed watch's place comes free");
}

#[tokio::test]
async fn a_token_submitting_past_its_rate_is_told_how_long_to_wait() {
    // One a second, two at once.
    let w = world_with(SubmitRate::new(1.0, 2)).await;
    w.offer();
    let (alice, bob) = (w.caller(0), w.caller(1));
    w.app.submit(&alice, judge_job("")).await.unwrap();
    w.app.submit(&alice, judge_job("")).await.unwrap();
    match w.app.submit(&alice, judge_job("")).await {
        Err(AppError::TooFast {
            message,
            retry_after_ms,
        }) => {
            assert_eq!(retry_after_ms, 1000);
            assert!(message.contains("submit_rate"), "{message}");
        }
        other => panic!("expected a refusal for the rate, got {other:?}"),
    }
    // A retry of a stored submission is no new submission: it is answered at once.
    let first = w.app.submit(&alice, judge_job("kept")).await;
    assert!(matches!(first, Err(AppError::TooFast { .. })));
    // Bob has a bucket of his own.
    w.app.submit(&bob, judge_job("")).await.unwrap();
    // On the scheduler's clock, a second later there is room for one more.
    w.clock.advance(1000);
    let kept = w.app.submit(&alice, judge_job("kept")).await.unwrap();
    assert_eq!(
        w.app.submit(&alice, judge_job("kept")).await.unwrap(),
        kept,
        "the retry of a stored job costs nothing of the rate"
    );
}

#[tokio::test]
async fn a_token_asks_only_for_classes_up_to_its_highest() {
    let w = world().await;
    w.offer();
    let (alice, root) = (w.caller(0), w.caller(2));
    let contest = |p: &str| SubmitJob {
        priority: p.into(),
        ..judge_job("")
    };
    match w.app.submit(&alice, contest("contest")).await {
        Err(AppError::Forbidden(m)) => {
            assert!(
                m.contains("priority contest") && m.contains("highest, normal"),
                "{m}"
            )
        }
        other => panic!("expected PERMISSION_DENIED, got {other:?}"),
    }
    let m = invalid(w.app.submit(&alice, contest("urgent")).await);
    assert_eq!(m, "priority \"urgent\" is not one of contest, normal, bulk");
    // Lower is always allowed; an admin may ask for any.
    w.app.submit(&alice, contest("bulk")).await.unwrap();
    w.app.submit(&root, contest("contest")).await.unwrap();
}
