//! Nobody gets in where they don't belong, tried on the raw wire as an attacker would: forged
//! reports, stolen worker names, other students' jobs, a flooded queue, watches of jobs that
//! do not exist. Each attack fails and changes nothing; the honest path still works.

use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use judge_tests::raw::{finished, hello, report_once, update, RawWorker};
use judge_tests::*;
use judgectl::Authed;
use tonic::Code;

/// A token made while the scheduler runs, once the scheduler accepts it.
async fn live_token(c: &Cluster, role: &str, name: &str) -> anyhow::Result<String> {
    let t = token(&c.sched.data_dir, role, name)?;
    let url = c.sched.url();
    eventually("the new token to be accepted", WAIT, || {
        let (url, t) = (url.clone(), t.clone());
        async move {
            let mut judge = judge_client(&url, &t).await.ok()?;
            let r = judge
                .list_jobs(pb::ListJobsRequest {
                    limit: 1,
                    ..Default::default()
                })
                .await;
            match r {
                Err(s) if s.code() == Code::Unauthenticated => None,
                _ => Some(()),
            }
        }
    })
    .await?;
    Ok(t)
}

/// A job of `aplusb` running on raw worker `name`: the worker and the assignment.
async fn running_job(c: &Cluster, name: &str) -> anyhow::Result<(RawWorker, pb::Assign)> {
    let mut w = RawWorker::connect(&c.sched.url(), &c.worker_token, hello(name, vec![])).await?;
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    let a = w.assigned().await?;
    assert_eq!(a.job_id, id);
    w.send(
        a.job_id,
        a.attempt,
        pb::job_update::Update::Accepted(pb::Accepted {}),
    )
    .await?;
    wait_state(&mut judge, id, "running", |j| {
        j.state == pb::JobState::Running as i32
    })
    .await?;
    Ok((w, a))
}

async fn job(judge: &mut JudgeServiceClient<Authed>, id: u64) -> Result<pb::Job, tonic::Status> {
    judge
        .get_job(pb::GetJobRequest { job_id: id })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_token_cannot_report_on_a_session_it_did_not_open() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let intruder = live_token(&c, "worker", "intruder").await?;
    let (victim, a) = running_job(&c, "victim").await?;
    let key = victim.welcome.session_id.clone();
    assert_eq!(key.len(), 32, "a session key is 128 bits of hex");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));

    // On the victim's session: refused outright.
    let forged = update(&key, a.job_id, a.attempt, finished(pb::Verdict::Ac));
    let r = report_once(&c.sched.url(), &intruder, vec![forged]).await?;
    assert_status(r, Code::PermissionDenied, "another token");
    // On a session of its own: accepted as a stream, ignored as an update (not its attempt).
    let own = RawWorker::connect(&c.sched.url(), &intruder, hello("intruder-1", vec![])).await?;
    let forged = update(
        &own.welcome.session_id,
        a.job_id,
        a.attempt,
        finished(pb::Verdict::Ac),
    );
    report_once(&c.sched.url(), &intruder, vec![forged]).await??;

    // The victim's own report decides: WA, as its submission deserved here.
    victim
        .send(a.job_id, a.attempt, finished(pb::Verdict::Wa))
        .await?;
    let mut judge = c.judge().await?;
    let done = wait_finished(&mut judge, a.job_id).await?;
    assert_eq!(done.verdict, pb::Verdict::Wa as i32, "{}", c.logs());
    assert_eq!(done.worker, "victim");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_name_belongs_to_the_token_that_registered_it() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let intruder = live_token(&c, "worker", "intruder").await?;
    let (victim, a) = running_job(&c, "w1").await?;

    // Taking over the name, offering the victim's attempt back: refused, naming the name.
    let running = vec![pb::RunningAttempt {
        job_id: a.job_id,
        attempt: a.attempt,
    }];
    let r = RawWorker::connect(&c.sched.url(), &intruder, hello("w1", running)).await;
    let status = r
        .err()
        .and_then(|e| e.downcast::<tonic::Status>().ok())
        .expect("the connect is refused with a status");
    assert_status::<()>(Err(status), Code::PermissionDenied, "\"w1\"");

    // The holder stays connected and keeps its job.
    let judge = c.judge().await?;
    let list = connected_workers(&judge, 1, WAIT).await?;
    assert!(
        list.iter().any(|w| w.name == "w1" && w.running == 1),
        "{list:?}"
    );
    victim
        .send(a.job_id, a.attempt, finished(pb::Verdict::Ac))
        .await?;
    let done = wait_finished(&mut c.judge().await?, a.job_id).await?;
    assert_eq!(
        (done.verdict, done.worker.as_str()),
        (pb::Verdict::Ac as i32, "w1")
    );

    // The same token may replace its own connection (a reconnect).
    let again = RawWorker::connect(&c.sched.url(), &c.worker_token, hello("w1", vec![])).await?;
    assert_ne!(again.welcome.session_id, victim.welcome.session_id);

    // Once the name is forgotten, another token may take it.
    drop(again);
    drop(victim);
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["worker", "forget", "w1", "--data-dir"])
        .arg(&c.sched.data_dir)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    RawWorker::connect(&c.sched.url(), &intruder, hello("w1", vec![])).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitters_see_and_touch_only_their_own_jobs() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let other = live_token(&c, "submitter", "student2").await?;
    let mut alice = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut bob = judge_client(&c.sched.url(), &other).await?;
    // No worker: the job waits, so it can still be cancelled.
    let id = submit(&mut alice, "aplusb", "python3", "this does not compile(").await?;

    let theirs = job(&mut bob, id).await;
    assert_status(theirs, Code::NotFound, &format!("job {id} not found"));
    let missing = job(&mut bob, 999_999).await;
    assert_status(missing, Code::NotFound, "job 999999 not found");
    let watch = bob
        .watch_job(pb::WatchJobRequest {
            job_id: id,
            after_seq: 0,
        })
        .await;
    assert_status(watch, Code::NotFound, "not found");
    let cancel = bob.cancel_job(pb::CancelJobRequest { job_id: id }).await;
    assert_status(cancel, Code::NotFound, "not found");
    let listed = bob
        .list_jobs(pb::ListJobsRequest {
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert!(
        listed.is_empty(),
        "bob sees none of alice's jobs: {listed:?}"
    );

    // The owner sees it; an admin sees it with its owner.
    let mine = job(&mut alice, id).await?;
    assert_eq!(mine.owner, "student");
    let mut admin = c.judge().await?;
    let all = admin
        .list_jobs(pb::ListJobsRequest {
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert!(all.iter().any(|j| j.job_id == id && j.owner == "student"));
    // The job is untouched by bob's attempts: still queued, and alice may cancel it.
    assert_eq!(mine.state, pb::JobState::Queued as i32);
    alice
        .cancel_job(pb::CancelJobRequest { job_id: id })
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_cannot_fill_the_queue_for_everyone() -> anyhow::Result<()> {
    let c = Cluster::start(&["--max-queued-per-token", "2"]).await?;
    let other = live_token(&c, "submitter", "student2").await?;
    let mut alice = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut bob = judge_client(&c.sched.url(), &other).await?;
    submit(&mut alice, "aplusb", "python3", AC_PY).await?;
    submit(&mut alice, "aplusb", "python3", AC_PY).await?;
    let third = submit(&mut alice, "aplusb", "python3", AC_PY).await;
    let status = third.err().and_then(|e| e.downcast::<tonic::Status>().ok());
    assert_status::<()>(
        status.map_or(Ok(()), Err),
        Code::ResourceExhausted,
        "max_queued_per_token",
    );
    // Others still submit.
    submit(&mut bob, "aplusb", "python3", AC_PY).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_submit_returns_the_same_job() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let other = live_token(&c, "submitter", "student2").await?;
    let mut alice = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut bob = judge_client(&c.sched.url(), &other).await?;
    let req = pb::SubmitRequest {
        problem_id: "aplusb".into(),
        language: "python3".into(),
        source: AC_PY.into(),
        request_id: "retry-me-1".into(),
        ..Default::default()
    };
    let first = alice.submit(req.clone()).await?.into_inner().job_id;
    let again = alice.submit(req.clone()).await?.into_inner().job_id;
    assert_eq!(first, again, "the retry got the same job");
    // The same id from another token is another submission.
    let bobs = bob.submit(req.clone()).await?.into_inner().job_id;
    assert_ne!(bobs, first);
    // Across a restart too (from the store this time).
    let mut c = c;
    c.sched.kill().await;
    c.sched = SchedulerProc::start(&c.sched.data_dir, &[]).await?;
    let mut alice = judge_client(&c.sched.url(), &c.submitter).await?;
    assert_eq!(alice.submit(req).await?.into_inner().job_id, first);
    let listed = c
        .judge()
        .await?
        .list_jobs(pb::ListJobsRequest {
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert_eq!(listed.len(), 2, "two jobs in all: {listed:?}");
    let bad = pb::SubmitRequest {
        request_id: "has spaces".into(),
        problem_id: "aplusb".into(),
        language: "python3".into(),
        source: AC_PY.into(),
        ..Default::default()
    };
    assert_status(alice.submit(bad).await, Code::InvalidArgument, "request_id");
    Ok(())
}

/// The scheduler's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watching_jobs_that_do_not_exist_keeps_nothing() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let pid = c.sched.pid().expect("scheduler runs");
    let watch = |judge: &mut JudgeServiceClient<Authed>, job_id| {
        let mut judge = judge.clone();
        async move {
            judge
                .watch_job(pb::WatchJobRequest {
                    job_id,
                    after_seq: 0,
                })
                .await
                .map(|_| ())
        }
    };
    // Warm up allocator and connection, then measure.
    for id in 0..200u64 {
        let _ = watch(&mut judge, 1_000_000 + id).await;
    }
    let before = rss_kib(pid);
    for id in 0..3000u64 {
        assert_status(
            watch(&mut judge, 2_000_000 + id).await,
            Code::NotFound,
            "not found",
        );
    }
    let after = rss_kib(pid);
    // 3,000 leaked channels cost about 24 MiB; allow noise well below that.
    assert!(
        after < before + 8 * 1024,
        "the scheduler grew from {before} KiB to {after} KiB"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_per_token_are_bounded() -> anyhow::Result<()> {
    let c = Cluster::start(&["--max-watches-per-token", "3"]).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    let mut open = Vec::new();
    for _ in 0..3 {
        let s = judge
            .watch_job(pb::WatchJobRequest {
                job_id: id,
                after_seq: 0,
            })
            .await?
            .into_inner();
        open.push(s);
    }
    let fourth = judge
        .watch_job(pb::WatchJobRequest {
            job_id: id,
            after_seq: 0,
        })
        .await;
    assert_status(fourth, Code::ResourceExhausted, "watches open");
    // Another token is not affected.
    let mut admin = c.judge().await?;
    admin
        .watch_job(pb::WatchJobRequest {
            job_id: id,
            after_seq: 0,
        })
        .await?;
    // A closed watch frees its place (once the scheduler notices the stream is gone).
    open.clear();
    eventually("a watch place to free up", WAIT, || {
        let mut judge = judge.clone();
        async move {
            judge
                .watch_job(pb::WatchJobRequest {
                    job_id: id,
                    after_seq: 0,
                })
                .await
                .ok()
        }
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_makes_a_token_per_student_in_one_step() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let list = dir.path().join("class.txt");
    std::fs::write(&list, "# class of 2026\nada\n\ngrace\nalan\n")?;
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["token", "create", "--role", "submitter", "--names-file"])
        .arg(&list)
        .arg("--data-dir")
        .arg(&data)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once(' ').expect("NAME TOKEN"))
        .collect();
    let names: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["ada", "grace", "alan"]);
    assert!(lines.iter().all(|(_, t)| t.starts_with("jdg_")));
    // Each works, as its own owner.
    let sched = SchedulerProc::start(&data, &[]).await?;
    let mut ada = judge_client(&sched.url(), lines[0].1).await?;
    let jobs = ada
        .list_jobs(pb::ListJobsRequest {
            limit: 1,
            ..Default::default()
        })
        .await?;
    assert!(jobs.into_inner().jobs.is_empty());
    // A list with a name already taken makes no token at all.
    std::fs::write(&list, "linus\nada\n")?;
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["token", "create", "--role", "submitter", "--names-file"])
        .arg(&list)
        .arg("--data-dir")
        .arg(&data)
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"ada\" already exists"));
    let listed = std::process::Command::new(bin("judge-scheduler"))
        .args(["token", "list", "--data-dir"])
        .arg(&data)
        .output()?;
    assert!(!String::from_utf8_lossy(&listed.stdout).contains("linus"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_limits_and_oversized_files_are_refused_at_push() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let pkg = c.dir.path().join("absurd");
    std::fs::create_dir_all(pkg.join("data/secret"))?;
    std::fs::write(pkg.join("data/secret/1.in"), "1 2\n")?;
    std::fs::write(pkg.join("data/secret/1.ans"), "3\n")?;
    for (yaml, needle) in [
        ("limits:\n  memory: 17592186044416\n", "limits.memory"),
        ("limits:\n  output: 17592186044416\n", "limits.output"),
        ("limits:\n  time_limit: 0.0001\n", "limits.time_limit"),
        (
            "limits:\n  compilation_time: 100000\n",
            "limits.compilation_time",
        ),
        (
            "limits:\n  validation_memory: 1\n",
            "limits.validation_memory",
        ),
    ] {
        std::fs::write(pkg.join("problem.yaml"), yaml)?;
        let r = judgectl::push::push(&mut admin, &pkg, Some("absurd".into()), None).await;
        push_refused(r, needle);
    }
    let r = judgectl::push::push(&mut admin, &pkg, Some("absurd".into()), Some(1e-6)).await;
    push_refused(r, "time_limit");
    // A problem.yaml over 1 MiB is refused, not ignored.
    let big = format!("name: big\n#{}\n", "x".repeat(1 << 20));
    std::fs::write(pkg.join("problem.yaml"), big)?;
    let r = judgectl::push::push(&mut admin, &pkg, Some("absurd".into()), None).await;
    push_refused(r, "problem.yaml is");
    // Nothing was stored.
    let mut judge = c.judge().await?;
    let problems = judge
        .list_problems(pb::ListProblemsRequest {})
        .await?
        .into_inner()
        .problems;
    assert!(problems.iter().all(|p| p.id != "absurd"), "{problems:?}");
    Ok(())
}

/// judgectl's push says the status as `Code: message`.
fn push_refused<T: std::fmt::Debug>(r: anyhow::Result<T>, needle: &str) {
    let e = r.expect_err("the push should be refused").to_string();
    assert!(
        e.starts_with("InvalidArgument:") && e.contains(needle),
        "{e:?} should be InvalidArgument and mention {needle:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_never_finishes_is_taken_back() -> anyhow::Result<()> {
    let c = Cluster::start(&["--attempt-slack-seconds", "0.5"]).await?;
    // One test with small limits: its worst case is about 3 s.
    let pkg = c.dir.path().join("quick");
    std::fs::create_dir_all(pkg.join("data/secret"))?;
    std::fs::write(pkg.join("data/secret/1.in"), "1 2\n")?;
    std::fs::write(pkg.join("data/secret/1.ans"), "3\n")?;
    std::fs::write(
        pkg.join("problem.yaml"),
        "limits:\n  time_limit: 0.05\n  compilation_time: 1\n",
    )?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    judgectl::push::push(&mut admin, &pkg, Some("quick".into()), None).await?;

    let mut w = RawWorker::connect(&c.sched.url(), &c.worker_token, hello("sloth", vec![])).await?;
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, "quick", "python3", AC_PY).await?;
    let a = w.assigned().await?;
    w.send(
        a.job_id,
        a.attempt,
        pb::job_update::Update::Accepted(pb::Accepted {}),
    )
    .await?;
    // It never finishes: the scheduler cancels it and gives the job out again (the worker's
    // one slot is free once the attempt is taken back, so it comes back here).
    let cancelled = loop {
        let msg = tokio::time::timeout(WAIT, w.feed.message()).await??;
        match msg.and_then(|m| m.command) {
            Some(pb::worker_command::Command::Cancel(c)) => break c,
            Some(_) => continue,
            None => anyhow::bail!("feed ended"),
        }
    };
    assert_eq!((cancelled.job_id, cancelled.attempt), (id, 1));
    let again = w.assigned().await?;
    assert_eq!((again.job_id, again.attempt), (id, 2));
    w.send(id, 2, pb::job_update::Update::Accepted(pb::Accepted {}))
        .await?;
    w.send(id, 2, finished(pb::Verdict::Ac)).await?;
    let done = wait_finished(&mut judge, id).await?;
    assert_eq!((done.verdict, done.attempts), (pb::Verdict::Ac as i32, 2));
    let evs = events(&mut judge, id).await?;
    assert!(
        evs.iter().any(|e| matches!(&e.event,
            Some(pb::job_event::Event::Requeued(r)) if r.reason.contains("worst case"))),
        "{evs:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_says_why_it_waits() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, "aplusb", "c", "int main(){}").await?;
    let get = |id: u64| {
        let out = std::process::Command::new(bin("judgectl"))
            .args(["get", &id.to_string(), "--json"])
            .env("JUDGE_SCHEDULER", c.sched.url())
            .env("JUDGE_TOKEN", &c.admin)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["waiting"].as_str().map(str::to_string)
    };
    assert_eq!(
        get(id).as_deref(),
        Some("no connected worker takes judge jobs")
    );
    // A python3-only worker: the C job still cannot run, and says so.
    let mut w = RawWorker::connect(&c.sched.url(), &c.worker_token, hello("py", vec![])).await?;
    assert_eq!(get(id).as_deref(), Some("no connected worker offers c"));
    let busy = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    let a = w.assigned().await?;
    let queued = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    assert_eq!(
        get(queued).as_deref(),
        Some("all 1 slots of the 1 workers that can run it are busy")
    );
    // Not queued: no reason.
    assert_eq!(get(busy), None);
    assert_eq!(a.job_id, busy);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_from_a_worker_are_range_checked() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let (w, a) = running_job(&c, "scorer").await?;
    let key = w.welcome.session_id.clone();
    let group = |score: f64| {
        pb::job_update::Update::Group(pb::GroupResult {
            name: "secret".into(),
            verdict: pb::Verdict::Ac as i32,
            score,
            index: 0,
            groups: Vec::new(),
        })
    };
    for (bad, says) in [
        (group(f64::NAN), "group score"),
        (group(1e300), "group score"),
        (
            pb::job_update::Update::Finished(pb::Finished {
                verdict: pb::Verdict::Ac as i32,
                message: String::new(),
                cancelled: false,
                score: Some(f64::INFINITY),
                run: None,
            }),
            "score",
        ),
        (
            pb::job_update::Update::Group(pb::GroupResult {
                verdict: pb::Verdict::Ac as i32,
                groups: vec![pb::GroupResult::default()],
                ..Default::default()
            }),
            "subgroups",
        ),
    ] {
        let r = report_once(
            &c.sched.url(),
            &c.worker_token,
            vec![update(&key, a.job_id, a.attempt, bad)],
        )
        .await?;
        assert_status(r, Code::InvalidArgument, says);
    }
    // Nothing of it counted: the job still runs and its real result lands.
    w.send(a.job_id, a.attempt, finished(pb::Verdict::Ac))
        .await?;
    let mut judge = c.judge().await?;
    let done = wait_finished(&mut judge, a.job_id).await?;
    assert_eq!((done.verdict(), done.score), (pb::Verdict::Ac, None));
    Ok(())
}
