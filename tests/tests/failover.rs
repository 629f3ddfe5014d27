//! Two schedulers on one PostgreSQL (a server of each test's own): the leader killed,
//! stopped past its lease, shut down cleanly, the database restarted under both; and a
//! standby's answers. Real processes on loopback; the history checker of the chaos test
//! reads the database at the end.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use judge_common::pb;
use judge_scheduler::store::Store;
use judge_tests::chaos::{check, retryable, submit_acked, ChaosReport, Sent};
use judge_tests::ha::{http_call, http_get, postgres_available, Pair};
use judge_tests::{admin_client, example_problem, judge_client, push, submit, wait_finished, WAIT};
use nix::sys::signal::Signal;

/// One test at a time: each runs a database, two schedulers and workers of its own.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A short lease, so that a takeover after a crash takes seconds, not ten.
const SHORT_LEASE: [&str; 4] = ["--lease-seconds", "4", "--renew-seconds", "1"];

fn flags(more: &[&'static str]) -> Vec<&'static str> {
    let mut v = SHORT_LEASE.to_vec();
    v.extend(["--grace-seconds", "3", "--max-attempts", "50"]);
    v.extend(more);
    v
}

/// A pair started with `flags`, its `workers` (name, slots) connected, this test alone on
/// the machine while the guard lives; `None` (said loudly) where PostgreSQL cannot run.
async fn pair(
    test: &str,
    flags: &[&str],
    workers: &[(&str, u32)],
) -> Result<Option<(tokio::sync::MutexGuard<'static, ()>, Pair)>> {
    if !postgres_available(test)? {
        return Ok(None);
    }
    let one = ONE_AT_A_TIME.lock().await;
    let mut p = Pair::start(flags).await?;
    for (name, slots) in workers {
        p.add_worker(name, *slots)?;
    }
    if !workers.is_empty() {
        p.wait_workers(workers.len()).await?;
    }
    Ok(Some((one, p)))
}

/// The acknowledged submissions so far, shared with the test while the submitter runs.
type Acked = Arc<Mutex<Vec<(Sent, u64)>>>;

/// Submits `range` through both schedulers, each sent again (same request id) until
/// acknowledged, one every `pace`.
async fn submit_range(
    urls: String,
    token: String,
    range: std::ops::Range<usize>,
    pace: Duration,
    acked: Acked,
) -> Result<()> {
    let mut judge = judge_client(&urls, &token).await?;
    for i in range {
        let (sent, id, _) = submit_acked(&mut judge, i, 2 * WAIT).await?;
        acked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((sent, id));
        tokio::time::sleep(pace).await;
    }
    Ok(())
}

/// Every acknowledged job ends (followed through both schedulers), then the checker reads
/// the database: nothing lost, doubled or misjudged.
async fn all_end_clean(p: &Pair, acked: &Acked) -> Result<ChaosReport> {
    let acked = acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut judge = judge_client(&p.urls(), &p.admin).await?;
    for (_, id) in &acked {
        wait_finished(&mut judge, *id).await?;
    }
    let store = Store::open(&p.db()).await?;
    let mut report = ChaosReport {
        jobs: acked.len(),
        ..Default::default()
    };
    check(&store, &acked, &mut report).await?;
    store.close().await;
    ensure!(report.clean(), "{report}\n{}", p.logs());
    Ok(report)
}

/// Follows a job's events to its end through both schedulers, resuming after the last
/// event it saw whenever the stream drops.
async fn watch_through(urls: String, token: String, job_id: u64) -> Result<Vec<pb::JobEvent>> {
    let mut judge = judge_client(&urls, &token).await?;
    let mut got: Vec<pb::JobEvent> = Vec::new();
    let deadline = Instant::now() + 3 * WAIT;
    loop {
        ensure!(Instant::now() < deadline, "job {job_id} never ended");
        let after_seq = got.last().map_or(0, |e| e.seq);
        match judge
            .watch_job(pb::WatchJobRequest { job_id, after_seq })
            .await
        {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                while let Ok(Some(ev)) = stream.message().await {
                    let end = matches!(ev.event, Some(pb::job_event::Event::Finished(_)));
                    got.push(ev);
                    if end {
                        return Ok(got);
                    }
                }
            }
            Err(s) if retryable(s.code()) => {}
            Err(s) => bail!("watch {job_id}: {s}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Says it is alive, then waits for ever.
const FOREVER_PY: &str =
    "import time\nprint('alive', flush=True)\nwhile True:\n    time.sleep(1)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_killed_mid_run_loses_doubles_and_misjudges_nothing() -> Result<()> {
    let Some((_one, mut p)) =
        pair("failover::killed", &flags(&[]), &[("w0", 3), ("w1", 3)]).await?
    else {
        return Ok(());
    };
    let urls = p.urls();

    // A console open on the leader (an admin's: the checker reads the student's jobs).
    let mut judge = judge_client(&urls, &p.admin).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(pb::ConsoleRequest {
        msg: Some(pb::console_request::Msg::Open(pb::ConsoleOpen {
            language: "python3".into(),
            source: FOREVER_PY.as_bytes().to_vec(),
            size: Some(pb::TerminalSize { rows: 24, cols: 80 }),
            limits: None,
            piped_input: true,
        })),
    })
    .await?;
    let mut console = judge
        .console(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut console_id = 0;
    let mut seen = Vec::new();
    let alive = async {
        while let Some(ev) = console.message().await? {
            match ev.event {
                Some(pb::console_event::Event::Queued(q)) => console_id = q.job_id,
                Some(pb::console_event::Event::Output(b)) => seen.extend_from_slice(&b),
                _ => {}
            }
            if String::from_utf8_lossy(&seen).contains("alive") {
                return Ok(());
            }
        }
        bail!("the console ended before its program ran")
    };
    tokio::time::timeout(WAIT, alive).await??;
    // And one in judgectl, on a terminal, as a person would have it.
    let program = p.dir.path().join("forever.py");
    std::fs::write(&program, FOREVER_PY)?;
    let mut cmd = std::process::Command::new(judge_tests::bin("judgectl"));
    cmd.args(["--scheduler", &urls, "--token", &p.admin])
        .args(["console", "--language", "python3"])
        .arg(&program);
    let mut person = judge_tests::pty::PtyProc::spawn(cmd)?;
    person.expect("alive", WAIT)?;

    // 500 jobs; the leader is killed when half are acknowledged, with watches open on the
    // newest of them.
    let acked: Acked = Default::default();
    let submitter = tokio::spawn(submit_range(
        urls.clone(),
        p.submitter.clone(),
        0..500,
        Duration::from_millis(10),
        acked.clone(),
    ));
    let deadline = Instant::now() + 2 * WAIT;
    while acked.lock().unwrap_or_else(|p| p.into_inner()).len() < 250 {
        ensure!(Instant::now() < deadline, "submitting stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let newest: Vec<u64> = {
        let a = acked.lock().unwrap_or_else(|p| p.into_inner());
        a.iter().rev().take(5).map(|(_, id)| *id).collect()
    };
    let watches: Vec<_> = newest
        .iter()
        .map(|&id| tokio::spawn(watch_through(urls.clone(), p.submitter.clone(), id)))
        .collect();
    let old = p.leader(WAIT).await?;
    let killed = Instant::now();
    p.scheds[old].kill().await;
    let new = p.leader_besides(Some(old), WAIT).await?;
    ensure!(new != old, "the killed scheduler cannot lead");
    eprintln!(
        "fail-over: the standby led {:.1?} after the kill",
        killed.elapsed()
    );
    // The killed one comes back (as systemd would start it) and stands by.
    p.restart(old).await?;

    // The console's stream ended with its scheduler; the new leader records it failed.
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match console.message().await {
                Ok(Some(_)) => {}
                Ok(None) => return "ended".to_string(),
                Err(s) => return format!("{:?}", s.code()),
            }
        }
    })
    .await?;
    eprintln!("the console's stream: {ended}");
    person.expect("the connection to the scheduler was lost", WAIT)?;
    ensure!(
        person.wait(WAIT)?.code() == Some(123),
        "{}",
        person.screen()
    );
    let mut judge = judge_client(&urls, &p.admin).await?;
    let job = wait_finished(&mut judge, console_id).await?;
    ensure!(
        job.state == pb::JobState::Failed as i32,
        "the console after the fail-over: {job:?}"
    );

    submitter.await??;
    let report = all_end_clean(&p, &acked).await?;
    eprintln!("{report}");

    // Each watch saw every event of its job once, in order, as stored.
    let store = Store::open(&p.db()).await?;
    for (id, watch) in newest.iter().zip(watches) {
        let watched: Vec<u64> = watch.await??.iter().map(|e| e.seq).collect();
        let stored: Vec<u64> = store
            .events_after(*id, 0)
            .await?
            .iter()
            .map(|e| e.seq)
            .collect();
        ensure!(
            watched == stored,
            "job {id}: watched {watched:?}, stored {stored:?}"
        );
    }
    // Running jobs were re-adopted by the new leader, not judged again (a job whose
    // assignment never reached its worker is assigned again after the grace period).
    let mut again = 0;
    let ids: Vec<u64> = acked
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(_, id)| *id)
        .collect();
    for id in &ids {
        let assigned = store
            .events_after(*id, 0)
            .await?
            .iter()
            .filter(|e| matches!(e.event, Some(pb::job_event::Event::Assigned(_))))
            .count();
        again += usize::from(assigned > 1);
    }
    eprintln!("jobs assigned more than once: {again} of 500");
    store.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_stopped_past_its_lease_steps_down_and_follows() -> Result<()> {
    let Some((_one, mut p)) = pair("failover::stopped", &flags(&[]), &[("w0", 2)]).await? else {
        return Ok(());
    };
    let stopped = stop_and_follow(&mut p).await;
    stopped.with_context(|| format!("the processes' logs:\n{}", p.logs()))
}

/// The steps of the test above: SIGSTOP the leader past its lease, judge on, SIGCONT.
async fn stop_and_follow(p: &mut Pair) -> Result<()> {
    let acked: Acked = Default::default();
    let urls = p.urls();
    submit_range(
        urls.clone(),
        p.submitter.clone(),
        0..20,
        Duration::ZERO,
        acked.clone(),
    )
    .await?;

    let old = p.leader(WAIT).await?;
    p.scheds[old].signal(Signal::SIGSTOP)?;
    let new = p.leader_besides(Some(old), WAIT).await?;
    ensure!(new != old);
    // Work goes on under the new leader while the old one is stopped, on a worker that has
    // never seen the problem's files: the new leader, which was never pushed them, serves
    // them from the database.
    p.workers[0].kill().await;
    p.add_worker("fresh", 2)?;
    submit_range(
        urls.clone(),
        p.submitter.clone(),
        20..40,
        Duration::ZERO,
        acked.clone(),
    )
    .await?;
    p.scheds[old].signal(Signal::SIGCONT)?;
    // It finds its lease gone, says so, and starts again as a standby naming the leader.
    // Its ports stay bound through the restart: a connection may be cut as the old program
    // ends (asked again), never refused.
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = http_get(p.scheds[old].http, "/api/v1/jobs").await;
        if let Ok((503, body)) = &answer {
            let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            if json["leader"] == format!("http://{}", p.scheds[new].http) {
                break;
            }
        }
        let refused = answer.as_ref().is_err_and(|e| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
        });
        ensure!(
            !refused && Instant::now() < deadline,
            "the old leader answers {answer:?}; its log:\n{}",
            p.scheds[old].log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = p.scheds[old].log();
    ensure!(
        log.contains("deposed") && !log.contains("binding anew"),
        "{log}"
    );
    ensure!(p.leader(WAIT).await? == new);
    all_end_clean(p, &acked).await?;
    let name = if new == 0 { "a" } else { "b" };
    let cached = walk_files(&p.dir.path().join(name).join("blobs"));
    ensure!(
        cached > 0,
        "the new leader served no file from its blob directory"
    );
    Ok(())
}

/// Files under `dir`, in every folder but `tmp`.
fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                if e.file_name() == "tmp" {
                    0
                } else {
                    walk_files(&path)
                }
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_restarted_under_both_they_wait_elect_and_go_on() -> Result<()> {
    let Some((_one, p)) = pair("failover::postgres_restart", &flags(&[]), &[("w0", 2)]).await?
    else {
        return Ok(());
    };
    let acked: Acked = Default::default();
    let submitter = tokio::spawn(submit_range(
        p.urls(),
        p.submitter.clone(),
        0..60,
        Duration::from_millis(100),
        acked.clone(),
    ));
    let deadline = Instant::now() + WAIT;
    while acked.lock().unwrap_or_else(|p| p.into_inner()).len() < 15 {
        ensure!(Instant::now() < deadline, "submitting stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    p.pg.stop()?;
    // Neither leads without its database.
    let deadline = Instant::now() + WAIT;
    loop {
        let mut any = false;
        for s in &p.scheds {
            any |= s.leads().await;
        }
        if !any {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "a scheduler still says it is ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.pg.start_again()?;
    let leader = p.leader(2 * WAIT).await?;
    eprintln!("after the database's restart scheduler {leader} leads");
    submitter.await??;
    all_end_clean(&p, &acked).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_shutdown_hands_over_to_a_leader_that_knows_what_the_first_was_told() -> Result<()>
{
    // A long lease: a takeover within it can only be a handover.
    let Some((_one, mut p)) = pair(
        "failover::handover",
        &["--lease-seconds", "60", "--renew-seconds", "2"],
        &[("w0", 1)],
    )
    .await?
    else {
        return Ok(());
    };
    let old = p.leader(WAIT).await?;
    // Told while the first leads: a new submitter token, the old one revoked (through the
    // command beside the schedulers), a second problem pushed through the leader.
    let late = p.token(&["create", "--role", "submitter", "--name", "late"])?;
    p.token(&["revoke", "student"])?;
    let mut admin = admin_client(&p.urls(), &p.admin).await?;
    push(
        &mut admin,
        &example_problem("maxlist"),
        "maxlist",
        Some(20.0),
    )
    .await?;

    let asked = Instant::now();
    p.scheds[old].signal(Signal::SIGTERM)?;
    let new = p.leader_besides(Some(old), WAIT).await?;
    let took = asked.elapsed();
    eprintln!("hand-over: the standby led {took:.2?} after SIGTERM");
    ensure!(new != old);
    ensure!(
        took < Duration::from_secs(30),
        "took {took:?}: not a hand-over"
    );
    let status = p.scheds[old].wait(WAIT).await?;
    ensure!(status.success(), "the old leader exited {status}");
    // The new leader refuses the revoked token and takes the new one; the fleet follows,
    // and the problem pushed to the first is judged on the second.
    let mut revoked = judge_client(&p.urls(), &p.submitter).await?;
    let refused = submit(&mut revoked, "aplusb", "python3", "print(0)").await;
    let refused = refused.err().context("the revoked token was taken")?;
    ensure!(
        refused
            .downcast_ref::<tonic::Status>()
            .is_some_and(|s| s.code() == tonic::Code::Unauthenticated),
        "the revoked token: {refused:#}"
    );
    let acked: Acked = Default::default();
    submit_range(p.urls(), late.clone(), 0..3, Duration::ZERO, acked.clone()).await?;
    all_end_clean(&p, &acked).await?;
    let mut judge = judge_client(&p.urls(), &late).await?;
    let source = std::fs::read_to_string(
        judge_tests::workspace().join("examples/submissions/maxlist/ac.py"),
    )?;
    let id = submit(&mut judge, "maxlist", "python3", &source).await?;
    let job = wait_finished(&mut judge, id).await?;
    ensure!(
        job.verdict == pb::Verdict::Ac as i32,
        "maxlist on the new leader: {job:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standby_refuses_every_call_naming_the_leader() -> Result<()> {
    let Some((_one, p)) = pair("failover::standby", &[], &[]).await? else {
        return Ok(());
    };
    let (leader, standby) = (&p.scheds[0], &p.scheds[1]);
    ensure!(leader.leads().await && !standby.leads().await);

    // gRPC straight to the standby: UNAVAILABLE, the leader's URL in the metadata.
    let channel = judge_common::channel::endpoint(&standby.url(), &Default::default())?
        .connect()
        .await?;
    let mut judge = pb::judge_service_client::JudgeServiceClient::with_interceptor(
        channel.clone(),
        judge_common::auth::Bearer::new(&p.submitter)?,
    );
    let refused = judge
        .submit(pb::SubmitRequest {
            problem_id: "aplusb".into(),
            language: "python3".into(),
            source: b"print(1)\n".to_vec(),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow!("a standby took a submission"))?;
    ensure!(refused.code() == tonic::Code::Unavailable, "{refused:?}");
    ensure!(refused.message().contains("standby"), "{refused:?}");
    ensure!(
        judge_common::failover::leader_hint(&refused) == Some(leader.url()),
        "{refused:?}"
    );
    // The health service says it does not serve.
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner();
    ensure!(
        health.status == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );

    // HTTP: alive, not ready, every call 503 with the leader in the JSON error.
    ensure!(http_get(standby.http, "/healthz").await?.0 == 200);
    ensure!(http_get(standby.http, "/readyz").await?.0 == 503);
    let (status, body) = http_call(standby.http, "POST", "/api/v1/jobs", "{}").await?;
    let json: serde_json::Value = serde_json::from_str(&body)?;
    ensure!(status == 503, "{status} {body}");
    ensure!(
        json["leader"] == format!("http://{}", leader.http),
        "{body}"
    );
    ensure!(json["leader_grpc"] == leader.url(), "{body}");
    let (_, metrics) = http_get(standby.http, "/metrics").await?;
    ensure!(metrics.contains("judge_leading 0"), "{metrics}");
    ensure!(metrics.contains("judge_leader_term 1"), "{metrics}");
    let (_, metrics) = http_get(leader.http, "/metrics").await?;
    ensure!(metrics.contains("judge_leading 1"), "{metrics}");

    // judgectl given the standby first goes to the leader.
    let urls = format!("{},{}", standby.url(), leader.url());
    let out = std::process::Command::new(judge_tests::bin("judgectl"))
        .args(["--scheduler", &urls, "--token", &p.admin, "workers"])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A lease that a failed renewal would lose is refused at start, by name.
    let out = std::process::Command::new(judge_tests::bin("judge-scheduler"))
        .args(["serve", "--database", &p.db(), "--lease-seconds", "4"])
        .args(["--renew-seconds", "3", "--data-dir"])
        .arg(p.dir.path().join("c"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && stderr.contains("renew_seconds"),
        "{stderr}"
    );
    Ok(())
}
