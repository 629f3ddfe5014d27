//! The file cache in-process, its files served from memory through the `Fetch` seam: a
//! broken transfer resumes where it broke, a download that fails its hash is fetched again
//! and then refused (nothing of it kept), a missing file is not asked for again, two jobs
//! wanting one missing file share one download, and a pinned file is never evicted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use judge_common::pb;
use judge_worker::cache::{Chunks, Fetch, Fetching, FileCache, FileError};
use judge_worker::core::resume::Resume;
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
    /// Answer the request with this status, sending nothing.
    Refuse(tonic::Code),
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
            if let Some(Mischief::Refuse(code)) = mischief {
                return Err(tonic::Status::new(code, "refused on purpose"));
            }
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

/// A file whose first `refusals` requests are answered `code`, acquired under the default
/// rule with millisecond pauses and `unreachable_for`: what the cache read, the file's
/// bytes, and how many requests it made.
async fn acquire_refused(
    code: tonic::Code,
    refusals: usize,
    unreachable_for: Duration,
) -> (Result<Vec<u8>, FileError>, Vec<u8>, usize) {
    let dir = tempfile::tempdir().unwrap();
    let source = Memory::default();
    let bytes = data(2500, 7);
    let file = source.add(&bytes);
    for _ in 0..refusals {
        source.then(Mischief::Refuse(code));
    }
    let quick = Resume {
        unreachable_for,
        pause: Duration::from_millis(1),
        max_pause: Duration::from_millis(5),
        ..Resume::default()
    };
    let cache = cache(&dir, 1 << 20, &source).await.with_resume(quick);
    let read = match cache.acquire(&file).await {
        Ok(pinned) => Ok(std::fs::read(&pinned.path).unwrap()),
        Err(e) => Err(e),
    };
    (read, bytes, source.asked().len())
}

fn failed_with(read: Result<Vec<u8>, FileError>) -> tonic::Code {
    match read {
        Err(FileError::Fetch { status, .. }) => status.code(),
        other => panic!("expected a failed fetch, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_scheduler_is_waited_for_through_a_fail_over() {
    // Twelve refusals (a standby answering while the lease runs out): more tries than
    // other failures get.
    let (read, bytes, asked) =
        acquire_refused(tonic::Code::Unavailable, 12, Duration::from_secs(60)).await;
    assert_eq!(read.unwrap(), bytes);
    assert_eq!(asked, 13);
}

#[tokio::test]
async fn other_failures_are_tried_a_few_times_then_given_up() {
    let (read, _, asked) =
        acquire_refused(tonic::Code::Internal, 20, Duration::from_secs(60)).await;
    assert_eq!(failed_with(read), tonic::Code::Internal);
    assert_eq!(asked, 1 + Resume::default().max_resumes as usize);
}

#[tokio::test]
async fn an_unreachable_scheduler_is_given_up_when_its_time_is_out() {
    let (read, _, asked) = acquire_refused(
        tonic::Code::Unavailable,
        100_000,
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(failed_with(read), tonic::Code::Unavailable);
    assert!(
        asked > 1 + Resume::default().max_resumes as usize && asked < 100_000,
        "{asked} tries"
    );
}
