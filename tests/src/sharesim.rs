//! Sharing one fleet, simulated: the scheduler's real core, driven in simulated time by owners
//! of unequal demand in every class (students who always have work waiting, floods of 100
//! jobs, a contest, bulk work, consoles), with cancels, supersedes and rejudges, and workers
//! lost, coming back and joining. Deterministic for a seed.
//!
//! On every step it checks the rules of sharing from the effects alone: no owner ever holds
//! more jobs on workers than its running limit, nor more consoles than its console limit; no
//! judging ends twice. At the end every job has ended once per judging. It measures how long
//! each class waited for its first assignment, and the service (slot time) each owner
//! received, with Jain's index over the students of equal demand.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use judge_common::pb;
use judge_scheduler::core::{
    Attempt, Command, Core, CoreConfig, Effect, Event, JobId, JobProgress, JobSpec, Millis, NewJob,
    Persist, Priority, QueueOrder, RejudgeJob, Reply, RequestId, SessionId, WorkerHello,
};

/// The simulation's settings.
#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// Events applied to the core before the drain.
    pub events: u64,
    pub seed: u64,
    pub order: QueueOrder,
    pub workers: usize,
    pub slots: u32,
    pub aging_ms: Millis,
    pub max_running: usize,
    pub max_consoles: usize,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            events: 100_000,
            seed: 1,
            order: QueueOrder::FairShare,
            workers: 8,
            slots: 3,
            aging_ms: 20_000,
            max_running: 4,
            max_consoles: 2,
        }
    }
}

/// The students of equal demand: each always has [`BACKLOG`] jobs outstanding.
pub const STUDENTS: usize = 8;
const BACKLOG: usize = 4;
/// Jobs in one flood.
const FLOOD: usize = 100;

/// What one class's waits came to (first assignment of each judging), ms.
#[derive(Debug, Clone, Default)]
pub struct Waits {
    pub count: usize,
    pub p50: Millis,
    pub p99: Millis,
    pub max: Millis,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct ShareReport {
    pub events: u64,
    pub simulated_ms: Millis,
    pub jobs: usize,
    pub judgings: usize,
    pub rejudged: usize,
    pub superseded: usize,
    pub cancelled: usize,
    pub consoles: usize,
    pub consoles_refused: usize,
    pub workers_lost: usize,
    /// Per class, highest first: from entering the queue to the first assignment.
    pub waits: [Waits; 3],
    /// The same, counting only the time the owner had room under its running limit: what
    /// the classes above and the other owners cost it (what aging bounds).
    pub eligible_waits: [Waits; 3],
    /// Slot time received per owner, ms, while the students were all waiting for more.
    pub service: Vec<(String, i64)>,
    /// Jain's index of the students' service: 1 is perfectly even.
    pub jain_students: f64,
    /// The most jobs any owner held on workers at once, and consoles any owner had open.
    pub max_held: usize,
    pub max_consoles: usize,
    /// Rules broken (none expected).
    pub violations: Vec<String>,
}

/// Jain's fairness index of `xs`: (Σx)² / (n·Σx²), 1 when all are equal.
pub fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares == 0.0 {
        return 1.0;
    }
    sum * sum / (xs.len() as f64 * squares)
}

/// How an owner makes work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Demand {
    /// Keeps `BACKLOG` jobs outstanding; every third replaces the last (supersede key).
    Student,
    /// Now and then, `FLOOD` jobs at once.
    Flood,
    /// Contest submissions at random times.
    Contest,
    /// Keeps two bulk jobs outstanding.
    Bulk,
    /// Opens consoles.
    Console,
}

struct Owner {
    name: String,
    demand: Demand,
    class: Priority,
    held: usize,
    consoles: usize,
    outstanding: usize,
    submitted: u64,
    service_ms: i64,
    /// Time so far during which it held fewer jobs than its running limit.
    room_ms: i64,
}

struct SimJob {
    owner: usize,
    class: Priority,
    live: bool,
    duration: Millis,
    judgings: u32,
    ended: u32,
    /// When its current judging entered the queue, and its owner's `room_ms` then, until
    /// its first assignment.
    queued_at: Option<(Millis, i64)>,
    held: bool,
    attempt: Attempt,
    last_seq: u64,
}

#[derive(Default)]
struct SimWorker {
    name: String,
    slots: u32,
    session: Option<SessionId>,
    /// What it believes it runs: job → (attempt, done while away).
    running: BTreeMap<JobId, (Attempt, bool)>,
    retired: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Tick,
    Finish {
        worker: usize,
        job: JobId,
        attempt: Attempt,
        cancelled: bool,
    },
    Submit {
        owner: usize,
    },
    Lose {
        worker: usize,
    },
    Back {
        worker: usize,
    },
    Join,
    Cancel,
    Rejudge,
}

struct Sim {
    cfg: ShareConfig,
    core: Core,
    now: Millis,
    rng: u64,
    seq: u64,
    timers: BinaryHeap<Reverse<(Millis, u64, Timer)>>,
    owners: Vec<Owner>,
    jobs: HashMap<JobId, SimJob>,
    workers: Vec<SimWorker>,
    next_session: SessionId,
    next_req: RequestId,
    /// Submissions waiting for their reply: request → (owner, class, live).
    asked: HashMap<RequestId, (usize, Priority, bool)>,
    waits: [Vec<Millis>; 3],
    eligible: [Vec<Millis>; 3],
    report: ShareReport,
    draining: bool,
    /// Service counts while every student still has work outstanding.
    measuring: bool,
    last_step: Millis,
}

impl Sim {
    fn new(cfg: ShareConfig) -> Sim {
        let core = Core::new(CoreConfig {
            max_queued: 100_000,
            max_queued_per_owner: 1_000,
            max_running_per_owner: cfg.max_running,
            max_consoles_per_owner: cfg.max_consoles,
            aging_ms: cfg.aging_ms,
            order: cfg.order,
            ..CoreConfig::default()
        });
        let mut owners = Vec::new();
        let mut add = |name: String, demand, class| {
            owners.push(Owner {
                name,
                demand,
                class,
                held: 0,
                consoles: 0,
                outstanding: 0,
                submitted: 0,
                service_ms: 0,
                room_ms: 0,
            })
        };
        for i in 0..STUDENTS {
            add(format!("student{i}"), Demand::Student, Priority::Normal);
        }
        add("flood0".into(), Demand::Flood, Priority::Normal);
        add("flood1".into(), Demand::Flood, Priority::Normal);
        add("contest".into(), Demand::Contest, Priority::Contest);
        add("bulk".into(), Demand::Bulk, Priority::Bulk);
        add("console".into(), Demand::Console, Priority::Normal);
        let rng = cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut sim = Sim {
            core,
            now: 0,
            rng,
            seq: 0,
            timers: BinaryHeap::new(),
            owners,
            jobs: HashMap::new(),
            workers: Vec::new(),
            next_session: 1,
            next_req: 1,
            asked: HashMap::new(),
            waits: Default::default(),
            eligible: Default::default(),
            report: ShareReport::default(),
            draining: false,
            measuring: true,
            last_step: 0,
            cfg,
        };
        for _ in 0..sim.cfg.workers {
            sim.join();
        }
        for o in 0..sim.owners.len() {
            let at = sim.below(2_000) as Millis;
            sim.at(at, Timer::Submit { owner: o });
        }
        sim.at(500, Timer::Tick);
        sim.at(30_000, Timer::Cancel);
        sim.at(45_000, Timer::Rejudge);
        let lose = 20_000 + sim.below(40_000) as Millis;
        let victim = sim.below(sim.workers.len() as u64) as usize;
        sim.at(lose, Timer::Lose { worker: victim });
        sim.at(120_000, Timer::Join);
        sim
    }

    fn below(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % n.max(1)
    }

    fn at(&mut self, after: Millis, t: Timer) {
        self.seq += 1;
        self.timers.push(Reverse((self.now + after, self.seq, t)));
    }

    fn join(&mut self) {
        let w = self.workers.len();
        self.workers.push(SimWorker {
            name: format!("w{w}"),
            slots: self.cfg.slots,
            ..Default::default()
        });
        self.connect(w);
    }

    fn connect(&mut self, w: usize) {
        let session = self.next_session;
        self.next_session += 1;
        let worker = &mut self.workers[w];
        worker.session = Some(session);
        let hello = WorkerHello {
            name: worker.name.clone(),
            token_id: "workers".into(),
            slots: worker.slots,
            job_types: vec!["judge".into(), "console".into()],
            languages: vec!["python3".into()],
            running: worker.running.iter().map(|(j, (a, _))| (*j, *a)).collect(),
            cached: Vec::new(),
            cache: Default::default(),
        };
        self.apply(Event::WorkerConnected {
            req: 0,
            session,
            hello,
        });
    }

    /// One event into the core, its effects checked and carried out.
    fn apply(&mut self, event: Event) {
        // Slot time accrues to whoever held slots since the last step.
        let dt = self.now - self.last_step;
        if dt > 0 {
            for o in &mut self.owners {
                if self.measuring {
                    o.service_ms += o.held as i64 * dt;
                }
                if o.held < self.cfg.max_running {
                    o.room_ms += dt;
                }
            }
        }
        self.last_step = self.now;
        self.report.events += 1;
        let effects = self.core.apply(event, self.now);
        for e in effects {
            self.effect(e);
        }
    }

    fn violation(&mut self, what: String) {
        if self.report.violations.len() < 20 {
            self.report.violations.push(what);
        }
    }

    fn effect(&mut self, e: Effect) {
        match e {
            Effect::Reply { req, reply } => self.reply(req, reply),
            Effect::Send { session, command } => self.command(session, command),
            Effect::CloseSession { session, .. } => {
                if let Some(w) = self.workers.iter_mut().find(|w| w.session == Some(session)) {
                    w.session = None;
                }
            }
            Effect::Persist(Persist::Event(ev)) => {
                if let Some(j) = self.jobs.get_mut(&ev.job_id) {
                    j.last_seq = ev.seq;
                }
            }
            Effect::Persist(Persist::Requeued { job_id, .. }) => self.release(job_id),
            Effect::Persist(Persist::Finished {
                job_id,
                state,
                message,
                ..
            }) => {
                self.release(job_id);
                if message.starts_with("superseded by") {
                    self.report.superseded += 1;
                }
                let Some(j) = self.jobs.get_mut(&job_id) else {
                    return;
                };
                j.ended += 1;
                j.queued_at = None;
                let (ended, judgings, owner, live) = (j.ended, j.judgings, j.owner, j.live);
                if ended > judgings {
                    self.violation(format!(
                        "job {job_id} ended {ended} times in {judgings} judgings"
                    ));
                }
                if state == pb::JobState::Cancelled {
                    self.report.cancelled += 1;
                }
                let o = &mut self.owners[owner];
                if live {
                    o.consoles -= 1;
                }
                if ended == 1 {
                    o.outstanding = o.outstanding.saturating_sub(1);
                    if matches!(o.demand, Demand::Student | Demand::Bulk) && !self.draining {
                        self.at(1, Timer::Submit { owner });
                    }
                }
            }
            Effect::Persist(_)
            | Effect::Breaker { .. }
            | Effect::Probe { .. }
            | Effect::Scale(_)
            | Effect::ScaleAbandoned { .. } => {}
        }
    }

    /// The job no longer holds a slot of its owner's.
    fn release(&mut self, job_id: JobId) {
        if let Some(j) = self.jobs.get_mut(&job_id) {
            if j.held {
                j.held = false;
                self.owners[j.owner].held -= 1;
            }
        }
    }

    fn reply(&mut self, req: RequestId, reply: Reply) {
        match reply {
            Reply::Submitted(result) => {
                let Some((owner, class, live)) = self.asked.remove(&req) else {
                    return;
                };
                let Ok(id) = result else {
                    if live {
                        self.report.consoles_refused += 1;
                    }
                    return;
                };
                let duration = if live {
                    10_000 + self.below(30_000) as Millis
                } else {
                    500 + self.below(2_500) as Millis
                };
                self.jobs.insert(
                    id,
                    SimJob {
                        owner,
                        class,
                        live,
                        duration,
                        judgings: 1,
                        ended: 0,
                        queued_at: Some((self.now, self.owners[owner].room_ms)),
                        held: false,
                        attempt: 0,
                        last_seq: 0,
                    },
                );
                let o = &mut self.owners[owner];
                o.outstanding += 1;
                if live {
                    o.consoles += 1;
                    let (name, n) = (o.name.clone(), o.consoles);
                    self.report.consoles += 1;
                    self.report.max_consoles = self.report.max_consoles.max(n);
                    if n > self.cfg.max_consoles {
                        self.violation(format!("{name} has {n} consoles open"));
                    }
                }
            }
            Reply::Rejudged(Ok(ids)) => {
                for id in ids {
                    if let Some(j) = self.jobs.get_mut(&id) {
                        j.judgings += 1;
                        j.class = Priority::Bulk;
                        j.queued_at = Some((self.now, self.owners[j.owner].room_ms));
                        self.report.rejudged += 1;
                    }
                }
            }
            _ => {}
        }
    }

    fn command(&mut self, session: SessionId, command: Command) {
        let Some(w) = self.workers.iter().position(|w| w.session == Some(session)) else {
            return;
        };
        match command {
            Command::Assign { job_id, attempt } => {
                let Some(j) = self.jobs.get_mut(&job_id) else {
                    return;
                };
                j.attempt = attempt;
                if let Some((since, room)) = j.queued_at.take() {
                    self.waits[j.class.rank()].push(self.now - since);
                    let eligible = self.owners[j.owner].room_ms - room;
                    self.eligible[j.class.rank()].push(eligible);
                }
                let (duration, owner) = (j.duration, j.owner);
                if !j.held {
                    j.held = true;
                    let o = &mut self.owners[owner];
                    o.held += 1;
                    self.report.max_held = self.report.max_held.max(o.held);
                    if o.held > self.cfg.max_running {
                        let (name, n) = (o.name.clone(), o.held);
                        self.violation(format!("{name} holds {n} jobs on workers"));
                    }
                }
                self.workers[w].running.insert(job_id, (attempt, false));
                let finish = Timer::Finish {
                    worker: w,
                    job: job_id,
                    attempt,
                    cancelled: false,
                };
                self.at(duration, finish);
            }
            Command::Cancel { job_id, attempt } => {
                let finish = Timer::Finish {
                    worker: w,
                    job: job_id,
                    attempt,
                    cancelled: true,
                };
                self.at(10, finish);
            }
            Command::Welcome { adopted } => {
                // What it ran and was not adopted is gone; what finished while away is sent.
                let worker = &mut self.workers[w];
                worker
                    .running
                    .retain(|j, (a, _)| adopted.contains(&(*j, *a)));
                let done: Vec<(JobId, Attempt)> = worker
                    .running
                    .iter()
                    .filter(|(_, (_, done))| *done)
                    .map(|(j, (a, _))| (*j, *a))
                    .collect();
                for (job, attempt) in done {
                    let finish = Timer::Finish {
                        worker: w,
                        job,
                        attempt,
                        cancelled: false,
                    };
                    self.at(1, finish);
                }
            }
            Command::Drain => {}
        }
    }

    fn submit(&mut self, owner: usize) {
        let o = &self.owners[owner];
        let (demand, class) = (o.demand, o.class);
        let n = match demand {
            Demand::Student => BACKLOG.saturating_sub(o.outstanding),
            Demand::Bulk => 2usize.saturating_sub(o.outstanding),
            Demand::Flood => FLOOD,
            Demand::Contest | Demand::Console => 1,
        };
        for _ in 0..n {
            let submitted = self.owners[owner].submitted;
            self.owners[owner].submitted += 1;
            let live = demand == Demand::Console;
            let spec = if live {
                JobSpec::Console {
                    spec: pb::ConsoleSpec {
                        limits: Some(pb::RunLimits {
                            time_limit_ms: Some(60_000),
                            memory_limit_bytes: Some(1 << 28),
                            output_limit_bytes: Some(1 << 20),
                        }),
                        ..Default::default()
                    },
                }
            } else {
                JobSpec::Judge {
                    problem: "p".into(),
                    version: 1,
                    run_all_tests: false,
                }
            };
            // Every third of a student's submissions replaces the last one with the key.
            let keyed = demand == Demand::Student && submitted % 3 == 2;
            let job = NewJob {
                spec,
                language: "python3".into(),
                owner: self.owners[owner].name.clone(),
                request_id: None,
                supersede_key: keyed.then(|| "latest".to_string()),
                priority: class,
            };
            let req = self.next_req;
            self.next_req += 1;
            self.asked.insert(req, (owner, class, live));
            self.apply(Event::Submit {
                req,
                job,
                files: Vec::new().into(),
                worst_case_ms: 120_000,
            });
        }
        let next = match demand {
            Demand::Flood => Some(30_000 + self.below(90_000) as Millis),
            Demand::Contest => Some(200 + self.below(2_800) as Millis),
            Demand::Console => Some(1_000 + self.below(8_000) as Millis),
            Demand::Student | Demand::Bulk => None,
        };
        if let (Some(after), false) = (next, self.draining) {
            self.at(after, Timer::Submit { owner });
        }
    }

    fn fire(&mut self, t: Timer) {
        match t {
            Timer::Tick => {
                self.apply(Event::Tick);
                // Every connected worker reports: none looks silent.
                for w in 0..self.workers.len() {
                    if let Some(session) = self.workers[w].session {
                        self.apply(Event::Resources {
                            session,
                            usage: Default::default(),
                        });
                    }
                }
                self.at(2_000, Timer::Tick);
            }
            Timer::Finish {
                worker,
                job,
                attempt,
                cancelled,
            } => {
                let w = &mut self.workers[worker];
                if w.running.get(&job).map(|(a, _)| *a) != Some(attempt) {
                    return;
                }
                let Some(session) = w.session else {
                    // Finished while away: it says so when it is back, if still its job.
                    w.running.insert(job, (attempt, true));
                    return;
                };
                w.running.remove(&job);
                let progress = JobProgress::Finished {
                    verdict: pb::Verdict::Ac,
                    message: String::new(),
                    cancelled,
                    score: None,
                    run: None,
                };
                self.apply(Event::Progress {
                    session,
                    job_id: job,
                    attempt,
                    progress,
                });
            }
            Timer::Submit { owner } => {
                if !self.draining {
                    self.submit(owner);
                }
            }
            Timer::Lose { worker } => {
                if let Some(session) = self.workers[worker].session.take() {
                    self.report.workers_lost += 1;
                    self.apply(Event::WorkerDisconnected { session });
                    // Back within the grace period, or after it.
                    let back = 1_000 + self.below(20_000) as Millis;
                    self.at(back, Timer::Back { worker });
                }
                let next = 20_000 + self.below(60_000) as Millis;
                let victim = self.below(self.workers.len() as u64) as usize;
                if !self.draining {
                    self.at(next, Timer::Lose { worker: victim });
                }
            }
            Timer::Back { worker } => {
                if self.workers[worker].session.is_none() && !self.workers[worker].retired {
                    self.connect(worker);
                }
            }
            Timer::Join => {
                // A worker joins, and an older one leaves for good (its jobs move on).
                self.join();
                let old = self.below(self.workers.len() as u64 - 1) as usize;
                if let Some(session) = self.workers[old].session.take() {
                    self.workers[old].retired = true;
                    self.workers[old].running.clear();
                    self.apply(Event::WorkerDisconnected { session });
                }
                if !self.draining {
                    self.at(300_000, Timer::Join);
                }
            }
            Timer::Cancel => {
                // A flooder changes their mind about one of their unfinished jobs.
                let mut theirs: Vec<JobId> = self
                    .jobs
                    .iter()
                    .filter(|(_, j)| {
                        self.owners[j.owner].demand == Demand::Flood && j.ended < j.judgings
                    })
                    .map(|(id, _)| *id)
                    .collect();
                theirs.sort_unstable();
                if !theirs.is_empty() {
                    let job_id = theirs[self.below(theirs.len() as u64) as usize];
                    let req = self.next_req;
                    self.next_req += 1;
                    self.apply(Event::Cancel { req, job_id });
                }
                if !self.draining {
                    self.at(5_000, Timer::Cancel);
                }
            }
            Timer::Rejudge => {
                // An admin rejudges up to 20 finished flood jobs at bulk.
                let mut done: Vec<JobId> = self
                    .jobs
                    .iter()
                    .filter(|(_, j)| {
                        self.owners[j.owner].demand == Demand::Flood && j.ended == j.judgings
                    })
                    .map(|(id, _)| *id)
                    .collect();
                done.sort_unstable();
                let take: Vec<JobId> = done.into_iter().rev().take(20).collect();
                let jobs = take
                    .iter()
                    .filter_map(|id| {
                        let j = self.jobs.get(id)?;
                        Some(RejudgeJob {
                            job_id: *id,
                            job: NewJob {
                                spec: JobSpec::Judge {
                                    problem: "p".into(),
                                    version: 2,
                                    run_all_tests: false,
                                },
                                language: "python3".into(),
                                owner: self.owners[j.owner].name.clone(),
                                request_id: None,
                                supersede_key: None,
                                priority: Priority::Bulk,
                            },
                            attempt: j.attempt,
                            ended: (pb::JobState::Done, Some(pb::Verdict::Ac)),
                            last_seq: j.last_seq,
                            files: Vec::new().into(),
                            worst_case_ms: 120_000,
                        })
                    })
                    .collect();
                let req = self.next_req;
                self.next_req += 1;
                self.apply(Event::Rejudge { req, jobs });
                if !self.draining {
                    self.at(30_000, Timer::Rejudge);
                }
            }
        }
    }

    fn run(mut self) -> ShareReport {
        while self.report.events < self.cfg.events {
            let Some(Reverse((at, _, t))) = self.timers.pop() else {
                break;
            };
            self.now = at;
            self.fire(t);
        }
        // Drain: nothing new; every worker back; run until every job has ended.
        self.draining = true;
        self.measuring = false;
        self.report.simulated_ms = self.now;
        for w in 0..self.workers.len() {
            if self.workers[w].session.is_none() && !self.workers[w].retired {
                self.connect(w);
            }
        }
        let deadline = self.now + 24 * 3_600_000;
        while self.core.active() > 0 && self.now < deadline {
            let Some(Reverse((at, _, t))) = self.timers.pop() else {
                break;
            };
            self.now = at;
            if !matches!(t, Timer::Lose { .. } | Timer::Join) {
                self.fire(t);
            }
        }
        if self.core.active() > 0 {
            let n = self.core.active();
            self.violation(format!("{n} jobs never ended"));
        }
        let unended: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.ended != j.judgings)
            .map(|(id, _)| *id)
            .collect();
        if !unended.is_empty() {
            self.violation(format!(
                "{} jobs did not end once per judging (e.g. {:?})",
                unended.len(),
                &unended[..unended.len().min(5)]
            ));
        }
        self.finish()
    }

    fn finish(mut self) -> ShareReport {
        for class in 0..3 {
            self.report.waits[class] = summary(&mut self.waits[class]);
            self.report.eligible_waits[class] = summary(&mut self.eligible[class]);
        }
        self.report.jobs = self.jobs.len();
        self.report.judgings = self.jobs.values().map(|j| j.judgings as usize).sum();
        self.report.service = self
            .owners
            .iter()
            .map(|o| (o.name.clone(), o.service_ms))
            .collect();
        let students: Vec<f64> = self.owners[..STUDENTS]
            .iter()
            .map(|o| o.service_ms as f64)
            .collect();
        self.report.jain_students = jain(&students);
        self.report
    }
}

/// Percentiles of `waits` (sorted in place).
fn summary(waits: &mut [Millis]) -> Waits {
    waits.sort_unstable();
    let Some(&max) = waits.last() else {
        return Waits::default();
    };
    let pick = |q: f64| waits[((waits.len() as f64 - 1.0) * q).round() as usize];
    Waits {
        count: waits.len(),
        p50: pick(0.5),
        p99: pick(0.99),
        max,
    }
}

/// Runs the simulation.
pub fn run(cfg: ShareConfig) -> ShareReport {
    Sim::new(cfg).run()
}
