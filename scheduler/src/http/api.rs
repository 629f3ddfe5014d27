//! `/api/v1`: jobs, their events as Server-Sent Events, workers and problems, as JSON. Each
//! route calls the application operation its gRPC twin reaches.

use std::convert::Infallible;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use judge_common::json;
use judge_common::pb;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::{Stream, StreamExt};

use super::{ApiError, HttpState};
use crate::app::{ListJobs, Rejudge, SubmitJob};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/jobs", post(submit).get(list_jobs))
        .route("/api/v1/jobs/{id}", get(get_job))
        .route("/api/v1/jobs/{id}/cancel", post(cancel))
        .route("/api/v1/jobs/{id}/events", get(events))
        .route("/api/v1/rejudge", post(rejudge))
        .route("/api/v1/workers", get(workers))
        .route("/api/v1/problems", get(problems))
        .route("/api/v1/openapi.json", get(openapi))
}

/// Limits of a run job, as JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    time_limit_ms: Option<u32>,
    memory_limit_bytes: Option<u64>,
    output_limit_bytes: Option<u64>,
}

/// `POST /api/v1/jobs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    /// Empty (or absent) for a run job.
    #[serde(default)]
    problem: String,
    language: String,
    source: String,
    #[serde(default)]
    job_type: String,
    #[serde(default)]
    run_all_tests: bool,
    #[serde(default)]
    request_id: String,
    /// A run job's standard input, as text.
    #[serde(default)]
    stdin: String,
    limits: Option<Limits>,
    /// Replaces this token's unfinished job with the same key.
    #[serde(default)]
    supersede_key: String,
    /// `contest`, `normal` or `bulk`.
    #[serde(default)]
    priority: String,
}

/// `POST /api/v1/rejudge` (admins).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejudgeBody {
    problem: String,
    /// Verdict names (`WA`, `TLE`...): only jobs with one of these.
    #[serde(default)]
    verdicts: Vec<String>,
    /// Only jobs submitted at or after this time (ms since the epoch).
    since_ms: Option<i64>,
    /// Only these jobs.
    #[serde(default)]
    jobs: Vec<u64>,
    /// `bulk` (the default), `normal` or `contest`.
    #[serde(default)]
    priority: String,
}

async fn rejudge(
    State(s): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<RejudgeBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let who = s.caller(&headers)?;
    let Json(b) = body.map_err(body_error)?;
    let verdicts = b
        .verdicts
        .iter()
        .map(|v| {
            json::parse_verdict(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "verdicts: {v:?} is not a verdict (AC, WA, TLE, MLE, OLE, RTE, CE, JE)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cmd = Rejudge {
        problem: b.problem,
        verdicts,
        since: b.since_ms,
        jobs: b.jobs,
        priority: b.priority,
    };
    let done = s.app.rejudge(&who, cmd).await?;
    let resp = pb::RejudgeResponse {
        problem_version: done.version,
        jobs: done.jobs,
    };
    Ok(Json(json::rejudge_json(&resp)))
}

/// A body that is not the JSON a route takes: 400 (413 when too large) naming the problem.
fn body_error(e: JsonRejection) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the scheduler's limit",
        ),
        _ => ApiError::bad_request(e.body_text()),
    }
}

fn job_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request(format!("job id {id:?} is not a number")))
}

async fn submit(
    State(s): State<HttpState>,
    headers: HeaderMap,
    body: Result<Json<SubmitBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let who = s.caller(&headers)?;
    let Json(b) = body.map_err(body_error)?;
    let cmd = SubmitJob {
        problem: b.problem,
        language: b.language,
        source: b.source.into_bytes(),
        job_type: b.job_type,
        run_all_tests: b.run_all_tests,
        request_id: b.request_id,
        stdin: b.stdin.into_bytes(),
        limits: b.limits.map(|l| pb::RunLimits {
            time_limit_ms: l.time_limit_ms,
            memory_limit_bytes: l.memory_limit_bytes,
            output_limit_bytes: l.output_limit_bytes,
        }),
        supersede_key: b.supersede_key,
        priority: b.priority,
    };
    let job_id = s.app.submit(&who, cmd).await?;
    Ok((StatusCode::CREATED, Json(json!({"job_id": job_id}))).into_response())
}

async fn get_job(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = s.caller(&headers)?;
    let job = s.app.get_job(&who, job_id(&id)?).await?;
    Ok(Json(json::job_json(&job)))
}

/// `GET /api/v1/jobs` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<u32>,
    state: Option<String>,
    problem: Option<String>,
    owner: Option<String>,
    /// Paging: jobs older than this id.
    before: Option<u64>,
}

async fn list_jobs(
    State(s): State<HttpState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let who = s.caller(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(name) => Some(
            pb::JobState::from_str_name(&name.to_ascii_uppercase())
                .filter(|s| *s != pb::JobState::Unspecified)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "state {name:?} is not one of queued, assigned, running, done, \
                         cancelled, failed"
                    ))
                })?,
        ),
    };
    let q = ListJobs {
        limit: q.limit.unwrap_or(50),
        state,
        problem: q.problem,
        owner: q.owner,
        before: q.before,
    };
    let list = s.app.list_jobs(&who, q).await?;
    let jobs: Vec<Value> = list.iter().map(json::job_json).collect();
    let next = list.last().map(|j| j.job_id);
    Ok(Json(json!({"jobs": jobs, "next_before": next})))
}

async fn cancel(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let who = s.caller(&headers)?;
    let state = s.app.cancel_job(&who, job_id(&id)?).await?;
    Ok(Json(json!({"state": json::state_name(state as i32)})))
}

/// `?after=SEQ`, the same as the `Last-Event-ID` header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    after: Option<u64>,
}

/// The job's events as Server-Sent Events: `id:` is the event's seq (so a browser resumes
/// with `Last-Event-ID`), `event:` its kind, `data:` the event as JSON; it ends after the
/// job's last event.
async fn events(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let who = s.caller(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let last = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad_request("Last-Event-ID is not an event seq"))?,
        ),
        None => None,
    };
    let after = last.or(q.after).unwrap_or(0);
    let stream = s.app.watch_job(&who, job_id(&id)?, after).await?;
    let events = stream.map_while(|ev| {
        let ev = ev.ok()?;
        let data = json::event_json(&ev);
        let kind = data["event"].as_str().unwrap_or("event").to_string();
        Some(Ok(Event::default()
            .id(ev.seq.to_string())
            .event(kind)
            .data(data.to_string())))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

async fn workers(State(s): State<HttpState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    s.caller(&headers)?;
    let workers: Vec<Value> = s
        .app
        .list_workers()
        .await?
        .iter()
        .map(json::worker_json)
        .collect();
    Ok(Json(json!({"workers": workers})))
}

async fn problems(State(s): State<HttpState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    s.caller(&headers)?;
    let problems: Vec<Value> = s
        .app
        .list_problems()
        .await?
        .iter()
        .map(json::problem_json)
        .collect();
    Ok(Json(json!({"problems": problems})))
}

/// The API's OpenAPI 3 document.
async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}
