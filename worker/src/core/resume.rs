//! When a broken download is tried again, and when it is given up.
//!
//! Two kinds of failure are told apart. A scheduler that cannot be reached (the connection
//! dropped, it is restarting, or a standby answered during a fail-over) is waited for as long
//! as a takeover can take, however many tries that needs: the file is not the worker's fault,
//! and an attempt given up here would count against the worker (its quarantine) and the job.
//! Anything else (a corrupt stream, a server error) is tried a few times. A missing file is
//! final.

use std::time::Duration;

/// Why a download broke, as far as the rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The scheduler has no such file.
    Missing,
    /// The scheduler could not be reached, or a standby answered.
    Unreachable,
    /// Anything else: a corrupt stream, a server error.
    Other,
}

/// The rule for resuming a broken transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    /// Tries again after failures other than an unreachable scheduler.
    pub max_resumes: u32,
    /// How long, from the first failure, an unreachable scheduler is waited for. Longer than
    /// a fail-over (a lease runs 8 s by default) and a restart.
    pub unreachable_for: Duration,
    /// The pause after the first failure; each next one is that much longer, up to
    /// `max_pause`.
    pub pause: Duration,
    pub max_pause: Duration,
}

impl Default for Resume {
    fn default() -> Self {
        Resume {
            max_resumes: 5,
            unreachable_for: Duration::from_secs(30),
            pause: Duration::from_millis(200),
            max_pause: Duration::from_secs(1),
        }
    }
}

impl Resume {
    /// After failure number `failures` (1 for the first), of kind `failure`, `since` the
    /// first failure of this download: the pause before trying again, or `None` to give up.
    pub fn next(&self, failure: Failure, failures: u32, since: Duration) -> Option<Duration> {
        let again = match failure {
            Failure::Missing => false,
            Failure::Unreachable => since < self.unreachable_for,
            Failure::Other => failures <= self.max_resumes,
        };
        again.then(|| self.pause.saturating_mul(failures).min(self.max_pause))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn an_unreachable_scheduler_is_waited_for_past_the_count_but_not_past_the_time() {
        let r = Resume::default();
        assert_eq!(
            r.next(Failure::Unreachable, 1, Duration::ZERO),
            Some(r.pause)
        );
        assert_eq!(r.next(Failure::Unreachable, 40, 29 * S), Some(r.max_pause));
        assert_eq!(r.next(Failure::Unreachable, 3, 30 * S), None);
    }

    #[test]
    fn other_failures_are_tried_a_few_times_and_a_missing_file_never() {
        let r = Resume::default();
        assert_eq!(r.next(Failure::Other, 2, Duration::ZERO), Some(2 * r.pause));
        assert_eq!(r.next(Failure::Other, 5, Duration::ZERO), Some(r.max_pause));
        assert_eq!(r.next(Failure::Other, 6, Duration::ZERO), None);
        assert_eq!(r.next(Failure::Missing, 1, Duration::ZERO), None);
    }
}
