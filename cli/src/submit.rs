//! Submitting so that a retry never makes a second job: every submission carries a fresh
//! request id, and a call that fails as `UNAVAILABLE` (the scheduler restarting, a dropped
//! connection) is sent again with the same id. The scheduler answers a repeated id from the
//! same token with the job the first call made. A call refused for the token's submission
//! rate (`RESOURCE_EXHAUSTED` with a `retry-after`) is sent again once that time has
//! passed, up to [`MAX_RATE_WAIT`] in all.

use std::time::Duration;

use judge_common::pb;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use tonic::Code;

use crate::Authed;

/// Tries after the first, waiting 0.25 s, 0.5 s, 1 s, 2 s, 4 s between them.
const RETRIES: u32 = 5;

/// The longest a submission waits in all for its token's rate.
pub const MAX_RATE_WAIT: Duration = Duration::from_secs(60);

/// The wait a refusal asks for (`retry-after`, whole seconds), if any.
pub fn retry_after(s: &tonic::Status) -> Option<Duration> {
    let secs: u64 = s
        .metadata()
        .get("retry-after")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// A request id nobody else will pick: 128 random bits.
pub fn new_request_id() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Submits `req` (giving it a request id if it has none), retrying while the scheduler is
/// unavailable; the job id.
pub async fn submit(
    client: &mut JudgeServiceClient<Authed>,
    mut req: pb::SubmitRequest,
) -> Result<u64, tonic::Status> {
    if req.request_id.is_empty() {
        req.request_id = new_request_id();
    }
    let mut delay = Duration::from_millis(250);
    let mut tries = 0;
    let mut waited = Duration::ZERO;
    loop {
        match client.submit(req.clone()).await {
            Ok(r) => return Ok(r.into_inner().job_id),
            Err(s) if s.code() == Code::Unavailable && tries < RETRIES => {
                tries += 1;
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(s) if s.code() == Code::ResourceExhausted => match retry_after(&s) {
                Some(wait) if waited + wait <= MAX_RATE_WAIT => {
                    waited += wait;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(s),
            },
            Err(s) => return Err(s),
        }
    }
}
