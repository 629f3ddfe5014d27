//! Sweeps test data that no problem version references any more, and the input and
//! output of run jobs past their retention period.
//!
//! First, versions that a newer push replaced and that no unfinished job uses are pruned
//! (queued and running jobs keep the version they were submitted with); then blobs that no
//! remaining version references are deleted.
//!
//! A push writes its blobs before it records the version that references them, so a blob
//! younger than `min_age` is never removed: it may belong to a push in progress. Staged files
//! left by a crashed push are removed once they are that old too.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::store::blobs::{is_sha256, BlobStore};
use crate::store::{Store, StoreError};

/// Default age below which nothing is swept (a push may still be recording it).
pub const MIN_AGE: Duration = Duration::from_secs(600);

/// What a sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub pruned_versions: u64,
    /// Run jobs whose input and output were dropped.
    pub expired_run_io: u64,
    pub removed: usize,
    pub freed_bytes: u64,
    pub kept: usize,
    /// Files whose rows left the shared database (PostgreSQL only).
    pub removed_rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn old_enough(meta: &std::fs::Metadata, min_age: Duration, now: SystemTime) -> bool {
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    now.duration_since(modified).unwrap_or_default() >= min_age
}

fn read_dir(path: &Path) -> Result<std::fs::ReadDir, GcError> {
    std::fs::read_dir(path).map_err(|source| GcError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// What a sweep keeps.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    /// Blobs younger than this stay (a push may still be recording them).
    pub min_age: Duration,
    /// A run job's input and output stay this long after it ends.
    pub run_io: Duration,
}

/// The newest end time (ms) whose run job's input and output are dropped at `now_ms`.
pub fn run_io_cutoff(now_ms: i64, keep: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX))
}

/// Drops expired run-job input and output (as of `now_ms`), prunes replaced problem versions
/// and removes unreferenced blobs older than `keep.min_age`.
pub async fn sweep(
    store: &Store,
    blobs: &BlobStore,
    keep: Keep,
    now_ms: i64,
) -> Result<GcReport, GcError> {
    let expired_run_io = store
        .expire_run_io(run_io_cutoff(now_ms, keep.run_io), now_ms)
        .await?;
    let min_age = keep.min_age;
    let pruned_versions = store.prune_versions().await?;
    let referenced: HashSet<String> = store.referenced_blobs().await?.into_iter().collect();
    let root = blobs.root().to_path_buf();
    let now = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(now_ms).unwrap_or(0));
    let report = tokio::task::spawn_blocking(move || sweep_dir(&root, &referenced, min_age, now))
        .await
        .map_err(|e| GcError::Io {
            path: "gc task".into(),
            source: std::io::Error::other(e),
        })??;
    // The shared database's copies go by the same rule (their age is when they were stored).
    let removed_rows = match blobs.shared() {
        Some(db) => {
            let before =
                now_ms.saturating_sub(i64::try_from(min_age.as_millis()).unwrap_or(i64::MAX));
            db.sweep_blob_rows(before).await?
        }
        None => 0,
    };
    Ok(GcReport {
        pruned_versions,
        expired_run_io,
        removed_rows,
        ..report
    })
}

fn sweep_dir(
    root: &Path,
    referenced: &HashSet<String>,
    min_age: Duration,
    now: SystemTime,
) -> Result<GcReport, GcError> {
    let mut report = GcReport::default();
    for shard in read_dir(root)? {
        let Ok(shard) = shard else { continue };
        let is_tmp = shard.file_name() == "tmp";
        if !shard.path().is_dir() {
            continue;
        }
        for entry in read_dir(&shard.path())? {
            let Ok(entry) = entry else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            // A folder in tmp/ is a push's build of a package program that a crash left.
            if is_tmp && meta.is_dir() {
                if old_enough(&meta, min_age, now) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let unreferenced = is_tmp || (is_sha256(&name) && !referenced.contains(&name));
            if unreferenced
                && old_enough(&meta, min_age, now)
                && std::fs::remove_file(entry.path()).is_ok()
            {
                report.removed += 1;
                report.freed_bytes += meta.len();
            } else if !is_tmp {
                report.kept += 1;
            }
        }
    }
    Ok(report)
}
