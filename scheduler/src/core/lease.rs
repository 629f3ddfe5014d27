//! When a leader must stop serving, and when it renews: plain arithmetic on an injected
//! monotonic clock (milliseconds), so the rule is tested without a database or a sleep.
//!
//! The rule: a lease renewed by a request that *began* at `t` lasts until `t + lease` on
//! this scheduler's clock (the database counts from later, so it never ends first). The
//! leader stops serving a margin before that, so a process paused just before its check
//! still cannot outlive the lease by much; a standby takes over only once the database says
//! the lease has run out, and every write the old leader still tries fails on the term.

/// The lease's lengths, checked (`renew_ms < lease_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTerms {
    /// How long a lease lasts from the start of the request that took or renewed it.
    pub lease_ms: u64,
    /// How often the leader renews.
    pub renew_ms: u64,
}

impl LeaseTerms {
    /// The defaults: renew every 2 s, a lease of 8 s (a takeover within 8 s of a crash,
    /// the first new assignment within 10 s; and three renewals may fail in a row).
    pub const DEFAULT: LeaseTerms = LeaseTerms {
        lease_ms: 8_000,
        renew_ms: 2_000,
    };

    /// How long before the lease's end the leader stops: a tenth of the lease, at most a
    /// second.
    pub fn margin_ms(&self) -> u64 {
        (self.lease_ms / 10).min(1_000)
    }
}

/// A leader's view of its own lease.
#[derive(Debug, Clone)]
pub struct LeaseTimer {
    terms: LeaseTerms,
    /// When the leader stops serving unless a renewal lands first.
    stop_at: u64,
    /// When the last successful renewal (or the takeover) began.
    renewed_from: u64,
}

impl LeaseTimer {
    /// The lease taken by a request that began at `began`.
    pub fn taken(terms: LeaseTerms, began: u64) -> LeaseTimer {
        let mut timer = LeaseTimer {
            terms,
            stop_at: 0,
            renewed_from: began,
        };
        timer.renewed(began);
        timer
    }

    /// A renewal that began at `began` succeeded.
    pub fn renewed(&mut self, began: u64) {
        self.renewed_from = self.renewed_from.max(began);
        let end = self.renewed_from.saturating_add(self.terms.lease_ms);
        self.stop_at = end.saturating_sub(self.terms.margin_ms());
    }

    /// When the next renewal is due.
    pub fn next_renewal(&self) -> u64 {
        self.renewed_from.saturating_add(self.terms.renew_ms)
    }

    /// When the leader must have stopped serving.
    pub fn stop_at(&self) -> u64 {
        self.stop_at
    }

    /// Whether the leader must stop serving now.
    pub fn must_stop(&self, now: u64) -> bool {
        now >= self.stop_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERMS: LeaseTerms = LeaseTerms::DEFAULT;

    #[test]
    fn a_lease_ends_a_margin_before_it_runs_out_counted_from_the_request() {
        let t = LeaseTimer::taken(TERMS, 1_000);
        assert_eq!(t.stop_at(), 1_000 + 8_000 - 800);
        assert!(!t.must_stop(8_199));
        assert!(t.must_stop(8_200));
        assert_eq!(t.next_renewal(), 3_000);
    }

    #[test]
    fn a_renewal_moves_the_end_from_when_it_began_not_when_it_answered() {
        let mut t = LeaseTimer::taken(TERMS, 0);
        // Began at 2 s, answered (say) at 7 s: the lease counts from 2 s.
        t.renewed(2_000);
        assert_eq!(t.stop_at(), 2_000 + 7_200);
        assert_eq!(t.next_renewal(), 4_000);
    }

    #[test]
    fn a_late_answer_of_an_older_renewal_never_shortens_the_lease() {
        let mut t = LeaseTimer::taken(TERMS, 0);
        t.renewed(4_000);
        t.renewed(2_000);
        assert_eq!(t.stop_at(), 4_000 + 7_200);
    }

    #[test]
    fn failed_renewals_leave_the_leader_to_stop_in_time() {
        let t = LeaseTimer::taken(TERMS, 0);
        // No renewal lands: at 7.2 s the leader stops, before the database's end at 8 s.
        assert!(!t.must_stop(7_199));
        assert!(t.must_stop(7_200));
    }

    #[test]
    fn the_margin_is_a_tenth_of_a_short_lease() {
        let terms = LeaseTerms {
            lease_ms: 3_000,
            renew_ms: 500,
        };
        assert_eq!(terms.margin_ms(), 300);
        assert_eq!(LeaseTimer::taken(terms, 0).stop_at(), 2_700);
    }
}
