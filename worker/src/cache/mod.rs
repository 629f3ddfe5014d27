//! The worker's file cache: test data by SHA-256, bounded by a disk budget.
//!
//! Downloads go to a temporary name, are checked against their hash, then renamed, so a file
//! under its hash is always whole and right. Least recently used files go first; a file that a
//! running job holds (a [`PinnedFile`]) is never evicted. Two jobs wanting the same missing
//! file share one download. On start the cache is rebuilt from disk: partial downloads and
//! files that fail their hash are dropped.

/// Where the files come from: a trait, the scheduler's client in production.
mod fetch;
mod index;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use judge_common::pb;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::core::resume::{Failure, Resume};

pub use fetch::{Chunks, Fetch, Fetching};
pub use index::{CacheIndex, NoRoom};

/// How long a download waits for running jobs to release room in a full cache.
const ROOM_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("bad file reference {0:?}")]
    BadRef(String),
    #[error("download of {sha256} failed: {status}")]
    Fetch {
        sha256: String,
        status: tonic::Status,
    },
    #[error("download of {0} does not match its SHA-256 (tried twice)")]
    Corrupt(String),
    #[error("cannot cache {sha256}: {reason}")]
    NoRoom { sha256: String, reason: NoRoom },
    #[error("local i/o error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Default)]
struct Counters {
    fetched_bytes: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

#[derive(Clone)]
pub struct FileCache {
    dir: PathBuf,
    source: Arc<dyn Fetch>,
    index: Arc<Mutex<CacheIndex>>,
    /// Woken when a pin is released (room may have appeared).
    room: Arc<Notify>,
    /// Woken when the inventory changed (the report pump sends a delta).
    pub changed: Arc<Notify>,
    inflight: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    counters: Arc<Counters>,
    resume: Resume,
}

/// A cached file a job is using; it cannot be evicted until this is dropped.
pub struct PinnedFile {
    pub path: PathBuf,
    sha: String,
    index: Arc<Mutex<CacheIndex>>,
    room: Arc<Notify>,
}

impl Drop for PinnedFile {
    fn drop(&mut self) {
        self.index
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unpin(&self.sha);
        self.room.notify_waiters();
    }
}

fn valid_sha(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Hashes a file (blocking).
/// Writes every chunk from `rx` to a new file at `path`.
fn write_all(
    path: &Path,
    mut rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::fs::File::create(path)?;
    while let Some(data) = rx.blocking_recv() {
        out.write_all(&data)?;
    }
    // No fsync: after a crash the rebuild re-hashes every file and drops torn ones, so
    // durability here would buy nothing but a stall on every download.
    out.flush()
}

/// The SHA-256, in hex, of every chunk from `rx` in order.
fn hash_all(mut rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> String {
    let mut hasher = Sha256::new();
    while let Some(data) = rx.blocking_recv() {
        hasher.update(&data);
    }
    hex::encode(hasher.finalize())
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Parses a size such as `20GiB`, `500MB`, `4096`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size like 20GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        u => {
            return Err(format!(
                "unknown size unit {u:?} (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"
            ))
        }
    };
    Ok((n * mult as f64) as u64)
}

impl FileCache {
    /// Opens the cache in `dir`, rebuilding its index from what is on disk; missing files
    /// come from `source` (the scheduler's client).
    pub async fn open(dir: PathBuf, budget: u64, source: impl Fetch) -> std::io::Result<FileCache> {
        let tmp = dir.join("tmp");
        let _ = tokio::fs::remove_dir_all(&tmp).await; // partial downloads of a previous run
        tokio::fs::create_dir_all(&tmp).await?;
        let scan_dir = dir.clone();
        let found = tokio::task::spawn_blocking(move || rebuild(&scan_dir))
            .await
            .map_err(std::io::Error::other)??;
        let mut index = CacheIndex::new(budget);
        for (sha, size) in found {
            index.insert(&sha, size);
        }
        // A smaller budget than last time: trim to it now.
        if let Ok(victims) = index.reserve(0) {
            for sha in victims {
                let _ = tokio::fs::remove_file(dir.join(&sha)).await;
            }
        }
        index.take_delta();
        tracing::info!(
            files = index.inventory().len(),
            bytes = index.used(),
            budget,
            "cache ready"
        );
        Ok(FileCache {
            dir,
            source: Arc::new(source),
            index: Arc::new(Mutex::new(index)),
            room: Default::default(),
            changed: Default::default(),
            inflight: Default::default(),
            counters: Default::default(),
            resume: Resume::default(),
        })
    }

    /// The same cache, resuming broken downloads by `resume` (tests shorten its pauses).
    pub fn with_resume(mut self, resume: Resume) -> FileCache {
        self.resume = resume;
        self
    }

    fn index(&self) -> std::sync::MutexGuard<'_, CacheIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pinned(&self, sha: &str) -> PinnedFile {
        PinnedFile {
            path: self.dir.join(sha),
            sha: sha.to_string(),
            index: self.index.clone(),
            room: self.room.clone(),
        }
    }

    /// The file, pinned for the caller, fetching it first if needed.
    pub async fn acquire(&self, file: &pb::FileRef) -> Result<PinnedFile, FileError> {
        let sha = file.sha256.as_str();
        if !valid_sha(sha) {
            return Err(FileError::BadRef(file.sha256.clone()));
        }
        if self.index().pin(sha) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(self.pinned(sha));
        }
        let lock = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(sha.to_string())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        // Someone else may have fetched it while we waited: then this is a hit too.
        if self.index().pin(sha) {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(self.pinned(sha));
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let result = self.fetch(sha, file.size).await;
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sha);
        result?;
        self.changed.notify_one();
        Ok(self.pinned(sha))
    }

    /// Makes room, downloads, verifies and files the blob (pinned once on success).
    async fn fetch(&self, sha: &str, size: u64) -> Result<(), FileError> {
        let deadline = tokio::time::Instant::now() + ROOM_WAIT;
        loop {
            let room = self.room.notified();
            let reserved = self.index().reserve(size);
            match reserved {
                Ok(victims) => {
                    self.counters
                        .evictions
                        .fetch_add(victims.len() as u64, Ordering::Relaxed);
                    for v in victims {
                        let _ = tokio::fs::remove_file(self.dir.join(&v)).await;
                    }
                    break;
                }
                Err(NoRoom::Pinned { .. }) if tokio::time::Instant::now() < deadline => {
                    let _ = tokio::time::timeout_at(deadline, room).await;
                }
                Err(reason) => {
                    return Err(FileError::NoRoom {
                        sha256: sha.to_string(),
                        reason,
                    })
                }
            }
        }
        let mut result = Err(FileError::Corrupt(sha.to_string()));
        for _ in 0..2 {
            result = self.download(sha).await;
            match &result {
                Err(FileError::Corrupt(_)) => {
                    tracing::warn!(sha, "download failed its hash check; fetching again")
                }
                _ => break,
            }
        }
        match result {
            Ok(actual) => {
                self.counters
                    .fetched_bytes
                    .fetch_add(actual, Ordering::Relaxed);
                self.index().complete(sha, size, actual);
                Ok(())
            }
            Err(e) => {
                self.index().cancel(size);
                Err(e)
            }
        }
    }

    /// Downloads to a temporary file, resuming broken transfers; renames it into place only
    /// if its hash matches. Returns its size.
    async fn download(&self, sha: &str) -> Result<u64, FileError> {
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{sha}.{:08x}", rand::random::<u32>()));
        let result = self.download_to(sha, &tmp).await;
        match result {
            Ok(size) => {
                tokio::fs::rename(&tmp, self.dir.join(sha)).await?;
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn download_to(&self, sha: &str, tmp: &Path) -> Result<u64, FileError> {
        // Writing and hashing run on two blocking threads of their own, side by side and
        // beside the network: the write is the bound, the hash (three times faster) hides
        // behind it. Both get each chunk (`Bytes` clones share the buffer).
        let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
        let (hash_tx, hash_rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
        let path = tmp.to_path_buf();
        let writer = tokio::task::spawn_blocking(move || write_all(&path, rx));
        let hasher = tokio::task::spawn_blocking(move || hash_all(hash_rx));
        let send = |data: bytes::Bytes| {
            let (tx, hash_tx) = (tx.clone(), hash_tx.clone());
            async move {
                let lost = || tonic::Status::internal("local write failed");
                hash_tx.send(data.clone()).await.map_err(|_| lost())?;
                tx.send(data).await.map_err(|_| lost())
            }
        };
        let mut offset = 0u64;
        let mut failures = 0;
        let mut first_failure = None;
        loop {
            let attempt: Result<(), tonic::Status> = async {
                use tokio_stream::StreamExt;
                let mut stream = self.source.fetch(sha, offset).await?;
                while let Some(chunk) = stream.next().await.transpose()? {
                    if chunk.offset != offset {
                        return Err(tonic::Status::data_loss("chunk out of order"));
                    }
                    offset += chunk.data.len() as u64;
                    let total = chunk.total_size;
                    send(chunk.data).await?;
                    if offset >= total {
                        return Ok(());
                    }
                }
                Err(tonic::Status::unavailable("transfer ended early"))
            }
            .await;
            let status = match attempt {
                Ok(()) => break,
                Err(status) => status,
            };
            failures += 1;
            let since = first_failure.get_or_insert_with(tokio::time::Instant::now);
            let failure = match status.code() {
                tonic::Code::NotFound => Failure::Missing,
                tonic::Code::Unavailable => Failure::Unreachable,
                _ => Failure::Other,
            };
            let pause = self.resume.next(failure, failures, since.elapsed());
            match pause {
                Some(pause) if !tx.is_closed() => {
                    tracing::warn!(sha, offset, %status, "transfer broke; resuming");
                    tokio::time::sleep(pause).await;
                }
                _ => {
                    drop(tx);
                    drop(hash_tx);
                    let _ = writer.await;
                    let _ = hasher.await;
                    return Err(FileError::Fetch {
                        sha256: sha.to_string(),
                        status,
                    });
                }
            }
        }
        drop(tx);
        drop(hash_tx);
        writer.await.map_err(std::io::Error::other)??;
        let digest = hasher.await.map_err(std::io::Error::other)?;
        if digest != sha {
            return Err(FileError::Corrupt(sha.to_string()));
        }
        Ok(offset)
    }

    pub fn stats(&self) -> pb::CacheStats {
        let (used, budget) = {
            let ix = self.index();
            (ix.used(), ix.budget())
        };
        let c = &self.counters;
        pb::CacheStats {
            cached_bytes: used,
            cache_size_bytes: budget,
            fetched_bytes: c.fetched_bytes.load(Ordering::Relaxed),
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
        }
    }

    /// The full inventory, for a new session; pending deltas are folded into it.
    pub fn snapshot(&self) -> Vec<String> {
        let mut ix = self.index();
        ix.take_delta();
        ix.inventory()
    }

    /// What changed since the last report, with the counters.
    pub fn report(&self) -> pb::CacheReport {
        let (added, removed) = self.index().take_delta();
        pb::CacheReport {
            added,
            removed,
            stats: Some(self.stats()),
        }
    }
}

/// The verified files in `dir`, oldest first; anything else there is deleted.
fn rebuild(dir: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "tmp" {
            continue;
        }
        let meta = entry.metadata()?;
        if meta.is_file() && valid_sha(&name) && hash_file(&path)? == name {
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((mtime, name, meta.len()));
        } else {
            tracing::warn!(file = %path.display(), "dropping a partial or corrupt cache file");
            let _ = if meta.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|(_, sha, size)| (sha, size))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::{parse_size, rebuild};
    use sha2::{Digest, Sha256};

    #[test]
    fn rebuild_keeps_verified_files_and_drops_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let good = b"test data";
        let sha = hex::encode(Sha256::digest(good));
        std::fs::write(dir.path().join(&sha), good).unwrap();
        // Same name, wrong content (a torn write or bit rot), and a stray file.
        let bad_sha = hex::encode(Sha256::digest(b"other"));
        std::fs::write(dir.path().join(&bad_sha), b"not other").unwrap();
        std::fs::write(dir.path().join("stray.txt"), b"x").unwrap();
        let found = rebuild(dir.path()).unwrap();
        assert_eq!(found, vec![(sha.clone(), good.len() as u64)]);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![sha]);
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("20GiB"), Ok(20 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
    }
}
