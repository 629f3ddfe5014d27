//! Jobs, their per-attempt test results and their event logs.
//!
//! Every transition is fenced: it changes a job only if the job is still on the attempt the
//! core meant (`WHERE attempt = $n AND state IN (...)`), so a result can never land twice or on
//! the wrong attempt, whatever the core's memory says.

use std::collections::HashMap;

use judge_common::pb;
use prost::Message;
use sqlx::any::AnyRow;

use super::{col, Result, Store, StoreError};
use crate::core::{JobId, JobSpec, NewJob, RecoveredJob};
use judge_common::job_kind::JobKind;

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
    /// Scoring problems: the submission's score, once judged.
    pub score: Option<f64>,
    /// A run job: when its input and output were dropped (past the retention period).
    pub io_expired_at: Option<i64>,
    /// Attempts made before its newest judging: more than 0 once an admin had it judged
    /// again.
    pub judging_base: u32,
}

impl JobRecord {
    /// Whether the job is over (done, cancelled or failed): nothing more will happen to it.
    pub fn has_ended(&self) -> bool {
        use pb::JobState as S;
        matches!(self.state, S::Done | S::Cancelled | S::Failed)
    }
}

/// Which jobs a listing shows; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    pub owner: Option<String>,
    pub state: Option<pb::JobState>,
    pub problem_id: Option<String>,
    /// Only jobs with a smaller id (the previous page's last).
    pub before: Option<JobId>,
}

/// A test result of the job's current attempt.
pub type StoredTest = pb::TestResult;

/// A state as the store writes it.
pub fn state_str(s: pb::JobState) -> &'static str {
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

pub(super) fn parse_state(s: &str) -> Result<pb::JobState> {
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

pub(super) fn parse_verdict(s: &str) -> Result<pb::Verdict> {
    pb::Verdict::from_str_name(s).ok_or_else(|| StoreError::Corrupt {
        table: "jobs",
        detail: format!("verdict {s:?}"),
    })
}

pub(super) const JOB_COLUMNS: &str = "id, job_type, language, problem_id, problem_version, run_all_tests, \
     state, verdict, message, attempt, worker, submitted_at, finished_at, owner, request_id, score, \
     run_limits, console, io_expired_at, supersede_key, priority, judging_base";

/// What a submission brings besides its settings: kept beside the job, never in the core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Payload {
    pub source: Vec<u8>,
    /// A `run` job's standard input (empty for a judge job).
    pub stdin: Vec<u8>,
}

/// A stored protobuf column, decoded.
pub(super) fn decoded<M: Message + Default>(
    bytes: Option<Vec<u8>>,
    detail: &str,
) -> Result<Option<M>> {
    bytes
        .map(|b| {
            M::decode(b.as_slice()).map_err(|e| StoreError::Corrupt {
                table: "jobs",
                detail: format!("{detail}: {e}"),
            })
        })
        .transpose()
}

/// A row without what its kind needs (written by no version of this scheduler).
fn lacks(what: &str) -> StoreError {
    StoreError::Corrupt {
        table: "jobs",
        detail: format!("a job row without its {what}"),
    }
}

/// What the job is, from its kind's columns: a run's limits, a console's terminal.
fn job_spec(r: &AnyRow) -> Result<JobSpec> {
    let t = "jobs";
    let kind: JobKind = col::<String>(r, t, "job_type")?.parse().map_err(
        |e: judge_common::job_kind::UnknownKind| StoreError::Corrupt {
            table: "jobs",
            detail: e.to_string(),
        },
    )?;
    Ok(match kind {
        JobKind::Judge => JobSpec::Judge {
            problem: col(r, t, "problem_id")?,
            version: u32::try_from(col::<i64>(r, t, "problem_version")?)
                .map_err(|_| lacks("problem version (out of range)"))?,
            run_all_tests: col::<i64>(r, t, "run_all_tests")? != 0,
        },
        JobKind::Run => JobSpec::Run {
            limits: decoded(col(r, t, "run_limits")?, "run_limits")?
                .ok_or_else(|| lacks("run limits"))?,
        },
        JobKind::Console => JobSpec::Console {
            spec: decoded(col(r, t, "console")?, "console")?.ok_or_else(|| lacks("terminal"))?,
        },
    })
}

/// The settings of a job row (the columns every job query selects).
fn new_job(r: &AnyRow) -> Result<NewJob> {
    let t = "jobs";
    Ok(NewJob {
        spec: job_spec(r)?,
        language: col(r, t, "language")?,
        owner: col(r, t, "owner")?,
        request_id: col(r, t, "request_id")?,
        supersede_key: col(r, t, "supersede_key")?,
        priority: col::<String>(r, t, "priority")?.parse().map_err(
            |e: judge_common::priority::UnknownPriority| StoreError::Corrupt {
                table: "jobs",
                detail: e.to_string(),
            },
        )?,
    })
}

pub(super) fn job_from_row(r: &AnyRow) -> Result<JobRecord> {
    let t = "jobs";
    let verdict: Option<String> = col(r, t, "verdict")?;
    Ok(JobRecord {
        job_id: col::<i64>(r, t, "id")? as JobId,
        job: new_job(r)?,
        state: parse_state(&col::<String>(r, t, "state")?)?,
        verdict: verdict.as_deref().map(parse_verdict).transpose()?,
        message: col(r, t, "message")?,
        attempt: col::<i64>(r, t, "attempt")? as u32,
        worker: col(r, t, "worker")?,
        submitted_at: col(r, t, "submitted_at")?,
        finished_at: col(r, t, "finished_at")?,
        score: col(r, t, "score")?,
        io_expired_at: col(r, t, "io_expired_at")?,
        judging_base: u32::try_from(col::<i64>(r, t, "judging_base")?).unwrap_or(0),
    })
}

/// What a worker needs besides the problem: the submission itself.
#[derive(Debug, Clone)]
pub struct AssignPayload {
    pub job: NewJob,
    pub payload: Payload,
}

impl Store {
    pub async fn job(&self, id: JobId) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id as i64)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The newest `limit` jobs that pass `filter`, newest first.
    pub async fn recent_jobs(&self, limit: u32, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        let mut clauses = Vec::new();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if filter.owner.is_some() {
            clauses.push(format!("owner = {}", next()));
        }
        if filter.state.is_some() {
            clauses.push(format!("state = {}", next()));
        }
        if filter.problem_id.is_some() {
            clauses.push(format!("problem_id = {}", next()));
        }
        if filter.before.is_some() {
            clauses.push(format!("id < {}", next()));
        }
        let limit_param = next();
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs {filter_sql} ORDER BY id DESC LIMIT {limit_param}"
        );
        let mut q = sqlx::query(&sql);
        if let Some(o) = &filter.owner {
            q = q.bind(o.clone());
        }
        if let Some(st) = filter.state {
            q = q.bind(state_str(st));
        }
        if let Some(p) = &filter.problem_id {
            q = q.bind(p.clone());
        }
        if let Some(b) = filter.before {
            // Past every id is before every job: no wrap to a negative id.
            q = q.bind(i64::try_from(b).unwrap_or(i64::MAX));
        }
        let rows = q.bind(i64::from(limit)).fetch_all(self.pool()).await?;
        rows.iter().map(job_from_row).collect()
    }

    /// The job `owner` submitted with `request_id`, if any (a retried Submit).
    pub async fn job_by_request(&self, owner: &str, request_id: &str) -> Result<Option<JobId>> {
        let row = sqlx::query("SELECT id FROM jobs WHERE owner = $1 AND request_id = $2")
            .bind(owner)
            .bind(request_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| col::<i64>(&r, "jobs", "id").map(|id| id as JobId))
            .transpose()
    }

    /// Test results of the given attempt, in order.
    pub async fn tests(&self, id: JobId, attempt: u32) -> Result<Vec<StoredTest>> {
        let rows = sqlx::query(
            "SELECT idx, name, verdict, time_ms, wall_ms, memory_kb, exit_code, signal, message, \
             score FROM job_tests WHERE job_id = $1 AND attempt = $2 ORDER BY idx",
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
                    score: col(r, t, "score")?,
                })
            })
            .collect()
    }

    /// Group results of the given attempt, in the order they closed (flat: `groups` empty).
    pub async fn groups(&self, id: JobId, attempt: u32) -> Result<Vec<pb::GroupResult>> {
        let rows = sqlx::query(
            "SELECT idx, name, verdict, score FROM job_groups \
             WHERE job_id = $1 AND attempt = $2 ORDER BY idx",
        )
        .bind(id as i64)
        .bind(i64::from(attempt))
        .fetch_all(self.pool())
        .await?;
        let t = "job_groups";
        rows.iter()
            .map(|r| {
                Ok(pb::GroupResult {
                    index: col::<i64>(r, t, "idx")? as u32,
                    name: col(r, t, "name")?,
                    verdict: parse_verdict(&col::<String>(r, t, "verdict")?)? as i32,
                    score: col(r, t, "score")?,
                    groups: Vec::new(),
                })
            })
            .collect()
    }

    /// The job's submitted source.
    pub async fn source(&self, id: JobId) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT source FROM jobs WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => col(&r, "jobs", "source"),
            None => Err(StoreError::NotFound(format!("job {id}"))),
        }
    }

    /// A `run` job's result, once it has one.
    pub async fn run_result(&self, id: JobId) -> Result<Option<pb::RunResult>> {
        let row = sqlx::query("SELECT run_result FROM jobs WHERE id = $1")
            .bind(id as i64)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => decoded(col(&r, "jobs", "run_result")?, "run_result"),
            None => Ok(None),
        }
    }

    /// The job's events with `seq > after`, in order.
    pub async fn events_after(&self, id: JobId, after: u64) -> Result<Vec<pb::JobEvent>> {
        let rows = sqlx::query(
            "SELECT payload FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id as i64)
        // Past every stored seq is past every seq: nothing to replay (never a wrap to < 0).
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
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

    /// How many jobs there are of each (job type, state, verdict); verdict "" for none.
    pub async fn job_tally(&self) -> Result<Vec<(String, String, String, u64)>> {
        let rows = sqlx::query(
            "SELECT job_type, state, COALESCE(verdict, '') AS v, COUNT(*) AS n FROM jobs \
             GROUP BY job_type, state, COALESCE(verdict, '')",
        )
        .fetch_all(self.pool())
        .await?;
        let t = "jobs";
        rows.iter()
            .map(|r| {
                Ok((
                    col(r, t, "job_type")?,
                    col(r, t, "state")?,
                    col(r, t, "v")?,
                    col::<i64>(r, t, "n")?.max(0) as u64,
                ))
            })
            .collect()
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// How many jobs are in each state.
    pub async fn job_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    col::<String>(r, "jobs", "state")?,
                    col::<i64>(r, "jobs", "n")? as u64,
                ))
            })
            .collect()
    }

    /// Highest job id ever used (0 for an empty store), even if its row were gone: the
    /// batch that inserts jobs also raises `meta.last_job_id`, so a job id once
    /// acknowledged is never handed out again.
    pub async fn max_job_id(&self) -> Result<JobId> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(id), 0) AS m, \
               (SELECT COALESCE(MAX(value), 0) FROM meta WHERE key = 'last_job_id') AS hw \
             FROM jobs",
        )
        .fetch_one(self.pool())
        .await?;
        let m = col::<i64>(&row, "jobs", "m")?.max(col::<i64>(&row, "meta", "hw")?);
        JobId::try_from(m).map_err(|_| StoreError::Corrupt {
            table: "jobs",
            detail: format!("negative job id {m}"),
        })
    }

    /// Every unfinished job's id, type and state (what `/metrics` starts counting from).
    pub async fn unfinished_states(&self) -> Result<Vec<(JobId, String, pb::JobState)>> {
        let rows = sqlx::query(
            "SELECT id, job_type, state FROM jobs WHERE state IN ('queued', 'assigned', 'running')",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    col::<i64>(r, "jobs", "id")? as JobId,
                    col(r, "jobs", "job_type")?,
                    parse_state(&col::<String>(r, "jobs", "state")?)?,
                ))
            })
            .collect()
    }

    /// Every job that had not finished, with what the core needs to pick it up again.
    pub async fn unfinished(&self) -> Result<Vec<RecoveredJob>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS}, \
               (SELECT COALESCE(MAX(seq), 0) FROM job_events e WHERE e.job_id = jobs.id) AS last_seq, \
               (SELECT COUNT(*) FROM job_tests t WHERE t.job_id = jobs.id AND t.attempt = jobs.attempt) AS tests_done, \
               (SELECT COUNT(*) FROM job_groups g WHERE g.job_id = jobs.id AND g.attempt = jobs.attempt) AS groups_done \
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
                    judging_base: rec.judging_base,
                    worker: rec.worker,
                    last_seq: col::<i64>(r, "jobs", "last_seq")? as u64,
                    tests_done: col::<i64>(r, "jobs", "tests_done")? as u32,
                    groups_done: col::<i64>(r, "jobs", "groups_done")? as u32,
                    // Filled in by the caller, from the problem catalog.
                    files: Vec::new().into(),
                    worst_case_ms: 0,
                })
            })
            .collect()
    }

    /// Sources and settings of the given jobs, for `Assign` commands.
    pub async fn assign_payloads(&self, ids: &[JobId]) -> Result<HashMap<JobId, AssignPayload>> {
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let list = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT id, job_type, language, problem_id, problem_version, run_all_tests, source, \
                 owner, request_id, run_limits, stdin, console, supersede_key, priority FROM jobs \
                 WHERE id IN ({list})"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id as i64);
            }
            let t = "jobs";
            for r in q.fetch_all(self.pool()).await? {
                let id = col::<i64>(&r, t, "id")? as JobId;
                let stdin: Option<Vec<u8>> = col(&r, t, "stdin")?;
                let payload = Payload {
                    source: col(&r, t, "source")?,
                    stdin: stdin.unwrap_or_default(),
                };
                out.insert(
                    id,
                    AssignPayload {
                        job: new_job(&r)?,
                        payload,
                    },
                );
            }
        }
        Ok(out)
    }
}
