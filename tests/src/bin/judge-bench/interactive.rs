//! Interactive problems: what the sandbox costs a conversation, and what judging one costs.
//!
//! - Round trips: a pinger (the interactor's side) sends a number, an echo (the submission's
//!   side) sends it back, 10,000 times; the pinger times each round trip itself. Once as two
//!   sandboxed runs joined by pipes (as the worker runs an interactive test), once as the same
//!   two programs over bare pipes, in the same run.
//! - Judging: a 10-test interactive problem against a batch problem with the same tests and
//!   the same answers, each submitted `rounds` times to one real worker: submit to verdict.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use judge_tests::{admin_client, push};
use judge_worker::sandbox::{Piped, RunSpec, Runner, SandboxRunner};

const PINGER_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    long *ns = malloc(sizeof(long) * n);
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        printf("%d\n", i);
        fflush(stdout);
        int back;
        if (scanf("%d", &back) != 1 || back != i) return 2;
        clock_gettime(CLOCK_MONOTONIC, &b);
        ns[i] = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    }
    qsort(ns, n, sizeof(long), cmp);
    fprintf(stderr, "%ld %ld\n", ns[n / 2], ns[n * 99 / 100]);
    return 0;
}
"#;

const ECHO_C: &str = r#"
#include <stdio.h>
int main(void) {
    int x;
    while (scanf("%d", &x) == 1) {
        printf("%d\n", x);
        fflush(stdout);
    }
    return 0;
}
"#;

/// (median, p99) in µs from the pinger's stderr.
fn parse_times(stderr: &[u8]) -> Result<(f64, f64)> {
    let text = String::from_utf8_lossy(stderr);
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next()) {
        (Some(Ok(p50)), Some(Ok(p99))) => Ok((p50 / 1000.0, p99 / 1000.0)),
        _ => anyhow::bail!("the pinger said {text:?}"),
    }
}

fn compile(dir: &std::path::Path, name: &str, source: &str) -> Result<()> {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source)?;
    let out = std::process::Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(dir.join(name))
        .arg(&src)
        .output()?;
    ensure!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn round_trips(trips: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    // The runs' uid must be able to read and run them.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    compile(dir.path(), "pinger", PINGER_C)?;
    compile(dir.path(), "echo", ECHO_C)?;

    // Bare pipes: the two programs, nothing else; as the kernel places them, and both on
    // one CPU (a pipe round trip across CPUs costs ten times one on the same CPU, so the
    // placement must be known to compare).
    let bare = |pin: bool| -> Result<(f64, f64)> {
        let cmd = |prog: &str| {
            let mut c = std::process::Command::new(if pin { "taskset" } else { prog });
            if pin {
                c.args(["-c", "0", prog]);
            }
            c
        };
        let echo_path = dir.path().join("echo").display().to_string();
        let pinger_path = dir.path().join("pinger").display().to_string();
        let mut echo = cmd(&echo_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let pinger = cmd(&pinger_path)
            .arg(trips.to_string())
            .stdin(echo.stdout.take().context("echo stdout")?)
            .stdout(echo.stdin.take().context("echo stdin")?)
            .stderr(Stdio::piped())
            .output()?;
        echo.wait()?;
        ensure!(pinger.status.success(), "bare pinger failed");
        parse_times(&pinger.stderr)
    };
    let (bare, pinned) = (bare(false)?, bare(true)?);

    // Sandboxed: two runs joined by pipes, as the worker joins a submission and its
    // interactor (cgroups, namespaces, uid, seccomp on both).
    let (cgroups, isolation) = super::sandbox_layers()?;
    let runner = SandboxRunner::new(Some(cgroups), Some(isolation))?;
    let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC);
    let (to_pinger, from_echo) = pipe()?;
    let (to_echo, from_pinger) = pipe()?;
    let spec = |argv: Vec<String>, stdin, stdout| RunSpec {
        argv,
        dir: dir.path().to_path_buf(),
        dir_writable: false,
        binds: Vec::new(),
        stdin: None,
        time_limit: Duration::from_secs(30),
        wall_limit: Duration::from_secs(60),
        memory_limit_bytes: 256 << 20,
        output_limit_bytes: 1 << 20,
        max_processes: 16,
        file_size_limit: 1 << 20,
        piped: Some(Piped {
            stdin: Arc::new(stdin),
            stdout: Arc::new(stdout),
        }),
        terminal: None,
    };
    let pinger_spec = spec(
        vec!["./pinger".into(), trips.to_string()],
        to_pinger,
        from_pinger,
    );
    let echo_spec = spec(vec!["./echo".into()], to_echo, from_echo);
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let (p, e) = tokio::join!(
        runner.run(pinger_spec, rx.clone()),
        runner.run(echo_spec, rx)
    );
    let (p, e) = (p?, e?);
    ensure!(
        p.success() && e.success(),
        "sandboxed pair failed: {p:?} {e:?}"
    );
    let boxed = parse_times(&p.stderr)?;
    let cpus = |pid: Option<u32>| -> String {
        pid.and_then(|p| judge_tests::proc_status(p, "Cpus_allowed_list"))
            .unwrap_or_else(|| "?".into())
    };
    println!("interactive round trip, {trips} trips, p50 / p99:");
    println!(
        "  bare pipes, placed by the kernel: {:.1} / {:.1} µs",
        bare.0, bare.1
    );
    println!(
        "  bare pipes, both on CPU 0:        {:.1} / {:.1} µs",
        pinned.0, pinned.1
    );
    println!(
        "  sandboxed pair (spawn helper's CPUs {}): {:.1} / {:.1} µs = x{:.2} / x{:.2} of bare pipes on one CPU, x{:.2} / x{:.2} of bare pipes placed by the kernel",
        cpus(Some(runner.helper_pid())),
        boxed.0,
        boxed.1,
        boxed.0 / pinned.0,
        boxed.1 / pinned.1,
        boxed.0 / bare.0,
        boxed.1 / bare.1
    );
    Ok(())
}

const INTERACTOR_C: &str = r#"
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "r"), *ans = fopen(argv[2], "r");
    long a, b, want, got;
    if (!in || !ans || fscanf(in, "%ld %ld", &a, &b) != 2 || fscanf(ans, "%ld", &want) != 1)
        return 1;
    printf("%ld %ld\n", a, b);
    fflush(stdout);
    if (scanf("%ld", &got) != 1) return 43;
    return got == want ? 42 : 43;
}
"#;

async fn judging(rounds: usize) -> Result<()> {
    let s = super::setup().await?;
    let batch = s._dir.path().join("batch");
    super::write_sum_problem(&batch, 10)?;
    let inter = s._dir.path().join("interactive");
    super::write_sum_problem(&inter, 10)?;
    std::fs::create_dir_all(inter.join("output_validator"))?;
    std::fs::write(inter.join("output_validator/interactor.c"), INTERACTOR_C)?;
    std::fs::write(
        inter.join("problem.yaml"),
        "problem_format_version: 2023-07-draft\ntype: interactive\n",
    )?;
    let mut admin = admin_client(&s.sched.url(), &s.admin).await?;
    push(&mut admin, &batch, "batch", None).await?;
    push(&mut admin, &inter, "interactive", None).await?;
    let times = super::side_by_side(&s, &["batch", "interactive"], rounds).await?;
    let [batch, interactive] = [&times[0], &times[1]].map(|t| super::median(t.clone()));
    println!(
        "judging 10 tests (median of {rounds}, warm worker, submit to verdict): batch {batch:.2?}, \
         interactive {interactive:.2?} = x{:.2}",
        interactive.as_secs_f64() / batch.as_secs_f64()
    );
    Ok(())
}

pub async fn run(trips: usize, rounds: usize) -> Result<()> {
    round_trips(trips).await?;
    judging(rounds).await
}
