//! Bounds on file transfers, shared by the worker service (which takes a slot per download)
//! and `/metrics` (which shows how many run).

/// Bounds on file transfers: so many at once in all, and two per connection, so one worker
/// fetching many files cannot crowd the others out of the scheduler's bandwidth.
#[derive(Clone)]
pub struct Transfers {
    total: std::sync::Arc<tokio::sync::Semaphore>,
    /// Permits of `total`.
    limit: usize,
    per_peer: std::sync::Arc<
        std::sync::Mutex<
            std::collections::HashMap<std::net::SocketAddr, std::sync::Arc<tokio::sync::Semaphore>>,
        >,
    >,
}

/// Concurrent transfers per worker connection.
const PER_PEER: usize = 2;

impl Transfers {
    /// At most `total` transfers at once.
    pub fn new(total: usize) -> Self {
        Transfers {
            total: std::sync::Arc::new(tokio::sync::Semaphore::new(total)),
            per_peer: Default::default(),
            limit: total,
        }
    }

    /// Transfers running now.
    pub fn in_flight(&self) -> usize {
        self.limit.saturating_sub(self.total.available_permits())
    }

    /// Waits for a transfer slot; the permits are held for as long as the transfer lasts.
    pub async fn acquire(
        &self,
        peer: Option<std::net::SocketAddr>,
    ) -> Vec<tokio::sync::OwnedSemaphorePermit> {
        let mut permits = Vec::with_capacity(2);
        if let Some(peer) = peer {
            let sem = {
                let mut map = self.per_peer.lock().unwrap_or_else(|p| p.into_inner());
                // Forget peers with nothing in flight, so the map does not grow forever.
                map.retain(|_, s| s.available_permits() < PER_PEER);
                map.entry(peer)
                    .or_insert_with(|| std::sync::Arc::new(tokio::sync::Semaphore::new(PER_PEER)))
                    .clone()
            };
            if let Ok(p) = sem.acquire_owned().await {
                permits.push(p);
            }
        }
        if let Ok(p) = self.total.clone().acquire_owned().await {
            permits.push(p);
        }
        permits
    }
}
