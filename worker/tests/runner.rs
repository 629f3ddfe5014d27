//! The runner with cgroups, attacked by real programs. These need cgroups (root, or a
//! delegated cgroup), as a production worker does; CI runs as root.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use judge_worker::sandbox::{LimitHit, RunOutcome, RunSpec, Runner, SandboxRunner};

fn runner() -> SandboxRunner {
    common::sandbox("judge-runner-tests-root").0
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
        dir_writable: false,
        binds: Vec::new(),
        stdin: None,
        time_limit: Duration::from_secs(1),
        wall_limit: Duration::from_secs(4),
        memory_limit_bytes: 64 << 20,
        output_limit_bytes: 1 << 20,
        max_processes: 16,
        file_size_limit: 8 << 20,
        piped: None,
        terminal: None,
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
    common::with_marker(marker)
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

#[tokio::test]
async fn there_is_no_network() {
    // A listener on the host's loopback: reachable from here, not from the run.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let code = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\nexcept OSError as e:\n    print('blocked', e.errno)"
    );
    let out = run(python(&code, "net-probe")).await;
    assert!(out.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("blocked"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn it_has_its_own_pid_namespace_and_kill_minus_one_reaches_nothing_outside() {
    // A bystander process on the host, which kill(-1) from a root submission would hit.
    let mut bystander = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let code = "import os, signal\nprint(os.getpid())\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\nprint('still here')";
    let out = run(python(code, "kill-all")).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().next(),
        Some("1"),
        "the run is PID 1 of its namespace: {out:?}"
    );
    assert!(
        bystander.try_wait().unwrap().is_none(),
        "the bystander outside survived kill(-1)"
    );
    bystander.kill().unwrap();
    let _ = bystander.wait();
}

#[tokio::test]
async fn mount_unshare_ptrace_and_friends_are_refused() {
    let code = r#"import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def errno_of(rc):
    return ctypes.get_errno() if rc != 0 else 0
results = {
    'mount': errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    'unshare': errno_of(libc.unshare(0x00020000)),
    'ptrace': errno_of(libc.ptrace(0, 0, None, None)),
    'bpf': errno_of(libc.syscall(321, 0, None, 0)),
    'keyctl': errno_of(libc.syscall(250, 0, 0, 0, 0, 0)),
    'setns': errno_of(libc.setns(0, 0)),
    'fsopen': errno_of(libc.syscall(430, b"tmpfs", 0)),
}
# clone(CLONE_NEWUSER | SIGCHLD), like fork: a child that got through leaves at once.
pid = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
if pid == 0:
    os._exit(0)
results['userns'] = ctypes.get_errno() if pid < 0 else 0
# clone3 cannot be inspected: ENOSYS, so that libc falls back to clone.
results['clone3'] = errno_of(libc.syscall(435, None, 0))
# Threads still start (through clone, after clone3's ENOSYS).
import threading
t = threading.Thread(target=lambda: None)
t.start()
t.join()
print(' '.join(f'{k}={v}' for k, v in sorted(results.items())))
"#;
    let out = run(python(code, "syscalls")).await;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let eperm = 1;
    for call in [
        "bpf", "fsopen", "keyctl", "mount", "ptrace", "setns", "unshare", "userns",
    ] {
        assert!(
            text.contains(&format!("{call}={eperm}")),
            "{call} must fail with EPERM: {text} {out:?}"
        );
    }
    assert!(
        text.contains("clone3=38"),
        "clone3 is ENOSYS: {text} {out:?}"
    );
}

#[tokio::test]
async fn a_file_larger_than_the_limit_cannot_be_written() {
    let code = "import os\nwith open('/tmp/judge-fsize-probe-' + str(os.getppid()), 'wb') as f:\n    f.write(b'x' * (32 << 20))\nprint('wrote')";
    let out = run(python(code, "fsize")).await;
    assert!(
        !out.success(),
        "writing 32 MiB with an 8 MiB limit fails: {out:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("wrote"));
}

/// A program that ends as soon as the reader stops at the limit (its next write fails) is
/// still over the output limit, whichever the runner notices first: its exit or the
/// reader's answer. Twenty runs, so that both orders happen.
#[tokio::test]
async fn a_program_that_quits_when_its_output_is_cut_is_still_ole() {
    let code = "import sys
try:
    while True:
        sys.stdout.write('x' * 65536)
        sys.stdout.flush()
except BrokenPipeError:
    sys.exit(0)
";
    for i in 0..20 {
        let out = run(python(code, "quitter")).await;
        assert_eq!(out.limit, Some(LimitHit::Output), "run {i}: {out:?}");
    }
}

#[tokio::test]
async fn endless_output_is_ole_and_stops_the_run() {
    let started = Instant::now();
    let out = run(python("while True:\n    print('spam' * 1000)", "spammer")).await;
    assert_eq!(out.limit, Some(LimitHit::Output), "{out:?}");
    assert!(out.stdout.len() <= 1 << 20, "output is capped while read");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(survivors("spammer").is_empty());
}

#[tokio::test]
async fn sleeping_forever_is_stopped_at_the_wall_limit() {
    let started = Instant::now();
    let out = run(python("import time\ntime.sleep(3600)", "sleeper")).await;
    assert_eq!(out.limit, Some(LimitHit::Time), "{out:?}");
    assert!(
        out.cpu_ms < 500,
        "it used no CPU, the wall clock stopped it: {out:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(survivors("sleeper").is_empty());
}

#[tokio::test]
async fn a_reused_group_starts_each_run_clean() {
    // One runner: its groups are pooled and reused from run to run.
    let r = runner();
    let go = |code: &'static str| {
        let r = &r;
        async move {
            let (_tx, rx) = tokio::sync::watch::channel(false);
            r.run(python(code, "reuse"), rx).await.expect("run")
        }
    };
    assert_eq!(
        go("x = b'x' * (512 << 20)").await.limit,
        Some(LimitHit::Memory)
    );
    let after_oom = go("print(1)").await;
    assert!(
        after_oom.success(),
        "an earlier OOM is not this run's: {after_oom:?}"
    );
    assert!(
        after_oom.memory_kb < 60 << 10,
        "the peak is this run's: {after_oom:?}"
    );
    assert_eq!(
        go("while True:\n    pass").await.limit,
        Some(LimitHit::Time)
    );
    let after_spin = go("print(1)").await;
    assert!(
        after_spin.success() && after_spin.cpu_ms < 900,
        "CPU time is this run's: {after_spin:?}"
    );
}

#[tokio::test]
async fn groups_of_workers_that_died_are_swept_away() {
    // A dead worker's group: a pid that cannot exist (above pid_max's ceiling).
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = own
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()));
    let Some(path) = path else { return }; // v2 hosts: covered by the same function
    let base = std::path::Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    let stale = base.join("judge-worker-4999999");
    std::fs::create_dir_all(stale.join("run-1")).unwrap();
    let _live = runner();
    assert!(!stale.exists(), "the dead worker's groups were removed");
}

/// A directory of its own under the system temp dir, with `files` in it.
fn host_dir(name: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

#[tokio::test]
async fn the_run_sees_its_box_and_the_toolchain_and_nothing_of_the_worker() {
    // The worker's secrets and a test's answer, on the host, in the host's temp dir.
    let secrets = host_dir(
        "worker-secrets",
        &[("token", "jdg_1_secret"), ("1.ans", "42")],
    );
    let boxed = host_dir("run-box", &[("main.py", "print(1)")]);
    let code = format!(
        r#"import os
def probe(p):
    try:
        with open(p) as f:
            return 'READ ' + f.read()
    except OSError as e:
        return e.__class__.__name__
print('root', sorted(os.listdir('/')))
print('box', sorted(os.listdir('.')), os.getcwd())
print('token', probe({token:?}))
print('answer', probe({answer:?}))
print('shadow', probe('/etc/shadow'))
print('env', sorted(os.environ))
print('procs', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
"#,
        token = secrets.join("token").display().to_string(),
        answer = secrets.join("1.ans").display().to_string(),
    );
    let mut spec = python(&code, "view-probe");
    spec.dir = boxed.clone();
    let out = run(spec).await;
    assert!(out.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} line in {text}"))
            .to_string()
    };
    let allowed = [
        "bin", "box", "dev", "etc", "judge", "lib", "lib32", "lib64", "libx32", "proc", "sbin",
        "tmp", "usr",
    ];
    let root = line("root");
    let seen: Vec<&str> = root
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|e| e.trim_matches('\''))
        .collect();
    assert!(
        seen.iter().all(|e| allowed.contains(e)) && seen.contains(&"usr"),
        "only the toolchain, the box and the sandbox's own dirs at /: {root}"
    );
    assert_eq!(line("box"), "['main.py'] /box");
    assert_eq!(line("token"), "FileNotFoundError");
    assert_eq!(line("answer"), "FileNotFoundError");
    assert_eq!(line("shadow"), "FileNotFoundError");
    assert_eq!(
        line("env"),
        "['HOME', 'LANG', 'PATH']",
        "nothing of the worker's"
    );
    assert_eq!(line("procs"), "[1]", "only its own processes in /proc");
    std::fs::remove_dir_all(secrets).unwrap();
    std::fs::remove_dir_all(boxed).unwrap();
}

#[tokio::test]
async fn the_run_has_a_uid_of_its_own_and_no_capabilities() {
    let code = r#"import os
status = dict(l.split(':\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\t' in l)
print(os.getuid(), os.geteuid(), os.getgid(), status['CapEff'].strip(), status['CapPrm'].strip(), status['NoNewPrivs'].strip())
for path in ['/box/x', '/usr/x', '/x']:
    try:
        open(path, 'w')
        print(path, 'written')
    except OSError as e:
        print(path, e.errno)
"#;
    let out = run(python(code, "uid-probe")).await;
    assert!(out.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    let ids: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let uid: u32 = ids[0].parse().unwrap();
    assert!(uid >= 60000, "not root, not a host account: {text}");
    assert_eq!(
        ids[1..],
        [ids[0], ids[0], "0000000000000000", "0000000000000000", "1"]
    );
    let erofs = 30;
    for path in ["/box/x", "/usr/x", "/x"] {
        assert_eq!(
            lines.next(),
            Some(format!("{path} {erofs}").as_str()),
            "{path} is read-only: {text}"
        );
    }
}

#[tokio::test]
async fn filling_tmp_stops_at_its_size_and_the_next_run_gets_an_empty_one() {
    // 1 MiB files (under the 8 MiB file-size limit) until /tmp, 8 MiB, is full.
    let code = r#"import os
n = 0
try:
    while True:
        with open(f'/tmp/fill-{n}', 'wb') as f:
            f.write(b'x' * (1 << 20))
        n += 1
except OSError as e:
    print('stopped', e.errno, n)
"#;
    let out = run(python(code, "tmp-filler")).await;
    assert!(out.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let enospc = 28;
    assert!(
        text.starts_with(&format!("stopped {enospc} ")),
        "ENOSPC once /tmp is full: {text}"
    );
    let next = run(python("import os\nprint(os.listdir('/tmp'))", "tmp-after")).await;
    assert_eq!(String::from_utf8_lossy(&next.stdout).trim(), "[]");
}

#[tokio::test]
async fn a_writable_box_is_the_runs_own_and_files_it_makes_are_left_to_the_worker() {
    let boxed = host_dir("compile-box", &[("main.c", "int main(){return 0;}")]);
    let mut spec = python(
        "open('main', 'w').write('built')\nprint('ok')",
        "compile-box",
    );
    spec.dir = boxed.clone();
    spec.dir_writable = true;
    let out = run(spec).await;
    assert!(out.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(boxed.join("main")).unwrap(),
        "built"
    );
    std::fs::remove_dir_all(boxed).unwrap();
}

#[tokio::test]
async fn runs_killed_at_a_limit_leave_no_zombie_in_their_reused_group() {
    // Each run is killed at the wall limit. Were a killed PID 1 left for anyone but its
    // parent to reap (the host's init, say), it would hold a place in the pooled group's
    // process limit until then; by the fourth run there would be no room to start.
    let r = runner();
    let mut spec = python("import time\ntime.sleep(3600)", "zombie-check");
    spec.max_processes = 3;
    spec.wall_limit = Duration::from_millis(300);
    for i in 0..6 {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let out = r.run(spec.clone(), rx).await.expect("the run starts");
        assert_eq!(out.limit, Some(LimitHit::Time), "run {i}: {out:?}");
    }
}

/// Polls `done` until it holds, for at most 10 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A field of `/proc/<pid>/status`.
fn status_field(pid: u32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

#[tokio::test]
async fn runs_are_children_of_a_single_threaded_helper_not_of_the_worker() {
    let r = runner();
    let helper = r.helper_pid();
    assert_eq!(status_field(helper, "Threads").as_deref(), Some("1"));
    assert_eq!(status_field(helper, "Name").as_deref(), Some("judge-spawn"));
    assert_eq!(
        status_field(helper, "PPid"),
        Some(std::process::id().to_string())
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let spec = python("import time\ntime.sleep(3600)", "helper-parent-check");
    let run = r.run(spec, rx);
    tokio::pin!(run);
    tokio::select! {
        out = &mut run => panic!("the sleeper ended by itself: {out:?}"),
        _ = until("the run is up", || !survivors("helper-parent-check").is_empty()) => {}
    }
    let pid = survivors("helper-parent-check")[0];
    assert_eq!(status_field(pid, "PPid"), Some(helper.to_string()));
    tx.send(true).unwrap();
    let out = run.await.unwrap();
    assert!(out.cancelled, "{out:?}");
    assert!(survivors("helper-parent-check").is_empty());
}

#[tokio::test]
async fn a_run_whose_future_is_dropped_is_killed() {
    let r = Arc::new(runner());
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let spec = python("import time\ntime.sleep(3600)", "dropped-run");
    let task = tokio::spawn({
        let r = r.clone();
        async move { r.run(spec, rx).await }
    });
    until("the run is up", || !survivors("dropped-run").is_empty()).await;
    task.abort();
    until("the run is gone", || survivors("dropped-run").is_empty()).await;
}

#[tokio::test]
async fn dropping_the_runner_ends_its_helper() {
    // (A worker killed outright ends its helper and the runs too: see the end-to-end test of
    // a worker killed mid-job.)
    let r = runner();
    let helper = r.helper_pid();
    assert!(run(python("print(1)", "before-drop")).await.success());
    drop(r);
    until("the helper is gone", || {
        status_field(helper, "Name").is_none()
    })
    .await;
}

#[tokio::test]
async fn a_program_that_cannot_be_started_is_an_error_naming_it_and_the_step() {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let mut spec = python("", "missing");
    spec.argv = vec!["/usr/bin/no-such-program".into()];
    let err = runner().run(spec, rx).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/usr/bin/no-such-program") && text.contains("exec"),
        "{text}"
    );
    assert!(text.contains("No such file"), "{text}");
}

#[tokio::test]
async fn without_cgroups_or_isolation_the_helper_still_measures_and_cleans_up() {
    // A worker that is not root: runs start from the helper all the same, CPU time and
    // memory come from wait4, and what a run leaves in its process group is killed.
    let plain = SandboxRunner::new(None, None).expect("the spawn helper starts");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let code = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nelse:\n    t = time.process_time()\n    while time.process_time() - t < 0.3:\n        pass\n    print('spun')";
    let out = plain
        .run(python(code, "plain-leftover"), rx)
        .await
        .expect("the run is carried out");
    assert!(out.success(), "{out:?}");
    assert!(out.cpu_ms >= 250, "CPU time measured: {out:?}");
    assert!(out.memory_kb > 1000, "peak memory measured: {out:?}");
    assert!(survivors("plain-leftover").is_empty());
}

#[tokio::test]
async fn a_run_whose_future_is_dropped_while_it_starts_is_killed() {
    // Polled once (the request goes to the helper), then dropped before the helper's answer:
    // the run starts all the same, and must be killed, not left running.
    let plain = SandboxRunner::new(None, None).expect("the spawn helper starts");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let sleeper = python("import time\ntime.sleep(3600)", "dropped-while-starting");
    let once = tokio::time::timeout(Duration::ZERO, plain.run(sleeper, rx.clone())).await;
    assert!(once.is_err(), "still starting after one poll: {once:?}");
    // The helper takes requests in order: once this one has run, it has started the sleeper
    // (and been told to kill it).
    assert!(plain
        .run(python("print(1)", "barrier"), rx)
        .await
        .unwrap()
        .success());
    until("the sleeper is gone", || {
        survivors("dropped-while-starting").is_empty()
    })
    .await;
}

#[tokio::test]
async fn posix_semaphores_and_shared_memory_work_in_the_runs_own_tmp() {
    // Python's multiprocessing locks are POSIX semaphores, in /dev/shm.
    let code = "import multiprocessing, os\nlock = multiprocessing.Lock()\nwith lock:\n    print(os.path.realpath('/dev/shm'))";
    let out = run(python(code, "semaphores")).await;
    assert!(out.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/tmp");
}
