//! Dispatch: which queued job goes to which free worker, now (see `routing` for the choice).

use judge_common::pb;
use pb::job_event::Event as Ev;

use super::{routing, Command, Core, Effect, JobId, Millis, Persist};

impl Core {
    /// A number in [0, 1) from the core's own generator (xorshift: deterministic per seed).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends queued jobs, oldest first, to the best free worker for each (see `routing`).
    pub(super) fn dispatch(&mut self, now: Millis, out: &mut Vec<Effect>) {
        let mut free = self.workers.free_slots();
        if free == 0 || self.jobs.queued_len() == 0 {
            return;
        }
        let queued: Vec<JobId> = self.jobs.queued().collect();
        // Jobs of each problem version already waiting for a warm worker in this pass.
        let mut waiting: std::collections::HashMap<(String, u32), u64> = Default::default();
        for job_id in queued {
            if free == 0 {
                break;
            }
            let random = self.random();
            let Some(job) = self.jobs.get(job_id) else {
                continue;
            };
            // An owner at its running limit waits; others' jobs go past.
            if self.jobs.held_of(&job.job.owner) >= self.config.max_running_per_owner {
                continue;
            }
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
            self.jobs.dequeue(job_id);
            self.assign_clock += 1;
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
