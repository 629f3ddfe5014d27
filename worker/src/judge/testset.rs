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
use crate::core::grader::{self, display_name, Graded, Grading, Step};
use crate::core::passes::{self, After};
use crate::core::usage;
use crate::core::verdict::{self, Ending, Next, Tally};
use crate::sandbox::{RunOutcome, RunSpec};

/// One test's verdict before it is reported.
pub(super) struct TestRun {
    pub verdict: pb::Verdict,
    pub message: String,
    /// The score the validator wrote to `score.txt`, if any.
    pub score: Option<f64>,
    /// The submission's run (a multi-pass test: the last pass, with the largest figures).
    pub run: RunOutcome,
    /// Bytes of its output, where the judge saw them (batch tests).
    pub output_bytes: Option<u64>,
    /// How many times the submission ran.
    pub passes: u32,
}

impl TestRun {
    /// A test decided by the submission's run alone, or by a checker on its output.
    fn of(verdict: pb::Verdict, message: String, score: Option<f64>, run: RunOutcome) -> TestRun {
        let output_bytes = Some(run.stdout.len() as u64);
        TestRun {
            verdict,
            message,
            score,
            run,
            output_bytes,
            passes: 1,
        }
    }
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
    /// The package's grader, for groups with `grading: custom`.
    pub grader: Option<Arc<Built>>,
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

impl TestSet<'_> {
    /// The result reported for a test: its verdict, its figures, and a message that says
    /// what decided it and what the run used of its limits.
    fn test_result(&self, index: usize, t: &TestRun, score: Option<f64>) -> pb::TestResult {
        let used = usage::Use {
            cpu_ms: t.run.cpu_ms,
            wall_ms: t.run.wall_ms,
            memory_kb: t.run.memory_kb,
            exit_code: t.run.exit_code,
            signal: t.run.signal,
            output_bytes: t.output_bytes,
            passes: t.passes,
        };
        let limits = usage::Limits {
            time_ms: u64::try_from(self.limits.time.as_millis()).unwrap_or(u64::MAX),
            memory_bytes: self.limits.memory_bytes,
            output_bytes: self.limits.output_bytes,
        };
        pb::TestResult {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            name: self
                .files
                .get(index)
                .map(|f| f.0.clone())
                .unwrap_or_default(),
            verdict: t.verdict as i32,
            time_ms: t.run.cpu_ms,
            wall_ms: t.run.wall_ms,
            memory_kb: t.run.memory_kb,
            exit_code: t.run.exit_code.unwrap_or(-1),
            signal: t.run.signal.unwrap_or(0),
            message: usage::message(&t.message, &used, &limits),
            score,
        }
    }

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
            report(Update::Test(self.test_result(index, &t, None)));
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
                    report(Update::Test(self.test_result(
                        index,
                        &t,
                        Some(graded.score),
                    )));
                }
                Step::Grade {
                    name,
                    flags,
                    results,
                } => {
                    let answer = match self.grade(closed, &flags, &results).await {
                        Ok(a) => a,
                        Err(end) => return end,
                    };
                    let (_, why) = grading.graded(answer);
                    if let Some(why) = why {
                        if judge_message.is_empty() {
                            judge_message = format!("group {}: {why}", display_name(&name));
                        }
                    }
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

    /// Runs the package's grader on a group's results (the `n`th group to close): its
    /// answer, or why it is a judge error. `Err` ends the attempt (cancelled, or no grader).
    async fn grade(
        &self,
        n: u32,
        flags: &[String],
        results: &[Graded],
    ) -> Result<Result<Graded, String>, Outcome> {
        let Some(grader) = &self.grader else {
            return Err(judge_error(
                "grading: custom, but the problem has no grader",
            ));
        };
        let stdin = self.dir.join(format!("grader-{n}.in"));
        tokio::fs::write(&stdin, grader::grader_input(results))
            .await
            .map_err(|e| judge_error(format!("grader input: {e}")))?;
        let said = grader
            .grade(
                &*self.judge.runner,
                &stdin,
                flags,
                self.limits.validator,
                self.cancel.clone(),
            )
            .await;
        if *self.cancel.borrow() {
            return Err(Outcome::Cancelled);
        }
        Ok(said.and_then(|text| grader::grader_output(&text)))
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

    /// Runs and checks test `index`: once, or pass after pass on a multi-pass problem while
    /// the validator accepts and writes `nextpass.in` (the next pass's input; the feedback
    /// folder stays). `Err` ends the attempt at once (cancelled, or the judge's own failure).
    async fn run_test(&self, index: usize) -> Result<TestRun, Outcome> {
        let (name, input, _) = &self.files[index];
        let feedback = self.dir.join(format!("feedback-{index}"));
        if !self.judging.multi_pass {
            return self.run_pass(index, &input.path, &feedback).await;
        }
        let limit = self.judging.validation_passes;
        let nextpass = feedback.join("nextpass.in");
        let mut input = input.path.clone();
        let mut most = (0, 0, 0);
        for pass in 1..=limit {
            let mut t = self.run_pass(index, &input, &feedback).await?;
            most = (
                most.0.max(t.run.cpu_ms),
                most.1.max(t.run.wall_ms),
                most.2.max(t.run.memory_kb),
            );
            (t.run.cpu_ms, t.run.wall_ms, t.run.memory_kb) = most;
            t.passes = pass;
            let another = tokio::fs::symlink_metadata(&nextpass)
                .await
                .is_ok_and(|m| m.is_file());
            let step = passes::after_pass(pass, limit, t.verdict, another);
            match step {
                After::Done => return Ok(t),
                After::JudgeError(why) => {
                    t.verdict = pb::Verdict::Je;
                    t.message = if t.message.is_empty() {
                        why
                    } else {
                        format!("{why}; the validator said: {}", t.message)
                    };
                    return Ok(t);
                }
                After::NextPass => {
                    let next = self.dir.join(format!("pass-{index}-{}.in", pass + 1));
                    tokio::fs::rename(&nextpass, &next).await.map_err(|e| {
                        judge_error(format!("test {name}: moving nextpass.in: {e}"))
                    })?;
                    input = next;
                }
            }
        }
        Err(judge_error(format!("test {name}: no pass ended it")))
    }

    /// One run of the submission on `input`, checked.
    async fn run_pass(
        &self,
        index: usize,
        input: &Path,
        feedback: &Path,
    ) -> Result<TestRun, Outcome> {
        if self.judging.interactive {
            return self.run_interactive(index, input, feedback).await;
        }
        let (name, _, answer_file) = &self.files[index];
        let judge = self.judge;
        let spec = self.submission_spec(Some(input));
        let run = match judge.runner.run(spec, self.cancel.clone()).await {
            Ok(r) => r,
            Err(e) => return Err(judge_error(format!("test {name}: {e}"))),
        };
        if run.cancelled {
            return Err(Outcome::Cancelled);
        }
        let memory_error = self.lang.memory_error.as_deref();
        if let Some(v) = verdict::of_run(ending(&run, memory_error)) {
            return Ok(TestRun::of(v, String::new(), None, run));
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
            return Ok(TestRun::of(verdict, message, None, run));
        };
        let output = self.dir.join(format!("output-{index}"));
        if let Err(e) = tokio::fs::write(&output, &run.stdout).await {
            return Err(judge_error(format!(
                "test {name}: cannot save the output: {e}"
            )));
        }
        let case = validator::Case {
            input,
            answer: &answer_file.path,
            output: &output,
            feedback,
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
        Ok(TestRun::of(verdict, message, score, run))
    }
}
