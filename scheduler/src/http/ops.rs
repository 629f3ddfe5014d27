//! What monitoring reads: `/metrics` (Prometheus text, built with `prometheus-client` at
//! each scrape from the job counts the driver keeps and the fleet as the core sees it: no
//! table is scanned), `/healthz` (the process answers) and `/readyz` (the store answers;
//! migrations ran before serving began).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use sha2::Digest;

use super::HttpState;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
}

async fn ready(State(s): State<HttpState>) -> Response {
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store does not answer: {e}\n"),
        )
            .into_response(),
    }
}

type Labels = Vec<(String, String)>;

/// A gauge family registered under `name`.
fn family(
    reg: &mut Registry,
    name: &str,
    help: &str,
) -> Family<Labels, Gauge<f64, std::sync::atomic::AtomicU64>> {
    let f = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    reg.register(name, help, f.clone());
    f
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether the request carries the metrics token (compared in constant time), when one is set.
fn may_scrape(s: &HttpState, headers: &axum::http::HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let Some(want) = &s.metrics_token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let (a, b) = (
        sha2::Sha256::digest(given.as_bytes()),
        sha2::Sha256::digest(want.as_bytes()),
    );
    a.ct_eq(&b).into()
}

async fn metrics(State(s): State<HttpState>, headers: axum::http::HeaderMap) -> Response {
    if !may_scrape(&s, &headers) {
        return super::ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "/metrics needs `authorization: Bearer <the metrics token>`",
        )
        .into_response();
    }
    match render(&s).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

async fn render(s: &HttpState) -> Result<String, String> {
    let mut reg = Registry::with_prefix("judge");
    let jobs = family(&mut reg, "jobs", "Jobs by job type, state and verdict");
    let queue = family(
        &mut reg,
        "queue_length",
        "Jobs waiting for a worker, by job type",
    );
    for kind in judge_common::job_kind::JobKind::ALL {
        let _ = queue.get_or_create(&labels(&[("job_type", kind.as_str())]));
    }
    for ((kind, state, verdict), n) in s.metrics.jobs.snapshot() {
        let l = labels(&[("job_type", &kind), ("state", state), ("verdict", &verdict)]);
        jobs.get_or_create(&l).inc_by(n as f64);
        if state == "queued" {
            queue
                .get_or_create(&labels(&[("job_type", &kind)]))
                .inc_by(n as f64);
        }
    }
    let by_class = family(
        &mut reg,
        "queue_length_by_class",
        "Jobs waiting for a worker, by priority class",
    );
    let waiting = s.driver.queue_by_class().await.map_err(|e| e.to_string())?;
    for (class, n) in crate::core::Priority::ALL.iter().zip(waiting) {
        by_class
            .get_or_create(&labels(&[("class", class.as_str())]))
            .set(n as f64);
    }
    let workers = s.driver.list_workers().await.map_err(|e| e.to_string())?;
    let connected = family(&mut reg, "workers_connected", "Workers connected now");
    let slots = family(&mut reg, "slots", "Slots of connected workers, by use");
    let cpu = family(&mut reg, "worker_cpu_percent", "Each worker's CPU use");
    let mem = family(
        &mut reg,
        "worker_memory_free_bytes",
        "Each worker's free memory",
    );
    let disk = family(
        &mut reg,
        "worker_disk_free_bytes",
        "Each worker's free disk",
    );
    let cache = family(&mut reg, "worker_cache_bytes", "Each worker's cache fill");
    let fetched = family(
        &mut reg,
        "worker_fetched_bytes",
        "Test data each worker fetched",
    );
    let hits = family(
        &mut reg,
        "worker_cache_lookups",
        "Each worker's cache lookups by result",
    );
    let ratio = family(
        &mut reg,
        "cache_hit_ratio",
        "Cache hits over lookups, whole fleet",
    );
    let (mut all_hits, mut all_lookups) = (0u64, 0u64);
    for w in workers.iter().filter(|w| w.connected) {
        connected.get_or_create(&Vec::new()).inc();
        let name = [("worker", w.name.as_str())];
        slots
            .get_or_create(&labels(&[("use", "used")]))
            .inc_by(f64::from(w.running));
        slots
            .get_or_create(&labels(&[("use", "total")]))
            .inc_by(f64::from(w.slots));
        cpu.get_or_create(&labels(&name))
            .set(f64::from(w.usage.cpu_percent));
        mem.get_or_create(&labels(&name))
            .set(w.usage.memory_free_bytes as f64);
        disk.get_or_create(&labels(&name))
            .set(w.usage.disk_free_bytes as f64);
        cache
            .get_or_create(&labels(&name))
            .set(w.cache.cached_bytes as f64);
        fetched
            .get_or_create(&labels(&name))
            .set(w.cache.fetched_bytes as f64);
        for (result, n) in [("hit", w.cache.hits), ("miss", w.cache.misses)] {
            hits.get_or_create(&labels(&[("worker", &w.name), ("result", result)]))
                .set(n as f64);
        }
        all_hits += w.cache.hits;
        all_lookups += w.cache.hits + w.cache.misses;
    }
    if all_lookups > 0 {
        ratio
            .get_or_create(&Vec::new())
            .set(all_hits as f64 / all_lookups as f64);
    }
    let quarantined = family(
        &mut reg,
        "workers_quarantined",
        "Connected workers quarantined now",
    );
    quarantined.get_or_create(&Vec::new()).set(
        workers
            .iter()
            .filter(|w| w.connected && w.quarantined.is_some())
            .count() as f64,
    );
    let consoles = family(&mut reg, "consoles_open", "Consoles open now");
    consoles
        .get_or_create(&Vec::new())
        .set(s.consoles.len() as f64);
    let m = &s.metrics;
    reg.register(
        "submit_to_assign_seconds",
        "From a job's submission to its first assignment",
        m.submit_to_assign.clone(),
    );
    reg.register(
        "queue_wait_seconds",
        "How long a judging waited in the queue for its first assignment, by priority class",
        m.queue_wait.clone(),
    );
    reg.register(
        "submit_to_done_seconds",
        "From a job's submission to its end",
        m.submit_to_done.clone(),
    );
    reg.register(
        "scale_decisions",
        "Autoscaling decisions by direction, and the commands that failed",
        m.scale.clone(),
    );
    reg.register(
        "quarantines",
        "Workers quarantined, and quarantines refused for the fleet's share bound",
        m.quarantines.clone(),
    );
    m.leadership.register(&mut reg);
    reg.register(
        "store_batch_changes",
        "Changes per store transaction",
        m.batch_size.clone(),
    );
    reg.register(
        "store_batch_seconds",
        "Seconds per store transaction",
        m.batch_seconds.clone(),
    );
    let transfers = family(
        &mut reg,
        "transfers_in_flight",
        "Test-data downloads running now",
    );
    transfers
        .get_or_create(&Vec::new())
        .set(s.transfers.in_flight() as f64);
    let mut out = String::new();
    encode(&mut out, &reg).map_err(|e| e.to_string())?;
    Ok(out)
}
