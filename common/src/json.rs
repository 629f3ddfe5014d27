//! The JSON shapes of jobs, events, workers and problems: what `judgectl ... --json` prints
//! and what the scheduler's HTTP API answers, written once.

use serde_json::{json, Value};

use crate::pb;

/// A job state's name: queued, assigned, running, done, cancelled, failed.
pub fn state_name(s: i32) -> &'static str {
    match pb::JobState::try_from(s) {
        Ok(pb::JobState::Queued) => "queued",
        Ok(pb::JobState::Assigned) => "assigned",
        Ok(pb::JobState::Running) => "running",
        Ok(pb::JobState::Done) => "done",
        Ok(pb::JobState::Cancelled) => "cancelled",
        Ok(pb::JobState::Failed) => "failed",
        _ => "unknown",
    }
}

/// A verdict's name (AC, WA...); `None` for none.
pub fn verdict(v: i32) -> Option<&'static str> {
    match pb::Verdict::try_from(v) {
        Ok(pb::Verdict::Unspecified) | Err(_) => None,
        Ok(v) => Some(v.as_str_name()),
    }
}

/// A verdict from its name (`AC`, `WA`...); `None` for anything else.
pub fn parse_verdict(name: &str) -> Option<pb::Verdict> {
    pb::Verdict::from_str_name(name).filter(|v| *v != pb::Verdict::Unspecified)
}

/// What a rejudge queued: what `judgectl rejudge --json` prints and `POST /api/v1/rejudge`
/// answers.
pub fn rejudge_json(r: &pb::RejudgeResponse) -> Value {
    json!({
        "problem_version": r.problem_version,
        "jobs": r.jobs.iter().map(|j| json!({
            "job_id": j.job_id,
            "owner": j.owner,
            "previous_verdict": verdict(j.previous_verdict),
            "previous_score": j.previous_score,
        })).collect::<Vec<_>>(),
    })
}

/// A group result and its subgroups, as JSON.
fn group_json(g: &pb::GroupResult) -> Value {
    json!({
        "name": g.name,
        "verdict": verdict(g.verdict),
        "score": g.score,
        "groups": g.groups.iter().map(group_json).collect::<Vec<_>>(),
    })
}

/// One test's result, as JSON.
fn test_json(t: &pb::TestResult) -> Value {
    json!({
        "name": t.name,
        "verdict": verdict(t.verdict),
        "time_ms": t.time_ms,
        "wall_ms": t.wall_ms,
        "memory_kb": t.memory_kb,
        "exit_code": t.exit_code,
        "signal": t.signal,
        "message": t.message,
        "score": t.score,
    })
}

/// A job: what `judgectl get --json` prints and `GET /api/v1/jobs/{id}` answers.
pub fn job_json(j: &pb::Job) -> Value {
    json!({
        "job_id": j.job_id,
        "job_type": j.job_type,
        "problem": j.problem_id,
        "problem_version": j.problem_version,
        "language": j.language,
        "state": state_name(j.state),
        "verdict": verdict(j.verdict),
        "message": j.message,
        "tests": j.tests.iter().map(test_json).collect::<Vec<_>>(),
        "judgings": j.judgings.iter().map(|g| json!({
            "problem_version": g.problem_version,
            "state": state_name(g.state),
            "verdict": verdict(g.verdict),
            "score": g.score,
            "message": g.message,
            "time_ms": g.time_ms,
            "priority": g.priority,
            "finished_at_ms": if g.finished_at_ms == 0 { Value::Null } else { json!(g.finished_at_ms) },
            "tests": g.tests.iter().map(test_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "score": j.score,
        "groups": j.groups.iter().map(group_json).collect::<Vec<_>>(),
        "attempts": j.attempts,
        "owner": j.owner,
        "priority": j.priority,
        "waiting": j.waiting,
        "worker": if j.worker.is_empty() { Value::Null } else { json!(j.worker) },
        "submitted_at_ms": j.submitted_at_ms,
        "finished_at_ms": if j.finished_at_ms == 0 { Value::Null } else { json!(j.finished_at_ms) },
        "source": (!j.source.is_empty()).then(|| String::from_utf8_lossy(&j.source)),
        "run": j.run.as_ref().map(run_json),
        "io_expired_at_ms": j.io_expired_at_ms,
        "run_limits": j.run_limits.as_ref().map(|l| json!({
            "time_limit_ms": l.time_limit_ms,
            "memory_limit_bytes": l.memory_limit_bytes,
            "output_limit_bytes": l.output_limit_bytes,
        })),
    })
}

/// A job event, flat: `job_id`, `seq`, `at_ms`, `event` (its kind) and the kind's fields.
pub fn event_json(ev: &pb::JobEvent) -> Value {
    use pb::job_event::Event;
    let (kind, detail) = match &ev.event {
        Some(Event::Submitted(_)) => ("submitted", json!({})),
        Some(Event::Assigned(a)) => (
            "assigned",
            json!({"worker": a.worker, "attempt": a.attempt}),
        ),
        Some(Event::Started(s)) => ("started", json!({"attempt": s.attempt})),
        Some(Event::Compiling(c)) => ("compiling", json!({"attempt": c.attempt})),
        Some(Event::Test(t)) => (
            "test",
            json!({"index": t.index, "name": t.name, "verdict": verdict(t.verdict),
                   "time_ms": t.time_ms, "wall_ms": t.wall_ms, "memory_kb": t.memory_kb,
                   "message": t.message, "score": t.score}),
        ),
        Some(Event::Group(g)) => (
            "group",
            json!({"name": g.name, "verdict": verdict(g.verdict), "score": g.score}),
        ),
        Some(Event::Requeued(r)) => (
            "requeued",
            json!({"attempt": r.attempt, "reason": r.reason}),
        ),
        Some(Event::Rejudged(r)) => (
            "rejudged",
            json!({"problem_version": r.problem_version, "priority": r.priority}),
        ),
        Some(Event::Finished(f)) => (
            "finished",
            json!({"state": state_name(f.state), "verdict": verdict(f.verdict),
                   "message": f.message, "score": f.score}),
        ),
        None => ("unknown", json!({})),
    };
    let mut v = json!({"job_id": ev.job_id, "seq": ev.seq, "at_ms": ev.at_ms, "event": kind});
    if let (Value::Object(m), Value::Object(d)) = (&mut v, detail) {
        m.extend(d);
    }
    v
}

/// The outcome's name in JSON and messages.
pub fn outcome_name(outcome: i32) -> &'static str {
    use pb::RunOutcome as O;
    match O::try_from(outcome) {
        Ok(O::Exited) => "exited",
        Ok(O::TimeLimit) => "time_limit",
        Ok(O::MemoryLimit) => "memory_limit",
        Ok(O::OutputLimit) => "output_limit",
        Ok(O::Signaled) => "signaled",
        Ok(O::CompileError) => "compile_error",
        Ok(O::IdleLimit) => "idle_limit",
        Ok(O::WallLimit) => "wall_limit",
        Ok(O::Unspecified) | Err(_) => "unknown",
    }
}

/// A run's result as JSON (output as text, invalid UTF-8 replaced).
pub fn run_json(r: &pb::RunResult) -> Value {
    json!({
        "outcome": outcome_name(r.outcome),
        "exit_code": r.exit_code,
        "signal": r.signal,
        "stdout": String::from_utf8_lossy(&r.stdout),
        "stdout_truncated": r.stdout_truncated,
        "stderr": String::from_utf8_lossy(&r.stderr),
        "stderr_truncated": r.stderr_truncated,
        "time_ms": r.time_ms,
        "wall_ms": r.wall_ms,
        "memory_kb": r.memory_kb,
        "compile_message": r.compile_message,
    })
}

/// A worker as `ListWorkers` shows it.
pub fn worker_json(w: &pb::WorkerInfo) -> Value {
    json!({
        "name": w.name,
        "connected": w.connected,
        "draining": w.draining,
        "quarantined": (!w.quarantined.is_empty()).then_some(&w.quarantined),
        "slots": w.slots,
        "running": w.running,
        "job_types": w.job_types,
        "languages": w.languages,
        "cpu_percent": w.cpu_percent,
        "memory_free_bytes": w.memory_free_bytes,
        "disk_free_bytes": w.disk_free_bytes,
        "cached_bytes": w.cached_bytes,
        "cache_size_bytes": w.cache_size_bytes,
        "fetched_bytes": w.fetched_bytes,
        "cache_hits": w.cache_hits,
        "cache_misses": w.cache_misses,
        "evictions": w.evictions,
    })
}

/// A problem's newest version.
pub fn problem_json(p: &pb::ProblemInfo) -> Value {
    json!({"id": p.id, "version": p.version, "name": p.name, "tests": p.test_count,
    "time_limit_ms": p.time_limit_ms, "total_bytes": p.total_bytes, "kind": p.kind})
}
