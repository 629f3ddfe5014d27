//! Live worker sessions, shared between the driver (which opens and closes them) and the
//! `Report` handler (which checks each report's key without a round trip to the driver).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::core::SessionId;

/// Live sessions, readable by the `Report` handler without a round trip to the driver, by
/// the random key a worker's reports carry. A session's entry is dropped when it closes,
/// which wakes its `Report` stream.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<SessionMap>>,
}

#[derive(Debug, Default)]
struct SessionMap {
    by_key: HashMap<String, LiveSession>,
    keys: HashMap<SessionId, String>,
}

/// A session as the `Report` handler needs it.
#[derive(Debug)]
pub struct LiveSession {
    /// The core's id of the session.
    pub id: SessionId,
    /// The token that opened it: only that token may report on it.
    pub token_id: String,
    pub worker: String,
    closed: watch::Sender<()>,
}

/// The bits of randomness in a session key.
pub const SESSION_KEY_BITS: usize = 128;

/// A fresh session key: 32 hex digits from the OS's generator.
fn session_key() -> String {
    let bytes: [u8; SESSION_KEY_BITS / 8] = rand::random();
    hex::encode(bytes)
}

impl Sessions {
    /// The live session with this key, and a receiver that errors once it closes.
    pub fn find(&self, key: &str) -> Option<(SessionId, String, String, watch::Receiver<()>)> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.by_key.get(key).map(|s| {
            (
                s.id,
                s.token_id.clone(),
                s.worker.clone(),
                s.closed.subscribe(),
            )
        })
    }

    /// Registers a session; its key.
    pub(super) fn open(&self, id: SessionId, token_id: &str, worker: &str) -> String {
        let key = session_key();
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let live = LiveSession {
            id,
            token_id: token_id.to_string(),
            worker: worker.to_string(),
            closed: watch::channel(()).0,
        };
        map.by_key.insert(key.clone(), live);
        map.keys.insert(id, key.clone());
        key
    }

    pub(super) fn key(&self, id: SessionId) -> Option<String> {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.keys.get(&id).cloned()
    }

    pub(super) fn close(&self, id: SessionId) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = map.keys.remove(&id) {
            map.by_key.remove(&key);
        }
    }
}
