//! Dispatch: which queued job goes to which free worker, now (see `routing` for the choice).

use judge_common::pb;
use pb::job_event::Event as Ev;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use super::{routing, Command, Core, Effect, JobId, Millis, Persist};

impl Core {
    /// A number in [0, 1) from the core's own generator (xorshift: deterministic per seed).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends queued jobs to the best free worker for each (see `routing`), in fair-share
    /// order (see [`FairShare`]): the owner with the fewest jobs on workers goes first, and
    /// among equals the one served longest ago; each owner's jobs go oldest first. An owner
    /// at its running limit waits while others' jobs go.
    pub(super) fn dispatch(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let mut free = self.workers.free_slots();
        if free == 0 || self.jobs.queued_len() == 0 {
            return;
        }
        let mut order = FairShare::new(self);
        // Jobs of each problem version already waiting for a warm worker in this pass.
        let mut waiting: std::collections::HashMap<(String, u32), u64> = Default::default();
        while free > 0 {
            let Some(job_id) = order.next() else {
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
            let ask = routing::Ask {
                job: &job.job,
                files: &job.files,
                policy: self.config.policy,
                may_wait: in_time && waiters < warm,
                random,
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
            let files = job.files.clone();
            let owner = job.job.owner.clone();
            self.jobs.dequeue(job_id);
            order.served(&owner, self);
            let Some(name) = self.workers.get(session).map(|w| w.hello.name.clone()) else {
                continue;
            };
            // It will fetch what it lacks: it counts as warm from now on, so the next job of
            // this problem goes there too instead of warming yet another worker.
            self.workers
                .start(session, job_id, Some(self.assign_clock), &files);
            let Some(job) = self.jobs.get_mut(job_id) else {
                continue;
            };
            job.attempt += 1;
            job.state = pb::JobState::Assigned;
            job.session = Some(session);
            job.worker = Some(name.clone());
            job.tests_done = 0;
            job.groups_done = 0;
            job.deadline = Some(now + job.worst_case_ms + self.config.attempt_slack_ms);
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
}

/// The order of one dispatch pass: owners in a heap by (jobs on workers, when last served,
/// oldest queued job), each with its queued jobs oldest first. An owner whose job goes is
/// put back with its new count; one whose jobs all wait (no worker for them now) leaves the
/// pass; one at its running limit never enters it.
struct FairShare {
    heap: BinaryHeap<Reverse<(usize, u64, JobId, usize)>>,
    /// Per owner (by index): its name and its queued jobs not yet tried, oldest first.
    owners: Vec<(String, VecDeque<JobId>)>,
    /// The owner whose jobs are being tried, and its key.
    current: Option<(usize, usize, u64)>,
    limit: usize,
}

impl FairShare {
    fn new(core: &Core) -> Self {
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut owners: Vec<(String, VecDeque<JobId>)> = Vec::new();
        for id in core.jobs.queued() {
            let Some(job) = core.jobs.get(id) else {
                continue;
            };
            let owner = job.job.owner.as_str();
            let i = *index.entry(owner).or_insert_with(|| {
                owners.push((owner.to_string(), VecDeque::new()));
                owners.len() - 1
            });
            owners[i].1.push_back(id);
        }
        let limit = core.config.max_running_per_owner;
        let mut heap = BinaryHeap::with_capacity(owners.len());
        for (i, (name, jobs)) in owners.iter().enumerate() {
            let held = core.jobs.held_of(name);
            if held < limit {
                let served = core.served.get(name).copied().unwrap_or(0);
                heap.push(Reverse((held, served, jobs[0], i)));
            }
        }
        FairShare {
            heap,
            owners,
            current: None,
            limit,
        }
    }

    /// The next job to try.
    fn next(&mut self) -> Option<JobId> {
        loop {
            if let Some((i, _, _)) = self.current {
                if let Some(id) = self.owners[i].1.pop_front() {
                    return Some(id);
                }
                // Nothing of this owner can go now.
                self.current = None;
            }
            let Reverse((held, served, _, i)) = self.heap.pop()?;
            self.current = Some((i, held, served));
        }
    }

    /// The job last tried went: its owner is put back in the heap with one more on workers.
    fn served(&mut self, owner: &str, core: &mut Core) {
        core.assign_clock += 1;
        core.served.insert(owner.to_string(), core.assign_clock);
        let Some((i, held, _)) = self.current.take() else {
            return;
        };
        let held = held + 1;
        if let Some(&oldest) = self.owners[i].1.front() {
            if held < self.limit {
                self.heap
                    .push(Reverse((held, core.assign_clock, oldest, i)));
            }
        }
    }
}
