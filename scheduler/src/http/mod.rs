//! The HTTP side of the scheduler: a JSON API under `/api/v1` (Server-Sent Events for
//! watching a job), the dashboard at `/`, `/metrics`, `/healthz` and `/readyz`.
//!
//! The API is a thin translation: each route authenticates the bearer token with the check
//! the gRPC interceptor uses ([`crate::app::auth::authorize`]) and calls the application
//! operation the gRPC call reaches ([`crate::app::App`]), so roles, ownership, checks and
//! errors are the same code. An [`AppError`] becomes a JSON error with the matching HTTP
//! status.

/// `/api/v1`: jobs, SSE events, workers, problems, the OpenAPI document.
mod api;
/// The WebSocket console.
mod console;
/// The dashboard page and its assets.
mod dashboard;
/// `/metrics`, `/healthz`, `/readyz`.
mod ops;
/// A problem pushed as one tar archive.
mod push;
/// Connections: bounds, TLS, time limits.
mod serve;

pub use serve::{serve, HttpLimits};

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::json;

use crate::app::auth::{authorize, ADMINS, PEOPLE};
use crate::app::{App, AppError};
use crate::live::tokens::{Caller, TokenCache};
use crate::store::Store;

/// What every handler shares.
#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<App>,
    pub tokens: TokenCache,
    pub store: Store,
    pub driver: crate::driver::DriverHandle,
    pub consoles: crate::live::consoles::Consoles,
    pub metrics: crate::live::metrics::Metrics,
    pub transfers: crate::live::transfers::Transfers,
    /// The one site allowed to call the API from a browser (CORS), if any.
    pub allow_origin: Option<HeaderValue>,
    /// Largest request body.
    pub max_body: usize,
    /// Connection and time bounds.
    pub limits: HttpLimits,
    /// The bearer token `/metrics` asks for, if any.
    pub metrics_token: Option<String>,
    /// Where a pushed archive is spooled while it is read (the data dir's).
    pub spool_dir: std::path::PathBuf,
}

/// An error as the API answers it: `{"error": CODE, "message": ...}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Seconds the client should wait, when known (sent as `Retry-After`).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let retry_after = e.retry_after_secs();
        let (status, code) = match e {
            AppError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_argument"),
            AppError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "permission_denied"),
            AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AppError::Exists(_) => (StatusCode::CONFLICT, "already_exists"),
            AppError::Precondition(_) => (StatusCode::CONFLICT, "failed_precondition"),
            AppError::Exhausted(_) | AppError::TooFast { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "resource_exhausted")
            }
            AppError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "deadline_exceeded"),
            AppError::Cancelled(_) => (StatusCode::BAD_REQUEST, "cancelled"),
            AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            retry_after,
            ..ApiError::new(status, code, e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = axum::Json(json!({"error": self.code, "message": self.message}));
        let mut r = (self.status, body).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            // The rate's own wait when known; otherwise queues drain in seconds, and a
            // client that waits five finds room.
            let secs = self.retry_after.unwrap_or(5);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

impl HttpState {
    /// The caller the request's `Authorization: Bearer` names, if it may use the API.
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        self.caller_in(headers, PEOPLE)
    }

    /// The caller the request's `Authorization: Bearer` names, if its role is allowed.
    fn caller_in(
        &self,
        headers: &HeaderMap,
        roles: &[crate::store::Role],
    ) -> Result<Caller, ApiError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        authorize(&self.tokens, header, roles).map_err(ApiError::from)
    }
}

/// The token is checked before a request's body is read, so an unauthenticated upload costs
/// one header, not its bytes. Routes check again with what they need (ownership, roles):
/// this gate only keeps strangers from sending bodies. The console's token comes in its first
/// message (a browser cannot set headers on a WebSocket); the OpenAPI document is public.
async fn gate(
    axum::extract::State(s): axum::extract::State<HttpState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let roles = if !path.starts_with("/api/v1/")
        || path == "/api/v1/console"
        || path == "/api/v1/openapi.json"
        || req.method() == Method::OPTIONS
    {
        None
    } else if path.starts_with("/api/v1/problems/") && req.method() == Method::POST {
        Some(ADMINS)
    } else {
        Some(PEOPLE)
    };
    if let Some(roles) = roles {
        if let Err(e) = s.caller_in(req.headers(), roles) {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Every route.
pub fn router(state: HttpState) -> Router {
    let allow = state.allow_origin.clone();
    Router::new()
        .merge(api::routes())
        .merge(ops::routes())
        .merge(dashboard::routes())
        .route("/api/v1/console", axum::routing::get(console::upgrade))
        .route(
            "/api/v1/problems/{id}",
            axum::routing::post(push::push)
                .layer(axum::extract::DefaultBodyLimit::max(push::MAX_ARCHIVE)),
        )
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .layer(axum::middleware::from_fn(move |req, next| {
            cors(allow.clone(), req, next)
        }))
        .with_state(state)
}

/// Cross-origin access only for the one configured site; nothing for any other. (Tokens
/// travel in a header, never a cookie, so a foreign page cannot use a visitor's anyway.)
async fn cors(
    allow: Option<HeaderValue>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let allowed = matches!((&allow, &origin), (Some(a), Some(o)) if a == o);
    if req.method() == Method::OPTIONS && origin.is_some() {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if allowed {
            add_cors(r.headers_mut(), allow.as_ref());
        }
        return r;
    }
    let mut r = next.run(req).await;
    if allowed {
        add_cors(r.headers_mut(), allow.as_ref());
    }
    r
}

fn add_cors(h: &mut HeaderMap, origin: Option<&HeaderValue>) {
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, last-event-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(header::VARY, HeaderValue::from_static("origin"));
}
