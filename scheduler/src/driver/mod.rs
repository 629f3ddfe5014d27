//! The one task that owns the scheduling core.
//!
//! The services never touch scheduling state; they send an [`Input`] here over a bounded
//! channel: an [`Event`] that needs no answer, or a [`Request`] answered with the core's
//! [`Reply`]. The driver takes whatever inputs are waiting (a batch), applies them to the core,
//! writes all of the batch's changes in one transaction (group commit), and only then sends
//! commands to workers ([`ToWorker`] on their feeds), publishes events to watchers and answers
//! callers. So nothing is sent or acknowledged that the store could forget, and one fsync
//! covers many submissions.
//!
//! The driver speaks only the core's language: the services translate to and from the wire.
//!
//! If the store fails, the driver stops and the scheduler exits: memory may now be ahead of
//! the store, and a restart rebuilds it from the store, which is the truth. A full disk is
//! the one failure that passes: the driver throws its core away and rebuilds it from the
//! store in place (as a restart would), refuses the batch's requests with
//! [`DriverError::DiskFull`], and closes every worker session, so that workers re-send the
//! results it could not store (they hold them until adopted, as across any reconnect).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use tokio::sync::{mpsc, oneshot};

use crate::core::deadline::attempt_worst_case_ms;
use crate::core::{
    Attempt, Command, Core, Effect, Event, JobFiles, JobId, JobSpec, Millis, NewJob, Persist,
    RejudgeJob, Reply, RequestId, SessionId, WorkerHello,
};
use crate::live::catalog::{Catalog, ProblemVersion};
use crate::live::consoles::{Consoles, Link};
use crate::live::watch::WatchHub;
pub use crate::store::Payload;
use crate::store::{Store, StoreError};
use clock::{SharedClock, SystemClock};
use recovery::Rebuilt;
use storage::Storage;
use tracing::Instrument;

/// The scheduler's clock: the wall clock, or one a test moves by hand.
pub mod clock;
/// The operator's commands that grow and shrink the fleet.
pub mod commands;
/// How callers reach the driver: typed requests over its bounded channel.
mod handle;
/// Rebuilding the core from the store, at start and after a full disk.
pub mod recovery;
/// Live worker sessions: their keys, tokens and names.
mod sessions;
/// What the driver reads and writes of the store: its one I/O seam.
pub mod storage;

pub use handle::{DriverError, DriverHandle};

/// A batch that takes longer than this (a busy store) is a stall: its time is forgiven
/// ([`Event::Resumed`]).
pub const STALL_MS: crate::core::Millis = 1_000;

pub use sessions::{LiveSession, Sessions, SESSION_KEY_BITS};

/// What the driver sends down a worker's feed; the worker service turns it into the wire's
/// `WorkerCommand` (or, for `Closed`, the status that ends the stream).
#[derive(Debug, Clone)]
pub enum ToWorker {
    Welcome {
        /// The session's key, which every report must carry.
        session_key: String,
        epoch: u64,
        report_interval: Duration,
        adopted: Vec<(JobId, Attempt)>,
    },
    Assign(Box<Assignment>),
    Cancel {
        job_id: JobId,
        attempt: Attempt,
    },
    Drain,
    /// The session is over (replaced, revoked, silent); the feed ends with this reason.
    Closed {
        reason: String,
    },
}

/// Everything a worker needs to carry out one attempt.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub job_id: JobId,
    pub attempt: Attempt,
    pub language: String,
    pub source: Vec<u8>,
    pub work: Work,
}

/// What the worker does for a job, by its kind.
#[derive(Debug, Clone)]
pub enum Work {
    /// Judge on the problem version's tests.
    Judge {
        problem: Arc<pb::ProblemSpec>,
        run_all_tests: bool,
    },
    /// Run once on this input, within these limits.
    Run(pb::RunInput),
    /// Run live on a terminal.
    Console(pb::ConsoleSpec),
}

/// The sending half of a worker's feed.
pub type FeedSender = mpsc::Sender<ToWorker>;

/// What a caller asks of the driver; answered with the core's [`Reply`].
pub enum Request {
    Submit {
        job: NewJob,
        /// A judge job's problem version, looked up once by the caller: the driver keeps it
        /// for the job's assignments.
        problem: Option<Arc<ProblemVersion>>,
        payload: Payload,
        /// A console's channels, registered once the core admits it.
        link: Option<Link>,
    },
    Cancel {
        job_id: JobId,
    },
    /// A worker opens its feed: answered with `Reply::Connected(session)`.
    Connect {
        hello: WorkerHello,
        feed: FeedSender,
    },
    Drain {
        name: String,
    },
    /// Lift a worker's quarantine: answered with `Reply::Released`.
    Release {
        name: String,
    },
    ListWorkers,
    /// Why queued jobs wait.
    Explain {
        job_ids: Vec<JobId>,
    },
    /// Finished jobs judged again on `problem` (their current version), which the driver
    /// keeps for their assignments as it does a submission's.
    Rejudge {
        jobs: Vec<RejudgeJob>,
        problem: Arc<ProblemVersion>,
    },
    /// How many jobs wait in each class, highest first.
    QueueByClass,
}

/// An input to the driver.
pub enum Input {
    /// Something that needs no answer.
    Event(Event),
    Ask {
        request: Request,
        reply: oneshot::Sender<Result<Reply, DriverError>>,
    },
}

/// Settings of the driver loop.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub epoch: u64,
    pub tick: Duration,
    pub report_interval: Duration,
    /// Most inputs folded into one transaction.
    pub max_batch: usize,
    /// Autoscaling's commands, when the core scales.
    pub scale: Option<commands::ScaleCommands>,
}

/// The driver, over the store `S` (the scheduler's [`Store`]; a test's wrapper of it).
pub struct Driver<S: Storage = Store> {
    core: Core,
    store: S,
    catalog: Catalog,
    hub: WatchHub,
    sessions: Sessions,
    config: DriverConfig,
    feeds: HashMap<SessionId, FeedSender>,
    pending: HashMap<RequestId, oneshot::Sender<Result<Reply, DriverError>>>,
    /// Sources (and run inputs) of this batch's submissions, by request, until stored.
    sources: HashMap<RequestId, Payload>,
    /// Consoles' channels, by request, until the core admits them.
    links: HashMap<RequestId, Link>,
    /// This batch's judge submissions' problem versions, by request, until admitted.
    admitting: HashMap<RequestId, Arc<ProblemVersion>>,
    /// The problem version of every unfinished judge job, from its submission (or the
    /// last rebuild) to its end: what its assignments carry, with no second lookup.
    problems: HashMap<JobId, Arc<ProblemVersion>>,
    consoles: Consoles,
    metrics: crate::live::metrics::Metrics,
    next_req: RequestId,
    next_session: u64,
    /// Events the driver raises itself (a feed found dead, a job that cannot run), applied
    /// with the next batch.
    internal: Vec<Event>,
    /// Where `now` comes from for every batch.
    clock: SharedClock,
}

impl<S: Storage> Driver<S> {
    pub fn new(
        rebuilt: Rebuilt,
        store: S,
        catalog: Catalog,
        hub: WatchHub,
        sessions: Sessions,
        consoles: Consoles,
        config: DriverConfig,
    ) -> Self {
        Driver {
            core: rebuilt.core,
            store,
            catalog,
            hub,
            sessions,
            config,
            feeds: HashMap::new(),
            pending: HashMap::new(),
            sources: HashMap::new(),
            links: HashMap::new(),
            admitting: HashMap::new(),
            problems: rebuilt.problems,
            consoles,
            metrics: crate::live::metrics::Metrics::default(),
            next_req: 1,
            next_session: 1,
            internal: rebuilt.first,
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads time from `clock` (the wall clock unless told otherwise).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Counts into `metrics` (shared with `/metrics`).
    pub fn with_metrics(mut self, metrics: crate::live::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
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
        let clock = self.clock.clone();
        let task = tokio::spawn(self.run(rx));
        (DriverHandle { tx, clock }, task)
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Input>) -> Result<(), StoreError> {
        let mut tick = tokio::time::interval(self.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(self.config.max_batch);
        let mut number: u64 = 0;
        loop {
            tokio::select! {
                n = rx.recv_many(&mut batch, self.config.max_batch) => {
                    if n == 0 {
                        return Ok(()); // every handle dropped: shutting down
                    }
                }
                _ = tick.tick() => batch.push(Input::Event(Event::Tick)),
            }
            number += 1;
            let span = tracing::debug_span!("batch", number, inputs = batch.len());
            let started = self.clock.now_ms();
            self.step(&mut batch).instrument(span).await?;
            let took = self.clock.now_ms() - started;
            if took > STALL_MS {
                // Nothing was read meanwhile: the time must not count against the workers.
                tracing::warn!(
                    took_ms = took,
                    "a batch took long; the workers are not blamed for the wait"
                );
                self.internal.push(Event::Resumed { stalled_ms: took });
            }
        }
    }

    /// Applies one batch of inputs and carries out what the core decided.
    async fn step(&mut self, batch: &mut Vec<Input>) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        if let Some(commands) = &self.config.scale {
            self.internal
                .extend(commands.take_failed().into_iter().map(Event::ScaleFailed));
        }
        let mut effects = Vec::new();
        for event in std::mem::take(&mut self.internal) {
            effects.extend(self.core.apply(event, now));
        }
        for input in batch.drain(..) {
            let event = self.admit(input);
            tracing::trace!(?event, "event");
            effects.extend(self.core.apply(event, now));
        }
        let done = self.carry_out(effects, now).await;
        // A submission the core refused keeps nothing.
        self.admitting.clear();
        done
    }

    /// Turns an input into a core event, parking its reply channel.
    fn admit(&mut self, input: Input) -> Event {
        let (request, reply) = match input {
            Input::Event(e) => return e,
            Input::Ask { request, reply } => (request, reply),
        };
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, reply);
        match request {
            Request::Submit {
                job,
                problem,
                payload,
                link,
            } => {
                let (files, judged) = match &problem {
                    Some(p) => (p.files.clone(), p.worst_case_ms),
                    None => (JobFiles::default(), 0),
                };
                let worst_case_ms = attempt_worst_case_ms(&job.spec, judged);
                if let Some(p) = problem {
                    self.admitting.insert(req, p);
                }
                self.sources.insert(req, payload);
                if let Some(link) = link {
                    self.links.insert(req, link);
                }
                Event::Submit {
                    req,
                    job,
                    files,
                    worst_case_ms,
                }
            }
            Request::Cancel { job_id } => Event::Cancel { req, job_id },
            Request::Drain { name } => Event::DrainWorker { req, name },
            Request::Release { name } => Event::ReleaseWorker { req, name },
            Request::ListWorkers => Event::ListWorkers { req },
            Request::Explain { job_ids } => Event::Explain { req, job_ids },
            Request::Rejudge { jobs, problem } => {
                self.admitting.insert(req, problem);
                Event::Rejudge { req, jobs }
            }
            Request::QueueByClass => Event::QueueByClass { req },
            Request::Connect { hello, feed } => {
                let session = (self.config.epoch << 32) | self.next_session;
                self.next_session += 1;
                self.feeds.insert(session, feed);
                self.sessions.open(session, &hello.token_id, &hello.name);
                tracing::debug!(worker = %hello.name, session, "session opened");
                Event::WorkerConnected {
                    req,
                    session,
                    hello,
                }
            }
        }
    }

    async fn carry_out(&mut self, effects: Vec<Effect>, now: Millis) -> Result<(), StoreError> {
        let changes: Vec<&Persist> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(p) => Some(p),
                _ => None,
            })
            .collect();
        if !changes.is_empty() {
            let started = std::time::Instant::now();
            match self.store.persist(&changes, &self.sources).await {
                Ok(()) => {
                    tracing::debug!(changes = changes.len(), "batch committed");
                    for change in &changes {
                        self.metrics.jobs.apply(change);
                        self.metrics.entered_queue(change, now);
                    }
                    self.metrics.batch_size.observe(changes.len() as f64);
                    self.metrics
                        .batch_seconds
                        .observe(started.elapsed().as_secs_f64());
                }
                Err(StoreError::DiskFull(why)) => return self.roll_back(why).await,
                Err(e) => {
                    tracing::error!(error = %e, "store write failed; stopping so a restart recovers from the store");
                    return Err(e);
                }
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
        let mut payloads = if assigns.is_empty() {
            HashMap::new()
        } else {
            self.store.assign_payloads(&assigns).await?
        };
        for effect in effects {
            match effect {
                Effect::Persist(Persist::Finished { job_id, .. }) => {
                    self.consoles.remove(job_id);
                    self.problems.remove(&job_id);
                }
                Effect::Persist(Persist::Event(ev)) => {
                    self.observe(&ev);
                    tracing::debug!(
                        job_id = ev.job_id,
                        seq = ev.seq,
                        event = event_name(&ev),
                        "job event"
                    );
                    self.hub.publish(ev)
                }
                Effect::Persist(_) => {}
                Effect::Send { session, command } => {
                    let msg = match command {
                        Command::Assign { job_id, attempt } => {
                            match self.assignment(&mut payloads, job_id, attempt).await? {
                                Some(a) => {
                                    if matches!(a.work, Work::Console(_)) {
                                        self.consoles.assigned(job_id, session, attempt);
                                    }
                                    ToWorker::Assign(Box::new(a))
                                }
                                None => continue,
                            }
                        }
                        Command::Welcome { adopted } => ToWorker::Welcome {
                            session_key: self.sessions.key(session).unwrap_or_default(),
                            epoch: self.config.epoch,
                            report_interval: self.config.report_interval,
                            adopted,
                        },
                        Command::Cancel { job_id, attempt } => ToWorker::Cancel { job_id, attempt },
                        Command::Drain => ToWorker::Drain,
                    };
                    self.send_to(session, msg);
                }
                Effect::CloseSession { session, reason } => {
                    tracing::info!(session, %reason, "closing worker session");
                    self.send_to(session, ToWorker::Closed { reason });
                    self.feeds.remove(&session);
                    self.sessions.close(session);
                }
                Effect::Reply { req, reply } => self.answer(req, reply),
                Effect::Breaker { worker, news } => {
                    use crate::core::BreakerNews as N;
                    match &news {
                        N::Quarantined(reason) => {
                            tracing::warn!(%worker, %reason, "worker quarantined: it gets no jobs until its probe passes or `judgectl worker release`")
                        }
                        N::Refused(reason) => {
                            tracing::error!(%worker, %reason, "a worker should be quarantined, but the share of the fleet that may be is reached: look at it")
                        }
                        N::ProbePassed => {
                            tracing::info!(%worker, "worker back from quarantine: its probe gave the known answer")
                        }
                        N::ProbeFailed(why) => {
                            tracing::warn!(%worker, %why, "worker stays quarantined: its probe failed; another after the cool-down")
                        }
                    }
                    self.metrics.breaker(&news);
                }
                Effect::Probe { worker, job } => self.probe(worker, job),
                Effect::Scale(decision) => match &self.config.scale {
                    Some(commands) => commands.run(&decision, &self.metrics),
                    None => tracing::warn!(?decision, "a scaling decision without commands"),
                },
                Effect::ScaleAbandoned { worker, tries } => {
                    tracing::error!(
                        %worker,
                        tries,
                        "the down command failed every try: the worker's machine may still \
                         be running; stop it by hand"
                    );
                    self.metrics.scaled("down", "abandoned");
                }
            }
        }
        Ok(())
    }

    /// Forgets a batch the disk had no room for: its requests are refused, the core is
    /// rebuilt from the store, and every worker session closes so that its worker
    /// reconnects and re-sends what it holds.
    async fn roll_back(&mut self, why: String) -> Result<(), StoreError> {
        tracing::error!(%why, "the disk is full: refusing the batch and rebuilding from the store");
        self.sources.clear();
        self.links.clear();
        self.admitting.clear();
        for (_, pending) in self.pending.drain() {
            let _ = pending.send(Err(DriverError::DiskFull(why.clone())));
        }
        let reason = "the scheduler's disk is full; reconnect and send your results again";
        for (session, feed) in self.feeds.drain() {
            let _ = feed.try_send(ToWorker::Closed {
                reason: reason.to_string(),
            });
            self.sessions.close(session);
        }
        let config = self.core.config().clone();
        let rebuilt = crate::driver::recovery::rebuild(
            &self.store,
            &self.catalog,
            config,
            self.clock.now_ms(),
        )
        .await?;
        self.core = rebuilt.core;
        self.internal = rebuilt.first;
        self.problems = rebuilt.problems;
        Ok(())
    }

    /// The assignment to send for a job the core assigned, or `None` when the job cannot
    /// run (its row or its problem version is gone): it is then abandoned as a judge error
    /// with the next batch, and the scheduler carries on.
    async fn assignment(
        &mut self,
        payloads: &mut HashMap<JobId, crate::store::AssignPayload>,
        job_id: JobId,
        attempt: Attempt,
    ) -> Result<Option<Assignment>, StoreError> {
        let Some(p) = payloads.remove(&job_id) else {
            tracing::error!(job_id, "assigned job missing from the store");
            self.abandon(job_id, "the job's row is missing from the store".into());
            return Ok(None);
        };
        let span = tracing::info_span!("attempt", job_id, attempt);
        let language = &p.job.language;
        // What the worker gets besides the source, by the job's kind.
        let work = match p.job.spec {
            JobSpec::Console { spec } => {
                span.in_scope(|| tracing::debug!(%language, "assigning a console"));
                Work::Console(spec)
            }
            JobSpec::Run { limits } => {
                span.in_scope(|| tracing::debug!(%language, "assigning a run"));
                Work::Run(pb::RunInput {
                    stdin: p.payload.stdin,
                    limits: Some(limits),
                })
            }
            JobSpec::Judge {
                problem: id,
                version,
                run_all_tests,
            } => {
                let held = self.problems.get(&job_id).cloned();
                let problem = match held {
                    Some(v) => v,
                    // Every judge job's version is held from its submission or the last
                    // rebuild; should one be missing, the catalog still has it.
                    None => match self.catalog.version(&id, version).await? {
                        Some(v) => v,
                        None => {
                            span.in_scope(|| {
                                tracing::warn!(problem = %id, version, "problem version gone; abandoning the job")
                            });
                            self.abandon(job_id, crate::live::catalog::gone_message(&id, version));
                            return Ok(None);
                        }
                    },
                };
                span.in_scope(|| tracing::debug!(problem = %id, version, "assigning"));
                Work::Judge {
                    problem: problem.spec.clone(),
                    run_all_tests,
                }
            }
        };
        Ok(Some(Assignment {
            job_id,
            attempt,
            language: p.job.language,
            source: p.payload.source,
            work,
        }))
    }

    /// Submits the known-answer probe for the quarantined `worker`, with the next batch.
    fn probe(&mut self, worker: String, job: NewJob) {
        let languages = std::slice::from_ref(&job.language);
        let Some((_, source)) = judge_common::probe::probe_for(languages) else {
            return;
        };
        let req = self.next_req;
        self.next_req += 1;
        // Kept until the batch that admits it is written (sources are cleared before the
        // effects of a batch are carried out, and this is one).
        self.sources.insert(
            req,
            Payload {
                source: source.as_bytes().to_vec(),
                stdin: Vec::new(),
            },
        );
        let worst_case_ms = attempt_worst_case_ms(&job.spec, 0);
        tracing::info!(%worker, "probing a quarantined worker");
        self.internal.push(Event::SubmitProbe {
            req,
            worker,
            job,
            worst_case_ms,
        });
    }

    /// Times the job's life for `/metrics`.
    fn observe(&self, ev: &pb::JobEvent) {
        use pb::job_event::Event as Ev;
        match &ev.event {
            Some(Ev::Assigned(_)) => self.metrics.assigned(ev.job_id, ev.at_ms),
            Some(Ev::Finished(_)) => self.metrics.finished(ev.job_id, ev.at_ms),
            _ => {}
        }
    }

    fn abandon(&mut self, job_id: JobId, reason: String) {
        self.internal.push(Event::Abandon { job_id, reason });
    }

    fn send_to(&mut self, session: SessionId, msg: ToWorker) {
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
        if let Reply::Submitted(Ok(job_id)) = &reply {
            if let Some(link) = self.links.remove(&req) {
                self.consoles.admitted(*job_id, link);
            }
            if let Some(problem) = self.admitting.remove(&req) {
                self.problems.insert(*job_id, problem);
            }
        }
        if let Reply::Rejudged(Ok(ids)) = &reply {
            if let Some(problem) = self.admitting.remove(&req) {
                for id in ids {
                    self.problems.insert(*id, problem.clone());
                }
            }
        }
        let Some(pending) = self.pending.remove(&req) else {
            return;
        };
        if let Err(Ok(Reply::Connected(session))) = pending.send(Ok(reply)) {
            // The worker hung up before it learnt its session: nobody will read that feed.
            self.feeds.remove(&session);
            self.sessions.close(session);
            self.internal.push(Event::WorkerDisconnected { session });
        }
        // Any other caller that gave up waiting is no error of ours.
    }
}

/// What kind of job event this is, for logs.
fn event_name(ev: &pb::JobEvent) -> &'static str {
    use pb::job_event::Event as E;
    match &ev.event {
        Some(E::Submitted(_)) => "submitted",
        Some(E::Assigned(_)) => "assigned",
        Some(E::Started(_)) => "started",
        Some(E::Compiling(_)) => "compiling",
        Some(E::Test(_)) => "test",
        Some(E::Group(_)) => "group",
        Some(E::Requeued(_)) => "requeued",
        Some(E::Finished(_)) => "finished",
        Some(E::Rejudged(_)) => "rejudged",
        None => "empty",
    }
}
