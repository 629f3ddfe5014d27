//! `judgectl problem verify`: what the package format's reference tool does with a package's
//! own submissions, but on the cluster and in parallel. Every file under
//! `submissions/<folder>/` whose language some worker offers is submitted; each must get what
//! its folder promises.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use judge_common::pb;
use judge_common::pb::admin_service_client::AdminServiceClient;
use judge_common::pb::judge_service_client::JudgeServiceClient;
use serde_json::{json, Value};

use crate::Authed;

/// The language of a submission, from its extension as the format names them.
pub fn language_of(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?;
    Some(match ext {
        "c" => "c",
        "cpp" | "cc" | "cxx" | "c++" | "C" => "cpp",
        "py" | "py3" => "python3",
        "rs" => "rust",
        "java" => "java",
        "js" => "javascript",
        "kt" => "kotlin",
        "go" => "go",
        "cs" => "csharp",
        _ => return None,
    })
}

/// What a folder of `submissions/` promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// AC (with the highest score, for scoring problems).
    Accepted,
    /// AC with less than the highest score (scoring problems).
    PartiallyAccepted,
    /// AC or TLE.
    SlowAccepted,
    /// This verdict.
    Verdict(pb::Verdict),
}

impl Expected {
    /// The promise of a folder, or none for a folder the format does not name.
    pub fn of_folder(folder: &str) -> Option<Expected> {
        Some(match folder {
            "accepted" => Expected::Accepted,
            "partially_accepted" => Expected::PartiallyAccepted,
            "slow_accepted" => Expected::SlowAccepted,
            "wrong_answer" => Expected::Verdict(pb::Verdict::Wa),
            "time_limit_exceeded" => Expected::Verdict(pb::Verdict::Tle),
            "run_time_error" => Expected::Verdict(pb::Verdict::Rte),
            "memory_limit_exceeded" => Expected::Verdict(pb::Verdict::Mle),
            "output_limit_exceeded" => Expected::Verdict(pb::Verdict::Ole),
            "compile_error" => Expected::Verdict(pb::Verdict::Ce),
            _ => return None,
        })
    }

    fn text(self) -> String {
        match self {
            Expected::Accepted => "AC".into(),
            Expected::PartiallyAccepted => "AC, partial".into(),
            Expected::SlowAccepted => "AC or TLE".into(),
            Expected::Verdict(v) => v.as_str_name().into(),
        }
    }

    /// Whether a job's verdict and score keep the promise; `max_score` is the problem's best
    /// (scoring problems only).
    pub fn kept(self, verdict: pb::Verdict, score: Option<f64>, max_score: Option<f64>) -> bool {
        let full = match (score, max_score) {
            (Some(s), Some(m)) => s >= m,
            _ => true,
        };
        match self {
            Expected::Accepted => verdict == pb::Verdict::Ac && full,
            Expected::PartiallyAccepted => verdict == pb::Verdict::Ac && score.is_some() && !full,
            Expected::SlowAccepted => {
                verdict == pb::Verdict::Tle || (verdict == pb::Verdict::Ac && full)
            }
            Expected::Verdict(v) => verdict == v,
        }
    }
}

/// One submission of the package.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its path under `submissions/`, e.g. `accepted/sol.py`.
    pub name: String,
    pub path: PathBuf,
    pub language: &'static str,
    pub expected: Expected,
}

/// Every submission under `dir/submissions/<folder>/`, sorted; files whose folder or
/// extension the format does not name are left out.
pub fn candidates(dir: &Path) -> Result<Vec<Candidate>> {
    let root = dir.join("submissions");
    let mut out = Vec::new();
    let folders = match std::fs::read_dir(&root) {
        Ok(f) => f,
        Err(e) => bail!(
            "{}: {e} (a package to verify has submissions/)",
            root.display()
        ),
    };
    for folder in folders {
        let folder = folder?;
        let fname = folder.file_name().to_string_lossy().into_owned();
        let Some(expected) = Expected::of_folder(&fname) else {
            continue;
        };
        if !folder.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(folder.path())? {
            let path = file?.path();
            let Some(language) = path.is_file().then(|| language_of(&path)).flatten() else {
                continue;
            };
            let name = format!(
                "{fname}/{}",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            out.push(Candidate {
                name,
                path,
                language,
                expected,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// What one submission got.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub candidate: Candidate,
    pub job: Option<pb::Job>,
    /// Why it was not judged (no worker offers its language).
    pub skipped: Option<String>,
}

impl Outcome {
    fn verdict(&self) -> Option<pb::Verdict> {
        self.job
            .as_ref()
            .and_then(|j| pb::Verdict::try_from(j.verdict).ok())
    }

    /// The slowest test's CPU time.
    fn max_time_ms(&self) -> Option<u32> {
        self.job
            .as_ref()
            .and_then(|j| j.tests.iter().map(|t| t.time_ms).max())
    }
}

/// The report of one verify run.
pub struct Report {
    pub problem: String,
    pub outcomes: Vec<Outcome>,
    pub max_score: Option<f64>,
    /// The time limit `--calibrate` set, in seconds.
    pub calibrated: Option<f64>,
}

impl Report {
    fn ok(&self, o: &Outcome) -> bool {
        match (&o.job, o.verdict()) {
            (Some(j), Some(v)) => o.candidate.expected.kept(v, j.score, self.max_score),
            _ => o.skipped.is_some(),
        }
    }

    /// Whether every judged submission got what its folder promises.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| self.ok(o)) && self.outcomes.iter().any(|o| o.job.is_some())
    }

    pub fn json(&self) -> Value {
        json!({
            "problem": self.problem,
            "ok": self.passed(),
            "calibrated_time_limit": self.calibrated,
            "max_score": self.max_score,
            "submissions": self.outcomes.iter().map(|o| json!({
                "file": o.candidate.name,
                "language": o.candidate.language,
                "expected": o.candidate.expected.text(),
                "verdict": o.verdict().map(|v| v.as_str_name()),
                "score": o.job.as_ref().and_then(|j| j.score),
                "max_time_ms": o.max_time_ms(),
                "job_id": o.job.as_ref().map(|j| j.job_id),
                "skipped": o.skipped,
                "ok": self.ok(o),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn print_table(&self) {
        if let Some(t) = self.calibrated {
            println!("time limit (calibrated): {t} s");
        }
        println!(
            "{:<36} {:<12} {:<8} {:>8} {:>8}  OK",
            "FILE", "EXPECTED", "GOT", "SCORE", "MAX ms"
        );
        for o in &self.outcomes {
            let got = match (&o.skipped, o.verdict()) {
                (Some(_), _) => "skipped".to_string(),
                (None, Some(v)) => v.as_str_name().to_string(),
                (None, None) => "-".into(),
            };
            let score = o
                .job
                .as_ref()
                .and_then(|j| j.score)
                .map_or("-".into(), |s| s.to_string());
            let time = o.max_time_ms().map_or("-".into(), |t| t.to_string());
            let mark = if o.skipped.is_some() {
                "-"
            } else if self.ok(o) {
                "yes"
            } else {
                "NO"
            };
            println!(
                "{:<36} {:<12} {:<8} {:>8} {:>8}  {mark}",
                o.candidate.name,
                o.candidate.expected.text(),
                got,
                score,
                time
            );
        }
        for o in self.outcomes.iter().filter(|o| o.skipped.is_some()) {
            println!(
                "skipped {}: {}",
                o.candidate.name,
                o.skipped.as_deref().unwrap_or_default()
            );
        }
        println!(
            "{}",
            if self.passed() {
                "verify: every submission got what its folder says"
            } else {
                "verify: FAILED"
            }
        );
    }
}

/// Waits for a job to finish by following its events, then reads it.
async fn finished(judge: &mut JudgeServiceClient<Authed>, job_id: u64) -> Result<pb::Job> {
    let mut after = 0;
    'watch: for _ in 0..30 {
        let req = pb::WatchJobRequest {
            job_id,
            after_seq: after,
        };
        let mut stream = match judge.watch_job(req).await {
            Ok(s) => s.into_inner(),
            Err(s) if s.code() == tonic::Code::Unavailable => {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            Err(s) => bail!(crate::status_line(&s)),
        };
        loop {
            match stream.message().await {
                Ok(Some(ev)) => {
                    after = ev.seq;
                    if matches!(ev.event, Some(pb::job_event::Event::Finished(_))) {
                        break 'watch;
                    }
                }
                Ok(None) => break 'watch,
                Err(_) => continue 'watch,
            }
        }
    }
    let job = judge
        .get_job(pb::GetJobRequest { job_id })
        .await
        .map_err(|s| anyhow!(crate::status_line(&s)))?
        .into_inner();
    Ok(job)
}

/// Submits every candidate the fleet can judge, all at once, and waits for all of them.
async fn judge_all(
    judge: &JudgeServiceClient<Authed>,
    problem: &str,
    candidates: &[Candidate],
) -> Result<Vec<Outcome>> {
    let offered: std::collections::BTreeSet<String> = judge
        .clone()
        .list_workers(pb::ListWorkersRequest {})
        .await
        .map_err(|s| anyhow!(crate::status_line(&s)))?
        .into_inner()
        .workers
        .into_iter()
        .filter(|w| w.connected)
        .flat_map(|w| w.languages)
        .collect();
    let mut tasks = Vec::new();
    for c in candidates {
        let c = c.clone();
        if !offered.contains(c.language) {
            let why = format!("no connected worker offers {}", c.language);
            tasks.push(tokio::spawn(async move {
                Ok(Outcome {
                    candidate: c,
                    job: None,
                    skipped: Some(why),
                })
            }));
            continue;
        }
        let mut judge = judge.clone();
        let problem = problem.to_string();
        tasks.push(tokio::spawn(async move {
            let source =
                std::fs::read(&c.path).with_context(|| format!("reading {}", c.path.display()))?;
            let req = pb::SubmitRequest {
                problem_id: problem,
                language: c.language.into(),
                source,
                ..Default::default()
            };
            let job_id = crate::submit::submit(&mut judge, req)
                .await
                .map_err(|s| anyhow!("{}: {}", c.name, crate::status_line(&s)))?;
            let job = finished(&mut judge, job_id).await?;
            Ok::<_, anyhow::Error>(Outcome {
                candidate: c,
                job: Some(job),
                skipped: None,
            })
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.map_err(|e| anyhow!("verify task: {e}"))??);
    }
    Ok(out)
}

/// Verifies the package in `dir` as problem `id`: pushes it (calibrating its time limit
/// first when asked), judges its submissions, and reports.
pub async fn verify(
    judge: &JudgeServiceClient<Authed>,
    admin: &mut AdminServiceClient<Authed>,
    dir: &Path,
    id: Option<String>,
    calibrate: bool,
) -> Result<Report> {
    let candidates = candidates(dir)?;
    if candidates.is_empty() {
        bail!(
            "{}: no submissions to verify",
            dir.join("submissions").display()
        );
    }
    let yaml = std::fs::read_to_string(dir.join("problem.yaml")).ok();
    let timing = judge_common::problem::timing(yaml.as_deref()).map_err(|e| anyhow!("{e}"))?;
    let mut calibrated = None;
    if calibrate {
        // The accepted ones first, under a generous limit, to see how slow a good one is.
        let pushed = crate::push::push(admin, dir, id.clone(), Some(CALIBRATION_LIMIT)).await?;
        let accepted: Vec<Candidate> = candidates
            .iter()
            .filter(|c| c.expected == Expected::Accepted)
            .cloned()
            .collect();
        let runs = judge_all(judge, &pushed.id, &accepted).await?;
        let slowest = runs
            .iter()
            .filter(|o| o.verdict() == Some(pb::Verdict::Ac))
            .filter_map(Outcome::max_time_ms)
            .max()
            .ok_or_else(|| anyhow!("--calibrate needs an accepted submission that gets AC"))?;
        calibrated = Some(calibrated_limit(slowest, timing.multiplier));
    }
    let pushed = crate::push::push(admin, dir, id, calibrated).await?;
    let outcomes = judge_all(judge, &pushed.id, &candidates).await?;
    let max_score = max_score(judge, &pushed.id, &outcomes).await?;
    Ok(Report {
        problem: pushed.id,
        outcomes,
        max_score,
        calibrated,
    })
}

/// The time limit accepted runs are timed under when calibrating, in seconds.
const CALIBRATION_LIMIT: f64 = 10.0;

/// The slowest accepted run's time times the multiplier, rounded up to a whole second as the
/// reference tool does (at least 1 s).
pub fn calibrated_limit(slowest_ms: u32, multiplier: f64) -> f64 {
    let seconds = f64::from(slowest_ms) / 1000.0 * multiplier;
    seconds.ceil().max(1.0)
}

/// The best score of a scoring problem: the highest any accepted submission got. `None` for
/// pass-fail problems.
async fn max_score(
    judge: &JudgeServiceClient<Authed>,
    problem: &str,
    outcomes: &[Outcome],
) -> Result<Option<f64>> {
    let problems = judge
        .clone()
        .list_problems(pb::ListProblemsRequest {})
        .await
        .map_err(|s| anyhow!(crate::status_line(&s)))?
        .into_inner()
        .problems;
    let scoring = problems
        .iter()
        .any(|p| p.id == problem && p.kind.starts_with("scoring"));
    if !scoring {
        return Ok(None);
    }
    Ok(outcomes
        .iter()
        .filter(|o| o.candidate.expected == Expected::Accepted)
        .filter_map(|o| o.job.as_ref().and_then(|j| j.score))
        .reduce(f64::max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_promise_what_the_format_says() {
        use pb::Verdict::*;
        let acc = Expected::of_folder("accepted").unwrap();
        assert!(acc.kept(Ac, None, None));
        assert!(!acc.kept(Ac, Some(20.0), Some(90.0)));
        let part = Expected::of_folder("partially_accepted").unwrap();
        assert!(part.kept(Ac, Some(20.0), Some(90.0)));
        assert!(!part.kept(Ac, Some(90.0), Some(90.0)));
        let slow = Expected::of_folder("slow_accepted").unwrap();
        assert!(slow.kept(Tle, None, None) && slow.kept(Ac, None, None));
        assert!(!slow.kept(Wa, None, None));
        assert!(Expected::of_folder("wrong_answer")
            .unwrap()
            .kept(Wa, None, None));
        assert!(Expected::of_folder("misc").is_none());
    }

    #[test]
    fn languages_come_from_extensions() {
        assert_eq!(language_of(Path::new("a/sol.cc")), Some("cpp"));
        assert_eq!(language_of(Path::new("Main.java")), Some("java"));
        assert_eq!(language_of(Path::new("x.js")), Some("javascript"));
        assert_eq!(language_of(Path::new("notes.txt")), None);
    }

    #[test]
    fn calibration_rounds_up_to_whole_seconds() {
        assert_eq!(calibrated_limit(120, 5.0), 1.0);
        assert_eq!(calibrated_limit(250, 5.0), 2.0);
        assert_eq!(calibrated_limit(1000, 2.0), 2.0);
        assert_eq!(calibrated_limit(1001, 2.0), 3.0);
    }
}
