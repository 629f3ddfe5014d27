//! The one task that owns the scheduling core.
//!
//! gRPC handlers never touch scheduling state; they send an [`Input`] here over a bounded
//! channel. The driver takes whatever inputs are waiting (a batch), applies them to the core,
//! writes all of the batch's changes in one transaction (group commit), and only then sends
//! commands to workers, publishes events to watchers and answers callers. So nothing is sent
//! or acknowledged that the store could forget, and one fsync covers many submissions.
//!
//! If the store fails, the driver stops and the scheduler exits: memory may now be ahead of
//! the store, and a restart rebuilds it from the store, which is the truth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use judge_common::pb;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

use crate::core::{
    CancelError, Command, Core, Effect, Event, JobFiles, JobId, Millis, NewJob, Persist, Reply,
    RequestId, SessionId, SubmitError, WorkerHello, WorkerSnapshot,
};
use crate::store::{Store, StoreError};
use crate::watch::WatchHub;

/// The sending half of a worker's feed.
pub type FeedSender = mpsc::Sender<Result<pb::WorkerCommand, Status>>;

/// Requests to the driver.
pub enum Input {
    /// Something that needs no answer.
    Event(Event),
    Submit {
        job: NewJob,
        files: JobFiles,
        source: Vec<u8>,
        reply: oneshot::Sender<Result<JobId, SubmitError>>,
    },
    Cancel {
        job_id: JobId,
        reply: oneshot::Sender<Result<pb::JobState, CancelError>>,
    },
    Connect {
        hello: WorkerHello,
        feed: FeedSender,
        reply: oneshot::Sender<(SessionId, u64)>,
    },
    Drain {
        name: String,
        reply: oneshot::Sender<bool>,
    },
    ListWorkers {
        reply: oneshot::Sender<Vec<WorkerSnapshot>>,
    },
}

enum Pending {
    Submit(oneshot::Sender<Result<JobId, SubmitError>>),
    Cancel(oneshot::Sender<Result<pb::JobState, CancelError>>),
    Drain(oneshot::Sender<bool>),
    Workers(oneshot::Sender<Vec<WorkerSnapshot>>),
}

/// Live sessions, readable by the `Report` handler without a round trip to the driver.
/// A session's entry is dropped when it closes, which wakes its `Report` stream.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<SessionId, watch::Sender<()>>>>,
}

impl Sessions {
    /// A receiver that errors once the session closes, or `None` if it is not live.
    pub fn watch(&self, session: SessionId) -> Option<watch::Receiver<()>> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&session).map(|tx| tx.subscribe())
    }

    fn open(&self, session: SessionId) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(session, watch::channel(()).0);
    }

    fn close(&self, session: SessionId) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&session);
    }
}

/// How callers reach the driver.
#[derive(Clone)]
pub struct DriverHandle {
    tx: mpsc::Sender<Input>,
}

/// The driver is gone (the scheduler is stopping).
#[derive(Debug, thiserror::Error)]
#[error("the scheduler is shutting down")]
pub struct DriverGone;

impl DriverHandle {
    pub async fn send(&self, input: Input) -> Result<(), DriverGone> {
        self.tx.send(input).await.map_err(|_| DriverGone)
    }

    /// Sends an event from a synchronous context (a `Drop`), without waiting.
    pub fn send_later(&self, event: Event) {
        let tx = self.tx.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = tx.send(Input::Event(event)).await;
            });
        }
    }

    /// Sends an input that expects an answer and waits for it.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, DriverGone> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| DriverGone)
    }
}

/// Settings of the driver loop.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub epoch: u64,
    pub tick: Duration,
    pub report_interval: Duration,
    /// Most inputs folded into one transaction.
    pub max_batch: usize,
}

pub struct Driver {
    core: Core,
    store: Store,
    hub: WatchHub,
    sessions: Sessions,
    config: DriverConfig,
    feeds: HashMap<SessionId, FeedSender>,
    pending: HashMap<RequestId, Pending>,
    sources: HashMap<RequestId, Vec<u8>>,
    specs: HashMap<(String, u32), Arc<pb::ProblemSpec>>,
    next_req: RequestId,
    next_session: u64,
    /// Events the driver raises itself (a feed found dead), applied with the next batch.
    internal: Vec<Event>,
}

/// Wall-clock milliseconds: the one clock read, here in the adapter, never in the core.
pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

impl Driver {
    pub fn new(
        core: Core,
        store: Store,
        hub: WatchHub,
        sessions: Sessions,
        config: DriverConfig,
    ) -> Self {
        Driver {
            core,
            store,
            hub,
            sessions,
            config,
            feeds: HashMap::new(),
            pending: HashMap::new(),
            sources: HashMap::new(),
            specs: HashMap::new(),
            next_req: 1,
            next_session: 1,
            internal: Vec::new(),
        }
    }

    /// Starts the loop; returns the handle and the task (which ends with an error only when
    /// the store fails).
    pub fn spawn(
        self,
        capacity: usize,
    ) -> (
        DriverHandle,
        tokio::task::JoinHandle<Result<(), StoreError>>,
    ) {
        let (tx, rx) = mpsc::channel(capacity);
        let task = tokio::spawn(self.run(rx));
        (DriverHandle { tx }, task)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Input>) -> Result<(), StoreError> {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(self.config.max_batch);
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, self.config.max_batch) => {
                    if n == 0 {
                        return Ok(()); // every handle dropped: shutting down
                    }
                }
                _ = tick.tick() => batch.push(Input::Event(Event::Tick)),
            }
            let now = now_ms();
            let mut effects = Vec::new();
            for event in std::mem::take(&mut self.internal) {
                effects.extend(self.core.apply(event, now));
            }
            for input in batch.drain(..) {
                if let Some(event) = self.admit(input) {
                    effects.extend(self.core.apply(event, now));
                }
            }
            self.carry_out(effects).await?;
        }
    }

    /// Turns an input into a core event, parking its reply channel.
    fn admit(&mut self, input: Input) -> Option<Event> {
        let req = self.next_req;
        self.next_req += 1;
        Some(match input {
            Input::Event(e) => e,
            Input::Submit {
                job,
                files,
                source,
                reply,
            } => {
                self.pending.insert(req, Pending::Submit(reply));
                self.sources.insert(req, source);
                Event::Submit { req, job, files }
            }
            Input::Cancel { job_id, reply } => {
                self.pending.insert(req, Pending::Cancel(reply));
                Event::Cancel { req, job_id }
            }
            Input::Drain { name, reply } => {
                self.pending.insert(req, Pending::Drain(reply));
                Event::DrainWorker { req, name }
            }
            Input::ListWorkers { reply } => {
                self.pending.insert(req, Pending::Workers(reply));
                Event::ListWorkers { req }
            }
            Input::Connect { hello, feed, reply } => {
                let session = (self.config.epoch << 32) | self.next_session;
                self.next_session += 1;
                if reply.send((session, self.config.epoch)).is_err() {
                    return None; // the caller went away before it got its session
                }
                self.feeds.insert(session, feed);
                self.sessions.open(session);
                Event::WorkerConnected { session, hello }
            }
        })
    }

    async fn carry_out(&mut self, effects: Vec<Effect>) -> Result<(), StoreError> {
        let changes: Vec<&Persist> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(p) => Some(p),
                _ => None,
            })
            .collect();
        if !changes.is_empty() {
            if let Err(e) = self.store.persist(&changes, &self.sources).await {
                tracing::error!(error = %e, "store write failed; stopping so a restart recovers from the store");
                return Err(e);
            }
        }
        self.sources.clear();
        let assigns: Vec<JobId> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send {
                    command: Command::Assign { job_id, .. },
                    ..
                } => Some(*job_id),
                _ => None,
            })
            .collect();
        let payloads = if assigns.is_empty() {
            HashMap::new()
        } else {
            self.store.assign_payloads(&assigns).await?
        };
        for effect in effects {
            match effect {
                Effect::Persist(Persist::Event(ev)) => self.hub.publish(ev),
                Effect::Persist(_) => {}
                Effect::Send { session, command } => {
                    let msg = match command {
                        Command::Assign { job_id, attempt } => {
                            let Some(p) = payloads.get(&job_id) else {
                                tracing::error!(job_id, "assigned job missing from the store");
                                continue;
                            };
                            let problem =
                                self.spec(&p.job.problem_id, p.job.problem_version).await?;
                            pb::worker_command::Command::Assign(pb::Assign {
                                job_id,
                                attempt,
                                language: p.job.language.clone(),
                                source: p.source.clone(),
                                problem: Some((*problem).clone()),
                                run_all_tests: p.job.run_all_tests,
                            })
                        }
                        Command::Welcome { adopted } => {
                            pb::worker_command::Command::Welcome(pb::Welcome {
                                session_id: session,
                                epoch: self.config.epoch,
                                report_interval_ms: self.config.report_interval.as_millis() as u32,
                                adopted: adopted
                                    .into_iter()
                                    .map(|(job_id, attempt)| pb::RunningAttempt { job_id, attempt })
                                    .collect(),
                            })
                        }
                        Command::Cancel { job_id, attempt } => {
                            pb::worker_command::Command::Cancel(pb::Cancel { job_id, attempt })
                        }
                        Command::Drain => pb::worker_command::Command::Drain(pb::Drain {}),
                    };
                    self.send_to(session, Ok(pb::WorkerCommand { command: Some(msg) }));
                }
                Effect::CloseSession { session, reason } => {
                    tracing::info!(session, %reason, "closing worker session");
                    self.send_to(
                        session,
                        Err(Status::aborted(format!("session closed: {reason}"))),
                    );
                    self.feeds.remove(&session);
                    self.sessions.close(session);
                }
                Effect::Reply { req, reply } => self.answer(req, reply),
            }
        }
        Ok(())
    }

    fn send_to(&mut self, session: SessionId, msg: Result<pb::WorkerCommand, Status>) {
        let Some(feed) = self.feeds.get(&session) else {
            return;
        };
        if feed.try_send(msg).is_err() {
            // A worker that does not read its feed (or is gone) cannot be trusted with jobs.
            tracing::warn!(session, "worker feed full or closed; dropping the session");
            self.feeds.remove(&session);
            self.sessions.close(session);
            self.internal.push(Event::WorkerDisconnected { session });
        }
    }

    fn answer(&mut self, req: RequestId, reply: Reply) {
        let Some(pending) = self.pending.remove(&req) else {
            return;
        };
        // A caller that gave up waiting is no error of ours.
        let _ = match (pending, reply) {
            (Pending::Submit(tx), Reply::Submitted(r)) => tx.send(r).map_err(|_| ()),
            (Pending::Cancel(tx), Reply::Cancelled(r)) => tx.send(r).map_err(|_| ()),
            (Pending::Drain(tx), Reply::Drained(r)) => tx.send(r).map_err(|_| ()),
            (Pending::Workers(tx), Reply::Workers(r)) => tx.send(r).map_err(|_| ()),
            _ => {
                tracing::error!(req, "reply of the wrong kind");
                Err(())
            }
        };
    }

    /// Problem versions never change, so each is read from the store once.
    async fn spec(&mut self, id: &str, version: u32) -> Result<Arc<pb::ProblemSpec>, StoreError> {
        let key = (id.to_string(), version);
        if let Some(s) = self.specs.get(&key) {
            return Ok(s.clone());
        }
        let spec = Arc::new(self.store.problem_spec(id, version).await?);
        self.specs.insert(key, spec.clone());
        Ok(spec)
    }
}
