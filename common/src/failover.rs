//! Several schedulers, one leading: a channel that sends each call to the one it believes
//! leads, and moves on when that one turns out not to.
//!
//! It holds one lazy channel per URL (each reconnecting by itself) and an index. A call goes
//! to the current URL. When the answer names the leader (a standby's `UNAVAILABLE` carries
//! `judge-leader`), the index moves to that URL, if it is one of ours; when the connection
//! fails, or a scheduler answers `UNAVAILABLE` without a hint, it moves to the next. The
//! call itself still fails: the caller's own retry (a worker's reconnect, judgectl's resumed
//! watch) goes to the new one. So every client of the scheduler follows a fail-over the same
//! way, through the one type it already dials with.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::Channel;
use tower::ServiceExt;

use crate::channel::{endpoint, ChannelError, ClientTls};

/// The metadata key a standby names the leader's gRPC URL in.
pub const LEADER_KEY: &str = "judge-leader";
/// The metadata key every standby's answer carries (the leader known or not).
pub const STANDBY_KEY: &str = "judge-standby";

/// Whether a call was answered by a standby (and should go to the leader).
pub fn is_standby(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable && status.metadata().get(STANDBY_KEY).is_some()
}

/// The leader a standby named, if it did.
pub fn leader_hint(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get(LEADER_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The schedulers' URLs from `--scheduler`: one, or several separated by commas.
pub fn split_urls(list: &str) -> Result<Vec<String>, ChannelError> {
    let urls: Vec<String> = list
        .split(',')
        .map(|u| u.trim().trim_end_matches('/').to_string())
        .filter(|u| !u.is_empty())
        .collect();
    if urls.is_empty() {
        return Err(ChannelError::Url {
            url: list.to_string(),
            why: "no scheduler URL given".into(),
        });
    }
    Ok(urls)
}

/// A gRPC channel over several schedulers. Cheap to clone; clones share the index.
#[derive(Clone)]
pub struct Failover {
    targets: Arc<Vec<(String, Channel)>>,
    current: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Failover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Failover({})", self.url())
    }
}

impl Failover {
    /// Lazy channels to each of `urls` (each checked as [`endpoint`] checks one).
    pub fn new(urls: &[String], tls: &ClientTls) -> Result<Failover, ChannelError> {
        let mut targets = Vec::with_capacity(urls.len());
        for url in urls {
            targets.push((url.clone(), endpoint(url, tls)?.connect_lazy()));
        }
        if targets.is_empty() {
            return Err(ChannelError::Url {
                url: String::new(),
                why: "no scheduler URL given".into(),
            });
        }
        Ok(Failover {
            targets: Arc::new(targets),
            current: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// The URL calls go to now.
    pub fn url(&self) -> &str {
        let i = self.current.load(Ordering::Relaxed) % self.targets.len();
        &self.targets[i].0
    }

    /// Sends calls to `url` from now on, if it is one of ours; whether it was.
    pub fn prefer(&self, url: &str) -> bool {
        let url = url.trim_end_matches('/');
        match self.targets.iter().position(|(u, _)| u == url) {
            Some(i) => {
                self.current.store(i, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Asks each scheduler's health service (no token needed) and sends calls to the first
    /// that serves. While none does but a standby answers (a takeover under way), asks again
    /// for up to `patience`. The error says what each one answered.
    pub async fn find_leader(&self, patience: std::time::Duration) -> Result<(), String> {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;
        use tonic_health::pb::HealthCheckRequest;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let mut answers = Vec::with_capacity(self.targets.len());
            let mut standby = false;
            for (i, (url, channel)) in self.targets.iter().enumerate() {
                let mut client = HealthClient::new(channel.clone());
                let check = client.check(HealthCheckRequest {
                    service: String::new(),
                });
                match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
                    Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32 => {
                        self.current.store(i, Ordering::Relaxed);
                        return Ok(());
                    }
                    Ok(Ok(_)) => {
                        standby = true;
                        answers.push(format!("{url} is a standby"));
                    }
                    Ok(Err(s)) => answers.push(format!("{url}: {}", status_chain(&s))),
                    Err(_) => answers.push(format!("{url}: no answer within 5 s")),
                }
            }
            if !standby || tokio::time::Instant::now() >= deadline {
                return Err(answers.join("; "));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// The scheduler at index `i` did not serve a call: go where it pointed, or to the next
    /// (unless another call has moved the index already).
    fn moved_from(&self, i: usize, hint: Option<&str>) {
        if hint.is_some_and(|h| self.prefer(h)) {
            return;
        }
        let next = (i + 1) % self.targets.len();
        let _ = self
            .current
            .compare_exchange(i, next, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// A failed call's message and its causes, on one line.
fn status_chain(s: &tonic::Status) -> String {
    use std::error::Error;
    match s.source() {
        Some(cause) => format!("{}: {}", s.message(), crate::channel::error_chain(cause)),
        None => s.message().to_string(),
    }
}

type Answer = Result<http::Response<Body>, tonic::transport::Error>;

impl tower::Service<http::Request<Body>> for Failover {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Each call readies its own clone of the chosen channel.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let i = self.current.load(Ordering::Relaxed) % self.targets.len();
        let channel = self.targets[i].1.clone();
        let me = self.clone();
        Box::pin(async move {
            let answer = channel.oneshot(req).await;
            match &answer {
                Err(_) => me.moved_from(i, None),
                Ok(resp) => {
                    let headers = resp.headers();
                    let unavailable = headers
                        .get("grpc-status")
                        .is_some_and(|s| s.as_bytes() == b"14");
                    if unavailable {
                        let hint = headers.get(LEADER_KEY).and_then(|h| h.to_str().ok());
                        me.moved_from(i, hint);
                    }
                }
            }
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Failover {
        let urls = split_urls("http://a:1, http://b:2/,http://c:3").unwrap();
        Failover::new(&urls, &ClientTls::default()).unwrap()
    }

    #[tokio::test]
    async fn a_hint_among_ours_is_followed_and_a_failure_moves_to_the_next() {
        let f = three();
        assert_eq!(f.url(), "http://a:1");
        f.moved_from(0, Some("http://c:3/"));
        assert_eq!(f.url(), "http://c:3");
        f.moved_from(2, None);
        assert_eq!(f.url(), "http://a:1");
        // A hint that is none of ours counts as no hint.
        f.moved_from(0, Some("http://elsewhere:9"));
        assert_eq!(f.url(), "http://b:2");
    }

    #[tokio::test]
    async fn a_stale_failure_does_not_move_the_index_again() {
        let f = three();
        f.moved_from(0, None);
        // A second call that had gone to a before the first moved on.
        f.moved_from(0, None);
        assert_eq!(f.url(), "http://b:2");
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert!(split_urls(" , ").is_err());
    }
}
