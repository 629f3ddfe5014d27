//! A busy database is waited for, never a reason to fail or stop: problem pushes, token
//! creations (from another process, as `judge-scheduler token create` runs) and gc runs
//! interleaved with a flood of submissions and a connected worker. Every push answers, every
//! submission is judged, and the scheduler stays up.

use judge_common::pb;
use judge_tests::*;

/// `judge-scheduler gc` against the running scheduler's data dir (another process).
fn gc(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let out = std::process::Command::new(bin("judge-scheduler"))
        .arg("gc")
        .arg("--data-dir")
        .arg(data_dir)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "gc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_from_everywhere_never_see_a_busy_database() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--max-queued-per-token", "1000"]).await?;
    c.add_worker("w1", 2)?;
    c.wait_workers(1).await?;

    // The flood: submissions as fast as they are answered, judged by the worker meanwhile.
    let url = c.sched.url();
    let submitter = c.submitter.clone();
    let flood = tokio::spawn(async move {
        let mut judge = judge_client(&url, &submitter).await?;
        let mut ids = Vec::new();
        for i in 0..150 {
            let source = format!("{AC_PY}# {i}\n");
            ids.push(submit(&mut judge, "aplusb", "python3", &source).await?);
        }
        anyhow::Ok(ids)
    });

    // 200 other writes, interleaved: pushes in this process, tokens and gc in others.
    let data = c.sched.data_dir.clone();
    let mut pushed = Vec::new();
    for i in 0..200 {
        match i % 5 {
            0..=2 => {
                let id = format!("p{}", i % 7);
                c.push_example("aplusb", &id, Some(5.0))
                    .await
                    .map_err(|e| anyhow::anyhow!("push {i} failed: {e:#}\n{}", c.logs()))?;
                pushed.push(id);
            }
            3 => {
                let data = data.clone();
                tokio::task::spawn_blocking(move || token(&data, "submitter", &format!("s{i}")))
                    .await?
                    .map_err(|e| anyhow::anyhow!("token {i}: {e:#}"))?;
            }
            _ => {
                let data = data.clone();
                tokio::task::spawn_blocking(move || gc(&data))
                    .await?
                    .map_err(|e| anyhow::anyhow!("gc {i}: {e:#}"))?;
            }
        }
    }
    let ids = flood.await??;

    let mut judge = c.judge().await?;
    for id in ids {
        let job = wait_finished(&mut judge, id).await?;
        assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{id}: {}", c.logs());
    }
    // Every pushed problem reads back, and is judged.
    let problems = judge
        .list_problems(pb::ListProblemsRequest {})
        .await?
        .into_inner()
        .problems;
    for id in ["p0", "p1", "p2", "p3", "p4", "p5", "p6"] {
        assert!(
            problems.iter().any(|p| p.id == id),
            "{id} missing: {problems:?}"
        );
    }
    let last = submit(&mut judge, "p6", "python3", AC_PY).await?;
    let job = wait_finished(&mut judge, last).await?;
    assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
    let log = c.sched.log();
    assert!(!log.contains("database is locked"), "{log}");
    assert!(!log.contains("stopping"), "{log}");
    Ok(())
}
