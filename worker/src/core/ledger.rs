//! The ledger of attempts: which ones the worker holds, and every update each has reported.
//!
//! gRPC client streams do not confirm single messages, so an update sent just before a
//! connection breaks may be lost. The ledger therefore keeps each attempt's updates (its
//! history) until the attempt is finished *and* the scheduler has stopped caring about it. On
//! reconnect the worker offers running and recently finished attempts; for every attempt the
//! scheduler adopts, the whole history is queued again. The scheduler drops duplicates
//! (results are fenced and numbered), so a result reaches the store exactly once.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use judge_common::pb;

/// An attempt: `(job_id, attempt)`.
pub type Key = (u64, u32);

/// Finished attempts remembered for re-delivery, by default.
pub const FINISHED_KEPT: usize = 512;

/// See the module documentation.
#[derive(Debug)]
pub struct Ledger {
    /// Updates waiting to go out on the current session.
    outbox: VecDeque<pb::JobUpdate>,
    /// Every update of each attempt still held, in order.
    history: HashMap<Key, Vec<pb::JobUpdate>>,
    running: BTreeSet<Key>,
    /// Finished attempts still held, oldest first.
    finished: VecDeque<Key>,
    finished_kept: usize,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new(FINISHED_KEPT)
    }
}

impl Ledger {
    /// A ledger that remembers up to `finished_kept` finished attempts.
    pub fn new(finished_kept: usize) -> Self {
        Ledger {
            outbox: VecDeque::new(),
            history: HashMap::new(),
            running: BTreeSet::new(),
            finished: VecDeque::new(),
            finished_kept,
        }
    }

    /// Records that an attempt starts; `false` if it is already known (a repeated
    /// assignment, running or finished), which must not start again.
    pub fn start(&mut self, key: Key) -> bool {
        if self.running.contains(&key) || self.history.contains_key(&key) {
            return false;
        }
        self.running.insert(key);
        true
    }

    /// Records an update of a held attempt and queues it for sending.
    pub fn push(&mut self, key: Key, update: pb::job_update::Update) {
        let msg = pb::JobUpdate {
            job_id: key.0,
            attempt: key.1,
            update: Some(update),
        };
        self.history.entry(key).or_default().push(msg.clone());
        self.outbox.push_back(msg);
    }

    /// The attempt has ended (its last update pushed). It stays held, for re-delivery,
    /// until `finished_kept` younger ones have ended.
    pub fn finish(&mut self, key: Key) {
        if !self.running.remove(&key) {
            return;
        }
        self.finished.push_back(key);
        while self.finished.len() > self.finished_kept {
            if let Some(old) = self.finished.pop_front() {
                self.history.remove(&old);
            }
        }
    }

    /// Attempts to offer when (re)connecting: running ones and finished ones still held,
    /// in order.
    pub fn held(&self) -> Vec<Key> {
        let mut keys: BTreeSet<Key> = self.running.clone();
        keys.extend(self.history.keys().copied());
        keys.into_iter().collect()
    }

    /// A new session began and the scheduler kept `adopted`. Returns the running attempts it
    /// did not keep (the caller stops them); forgets finished ones it did not keep; queues the
    /// adopted attempts' whole histories for (re-)delivery, replacing whatever was waiting.
    pub fn reconcile(&mut self, adopted: &[Key]) -> Vec<Key> {
        let keep: HashSet<Key> = adopted.iter().copied().collect();
        let stop: Vec<Key> = self
            .running
            .iter()
            .filter(|k| !keep.contains(k))
            .copied()
            .collect();
        let running = &self.running;
        self.history
            .retain(|k, _| keep.contains(k) || running.contains(k));
        let history = &self.history;
        self.finished.retain(|k| history.contains_key(k));
        let mut replay: Vec<&Key> = keep.iter().filter(|k| history.contains_key(k)).collect();
        replay.sort_unstable();
        self.outbox = replay
            .into_iter()
            .flat_map(|k| history[k].iter().cloned())
            .collect();
        stop
    }

    /// The next update to send, if any.
    pub fn next_update(&mut self) -> Option<pb::JobUpdate> {
        self.outbox.pop_front()
    }

    /// Attempts running now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Nothing runs and nothing waits to be sent.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty() && self.outbox.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::job_update::Update;

    fn accepted() -> Update {
        Update::Accepted(pb::Accepted {})
    }

    fn finished() -> Update {
        Update::Finished(pb::Finished {
            verdict: pb::Verdict::Ac as i32,
            message: String::new(),
            cancelled: false,
            score: None,
            run: None,
        })
    }

    fn drain(l: &mut Ledger) -> Vec<(Key, bool)> {
        std::iter::from_fn(|| l.next_update())
            .map(|u| {
                let fin = matches!(u.update, Some(Update::Finished(_)));
                ((u.job_id, u.attempt), fin)
            })
            .collect()
    }

    #[test]
    fn a_repeated_assignment_does_not_start_twice() {
        let mut l = Ledger::default();
        assert!(l.start((1, 1)));
        assert!(!l.start((1, 1)));
        l.push((1, 1), finished());
        l.finish((1, 1));
        assert!(
            !l.start((1, 1)),
            "a finished attempt still held is not started again"
        );
        assert!(l.start((1, 2)), "a new attempt of the same job is");
    }

    #[test]
    fn updates_go_out_in_order_and_idle_means_nothing_left() {
        let mut l = Ledger::default();
        l.start((1, 1));
        l.push((1, 1), accepted());
        l.push((1, 1), finished());
        assert!(!l.is_idle());
        l.finish((1, 1));
        assert!(!l.is_idle(), "two updates still wait to be sent");
        assert_eq!(drain(&mut l), vec![((1, 1), false), ((1, 1), true)]);
        assert!(l.is_idle());
        assert_eq!(
            l.held(),
            vec![(1, 1)],
            "finished but still held for re-delivery"
        );
    }

    #[test]
    fn reconcile_replays_adopted_histories_and_stops_the_rest() {
        let mut l = Ledger::default();
        for k in [(1, 1), (2, 1), (3, 1)] {
            l.start(k);
            l.push(k, accepted());
        }
        l.push((3, 1), finished());
        l.finish((3, 1));
        drain(&mut l); // sent on the old session, maybe lost
        let stop = l.reconcile(&[(1, 1), (3, 1)]);
        assert_eq!(stop, vec![(2, 1)], "running but not adopted: stop it");
        assert_eq!(
            drain(&mut l),
            vec![((1, 1), false), ((3, 1), false), ((3, 1), true)],
            "adopted attempts' whole histories, in attempt order"
        );
        // (2, 1) runs on until stopped; its history stays until it finishes.
        assert_eq!(l.held(), vec![(1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn finished_attempts_not_adopted_are_forgotten() {
        let mut l = Ledger::default();
        l.start((1, 1));
        l.push((1, 1), finished());
        l.finish((1, 1));
        assert!(l.reconcile(&[]).is_empty());
        assert!(l.held().is_empty());
        assert!(l.next_update().is_none());
    }

    #[test]
    fn only_so_many_finished_attempts_are_kept() {
        let mut l = Ledger::new(2);
        for job in 1..=3 {
            l.start((job, 1));
            l.push((job, 1), finished());
            l.finish((job, 1));
        }
        assert_eq!(l.held(), vec![(2, 1), (3, 1)]);
        assert_eq!(l.running(), 0);
    }
}
