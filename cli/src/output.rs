//! How judgectl prints things: tables and progress for people, JSON for scripts.

use std::io::Write;

use judge_common::json;
pub use judge_common::json::{event_json, job_json, state_name, verdict};
use judge_common::pb;
use serde_json::Value;

use crate::visible::{visible as v, visible_bytes};

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
        "verdict: {}   attempts: {}   worker: {}   owner: {}   priority: {}",
        verdict(j.verdict).unwrap_or("-"),
        j.attempts,
        v(or_dash(&j.worker)),
        v(or_dash(&j.owner)),
        or_dash(&j.priority)
    );
    if j.judgings.len() > 1 {
        // Judged more than once: each judging, oldest first; the last is the verdict above.
        println!(
            "{:<8} {:<8} {:<10} {:>8}  MESSAGE",
            "VERSION", "VERDICT", "STATE", "CPU ms"
        );
        for g in &j.judgings {
            println!(
                "{:<8} {:<8} {:<10} {:>8}  {}{}",
                g.problem_version,
                verdict(g.verdict).unwrap_or("-"),
                state_name(g.state),
                g.time_ms,
                g.score.map(|s| format!("score {s} ")).unwrap_or_default(),
                v(g.message.lines().next().unwrap_or(""))
            );
        }
    }
    if let Some(score) = j.score {
        println!("score: {score}");
    }
    if let Some(why) = &j.waiting {
        println!("waiting: {}", v(why));
    }
    if !j.message.is_empty() {
        println!("message: {}", v(j.message.trim_end()));
    }
    if !j.tests.is_empty() {
        println!(
            "{:<24} {:<8} {:>8} {:>8} {:>10}",
            "TEST", "VERDICT", "CPU ms", "WALL ms", "MEM KiB"
        );
        for t in &j.tests {
            println!(
                "{:<24} {:<8} {:>8} {:>8} {:>10}{}",
                v(&t.name),
                verdict(t.verdict).unwrap_or("-"),
                t.time_ms,
                t.wall_ms,
                t.memory_kb,
                t.score.map(|s| format!("  score {s}")).unwrap_or_default()
            );
            // Why a test failed, and what it used of its limits, under its line.
            if t.verdict != pb::Verdict::Ac as i32 && !t.message.is_empty() {
                for line in t.message.trim_end().lines() {
                    println!("    {}", v(line));
                }
            }
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
            json::outcome_name(r.outcome),
            r.time_ms,
            r.wall_ms,
            r.memory_kb
        );
        if j.io_expired_at_ms.is_some() {
            println!("(its input and output were dropped after the scheduler's retention period)");
        }
        for (name, bytes, cut) in [
            ("compiler", r.compile_message.as_bytes(), false),
            ("stdout", &r.stdout[..], r.stdout_truncated),
            ("stderr", &r.stderr[..], r.stderr_truncated),
        ] {
            if !bytes.is_empty() {
                let cut = if cut { " (cut at the limit)" } else { "" };
                println!("--- {name}{cut}\n{}", visible_bytes(bytes).trim_end());
            }
        }
    }
}

fn print_groups(groups: &[pb::GroupResult], depth: usize) {
    for g in groups {
        let name = format!("{}{}", "  ".repeat(depth), v(&g.name));
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
            v(or_dash(&j.owner)),
            v(&j.problem_id),
            v(&j.language),
            state_name(j.state),
            verdict(j.verdict).unwrap_or("-"),
            j.attempts,
            v(or_dash(&j.worker))
        );
    }
}

pub fn workers(list: &[pb::WorkerInfo], as_json: bool) {
    if as_json {
        let arr: Vec<Value> = list.iter().map(json::worker_json).collect();
        println!("{}", Value::Array(arr));
        return;
    }
    println!(
        "{:<20} {:<12} {:>5} {:>7} {:>6} {:>10}  LANGUAGES",
        "NAME", "STATUS", "SLOTS", "RUNNING", "CPU%", "FREE MEM"
    );
    for w in list {
        let status = match (w.connected, w.draining, w.quarantined.is_empty()) {
            (false, _, _) => "gone",
            (true, true, _) => "draining",
            (true, false, false) => "quarantined",
            (true, false, true) => "ready",
        };
        let cache = format!("{}/{}", w.cached_bytes >> 20, w.cache_size_bytes >> 20);
        println!(
            "{:<20} {:<12} {:>5} {:>7} {:>6.1} {:>9}M {:>15}  {}",
            v(&w.name),
            status,
            w.slots,
            w.running,
            w.cpu_percent,
            w.memory_free_bytes >> 20,
            cache,
            w.languages.join(",")
        );
        if !w.quarantined.is_empty() {
            println!("    quarantined: {}", v(&w.quarantined));
        }
    }
}

pub fn problems(list: &[pb::ProblemInfo], as_json: bool) {
    if as_json {
        let arr: Vec<Value> = list.iter().map(json::problem_json).collect();
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
            v(&p.id),
            p.version,
            p.test_count,
            p.time_limit_ms,
            p.total_bytes,
            v(&p.name)
        );
    }
}

/// Redraws a one-line progress display on stderr.
pub fn progress(ev: &pb::JobEvent) {
    use pb::job_event::Event;
    let line = match &ev.event {
        Some(Event::Submitted(_)) => format!("job {}: queued", ev.job_id),
        Some(Event::Assigned(a)) => format!(
            "job {}: assigned to {} (attempt {})",
            ev.job_id,
            v(&a.worker),
            a.attempt
        ),
        Some(Event::Started(_)) => format!("job {}: started", ev.job_id),
        Some(Event::Compiling(_)) => format!("job {}: compiling", ev.job_id),
        Some(Event::Test(t)) => format!(
            "job {}: test {} {}",
            ev.job_id,
            v(&t.name),
            verdict(t.verdict).unwrap_or("?")
        ),
        Some(Event::Group(g)) => {
            // A closed group stays on screen: a line of its own under the progress line.
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "\r\x1b[2Kjob {}: group {} {} score {}",
                ev.job_id,
                v(&g.name),
                verdict(g.verdict).unwrap_or("?"),
                g.score
            );
            return;
        }
        Some(Event::Requeued(r)) => format!("job {}: re-queued ({})", ev.job_id, v(&r.reason)),
        Some(Event::Rejudged(r)) => format!(
            "job {}: judged again on version {} ({})",
            ev.job_id, r.problem_version, r.priority
        ),
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
