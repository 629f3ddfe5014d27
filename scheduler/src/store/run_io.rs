//! What run jobs hold: their input and output are kept for a retention period, then dropped
//! (the outcome, exit code, signal and use stay, so `get` still tells how the run ended);
//! and what a token's run jobs hold until then, which admission bounds.

use judge_common::pb;
use prost::Message;

use super::jobs::decoded;
use super::{col, Result, Store};

/// Rows handled per statement batch while expiring.
const EXPIRE_BATCH: i64 = 256;

impl Store {
    /// Drops the input and output of run jobs that finished before `finished_before` (ms);
    /// marks them expired at `now`. Returns how many jobs it expired.
    pub async fn expire_run_io(&self, finished_before: i64, now: i64) -> Result<u64> {
        let mut expired = 0;
        loop {
            let mut tx = self.write_tx().await?;
            let rows = sqlx::query(
                "SELECT id, run_result FROM jobs WHERE job_type = 'run' \
                 AND io_expired_at IS NULL AND finished_at IS NOT NULL AND finished_at < $1 \
                 ORDER BY id LIMIT $2",
            )
            .bind(finished_before)
            .bind(EXPIRE_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Ok(expired);
            }
            for row in &rows {
                let id: i64 = col(row, "jobs", "id")?;
                let result: Option<pb::RunResult> =
                    decoded(col(row, "jobs", "run_result")?, "run_result")?;
                let kept = result.map(|mut r| {
                    r.stdout.clear();
                    r.stderr.clear();
                    r.encode_to_vec()
                });
                sqlx::query(
                    "UPDATE jobs SET stdin = NULL, run_result = $2, io_expired_at = $3 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(kept)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            expired += rows.len() as u64;
        }
    }

    /// Bytes the run jobs of `owner` hold in the store while their input and output are kept:
    /// source, input and result.
    pub async fn run_bytes_held(&self, owner: &str) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(LENGTH(source) + COALESCE(LENGTH(stdin), 0) \
               + COALESCE(LENGTH(run_result), 0)), 0) AS held \
             FROM jobs WHERE owner = $1 AND job_type = 'run' AND io_expired_at IS NULL",
        )
        .bind(owner)
        .fetch_one(self.pool())
        .await?;
        Ok(u64::try_from(col::<i64>(&row, "jobs", "held")?).unwrap_or(0))
    }
}
