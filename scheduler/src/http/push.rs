//! `POST /api/v1/problems/{id}` (admins): a problem package as one tar archive of its
//! contents (paths relative to the package's root, e.g. `tar -C aplusb -cf - .`), stored as
//! `judgectl problem push` stores it, through the same code ([`crate::app::App::push`]).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use judge_common::pb;
use pb::push_problem_request::Item;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, HttpState};
use crate::app::AppError;

/// Largest archive taken over HTTP. It is spooled to the data dir as it arrives (never held
/// in memory), then read file by file.
pub const MAX_ARCHIVE: usize = 512 << 20;
/// Bytes per uploaded chunk.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushQuery {
    /// Overrides the package's time limit, seconds.
    time_limit: Option<f64>,
}

type Items = tokio::sync::mpsc::Sender<Result<pb::PushProblemRequest, AppError>>;

/// Sends the archive's files as the upload's messages, each file in chunks: runs on a
/// blocking thread, reading the spooled file, so only a chunk or two is in memory at once.
/// Stops when the receiver is gone (the upload was refused).
fn read_archive(archive: std::fs::File, out: &Items) -> Result<(), AppError> {
    let bad = |why: String| AppError::Invalid(format!("the archive: {why}"));
    let send = |item: Item| {
        out.blocking_send(Ok(pb::PushProblemRequest { item: Some(item) }))
            .map_err(|_| AppError::Cancelled("the upload ended".into()))
    };
    let mut tar = tar::Archive::new(std::io::BufReader::new(archive));
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let kind = entry.header().entry_type();
        let path = entry
            .path()
            .map_err(|e| bad(e.to_string()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if kind.is_dir() || path.is_empty() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "{path:?} is not a regular file (resolve links first: tar -h)"
            )));
        }
        let mut left = entry.size();
        loop {
            let n = left.min(CHUNK as u64) as usize;
            let mut data = vec![0; n];
            std::io::Read::read_exact(&mut entry, &mut data).map_err(|e| bad(e.to_string()))?;
            left -= n as u64;
            send(Item::File(pb::FileData {
                path: path.clone(),
                data: data.into(),
                last: left == 0,
            }))?;
            if left == 0 {
                break;
            }
        }
    }
    Ok(())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "resource_exhausted",
        format!("the archive is over {} MiB", MAX_ARCHIVE >> 20),
    )
}

/// Writes the request's body to a new file in `dir`, refusing it past [`MAX_ARCHIVE`].
async fn spool(dir: &std::path::Path, body: Body) -> Result<std::fs::File, ApiError> {
    use tokio::io::AsyncWriteExt;
    use tokio_stream::StreamExt;
    let failed = |e: std::io::Error| ApiError::from(crate::app::io_error("the archive", e));
    let file = tempfile::tempfile_in(dir).map_err(failed)?;
    let mut out = tokio::fs::File::from_std(file.try_clone().map_err(failed)?);
    let mut body = body.into_data_stream();
    let mut total = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request(format!("the archive: {e}")))?;
        total = total.saturating_add(chunk.len());
        if total > MAX_ARCHIVE {
            return Err(too_large());
        }
        out.write_all(&chunk).await.map_err(failed)?;
    }
    out.flush().await.map_err(failed)?;
    drop(out);
    let mut file = file;
    std::io::Seek::rewind(&mut file).map_err(failed)?;
    Ok(file)
}

pub async fn push(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<PushQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    s.caller_in(&headers, crate::app::auth::ADMINS)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_ARCHIVE as u64) {
        return Err(too_large());
    }
    let archive = spool(&s.spool_dir, body).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let header = Item::Header(pb::ProblemHeader {
        id,
        time_limit_seconds: q.time_limit,
    });
    let _ = tx
        .send(Ok(pb::PushProblemRequest { item: Some(header) }))
        .await;
    let reader = tokio::task::spawn_blocking(move || {
        if let Err(e) = read_archive(archive, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let r = s
        .app
        .push(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await;
    let _ = reader.await;
    let r = r?;
    let body = json!({"id": r.id, "version": r.version, "tests": r.test_count, "notes": r.notes});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
