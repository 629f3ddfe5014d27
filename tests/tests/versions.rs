//! Problem versions as a teacher meets them: a package pushed again takes effect at once,
//! gc leaves the newest version working on a worker with an empty cache, and a job whose
//! version is gone ends as a judge error while the scheduler keeps running.

use std::path::Path;

use judge_common::pb;
use judge_tests::*;

/// Copies the `aplusb` example to `dir`, with every answer replaced by `answer` if given.
fn aplusb_copy(dir: &Path, wrong_answers: bool) -> anyhow::Result<()> {
    let from = example_problem("aplusb");
    for sub in ["", "data", "data/sample", "data/secret"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    for entry in walk(&from)? {
        let rel = entry.strip_prefix(&from)?;
        let target = dir.join(rel);
        if wrong_answers && rel.extension().is_some_and(|e| e == "ans") {
            std::fs::write(&target, "-1\n")?;
        } else {
            std::fs::copy(&entry, &target)?;
        }
    }
    Ok(())
}

fn walk(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

async fn judged(c: &Cluster, problem: &str) -> anyhow::Result<pb::Job> {
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, problem, "python3", AC_PY).await?;
    wait_finished(&mut judge, id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_fix_takes_effect_and_survives_gc() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let pkg = c.dir.path().join("fixme");
    aplusb_copy(&pkg, true)?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    push(&mut admin, &pkg, "fixme", Some(20.0)).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;

    let first = judged(&c, "fixme").await?;
    assert_eq!(first.verdict, pb::Verdict::Wa as i32, "{}", c.logs());
    assert_eq!(first.problem_version, 1);

    // The teacher fixes the answers and pushes again: the next submission gets version 2.
    aplusb_copy(&pkg, false)?;
    push(&mut admin, &pkg, "fixme", Some(20.0)).await?;
    let second = judged(&c, "fixme").await?;
    assert_eq!(second.problem_version, 2, "{}", c.logs());
    assert_eq!(second.verdict, pb::Verdict::Ac as i32, "{}", c.logs());

    // gc prunes version 1 and its answers; version 2 still judges, on a worker that must
    // fetch everything.
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["gc", "--min-age-seconds", "0", "--data-dir"])
        .arg(&c.sched.data_dir)
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.starts_with("pruned 1 problem versions"), "{said}");
    c.workers[0].kill().await;
    c.add_worker("fresh", 1)?;
    workers_where(&c.judge().await?, "only the fresh worker", WAIT, |l| {
        l.iter().any(|w| w.name == "fresh" && w.connected)
            && !l.iter().any(|w| w.name == "w1" && w.connected)
    })
    .await?;
    let third = judged(&c, "fixme").await?;
    assert_eq!(
        (third.problem_version, third.verdict, third.worker.as_str()),
        (2, pb::Verdict::Ac as i32, "fresh"),
        "{}",
        c.logs()
    );
    let fresh = c.worker_info("fresh").await?;
    assert!(fresh.cache_misses > 0, "the fresh worker fetched the files");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_version_is_gone_ends_je_and_the_scheduler_runs_on() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let mut judge = c.judge().await?;
    // No worker yet: the job waits, on version 1 of aplusb.
    let orphan = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    c.push_example("aplusb", "aplusb", Some(20.0)).await?;

    // Version 1 disappears from the store while the scheduler is down (as if a second
    // scheduler's gc had pruned it).
    c.sched.kill().await;
    let url = format!("sqlite://{}/judge.db", c.sched.data_dir.display());
    let store = judge_scheduler::store::Store::open(&url).await?;
    let removed = store.delete_problem_version("aplusb", 1).await?;
    assert!(removed, "version 1 was there to delete");
    store.close().await;
    c.sched = SchedulerProc::start(&c.sched.data_dir, &[]).await?;

    let mut judge = c.judge().await?;
    let job = wait_finished(&mut judge, orphan).await?;
    assert_eq!(
        (job.state, job.verdict),
        (pb::JobState::Failed as i32, pb::Verdict::Je as i32),
        "{}",
        c.logs()
    );
    assert!(job.message.contains("no longer stored"), "{}", job.message);

    // The scheduler is still serving: version 2 judges.
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let next = judged(&c, "aplusb").await?;
    assert_eq!(
        (next.problem_version, next.verdict),
        (2, pb::Verdict::Ac as i32)
    );
    Ok(())
}
