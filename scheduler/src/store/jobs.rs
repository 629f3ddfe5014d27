//! Jobs, their per-attempt test results and their event logs.
//!
//! Every transition is fenced: it changes a job only if the job is still on the attempt the
//! core meant (`WHERE attempt = $n AND state IN (...)`), so a result can never land twice or on
//! the wrong attempt, whatever the core's memory says.

use std::collections::HashMap;

use judge_common::pb;
use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{col, Result, Store, StoreError};
use crate::core::{JobId, NewJob, Persist, RecoveredJob, RequestId};

/// A job as the API shows it.
#[derive(Debug, Clone)]
pub struct JobRecord {
    pub job_id: JobId,
    pub job: NewJob,
    pub state: pb::JobState,
    pub verdict: Option<pb::Verdict>,
    pub message: String,
    pub attempt: u32,
    pub worker: Option<String>,
    pub submitted_at: i64,
    pub finished_at: Option<i64>,
}

/// A test result of the job's current attempt.
pub type StoredTest = pb::TestResult;

pub(crate) fn state_str(s: pb::JobState) -> &'static str {
    match s {
        pb::JobState::Queued => "queued",
        pb::JobState::Assigned => "assigned",
        pb::JobState::Running => "running",
        pb::JobState::Done => "done",
        pb::JobState::Cancelled => "cancelled",
        pb::JobState::Failed => "failed",
        pb::JobState::Unspecified => "unspecified",
    }
}

fn parse_state(s: &str) -> Result<pb::JobState> {
    Ok(match s {
        "queued" => pb::JobState::Queued,
        "assigned" => pb::JobState::Assigned,
        "running" => pb::JobState::Running,
        "done" => pb::JobState::Done,
        "cancelled" => pb::JobState::Cancelled,
        "failed" => pb::JobState::Failed,
        other => {
            return Err(StoreError::Corrupt {
                table: "jobs",
                detail: format!("state {other:?}"),
            })
        }
    })
}

fn parse_verdict(s: &str) -> Result<pb::Verdict> {
    pb::Verdict::from_str_name(s).ok_or_else(|| StoreError::Corrupt {
        table: "jobs",
        detail: format!("verdict {s:?}"),
    })
}

const JOB_COLUMNS: &str = "id, job_type, language, problem_id, problem_version, run_all_tests, \
     state, verdict, message, attempt, worker, submitted_at, finished_at";

fn job_from_row(r: &AnyRow) -> Result<JobRecord> {
    let t = "jobs";
    let verdict: Option<String> = col(r, t, "verdict")?;
    Ok(JobRecord {
        job_id: col::<i64>(r, t, "id")? as JobId,
        job: NewJob {
            job_type: col(r, t, "job_type")?,
            language: col(r, t, "language")?,
            problem_id: col(r, t, "problem_id")?,
            problem_version: col::<i64>(r, t, "problem_version")? as u32,
            run_all_tests: col::<i64>(r, t, "run_all_tests")? != 0,
        },
        state: parse_state(&col::<String>(r, t, "state")?)?,
        verdict: verdict.as_deref().map(parse_verdict).transpose()?,
        message: col(r, t, "message")?,
        attempt: col::<i64>(r, t, "attempt")? as u32,
        worker: col(r, t, "worker")?,
        submitted_at: col(r, t, "submitted_at")?,
        finished_at: col(r, t, "finished_at")?,
    })
}

/// What a worker needs besides the problem: the submission itself.
#[derive(Debug, Clone)]
pub struct AssignPayload {
    pub job: NewJob,
    pub source: Vec<u8>,
}

impl Store {
    /// Writes one batch of the core's changes in a single transaction.
    /// `sources` holds the submitted source of each `InsertJob`, by request.
    pub async fn persist(
        &self,
        changes: &[&Persist],
        sources: &HashMap<RequestId, Vec<u8>>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for change in changes {
            if !apply_one(&mut tx, change, sources).await? {
                // The core and the store disagree: with one scheduler per store this is a
                // bug; with several it is another scheduler's win. Either way the store rules.
                tracing::warn!(?change, "fenced transition changed nothing");
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id as i64)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The newest `limit` jobs, newest first.
    pub async fn recent_jobs(&self, limit: u32) -> Result<Vec<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1");
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Test results of the given attempt, in order.
    pub async fn tests(&self, id: JobId, attempt: u32) -> Result<Vec<StoredTest>> {
        let rows = sqlx::query(
            "SELECT idx, name, verdict, time_ms, wall_ms, memory_kb, exit_code, signal, message \
             FROM job_tests WHERE job_id = $1 AND attempt = $2 ORDER BY idx",
        )
        .bind(id as i64)
        .bind(i64::from(attempt))
        .fetch_all(self.pool())
        .await?;
        let t = "job_tests";
        rows.iter()
            .map(|r| {
                Ok(pb::TestResult {
                    index: col::<i64>(r, t, "idx")? as u32,
                    name: col(r, t, "name")?,
                    verdict: parse_verdict(&col::<String>(r, t, "verdict")?)? as i32,
                    time_ms: col::<i64>(r, t, "time_ms")? as u32,
                    wall_ms: col::<i64>(r, t, "wall_ms")? as u32,
                    memory_kb: col::<i64>(r, t, "memory_kb")? as u64,
                    exit_code: col::<i64>(r, t, "exit_code")? as i32,
                    signal: col::<i64>(r, t, "signal")? as i32,
                    message: col(r, t, "message")?,
                })
            })
            .collect()
    }

    /// The job's events with `seq > after`, in order.
    pub async fn events_after(&self, id: JobId, after: u64) -> Result<Vec<pb::JobEvent>> {
        let rows = sqlx::query(
            "SELECT payload FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id as i64)
        .bind(after as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = col(r, "job_events", "payload")?;
                pb::JobEvent::decode(bytes.as_slice()).map_err(|e| StoreError::Corrupt {
                    table: "job_events",
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Highest job id ever used (0 for an empty store).
    pub async fn max_job_id(&self) -> Result<JobId> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM jobs")
            .fetch_one(self.pool())
            .await?;
        Ok(col::<i64>(&row, "jobs", "m")? as JobId)
    }

    /// Every job that had not finished, with what the core needs to pick it up again.
    pub async fn unfinished(&self) -> Result<Vec<RecoveredJob>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, \
               (SELECT COALESCE(MAX(seq), 0) FROM job_events e WHERE e.job_id = jobs.id) AS last_seq, \
               (SELECT COUNT(*) FROM job_tests t WHERE t.job_id = jobs.id AND t.attempt = jobs.attempt) AS tests_done \
             FROM jobs WHERE state IN ('queued', 'assigned', 'running') ORDER BY id"
        );
        let rows = sqlx::query(&sql).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                let rec = job_from_row(r)?;
                Ok(RecoveredJob {
                    job_id: rec.job_id,
                    job: rec.job,
                    state: rec.state,
                    attempt: rec.attempt,
                    worker: rec.worker,
                    last_seq: col::<i64>(r, "jobs", "last_seq")? as u64,
                    tests_done: col::<i64>(r, "jobs", "tests_done")? as u32,
                })
            })
            .collect()
    }

    /// Sources and settings of the given jobs, for `Assign` commands.
    pub async fn assign_payloads(&self, ids: &[JobId]) -> Result<HashMap<JobId, AssignPayload>> {
        let mut out = HashMap::with_capacity(ids.len());
        // One query per id keeps the SQL portable; ids come in small batches.
        for &id in ids {
            let row = sqlx::query(
                "SELECT job_type, language, problem_id, problem_version, run_all_tests, source \
                 FROM jobs WHERE id = $1",
            )
            .bind(id as i64)
            .fetch_optional(self.pool())
            .await?;
            let Some(r) = row else { continue };
            let t = "jobs";
            out.insert(
                id,
                AssignPayload {
                    job: NewJob {
                        job_type: col(&r, t, "job_type")?,
                        language: col(&r, t, "language")?,
                        problem_id: col(&r, t, "problem_id")?,
                        problem_version: col::<i64>(&r, t, "problem_version")? as u32,
                        run_all_tests: col::<i64>(&r, t, "run_all_tests")? != 0,
                    },
                    source: col(&r, t, "source")?,
                },
            );
        }
        Ok(out)
    }
}

/// Applies one change; `false` when a fence stopped it.
async fn apply_one(
    tx: &mut Transaction<'static, Any>,
    change: &Persist,
    sources: &HashMap<RequestId, Vec<u8>>,
) -> Result<bool> {
    let res = match change {
        Persist::InsertJob { job_id, req, job, at } => {
            let source = sources.get(req).map(Vec::as_slice).unwrap_or_default();
            sqlx::query(
                "INSERT INTO jobs (id, job_type, language, problem_id, problem_version, \
                 run_all_tests, source, state, submitted_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8)",
            )
            .bind(*job_id as i64)
            .bind(&job.job_type)
            .bind(&job.language)
            .bind(&job.problem_id)
            .bind(i64::from(job.problem_version))
            .bind(i64::from(job.run_all_tests))
            .bind(source.to_vec())
            .bind(*at)
            .execute(&mut **tx)
            .await?
        }
        Persist::Assigned { job_id, attempt, worker } => {
            sqlx::query(
                "UPDATE jobs SET state = 'assigned', attempt = $1, worker = $2 \
                 WHERE id = $3 AND attempt = $4 AND state = 'queued'",
            )
            .bind(i64::from(*attempt))
            .bind(worker)
            .bind(*job_id as i64)
            .bind(i64::from(*attempt) - 1)
            .execute(&mut **tx)
            .await?
        }
        Persist::Started { job_id, attempt } => {
            sqlx::query(
                "UPDATE jobs SET state = 'running' WHERE id = $1 AND attempt = $2 AND state = 'assigned'",
            )
            .bind(*job_id as i64)
            .bind(i64::from(*attempt))
            .execute(&mut **tx)
            .await?
        }
        Persist::Test { job_id, attempt, result } => {
            let verdict = pb::Verdict::try_from(result.verdict).unwrap_or(pb::Verdict::Je);
            sqlx::query(
                "INSERT INTO job_tests (job_id, attempt, idx, name, verdict, time_ms, wall_ms, \
                 memory_kb, exit_code, signal, message) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
                 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND attempt = $2 AND state = 'running')",
            )
            .bind(*job_id as i64)
            .bind(i64::from(*attempt))
            .bind(i64::from(result.index))
            .bind(&result.name)
            .bind(verdict.as_str_name())
            .bind(i64::from(result.time_ms))
            .bind(i64::from(result.wall_ms))
            .bind(result.memory_kb as i64)
            .bind(i64::from(result.exit_code))
            .bind(i64::from(result.signal))
            .bind(&result.message)
            .execute(&mut **tx)
            .await?
        }
        Persist::Requeued { job_id, attempt } => {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', worker = NULL \
                 WHERE id = $1 AND attempt = $2 AND state IN ('assigned', 'running')",
            )
            .bind(*job_id as i64)
            .bind(i64::from(*attempt))
            .execute(&mut **tx)
            .await?
        }
        Persist::Finished { job_id, attempt, state, verdict, message, at } => {
            sqlx::query(
                "UPDATE jobs SET state = $1, verdict = $2, message = $3, finished_at = $4 \
                 WHERE id = $5 AND attempt = $6 AND state IN ('queued', 'assigned', 'running')",
            )
            .bind(state_str(*state))
            .bind(verdict.map(|v| v.as_str_name()))
            .bind(message)
            .bind(*at)
            .bind(*job_id as i64)
            .bind(i64::from(*attempt))
            .execute(&mut **tx)
            .await?
        }
        Persist::Event(ev) => {
            sqlx::query("INSERT INTO job_events (job_id, seq, payload) VALUES ($1, $2, $3)")
                .bind(ev.job_id as i64)
                .bind(ev.seq as i64)
                .bind(ev.encode_to_vec())
                .execute(&mut **tx)
                .await?
        }
    };
    Ok(res.rows_affected() == 1)
}
