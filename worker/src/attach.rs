//! Dialling `Attach` for a console: the worker never listens, so it opens the stream that
//! carries a console's terminal, from the session its attempt was assigned on.

use std::sync::{Arc, Mutex};

use judge_common::pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::client::Client;

/// Output messages that may wait to be sent before the program's output stalls.
const DEPTH: usize = 8;

/// Opens consoles' streams with the current session's key.
#[derive(Clone)]
pub struct Attacher {
    client: Client,
    /// The key of the session in force (set at each `Welcome`).
    session: Arc<Mutex<String>>,
}

impl Attacher {
    pub fn new(client: Client) -> Self {
        Attacher {
            client,
            session: Default::default(),
        }
    }

    /// A new session began.
    pub fn set_session(&self, key: &str) {
        *self.session.lock().unwrap_or_else(|p| p.into_inner()) = key.to_string();
    }

    /// Opens the console of attempt `(job_id, attempt)`: where to send its output, and the
    /// client's input as it comes.
    pub async fn open(
        &self,
        job_id: u64,
        attempt: u32,
    ) -> Result<(mpsc::Sender<pb::AttachUp>, Streaming<pb::AttachDown>), tonic::Status> {
        use pb::attach_up::Msg;
        let session_id = self
            .session
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (tx, rx) = mpsc::channel(DEPTH);
        let open = pb::AttachUp {
            msg: Some(Msg::Open(pb::AttachOpen {
                session_id,
                job_id,
                attempt,
            })),
        };
        tx.send(open)
            .await
            .map_err(|_| tonic::Status::internal("attach channel closed"))?;
        let down = self.client.clone().attach(ReceiverStream::new(rx)).await?;
        Ok((tx, down.into_inner()))
    }
}
