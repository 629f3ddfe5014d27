//! A console's worker side: the worker's `Attach` stream, checked to come from the session
//! (and token) its attempt was assigned on, then joined to the client's relay
//! ([`crate::app`] runs the relay; [`crate::live::consoles`] holds the joining channels).

use std::time::Duration;

use judge_common::console_bounds::MAX_OUTPUT;
use judge_common::pb;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

use crate::live::consoles::{Link, Up};
use crate::live::tokens::Caller;

/// How long the worker has to send its opening message.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the worker's `Attach` receives: the client's input, resizes and end of input.
pub type AttachStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::AttachDown, Status>> + Send>>;

/// The worker's side of a console: checked to come from the session (and token) its attempt
/// was assigned on, then joined to the client's relay.
pub(super) async fn attach(
    consoles: &crate::live::consoles::Consoles,
    sessions: &crate::driver::Sessions,
    who: Caller,
    mut up: Streaming<pb::AttachUp>,
) -> Result<AttachStream, Status> {
    use pb::attach_up::Msg;
    let first = tokio::time::timeout(OPEN_TIMEOUT, up.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no open message within 30 s"))??;
    let Some(Msg::Open(open)) = first.and_then(|m| m.msg) else {
        return Err(Status::invalid_argument(
            "the first attach message must be open (session, job, attempt)",
        ));
    };
    let (session, owner, _worker, mut closed) = sessions
        .find(&open.session_id)
        .ok_or_else(|| Status::failed_precondition("unknown or stale session: connect again"))?;
    if owner != who.token_id {
        return Err(Status::permission_denied(
            "this session was opened by another token",
        ));
    }
    let Link { input, output } = consoles
        .attach(open.job_id, session, open.attempt)
        .map_err(|e| Status::permission_denied(e.to_string()))?;
    if output.send(Up::Attached).await.is_err() {
        return Err(Status::cancelled("the console's client is gone"));
    }
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                msg = up.message() => msg,
                // The session closed (worker lost): the console ends with it.
                _ = closed.changed() => return,
            };
            let bytes = match msg {
                Ok(Some(pb::AttachUp {
                    msg: Some(Msg::Output(b)),
                })) if b.len() <= MAX_OUTPUT => b,
                // Done (or broken, or a message out of place): the output is over.
                _ => return,
            };
            if output.send(Up::Output(bytes)).await.is_err() {
                return;
            }
        }
    });
    let down = ReceiverStream::new(input);
    Ok(Box::pin(tokio_stream::StreamExt::map(down, Ok)))
}
