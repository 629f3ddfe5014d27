//! Quarantine on the real cluster: a broken worker (every job a judge error, as a worker
//! whose sandbox cannot start would give) beside a healthy real one. Every job ends AC on
//! the healthy one, none counted against its retry cap; the broken one is quarantined,
//! `judgectl workers` says so and why, `/metrics` counts it, and `judgectl worker release`
//! lifts it.

use judge_common::pb;
use judge_tests::curl::curl;
use judge_tests::*;

/// The dashboard's fleet page says the worker is quarantined and why (headless Chromium,
/// when installed; `.ci/run` installs it). The screenshot is `target/screenshots/fleet-quarantined.png`.
async fn fleet_page_shows_it(c: &Cluster) -> anyhow::Result<()> {
    if !browser_ready()? {
        return Ok(());
    }
    let shots = workspace().join("target/screenshots");
    std::fs::create_dir_all(&shots)?;
    let http = c.sched.http_addr.expect("http side");
    let run = tokio::process::Command::new("node")
        .arg(workspace().join("tests/browser/fleet.mjs"))
        .arg(format!("http://{http}"))
        .args([&c.admin, "broken"])
        .arg(shots.join("fleet-quarantined.png"))
        .output()
        .await?;
    anyhow::ensure!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    Ok(())
}

/// A scheduler started with `extra`, a broken simulated worker (4 slots; `runs_well`: it
/// answers run jobs, such as the probe, right) connected first, then a healthy real one of
/// one slot, and six jobs submitted at once (so the broken worker is offered some).
async fn broken_beside_healthy(
    extra: &[&str],
    runs_well: bool,
) -> anyhow::Result<(
    Cluster,
    tokio::task::JoinHandle<anyhow::Result<()>>,
    Vec<u64>,
)> {
    let mut c = Cluster::start(extra).await?;
    let broken = tokio::spawn(sim::run_broken(
        c.sched.url(),
        c.worker_token.clone(),
        "broken".into(),
        4,
        runs_well,
    ));
    c.wait_workers(1).await?;
    c.add_worker("healthy", 1)?;
    c.wait_workers(2).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(submit(&mut judge, "aplusb", "python3", AC_PY).await?);
    }
    Ok((c, broken, ids))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_worker_is_quarantined_and_every_job_ends_well_elsewhere() -> anyhow::Result<()> {
    let (c, broken, ids) = broken_beside_healthy(&[], false).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
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
    let out = c.judgectl(&["workers"])?;
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
    fleet_page_shows_it(&c).await?;

    // Bad input: a worker that is not quarantined, a name that is not one.
    let out = c.judgectl(&["worker", "release", "healthy"])?;
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

    let out = c.judgectl(&["worker", "release", "broken"])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(c.worker_info("broken").await?.quarantined.is_empty());
    broken.abort();
    Ok(())
}

/// After its cool-down a quarantined worker runs the known-answer probe, and only that;
/// the right answer lets it back, by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantined_worker_that_passes_its_probe_comes_back() -> anyhow::Result<()> {
    let (c, broken, ids) =
        broken_beside_healthy(&["--quarantine-cooldown-seconds", "2"], true).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    for id in ids {
        let job = wait_finished(&mut judge, id).await?;
        assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
    }
    eventually("the probe passed", WAIT, || {
        let c = &c;
        async move {
            let m = curl(c, "GET", "/metrics", None, &[]);
            m.body
                .contains("judge_quarantines_total{outcome=\"probe_passed\"} 1")
                .then_some(())
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))?;
    let m = curl(&c, "GET", "/metrics", None, &[]);
    assert!(
        m.body
            .contains("judge_quarantines_total{outcome=\"quarantined\"} 1"),
        "{}",
        m.body
    );
    assert!(c.worker_info("broken").await?.quarantined.is_empty());
    // The probe is a job of its own, owned by `_probe`, run on the broken worker.
    let list = c
        .judge()
        .await?
        .list_jobs(pb::ListJobsRequest {
            limit: 100,
            owner: Some("_probe".into()),
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(
        (list[0].worker.as_str(), list[0].job_type.as_str()),
        ("broken", "run")
    );
    assert!(c.sched.log().contains("worker back from quarantine"));
    broken.abort();
    Ok(())
}
