//! The worker's side of the wire: dial out, take commands from the feed, send reports.
//!
//! One session = one `Connect` feed plus one `Report` stream tagged with the session id. When
//! either breaks, the session ends and the worker dials again with backoff, offering the
//! attempts it still holds so the scheduler can re-adopt them. It never listens on a port.

use std::time::Duration;

use judge_common::pb;
use pb::worker_command::Command;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::cache::FileCache;
use crate::client::Client;
use crate::executor::Executor;
use crate::resources::Sampler;

/// Who this worker is, as told to the scheduler.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub slots: u32,
    pub job_types: Vec<String>,
    pub languages: Vec<pb::LanguageInfo>,
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    /// Draining finished: stop for good.
    Drained,
    /// Connection trouble: dial again.
    Lost(String),
    /// A standby answered (schedulers sharing a database): dial again soon, the leader
    /// it named or the next URL.
    Standby(String),
}

/// How long after a standby answered that reconnects stay quick.
const TAKEOVER: std::time::Duration = std::time::Duration::from_secs(30);
/// The longest pause between reconnects meanwhile.
const TAKEOVER_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

pub struct Connection {
    pub client: Client,
    /// Told each new session's key, for consoles' streams.
    pub attacher: crate::attach::Attacher,
    pub identity: Identity,
    pub executor: Executor,
    pub cache: FileCache,
    pub sampler: Sampler,
    /// Turns true when the worker should drain (SIGTERM, or a `Drain` command).
    pub drain: watch::Sender<bool>,
}

impl Connection {
    /// Keeps a session up until draining completes.
    pub async fn run(mut self) {
        let mut backoff = Backoff::default();
        // Until when a standby's answer says a takeover is under way (schedulers sharing a
        // database): the leader it names may still refuse, or the new one be binding its
        // ports, for a few seconds; retries stay quick meanwhile.
        let mut takeover_until: Option<tokio::time::Instant> = None;
        loop {
            match self.session(&mut backoff).await {
                End::Drained => {
                    tracing::info!("drained; stopping");
                    return;
                }
                End::Standby(why) => {
                    tracing::info!(%why, "reached a standby; dialling the leader");
                    takeover_until = Some(tokio::time::Instant::now() + TAKEOVER);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                End::Lost(why) => {
                    let mut delay = backoff.next_delay(rand::random::<f64>());
                    if takeover_until.is_some_and(|t| tokio::time::Instant::now() < t) {
                        delay = delay.min(TAKEOVER_RETRY);
                    }
                    tracing::warn!(%why, ?delay, "session ended; reconnecting");
                    let mut drain = self.drain.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        // Draining with nothing left to report needs no scheduler.
                        _ = wait_drained(&mut drain, &self.executor) => return,
                    }
                }
            }
        }
    }

    async fn session(&mut self, backoff: &mut Backoff) -> End {
        let req = pb::ConnectRequest {
            name: self.identity.name.clone(),
            slots: self.identity.slots,
            job_types: self.identity.job_types.clone(),
            languages: self.identity.languages.clone(),
            running: self.executor.held(),
            cached: self.cache.snapshot(),
            cache: Some(self.cache.stats()),
        };
        let mut feed = match self.client.connect(req).await {
            Ok(r) => r.into_inner(),
            Err(s) if judge_common::failover::is_standby(&s) => {
                // A scheduler answers and a takeover is a matter of seconds: no backing off.
                backoff.reset();
                return End::Standby(s.message().to_string());
            }
            Err(s) => return End::Lost(format!("connect: {s}")),
        };
        let welcome = match feed.message().await {
            Ok(Some(pb::WorkerCommand {
                command: Some(Command::Welcome(w)),
            })) => w,
            Ok(other) => return End::Lost(format!("expected Welcome, got {other:?}")),
            Err(s) => return End::Lost(format!("feed: {s}")),
        };
        backoff.reset();
        // The key is a secret of this session: logs show only its first digits.
        let shown = welcome.session_id.get(..8).unwrap_or_default().to_string();
        let span = tracing::info_span!("session", worker = %self.identity.name, session = %shown);
        self.serve(feed, welcome).instrument(span).await
    }

    /// One session, from its `Welcome` on: commands in, reports out, until it ends.
    async fn serve(&mut self, mut feed: Streaming<pb::WorkerCommand>, welcome: pb::Welcome) -> End {
        let session = welcome.session_id.clone();
        tracing::info!(
            epoch = welcome.epoch,
            adopted = welcome.adopted.len(),
            "connected"
        );
        self.attacher.set_session(&session);
        self.executor.reconcile(&welcome.adopted);

        let (tx, rx) = mpsc::channel(256);
        let mut report_call = {
            let mut client = self.client.clone();
            tokio::spawn(async move { client.report(ReceiverStream::new(rx)).await })
        };
        let interval = Duration::from_millis(u64::from(welcome.report_interval_ms.max(100)));
        let mut drain = self.drain.subscribe();
        let mut pump = Box::pin(pump(
            tx,
            session,
            self.executor.clone(),
            self.cache.clone(),
            interval,
            &mut self.sampler,
            self.drain.subscribe(),
        ));
        let end = loop {
            tokio::select! {
                cmd = feed.message() => match cmd {
                    Ok(Some(pb::WorkerCommand { command: Some(c) })) => handle(&self.executor, &self.drain, c),
                    Ok(Some(_)) => {}
                    Ok(None) => break End::Lost("the scheduler ended the feed".into()),
                    Err(s) => break End::Lost(format!("feed: {s}")),
                },
                r = &mut report_call => {
                    let why = match r {
                        Ok(Ok(_)) => "report stream ended".to_string(),
                        Ok(Err(s)) => format!("report stream: {s}"),
                        Err(e) => format!("report task: {e}"),
                    };
                    return End::Lost(why);
                }
                _ = &mut pump => break End::Lost("report pump stopped".into()),
                _ = wait_drained(&mut drain, &self.executor) => break End::Drained,
            }
        };
        // Close the report stream cleanly so what is in flight (the last results) gets there:
        // the server acknowledges only after it has read everything.
        drop(pump);
        if tokio::time::timeout(Duration::from_secs(10), &mut report_call)
            .await
            .is_err()
        {
            report_call.abort();
        }
        end
    }
}

/// Carries out one command from the feed.
fn handle(executor: &Executor, drain: &watch::Sender<bool>, command: Command) {
    match command {
        Command::Assign(a) => {
            tracing::info!(job_id = a.job_id, attempt = a.attempt, language = %a.language, "assigned");
            executor.start(a);
        }
        Command::Cancel(c) => {
            tracing::info!(job_id = c.job_id, attempt = c.attempt, "cancel requested");
            executor.cancel(c.job_id, c.attempt);
        }
        Command::Drain(_) => {
            tracing::info!("scheduler asked us to drain");
            let _ = drain.send(true);
        }
        Command::Welcome(_) => tracing::warn!("unexpected second Welcome"),
    }
}

/// Resolves once draining was asked for and nothing is left to run or send.
async fn wait_drained(drain: &mut watch::Receiver<bool>, executor: &Executor) {
    loop {
        if *drain.borrow() {
            if executor.is_idle() {
                return;
            }
            // Re-check whenever a job ends.
            let idle = executor.idle.notified();
            tokio::select! {
                _ = idle => {}
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        } else if drain.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Feeds the report stream: job updates as they come, resource usage every `interval`, and
/// a `Draining` notice once draining starts. Ends only if the stream is gone.
async fn pump(
    tx: mpsc::Sender<pb::WorkerReport>,
    session: String,
    executor: Executor,
    cache: FileCache,
    interval: Duration,
    sampler: &mut Sampler,
    mut drain: watch::Receiver<bool>,
) {
    use pb::worker_report::Report;
    // Updates go out at most this many between two looks at the clock, so that a due
    // resource report never waits behind a burst of them: it is the worker's heartbeat.
    const UPDATES_PER_ROUND: usize = 64;
    let mut next_report = tokio::time::Instant::now();
    let mut told_draining = false;
    loop {
        if tokio::time::Instant::now() >= next_report {
            next_report = tokio::time::Instant::now() + interval;
            let usage = sampler.sample();
            let msg = pb::WorkerReport {
                session_id: session.clone(),
                report: Some(Report::Resources(usage)),
            };
            let stats = pb::WorkerReport {
                session_id: session.clone(),
                report: Some(Report::Cache(cache.report())),
            };
            if tx.send(msg).await.is_err() || tx.send(stats).await.is_err() {
                return;
            }
        }
        let wake = executor.wake.notified();
        let cache_changed = cache.changed.notified();
        // Reserve room first, so an update is only taken out when it can go.
        let mut sent = 0;
        while sent < UPDATES_PER_ROUND {
            let Ok(permit) = tx.reserve().await else {
                return;
            };
            let Some(update) = executor.next_update() else {
                break;
            };
            permit.send(pb::WorkerReport {
                session_id: session.clone(),
                report: Some(Report::Job(update)),
            });
            sent += 1;
        }
        if sent == UPDATES_PER_ROUND {
            continue; // more may be waiting: look at the clock, then go on
        }
        if *drain.borrow() && !told_draining {
            told_draining = true;
            let msg = pb::WorkerReport {
                session_id: session.clone(),
                report: Some(Report::Draining(pb::Draining {})),
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
        tokio::select! {
            _ = wake => {}
            // Inventory changes go out at once: routing depends on them.
            _ = cache_changed => {
                let msg = pb::WorkerReport { session_id: session.clone(), report: Some(Report::Cache(cache.report())) };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(next_report) => {}
            r = drain.changed() => if r.is_err() { return },
        }
    }
}
