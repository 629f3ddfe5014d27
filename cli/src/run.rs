//! `judgectl run`: one run of a program on given input, through the cluster. The program's
//! output becomes judgectl's, and its exit judgectl's exit code, so that a script can use
//! it like a local run.

use serde_json::{json, Value};

use judge_common::pb;

/// Exit code when the program ran past its CPU or wall time, or a console sat idle too long
/// (as `timeout(1)`).
pub const EXIT_TIME_LIMIT: u8 = 124;
/// Exit code when the program ran out of memory.
pub const EXIT_MEMORY_LIMIT: u8 = 125;
/// Exit code when the program wrote more than the output limit.
pub const EXIT_OUTPUT_LIMIT: u8 = 126;
/// Exit code when the program did not compile.
pub const EXIT_COMPILE_ERROR: u8 = 127;
/// Exit code when there is no result: refused, cancelled, or the judge failed.
pub const EXIT_NO_RESULT: u8 = 123;

/// The request for a run of `source` on `stdin`; unset limits take the scheduler's defaults.
pub fn request(
    language: String,
    source: Vec<u8>,
    stdin: Vec<u8>,
    limits: pb::RunLimits,
) -> pb::SubmitRequest {
    pb::SubmitRequest {
        problem_id: String::new(),
        language,
        source,
        job_type: "run".into(),
        run_all_tests: false,
        request_id: String::new(),
        stdin,
        limits: Some(limits),
        supersede_key: String::new(),
        priority: String::new(),
    }
}

/// The exit code that tells how a run ended: the program's own when it exited, else one
/// of the codes above, or 128 + the signal that killed it (as shells do).
pub fn exit_code(r: Option<&pb::RunResult>) -> u8 {
    use pb::RunOutcome as O;
    let Some(r) = r else {
        return EXIT_NO_RESULT;
    };
    match O::try_from(r.outcome) {
        Ok(O::Exited) => r
            .exit_code
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(EXIT_NO_RESULT),
        Ok(O::TimeLimit | O::WallLimit | O::IdleLimit) => EXIT_TIME_LIMIT,
        Ok(O::MemoryLimit) => EXIT_MEMORY_LIMIT,
        Ok(O::OutputLimit) => EXIT_OUTPUT_LIMIT,
        Ok(O::CompileError) => EXIT_COMPILE_ERROR,
        Ok(O::Signaled) => r
            .signal
            .and_then(|s| u8::try_from(s).ok())
            .map_or(EXIT_NO_RESULT, |s| 128u8.saturating_add(s)),
        Ok(O::Unspecified) | Err(_) => EXIT_NO_RESULT,
    }
}

use judge_common::json::outcome_name;

/// `judgectl run --json`: the result's fields beside the job's id, state and message.
pub fn job_json(j: &pb::Job) -> Value {
    let mut v = match &j.run {
        Some(r) => judge_common::json::run_json(r),
        None => json!({ "outcome": Value::Null }),
    };
    if let Value::Object(m) = &mut v {
        m.insert("job_id".into(), json!(j.job_id));
        m.insert("state".into(), json!(crate::output::state_name(j.state)));
        m.insert("message".into(), json!(j.message));
        m.insert("verdict".into(), json!(crate::output::verdict(j.verdict)));
    }
    v
}

/// Prints a finished run as the program would have: its output on stdout, its error on
/// stderr, then (on stderr) how it ended when it did not simply exit.
pub fn print(job: &pb::Job) -> std::io::Result<()> {
    use std::io::Write;
    let Some(r) = &job.run else {
        eprintln!(
            "judgectl: job {} ended {} without a result: {}",
            job.job_id,
            crate::output::state_name(job.state),
            crate::visible::visible(&job.message)
        );
        return Ok(());
    };
    use std::io::IsTerminal;
    // As the program printed it, unless that would reach a terminal: then its control
    // characters are shown, not obeyed (`--raw` keeps them).
    let shown = |bytes: &[u8], terminal: bool| -> Vec<u8> {
        if terminal && !crate::visible::is_raw() {
            crate::visible::visible_bytes(bytes).into_bytes()
        } else {
            bytes.to_vec()
        }
    };
    let mut out = std::io::stdout();
    out.write_all(&shown(&r.stdout, out.is_terminal()))?;
    out.flush()?;
    let mut err = std::io::stderr();
    err.write_all(&shown(&r.stderr, err.is_terminal()))?;
    match pb::RunOutcome::try_from(r.outcome) {
        Ok(pb::RunOutcome::Exited) => {}
        Ok(pb::RunOutcome::CompileError) => {
            eprintln!(
                "judgectl: compile error:\n{}",
                crate::visible::visible(r.compile_message.trim_end())
            )
        }
        _ => eprintln!(
            "judgectl: {}{} (cpu {} ms, wall {} ms, memory {} KiB)",
            outcome_name(r.outcome),
            r.signal
                .map(|s| format!(", signal {s}"))
                .unwrap_or_default(),
            r.time_ms,
            r.wall_ms,
            r.memory_kb
        ),
    }
    if r.stdout_truncated || r.stderr_truncated {
        eprintln!("judgectl: output cut at the limit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(outcome: pb::RunOutcome, exit: Option<i32>, signal: Option<i32>) -> pb::RunResult {
        pb::RunResult {
            outcome: outcome as i32,
            exit_code: exit,
            signal,
            ..Default::default()
        }
    }

    #[test]
    fn each_ending_has_its_exit_code() {
        use pb::RunOutcome as O;
        assert_eq!(exit_code(Some(&ended(O::Exited, Some(0), None))), 0);
        assert_eq!(exit_code(Some(&ended(O::Exited, Some(3), None))), 3);
        assert_eq!(exit_code(Some(&ended(O::TimeLimit, None, Some(9)))), 124);
        assert_eq!(exit_code(Some(&ended(O::MemoryLimit, None, Some(9)))), 125);
        assert_eq!(exit_code(Some(&ended(O::OutputLimit, None, None))), 126);
        assert_eq!(exit_code(Some(&ended(O::CompileError, None, None))), 127);
        assert_eq!(exit_code(Some(&ended(O::Signaled, None, Some(11)))), 139);
        assert_eq!(exit_code(None), 123);
    }
}
