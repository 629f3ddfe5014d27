//! Figures the scheduler counts as it goes (latencies, store batches), for `/metrics`.
//! Gauges of the moment (queue, fleet, consoles) are read at each scrape instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::core::{JobId, Millis};

/// Histograms shared by the driver (which observes) and `/metrics` (which reads).
#[derive(Clone)]
pub struct Metrics {
    /// Seconds from a job's submission to its first assignment.
    pub submit_to_assign: Histogram,
    /// Seconds from a job's submission to its end.
    pub submit_to_done: Histogram,
    /// Changes per store transaction.
    pub batch_size: Histogram,
    /// Seconds per store transaction.
    pub batch_seconds: Histogram,
    /// Jobs by type, state and verdict.
    pub jobs: crate::live::tally::JobTally,
    /// When each job this scheduler admitted was submitted, until it ends (bounded by the
    /// unfinished jobs; jobs recovered after a restart are not timed).
    submitted: Arc<Mutex<HashMap<JobId, Millis>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            submit_to_assign: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            submit_to_done: Histogram::new(exponential_buckets(0.01, 2.0, 20)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            jobs: Default::default(),
            submitted: Default::default(),
        }
    }
}

fn seconds(ms: Millis) -> f64 {
    ms.max(0) as f64 / 1000.0
}

impl Metrics {
    pub fn submitted(&self, job: JobId, at: Millis) {
        self.lock().insert(job, at);
    }

    /// An attempt was assigned: the first one counts.
    pub fn assigned(&self, job: JobId, attempt: u32, at: Millis) {
        if attempt != 1 {
            return;
        }
        if let Some(since) = self.lock().get(&job) {
            self.submit_to_assign.observe(seconds(at - since));
        }
    }

    pub fn finished(&self, job: JobId, at: Millis) {
        if let Some(since) = self.lock().remove(&job) {
            self.submit_to_done.observe(seconds(at - since));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Millis>> {
        self.submitted.lock().unwrap_or_else(|p| p.into_inner())
    }
}
