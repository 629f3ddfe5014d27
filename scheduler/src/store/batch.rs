//! Writing one batch of the core's changes with few statements.
//!
//! Per-statement cost dominates a busy scheduler (the SQLite driver hands every statement to
//! its own thread), so a batch is written with multi-row statements: one per kind of change,
//! not one per change. Order still matters *within* a job (assigned before started before
//! finished), so changes are split into phases: the k-th change of each job goes to phase k.
//! Inside a phase every job appears at most once, so its statements may run in any order.
//! Events touch only the append-only event log and go last, in one insert.
//!
//! Every transition stays fenced in SQL (`attempt` and `state` must match), exactly as if the
//! changes were applied one by one.

use std::collections::HashMap;

use judge_common::pb;
use prost::Message;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::jobs::{state_str, Payload};
use super::Result;
use crate::core::{JobId, JobSpec, Persist, RequestId};

/// Most parameters per statement: far below both databases' limits, and few enough that
/// binding stays cheap (SQLite finds each parameter's name by a linear scan, so binding a
/// statement costs the square of its parameters: 400 rows of 11 columns spent 15% of the
/// scheduler's time in that scan, 100 rows still 11%).
const PARAMS: usize = 256;

/// Splits `items` of `cols` values each into chunks whose lengths are powers of two
/// (largest first, at most [`PARAMS`] values a chunk). Statements differ by their row
/// count, and each distinct text is prepared once and kept in the connection's statement
/// cache: with any length there would be so many texts that the cache thrashed and every
/// statement was parsed and planned anew; with powers of two each kind of change has a few.
fn pow2_chunks<T>(items: &[T], cols: usize) -> impl Iterator<Item = &[T]> {
    let most = (PARAMS / cols.max(1)).max(1);
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let n = rest.len().min(most);
        let size = 1usize << (usize::BITS - 1 - n.leading_zeros());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

type Tx = super::write::WriteTx;
type Q<'a> = Query<'a, Any, AnyArguments<'a>>;

/// `($1, $2), ($3, $4), ...` for `rows` rows of `cols` values.
fn placeholders(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push_str(&format!("${}", r * cols + c + 1));
        }
        s.push(')');
    }
    s
}

/// Runs `sql_for(rows)` over `items` in chunks, binding each item with `bind`; returns the
/// rows affected.
async fn chunked<T>(
    tx: &mut Tx,
    items: &[T],
    cols: usize,
    sql_for: impl Fn(&str) -> String,
    bind: impl for<'a> Fn(Q<'a>, &'a T) -> Q<'a>,
) -> Result<u64> {
    let mut affected = 0;
    for chunk in pow2_chunks(items, cols) {
        let sql = sql_for(&placeholders(chunk.len(), cols));
        let mut q = sqlx::query(&sql);
        for item in chunk {
            q = bind(q, item);
        }
        affected += q.execute(&mut **tx).await?.rows_affected();
    }
    Ok(affected)
}

fn job_of(change: &Persist) -> JobId {
    match change {
        Persist::InsertJob { job_id, .. }
        | Persist::Assigned { job_id, .. }
        | Persist::Started { job_id, .. }
        | Persist::Test { job_id, .. }
        | Persist::Group { job_id, .. }
        | Persist::Requeued { job_id, .. }
        | Persist::Finished { job_id, .. }
        | Persist::Rejudged { job_id, .. } => *job_id,
        Persist::Event(e) => e.job_id,
    }
}

/// Writes `changes` (already inside `tx`).
impl super::Store {
    /// Writes one batch of the core's changes in a single transaction.
    /// `sources` holds the submitted source of each `InsertJob`, by request.
    pub async fn persist(
        &self,
        changes: &[&Persist],
        sources: &HashMap<RequestId, Payload>,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        write(&mut tx, changes, sources).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn write(
    tx: &mut Tx,
    changes: &[&Persist],
    sources: &HashMap<RequestId, Payload>,
) -> Result<()> {
    let mut seen: HashMap<JobId, usize> = HashMap::new();
    let mut phases: Vec<Vec<&Persist>> = Vec::new();
    let mut events: Vec<&pb::JobEvent> = Vec::new();
    for change in changes {
        if let Persist::Event(e) = change {
            events.push(e);
            continue;
        }
        let k = seen.entry(job_of(change)).or_default();
        if phases.len() <= *k {
            phases.push(Vec::new());
        }
        phases[*k].push(change);
        *k += 1;
    }
    for phase in &phases {
        write_phase(tx, phase, sources).await?;
    }
    let newest = changes
        .iter()
        .filter_map(|c| match c {
            Persist::InsertJob { job_id, .. } => Some(*job_id),
            _ => None,
        })
        .max();
    if let Some(newest) = newest {
        // The high-water mark of job ids, in the same transaction as the rows.
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('last_job_id', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE excluded.value > meta.value",
        )
        .bind(newest as i64)
        .execute(&mut **tx)
        .await?;
    }
    chunked(
        tx,
        &events,
        3,
        |v| format!("INSERT INTO job_events (job_id, seq, payload) VALUES {v}"),
        |q, e| {
            q.bind(e.job_id as i64)
                .bind(e.seq as i64)
                .bind(e.encode_to_vec())
        },
    )
    .await?;
    Ok(())
}

async fn write_phase(
    tx: &mut Tx,
    phase: &[&Persist],
    sources: &HashMap<RequestId, Payload>,
) -> Result<()> {
    let mut inserts = Vec::new();
    let mut assigned = Vec::new();
    let mut started = Vec::new();
    let mut tests = Vec::new();
    let mut groups = Vec::new();
    let mut requeued = Vec::new();
    let mut finished = Vec::new();
    let mut rejudged = Vec::new();
    for change in phase {
        match change {
            Persist::InsertJob { .. } => inserts.push(*change),
            Persist::Assigned { .. } => assigned.push(*change),
            Persist::Started { .. } => started.push(*change),
            Persist::Test { .. } => tests.push(*change),
            Persist::Group { .. } => groups.push(*change),
            Persist::Requeued { .. } => requeued.push(*change),
            Persist::Finished { .. } => finished.push(*change),
            Persist::Rejudged { .. } => rejudged.push(*change),
            Persist::Event(_) => {}
        }
    }
    let mut expected = 0u64;
    let mut affected = 0u64;

    expected += inserts.len() as u64;
    affected += chunked(
        tx,
        &inserts,
        16,
        |v| {
            format!(
                "INSERT INTO jobs (id, job_type, language, problem_id, problem_version, run_all_tests, \
                 source, submitted_at, state, owner, request_id, stdin, run_limits, console, \
                 supersede_key, priority) VALUES {v}"
            )
        },
        |q, c| match c {
            Persist::InsertJob { job_id, req, job, at } => {
                let payload = sources.get(req);
                // Each kind's own columns; the others stay empty.
                let (problem, version, run_all) = match &job.spec {
                    JobSpec::Judge {
                        problem,
                        version,
                        run_all_tests,
                    } => (problem.clone(), *version, *run_all_tests),
                    _ => (String::new(), 0, false),
                };
                let console = match &job.spec {
                    JobSpec::Console { spec } => Some(spec.encode_to_vec()),
                    _ => None,
                };
                let limits = job.spec.limits();
                q.bind(*job_id as i64)
                    .bind(job.kind().as_str())
                    .bind(job.language.clone())
                    .bind(problem)
                    .bind(i64::from(version))
                    .bind(i64::from(run_all))
                    .bind(payload.map(|p| p.source.clone()).unwrap_or_default())
                    .bind(*at)
                    .bind("queued")
                    .bind(job.owner.clone())
                    .bind(job.request_id.clone())
                    // A run job's (or console's) input, even an empty one; none for a judge job.
                    .bind(
                        limits
                            .is_some()
                            .then(|| payload.map(|p| p.stdin.clone()).unwrap_or_default()),
                    )
                    .bind(limits.map(|l| l.encode_to_vec()))
                    .bind(console)
                    .bind(job.supersede_key.clone())
                    .bind(job.priority.as_str())
            }
            _ => q,
        },
    )
    .await?;

    expected += assigned.len() as u64;
    affected += chunked(
        tx,
        &assigned,
        3,
        |v| {
            format!(
                "UPDATE jobs SET state = 'assigned', attempt = v.column2, worker = v.column3 \
                 FROM (VALUES {v}) AS v \
                 WHERE jobs.id = v.column1 AND jobs.attempt = v.column2 - 1 AND jobs.state = 'queued'"
            )
        },
        |q, c| match c {
            Persist::Assigned { job_id, attempt, worker } => {
                q.bind(*job_id as i64).bind(i64::from(*attempt)).bind(worker.clone())
            }
            _ => q,
        },
    )
    .await?;

    expected += started.len() as u64;
    affected += chunked(
        tx,
        &started,
        2,
        |v| {
            format!(
                "UPDATE jobs SET state = 'running' FROM (VALUES {v}) AS v \
                 WHERE jobs.id = v.column1 AND jobs.attempt = v.column2 AND jobs.state = 'assigned'"
            )
        },
        |q, c| match c {
            Persist::Started { job_id, attempt } => {
                q.bind(*job_id as i64).bind(i64::from(*attempt))
            }
            _ => q,
        },
    )
    .await?;

    expected += tests.len() as u64;
    affected += chunked(
        tx,
        &tests,
        12,
        |v| {
            format!(
                "INSERT INTO job_tests (job_id, attempt, idx, name, verdict, time_ms, wall_ms, \
                 memory_kb, exit_code, signal, message, score) \
                 SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, \
                 v.column8, v.column9, v.column10, v.column11, v.column12 \
                 FROM (VALUES {v}) AS v, jobs \
                 WHERE jobs.id = v.column1 AND jobs.attempt = v.column2 AND jobs.state = 'running'"
            )
        },
        |q, c| match c {
            Persist::Test { job_id, attempt, result } => {
                let verdict = pb::Verdict::try_from(result.verdict).unwrap_or(pb::Verdict::Je);
                q.bind(*job_id as i64)
                    .bind(i64::from(*attempt))
                    .bind(i64::from(result.index))
                    .bind(result.name.clone())
                    .bind(verdict.as_str_name())
                    .bind(i64::from(result.time_ms))
                    .bind(i64::from(result.wall_ms))
                    .bind(result.memory_kb as i64)
                    .bind(i64::from(result.exit_code))
                    .bind(i64::from(result.signal))
                    .bind(result.message.clone())
                    .bind(result.score)
            }
            _ => q,
        },
    )
    .await?;

    expected += groups.len() as u64;
    affected += chunked(
        tx,
        &groups,
        6,
        |v| {
            format!(
                "INSERT INTO job_groups (job_id, attempt, idx, name, verdict, score) \
                 SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
                 FROM (VALUES {v}) AS v, jobs \
                 WHERE jobs.id = v.column1 AND jobs.attempt = v.column2 AND jobs.state = 'running'"
            )
        },
        |q, c| match c {
            Persist::Group {
                job_id,
                attempt,
                result,
            } => {
                let verdict = pb::Verdict::try_from(result.verdict).unwrap_or(pb::Verdict::Je);
                q.bind(*job_id as i64)
                    .bind(i64::from(*attempt))
                    .bind(i64::from(result.index))
                    .bind(result.name.clone())
                    .bind(verdict.as_str_name())
                    .bind(result.score)
            }
            _ => q,
        },
    )
    .await?;

    expected += requeued.len() as u64;
    affected += chunked(
        tx,
        &requeued,
        2,
        |v| {
            format!(
                "UPDATE jobs SET state = 'queued', worker = NULL FROM (VALUES {v}) AS v \
                 WHERE jobs.id = v.column1 AND jobs.attempt = v.column2 \
                 AND jobs.state IN ('assigned', 'running')"
            )
        },
        |q, c| match c {
            Persist::Requeued { job_id, attempt } => {
                q.bind(*job_id as i64).bind(i64::from(*attempt))
            }
            _ => q,
        },
    )
    .await?;

    expected += finished.len() as u64;
    affected += chunked(
        tx,
        &finished,
        8,
        |v| {
            format!(
                "UPDATE jobs SET state = v.column3, verdict = v.column4, message = v.column5, \
                 finished_at = v.column6, score = v.column7, run_result = v.column8 \
                 FROM (VALUES {v}) AS v \
                 WHERE jobs.id = v.column1 AND jobs.attempt = v.column2 \
                 AND jobs.state IN ('queued', 'assigned', 'running')"
            )
        },
        |q, c| match c {
            Persist::Finished {
                job_id,
                attempt,
                state,
                verdict,
                message,
                score,
                run,
                at,
            } => q
                .bind(*job_id as i64)
                .bind(i64::from(*attempt))
                .bind(state_str(*state))
                .bind(verdict.map(|v| v.as_str_name()))
                .bind(message.clone())
                .bind(*at)
                .bind(*score)
                .bind(run.as_ref().map(|r| r.encode_to_vec())),
            _ => q,
        },
    )
    .await?;

    // Rare (an admin's action), so one job at a time.
    for change in rejudged {
        if let Persist::Rejudged {
            job_id,
            version,
            priority,
            base,
            ..
        } = change
        {
            expected += 1;
            affected +=
                super::judgings::write_rejudged(tx, *job_id, *version, *priority, *base).await?;
        }
    }

    if affected != expected {
        // The core and the store disagree: with one scheduler per store this is a bug; with
        // several it is another scheduler's win. Either way the store's fences rule.
        tracing::warn!(
            expected,
            affected,
            "fenced transitions changed fewer rows than asked"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let items: Vec<u32> = (0..45).collect();
        let sizes =
            |cols| -> Vec<usize> { super::pow2_chunks(&items, cols).map(<[u32]>::len).collect() };
        assert_eq!(sizes(11), vec![16, 16, 8, 4, 1]);
        assert_eq!(sizes(3), vec![32, 8, 4, 1]);
        assert_eq!(sizes(1000), vec![1; 45]);
        assert_eq!(super::pow2_chunks(&items[..0], 3).count(), 0);
    }

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}
