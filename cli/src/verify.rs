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

/// Which Python a `.py` jury solution is judged with (a shebang naming Python 2 wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Python {
    /// CPython 3.
    #[default]
    Python3,
    /// PyPy 3, where workers offer it (`pypy3`).
    Pypy3,
}

/// The language of a submission, from its extension as the format names them.
pub fn language_of(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?;
    Some(match ext {
        "c" => "c",
        "cpp" | "cc" | "cxx" | "c++" | "C" => "cpp",
        "py" | "py3" => "python3",
        "py2" => "python2",
        "rs" => "rust",
        "java" => "java",
        "js" => "javascript",
        "kt" => "kotlin",
        "go" => "go",
        "cs" => "csharp",
        _ => return None,
    })
}

/// The language a Python source asks for on its first line, as the reference tool reads
/// it: a shebang naming `python2` is Python 2, anything else Python 3.
pub fn python_of(first_line: &str, python: Python) -> &'static str {
    let shebang = first_line.starts_with("#!");
    if shebang && first_line.contains("python2") {
        "python2"
    } else if python == Python::Pypy3 {
        "pypy3"
    } else {
        "python3"
    }
}

/// Files in `submissions/` folders that are not submissions (notes, settings).
fn is_not_a_submission(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "md" | "txt" | "yaml" | "yml" | "json") || ext.is_empty()
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
    /// RTE, or MLE: the format has no memory folder, and files a memory overrun under run-time
    /// error, as the reference tool does.
    RunTimeError,
    /// Not accepted: WA, TLE, RTE, MLE or OLE (2023-07 `rejected`).
    Rejected,
    /// Never a wrong answer, but not accepted: TLE, RTE or MLE (2023-07 `brute_force`).
    BruteForce,
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
            "run_time_error" => Expected::RunTimeError,
            "rejected" => Expected::Rejected,
            "brute_force" => Expected::BruteForce,
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
            Expected::RunTimeError => "RTE or MLE".into(),
            Expected::Rejected => "not AC".into(),
            Expected::BruteForce => "TLE/RTE/MLE".into(),
            Expected::Verdict(v) => v.as_str_name().into(),
        }
    }

    /// Whether a job's verdict and score keep the promise; `max_score` is the problem's best
    /// (scoring problems only).
    pub fn kept(self, verdict: pb::Verdict, score: Option<f64>, max_score: Option<f64>) -> bool {
        use pb::Verdict::*;
        let full = match (score, max_score) {
            (Some(s), Some(m)) => s >= m,
            _ => true,
        };
        match self {
            Expected::Accepted => verdict == Ac && full,
            Expected::PartiallyAccepted => verdict == Ac && score.is_some() && !full,
            Expected::SlowAccepted => verdict == Tle || (verdict == Ac && full),
            Expected::RunTimeError => matches!(verdict, Rte | Mle),
            Expected::Rejected => matches!(verdict, Wa | Tle | Rte | Mle | Ole),
            Expected::BruteForce => matches!(verdict, Tle | Rte | Mle),
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
    /// Its language, as workers name them; empty when none is known.
    pub language: String,
    pub expected: Expected,
    /// Why it cannot be judged at all (a folder, an unknown language).
    pub unjudgeable: Option<String>,
}

/// Every submission under `dir/submissions/<folder>/`, sorted; folders the format does not
/// name, and notes (`.md`, `.txt`...), are left out. `.py` files are judged with `python`
/// unless their shebang names Python 2.
pub fn candidates(dir: &Path, python: Python) -> Result<Vec<Candidate>> {
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
            let base = path.file_name().unwrap_or_default().to_string_lossy();
            let name = format!("{fname}/{base}");
            let (language, unjudgeable) = if path.is_dir() {
                (
                    String::new(),
                    Some("a folder of files: judgectl submits single files".to_string()),
                )
            } else if is_not_a_submission(&path) {
                continue;
            } else {
                match language_of(&path) {
                    Some("python3") => {
                        let text = std::fs::read(&path)
                            .with_context(|| format!("reading {}", path.display()))?;
                        let first = text.split(|b| *b == b'\n').next().unwrap_or_default();
                        (
                            python_of(&String::from_utf8_lossy(first), python).to_string(),
                            None,
                        )
                    }
                    Some(l) => (l.to_string(), None),
                    None => (
                        String::new(),
                        Some(format!(
                            "no language is known for .{} files",
                            path.extension().unwrap_or_default().to_string_lossy()
                        )),
                    ),
                }
            };
            out.push(Candidate {
                name,
                path,
                language,
                expected,
                unjudgeable,
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
        // As wide as the longest file name, so that the columns stay in line.
        let w = self
            .outcomes
            .iter()
            .map(|o| o.candidate.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(36);
        println!(
            "{:<w$} {:<8} {:<12} {:<8} {:>8} {:>8}  OK",
            "FILE", "LANGUAGE", "EXPECTED", "GOT", "SCORE", "MAX ms"
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
                "{:<w$} {:<8} {:<12} {:<8} {:>8} {:>8}  {mark}",
                o.candidate.name,
                if o.candidate.language.is_empty() {
                    "-"
                } else {
                    &o.candidate.language
                },
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
        let skip = match &c.unjudgeable {
            Some(why) => Some(why.clone()),
            None if !offered.contains(&c.language) => {
                Some(format!("no connected worker offers {}", c.language))
            }
            None => None,
        };
        if let Some(why) = skip {
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
                language: c.language.clone(),
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
    python: Python,
) -> Result<Report> {
    let candidates = candidates(dir, python)?;
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
        let rte = Expected::of_folder("run_time_error").unwrap();
        assert!(rte.kept(Rte, None, None) && rte.kept(Mle, None, None));
        assert!(!rte.kept(Tle, None, None) && !rte.kept(Wa, None, None));
        let rejected = Expected::of_folder("rejected").unwrap();
        for v in [Wa, Tle, Rte, Mle, Ole] {
            assert!(rejected.kept(v, None, None), "{v:?}");
        }
        assert!(!rejected.kept(Ac, None, None) && !rejected.kept(Ce, None, None));
        assert!(!rejected.kept(Je, None, None));
        let brute = Expected::of_folder("brute_force").unwrap();
        assert!(brute.kept(Tle, None, None) && !brute.kept(Wa, None, None));
        assert!(Expected::of_folder("time_limit_exceeded")
            .unwrap()
            .kept(Tle, None, None));
    }

    #[test]
    fn a_python2_shebang_asks_for_python2() {
        assert_eq!(
            python_of("#!/usr/bin/env python2", Python::Python3),
            "python2"
        );
        assert_eq!(python_of("#!/usr/bin/python2.7", Python::Pypy3), "python2");
        assert_eq!(
            python_of("#!/usr/bin/env python3", Python::Python3),
            "python3"
        );
        assert_eq!(python_of("import sys", Python::Pypy3), "pypy3");
        // A comment that is not a shebang decides nothing.
        assert_eq!(python_of("# python2 was here", Python::Python3), "python3");
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
