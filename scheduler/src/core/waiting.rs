//! Why a queued job waits, in words a person can act on: nothing can run it, everything that
//! could is busy, it waits for a worker that holds its data, its owner is at its running
//! limit, or others go first (its owner's older jobs, owners with fewer jobs running).

use super::routing;
use super::{Core, JobId, Millis, Priority};
use judge_common::pb;

impl Core {
    /// Why the job waits, or `None` if it is not queued (or not known).
    pub fn waiting(&self, job_id: JobId, now: Millis) -> Option<String> {
        let job = self.jobs.get(job_id)?;
        if job.state != pb::JobState::Queued {
            return None;
        }
        let (kind, lang) = (job.job.kind().as_str(), &job.job.language);
        let held = self.jobs.held_of(&job.job.owner);
        if held >= self.config.max_running_per_owner {
            return Some(format!(
                "your running limit ({}): {held} of your jobs are on workers",
                self.config.max_running_per_owner
            ));
        }
        let workers: Vec<_> = self.workers.iter().map(|(_, w)| w).collect();
        if !workers
            .iter()
            .any(|w| w.hello.job_types.iter().any(|t| t == kind))
        {
            return Some(format!("no connected worker takes {kind} jobs"));
        }
        if !workers.iter().any(|w| {
            w.hello.job_types.iter().any(|t| t == kind) && w.hello.languages.contains(lang)
        }) {
            return Some(format!("no connected worker offers {lang}"));
        }
        let able: Vec<_> = workers
            .iter()
            .filter(|w| routing::accepts(w, &job.job))
            .collect();
        if able.is_empty() {
            return Some(format!("every worker that offers {lang} is draining"));
        }
        if !able.iter().any(|w| w.has_free_slot()) {
            let slots: u64 = able.iter().map(|w| u64::from(w.hello.slots)).sum();
            let busy = format!(
                "all {slots} slots of the {} workers that can run it are busy",
                able.len()
            );
            return Some(match self.behind_higher_classes(job, now) {
                Some(behind) => format!("{busy}; {behind}"),
                None => busy,
            });
        }
        if let Some(since) = job.skipped_since {
            let left = self.config.locality_wait_ms - (now - since);
            if left > 0 {
                return Some(format!(
                    "waiting up to {} s for a worker that holds the data",
                    (left + 999) / 1000
                ));
            }
        }
        if let Some(behind) = self.behind_higher_classes(job, now) {
            return Some(behind);
        }
        // Fair share: the owner's own older jobs go first, and so do other owners' with
        // fewer jobs on workers.
        let owner = job.job.owner.as_str();
        let mine = self
            .jobs
            .queued()
            .take_while(|id| *id < job_id)
            .filter(|id| self.jobs.get(*id).is_some_and(|j| j.job.owner == owner))
            .count();
        let held = self.jobs.held_of(owner);
        let before = self
            .jobs
            .queued_owners()
            .filter(|o| *o != owner && self.jobs.held_of(o) < held)
            .count();
        Some(match (mine, before) {
            (0, 0) => "next in line for a free worker".to_string(),
            (0, n) => format!("{n} other owners with fewer jobs running go first (fair share)"),
            (m, 0) => format!("{m} of your own jobs are ahead of it"),
            (m, n) => format!(
                "{m} of your own jobs are ahead of it, and {n} other owners with fewer jobs \
                 running go first (fair share)"
            ),
        })
    }

    /// "behind 2 contest jobs (…)" when jobs of a higher class wait and this one has not
    /// aged yet.
    fn behind_higher_classes(&self, job: &super::jobs::ActiveJob, now: Millis) -> Option<String> {
        let class = job.job.priority;
        if now - job.queued_since >= self.config.aging_ms {
            return None;
        }
        let mut higher: Vec<(Priority, usize)> = Vec::new();
        for (_, c, jobs) in self.jobs.groups() {
            if c.rank() < class.rank() {
                match higher.iter_mut().find(|(h, _)| *h == c) {
                    Some((_, n)) => *n += jobs.len(),
                    None => higher.push((c, jobs.len())),
                }
            }
        }
        if higher.is_empty() {
            return None;
        }
        higher.sort();
        let list: Vec<String> = higher
            .iter()
            .map(|(c, n)| format!("{n} {c} job{}", if *n == 1 { "" } else { "s" }))
            .collect();
        let left = (self.config.aging_ms - (now - job.queued_since) + 999) / 1000;
        Some(format!(
            "behind {} (a higher class goes first; it goes as one in at most {left} s)",
            list.join(" and ")
        ))
    }
}
