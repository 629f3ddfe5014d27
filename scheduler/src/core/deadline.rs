//! How long an attempt may take before it counts as stuck: its deadline, from the problem's
//! limits and files (or a run job's limits, or a console's time), every limit hit and every
//! file downloaded slowly. The core takes an attempt back once this (and its slack) has
//! passed (`Core::take_back`).

use judge_common::pb;

use super::{JobFiles, JobSpec, Millis};

/// The longest an attempt of a job can take: a judge job's is its problem version's
/// (`judged`, from [`worst_case_ms`], computed once per version), a run's and a console's
/// follow from their own limits.
pub fn attempt_worst_case_ms(spec: &JobSpec, judged: Millis) -> Millis {
    match spec {
        JobSpec::Judge { .. } => judged,
        JobSpec::Run { limits } => run_worst_case_ms(limits),
        JobSpec::Console { spec } => console_worst_case_ms(spec.max_seconds),
    }
}

/// Download speed assumed for an attempt's deadline: slow, so that a worker on a poor link
/// is not taken for a stuck one.
pub const SLOW_DOWNLOAD_BYTES_PER_MS: u64 = 1_000; // 1 MB/s

/// The longest an attempt of this problem can take when every limit is hit: its files
/// downloaded at [`SLOW_DOWNLOAD_BYTES_PER_MS`], the compiler's wall limit, the validator's
/// build, and for every test the submission's wall limit and the validator's (the wall
/// limits the worker applies, from [`judge_common::limits`]).
pub fn worst_case_ms(spec: &pb::ProblemSpec, files: &JobFiles) -> Millis {
    use judge_common::limits::{submission_wall_ms, tool_wall_ms};
    let bytes: u64 = files
        .iter()
        .map(|(_, size)| *size)
        .fold(0, u64::saturating_add);
    let tool = |ms: u32| tool_wall_ms(u64::from(ms));
    let validator = if spec.output_validator.is_some() {
        tool(spec.validator_time_limit_ms)
    } else {
        0
    };
    let judging = spec.judging.clone().unwrap_or_default();
    // A multi-pass test runs the submission and its validator up to its pass limit.
    let passes = if judging.multi_pass {
        u64::from(judging.validation_passes.max(1))
    } else {
        1
    };
    let per_test = submission_wall_ms(u64::from(spec.time_limit_ms))
        .saturating_add(validator)
        .saturating_mul(passes);
    // A grader is built once and runs once per group.
    let grader = if judging.grader.is_some() {
        tool(spec.validator_time_limit_ms).saturating_mul(judging.groups.len() as u64 + 1)
    } else {
        0
    };
    let total = (bytes / SLOW_DOWNLOAD_BYTES_PER_MS)
        .saturating_add(tool(spec.compile_time_limit_ms))
        .saturating_add(validator)
        .saturating_add(grader)
        .saturating_add(per_test.saturating_mul(spec.tests.len() as u64));
    Millis::try_from(total).unwrap_or(Millis::MAX / 4)
}

/// The longest a `run` job's attempt can take: the compiler's wall limit (the default
/// compile time) and the program's wall limit. Its limits are set (resolved at submit).
pub fn run_worst_case_ms(limits: &pb::RunLimits) -> Millis {
    let run_ms = u64::from(limits.time_limit_ms.unwrap_or_default());
    after_compiling(judge_common::limits::submission_wall_ms(run_ms))
}

/// The longest a console's attempt can take: compiling, then open for its most seconds.
pub fn console_worst_case_ms(max_seconds: u32) -> Millis {
    after_compiling(u64::from(max_seconds) * 1000)
}

/// `run_ms` after the compiler's wall limit (the default compile time, which run jobs and
/// consoles get).
fn after_compiling(run_ms: u64) -> Millis {
    use judge_common::limits::{tool_wall_ms, COMPILATION_TIME};
    let compile_ms = (COMPILATION_TIME.default * 1000.0) as u64;
    Millis::try_from(tool_wall_ms(compile_ms).saturating_add(run_ms)).unwrap_or(Millis::MAX / 4)
}
