//! The runner with cgroups, attacked by real programs. These need cgroups (root, or a
//! delegated cgroup), as a production worker does; CI runs as root.

use std::sync::Arc;
use std::time::{Duration, Instant};

use judge_worker::cgroup::Cgroups;
use judge_worker::judge::run::{LimitHit, PlainRunner, RunOutcome, RunSpec, Runner};

fn runner() -> PlainRunner {
    let cgroups = Cgroups::detect().unwrap_or_else(|why| panic!("these tests need cgroups: {why}"));
    PlainRunner {
        cgroups: Some(Arc::new(cgroups)),
    }
}

fn python(code: &str, marker: &str) -> RunSpec {
    RunSpec {
        // The marker rides along in argv, so leftover processes can be found in /proc.
        argv: vec![
            "/usr/bin/python3".into(),
            "-c".into(),
            code.into(),
            marker.into(),
        ],
        dir: std::env::temp_dir(),
        stdin: None,
        time_limit: Duration::from_secs(1),
        wall_limit: Duration::from_secs(4),
        memory_limit_bytes: 64 << 20,
        output_limit_bytes: 1 << 20,
        max_processes: 16,
    }
}

async fn run(spec: RunSpec) -> RunOutcome {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    runner()
        .run(spec, rx)
        .await
        .expect("the run is carried out")
}

/// Processes whose command line contains `marker`.
fn survivors(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test]
async fn a_normal_run_reports_cpu_time_and_memory() {
    let out = run(python("print(sum(range(10**6)))", "normal-run")).await;
    assert!(out.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "499999500000");
    assert!(out.memory_kb > 1000, "python uses some memory: {out:?}");
    assert!(out.cpu_ms < 1000);
}

#[tokio::test]
async fn a_memory_bomb_is_mle() {
    let out = run(python(
        "x = b'x' * (512 << 20)\nprint(len(x))",
        "memory-bomb",
    ))
    .await;
    assert_eq!(out.limit, Some(LimitHit::Memory), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn cpu_time_counts_every_process_of_the_run() {
    // Four processes spin; the limit is 1 s of CPU in total, so it ends well before 4 s.
    let code = "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        break\nwhile True:\n    pass";
    let started = Instant::now();
    let out = run(python(code, "cpu-spinners")).await;
    assert_eq!(out.limit, Some(LimitHit::Time), "{out:?}");
    assert!(out.cpu_ms >= 1000, "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopped by CPU time, not the wall"
    );
    assert!(survivors("cpu-spinners").is_empty());
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_leaves_nothing() {
    let code =
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass";
    let out = run(python(code, "fork-bomb-marker")).await;
    assert!(out.limit.is_some() || !out.success(), "{out:?}");
    assert!(
        survivors("fork-bomb-marker").is_empty(),
        "no process of the bomb is left"
    );
    // And the next run works normally.
    assert!(run(python("print(1)", "after-bomb")).await.success());
}

#[tokio::test]
async fn a_detached_child_does_not_outlive_its_run() {
    // The child leaves the process group (setsid) and would sleep for a minute.
    let code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\nelse:\n    print('parent done')";
    let out = run(python(code, "detached-sleeper")).await;
    assert!(out.success(), "{out:?}");
    assert!(
        survivors("detached-sleeper").is_empty(),
        "the detached child was killed with its run"
    );
}
