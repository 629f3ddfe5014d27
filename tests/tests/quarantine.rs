//! Quarantine on the real cluster: a broken worker (every job a judge error, as a worker
//! whose sandbox cannot start would give) beside a healthy real one. Every job ends AC on
//! the healthy one, none counted against its retry cap; the broken one is quarantined,
//! `judgectl workers` says so and why, `/metrics` counts it, and `judgectl worker release`
//! lifts it.

use judge_common::pb;
use judge_tests::curl::curl;
use judge_tests::*;

fn judgectl(c: &Cluster, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.admin])
        .args(args)
        .output()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_worker_is_quarantined_and_every_job_ends_well_elsewhere() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    // The broken one first, alone, so that it is the one offered the first jobs.
    let broken = tokio::spawn(sim::run_broken(
        c.sched.url(),
        c.worker_token.clone(),
        "broken".into(),
        4,
    ));
    c.wait_workers(1).await?;
    c.add_worker("healthy", 1)?;
    c.wait_workers(2).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(submit(&mut judge, "aplusb", "python3", AC_PY).await?);
    }
    for id in &ids {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(
            (job.state, job.verdict),
            (pb::JobState::Done as i32, pb::Verdict::Ac as i32),
            "job {id}: {}\n{}",
            job.message,
            c.logs()
        );
        assert_eq!(job.worker, "healthy");
    }
    let info = eventually("the broken worker quarantined", WAIT, || {
        let c = &c;
        async move {
            let w = c.worker_info("broken").await.ok()?;
            (!w.quarantined.is_empty()).then_some(w)
        }
    })
    .await?;
    assert!(
        info.quarantined.contains("3 judge errors") && info.quarantined.contains("cgroup"),
        "{}",
        info.quarantined
    );
    let out = judgectl(&c, &["workers"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quarantined"), "{text}");
    let m = curl(&c, "GET", "/metrics", None, &[]);
    assert!(m.body.contains("judge_workers_quarantined 1"), "{}", m.body);
    assert!(
        m.body
            .contains("judge_quarantines_total{outcome=\"quarantined\"} 1"),
        "{}",
        m.body
    );
    assert!(c.sched.log().contains("worker quarantined"));

    // Bad input: a worker that is not quarantined, a name that is not one.
    let out = judgectl(&c, &["worker", "release", "healthy"])?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not quarantined"));
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let bad = admin
        .release_worker(pb::ReleaseWorkerRequest { name: "a b".into() })
        .await;
    assert_status(bad, tonic::Code::InvalidArgument, "worker name");
    let mut student = admin_client(&c.sched.url(), &c.submitter).await?;
    let denied = student
        .release_worker(pb::ReleaseWorkerRequest {
            name: "broken".into(),
        })
        .await;
    assert_eq!(denied.unwrap_err().code(), tonic::Code::PermissionDenied);

    let out = judgectl(&c, &["worker", "release", "broken"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.worker_info("broken").await?.quarantined.is_empty());
    broken.abort();
    Ok(())
}
