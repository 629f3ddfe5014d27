//! Many people, one fleet, on the real cluster: one student's queue does not hold back
//! another student's single job (fair share), and a student at the running limit waits
//! while another's job goes.

use std::time::Duration;

use judge_common::pb;
use judge_tests::*;

/// The jobs of the client's token that have left the queue (assigned, running or ended).
async fn started(j: &JudgeClient, ids: &[u64]) -> anyhow::Result<usize> {
    let mut n = 0;
    for id in ids {
        let job = j
            .clone()
            .get_job(pb::GetJobRequest { job_id: *id })
            .await?
            .into_inner();
        if job.state != pb::JobState::Queued as i32 {
            n += 1;
        }
    }
    Ok(n)
}

type JudgeClient = judge_common::pb::judge_service_client::JudgeServiceClient<judgectl::Authed>;

/// Two students on one worker of two slots: Alice queues ten jobs of a second, then Bob
/// submits one. Bob's job goes at the next free slot: when it has run, at most five of
/// Alice's have left the queue (oldest first across everyone would have run all ten first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_students_queue_does_not_hold_back_anothers_job() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let alice = judge_client(&c.sched.url(), &c.submitter).await?;
    let (_, bob) = c.another_submitter("bob").await?;
    let mut hers = Vec::new();
    for _ in 0..10 {
        hers.push(
            alice
                .clone()
                .submit(sleeping_run())
                .await?
                .into_inner()
                .job_id,
        );
    }
    eventually("two of Alice's jobs on the worker", WAIT, || {
        let (alice, hers) = (alice.clone(), hers.clone());
        async move { (started(&alice, &hers).await.ok()? >= 2).then_some(()) }
    })
    .await?;
    let his = bob
        .clone()
        .submit(sleeping_run())
        .await?
        .into_inner()
        .job_id;
    eventually("Bob's job done", Duration::from_secs(60), || {
        let mut bob = bob.clone();
        async move {
            let job = bob
                .get_job(pb::GetJobRequest { job_id: his })
                .await
                .ok()?
                .into_inner();
            (job.state == pb::JobState::Done as i32).then_some(())
        }
    })
    .await?;
    let before_his_end = started(&alice, &hers).await?;
    assert!(
        before_his_end <= 5,
        "{before_his_end} of Alice's ten jobs left the queue before Bob's one was done"
    );
    Ok(())
}

/// With a running limit of one, Alice's second job waits with a slot free, saying why,
/// while Bob's job takes that slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_at_the_running_limit_waits_while_another_goes() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--max-running-per-token", "1"]).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let alice = judge_client(&c.sched.url(), &c.submitter).await?;
    let (_, bob) = c.another_submitter("bob").await?;
    let first = alice
        .clone()
        .submit(sleeping_run())
        .await?
        .into_inner()
        .job_id;
    let second = alice
        .clone()
        .submit(sleeping_run())
        .await?
        .into_inner()
        .job_id;
    let why = eventually("Alice's second waits at her limit", WAIT, || {
        let mut alice = alice.clone();
        async move {
            let job = alice
                .get_job(pb::GetJobRequest { job_id: second })
                .await
                .ok()?
                .into_inner();
            job.waiting.filter(|w| w.contains("running limit (1)"))
        }
    })
    .await?;
    assert!(why.contains("your running limit (1)"), "{why}");
    assert_eq!(started(&alice, &[first]).await?, 1);
    // Bob's job takes the free slot at once.
    let his = bob
        .clone()
        .submit(sleeping_run())
        .await?
        .into_inner()
        .job_id;
    eventually("Bob's job on the worker", WAIT, || {
        let bob = bob.clone();
        async move { (started(&bob, &[his]).await.ok()? == 1).then_some(()) }
    })
    .await?;
    Ok(())
}

/// `judgectl submit --supersede-key`: a student's newer submission replaces the one still
/// running; that one ends cancelled, saying by which job, and the newer one is judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_submission_with_the_same_key_replaces_the_running_one() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    let slow = c.dir.path().join("slow.py");
    std::fs::write(&slow, format!("import time\ntime.sleep(30)\n{AC_PY}"))?;
    let fixed = c.dir.path().join("ac.py");
    std::fs::write(&fixed, AC_PY)?;
    let submit = |file: &std::path::Path| -> anyhow::Result<u64> {
        let out = std::process::Command::new(bin("judgectl"))
            .args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
            .args(["submit", "--problem", "aplusb", "--language", "python3"])
            .args(["--supersede-key", "aplusb-mine"])
            .arg(file)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?.trim().parse()?)
    };
    let alice = judge_client(&c.sched.url(), &c.submitter).await?;
    let job = |id: u64| {
        let mut alice = alice.clone();
        async move {
            alice
                .get_job(pb::GetJobRequest { job_id: id })
                .await
                .ok()
                .map(|r| r.into_inner())
        }
    };
    let first = submit(&slow)?;
    eventually("the first on the worker", WAIT, || async {
        job(first)
            .await
            .filter(|j| j.state == pb::JobState::Running as i32)
    })
    .await?;
    let second = submit(&fixed)?;
    let ended = eventually("the first cancelled", WAIT, || async {
        job(first)
            .await
            .filter(|j| j.state == pb::JobState::Cancelled as i32)
    })
    .await?;
    assert_eq!(ended.message, format!("superseded by {second}"));
    let judged = eventually("the second judged", WAIT, || async {
        job(second)
            .await
            .filter(|j| j.state == pb::JobState::Done as i32)
    })
    .await?;
    assert_eq!(judged.verdict, pb::Verdict::Ac as i32);
    Ok(())
}

/// A token asks for classes up to its highest: a student's `--priority contest` is refused
/// naming both classes; a token made with `--max-priority contest` may, and `get` shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_token_granted_contest_may_submit_at_contest_priority() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    let src = c.dir.path().join("ac.py");
    std::fs::write(&src, AC_PY)?;
    let submit = |token: &str| {
        std::process::Command::new(bin("judgectl"))
            .args(["--scheduler", &c.sched.url(), "--token", token])
            .args(["submit", "--problem", "aplusb", "--language", "python3"])
            .args(["--priority", "contest", "--wait", "--json"])
            .arg(&src)
            .output()
    };
    let refused = submit(&c.submitter)?;
    assert!(!refused.status.success());
    let words = String::from_utf8_lossy(&refused.stderr);
    assert!(
        words.contains("PermissionDenied")
            && words.contains("priority contest is above this token's highest, normal"),
        "{words}"
    );
    let (granted, _) = c
        .another_submitter_with("contestant", &["--max-priority", "contest"])
        .await?;
    let taken = submit(&granted)?;
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let job: serde_json::Value = serde_json::from_slice(&taken.stdout)?;
    assert_eq!(job["priority"], "contest");
    assert_eq!(job["verdict"], "AC");
    Ok(())
}
