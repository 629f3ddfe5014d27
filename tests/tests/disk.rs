//! A full disk under the data dir: writes are refused with RESOURCE_EXHAUSTED, reads go on,
//! a result the worker sends meanwhile is not lost, the scheduler starts on the full disk,
//! and everything carries on by itself once there is room again.
//!
//! The data dir is a small tmpfs of its own (so this needs root, as the sandbox tests do).

use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use judge_tests::tmpfs::{fill, Tmpfs};
use judge_tests::*;
use judgectl::Authed;

/// Checks that a request was refused as a full disk (judgectl's errors carry the status as
/// text).
fn assert_disk_full<T: std::fmt::Debug>(r: anyhow::Result<T>) {
    let err = r.expect_err("a write on a full disk should be refused");
    let text = match err.downcast_ref::<tonic::Status>() {
        Some(s) => format!("{:?}: {}", s.code(), s.message()),
        None => format!("{err:#}"),
    };
    assert!(
        text.contains("ResourceExhausted") && text.contains("disk is full"),
        "{text}"
    );
}

/// A submission of `aplusb` large enough that storing it needs new room.
fn big_submission(seconds: f64) -> String {
    format!("{}# {}\n", slow_aplusb(seconds), "x".repeat(240 * 1024))
}

/// A cluster whose data dir is a 16 MiB tmpfs, with one worker of `slots` connected.
async fn cluster_on_tmpfs(slots: u32) -> anyhow::Result<(Cluster, Tmpfs)> {
    let mut mount = None;
    let mut c = Cluster::start_with(
        |data| {
            mount = Some(Tmpfs::mount(data, "16m")?);
            Ok(())
        },
        &[],
    )
    .await?;
    let mount = mount.ok_or_else(|| anyhow::anyhow!("no tmpfs"))?;
    c.add_worker("w1", slots)?;
    c.wait_workers(1).await?;
    Ok((c, mount))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_results_and_recovers() -> anyhow::Result<()> {
    let (mut c, mount) = cluster_on_tmpfs(1).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    // A first job warms the worker's cache, so the next one needs nothing from the disk.
    let warm = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    wait_finished(&mut judge, warm).await?;
    let running = start_slow(&mut judge, 0.5).await?;

    let filler = fill(&c.sched.data_dir)?;
    // Writes are refused, naming the full disk...
    assert_disk_full(submit(&mut judge, "aplusb", "python3", &big_submission(0.0)).await);
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let r = judgectl::push::push(
        &mut admin,
        &example_problem("aplusb"),
        Some("second".into()),
        None,
    )
    .await;
    assert_disk_full(r);
    // ...while reads go on.
    let job = |judge: &mut JudgeServiceClient<Authed>| {
        let mut judge = judge.clone();
        async move {
            judge
                .get_job(pb::GetJobRequest { job_id: running })
                .await
                .map(|r| r.into_inner())
        }
    };
    assert!(!is_final(job(&mut judge).await?.state), "ended too soon");

    // The worker finishes meanwhile; its result cannot be stored, and it keeps it.
    let worker_log = |c: &Cluster| c.workers[0].log();
    eventually("the worker to finish the second job", WAIT, || async {
        (worker_log(&c).matches("attempt finished").count() >= 2).then_some(())
    })
    .await?;
    assert!(
        !is_final(job(&mut judge).await?.state),
        "a result was stored on a full disk: {}",
        c.logs()
    );
    // Restarting on the full disk works.
    let addr = c.sched.addr.to_string();
    c.sched.kill().await;
    c.sched = SchedulerProc::start_on(&c.sched.data_dir.clone(), &addr, &[]).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    assert_disk_full(submit(&mut judge, "aplusb", "python3", &big_submission(0.0)).await);

    // Room again: the held result lands without anyone resubmitting, and new work is taken.
    std::fs::remove_file(&filler)?;
    let job = wait_finished(&mut judge, running).await?;
    assert_eq!(job.state, pb::JobState::Done as i32, "{}", c.logs());
    assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
    drop(c);
    drop(mount);
    Ok(())
}

/// Submits one after another on a full disk while a worker is connected: the scheduler stays
/// up, and every id it acknowledged names its own job for ever, across a restart (a job id
/// answered during the full disk was once lost, and handed out again after the restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_job_survives_a_full_disk_and_a_restart() -> anyhow::Result<()> {
    let (mut c, mount) = cluster_on_tmpfs(2).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    for i in 0..3 {
        let source = format!("{AC_PY}# before {i}\n");
        let id = submit(&mut judge, "aplusb", "python3", &source).await?;
        wait_finished(&mut judge, id).await?;
        acknowledged.push((id, source));
    }
    let filler = fill(&c.sched.data_dir)?;
    let mut refused = 0;
    for i in 0..20 {
        // Small sources: some may still fit in pages the database already has.
        let source = format!("{AC_PY}# during {i} {}\n", "y".repeat(i * 97));
        match submit(&mut judge, "aplusb", "python3", &source).await {
            Ok(id) => acknowledged.push((id, source)),
            Err(e) => {
                assert_disk_full(Err::<(), _>(e));
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "the disk never filled: {}", c.logs());
    // Still up: reads answer.
    judge
        .get_job(pb::GetJobRequest {
            job_id: acknowledged[0].0,
        })
        .await?;
    std::fs::remove_file(&filler)?;
    let addr = c.sched.addr.to_string();
    c.sched.kill().await;
    c.sched = SchedulerProc::start_on(&c.sched.data_dir.clone(), &addr, &[]).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let after = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    for (id, source) in &acknowledged {
        assert_ne!(*id, after, "job id {id} was handed out twice: {}", c.logs());
        let job = judge
            .get_job(pb::GetJobRequest { job_id: *id })
            .await?
            .into_inner();
        assert_eq!(
            String::from_utf8_lossy(&job.source),
            *source,
            "job {id} is not the job acknowledged: {}",
            c.logs()
        );
    }
    for (id, _) in &acknowledged {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(
            job.verdict,
            pb::Verdict::Ac as i32,
            "job {id}: {}",
            c.logs()
        );
    }
    drop(c);
    drop(mount);
    Ok(())
}
