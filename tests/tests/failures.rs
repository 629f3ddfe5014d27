//! Failure paths, in real processes: a worker killed mid-job, a dropped stream that comes back
//! inside the grace period, and a scheduler killed and restarted.

use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use judge_tests::proxy::Proxy;
use judge_tests::*;
use judgectl::Authed;

fn requeues(events: &[pb::JobEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.event, Some(pb::job_event::Event::Requeued(_))))
        .count()
}

fn finishes(events: &[pb::JobEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.event, Some(pb::job_event::Event::Finished(_))))
        .count()
}

/// A cluster with one worker `name` (1 slot, 1 s grace) running a slow job.
async fn slow_job_on(name: &str) -> anyhow::Result<(Cluster, JudgeServiceClient<Authed>, u64)> {
    let mut c = Cluster::start(&["--grace-seconds", "1"]).await?;
    c.add_worker(name, 1)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let id = start_slow(&mut judge, 1.5).await?;
    Ok((c, judge, id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_nothing() -> anyhow::Result<()> {
    let (mut c, mut judge, id) = slow_job_on("victim").await?;
    // The worker's spawn helper, and the run it started (the slow submission).
    let helper = c.workers[0]
        .spawn_helper()
        .expect("the worker has a spawn helper");
    let mut runs = children_of(helper);
    for _ in 0..500 {
        if !runs.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        runs = children_of(helper);
    }
    assert!(!runs.is_empty(), "the submission is running");
    c.workers[0].kill().await;
    c.add_worker("rescuer", 1)?;
    // With the worker gone, its helper kills the run and exits.
    for pid in runs.iter().chain([&helper]) {
        wait_gone(*pid).await?;
    }

    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.state, pb::JobState::Done as i32, "{}", c.logs());
    assert_eq!(job.verdict, pb::Verdict::Ac as i32);
    assert_eq!(job.attempts, 2);
    assert_eq!(job.worker, "rescuer");
    assert_eq!(job.tests.len(), 4, "the results of one attempt, once");
    let events = events(&mut judge, id).await?;
    assert_eq!((requeues(&events), finishes(&events)), (1, 1), "{events:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_back_within_grace_keeps_its_job() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--grace-seconds", "30"]).await?;
    let proxy = Proxy::start(c.sched.addr).await?;
    c.add_worker_at(&proxy.url(), "flaky", 1)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let id = start_slow(&mut judge, 2.0).await?;
    proxy.cut();
    // The worker notices, dials again through the proxy and is offered its job back.
    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.state, pb::JobState::Done as i32, "{}", c.logs());
    assert_eq!(
        (job.verdict, job.attempts),
        (pb::Verdict::Ac as i32, 1),
        "adopted, not re-run"
    );
    assert_eq!(job.tests.len(), 4);
    let events = events(&mut judge, id).await?;
    assert_eq!((requeues(&events), finishes(&events)), (0, 1), "{events:?}");
    assert!(c.workers[0].log().contains("adopted=1"), "{}", c.logs());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_killed_and_restarted_finishes_every_accepted_job() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--grace-seconds", "5"]).await?;
    let proxy = Proxy::start(c.sched.addr).await?;
    c.add_worker_at(&proxy.url(), "a", 1)?;
    c.add_worker_at(&proxy.url(), "b", 1)?;
    c.wait_workers(2).await?;
    let mut judge = c.judge().await?;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(submit(&mut judge, "aplusb", "python3", &slow_aplusb(0.7)).await?);
    }
    // Watch one job until it has some events, remembering the last sequence number.
    let watched = ids[0];
    let mut stream = judge
        .watch_job(pb::WatchJobRequest {
            job_id: watched,
            after_seq: 0,
        })
        .await?
        .into_inner();
    let mut last = 0;
    while last < 3 {
        let ev = stream.message().await?.expect("an event");
        last = ev.seq;
    }
    wait_state(&mut judge, ids[1], "running", |j| {
        j.state >= pb::JobState::Assigned as i32
    })
    .await?;

    c.sched.kill().await;
    let data = c.sched.data_dir.clone();
    c.sched = SchedulerProc::start(&data, &["--grace-seconds", "5"]).await?;
    proxy.set_upstream(c.sched.addr);
    proxy.cut();

    let mut judge = c.judge().await?;
    for id in &ids {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(
            job.state,
            pb::JobState::Done as i32,
            "job {id}: {}",
            c.logs()
        );
        assert_eq!(job.verdict, pb::Verdict::Ac as i32, "job {id}");
        assert_eq!(job.tests.len(), 4, "job {id}");
        let events = events(&mut judge, *id).await?;
        assert_eq!(finishes(&events), 1, "job {id}: {events:?}");
    }
    // The watcher resumes where it stopped: the next event is last + 1, and it ends finished.
    let mut resumed = judge
        .watch_job(pb::WatchJobRequest {
            job_id: watched,
            after_seq: last,
        })
        .await?
        .into_inner();
    let first = resumed
        .message()
        .await?
        .expect("events after the resume point");
    assert_eq!(first.seq, last + 1);
    let mut end = first;
    while let Some(ev) = resumed.message().await? {
        assert_eq!(ev.seq, end.seq + 1, "gapless");
        end = ev;
    }
    assert!(matches!(end.event, Some(pb::job_event::Event::Finished(_))));
    let submitted: Vec<u64> = judge
        .list_jobs(pb::ListJobsRequest {
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs
        .iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(submitted.len(), ids.len(), "no job lost or duplicated");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_spawn_helper_is_killed_exits_and_its_job_finishes_elsewhere(
) -> anyhow::Result<()> {
    let (mut c, mut judge, id) = slow_job_on("orphan").await?;
    let helper = c.workers[0]
        .spawn_helper()
        .expect("the worker has a spawn helper");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper as i32),
        nix::sys::signal::Signal::SIGKILL,
    )?;
    // It could judge nothing more: it says why and exits, rather than failing every job.
    let status = c.workers[0].wait(WAIT).await?;
    assert!(!status.success(), "{}", c.logs());
    assert!(
        c.workers[0].log().contains("the spawn helper died"),
        "{}",
        c.logs()
    );
    c.add_worker("rescuer", 1)?;
    let job = wait_finished(&mut judge, id).await?;
    assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
    assert_eq!(job.worker, "rescuer");
    assert_eq!(job.attempts, 2, "re-queued, not ended as a judge error");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_whose_connection_stays_up_loses_its_job_to_another() -> anyhow::Result<()>
{
    // A short report timeout keeps the test short; the default (10 s) is measured by
    // `judge-bench stuck`.
    let mut c = Cluster::start(&[
        "--report-interval-seconds",
        "0.5",
        "--report-timeout-seconds",
        "2",
        "--grace-seconds",
        "60",
    ])
    .await?;
    c.add_worker("frozen", 1)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let id = start_slow(&mut judge, 1.0).await?;
    let pid = c.workers[0].pid().expect("the worker runs");
    let stop = |sig| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    stop(nix::sys::signal::Signal::SIGSTOP)?;
    c.add_worker("rescuer", 1)?;
    // Its TCP connection stays up (the kernel answers for it), but it reports nothing: it
    // is dropped after the report timeout and its job moves at once, well before the 60 s
    // grace that a dropped connection would get.
    let job = wait_finished(&mut judge, id).await;
    stop(nix::sys::signal::Signal::SIGCONT)?;
    let job = job?;
    assert_eq!(job.state, pb::JobState::Done as i32, "{}", c.logs());
    assert_eq!(job.worker, "rescuer", "{}", c.logs());
    assert_eq!(job.attempts, 2);
    assert!(
        c.sched.log().contains("no report within the timeout"),
        "{}",
        c.logs()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_worker_is_not_mistaken_for_a_stuck_one() -> anyhow::Result<()> {
    // The same short timeout: 16 slots judging and a 64 MB download at once must not
    // keep its reports from arriving in time.
    let mut c = Cluster::start(&[
        "--report-interval-seconds",
        "0.5",
        "--report-timeout-seconds",
        "2",
    ])
    .await?;
    c.push_sized("big", 64 << 20, 1).await?;
    c.add_worker("busy", 16)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(submit(&mut judge, "aplusb", "python3", &slow_aplusb(0.5)).await?);
    }
    for _ in 0..4 {
        ids.push(submit(&mut judge, "big", "python3", FIRST_LINE_PY).await?);
    }
    for id in ids {
        let job = wait_finished(&mut judge, id).await?;
        assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
        assert_eq!(job.attempts, 1, "job {id} was taken back: {}", c.logs());
    }
    assert!(
        !c.sched.log().contains("no report within the timeout"),
        "{}",
        c.logs()
    );
    Ok(())
}
