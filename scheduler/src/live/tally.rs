//! How many jobs there are of each job type, state and verdict, kept as the driver commits
//! changes, so that `/metrics` reads counters instead of scanning the jobs table at every
//! scrape. Counted once from the store at start; after that only committed changes move it,
//! so it says what the store says.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use judge_common::pb;

use crate::core::{JobId, Persist};
use crate::store::state_str;

/// (job type, state, verdict or "").
pub type TallyKey = (String, &'static str, String);

#[derive(Debug, Default)]
struct Inner {
    counts: BTreeMap<TallyKey, u64>,
    /// Each unfinished job's type and state: what a transition moves it from.
    unfinished: HashMap<JobId, (String, &'static str)>,
}

/// Shared between the driver (which applies committed changes) and `/metrics` (which reads).
#[derive(Debug, Clone, Default)]
pub struct JobTally {
    inner: Arc<Mutex<Inner>>,
}

impl JobTally {
    /// Starts from the store's counts and its unfinished jobs (id, type, state).
    pub fn seed(
        &self,
        counts: impl IntoIterator<Item = (String, String, String, u64)>,
        unfinished: impl IntoIterator<Item = (JobId, String, pb::JobState)>,
    ) {
        let mut inner = self.lock();
        inner.counts.clear();
        inner.unfinished.clear();
        for (kind, state, verdict, n) in counts {
            let state = pb::JobState::from_str_name(&state.to_ascii_uppercase())
                .map(state_str)
                .unwrap_or("unspecified");
            *inner.counts.entry((kind, state, verdict)).or_default() += n;
        }
        for (id, kind, state) in unfinished {
            inner.unfinished.insert(id, (kind, state_str(state)));
        }
    }

    /// Moves the count of a committed change's job.
    pub fn apply(&self, change: &Persist) {
        use pb::JobState as S;
        let mut inner = self.lock();
        let (job_id, to, verdict) = match change {
            Persist::InsertJob { job_id, job, .. } => {
                let state = state_str(S::Queued);
                inner
                    .unfinished
                    .insert(*job_id, (job.kind().as_str().to_string(), state));
                *inner
                    .counts
                    .entry((job.kind().as_str().to_string(), state, String::new()))
                    .or_default() += 1;
                return;
            }
            Persist::Assigned { job_id, .. } => (*job_id, S::Assigned, None),
            Persist::Started { job_id, .. } => (*job_id, S::Running, None),
            Persist::Requeued { job_id, .. } => (*job_id, S::Queued, None),
            Persist::Finished {
                job_id,
                state,
                verdict,
                ..
            } => (*job_id, *state, Some(verdict.map(|v| v.as_str_name()))),
            Persist::Rejudged {
                job_id,
                ended: (state, verdict),
                ..
            } => {
                // A finished job starts over in the queue.
                let kind = judge_common::job_kind::JobKind::Judge.as_str().to_string();
                let was = (
                    kind.clone(),
                    state_str(*state),
                    verdict.map_or("", |v| v.as_str_name()).to_string(),
                );
                if let Some(n) = inner.counts.get_mut(&was) {
                    *n = n.saturating_sub(1);
                }
                let queued = state_str(S::Queued);
                *inner
                    .counts
                    .entry((kind.clone(), queued, String::new()))
                    .or_default() += 1;
                inner.unfinished.insert(*job_id, (kind, queued));
                return;
            }
            Persist::Test { .. } | Persist::Group { .. } | Persist::Event(_) => return,
        };
        let Some((kind, from)) = inner.unfinished.get(&job_id).cloned() else {
            return;
        };
        let to = state_str(to);
        if let Some(n) = inner.counts.get_mut(&(kind.clone(), from, String::new())) {
            *n = n.saturating_sub(1);
        }
        let verdict = verdict.flatten().unwrap_or("").to_string();
        *inner.counts.entry((kind.clone(), to, verdict)).or_default() += 1;
        if matches!(change, Persist::Finished { .. }) {
            inner.unfinished.remove(&job_id);
        } else if let Some(entry) = inner.unfinished.get_mut(&job_id) {
            entry.1 = to;
        }
    }

    /// Every count, zeros included (a state a job left stays shown at 0).
    pub fn snapshot(&self) -> Vec<(TallyKey, u64)> {
        self.lock()
            .counts
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::NewJob;

    fn count(t: &JobTally, state: &str, verdict: &str) -> u64 {
        t.snapshot()
            .into_iter()
            .find(|((_, s, v), _)| *s == state && v == verdict)
            .map_or(0, |(_, n)| n)
    }

    #[test]
    fn a_job_moves_from_state_to_state_and_ends_once() {
        let t = JobTally::default();
        t.seed(
            [("judge".into(), "done".into(), "AC".into(), 3)],
            [(7, "judge".into(), pb::JobState::Running)],
        );
        let job = NewJob {
            spec: crate::core::JobSpec::Judge {
                problem: "p".into(),
                version: 1,
                run_all_tests: false,
            },
            language: "c".into(),
            owner: "o".into(),
            request_id: None,
            supersede_key: None,
            priority: Default::default(),
        };
        t.apply(&Persist::InsertJob {
            job_id: 8,
            req: 1,
            job,
            at: 0,
        });
        assert_eq!(count(&t, "queued", ""), 1);
        t.apply(&Persist::Assigned {
            job_id: 8,
            attempt: 1,
            worker: "w".into(),
        });
        t.apply(&Persist::Started {
            job_id: 8,
            attempt: 1,
        });
        assert_eq!((count(&t, "queued", ""), count(&t, "running", "")), (0, 1));
        let finish = |job_id, verdict| Persist::Finished {
            job_id,
            attempt: 1,
            state: pb::JobState::Done,
            verdict: Some(verdict),
            message: String::new(),
            score: None,
            run: None,
            at: 0,
        };
        t.apply(&finish(8, pb::Verdict::Wa));
        // A job recovered at start (7) ends too; a second end of either counts nothing.
        t.apply(&finish(7, pb::Verdict::Ac));
        t.apply(&finish(7, pb::Verdict::Ac));
        assert_eq!(count(&t, "running", ""), 0);
        assert_eq!(count(&t, "done", "AC"), 4);
        assert_eq!(count(&t, "done", "WA"), 1);
    }
}
