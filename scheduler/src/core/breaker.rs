//! Quarantine: a circuit breaker per worker name.
//!
//! A judge error is the judge's fault, never the student's; but whose? A worker with a broken
//! sandbox or toolchain, or one that cannot fetch, gives judge errors on every problem, while
//! a broken problem (its validator crashing) gives them on every worker. So a judge error is
//! first a suspicion: the job is judged again on another worker, without counting against its
//! retry cap. If that worker gives any other verdict, the first worker gets a strike; if it
//! gives a judge error too, the problem is at fault and nobody does. Wrong answers and time
//! limits never count: they are the student's.
//!
//! A worker with `strikes` strikes within `window_ms` is quarantined: it gets no jobs (it
//! stays connected). After `cooldown_ms` it is given a known-answer probe (a program that
//! prints one line, `common/src/probe.rs`) and nothing else: the right answer lets it back,
//! anything else starts another cool-down. An admin may release it at any time. At most
//! `max_share` of the connected fleet
//! is quarantined this way (always at least one worker may be); past that the worker keeps
//! judging and the core says so ([`Strike::Refused`]), for the adapters to log and count.
//! The state is kept by name, so a quarantined worker that reconnects stays quarantined;
//! it is memory only: a scheduler restart forgives every worker.

use std::collections::{HashMap, VecDeque};

use super::types::{BreakerConfig, Millis};

/// The owner of probe jobs (admins see them like any job).
pub const PROBE_OWNER: &str = "_probe";

/// What a strike did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strike {
    /// Counted; the worker goes on.
    Counted,
    /// The worker is quarantined now, for this reason.
    Quarantined(String),
    /// It would have been quarantined, but as many workers as allowed already are.
    Refused(String),
}

/// Every worker's strikes and quarantine, by name.
#[derive(Debug)]
pub struct Breakers {
    config: BreakerConfig,
    by_name: HashMap<String, Breaker>,
}

#[derive(Debug, Default)]
struct Breaker {
    /// When each strike in the window came.
    strikes: VecDeque<Millis>,
    /// Why it is quarantined, while it is.
    quarantined: Option<String>,
    /// When its current cool-down began.
    since: Millis,
    /// A probe is out: no other until it ends.
    probing: bool,
}

impl Breakers {
    pub fn new(config: BreakerConfig) -> Self {
        Breakers {
            config,
            by_name: HashMap::new(),
        }
    }

    /// Why `name` is quarantined, if it is.
    pub fn quarantined(&self, name: &str) -> Option<&str> {
        self.by_name.get(name)?.quarantined.as_deref()
    }

    /// How many workers are quarantined.
    pub fn count(&self) -> usize {
        self.by_name
            .values()
            .filter(|b| b.quarantined.is_some())
            .count()
    }

    /// A strike against `name` at `now`: `why` is its judge error, `connected` the workers
    /// connected now (for the share bound).
    pub fn strike(&mut self, name: &str, now: Millis, why: &str, connected: usize) -> Strike {
        let quarantined = self.count();
        let config = self.config;
        let b = self.by_name.entry(name.to_string()).or_default();
        if b.quarantined.is_some() {
            return Strike::Counted;
        }
        b.strikes.push_back(now);
        while b
            .strikes
            .front()
            .is_some_and(|t| now - t > config.window_ms)
        {
            b.strikes.pop_front();
        }
        if (b.strikes.len() as u64) < u64::from(config.strikes) {
            return Strike::Counted;
        }
        let window_s = config.window_ms / 1000;
        let reason = format!(
            "{} judge errors in {window_s} s that other workers did not give (last: {why})",
            b.strikes.len()
        );
        let allowed = ((connected as f64 * config.max_share).floor() as usize).max(1);
        if quarantined + 1 > allowed {
            return Strike::Refused(format!(
                "{reason}; not quarantined: {quarantined} of {connected} workers already are \
                 (max share {})",
                config.max_share
            ));
        }
        b.strikes.clear();
        b.quarantined = Some(reason.clone());
        b.since = now;
        b.probing = false;
        Strike::Quarantined(reason)
    }

    /// Quarantined workers among `names` whose cool-down is over and that have no probe
    /// out: each is marked as probing now.
    pub fn due_probes<'a>(
        &mut self,
        names: impl Iterator<Item = &'a str>,
        now: Millis,
    ) -> Vec<String> {
        let cooldown = self.config.cooldown_ms;
        let mut due = Vec::new();
        for name in names {
            let Some(b) = self.by_name.get_mut(name) else {
                continue;
            };
            if b.quarantined.is_some() && !b.probing && now - b.since >= cooldown {
                b.probing = true;
                due.push(name.to_string());
            }
        }
        due
    }

    /// `name`'s probe failed (or never ran): another cool-down from `now`.
    pub fn probe_failed(&mut self, name: &str, now: Millis) {
        if let Some(b) = self.by_name.get_mut(name) {
            b.since = now;
            b.probing = false;
        }
    }

    /// Lifts `name`'s quarantine and forgets its strikes; `false` if it was not quarantined.
    pub fn release(&mut self, name: &str) -> bool {
        match self.by_name.get_mut(name) {
            Some(b) if b.quarantined.is_some() => {
                b.quarantined = None;
                b.strikes.clear();
                b.probing = false;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(BreakerConfig::DEFAULT)
    }

    #[test]
    fn strikes_within_the_window_quarantine_and_older_ones_expire() {
        let mut b = breakers();
        assert_eq!(b.strike("a", 0, "x", 10), Strike::Counted);
        assert_eq!(b.strike("a", 100_000, "x", 10), Strike::Counted);
        // The first strike is out of the window by the third.
        assert_eq!(b.strike("a", 601_000, "x", 10), Strike::Counted);
        let third = b.strike("a", 602_000, "no compiler", 10);
        assert!(
            matches!(&third, Strike::Quarantined(why) if why.contains("3 judge errors") && why.contains("no compiler")),
            "{third:?}"
        );
        assert!(b.quarantined("a").is_some());
        assert_eq!(b.count(), 1);
        assert!(b.release("a"));
        assert!(!b.release("a"));
        assert_eq!(b.quarantined("a"), None);
    }

    #[test]
    fn a_probe_is_due_once_per_cool_down() {
        let mut b = breakers();
        for t in 0..3 {
            b.strike("a", t, "x", 10);
        }
        let names = ["a", "b"];
        assert!(b.due_probes(names.into_iter(), 299_999).is_empty());
        assert_eq!(b.due_probes(names.into_iter(), 300_002), vec!["a"]);
        assert!(
            b.due_probes(names.into_iter(), 900_000).is_empty(),
            "one out at a time"
        );
        b.probe_failed("a", 900_000);
        assert!(b.due_probes(names.into_iter(), 1_100_000).is_empty());
        assert_eq!(b.due_probes(names.into_iter(), 1_200_000), vec!["a"]);
    }

    #[test]
    fn at_most_a_share_of_the_fleet_is_quarantined_and_always_one_may_be() {
        let mut b = breakers();
        let mut hit = |name: &str, connected| {
            (0..3)
                .map(|t| b.strike(name, t, "x", connected))
                .last()
                .expect("three strikes")
        };
        // Two workers: one may be quarantined (20 % would be none).
        assert!(matches!(hit("a", 2), Strike::Quarantined(_)));
        assert!(matches!(hit("b", 2), Strike::Refused(why) if why.contains("1 of 2")));
        // Ten workers: two may be.
        assert!(matches!(hit("c", 10), Strike::Quarantined(_)));
        assert!(matches!(hit("d", 10), Strike::Refused(_)));
    }
}
