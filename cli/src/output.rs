//! How judgectl prints things: tables and progress for people, JSON for scripts.

use std::io::Write;

use judge_common::pb;
use serde_json::{json, Value};

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

pub fn verdict(v: i32) -> Option<&'static str> {
    match pb::Verdict::try_from(v) {
        Ok(pb::Verdict::Unspecified) | Err(_) => None,
        Ok(v) => Some(v.as_str_name()),
    }
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
        "tests": j.tests.iter().map(|t| json!({
            "name": t.name,
            "verdict": verdict(t.verdict),
            "time_ms": t.time_ms,
            "wall_ms": t.wall_ms,
            "memory_kb": t.memory_kb,
            "exit_code": t.exit_code,
            "signal": t.signal,
            "message": t.message,
            "score": t.score,
        })).collect::<Vec<_>>(),
        "score": j.score,
        "groups": j.groups.iter().map(group_json).collect::<Vec<_>>(),
        "attempts": j.attempts,
        "owner": j.owner,
        "waiting": j.waiting,
        "worker": if j.worker.is_empty() { Value::Null } else { json!(j.worker) },
        "submitted_at_ms": j.submitted_at_ms,
        "finished_at_ms": if j.finished_at_ms == 0 { Value::Null } else { json!(j.finished_at_ms) },
        "run": j.run.as_ref().map(crate::run::result_json),
        "run_limits": j.run_limits.as_ref().map(|l| json!({
            "time_limit_ms": l.time_limit_ms,
            "memory_limit_bytes": l.memory_limit_bytes,
            "output_limit_bytes": l.output_limit_bytes,
        })),
    })
}

pub fn job(j: &pb::Job, as_json: bool) {
    if as_json {
        println!("{}", job_json(j));
        return;
    }
    println!(
        "job {}  {}  {}  {}",
        j.job_id,
        j.problem_id,
        j.language,
        state_name(j.state)
    );
    println!(
        "verdict: {}   attempts: {}   worker: {}   owner: {}",
        verdict(j.verdict).unwrap_or("-"),
        j.attempts,
        or_dash(&j.worker),
        or_dash(&j.owner)
    );
    if let Some(score) = j.score {
        println!("score: {score}");
    }
    if let Some(why) = &j.waiting {
        println!("waiting: {why}");
    }
    if !j.message.is_empty() {
        println!("message: {}", j.message.trim_end());
    }
    if !j.tests.is_empty() {
        println!(
            "{:<24} {:<8} {:>8} {:>8} {:>10}",
            "TEST", "VERDICT", "CPU ms", "WALL ms", "MEM KiB"
        );
        for t in &j.tests {
            println!(
                "{:<24} {:<8} {:>8} {:>8} {:>10}{}",
                t.name,
                verdict(t.verdict).unwrap_or("-"),
                t.time_ms,
                t.wall_ms,
                t.memory_kb,
                t.score.map(|s| format!("  score {s}")).unwrap_or_default()
            );
        }
    }
    if !j.groups.is_empty() {
        println!("{:<24} {:<8} {:>8}", "GROUP", "VERDICT", "SCORE");
        print_groups(&j.groups, 0);
    }
    if let Some(r) = &j.run {
        let ended = match (r.exit_code, r.signal) {
            (Some(code), _) => format!("  exit code {code}"),
            (None, Some(sig)) => format!("  signal {sig}"),
            (None, None) => String::new(),
        };
        println!(
            "run: {}{ended}   cpu {} ms   wall {} ms   memory {} KiB",
            crate::run::outcome_name(r.outcome),
            r.time_ms,
            r.wall_ms,
            r.memory_kb
        );
        for (name, bytes, cut) in [
            ("compiler", r.compile_message.as_bytes(), false),
            ("stdout", &r.stdout[..], r.stdout_truncated),
            ("stderr", &r.stderr[..], r.stderr_truncated),
        ] {
            if !bytes.is_empty() {
                let cut = if cut { " (cut at the limit)" } else { "" };
                println!(
                    "--- {name}{cut}\n{}",
                    String::from_utf8_lossy(bytes).trim_end()
                );
            }
        }
    }
}

fn print_groups(groups: &[pb::GroupResult], depth: usize) {
    for g in groups {
        let name = format!("{}{}", "  ".repeat(depth), g.name);
        println!(
            "{:<24} {:<8} {:>8}",
            name,
            verdict(g.verdict).unwrap_or("-"),
            g.score
        );
        print_groups(&g.groups, depth + 1);
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

pub fn jobs(list: &[pb::Job], as_json: bool) {
    if as_json {
        println!("{}", Value::Array(list.iter().map(job_json).collect()));
        return;
    }
    println!(
        "{:>8} {:<16} {:<16} {:<8} {:<10} {:<8} {:>8} {:<16}",
        "JOB", "OWNER", "PROBLEM", "LANG", "STATE", "VERDICT", "ATTEMPTS", "WORKER"
    );
    for j in list {
        println!(
            "{:>8} {:<16} {:<16} {:<8} {:<10} {:<8} {:>8} {:<16}",
            j.job_id,
            or_dash(&j.owner),
            j.problem_id,
            j.language,
            state_name(j.state),
            verdict(j.verdict).unwrap_or("-"),
            j.attempts,
            or_dash(&j.worker)
        );
    }
}

pub fn workers(list: &[pb::WorkerInfo], as_json: bool) {
    if as_json {
        let arr: Vec<Value> = list
            .iter()
            .map(|w| {
                json!({
                    "name": w.name,
                    "connected": w.connected,
                    "draining": w.draining,
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
            })
            .collect();
        println!("{}", Value::Array(arr));
        return;
    }
    println!(
        "{:<20} {:<10} {:>5} {:>7} {:>6} {:>10}  LANGUAGES",
        "NAME", "STATUS", "SLOTS", "RUNNING", "CPU%", "FREE MEM"
    );
    for w in list {
        let status = match (w.connected, w.draining) {
            (false, _) => "gone",
            (true, true) => "draining",
            (true, false) => "ready",
        };
        let cache = format!("{}/{}", w.cached_bytes >> 20, w.cache_size_bytes >> 20);
        println!(
            "{:<20} {:<10} {:>5} {:>7} {:>6.1} {:>9}M {:>15}  {}",
            w.name,
            status,
            w.slots,
            w.running,
            w.cpu_percent,
            w.memory_free_bytes >> 20,
            cache,
            w.languages.join(",")
        );
    }
}

pub fn problems(list: &[pb::ProblemInfo], as_json: bool) {
    if as_json {
        let arr: Vec<Value> = list
            .iter()
            .map(|p| {
                json!({"id": p.id, "version": p.version, "name": p.name, "tests": p.test_count,
                "time_limit_ms": p.time_limit_ms, "total_bytes": p.total_bytes, "kind": p.kind})
            })
            .collect();
        println!("{}", Value::Array(arr));
        return;
    }
    println!(
        "{:<20} {:>7} {:>6} {:>8} {:>12}  NAME",
        "ID", "VERSION", "TESTS", "TIME ms", "BYTES"
    );
    for p in list {
        println!(
            "{:<20} {:>7} {:>6} {:>8} {:>12}  {}",
            p.id, p.version, p.test_count, p.time_limit_ms, p.total_bytes, p.name
        );
    }
}

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
                   "score": t.score}),
        ),
        Some(Event::Group(g)) => (
            "group",
            json!({"name": g.name, "verdict": verdict(g.verdict), "score": g.score}),
        ),
        Some(Event::Requeued(r)) => (
            "requeued",
            json!({"attempt": r.attempt, "reason": r.reason}),
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

/// Redraws a one-line progress display on stderr.
pub fn progress(ev: &pb::JobEvent) {
    use pb::job_event::Event;
    let line = match &ev.event {
        Some(Event::Submitted(_)) => format!("job {}: queued", ev.job_id),
        Some(Event::Assigned(a)) => format!(
            "job {}: assigned to {} (attempt {})",
            ev.job_id, a.worker, a.attempt
        ),
        Some(Event::Started(_)) => format!("job {}: started", ev.job_id),
        Some(Event::Compiling(_)) => format!("job {}: compiling", ev.job_id),
        Some(Event::Test(t)) => format!(
            "job {}: test {} {}",
            ev.job_id,
            t.name,
            verdict(t.verdict).unwrap_or("?")
        ),
        Some(Event::Group(g)) => {
            // A closed group stays on screen: a line of its own under the progress line.
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "\r\x1b[2Kjob {}: group {} {} score {}",
                ev.job_id,
                g.name,
                verdict(g.verdict).unwrap_or("?"),
                g.score
            );
            return;
        }
        Some(Event::Requeued(r)) => format!("job {}: re-queued ({})", ev.job_id, r.reason),
        Some(Event::Finished(f)) => format!(
            "job {}: {} {}{}",
            ev.job_id,
            state_name(f.state),
            verdict(f.verdict).unwrap_or(""),
            f.score.map(|s| format!(" score {s}")).unwrap_or_default()
        ),
        None => return,
    };
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}
