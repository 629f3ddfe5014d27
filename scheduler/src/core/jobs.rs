//! The unfinished jobs the core tracks, and the queue of those waiting for a worker.

use std::collections::{BTreeSet, HashMap};

use judge_common::pb;

use super::types::{Attempt, JobFiles, JobId, Millis, NewJob, Priority, SessionId};

/// A job that has not finished yet. Finished jobs live only in the store.
#[derive(Debug, Clone)]
pub struct ActiveJob {
    pub job: NewJob,
    pub state: pb::JobState,
    /// Number of the current (or, while queued again, the last) attempt; 0 before the first.
    pub attempt: Attempt,
    /// Attempts made before the current judging (0 unless it is judged again): the retry
    /// cap counts the attempts after it.
    pub judging_base: Attempt,
    /// The feed the current attempt was sent on; `None` while queued or orphaned.
    pub session: Option<SessionId>,
    /// Name of the worker holding the current attempt; kept while orphaned for re-adoption.
    pub worker: Option<String>,
    /// Set while the attempt's worker is gone: when the grace period ends.
    pub orphaned_until: Option<Millis>,
    /// Set once the job is to be cancelled: the message it ends with.
    pub cancel: Option<String>,
    /// A worker that gave this judging a judge error, and its message: the job is judged
    /// again elsewhere, and its next verdict says whose fault it was (see `breaker.rs`).
    pub suspect: Option<(String, String)>,
    /// Sequence number of the job's last event.
    pub last_seq: u64,
    /// Test results of the current attempt recorded so far (results arrive in order).
    pub tests_done: u32,
    /// Group results accepted for the current attempt (they come in order too).
    pub groups_done: u32,
    pub files: JobFiles,
    /// The longest an attempt of it can take (every limit hit, files downloaded slowly).
    pub worst_case_ms: Millis,
    /// When the current attempt is overdue (set while it is on a worker).
    pub deadline: Option<Millis>,
    /// When the current attempt was assigned (for the mean attempt time).
    pub assigned_at: Option<Millis>,
    /// When it was queued (at submission, or at the scheduler's start for a recovered job):
    /// how long it has waited, for aging.
    pub queued_since: Millis,
    /// When it was first passed over to wait for a warm worker (since it last entered the
    /// queue): bounds how long it waits for one. Time spent queued behind others does not count.
    pub skipped_since: Option<Millis>,
}

impl ActiveJob {
    /// A job entering the queue at `now` with nothing run yet (its attempts and events
    /// so far, for one judged before, are set by the caller).
    pub fn queued(job: NewJob, files: JobFiles, worst_case_ms: Millis, now: Millis) -> Self {
        ActiveJob {
            job,
            state: pb::JobState::Queued,
            attempt: 0,
            judging_base: 0,
            session: None,
            worker: None,
            orphaned_until: None,
            cancel: None,
            suspect: None,
            last_seq: 0,
            tests_done: 0,
            groups_done: 0,
            files,
            worst_case_ms,
            queued_since: now,
            deadline: None,
            assigned_at: None,
            skipped_since: None,
        }
    }
}

/// Active jobs plus the FIFO queue. Job ids grow with submission time, so an ordered set of ids
/// is the queue, and a re-queued job goes back in front of younger ones.
#[derive(Debug, Default)]
pub struct JobTable {
    jobs: HashMap<JobId, ActiveJob>,
    queue: BTreeSet<JobId>,
    /// Queued jobs per owner (only owners with some), by class rank, each oldest first: the
    /// per-owner bound counts them, and a dispatch pass walks them group by group without
    /// going through the whole queue.
    queued_by_owner: HashMap<String, Classes>,
    /// Unfinished jobs per owner (only owners with some): with the queued ones, what an
    /// owner holds on workers.
    active_by_owner: HashMap<String, usize>,
}

/// One owner's queued jobs, by class rank.
type Classes = [BTreeSet<JobId>; Priority::ALL.len()];

impl JobTable {
    pub fn get(&self, id: JobId) -> Option<&ActiveJob> {
        self.jobs.get(&id)
    }

    pub fn get_mut(&mut self, id: JobId) -> Option<&mut ActiveJob> {
        self.jobs.get_mut(&id)
    }

    pub fn insert(&mut self, id: JobId, job: ActiveJob) {
        let queued = job.state == pb::JobState::Queued;
        let owner = job.job.owner.clone();
        if self.jobs.insert(id, job).is_none() {
            *self.active_by_owner.entry(owner.clone()).or_default() += 1;
        }
        if queued {
            self.add_to_queue(id, &owner);
        }
    }

    fn add_to_queue(&mut self, id: JobId, owner: &str) {
        if self.queue.insert(id) {
            let class = self
                .jobs
                .get(&id)
                .map(|j| j.job.priority)
                .unwrap_or_default();
            self.queued_by_owner.entry(owner.to_string()).or_default()[class.rank()].insert(id);
        }
    }

    fn take_from_queue(&mut self, id: JobId) {
        if !self.queue.remove(&id) {
            return;
        }
        let Some(job) = self.jobs.get(&id) else {
            return;
        };
        let owner = job.job.owner.as_str();
        if let Some(classes) = self.queued_by_owner.get_mut(owner) {
            classes[job.job.priority.rank()].remove(&id);
            if classes.iter().all(BTreeSet::is_empty) {
                self.queued_by_owner.remove(owner);
            }
        }
    }

    pub fn remove(&mut self, id: JobId) -> Option<ActiveJob> {
        self.take_from_queue(id);
        let job = self.jobs.remove(&id)?;
        if let Some(n) = self.active_by_owner.get_mut(&job.job.owner) {
            *n -= 1;
            if *n == 0 {
                self.active_by_owner.remove(&job.job.owner);
            }
        }
        Some(job)
    }

    /// Jobs `owner` has on workers: assigned, running, or waiting for their worker's return.
    pub fn held_of(&self, owner: &str) -> usize {
        let active = self.active_by_owner.get(owner).copied().unwrap_or(0);
        active.saturating_sub(self.queued_of(owner))
    }

    /// Unfinished consoles of `owner`.
    pub fn live_of(&self, owner: &str) -> usize {
        if !self.active_by_owner.contains_key(owner) {
            return 0;
        }
        self.jobs
            .values()
            .filter(|j| j.job.owner == owner && j.job.is_live())
            .count()
    }

    /// The queued jobs of each owner and class, oldest first.
    pub fn groups(&self) -> impl Iterator<Item = (&str, Priority, &BTreeSet<JobId>)> + '_ {
        self.queued_by_owner.iter().flat_map(|(owner, classes)| {
            Priority::ALL
                .into_iter()
                .zip(classes)
                .filter(|(_, jobs)| !jobs.is_empty())
                .map(|(class, jobs)| (owner.as_str(), class, jobs))
        })
    }

    /// The queued jobs of `owner` in `class`, oldest first.
    pub fn group(&self, owner: &str, class: Priority) -> Option<&BTreeSet<JobId>> {
        self.queued_by_owner
            .get(owner)
            .map(|classes| &classes[class.rank()])
    }

    /// The owners with jobs waiting.
    pub fn queued_owners(&self) -> impl Iterator<Item = &str> + '_ {
        self.queued_by_owner.keys().map(String::as_str)
    }

    /// Jobs `owner` has waiting.
    pub fn queued_of(&self, owner: &str) -> usize {
        self.queued_by_owner
            .get(owner)
            .map_or(0, |classes| classes.iter().map(BTreeSet::len).sum())
    }

    pub fn enqueue(&mut self, id: JobId) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.skipped_since = None;
        job.state = pb::JobState::Queued;
        job.session = None;
        job.worker = None;
        job.orphaned_until = None;
        job.deadline = None;
        job.tests_done = 0;
        job.groups_done = 0;
        let owner = job.job.owner.clone();
        self.add_to_queue(id, &owner);
    }

    pub fn dequeue(&mut self, id: JobId) {
        self.take_from_queue(id);
    }

    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Queued jobs per class, highest class first.
    pub fn queued_by_class(&self) -> Vec<usize> {
        let mut n = vec![0; Priority::ALL.len()];
        for classes in self.queued_by_owner.values() {
            for (count, set) in n.iter_mut().zip(classes) {
                *count += set.len();
            }
        }
        n
    }

    /// Queued job ids, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = JobId> + '_ {
        self.queue.iter().copied()
    }

    /// Jobs whose worker is gone and whose grace period ended at or before `now`.
    pub fn expired_orphans(&self, now: Millis) -> Vec<JobId> {
        let mut ids: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.orphaned_until.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Every grace period and attempt deadline moves `by` later: time the scheduler did not
    /// listen.
    pub fn postpone(&mut self, by: Millis) {
        for j in self.jobs.values_mut() {
            if let Some(t) = &mut j.orphaned_until {
                *t = t.saturating_add(by);
            }
            if let Some(t) = &mut j.deadline {
                *t = t.saturating_add(by);
            }
        }
    }

    /// Jobs on a worker whose attempt is past its deadline at `now`.
    pub fn overdue(&self, now: Millis) -> Vec<JobId> {
        let mut ids: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.session.is_some() && j.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Orphaned jobs whose last attempt ran on the worker called `name`.
    pub fn orphans_of(&self, name: &str) -> Vec<JobId> {
        let mut ids: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.orphaned_until.is_some() && j.worker.as_deref() == Some(name))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    pub fn len(&self) -> usize {
        self.jobs.len()
    }
}
