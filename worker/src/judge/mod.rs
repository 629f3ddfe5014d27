//! Judging one submission: compile once, run the tests in order, check each output, report
//! each result as it happens.

mod console;
mod interactive;
pub mod languages;
mod run;
mod testset;
pub mod validator;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use judge_common::pb;
use judge_common::validator::ValidatorFlags;
use pb::job_update::Update;
use tokio::sync::watch;

use crate::cache::FileCache;
use crate::sandbox::{RunSpec, Runner};
use languages::{java_class, Language};

/// Compilers run several processes (gcc) or many threads (javac).
pub const COMPILE_PROCESSES: u32 = 512;
/// Largest file a compiler or validator may write.
pub const TOOL_FILE_SIZE: u64 = 1 << 30;
/// Largest file a submission may write (its output goes through a pipe, not a file).
pub const RUN_FILE_SIZE: u64 = 64 << 20;
/// How much compiler output a CE carries.
const COMPILE_MESSAGE_CAP: usize = 8 * 1024;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Verdict {
        verdict: pb::Verdict,
        message: String,
        /// Scoring problems: the submission's score.
        score: Option<f64>,
    },
    /// A `run` job's program ran (or did not compile).
    Ran(Box<pb::RunResult>),
    Cancelled,
}

/// Why a submission has no program to run.
enum NotCompiled {
    /// It did not compile: the compiler's words.
    Error(String),
    /// Judging ends here (cancelled, or the judge's own failure).
    Stop(Outcome),
}

/// Everything judging needs, shared by all slots.
pub struct Judge {
    pub runner: Arc<dyn Runner>,
    pub languages: BTreeMap<String, Language>,
    pub cache: FileCache,
    pub work_dir: PathBuf,
    pub validators: validator::Validators,
    /// Dials consoles' streams; `None` where consoles are not taken.
    pub attacher: Option<crate::attach::Attacher>,
    /// Most bytes a job's own files (source, what its compiler writes) may take on disk.
    pub job_disk_bytes: u64,
}

/// The limits of one of the judge's own tools (a compiler, a validator), from the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolLimits {
    pub time: Duration,
    pub memory_bytes: u64,
}

/// The problem's limits, each checked against its range: a scheduler (or anything posing as
/// one) cannot make the worker run with absurd ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemLimits {
    pub time: Duration,
    pub memory_bytes: u64,
    pub output_bytes: u64,
    pub compile: ToolLimits,
    pub validator: ToolLimits,
}

impl ProblemLimits {
    pub fn of(p: &pb::ProblemSpec) -> Result<ProblemLimits, String> {
        use judge_common::limits as l;
        let ms = |r: &l::Range, v: u32| {
            r.millis(Some(f64::from(v) / 1000.0))
                .map(|ms| Duration::from_millis(u64::from(ms)))
        };
        let mib = |r: &l::Range, v: u64| r.bytes(Some(v as f64 / (1024.0 * 1024.0)));
        Ok(ProblemLimits {
            time: ms(&l::TIME_LIMIT, p.time_limit_ms)?,
            memory_bytes: mib(&l::MEMORY, p.memory_limit_bytes)?,
            output_bytes: mib(&l::OUTPUT, p.output_limit_bytes)?,
            compile: ToolLimits {
                time: ms(&l::COMPILATION_TIME, p.compile_time_limit_ms)?,
                memory_bytes: mib(&l::COMPILATION_MEMORY, p.compile_memory_limit_bytes)?,
            },
            validator: ToolLimits {
                time: ms(&l::VALIDATION_TIME, p.validator_time_limit_ms)?,
                memory_bytes: mib(&l::VALIDATION_MEMORY, p.validator_memory_limit_bytes)?,
            },
        })
    }
}

/// The wall limit `rule` gives a run with CPU-time limit `cpu`.
fn wall(rule: fn(u64) -> u64, cpu: Duration) -> Duration {
    let ms = u64::try_from(cpu.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rule(ms))
}

/// A run of the judge's own tools (compilers, validators): limits of their own, and a
/// directory they may write into.
pub fn tool_spec(
    argv: Vec<String>,
    dir: PathBuf,
    stdin: Option<PathBuf>,
    limits: ToolLimits,
) -> RunSpec {
    RunSpec {
        argv,
        dir,
        dir_writable: true,
        binds: Vec::new(),
        stdin,
        time_limit: limits.time,
        wall_limit: wall(judge_common::limits::tool_wall_ms, limits.time),
        memory_limit_bytes: limits.memory_bytes,
        output_limit_bytes: 1 << 20,
        max_processes: COMPILE_PROCESSES,
        file_size_limit: TOOL_FILE_SIZE,
        piped: None,
        terminal: None,
    }
}

/// Bytes the files under `dir` take (what cannot be read counts as nothing).
async fn disk_usage(dir: &std::path::Path) -> u64 {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut total = 0u64;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    stack.push(entry.path());
                } else {
                    total = total.saturating_add(meta.len());
                }
            }
        }
        total
    })
    .await
    .unwrap_or(0)
}

fn judge_error(message: impl Into<String>) -> Outcome {
    Outcome::Verdict {
        verdict: pb::Verdict::Je,
        message: message.into(),
        score: None,
    }
}

impl Judge {
    /// Judges `assign`, sending progress through `report`. Never blames the submission for
    /// the judge's own failures: those are JE.
    pub async fn judge(
        &self,
        assign: &pb::Assign,
        report: &(dyn Fn(Update) + Send + Sync),
        cancel: watch::Receiver<bool>,
    ) -> Outcome {
        let dir = self
            .work_dir
            .join("jobs")
            .join(format!("{}-{}", assign.job_id, assign.attempt));
        use pb::assign::Spec;
        let outcome = match &assign.spec {
            Some(Spec::Problem(problem)) => {
                self.judge_in(&dir, assign, problem, report, cancel).await
            }
            Some(Spec::Run(input)) => self.run_in(&dir, assign, input, report, cancel).await,
            Some(Spec::Console(spec)) => self.console_in(&dir, assign, spec, report, cancel).await,
            None => judge_error("an assignment without its job (a problem, a run or a console)"),
        };
        let _ = tokio::fs::remove_dir_all(&dir).await;
        outcome
    }

    async fn judge_in(
        &self,
        dir: &std::path::Path,
        assign: &pb::Assign,
        problem: &pb::ProblemSpec,
        report: &(dyn Fn(Update) + Send + Sync),
        cancel: watch::Receiver<bool>,
    ) -> Outcome {
        let Some(lang) = self.languages.get(&assign.language) else {
            return judge_error(format!("this worker has no language {:?}", assign.language));
        };
        let limits = match ProblemLimits::of(problem) {
            Ok(l) => l,
            Err(e) => return judge_error(format!("problem limits: {e}")),
        };
        // A custom validator's flags are its own words; the default validator's must parse.
        if problem.output_validator.is_none() {
            if let Err(e) = ValidatorFlags::parse(&problem.validator_flags) {
                return judge_error(format!("problem validator flags: {e}"));
            }
        }
        // Fetch (and pin) every file first: a missing file is the judge's problem, found
        // before any run. The pins keep them in the cache until this attempt ends.
        let mut tests = Vec::with_capacity(problem.tests.len());
        for t in &problem.tests {
            let (Some(input), Some(answer)) = (&t.input, &t.answer) else {
                return judge_error(format!("test {} has no input or answer", t.name));
            };
            let input = match self.cache.acquire(input).await {
                Ok(p) => p,
                Err(e) => return judge_error(format!("test {}: {e}", t.name)),
            };
            let answer = match self.cache.acquire(answer).await {
                Ok(p) => p,
                Err(e) => return judge_error(format!("test {}: {e}", t.name)),
            };
            tests.push((t.name.clone(), input, answer));
        }

        let class = match self
            .compile(dir, lang, &assign.source, limits.compile, report, &cancel)
            .await
        {
            Ok(class) => class,
            Err(NotCompiled::Error(message)) => {
                return Outcome::Verdict {
                    verdict: pb::Verdict::Ce,
                    message,
                    score: None,
                }
            }
            Err(NotCompiled::Stop(end)) => return end,
        };

        let custom = match self
            .package_program(problem.output_validator.as_ref(), limits, &cancel)
            .await
        {
            Ok(built) => built,
            Err(e) => return judge_error(format!("output validator: {e}")),
        };
        let judging = problem.judging.clone().unwrap_or_default();
        if (judging.interactive || judging.multi_pass) && custom.is_none() {
            return judge_error("an interactive or multi-pass problem without its validator");
        }
        let passes = judging.validation_passes;
        if judging.multi_pass
            && !(2..=judge_common::problem::MAX_VALIDATION_PASSES).contains(&passes)
        {
            return judge_error(format!("validation_passes {passes}: out of range"));
        }
        let grader = match self
            .package_program(judging.grader.as_ref(), limits, &cancel)
            .await
        {
            Ok(built) => built,
            Err(e) => return judge_error(format!("grader: {e}")),
        };
        let set = testset::TestSet {
            judge: self,
            dir,
            lang,
            class: &class,
            limits,
            problem,
            judging: &judging,
            custom,
            grader,
            files: tests,
            cancel,
        };
        if judging.scoring {
            set.graded(assign.run_all_tests, report).await
        } else {
            set.pass_fail(assign.run_all_tests, report).await
        }
    }

    /// The package's program (validator, interactor, grader) built, if the problem has it.
    async fn package_program(
        &self,
        spec: Option<&pb::OutputValidator>,
        limits: ProblemLimits,
        cancel: &watch::Receiver<bool>,
    ) -> Result<Option<Arc<validator::Built>>, String> {
        let Some(spec) = spec else { return Ok(None) };
        let built = self
            .validators
            .get(
                spec,
                limits.validator,
                &self.cache,
                &*self.runner,
                cancel.clone(),
            )
            .await?;
        Ok(Some(built))
    }

    /// Writes the source into `dir` and compiles it there (if its language compiles): the
    /// name of its main class (Java) on success.
    async fn compile(
        &self,
        dir: &std::path::Path,
        lang: &Language,
        source: &[u8],
        limits: ToolLimits,
        report: &(dyn Fn(Update) + Send + Sync),
        cancel: &watch::Receiver<bool>,
    ) -> Result<String, NotCompiled> {
        let stop = |m: String| NotCompiled::Stop(judge_error(m));
        let text = String::from_utf8_lossy(source);
        let class = if lang.source_file.contains("{class}") {
            java_class(&text)
        } else {
            "Main".into()
        };
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| stop(format!("cannot create {}: {e}", dir.display())))?;
        let source_path = dir.join(lang.source_file.replace("{class}", &class));
        tokio::fs::write(&source_path, source)
            .await
            .map_err(|e| stop(format!("cannot write the source: {e}")))?;
        let Some(compile) = &lang.compile else {
            return Ok(class);
        };
        report(Update::Compiling(pb::Compiling {}));
        let mut spec = tool_spec(
            lang.expand(compile, &class, limits.memory_bytes),
            dir.to_path_buf(),
            None,
            limits,
        );
        // No file the compiler writes (nor its /tmp) may pass the job's disk bound.
        spec.file_size_limit = self.job_disk_bytes;
        let run = self
            .runner
            .run(spec, cancel.clone())
            .await
            .map_err(|e| stop(format!("compiler: {e}")))?;
        if run.cancelled {
            return Err(NotCompiled::Stop(Outcome::Cancelled));
        }
        // All its files together neither: a compiler that wrote up to the bound (a file cut
        // at it, or many files) is a compile error that says so, whatever else it printed.
        let used = disk_usage(dir).await;
        if used >= self.job_disk_bytes {
            return Err(NotCompiled::Error(format!(
                "the compiler wrote {} MiB or more, past this worker's bound of {} MiB for a \
                 job's files (--job-disk-mib)",
                used >> 20,
                self.job_disk_bytes >> 20
            )));
        }
        if !run.success() {
            let mut text = String::from_utf8_lossy(&run.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&run.stdout));
            if run.limit.is_some() {
                text.push_str("\n(the compiler hit its time or memory limit)");
            }
            return Err(NotCompiled::Error(
                text.chars().take(COMPILE_MESSAGE_CAP).collect(),
            ));
        }
        Ok(class)
    }
}
