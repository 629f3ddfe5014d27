//! Every connection runs without Nagle's delay and with TCP keepalive, on both ends: the
//! scheduler's accepted sockets, the worker's and judgectl's. Read from the live sockets, so
//! it cannot silently regress (a small response held back by Nagle waits ~40 ms). And the
//! listen backlog is as large as the fleet the scheduler is sized for.

use std::process::Stdio;

use judge_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_has_nodelay_and_keepalive() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--fleet-size", "3000"]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let job = start_slow(&mut judge, 5.0).await?;
    // judgectl following the job keeps its connection open while we look.
    let mut watch = tokio::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(["watch", &job.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let watch_pid = watch
        .id()
        .ok_or_else(|| anyhow::anyhow!("judgectl exited"))?;
    let sched_port = c.sched.addr.port().to_string();
    let to_scheduler = |pid: u32, port: String| async move {
        eventually("a connection to the scheduler", WAIT, || {
            let port = port.clone();
            async move {
                let list: Vec<TcpOptions> = tcp_options(pid)
                    .ok()?
                    .into_iter()
                    .filter(|o| o.peer.ends_with(&format!(":{port}")))
                    .collect();
                (!list.is_empty()).then_some(list)
            }
        })
        .await
    };
    let worker_pid = c.workers[0]
        .pid()
        .ok_or_else(|| anyhow::anyhow!("no worker"))?;
    let clients = [
        (
            "worker",
            to_scheduler(worker_pid, sched_port.clone()).await?,
        ),
        (
            "judgectl",
            to_scheduler(watch_pid, sched_port.clone()).await?,
        ),
    ];
    let sched_pid = c
        .sched
        .pid()
        .ok_or_else(|| anyhow::anyhow!("no scheduler"))?;
    let accepted: Vec<TcpOptions> = tcp_options(sched_pid)?
        .into_iter()
        .filter(|o| o.local.ends_with(&format!(":{sched_port}")))
        .collect();
    for (who, list) in &clients {
        for o in list {
            assert!(o.nodelay && o.keepalive, "{who}'s socket: {o:?}");
            // The scheduler's end of the same connection.
            let other = accepted
                .iter()
                .find(|a| a.peer == o.local)
                .ok_or_else(|| anyhow::anyhow!("no accepted socket for {o:?} in {accepted:?}"))?;
            assert!(
                other.nodelay && other.keepalive,
                "scheduler's socket for {who}: {other:?}"
            );
        }
    }
    watch.kill().await?;

    // The listen backlog holds the fleet it is sized for (ss shows a listener's backlog as
    // its Send-Q).
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{sched_port}")])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let backlog = text.split_whitespace().nth(2);
    assert_eq!(backlog, Some("3000"), "ss: {text}");
    Ok(())
}
