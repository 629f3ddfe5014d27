//! Consoles: a client's console (the gRPC `Console` stream or a WebSocket, translated) and
//! its worker's `Attach` stream (the worker service's), relayed, and the rules of when it
//! ends.
//!
//! The client opens with the program and its terminal; the console is admitted as a live job
//! (the core picks a worker that takes consoles, with a free slot). The worker, which never
//! listens, dials `Attach` for it from the session the attempt went to, and the two streams
//! are joined through bounded channels ([`crate::live::consoles`]): a client that stops reading
//! stops the worker's stream (and so the program's output), a worker that stops reading stops
//! the client's, and the scheduler holds at most a few chunks per direction.
//!
//! Lifecycle events (assigned, compiling) come from the job's event log, as `WatchJob`'s do;
//! the end comes from the job's finish, once the worker has sent the last of the output.

use std::time::Duration;

use judge_common::job_kind::JobKind;
use judge_common::pb;
use pb::console_event::Event as Out;
use pb::console_request::Msg as In;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::watch::follow;
use super::{App, AppError};
use judge_common::console_bounds::{size_ok, MAX_INPUT, MAX_SIDE};

use crate::core::{JobId, JobSpec, NewJob};
use crate::driver::Payload;
use crate::live::consoles::{Link, Up};
use crate::live::tokens::Caller;

/// How long the client has to send its opening message.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages buffered per direction.
const DEPTH: usize = 16;
/// How long the end waits for the worker's last output after the job finished.
const DRAIN: Duration = Duration::from_secs(2);

/// A client's console messages: the gRPC stream, or a WebSocket's translated. An error
/// is the client's stream breaking.
pub type ConsoleRequests = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::ConsoleRequest, AppError>> + Send>,
>;

/// What a console's client receives: its lifecycle and the program's output; an error
/// ends it.
pub type ConsoleEvents = ReceiverStream<Result<pb::ConsoleEvent, AppError>>;

fn event(e: Out) -> pb::ConsoleEvent {
    pb::ConsoleEvent { event: Some(e) }
}

/// A terminal size within bounds, or the status that names the problem.
pub fn check_size(size: Option<pb::TerminalSize>) -> Result<pb::TerminalSize, AppError> {
    match size {
        Some(s) if size_ok(s.rows, s.cols) => Ok(s),
        Some(s) => Err(AppError::Invalid(format!(
            "terminal size {}x{}: rows and cols must be 1 to {MAX_SIDE}",
            s.rows, s.cols
        ))),
        None => Err(AppError::invalid("the terminal size is missing")),
    }
}

/// A message after the opening one, as the worker takes it.
fn later(msg: pb::ConsoleRequest) -> Result<pb::AttachDown, AppError> {
    use pb::attach_down::Msg as Down;
    let down = match msg.msg {
        None => return Err(AppError::invalid("an empty console message")),
        Some(In::Open(_)) => {
            return Err(AppError::invalid(
                "a second open message: a console is opened once",
            ))
        }
        Some(In::Input(b)) if b.len() > MAX_INPUT => {
            return Err(AppError::Invalid(format!(
                "an input message of {} bytes; at most {MAX_INPUT}",
                b.len()
            )))
        }
        Some(In::Input(b)) => Down::Input(b),
        Some(In::Resize(s)) => Down::Resize(check_size(Some(s))?),
        Some(In::Eof(e)) => Down::Eof(e),
    };
    Ok(pb::AttachDown { msg: Some(down) })
}

impl App {
    /// Admits the console `open` asks for and starts relaying; the client's stream.
    pub async fn open_console(
        &self,
        who: &Caller,
        mut requests: ConsoleRequests,
    ) -> Result<ConsoleEvents, AppError> {
        use tokio_stream::StreamExt;
        let first = tokio::time::timeout(OPEN_TIMEOUT, requests.next())
            .await
            .map_err(|_| AppError::Timeout("no open message within 30 s".into()))?
            .transpose()?;
        let open = match first.and_then(|m| m.msg) {
            Some(In::Open(o)) => o,
            Some(_) => {
                return Err(AppError::invalid(
                    "the first console message must be open (language, source, size)",
                ))
            }
            None => return Err(AppError::invalid("the console stream ended unopened")),
        };
        let spec = self.console_spec(&open)?;
        self.within_rate(who)?;
        let who_token = who.token_id.clone();
        let (input_tx, input_rx) = mpsc::channel(DEPTH);
        let (up_tx, up_rx) = mpsc::channel(DEPTH);
        let job = NewJob {
            spec: JobSpec::Console { spec },
            language: open.language,
            owner: who.token_name.clone(),
            request_id: None,
            supersede_key: None,
            priority: super::admission::priority("", who)?,
        };
        let payload = Payload {
            source: open.source,
            stdin: Vec::new(),
        };
        let link = Link {
            input: input_rx,
            output: up_tx,
        };
        let job_id = self.driver.submit(job, None, payload, Some(link)).await??;
        let (tx, rx) = mpsc::channel(DEPTH);
        let relay = Relay {
            api: RelayApi {
                store: self.store.clone(),
                hub: self.hub.clone(),
                driver: self.driver.clone(),
                stopping: self.stopping.clone(),
                tokens: self.tokens.clone(),
                token_id: who_token,
            },
            job_id,
            tx,
        };
        tokio::spawn(relay.run(requests, input_tx, up_rx));
        Ok(ReceiverStream::new(rx))
    }

    /// The worker's part of `open`, checked.
    fn console_spec(&self, open: &pb::ConsoleOpen) -> Result<pb::ConsoleSpec, AppError> {
        self.check_offer(JobKind::Console, &open.language, &open.source)?;
        let size = check_size(open.size)?;
        let limits = self.limits(open.limits.as_ref())?;
        let console = self.bounds.console;
        Ok(pb::ConsoleSpec {
            size: Some(size),
            limits: Some(limits),
            piped_input: open.piped_input,
            max_seconds: console.max_seconds,
            idle_seconds: console.idle_seconds,
        })
    }
}

/// What a relay needs of the scheduler.
struct RelayApi {
    store: crate::store::Store,
    hub: crate::live::watch::WatchHub,
    driver: crate::driver::DriverHandle,
    stopping: watch::Receiver<bool>,
    /// The token that opened the console: when it is revoked, the console ends.
    tokens: crate::live::tokens::TokenCache,
    token_id: String,
}

/// One console's relay: client input to the worker, worker output and lifecycle to the
/// client, the end once both the job and its output are over.
struct Relay {
    api: RelayApi,
    job_id: JobId,
    tx: mpsc::Sender<Result<pb::ConsoleEvent, AppError>>,
}

impl Relay {
    async fn run(
        self,
        requests: ConsoleRequests,
        input: mpsc::Sender<pb::AttachDown>,
        mut up: mpsc::Receiver<Up>,
    ) {
        let job_id = self.job_id;
        if self
            .tx
            .send(Ok(event(Out::Queued(pb::ConsoleQueued { job_id }))))
            .await
            .is_err()
        {
            self.gone().await;
            return;
        }
        let (bad_tx, mut bad) = mpsc::channel(1);
        // Holding `input` here keeps the worker's stream open after the client's input ends.
        let reader = tokio::spawn(read_input(requests, input.clone(), bad_tx));
        let (events_tx, mut events) = mpsc::channel(DEPTH);
        let watcher = tokio::spawn(follow(
            self.api.store.clone(),
            self.api.hub.clone(),
            job_id,
            0,
            false,
            events_tx,
        ));
        let stopping = stopped(self.api.stopping.clone());
        tokio::pin!(stopping);
        let revoked = self.api.tokens.revoked(&self.api.token_id);
        tokio::pin!(revoked);
        let mut finished: Option<pb::FinishedEvent> = None;
        let mut output_open = true;
        let drain = tokio::time::sleep(Duration::MAX);
        tokio::pin!(drain);
        let end = loop {
            tokio::select! {
                _ = self.tx.closed() => {
                    self.gone().await;
                    break None;
                }
                Some(status) = bad.recv() => {
                    let _ = self.tx.send(Err(status)).await;
                    self.gone().await;
                    break None;
                }
                _ = &mut stopping => {
                    break Some(ending(None, "the scheduler is stopping".into(), job_id));
                }
                _ = &mut revoked => {
                    let _ = self.tx.send(Err(AppError::Unauthenticated("the token was revoked".into()))).await;
                    self.gone().await;
                    break None;
                }
                Some(ev) = events.recv() => {
                    use pb::job_event::Event as Ev;
                    tracing::debug!(job_id, event = ?ev.as_ref().ok().map(|e| e.seq), "console: job event");
                    let out = match ev.ok().and_then(|e| e.event) {
                        Some(Ev::Assigned(a)) => Some(Out::Assigned(pb::ConsoleAssigned { worker: a.worker })),
                        Some(Ev::Compiling(_)) => Some(Out::Compiling(pb::ConsoleCompiling {})),
                        Some(Ev::Finished(f)) => {
                            let lost = f.state != pb::JobState::Done as i32;
                            finished = Some(f);
                            if !output_open || lost {
                                break self.end(finished.take()).await;
                            }
                            drain.as_mut().reset(tokio::time::Instant::now() + DRAIN);
                            None
                        }
                        _ => None,
                    };
                    if let Some(out) = out {
                        if self.tx.send(Ok(event(out))).await.is_err() {
                            self.gone().await;
                            break None;
                        }
                    }
                }
                chunk = up.recv(), if output_open => {
                    tracing::debug!(job_id, open = chunk.is_some(), "console: from the worker");
                    let out = match chunk {
                        Some(Up::Attached) => Out::Running(pb::ConsoleRunning {}),
                        Some(Up::Output(b)) => Out::Output(b),
                        None => {
                            output_open = false;
                            if finished.is_some() {
                                break self.end(finished.take()).await;
                            }
                            continue;
                        }
                    };
                    if self.tx.send(Ok(event(out))).await.is_err() {
                        self.gone().await;
                        break None;
                    }
                }
                _ = &mut drain, if finished.is_some() => break self.end(finished.take()).await,
            }
        };
        tracing::debug!(job_id, ended = end.is_some(), "console: relay over");
        if let Some(end) = end {
            let _ = self.tx.send(Ok(event(Out::End(end)))).await;
        }
        reader.abort();
        watcher.abort();
        drop(input);
    }

    /// The client is gone (or broke the rules): the program is stopped.
    async fn gone(&self) {
        let _ = self.api.driver.cancel(self.job_id).await;
    }

    /// The end message for a finished console.
    async fn end(&self, finished: Option<pb::FinishedEvent>) -> Option<pb::ConsoleEnd> {
        let f = finished?;
        let run = if f.state == pb::JobState::Done as i32 {
            self.api.store.run_result(self.job_id).await.ok().flatten()
        } else {
            None
        };
        let message = match (&run, f.state) {
            (Some(r), _) => r.compile_message.clone(),
            (None, s) if s == pb::JobState::Cancelled as i32 => "cancelled".into(),
            (None, _) => f.message,
        };
        Some(ending(run, message, self.job_id))
    }
}

/// Resolves once `stopping` turns true (never if its sender goes first).
pub async fn stopped(mut stopping: watch::Receiver<bool>) {
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        if stopping.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

fn ending(run: Option<pb::RunResult>, message: String, job_id: JobId) -> pb::ConsoleEnd {
    pb::ConsoleEnd {
        outcome: run.as_ref().map_or(0, |r| r.outcome),
        exit_code: run.as_ref().and_then(|r| r.exit_code),
        signal: run.as_ref().and_then(|r| r.signal),
        message,
        job_id,
    }
}

/// Passes the client's messages on to the worker, one at a time: while the worker does not
/// take them, the client's stream is not read (its flow control slows the client down). A
/// message that breaks the rules is reported on `bad`.
async fn read_input(
    mut requests: ConsoleRequests,
    input: mpsc::Sender<pb::AttachDown>,
    bad: mpsc::Sender<AppError>,
) {
    use tokio_stream::StreamExt;
    loop {
        match requests.next().await.transpose() {
            Ok(Some(msg)) => match later(msg) {
                Ok(down) => {
                    if input.send(down).await.is_err() {
                        return;
                    }
                }
                Err(status) => {
                    let _ = bad.send(status).await;
                    return;
                }
            },
            // The client's input ended (it still reads the output), or its stream broke.
            Ok(None) | Err(_) => return,
        }
    }
}
