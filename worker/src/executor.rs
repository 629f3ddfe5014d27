//! Runs assigned jobs, one task each, and keeps what each attempt reported.
//!
//! gRPC client streams do not confirm single messages, so an update sent just before a
//! connection breaks may be lost. The executor therefore keeps each attempt's updates (its
//! history) until the attempt is finished *and* the scheduler has stopped caring about it. On
//! reconnect the worker offers running and recently finished attempts; for every attempt the
//! scheduler adopts, the whole history is sent again. The scheduler drops duplicates (results
//! are fenced and numbered), so a result reaches the store exactly once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use judge_common::pb;
use pb::job_update::Update;
use tokio::sync::{watch, Notify};
use tracing::Instrument;

use crate::judge::{Judge, Outcome};

/// Finished attempts remembered for re-delivery.
const FINISHED_KEPT: usize = 512;

type Key = (u64, u32);

#[derive(Default)]
struct State {
    /// Updates waiting to go out on the current session.
    outbox: VecDeque<pb::JobUpdate>,
    /// Every update of each attempt still held, in order.
    history: HashMap<Key, Vec<pb::JobUpdate>>,
    /// Running attempts and their cancel switches.
    running: HashMap<Key, watch::Sender<bool>>,
    /// Finished attempts still held, oldest first.
    finished: VecDeque<Key>,
}

/// The executor: shared by the connection (commands in, updates out) and the job tasks.
#[derive(Clone)]
pub struct Executor {
    judge: Arc<Judge>,
    state: Arc<Mutex<State>>,
    /// Wakes the report pump when the outbox gets something.
    pub wake: Arc<Notify>,
    /// Wakes whoever waits for the executor to become idle.
    pub idle: Arc<Notify>,
}

impl Executor {
    pub fn new(judge: Arc<Judge>) -> Self {
        Executor {
            judge,
            state: Default::default(),
            wake: Default::default(),
            idle: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, key: Key, update: Update) {
        let msg = pb::JobUpdate {
            job_id: key.0,
            attempt: key.1,
            update: Some(update),
        };
        let mut s = self.lock();
        s.history.entry(key).or_default().push(msg.clone());
        s.outbox.push_back(msg);
        drop(s);
        self.wake.notify_one();
    }

    /// Starts judging an assignment (a repeated assignment is ignored).
    pub fn start(&self, assign: pb::Assign) {
        let key = (assign.job_id, assign.attempt);
        let (cancel_tx, cancel_rx) = watch::channel(false);
        {
            let mut s = self.lock();
            if s.running.contains_key(&key) || s.history.contains_key(&key) {
                return;
            }
            s.running.insert(key, cancel_tx);
        }
        let this = self.clone();
        let span = tracing::info_span!("job", job_id = key.0, attempt = key.1);
        let job = async move {
            this.push(key, Update::Accepted(pb::Accepted {}));
            let judge = this.judge.clone();
            let reporter = this.clone();
            let task = tokio::spawn(async move {
                let report = move |u: Update| reporter.push(key, u);
                judge.judge(&assign, &report, cancel_rx).await
            });
            let finished = match task.await {
                Ok(Outcome::Verdict { verdict, message }) => pb::Finished {
                    verdict: verdict as i32,
                    message,
                    cancelled: false,
                },
                Ok(Outcome::Cancelled) => pb::Finished {
                    verdict: 0,
                    message: "cancelled".into(),
                    cancelled: true,
                },
                Err(e) => pb::Finished {
                    verdict: pb::Verdict::Je as i32,
                    message: format!("the judge crashed: {e}"),
                    cancelled: false,
                },
            };
            tracing::info!(
                verdict = finished.verdict,
                cancelled = finished.cancelled,
                "attempt finished"
            );
            this.push(key, Update::Finished(finished));
            let mut s = this.lock();
            s.running.remove(&key);
            s.finished.push_back(key);
            while s.finished.len() > FINISHED_KEPT {
                if let Some(old) = s.finished.pop_front() {
                    s.history.remove(&old);
                }
            }
            drop(s);
            this.idle.notify_waiters();
        };
        tokio::spawn(job.instrument(span));
    }

    /// Stops a running attempt; it reports `cancelled` when it has stopped.
    pub fn cancel(&self, job_id: u64, attempt: u32) {
        if let Some(tx) = self.lock().running.get(&(job_id, attempt)) {
            let _ = tx.send(true);
        }
    }

    /// Attempts to offer when (re)connecting: running ones and finished ones still held.
    pub fn held(&self) -> Vec<pb::RunningAttempt> {
        let s = self.lock();
        let mut keys: Vec<Key> = s.history.keys().chain(s.running.keys()).copied().collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .map(|(job_id, attempt)| pb::RunningAttempt { job_id, attempt })
            .collect()
    }

    /// A new session began and the scheduler kept `adopted`: stop everything else and queue
    /// the adopted attempts' full histories for (re-)delivery.
    pub fn reconcile(&self, adopted: &[pb::RunningAttempt]) {
        let keep: std::collections::HashSet<Key> =
            adopted.iter().map(|a| (a.job_id, a.attempt)).collect();
        let mut s = self.lock();
        for (key, tx) in &s.running {
            if !keep.contains(key) {
                tracing::info!(
                    job_id = key.0,
                    attempt = key.1,
                    "scheduler gave this attempt away; stopping it"
                );
                let _ = tx.send(true);
            }
        }
        let running: Vec<Key> = s.running.keys().copied().collect();
        s.history
            .retain(|k, _| keep.contains(k) || running.contains(k));
        let State {
            history, finished, ..
        } = &mut *s;
        finished.retain(|k| history.contains_key(k));
        let mut replay: Vec<(Key, Vec<pb::JobUpdate>)> = s
            .history
            .iter()
            .filter(|(k, _)| keep.contains(k))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        replay.sort_by_key(|(k, _)| *k);
        s.outbox = replay.into_iter().flat_map(|(_, v)| v).collect();
        drop(s);
        self.wake.notify_one();
    }

    /// The next update to send, if any.
    pub fn next_update(&self) -> Option<pb::JobUpdate> {
        self.lock().outbox.pop_front()
    }

    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Nothing runs and nothing waits to be sent.
    pub fn is_idle(&self) -> bool {
        let s = self.lock();
        s.running.is_empty() && s.outbox.is_empty()
    }
}
