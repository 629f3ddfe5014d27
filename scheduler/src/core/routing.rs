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
//!
//! None of this walks the fleet: the warm candidates come from the workers holding the job's
//! files, and the best cold one is the first free worker of the job's offer in the table's
//! rank index (see `workers.rs`). Only the baseline policies (random, least loaded), which
//! the benchmarks compare against, look at every free candidate.

use std::cmp::Ordering;
use std::collections::HashMap;

use super::types::{JobFiles, NewJob, Policy, SessionId};
use super::workers::{Offer, Rank, Worker, WorkerTable};

/// Whether `worker` takes jobs like `job` at all (ignoring free slots), by name: for
/// explanations, not the hot path.
pub fn accepts(worker: &Worker, job: &NewJob) -> bool {
    worker.takes_jobs()
        && worker
            .hello
            .job_types
            .iter()
            .any(|t| t == job.kind().as_str())
        && worker.hello.languages.contains(&job.language)
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
    /// A worker not to give it to (one whose judge error on it is being checked elsewhere).
    pub avoid: Option<SessionId>,
}

/// What the routing of one job knows about the workers that hold any of its files.
struct Warmth {
    offer: Offer,
    total: u64,
    /// Bytes of the job's files each such worker holds.
    held: HashMap<SessionId, u64>,
}

impl Warmth {
    fn of(table: &WorkerTable, offer: Offer, files: &JobFiles) -> Warmth {
        Warmth {
            offer,
            total: files.iter().map(|(_, size)| size).sum(),
            held: table.held_bytes(files),
        }
    }

    /// The holders that take the job's offer, with the bytes each misses.
    fn able<'t>(
        &'t self,
        table: &'t WorkerTable,
    ) -> impl Iterator<Item = (SessionId, &'t Worker, u64)> + 't {
        self.held.iter().filter_map(move |(s, held)| {
            let w = table.get(*s)?;
            w.offers(self.offer).then_some((*s, w, self.total - held))
        })
    }
}

/// Picks a worker for one job.
pub fn choose(ask: &Ask<'_>, table: &WorkerTable) -> Choice {
    let Some(offer) = table.offer(ask.job.kind().as_str(), &ask.job.language) else {
        return Choice::None;
    };
    match ask.policy {
        Policy::Random => {
            let candidates: Vec<Rank> = table
                .free_for(offer)
                .filter(|r| Some(r.session) != ask.avoid)
                .collect();
            if candidates.is_empty() {
                return Choice::None;
            }
            let i = ((ask.random * candidates.len() as f64) as usize).min(candidates.len() - 1);
            Choice::Assign(candidates[i].session)
        }
        Policy::LeastLoaded => table
            .free_for(offer)
            .filter(|r| Some(r.session) != ask.avoid)
            .min_by(|a, b| a.fair(b))
            .map_or(Choice::None, |r| Choice::Assign(r.session)),
        Policy::Locality => locality(ask, table, offer),
    }
}

/// The locality policy: fewest missing bytes, then [`Rank`]; maybe wait for a warmer one.
fn locality(ask: &Ask<'_>, table: &WorkerTable, offer: Offer) -> Choice {
    let warmth = Warmth::of(table, offer, ask.files);
    let better = |a: &(u64, Rank), b: &(u64, Rank)| a.0.cmp(&b.0).then(a.1.cmp(&b.1));
    let warm_best = warmth
        .able(table)
        .filter(|(s, w, _)| w.has_free_slot() && Some(*s) != ask.avoid)
        .filter_map(|(s, _, missing)| Some((missing, table.rank(s)?)))
        .min_by(better);
    // Every free worker outside `held` misses everything: the best of them is the first.
    let cold_best = table
        .free_for(offer)
        .find(|r| !warmth.held.contains_key(&r.session) && Some(r.session) != ask.avoid)
        .map(|r| (warmth.total, r));
    let best = match (warm_best, cold_best) {
        (Some(a), Some(b)) => Some(if better(&a, &b) == Ordering::Greater {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    };
    let Some((missing, rank)) = best else {
        return Choice::None;
    };
    if missing > 0 && ask.may_wait {
        let warmer_busy = warmth
            .able(table)
            .any(|(_, w, m)| !w.has_free_slot() && m < missing);
        if warmer_busy {
            return Choice::Wait;
        }
    }
    Choice::Assign(rank.session)
}

/// Total slots of the workers that take the job and hold all of its files.
pub fn warm_slots(job: &NewJob, files: &JobFiles, table: &WorkerTable) -> u64 {
    let Some(offer) = table.offer(job.kind().as_str(), &job.language) else {
        return 0;
    };
    let warmth = Warmth::of(table, offer, files);
    if warmth.total == 0 {
        // Nothing to hold: every worker that takes it is warm.
        return table
            .iter()
            .filter(|(_, w)| w.offers(offer))
            .map(|(_, w)| u64::from(w.hello.slots))
            .sum();
    }
    warmth
        .able(table)
        .filter(|(_, _, missing)| *missing == 0)
        .map(|(_, w, _)| u64::from(w.hello.slots))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::WorkerHello;
    use crate::core::workers::Worker;
    use crate::core::JobSpec;

    /// A worker for a table: `(session, slots, running, last_assigned, cached files)`.
    type Spec<'a> = (SessionId, u32, u64, u64, &'a [&'a str]);

    fn table(specs: &[Spec]) -> WorkerTable {
        let mut t = WorkerTable::default();
        let mut job_id = 1000;
        for &(session, slots, running, last_assigned, cached) in specs {
            let hello = WorkerHello {
                name: format!("w{session}"),
                slots,
                job_types: vec!["judge".into()],
                languages: vec!["c".into()],
                cached: cached.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            };
            t.insert(session, Worker::new(hello, 0));
            // One job started at `last_assigned` and stopped again sets the clock.
            job_id += 1;
            t.start(session, job_id, Some(last_assigned), &[]);
            t.stop(session, job_id);
            for _ in 0..running {
                job_id += 1;
                t.start(session, job_id, None, &[]);
            }
        }
        t
    }

    fn job() -> NewJob {
        NewJob {
            spec: JobSpec::Judge {
                problem: "p".into(),
                version: 1,
                run_all_tests: false,
            },
            language: "c".into(),
            owner: "alice".into(),
            request_id: None,
            supersede_key: None,
            priority: Default::default(),
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
            avoid: None,
        }
    }

    /// The choice for the default job and files.
    fn pick(t: &WorkerTable, policy: Policy, may_wait: bool) -> Choice {
        let (j, f) = (job(), files());
        choose(&ask(&j, &f, policy, may_wait), t)
    }

    #[test]
    fn the_warm_worker_wins_even_when_busier() {
        let t = table(&[
            (1, 4, 0, 0, &[]),
            (2, 4, 3, 0, &["big", "small"]),
            (3, 4, 0, 0, &["small"]),
        ]);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Assign(2));
        assert_eq!(pick(&t, Policy::LeastLoaded, true), Choice::Assign(1));
        assert_eq!(warm_slots(&job(), &files(), &t), 4);
    }

    #[test]
    fn a_partly_warm_worker_beats_a_cold_one() {
        let t = table(&[(1, 4, 0, 0, &[]), (2, 4, 2, 0, &["small"])]);
        assert_eq!(pick(&t, Policy::Locality, false), Choice::Assign(2));
        assert_eq!(warm_slots(&job(), &files(), &t), 0);
    }

    #[test]
    fn a_busy_warm_worker_is_waited_for_only_while_allowed() {
        let t = table(&[(1, 2, 0, 0, &[]), (2, 1, 1, 0, &["big", "small"])]);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Wait);
        assert_eq!(pick(&t, Policy::Locality, false), Choice::Assign(1));
    }

    #[test]
    fn least_loaded_wins_by_ratio_and_ties_rotate() {
        let t = table(&[(1, 2, 1, 0, &[]), (2, 8, 2, 0, &[])]);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Assign(2));
        let t = table(&[(1, 4, 0, 9, &[]), (2, 4, 0, 3, &[])]);
        assert_eq!(pick(&t, Policy::LeastLoaded, true), Choice::Assign(2));
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Assign(2));
    }

    #[test]
    fn language_type_slots_and_draining_filter_candidates() {
        let (mut j, f) = (job(), files());
        let mut t = table(&[(1, 1, 1, 0, &[]), (2, 4, 0, 0, &[])]);
        t.set_draining(2);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::None);
        assert_eq!(t.free_slots(), 0);
        j.language = "java".into();
        let t = table(&[(1, 4, 0, 0, &[])]);
        assert_eq!(choose(&ask(&j, &f, Policy::Random, true), &t), Choice::None);
        assert_eq!(pick(&t, Policy::Random, true), Choice::Assign(1));
    }

    #[test]
    fn the_indexes_follow_every_change() {
        let mut t = table(&[(1, 2, 0, 0, &[]), (2, 2, 0, 0, &[])]);
        assert_eq!(t.free_slots(), 4);
        // Worker 2 learns the files: it is the warm one now.
        t.change_cache(
            2,
            vec!["big".into(), "small".into()],
            vec![],
            Default::default(),
            0,
        );
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Assign(2));
        // It fills up: the job waits for it, then goes cold to worker 1.
        t.start(2, 1, Some(1), &[]);
        t.start(2, 2, Some(2), &[]);
        assert_eq!(t.free_slots(), 2);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Wait);
        assert_eq!(pick(&t, Policy::Locality, false), Choice::Assign(1));
        // It forgets "big": worker 1 and 2 are equally cold for it once 2 is free again,
        // and more free memory decides.
        t.stop(2, 1);
        t.stop(2, 2);
        t.change_cache(
            2,
            vec![],
            vec!["big".into(), "small".into()],
            Default::default(),
            0,
        );
        let usage = |free| crate::core::types::Usage {
            memory_free_bytes: free,
            ..Default::default()
        };
        t.set_usage(1, usage(1), 0);
        t.set_usage(2, usage(2), 0);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Assign(2));
        assert!(t.remove(2).is_some());
        assert_eq!(t.free_slots(), 2);
        assert_eq!(pick(&t, Policy::Locality, true), Choice::Assign(1));
    }
}
