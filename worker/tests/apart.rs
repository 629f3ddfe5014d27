//! Two runs at once on one worker cannot reach each other: a "server" run opens every channel
//! it can (an abstract and a path Unix socket, a SysV message queue, a POSIX message queue, a
//! file in /tmp and in /dev/shm, a TCP port) and a "client" run beside it tries each one.
//! Needs root and cgroups, as a production worker does.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::with_marker;
use judge_worker::sandbox::isolation::Isolation;
use judge_worker::sandbox::{RunSpec, Runner, SandboxRunner};

fn runner() -> (SandboxRunner, Arc<Isolation>) {
    common::sandbox("judge-apart-tests-root")
}

fn python(code: &str, marker: &str, wall: Duration) -> RunSpec {
    RunSpec {
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
        time_limit: wall,
        wall_limit: wall,
        memory_limit_bytes: 128 << 20,
        output_limit_bytes: 1 << 20,
        max_processes: 16,
        file_size_limit: 8 << 20,
        piped: None,
        terminal: None,
    }
}

/// Opens every channel, then waits to be killed.
const SERVER: &str = r#"
import ctypes, os, socket, time
libc = ctypes.CDLL(None, use_errno=True)
# SysV message queue under a fixed key; POSIX message queue under a fixed name.
libc.msgget(0x4a554447, 0o1666)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
rt.mq_open.restype = ctypes.c_int
rt.mq_open(b"/judge-apart", os.O_CREAT | os.O_RDWR, 0o666, None)
for d in ("/tmp", "/dev/shm"):
    open(d + "/judge-apart-secret", "w").write("42")
path = socket.socket(socket.AF_UNIX); path.bind("/tmp/judge-apart.sock"); path.listen()
try:
    tcp = socket.socket(); tcp.bind(("127.0.0.1", 47123)); tcp.listen()
except OSError:
    pass
# Last: the abstract socket, which the test waits for.
abstract = socket.socket(socket.AF_UNIX); abstract.bind("\0judge-apart"); abstract.listen()
time.sleep(60)
"#;

/// Tries every channel; prints what it reached.
const CLIENT: &str = r#"
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("librt.so.1", use_errno=True)
reached = []
def tries(name, f):
    try:
        if f() is not False:
            reached.append(name)
    except OSError:
        pass
def connect(addr, family=socket.AF_UNIX):
    s = socket.socket(family); s.settimeout(2); s.connect(addr)
tries("abstract socket", lambda: connect("\0judge-apart"))
tries("path socket", lambda: connect("/tmp/judge-apart.sock"))
tries("tcp", lambda: connect(("127.0.0.1", 47123), socket.AF_INET))
tries("sysv queue", lambda: libc.msgget(0x4a554447, 0) >= 0)
tries("posix queue", lambda: rt.mq_open(b"/judge-apart", os.O_RDWR) >= 0)
for d in ("/tmp", "/dev/shm"):
    tries(d, lambda: os.path.exists(d + "/judge-apart-secret"))
# Processes it can see (its own PID namespace: itself only).
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
if others:
    reached.append("processes %s" % others)
print("reached:", ", ".join(reached) or "nothing")
"#;

#[tokio::test]
async fn two_runs_at_once_share_no_channel() {
    let (runner, isolation) = runner();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = runner.run(
        python(SERVER, "apart-server", Duration::from_secs(60)),
        stopped,
    );
    tokio::pin!(server);
    // The server is ready once its abstract socket is in its network namespace.
    let ready = async {
        loop {
            let listening = with_marker("apart-server").into_iter().any(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/net/unix"))
                    .is_ok_and(|t| t.contains("@judge-apart"))
            });
            if listening {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(Duration::from_secs(30), ready) => {}
        out = &mut server => panic!("the server ended first: {out:?}"),
    }
    // The abstract socket is not in the host's namespace either.
    let host = std::fs::read_to_string("/proc/self/net/unix").unwrap();
    assert!(!host.contains("@judge-apart"));

    let (_keep, rx) = tokio::sync::watch::channel(false);
    let client = runner
        .run(python(CLIENT, "apart-client", Duration::from_secs(20)), rx)
        .await
        .expect("the client runs");
    let said = String::from_utf8_lossy(&client.stdout).into_owned();
    assert!(client.success(), "{client:?}");
    assert_eq!(
        said.trim(),
        "reached: nothing",
        "stderr: {}",
        String::from_utf8_lossy(&client.stderr)
    );

    stop.send(true).unwrap();
    let out = server.await.expect("the server run ends");
    assert!(out.cancelled, "{out:?}");
    // Both namespaces are back for the next runs.
    assert!(
        isolation.idle_netns() >= 2,
        "{} idle",
        isolation.idle_netns()
    );
}

#[tokio::test]
async fn a_run_sees_no_host_path_in_its_mounts() {
    let (runner, _iso) = runner();
    let (_keep, rx) = tokio::sync::watch::channel(false);
    let code = "print(open('/proc/self/mountinfo').read())";
    let out = runner
        .run(python(code, "apart-mounts", Duration::from_secs(10)), rx)
        .await
        .expect("the run is carried out");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.success(), "{out:?}");
    assert!(text.contains(" /box "), "{text}");
    // Where the worker keeps its files is nobody's business. (The host path of /box itself
    // still shows as the bind's root: hiding it would need a filesystem per job.)
    let staging = std::env::temp_dir().join("judge-apart-tests-root");
    assert!(
        !text.contains(staging.to_str().unwrap()),
        "the staging dir shows: {text}"
    );
}
