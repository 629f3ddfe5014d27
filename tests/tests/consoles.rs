//! Consoles on the real cluster, driven through judgectl on a real pseudo-terminal as a
//! person at a keyboard would: a prompt before a newline, a name typed and answered, Ctrl-C
//! and Ctrl-D reaching the program, the local terminal restored; piped input; a client or a
//! worker killed mid-session; idle and wall limits; many consoles at once; a client that
//! never reads; bad messages refused by name.

use std::process::Command;
use std::time::Duration;

use judge_common::pb;
use judge_tests::pty::PtyProc;
use judge_tests::*;

const SCREEN: Duration = Duration::from_secs(60);

/// `judgectl console` for `source` (a file of `name`), on a terminal.
fn console(c: &Cluster, name: &str, language: &str, source: &str) -> anyhow::Result<PtyProc> {
    let file = c.dir.path().join(name);
    std::fs::write(&file, source)?;
    let mut cmd = Command::new(bin("judgectl"));
    cmd.args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(["console", "--language", language])
        .arg(&file);
    PtyProc::spawn(cmd)
}

/// A cluster with one worker `w` of `slots` slots, connected.
async fn cluster(slots: u32, extra: &[&str]) -> anyhow::Result<Cluster> {
    let mut c = Cluster::start(extra).await?;
    c.add_worker("w", slots)?;
    c.wait_workers(1).await?;
    Ok(c)
}

/// Says it is alive, then waits for ever.
const FOREVER_PY: &str =
    "import time\nprint('alive', flush=True)\nwhile True:\n    time.sleep(1)\n";

const GREET_PY: &str = r#"
import sys
sys.stdout.write("name? ")
sys.stdout.flush()
name = sys.stdin.readline().strip()
print("hello, " + name)
rest = sys.stdin.read()
print("then %d more lines; bye" % rest.count("\n"))
sys.exit(7)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_types_to_a_program_and_gets_its_answers() -> anyhow::Result<()> {
    let c = cluster(2, &[]).await?;
    let mut p = console(&c, "greet.py", "python3", GREET_PY)?;
    // The prompt shows before any newline.
    p.expect("name? ", SCREEN)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))?;
    assert!(
        !p.cooked()?,
        "the local terminal is raw while the console runs"
    );
    p.send(b"Ada\r")?;
    p.expect("hello, Ada", SCREEN)?;
    p.send(b"one\rtwo\r")?;
    // Ctrl-D: end of input.
    p.send(&[0x04])?;
    p.expect("then 2 more lines; bye", SCREEN)?;
    let status = p.wait(SCREEN)?;
    assert_eq!(status.code(), Some(7), "{}", p.screen());
    assert!(p.cooked()?, "the local terminal is restored");
    // Typed keys were echoed by the program's terminal, as at a local one.
    assert!(p.screen().contains("Ada"), "{}", p.screen());

    // The program sees a terminal of this one's size, and its changes; and nothing else of
    // the worker's terminals.
    let sizes = "import os, sys\nprint('tty', os.isatty(0), os.path.exists('/dev/pts'), os.path.exists('/dev/ptmx'))\nwhile True:\n    c, r = os.get_terminal_size(0)\n    print('size %dx%d' % (r, c), flush=True)\n    if sys.stdin.readline().strip() == 'q':\n        break\n";
    let mut p = console(&c, "sizes.py", "python3", sizes)?;
    p.expect("tty True False False", SCREEN)?;
    p.expect("size 24x80", SCREEN)?;
    p.resize(40, 120)?;
    // The resize reaches judgectl as a signal, beside the keys: ask until it has arrived.
    let mut seen = false;
    for _ in 0..100 {
        p.send(b"\r")?;
        if p.expect("size 40x120", Duration::from_millis(300)).is_ok() {
            seen = true;
            break;
        }
    }
    assert!(seen, "{}", p.screen());
    p.send(b"q\r")?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(0), "{}", p.screen());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_interrupts_the_program_and_piped_input_is_streamed_then_closed(
) -> anyhow::Result<()> {
    let c = cluster(2, &[]).await?;
    // A Python program hears Ctrl-C as KeyboardInterrupt.
    let catch = "import sys\ntry:\n    print('waiting', flush=True)\n    sys.stdin.readline()\nexcept KeyboardInterrupt:\n    print('interrupted')\n    sys.exit(3)\n";
    let mut p = console(&c, "catch.py", "python3", catch)?;
    p.expect("waiting", SCREEN)?;
    p.send(&[0x03])?;
    p.expect("interrupted", SCREEN)?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(3), "{}", p.screen());
    // A C program that handles nothing dies of it, as under a shell: 128 + SIGINT.
    let spin = "#include <stdio.h>\n#include <unistd.h>\nint main(void){ puts(\"spinning\"); fflush(stdout); for(;;) pause(); }\n";
    let mut p = console(&c, "spin.c", "c", spin)?;
    p.expect("spinning", SCREEN)?;
    p.send(&[0x03])?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(130), "{}", p.screen());
    assert!(p.cooked()?);

    // Piped: every line arrives, nothing is echoed, and the program reads end-of-file.
    let file = c.dir.path().join("count.py");
    std::fs::write(
        &file,
        "import sys\nd = sys.stdin.read()\nprint('%d lines, %d bytes' % (d.count('\\n'), len(d)))\n",
    )?;
    let mut child = std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.submitter])
        .args(["console", "--language", "python3"])
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..1000 {
            writeln!(stdin, "line {i}")?;
        }
    }
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The terminal turns the program's \n into \r\n, as any terminal does.
    assert_eq!(
        stdout.trim_end(),
        "1000 lines, 8890 bytes",
        "no echo of the input"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_ends_at_its_idle_and_wall_limits() -> anyhow::Result<()> {
    let args = ["--console-idle-seconds", "1", "--console-max-seconds", "4"];
    let c = cluster(2, &args).await?;
    let quiet = "import time\nprint('quiet', flush=True)\ntime.sleep(100)\n";
    let mut p = console(&c, "quiet.py", "python3", quiet)?;
    p.expect("quiet", SCREEN)?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(124), "{}", p.screen());
    p.expect("idle_limit", SCREEN)?;
    // Output keeps it from idling, not from its wall limit.
    let chatty = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.3)\n";
    let mut p = console(&c, "chatty.py", "python3", chatty)?;
    p.expect("tick", SCREEN)?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(124), "{}", p.screen());
    p.expect("wall_limit", SCREEN)?;
    Ok(())
}

/// The worker's running count, once it matches.
async fn running(c: &Cluster, name: &str, want: u32) -> anyhow::Result<()> {
    let judge = c.judge().await?;
    workers_where(&judge, &format!("{name} running {want}"), WAIT, |ws| {
        ws.iter()
            .any(|w| w.name == name && w.connected && w.running == want)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_session_stops_the_program_and_frees_the_slot() -> anyhow::Result<()> {
    let c = cluster(1, &[]).await?;
    let mut p = console(&c, "forever.py", "python3", FOREVER_PY)?;
    p.expect("alive", SCREEN)?;
    running(&c, "w", 1).await?;
    let helper = c.workers[0].spawn_helper().expect("spawn helper");
    assert!(!children_of(helper).is_empty(), "the program runs");
    p.child.kill()?;
    p.child.wait()?;
    // Stopped and recorded as cancelled; the slot is free and nothing of it runs.
    running(&c, "w", 0).await?;
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    let jobs = j
        .list_jobs(pb::ListJobsRequest {
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].job_type.as_str(), jobs[0].owner.as_str()),
        ("console", "student")
    );
    let job = wait_finished(&mut j, jobs[0].job_id).await?;
    assert_eq!(job.state, pb::JobState::Cancelled as i32, "{job:?}");
    eventually("the program is gone", WAIT, || async {
        children_of(helper).is_empty().then_some(())
    })
    .await?;
    // The slot takes the next console at once.
    let mut p = console(&c, "again.py", "python3", "print('again')\n")?;
    p.expect("again", SCREEN)
        .map_err(|e| anyhow::anyhow!("{e}\n{}", c.logs()))?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_lost_mid_session_ends_the_console_and_tells_the_client() -> anyhow::Result<()> {
    let mut c = cluster(1, &[]).await?;
    let mut p = console(&c, "forever.py", "python3", FOREVER_PY)?;
    p.expect("alive", SCREEN)?;
    c.workers[0].kill().await;
    p.expect("the worker was lost", SCREEN)?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(123), "{}", p.screen());
    assert!(p.cooked()?);
    // Recorded as failed, never queued again.
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    let jobs = j
        .list_jobs(pb::ListJobsRequest {
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_inner()
        .jobs;
    assert_eq!(jobs[0].state, pb::JobState::Failed as i32, "{:?}", jobs[0]);
    assert_eq!(jobs[0].message, "the worker was lost");

    // With no worker taking consoles, a console is refused at once.
    let mut p = console(&c, "none.py", "python3", "print(1)\n")?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(123));
    p.expect("no connected worker takes console jobs in python3", SCREEN)?;

    // A scheduler that stops ends live consoles, telling their clients; after its restart
    // the console is recorded as failed.
    c.add_worker("w2", 1)?;
    c.wait_workers(1).await?;
    let mut p = console(&c, "forever.py", "python3", FOREVER_PY)?;
    p.expect("alive", SCREEN)?;
    let pid = c.sched.pid().expect("scheduler pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    p.expect("the scheduler is stopping", SCREEN)?;
    assert_eq!(p.wait(SCREEN)?.code(), Some(123), "{}", p.screen());
    Ok(())
}

type Requests = tokio::sync::mpsc::Sender<pb::ConsoleRequest>;

fn open_msg(language: &str, source: &str, rows: u32, cols: u32) -> pb::ConsoleRequest {
    pb::ConsoleRequest {
        msg: Some(pb::console_request::Msg::Open(pb::ConsoleOpen {
            language: language.into(),
            source: source.as_bytes().to_vec(),
            size: Some(pb::TerminalSize { rows, cols }),
            limits: None,
            piped_input: true,
        })),
    }
}

fn input(bytes: &[u8]) -> pb::ConsoleRequest {
    pb::ConsoleRequest {
        msg: Some(pb::console_request::Msg::Input(bytes.to_vec())),
    }
}

/// Opens a console over gRPC with `first` as its first message.
async fn open(
    c: &Cluster,
    first: pb::ConsoleRequest,
) -> Result<(Requests, tonic::Streaming<pb::ConsoleEvent>), tonic::Status> {
    let mut j = judge_client(&c.sched.url(), &c.submitter)
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tx.send(first)
        .await
        .map_err(|_| tonic::Status::internal("send"))?;
    let events = j
        .console(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    Ok((tx, events))
}

/// Reads events until the output so far contains `text`; the output.
async fn output_until(
    events: &mut tonic::Streaming<pb::ConsoleEvent>,
    text: &str,
) -> anyhow::Result<String> {
    let mut out = Vec::new();
    let read = async {
        while let Some(ev) = events.message().await? {
            match ev.event {
                Some(pb::console_event::Event::Output(b)) => out.extend_from_slice(&b),
                Some(pb::console_event::Event::End(e)) => anyhow::bail!("ended: {e:?}"),
                _ => {}
            }
            if String::from_utf8_lossy(&out).contains(text) {
                return Ok(());
            }
        }
        anyhow::bail!("stream ended")
    };
    tokio::time::timeout(SCREEN, read).await??;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The end event, skipping output.
async fn end_of(events: &mut tonic::Streaming<pb::ConsoleEvent>) -> anyhow::Result<pb::ConsoleEnd> {
    let read = async {
        while let Some(ev) = events.message().await? {
            if let Some(pb::console_event::Event::End(e)) = ev.event {
                return Ok(e);
            }
        }
        anyhow::bail!("stream ended without its end")
    };
    tokio::time::timeout(SCREEN, read).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_consoles_run_at_once_on_one_worker() -> anyhow::Result<()> {
    let c = cluster(16, &[]).await?;
    let echo = "import sys\nprint('ready', flush=True)\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n";
    let mut consoles = Vec::new();
    for _ in 0..16 {
        consoles.push(open(&c, open_msg("python3", echo, 24, 80)).await?);
    }
    // All sixteen are running at the same time...
    for (_, events) in &mut consoles {
        output_until(events, "ready").await?;
    }
    running(&c, "w", 16).await?;
    // ...and each answers its own client.
    for (i, (tx, events)) in consoles.iter_mut().enumerate() {
        tx.send(input(format!("client {i}\n").as_bytes())).await?;
        output_until(events, &format!("CLIENT {i}")).await?;
    }
    for (tx, events) in &mut consoles {
        tx.send(pb::ConsoleRequest {
            msg: Some(pb::console_request::Msg::Eof(pb::ConsoleEof {})),
        })
        .await?;
        let end = end_of(events).await?;
        assert_eq!(end.outcome, pb::RunOutcome::Exited as i32, "{end:?}");
        assert_eq!(end.exit_code, Some(0));
    }
    running(&c, "w", 0).await?;
    Ok(())
}

/// Resident memory of a process, KiB.
fn rss_kb(pid: u32) -> u64 {
    proc_status(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_grow_the_schedulers_memory() -> anyhow::Result<()> {
    let c = cluster(1, &[]).await?;
    let pid = c.sched.pid().expect("scheduler pid");
    let flood = "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n";
    let (_tx, mut events) = open(&c, open_msg("python3", flood, 24, 80)).await?;
    // Read until it floods, then stop reading for good.
    output_until(&mut events, &"y".repeat(1000)).await?;
    let before = rss_kb(pid);
    let mut peak = before;
    // Some seconds of a program writing as fast as it can to a client that reads nothing.
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(rss_kb(pid));
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 32,
        "the scheduler grew by {grown_mib} MiB while a console's client did not read"
    );
    // The program was held back, not dropped: it is still running.
    running(&c, "w", 1).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_floods_input_is_slowed_down() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let c = cluster(1, &[]).await?;
    let pid = c.sched.pid().expect("scheduler pid");
    // A program that never reads its input.
    let deaf = "import time\nprint('ready', flush=True)\ntime.sleep(600)\n";
    let (tx, mut events) = open(&c, open_msg("python3", deaf, 24, 80)).await?;
    output_until(&mut events, "ready").await?;
    let before = rss_kb(pid);
    let sent = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    // 1 GiB of lines offered as fast as the stream takes it. (A terminal drops what does
    // not fit in a line; whole lines wait in it until the program reads them.)
    let flood = tokio::spawn(async move {
        let chunk: Vec<u8> =
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n".repeat(1024);
        for _ in 0..16 * 1024 {
            if tx.send(input(&chunk)).await.is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Until the client cannot send any more: the stream stopped taking input.
    let mut last = usize::MAX;
    let stalled = eventually("the flood stalls", WAIT, || {
        let now = sent.load(Ordering::Relaxed);
        let same = now == last;
        last = now;
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            same.then_some(now)
        }
    })
    .await?;
    let mib = stalled * 64 / 1024;
    assert!(
        mib < 128,
        "{mib} MiB of input taken from a client whose program reads none"
    );
    let grown_mib = rss_kb(pid).saturating_sub(before) / 1024;
    assert!(grown_mib < 48, "the scheduler grew by {grown_mib} MiB");
    flood.abort();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_console_messages_are_refused_by_name() -> anyhow::Result<()> {
    use tonic::Code;
    let c = cluster(2, &["--run-max-time-seconds", "5"]).await?;
    let code = |r: Result<_, tonic::Status>| {
        r.map(|_| ())
            .map_err(|s| (s.code(), s.message().to_string()))
    };
    let (code_of, msg) = code(open(&c, input(b"x")).await).unwrap_err();
    assert_eq!(code_of, Code::InvalidArgument);
    assert!(
        msg.contains("the first console message must be open"),
        "{msg}"
    );
    let (code_of, msg) = code(open(&c, open_msg("python3", "print(1)", 0, 0)).await).unwrap_err();
    assert_eq!(code_of, Code::InvalidArgument);
    assert!(msg.contains("terminal size 0x0"), "{msg}");
    let (code_of, msg) = code(open(&c, open_msg("cobol", "x", 24, 80)).await).unwrap_err();
    assert_eq!(code_of, Code::InvalidArgument);
    assert!(msg.contains("language \"cobol\""), "{msg}");
    let mut slow = open_msg("python3", "print(1)", 24, 80);
    if let Some(pb::console_request::Msg::Open(o)) = &mut slow.msg {
        o.limits = Some(pb::RunLimits {
            time_limit_ms: Some(9_000),
            ..Default::default()
        });
    }
    let (code_of, msg) = code(open(&c, slow).await).unwrap_err();
    assert_eq!(code_of, Code::InvalidArgument);
    assert!(
        msg.contains("time_limit_ms 9000 ms is outside [50, 5000]"),
        "{msg}"
    );
    let mut j = judge_client(&c.sched.url(), &c.submitter).await?;
    let submit = pb::SubmitRequest {
        language: "python3".into(),
        source: b"print(1)".to_vec(),
        job_type: "console".into(),
        ..Default::default()
    };
    assert_status(
        j.submit(submit).await,
        Code::InvalidArgument,
        "open them with the Console call",
    );

    // Messages out of order once open: a second open, a 0x0 resize, oversized input. Each
    // ends the console with a status naming the problem, and frees its slot.
    let wait = "import sys\nprint('ready', flush=True)\nsys.stdin.read()\n";
    let bad: [(pb::ConsoleRequest, &str); 3] = [
        (open_msg("python3", wait, 24, 80), "a second open message"),
        (
            pb::ConsoleRequest {
                msg: Some(pb::console_request::Msg::Resize(pb::TerminalSize {
                    rows: 0,
                    cols: 0,
                })),
            },
            "terminal size 0x0",
        ),
        (
            input(&vec![b'x'; 65 * 1024]),
            "an input message of 66560 bytes",
        ),
    ];
    for (msg, words) in bad {
        let (tx, mut events) = open(&c, open_msg("python3", wait, 24, 80)).await?;
        output_until(&mut events, "ready").await?;
        tx.send(msg).await?;
        let status = loop {
            match tokio::time::timeout(SCREEN, events.message()).await? {
                Ok(Some(_)) => continue,
                Ok(None) => anyhow::bail!("ended without a status"),
                Err(s) => break s,
            }
        };
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(words), "{status:?}");
        running(&c, "w", 0).await?;
    }

    // A worker can attach only to a console assigned to its own session.
    let mut w = worker_client(&c.sched.url(), &c.worker_token).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::AttachUp {
        msg: Some(pb::attach_up::Msg::Open(pb::AttachOpen {
            session_id: "0".repeat(32),
            job_id: 1,
            attempt: 1,
        })),
    })
    .await?;
    let r = w
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    assert_status(r, Code::FailedPrecondition, "unknown or stale session");
    let hello = pb::ConnectRequest {
        name: "intruder".into(),
        slots: 1,
        job_types: vec!["console".into()],
        // Nothing the console below needs: it goes to the real worker.
        languages: vec![pb::LanguageInfo {
            id: "cobol".into(),
            version: "3".into(),
        }],
        ..Default::default()
    };
    let mut feed = w.connect(hello).await?.into_inner();
    let welcome = match feed.message().await?.and_then(|c| c.command) {
        Some(pb::worker_command::Command::Welcome(w)) => w,
        other => anyhow::bail!("no welcome: {other:?}"),
    };
    // A live console of the real worker: the intruder's session may not take it.
    let (_keep, mut events) = open(&c, open_msg("python3", wait, 24, 80)).await?;
    let job_id = loop {
        match events.message().await? {
            Some(pb::ConsoleEvent {
                event: Some(pb::console_event::Event::Queued(q)),
            }) => break q.job_id,
            Some(_) => continue,
            None => anyhow::bail!("no queued event"),
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::AttachUp {
        msg: Some(pb::attach_up::Msg::Open(pb::AttachOpen {
            session_id: welcome.session_id,
            job_id,
            attempt: 1,
        })),
    })
    .await?;
    let r = w
        .attach(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await;
    assert_status(
        r,
        Code::PermissionDenied,
        &format!("console {job_id} is not assigned to this session"),
    );
    Ok(())
}
