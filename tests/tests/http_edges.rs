//! The HTTP side as a hostile or careless client meets it, over raw TCP: a token checked
//! before any body is read, connections that never speak (or stop halfway) closed, a cap on
//! connections, a WebSocket console that never opens or sends nonsense, streams that end when
//! their token is revoked or their job is over, and `/metrics` behind its own token.

use judge_common::pb;
use judge_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or `WAIT` passes); what it sent.
async fn read_to_close(tcp: &mut (impl AsyncReadExt + Unpin)) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = tokio::time::timeout_at(deadline, tcp.read(&mut buf))
            .await
            .map_err(|_| anyhow::anyhow!("still open after {WAIT:?}; read {out:?}"))?;
        match n {
            Ok(0) | Err(_) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The status code of an HTTP response's first line.
fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Sends a request head announcing a body of `length` bytes, then up to `send` bytes of it
/// while reading: returns the response and how much of the body went out before it came.
async fn upload(
    addr: std::net::SocketAddr,
    path: &str,
    token: Option<&str>,
    length: u64,
    send: u64,
) -> anyhow::Result<(u16, u64)> {
    let tcp = TcpStream::connect(addr).await?;
    let (mut rd, mut wr) = tcp.into_split();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: judge\r\n{auth}Content-Type: application/octet-stream\r\n\
         Content-Length: {length}\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await?;
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0u64;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while sent < send {
        tokio::select! {
            r = wr.write_all(&chunk) => {
                if r.is_err() { break; }
                sent += chunk.len() as u64;
            }
            n = rd.read(&mut buf) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(n) => { response.extend_from_slice(&buf[..n]); break; }
                }
            }
        }
    }
    if response.is_empty() {
        response = read_to_close(&mut rd).await?;
    }
    Ok((status_of(&response), sent))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_body_is_read_before_the_token_is_checked() -> anyhow::Result<()> {
    let c = Cluster::start(&[]).await?;
    let http = c.sched.http_addr.expect("http side");
    for path in ["/api/v1/problems/x", "/api/v1/jobs"] {
        // A 400 MB body announced, 64 MiB offered: the answer comes after the head.
        let (status, sent) = upload(http, path, None, 400 << 20, 64 << 20).await?;
        assert_eq!(status, 401, "{path}");
        assert!(
            sent < 32 << 20,
            "{path}: {sent} bytes went out before the 401"
        );
    }
    // A submitter may not upload problems either: refused before the body.
    let (status, sent) = upload(
        http,
        "/api/v1/problems/x",
        Some(&c.submitter),
        400 << 20,
        64 << 20,
    )
    .await?;
    assert_eq!(status, 403);
    assert!(sent < 32 << 20, "{sent} bytes went out before the 403");
    // An admin's archive announced over the bound is refused before it is read.
    let (status, sent) = upload(
        http,
        "/api/v1/problems/x",
        Some(&c.admin),
        600 << 20,
        64 << 20,
    )
    .await?;
    assert_eq!(status, 413);
    assert!(sent < 32 << 20, "{sent} bytes went out before the 413");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_sent_connections_are_closed() -> anyhow::Result<()> {
    let c = Cluster::start(&[
        "--http-header-timeout-seconds",
        "1",
        "--console-open-timeout-seconds",
        "1",
    ])
    .await?;
    let http = c.sched.http_addr.expect("http side");
    // Never a byte.
    let mut silent = TcpStream::connect(http).await?;
    assert!(read_to_close(&mut silent).await?.is_empty());
    // Headers begun, never finished.
    let mut half = TcpStream::connect(http).await?;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: judge\r\n")
        .await?;
    read_to_close(&mut half).await?;
    // One request answered, then an idle keep-alive connection.
    let mut idle = TcpStream::connect(http).await?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: judge\r\n\r\n")
        .await?;
    let answered = read_to_close(&mut idle).await?;
    assert_eq!(status_of(&answered), 200);
    // A WebSocket console that never sends its opening message.
    let mut ws = websocket(http).await?;
    let frames = read_to_close(&mut ws).await?;
    let text = String::from_utf8_lossy(&frames);
    assert!(
        text.contains("deadline_exceeded") && text.contains("opening message"),
        "{text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_refused_and_others_still_served() -> anyhow::Result<()> {
    let c = Cluster::start(&["--http-max-connections", "8"]).await?;
    let http = c.sched.http_addr.expect("http side");
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(TcpStream::connect(http).await?);
    }
    // Each of the 8 holds its place (a request on one is answered)...
    held[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: judge\r\n\r\n")
        .await?;
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(WAIT, held[0].read(&mut buf)).await??;
    assert_eq!(status_of(&buf[..n]), 200);
    // ...and the ninth is closed at once, unanswered.
    let mut ninth = TcpStream::connect(http).await?;
    let _ = ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: judge\r\n\r\n")
        .await;
    assert!(read_to_close(&mut ninth).await?.is_empty());
    // gRPC is another port and goes on; once the held ones go, HTTP serves again.
    let mut judge = c.judge().await?;
    judge.list_workers(pb::ListWorkersRequest {}).await?;
    drop(held);
    eventually("HTTP to serve again", WAIT, || async {
        let mut tcp = TcpStream::connect(http).await.ok()?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: judge\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let reply = read_to_close(&mut tcp).await.ok()?;
        (status_of(&reply) == 200).then_some(())
    })
    .await?;
    Ok(())
}

/// Opens `GET /api/v1/console` as a WebSocket (the handshake by hand).
async fn websocket(http: std::net::SocketAddr) -> anyhow::Result<TcpStream> {
    let mut tcp = TcpStream::connect(http).await?;
    tcp.write_all(
        b"GET /api/v1/console HTTP/1.1\r\nHost: judge\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await?;
    // Up to the end of the 101 response's head.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(WAIT, tcp.read_exact(&mut byte)).await??;
        head.push(byte[0]);
    }
    anyhow::ensure!(
        status_of(&head) == 101,
        "{}",
        String::from_utf8_lossy(&head)
    );
    Ok(tcp)
}

/// A masked client text frame.
fn text_frame(text: &str) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let data = text.as_bytes();
    let mut frame = vec![0x81];
    match data.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_token_ends_its_streams_and_finished_watches_end() -> anyhow::Result<()> {
    let mut c = Cluster::start(&[]).await?;
    c.add_worker("w1", 2)?;
    c.wait_workers(1).await?;
    let student = token(&c.sched.data_dir, "submitter", "leaving")?;
    let mut judge = judge_client(&c.sched.url(), &student).await?;
    // Made by another process: the scheduler picks it up at its next token refresh.
    eventually("the new token to be accepted", WAIT, || {
        let mut judge = judge.clone();
        async move {
            judge
                .list_problems(pb::ListProblemsRequest {})
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await?;

    // A watch of a finished job, asked from after its last event, ends at once.
    let done = submit(&mut judge, "aplusb", "python3", AC_PY).await?;
    wait_finished(&mut judge, done).await?;
    let events = events(&mut judge, done).await?;
    let last = events.last().map(|e| e.seq).unwrap_or_default();
    let mut stream = judge
        .watch_job(pb::WatchJobRequest {
            job_id: done,
            after_seq: last,
        })
        .await?
        .into_inner();
    let end = tokio::time::timeout(WAIT, stream.message()).await?;
    assert!(matches!(end, Ok(None)), "{end:?}");
    // Over SSE too.
    let http = c.sched.http_addr.expect("http side");
    let mut sse = TcpStream::connect(http).await?;
    sse.write_all(
        format!(
            "GET /api/v1/jobs/{done}/events HTTP/1.1\r\nHost: judge\r\n\
             Authorization: Bearer {student}\r\nLast-Event-ID: {last}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    read_to_close(&mut sse).await?;

    // A watch of a running job, a console, and an SSE stream, all opened with the token...
    let slow = submit(&mut judge, "aplusb", "python3", &slow_aplusb(60.0)).await?;
    let mut watch = judge
        .watch_job(pb::WatchJobRequest {
            job_id: slow,
            after_seq: 0,
        })
        .await?
        .into_inner();
    watch.message().await?;
    let mut sse = TcpStream::connect(http).await?;
    sse.write_all(
        format!(
            "GET /api/v1/jobs/{slow}/events HTTP/1.1\r\nHost: judge\r\n\
             Authorization: Bearer {student}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut ws = websocket(http).await?;
    let open = serde_json::json!({
        "token": student, "language": "python3", "rows": 24, "cols": 80,
        "source": "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.2)\n",
    });
    ws.write_all(&text_frame(&open.to_string())).await?;
    // ...end within a second or so of the revocation.
    let out = std::process::Command::new(bin("judge-scheduler"))
        .args(["token", "revoke", "leaving", "--data-dir"])
        .arg(&c.sched.data_dir)
        .output()?;
    assert!(out.status.success(), "{out:?}");
    let watch_end = loop {
        match tokio::time::timeout(WAIT, watch.message()).await? {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(&watch_end, Err(s) if s.code() == tonic::Code::Unauthenticated),
        "{watch_end:?}"
    );
    read_to_close(&mut sse).await?;
    let frames = read_to_close(&mut ws).await?;
    let text = String::from_utf8_lossy(&frames);
    assert!(text.contains("revoked"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_console_message_is_answered_and_metrics_need_their_token() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let secret = dir.path().join("metrics.token");
    std::fs::write(&secret, "scrape-me\n")?;
    let secret_arg = secret.display().to_string();
    let mut c = Cluster::start(&["--metrics-token-file", &secret_arg]).await?;
    c.add_worker("w1", 1)?;
    c.wait_workers(1).await?;
    let http = c.sched.http_addr.expect("http side");

    let mut ws = websocket(http).await?;
    let open = serde_json::json!({
        "token": c.submitter, "language": "python3", "rows": 24, "cols": 80,
        "source": "print(input())\n",
    });
    ws.write_all(&text_frame(&open.to_string())).await?;
    ws.write_all(&text_frame(r#"{"input":"a","eof":true}"#))
        .await?;
    let frames = read_to_close(&mut ws).await?;
    let text = String::from_utf8_lossy(&frames);
    assert!(
        text.contains("invalid_argument") && text.contains("exactly one of input, resize, eof"),
        "{text}"
    );

    let scrape = |auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Authorization: Bearer {a}\r\n"))
            .unwrap_or_default();
        async move {
            let mut tcp = TcpStream::connect(http).await?;
            tcp.write_all(
                format!("GET /metrics HTTP/1.1\r\nHost: judge\r\n{auth}Connection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
            anyhow::Ok(status_of(&read_to_close(&mut tcp).await?))
        }
    };
    assert_eq!(scrape(None).await?, 401);
    assert_eq!(scrape(Some("wrong")).await?, 401);
    assert_eq!(scrape(Some(&c.admin)).await?, 401, "an API token is not it");
    assert_eq!(scrape(Some("scrape-me")).await?, 200);
    Ok(())
}
