//! Connected workers, indexed for routing, and the last word on those that left (for
//! `ListWorkers`).
//!
//! Routing must not cost more per job as the fleet grows, so the table keeps three indexes
//! beside the workers themselves, each updated by the one method that changes what it
//! depends on (hence the private fields):
//! - per *offer* (a job type and a language, as interned ids), the workers with a free slot,
//!   ordered by [`Rank`]: the best cold candidate for a job is the first of its offer;
//! - per file, the workers that hold it: a job's warm candidates come from its files;
//! - the total of free slots.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use judge_common::pb;

use super::types::{JobId, Millis, SessionId, Usage, WorkerHello, WorkerSnapshot};

/// A job type and a language, as interned ids: what a worker offers and a job needs.
pub type Offer = (u32, u32);

/// One live `Connect` stream.
#[derive(Debug, Clone)]
pub struct Worker {
    pub hello: WorkerHello,
    running: BTreeSet<JobId>,
    draining: bool,
    /// Why it gets no jobs, while quarantined.
    quarantined: Option<String>,
    usage: Usage,
    /// When the worker last reported anything; a silent worker is lost.
    pub last_report: Millis,
    /// When this worker was last given a job, for fair tie-breaking between equals.
    last_assigned: u64,
    /// Files in its cache, from its reports (and the files of jobs sent to it since).
    inventory: HashSet<String>,
    pub cache: pb::CacheStats,
    /// What it offers, as interned ids (set when it joins the table).
    offers: Vec<Offer>,
}

impl Worker {
    /// A worker as it connects: nothing running, its cache as it says.
    pub fn new(hello: WorkerHello, now: Millis) -> Worker {
        Worker {
            inventory: hello.cached.iter().cloned().collect(),
            cache: hello.cache,
            hello,
            running: BTreeSet::new(),
            draining: false,
            quarantined: None,
            usage: Usage::default(),
            last_report: now,
            last_assigned: 0,
            offers: Vec::new(),
        }
    }

    pub fn has_free_slot(&self) -> bool {
        self.takes_jobs() && (self.running.len() as u64) < u64::from(self.hello.slots)
    }

    /// Why it is quarantined, if it is.
    pub fn quarantined(&self) -> Option<&str> {
        self.quarantined.as_deref()
    }

    /// Whether it has a slot free, quarantined or not (a probe may go there).
    pub fn has_room(&self) -> bool {
        !self.draining && (self.running.len() as u64) < u64::from(self.hello.slots)
    }

    /// Neither draining nor quarantined.
    pub fn takes_jobs(&self) -> bool {
        !self.draining && self.quarantined.is_none()
    }

    pub fn draining(&self) -> bool {
        self.draining
    }

    pub fn running(&self) -> &BTreeSet<JobId> {
        &self.running
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    pub fn last_assigned(&self) -> u64 {
        self.last_assigned
    }

    pub fn holds(&self, sha: &str) -> bool {
        self.inventory.contains(sha)
    }

    /// Whether it takes jobs of this offer at all (ignoring free slots).
    pub fn offers(&self, offer: Offer) -> bool {
        self.takes_jobs() && self.offers.contains(&offer)
    }

    fn free(&self) -> u64 {
        if !self.takes_jobs() {
            return 0;
        }
        u64::from(self.hello.slots).saturating_sub(self.running.len() as u64)
    }

    fn rank(&self, session: SessionId) -> Rank {
        Rank {
            running: self.running.len() as u64,
            slots: u64::from(self.hello.slots.max(1)),
            memory_free: self.usage.memory_free_bytes,
            last_assigned: self.last_assigned,
            session,
        }
    }

    pub fn snapshot(&self, connected: bool) -> WorkerSnapshot {
        WorkerSnapshot {
            name: self.hello.name.clone(),
            connected,
            slots: self.hello.slots,
            running: self.running.len() as u32,
            job_types: self.hello.job_types.clone(),
            languages: self.hello.languages.clone(),
            usage: self.usage,
            draining: self.draining,
            quarantined: self.quarantined.clone(),
            cache: self.cache,
        }
    }
}

/// How good a free worker is for a job that none of the candidates holds data for: least
/// loaded (running / slots, compared without floats), then most free memory, then the one
/// that waited longest since its last job (so ties rotate), then the session.
#[derive(Debug, Clone, Copy)]
pub struct Rank {
    running: u64,
    slots: u64,
    memory_free: u64,
    last_assigned: u64,
    pub session: SessionId,
}

impl Rank {
    /// The order of the least-loaded policy, which ignores memory: load, then the longest
    /// wait since a job, then the session.
    pub fn fair(&self, other: &Rank) -> Ordering {
        self.by_load(other)
            .then(self.last_assigned.cmp(&other.last_assigned))
            .then(self.session.cmp(&other.session))
    }

    /// Orders by load alone: `running / slots` of each.
    pub fn by_load(&self, other: &Rank) -> Ordering {
        let a = u128::from(self.running) * u128::from(other.slots);
        let b = u128::from(other.running) * u128::from(self.slots);
        a.cmp(&b)
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Self) -> Ordering {
        self.by_load(other)
            .then(other.memory_free.cmp(&self.memory_free))
            .then(self.last_assigned.cmp(&other.last_assigned))
            .then(self.session.cmp(&other.session))
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Rank {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Rank {}

#[derive(Debug, Default)]
pub struct WorkerTable {
    live: HashMap<SessionId, Worker>,
    by_name: HashMap<String, SessionId>,
    /// Workers that disconnected, by name, as they were last seen.
    departed: BTreeMap<String, WorkerSnapshot>,
    /// Interned job types and languages.
    ids: HashMap<String, u32>,
    /// Per offer, its workers with a free slot, best first.
    free_by_offer: HashMap<Offer, BTreeSet<Rank>>,
    /// Per file, the workers holding it.
    holders: HashMap<String, HashSet<SessionId>>,
    free_slots: u64,
}

impl WorkerTable {
    pub fn get(&self, session: SessionId) -> Option<&Worker> {
        self.live.get(&session)
    }

    pub fn session_of(&self, name: &str) -> Option<SessionId> {
        self.by_name.get(name).copied()
    }

    /// The offer of a job type and language, if any worker ever offered both.
    pub fn offer(&self, job_type: &str, language: &str) -> Option<Offer> {
        Some((*self.ids.get(job_type)?, *self.ids.get(language)?))
    }

    fn intern(&mut self, s: &str) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(s.to_string()).or_insert(next)
    }

    pub fn insert(&mut self, session: SessionId, mut worker: Worker) {
        let types: Vec<u32> = worker
            .hello
            .job_types
            .iter()
            .map(|t| self.intern(t))
            .collect();
        let langs: Vec<u32> = worker
            .hello
            .languages
            .iter()
            .map(|l| self.intern(l))
            .collect();
        worker.offers = types
            .iter()
            .flat_map(|&t| langs.iter().map(move |&l| (t, l)))
            .collect();
        worker.offers.sort_unstable();
        worker.offers.dedup();
        for sha in &worker.inventory {
            self.holders.entry(sha.clone()).or_default().insert(session);
        }
        self.departed.remove(&worker.hello.name);
        self.by_name.insert(worker.hello.name.clone(), session);
        self.index(session, &worker);
        self.live.insert(session, worker);
    }

    /// Removes a live worker, remembering how it looked when it left.
    pub fn remove(&mut self, session: SessionId) -> Option<Worker> {
        let worker = self.live.remove(&session)?;
        self.unindex(session, &worker);
        for sha in &worker.inventory {
            self.drop_holder(sha, session);
        }
        if self.by_name.get(&worker.hello.name) == Some(&session) {
            self.by_name.remove(&worker.hello.name);
        }
        let mut snap = worker.snapshot(false);
        snap.running = 0;
        self.departed.insert(worker.hello.name.clone(), snap);
        Some(worker)
    }

    fn index(&mut self, session: SessionId, w: &Worker) {
        let free = w.free();
        self.free_slots += free;
        if free > 0 {
            let rank = w.rank(session);
            for offer in &w.offers {
                self.free_by_offer.entry(*offer).or_default().insert(rank);
            }
        }
    }

    fn unindex(&mut self, session: SessionId, w: &Worker) {
        let free = w.free();
        self.free_slots -= free;
        if free > 0 {
            let rank = w.rank(session);
            for offer in &w.offers {
                if let Some(set) = self.free_by_offer.get_mut(offer) {
                    set.remove(&rank);
                }
            }
        }
    }

    fn drop_holder(&mut self, sha: &str, session: SessionId) {
        if let Some(set) = self.holders.get_mut(sha) {
            set.remove(&session);
            if set.is_empty() {
                self.holders.remove(sha);
            }
        }
    }

    /// Changes what the rank indexes depend on, keeping them true.
    fn reindex<R>(&mut self, session: SessionId, f: impl FnOnce(&mut Worker) -> R) -> Option<R> {
        let mut w = self.live.remove(&session)?;
        self.unindex(session, &w);
        let r = f(&mut w);
        self.index(session, &w);
        self.live.insert(session, w);
        Some(r)
    }

    /// Every worker's last report moves `by` later: time the scheduler did not listen.
    pub fn forgive(&mut self, by: Millis) {
        for w in self.live.values_mut() {
            w.last_report = w.last_report.saturating_add(by);
        }
    }

    /// The worker said something: it is alive. `false` if it is not connected.
    pub fn touch(&mut self, session: SessionId, now: Millis) -> bool {
        match self.live.get_mut(&session) {
            Some(w) => {
                w.last_report = now;
                true
            }
            None => false,
        }
    }

    pub fn set_usage(&mut self, session: SessionId, usage: Usage, now: Millis) {
        self.reindex(session, |w| {
            w.usage = usage;
            w.last_report = now;
        });
    }

    pub fn set_draining(&mut self, session: SessionId) {
        self.reindex(session, |w| w.draining = true);
    }

    /// Quarantines the worker (`Some(reason)`) or lifts it (`None`).
    pub fn set_quarantined(&mut self, session: SessionId, reason: Option<String>) {
        self.reindex(session, |w| w.quarantined = reason);
    }

    /// The worker's cache gained and lost files.
    pub fn change_cache(
        &mut self,
        session: SessionId,
        added: Vec<String>,
        removed: Vec<String>,
        stats: pb::CacheStats,
        now: Millis,
    ) {
        let Some(w) = self.live.get_mut(&session) else {
            return;
        };
        w.cache = stats;
        w.last_report = now;
        for sha in &removed {
            w.inventory.remove(sha);
        }
        let added: Vec<String> = added
            .into_iter()
            .filter(|sha| w.inventory.insert(sha.clone()))
            .collect();
        for sha in &removed {
            self.drop_holder(sha, session);
        }
        for sha in added {
            self.holders.entry(sha).or_default().insert(session);
        }
    }

    /// The worker runs `job_id` (assigned at `clock`, or adopted when `clock` is `None`); it
    /// will fetch what it lacks of `files`, so it counts as holding them from now on.
    pub fn start(
        &mut self,
        session: SessionId,
        job_id: JobId,
        clock: Option<u64>,
        files: &[(String, u64)],
    ) {
        let added = self.reindex(session, |w| {
            w.running.insert(job_id);
            if let Some(clock) = clock {
                w.last_assigned = clock;
            }
            files
                .iter()
                .filter(|(sha, _)| w.inventory.insert(sha.clone()))
                .map(|(sha, _)| sha.clone())
                .collect::<Vec<_>>()
        });
        for sha in added.unwrap_or_default() {
            self.holders.entry(sha).or_default().insert(session);
        }
    }

    /// The worker no longer runs `job_id`.
    pub fn stop(&mut self, session: SessionId, job_id: JobId) {
        self.reindex(session, |w| w.running.remove(&job_id));
    }

    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Worker)> + Clone {
        self.live.iter().map(|(s, w)| (*s, w))
    }

    /// The workers with a free slot that take jobs of `offer`, best [`Rank`] first.
    pub fn free_for(&self, offer: Offer) -> impl Iterator<Item = Rank> + '_ {
        self.free_by_offer
            .get(&offer)
            .into_iter()
            .flat_map(|set| set.iter().copied())
    }

    /// The rank of a live worker.
    pub fn rank(&self, session: SessionId) -> Option<Rank> {
        self.live.get(&session).map(|w| w.rank(session))
    }

    /// For every worker holding any of `files`, the bytes of them it holds.
    pub fn held_bytes(&self, files: &[(String, u64)]) -> HashMap<SessionId, u64> {
        let mut held: HashMap<SessionId, u64> = HashMap::new();
        for (sha, size) in files {
            for s in self.holders.get(sha).into_iter().flatten() {
                *held.entry(*s).or_default() += size;
            }
        }
        held
    }

    /// Sessions whose last report is older than `deadline`.
    pub fn silent_since(&self, deadline: Millis) -> Vec<SessionId> {
        let mut s: Vec<SessionId> = self
            .live
            .iter()
            .filter(|(_, w)| w.last_report < deadline)
            .map(|(s, _)| *s)
            .collect();
        s.sort_unstable();
        s
    }

    pub fn sessions_with_token(&self, token_id: &str) -> Vec<SessionId> {
        let mut s: Vec<SessionId> = self
            .live
            .iter()
            .filter(|(_, w)| w.hello.token_id == token_id)
            .map(|(s, _)| *s)
            .collect();
        s.sort_unstable();
        s
    }

    /// Live workers first (by name), then departed ones.
    pub fn snapshots(&self) -> Vec<WorkerSnapshot> {
        let mut live: Vec<WorkerSnapshot> = self.live.values().map(|w| w.snapshot(true)).collect();
        live.sort_by(|a, b| a.name.cmp(&b.name));
        live.extend(self.departed.values().cloned());
        live
    }

    /// Total free slots across workers that take jobs; zero means dispatch has nothing to do.
    pub fn free_slots(&self) -> u64 {
        self.free_slots
    }
}
