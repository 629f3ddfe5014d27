//! One test of an interactive problem: the submission and the interactor (the problem's output
//! validator) run at the same time, each sandboxed with its own limits, joined by two pipes
//! and nothing else. The verdict comes from how each ended (`core::interaction`).

use std::sync::Arc;

use judge_common::pb;
use nix::fcntl::OFlag;
use tokio::sync::watch;

use super::testset::{ending, TestRun, TestSet};
use super::validator::Feedback;
use super::{judge_error, Outcome};
use crate::core::interaction::{self, InteractorEnd};
use crate::sandbox::{Piped, RunOutcome};

fn pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

impl TestSet<'_> {
    pub(super) async fn run_interactive(&self, index: usize) -> Result<TestRun, Outcome> {
        let (name, input, answer) = &self.files[index];
        let je = |what: String| judge_error(format!("test {name}: {what}"));
        let Some(interactor) = &self.custom else {
            return Err(je("an interactive problem without its interactor".into()));
        };
        let runner = &*self.judge.runner;
        let feedback = self.dir.join(format!("feedback-{index}"));
        let (to_interactor, from_submission) = pipe().map_err(|e| je(format!("pipe: {e}")))?;
        let (to_submission, from_interactor) = pipe().map_err(|e| je(format!("pipe: {e}")))?;
        let mut submission = self.submission_spec(None);
        submission.piped = Some(Piped {
            stdin: Arc::new(to_submission),
            stdout: Arc::new(from_submission),
        });
        let mut validator = interactor
            .spec(
                runner,
                &input.path,
                &answer.path,
                &feedback,
                self.flags(index),
                self.limits.validator,
            )
            .await
            .map_err(je)?;
        // It waits on the submission: it must outlive the submission's own wall limit.
        validator.wall_limit = submission.wall_limit + validator.wall_limit;
        validator.piped = Some(Piped {
            stdin: Arc::new(to_interactor),
            stdout: Arc::new(from_interactor),
        });

        // The submission has a switch of its own: an interactor that has rejected (or
        // failed) decides the verdict, so the submission need not run on.
        let (stop_submission, submission_stop) = watch::channel(false);
        let mut job_cancel = self.cancel.clone();
        let sub_run = runner.run(submission, submission_stop);
        let val_run = runner.run(validator, self.cancel.clone());
        tokio::pin!(sub_run, val_run);
        let mut sub_out: Option<RunOutcome> = None;
        let mut val_out: Option<RunOutcome> = None;
        let mut watching_cancel = true;
        while sub_out.is_none() || val_out.is_none() {
            tokio::select! {
                r = &mut sub_run, if sub_out.is_none() => {
                    sub_out = Some(r.map_err(|e| je(format!("submission: {e}")))?);
                }
                r = &mut val_run, if val_out.is_none() => {
                    let r = r.map_err(|e| je(format!("interactor: {e}")))?;
                    let accepted =
                        r.limit.is_none() && r.exit_code == Some(interaction::EXIT_ACCEPT);
                    if !accepted {
                        let _ = stop_submission.send(true);
                    }
                    val_out = Some(r);
                }
                changed = job_cancel.changed(), if watching_cancel => {
                    watching_cancel = false;
                    if changed.is_ok() && *job_cancel.borrow() {
                        let _ = stop_submission.send(true);
                    }
                }
            }
        }
        let (Some(sub), Some(val)) = (sub_out, val_out) else {
            return Err(je("a run of the pair did not end".into()));
        };
        if *self.cancel.borrow() {
            return Err(Outcome::Cancelled);
        }
        let first = match (val.ended_at, sub.ended_at) {
            (Some(v), Some(s)) => v < s,
            _ => false,
        };
        const SIGPIPE: i32 = nix::sys::signal::Signal::SIGPIPE as i32;
        let end = InteractorEnd {
            exit_code: val.exit_code,
            crashed: val.signal.is_some() || val.limit.is_some(),
            first,
            broken_pipe: val.signal == Some(SIGPIPE) && val.limit.is_none(),
        };
        let said = Feedback::read(&feedback).await;
        let memory_error = self.lang.memory_error.as_deref();
        match interaction::verdict(end, ending(&sub, memory_error)) {
            Ok(pb::Verdict::Ac) => match said.score {
                Ok(score) => Ok(TestRun {
                    verdict: pb::Verdict::Ac,
                    message: said.message,
                    score,
                    run: sub,
                }),
                Err(why) => Ok(TestRun {
                    verdict: pb::Verdict::Je,
                    message: format!("{why}; the interactor said: {}", said.message),
                    score: None,
                    run: sub,
                }),
            },
            Ok(verdict) => Ok(TestRun {
                verdict,
                message: said.message,
                score: None,
                run: sub,
            }),
            Err(why) => Ok(TestRun {
                verdict: pb::Verdict::Je,
                message: format!(
                    "{why} (exit {:?}, signal {:?}, limit {:?}): {}",
                    val.exit_code,
                    val.signal,
                    val.limit,
                    String::from_utf8_lossy(&val.stderr)
                        .chars()
                        .take(500)
                        .collect::<String>()
                ),
                score: None,
                run: sub,
            }),
        }
    }
}
