//! The README's first command: `judge-demo` judges the bundled examples, prints its table,
//! then keeps the cluster and its dashboard up (printing the address and an admin token)
//! until Ctrl-C, and exits cleanly.

use judge_tests::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_judges_then_stays_up_until_ctrl_c() -> anyhow::Result<()> {
    let mut demo = tokio::process::Command::new(bin("judge-demo"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = demo
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut dashboard, mut token, mut seen) = (None, None, Vec::new());
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    loop {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .map_err(|_| anyhow::anyhow!("the demo said only {seen:?}"))??
            .ok_or_else(|| anyhow::anyhow!("the demo ended early: {seen:?}"))?;
        if let Some(url) = line.strip_prefix("dashboard:") {
            dashboard = Some(url.trim().to_string());
        }
        if let Some(t) = line.strip_prefix("admin token:") {
            token = Some(t.trim().to_string());
        }
        let up = line.contains("Ctrl-C stops it");
        seen.push(line);
        if up {
            break;
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("submissions judged")),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|l| l.contains("unexpected")), "{seen:?}");
    // The dashboard answers while the demo waits, and the admin token works on its API.
    let url = dashboard.ok_or_else(|| anyhow::anyhow!("no dashboard line: {seen:?}"))?;
    let token = token.ok_or_else(|| anyhow::anyhow!("no token line: {seen:?}"))?;
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut tcp = tokio::net::TcpStream::connect(&host).await?;
    tcp.write_all(
        format!(
            "GET /api/v1/workers HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut reply = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut reply)).await??;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("demo-worker"), "{reply}");
    // Ctrl-C ends it, cleanly.
    let pid = demo.id().ok_or_else(|| anyhow::anyhow!("no pid"))?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )?;
    let status = tokio::time::timeout(WAIT, demo.wait()).await??;
    assert!(status.success(), "{status:?}");
    Ok(())
}
