//! The first judging of a new problem on a cold worker, with and without Nagle's delay on
//! the worker's connection, side by side in one run.
//!
//! The worker fetches every test file with its own small `FetchFile` call; with Nagle's
//! algorithm on the serving side, each small response can wait for the peer's delayed ACK
//! (about 40 ms). Both variants go through the same loopback relay (`judge_tests::proxy`),
//! which sets TCP_NODELAY towards the worker or does not, so that the extra hop is the same
//! in both and the only difference is the option.

use std::time::{Duration, Instant};

use anyhow::Result;
use judge_common::pb;
use judge_tests::proxy::Proxy;
use judge_tests::{admin_client, connected_workers, judge_client, push, wait_finished, WorkerProc};

use super::{setup, write_sum_problem, SUM_C};

pub async fn run(tests: usize, rounds: usize) -> Result<()> {
    let s = setup().await?;
    let dir = s._dir.path().join("many");
    write_sum_problem(&dir, tests)?;
    let mut admin = admin_client(&s.sched.url(), &s.admin).await?;
    push(&mut admin, &dir, "many", None).await?;
    let mut judge = judge_client(&s.sched.url(), &s.admin).await?;
    let mut times: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, nodelay) in [false, true].into_iter().enumerate() {
            let proxy = Proxy::start_with(s.sched.addr, nodelay).await?;
            // A new work dir: a cold cache every time.
            let work = s._dir.path().join(format!("w-{round}-{nodelay}"));
            let name = format!("cold-{round}-{nodelay}");
            let mut worker = WorkerProc::start(&proxy.url(), &s.worker, &name, 1, &work)?;
            connected_workers(&judge, 1, Duration::from_secs(60)).await?;
            let started = Instant::now();
            let id = judge_tests::submit(&mut judge, "many", "c", SUM_C).await?;
            let job = wait_finished(&mut judge, id).await?;
            let took = started.elapsed();
            anyhow::ensure!(job.verdict == pb::Verdict::Ac as i32, "job {id}: {job:?}");
            times[i].push(took);
            worker.kill().await;
            // Wait until the scheduler has seen it go, so the next round starts alone.
            judge_tests::workers_where(&judge, "the worker gone", Duration::from_secs(60), |l| {
                !l.iter().any(|w| w.connected)
            })
            .await?;
        }
    }
    let [nagle, nodelay] = times.map(super::median);
    println!(
        "first judging: {tests} tests, cold worker, submit to verdict (median of {rounds}): with Nagle {nagle:.2?}, with TCP_NODELAY {nodelay:.2?} = x{:.2}",
        nodelay.as_secs_f64() / nagle.as_secs_f64()
    );
    Ok(())
}
