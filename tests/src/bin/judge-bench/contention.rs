//! `contention`: submit throughput with problem pushes interleaved, as a ratio to the plain
//! run measured just before on a fresh scheduler of the same kind. Every write takes the
//! write lock when it begins, so pushes queue with the driver's batches instead of failing
//! them; this measures what that waiting costs the submissions.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{setup_with, start_fleet, submit_all, wait_done};

/// Jobs per second from the first submit until every job is stored done, with `pushes`
/// problem pushes (one after another) running meanwhile.
async fn once(jobs: usize, submitters: usize, pushes: usize) -> Result<(f64, Duration)> {
    let s = setup_with(false).await?;
    start_fleet(&s, 8, 64, Duration::from_secs(5), None)?;
    let judge = judge_tests::judge_client(&s.url, &s.admin).await?;
    judge_tests::connected_workers(&judge, 8, Duration::from_secs(300)).await?;
    let (url, admin) = (s.url.clone(), s.admin.clone());
    let pusher = tokio::spawn(async move {
        let started = Instant::now();
        let mut client = judge_tests::admin_client(&url, &admin).await?;
        let dir = judge_tests::example_problem("aplusb");
        for i in 0..pushes {
            judge_tests::push(&mut client, &dir, &format!("p{}", i % 7), Some(5.0)).await?;
        }
        anyhow::Ok(started.elapsed())
    });
    let started = Instant::now();
    submit_all(&[judge], submitters, jobs).await?;
    wait_done(&s.store, jobs as u64).await?;
    let rate = jobs as f64 / started.elapsed().as_secs_f64();
    let pushing = pusher.await??;
    Ok((rate, pushing))
}

pub async fn run(jobs: usize, submitters: usize, pushes: usize) -> Result<()> {
    let (plain, _) = once(jobs, submitters, 0).await?;
    println!("plain: {plain:.0} jobs/s end to end ({jobs} jobs, {submitters} submitters)");
    let (busy, pushing) = once(jobs, submitters, pushes).await?;
    println!(
        "with {pushes} pushes interleaved: {busy:.0} jobs/s (the pushes took {pushing:.2?}): \
         x{:.2} of plain",
        busy / plain
    );
    Ok(())
}
