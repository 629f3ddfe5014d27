//! A worker in a VM: how long from qemu's start to the worker connected and to its first
//! verdict (the image cached), then the sandbox's per-run cost inside the guest on pure
//! cgroup v2, as ratios to a bare fork+exec measured there in the same run.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{ensure, Result};
use judge_common::pb;
use judge_tests::vm::worker::{Options, WorkerVm};
use judge_tests::vm::{self, HOST_IN_GUEST};
use judge_tests::{submit, wait_finished, workers_where, Cluster, AC_PY};

pub async fn run(runs: usize) -> Result<()> {
    let image = vm::image().await?;
    let accel = vm::accel(&image).await?;
    println!(
        "vm: guest under {}{}",
        accel.name(),
        if accel == vm::Accel::Tcg {
            " (software emulation: the figures below mean nothing)"
        } else {
            ""
        }
    );
    let c = Cluster::start(&[]).await?;
    let mut opts = Options::new("bench-vm", c.sched.addr, &c.worker_token);
    let bench = std::fs::read(std::env::current_exe()?)?;
    opts.files = HashMap::from([("/judge-bench".to_string(), bench)]);
    let w = WorkerVm::boot(&image, accel, opts, &c.dir.path().join("vm")).await?;
    let judge = c.judge().await?;
    workers_where(
        &judge,
        "bench-vm connected",
        Duration::from_secs(900),
        |l| l.iter().any(|x| x.name == "bench-vm" && x.connected),
    )
    .await?;
    let connected = w.vm.started.elapsed();
    let mut judge = judge;
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    let job = wait_finished(&mut judge, id).await?;
    ensure!(job.verdict == pb::Verdict::Ac as i32, "{job:?}");
    println!(
        "vm: qemu start to worker connected {:.1} s, to its first verdict {:.1} s",
        connected.as_secs_f64(),
        w.vm.started.elapsed().as_secs_f64()
    );
    // Inside the guest, in a unit of its own with its cgroup delegated, as the worker's.
    let script = format!(
        "curl -fsS -o /usr/local/bin/judge-bench http://{HOST_IN_GUEST}:8080/judge-bench && \
         chmod 0755 /usr/local/bin/judge-bench && \
         systemd-run --quiet --wait --pipe -p Delegate=yes \
         /usr/local/bin/judge-bench sandbox --runs {runs} --submissions 0"
    );
    let out =
        w.vm.agent()
            .check(&script, Duration::from_secs(3600))
            .await?;
    for line in out.lines() {
        println!("vm (guest): {line}");
    }
    Ok(())
}
