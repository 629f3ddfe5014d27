//! What an operation answers when it refuses or fails: one enum by what the caller should
//! do about it. The gRPC edge maps it to a `tonic::Status`, the HTTP edge to a status code
//! and a JSON error; the message always names the problem.

use crate::core::SubmitError;
use crate::driver::DriverError;
use crate::store::StoreError;

/// An operation's refusal or failure, by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The request itself is wrong: fix it.
    #[error("{0}")]
    Invalid(String),
    /// No token, or one that is not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The token is valid but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist (or is not the caller's to see).
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    Exists(String),
    /// Not in a state that allows this (a finished job cancelled, an unknown session).
    #[error("{0}")]
    Precondition(String),
    /// A bound is reached (a queue, a quota, the disk): try again later.
    #[error("{0}")]
    Exhausted(String),
    /// Too many in too short a time: try again after `retry_after_ms`.
    #[error("{message}")]
    TooFast {
        message: String,
        retry_after_ms: u64,
    },
    /// The caller did not say what it must in time.
    #[error("{0}")]
    Timeout(String),
    /// The other side went away.
    #[error("{0}")]
    Cancelled(String),
    /// The scheduler cannot serve it now (stopping, its store failing): try again.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of the scheduler's own.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    pub fn invalid(message: impl Into<String>) -> Self {
        AppError::Invalid(message.into())
    }

    /// Whole seconds to wait before trying again, rounded up, when the refusal says: what
    /// gRPC's `retry-after` and HTTP's `Retry-After` carry.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::TooFast { retry_after_ms, .. } => Some(retry_after_ms.div_ceil(1000).max(1)),
            _ => None,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => AppError::NotFound(format!("{what} not found")),
            StoreError::Conflict(msg) => AppError::Exists(msg),
            StoreError::DiskFull(why) => disk_full(&why),
            other => {
                tracing::error!(error = %other, "store error");
                AppError::Unavailable("the scheduler's store failed; try again".into())
            }
        }
    }
}

impl From<DriverError> for AppError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::Gone => AppError::Unavailable(e.to_string()),
            DriverError::WrongReply(_) => AppError::Internal(e.to_string()),
            DriverError::DiskFull(why) => disk_full(&why),
        }
    }
}

impl From<SubmitError> for AppError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::QueueFull(_)
            | SubmitError::OwnerQueueFull { .. }
            | SubmitError::OwnerConsoles { .. } => AppError::Exhausted(e.to_string()),
            SubmitError::NoWorker { .. } => AppError::Precondition(e.to_string()),
        }
    }
}

/// A write refused for lack of space: the caller may try again once there is room.
pub fn disk_full(why: &str) -> AppError {
    AppError::Exhausted(format!(
        "the scheduler's disk is full, so nothing new can be stored; try again once there is room ({why})"
    ))
}

/// A file that could not be stored: a full disk, or another I/O failure.
pub fn io_error(what: &str, e: std::io::Error) -> AppError {
    if e.kind() == std::io::ErrorKind::StorageFull {
        disk_full(&format!("{what}: {e}"))
    } else {
        AppError::Internal(format!("{what}: {e}"))
    }
}

/// Validates a name-like identifier (problem id, worker name, job type).
pub fn check_ident(what: &str, value: &str) -> Result<(), AppError> {
    judge_common::ident::check(value).map_err(|e| AppError::Invalid(format!("{what} {e}")))
}
