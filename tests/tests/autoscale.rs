//! Autoscaling on the real cluster, with real worker processes: a burst of jobs on a
//! one-slot fleet makes the scheduler run its up command, which starts a real worker under
//! the name and token it is given; that worker judges; once the queue is empty and it has
//! been idle, it is drained (it exits) and the down command runs with its name. Every
//! decision is logged with its reason and counted in `/metrics`.

use judge_common::pb;
use judge_tests::curl::curl;
use judge_tests::*;

/// The up command: starts a real worker (two slots) detached, under the name and token the
/// scheduler gives, against the URL the test wrote once the scheduler listened.
fn up_script(dir: &std::path::Path) -> String {
    let d = dir.display();
    let worker = bin("judge-worker");
    format!(
        "#!/bin/sh\n\
         echo \"up $JUDGE_WORKER_NAME $JUDGE_SCALE_REASON\" >> {d}/scale.log\n\
         nohup {worker} --scheduler \"$(cat {d}/url)\" --token \"$JUDGE_TOKEN\" \
         --name \"$JUDGE_WORKER_NAME\" --slots 2 --work-dir {d}/work-$JUDGE_WORKER_NAME \
         --drain-timeout-seconds 30 > {d}/$JUDGE_WORKER_NAME.log 2>&1 < /dev/null &\n\
         echo $! > {d}/$JUDGE_WORKER_NAME.pid\n",
        worker = worker.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_starts_a_worker_that_judges_and_an_idle_one_is_drained_and_stopped(
) -> anyhow::Result<()> {
    let scale = tempfile::tempdir()?;
    let dir = scale.path().to_path_buf();
    let (up, down, token_file) = (dir.join("up.sh"), dir.join("down.sh"), dir.join("token"));
    std::fs::write(&up, up_script(&dir))?;
    std::fs::write(
        &down,
        format!(
            "#!/bin/sh\necho \"down $JUDGE_WORKER_NAME\" >> {}/scale.log\n",
            dir.display()
        ),
    )?;
    let up_cmd = format!("sh {}", up.display());
    let down_cmd = format!("sh {}", down.display());
    let mut c = Cluster::start_scaling(
        &token_file,
        &[
            "--scale-up-command",
            &up_cmd,
            "--scale-down-command",
            &down_cmd,
            "--min-workers",
            "1",
            "--max-workers",
            "2",
            "--scale-backlog-seconds",
            "1",
            "--scale-sustain-seconds",
            "1",
            "--scale-idle-seconds",
            "2",
            "--scale-cooldown-seconds",
            "1",
            // Also how long after its start the scaler waits for workers to reconnect.
            "--grace-seconds",
            "2",
        ],
    )
    .await?;
    std::fs::write(dir.join("url"), c.sched.url())?;
    c.add_worker("w0", 1)?;
    c.wait_workers(1).await?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let mut ids = Vec::new();
    // Twenty seconds of work for w0 alone: ample time for the started worker to join.
    for _ in 0..10 {
        ids.push(submit(&mut judge, "aplusb", "python3", &slow_aplusb(2.0)).await?);
    }
    let log = dir.join("scale.log");
    let started = eventually("the up command ran", WAIT, || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).ok()?;
            let line = text.lines().find(|l| l.starts_with("up "))?;
            Some(line.split_whitespace().nth(1)?.to_string())
        }
    })
    .await?;
    assert!(started.starts_with("auto-"), "{started}");
    let mut on_started = 0;
    for id in &ids {
        let job = wait_finished(&mut judge, *id).await?;
        assert_eq!(job.verdict, pb::Verdict::Ac as i32, "{}", c.logs());
        if job.worker == started {
            on_started += 1;
        }
    }
    assert!(
        on_started > 0,
        "the started worker judged none\n{}",
        c.logs()
    );
    // Idle, it is drained (and exits), then the down command runs with its name.
    eventually("the down command ran", WAIT, || {
        let log = log.clone();
        let want = format!("down {started}");
        async move {
            let text = std::fs::read_to_string(&log).ok()?;
            text.lines().any(|l| l == want).then_some(())
        }
    })
    .await?;
    let pid: u32 = std::fs::read_to_string(dir.join(format!("{started}.pid")))?
        .trim()
        .parse()?;
    wait_gone(pid).await?;
    let text = std::fs::read_to_string(&log)?;
    assert_eq!(
        text.lines().filter(|l| l.starts_with("up ")).count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("jobs queued"),
        "the reason goes with it: {text}"
    );
    let m = curl(&c, "GET", "/metrics", None, &[]);
    for needle in [
        "judge_scale_decisions_total{direction=\"up\",outcome=\"decided\"} 1",
        "judge_scale_decisions_total{direction=\"down\",outcome=\"decided\"} 1",
    ] {
        assert!(m.body.contains(needle), "{needle}:\n{}", m.body);
    }
    assert!(c.sched.log().contains("scaling the fleet"));
    // The static worker stays.
    assert!(c.worker_info("w0").await.is_ok());
    Ok(())
}

/// The up command hangs the first time (killed at its timeout, with what it started) and
/// fails every time after: each failure is logged and counted, the next try waits a backoff
/// that doubles, and judging goes on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_or_failing_scale_command_is_killed_and_retried_with_backoff_and_judging_goes_on(
) -> anyhow::Result<()> {
    let scale = tempfile::tempdir()?;
    let d = scale.path().display().to_string();
    let up = scale.path().join("up.sh");
    std::fs::write(
        &up,
        format!(
            "#!/bin/sh\n\
             n=$(cat {d}/tries 2>/dev/null | wc -l)\n\
             date +%s.%N >> {d}/tries\n\
             if [ \"$n\" -eq 0 ]; then sleep 600 & echo $! > {d}/sleep.pid; wait; fi\n\
             exit 3\n"
        ),
    )?;
    let up_cmd = format!("sh {}", up.display());
    let token_file = scale.path().join("token");
    let c = Cluster::start_scaling(
        &token_file,
        &[
            "--scale-up-command",
            &up_cmd,
            // Below the minimum throughout (one worker, started by hand): it keeps asking.
            "--min-workers",
            "2",
            "--max-workers",
            "3",
            "--scale-cooldown-seconds",
            "1",
            "--scale-command-timeout-seconds",
            "1",
            "--grace-seconds",
            "1",
        ],
    )
    .await?;
    // Judging goes on while the command hangs and fails: the scaler starts nothing, and a
    // worker started by hand judges.
    let mut c = c;
    c.add_worker("w0", 1)?;
    let mut judge = judge_client(&c.sched.url(), &c.submitter).await?;
    let tries = scale.path().join("tries");
    let times = eventually("four tries of the up command", WAIT, || {
        let tries = tries.clone();
        async move {
            let text = std::fs::read_to_string(&tries).ok()?;
            let t: Vec<f64> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            (t.len() >= 4).then_some(t)
        }
    })
    .await?;
    let id = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    assert_eq!(
        wait_finished(&mut judge, id).await?.verdict,
        pb::Verdict::Ac as i32
    );
    // The hung one was killed with what it started.
    let sleeper: u32 = std::fs::read_to_string(scale.path().join("sleep.pid"))?
        .trim()
        .parse()?;
    wait_gone(sleeper).await?;
    // Backoff after the second failure (2 s) and after the third (4 s): doubling.
    let (second, third) = (times[2] - times[1], times[3] - times[2]);
    assert!(
        second >= 1.5 && third >= 1.5 * second,
        "waits between tries {:?}",
        times.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
    );
    let m = curl(&c, "GET", "/metrics", None, &[]);
    for needle in [
        "judge_scale_decisions_total{direction=\"up\",outcome=\"timed_out\"} 1",
        "judge_scale_decisions_total{direction=\"up\",outcome=\"failed\"}",
    ] {
        assert!(m.body.contains(needle), "{needle}:\n{}", m.body);
    }
    let log = c.sched.log();
    assert!(log.contains("ran past its timeout and was killed"), "{log}");
    assert!(log.contains("the scale command failed"), "{log}");
    Ok(())
}
