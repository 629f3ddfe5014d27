//! The vocabulary of the scheduling core: what goes in (`Event`), what comes out (`Effect`).
//!
//! Everything here is plain data. The adapters translate gRPC messages into events, feed them
//! to [`super::Core::apply`], and carry out the effects in order: persist first, then send.

use judge_common::job_kind::JobKind;
use judge_common::pb;
pub use judge_common::priority::Priority;

/// Job ids grow by one per accepted job; they double as the FIFO order of the queue.
pub type JobId = u64;
/// One `Connect` stream. Unique across scheduler restarts (the epoch is in the high bits).
pub type SessionId = u64;
/// Milliseconds since the Unix epoch, always passed in: the core never reads a clock.
pub type Millis = i64;
/// Correlates an event that expects an answer with its [`Effect::Reply`].
pub type RequestId = u64;
/// Attempt numbers start at 1 for the first assignment.
pub type Attempt = u32;

/// The files a job needs, `(sha256, size)`, shared by every job of one problem version.
pub type JobFiles = std::sync::Arc<[(String, u64)]>;

/// How the core picks a worker among those that can run a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Fewest missing bytes, then least loaded, then most free memory; waits a bounded time
    /// for a warm worker (ours).
    Locality,
    /// Least loaded only (the usual judge).
    LeastLoaded,
    /// Any free candidate, uniformly (a baseline).
    Random,
}

/// The order queued jobs of one class go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOrder {
    /// The owner with the fewest jobs on workers first, then the one served longest ago;
    /// each owner's jobs oldest first (ours).
    FairShare,
    /// The oldest job first, whoever owns it (the usual judge; a baseline).
    OldestFirst,
}

impl QueueOrder {
    /// Its name in the configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            QueueOrder::FairShare => "fair-share",
            QueueOrder::OldestFirst => "oldest-first",
        }
    }

    /// The order named `name`, if any.
    pub fn from_name(name: &str) -> Option<QueueOrder> {
        [QueueOrder::FairShare, QueueOrder::OldestFirst]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

/// What a job is, with exactly what its kind needs: no field another kind leaves empty,
/// nothing inferred from which options are set.
#[derive(Debug, Clone, PartialEq)]
pub enum JobSpec {
    /// Judged on a problem's tests. The version is fixed when the job is admitted.
    Judge {
        problem: String,
        version: u32,
        /// Run every test even after a failure.
        run_all_tests: bool,
    },
    /// One run on the submitter's input (which travels beside the job, as its source does,
    /// never through the core), within these limits, every field set.
    Run { limits: pb::RunLimits },
    /// A live run on a terminal: its size, limits (every field set) and seconds.
    Console { spec: pb::ConsoleSpec },
}

impl JobSpec {
    /// The kind: routing goes by the offers of this kind.
    pub fn kind(&self) -> JobKind {
        match self {
            JobSpec::Judge { .. } => JobKind::Judge,
            JobSpec::Run { .. } => JobKind::Run,
            JobSpec::Console { .. } => JobKind::Console,
        }
    }

    /// A judge job's problem and version.
    pub fn problem(&self) -> Option<(&str, u32)> {
        match self {
            JobSpec::Judge {
                problem, version, ..
            } => Some((problem, *version)),
            _ => None,
        }
    }

    /// A run's or a console's limits.
    pub fn limits(&self) -> Option<&pb::RunLimits> {
        match self {
            JobSpec::Judge { .. } => None,
            JobSpec::Run { limits } => Some(limits),
            JobSpec::Console { spec } => spec.limits.as_ref(),
        }
    }
}

/// A submission the application layer has validated and wants admitted.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub spec: JobSpec,
    pub language: String,
    /// The name of the token that submitted it: only it (and admins) may see or touch it.
    pub owner: String,
    /// The submitter's id for this submission: a retry with the same id from the same owner
    /// gets the same job.
    pub request_id: Option<String>,
    /// A later job of the same owner with the same key cancels this one, queued or running
    /// ("my newest code replaces the one still queued").
    pub supersede_key: Option<String>,
    /// Its class: a higher one goes first (see `CoreConfig::aging_ms`).
    pub priority: Priority,
}

impl NewJob {
    /// What kind of job it is.
    pub fn kind(&self) -> JobKind {
        self.spec.kind()
    }

    /// A live job (a console): it runs once, on a worker connected when it is submitted,
    /// and is never queued again once it has started; losing its worker ends it.
    pub fn is_live(&self) -> bool {
        matches!(self.spec, JobSpec::Console { .. })
    }
}

/// What a worker said about itself when it connected.
#[derive(Debug, Clone, Default)]
pub struct WorkerHello {
    pub name: String,
    /// The token the worker authenticated with, so a revocation can find its sessions.
    pub token_id: String,
    pub slots: u32,
    pub job_types: Vec<String>,
    pub languages: Vec<String>,
    /// Attempts the worker still runs (after a reconnect), offered for re-adoption.
    pub running: Vec<(JobId, Attempt)>,
    /// SHA-256 of every file in the worker's cache.
    pub cached: Vec<String>,
    pub cache: pb::CacheStats,
}

/// Resource figures from a worker's latest report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub cpu_percent: f32,
    pub memory_free_bytes: u64,
    pub disk_free_bytes: u64,
}

/// What a worker can report about one of its attempts.
#[derive(Debug, Clone, PartialEq)]
pub enum JobProgress {
    Accepted,
    Compiling,
    Test(pb::TestResult),
    /// A test group of a scoring problem closed.
    Group(pb::GroupResult),
    Finished {
        verdict: pb::Verdict,
        message: String,
        cancelled: bool,
        /// Scoring problems: the submission's score.
        score: Option<f64>,
        /// `run` jobs: the result.
        run: Option<Box<pb::RunResult>>,
    },
}

/// Everything that can happen to the scheduler.
#[derive(Debug, Clone)]
pub enum Event {
    Submit {
        req: RequestId,
        job: NewJob,
        files: JobFiles,
        /// The longest an attempt can take if every limit is hit (see `CoreConfig::attempt_slack_ms`).
        worst_case_ms: Millis,
    },
    Cancel {
        req: RequestId,
        job_id: JobId,
    },
    /// A worker opened its feed; the adapter has made the session and holds its feed.
    WorkerConnected {
        req: RequestId,
        session: SessionId,
        hello: WorkerHello,
    },
    /// The worker's `Connect` stream ended, for whatever reason.
    WorkerDisconnected {
        session: SessionId,
    },
    Resources {
        session: SessionId,
        usage: Usage,
    },
    /// Files entered or left the worker's cache.
    CacheChanged {
        session: SessionId,
        added: Vec<String>,
        removed: Vec<String>,
        stats: pb::CacheStats,
    },
    Progress {
        session: SessionId,
        job_id: JobId,
        attempt: Attempt,
        progress: JobProgress,
    },
    /// The worker stops taking jobs (its own SIGTERM).
    WorkerDraining {
        session: SessionId,
    },
    /// An admin asks the named worker to drain.
    DrainWorker {
        req: RequestId,
        name: String,
    },
    TokenRevoked {
        token_id: String,
    },
    ListWorkers {
        req: RequestId,
    },
    /// Why these queued jobs wait (answered with `Reply::Waiting`, in the same order).
    Explain {
        req: RequestId,
        job_ids: Vec<JobId>,
    },
    /// The job cannot be run at all (its problem version is gone from the store): it ends
    /// as a judge error with `reason`, wherever it was.
    Abandon {
        job_id: JobId,
        reason: String,
    },
    /// How many jobs wait in each class (answered with `Reply::QueueByClass`).
    QueueByClass {
        req: RequestId,
    },
    /// The known-answer probe for the quarantined `worker` (after `Effect::Probe`): it runs
    /// there and nowhere else, outside the queue, and its result decides the quarantine.
    SubmitProbe {
        req: RequestId,
        worker: String,
        job: NewJob,
        worst_case_ms: Millis,
    },
    /// An admin lifts a worker's quarantine (answered with `Reply::Released`).
    ReleaseWorker {
        req: RequestId,
        name: String,
    },
    /// An admin has finished jobs judged again: they queue as new judgings, all or none.
    Rejudge {
        req: RequestId,
        jobs: Vec<RejudgeJob>,
    },
    /// The scheduler did not listen for `stalled_ms` (a batch waited that long on a busy
    /// store): that time does not count against anyone. Reports, reconnects and results
    /// sent meanwhile are still queued behind it, so report timeouts, grace periods and
    /// attempt deadlines move on by that much, and a stall never takes the fleet for lost.
    Resumed {
        stalled_ms: Millis,
    },
    /// A scale command failed (exited non-zero, could not start, or ran past its timeout):
    /// an up command's worker is no longer awaited and the next one waits a growing
    /// backoff; a down command is tried again after one.
    ScaleFailed(Scale),
    /// Time passes: grace periods and report deadlines expire.
    Tick,
}

/// A finished job to be judged again, as the store holds it now.
#[derive(Debug, Clone)]
pub struct RejudgeJob {
    pub job_id: JobId,
    /// Its settings with the version and class of the new judging. Neither a request id
    /// nor a supersede key: those belonged to the submission, which has ended.
    pub job: NewJob,
    /// Its last attempt's number: the new judging's attempts come after it.
    pub attempt: Attempt,
    /// How its judging so far ended.
    pub ended: (pb::JobState, Option<pb::Verdict>),
    /// Sequence number of its last event.
    pub last_seq: u64,
    pub files: JobFiles,
    pub worst_case_ms: Millis,
}

/// Why a rejudge was refused (nothing of it was queued).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejudgeError {
    #[error("job {0} has not finished; only finished jobs are judged again")]
    Unfinished(JobId),
    #[error("the queue has room for {room} more jobs, and the rejudge asks for {asked}")]
    QueueFull { room: usize, asked: usize },
}

/// Why a submission was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the queue is full ({0} jobs waiting); try again later")]
    QueueFull(usize),
    #[error(
        "{owner} already has {limit} jobs waiting (max_queued_per_token); wait for some to finish"
    )]
    OwnerQueueFull { owner: String, limit: usize },
    #[error("{owner} already has {limit} consoles open (max_consoles_per_token); close one first")]
    OwnerConsoles { owner: String, limit: usize },
    /// A live job needs a worker now, not one that may come back.
    #[error("no connected worker takes {kind} jobs in {language}")]
    NoWorker { kind: String, language: String },
}

/// Why a cancel request changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    #[error("job {0} has already finished")]
    AlreadyFinished(JobId),
}

/// Answers to events that carry a [`RequestId`].
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Submitted(Result<JobId, SubmitError>),
    /// `Ok(state)` is the job's state right after the request.
    Cancelled(Result<pb::JobState, CancelError>),
    /// `false` when no connected worker has that name.
    Drained(bool),
    Workers(Vec<WorkerSnapshot>),
    /// The worker's session is registered (its `Welcome` is on its feed).
    Connected(SessionId),
    /// Why each job asked about waits; `None` for one that is not queued.
    Waiting(Vec<Option<String>>),
    /// `false` when the worker was not quarantined.
    Released(bool),
    /// Jobs waiting per class, highest class first (`Priority::ALL`'s order).
    QueueByClass(Vec<usize>),
    /// The jobs queued to be judged again, in the order asked.
    Rejudged(Result<Vec<JobId>, RejudgeError>),
}

/// A worker as `ListWorkers` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSnapshot {
    pub name: String,
    pub connected: bool,
    pub slots: u32,
    pub running: u32,
    pub job_types: Vec<String>,
    pub languages: Vec<String>,
    pub usage: Usage,
    pub draining: bool,
    /// Why it gets no jobs, while it is quarantined.
    pub quarantined: Option<String>,
    pub cache: pb::CacheStats,
}

/// A durable change. The adapter writes all of a batch's changes in one transaction before it
/// carries out any other effect of that batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Persist {
    /// `req` is the `Submit` request, whose source the adapter holds.
    InsertJob {
        job_id: JobId,
        req: RequestId,
        job: NewJob,
        at: Millis,
    },
    /// A new attempt starts: `attempt` is the new number.
    Assigned {
        job_id: JobId,
        attempt: Attempt,
        worker: String,
    },
    Started {
        job_id: JobId,
        attempt: Attempt,
    },
    Test {
        job_id: JobId,
        attempt: Attempt,
        result: pb::TestResult,
    },
    Group {
        job_id: JobId,
        attempt: Attempt,
        result: pb::GroupResult,
    },
    /// The attempt was lost; the job waits in the queue again.
    Requeued {
        job_id: JobId,
        attempt: Attempt,
    },
    /// The job ends. Fenced on `attempt` like every other transition.
    Finished {
        job_id: JobId,
        attempt: Attempt,
        state: pb::JobState,
        verdict: Option<pb::Verdict>,
        message: String,
        score: Option<f64>,
        /// `run` jobs: the result.
        run: Option<Box<pb::RunResult>>,
        at: Millis,
    },
    /// A finished job is judged again: its judging so far is kept apart, and it waits in
    /// the queue with the new version and class, its attempts counted from `base`.
    Rejudged {
        job_id: JobId,
        version: u32,
        priority: Priority,
        base: Attempt,
        /// How the judging so far ended (what `/metrics` moves the job from).
        ended: (pb::JobState, Option<pb::Verdict>),
    },
    /// Appends to the job's event log (what `WatchJob` replays).
    Event(pb::JobEvent),
}

/// What the core wants the adapters to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Persist(Persist),
    Send {
        session: SessionId,
        command: Command,
    },
    /// End the worker's feed (replaced, revoked, silent for too long).
    CloseSession {
        session: SessionId,
        reason: String,
    },
    Reply {
        req: RequestId,
        reply: Reply,
    },
    /// What became of a worker's quarantine, for the adapters to log loudly and count.
    Breaker {
        worker: String,
        news: BreakerNews,
    },
    /// The fleet should grow (the adapter runs the up command for the named worker) or
    /// shrink (the named worker is draining; the adapter runs the down command).
    Scale(Scale),
    /// The down command for `worker` failed every try: its machine may still be running,
    /// and someone must look (the adapter says so loudly).
    ScaleAbandoned {
        worker: String,
        tries: u32,
    },
    /// A quarantined worker's cool-down is over: the adapter submits `job`, the
    /// known-answer probe, with its program's source for the job's language
    /// (`Event::SubmitProbe`).
    Probe {
        worker: String,
        job: NewJob,
    },
}

/// What became of a worker's quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakerNews {
    /// It is quarantined now, for this reason.
    Quarantined(String),
    /// It would have been, but as many workers as allowed already are.
    Refused(String),
    /// Its probe gave the known answer: it takes jobs again.
    ProbePassed,
    /// Its probe did not: another cool-down.
    ProbeFailed(String),
}

/// A command on a worker's feed.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Welcome {
        adopted: Vec<(JobId, Attempt)>,
    },
    /// The adapter fills in source and problem from the store.
    Assign {
        job_id: JobId,
        attempt: Attempt,
    },
    Cancel {
        job_id: JobId,
        attempt: Attempt,
    },
    Drain,
}

/// Tunables of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub max_queued: usize,
    /// Most jobs one owner may have waiting at once.
    pub max_queued_per_owner: usize,
    /// Most jobs one owner may have on workers at once (assigned, running, or waiting for
    /// their worker to come back): beyond, its queued jobs wait while others' go.
    pub max_running_per_owner: usize,
    /// Most consoles one owner may have open (queued or running) at once.
    pub max_consoles_per_owner: usize,
    /// A job queued this long goes as if it were of the highest class: how long a lower
    /// class waits at most while higher ones flow.
    pub aging_ms: Millis,
    /// How long a lost worker's attempts wait for it to come back.
    pub grace_ms: Millis,
    /// Attempts per job before it ends as a judge error.
    pub max_attempts: Attempt,
    /// A connected worker silent for this long is treated as lost, and its attempts are
    /// queued again at once (the timeout was its grace).
    pub report_timeout_ms: Millis,
    pub policy: Policy,
    /// The order within a class.
    pub order: QueueOrder,
    /// How long a job may wait for a warm worker before it goes to a cold one.
    pub locality_wait_ms: Millis,
    /// An attempt not finished within its job's worst case plus this is taken back like a
    /// lost one (a worker that accepts jobs and never finishes them).
    pub attempt_slack_ms: Millis,
    /// Seed of the `Random` policy's generator (the core stays deterministic).
    pub seed: u64,
    /// When a worker whose judge errors other workers do not give is quarantined.
    pub breaker: BreakerConfig,
    /// Autoscaling; `None` when the fleet is fixed.
    pub scale: Option<ScaleConfig>,
}

impl CoreConfig {
    /// The defaults (the scheduler's flags show them in `--help`).
    pub const DEFAULT: CoreConfig = CoreConfig {
        max_queued: 10_000,
        max_queued_per_owner: 100,
        max_running_per_owner: 64,
        max_consoles_per_owner: 2,
        aging_ms: 600_000,
        grace_ms: 10_000,
        max_attempts: 3,
        report_timeout_ms: 10_000,
        policy: Policy::Locality,
        order: QueueOrder::FairShare,
        locality_wait_ms: 5_000,
        attempt_slack_ms: 60_000,
        seed: 1,
        breaker: BreakerConfig::DEFAULT,
        scale: None,
    };
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig::DEFAULT
    }
}

/// A job that was not finished when the scheduler stopped, as the store remembers it.
#[derive(Debug, Clone)]
pub struct RecoveredJob {
    pub job_id: JobId,
    pub job: NewJob,
    pub state: pb::JobState,
    pub attempt: Attempt,
    /// Attempts made before its current judging (0 unless judged again).
    pub judging_base: Attempt,
    pub worker: Option<String>,
    pub last_seq: u64,
    pub tests_done: u32,
    pub groups_done: u32,
    pub files: JobFiles,
    pub worst_case_ms: Millis,
}

/// When a worker is quarantined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Strikes within the window that quarantine a worker.
    pub strikes: u32,
    pub window_ms: Millis,
    /// Most of the connected fleet quarantined at once, 0 to 1 (at least one worker).
    pub max_share: f64,
    /// How long a quarantined worker waits before its probe.
    pub cooldown_ms: Millis,
}

impl BreakerConfig {
    pub const DEFAULT: BreakerConfig = BreakerConfig {
        strikes: 3,
        window_ms: 600_000,
        max_share: 0.2,
        cooldown_ms: 300_000,
    };
}

/// When the fleet grows and shrinks.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleConfig {
    pub min_workers: u32,
    pub max_workers: u32,
    /// Longest the connected slots should need to clear the queue.
    pub backlog_ms: Millis,
    /// How long the queue must stay over that bound before a worker is asked for.
    pub sustain_ms: Millis,
    /// How long a started worker may sit idle before it is drained and stopped.
    pub idle_ms: Millis,
    /// Least time between two decisions in the same direction.
    pub cooldown_ms: Millis,
    /// Names of the workers the scaler starts begin with this.
    pub prefix: String,
}

/// A decision, with its reason (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scale {
    Up { worker: String, reason: String },
    Down { worker: String, reason: String },
}
