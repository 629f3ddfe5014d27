//! The gRPC edge. The judge and admin services translate messages to the application's
//! calls ([`crate::app`]) and its errors to statuses; the worker service translates a
//! worker's feed, reports, downloads and console attachments to the driver's events.
//! Every call passes the interceptor built by [`auth`] first.

/// `AdminService`: push and drain.
mod admin;
/// A console's worker side: the `Attach` stream joined to the client's relay.
mod attach;
/// `JudgeService`: what people call.
mod judge;
/// `WorkerService`: the feed, reports, downloads, `Attach`.
mod worker;
/// A worker's messages checked and turned into the core's events.
mod worker_input;

use tonic::{Request, Status};

pub use admin::AdminApi;
pub use judge::JudgeApi;
pub use worker::WorkerApi;

use crate::app::auth::authorize;
use crate::app::AppError;
use crate::live::tokens::{Caller, TokenCache};
use crate::store::Role;

/// Builds the interceptor for a service that the given roles may call; with `client_cert`,
/// only over a connection whose client presented a certificate of the client CA (mutual TLS:
/// rustls has already checked it is one).
pub fn auth(
    tokens: TokenCache,
    allowed: &'static [Role],
    client_cert: bool,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut req: Request<()>| {
        if client_cert && req.peer_certs().is_none_or(|c| c.is_empty()) {
            return Err(Status::unauthenticated(
                "this service needs a client certificate signed by the scheduler's client CA \
                 (--client-cert and --client-key)",
            ));
        }
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let caller = authorize(&tokens, header, allowed)?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// A client stream's break, as the application sees it.
pub(crate) fn broken(s: Status) -> AppError {
    AppError::Cancelled(format!("the stream broke: {}", s.message()))
}

/// The authenticated caller (the interceptor guarantees one).
pub(crate) fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller"))
}

impl From<AppError> for Status {
    fn from(e: AppError) -> Status {
        let message = e.to_string();
        let retry_after = e.retry_after_secs();
        match e {
            AppError::Invalid(_) => Status::invalid_argument(message),
            AppError::Unauthenticated(_) => Status::unauthenticated(message),
            AppError::Forbidden(_) => Status::permission_denied(message),
            AppError::NotFound(_) => Status::not_found(message),
            AppError::Exists(_) => Status::already_exists(message),
            AppError::Precondition(_) => Status::failed_precondition(message),
            AppError::Exhausted(_) => Status::resource_exhausted(message),
            AppError::TooFast { .. } => {
                let mut s = Status::resource_exhausted(message);
                if let Some(Ok(v)) = retry_after.map(|secs| secs.to_string().parse()) {
                    s.metadata_mut().insert("retry-after", v);
                }
                s
            }
            AppError::Timeout(_) => Status::deadline_exceeded(message),
            AppError::Cancelled(_) => Status::cancelled(message),
            AppError::Unavailable(_) => Status::unavailable(message),
            AppError::Internal(_) => Status::internal(message),
        }
    }
}

/// The worker service reaches the store and the driver directly: their failures map as
/// the application's do.
impl From<crate::store::StoreError> for Status {
    fn from(e: crate::store::StoreError) -> Status {
        AppError::from(e).into()
    }
}

impl From<crate::driver::DriverError> for Status {
    fn from(e: crate::driver::DriverError) -> Status {
        AppError::from(e).into()
    }
}
