//! The scheduling core: every decision the scheduler makes, as a deterministic state machine.
//!
//! `apply(event, now)` returns the effects to carry out. No I/O, no clock, no randomness: the
//! same events at the same times give the same effects, which is what lets tests drive it
//! through worker losses, restarts and races with simulated time.
//!
//! Rules it keeps (see `docs/ARCHITECTURE.md`): an attempt is fenced by its number and its session, so late
//! or duplicate reports change nothing; a lost worker's attempts wait `grace_ms` to be
//! re-adopted, then go back to the queue; each loss counts against `max_attempts`.

/// Quarantine: judge errors other workers do not give count against a worker.
pub mod breaker;
/// How long an attempt may take before it counts as stuck.
pub mod deadline;
/// Which queued job goes to which free worker.
mod dispatch;
/// The jobs the core holds, queued and running.
mod jobs;
/// A leader's lease on a shared database: when to renew, when to stop serving.
pub mod lease;
/// Reports of attempts, fenced.
mod progress;
/// Picking a worker: offers, locality, load.
pub mod routing;
/// When the fleet grows and shrinks.
pub mod scaling;
/// Events in, effects out, and the data they carry.
pub mod types;
/// Why a queued job waits.
mod waiting;
/// Connected workers, their slots and files.
mod workers;

use judge_common::pb;
use pb::job_event::Event as Ev;

use std::collections::HashMap;

use breaker::{Breakers, Strike};
use jobs::{ActiveJob, JobTable};
pub use types::*;
use workers::{Worker, WorkerTable};

/// The scheduler's in-memory state: a cache of the store plus who is connected.
#[derive(Debug)]
pub struct Core {
    config: CoreConfig,
    jobs: JobTable,
    workers: WorkerTable,
    next_job_id: JobId,
    /// Counts assignments, for fair tie-breaking.
    assign_clock: u64,
    /// Per owner, the `assign_clock` of its last assignment: among owners with as many jobs
    /// on workers, the one served longest ago goes first (fair share).
    served: HashMap<String, u64>,
    /// State of the xorshift generator behind the `Random` policy.
    rng: u64,
    /// Unfinished jobs by `(owner, request_id)`, so a retried Submit gets the same job.
    requests: HashMap<(String, String), JobId>,
    /// Unfinished jobs by `(owner, supersede_key)`: the one a new job with that key replaces.
    keyed: HashMap<(String, String), JobId>,
    /// Strikes and quarantines, by worker name.
    breakers: Breakers,
    /// Probe jobs out, and the quarantined worker each is for.
    probes: HashMap<JobId, String>,
    /// Autoscaling, when configured.
    scaler: Option<scaling::Scaler>,
}

impl Core {
    /// A core for a store whose highest job id is `max_job_id`, with the store's unfinished
    /// jobs. Those that were on a worker wait a grace period from `now` for it to come back.
    /// Returned beside it, the events to apply first: a live job (a console) does not
    /// outlive the scheduler that ran it, so each one found is abandoned.
    pub fn recover(
        config: CoreConfig,
        max_job_id: JobId,
        unfinished: Vec<RecoveredJob>,
        now: Millis,
    ) -> (Self, Vec<Event>) {
        let mut core = Core {
            jobs: JobTable::default(),
            workers: WorkerTable::default(),
            next_job_id: max_job_id + 1,
            assign_clock: 0,
            served: HashMap::new(),
            rng: config.seed.max(1),
            requests: HashMap::new(),
            keyed: HashMap::new(),
            breakers: Breakers::new(config.breaker),
            probes: HashMap::new(),
            scaler: config
                .scale
                .clone()
                .map(|s| scaling::Scaler::new(s, config.grace_ms)),
            config,
        };
        let mut first = Vec::new();
        for mut r in unfinished {
            if r.judging_base > 0 {
                // A judging after the first belongs to an admin's rejudge, not to the
                // submission: its request id and supersede key ended with the first.
                r.job.request_id = None;
                r.job.supersede_key = None;
            }
            if r.job.is_live() {
                // Its client and its terminal went with the scheduler that stopped.
                first.push(Event::Abandon {
                    job_id: r.job_id,
                    reason: "the scheduler restarted; live consoles end with it".into(),
                });
            }
            if let Some(request_id) = &r.job.request_id {
                core.requests
                    .insert((r.job.owner.clone(), request_id.clone()), r.job_id);
            }
            if let Some(key) = &r.job.supersede_key {
                // Ids grow with submission: the newest unfinished job holds the key.
                let held = core
                    .keyed
                    .entry((r.job.owner.clone(), key.clone()))
                    .or_insert(r.job_id);
                *held = (*held).max(r.job_id);
            }
            let queued = r.state == pb::JobState::Queued;
            core.jobs.insert(
                r.job_id,
                ActiveJob {
                    job: r.job,
                    state: r.state,
                    attempt: r.attempt,
                    judging_base: r.judging_base,
                    session: None,
                    worker: if queued { None } else { r.worker },
                    orphaned_until: (!queued).then_some(now + core.config.grace_ms),
                    cancel: None,
                    suspect: None,
                    last_seq: r.last_seq,
                    tests_done: r.tests_done,
                    groups_done: r.groups_done,
                    files: r.files,
                    worst_case_ms: r.worst_case_ms,
                    queued_since: now,
                    // A recovered attempt gets a whole new allowance from now.
                    deadline: (!queued)
                        .then_some(now + r.worst_case_ms + core.config.attempt_slack_ms),
                    assigned_at: None,
                    skipped_since: None,
                },
            );
        }
        (core, first)
    }

    /// A core for an empty store.
    pub fn new(config: CoreConfig) -> Self {
        Self::recover(config, 0, Vec::new(), 0).0
    }

    /// Number of jobs waiting for a worker.
    /// The settings this core runs with.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    pub fn queued(&self) -> usize {
        self.jobs.queued_len()
    }

    /// Number of unfinished jobs.
    pub fn active(&self) -> usize {
        self.jobs.len()
    }

    /// Feeds one event in; returns what to do about it, in order.
    pub fn apply(&mut self, event: Event, now: Millis) -> Vec<Effect> {
        let mut out = Vec::new();
        match event {
            Event::Submit {
                req,
                job,
                files,
                worst_case_ms,
            } => self.on_submit(req, (job, files, worst_case_ms), now, &mut out),
            Event::Cancel { req, job_id } => self.on_cancel(req, job_id, now, &mut out),
            Event::WorkerConnected {
                req,
                session,
                hello,
            } => {
                self.on_connected(session, hello, now, &mut out);
                out.push(Effect::Reply {
                    req,
                    reply: Reply::Connected(session),
                });
            }
            Event::WorkerDisconnected { session } => {
                self.on_lost(session, now, self.config.grace_ms, &mut out)
            }
            Event::Resources { session, usage } => self.workers.set_usage(session, usage, now),
            Event::CacheChanged {
                session,
                added,
                removed,
                stats,
            } => self
                .workers
                .change_cache(session, added, removed, stats, now),
            Event::Progress {
                session,
                job_id,
                attempt,
                progress,
            } => self.on_progress(session, job_id, attempt, progress, now, &mut out),
            Event::WorkerDraining { session } => {
                self.workers.set_draining(session);
                self.workers.touch(session, now);
            }
            Event::DrainWorker { req, name } => {
                let session = self.workers.session_of(&name);
                if let Some(session) = session {
                    self.workers.set_draining(session);
                    out.push(Effect::Send {
                        session,
                        command: Command::Drain,
                    });
                }
                out.push(Effect::Reply {
                    req,
                    reply: Reply::Drained(session.is_some()),
                });
            }
            Event::TokenRevoked { token_id } => {
                for session in self.workers.sessions_with_token(&token_id) {
                    out.push(Effect::CloseSession {
                        session,
                        reason: "token revoked".into(),
                    });
                    self.on_lost(session, now, self.config.grace_ms, &mut out);
                }
            }
            Event::ListWorkers { req } => out.push(Effect::Reply {
                req,
                reply: Reply::Workers(self.workers.snapshots()),
            }),
            Event::Explain { req, job_ids } => out.push(Effect::Reply {
                req,
                reply: Reply::Waiting(job_ids.iter().map(|id| self.waiting(*id, now)).collect()),
            }),
            Event::Abandon { job_id, reason } => {
                self.finish(
                    job_id,
                    pb::JobState::Failed,
                    Some(pb::Verdict::Je),
                    reason,
                    now,
                    &mut out,
                );
            }
            Event::ReleaseWorker { req, name } => {
                let released = self.breakers.release(&name);
                if let Some(session) = self.workers.session_of(&name) {
                    self.workers.set_quarantined(session, None);
                }
                // Its probe, if one is out, has nothing left to decide.
                let probes: Vec<JobId> = self
                    .probes
                    .iter()
                    .filter(|(_, w)| **w == name)
                    .map(|(id, _)| *id)
                    .collect();
                for id in probes {
                    let why = "its worker was released from quarantine by hand".to_string();
                    let _ = self.cancel(id, why, now, &mut out);
                }
                out.push(Effect::Reply {
                    req,
                    reply: Reply::Released(released),
                });
            }
            Event::QueueByClass { req } => out.push(Effect::Reply {
                req,
                reply: Reply::QueueByClass(self.jobs.queued_by_class()),
            }),
            Event::SubmitProbe {
                req,
                worker,
                job,
                worst_case_ms,
            } => self.on_submit_probe(req, worker, (job, worst_case_ms), now, &mut out),
            Event::Rejudge { req, jobs } => {
                let reply = Reply::Rejudged(self.rejudge(jobs, now, &mut out));
                out.push(Effect::Reply { req, reply });
            }
            Event::Resumed { stalled_ms } => {
                let by = stalled_ms.max(0);
                self.workers.forgive(by);
                self.jobs.postpone(by);
            }
            Event::ScaleFailed(decision) => {
                let last = self.scaler.as_mut().and_then(|s| s.failed(&decision, now));
                if let (Some(tries), Scale::Down { worker, .. }) = (last, decision) {
                    out.push(Effect::ScaleAbandoned { worker, tries });
                }
            }
            Event::Tick => self.on_tick(now, &mut out),
        }
        self.dispatch_probes(now, &mut out);
        self.dispatch(now, &mut out);
        out
    }

    fn on_submit(
        &mut self,
        req: RequestId,
        (job, files, worst_case_ms): (NewJob, JobFiles, Millis),
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        let request = job
            .request_id
            .as_ref()
            .map(|r| (job.owner.clone(), r.clone()));
        if let Some(&job_id) = request.as_ref().and_then(|r| self.requests.get(r)) {
            // A retry of a submission already admitted: the same job, nothing new.
            out.push(Effect::Reply {
                req,
                reply: Reply::Submitted(Ok(job_id)),
            });
            return;
        }
        let refused =
            if job.is_live() && !self.workers.iter().any(|(_, w)| routing::accepts(w, &job)) {
                Some(SubmitError::NoWorker {
                    kind: job.kind().as_str().to_string(),
                    language: job.language.clone(),
                })
            } else if self.jobs.queued_len() >= self.config.max_queued {
                Some(SubmitError::QueueFull(self.jobs.queued_len()))
            } else if job.is_live()
                && self.jobs.live_of(&job.owner) >= self.config.max_consoles_per_owner
            {
                Some(SubmitError::OwnerConsoles {
                    owner: job.owner.clone(),
                    limit: self.config.max_consoles_per_owner,
                })
            } else if self.jobs.queued_of(&job.owner) >= self.config.max_queued_per_owner {
                Some(SubmitError::OwnerQueueFull {
                    owner: job.owner.clone(),
                    limit: self.config.max_queued_per_owner,
                })
            } else {
                None
            };
        if let Some(err) = refused {
            out.push(Effect::Reply {
                req,
                reply: Reply::Submitted(Err(err)),
            });
            return;
        }
        let job_id = self.next_job_id;
        self.next_job_id += 1;
        if let Some(r) = request {
            self.requests.insert(r, job_id);
        }
        let replaced = job
            .supersede_key
            .as_ref()
            .and_then(|key| self.keyed.insert((job.owner.clone(), key.clone()), job_id));
        out.push(Effect::Persist(Persist::InsertJob {
            job_id,
            req,
            job: job.clone(),
            at: now,
        }));
        let active = ActiveJob::queued(job, files, worst_case_ms, now);
        self.jobs.insert(job_id, active);
        self.event(job_id, now, Ev::Submitted(pb::Submitted {}), out);
        if let Some(old) = replaced {
            // The owner's earlier job with this key is replaced: it stops, queued or running.
            let _ = self.cancel(old, format!("superseded by {job_id}"), now, out);
        }
        out.push(Effect::Reply {
            req,
            reply: Reply::Submitted(Ok(job_id)),
        });
    }

    /// Queues finished jobs to be judged again: all of them, or none if one is still
    /// unfinished or the queue lacks room. Each continues its attempts and its event log.
    fn rejudge(
        &mut self,
        jobs: Vec<RejudgeJob>,
        now: Millis,
        out: &mut Vec<Effect>,
    ) -> Result<Vec<JobId>, RejudgeError> {
        if let Some(busy) = jobs.iter().find(|j| self.jobs.get(j.job_id).is_some()) {
            return Err(RejudgeError::Unfinished(busy.job_id));
        }
        let room = self
            .config
            .max_queued
            .saturating_sub(self.jobs.queued_len());
        if jobs.len() > room {
            return Err(RejudgeError::QueueFull {
                room,
                asked: jobs.len(),
            });
        }
        let mut ids = Vec::with_capacity(jobs.len());
        for r in jobs {
            let mut job = r.job;
            job.request_id = None;
            job.supersede_key = None;
            let version = job.spec.problem().map_or(0, |(_, v)| v);
            let priority = job.priority;
            out.push(Effect::Persist(Persist::Rejudged {
                job_id: r.job_id,
                version,
                priority,
                base: r.attempt,
                ended: r.ended,
            }));
            let mut active = ActiveJob::queued(job, r.files, r.worst_case_ms, now);
            // Its attempts and its event log go on from where its last judging left them.
            active.attempt = r.attempt;
            active.judging_base = r.attempt;
            active.last_seq = r.last_seq;
            self.jobs.insert(r.job_id, active);
            let ev = Ev::Rejudged(pb::RejudgedEvent {
                problem_version: version,
                priority: priority.as_str().to_string(),
            });
            self.event(r.job_id, now, ev, out);
            ids.push(r.job_id);
        }
        Ok(ids)
    }

    /// Admits a probe for the quarantined `worker`: stored and announced like any job, but
    /// kept outside the queue, for that worker alone (`dispatch_probes`).
    fn on_submit_probe(
        &mut self,
        req: RequestId,
        worker: String,
        (job, worst_case_ms): (NewJob, Millis),
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        let job_id = self.next_job_id;
        self.next_job_id += 1;
        out.push(Effect::Persist(Persist::InsertJob {
            job_id,
            req,
            job: job.clone(),
            at: now,
        }));
        let active = ActiveJob::queued(job, JobFiles::default(), worst_case_ms, now);
        self.jobs.insert(job_id, active);
        self.jobs.dequeue(job_id);
        self.probes.insert(job_id, worker);
        self.event(job_id, now, Ev::Submitted(pb::Submitted {}), out);
        out.push(Effect::Reply {
            req,
            reply: Reply::Submitted(Ok(job_id)),
        });
    }

    /// A probe ended: the known answer lets its worker back; anything else (another
    /// answer, a judge error, a lost worker, a cancel) means another cool-down.
    fn probe_ended(
        &mut self,
        worker: &str,
        run: Option<&pb::RunResult>,
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        if self.breakers.quarantined(worker).is_none() {
            return; // released by hand meanwhile
        }
        let news = if judge_common::probe::passed(run) {
            self.breakers.release(worker);
            if let Some(session) = self.workers.session_of(worker) {
                self.workers.set_quarantined(session, None);
            }
            BreakerNews::ProbePassed
        } else {
            self.breakers.probe_failed(worker, now);
            let got = run.map_or("no result".to_string(), |r| {
                format!("exit {:?}, {} bytes of output", r.exit_code, r.stdout.len())
            });
            BreakerNews::ProbeFailed(format!("the probe did not give the known answer ({got})"))
        };
        out.push(Effect::Breaker {
            worker: worker.to_string(),
            news,
        });
    }

    /// Whether the job runs once at most: a live job (its client saw the first run) or a
    /// probe (it is for one worker).
    fn runs_once(&self, job_id: JobId) -> bool {
        self.probes.contains_key(&job_id) || self.jobs.get(job_id).is_some_and(|j| j.job.is_live())
    }

    /// The quarantined workers whose cool-down is over get their probe, in a language they
    /// offer that has one, if they take run jobs.
    fn probe_due(&mut self, now: Millis, out: &mut Vec<Effect>) {
        if self.breakers.count() == 0 {
            return; // nobody quarantined: no need to look at the fleet
        }
        let mut able: Vec<(String, String)> = Vec::new();
        for (_, w) in self.workers.iter() {
            if w.quarantined().is_none() || !w.hello.job_types.iter().any(|t| t == "run") {
                continue;
            }
            if let Some((language, _)) = judge_common::probe::probe_for(&w.hello.languages) {
                able.push((w.hello.name.clone(), language.to_string()));
            }
        }
        let due = self
            .breakers
            .due_probes(able.iter().map(|(n, _)| n.as_str()), now);
        for (worker, language) in able {
            if due.contains(&worker) {
                // One run of a one-line program: small limits, ahead of everything.
                let job = NewJob {
                    spec: JobSpec::Run {
                        limits: pb::RunLimits {
                            time_limit_ms: Some(10_000),
                            memory_limit_bytes: Some(512 << 20),
                            output_limit_bytes: Some(1 << 16),
                        },
                    },
                    language,
                    owner: breaker::PROBE_OWNER.to_string(),
                    request_id: None,
                    supersede_key: None,
                    priority: Priority::Contest,
                };
                out.push(Effect::Probe { worker, job });
            }
        }
    }

    fn on_cancel(&mut self, req: RequestId, job_id: JobId, now: Millis, out: &mut Vec<Effect>) {
        let reply = Reply::Cancelled(self.cancel(job_id, "cancelled".into(), now, out));
        out.push(Effect::Reply { req, reply });
    }

    /// Cancels a job, which ends with `message`: at once if nobody runs it, else when its
    /// worker confirms. Its state right after.
    fn cancel(
        &mut self,
        job_id: JobId,
        message: String,
        now: Millis,
        out: &mut Vec<Effect>,
    ) -> Result<pb::JobState, CancelError> {
        let Some(job) = self.jobs.get_mut(job_id) else {
            // Not active: it finished (or never existed; the API layer checks that first).
            return Err(CancelError::AlreadyFinished(job_id));
        };
        let state = job.state;
        job.cancel = Some(message);
        if state == pb::JobState::Queued || job.session.is_none() {
            // Nobody runs it (queued, or its worker is gone): it ends now.
            self.cancelled(job_id, now, out);
            return Ok(pb::JobState::Cancelled);
        }
        let (session, attempt) = (job.session, job.attempt);
        if let Some(session) = session {
            out.push(Effect::Send {
                session,
                command: Command::Cancel { job_id, attempt },
            });
        }
        Ok(state)
    }

    fn on_connected(
        &mut self,
        session: SessionId,
        hello: WorkerHello,
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        // A second connection under the same name replaces the first; the first one's
        // attempts become orphans the new connection may re-adopt just below.
        if let Some(old) = self.workers.session_of(&hello.name) {
            out.push(Effect::CloseSession {
                session: old,
                reason: "replaced by a new connection".into(),
            });
            self.on_lost(old, now, self.config.grace_ms, out);
        }
        let worker = Worker::new(hello, now);
        let mut adopted = Vec::new();
        for &(job_id, attempt) in &worker.hello.running {
            let Some(job) = self.jobs.get_mut(job_id) else {
                continue;
            };
            let same_attempt = job.attempt == attempt && job.orphaned_until.is_some();
            if same_attempt && job.worker.as_deref() == Some(worker.hello.name.as_str()) {
                job.orphaned_until = None;
                job.session = Some(session);
                adopted.push((job_id, attempt));
            }
        }
        // Orphans of this worker it did not offer back are gone: no point waiting for them.
        let name = worker.hello.name.clone();
        self.workers.insert(session, worker);
        if let Some(scaler) = self.scaler.as_mut() {
            scaler.joined(&name);
        }
        // Quarantine is by name: reconnecting does not lift it.
        if let Some(why) = self.breakers.quarantined(&name) {
            self.workers.set_quarantined(session, Some(why.to_string()));
        }
        for &(job_id, _) in &adopted {
            self.workers.start(session, job_id, None, &[]);
        }
        out.push(Effect::Send {
            session,
            command: Command::Welcome { adopted },
        });
        for job_id in self.jobs.orphans_of(&name) {
            self.lose_attempt(job_id, "the worker restarted without it", now, out);
        }
    }

    /// The worker's feed is gone: its attempts wait `grace` for it to come back.
    fn on_lost(&mut self, session: SessionId, now: Millis, grace: Millis, out: &mut Vec<Effect>) {
        let Some(worker) = self.workers.remove(session) else {
            return;
        };
        for &job_id in worker.running() {
            let once = self.runs_once(job_id);
            let Some(job) = self.jobs.get_mut(job_id) else {
                continue;
            };
            job.session = None;
            if job.cancel.is_some() {
                self.cancelled(job_id, now, out);
            } else if once {
                // Its terminal (or its probe's point) was that worker: nothing to come back to.
                self.lose_attempt(job_id, "the worker was lost", now, out);
            } else {
                job.orphaned_until = Some(now + grace);
            }
        }
    }

    fn on_tick(&mut self, now: Millis, out: &mut Vec<Effect>) {
        for session in self
            .workers
            .silent_since(now - self.config.report_timeout_ms)
        {
            out.push(Effect::CloseSession {
                session,
                reason: "no report within the timeout".into(),
            });
            // It had the whole timeout to say anything: that was its grace, and its
            // attempts are queued again at once (just below).
            self.on_lost(session, now, 0, out);
        }
        for job_id in self.jobs.expired_orphans(now) {
            self.lose_attempt(job_id, "the worker did not come back", now, out);
        }
        for job_id in self.jobs.overdue(now) {
            self.take_back(job_id, now, out);
        }
        self.probe_due(now, out);
        self.autoscale(now, out);
    }

    /// The scaler's decision at this tick, if any: a worker asked for, or an idle one
    /// drained (its down command runs at once: it has nothing to finish).
    fn autoscale(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let Some(scaler) = self.scaler.as_mut() else {
            return;
        };
        let seen: Vec<scaling::Seen<'_>> = self
            .workers
            .iter()
            .filter(|(_, w)| !w.draining())
            .map(|(_, w)| scaling::Seen {
                name: &w.hello.name,
                slots: w.hello.slots,
                running: w.running().len(),
                takes_jobs: w.takes_jobs(),
            })
            .collect();
        let decision = scaler.tick(&seen, self.jobs.queued_len(), now);
        drop(seen);
        let Some(decision) = decision else {
            return;
        };
        if let Scale::Down { worker, .. } = &decision {
            if let Some(session) = self.workers.session_of(worker) {
                self.workers.set_draining(session);
                out.push(Effect::Send {
                    session,
                    command: Command::Drain,
                });
            }
        }
        out.push(Effect::Scale(decision));
    }

    /// The attempt ran past its worst case: its worker is told to stop it, and it counts as
    /// lost (re-queued, or failed past the retry cap).
    fn take_back(&mut self, job_id: JobId, now: Millis, out: &mut Vec<Effect>) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        let (session, attempt) = (job.session.take(), job.attempt);
        let allowed = (job.worst_case_ms + self.config.attempt_slack_ms) / 1000;
        if let Some(session) = session {
            out.push(Effect::Send {
                session,
                command: Command::Cancel { job_id, attempt },
            });
            self.workers.stop(session, job_id);
        }
        let reason = format!("the attempt took longer than its worst case ({allowed} s)");
        self.lose_attempt(job_id, &reason, now, out);
    }

    /// The current attempt is lost: queue the job again, or give up past the retry cap.
    fn lose_attempt(&mut self, job_id: JobId, reason: &str, now: Millis, out: &mut Vec<Effect>) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let attempt = job.attempt;
        if job.cancel.is_some() {
            self.cancelled(job_id, now, out);
        } else if self.runs_once(job_id) {
            // A live job is never run twice: its client saw the first run (a probe is for
            // one worker).
            self.finish(
                job_id,
                pb::JobState::Failed,
                Some(pb::Verdict::Je),
                reason.to_string(),
                now,
                out,
            );
        } else if attempt - job.judging_base.min(attempt) >= self.config.max_attempts {
            let lost = attempt - job.judging_base.min(attempt);
            let message = format!("gave up after {lost} lost attempts (last: {reason})");
            self.finish(
                job_id,
                pb::JobState::Failed,
                Some(pb::Verdict::Je),
                message,
                now,
                out,
            );
        } else {
            out.push(Effect::Persist(Persist::Requeued { job_id, attempt }));
            self.jobs.enqueue(job_id);
            let ev = Ev::Requeued(pb::RequeuedEvent {
                attempt,
                reason: reason.to_string(),
            });
            self.event(job_id, now, ev, out);
        }
    }

    /// Ends a job as cancelled (nobody runs it any more).
    fn cancelled(&mut self, job_id: JobId, now: Millis, out: &mut Vec<Effect>) {
        let message = self
            .jobs
            .get(job_id)
            .and_then(|j| j.cancel.clone())
            .unwrap_or_else(|| "cancelled".into());
        self.finish(job_id, pb::JobState::Cancelled, None, message, now, out);
    }

    /// Ends a job without a score: persisted, announced, forgotten.
    fn finish(
        &mut self,
        job_id: JobId,
        state: pb::JobState,
        verdict: Option<pb::Verdict>,
        message: String,
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        let end = JobEnd {
            state,
            verdict,
            message,
            score: None,
            run: None,
        };
        self.finish_with(job_id, end, now, out);
    }

    /// Ends a job: persisted, announced, forgotten.
    fn finish_with(&mut self, job_id: JobId, end: JobEnd, now: Millis, out: &mut Vec<Effect>) {
        let Some(job) = self.jobs.get(job_id) else {
            return;
        };
        let (attempt, session, assigned_at) = (job.attempt, job.session, job.assigned_at);
        if let Some(session) = session {
            self.workers.stop(session, job_id);
        }
        if let Some(worker) = self.probes.remove(&job_id) {
            self.probe_ended(&worker, end.run.as_deref(), now, out);
        }
        if let (Some(scaler), Some(t)) = (self.scaler.as_mut(), assigned_at) {
            scaler.attempt_took(now - t);
        }
        let JobEnd {
            state,
            verdict,
            message,
            score,
            run,
        } = end;
        out.push(Effect::Persist(Persist::Finished {
            job_id,
            attempt,
            state,
            verdict,
            message: message.clone(),
            score,
            run,
            at: now,
        }));
        let ev = Ev::Finished(pb::FinishedEvent {
            state: state as i32,
            verdict: verdict.unwrap_or(pb::Verdict::Unspecified) as i32,
            message,
            score,
        });
        self.event(job_id, now, ev, out);
        if let Some(done) = self.jobs.remove(job_id) {
            if let Some(r) = done.job.request_id {
                self.requests.remove(&(done.job.owner.clone(), r));
            }
            if let Some(key) = done.job.supersede_key {
                let key = (done.job.owner, key);
                if self.keyed.get(&key) == Some(&job_id) {
                    self.keyed.remove(&key);
                }
            }
        }
    }

    /// Appends an event to the job's log with the next sequence number.
    fn event(&mut self, job_id: JobId, now: Millis, event: Ev, out: &mut Vec<Effect>) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        job.last_seq += 1;
        out.push(Effect::Persist(Persist::Event(pb::JobEvent {
            job_id,
            seq: job.last_seq,
            at_ms: now,
            event: Some(event),
        })));
    }
}

/// How a job ends.
struct JobEnd {
    state: pb::JobState,
    verdict: Option<pb::Verdict>,
    message: String,
    score: Option<f64>,
    run: Option<Box<pb::RunResult>>,
}

#[cfg(test)]
mod tests;
