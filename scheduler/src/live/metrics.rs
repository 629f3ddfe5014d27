//! Figures the scheduler counts as it goes (latencies, store batches), for `/metrics`.
//! Gauges of the moment (queue, fleet, consoles) are read at each scrape instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

use crate::core::{JobId, Millis, Persist, Priority};

/// A histogram per priority class (label `class`).
pub type ByClass = Family<Vec<(String, String)>, Histogram, fn() -> Histogram>;

fn wait_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 22))
}

/// Histograms shared by the driver (which observes) and `/metrics` (which reads).
#[derive(Clone)]
pub struct Metrics {
    /// Seconds from a job's submission to its first assignment.
    pub submit_to_assign: Histogram,
    /// Seconds a judging waited in the queue before its first assignment, per class (a
    /// rejudge's wait counts from the rejudge).
    pub queue_wait: ByClass,
    /// Seconds from a job's submission to its end.
    pub submit_to_done: Histogram,
    /// Changes per store transaction.
    pub batch_size: Histogram,
    /// Seconds per store transaction.
    pub batch_seconds: Histogram,
    /// Jobs by type, state and verdict.
    pub jobs: crate::live::tally::JobTally,
    /// Scaling decisions by direction (up, down) and outcome (decided, failed).
    pub scale: Family<Vec<(String, String)>, Counter>,
    /// Quarantines by outcome: quarantined, refused (the share bound), probe passed or failed.
    pub quarantines: Family<Vec<(String, String)>, Counter>,
    /// The lease's term, and whether this scheduler leads.
    pub leadership: crate::live::leadership::Leadership,
    /// Each unfinished judging this scheduler queued: when it was submitted, its class, and
    /// whether it has been assigned yet (bounded by the unfinished jobs; jobs recovered
    /// after a restart are not timed).
    submitted: Arc<Mutex<HashMap<JobId, Queued>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            submit_to_assign: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            queue_wait: Family::new_with_constructor(wait_buckets),
            submit_to_done: Histogram::new(exponential_buckets(0.01, 2.0, 20)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            jobs: Default::default(),
            quarantines: Default::default(),
            scale: Default::default(),
            leadership: Default::default(),
            submitted: Default::default(),
        }
    }
}

fn seconds(ms: Millis) -> f64 {
    ms.max(0) as f64 / 1000.0
}

/// A judging being timed.
#[derive(Debug, Clone, Copy)]
struct Queued {
    since: Millis,
    class: Priority,
    assigned: bool,
}

impl Metrics {
    /// A scaling decision (`direction` up or down) was made, or its command failed.
    pub fn scaled(&self, direction: &str, outcome: &str) {
        let labels = vec![
            ("direction".to_string(), direction.to_string()),
            ("outcome".to_string(), outcome.to_string()),
        ];
        self.scale.get_or_create(&labels).inc();
    }

    /// What became of a worker's quarantine.
    pub fn breaker(&self, news: &crate::core::BreakerNews) {
        use crate::core::BreakerNews as N;
        let outcome = match news {
            N::Quarantined(_) => "quarantined",
            N::Refused(_) => "refused",
            N::ProbePassed => "probe_passed",
            N::ProbeFailed(_) => "probe_failed",
        };
        self.quarantines
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }

    /// A committed change that puts a judging in the queue starts its clock: a
    /// submission (at its time) or a rejudge (now).
    pub fn entered_queue(&self, change: &Persist, now: Millis) {
        let (job, since, class) = match change {
            Persist::InsertJob {
                job_id, job, at, ..
            } => (*job_id, *at, job.priority),
            Persist::Rejudged {
                job_id, priority, ..
            } => (*job_id, now, *priority),
            _ => return,
        };
        let queued = Queued {
            since,
            class,
            assigned: false,
        };
        self.lock().insert(job, queued);
    }

    /// An attempt was assigned: the judging's first one counts.
    pub fn assigned(&self, job: JobId, at: Millis) {
        let mut all = self.lock();
        let Some(q) = all.get_mut(&job).filter(|q| !q.assigned) else {
            return;
        };
        q.assigned = true;
        let waited = seconds(at - q.since);
        let class = vec![("class".to_string(), q.class.as_str().to_string())];
        drop(all);
        self.submit_to_assign.observe(waited);
        self.queue_wait.get_or_create(&class).observe(waited);
    }

    pub fn finished(&self, job: JobId, at: Millis) {
        if let Some(q) = self.lock().remove(&job) {
            self.submit_to_done.observe(seconds(at - q.since));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Queued>> {
        self.submitted.lock().unwrap_or_else(|p| p.into_inner())
    }
}
