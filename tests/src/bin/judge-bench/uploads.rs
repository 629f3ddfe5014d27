//! `uploads`: many unauthenticated clients each start a large upload to the HTTP API at
//! once; the scheduler must answer 401 after the request head and never read their bodies.
//! Prints the scheduler's resident memory before and its peak (`VmHWM`) after, and the most
//! body any client got out before its answer.

use std::time::Instant;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{rss_bytes, setup_on};

/// One client: announces `size` bytes to `path`, writes 1 MiB at a time until the server
/// answers or hangs up; the bytes it got out and the status line it read.
async fn one(addr: std::net::SocketAddr, path: &str, size: u64) -> Result<(u64, String)> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = tcp.into_split();
    let head = format!("POST {path} HTTP/1.1\r\nHost: judge\r\nContent-Length: {size}\r\n\r\n");
    wr.write_all(head.as_bytes()).await?;
    let chunk = vec![b'x'; 1 << 20];
    let mut sent = 0u64;
    let mut buf = [0u8; 64];
    let mut answer = String::new();
    while sent < size {
        tokio::select! {
            r = wr.write_all(&chunk) => match r {
                Ok(()) => sent += chunk.len() as u64,
                Err(_) => break,
            },
            n = rd.read(&mut buf) => {
                if let Ok(n) = n {
                    answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                }
                break;
            }
        }
    }
    if answer.is_empty() {
        let n = rd.read(&mut buf).await.unwrap_or(0);
        answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    }
    let status = answer.lines().next().unwrap_or("").to_string();
    Ok((sent, status))
}

pub async fn run(clients: usize, size_mb: u64) -> Result<()> {
    let s = setup_on(false, Vec::new()).await?;
    let http = s
        .sched
        .http_addr
        .ok_or_else(|| anyhow::anyhow!("no HTTP side"))?;
    let pid = s.sched.pid().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    let before = rss_bytes(pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let path = if i % 2 == 0 {
            "/api/v1/problems/x"
        } else {
            "/api/v1/jobs"
        };
        tasks.push(tokio::spawn(one(http, path, size_mb << 20)));
    }
    let mut most_sent = 0;
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for t in tasks {
        let (sent, status) = t.await??;
        most_sent = most_sent.max(sent);
        *statuses.entry(status).or_default() += 1;
    }
    let peak = judge_tests::proc_status(pid, "VmHWM")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "{clients} unauthenticated uploads of {size_mb} MB each, answered in {:.2?}",
        started.elapsed()
    );
    for (status, n) in &statuses {
        println!("  {n:>4} x {status}");
    }
    println!(
        "scheduler memory: {:.1} MiB before, {:.1} MiB peak (growth {:.1} MiB; goal < 64)",
        mib(before),
        mib(peak),
        mib(peak.saturating_sub(before))
    );
    println!(
        "most body bytes one client got out before its answer: {:.1} MiB",
        mib(most_sent)
    );
    Ok(())
}
