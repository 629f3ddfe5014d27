//! `flood`: one student queues many jobs of a second, another submits one now and then, on the
//! real cluster (the scheduler binary, a real worker running each job in its sandbox). The
//! light student's waits (submission to assignment, by the scheduler's own clock) with fair
//! share and with the oldest-first baseline, in the same run.

use std::time::Duration;

use anyhow::{Context, Result};
use judge_common::pb;
use judge_tests::{events, judge_client, sleeping_run, Cluster};

/// Milliseconds from the job's submission to its first assignment.
async fn wait_ms(
    client: &mut judge_common::pb::judge_service_client::JudgeServiceClient<judgectl::Authed>,
    id: u64,
) -> Result<i64> {
    use pb::job_event::Event as Ev;
    let evs = events(client, id).await?;
    let at = |f: fn(&Ev) -> bool| {
        evs.iter()
            .find(|e| e.event.as_ref().is_some_and(f))
            .map(|e| e.at_ms)
    };
    let submitted = at(|e| matches!(e, Ev::Submitted(_))).context("no submitted event")?;
    let assigned = at(|e| matches!(e, Ev::Assigned(_))).context("no assigned event")?;
    Ok(assigned - submitted)
}

/// The light student's waits, ms, sorted, for one queue order.
async fn one(order: &str, flood: usize, light: usize, slots: u32) -> Result<Vec<i64>> {
    let extra = ["--queue-order", order, "--max-queued-per-token", "100000"];
    let mut c = Cluster::start(&extra).await?;
    c.add_worker("w", slots)?;
    c.wait_workers(1).await?;
    let heavy = judge_client(&c.sched.url(), &c.submitter).await?;
    let (_, light_client) = c.another_submitter("light").await?;
    for _ in 0..flood {
        heavy.clone().submit(sleeping_run()).await?;
    }
    // The flood takes about flood / slots seconds: the light jobs are spread over it.
    let drain = Duration::from_secs_f64(flood as f64 * 1.1 / f64::from(slots));
    let gap = drain / (light as u32 + 1);
    let mut ids = Vec::new();
    for _ in 0..light {
        tokio::time::sleep(gap).await;
        ids.push(
            light_client
                .clone()
                .submit(sleeping_run())
                .await?
                .into_inner()
                .job_id,
        );
    }
    let mut waits = Vec::new();
    for id in ids {
        let mut client = light_client.clone();
        waits.push(wait_ms(&mut client, id).await?);
    }
    waits.sort_unstable();
    Ok(waits)
}

fn pct(sorted: &[i64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

pub async fn run(flood: usize, light: usize, slots: u32) -> Result<()> {
    println!(
        "flood: {flood} run jobs of 1 s from one student on one worker of {slots} slots; \
         {light} jobs from another, spread over the flood"
    );
    let mut rows = Vec::new();
    for order in ["fair-share", "oldest-first"] {
        let waits = one(order, flood, light, slots).await?;
        let (p50, p99) = (pct(&waits, 0.5), pct(&waits, 0.99));
        println!("  {order:<13} the light student's wait: p50 {p50:>6.2} s   p99 {p99:>6.2} s   max {:>6.2} s",
            pct(&waits, 1.0));
        rows.push((p50, p99));
    }
    let (fair, oldest) = (rows[0], rows[1]);
    println!(
        "  oldest-first / fair share: p50 x{:.1}, p99 x{:.1} (a job here takes 1 s plus the sandbox's start)",
        oldest.0 / fair.0.max(0.001),
        oldest.1 / fair.1.max(0.001)
    );
    Ok(())
}
