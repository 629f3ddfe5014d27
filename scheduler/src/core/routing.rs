//! Which worker gets a job.
//!
//! Candidates accept the job's type and language and have a free slot. Under the locality
//! policy the one missing the fewest bytes of the job's files wins, then the least loaded
//! (running / slots), then the one with the most free memory; between equals, the one that
//! waited longest since its last assignment, so ties rotate fairly.
//!
//! Delay scheduling: if the best free candidate is colder than some busy worker, the job may
//! wait (up to `locality_wait_ms` from when it was queued) for that warm worker to free a slot
//! instead of making a cold one download everything. It waits only while the warm workers
//! could absorb the jobs of that problem already waiting; past that (a hot problem
//! piling up) it goes cold at once, so another worker warms up instead of a queue growing.

use std::cmp::Ordering;

use super::types::{JobFiles, NewJob, Policy, SessionId};
use super::workers::Worker;

/// Whether `worker` takes jobs like `job` at all (ignoring free slots).
pub fn accepts(worker: &Worker, job: &NewJob) -> bool {
    !worker.draining
        && worker.hello.job_types.contains(&job.job_type)
        && worker.hello.languages.contains(&job.language)
}

/// Whether `worker` could run `job` right now.
pub fn can_run(worker: &Worker, job: &NewJob) -> bool {
    worker.has_free_slot() && accepts(worker, job)
}

/// Bytes of `files` the worker does not hold (as far as its reports say).
pub fn missing_bytes(worker: &Worker, files: &[(String, u64)]) -> u64 {
    files
        .iter()
        .filter(|(sha, _)| !worker.inventory.contains(sha))
        .map(|(_, size)| size)
        .sum()
}

/// Orders by load: `a.running / a.slots` against `b.running / b.slots`, without floats.
fn by_load(a: &Worker, b: &Worker) -> Ordering {
    let la = a.running.len() as u64 * u64::from(b.hello.slots.max(1));
    let lb = b.running.len() as u64 * u64::from(a.hello.slots.max(1));
    la.cmp(&lb)
}

/// A free candidate as the policies see it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub session: SessionId,
    pub worker: &'a Worker,
    pub missing: u64,
}

/// The routing decision for one queued job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Assign(SessionId),
    /// A warmer worker is busy; keep the job queued a little longer.
    Wait,
    /// No worker can take it now.
    None,
}

/// What the core knows when it routes one job.
pub struct Ask<'a> {
    pub job: &'a NewJob,
    pub files: &'a JobFiles,
    pub policy: Policy,
    /// Whether the job may still wait for a warm worker (time and pile-up permitting).
    pub may_wait: bool,
    /// A number in [0, 1) for the random policy.
    pub random: f64,
}

/// Picks among `workers` for one job.
pub fn choose<'a>(
    ask: &Ask<'_>,
    workers: impl Iterator<Item = (SessionId, &'a Worker)> + Clone,
) -> Choice {
    let candidates: Vec<Candidate<'a>> = workers
        .clone()
        .filter(|(_, w)| can_run(w, ask.job))
        .map(|(session, worker)| Candidate {
            session,
            worker,
            missing: missing_bytes(worker, ask.files),
        })
        .collect();
    if candidates.is_empty() {
        return Choice::None;
    }
    let fair = |a: &Candidate, b: &Candidate| {
        by_load(a.worker, b.worker)
            .then(a.worker.last_assigned.cmp(&b.worker.last_assigned))
            .then(a.session.cmp(&b.session))
    };
    match ask.policy {
        Policy::Random => {
            let i = ((ask.random * candidates.len() as f64) as usize).min(candidates.len() - 1);
            Choice::Assign(candidates[i].session)
        }
        Policy::LeastLoaded => candidates
            .iter()
            .min_by(|a, b| fair(a, b))
            .map_or(Choice::None, |c| Choice::Assign(c.session)),
        Policy::Locality => {
            let best = candidates
                .iter()
                .min_by(|a, b| {
                    a.missing
                        .cmp(&b.missing)
                        .then(by_load(a.worker, b.worker))
                        .then(
                            b.worker
                                .usage
                                .memory_free_bytes
                                .cmp(&a.worker.usage.memory_free_bytes),
                        )
                        .then(a.worker.last_assigned.cmp(&b.worker.last_assigned))
                        .then(a.session.cmp(&b.session))
                })
                .copied();
            let Some(best) = best else {
                return Choice::None;
            };
            if best.missing > 0 && ask.may_wait {
                let warmer_busy = workers
                    .filter(|(_, w)| !w.has_free_slot() && accepts(w, ask.job))
                    .any(|(_, w)| missing_bytes(w, ask.files) < best.missing);
                if warmer_busy {
                    return Choice::Wait;
                }
            }
            Choice::Assign(best.session)
        }
    }
}

/// Total slots of workers that accept the job and hold more of its files than `than` misses.
pub fn warm_slots<'a>(
    job: &NewJob,
    files: &JobFiles,
    workers: impl Iterator<Item = &'a Worker>,
) -> u64 {
    workers
        .filter(|w| accepts(w, job) && missing_bytes(w, files) == 0)
        .map(|w| u64::from(w.hello.slots))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::{Usage, WorkerHello};
    use std::collections::BTreeSet;

    fn worker(slots: u32, running: u64, last_assigned: u64, cached: &[&str]) -> Worker {
        Worker {
            hello: WorkerHello {
                name: format!("w{slots}-{running}-{last_assigned}"),
                slots,
                job_types: vec!["judge".into()],
                languages: vec!["c".into()],
                ..Default::default()
            },
            running: (0..running).collect::<BTreeSet<_>>(),
            draining: false,
            usage: Usage::default(),
            last_report: 0,
            last_assigned,
            inventory: cached.iter().map(|s| s.to_string()).collect(),
            cache: Default::default(),
        }
    }

    fn job() -> NewJob {
        NewJob {
            job_type: "judge".into(),
            language: "c".into(),
            problem_id: "p".into(),
            problem_version: 1,
            run_all_tests: false,
            owner: "alice".into(),
            request_id: None,
        }
    }

    fn files() -> JobFiles {
        vec![("big".to_string(), 500), ("small".to_string(), 10)].into()
    }

    fn ask<'a>(job: &'a NewJob, files: &'a JobFiles, policy: Policy, may_wait: bool) -> Ask<'a> {
        Ask {
            job,
            files,
            policy,
            may_wait,
            random: 0.0,
        }
    }

    fn pick(ws: &[(SessionId, Worker)], a: &Ask) -> Choice {
        choose(a, ws.iter().map(|(s, w)| (*s, w)))
    }

    #[test]
    fn the_warm_worker_wins_even_when_busier() {
        let (j, f) = (job(), files());
        let ws = [
            (1, worker(4, 0, 0, &[])),
            (2, worker(4, 3, 0, &["big", "small"])),
            (3, worker(4, 0, 0, &["small"])),
        ];
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::Locality, true)),
            Choice::Assign(2)
        );
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::LeastLoaded, true)),
            Choice::Assign(1)
        );
    }

    #[test]
    fn a_busy_warm_worker_is_waited_for_only_while_allowed() {
        let (j, f) = (job(), files());
        let ws = [
            (1, worker(2, 0, 0, &[])),
            (2, worker(1, 1, 0, &["big", "small"])),
        ];
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::Locality, true)),
            Choice::Wait
        );
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::Locality, false)),
            Choice::Assign(1)
        );
    }

    #[test]
    fn least_loaded_wins_by_ratio_and_ties_rotate() {
        let (j, f) = (job(), files());
        let ws = [(1, worker(2, 1, 0, &[])), (2, worker(8, 2, 0, &[]))];
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::Locality, true)),
            Choice::Assign(2)
        );
        let ws = [(1, worker(4, 0, 9, &[])), (2, worker(4, 0, 3, &[]))];
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::LeastLoaded, true)),
            Choice::Assign(2)
        );
    }

    #[test]
    fn language_type_slots_and_draining_filter_candidates() {
        let (mut j, f) = (job(), files());
        let mut draining = worker(4, 0, 0, &[]);
        draining.draining = true;
        let ws = [(1, worker(1, 1, 0, &[])), (2, draining)];
        assert_eq!(
            pick(&ws, &ask(&j, &f, Policy::Locality, true)),
            Choice::None
        );
        j.language = "java".into();
        let ws = [(1, worker(4, 0, 0, &[]))];
        assert_eq!(pick(&ws, &ask(&j, &f, Policy::Random, true)), Choice::None);
    }
}
