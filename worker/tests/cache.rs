//! The file cache in-process, its files served from memory through the `Fetch` seam: a
//! broken transfer resumes where it broke, a download that fails its hash is fetched again
//! and then refused (nothing of it kept), a missing file is not asked for again, two jobs
//! wanting one missing file share one download, and a pinned file is never evicted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use judge_common::pb;
use judge_worker::cache::{Chunks, Fetch, Fetching, FileCache, FileError};
use sha2::{Digest, Sha256};

/// Bytes per chunk the fake source sends.
const CHUNK: usize = 1000;

/// What the source does with the next request of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mischief {
    /// Break the transfer after its first chunk.
    Break,
    /// Send the file with one byte changed.
    Corrupt,
}

/// Files served from memory, with mischief on command; every request is recorded.
#[derive(Clone, Default)]
struct Memory {
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    mischief: Arc<Mutex<Vec<Mischief>>>,
    asked: Arc<Mutex<Vec<(String, u64)>>>,
    /// Held while a test wants downloads to wait.
    gate: Arc<tokio::sync::RwLock<()>>,
}

impl Memory {
    fn add(&self, data: &[u8]) -> pb::FileRef {
        let sha256 = hex::encode(Sha256::digest(data));
        self.files
            .lock()
            .unwrap()
            .insert(sha256.clone(), data.to_vec());
        pb::FileRef {
            sha256,
            size: data.len() as u64,
        }
    }

    fn then(&self, m: Mischief) {
        self.mischief.lock().unwrap().push(m);
    }

    fn asked(&self) -> Vec<(String, u64)> {
        self.asked.lock().unwrap().clone()
    }
}

impl Fetch for Memory {
    fn fetch(&self, sha256: &str, offset: u64) -> Fetching<'_> {
        let sha256 = sha256.to_string();
        Box::pin(async move {
            let _open = self.gate.read().await;
            self.asked.lock().unwrap().push((sha256.clone(), offset));
            let Some(mut data) = self.files.lock().unwrap().get(&sha256).cloned() else {
                return Err(tonic::Status::not_found(format!("no file {sha256}")));
            };
            let total = data.len() as u64;
            let mischief = {
                let mut m = self.mischief.lock().unwrap();
                (!m.is_empty()).then(|| m.remove(0))
            };
            if mischief == Some(Mischief::Corrupt) {
                data[0] ^= 0xff;
            }
            let mut chunks: Vec<Result<pb::FileChunk, tonic::Status>> = data[offset as usize..]
                .chunks(CHUNK)
                .enumerate()
                .map(|(i, c)| {
                    Ok(pb::FileChunk {
                        offset: offset + (i * CHUNK) as u64,
                        data: c.to_vec().into(),
                        total_size: total,
                    })
                })
                .collect();
            if mischief == Some(Mischief::Break) {
                chunks.truncate(1);
                chunks.push(Err(tonic::Status::unavailable("the link dropped")));
            }
            Ok(Box::pin(tokio_stream::iter(chunks)) as Chunks)
        })
    }
}

async fn cache(dir: &tempfile::TempDir, budget: u64, source: &Memory) -> FileCache {
    FileCache::open(dir.path().join("cache"), budget, source.clone())
        .await
        .unwrap()
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[tokio::test]
async fn a_broken_transfer_resumes_where_it_broke() {
    let dir = tempfile::tempdir().unwrap();
    let source = Memory::default();
    let bytes = data(3500, 1);
    let file = source.add(&bytes);
    source.then(Mischief::Break);
    let cache = cache(&dir, 1 << 20, &source).await;
    let pinned = cache.acquire(&file).await.unwrap();
    assert_eq!(std::fs::read(&pinned.path).unwrap(), bytes);
    let offsets: Vec<u64> = source.asked().into_iter().map(|(_, o)| o).collect();
    assert_eq!(
        offsets,
        [0, CHUNK as u64],
        "asked again from the first missing byte"
    );
}

#[tokio::test]
async fn a_download_that_fails_its_hash_is_fetched_again_then_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = Memory::default();
    let bytes = data(2500, 2);
    let file = source.add(&bytes);
    let cache = cache(&dir, 1 << 20, &source).await;

    // Wrong once: the second download is right and kept.
    source.then(Mischief::Corrupt);
    let pinned = cache.acquire(&file).await.unwrap();
    assert_eq!(std::fs::read(&pinned.path).unwrap(), bytes);
    assert_eq!(source.asked().len(), 2);

    // Wrong twice: refused, and nothing of it is kept.
    let other = source.add(&data(1500, 3));
    source.then(Mischief::Corrupt);
    source.then(Mischief::Corrupt);
    match cache.acquire(&other).await {
        Err(FileError::Corrupt(sha)) => assert_eq!(sha, other.sha256),
        Err(e) => panic!("expected a corrupt download, got {e}"),
        Ok(_) => panic!("a corrupt download was accepted"),
    }
    assert!(!dir.path().join("cache").join(&other.sha256).exists());
    assert_eq!(
        cache.stats().cached_bytes,
        bytes.len() as u64,
        "only the good file counts"
    );
}

#[tokio::test]
async fn a_missing_file_is_asked_for_once() {
    let dir = tempfile::tempdir().unwrap();
    let source = Memory::default();
    let cache = cache(&dir, 1 << 20, &source).await;
    let missing = pb::FileRef {
        sha256: "ab".repeat(32),
        size: 10,
    };
    match cache.acquire(&missing).await {
        Err(FileError::Fetch { status, .. }) => assert_eq!(status.code(), tonic::Code::NotFound),
        Err(e) => panic!("expected a failed fetch, got {e}"),
        Ok(_) => panic!("a file nobody has was cached"),
    }
    assert_eq!(source.asked().len(), 1, "NOT_FOUND is final: no resumes");
    let bad = pb::FileRef {
        sha256: "../../etc/passwd".into(),
        size: 1,
    };
    assert!(matches!(
        cache.acquire(&bad).await,
        Err(FileError::BadRef(_))
    ));
    assert_eq!(source.asked().len(), 1, "a bad reference is never fetched");
}

#[tokio::test]
async fn two_jobs_wanting_one_missing_file_share_one_download() {
    let dir = tempfile::tempdir().unwrap();
    let source = Memory::default();
    let file = source.add(&data(5000, 4));
    let cache = cache(&dir, 1 << 20, &source).await;
    // Downloads wait at the gate until both jobs have asked.
    let gate = source.gate.clone().write_owned().await;
    let (a, b) = (cache.clone(), cache.clone());
    let (fa, fb) = (file.clone(), file.clone());
    let first = tokio::spawn(async move { a.acquire(&fa).await.map(|p| p.path.clone()) });
    let second = tokio::spawn(async move { b.acquire(&fb).await.map(|p| p.path.clone()) });
    tokio::task::yield_now().await;
    drop(gate);
    let (pa, pb) = (
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    );
    assert_eq!(pa, pb);
    assert_eq!(source.asked().len(), 1, "one download for both");
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits), (1, 1));
}

#[tokio::test]
async fn a_pinned_file_is_never_evicted_and_an_unpinned_one_makes_room() {
    let dir = tempfile::tempdir().unwrap();
    let source = Memory::default();
    let (one, two, three) = (
        source.add(&data(600, 5)),
        source.add(&data(600, 6)),
        source.add(&data(600, 7)),
    );
    // Room for two files.
    let cache = cache(&dir, 1300, &source).await;
    let held = cache.acquire(&one).await.unwrap();
    drop(cache.acquire(&two).await.unwrap());
    // The third evicts the second (unpinned), never the first (held by a job).
    let _third = cache.acquire(&three).await.unwrap();
    assert!(held.path.exists(), "the pinned file stays");
    assert!(!dir.path().join("cache").join(&two.sha256).exists());
    assert_eq!(cache.stats().evictions, 1);
}
