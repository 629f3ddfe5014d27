//! Which worker gets a job.
//!
//! Candidates accept the job's type and language and have a free slot. Among them the least
//! loaded (running / slots) wins; between equally loaded workers the one that waited longest
//! since its last assignment wins, so ties rotate fairly instead of always hitting one worker.

use std::cmp::Ordering;

use super::types::{NewJob, SessionId};
use super::workers::Worker;

/// Whether `worker` could run `job` right now.
pub fn can_run(worker: &Worker, job: &NewJob) -> bool {
    worker.has_free_slot()
        && worker.hello.job_types.contains(&job.job_type)
        && worker.hello.languages.contains(&job.language)
}

/// Orders by load: `a.running / a.slots` against `b.running / b.slots`, without floats.
fn by_load(a: &Worker, b: &Worker) -> Ordering {
    let la = a.running.len() as u64 * u64::from(b.hello.slots.max(1));
    let lb = b.running.len() as u64 * u64::from(a.hello.slots.max(1));
    la.cmp(&lb)
}

/// The best worker for `job`, if any can take it now.
pub fn pick<'a>(
    job: &NewJob,
    workers: impl Iterator<Item = (SessionId, &'a Worker)>,
) -> Option<SessionId> {
    workers
        .filter(|(_, w)| can_run(w, job))
        .min_by(|(sa, a), (sb, b)| {
            by_load(a, b)
                .then(a.last_assigned.cmp(&b.last_assigned))
                .then(sa.cmp(sb))
        })
        .map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::{Usage, WorkerHello};
    use std::collections::BTreeSet;

    fn worker(slots: u32, running: u64, last_assigned: u64, langs: &[&str]) -> Worker {
        Worker {
            hello: WorkerHello {
                name: format!("w{slots}-{running}-{last_assigned}"),
                slots,
                job_types: vec!["judge".into()],
                languages: langs.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            running: (0..running).collect::<BTreeSet<_>>(),
            draining: false,
            usage: Usage::default(),
            last_report: 0,
            last_assigned,
        }
    }

    fn job(lang: &str) -> NewJob {
        NewJob {
            job_type: "judge".into(),
            language: lang.into(),
            problem_id: "p".into(),
            problem_version: 1,
            run_all_tests: false,
        }
    }

    #[test]
    fn least_loaded_wins_by_ratio_not_count() {
        // 2 of 8 busy (25%) beats 1 of 2 busy (50%).
        let ws = [(1, worker(2, 1, 0, &["c"])), (2, worker(8, 2, 0, &["c"]))];
        assert_eq!(pick(&job("c"), ws.iter().map(|(s, w)| (*s, w))), Some(2));
    }

    #[test]
    fn ties_go_to_the_worker_idle_longest() {
        let ws = [(1, worker(4, 0, 9, &["c"])), (2, worker(4, 0, 3, &["c"]))];
        assert_eq!(pick(&job("c"), ws.iter().map(|(s, w)| (*s, w))), Some(2));
    }

    #[test]
    fn language_type_and_slots_filter_candidates() {
        let ws = [
            (1, worker(1, 1, 0, &["c"])),
            (2, worker(4, 0, 0, &["python3"])),
        ];
        assert_eq!(pick(&job("c"), ws.iter().map(|(s, w)| (*s, w))), None);
        let mut other_type = job("python3");
        other_type.job_type = "interactive".into();
        assert_eq!(pick(&other_type, ws.iter().map(|(s, w)| (*s, w))), None);
        assert_eq!(
            pick(&job("python3"), ws.iter().map(|(s, w)| (*s, w))),
            Some(2)
        );
    }

    #[test]
    fn draining_workers_take_nothing() {
        let mut w = worker(4, 0, 0, &["c"]);
        w.draining = true;
        let ws = [(1, w)];
        assert_eq!(pick(&job("c"), ws.iter().map(|(s, w)| (*s, w))), None);
    }
}
