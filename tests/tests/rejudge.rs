//! Rejudge on the real cluster: a teacher fixes a wrong test file, pushes it, and has the
//! submissions judged again. Each keeps its id and its earlier judging; the newest is its
//! verdict; a restart mid-rejudge finishes it; bad requests are refused by name.

use judge_common::pb;
use judge_tests::curl::{curl, post_json};
use judge_tests::*;

/// A problem of one test, `1 2`, whose answer file says `answer`.
async fn push_sum(c: &Cluster, id: &str, answer: &str) -> anyhow::Result<()> {
    let dir = c.dir.path().join("problems").join(id);
    std::fs::create_dir_all(dir.join("data/secret"))?;
    std::fs::write(dir.join("data/secret/1.in"), "1 2\n")?;
    std::fs::write(dir.join("data/secret/1.ans"), format!("{answer}\n"))?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    push(&mut admin, &dir, id, Some(20.0)).await
}

fn judgectl(c: &Cluster, token: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", token])
        .args(args)
        .output()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_test_file_changes_the_verdicts_it_should_and_keeps_the_old_ones(
) -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    // The answer file is wrong: 1 + 2 is not 4.
    push_sum(&c, "sum", "4").await?;
    let mut student = judge_client(&c.sched.url(), &c.submitter).await?;
    let right = submit(&mut student, "sum", "python3", AC_PY).await?;
    let wrong = submit(&mut student, "sum", "python3", WA_PY).await?;
    for id in [right, wrong] {
        let job = wait_finished(&mut student, id).await?;
        assert_eq!(
            job.verdict,
            pb::Verdict::Wa as i32,
            "job {id} on the wrong file"
        );
    }
    // The teacher fixes the file and pushes it (version 2), then rejudges the WAs.
    push_sum(&c, "sum", "3").await?;
    let out = judgectl(
        &c,
        &c.admin,
        &["rejudge", "--problem", "sum", "--verdict", "WA", "--wait"],
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.logs()
    );
    assert!(stdout.contains("judged 2, changed 1"), "{stdout}");
    assert!(stdout.contains(&format!("#{right} WA -> AC")), "{stdout}");
    assert!(!stdout.contains(&format!("#{wrong} ")), "{stdout}");

    let job = student
        .get_job(pb::GetJobRequest { job_id: right })
        .await?
        .into_inner();
    assert_eq!(
        job.verdict,
        pb::Verdict::Ac as i32,
        "the newest judging is the verdict"
    );
    assert_eq!((job.problem_version, job.priority.as_str()), (2, "bulk"));
    let judgings: Vec<(u32, i32, usize)> = job
        .judgings
        .iter()
        .map(|g| (g.problem_version, g.verdict, g.tests.len()))
        .collect();
    assert_eq!(
        judgings,
        vec![
            (1, pb::Verdict::Wa as i32, 1),
            (2, pb::Verdict::Ac as i32, 1)
        ],
        "the earlier judging stays readable, with its tests"
    );
    // Its log tells both judgings; a watch from the start ends after the second.
    let events = events(&mut c.judge().await?, right).await?;
    let ends: Vec<i32> = events
        .iter()
        .filter_map(|e| match &e.event {
            Some(pb::job_event::Event::Finished(f)) => Some(f.verdict),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![pb::Verdict::Wa as i32, pb::Verdict::Ac as i32]);
    assert!(events.iter().any(
        |e| matches!(&e.event, Some(pb::job_event::Event::Rejudged(r)) if r.problem_version == 2)
    ));
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );

    // `get --json` shows the judgings.
    let out = judgectl(&c, &c.submitter, &["get", &right.to_string(), "--json"])?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["judgings"][0]["verdict"], "WA");
    assert_eq!(v["judgings"][1]["verdict"], "AC");
    assert_eq!(v["judgings"][1]["problem_version"], 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejudge_survives_a_restart_of_the_scheduler() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    push_sum(&c, "sum", "4").await?;
    let mut student = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(submit(&mut student, "sum", "python3", AC_PY).await?);
    }
    for id in &ids {
        wait_finished(&mut student, *id).await?;
    }
    // No worker while the rejudge is queued: it waits in the store.
    for w in &mut c.workers {
        w.kill().await;
    }
    push_sum(&c, "sum", "3").await?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let r = admin
        .rejudge(pb::RejudgeRequest {
            problem_id: "sum".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(r.problem_version, 2);
    assert_eq!(r.jobs.len(), 3);
    assert!(r
        .jobs
        .iter()
        .all(|j| j.previous_verdict == pb::Verdict::Wa as i32 && j.owner == "student"));
    // They wait at bulk, and /metrics counts them by class.
    let m = curl(&c, "GET", "/metrics", None, &[]);
    assert!(
        m.body
            .contains("judge_queue_length_by_class{class=\"bulk\"} 3"),
        "{}",
        m.body
    );

    c.sched.kill().await;
    let data = c.sched.data_dir.clone();
    c.sched = SchedulerProc::start(&data, &[]).await?;
    c.workers.clear();
    c.add_worker("w2", 2)?;
    let mut judge = c.judge().await?;
    for id in &ids {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(
            job.verdict,
            pb::Verdict::Ac as i32,
            "job {id}\n{}",
            c.logs()
        );
        assert_eq!(job.judgings.len(), 2, "job {id}: {:?}", job.judgings);
        assert_eq!(job.judgings[0].verdict, pb::Verdict::Wa as i32);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rejudges_are_refused_by_name_and_change_nothing() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    push_sum(&c, "sum", "3").await?;
    let mut student = judge_client(&c.sched.url(), &c.submitter).await?;
    // No worker yet: this one stays queued.
    let queued = submit(&mut student, "sum", "python3", AC_PY).await?;
    let other = submit(&mut student, "aplusb", "python3", AC_PY).await?;
    let mut admin = admin_client(&c.sched.url(), &c.admin).await?;
    let ask = |problem: &str, jobs: Vec<u64>| pb::RejudgeRequest {
        problem_id: problem.into(),
        job_ids: jobs,
        ..Default::default()
    };

    assert_status(
        admin.rejudge(ask("nope", vec![])).await,
        tonic::Code::NotFound,
        "nope",
    );
    assert_status(
        admin.rejudge(ask("sum", vec![queued])).await,
        tonic::Code::FailedPrecondition,
        "still queued",
    );
    assert_status(
        admin.rejudge(ask("sum", vec![other])).await,
        tonic::Code::InvalidArgument,
        "not a submission to problem",
    );
    assert_status(
        admin.rejudge(ask("sum", vec![0])).await,
        tonic::Code::InvalidArgument,
        "job_id 0",
    );
    assert_status(
        admin.rejudge(ask("sum", vec![999_999])).await,
        tonic::Code::NotFound,
        "job 999999",
    );
    let mut bad = ask("sum", vec![]);
    bad.verdicts = vec![99];
    assert_status(
        admin.rejudge(bad).await,
        tonic::Code::InvalidArgument,
        "99 is not a verdict",
    );
    let mut bad = ask("sum", vec![]);
    bad.priority = "urgent".into();
    assert_status(
        admin.rejudge(bad).await,
        tonic::Code::InvalidArgument,
        "urgent",
    );
    // A cancelled job was never judged.
    student
        .cancel_job(pb::CancelJobRequest { job_id: queued })
        .await?;
    assert_status(
        admin.rejudge(ask("sum", vec![queued])).await,
        tonic::Code::FailedPrecondition,
        "cancelled",
    );

    // A submitter may not rejudge, by gRPC or HTTP.
    let mut as_student = admin_client(&c.sched.url(), &c.submitter).await?;
    let e = as_student.rejudge(ask("sum", vec![])).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    let body = serde_json::json!({"problem": "sum"});
    let r = post_json(&c, "/api/v1/rejudge", &c.submitter, &body);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("admins"),
        "{}",
        r.body
    );

    // The command line says what is wrong before it asks.
    let out = judgectl(
        &c,
        &c.admin,
        &["rejudge", "--problem", "sum", "--verdict", "WAT"],
    )?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WAT"));

    // Nothing changed: the queued-then-cancelled job stayed cancelled, the other queued.
    let job = student
        .get_job(pb::GetJobRequest { job_id: other })
        .await?
        .into_inner();
    assert_eq!(job.state, pb::JobState::Queued as i32);
    assert!(job.judgings.is_empty());
    Ok(())
}

/// Over HTTP: an admin rejudges, a student may not cancel that judging (it is the
/// admin's), and the job's JSON shows both judgings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_a_rejudge_is_the_admins_to_cancel() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    push_sum(&c, "sum", "3").await?;
    let mut student = judge_client(&c.sched.url(), &c.submitter).await?;
    let id = submit(&mut student, "sum", "python3", AC_PY).await?;
    wait_finished(&mut student, id).await?;
    // The worker goes, so the rejudged job stays queued.
    for w in &mut c.workers {
        w.kill().await;
    }
    let body = serde_json::json!({"problem": "sum", "verdicts": ["AC"], "priority": "normal"});
    let r = post_json(&c, "/api/v1/rejudge", &c.admin, &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["jobs"][0]["job_id"], id);
    assert_eq!(v["jobs"][0]["previous_verdict"], "AC");
    let body = serde_json::json!({"problem": "sum", "verdicts": ["XX"]});
    let r = post_json(&c, "/api/v1/rejudge", &c.admin, &body);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("XX"), "{}", r.body);

    let cancel = format!("/api/v1/jobs/{id}/cancel");
    let r = curl(&c, "POST", &cancel, Some(&c.submitter), &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    let job = curl(
        &c,
        "GET",
        &format!("/api/v1/jobs/{id}"),
        Some(&c.submitter),
        &[],
    )
    .json();
    assert_eq!(job["state"], "queued");
    assert_eq!(job["priority"], "normal");
    assert_eq!(job["judgings"][0]["verdict"], "AC");
    assert_eq!(job["judgings"][1]["state"], "queued");
    // The admin may cancel it: it ends cancelled, the earlier verdict still readable.
    let r = curl(&c, "POST", &cancel, Some(&c.admin), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let job = student
        .get_job(pb::GetJobRequest { job_id: id })
        .await?
        .into_inner();
    assert_eq!(job.state, pb::JobState::Cancelled as i32);
    assert_eq!(job.judgings[0].verdict, pb::Verdict::Ac as i32);
    Ok(())
}
