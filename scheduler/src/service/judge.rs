//! `JudgeService`: what people use to submit, follow and cancel jobs.

use std::sync::Arc;

use judge_common::pb;
use judge_common::pb::judge_service_server::JudgeService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::{caller, check_ident};
use crate::core::{CancelError, JobFiles, JobId, Millis, NewJob, SubmitError};
use crate::driver::DriverHandle;
use crate::live::tokens::Caller;
use crate::live::watch::WatchHub;
use crate::store::Role;
use crate::store::{JobRecord, Store};
use judge_common::job_kind::JobKind;
use judge_common::run_limits::RunMaxima;

pub struct JudgeApi {
    pub catalog: crate::live::catalog::Catalog,
    pub driver: DriverHandle,
    pub store: Store,
    pub hub: WatchHub,
    pub languages: super::Offered,
    pub job_types: super::Offered,
    pub max_source_bytes: usize,
    /// Largest standard input of a `run` job.
    pub max_stdin_bytes: usize,
    /// The most a `run` job (and a console) may ask for.
    pub run_maxima: RunMaxima,
    /// Most bytes one token's run jobs may hold in the store while their input and output
    /// are kept.
    pub max_run_bytes_per_token: u64,
    pub console_limits: crate::wiring::server::ConsoleLimits,
    /// Turns true when the scheduler stops: live consoles end, telling their clients.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub watchers: Watchers,
    /// Which tokens are live: a watch or console ends when its token is revoked.
    pub tokens: crate::live::tokens::TokenCache,
}

/// Open watches per token, bounded so that no one caller can hold the scheduler's memory.
#[derive(Debug, Clone)]
pub struct Watchers {
    open: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    limit: usize,
}

/// One open watch; it counts until dropped.
struct WatchSlot {
    watchers: Watchers,
    token_id: String,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self.watchers.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.token_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.token_id);
            }
        }
    }
}

impl Watchers {
    pub fn new(limit: usize) -> Self {
        Watchers {
            open: Default::default(),
            limit,
        }
    }

    fn take(&self, token_id: &str) -> Result<WatchSlot, Status> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(token_id.to_string()).or_default();
        if *n >= self.limit {
            return Err(Status::resource_exhausted(format!(
                "this token already has {} watches open (the limit); close some",
                self.limit
            )));
        }
        *n += 1;
        Ok(WatchSlot {
            watchers: self.clone(),
            token_id: token_id.to_string(),
        })
    }
}

/// The jobs a caller may see: an admin every job, anyone else only the jobs they submitted.
fn visible_owner(who: &Caller) -> Option<&str> {
    match who.role {
        Role::Admin => None,
        _ => Some(who.token_name.as_str()),
    }
}

/// A request id: optional, 1 to 64 printable ASCII characters.
fn request_id(id: String) -> Result<Option<String>, Status> {
    if id.is_empty() {
        return Ok(None);
    }
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Status::invalid_argument(
            "request_id must be 1 to 64 printable ASCII characters without spaces",
        ));
    }
    Ok(Some(id))
}

fn job_id(id: u64) -> Result<JobId, Status> {
    if id == 0 || i64::try_from(id).is_err() {
        return Err(Status::invalid_argument(format!(
            "job_id {id} is not a job id (job ids run from 1 to 2^63 - 1)"
        )));
    }
    Ok(id)
}

/// Group results, closed children first, nested as the data/ folders are: "secret/g1" goes
/// under "secret"; top-level groups ("sample", "secret") are the list.
fn nest_groups(flat: Vec<pb::GroupResult>) -> Vec<pb::GroupResult> {
    fn parent(name: &str) -> &str {
        name.rsplit_once('/').map_or("", |(p, _)| p)
    }
    fn children(of: &str, flat: &[pb::GroupResult]) -> Vec<pb::GroupResult> {
        let mut out: Vec<pb::GroupResult> = flat
            .iter()
            .filter(|g| parent(&g.name) == of && !g.name.is_empty())
            .map(|g| pb::GroupResult {
                groups: children(&g.name, flat),
                ..g.clone()
            })
            .collect();
        out.sort_by_key(|g| g.index);
        out
    }
    children("", &flat)
}

fn to_pb(r: JobRecord, tests: Vec<pb::TestResult>, groups: Vec<pb::GroupResult>) -> pb::Job {
    pb::Job {
        job_id: r.job_id,
        problem_id: r.job.problem_id,
        problem_version: r.job.problem_version,
        language: r.job.language,
        job_type: r.job.kind.as_str().to_string(),
        state: r.state as i32,
        verdict: r.verdict.unwrap_or(pb::Verdict::Unspecified) as i32,
        tests,
        attempts: r.attempt,
        worker: r.worker.unwrap_or_default(),
        message: r.message,
        submitted_at_ms: r.submitted_at,
        finished_at_ms: r.finished_at.unwrap_or(0),
        owner: r.job.owner,
        waiting: None,
        score: r.score,
        groups: nest_groups(groups),
        run: None,
        run_limits: r.job.run_limits,
        source: Vec::new(),
        io_expired_at_ms: r.io_expired_at,
    }
}

pub(super) type EventSender = mpsc::Sender<Result<pb::JobEvent, Status>>;

/// Sends one event to a watcher; `true` when the watch is over (last event, or watcher gone).
async fn forward(last: &mut u64, e: pb::JobEvent, tx: &EventSender) -> bool {
    *last = e.seq;
    let end = matches!(e.event, Some(pb::job_event::Event::Finished(_)));
    tx.send(Ok(e)).await.is_err() || end
}

/// Sends the stored events after `last`; `true` when the watch is over.
async fn replay(store: &Store, id: JobId, last: &mut u64, tx: &EventSender) -> bool {
    match store.events_after(id, *last).await {
        Ok(events) => {
            for e in events {
                if forward(last, e, tx).await {
                    return true;
                }
            }
            false
        }
        Err(e) => {
            let _ = tx.send(Err(e.into())).await;
            true
        }
    }
}

/// The status of a submission the core refused.
pub(super) fn submit_error(e: SubmitError) -> Status {
    match e {
        SubmitError::QueueFull(_) | SubmitError::OwnerQueueFull { .. } => {
            Status::resource_exhausted(e.to_string())
        }
        SubmitError::NoWorker { .. } => Status::failed_precondition(e.to_string()),
    }
}

/// What admitting a submission takes, beside the request.
struct Admitted {
    version: u32,
    files: JobFiles,
    worst_case_ms: Millis,
    run_limits: Option<pb::RunLimits>,
}

/// Sends job `id`'s events after `after` to `tx`, the stored ones first, then live ones
/// as they are committed, until the job finishes or `tx` closes. `ended`: the job had
/// already ended when the watch was asked for, so the stored events are all there is.
pub(super) async fn follow(
    store: Store,
    hub: WatchHub,
    id: JobId,
    after: u64,
    ended: bool,
    tx: EventSender,
) {
    // Subscribe before replaying, so no event falls between the two.
    let mut live = hub.subscribe(id);
    let mut last = after;
    // A job that had ended has all its events stored (they are committed with its end):
    // asked from after its last one, the watch ends here instead of waiting for ever.
    let mut done = replay(&store, id, &mut last, &tx).await || ended;
    while !done {
        let next = tokio::select! {
            // The watcher went away: stop now, not at the job's next event.
            _ = tx.closed() => break,
            next = live.recv() => next,
        };
        done = match next {
            Ok(e) if e.seq <= last => false,
            Ok(e) => forward(&mut last, (*e).clone(), &tx).await,
            // Fell behind, or the channel was retired: catch up from the store.
            Err(_) => {
                live = hub.subscribe(id);
                replay(&store, id, &mut last, &tx).await
            }
        };
    }
    drop(live);
    hub.release(id);
}

impl JudgeApi {
    /// A judge job: the problem's newest version, its files and worst case.
    async fn judge_job(&self, req: &pb::SubmitRequest) -> Result<Admitted, Status> {
        check_ident("problem id", &req.problem_id)?;
        if !req.stdin.is_empty() || req.limits.is_some() {
            return Err(Status::invalid_argument(
                "stdin and limits are for run jobs; a judge job takes the problem's",
            ));
        }
        let not_found = || Status::not_found(format!("problem {:?} not found", req.problem_id));
        let version = self
            .catalog
            .latest(&req.problem_id)
            .await?
            .ok_or_else(not_found)?;
        let problem = self
            .catalog
            .version(&req.problem_id, version)
            .await?
            .ok_or_else(not_found)?;
        Ok(Admitted {
            version,
            files: problem.files.clone(),
            worst_case_ms: problem.worst_case_ms,
            run_limits: None,
        })
    }

    /// A run job: no problem, bounded input, limits within the scheduler's maxima.
    async fn run_job(&self, req: &pb::SubmitRequest, owner: &str) -> Result<Admitted, Status> {
        if !req.problem_id.is_empty() {
            return Err(Status::invalid_argument(
                "a run job has no problem: leave problem_id empty",
            ));
        }
        if req.run_all_tests {
            return Err(Status::invalid_argument(
                "run_all_tests is for judge jobs; a run job has no tests",
            ));
        }
        if req.stdin.len() > self.max_stdin_bytes {
            return Err(Status::invalid_argument(format!(
                "stdin is {} bytes; the limit is {} bytes",
                req.stdin.len(),
                self.max_stdin_bytes
            )));
        }
        let limits = self
            .run_maxima
            .resolve(req.limits.as_ref())
            .map_err(|e| Status::invalid_argument(format!("limits: {e}")))?;
        // What one token's run jobs keep in the store (source, input, output) is bounded
        // until the retention period drops it, so one student cannot fill the disk.
        let held = self.store.run_bytes_held(owner).await?;
        let adding = (req.source.len() + req.stdin.len()) as u64;
        if held.saturating_add(adding) > self.max_run_bytes_per_token {
            return Err(Status::resource_exhausted(format!(
                "this token's run jobs hold {} KiB of source, input and output, and this one                  brings {} KiB: the limit is {} KiB (max_run_mib_per_token); it frees as their                  input and output expire (keep_run_io_days)",
                held >> 10,
                adding >> 10,
                self.max_run_bytes_per_token >> 10
            )));
        }
        Ok(Admitted {
            version: 0,
            files: Vec::new().into(),
            worst_case_ms: crate::core::deadline::run_worst_case_ms(&limits),
            run_limits: Some(limits),
        })
    }

    /// The job, if it exists and the caller may see it. Another owner's job is "not found"
    /// too, word for word, so that ids reveal nothing.
    async fn job_record(&self, id: JobId, who: &Caller) -> Result<JobRecord, Status> {
        self.store
            .job(id)
            .await?
            .filter(|r| visible_owner(who).is_none_or(|o| o == r.job.owner))
            .ok_or_else(|| Status::not_found(format!("job {id} not found")))
    }
}

#[tonic::async_trait]
impl JudgeService for JudgeApi {
    async fn submit(
        &self,
        req: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let who = caller(&req)?;
        let mut req = req.into_inner();
        let request_id = request_id(std::mem::take(&mut req.request_id))?;
        if let Some(r) = &request_id {
            // A retry of a submission already stored: the same job.
            if let Some(job_id) = self.store.job_by_request(&who.token_name, r).await? {
                return Ok(Response::new(pb::SubmitResponse { job_id }));
            }
        }
        let kind = if req.job_type.is_empty() {
            JobKind::Judge
        } else {
            req.job_type
                .parse::<JobKind>()
                .map_err(|e| Status::invalid_argument(e.to_string()))?
        };
        if kind == JobKind::Console {
            return Err(Status::invalid_argument(
                "console jobs are live: open them with the Console call, not Submit",
            ));
        }
        self.job_types.check(kind.as_str())?;
        self.languages.check(&req.language)?;
        if req.source.is_empty() {
            return Err(Status::invalid_argument("source is empty"));
        }
        if req.source.len() > self.max_source_bytes {
            return Err(Status::invalid_argument(format!(
                "source is {} bytes; the limit is {} bytes",
                req.source.len(),
                self.max_source_bytes
            )));
        }
        let admitted = match kind {
            JobKind::Run => self.run_job(&req, &who.token_name).await?,
            _ => self.judge_job(&req).await?,
        };
        let job = NewJob {
            kind,
            language: req.language,
            problem_id: req.problem_id,
            problem_version: admitted.version,
            run_all_tests: req.run_all_tests,
            owner: who.token_name,
            request_id,
            run_limits: admitted.run_limits,
        };
        let payload = crate::driver::Payload {
            source: req.source,
            stdin: req.stdin,
            console: None,
        };
        match self
            .driver
            .submit(job, admitted.files, admitted.worst_case_ms, payload, None)
            .await?
        {
            Ok(job_id) => Ok(Response::new(pb::SubmitResponse { job_id })),
            Err(e) => Err(submit_error(e)),
        }
    }

    type ConsoleStream = super::ConsoleStream;

    async fn console(
        &self,
        req: Request<tonic::Streaming<pb::ConsoleRequest>>,
    ) -> Result<Response<Self::ConsoleStream>, Status> {
        let who = caller(&req)?;
        let stream = self.open_console(who, Box::pin(req.into_inner())).await?;
        Ok(Response::new(stream))
    }

    async fn get_job(&self, req: Request<pb::GetJobRequest>) -> Result<Response<pb::Job>, Status> {
        let who = caller(&req)?;
        let id = job_id(req.into_inner().job_id)?;
        let record = self.job_record(id, &who).await?;
        let queued = record.state == pb::JobState::Queued;
        let tests = self.store.tests(id, record.attempt).await?;
        let groups = self.store.groups(id, record.attempt).await?;
        let is_run = record.job.run_limits.is_some();
        let mut job = to_pb(record, tests, groups);
        if is_run {
            job.run = self.store.run_result(id).await?;
        }
        job.source = self.store.source(id).await?;
        if queued {
            job.waiting = self.driver.waiting(id).await?;
        }
        Ok(Response::new(job))
    }

    type WatchJobStream = ReceiverStream<Result<pb::JobEvent, Status>>;

    async fn watch_job(
        &self,
        req: Request<pb::WatchJobRequest>,
    ) -> Result<Response<Self::WatchJobStream>, Status> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let id = job_id(req.job_id)?;
        // Checked before anything is kept for the watch: a missing job costs nothing.
        let ended = self.job_record(id, &who).await?.has_ended();
        let slot = self.watchers.take(&who.token_id)?;
        let (tx, rx) = mpsc::channel(64);
        let revoked = self.tokens.revoked(&who.token_id);
        let watch = follow(
            self.store.clone(),
            self.hub.clone(),
            id,
            req.after_seq,
            ended,
            tx.clone(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = watch => {}
                _ = revoked => {
                    let _ = tx.send(Err(Status::unauthenticated("the token was revoked"))).await;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn cancel_job(
        &self,
        req: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let who = caller(&req)?;
        let id = job_id(req.into_inner().job_id)?;
        self.job_record(id, &who).await?;
        match self.driver.cancel(id).await? {
            Ok(state) => Ok(Response::new(pb::CancelJobResponse {
                state: state as i32,
            })),
            Err(e @ CancelError::AlreadyFinished(_)) => {
                Err(Status::failed_precondition(e.to_string()))
            }
        }
    }

    async fn list_jobs(
        &self,
        req: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let limit = req.limit;
        if limit == 0 || limit > 1000 {
            return Err(Status::invalid_argument(format!(
                "limit must be 1 to 1000, got {limit}"
            )));
        }
        let state = match req.state.map(pb::JobState::try_from) {
            Some(Ok(pb::JobState::Unspecified) | Err(_)) => {
                return Err(Status::invalid_argument(format!(
                    "state {:?} is not a job state",
                    req.state
                )))
            }
            Some(Ok(s)) => Some(s),
            None => None,
        };
        // A submitter sees only their own jobs, whatever owner it asks for.
        let owner = match visible_owner(&who) {
            Some(own) => Some(own.to_string()),
            None => req.owner,
        };
        let filter = crate::store::JobFilter {
            owner,
            state,
            problem_id: req.problem_id,
            before: req.before_job_id,
        };
        let records = self.store.recent_jobs(limit, &filter).await?;
        let queued: Vec<JobId> = records
            .iter()
            .filter(|r| r.state == pb::JobState::Queued)
            .map(|r| r.job_id)
            .collect();
        let mut waiting: std::collections::HashMap<JobId, String> = if queued.is_empty() {
            Default::default()
        } else {
            let why = self.driver.waiting_all(queued.clone()).await?;
            queued
                .into_iter()
                .zip(why)
                .filter_map(|(id, w)| Some((id, w?)))
                .collect()
        };
        let jobs = records
            .into_iter()
            .map(|r| {
                let why = waiting.remove(&r.job_id);
                let mut job = to_pb(r, Vec::new(), Vec::new());
                job.waiting = why;
                job
            })
            .collect();
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    async fn list_workers(
        &self,
        _req: Request<pb::ListWorkersRequest>,
    ) -> Result<Response<pb::ListWorkersResponse>, Status> {
        let snaps = self.driver.list_workers().await?;
        let workers = snaps
            .into_iter()
            .map(|w| pb::WorkerInfo {
                name: w.name,
                connected: w.connected,
                slots: w.slots,
                running: w.running,
                job_types: w.job_types,
                languages: w.languages,
                cpu_percent: w.usage.cpu_percent,
                memory_free_bytes: w.usage.memory_free_bytes,
                disk_free_bytes: w.usage.disk_free_bytes,
                draining: w.draining,
                cached_bytes: w.cache.cached_bytes,
                cache_size_bytes: w.cache.cache_size_bytes,
                fetched_bytes: w.cache.fetched_bytes,
                cache_hits: w.cache.hits,
                cache_misses: w.cache.misses,
                evictions: w.cache.evictions,
            })
            .collect();
        Ok(Response::new(pb::ListWorkersResponse { workers }))
    }

    async fn list_problems(
        &self,
        _req: Request<pb::ListProblemsRequest>,
    ) -> Result<Response<pb::ListProblemsResponse>, Status> {
        let problems = self
            .store
            .problems()
            .await?
            .into_iter()
            .map(|p| pb::ProblemInfo {
                id: p.id,
                version: p.version,
                name: p.name,
                test_count: p.test_count,
                time_limit_ms: p.time_limit_ms,
                total_bytes: p.total_bytes,
                kind: p.kind,
            })
            .collect();
        Ok(Response::new(pb::ListProblemsResponse { problems }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str, index: u32) -> pb::GroupResult {
        pb::GroupResult {
            name: name.into(),
            index,
            verdict: pb::Verdict::Ac as i32,
            score: 1.0,
            groups: Vec::new(),
        }
    }

    #[test]
    fn group_results_nest_as_their_folders() {
        let flat = vec![
            group("sample", 0),
            group("secret/g1", 1),
            group("secret/g2/deep", 2),
            group("secret/g2", 3),
            group("secret", 4),
        ];
        let nested = nest_groups(flat);
        let names = |v: &[pb::GroupResult]| v.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&nested), ["sample", "secret"]);
        assert_eq!(names(&nested[1].groups), ["secret/g1", "secret/g2"]);
        assert_eq!(names(&nested[1].groups[1].groups), ["secret/g2/deep"]);
    }
}
