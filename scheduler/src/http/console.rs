//! `GET /api/v1/console`, upgraded to a WebSocket: the same console session as the gRPC
//! `Console` call (it runs through the same code, [`JudgeApi::open_console`]).
//!
//! A browser cannot put headers on a WebSocket, so the token comes in the first message,
//! never in the URL or a cookie. Client → server, text frames of JSON:
//! `{"token", "language", "source", "rows", "cols", "limits"?}` first, then `{"input": TEXT}`,
//! `{"resize": {"rows", "cols"}}` or `{"eof": true}`. Server → client: the program's output
//! as binary frames; lifecycle and the end as text frames of JSON
//! (`{"event": "queued", "job_id"}`, `assigned`, `compiling`, `running`,
//! `{"event": "end", "outcome", "exit_code", "signal", "message"}`), and a refusal as
//! `{"event": "error", "error", "message"}` before the socket closes.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use judge_common::pb;
use pb::console_event::Event as Ev;
use pb::console_request::Msg;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::{ApiError, HttpState};
use crate::app::auth::{authorize, PEOPLE};
use crate::app::AppError;

/// Largest message a client may send (input is at most 64 KiB a message anyway).
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Size {
    rows: u32,
    cols: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limits {
    time_limit_ms: Option<u32>,
    memory_limit_bytes: Option<u64>,
}

/// The first message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Open {
    token: String,
    language: String,
    source: String,
    rows: u32,
    cols: u32,
    limits: Option<Limits>,
}

/// Every later message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Later {
    input: Option<String>,
    resize: Option<Size>,
    eof: Option<bool>,
}

pub async fn upgrade(State(s): State<HttpState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session(s, socket))
}

fn error_frame(e: ApiError) -> Message {
    Message::text(json!({"event": "error", "error": e.code, "message": e.message}).to_string())
}

/// A message as the console takes it.
fn translate(text: &str) -> Result<pb::ConsoleRequest, AppError> {
    let later: Later = serde_json::from_str(text)
        .map_err(|e| AppError::Invalid(format!("console message: {e}")))?;
    let msg = match (later.input, later.resize, later.eof) {
        (Some(i), None, None) => Msg::Input(i.into_bytes()),
        (None, Some(s), None) => Msg::Resize(pb::TerminalSize {
            rows: s.rows,
            cols: s.cols,
        }),
        (None, None, Some(true)) => Msg::Eof(pb::ConsoleEof {}),
        _ => {
            return Err(AppError::invalid(
                "a console message has exactly one of input, resize, eof",
            ))
        }
    };
    Ok(pb::ConsoleRequest { msg: Some(msg) })
}

/// Sends an error frame naming the problem, then closes the socket.
async fn refuse(socket: &mut WebSocket, e: ApiError) {
    let _ = socket.send(error_frame(e)).await;
    let _ = socket.send(Message::Close(None)).await;
}

async fn session(s: HttpState, mut socket: WebSocket) {
    // A socket that never says who it is holds a connection for nothing: it gets a while.
    let wait = s.limits.console_open_timeout;
    let open = match tokio::time::timeout(wait, socket.recv()).await {
        Err(_) => Err(ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "deadline_exceeded",
            format!(
                "no opening message within {} s of the upgrade",
                wait.as_secs_f64()
            ),
        )),
        Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str::<Open>(&t)
            .map_err(|e| ApiError::bad_request(format!("the opening message: {e}"))),
        Ok(_) => Err(ApiError::bad_request(
            "the first message must be the opening JSON",
        )),
    };
    let open = match open {
        Ok(o) => o,
        Err(e) => return refuse(&mut socket, e).await,
    };
    let header = format!("Bearer {}", open.token);
    let who = match authorize(&s.tokens, Some(&header), PEOPLE) {
        Ok(w) => w,
        Err(e) => return refuse(&mut socket, e.into()).await,
    };
    let (tx, rx) = mpsc::channel::<Result<pb::ConsoleRequest, AppError>>(16);
    let first = pb::ConsoleRequest {
        msg: Some(Msg::Open(pb::ConsoleOpen {
            language: open.language,
            source: open.source.into_bytes(),
            size: Some(pb::TerminalSize {
                rows: open.rows,
                cols: open.cols,
            }),
            limits: open.limits.map(|l| pb::RunLimits {
                time_limit_ms: l.time_limit_ms,
                memory_limit_bytes: l.memory_limit_bytes,
                output_limit_bytes: None,
            }),
            piped_input: false,
        })),
    };
    let _ = tx.send(Ok(first)).await;
    let mut events = match s
        .app
        .open_console(&who, Box::pin(ReceiverStream::new(rx)))
        .await
    {
        Ok(events) => events,
        Err(e) => return refuse(&mut socket, e.into()).await,
    };
    loop {
        tokio::select! {
            // One message at a time: a client that sends faster than the program reads
            // waits here (the WebSocket's TCP window fills), as a gRPC client does.
            msg = socket.recv() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    // Closed, broken, or binary: the client is done; the console ends.
                    _ => return,
                };
                // A malformed message is answered, not swallowed: the client learns what
                // was wrong, and the console ends (its program is stopped).
                let request = match translate(&text) {
                    Ok(r) => r,
                    Err(e) => return refuse(&mut socket, e.into()).await,
                };
                if tx.send(Ok(request)).await.is_err() {
                    return;
                }
            }
            ev = events.next() => {
                let frame = match ev {
                    Some(Ok(pb::ConsoleEvent { event: Some(e) })) => match e {
                        Ev::Output(b) => Message::binary(b),
                        Ev::Queued(q) => Message::text(json!({"event": "queued", "job_id": q.job_id}).to_string()),
                        Ev::Assigned(a) => Message::text(json!({"event": "assigned", "worker": a.worker}).to_string()),
                        Ev::Compiling(_) => Message::text(json!({"event": "compiling"}).to_string()),
                        Ev::Running(_) => Message::text(json!({"event": "running"}).to_string()),
                        Ev::End(end) => {
                            let frame = json!({
                                "event": "end",
                                "job_id": end.job_id,
                                "outcome": (end.outcome != 0).then(|| judge_common::json::outcome_name(end.outcome)),
                                "exit_code": end.exit_code,
                                "signal": end.signal,
                                "message": end.message,
                            });
                            let _ = socket.send(Message::text(frame.to_string())).await;
                            let _ = socket.send(Message::Close(None)).await;
                            return;
                        }
                    },
                    Some(Ok(_)) => continue,
                    Some(Err(status)) => return refuse(&mut socket, status.into()).await,
                    None => return,
                };
                if socket.send(frame).await.is_err() {
                    return;
                }
            }
        }
    }
}
