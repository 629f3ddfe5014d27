//! Autoscaling: when the fleet grows and when it shrinks, decided at each tick.
//!
//! Up: when the queued work (queued jobs times the mean time an attempt has taken) would take
//! the connected slots longer than `backlog_ms` to clear, and that has lasted `sustain_ms`,
//! one worker is asked for (the adapter runs the operator's up command), unless the fleet,
//! counting the workers asked for that have not joined yet, is at `max_workers`. Below
//! `min_workers` one is asked for at once. Down: a worker the scaler started (its name has
//! the scaler's prefix) that has been idle for `idle_ms`, while nothing is queued and the
//! fleet is above `min_workers`, is drained and the down command runs. A cool-down after
//! each decision in one direction keeps the fleet from flapping. Workers started by hand are
//! never scaled down. Nothing is decided in the first `settle_ms` after the scheduler
//! starts: its workers are reconnecting (a restart is not an empty fleet).

use std::collections::HashMap;

use super::types::{Millis, Scale, ScaleConfig};

/// A worker asked for is given this long to join; then it no longer counts.
const JOIN_MS: Millis = 600_000;
/// The longest wait after failed scale commands (the backoff doubles up to it).
const MAX_BACKOFF_MS: Millis = 3_600_000;
/// Tries of a down command before the scaler gives up on it (and says so).
pub const DOWN_TRIES: u32 = 5;
/// The mean attempt time assumed before any attempt has ended.
const FIRST_GUESS_MS: f64 = 10_000.0;

/// What the scaler sees of one connected worker at a tick.
#[derive(Debug, Clone)]
pub struct Seen<'a> {
    pub name: &'a str,
    pub slots: u32,
    pub running: usize,
    /// Takes jobs now (neither draining nor quarantined).
    pub takes_jobs: bool,
}

/// The scaler's memory between ticks.
#[derive(Debug)]
pub struct Scaler {
    config: ScaleConfig,
    /// Since when the queue has been over the bound.
    over_since: Option<Millis>,
    last_up: Option<Millis>,
    last_down: Option<Millis>,
    /// Workers asked for that have not joined yet, and when.
    pending: Vec<(String, Millis)>,
    /// Since when each connected worker has run nothing.
    idle_since: HashMap<String, Millis>,
    /// Mean time of an attempt, moving.
    mean_ms: f64,
    /// Names handed out so far.
    started: u64,
    /// The first tick, and how long after it nothing is decided.
    first_tick: Option<Millis>,
    settle_ms: Millis,
    /// Up commands failed in a row (reset when a started worker joins), and no up decision
    /// before the time their backoff ends.
    up_failures: u32,
    up_after: Millis,
    /// Down commands that failed, to be tried again.
    down_again: Vec<DownAgain>,
}

/// A down command that failed.
#[derive(Debug)]
struct DownAgain {
    worker: String,
    /// Tries so far.
    tries: u32,
    /// When to try again; once tried, when to forget it if no failure is heard of.
    at: Millis,
    tried: bool,
}

/// After `failures` in a row: the cool-down, doubled for each failure past the first, at
/// most an hour (and at least a second, whatever the cool-down).
fn backoff(cooldown_ms: Millis, failures: u32) -> Millis {
    let doubled = cooldown_ms
        .max(1_000)
        .saturating_mul(1 << failures.saturating_sub(1).min(12));
    doubled.min(MAX_BACKOFF_MS)
}

impl Scaler {
    /// A scaler that decides nothing for `settle_ms` after its first tick.
    pub fn new(config: ScaleConfig, settle_ms: Millis) -> Self {
        Scaler {
            config,
            over_since: None,
            last_up: None,
            last_down: None,
            pending: Vec::new(),
            idle_since: HashMap::new(),
            mean_ms: FIRST_GUESS_MS,
            started: 0,
            first_tick: None,
            settle_ms,
            up_failures: 0,
            up_after: Millis::MIN,
            down_again: Vec::new(),
        }
    }

    /// A scale command failed at `now`. Up: its worker will not come, and the next up
    /// decision waits a backoff that doubles with each failure in a row. Down: the command
    /// is tried again after a backoff, up to [`DOWN_TRIES`] tries; `Some(tries)` when that
    /// was the last.
    pub fn failed(&mut self, decision: &Scale, now: Millis) -> Option<u32> {
        match decision {
            Scale::Up { worker, .. } => {
                self.pending.retain(|(n, _)| n != worker);
                self.up_failures = self.up_failures.saturating_add(1);
                self.up_after = now + backoff(self.config.cooldown_ms, self.up_failures);
                None
            }
            Scale::Down { worker, .. } => {
                let tries = match self.down_again.iter().position(|d| &d.worker == worker) {
                    Some(i) => self.down_again.swap_remove(i).tries,
                    None => 1,
                };
                if tries >= DOWN_TRIES {
                    return Some(tries);
                }
                self.down_again.push(DownAgain {
                    worker: worker.clone(),
                    tries,
                    at: now + backoff(self.config.cooldown_ms, tries),
                    tried: false,
                });
                None
            }
        }
    }

    /// An attempt ended after `ms`: the mean moves a tenth of the way.
    pub fn attempt_took(&mut self, ms: Millis) {
        self.mean_ms += (ms.max(0) as f64 - self.mean_ms) * 0.1;
    }

    /// A worker joined: it is no longer awaited (and if the scaler started it, up commands
    /// work again).
    pub fn joined(&mut self, name: &str) {
        if self.pending.iter().any(|(n, _)| n == name) {
            self.up_failures = 0;
        }
        self.pending.retain(|(n, _)| n != name);
    }

    fn cooled(last: Option<Millis>, now: Millis, cooldown: Millis) -> bool {
        last.is_none_or(|t| now - t >= cooldown)
    }

    /// The decision at `now` (at most one), given the connected workers and the queue.
    pub fn tick(&mut self, workers: &[Seen<'_>], queued: usize, now: Millis) -> Option<Scale> {
        let c = self.config.clone();
        let first = *self.first_tick.get_or_insert(now);
        if now - first < self.settle_ms {
            return None;
        }
        self.pending.retain(|(_, at)| now - at < JOIN_MS);
        self.idle_since
            .retain(|name, _| workers.iter().any(|w| w.name == name));
        for w in workers {
            if w.running == 0 {
                self.idle_since.entry(w.name.to_string()).or_insert(now);
            } else {
                self.idle_since.remove(w.name);
            }
        }
        if let Some(retry) = self.down_retry(now) {
            return Some(retry);
        }
        let fleet = (workers.len() + self.pending.len()) as u64;
        let slots: u64 = workers
            .iter()
            .filter(|w| w.takes_jobs)
            .map(|w| u64::from(w.slots))
            .sum();
        let clear_ms = if queued == 0 {
            0.0
        } else if slots == 0 {
            f64::INFINITY
        } else {
            queued as f64 * self.mean_ms / slots as f64
        };
        let over = clear_ms > c.backlog_ms as f64;
        if !over {
            self.over_since = None;
        }
        let up_ok = Self::cooled(self.last_up, now, c.cooldown_ms) && now >= self.up_after;
        if fleet < u64::from(c.min_workers) && up_ok {
            let reason = format!("{fleet} workers, below the minimum of {}", c.min_workers);
            return Some(self.up(reason, now));
        }
        if over {
            let since = *self.over_since.get_or_insert(now);
            if now - since >= c.sustain_ms && fleet < u64::from(c.max_workers) && up_ok {
                let clear = if clear_ms.is_finite() {
                    format!("about {:.0} s", clear_ms / 1000.0)
                } else {
                    "no slot".to_string()
                };
                let reason = format!(
                    "{queued} jobs queued, {clear} of work for {slots} slots (bound {} s) for {} s",
                    c.backlog_ms / 1000,
                    (now - since) / 1000
                );
                self.over_since = None;
                return Some(self.up(reason, now));
            }
        }
        let down_ok = Self::cooled(self.last_down, now, c.cooldown_ms);
        if queued == 0 && fleet > u64::from(c.min_workers) && down_ok {
            let idlest = workers
                .iter()
                .filter(|w| w.takes_jobs && w.name.starts_with(&c.prefix))
                .filter_map(|w| Some((w.name, *self.idle_since.get(w.name)?)))
                .filter(|(_, since)| now - since >= c.idle_ms)
                .min_by_key(|(name, since)| (*since, name.to_string()));
            if let Some((name, since)) = idlest {
                self.last_down = Some(now);
                self.idle_since.remove(name);
                let reason = format!(
                    "idle for {} s with nothing queued; {fleet} workers, the minimum is {}",
                    (now - since) / 1000,
                    c.min_workers
                );
                return Some(Scale::Down {
                    worker: name.to_string(),
                    reason,
                });
            }
        }
        None
    }

    /// A failed down command due to be tried again: it comes before any other decision, as
    /// its machine may be running for nothing. A retry not heard of again within the join
    /// time worked, and is forgotten.
    fn down_retry(&mut self, now: Millis) -> Option<Scale> {
        self.down_again.retain(|d| !(d.tried && now >= d.at));
        let d = self
            .down_again
            .iter_mut()
            .find(|d| !d.tried && now >= d.at)?;
        d.tries += 1;
        d.tried = true;
        d.at = now + JOIN_MS;
        Some(Scale::Down {
            worker: d.worker.clone(),
            reason: format!("the down command failed; try {} of {DOWN_TRIES}", d.tries),
        })
    }

    fn up(&mut self, reason: String, now: Millis) -> Scale {
        self.started += 1;
        let worker = format!("{}{}-{}", self.config.prefix, now, self.started);
        self.pending.push((worker.clone(), now));
        self.last_up = Some(now);
        Scale::Up { worker, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScaleConfig {
        ScaleConfig {
            min_workers: 1,
            max_workers: 3,
            backlog_ms: 60_000,
            sustain_ms: 30_000,
            idle_ms: 300_000,
            cooldown_ms: 120_000,
            prefix: "auto-".into(),
        }
    }

    fn seen(name: &str, running: usize) -> Seen<'_> {
        Seen {
            name,
            slots: 2,
            running,
            takes_jobs: true,
        }
    }

    #[test]
    fn below_the_minimum_one_is_asked_for_once_the_fleet_had_time_to_reconnect() {
        let mut s = Scaler::new(config(), 10_000);
        assert_eq!(
            s.tick(&[], 0, 0),
            None,
            "just started: workers are reconnecting"
        );
        assert_eq!(s.tick(&[], 0, 9_999), None);
        let mut s = Scaler::new(config(), 0);
        let up = s.tick(&[], 0, 0);
        assert!(
            matches!(&up, Some(Scale::Up { reason, .. }) if reason.contains("below the minimum"))
        );
        // Awaited, it counts: no second one, even after the cool-down.
        assert_eq!(s.tick(&[], 0, 200_000), None);
        // Never joined: after ten minutes it no longer counts.
        assert!(matches!(s.tick(&[], 0, 700_000), Some(Scale::Up { .. })));
    }

    #[test]
    fn a_sustained_backlog_asks_for_workers_up_to_the_most_with_a_cool_down() {
        let mut s = Scaler::new(config(), 0);
        s.attempt_took(10_000);
        let w = [seen("static", 2)];
        // 20 jobs of ~10 s on 2 slots: 100 s of work, over the 60 s bound.
        assert_eq!(s.tick(&w, 20, 0), None, "not sustained yet");
        assert_eq!(s.tick(&w, 20, 29_000), None);
        let up = s.tick(&w, 20, 30_000);
        let Some(Scale::Up { worker, reason }) = up else {
            panic!("{up:?}")
        };
        assert!(worker.starts_with("auto-"), "{worker}");
        assert!(
            reason.contains("20 jobs queued") && reason.contains("2 slots"),
            "{reason}"
        );
        // The cool-down holds the next, though the backlog stays.
        assert_eq!(s.tick(&w, 20, 100_000), None);
        let joined = [seen("static", 2), seen(&worker, 2)];
        s.joined(&worker);
        // 40 jobs on 4 slots: still 100 s, over since 100 s; once cooled, a third.
        assert_eq!(s.tick(&joined, 40, 149_000), None);
        assert!(matches!(
            s.tick(&joined, 40, 150_000),
            Some(Scale::Up { .. })
        ));
        // Three workers (one awaited): the most; no fourth.
        assert_eq!(s.tick(&joined, 40, 400_000), None);
        assert_eq!(s.tick(&joined, 40, 500_000), None);
    }

    #[test]
    fn an_idle_started_worker_above_the_minimum_goes_and_a_static_one_never() {
        let mut s = Scaler::new(config(), 0);
        let w = [seen("static", 0), seen("auto-1", 0), seen("auto-2", 1)];
        assert_eq!(s.tick(&w, 0, 0), None);
        assert_eq!(s.tick(&w, 0, 299_000), None, "not idle long enough");
        let down = s.tick(&w, 0, 300_000);
        assert!(
            matches!(&down, Some(Scale::Down { worker, reason }) if worker == "auto-1" && reason.contains("idle for 300 s")),
            "{down:?}"
        );
        // Nothing while jobs are queued, nor within the cool-down.
        let w = [seen("static", 0), seen("auto-2", 0)];
        assert_eq!(s.tick(&w, 0, 350_000), None);
        assert_eq!(s.tick(&w, 3, 900_000), None);
        // auto-2 idle since 350 s (it was running before): goes at 650 s, cooled by then.
        assert!(
            matches!(s.tick(&w, 0, 910_000), Some(Scale::Down { worker, .. }) if worker == "auto-2")
        );
        // The static one stays, whatever its idleness: it is also the minimum.
        let w = [seen("static", 0)];
        assert_eq!(s.tick(&w, 0, 2_000_000), None);
    }

    #[test]
    fn failed_up_commands_back_off_doubling_until_a_started_worker_joins() {
        let mut s = Scaler::new(config(), 0);
        let Some(first) = s.tick(&[], 0, 0) else {
            panic!("below the minimum: one asked for")
        };
        s.failed(&first, 1_000);
        // Not awaited any more, but the next waits the backoff (the cool-down, 120 s).
        assert_eq!(s.tick(&[], 0, 120_999), None);
        let Some(second) = s.tick(&[], 0, 121_000) else {
            panic!("asked again after the backoff")
        };
        s.failed(&second, 122_000);
        // Twice in a row: twice the wait.
        assert_eq!(s.tick(&[], 0, 361_999), None);
        let Some(Scale::Up { worker, .. }) = s.tick(&[], 0, 362_000) else {
            panic!("asked again after the doubled backoff")
        };
        // It joins: the count starts over; a later failure waits the cool-down only.
        s.joined(&worker);
        let Some(fourth) = s.tick(&[], 0, 500_000) else {
            panic!("below the minimum again")
        };
        s.failed(&fourth, 500_000);
        assert!(matches!(s.tick(&[], 0, 620_000), Some(Scale::Up { .. })));
        // However many failures, at most an hour between tries.
        assert_eq!(backoff(120_000, 40), MAX_BACKOFF_MS);
        assert_eq!(backoff(0, 1), 1_000, "at least a second");
    }

    #[test]
    fn a_failed_down_command_is_tried_again_with_backoff_and_given_up_after_five_tries() {
        let mut s = Scaler::new(config(), 0);
        let static_one = [seen("static", 0)];
        let down = Scale::Down {
            worker: "auto-1".into(),
            reason: "idle".into(),
        };
        s.failed(&down, 0);
        assert_eq!(s.tick(&static_one, 0, 119_999), None);
        let mut at = 120_000;
        for tries in 2..=DOWN_TRIES {
            let again = s.tick(&static_one, 0, at);
            let Some(Scale::Down { worker, reason }) = &again else {
                panic!("try {tries}: {again:?}")
            };
            assert_eq!(worker, "auto-1");
            assert!(reason.contains(&format!("try {tries} of 5")), "{reason}");
            let last = s.failed(again.as_ref().unwrap_or(&down), at);
            assert_eq!(last, (tries == DOWN_TRIES).then_some(DOWN_TRIES));
            at += backoff(120_000, tries);
        }
        // The fifth try failed too: no sixth.
        assert_eq!(s.tick(&static_one, 0, at + 10 * MAX_BACKOFF_MS), None);
        // A retry that is not heard of again worked: it is forgotten.
        let mut s = Scaler::new(config(), 0);
        s.failed(&down, 0);
        assert!(s.tick(&static_one, 0, 120_000).is_some());
        assert_eq!(s.tick(&static_one, 0, 120_000 + JOIN_MS), None);
        assert!(s.down_again.is_empty());
    }
}
