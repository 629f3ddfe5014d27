//! `judge-bench failover`: two schedulers on one PostgreSQL (a server of the run's own), one
//! real worker. The leader is killed (SIGKILL) again and again, at a random point of its
//! renewal cycle; each time, a job is submitted at once through both URLs (sent again until
//! acknowledged) and the time is taken from the kill to the standby leading (its `/readyz`)
//! and to that job's first assignment. The killed scheduler is started again as the new
//! standby. Then the throughput run, on PostgreSQL and on SQLite, in the same run.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use judge_common::pb;
use judge_tests::ha::{Pair, PgServer};
use judge_tests::{judge_client, WAIT};

use super::{bench_args, percentile, setup_stored, throughput_on, Load};

pub async fn run(
    kills: usize,
    lease_seconds: f64,
    renew_seconds: f64,
    workers: usize,
    load: Load,
) -> Result<()> {
    let lease = lease_seconds.to_string();
    let renew = renew_seconds.to_string();
    let flags = [
        "--lease-seconds",
        lease.as_str(),
        "--renew-seconds",
        renew.as_str(),
    ];
    let mut p = Pair::start(&flags).await?;
    p.add_worker("w0", 2)?;
    p.wait_workers(1).await?;
    let mut to_lead = Vec::with_capacity(kills);
    let mut to_assign = Vec::with_capacity(kills);
    for k in 0..kills {
        // Somewhere in the renewal cycle, not always just after a renewal.
        let unit = f64::from(std::time::UNIX_EPOCH.elapsed()?.subsec_nanos()) / 1e9;
        let offset = renew_seconds * unit;
        tokio::time::sleep(Duration::from_secs_f64(offset)).await;
        let old = p.leader(WAIT).await?;
        let killed = Instant::now();
        p.scheds[old].kill().await;
        let submit = tokio::spawn(assigned_after(p.urls(), p.submitter.clone(), k));
        p.leader_besides(Some(old), WAIT).await?;
        let led = killed.elapsed();
        let assigned = submit.await?? - killed;
        println!(
            "failover: kill {:>2}: leader after {:>6.2?}, first new assignment after {:>6.2?}",
            k + 1,
            led,
            assigned
        );
        to_lead.push(led);
        to_assign.push(assigned.max(Duration::ZERO));
        p.restart(old).await?;
    }
    to_lead.sort();
    to_assign.sort();
    println!(
        "failover: {kills} kills, lease {lease_seconds} s, renew {renew_seconds} s: new leader p50 {:.2?}, p99 {:.2?}; first new assignment p50 {:.2?}, p99 {:.2?}",
        percentile(&to_lead, 0.5),
        percentile(&to_lead, 0.99),
        percentile(&to_assign, 0.5),
        percentile(&to_assign, 0.99)
    );
    drop(p);

    let sqlite = throughput_on(
        setup_stored(false, bench_args(), None).await?,
        "sqlite",
        workers,
        load,
    )
    .await?;
    let pg = throughput_on(
        setup_stored(false, bench_args(), Some(PgServer::start()?)).await?,
        "postgres",
        workers,
        load,
    )
    .await?;
    println!("postgres/sqlite: {}", pg.against(&sqlite));
    Ok(())
}

/// Submits one job (sent again until acknowledged) and waits for its first assignment; when
/// that was seen.
async fn assigned_after(urls: String, token: String, k: usize) -> Result<Instant> {
    let deadline = Instant::now() + 2 * WAIT;
    let mut judge = judge_client(&urls, &token).await?;
    let req = pb::SubmitRequest {
        problem_id: "aplusb".into(),
        language: "python3".into(),
        source: format!("{}# failover {k}\n", judge_tests::AC_PY).into_bytes(),
        request_id: format!("failover-{k}"),
        ..Default::default()
    };
    let id = loop {
        match judge.submit(req.clone()).await {
            Ok(r) => break r.into_inner().job_id,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(s) => bail!("submit: {s}"),
        }
    };
    loop {
        if let Ok(job) = judge.get_job(pb::GetJobRequest { job_id: id }).await {
            if job.into_inner().state != pb::JobState::Queued as i32 {
                return Ok(Instant::now());
            }
        }
        if Instant::now() > deadline {
            bail!("job {id} was never assigned");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
