//! `console`: consoles measured end to end.
//!
//! - A keystroke's round trip (client → scheduler → worker → sandboxed program on its
//!   terminal → back) for a program that echoes each byte, against an echo over a loopback
//!   TCP connection measured in the same run.
//! - The throughput of a program printing as fast as it can to a client that reads, against
//!   the same bytes through a loopback TCP connection.
//! - Many consoles at once on simulated workers (real gRPC clients that echo what they are
//!   sent, no sandbox): round trips under that load and the scheduler's memory per open
//!   console.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use judge_common::pb;
use pb::console_event::Event as Ev;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{percentile, rss_bytes, setup_on, Setup};

/// A program that puts its terminal in raw mode and echoes each byte as it comes.
const ECHO_C: &str = r#"
#include <stdio.h>
#include <termios.h>
#include <unistd.h>
int main(void) {
    struct termios t;
    tcgetattr(0, &t);
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
    write(1, "ready\n", 6);
    char c;
    while (read(0, &c, 1) == 1) {
        if (c == 'q') return 0;
        write(1, &c, 1);
    }
    return 0;
}
"#;

/// A program that writes `MIB` MiB as fast as it can, then exits.
const FLOOD_C: &str = r#"
#include <string.h>
#include <unistd.h>
#define MIB 256
int main(void) {
    static char buf[65536];
    memset(buf, 'y', sizeof buf);
    for (int i = 0; i < MIB * 16; i++) {
        size_t off = 0;
        while (off < sizeof buf) {
            ssize_t n = write(1, buf + off, sizeof buf - off);
            if (n <= 0) return 1;
            off += n;
        }
    }
    return 0;
}
"#;
const FLOOD_BYTES: u64 = 256 << 20;

type Events = tonic::Streaming<pb::ConsoleEvent>;
type Requests = mpsc::Sender<pb::ConsoleRequest>;

pub async fn run(trips: usize, consoles: usize, sim_workers: usize) -> Result<()> {
    let args = [
        "--report-timeout-seconds",
        "60",
        "--max-queued-per-token",
        "100000",
        "--console-idle-seconds",
        "600",
    ];
    let s = setup_on(false, args.map(String::from).to_vec()).await?;
    real_worker(&s, trips).await?;
    simulated(&s, consoles, sim_workers, trips.min(200)).await
}

/// Opens a console for `source`; its requests and events.
async fn open(url: &str, token: &str, language: &str, source: &str) -> Result<(Requests, Events)> {
    let mut j = judge_tests::judge_client(url, token).await?;
    let (tx, rx) = mpsc::channel(16);
    let open = pb::ConsoleOpen {
        language: language.into(),
        source: source.as_bytes().to_vec(),
        size: Some(pb::TerminalSize { rows: 24, cols: 80 }),
        limits: Some(pb::RunLimits {
            time_limit_ms: Some(10_000),
            ..Default::default()
        }),
        piped_input: true,
    };
    tx.send(pb::ConsoleRequest {
        msg: Some(pb::console_request::Msg::Open(open)),
    })
    .await?;
    let events = j.console(ReceiverStream::new(rx)).await?.into_inner();
    Ok((tx, events))
}

/// Output bytes until `n` have come; how many came.
async fn read_output(events: &mut Events, n: usize) -> Result<usize> {
    let mut got = 0;
    while got < n {
        match events.message().await? {
            Some(pb::ConsoleEvent {
                event: Some(Ev::Output(b)),
            }) => got += b.len(),
            Some(pb::ConsoleEvent {
                event: Some(Ev::End(e)),
            }) => bail!("the console ended: {e:?}"),
            Some(_) => {}
            None => bail!("the console's stream ended"),
        }
    }
    Ok(got)
}

fn input(b: &[u8]) -> pb::ConsoleRequest {
    pb::ConsoleRequest {
        msg: Some(pb::console_request::Msg::Input(b.to_vec())),
    }
}

/// `trips` one-byte round trips; the sorted times.
async fn round_trips(tx: &Requests, events: &mut Events, trips: usize) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(trips);
    for _ in 0..trips {
        let start = Instant::now();
        tx.send(input(b"x")).await?;
        read_output(events, 1).await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

/// An echo over loopback TCP: the sorted times of `trips` one-byte round trips.
async fn tcp_round_trips(trips: usize) -> Result<Vec<Duration>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            let mut b = [0u8; 1];
            while s.read_exact(&mut b).await.is_ok() {
                if s.write_all(&b).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    c.set_nodelay(true)?;
    let mut times = Vec::with_capacity(trips);
    let mut b = [0u8; 1];
    for _ in 0..trips {
        let start = Instant::now();
        c.write_all(b"x").await?;
        c.read_exact(&mut b).await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

/// `FLOOD_BYTES` through loopback TCP; MB/s.
async fn tcp_throughput() -> Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let writer = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        let buf = vec![b'y'; 65536];
        for _ in 0..FLOOD_BYTES / 65536 {
            s.write_all(&buf).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let start = Instant::now();
    let mut c = tokio::net::TcpStream::connect(addr).await?;
    let mut buf = vec![0u8; 65536];
    let mut got = 0u64;
    while got < FLOOD_BYTES {
        let n = c.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    writer.await??;
    Ok(got as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// The same flood, built here and run bare on a terminal of its own read by this process:
/// what a terminal itself carries; MB/s.
fn pty_throughput() -> Result<f64> {
    use std::io::Read;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("flood.c");
    std::fs::write(&src, FLOOD_C)?;
    let exe = dir.path().join("flood");
    let ok = std::process::Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&exe)
        .arg(&src)
        .status()?
        .success();
    anyhow::ensure!(ok, "gcc failed");
    let pty = nix::pty::openpty(None, None)?;
    let start = Instant::now();
    let mut child = std::process::Command::new(&exe)
        .stdin(std::process::Stdio::from(pty.slave.try_clone()?))
        .stdout(std::process::Stdio::from(pty.slave.try_clone()?))
        .spawn()?;
    drop(pty.slave);
    let mut master = std::fs::File::from(pty.master);
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    // EIO once the program is gone and its output read.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    child.wait()?;
    anyhow::ensure!(got == FLOOD_BYTES, "read {got} bytes from the terminal");
    Ok(got as f64 / start.elapsed().as_secs_f64() / 1e6)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A real worker, a sandboxed program on a real terminal.
async fn real_worker(s: &Setup, trips: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let _worker = judge_tests::WorkerProc::start_with(
        &s.url,
        &s.worker,
        "real",
        2,
        dir.path(),
        &["--job-types", "console"],
    )?;
    let judge = judge_tests::judge_client(&s.url, &s.admin).await?;
    judge_tests::connected_workers(&judge, 1, judge_tests::WAIT).await?;

    let tcp = tcp_round_trips(trips).await?;
    let (tx, mut events) = open(&s.url, &s.admin, "c", ECHO_C).await?;
    read_output(&mut events, "ready\n".len()).await?;
    let console = round_trips(&tx, &mut events, trips).await?;
    tx.send(input(b"q")).await?;
    let (c50, c99) = (percentile(&console, 0.5), percentile(&console, 0.99));
    let (t50, t99) = (percentile(&tcp, 0.5), percentile(&tcp, 0.99));
    println!("keystroke round trip, {trips} one-byte trips, sandboxed echo on a terminal:");
    println!(
        "  loopback TCP echo   p50 {:8.3} ms  p99 {:8.3} ms",
        ms(t50),
        ms(t99)
    );
    println!(
        "  console             p50 {:8.3} ms  p99 {:8.3} ms  (x{:.1} / x{:.1} of TCP)",
        ms(c50),
        ms(c99),
        c50.as_secs_f64() / t50.as_secs_f64(),
        c99.as_secs_f64() / t99.as_secs_f64()
    );

    let tcp_mbs = tcp_throughput().await?;
    let pty_mbs = tokio::task::spawn_blocking(pty_throughput).await??;
    let (_tx, mut events) = open(&s.url, &s.admin, "c", FLOOD_C).await?;
    // Started once the first byte arrives (compiling is not output).
    let first = read_output(&mut events, 1).await?;
    let start = Instant::now();
    read_output(&mut events, FLOOD_BYTES as usize - first).await?;
    let mbs = FLOOD_BYTES as f64 / start.elapsed().as_secs_f64() / 1e6;
    println!("output throughput, {} MiB:", FLOOD_BYTES >> 20);
    println!("  loopback TCP        {tcp_mbs:8.1} MB/s");
    println!("  bare terminal       {pty_mbs:8.1} MB/s  (the program unsandboxed, read locally)");
    println!(
        "  console             {mbs:8.1} MB/s  (x{:.3} of TCP, x{:.2} of a bare terminal)",
        mbs / tcp_mbs,
        mbs / pty_mbs
    );
    Ok(())
}

/// A simulated worker taking consoles: it attaches to each and echoes what it is sent.
async fn sim_console_worker(url: String, token: String, name: String, slots: u32) -> Result<()> {
    use pb::job_update::Update;
    use pb::worker_command::Command;
    use pb::worker_report::Report;
    let hello = pb::ConnectRequest {
        name,
        slots,
        job_types: vec!["console".into()],
        languages: vec![pb::LanguageInfo {
            id: "sim".into(),
            version: "sim".into(),
        }],
        ..Default::default()
    };
    let (client, mut feed, session) = judge_tests::sim::connect(&url, &token, hello).await?;
    let (reports, rx) = mpsc::channel::<pb::WorkerReport>(1024);
    let mut report_client = client.clone();
    tokio::spawn(async move { report_client.report(ReceiverStream::new(rx)).await });
    let mut ticker = tokio::time::interval(Duration::from_secs(3));
    loop {
        tokio::select! {
            cmd = feed.message() => {
                let Ok(Some(cmd)) = cmd else { return Ok(()) };
                let Some(Command::Assign(a)) = cmd.command else { continue };
                let (reports, mut client, session) = (reports.clone(), client.clone(), session.clone());
                tokio::spawn(async move {
                    let job = |update| pb::WorkerReport {
                        session_id: session.clone(),
                        report: Some(Report::Job(pb::JobUpdate { job_id: a.job_id, attempt: a.attempt, update: Some(update) })),
                    };
                    let _ = reports.send(job(Update::Accepted(pb::Accepted {}))).await;
                    let (tx, rx) = mpsc::channel(16);
                    let open = pb::AttachOpen { session_id: session.clone(), job_id: a.job_id, attempt: a.attempt };
                    let _ = tx.send(pb::AttachUp { msg: Some(pb::attach_up::Msg::Open(open)) }).await;
                    if let Ok(down) = client.attach(ReceiverStream::new(rx)).await {
                        let mut down = down.into_inner();
                        while let Ok(Some(m)) = down.message().await {
                            match m.msg {
                                Some(pb::attach_down::Msg::Input(b)) => {
                                    let up = pb::AttachUp { msg: Some(pb::attach_up::Msg::Output(b)) };
                                    if tx.send(up).await.is_err() { break; }
                                }
                                Some(pb::attach_down::Msg::Eof(_)) => break,
                                _ => {}
                            }
                        }
                    }
                    drop(tx);
                    let run = pb::RunResult { outcome: pb::RunOutcome::Exited as i32, exit_code: Some(0), ..Default::default() };
                    let done = pb::Finished { verdict: 0, message: String::new(), cancelled: false, score: None, run: Some(run) };
                    let _ = reports.send(job(Update::Finished(done))).await;
                });
            }
            _ = ticker.tick() => {
                let usage = pb::ResourceUsage { cpu_percent: 1.0, memory_free_bytes: 1 << 30, ..Default::default() };
                let _ = reports.send(pb::WorkerReport { session_id: session.clone(), report: Some(Report::Resources(usage)) }).await;
            }
        }
    }
}

/// `consoles` consoles at once on `workers` simulated workers.
async fn simulated(s: &Setup, consoles: usize, workers: usize, trips: usize) -> Result<()> {
    let slots = consoles.div_ceil(workers.max(1)) as u32;
    for i in 0..workers {
        let (url, token) = (s.url.clone(), s.worker.clone());
        tokio::spawn(sim_console_worker(url, token, format!("sim{i}"), slots));
    }
    let judge = judge_tests::judge_client(&s.url, &s.admin).await?;
    judge_tests::connected_workers(&judge, workers, judge_tests::WAIT).await?;
    let pid = s.sched.pid().unwrap_or_default();
    let before = rss_bytes(pid);
    let mut open_consoles = Vec::with_capacity(consoles);
    for _ in 0..consoles {
        let (tx, mut events) = open(&s.url, &s.admin, "sim", "echo").await?;
        // Attached once an echo comes back.
        tx.send(input(b"!")).await?;
        read_output(&mut events, 1).await?;
        open_consoles.push((tx, events));
    }
    let open_rss = rss_bytes(pid);
    let start = Instant::now();
    let tasks: Vec<_> = open_consoles
        .into_iter()
        .map(|(tx, mut events)| {
            tokio::spawn(async move {
                let times = round_trips(&tx, &mut events, trips).await;
                (times, tx, events)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut keep = Vec::new();
    for t in tasks {
        let (times, tx, events) = t.await?;
        all.extend(times?);
        keep.push((tx, events));
    }
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "{consoles} consoles at once on {workers} simulated workers, {trips} round trips each:"
    );
    println!(
        "  round trip          p50 {:8.3} ms  p99 {:8.3} ms  ({:.0} trips/s in all)",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        all.len() as f64 / elapsed.as_secs_f64()
    );
    let per = open_rss.saturating_sub(before) as f64 / consoles as f64 / 1024.0;
    println!(
        "  scheduler memory    {:.1} MiB before, {:.1} MiB with {consoles} open: {per:.0} KiB per console",
        before as f64 / (1 << 20) as f64,
        open_rss as f64 / (1 << 20) as f64
    );
    drop(keep);
    Ok(())
}
