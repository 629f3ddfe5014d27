//! Dispatch: which queued job goes to which free worker, now (see `routing` for the choice).

use judge_common::pb;
use pb::job_event::Event as Ev;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{routing, Command, Core, Effect, JobId, Millis, Persist, Priority, SessionId};

impl Core {
    /// A number in [0, 1) from the core's own generator (xorshift: deterministic per seed).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends queued jobs to the best free worker for each (see `routing`), in order (see
    /// [`FairShare`]): the highest class first (a job queued past `aging_ms` counts as the
    /// highest); within a class the owner with the fewest jobs on workers, and among equals
    /// the one served longest ago; each owner's jobs of a class oldest first. An owner at
    /// its running limit waits while others' jobs go.
    pub(super) fn dispatch(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let mut free = self.workers.free_slots();
        if free == 0 || self.jobs.queued_len() == 0 {
            return;
        }
        let mut order = FairShare::new(self, now);
        // Jobs of each problem version already waiting for a warm worker in this pass.
        let mut waiting: std::collections::HashMap<(String, u32), u64> = Default::default();
        while free > 0 {
            let Some(job_id) = order.next(self) else {
                break;
            };
            let random = self.random();
            let Some(job) = self.jobs.get(job_id) else {
                continue;
            };
            let key = job
                .job
                .spec
                .problem()
                .map(|(p, v)| (p.to_string(), v))
                .unwrap_or_default();
            let waiters = waiting.get(&key).copied().unwrap_or(0);
            // Wait for a warm worker only briefly (counted from when the job was first passed
            // over, not from when it was queued: queueing behind others is no reason to give
            // up locality), and only while the warm workers could absorb the jobs of this
            // problem already waiting; beyond that, warm another worker.
            let in_time = job
                .skipped_since
                .is_none_or(|t| now - t < self.config.locality_wait_ms);
            let warm = routing::warm_slots(&job.job, &job.files, &self.workers);
            let avoid = job
                .suspect
                .as_ref()
                .and_then(|(name, _)| self.workers.session_of(name));
            let ask = routing::Ask {
                job: &job.job,
                files: &job.files,
                policy: self.config.policy,
                may_wait: in_time && waiters < warm,
                random,
                avoid,
            };
            let session = match routing::choose(&ask, &self.workers) {
                routing::Choice::Assign(session) => session,
                routing::Choice::Wait => {
                    *waiting.entry(key).or_default() += 1;
                    if let Some(job) = self.jobs.get_mut(job_id) {
                        job.skipped_since.get_or_insert(now);
                    }
                    continue;
                }
                routing::Choice::None => continue,
            };
            free -= 1;
            let owner = job.job.owner.clone();
            self.jobs.dequeue(job_id);
            order.served(&owner, self);
            self.assign(job_id, session, now, out);
        }
    }

    /// Sends the probes waiting for their quarantined workers, where those have room.
    /// Probes wait outside the queue: they go to their one worker, never another.
    pub(super) fn dispatch_probes(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let waiting: Vec<(JobId, SessionId)> = self
            .probes
            .iter()
            .filter(|(id, _)| {
                self.jobs
                    .get(**id)
                    .is_some_and(|j| j.state == pb::JobState::Queued)
            })
            .filter_map(|(id, name)| {
                let session = self.workers.session_of(name)?;
                let room = self.workers.get(session)?.has_room();
                room.then_some((*id, session))
            })
            .collect();
        for (job_id, session) in waiting {
            self.assign(job_id, session, now, out);
        }
    }

    /// Starts a new attempt of the job on the worker of `session`: stored, announced, sent.
    fn assign(&mut self, job_id: JobId, session: SessionId, now: Millis, out: &mut Vec<Effect>) {
        let Some(name) = self.workers.get(session).map(|w| w.hello.name.clone()) else {
            return;
        };
        let Some(files) = self.jobs.get(job_id).map(|j| j.files.clone()) else {
            return;
        };
        // It will fetch what it lacks: it counts as warm from now on, so the next job of
        // this problem goes there too instead of warming yet another worker.
        self.workers
            .start(session, job_id, Some(self.assign_clock), &files);
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        job.attempt += 1;
        job.state = pb::JobState::Assigned;
        job.session = Some(session);
        job.worker = Some(name.clone());
        job.tests_done = 0;
        job.groups_done = 0;
        job.deadline = Some(now + job.worst_case_ms + self.config.attempt_slack_ms);
        job.assigned_at = Some(now);
        let attempt = job.attempt;
        out.push(Effect::Persist(Persist::Assigned {
            job_id,
            attempt,
            worker: name.clone(),
        }));
        self.event(
            job_id,
            now,
            Ev::Assigned(pb::AssignedEvent {
                worker: name,
                attempt,
            }),
            out,
        );
        out.push(Effect::Send {
            session,
            command: Command::Assign { job_id, attempt },
        });
    }
}

/// The order of one dispatch pass, over the queue's groups (each owner's jobs of one class,
/// oldest first: [`super::jobs::JobTable::groups`]) kept in a heap by (class, the owner's
/// jobs on workers, when the owner was last served, the group's next job); a group whose
/// next job has waited past `aging_ms` counts as the highest class. The group on top offers
/// its jobs in turn until one goes; it goes back with its owner's new count and resumes
/// after the last job it offered. A group whose jobs all wait (no worker for them now)
/// leaves the pass; an owner at its running limit never enters it.
struct FairShare {
    heap: BinaryHeap<Reverse<Key>>,
    groups: Vec<Group>,
    /// The group whose jobs are being offered.
    current: Option<usize>,
    limit: usize,
    aging_ms: Millis,
    now: Millis,
    /// `false` for the oldest-first baseline: groups go by their next job alone.
    fair: bool,
}

/// A group's place in the heap, lowest first: (class rank, the owner's jobs on workers, when
/// the owner was last served, its next job, the group's index).
type Key = (usize, usize, u64, JobId, usize);

/// One owner's queued jobs of one class, and how far this pass has offered them.
struct Group {
    owner: String,
    class: Priority,
    /// The last job offered; the next one offered comes after it.
    last: Option<JobId>,
}

impl Group {
    /// Its next job not yet offered in this pass.
    fn next(&self, core: &Core) -> Option<JobId> {
        use std::ops::Bound::{Excluded, Unbounded};
        let jobs = core.jobs.group(&self.owner, self.class)?;
        match self.last {
            Some(last) => jobs.range((Excluded(last), Unbounded)).next().copied(),
            None => jobs.first().copied(),
        }
    }
}

impl FairShare {
    fn new(core: &Core, now: Millis) -> Self {
        let groups: Vec<Group> = core
            .jobs
            .groups()
            .map(|(owner, class, _)| Group {
                owner: owner.to_string(),
                class,
                last: None,
            })
            .collect();
        let mut order = FairShare {
            heap: BinaryHeap::with_capacity(groups.len()),
            groups,
            current: None,
            limit: core.config.max_running_per_owner,
            aging_ms: core.config.aging_ms,
            now,
            fair: core.config.order == super::QueueOrder::FairShare,
        };
        for g in 0..order.groups.len() {
            order.push(g, core);
        }
        order
    }

    /// Puts group `g` in the heap, if it has jobs left to offer and its owner room to run one.
    fn push(&mut self, g: usize, core: &Core) {
        let group = &self.groups[g];
        let held = core.jobs.held_of(&group.owner);
        if held >= self.limit {
            return;
        }
        let Some(next) = group.next(core) else {
            return;
        };
        let since = core.jobs.get(next).map_or(self.now, |j| j.queued_since);
        let class = if self.now - since >= self.aging_ms {
            0
        } else {
            group.class.rank()
        };
        let served = core.served.get(&group.owner).copied().unwrap_or(0);
        let key = if self.fair {
            (class, held, served, next, g)
        } else {
            (class, 0, 0, next, g)
        };
        self.heap.push(Reverse(key));
    }

    /// The next job to offer.
    fn next(&mut self, core: &Core) -> Option<JobId> {
        loop {
            if let Some(g) = self.current {
                if let Some(id) = self.groups[g].next(core) {
                    self.groups[g].last = Some(id);
                    return Some(id);
                }
                // Nothing of this group can go now.
                self.current = None;
            }
            let Reverse((_, _, _, _, g)) = self.heap.pop()?;
            // The owner may have reached its running limit since the group was pushed,
            // through a job of another of its groups (another class).
            if core.jobs.held_of(&self.groups[g].owner) >= self.limit {
                continue;
            }
            self.current = Some(g);
        }
    }

    /// The job last offered went (it has left the queue): its owner was served now; its
    /// group goes back in the heap with the owner's new count.
    fn served(&mut self, owner: &str, core: &mut Core) {
        core.assign_clock += 1;
        match core.served.get_mut(owner) {
            Some(at) => *at = core.assign_clock,
            None => {
                core.served.insert(owner.to_string(), core.assign_clock);
            }
        }
        if let Some(g) = self.current.take() {
            self.push(g, core);
        }
    }
}
