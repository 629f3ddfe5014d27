//! Hostile submissions against the real worker's sandbox: what they look for is not there,
//! what they attempt fails, and the worker and its other slot keep working.

use judge_common::pb::Verdict;
use judge_tests::*;

/// Every file under `dir`.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_finds_neither_the_answers_nor_the_workers_files_nor_its_token(
) -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 1)?;
    let mut judge = c.judge().await?;
    // A first job fills the worker's cache with the problem's inputs and answers.
    let solve = "a, b = map(int, input().split())\nprint(a + b)\n";
    let warm = submit(&mut judge, "aplusb", "python3", solve).await?;
    assert_eq!(
        wait_finished(&mut judge, warm).await?.verdict,
        Verdict::Ac as i32
    );

    let worker_files = files_under(&c.dir.path().join("work-w"));
    assert!(
        worker_files.iter().any(|f| f.contains("/cache/")),
        "the answers are in the cache: {worker_files:?}"
    );
    let mut hidden = worker_files;
    hidden.push(c.dir.path().join("work-w").display().to_string());
    hidden.push(c.dir.path().join("data").display().to_string());
    let cheat = cases::hidden_data_probe(&hidden, &c.worker_token);
    let job = submit(&mut judge, "aplusb", "python3", &cheat).await?;
    let job = wait_finished(&mut judge, job).await?;
    assert_eq!(job.verdict, Verdict::Ac as i32, "{}\n{job:?}", c.logs());
    Ok(())
}

/// Processes running under a sandbox uid (60000 and up, the worker's default range).
fn sandboxed_processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            proc_status(*pid, "Uid")
                .and_then(|u| u.split_whitespace().next()?.parse::<u32>().ok())
                .is_some_and(|uid| (60000..61000).contains(&uid))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_leave_the_worker_and_its_other_slot_working() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    // A 1 s limit: the wall limit (3 s + 1 s) stops the sleeper soon.
    c.push_example("aplusb", "aplusb1s", Some(1.0)).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let worker_pid = c.workers[0].pid().expect("the worker runs");
    let mut judge = c.judge().await?;
    let port = c.sched.addr.port();
    let solve = "a, b = map(int, input().split())\nprint(a + b)\n";
    let attacks = cases::attacks(port);
    // Each attack beside a polite submission, which the other slot judges meanwhile.
    let mut jobs = Vec::new();
    for (name, src, want) in &attacks {
        jobs.push((
            *name,
            *want,
            submit(&mut judge, "aplusb1s", "python3", src).await?,
        ));
        jobs.push(("polite", Some(Verdict::Ac), submit(&mut judge, "aplusb1s", "c", "#include <stdio.h>\nint main(void){long long a,b;scanf(\"%lld %lld\",&a,&b);printf(\"%lld\\n\",a+b);return 0;}\n").await?));
    }
    let mut wrong = Vec::new();
    for (name, want, id) in jobs {
        let job = wait_finished(&mut judge, id).await?;
        let ok = match want {
            Some(v) => job.verdict == v as i32,
            None => job.verdict != Verdict::Ac as i32 && job.verdict != Verdict::Je as i32,
        };
        if !ok {
            wrong.push(format!("{name}: verdict {} ({})", job.verdict, job.message));
        }
    }
    assert!(wrong.is_empty(), "{}\n{wrong:#?}", c.logs());
    // The same worker process, still connected, still judging; nothing of the attacks left.
    assert_eq!(c.workers[0].pid(), Some(worker_pid));
    let after = submit(&mut judge, "aplusb1s", "python3", solve).await?;
    let job = wait_finished(&mut judge, after).await?;
    assert_eq!(job.verdict, Verdict::Ac as i32, "{}", c.logs());
    assert_eq!(job.worker, "w");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !sandboxed_processes().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "processes of the attacks are left: {:?}",
            sandboxed_processes()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

/// What the cgroups enforce and report (the same cases run in a VM on pure cgroup v2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cgroups_enforce_memory_processes_and_cpu_time_and_report_the_peak() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.push_example("aplusb", "aplusb1s", Some(1.0)).await?;
    c.add_worker("w", 2)?;
    c.wait_workers(1).await?;
    let mut judge = c.judge().await?;
    let wrong = cases::judge_all(&mut judge, "aplusb1s", cases::cgroup_cases(1.0)).await?;
    assert!(wrong.is_empty(), "{}\n{wrong:#?}", c.logs());
    Ok(())
}
