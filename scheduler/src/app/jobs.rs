//! Jobs: submit one, read one, list them, cancel one. A caller sees only the jobs it
//! submitted (an admin every job); another owner's job is "not found", word for word, so
//! that ids reveal nothing.

use judge_common::job_kind::JobKind;
use judge_common::pb;

use super::admission::{job_id, priority, request_id, submitted_kind, supersede_key};
use super::auth::visible_owner;
use super::{App, AppError};
use crate::core::{CancelError, JobId, NewJob};
use crate::live::tokens::Caller;
use crate::store::JobRecord;

/// A submission, as both edges take it.
#[derive(Debug, Clone, Default)]
pub struct SubmitJob {
    /// Empty for a run job.
    pub problem: String,
    pub language: String,
    pub source: Vec<u8>,
    /// `judge` (also when empty) or `run`.
    pub job_type: String,
    pub run_all_tests: bool,
    /// The submitter's id for this submission, for retries: empty for none.
    pub request_id: String,
    /// A run job's standard input.
    pub stdin: Vec<u8>,
    /// A run job's limits; unset fields take the scheduler's defaults.
    pub limits: Option<pb::RunLimits>,
    /// Replaces the owner's unfinished job with this key: empty for none.
    pub supersede_key: String,
    /// `contest`, `normal` (also when empty) or `bulk`, up to the token's highest.
    pub priority: String,
}

/// Which jobs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct ListJobs {
    /// 1 to 1000.
    pub limit: u32,
    pub state: Option<pb::JobState>,
    pub problem: Option<String>,
    /// Only an admin's filter counts: anyone else sees their own jobs whatever they ask.
    pub owner: Option<String>,
    /// Paging: jobs older than this id.
    pub before: Option<u64>,
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

fn view(r: JobRecord, tests: Vec<pb::TestResult>, groups: Vec<pb::GroupResult>) -> pb::Job {
    let (problem_id, problem_version) = r
        .job
        .spec
        .problem()
        .map(|(p, v)| (p.to_string(), v))
        .unwrap_or_default();
    let job_type = r.job.kind().as_str().to_string();
    pb::Job {
        job_id: r.job_id,
        problem_id,
        problem_version,
        language: r.job.language,
        job_type,
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
        run_limits: r.job.spec.limits().cloned(),
        source: Vec::new(),
        io_expired_at_ms: r.io_expired_at,
        priority: r.job.priority.as_str().to_string(),
        judgings: Vec::new(),
    }
}

impl App {
    /// Takes a job: checked, admitted, stored, queued. A retry of a stored submission (the
    /// same owner and request id) gets the same job.
    pub async fn submit(&self, who: &Caller, cmd: SubmitJob) -> Result<JobId, AppError> {
        let mut cmd = cmd;
        let request_id = request_id(std::mem::take(&mut cmd.request_id))?;
        let supersede_key = supersede_key(std::mem::take(&mut cmd.supersede_key))?;
        let priority = priority(&cmd.priority, who)?;
        if let Some(r) = &request_id {
            if let Some(job_id) = self.store.job_by_request(&who.token_name, r).await? {
                return Ok(job_id);
            }
        }
        let kind = submitted_kind(&cmd.job_type)?;
        self.within_rate(who)?;
        self.check_offer(kind, &cmd.language, &cmd.source)?;
        let (spec, problem) = match kind {
            JobKind::Run => (self.run_job(&cmd, &who.token_name).await?, None),
            _ => {
                let limits = cmd.limits.as_ref();
                let (spec, problem) = self
                    .judge_job(&cmd.problem, &cmd.stdin, limits, cmd.run_all_tests)
                    .await?;
                (spec, Some(problem))
            }
        };
        let job = NewJob {
            spec,
            language: cmd.language,
            owner: who.token_name.clone(),
            request_id,
            supersede_key,
            priority,
        };
        let payload = crate::driver::Payload {
            source: cmd.source,
            stdin: cmd.stdin,
        };
        Ok(self.driver.submit(job, problem, payload, None).await??)
    }

    /// The job, if it exists and the caller may see it.
    pub(super) async fn job_record(&self, id: JobId, who: &Caller) -> Result<JobRecord, AppError> {
        self.store
            .job(id)
            .await?
            .filter(|r| visible_owner(who).is_none_or(|o| o == r.job.owner))
            .ok_or_else(|| AppError::NotFound(format!("job {id} not found")))
    }

    /// One job in full: tests, groups, a run's result, its source, why it waits.
    pub async fn get_job(&self, who: &Caller, id: u64) -> Result<pb::Job, AppError> {
        let id = job_id(id)?;
        let record = self.job_record(id, who).await?;
        let queued = record.state == pb::JobState::Queued;
        let tests = self.store.tests(id, record.attempt).await?;
        let groups = self.store.groups(id, record.attempt).await?;
        let is_run = record.job.spec.limits().is_some();
        let judgings = if is_run {
            Vec::new()
        } else {
            self.judgings(&record, &tests).await?
        };
        let mut job = view(record, tests, groups);
        job.judgings = judgings;
        if is_run {
            job.run = self.store.run_result(id).await?;
        }
        job.source = self.store.source(id).await?;
        if queued {
            job.waiting = self.driver.waiting(id).await?;
        }
        Ok(job)
    }

    /// Every judging of a judge job, oldest first: those kept by rejudges, then the row's
    /// own once it has ended (or while it is being judged again).
    async fn judgings(
        &self,
        record: &JobRecord,
        tests: &[pb::TestResult],
    ) -> Result<Vec<pb::JobJudging>, AppError> {
        let longest = |tests: &[pb::TestResult]| tests.iter().map(|t| t.time_ms).max();
        let mut out = Vec::new();
        for past in self.store.past_judgings(record.job_id).await? {
            let tests = self.store.tests(record.job_id, past.attempt).await?;
            out.push(pb::JobJudging {
                problem_version: past.version,
                state: past.state as i32,
                verdict: past.verdict.unwrap_or(pb::Verdict::Unspecified) as i32,
                score: past.score,
                message: past.message,
                time_ms: longest(&tests).unwrap_or(0),
                tests,
                finished_at_ms: past.finished_at.unwrap_or(0),
                priority: past.priority.as_str().to_string(),
            });
        }
        if record.has_ended() || !out.is_empty() {
            out.push(pb::JobJudging {
                problem_version: record.job.spec.problem().map_or(0, |(_, v)| v),
                state: record.state as i32,
                verdict: record.verdict.unwrap_or(pb::Verdict::Unspecified) as i32,
                score: record.score,
                message: record.message.clone(),
                tests: tests.to_vec(),
                time_ms: longest(tests).unwrap_or(0),
                finished_at_ms: record.finished_at.unwrap_or(0),
                priority: record.job.priority.as_str().to_string(),
            });
        }
        Ok(out)
    }

    /// Cancels a job the caller may see; its state after. A judging an admin asked for
    /// is the admin's to cancel: its submitter cannot stop a rejudge of their own code.
    pub async fn cancel_job(&self, who: &Caller, id: u64) -> Result<pb::JobState, AppError> {
        let id = job_id(id)?;
        let record = self.job_record(id, who).await?;
        let rejudging = !record.has_ended()
            && visible_owner(who).is_some()
            && !self.store.past_judgings(id).await?.is_empty();
        if rejudging {
            return Err(AppError::Forbidden(format!(
                "job {id} is being judged again at an admin's request; only an admin may cancel that"
            )));
        }
        match self.driver.cancel(id).await? {
            Ok(state) => Ok(state),
            Err(e @ CancelError::AlreadyFinished(_)) => Err(AppError::Precondition(e.to_string())),
        }
    }

    /// The newest jobs the caller may see, by the filter; each queued one says why it waits.
    pub async fn list_jobs(&self, who: &Caller, q: ListJobs) -> Result<Vec<pb::Job>, AppError> {
        if q.limit == 0 || q.limit > 1000 {
            return Err(AppError::Invalid(format!(
                "limit must be 1 to 1000, got {}",
                q.limit
            )));
        }
        // A submitter sees only their own jobs, whatever owner it asks for.
        let owner = match visible_owner(who) {
            Some(own) => Some(own.to_string()),
            None => q.owner,
        };
        let filter = crate::store::JobFilter {
            owner,
            state: q.state,
            problem_id: q.problem,
            before: q.before,
        };
        let records = self.store.recent_jobs(q.limit, &filter).await?;
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
        Ok(records
            .into_iter()
            .map(|r| {
                let why = waiting.remove(&r.job_id);
                let mut job = view(r, Vec::new(), Vec::new());
                job.waiting = why;
                job
            })
            .collect())
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
