//! `http`: the HTTP side against the gRPC path, in the same run on the same scheduler.
//!
//! - Submit throughput: jobs/s end to end (submit to stored `done`, simulated workers that
//!   finish at once) through `POST /api/v1/jobs` against gRPC `Submit`.
//! - Fan-out: N watchers of one job (SSE against gRPC `WatchJob`), the time from the job's
//!   start until every watcher has its last event, and the scheduler's memory per watcher.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use judge_common::pb;
use tokio_stream::StreamExt;

use super::{rss_bytes, setup_on, sim, submit_req, wait_done, Setup};

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn client() -> Http {
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(256)
        .build_http()
}

const BODY: &str = r#"{"problem":"aplusb","language":"python3","source":"print(sum(map(int, input().split())))\n"}"#;

pub async fn run(jobs: usize, submitters: usize, watchers: usize) -> Result<()> {
    let mut args = super::bench_args();
    args.extend(["--max-watches-per-token".into(), "100000".into()]);
    let s = setup_on(false, args).await?;
    for i in 0..8 {
        let (url, tok) = (s.url.clone(), s.worker.clone());
        tokio::spawn(sim::run(
            url,
            tok,
            format!("sim{i}"),
            64,
            Duration::from_secs(3),
            None,
        ));
    }
    let judge = judge_tests::judge_client(&s.url, &s.admin).await?;
    judge_tests::connected_workers(&judge, 8, judge_tests::WAIT).await?;

    // Whole rounds: every client submits as many.
    let jobs = jobs / submitters * submitters;
    let grpc = grpc_submits(&s, jobs, submitters, 0).await?;
    let http = http_submits(&s, jobs, submitters, jobs as u64).await?;
    println!("submit throughput, {jobs} jobs, {submitters} clients, end to end (stored done):");
    println!("  gRPC Submit          {grpc:8.0} jobs/s");
    println!(
        "  POST /api/v1/jobs    {http:8.0} jobs/s  (x{:.2} of gRPC)",
        http / grpc
    );

    let (g_time, g_mem) = fan_out(&s, watchers, false).await?;
    let (h_time, h_mem) = fan_out(&s, watchers, true).await?;
    println!(
        "fan-out: {watchers} watchers of one job, from its start to every watcher's last event:"
    );
    println!(
        "  gRPC WatchJob        {:8.1} ms  scheduler +{:.1} MiB ({:.1} KiB a watcher)",
        g_time.as_secs_f64() * 1e3,
        g_mem as f64 / (1 << 20) as f64,
        g_mem as f64 / 1024.0 / watchers as f64
    );
    println!(
        "  SSE events           {:8.1} ms  scheduler +{:.1} MiB ({:.1} KiB a watcher)  (x{:.2} time, x{:.2} memory of gRPC)",
        h_time.as_secs_f64() * 1e3,
        h_mem as f64 / (1 << 20) as f64,
        h_mem as f64 / 1024.0 / watchers as f64,
        h_time.as_secs_f64() / g_time.as_secs_f64(),
        h_mem as f64 / g_mem.max(1) as f64
    );
    Ok(())
}

async fn grpc_submits(s: &Setup, jobs: usize, submitters: usize, done_before: u64) -> Result<f64> {
    let start = Instant::now();
    let per = jobs / submitters;
    let mut tasks = Vec::new();
    for _ in 0..submitters {
        let mut j = judge_tests::judge_client(&s.url, &s.admin).await?;
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                j.submit(submit_req()).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    wait_done(&s.store, done_before + (per * submitters) as u64).await?;
    Ok((per * submitters) as f64 / start.elapsed().as_secs_f64())
}

async fn http_submits(s: &Setup, jobs: usize, submitters: usize, done_before: u64) -> Result<f64> {
    let addr = s
        .sched
        .http_addr
        .ok_or_else(|| anyhow::anyhow!("no http side"))?;
    let uri = format!("http://{addr}/api/v1/jobs");
    let auth = format!("Bearer {}", s.admin);
    let per = jobs / submitters;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..submitters {
        let (c, uri, auth) = (client(), uri.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                let req = hyper::Request::post(&uri)
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(BODY.as_bytes())))?;
                let r = c.request(req).await?;
                let status = r.status();
                let body = r.into_body().collect().await?.to_bytes();
                if status != 201 {
                    bail!("{status}: {}", String::from_utf8_lossy(&body));
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    wait_done(&s.store, done_before + (per * submitters) as u64).await?;
    Ok((per * submitters) as f64 / start.elapsed().as_secs_f64())
}

/// `n` watchers of a job that waits for a worker; then the worker comes: how long until
/// every watcher has the job's last event, and how much the watchers cost the scheduler.
async fn fan_out(s: &Setup, n: usize, sse: bool) -> Result<(Duration, u64)> {
    // A language only a worker that comes later offers: the job waits, watched.
    let language = if sse { "fanout-sse" } else { "fanout-grpc" };
    let (url, tok) = (s.url.clone(), s.worker.clone());
    let once = tokio::spawn(sim::run_offering(
        url,
        tok,
        format!("{language}-once"),
        1,
        Duration::from_secs(3),
        None,
        language,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    once.abort();
    let mut j = judge_tests::judge_client(&s.url, &s.admin).await?;
    let req = pb::SubmitRequest {
        language: language.into(),
        ..submit_req()
    };
    let id = loop {
        match j.submit(req.clone()).await {
            Ok(r) => break r.into_inner().job_id,
            Err(e) if e.code() == tonic::Code::InvalidArgument => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(e.into()),
        }
    };
    let pid = s.sched.pid().unwrap_or_default();
    let before = rss_bytes(pid);
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let ready = ready.clone();
        if sse {
            let addr = s
                .sched
                .http_addr
                .ok_or_else(|| anyhow::anyhow!("no http side"))?;
            let (c, auth) = (client(), format!("Bearer {}", s.admin));
            tasks.push(tokio::spawn(async move {
                let req = hyper::Request::get(format!("http://{addr}/api/v1/jobs/{id}/events"))
                    .header("authorization", auth)
                    .body(Full::new(Bytes::new()))?;
                let mut body = c.request(req).await?.into_body();
                let mut seen = String::new();
                let mut counted = false;
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame?.into_data() {
                        seen.push_str(&String::from_utf8_lossy(&data));
                    }
                    if !counted && seen.contains("event: submitted") {
                        ready.add_permits(1);
                        counted = true;
                    }
                    if seen.contains("event: finished") {
                        return Ok(Instant::now());
                    }
                }
                bail!("the event stream ended early")
            }));
        } else {
            let mut j = judge_tests::judge_client(&s.url, &s.admin).await?;
            tasks.push(tokio::spawn(async move {
                let mut events = j
                    .watch_job(pb::WatchJobRequest {
                        job_id: id,
                        after_seq: 0,
                    })
                    .await?
                    .into_inner();
                while let Some(ev) = events.next().await {
                    match ev?.event {
                        Some(pb::job_event::Event::Submitted(_)) => ready.add_permits(1),
                        Some(pb::job_event::Event::Finished(_)) => return Ok(Instant::now()),
                        _ => {}
                    }
                }
                bail!("the watch ended early")
            }));
        }
    }
    // Every watcher is connected and caught up.
    let _all = ready.acquire_many(n as u32).await?;
    let open = rss_bytes(pid).saturating_sub(before);
    let start = Instant::now();
    let (url, tok) = (s.url.clone(), s.worker.clone());
    tokio::spawn(sim::run_offering(
        url,
        tok,
        format!("{language}-worker"),
        1,
        Duration::from_secs(3),
        None,
        language,
    ));
    let mut last = start;
    for t in tasks {
        last = last.max(t.await??);
    }
    Ok((last - start, open))
}
