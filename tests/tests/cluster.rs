//! The happy path, in real processes: several workers, every verdict the plain runner gives,
//! jobs spread over the fleet, and judgectl's output as scripts read it.

use std::collections::HashSet;

use judge_common::pb;
use judge_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_judge_many_submissions() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    for name in ["w1", "w2", "w3"] {
        c.add_worker(name, 2)?;
    }
    let workers = c.wait_workers(3).await?;
    assert!(workers
        .iter()
        .all(|w| w.slots == 2 && w.languages.contains(&"python3".to_string())));

    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let cases = [
        ("python3", AC_PY, pb::Verdict::Ac),
        ("python3", WA_PY, pb::Verdict::Wa),
        ("c", "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);}\n", pb::Verdict::Ac),
        ("cpp", "int main() { syntax error }", pb::Verdict::Ce),
        ("python3", "import sys\nsys.exit(3)\n", pb::Verdict::Rte),
    ];
    let mut jobs = Vec::new();
    for round in 0..3 {
        for (lang, src, want) in &cases {
            let id = submit(&mut judge, "aplusb", lang, src).await?;
            jobs.push((id, *want, round));
        }
    }
    let mut used = HashSet::new();
    for (id, want, _) in &jobs {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(
            job.state,
            pb::JobState::Done as i32,
            "job {id}: {}",
            c.logs()
        );
        assert_eq!(job.verdict, *want as i32, "job {id} ({job:?})");
        assert_eq!(job.attempts, 1);
        if *want == pb::Verdict::Ac {
            assert_eq!(job.tests.len(), 4, "every test reported");
        }
        used.insert(job.worker.clone());
    }
    assert!(
        used.len() >= 2,
        "15 jobs on 3 workers should not all land on one: {used:?}"
    );
    Ok(())
}

/// `judgectl submit --wait --json`, `get --json`, `watch --json`, `workers --json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn judgectl_prints_the_documented_json() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let src = c.dir.path().join("ac.py");
    std::fs::write(&src, AC_PY)?;
    let ctl = |args: &[&str]| {
        std::process::Command::new(bin("judgectl"))
            .args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
            .args(args)
            .output()
    };
    let out = ctl(&[
        "submit",
        "--problem",
        "aplusb",
        "--language",
        "python3",
        src.to_str().unwrap(),
        "--wait",
        "--json",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(job["state"], "done");
    assert_eq!(job["verdict"], "AC");
    assert_eq!(job["attempts"], 1);
    assert_eq!(job["worker"], "w1");
    let tests = job["tests"].as_array().expect("tests array");
    assert_eq!(tests.len(), 4);
    for key in ["name", "verdict", "time_ms", "wall_ms", "memory_kb"] {
        assert!(tests[0].get(key).is_some(), "test entries have {key}");
    }
    let id = job["job_id"].as_u64().expect("job_id");

    let out = ctl(&["get", &id.to_string(), "--json"])?;
    let again: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(again["job_id"], id);
    assert_eq!(again["verdict"], "AC");

    let out = ctl(&["watch", &id.to_string(), "--json"])?;
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["event"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds.first(), Some(&"submitted"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "test").count(), 4);
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gapless sequence numbers"
    );

    let out = ctl(&["workers", "--json"])?;
    let workers: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let w = &workers[0];
    for key in [
        "name",
        "connected",
        "slots",
        "running",
        "job_types",
        "languages",
        "cpu_percent",
        "memory_free_bytes",
        "disk_free_bytes",
    ] {
        assert!(w.get(key).is_some(), "workers --json has {key}");
    }

    // Errors: non-zero exit and one line naming the problem.
    let out = ctl(&["get", "999999"])?;
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr)?;
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("NotFound") && err.contains("999999"), "{err}");
    Ok(())
}

/// SIGTERM drains: no new jobs, the running one finishes, then the worker exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_gracefully() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let slow = start_slow(&mut judge, 2.0).await?;
    c.workers[0].terminate()?;
    let status = c.workers[0].wait(WAIT).await?;
    assert!(status.success(), "clean exit after draining");
    let job = wait_finished(&mut judge, slow).await?;
    assert_eq!(
        (job.verdict, job.attempts),
        (pb::Verdict::Ac as i32, 1),
        "finished, not re-run"
    );
    Ok(())
}

/// Workers dial out: they must work behind NAT, so they never listen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_opens_no_listening_socket() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    wait_finished(&mut judge, id).await?;
    let pid = c.workers[0].pid().expect("worker running");
    let sockets = socket_inodes(pid);
    assert!(
        !sockets.is_empty(),
        "the worker has its connection to the scheduler"
    );
    let listening = listening_socket_inodes();
    assert!(
        sockets.iter().all(|s| !listening.contains(s)),
        "worker sockets {sockets:?} include a listener"
    );
    // The check can see listeners: the scheduler's is one.
    let sched = socket_inodes(c.sched.pid().expect("scheduler running"));
    assert!(sched.iter().any(|s| listening.contains(s)));
    Ok(())
}

/// Two schedulers on one SQLite file would each hand out the same jobs: the second refuses,
/// naming the first, and starts once the first is gone (killed: the lock goes with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_scheduler_on_one_sqlite_file_refuses_naming_the_first() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    let data = c.sched.data_dir.clone();
    let second = tokio::process::Command::new(bin("judge-scheduler"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--http-listen", "none"])
        .output();
    let out = tokio::time::timeout(WAIT, second).await??;
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second started: {said}");
    let first = c.sched.pid().expect("the first runs");
    for needle in [
        "in use by another judge-scheduler".to_string(),
        format!("pid {first}"),
        format!("listening on {}", c.sched.addr),
    ] {
        assert!(said.contains(&needle), "{needle:?} in {said}");
    }
    // The first is untouched: it still judges.
    c.add_worker("w", 1)?;
    let mut judge = c.judge().await?;
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    assert_eq!(
        wait_finished(&mut judge, id).await?.verdict,
        pb::Verdict::Ac as i32
    );
    // Killed, it holds nothing: the next starts.
    c.sched.kill().await;
    c.sched = SchedulerProc::start(&data, &[]).await?;
    let mut judge = c.judge().await?;
    assert_eq!(
        wait_finished(&mut judge, id).await?.verdict,
        pb::Verdict::Ac as i32
    );
    Ok(())
}
