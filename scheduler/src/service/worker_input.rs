//! What workers send, checked before anything of it is used: the hello of a `Connect`,
//! and every report (resources, cache changes, job updates with their results). Every
//! number and text is range-checked; a bad one is `INVALID_ARGUMENT` naming it.

use judge_common::job_kind::JobKind;
use judge_common::pb;
use tonic::Status;

use crate::app::check_ident;
use crate::core::{Event, JobProgress, SessionId, Usage, WorkerHello};
use crate::store::blobs::is_sha256;

/// Most slots a worker may offer.
pub const MAX_SLOTS: u32 = 256;
/// Most languages and job types a worker may offer.
const MAX_OFFERS: usize = 64;
/// Most files a worker may list in its cache, at connect or in one report.
const MAX_LISTED_FILES: usize = 1_000_000;
/// Most attempts a worker may offer back at connect.
const MAX_RUNNING: usize = 4096;
/// Longest test name and message a report may carry.
const MAX_NAME: usize = 1024;
const MAX_MESSAGE: usize = 64 * 1024;

pub(super) fn hello_from(req: pb::ConnectRequest, token_id: String) -> Result<WorkerHello, Status> {
    check_ident("worker name", &req.name)?;
    if req.slots == 0 || req.slots > MAX_SLOTS {
        return Err(Status::invalid_argument(format!(
            "slots must be 1 to {MAX_SLOTS}, got {}",
            req.slots
        )));
    }
    if req.job_types.len() > MAX_OFFERS || req.languages.len() > MAX_OFFERS {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_OFFERS} job types and {MAX_OFFERS} languages"
        )));
    }
    if req.running.len() > MAX_RUNNING {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_RUNNING} running attempts, got {}",
            req.running.len()
        )));
    }
    check_files("cached", &req.cached)?;
    for l in &req.languages {
        if l.version.len() > MAX_NAME {
            return Err(Status::invalid_argument(format!(
                "language {:?}: version text over {MAX_NAME} bytes",
                l.id
            )));
        }
    }
    if req.job_types.is_empty() {
        return Err(Status::invalid_argument(
            "job_types is empty: name at least one, e.g. \"judge\"",
        ));
    }
    for t in &req.job_types {
        t.parse::<JobKind>()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
    }
    if req.languages.is_empty() {
        return Err(Status::invalid_argument(
            "languages is empty: the worker must offer at least one",
        ));
    }
    for l in &req.languages {
        check_ident("language", &l.id)?;
    }
    Ok(WorkerHello {
        name: req.name,
        token_id,
        slots: req.slots,
        job_types: req.job_types,
        languages: req.languages.into_iter().map(|l| l.id).collect(),
        cached: req.cached,
        cache: req.cache.unwrap_or_default(),
        running: req
            .running
            .into_iter()
            .map(|r| (r.job_id, r.attempt))
            .collect(),
    })
}

/// A list of cached files: bounded, and every entry a SHA-256.
fn check_files(what: &str, files: &[String]) -> Result<(), Status> {
    if files.len() > MAX_LISTED_FILES {
        return Err(Status::invalid_argument(format!(
            "{what}: at most {MAX_LISTED_FILES} files, got {}",
            files.len()
        )));
    }
    if let Some(bad) = files.iter().find(|f| !is_sha256(f)) {
        return Err(Status::invalid_argument(format!(
            "{what}: {bad:?} is not a lowercase hex SHA-256"
        )));
    }
    Ok(())
}

/// Text a report carries: at most `max` bytes.
fn check_len(what: &str, text: &str, max: usize) -> Result<(), Status> {
    if text.len() > max {
        return Err(Status::invalid_argument(format!(
            "{what} is {} bytes; at most {max}",
            text.len()
        )));
    }
    Ok(())
}

/// The largest score a worker may report, either way: beyond any package's ranges.
const MAX_SCORE: f64 = 1e12;

fn check_score(what: &str, score: f64) -> Result<f64, Status> {
    if score.is_finite() && score.abs() <= MAX_SCORE {
        Ok(score)
    } else {
        Err(Status::invalid_argument(format!(
            "{what} {score} is not a finite number within ±{MAX_SCORE}"
        )))
    }
}

/// Translates one report into a core event.
/// A `run` job's result from a worker, within every bound: a known outcome, an exit code or
/// a signal that can be, output no longer than any run may keep.
fn run_result(r: pb::RunResult, max_output: u64) -> Result<pb::RunResult, Status> {
    use pb::RunOutcome as O;
    let bad = |why: String| Err(Status::invalid_argument(format!("run result: {why}")));
    let outcome = match O::try_from(r.outcome) {
        Ok(O::Unspecified) | Err(_) => return bad(format!("invalid outcome {}", r.outcome)),
        Ok(o) => o,
    };
    if outcome == O::Exited && !r.exit_code.is_some_and(|c| (0..=255).contains(&c)) {
        return bad(format!("exit code {:?} of an exited run", r.exit_code));
    }
    if outcome == O::Signaled && !r.signal.is_some_and(|s| (1..=64).contains(&s)) {
        return bad(format!("signal {:?} of a signaled run", r.signal));
    }
    for (name, len) in [("stdout", r.stdout.len()), ("stderr", r.stderr.len())] {
        if len as u64 > max_output {
            return bad(format!("{name} is {len} bytes; at most {max_output}"));
        }
    }
    if r.compile_message.len() > MAX_MESSAGE {
        return bad(format!(
            "compile message is {} bytes; at most {MAX_MESSAGE}",
            r.compile_message.len()
        ));
    }
    Ok(r)
}

pub(super) fn event_from(
    session: SessionId,
    report: pb::WorkerReport,
    max_run_output: u64,
) -> Result<Event, Status> {
    use pb::worker_report::Report;
    let missing =
        || Status::invalid_argument("report has no content (set resources, job or draining)");
    Ok(match report.report.ok_or_else(missing)? {
        Report::Resources(r)
            if !(r.cpu_percent.is_finite() && (0.0..=100_000.0).contains(&r.cpu_percent)) =>
        {
            return Err(Status::invalid_argument(format!(
                "cpu_percent {} is not a percentage",
                r.cpu_percent
            )))
        }
        Report::Resources(r) => Event::Resources {
            session,
            usage: Usage {
                cpu_percent: r.cpu_percent,
                memory_free_bytes: r.memory_free_bytes,
                disk_free_bytes: r.disk_free_bytes,
            },
        },
        Report::Draining(_) => Event::WorkerDraining { session },
        Report::Cache(c) => {
            check_files("added", &c.added)?;
            check_files("removed", &c.removed)?;
            Event::CacheChanged {
                session,
                added: c.added,
                removed: c.removed,
                stats: c.stats.unwrap_or_default(),
            }
        }
        Report::Job(j) => {
            use pb::job_update::Update;
            if j.job_id == 0 || j.attempt == 0 {
                return Err(Status::invalid_argument(
                    "job update needs job_id and attempt (both > 0)",
                ));
            }
            let missing = || {
                Status::invalid_argument(format!("job update for job {} has no content", j.job_id))
            };
            let progress = match j.update.ok_or_else(missing)? {
                Update::Accepted(_) => JobProgress::Accepted,
                Update::Compiling(_) => JobProgress::Compiling,
                Update::Test(t) => {
                    verdict(t.verdict)?;
                    check_len("test name", &t.name, MAX_NAME)?;
                    check_len("test message", &t.message, MAX_MESSAGE)?;
                    if let Some(s) = t.score {
                        check_score("test score", s)?;
                    }
                    JobProgress::Test(t)
                }
                Update::Group(g) => {
                    verdict(g.verdict)?;
                    check_len("group name", &g.name, MAX_NAME)?;
                    check_score("group score", g.score)?;
                    if !g.groups.is_empty() {
                        return Err(Status::invalid_argument(
                            "a group result from a worker has no subgroups",
                        ));
                    }
                    JobProgress::Group(g)
                }
                Update::Finished(f) if f.message.len() > MAX_MESSAGE => {
                    return Err(Status::invalid_argument(format!(
                        "finished message is {} bytes; at most {MAX_MESSAGE}",
                        f.message.len()
                    )))
                }
                Update::Finished(f) => JobProgress::Finished {
                    verdict: if f.cancelled || f.run.is_some() {
                        pb::Verdict::Unspecified
                    } else {
                        verdict(f.verdict)?
                    },
                    run: match f.run {
                        Some(r) => Some(Box::new(run_result(r, max_run_output)?)),
                        None => None,
                    },
                    message: f.message,
                    cancelled: f.cancelled,
                    score: match f.score {
                        Some(s) => Some(check_score("score", s)?),
                        None => None,
                    },
                },
            };
            Event::Progress {
                session,
                job_id: j.job_id,
                attempt: j.attempt,
                progress,
            }
        }
    })
}

fn verdict(v: i32) -> Result<pb::Verdict, Status> {
    match pb::Verdict::try_from(v) {
        Ok(pb::Verdict::Unspecified) | Err(_) => {
            Err(Status::invalid_argument(format!("invalid verdict {v}")))
        }
        Ok(v) => Ok(v),
    }
}
