//! `POST /api/v1/problems/{id}` (admins): a problem package as one tar archive of its
//! contents (paths relative to the package's root, e.g. `tar -C aplusb -cf - .`), stored as
//! `judgectl problem push` stores it, through the same code ([`AdminApi::push`]).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use judge_common::pb;
use pb::push_problem_request::Item;
use serde::Deserialize;
use serde_json::json;
use tonic::Status;

use super::{ApiError, HttpState};

/// Largest archive taken over HTTP (it is read whole; `judgectl problem push` streams).
pub const MAX_ARCHIVE: usize = 512 << 20;
/// Bytes per uploaded chunk.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushQuery {
    /// Overrides the package's time limit, seconds.
    time_limit: Option<f64>,
}

/// The archive's files as the upload's messages: the header first.
fn items(id: String, time_limit: Option<f64>, archive: &[u8]) -> Result<Vec<Item>, Status> {
    let bad = |why: String| Status::invalid_argument(format!("the archive: {why}"));
    let mut out = vec![Item::Header(pb::ProblemHeader {
        id,
        time_limit_seconds: time_limit,
    })];
    let mut tar = tar::Archive::new(archive);
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
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| bad(e.to_string()))?;
        let mut chunks = data.chunks(CHUNK).peekable();
        if chunks.peek().is_none() {
            out.push(Item::File(pb::FileData {
                path,
                data: Default::default(),
                last: true,
            }));
            continue;
        }
        while let Some(c) = chunks.next() {
            out.push(Item::File(pb::FileData {
                path: path.clone(),
                data: c.to_vec().into(),
                last: chunks.peek().is_none(),
            }));
        }
    }
    Ok(out)
}

pub async fn push(
    State(s): State<HttpState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<PushQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    crate::service::authorize(&s.tokens, header, crate::service::ADMINS)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let items = items(id, q.time_limit, &body)?;
    let stream = tokio_stream::iter(
        items
            .into_iter()
            .map(|item| Ok(pb::PushProblemRequest { item: Some(item) })),
    );
    let r = s.admin.push(stream).await?;
    let body = json!({"id": r.id, "version": r.version, "tests": r.test_count});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
