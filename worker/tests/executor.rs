//! The executor in-process, with a stand-in for judging: an attempt's updates go out in
//! order through the ledger, a repeated assignment starts nothing, a cancel stops an attempt,
//! a panic in judging is a judge error, and after a reconnect the adopted attempts' histories
//! go out again while the ones the scheduler gave away are stopped.

use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use judge_worker::executor::{Executor, JudgeFuture, Judging};
use judge_worker::judge::Outcome;
use pb::job_update::Update;
use tokio::sync::watch;

/// Judging by the job id: 1 reports a test and is accepted; 2 runs until cancelled; 3
/// panics.
struct Scripted;

impl Judging for Scripted {
    fn judge<'a>(
        &'a self,
        assign: &'a pb::Assign,
        report: &'a (dyn Fn(Update) + Send + Sync),
        mut cancel: watch::Receiver<bool>,
    ) -> JudgeFuture<'a> {
        Box::pin(async move {
            match assign.job_id {
                1 => {
                    report(Update::Test(pb::TestResult {
                        name: "secret/1".into(),
                        verdict: pb::Verdict::Ac as i32,
                        ..Default::default()
                    }));
                    Outcome::Verdict {
                        verdict: pb::Verdict::Ac,
                        message: String::new(),
                        score: None,
                    }
                }
                2 => {
                    let _ = cancel.wait_for(|c| *c).await;
                    Outcome::Cancelled
                }
                _ => panic!("a bug in judging"),
            }
        })
    }
}

fn assign(job_id: u64, attempt: u32) -> pb::Assign {
    pb::Assign {
        job_id,
        attempt,
        ..Default::default()
    }
}

/// What the executor has to send now, as (job, attempt, kind) in order.
fn outbox(e: &Executor) -> Vec<(u64, u32, &'static str)> {
    std::iter::from_fn(|| e.next_update())
        .map(|u| {
            let kind = match u.update {
                Some(Update::Accepted(_)) => "accepted",
                Some(Update::Compiling(_)) => "compiling",
                Some(Update::Test(_)) => "test",
                Some(Update::Group(_)) => "group",
                Some(Update::Finished(f)) if f.cancelled => "cancelled",
                Some(Update::Finished(f)) if f.verdict == pb::Verdict::Je as i32 => "je",
                Some(Update::Finished(_)) => "finished",
                None => "none",
            };
            (u.job_id, u.attempt, kind)
        })
        .collect()
}

#[tokio::test]
async fn an_attempt_s_updates_go_out_in_order_once() {
    let e = Executor::new(Arc::new(Scripted));
    e.start(assign(1, 1));
    e.start(assign(1, 1)); // repeated: ignored
    until_running(&e, 0).await;
    assert_eq!(
        outbox(&e),
        [(1, 1, "accepted"), (1, 1, "test"), (1, 1, "finished")]
    );
    assert!(e.is_idle());
    // Held for re-delivery until the scheduler stops caring.
    assert_eq!(
        e.held(),
        [pb::RunningAttempt {
            job_id: 1,
            attempt: 1
        }]
    );
}

#[tokio::test]
async fn a_cancel_stops_an_attempt_and_a_panic_is_a_judge_error() {
    let e = Executor::new(Arc::new(Scripted));
    e.start(assign(2, 1));
    e.start(assign(3, 1));
    until_running(&e, 1).await;
    assert_eq!(e.running(), 1, "the panicking one ended");
    e.cancel(2, 1);
    until_running(&e, 0).await;
    let mut sent = outbox(&e);
    sent.sort();
    assert_eq!(
        sent,
        [
            (2, 1, "accepted"),
            (2, 1, "cancelled"),
            (3, 1, "accepted"),
            (3, 1, "je")
        ]
    );
}

/// Waits until exactly `n` attempts run.
async fn until_running(e: &Executor, n: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let idle = e.idle.notified();
            if e.running() == n {
                break;
            }
            // Woken at each attempt's end; the start needs no wait beyond a yield.
            tokio::select! {
                _ = idle => {}
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    })
    .await
    .expect("attempts started or ended within 10 s");
}

#[tokio::test]
async fn after_a_reconnect_adopted_histories_go_out_again_and_the_rest_stops() {
    let e = Executor::new(Arc::new(Scripted));
    e.start(assign(1, 1));
    e.start(assign(2, 1));
    until_running(&e, 1).await;
    let first = outbox(&e);
    assert!(first.contains(&(1, 1, "finished")), "{first:?}");
    // The connection broke; the new session adopted job 1's attempt only.
    e.reconcile(&[pb::RunningAttempt {
        job_id: 1,
        attempt: 1,
    }]);
    until_running(&e, 0).await;
    let again = outbox(&e);
    assert_eq!(
        again,
        [
            (1, 1, "accepted"),
            (1, 1, "test"),
            (1, 1, "finished"),
            (2, 1, "cancelled")
        ],
        "job 1's whole history again, and job 2 stopped"
    );
}
