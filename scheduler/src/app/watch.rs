//! Following a job: its stored events, then live ones as they are committed, until it ends.
//! Open watches are bounded per token, so that no one caller can hold the scheduler's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use judge_common::pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::admission::job_id;
use super::{App, AppError};
use crate::core::JobId;
use crate::live::tokens::Caller;
use crate::live::watch::WatchHub;
use crate::store::Store;

/// A job's events as a watcher receives them; an error ends the watch.
pub type JobEvents = ReceiverStream<Result<pb::JobEvent, AppError>>;

/// Where [`follow`] sends a job's events.
pub(super) type EventSender = mpsc::Sender<Result<pb::JobEvent, AppError>>;

/// Open watches per token.
#[derive(Debug, Clone)]
pub struct Watchers {
    open: Arc<Mutex<HashMap<String, usize>>>,
    limit: usize,
}

/// One open watch; it counts until dropped.
struct WatchSlot {
    watchers: Watchers,
    token_id: String,
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self.watchers.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.token_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.token_id);
            }
        }
    }
}

impl Watchers {
    /// At most `limit` watches open per token.
    pub fn new(limit: usize) -> Self {
        Watchers {
            open: Default::default(),
            limit,
        }
    }

    fn take(&self, token_id: &str) -> Result<WatchSlot, AppError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(token_id.to_string()).or_default();
        if *n >= self.limit {
            return Err(AppError::Exhausted(format!(
                "this token already has {} watches open (the limit); close some",
                self.limit
            )));
        }
        *n += 1;
        Ok(WatchSlot {
            watchers: self.clone(),
            token_id: token_id.to_string(),
        })
    }
}

/// Sends one event to a watcher; `true` when the watch is over (the job's end, or the
/// watcher gone). `more`: the store holds events after this one, so an end it reports was
/// an earlier judging's (the job has been judged again since) and the watch goes on.
async fn forward(last: &mut u64, e: pb::JobEvent, more: bool, tx: &EventSender) -> bool {
    *last = e.seq;
    let end = !more && matches!(e.event, Some(pb::job_event::Event::Finished(_)));
    tx.send(Ok(e)).await.is_err() || end
}

/// Sends the stored events after `last`; `true` when the watch is over.
async fn replay(store: &Store, id: JobId, last: &mut u64, tx: &EventSender) -> bool {
    match store.events_after(id, *last).await {
        Ok(events) => {
            let n = events.len();
            for (i, e) in events.into_iter().enumerate() {
                if forward(last, e, i + 1 < n, tx).await {
                    return true;
                }
            }
            false
        }
        Err(e) => {
            let _ = tx.send(Err(e.into())).await;
            true
        }
    }
}

/// Sends job `id`'s events after `after` to `tx`, the stored ones first, then live ones
/// as they are committed, until the job finishes or `tx` closes. `ended`: the job had
/// already ended when the watch was asked for, so the stored events are all there is.
pub(super) async fn follow(
    store: Store,
    hub: WatchHub,
    id: JobId,
    after: u64,
    ended: bool,
    tx: EventSender,
) {
    // Subscribe before replaying, so no event falls between the two.
    let mut live = hub.subscribe(id);
    let mut last = after;
    // A job that had ended has all its events stored (they are committed with its end):
    // asked from after its last one, the watch ends here instead of waiting for ever.
    let mut done = replay(&store, id, &mut last, &tx).await || ended;
    while !done {
        let next = tokio::select! {
            // The watcher went away: stop now, not at the job's next event.
            _ = tx.closed() => break,
            next = live.recv() => next,
        };
        done = match next {
            Ok(e) if e.seq <= last => false,
            Ok(e) => forward(&mut last, (*e).clone(), false, &tx).await,
            // Fell behind, or the channel was retired: catch up from the store.
            Err(_) => {
                live = hub.subscribe(id);
                replay(&store, id, &mut last, &tx).await
            }
        };
    }
    drop(live);
    hub.release(id);
}

impl App {
    /// Job `id`'s events after seq `after`, until it ends; the watch counts against the
    /// caller's token until it is over, and ends when the token is revoked.
    pub async fn watch_job(
        &self,
        who: &Caller,
        id: u64,
        after: u64,
    ) -> Result<JobEvents, AppError> {
        let id = job_id(id)?;
        // Checked before anything is kept for the watch: a missing job costs nothing.
        let ended = self.job_record(id, who).await?.has_ended();
        let slot = self.watchers.take(&who.token_id)?;
        let (tx, rx) = mpsc::channel(64);
        let revoked = self.tokens.revoked(&who.token_id);
        let watch = follow(
            self.store.clone(),
            self.hub.clone(),
            id,
            after,
            ended,
            tx.clone(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = watch => {}
                _ = revoked => {
                    let revoked = AppError::Unauthenticated("the token was revoked".into());
                    let _ = tx.send(Err(revoked)).await;
                }
            }
        });
        Ok(ReceiverStream::new(rx))
    }
}
