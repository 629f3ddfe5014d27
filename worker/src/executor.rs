//! Runs assigned jobs, one task each, and reports their updates through the attempt
//! [`Ledger`] (which keeps them for re-delivery across reconnects; see there).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use judge_common::pb;
use pb::job_update::Update;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::core::ledger::{Key, Ledger};
use crate::judge::{Judge, Outcome};

/// What an attempt's judging returns, once it has ended.
pub type JudgeFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// What carries out an attempt: the [`Judge`], or a stand-in in tests. It sends each
/// update through `report` as it happens and ends with the attempt's outcome; `cancel`
/// turns true when the attempt is to stop.
pub trait Judging: Send + Sync + 'static {
    fn judge<'a>(
        &'a self,
        assign: &'a pb::Assign,
        report: &'a (dyn Fn(Update) + Send + Sync),
        cancel: watch::Receiver<bool>,
    ) -> JudgeFuture<'a>;
}

impl Judging for Judge {
    fn judge<'a>(
        &'a self,
        assign: &'a pb::Assign,
        report: &'a (dyn Fn(Update) + Send + Sync),
        cancel: watch::Receiver<bool>,
    ) -> JudgeFuture<'a> {
        Box::pin(Judge::judge(self, assign, report, cancel))
    }
}

/// The executor: shared by the connection (commands in, updates out) and the job tasks.
#[derive(Clone)]
pub struct Executor {
    judge: Arc<dyn Judging>,
    ledger: Arc<Mutex<Ledger>>,
    /// Cancel switches of running attempts.
    cancels: Arc<Mutex<HashMap<Key, watch::Sender<bool>>>>,
    /// Wakes the report pump when the outbox gets something.
    pub wake: Arc<Notify>,
    /// Wakes whoever waits for the executor to become idle.
    pub idle: Arc<Notify>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The last update of an attempt, from how judging ended.
fn finished(outcome: Result<Outcome, tokio::task::JoinError>) -> pb::Finished {
    match outcome {
        Ok(Outcome::Verdict {
            verdict,
            message,
            score,
        }) => pb::Finished {
            verdict: verdict as i32,
            message,
            cancelled: false,
            score,
            run: None,
        },
        Ok(Outcome::Ran(run)) => pb::Finished {
            verdict: 0,
            message: String::new(),
            cancelled: false,
            score: None,
            run: Some(*run),
        },
        Ok(Outcome::Cancelled) => pb::Finished {
            verdict: 0,
            message: "cancelled".into(),
            cancelled: true,
            score: None,
            run: None,
        },
        Err(e) => pb::Finished {
            verdict: pb::Verdict::Je as i32,
            message: format!("the judge crashed: {e}"),
            cancelled: false,
            score: None,
            run: None,
        },
    }
}

impl Executor {
    pub fn new(judge: Arc<dyn Judging>) -> Self {
        Executor {
            judge,
            ledger: Default::default(),
            cancels: Default::default(),
            wake: Default::default(),
            idle: Default::default(),
        }
    }

    fn push(&self, key: Key, update: Update) {
        lock(&self.ledger).push(key, update);
        self.wake.notify_one();
    }

    /// Starts judging an assignment (a repeated assignment is ignored).
    pub fn start(&self, assign: pb::Assign) {
        let key = (assign.job_id, assign.attempt);
        if !lock(&self.ledger).start(key) {
            return;
        }
        let (cancel_tx, cancel_rx) = watch::channel(false);
        lock(&self.cancels).insert(key, cancel_tx);
        let this = self.clone();
        let span = tracing::info_span!("attempt", job_id = key.0, attempt = key.1);
        let job = async move {
            this.push(key, Update::Accepted(pb::Accepted {}));
            let judge = this.judge.clone();
            let reporter = this.clone();
            // A task of its own, so that a panic in judging is a JE, not a lost worker.
            let task = tokio::spawn(
                async move {
                    let report = move |u: Update| reporter.push(key, u);
                    judge.judge(&assign, &report, cancel_rx).await
                }
                .in_current_span(),
            );
            let finished = finished(task.await);
            tracing::info!(
                verdict = finished.verdict,
                cancelled = finished.cancelled,
                "attempt finished"
            );
            this.push(key, Update::Finished(finished));
            lock(&this.cancels).remove(&key);
            lock(&this.ledger).finish(key);
            this.idle.notify_waiters();
        };
        tokio::spawn(job.instrument(span));
    }

    /// Stops a running attempt; it reports `cancelled` when it has stopped.
    pub fn cancel(&self, job_id: u64, attempt: u32) {
        if let Some(tx) = lock(&self.cancels).get(&(job_id, attempt)) {
            let _ = tx.send(true);
        }
    }

    /// Attempts to offer when (re)connecting: running ones and finished ones still held.
    pub fn held(&self) -> Vec<pb::RunningAttempt> {
        lock(&self.ledger)
            .held()
            .into_iter()
            .map(|(job_id, attempt)| pb::RunningAttempt { job_id, attempt })
            .collect()
    }

    /// A new session began and the scheduler kept `adopted`: stop everything else and queue
    /// the adopted attempts' full histories for (re-)delivery.
    pub fn reconcile(&self, adopted: &[pb::RunningAttempt]) {
        let keep: Vec<Key> = adopted.iter().map(|a| (a.job_id, a.attempt)).collect();
        let stop = lock(&self.ledger).reconcile(&keep);
        for (job_id, attempt) in stop {
            tracing::info!(
                job_id,
                attempt,
                "scheduler gave this attempt away; stopping it"
            );
            self.cancel(job_id, attempt);
        }
        self.wake.notify_one();
    }

    /// The next update to send, if any.
    pub fn next_update(&self) -> Option<pb::JobUpdate> {
        lock(&self.ledger).next_update()
    }

    pub fn running(&self) -> usize {
        lock(&self.ledger).running()
    }

    /// Nothing runs and nothing waits to be sent.
    pub fn is_idle(&self) -> bool {
        lock(&self.ledger).is_idle()
    }
}
