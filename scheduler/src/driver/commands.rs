//! The operator's scale commands, run for the core's scaling decisions: `sh -c COMMAND` with
//! the worker's name (`JUDGE_WORKER_NAME`), the worker token to use (`JUDGE_TOKEN`) and the
//! reason (`JUDGE_SCALE_REASON`) in its environment. Each runs on its own, so judging never
//! waits for one: a new machine may take minutes to join, and the core counts the worker as
//! awaited until it does (or ten minutes pass). A command that fails, cannot start, or runs
//! past its timeout (then it is killed with its process group) is logged, counted, and
//! handed back to the core ([`ScaleCommands::take_failed`]), which backs off or tries again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::core::Scale;
use crate::live::metrics::Metrics;

/// What the scheduler runs to grow and shrink the fleet.
#[derive(Debug, Clone)]
pub struct ScaleCommands {
    /// Starts a worker with the given name.
    pub up: String,
    /// Stops the named worker's machine, once it is drained; `None`: draining is all.
    pub down: Option<String>,
    /// The worker token a started worker connects with.
    pub token: Arc<str>,
    /// How long a command may run.
    pub timeout: Duration,
    /// Decisions whose command failed, not yet told to the core. Bounded by the commands
    /// run: the core makes at most one decision a tick.
    failed: Arc<Mutex<Vec<Scale>>>,
}

impl ScaleCommands {
    pub fn new(up: String, down: Option<String>, token: Arc<str>, timeout: Duration) -> Self {
        ScaleCommands {
            up,
            down,
            token,
            timeout,
            failed: Arc::default(),
        }
    }

    /// The decisions whose command failed since the last call.
    pub fn take_failed(&self) -> Vec<Scale> {
        std::mem::take(&mut *self.failed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs the command for `decision`, in the background.
    pub fn run(&self, decision: &Scale, metrics: &Metrics) {
        let (direction, worker, reason, command) = match decision {
            Scale::Up { worker, reason } => ("up", worker, reason, Some(&self.up)),
            Scale::Down { worker, reason } => ("down", worker, reason, self.down.as_ref()),
        };
        tracing::info!(direction, %worker, %reason, "scaling the fleet");
        metrics.scaled(direction, "decided");
        let Some(command) = command else {
            return;
        };
        let failed = {
            let (failed, decision, metrics) =
                (self.failed.clone(), decision.clone(), metrics.clone());
            move |outcome: &'static str| {
                metrics.scaled(direction, outcome);
                failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(decision);
            }
        };
        let spawned = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("JUDGE_WORKER_NAME", worker)
            .env("JUDGE_TOKEN", &*self.token)
            .env("JUDGE_SCALE_REASON", reason)
            .stdin(std::process::Stdio::null())
            // A group of its own: a timeout kills what it started too.
            .process_group(0)
            .kill_on_drop(false)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(direction, %worker, error = %e, "the scale command could not start");
                failed("failed");
                return;
            }
        };
        let (worker, timeout) = (worker.clone(), self.timeout);
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, child.wait()).await {
                Ok(Ok(status)) if status.success() => {
                    tracing::info!(direction, %worker, "the scale command finished");
                }
                Ok(Ok(status)) => {
                    tracing::error!(direction, %worker, %status, "the scale command failed");
                    failed("failed");
                }
                Ok(Err(e)) => {
                    tracing::error!(direction, %worker, error = %e, "the scale command was lost");
                    failed("failed");
                }
                Err(_) => {
                    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                        let _ = nix::sys::signal::killpg(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    let _ = child.wait().await;
                    tracing::error!(
                        direction,
                        %worker,
                        timeout_s = timeout.as_secs_f64(),
                        "the scale command ran past its timeout and was killed"
                    );
                    failed("timed_out");
                }
            }
        });
    }
}
