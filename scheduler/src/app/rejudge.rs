//! Judging finished submissions again: after a teacher fixes a test file and pushes a new
//! version, the submissions already judged get verdicts on it. Each job keeps its id; its
//! earlier judgings stay readable; the newest is its verdict.
//!
//! Admins only (problems are theirs). The jobs queue at `bulk` unless asked otherwise, so a
//! rejudge of a whole class never holds up live submissions beyond aging's bound. It is
//! durable as any submission: the jobs are queued in one transaction, and a restart
//! finishes them.

use judge_common::pb;

use super::admission::{job_id, priority};
use super::{check_ident, App, AppError};
use crate::core::deadline::attempt_worst_case_ms;
use crate::core::{JobId, JobSpec, Priority, RejudgeError, RejudgeJob};
use crate::live::tokens::Caller;
use crate::store::{RejudgeFilter, Role};

/// Most jobs one rejudge may queue (narrow it by verdict, time or ids beyond this).
pub const MAX_REJUDGE: usize = 10_000;

/// Which finished jobs of a problem to judge again, as both edges take it.
#[derive(Debug, Clone, Default)]
pub struct Rejudge {
    pub problem: String,
    /// Only jobs whose verdict is one of these (empty: any).
    pub verdicts: Vec<pb::Verdict>,
    /// Only jobs submitted at or after this time, ms since the epoch.
    pub since: Option<i64>,
    /// Only these jobs (empty: every finished job of the problem the filters pass).
    pub jobs: Vec<u64>,
    /// `contest`, `normal` or `bulk` (also when empty).
    pub priority: String,
}

/// What a rejudge queued: the version judged on and each job with its verdict before.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejudged {
    pub version: u32,
    pub jobs: Vec<pb::RejudgedJob>,
}

impl From<RejudgeError> for AppError {
    fn from(e: RejudgeError) -> Self {
        match e {
            RejudgeError::Unfinished(_) => AppError::Precondition(e.to_string()),
            RejudgeError::QueueFull { .. } => AppError::Exhausted(e.to_string()),
        }
    }
}

impl App {
    /// Queues the chosen finished jobs of `cmd.problem` to be judged on its current version.
    pub async fn rejudge(&self, who: &Caller, cmd: Rejudge) -> Result<Rejudged, AppError> {
        if who.role != Role::Admin {
            return Err(AppError::Forbidden(
                "rejudging is for admins: the problems and their verdicts are theirs".into(),
            ));
        }
        check_ident("problem id", &cmd.problem)?;
        let class = if cmd.priority.is_empty() {
            Priority::Bulk
        } else {
            priority(&cmd.priority, who)?
        };
        if cmd.verdicts.contains(&pb::Verdict::Unspecified) {
            return Err(AppError::invalid(
                "verdicts: VERDICT_UNSPECIFIED is no verdict; name AC, WA, TLE, MLE, OLE, RTE, CE or JE",
            ));
        }
        if cmd.jobs.len() > MAX_REJUDGE {
            return Err(AppError::Invalid(format!(
                "job_ids: {} jobs named, at most {MAX_REJUDGE} a rejudge",
                cmd.jobs.len()
            )));
        }
        let named = cmd
            .jobs
            .iter()
            .map(|&id| job_id(id))
            .collect::<Result<Vec<JobId>, _>>()?;
        let problem =
            self.catalog.current(&cmd.problem).await?.ok_or_else(|| {
                AppError::NotFound(format!("problem {:?} not found", cmd.problem))
            })?;
        // One rejudge at a time: each reads the jobs' last events after the one before has
        // stored its own, so no two can number an event alike.
        let _one = self.rejudging.lock().await;
        let filter = RejudgeFilter {
            problem: cmd.problem.clone(),
            since: cmd.since,
            jobs: named.clone(),
            verdicts: cmd.verdicts.clone(),
        };
        let found = self
            .store
            .rejudge_candidates(&filter, MAX_REJUDGE as u32 + 1)
            .await?;
        if found.len() > MAX_REJUDGE {
            return Err(AppError::Invalid(format!(
                "more than {MAX_REJUDGE} jobs match; narrow the rejudge by verdict, time or ids"
            )));
        }
        let picked: std::collections::HashSet<JobId> =
            found.iter().map(|(r, _)| r.job_id).collect();
        if let Some(&missing) = named.iter().find(|id| !picked.contains(id)) {
            return Err(self
                .why_not_rejudged(missing, &cmd.problem, &cmd.verdicts)
                .await);
        }
        let mut jobs = Vec::new();
        let mut view = Vec::new();
        for (record, last_seq) in found {
            let verdict = record.verdict.unwrap_or(pb::Verdict::Unspecified);
            let JobSpec::Judge { run_all_tests, .. } = record.job.spec else {
                continue;
            };
            let spec = JobSpec::Judge {
                problem: cmd.problem.clone(),
                version: problem.version,
                run_all_tests,
            };
            let worst_case_ms = attempt_worst_case_ms(&spec, problem.worst_case_ms);
            view.push(pb::RejudgedJob {
                job_id: record.job_id,
                previous_verdict: verdict as i32,
                previous_score: record.score,
                owner: record.job.owner.clone(),
            });
            let mut job = record.job;
            job.spec = spec;
            job.priority = class;
            jobs.push(RejudgeJob {
                job_id: record.job_id,
                job,
                attempt: record.attempt,
                ended: (record.state, record.verdict),
                last_seq,
                files: problem.files.clone(),
                worst_case_ms,
            });
        }
        if !jobs.is_empty() {
            self.driver.rejudge(jobs, problem.clone()).await??;
            tracing::info!(problem = %cmd.problem, version = problem.version, jobs = view.len(), by = %who.token_name, "rejudge queued");
        }
        Ok(Rejudged {
            version: problem.version,
            jobs: view,
        })
    }

    /// Why a job named in a rejudge was not among the finished jobs of its problem.
    async fn why_not_rejudged(
        &self,
        id: JobId,
        problem: &str,
        verdicts: &[pb::Verdict],
    ) -> AppError {
        let record = match self.store.job(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return AppError::NotFound(format!("job {id} not found")),
            Err(e) => return e.into(),
        };
        if record.job.spec.problem().map(|(p, _)| p) != Some(problem) {
            return AppError::Invalid(format!(
                "job {id} is not a submission to problem {problem:?}"
            ));
        }
        match record.state {
            pb::JobState::Cancelled => AppError::Precondition(format!(
                "job {id} was cancelled before it was judged; submit it again instead"
            )),
            pb::JobState::Done | pb::JobState::Failed => {
                let verdict = record.verdict.unwrap_or(pb::Verdict::Unspecified);
                if !verdicts.is_empty() && !verdicts.contains(&verdict) {
                    AppError::Invalid(format!(
                        "job {id}'s verdict, {}, is not among the rejudge's verdicts",
                        verdict.as_str_name()
                    ))
                } else {
                    AppError::Invalid(format!(
                        "job {id} was submitted before the rejudge's `since` time"
                    ))
                }
            }
            state => AppError::Precondition(format!(
                "job {id} is still {}; only finished jobs are judged again",
                judge_common::json::state_name(state as i32)
            )),
        }
    }
}
