//! `run` jobs on the real cluster: one program run on given input, every way it can end,
//! through `judgectl run` (its exit code, its output, `--json`) and through the API; bad
//! requests refused by name; routing that honours the job types workers offer; a queued run
//! job's input kept across a scheduler restart.

use std::process::Output;

use judge_common::pb;
use judge_tests::*;
use serde_json::Value;
use tonic::Code;

/// `judgectl run` with `args`, the source in a file, and `stdin` in a file when given.
fn judgectl_run(
    c: &Cluster,
    name: &str,
    source: &str,
    stdin: Option<&[u8]>,
    args: &[&str],
) -> std::process::Child {
    // A directory of its own per call: the same case is run twice at once (plain and
    // --json), and rewriting a file another judgectl may still be reading made it flaky.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = c.dir.path().join("runs").join(call.to_string());
    std::fs::create_dir_all(&dir).expect("runs dir");
    let file = dir.join(name);
    std::fs::write(&file, source).expect("source written");
    let mut cmd = std::process::Command::new(bin("judgectl"));
    cmd.args([
        "--scheduler",
        &c.sched.url(),
        "--token",
        &c.submitter,
        "run",
    ])
    .args(args)
    .arg(&file);
    if let Some(input) = stdin {
        let path = dir.join(format!("{name}.in"));
        std::fs::write(&path, input).expect("input written");
        cmd.arg("--stdin").arg(path);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("judgectl starts")
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const ECHO_PY: &str = "import sys\nt = sys.stdin.read()\nsys.stdout.write(t.upper())\nsys.stderr.write('read %d bytes\\n' % len(t))\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_jobs_end_every_way_and_judgectl_says_so_by_exit_code() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w", 4)?;
    c.wait_workers(1).await?;
    struct Case {
        name: &'static str,
        source: &'static str,
        stdin: Option<&'static [u8]>,
        args: &'static [&'static str],
        code: i32,
        outcome: &'static str,
    }
    let cases = [
        Case {
            name: "echo.py",
            source: ECHO_PY,
            stdin: Some(b"hello, world\n"),
            args: &["--language", "python3"],
            code: 0,
            outcome: "exited",
        },
        Case {
            name: "three.py",
            source: "import sys\nprint('bye')\nsys.exit(3)\n",
            stdin: None,
            args: &["--language", "python3"],
            code: 3,
            outcome: "exited",
        },
        Case {
            name: "spin.py",
            source: "while True:\n    pass\n",
            stdin: None,
            args: &["--language", "python3", "--time-limit", "0.5"],
            code: 124,
            outcome: "time_limit",
        },
        Case {
            name: "hog.c",
            source: "#include <stdlib.h>\n#include <string.h>\nint main(void){ for(;;){ char *p = malloc(1<<20); if(!p) return 1; memset(p, 1, 1<<20);} }\n",
            stdin: None,
            args: &["--language", "c", "--memory-limit", "64"],
            code: 125,
            outcome: "memory_limit",
        },
        Case {
            name: "flood.py",
            source: "import sys\nwhile True:\n    sys.stdout.write('y' * 4096)\n",
            stdin: None,
            args: &["--language", "python3", "--output-limit", "1"],
            code: 126,
            outcome: "output_limit",
        },
        Case {
            name: "broken.c",
            source: "int main(void) { return nope; }\n",
            stdin: None,
            args: &["--language", "c"],
            code: 127,
            outcome: "compile_error",
        },
        Case {
            name: "segv.c",
            source: "int main(void) { volatile int *p = 0; *p = 1; return 0; }\n",
            stdin: None,
            args: &["--language", "c"],
            code: 139,
            outcome: "signaled",
        },
        Case {
            name: "chatty.py",
            source: "import sys\nsys.stderr.write('e' * 200000)\nprint('done')\n",
            stdin: None,
            args: &["--language", "python3"],
            code: 0,
            outcome: "exited",
        },
    ];
    // Each twice at once: plainly (output and exit code) and with --json.
    let plain: Vec<_> = cases
        .iter()
        .map(|k| judgectl_run(&c, k.name, k.source, k.stdin, k.args))
        .collect();
    let json: Vec<_> = cases
        .iter()
        .map(|k| {
            let mut args = k.args.to_vec();
            args.push("--json");
            judgectl_run(&c, k.name, k.source, k.stdin, &args)
        })
        .collect();
    let plain: Vec<Output> = plain
        .into_iter()
        .map(|p| p.wait_with_output())
        .collect::<Result<_, _>>()?;
    let json: Vec<Output> = json
        .into_iter()
        .map(|p| p.wait_with_output())
        .collect::<Result<_, _>>()?;
    for ((k, p), j) in cases.iter().zip(&plain).zip(&json) {
        let stderr = String::from_utf8_lossy(&p.stderr);
        assert_eq!(
            p.status.code(),
            Some(k.code),
            "{}: {stderr}\n{}",
            k.name,
            c.logs()
        );
        assert_eq!(j.status.code(), Some(k.code), "{}", k.name);
        let v = json_of(j);
        assert_eq!(v["outcome"], k.outcome, "{}: {v}", k.name);
        assert_eq!(v["state"], "done", "{}: {v}", k.name);
        assert!(v["job_id"].as_u64().is_some_and(|id| id > 0), "{v}");
        for field in ["time_ms", "wall_ms", "memory_kb"] {
            assert!(v[field].is_u64(), "{}: {field} in {v}", k.name);
        }
    }
    // What each printed, and how its ending is told.
    let (echo, echo_json) = (&plain[0], json_of(&json[0]));
    assert_eq!(String::from_utf8_lossy(&echo.stdout), "HELLO, WORLD\n");
    assert_eq!(String::from_utf8_lossy(&echo.stderr), "read 13 bytes\n");
    assert_eq!(echo_json["stdout"], "HELLO, WORLD\n");
    assert_eq!(echo_json["stderr"], "read 13 bytes\n");
    assert_eq!(echo_json["exit_code"], 0);
    assert_eq!(String::from_utf8_lossy(&plain[1].stdout), "bye\n");
    assert_eq!(json_of(&json[1])["exit_code"], 3);
    let spin = json_of(&json[2]);
    assert!(spin["time_ms"].as_u64().is_some_and(|t| t >= 400), "{spin}");
    assert_eq!(
        spin["exit_code"],
        Value::Null,
        "a stopped program has no exit code: {spin}"
    );
    let hog = json_of(&json[3]);
    assert!(
        hog["memory_kb"].as_u64().is_some_and(|m| m >= 50 * 1024),
        "{hog}"
    );
    let flood = json_of(&json[4]);
    assert_eq!(flood["stdout_truncated"], true, "{flood}");
    assert_eq!(
        flood["stdout"].as_str().map(str::len),
        Some(1 << 20),
        "cut at 1 MiB exactly"
    );
    assert_eq!(plain[4].stdout.len(), 1 << 20);
    let broken = json_of(&json[5]);
    assert!(
        broken["compile_message"]
            .as_str()
            .is_some_and(|m| m.contains("nope")),
        "{broken}"
    );
    assert!(String::from_utf8_lossy(&plain[5].stderr).contains("nope"));
    let segv = json_of(&json[6]);
    assert_eq!(segv["signal"], 11, "{segv}");
    let chatty = json_of(&json[7]);
    assert_eq!(
        chatty["stdout"], "done\n",
        "stderr past its cap does not stop the program"
    );
    assert_eq!(chatty["stderr_truncated"], true, "{chatty}");
    assert_eq!(chatty["stderr"].as_str().map(str::len), Some(64 * 1024));

    // `get --json` shows the same result and the limits it ran with.
    let id = echo_json["job_id"].as_u64().unwrap_or_default();
    let out = std::process::Command::new(bin("judgectl"))
        .args([
            "--scheduler",
            &c.sched.url(),
            "--token",
            &c.submitter,
            "get",
            "--json",
        ])
        .arg(id.to_string())
        .output()?;
    let got: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(got["job_type"], "run");
    assert_eq!(got["run"]["stdout"], "HELLO, WORLD\n");
    assert_eq!(
        got["run_limits"]["time_limit_ms"], 2000,
        "the default: {got}"
    );
    assert_eq!(got["verdict"], Value::Null, "a run has no verdict");
    Ok(())
}

fn run_req(source: &str, stdin: Vec<u8>, limits: Option<pb::RunLimits>) -> pb::SubmitRequest {
    pb::SubmitRequest {
        language: "python3".into(),
        source: source.as_bytes().to_vec(),
        job_type: "run".into(),
        stdin,
        limits,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_run_requests_are_refused_by_name() -> anyhow::Result<()> {
    let mut c = Cluster::start(&["--max-stdin-mib", "1", "--run-max-time-seconds", "5"]).await?;
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    // No worker has offered run jobs yet.
    assert_status(
        j.submit(run_req("print(1)", Vec::new(), None)).await,
        Code::InvalidArgument,
        "offered job type \"run\"",
    );
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    let too_big = vec![b'x'; (1 << 20) + 1];
    assert_status(
        j.submit(run_req("print(1)", too_big, None)).await,
        Code::InvalidArgument,
        "stdin is 1048577 bytes; the limit is 1048576",
    );
    let slow = pb::RunLimits {
        time_limit_ms: Some(6_000),
        ..Default::default()
    };
    assert_status(
        j.submit(run_req("print(1)", Vec::new(), Some(slow))).await,
        Code::InvalidArgument,
        "time_limit_ms 6000 ms is outside [50, 5000]",
    );
    let tiny = pb::RunLimits {
        memory_limit_bytes: Some(1),
        ..Default::default()
    };
    assert_status(
        j.submit(run_req("print(1)", Vec::new(), Some(tiny))).await,
        Code::InvalidArgument,
        "memory_limit_bytes",
    );
    let mut with_problem = run_req("print(1)", Vec::new(), None);
    with_problem.problem_id = "aplusb".into();
    assert_status(
        j.submit(with_problem).await,
        Code::InvalidArgument,
        "leave problem_id empty",
    );
    let mut cobol = run_req("print(1)", Vec::new(), None);
    cobol.job_type = "cobol".into();
    assert_status(
        j.submit(cobol).await,
        Code::InvalidArgument,
        "job type \"cobol\" is not one of",
    );
    let mut judge_with_stdin = run_req("print(1)", b"1 2".to_vec(), None);
    judge_with_stdin.job_type = "judge".into();
    judge_with_stdin.problem_id = "aplusb".into();
    assert_status(
        j.submit(judge_with_stdin).await,
        Code::InvalidArgument,
        "stdin and limits are for run jobs",
    );
    // The largest input allowed goes through, byte for byte.
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| b'a' + (i % 26) as u8).collect();
    let count =
        "import sys\nd = sys.stdin.buffer.read()\nprint(len(d), d[:3].decode(), d[-1:].decode())\n";
    let id = j
        .submit(run_req(count, big, None))
        .await?
        .into_inner()
        .job_id;
    let job = wait_finished(&mut j, id).await?;
    let run = job.run.unwrap_or_default();
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "1048576 abc v\n",
        "{}",
        c.logs()
    );
    // Nothing refused was kept.
    let jobs = j
        .list_jobs(pb::ListJobsRequest {
            limit: 100,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_jobs_go_only_to_workers_that_offer_them_and_survive_a_restart() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    // A worker that only judges: a run job waits, saying why.
    c.add_worker_with(&c.sched.url(), "judge-only", 1, &["--job-types", "judge"])?;
    c.wait_workers(1).await?;
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    // Run jobs are known to this cluster (a worker offered them once, then left).
    let mut w = worker_client(&c.sched.url(), &c.worker_token).await?;
    let hello = pb::ConnectRequest {
        name: "once".into(),
        slots: 1,
        job_types: vec!["run".into()],
        languages: vec![pb::LanguageInfo {
            id: "python3".into(),
            version: "3".into(),
        }],
        ..Default::default()
    };
    drop(w.connect(hello).await?);
    let stdin = b"line one\nline two\n".to_vec();
    let id = j
        .submit(run_req(ECHO_PY, stdin, None))
        .await?
        .into_inner()
        .job_id;
    let waiting = eventually("the run job waits for a worker offering run", WAIT, || {
        let mut j = j.clone();
        async move {
            let job = j.get_job(pb::GetJobRequest { job_id: id }).await.ok()?;
            job.into_inner().waiting
        }
    })
    .await?;
    assert_eq!(waiting, "no connected worker takes run jobs");
    // The scheduler restarts with the job queued: its input is kept.
    c.sched.kill().await;
    c.sched = SchedulerProc::start(&c.dir.path().join("data"), &[]).await?;
    let url = c.sched.url();
    c.add_worker_with(&url, "runner", 1, &["--job-types", "run"])?;
    let mut j = judge_client(&url, &c.submitter).await?;
    let job = wait_finished(&mut j, id).await?;
    assert_eq!(job.worker, "runner", "{}", c.logs());
    let run = job.run.unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "LINE ONE\nLINE TWO\n");
    assert_eq!(run.exit_code, Some(0));
    Ok(())
}

/// A run job's input and output are dropped after the retention period (its outcome and
/// exit code stay, and `get` says so), and one token's run jobs hold at most
/// `--max-run-mib-per-token` until then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_job_input_and_output_are_bounded_and_expire() -> anyhow::Result<()> {
    // Kept for about two seconds, swept every half second.
    let mut c = Cluster::start(&[
        "--keep-run-io-days",
        "0.00002",
        "--gc-interval-seconds",
        "0.5",
        "--max-run-mib-per-token",
        "1",
    ])
    .await?;
    c.add_worker("w", 1)?;
    c.wait_workers(1).await?;
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    let echo = "import sys\ndata = sys.stdin.read()\nprint(len(data))\nsys.exit(7)\n";
    let first = j
        .submit(run_req(echo, vec![b'x'; 600 << 10], None))
        .await?
        .into_inner()
        .job_id;
    // 600 KiB held: another 600 KiB passes the 1 MiB bound, and the refusal names it.
    assert_status(
        j.submit(run_req(echo, vec![b'y'; 600 << 10], None)).await,
        Code::ResourceExhausted,
        "max_run_mib_per_token",
    );
    let done = wait_finished(&mut j, first).await?;
    let run = done.run.clone().unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&run.stdout), "614400\n", "{done:?}");
    assert_eq!(done.io_expired_at_ms, None);

    // Past the retention period: dropped, and room again.
    let expired = eventually("the run's input and output to expire", WAIT, || {
        let mut j = j.clone();
        async move {
            let job = j
                .get_job(pb::GetJobRequest { job_id: first })
                .await
                .ok()?
                .into_inner();
            job.io_expired_at_ms.map(|_| job)
        }
    })
    .await?;
    let run = expired.run.unwrap_or_default();
    assert!(run.stdout.is_empty(), "{run:?}");
    assert_eq!(run.exit_code, Some(7), "the outcome stays: {run:?}");
    let out = std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(["get", &first.to_string()])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dropped after the scheduler's retention period"),
        "{text}"
    );
    let second = j
        .submit(run_req(echo, vec![b'y'; 600 << 10], None))
        .await?
        .into_inner()
        .job_id;
    wait_finished(&mut j, second).await?;
    Ok(())
}
