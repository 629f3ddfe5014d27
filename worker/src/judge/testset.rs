//! Running a compiled submission's tests: each test (batch or interactive), checked, reported
//! as it ends; the order and the submission's verdict decided by the core (`Tally` for
//! pass-fail problems, `Grading` for scoring ones).

use std::path::Path;
use std::sync::Arc;

use judge_common::pb;
use judge_common::validator::ValidatorFlags;
use pb::job_update::Update;
use tokio::sync::watch;

use super::languages::Language;
use super::validator::{self, Built, Judgement};
use super::{judge_error, wall, Judge, Outcome, ProblemLimits, RUN_FILE_SIZE};
use crate::cache::PinnedFile;
use crate::core::checker;
use crate::core::grader::{Grading, Step};
use crate::core::verdict::{self, Ending, Next, Tally};
use crate::sandbox::{RunOutcome, RunSpec};

/// One test's verdict before it is reported.
pub(super) struct TestRun {
    pub verdict: pb::Verdict,
    pub message: String,
    /// The score the validator wrote to `score.txt`, if any.
    pub score: Option<f64>,
    /// The submission's run.
    pub run: RunOutcome,
}

/// A test's files, pinned in the cache while the attempt lasts.
pub(super) type TestFiles = (String, PinnedFile, PinnedFile);

/// Everything the tests of one attempt share.
pub(super) struct TestSet<'a> {
    pub judge: &'a Judge,
    pub dir: &'a Path,
    pub lang: &'a Language,
    pub class: &'a str,
    pub limits: ProblemLimits,
    pub problem: &'a pb::ProblemSpec,
    pub judging: &'a pb::Judging,
    pub custom: Option<Arc<Built>>,
    pub files: Vec<TestFiles>,
    pub cancel: watch::Receiver<bool>,
}

/// The facts of a run that decide its verdict. `memory_error` is how the language's runtime
/// says it ran out of memory by itself.
pub(super) fn ending(run: &RunOutcome, memory_error: Option<&str>) -> Ending {
    Ending {
        limit: run.limit,
        exited_zero: run.exit_code == Some(0),
        runtime_out_of_memory: memory_error
            .is_some_and(|m| String::from_utf8_lossy(&run.stderr).contains(m)),
    }
}

fn test_result(index: usize, name: &str, t: &TestRun, score: Option<f64>) -> pb::TestResult {
    pb::TestResult {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        name: name.to_string(),
        verdict: t.verdict as i32,
        time_ms: t.run.cpu_ms,
        wall_ms: t.run.wall_ms,
        memory_kb: t.run.memory_kb,
        exit_code: t.run.exit_code.unwrap_or(-1),
        signal: t.run.signal.unwrap_or(0),
        message: t.message.clone(),
        score,
    }
}

impl TestSet<'_> {
    /// Pass-fail: tests in order until the first failure (or all of them).
    pub async fn pass_fail(
        &self,
        run_all: bool,
        report: &(dyn Fn(Update) + Send + Sync),
    ) -> Outcome {
        let mut tally = Tally::new(run_all);
        for index in 0..self.files.len() {
            let t = match self.run_test(index).await {
                Ok(t) => t,
                Err(end) => return end,
            };
            report(Update::Test(test_result(
                index,
                &self.files[index].0,
                &t,
                None,
            )));
            if tally.add(t.verdict) == Next::Stop {
                if tally.verdict() == pb::Verdict::Je {
                    // The judge's own failure: never blame the submission.
                    return judge_error(format!(
                        "test {index}: the output validator failed: {}",
                        t.message
                    ));
                }
                break;
            }
        }
        Outcome::Verdict {
            verdict: tally.verdict(),
            message: String::new(),
            score: None,
        }
    }

    /// Scoring: the groups walked as the core says, each group's result reported as it
    /// closes, the submission's score at the end.
    pub async fn graded(&self, run_all: bool, report: &(dyn Fn(Update) + Send + Sync)) -> Outcome {
        let mut grading = match Grading::new(&self.judging.groups, &self.problem.tests, run_all) {
            Ok(g) => g,
            Err(e) => return judge_error(format!("test groups: {e}")),
        };
        let mut closed = 0u32;
        let mut judge_message = String::new();
        loop {
            match grading.step() {
                Step::Run(index) => {
                    if index >= self.files.len() {
                        return judge_error(format!("no test {index}"));
                    }
                    let mut t = match self.run_test(index).await {
                        Ok(t) => t,
                        Err(end) => return end,
                    };
                    let (graded, why) = grading.record(index, t.verdict, t.score);
                    t.verdict = graded.verdict;
                    if let Some(why) = why {
                        t.message = if t.message.is_empty() {
                            why
                        } else {
                            format!("{why}; the validator said: {}", t.message)
                        };
                    }
                    if t.verdict == pb::Verdict::Je && judge_message.is_empty() {
                        judge_message = format!("test {index}: {}", t.message);
                    }
                    let name = &self.files[index].0;
                    report(Update::Test(test_result(
                        index,
                        name,
                        &t,
                        Some(graded.score),
                    )));
                }
                Step::Closed { name, result } => {
                    report(Update::Group(pb::GroupResult {
                        name,
                        verdict: result.verdict as i32,
                        score: result.score,
                        index: closed,
                        groups: Vec::new(),
                    }));
                    closed += 1;
                }
                Step::Done(result) => {
                    let je = result.verdict == pb::Verdict::Je;
                    return Outcome::Verdict {
                        verdict: result.verdict,
                        message: if je { judge_message } else { String::new() },
                        score: (!je).then_some(result.score),
                    };
                }
            }
        }
    }

    /// The validator flags of test `index`: its group's when the problem has groups.
    pub(super) fn flags(&self, index: usize) -> &[String] {
        let group = self.problem.tests.get(index).map(|t| t.group as usize);
        match group.and_then(|g| self.judging.groups.get(g)) {
            Some(g) => &g.validator_flags,
            None => &self.problem.validator_flags,
        }
    }

    /// The submission's run for one test.
    pub(super) fn submission_spec(&self, stdin: Option<&Path>) -> RunSpec {
        let time_limit = self.limits.time;
        RunSpec {
            argv: self
                .lang
                .expand(&self.lang.run, self.class, self.limits.memory_bytes),
            dir: self.dir.to_path_buf(),
            dir_writable: false,
            binds: Vec::new(),
            stdin: stdin.map(Path::to_path_buf),
            time_limit,
            wall_limit: wall(judge_common::limits::submission_wall_ms, time_limit),
            memory_limit_bytes: self.limits.memory_bytes,
            output_limit_bytes: self.limits.output_bytes,
            max_processes: self.lang.max_processes,
            file_size_limit: RUN_FILE_SIZE,
            piped: None,
            terminal: None,
        }
    }

    /// Runs and checks test `index`. `Err` ends the attempt at once (cancelled, or the
    /// judge's own failure).
    async fn run_test(&self, index: usize) -> Result<TestRun, Outcome> {
        if self.judging.interactive {
            return self.run_interactive(index).await;
        }
        let (name, input, answer_file) = &self.files[index];
        let judge = self.judge;
        let spec = self.submission_spec(Some(&input.path));
        let run = match judge.runner.run(spec, self.cancel.clone()).await {
            Ok(r) => r,
            Err(e) => return Err(judge_error(format!("test {name}: {e}"))),
        };
        if run.cancelled {
            return Err(Outcome::Cancelled);
        }
        let memory_error = self.lang.memory_error.as_deref();
        if let Some(v) = verdict::of_run(ending(&run, memory_error)) {
            return Ok(TestRun {
                verdict: v,
                message: String::new(),
                score: None,
                run,
            });
        }
        let flags = self.flags(index);
        let Some(built) = &self.custom else {
            let answer = tokio::fs::read(&answer_file.path)
                .await
                .map_err(|e| judge_error(format!("test {name}: cannot read the answer: {e}")))?;
            let parsed = ValidatorFlags::parse(flags)
                .map_err(|e| judge_error(format!("test {name}: validator flags: {e}")))?;
            let (verdict, message) = match checker::check(&run.stdout, &answer, &parsed) {
                Ok(()) => (pb::Verdict::Ac, String::new()),
                Err(why) => (pb::Verdict::Wa, why),
            };
            return Ok(TestRun {
                verdict,
                message,
                score: None,
                run,
            });
        };
        let output = self.dir.join(format!("output-{index}"));
        if let Err(e) = tokio::fs::write(&output, &run.stdout).await {
            return Err(judge_error(format!(
                "test {name}: cannot save the output: {e}"
            )));
        }
        let case = validator::Case {
            input: &input.path,
            answer: &answer_file.path,
            output: &output,
            feedback: &self.dir.join(format!("feedback-{index}")),
        };
        let judgement = built
            .judge(
                &*judge.runner,
                case,
                flags,
                self.limits.validator,
                self.cancel.clone(),
            )
            .await;
        let (verdict, message, score) = match judgement {
            Judgement::Accepted { message, score } => (pb::Verdict::Ac, message, score),
            Judgement::Rejected(m) => (pb::Verdict::Wa, m, None),
            Judgement::Broken(m) => (pb::Verdict::Je, m, None),
        };
        Ok(TestRun {
            verdict,
            message,
            score,
            run,
        })
    }
}
