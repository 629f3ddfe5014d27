//! Problem files kept in PostgreSQL, so that any scheduler sharing the database serves them:
//! one row per chunk of [`CHUNK`] bytes, keyed by the file's SHA-256 and the chunk's index.
//! The blob directory (`blobs.rs`) is then a cache of these rows; on SQLite there are none.

use std::path::Path;

use tokio::io::AsyncReadExt;

use super::{col, Result, Store, StoreError};

/// Bytes per row: large enough that a file of hundreds of MB is a few hundred rows, small
/// enough that one row is never a burden to hold in memory.
pub const CHUNK: usize = 1 << 20;

impl Store {
    /// Whether the database holds the file with this hash.
    pub async fn has_blob_rows(&self, sha256: &str) -> Result<bool> {
        let row =
            sqlx::query("SELECT COUNT(*) AS n FROM blob_chunks WHERE sha256 = $1 AND idx = 0")
                .bind(sha256)
                .fetch_one(self.pool())
                .await?;
        Ok(col::<i64>(&row, "blob_chunks", "n")? > 0)
    }

    /// Stores the file at `path` (already hashed to `sha256`) as rows, in one transaction;
    /// a file already stored is left as it is.
    pub async fn put_blob_rows(&self, sha256: &str, path: &Path, now_ms: i64) -> Result<()> {
        if self.has_blob_rows(sha256).await? {
            return Ok(());
        }
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        let mut tx = self.write_tx().await?;
        let mut idx: i32 = 0;
        loop {
            let mut chunk = Vec::with_capacity(CHUNK);
            (&mut file)
                .take(CHUNK as u64)
                .read_to_end(&mut chunk)
                .await
                .map_err(io)?;
            if chunk.is_empty() && idx > 0 {
                break;
            }
            let last = chunk.len() < CHUNK;
            sqlx::query(
                "INSERT INTO blob_chunks (sha256, idx, data, stored_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256, idx) DO NOTHING",
            )
            .bind(sha256)
            .bind(idx)
            .bind(chunk)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if last {
                break;
            }
            idx = idx.checked_add(1).ok_or_else(|| {
                StoreError::Conflict(format!("blob {sha256} has too many chunks"))
            })?;
        }
        tx.commit().await
    }

    /// Chunk `idx` of the stored file, in order from 0; `None` past its last.
    pub async fn blob_chunk(&self, sha256: &str, idx: i32) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT data FROM blob_chunks WHERE sha256 = $1 AND idx = $2")
            .bind(sha256)
            .bind(idx)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| col(&r, "blob_chunks", "data")).transpose()
    }

    /// Deletes the rows of files no problem version references, stored before `before_ms`;
    /// how many files went.
    pub async fn sweep_blob_rows(&self, before_ms: i64) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query(
            "DELETE FROM blob_chunks WHERE stored_at < $1 \
             AND sha256 NOT IN (SELECT sha256 FROM problem_files) AND idx = 0",
        )
        .bind(before_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "DELETE FROM blob_chunks WHERE sha256 NOT IN \
             (SELECT sha256 FROM blob_chunks WHERE idx = 0)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(gone)
    }
}

fn io(e: std::io::Error) -> StoreError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        StoreError::DiskFull(e.to_string())
    } else {
        StoreError::File(e)
    }
}
