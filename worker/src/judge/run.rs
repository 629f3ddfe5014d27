//! A `run` job: compile the program, run it once on the given input within the given
//! limits, and hand back what it did (outcome, exit, output, use). Nothing is checked.

use std::path::Path;

use judge_common::pb;
use judge_common::run_limits;
use pb::job_update::Update;
use tokio::sync::watch;

use super::languages::Language;
use super::testset::ending;
use super::{judge_error, wall, Judge, NotCompiled, Outcome, ToolLimits, RUN_FILE_SIZE};
use crate::core::verdict::run_outcome;
use crate::sandbox::RunSpec;

/// The compiler's limits for a run job: the defaults problems get.
fn compile_limits() -> ToolLimits {
    use judge_common::limits::{COMPILATION_MEMORY, COMPILATION_TIME};
    let secs = COMPILATION_TIME.default;
    ToolLimits {
        time: std::time::Duration::from_secs_f64(secs),
        memory_bytes: (COMPILATION_MEMORY.default * 1024.0 * 1024.0) as u64,
    }
}

/// What a run or a console starts from: the program compiled, its language and its limits.
pub(super) struct Program<'a> {
    pub lang: &'a Language,
    pub limits: run_limits::Checked,
    /// The name of its main class (Java).
    pub class: String,
}

impl Judge {
    /// The language and limits of a run or a console, checked, and its source compiled.
    /// `Err` ends the attempt: a compile error as a run result, or the judge's failure.
    pub(super) async fn program(
        &self,
        dir: &Path,
        assign: &pb::Assign,
        limits: Option<&pb::RunLimits>,
        report: &(dyn Fn(Update) + Send + Sync),
        cancel: &watch::Receiver<bool>,
    ) -> Result<Program<'_>, Outcome> {
        let Some(lang) = self.languages.get(&assign.language) else {
            return Err(judge_error(format!(
                "this worker has no language {:?}",
                assign.language
            )));
        };
        let limits = match limits.map(run_limits::check) {
            Some(Ok(l)) => l,
            Some(Err(e)) => return Err(judge_error(format!("run limits: {e}"))),
            None => return Err(judge_error("a run without limits")),
        };
        match self
            .compile(dir, lang, &assign.source, compile_limits(), report, cancel)
            .await
        {
            Ok(class) => Ok(Program {
                lang,
                limits,
                class,
            }),
            Err(NotCompiled::Error(message)) => Err(Outcome::Ran(Box::new(pb::RunResult {
                outcome: pb::RunOutcome::CompileError as i32,
                compile_message: message,
                ..Default::default()
            }))),
            Err(NotCompiled::Stop(end)) => Err(end),
        }
    }

    /// Runs `assign`'s program once on `input`.
    pub(super) async fn run_in(
        &self,
        dir: &Path,
        assign: &pb::Assign,
        input: &pb::RunInput,
        report: &(dyn Fn(Update) + Send + Sync),
        cancel: watch::Receiver<bool>,
    ) -> Outcome {
        let Program {
            lang,
            limits,
            class,
        } = match self
            .program(dir, assign, input.limits.as_ref(), report, &cancel)
            .await
        {
            Ok(p) => p,
            Err(end) => return end,
        };
        // Beside the program, where only the runner opens it; the program sees it as its
        // standard input (and could read the file, which is its own input anyway).
        let stdin = dir.join(".stdin");
        if let Err(e) = tokio::fs::write(&stdin, &input.stdin).await {
            return judge_error(format!("cannot write the input: {e}"));
        }
        let spec = RunSpec {
            argv: lang.expand(&lang.run, &class, limits.memory_bytes),
            dir: dir.to_path_buf(),
            dir_writable: false,
            binds: Vec::new(),
            stdin: Some(stdin),
            time_limit: limits.time,
            wall_limit: wall(judge_common::limits::submission_wall_ms, limits.time),
            memory_limit_bytes: limits.memory_bytes,
            output_limit_bytes: limits.output_bytes,
            max_processes: lang.max_processes,
            file_size_limit: RUN_FILE_SIZE,
            piped: None,
            terminal: None,
        };
        let run = match self.runner.run(spec, cancel).await {
            Ok(r) => r,
            Err(e) => return judge_error(format!("run: {e}")),
        };
        if run.cancelled {
            return Outcome::Cancelled;
        }
        let outcome = run_outcome(
            ending(&run, lang.memory_error.as_deref()),
            run.signal.is_some(),
        );
        Outcome::Ran(Box::new(pb::RunResult {
            outcome: outcome as i32,
            // What the program said by exiting: only when it exited by itself.
            exit_code: (outcome == pb::RunOutcome::Exited)
                .then_some(run.exit_code)
                .flatten(),
            signal: run.signal,
            stdout_truncated: run.limit == Some(crate::sandbox::LimitHit::Output),
            stdout: run.stdout,
            stderr: run.stderr,
            stderr_truncated: run.stderr_truncated,
            time_ms: run.cpu_ms,
            wall_ms: run.wall_ms,
            memory_kb: run.memory_kb,
            compile_message: String::new(),
        }))
    }
}
