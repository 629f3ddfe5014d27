//! How long a job stays on a worker that stopped: a real worker frozen with SIGSTOP (its TCP
//! connection stays up: the kernel answers for it) and, for comparison, one killed outright,
//! each while running a long job, with the scheduler's default timeouts. Measured from the
//! signal to the job's next assignment, to a second worker that waits idle.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use judge_common::pb;
use judge_tests::{connected_workers, judge_client, slow_aplusb, wait_state, WorkerProc};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub async fn run() -> Result<()> {
    let s = super::setup_on(false, Vec::new()).await?;
    let mut judge = judge_client(&s.sched.url(), &s.admin).await?;
    for (what, signal) in [
        ("stopped (SIGSTOP)", Signal::SIGSTOP),
        ("killed (SIGKILL)", Signal::SIGKILL),
    ] {
        let dir = s._dir.path().join(format!("{signal:?}"));
        let mut victim = WorkerProc::start(
            &s.sched.url(),
            &s.worker,
            &format!("victim-{signal:?}"),
            1,
            &dir,
        )?;
        connected_workers(&judge, 1, Duration::from_secs(60)).await?;
        let id = judge_tests::submit(&mut judge, "aplusb", "python3", &slow_aplusb(60.0)).await?;
        wait_state(&mut judge, id, "running", |j| {
            j.state == pb::JobState::Running as i32
        })
        .await?;
        let rescuer_name = format!("rescuer-{signal:?}");
        let mut rescuer = WorkerProc::start(&s.sched.url(), &s.worker, &rescuer_name, 1, &dir)?;
        connected_workers(&judge, 2, Duration::from_secs(60)).await?;
        let pid = victim.pid().ok_or_else(|| anyhow!("no worker pid"))?;
        let t = Instant::now();
        kill(Pid::from_raw(pid as i32), signal)?;
        wait_state(&mut judge, id, "moved", |j| j.worker == rescuer_name).await?;
        let took = t.elapsed();
        println!("stuck: a worker {what} mid-job: its job assigned elsewhere after {took:.2?}");
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGCONT);
        victim.kill().await;
        rescuer.kill().await;
        judge
            .cancel_job(pb::CancelJobRequest { job_id: id })
            .await?;
        judge_tests::workers_where(&judge, "both gone", Duration::from_secs(60), |l| {
            !l.iter().any(|w| w.connected)
        })
        .await?;
    }
    Ok(())
}
