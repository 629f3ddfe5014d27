//! What a worker reports about an attempt: accepted only for the attempt the core sent to
//! that session, in order, once; the job's end with its verdict, score or run result.

use judge_common::pb;
use pb::job_event::Event as Ev;

use super::{
    routing, Attempt, BreakerNews, Command, Core, Effect, JobEnd, JobId, JobProgress, JobSpec,
    Millis, Persist, SessionId, Strike,
};

impl Core {
    pub(super) fn on_progress(
        &mut self,
        session: SessionId,
        job_id: JobId,
        attempt: Attempt,
        progress: JobProgress,
        now: Millis,
        out: &mut Vec<Effect>,
    ) {
        if !self.workers.touch(session, now) {
            return;
        }
        let current = self
            .jobs
            .get(job_id)
            .is_some_and(|j| j.attempt == attempt && j.session == Some(session));
        if !current {
            // A late or foreign attempt: never applied. If the worker is starting it, it is
            // wasting a slot on something nobody wants; tell it to stop.
            if progress == JobProgress::Accepted {
                out.push(Effect::Send {
                    session,
                    command: Command::Cancel { job_id, attempt },
                });
            }
            return;
        }
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        match progress {
            JobProgress::Accepted => {
                if job.state != pb::JobState::Assigned {
                    return; // duplicate
                }
                job.state = pb::JobState::Running;
                if job.cancel.is_some() {
                    out.push(Effect::Send {
                        session,
                        command: Command::Cancel { job_id, attempt },
                    });
                }
                out.push(Effect::Persist(Persist::Started { job_id, attempt }));
                self.event(job_id, now, Ev::Started(pb::StartedEvent { attempt }), out);
            }
            JobProgress::Compiling => {
                if job.state == pb::JobState::Running {
                    self.event(
                        job_id,
                        now,
                        Ev::Compiling(pb::CompilingEvent { attempt }),
                        out,
                    );
                }
            }
            JobProgress::Test(result) => {
                if !in_order(job.state, &mut job.tests_done, result.index) {
                    return;
                }
                out.push(Effect::Persist(Persist::Test {
                    job_id,
                    attempt,
                    result: result.clone(),
                }));
                self.event(job_id, now, Ev::Test(result), out);
            }
            JobProgress::Group(result) => {
                if !in_order(job.state, &mut job.groups_done, result.index) {
                    return;
                }
                out.push(Effect::Persist(Persist::Group {
                    job_id,
                    attempt,
                    result: result.clone(),
                }));
                self.event(job_id, now, Ev::Group(result), out);
            }
            JobProgress::Finished {
                verdict,
                message,
                cancelled,
                score,
                run,
            } => {
                if job.state != pb::JobState::Running && job.state != pb::JobState::Assigned {
                    return;
                }
                self.workers.stop(session, job_id);
                if cancelled {
                    // A supersede's reason says more than the worker's word.
                    let message = job.cancel.clone().unwrap_or(message);
                    self.finish(job_id, pb::JobState::Cancelled, None, message, now, out);
                } else {
                    let is_run = job.job.spec.limits().is_some();
                    let ending = match run {
                        // A run that ended has no verdict (a failed one is JE, without result).
                        Some(run) if is_run => JobEnd {
                            state: pb::JobState::Done,
                            verdict: None,
                            message,
                            score: None,
                            run: Some(run),
                        },
                        Some(_) => JobEnd {
                            state: pb::JobState::Done,
                            verdict: Some(pb::Verdict::Je),
                            message: "the worker sent a run result for a judge job".into(),
                            score: None,
                            run: None,
                        },
                        None => JobEnd {
                            state: pb::JobState::Done,
                            verdict: Some(verdict).filter(|v| *v != pb::Verdict::Unspecified),
                            message,
                            score,
                            run: None,
                        },
                    };
                    let error = ending.verdict == Some(pb::Verdict::Je);
                    if error
                        && self.judge_again_elsewhere(session, job_id, &ending.message, now, out)
                    {
                        return;
                    }
                    let suspect = self.jobs.get(job_id).and_then(|j| j.suspect.clone());
                    self.finish_with(job_id, ending, now, out);
                    // Judged elsewhere after a judge error: if not a judge error again, the
                    // first worker was at fault.
                    if let (Some((name, why)), false) = (suspect, error) {
                        self.strike(&name, &why, now, out);
                    }
                }
            }
        }
    }

    /// A judge error on a judge job no other worker has tried yet: the job goes back to the
    /// queue, to be judged on another worker (free of its retry cap), and the verdict there
    /// decides whose fault it was. `false` when there is no other connected worker to try.
    fn judge_again_elsewhere(
        &mut self,
        session: SessionId,
        job_id: JobId,
        message: &str,
        now: Millis,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(name) = self.workers.get(session).map(|w| w.hello.name.clone()) else {
            return false;
        };
        let Some(job) = self.jobs.get(job_id) else {
            return false;
        };
        if job.suspect.is_some() || !matches!(job.job.spec, JobSpec::Judge { .. }) {
            return false;
        }
        let another = self
            .workers
            .iter()
            .any(|(s, w)| s != session && routing::accepts(w, &job.job));
        if !another {
            return false;
        }
        let Some(job) = self.jobs.get_mut(job_id) else {
            return false;
        };
        let attempt = job.attempt;
        job.suspect = Some((name.clone(), message.to_string()));
        // This attempt does not count against the retry cap.
        job.judging_base += 1;
        out.push(Effect::Persist(Persist::Requeued { job_id, attempt }));
        self.jobs.enqueue(job_id);
        let reason = format!("a judge error on worker {name}; judged again on another worker");
        let ev = Ev::Requeued(pb::RequeuedEvent { attempt, reason });
        self.event(job_id, now, ev, out);
        true
    }

    /// A strike against worker `name` for its judge error `why`: it may be quarantined now.
    fn strike(&mut self, name: &str, why: &str, now: Millis, out: &mut Vec<Effect>) {
        let connected = self.workers.iter().count();
        let news = match self.breakers.strike(name, now, why, connected) {
            Strike::Counted => return,
            Strike::Quarantined(reason) => {
                if let Some(session) = self.workers.session_of(name) {
                    self.workers.set_quarantined(session, Some(reason.clone()));
                }
                BreakerNews::Quarantined(reason)
            }
            Strike::Refused(reason) => BreakerNews::Refused(reason),
        };
        out.push(Effect::Breaker {
            worker: name.to_string(),
            news,
        });
    }
}

/// Whether a result numbered `index` is the next one of a running job's attempt (it is then
/// counted in `done`). Results come in order; anything else is a duplicate or a confused
/// worker, and changes nothing.
fn in_order(state: pb::JobState, done: &mut u32, index: u32) -> bool {
    if state != pb::JobState::Running || index != *done {
        return false;
    }
    *done += 1;
    true
}
