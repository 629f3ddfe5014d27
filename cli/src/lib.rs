//! judgectl as a library: the pieces the demo and tests share with the command.

/// A live console on this terminal: raw mode, keys, resizes, exit code.
pub mod console;
/// How jobs, workers and problems are printed (tables or JSON).
pub mod output;
/// A package pushed as chunked files, with a progress bar.
pub mod push;
/// Finished submissions judged again, and what changed.
pub mod rejudge;
/// A program run once through the cluster, its output printed as it printed it.
pub mod run;
/// Submitting, retried with the same request id until acknowledged.
pub mod submit;
/// `problem verify`: a package's own submissions judged, each against its folder.
pub mod verify;
/// Text from others shown with its control characters made visible.
pub mod visible;

pub use judge_common::channel::error_chain;

use judge_common::auth::Bearer;
use judge_common::channel::ClientTls;
use judge_common::failover::{split_urls, Failover};
use tonic::service::interceptor::InterceptedService;

/// A channel that sends the bearer token with every call, to the scheduler that leads.
pub type Authed = InterceptedService<Failover, Bearer>;

/// How long judgectl waits for a leader while only standbys answer (a takeover).
pub const LEADER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// A channel to the scheduler, or to the one leading among several (`--scheduler
/// URL1,URL2`): each is asked, and an error names what each answered.
pub async fn dial(urls: &str, tls: &ClientTls) -> anyhow::Result<Failover> {
    let failover = Failover::new(&split_urls(urls)?, tls)?;
    failover
        .find_leader(LEADER_PATIENCE)
        .await
        .map_err(|why| anyhow::anyhow!("cannot reach the scheduler: {why}"))?;
    Ok(failover)
}

/// A gRPC error as one line: what kind, then the server's message (and, for a connection
/// that failed, why: an untrusted certificate, a plaintext server...).
pub fn status_line(s: &tonic::Status) -> String {
    use std::error::Error;
    match s.source() {
        Some(cause) if s.code() == tonic::Code::Unavailable => {
            format!("{:?}: {}: {}", s.code(), s.message(), error_chain(cause))
        }
        _ => format!("{:?}: {}", s.code(), s.message()),
    }
}
