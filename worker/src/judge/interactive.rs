//! One test of an interactive problem: the submission and the interactor (the problem's output
//! validator) run at the same time, each sandboxed with its own limits, joined by two pipes
//! and nothing else. The verdict comes from how each ended (`core::interaction`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use nix::fcntl::OFlag;
use tokio::sync::watch;

use super::testset::{ending, TestRun, TestSet};
use super::validator::{Feedback, Judgement};
use super::{judge_error, Outcome};
use crate::core::interaction::{self, InteractorEnd};
use crate::sandbox::{Piped, RunOutcome};

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// Which side of an interactive test ended first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum First {
    Submission,
    Interactor,
    /// Both were seen gone at the same look.
    Together,
}

/// Watches, without writing, copies of the write ends of both pipes: a pipe reports an error
/// to its writers once its only reader (the interactor's input, the submission's input) is
/// gone, which is exactly when that side ended or closed its input.
///
/// Holding a writer of each pipe also holds back the end-of-file the other side would see:
/// when the interactor exits, the submission does not see its input end until this thread
/// has seen the exit and let go. So the order is causal, however late this thread runs on a
/// busy machine (watching the read ends instead, both hang-ups could land before it looked,
/// and a submission that crashed on the end-of-file then looked like it crashed first).
/// Once one side is gone both copies are dropped, so the other side sees its end-of-file
/// (or EPIPE, writing to the side that is gone) as without us.
fn first_to_go(
    to_interactor: OwnedFd,
    to_submission: OwnedFd,
    within: Duration,
    ready: std::sync::mpsc::SyncSender<()>,
) -> First {
    // The order does not depend on when this thread runs (see above), but the side still
    // running waits for it to see its end-of-file: woken ahead of the runs, it keeps that
    // wait short on a busy machine. Best effort: without the right, the default priority.
    // SAFETY: changes only this thread's nice value.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -20) };
    let _ = ready.send(());
    let deadline = std::time::Instant::now() + within;
    loop {
        if std::time::Instant::now() > deadline {
            // Something outside both runs holds a pipe: no answer, and no thread kept.
            return First::Together;
        }
        let mut fds = [
            libc::pollfd {
                fd: to_submission.as_raw_fd(),
                events: 0,
                revents: 0,
            },
            libc::pollfd {
                fd: to_interactor.as_raw_fd(),
                events: 0,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds on descriptors we own for the whole call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return First::Together;
        }
        // A writer's copy reports POLLERR once the pipe has no reader.
        let gone = |f: &libc::pollfd| f.revents & (libc::POLLHUP | libc::POLLERR) != 0;
        return match (gone(&fds[0]), gone(&fds[1])) {
            (true, false) => First::Submission,
            (false, true) => First::Interactor,
            (true, true) => First::Together,
            (false, false) => continue,
        };
    }
}

/// Longer than both runs can last: the submission's wall limit plus the interactor's, and
/// a margin.
fn pair_wall_bound(set: &TestSet<'_>) -> Duration {
    let sub = super::wall(judge_common::limits::submission_wall_ms, set.limits.time);
    let val = super::wall(
        judge_common::limits::tool_wall_ms,
        set.limits.validator.time,
    );
    sub + val + Duration::from_secs(10)
}

impl TestSet<'_> {
    /// One pass of an interactive test: the interactor reads `input`, writes into
    /// `feedback`.
    pub(super) async fn run_interactive(
        &self,
        index: usize,
        input: &std::path::Path,
        feedback: &std::path::Path,
    ) -> Result<TestRun, Outcome> {
        let (name, _, answer) = &self.files[index];
        let je = |what: String| judge_error(format!("test {name}: {what}"));
        let Some(interactor) = &self.custom else {
            return Err(je("an interactive problem without its interactor".into()));
        };
        let runner = &*self.judge.runner;
        let (to_interactor, from_submission) = pipe().map_err(|e| je(format!("pipe: {e}")))?;
        let (to_submission, from_interactor) = pipe().map_err(|e| je(format!("pipe: {e}")))?;
        // Writers into the interactor's input and into the submission's.
        let copies = from_submission
            .try_clone()
            .and_then(|a| Ok((a, from_interactor.try_clone()?)))
            .map_err(|e| je(format!("pipe: {e}")))?;
        let within = pair_wall_bound(self);
        let (ready, watching) = std::sync::mpsc::sync_channel(1);
        let order = std::thread::Builder::new()
            .name("interaction".into())
            .spawn(move || first_to_go(copies.0, copies.1, within, ready))
            .map_err(|e| je(format!("watcher thread: {e}")))?;
        // It watches before either side exists.
        let _ = tokio::task::spawn_blocking(move || watching.recv()).await;
        let mut submission = self.submission_spec(None);
        submission.piped = Some(Piped {
            stdin: Arc::new(to_submission),
            stdout: Arc::new(from_submission),
        });
        let mut validator = interactor
            .spec(
                runner,
                input,
                &answer.path,
                feedback,
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
        // Both are gone, so neither pipe has a reader: this ends at once (or at its deadline).
        let order = tokio::task::spawn_blocking(move || order.join())
            .await
            .ok()
            .and_then(Result::ok);
        let first = match order {
            Some(First::Interactor) => true,
            Some(First::Submission) => false,
            // Seen together, or not at all: the order the runs were reaped in.
            _ => matches!((val.ended_at, sub.ended_at), (Some(v), Some(s)) if v < s),
        };
        const SIGPIPE: i32 = nix::sys::signal::Signal::SIGPIPE as i32;
        let end = InteractorEnd {
            exit_code: val.exit_code,
            crashed: val.signal.is_some() || val.limit.is_some(),
            first,
            broken_pipe: val.signal == Some(SIGPIPE) && val.limit.is_none(),
        };
        let said = Feedback::read(feedback).await;
        let memory_error = self.lang.memory_error.as_deref();
        match interaction::verdict(end, ending(&sub, memory_error)) {
            // Accepted: its score.txt decides the score, or makes it the judge's fault.
            Ok(pb::Verdict::Ac) => match said.accepted() {
                Judgement::Accepted { message, score } => {
                    Ok(piped(pb::Verdict::Ac, message, score, sub))
                }
                Judgement::Rejected(message) | Judgement::Broken(message) => {
                    Ok(piped(pb::Verdict::Je, message, None, sub))
                }
            },
            Ok(verdict) => Ok(piped(verdict, said.message, None, sub)),
            Err(why) => Ok(piped(
                pb::Verdict::Je,
                format!(
                    "{why} (exit {:?}, signal {:?}, limit {:?}): {}",
                    val.exit_code,
                    val.signal,
                    val.limit,
                    String::from_utf8_lossy(&val.stderr)
                        .chars()
                        .take(500)
                        .collect::<String>()
                ),
                None,
                sub,
            )),
        }
    }
}

/// An interactive test's result: its output went to the interactor, unseen by the judge.
fn piped(verdict: pb::Verdict, message: String, score: Option<f64>, run: RunOutcome) -> TestRun {
    TestRun {
        verdict,
        message,
        score,
        run,
        output_bytes: None,
        passes: 1,
    }
}
