//! Connected workers, and the last word on those that left (for `ListWorkers`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use judge_common::pb;

use super::types::{JobId, Millis, SessionId, Usage, WorkerHello, WorkerSnapshot};

/// One live `Connect` stream.
#[derive(Debug, Clone)]
pub struct Worker {
    pub hello: WorkerHello,
    pub running: BTreeSet<JobId>,
    pub draining: bool,
    pub usage: Usage,
    /// When the worker last reported anything; a silent worker is lost.
    pub last_report: Millis,
    /// When this worker was last given a job, for fair tie-breaking between equals.
    pub last_assigned: u64,
    /// Files in its cache, from its reports (and the files of jobs sent to it since).
    pub inventory: HashSet<String>,
    pub cache: pb::CacheStats,
}

impl Worker {
    pub fn has_free_slot(&self) -> bool {
        !self.draining && (self.running.len() as u64) < u64::from(self.hello.slots)
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
            cache: self.cache,
        }
    }
}

#[derive(Debug, Default)]
pub struct WorkerTable {
    live: HashMap<SessionId, Worker>,
    by_name: HashMap<String, SessionId>,
    /// Workers that disconnected, by name, as they were last seen.
    departed: BTreeMap<String, WorkerSnapshot>,
}

impl WorkerTable {
    pub fn get_mut(&mut self, session: SessionId) -> Option<&mut Worker> {
        self.live.get_mut(&session)
    }

    pub fn session_of(&self, name: &str) -> Option<SessionId> {
        self.by_name.get(name).copied()
    }

    pub fn insert(&mut self, session: SessionId, worker: Worker) {
        self.departed.remove(&worker.hello.name);
        self.by_name.insert(worker.hello.name.clone(), session);
        self.live.insert(session, worker);
    }

    /// Removes a live worker, remembering how it looked when it left.
    pub fn remove(&mut self, session: SessionId) -> Option<Worker> {
        let worker = self.live.remove(&session)?;
        if self.by_name.get(&worker.hello.name) == Some(&session) {
            self.by_name.remove(&worker.hello.name);
        }
        let mut snap = worker.snapshot(false);
        snap.running = 0;
        self.departed.insert(worker.hello.name.clone(), snap);
        Some(worker)
    }

    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Worker)> + Clone {
        self.live.iter().map(|(s, w)| (*s, w))
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
        self.live
            .values()
            .filter(|w| !w.draining)
            .map(|w| u64::from(w.hello.slots).saturating_sub(w.running.len() as u64))
            .sum()
    }
}
