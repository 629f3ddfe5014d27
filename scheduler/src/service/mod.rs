//! The gRPC edge: thin translations between the wire and the driver, the store and the blobs.
//! Every request is checked here and refused with a status that names the problem.

mod admin;
mod console;
mod judge;
mod offers;
/// A pushed package's own programs built once before it is stored.
pub mod program_check;
mod worker;
mod worker_input;

use tonic::{Request, Status};

pub use admin::AdminApi;
pub use console::{stopped, ConsoleRequests};
pub use judge::JudgeApi;
pub use judge::Watchers;
pub use offers::Offered;
pub use worker::{Transfers, WorkerApi};

use crate::driver::DriverError;

/// What a console's client receives: its lifecycle and the program's output.
pub type ConsoleStream =
    tokio_stream::wrappers::ReceiverStream<Result<judge_common::pb::ConsoleEvent, Status>>;
use crate::live::tokens::{AuthError, Caller, TokenCache};
use crate::store::{Role, StoreError};

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

/// Who may call the worker service, the judge service (and the HTTP API), and the admin
/// service.
pub const WORKERS: &[Role] = &[Role::Worker, Role::Admin];
pub const PEOPLE: &[Role] = &[Role::Submitter, Role::Admin];
pub const ADMINS: &[Role] = &[Role::Admin];

/// The caller an `authorization` header names, if its role is one of `allowed`: the one
/// check of every gRPC call and every HTTP API request.
pub fn authorize(
    tokens: &TokenCache,
    header: Option<&str>,
    allowed: &[Role],
) -> Result<Caller, Status> {
    let caller = tokens.verify(header).map_err(|e| match e {
        AuthError::Missing | AuthError::Invalid => Status::unauthenticated(e.to_string()),
    })?;
    if !allowed.contains(&caller.role) {
        return Err(Status::permission_denied(format!(
            "a {} token may not call this service",
            caller.role.as_str()
        )));
    }
    Ok(caller)
}

/// The authenticated caller (the interceptor guarantees one).
pub(crate) fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller"))
}

impl From<StoreError> for Status {
    fn from(e: StoreError) -> Status {
        match e {
            StoreError::NotFound(what) => Status::not_found(format!("{what} not found")),
            StoreError::Conflict(msg) => Status::already_exists(msg),
            StoreError::DiskFull(why) => disk_full(&why),
            other => {
                tracing::error!(error = %other, "store error");
                Status::unavailable("the scheduler's store failed; try again")
            }
        }
    }
}

impl From<DriverError> for Status {
    fn from(e: DriverError) -> Status {
        match e {
            DriverError::Gone => Status::unavailable(e.to_string()),
            DriverError::WrongReply(_) => Status::internal(e.to_string()),
            DriverError::DiskFull(why) => disk_full(&why),
        }
    }
}

/// A write refused for lack of space: the caller may try again once there is room.
pub(crate) fn disk_full(why: &str) -> Status {
    Status::resource_exhausted(format!(
        "the scheduler's disk is full, so nothing new can be stored; try again once there is room ({why})"
    ))
}

/// A file that could not be stored: a full disk, or another I/O failure.
pub(crate) fn io_status(what: &str, e: std::io::Error) -> Status {
    if e.kind() == std::io::ErrorKind::StorageFull {
        disk_full(&format!("{what}: {e}"))
    } else {
        Status::internal(format!("{what}: {e}"))
    }
}

/// Validates a name-like identifier (problem id, worker name, job type).
pub(crate) fn check_ident(what: &str, value: &str) -> Result<(), Status> {
    judge_common::ident::check(value).map_err(|e| Status::invalid_argument(format!("{what} {e}")))
}
