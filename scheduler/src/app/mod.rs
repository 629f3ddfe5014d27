//! The application layer: one function per operation a person can ask of the scheduler
//! (submit, get, list, watch, cancel, console, push, workers, problems, drain, rejudge,
//! tokens).
//!
//! Each takes the caller (already authenticated by [`auth::authorize`]) and a plain command,
//! applies the admission rules (offers, size bounds, run maxima, request ids, quotas), then
//! asks the driver (for anything that changes a job) or reads the store. It answers plain
//! values or an [`AppError`]. The gRPC services and the HTTP routes, one floor up, are
//! translators around it: both reach the same function, so roles,
//! ownership, checks and errors are one code.

/// Admission rules for a new job: kinds, offers, sizes, limits, request ids, quotas.
mod admission;
/// The one check of every call: token, role, and what a caller may see.
pub mod auth;
/// A console's opening rules and its relay between client and worker.
mod console;
/// What an operation answers when it refuses.
mod error;
/// Fleet and catalog views: workers, problems, drain.
mod fleet;
/// Jobs: submit, get, list, cancel.
mod jobs;
/// The languages and job types some worker has ever offered.
mod offers;
/// Building a pushed package's own programs before it is stored.
pub mod program_check;
/// Pushing a problem package: staging, the manifest, the build check, storing.
mod push;
/// Submissions per token in time: a token bucket.
mod rate;
/// Judging finished submissions again on a problem's current version.
mod rejudge;
/// Issuing, listing and revoking tokens (the scheduler's `token` commands).
pub mod tokens;
/// Following a job's events, with a bound on open watches per token.
mod watch;

pub use console::{stopped, ConsoleEvents, ConsoleRequests};
pub use error::{check_ident, disk_full, io_error, AppError};
pub use jobs::{ListJobs, SubmitJob};
pub use offers::Offered;
pub use push::PushItems;
pub use rate::SubmitRate;
pub use rejudge::{Rejudge, Rejudged, MAX_REJUDGE};
pub use watch::{JobEvents, Watchers};

use crate::driver::DriverHandle;
use crate::live::catalog::Catalog;
use crate::live::tokens::TokenCache;
use crate::live::watch::WatchHub;
use crate::store::blobs::BlobStore;
use crate::store::Store;
use judge_common::run_limits::RunMaxima;

/// What a console may be given, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleLimits {
    /// Longest a console may live, seconds.
    pub max_seconds: u32,
    /// Longest a console may sit with no input nor output, seconds.
    pub idle_seconds: u32,
}

/// The bounds admission applies, from the configuration.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Largest source file.
    pub max_source_bytes: usize,
    /// Largest standard input of a `run` job.
    pub max_stdin_bytes: usize,
    /// The most a `run` job (and a console) may ask for.
    pub run_maxima: RunMaxima,
    /// Most bytes one token's run jobs may hold in the store while their input and output
    /// are kept.
    pub max_run_bytes_per_token: u64,
    pub console: ConsoleLimits,
}

/// The scheduler's operations and what they reach: the driver (the only writer of jobs),
/// the store and blobs (read, and written by pushes), and the live state the services share.
pub struct App {
    pub catalog: Catalog,
    pub driver: DriverHandle,
    pub store: Store,
    pub blobs: BlobStore,
    pub hub: WatchHub,
    pub languages: Offered,
    pub job_types: Offered,
    pub bounds: Bounds,
    /// Turns true when the scheduler stops: live consoles end, telling their clients.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub watchers: Watchers,
    /// Submissions (and consoles opened) per token in time.
    pub rate: SubmitRate,
    /// Which tokens are live: a watch or console ends when its token is revoked.
    pub tokens: TokenCache,
    /// Held by the rejudge in progress: rejudges go one at a time.
    pub rejudging: std::sync::Arc<tokio::sync::Mutex<()>>,
}
