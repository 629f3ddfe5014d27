//! The worker's file cache and routing by locality, in real processes: budgets, shared
//! downloads, restarts, corruption, broken transfers, warm routing and GC.

use judge_common::pb;
use judge_tests::proxy::Proxy;
use judge_tests::*;

const MB: usize = 1 << 20;

async fn judge_one(c: &Cluster, problem: &str) -> anyhow::Result<pb::Job> {
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, problem, "python3", FIRST_LINE_PY).await?;
    wait_finished(&mut judge, id).await
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_evicts_within_its_budget_and_refuses_files_larger_than_itself(
) -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    for (i, p) in ["p1", "p2", "p3"].iter().enumerate() {
        c.push_sized(p, MB + MB / 4, i as u8).await?;
    }
    c.push_sized("huge", 4 * MB, 9).await?;
    let url = c.sched.url();
    c.add_worker_with(&url, "small", 1, &["--cache-size", "3MiB"])?;
    c.wait_workers(1).await?;
    for p in ["p1", "p2", "p3", "p1"] {
        let job = judge_one(&c, p).await?;
        assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{p}: {}", c.logs());
        let cache_dir = c.dir.path().join("work-small/cache");
        assert!(
            dir_bytes(&cache_dir) <= 3 * MB as u64,
            "the cache on disk stays within 3 MiB"
        );
    }
    let info = eventually("cache counters", WAIT, || async {
        let w = c.worker_info("small").await.ok()?;
        (w.evictions >= 2).then_some(w)
    })
    .await?;
    assert!(
        info.cached_bytes <= 3 * MB as u64 && info.cache_size_bytes == 3 * MB as u64,
        "{info:?}"
    );
    assert!(
        info.cache_misses >= 4 && info.fetched_bytes >= 4 * MB as u64,
        "{info:?}"
    );

    let job = judge_one(&c, "huge").await?;
    assert_eq!(
        job.verdict,
        pb::Verdict::Je as i32,
        "a file larger than the cache is the judge's problem"
    );
    assert!(
        job.message.contains("larger than the whole cache"),
        "{}",
        job.message
    );
    // The worker lives on.
    assert_eq!(judge_one(&c, "p2").await?.verdict, pb::Verdict::Ac as i32);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_share_one_download_and_the_cache_survives_a_restart() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let dir = c.push_sized("big", 8 * MB, 1).await?;
    let url = c.sched.url();
    c.add_worker_with(&url, "w", 2, &["--cache-size", "64MiB"])?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let a = submit(&mut judge, "big", "python3", FIRST_LINE_PY).await?;
    let b = submit(&mut judge, "big", "python3", FIRST_LINE_PY).await?;
    for id in [a, b] {
        assert_eq!(
            wait_finished(&mut judge, id).await?.verdict,
            pb::Verdict::Ac as i32
        );
    }
    let problem_bytes = dir_bytes(&dir.join("data/secret"));
    let info = eventually("counters reported", WAIT, || async {
        let w = c.worker_info("w").await.ok()?;
        (w.cache_hits + w.cache_misses >= 4).then_some(w)
    })
    .await?;
    assert_eq!(
        info.fetched_bytes, problem_bytes,
        "each file fetched once: {info:?}"
    );
    assert_eq!((info.cache_misses, info.cache_hits), (2, 2), "{info:?}");

    // Restart: the cache is rebuilt from disk and reported, so nothing is fetched again.
    c.workers[0].kill().await;
    c.workers.clear();
    c.add_worker_with(&url, "w", 2, &["--cache-size", "64MiB"])?;
    let info = eventually("the restarted worker", WAIT, || async {
        c.worker_info("w").await.ok()
    })
    .await?;
    assert_eq!(
        info.cached_bytes, problem_bytes,
        "inventory reported on connect"
    );
    assert_eq!(judge_one(&c, "big").await?.verdict, pb::Verdict::Ac as i32);
    let info = eventually("counters reported", WAIT, || async {
        let w = c.worker_info("w").await.ok()?;
        (w.cache_hits >= 2).then_some(w)
    })
    .await?;
    assert_eq!((info.fetched_bytes, info.cache_misses), (0, 0), "{info:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_download_is_detected_and_fetched_again() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let dir = c.push_sized("p", MB, 1).await?;
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    // Corrupt the scheduler's copy of the input (same size, one byte off).
    let input = std::fs::read(dir.join("data/secret/1.in"))?;
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let blob = c.sched.data_dir.join("blobs").join(&sha[..2]).join(&sha);
    let mut bad = input.clone();
    bad[100] ^= 1;
    std::fs::write(&blob, &bad)?;
    let job = judge_one(&c, "p").await?;
    assert_eq!(job.verdict, pb::Verdict::Je as i32);
    assert!(
        job.message.contains("does not match its SHA-256"),
        "{}",
        job.message
    );
    assert!(
        c.workers[0].log().contains("fetching again"),
        "a second download was tried"
    );
    // Once the source is right again, the next job fetches it and passes.
    std::fs::write(&blob, &input)?;
    assert_eq!(judge_one(&c, "p").await?.verdict, pb::Verdict::Ac as i32);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_broken_mid_file_resumes() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--grace-seconds", "30"]).await?;
    c.push_sized("large", 200 * MB, 1).await?;
    let proxy = Proxy::start(c.sched.addr).await?;
    c.add_worker_with(&proxy.url(), "w", 1, &["--cache-size", "1GiB"])?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, "large", "python3", FIRST_LINE_PY).await?;
    let tmp = c.dir.path().join("work-w/cache/tmp");
    eventually("a partial download", WAIT, || async {
        (dir_bytes(&tmp) > 0).then_some(())
    })
    .await?;
    proxy.cut();
    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
    let log = c.workers[0].log();
    assert!(log.contains("transfer broke; resuming"), "{log}");
    let info = eventually("counters", WAIT, || async {
        let w = c.worker_info("w").await.ok()?;
        (w.cache_misses >= 2).then_some(w)
    })
    .await?;
    assert!(
        info.fetched_bytes < 201 * MB as u64,
        "resumed, not restarted from zero: {info:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_go_to_the_worker_that_holds_their_files() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--locality-wait-seconds", "30"]).await?;
    c.push_sized("p", 2 * MB, 1).await?;
    c.add_worker("first", 1)?;
    c.wait_workers(1).await?;
    assert_eq!(judge_one(&c, "p").await?.worker, "first");
    c.add_worker("second", 1)?;
    c.wait_workers(2).await?;
    for _ in 0..3 {
        let job = judge_one(&c, "p").await?;
        assert_eq!(
            job.worker, "first",
            "the warm worker gets it although both are free"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_only_what_no_needed_version_references() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    // Version 1 of `p` is superseded and unused: its data goes.
    let v1 = c.push_sized("p", 1000, 1).await?;
    let old_input = std::fs::read(v1.join("data/secret/1.in"))?;
    c.push_sized("p", 1000, 2).await?;
    // Version 1 of `q` is superseded but a queued job still needs it: it stays.
    c.push_sized("q", 1000, 1).await?;
    let mut judge = c.judge().await?;
    let queued = submit(&mut judge, "q", "python3", FIRST_LINE_PY).await?;
    c.push_sized("q", 1000, 2).await?;

    let blobs_before = count_blobs(&c.sched.data_dir);
    // What a crash in the middle of a push's program build would leave.
    let leftover = c.sched.data_dir.join("blobs/tmp/build-left");
    std::fs::create_dir_all(&leftover)?;
    std::fs::write(leftover.join("program"), b"half a binary")?;
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["gc", "--min-age-seconds", "0", "--data-dir"])
        .arg(&c.sched.data_dir)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    assert!(
        text.starts_with("pruned 1 problem versions; removed 2 files"),
        "{text}"
    );
    assert_eq!(count_blobs(&c.sched.data_dir), blobs_before - 2);
    assert!(!leftover.exists(), "a build folder left in tmp/ is swept");
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&old_input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(!c
        .sched
        .data_dir
        .join("blobs")
        .join(&sha[..2])
        .join(&sha)
        .exists());

    // The queued job still runs on the version it was submitted with (answer "1q").
    c.add_worker("w", 1)?;
    let job = wait_finished(&mut judge, queued).await?;
    assert_eq!(
        (job.verdict, job.problem_version),
        (pb::Verdict::Ac as i32, 1),
        "{}",
        c.logs()
    );
    // Everyone else's data is intact.
    assert_eq!(judge_one(&c, "p").await?.verdict, pb::Verdict::Ac as i32);
    let mut j = c.judge().await?;
    let a = submit(&mut j, "aplusb", "python3", AC_PY).await?;
    assert_eq!(
        wait_finished(&mut j, a).await?.verdict,
        pb::Verdict::Ac as i32
    );
    Ok(())
}

fn count_blobs(data: &std::path::Path) -> usize {
    let Ok(shards) = std::fs::read_dir(data.join("blobs")) else {
        return 0;
    };
    shards
        .filter_map(|s| s.ok())
        .filter(|s| s.file_name() != "tmp")
        .map(|s| std::fs::read_dir(s.path()).map(|f| f.count()).unwrap_or(0))
        .sum()
}
