//! Rejudges: which finished jobs an admin's filter picks, how a job's judging so far is kept
//! apart when it is judged again, and every judging of a job read back.
//!
//! The job's row always holds its newest judging; each earlier one is a `judgings` row that
//! names the attempt whose tests and groups it was (results are kept per attempt, so a new
//! judging's results never mix with an old one's).

use judge_common::pb;

use super::jobs::{job_from_row, parse_state, parse_verdict, JOB_COLUMNS};
use super::{col, JobRecord, Result, Store};
use crate::core::{Attempt, JobId, Priority};

/// What a rejudge may pick from: the finished judge jobs of one problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejudgeFilter {
    pub problem: String,
    /// Only jobs submitted at or after this time.
    pub since: Option<i64>,
    /// Only these jobs (empty: any).
    pub jobs: Vec<JobId>,
    /// Only jobs whose verdict is one of these (empty: any).
    pub verdicts: Vec<pb::Verdict>,
}

/// A judging the job's row no longer holds, as kept when the job was judged again.
#[derive(Debug, Clone, PartialEq)]
pub struct PastJudging {
    pub version: u32,
    pub state: pb::JobState,
    pub verdict: Option<pb::Verdict>,
    pub message: String,
    pub score: Option<f64>,
    /// The attempt whose tests it was.
    pub attempt: Attempt,
    pub priority: Priority,
    pub finished_at: Option<i64>,
}

impl Store {
    /// Finished or failed judge jobs of the filter's problem that pass its filters, oldest
    /// first, at most `limit`.
    pub async fn rejudge_candidates(
        &self,
        filter: &RejudgeFilter,
        limit: u32,
    ) -> Result<Vec<(JobRecord, u64)>> {
        let mut sql = format!(
            "SELECT {JOB_COLUMNS}, \
               (SELECT COALESCE(MAX(seq), 0) FROM job_events e WHERE e.job_id = jobs.id) AS last_seq \
             FROM jobs WHERE job_type = 'judge' AND problem_id = $1 \
             AND state IN ('done', 'failed') AND submitted_at >= $2"
        );
        // Parameters after the first three: the jobs, then the verdicts.
        let list = |from: usize, n: usize| {
            (from..from + n)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !filter.jobs.is_empty() {
            let ids = list(4, filter.jobs.len());
            sql.push_str(&format!(" AND id IN ({ids})"));
        }
        if !filter.verdicts.is_empty() {
            let verdicts = list(4 + filter.jobs.len(), filter.verdicts.len());
            sql.push_str(&format!(" AND verdict IN ({verdicts})"));
        }
        sql.push_str(" ORDER BY id LIMIT $3");
        let mut q = sqlx::query(&sql)
            .bind(filter.problem.clone())
            .bind(filter.since.unwrap_or(i64::MIN))
            .bind(i64::from(limit));
        for id in &filter.jobs {
            q = q.bind(i64::try_from(*id).unwrap_or(i64::MAX));
        }
        for v in &filter.verdicts {
            q = q.bind(v.as_str_name());
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    job_from_row(r)?,
                    col::<i64>(r, "jobs", "last_seq")?.max(0) as u64,
                ))
            })
            .collect()
    }

    /// The job's judgings before its newest, oldest first.
    pub async fn past_judgings(&self, id: JobId) -> Result<Vec<PastJudging>> {
        let rows = sqlx::query(
            "SELECT problem_version, state, verdict, message, score, attempt, priority, \
             finished_at FROM judgings WHERE job_id = $1 ORDER BY n",
        )
        .bind(i64::try_from(id).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let t = "judgings";
        rows.iter()
            .map(|r| {
                let verdict: Option<String> = col(r, t, "verdict")?;
                Ok(PastJudging {
                    version: u32::try_from(col::<i64>(r, t, "problem_version")?).unwrap_or(0),
                    state: parse_state(&col::<String>(r, t, "state")?)?,
                    verdict: verdict.as_deref().map(parse_verdict).transpose()?,
                    message: col(r, t, "message")?,
                    score: col(r, t, "score")?,
                    attempt: u32::try_from(col::<i64>(r, t, "attempt")?).unwrap_or(0),
                    priority: col::<String>(r, t, "priority")?
                        .parse()
                        .unwrap_or(Priority::Normal),
                    finished_at: col(r, t, "finished_at")?,
                })
            })
            .collect()
    }
}

/// Writes one `Rejudged` change inside a batch's transaction: the row's judging is kept
/// as the job's next `judgings` row, then the row waits in the queue for the new one.
/// Fenced like every transition: only a job that has ended is judged again. Returns the
/// rows changed (1, or 0 if the fence held).
pub(super) async fn write_rejudged(
    tx: &mut super::write::WriteTx,
    job_id: JobId,
    version: u32,
    priority: Priority,
    base: Attempt,
) -> Result<u64> {
    let id = i64::try_from(job_id).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO judgings (job_id, n, problem_version, state, verdict, message, score, \
           attempt, priority, finished_at) \
         SELECT id, (SELECT COUNT(*) + 1 FROM judgings j WHERE j.job_id = jobs.id), \
           problem_version, state, verdict, message, score, attempt, priority, finished_at \
         FROM jobs WHERE id = $1 AND state IN ('done', 'failed')",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let changed = sqlx::query(
        "UPDATE jobs SET state = 'queued', verdict = NULL, message = '', score = NULL, \
           finished_at = NULL, worker = NULL, problem_version = $2, priority = $3, \
           judging_base = $4 \
         WHERE id = $1 AND attempt = $4 AND state IN ('done', 'failed')",
    )
    .bind(id)
    .bind(i64::from(version))
    .bind(priority.as_str())
    .bind(i64::from(base))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed)
}
