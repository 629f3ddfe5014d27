//! Live job events for `WatchJob` subscribers.
//!
//! Events are published only after they are committed, so a watcher never sees something the
//! store could forget. A watcher subscribes first and then replays the store, and drops live
//! events it has already seen by `seq`, so nothing falls between replay and live.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use judge_common::pb;
use tokio::sync::broadcast;

/// How many events a slow watcher may fall behind before it must replay from the store.
const BACKLOG: usize = 256;

#[derive(Debug, Clone, Default)]
pub struct WatchHub {
    channels: Arc<Mutex<HashMap<u64, broadcast::Sender<Arc<pb::JobEvent>>>>>,
}

impl WatchHub {
    pub fn subscribe(&self, job_id: u64) -> broadcast::Receiver<Arc<pb::JobEvent>> {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(job_id)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe()
    }

    pub fn publish(&self, event: pb::JobEvent) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let job_id = event.job_id;
        let last = matches!(event.event, Some(pb::job_event::Event::Finished(_)));
        if let Some(tx) = map.get(&job_id) {
            let _ = tx.send(Arc::new(event));
            if last || tx.receiver_count() == 0 {
                map.remove(&job_id);
            }
        }
    }

    /// Forgets the job's channel once nobody listens (a watcher calls this when it ends).
    pub fn release(&self, job_id: u64) {
        let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&job_id).is_some_and(|tx| tx.receiver_count() == 0) {
            map.remove(&job_id);
        }
    }
}
