//! The operator's scale commands, run for the core's scaling decisions: `sh -c COMMAND` with
//! the worker's name (`JUDGE_WORKER_NAME`), the worker token to use (`JUDGE_TOKEN`) and the
//! reason (`JUDGE_SCALE_REASON`) in its environment. Each runs on its own; its end is
//! logged, and a failure counted, but nothing waits for it: a new machine may take minutes
//! to join, and the core counts the worker as awaited until it does (or ten minutes pass).

use std::sync::Arc;

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
}

impl ScaleCommands {
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
        let spawned = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("JUDGE_WORKER_NAME", worker)
            .env("JUDGE_TOKEN", &*self.token)
            .env("JUDGE_SCALE_REASON", reason)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(false)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(direction, %worker, error = %e, "the scale command could not start");
                metrics.scaled(direction, "failed");
                return;
            }
        };
        let (worker, metrics) = (worker.clone(), metrics.clone());
        tokio::spawn(async move {
            match child.wait().await {
                Ok(status) if status.success() => {
                    tracing::info!(direction, %worker, "the scale command finished");
                }
                Ok(status) => {
                    tracing::error!(direction, %worker, %status, "the scale command failed");
                    metrics.scaled(direction, "failed");
                }
                Err(e) => {
                    tracing::error!(direction, %worker, error = %e, "the scale command was lost");
                    metrics.scaled(direction, "failed");
                }
            }
        });
    }
}
