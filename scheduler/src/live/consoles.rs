//! Live consoles: where a client's `Console` stream meets the `Attach` stream the worker
//! dials for it. The driver registers a console when the core admits it (with the channels
//! its client's relay made) and records the session its attempt goes to; the worker's
//! `Attach` takes the channels, once, and only from that session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use judge_common::pb;
use tokio::sync::mpsc;

use crate::core::{Attempt, JobId, SessionId};

/// What the worker's side sends towards the client.
#[derive(Debug)]
pub enum Up {
    /// The worker attached: the program is starting.
    Attached,
    Output(Vec<u8>),
}

/// The channels between a console's client relay and its worker's `Attach`.
#[derive(Debug)]
pub struct Link {
    /// The client's input, resizes and end of input, for the worker.
    pub input: mpsc::Receiver<pb::AttachDown>,
    /// What the worker sends, for the client.
    pub output: mpsc::Sender<Up>,
}

#[derive(Debug)]
struct Entry {
    /// Where the current attempt was sent: only that session may attach.
    assigned: Option<(SessionId, Attempt)>,
    /// Taken by the one `Attach`.
    link: Option<Link>,
}

/// Why an `Attach` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    #[error("console {0} is not assigned to this session")]
    NotYours(JobId),
    #[error("console {0} is already attached")]
    AlreadyAttached(JobId),
}

/// Every live console, by job id.
#[derive(Debug, Clone, Default)]
pub struct Consoles {
    inner: Arc<Mutex<HashMap<JobId, Entry>>>,
}

impl Consoles {
    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The core admitted console `job_id`; `link` waits for its worker.
    pub fn admitted(&self, job_id: JobId, link: Link) {
        let entry = Entry {
            assigned: None,
            link: Some(link),
        };
        self.lock().insert(job_id, entry);
    }

    /// Its attempt `attempt` goes to `session`.
    pub fn assigned(&self, job_id: JobId, session: SessionId, attempt: Attempt) {
        if let Some(e) = self.lock().get_mut(&job_id) {
            e.assigned = Some((session, attempt));
        }
    }

    /// The console is over (ended, or its client gone).
    pub fn remove(&self, job_id: JobId) {
        self.lock().remove(&job_id);
    }

    /// The link of console `job_id`, for the worker on `session` running `attempt`.
    pub fn attach(
        &self,
        job_id: JobId,
        session: SessionId,
        attempt: Attempt,
    ) -> Result<Link, AttachError> {
        let mut map = self.lock();
        let entry = map
            .get_mut(&job_id)
            .filter(|e| e.assigned == Some((session, attempt)))
            .ok_or(AttachError::NotYours(job_id))?;
        entry
            .link
            .take()
            .ok_or(AttachError::AlreadyAttached(job_id))
    }

    /// How many consoles are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> (Link, mpsc::Sender<pb::AttachDown>, mpsc::Receiver<Up>) {
        let (in_tx, in_rx) = mpsc::channel(1);
        let (out_tx, out_rx) = mpsc::channel(1);
        let l = Link {
            input: in_rx,
            output: out_tx,
        };
        (l, in_tx, out_rx)
    }

    #[test]
    fn only_the_assigned_session_attaches_and_only_once() {
        let c = Consoles::default();
        let (l, _i, _o) = link();
        c.admitted(7, l);
        assert_eq!(
            c.attach(7, 1, 1).unwrap_err(),
            AttachError::NotYours(7),
            "not assigned yet"
        );
        c.assigned(7, 1, 1);
        assert_eq!(
            c.attach(7, 2, 1).unwrap_err(),
            AttachError::NotYours(7),
            "another session"
        );
        assert_eq!(
            c.attach(7, 1, 2).unwrap_err(),
            AttachError::NotYours(7),
            "another attempt"
        );
        assert!(c.attach(7, 1, 1).is_ok());
        assert_eq!(
            c.attach(7, 1, 1).unwrap_err(),
            AttachError::AlreadyAttached(7)
        );
        c.remove(7);
        assert!(c.is_empty());
        assert_eq!(
            c.attach(8, 1, 1).unwrap_err(),
            AttachError::NotYours(8),
            "unknown"
        );
    }
}
