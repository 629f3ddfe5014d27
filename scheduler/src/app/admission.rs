//! Admission: whether a new job may be taken, and what it is once taken. Every rule that
//! turns a request away before the core sees it lives here; the core's own (queue bounds,
//! a worker for a console) answer through the driver.

use judge_common::job_kind::JobKind;
use judge_common::pb;

use super::{check_ident, App, AppError};
use std::sync::Arc;

use crate::core::{JobId, JobSpec};
use crate::live::catalog::ProblemVersion;
use crate::live::tokens::Caller;
use judge_common::priority::Priority;

/// A request id: optional, 1 to 64 printable ASCII characters.
pub fn request_id(id: String) -> Result<Option<String>, AppError> {
    if id.is_empty() {
        return Ok(None);
    }
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::invalid(
            "request_id must be 1 to 64 printable ASCII characters without spaces",
        ));
    }
    Ok(Some(id))
}

/// A supersede key: optional, 1 to 64 printable ASCII characters.
pub fn supersede_key(key: String) -> Result<Option<String>, AppError> {
    if key.is_empty() {
        return Ok(None);
    }
    if key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AppError::Invalid(format!(
            "supersede_key must be 1 to 64 printable ASCII characters without spaces \
             (got {} bytes)",
            key.len()
        )));
    }
    Ok(Some(key))
}

/// The class a submission asks for, if its token may use it; when it names none, normal
/// (or the token's highest, when that is lower).
pub fn priority(asked: &str, who: &Caller) -> Result<Priority, AppError> {
    let p = if asked.is_empty() {
        Priority::Normal.max(who.max_priority)
    } else {
        asked
            .parse::<Priority>()
            .map_err(|e| AppError::Invalid(e.to_string()))?
    };
    if p.rank() < who.max_priority.rank() {
        return Err(AppError::Forbidden(format!(
            "priority {p} is above this token's highest, {}; an admin grants more with \
             `judge-scheduler token create --max-priority {p}`",
            who.max_priority
        )));
    }
    Ok(p)
}

/// A job id from the outside: 1 to 2^63 - 1.
pub fn job_id(id: u64) -> Result<JobId, AppError> {
    if id == 0 || i64::try_from(id).is_err() {
        return Err(AppError::Invalid(format!(
            "job_id {id} is not a job id (job ids run from 1 to 2^63 - 1)"
        )));
    }
    Ok(id)
}

/// The kind a submission names: a judge job when it names none. Consoles are opened live,
/// never submitted.
pub fn submitted_kind(job_type: &str) -> Result<JobKind, AppError> {
    let kind = if job_type.is_empty() {
        JobKind::Judge
    } else {
        job_type
            .parse::<JobKind>()
            .map_err(|e| AppError::Invalid(e.to_string()))?
    };
    if kind == JobKind::Console {
        return Err(AppError::invalid(
            "console jobs are live: open them with the Console call, not Submit",
        ));
    }
    Ok(kind)
}

impl App {
    /// One submission (or console) of the caller's token within its rate, or how long to
    /// wait for the next.
    pub(super) fn within_rate(&self, who: &Caller) -> Result<(), AppError> {
        self.rate
            .take(&who.token_id, self.driver.now_ms())
            .map_err(|wait_ms| AppError::TooFast {
                message: format!(
                    "this token submits faster than its rate allows (submit_rate, \
                     submit_burst): try again in {:.1} s",
                    wait_ms as f64 / 1000.0
                ),
                retry_after_ms: wait_ms,
            })
    }

    /// Some worker has offered `kind` and `language`, and the source is within bounds.
    pub(super) fn check_offer(
        &self,
        kind: JobKind,
        language: &str,
        source: &[u8],
    ) -> Result<(), AppError> {
        self.job_types.check(kind.as_str())?;
        self.languages.check(language)?;
        let max = self.bounds.max_source_bytes;
        if source.is_empty() {
            return Err(AppError::invalid("source is empty"));
        }
        if source.len() > max {
            return Err(AppError::Invalid(format!(
                "source is {} bytes; the limit is {max} bytes",
                source.len()
            )));
        }
        Ok(())
    }

    /// A judge job: the problem's newest version, looked up once, here: the driver keeps it
    /// for the job's assignments.
    pub(super) async fn judge_job(
        &self,
        problem_id: &str,
        stdin: &[u8],
        limits: Option<&pb::RunLimits>,
        run_all_tests: bool,
    ) -> Result<(JobSpec, Arc<ProblemVersion>), AppError> {
        check_ident("problem id", problem_id)?;
        if !stdin.is_empty() || limits.is_some() {
            return Err(AppError::invalid(
                "stdin and limits are for run jobs; a judge job takes the problem's",
            ));
        }
        let problem = self
            .catalog
            .current(problem_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("problem {problem_id:?} not found")))?;
        let spec = JobSpec::Judge {
            problem: problem_id.to_string(),
            version: problem.version,
            run_all_tests,
        };
        Ok((spec, problem))
    }

    /// A run job: no problem, bounded input, limits within the scheduler's maxima, and the
    /// owner's stored run data within its quota.
    pub(super) async fn run_job(
        &self,
        cmd: &super::SubmitJob,
        owner: &str,
    ) -> Result<JobSpec, AppError> {
        if !cmd.problem.is_empty() {
            return Err(AppError::invalid(
                "a run job has no problem: leave problem_id empty",
            ));
        }
        if cmd.run_all_tests {
            return Err(AppError::invalid(
                "run_all_tests is for judge jobs; a run job has no tests",
            ));
        }
        let b = &self.bounds;
        if cmd.stdin.len() > b.max_stdin_bytes {
            return Err(AppError::Invalid(format!(
                "stdin is {} bytes; the limit is {} bytes",
                cmd.stdin.len(),
                b.max_stdin_bytes
            )));
        }
        let limits = self.limits(cmd.limits.as_ref())?;
        // What one token's run jobs keep in the store (source, input, output) is bounded
        // until the retention period drops it, so one student cannot fill the disk.
        let held = self.store.run_bytes_held(owner).await?;
        let adding = (cmd.source.len() + cmd.stdin.len()) as u64;
        if held.saturating_add(adding) > b.max_run_bytes_per_token {
            return Err(AppError::Exhausted(format!(
                "this token's run jobs hold {} KiB of source, input and output, and this one \
                 brings {} KiB: the limit is {} KiB (max_run_mib_per_token); it frees as their \
                 input and output expire (keep_run_io_days)",
                held >> 10,
                adding >> 10,
                b.max_run_bytes_per_token >> 10
            )));
        }
        Ok(JobSpec::Run { limits })
    }

    /// Limits asked for, every field filled in, within the maxima.
    pub(super) fn limits(&self, asked: Option<&pb::RunLimits>) -> Result<pb::RunLimits, AppError> {
        self.bounds
            .run_maxima
            .resolve(asked)
            .map_err(|e| AppError::Invalid(format!("limits: {e}")))
    }
}
