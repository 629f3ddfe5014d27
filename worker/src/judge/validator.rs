//! The package's own programs (output validators, interactors, graders): built once per
//! distinct program on each worker by the format's recipe (`problem::build`) and kept (on
//! disk, across restarts). A validator runs per test as `validator input answer feedback_dir
//! [flags] < output`: exit 42 accepts, 43 rejects, anything else is the judge's fault (JE).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use judge_common::pb;
use judge_common::problem::{build, valid_path};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, OnceCell};

use super::ToolLimits;
use crate::cache::FileCache;
use crate::sandbox::rootfs::{self, Bind};
use crate::sandbox::{path_in_run, RunSpec, Runner};

use crate::core::interaction::{EXIT_ACCEPT, EXIT_REJECT};

/// How much of `judgemessage.txt` a test result keeps.
const MESSAGE_CAP: usize = 4 * 1024;
/// How much of `score.txt` is read: a number, not a file's worth.
const SCORE_CAP: u64 = 256;
/// The largest score a validator may give, either way.
const SCORE_MAX: f64 = 1e9;

/// A built validator, ready to run.
#[derive(Debug, Clone)]
pub struct Built {
    dir: PathBuf,
    /// Relative to `dir`, where it runs.
    argv: Vec<String>,
}

/// What a validator said about one output.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    /// Accepted, with the score from `score.txt` if the validator wrote one.
    Accepted {
        message: String,
        score: Option<f64>,
    },
    Rejected(String),
    /// The validator itself failed.
    Broken(String),
}

/// One validator's build, shared by every job that needs it while it runs.
type Build = Arc<OnceCell<Result<Arc<Built>, String>>>;

/// The worker's validators, by content.
#[derive(Default)]
pub struct Validators {
    root: PathBuf,
    builds: Mutex<HashMap<String, Build>>,
}

/// The validator's identity: its files' paths and hashes (and the layout of its build).
fn key(spec: &pb::OutputValidator) -> String {
    let mut h = Sha256::new();
    h.update(b"v3\0");
    h.update(spec.language.as_bytes());
    h.update([0]);
    h.update(spec.main.as_deref().unwrap_or_default().as_bytes());
    h.update([0]);
    for f in &spec.files {
        h.update(f.path.as_bytes());
        h.update([0]);
        h.update(
            f.file
                .as_ref()
                .map(|r| r.sha256.as_bytes())
                .unwrap_or_default(),
        );
        h.update([0]);
    }
    hex::encode(h.finalize())
}

impl Validators {
    pub fn new(root: PathBuf) -> Self {
        Validators {
            root,
            builds: Default::default(),
        }
    }

    /// The built validator, building it first if this worker never has.
    pub async fn get(
        &self,
        spec: &pb::OutputValidator,
        limits: ToolLimits,
        cache: &FileCache,
        runner: &dyn Runner,
        cancel: watch::Receiver<bool>,
    ) -> Result<Arc<Built>, String> {
        let key = key(spec);
        let cell = self
            .builds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let result = cell
            .get_or_init(|| self.build(key.clone(), spec, limits, cache, runner, cancel))
            .await
            .clone();
        if result.is_err() {
            // A failed build (a cancel, a download error) may be retried by the next job.
            self.builds
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
        result
    }

    async fn build(
        &self,
        key: String,
        spec: &pb::OutputValidator,
        limits: ToolLimits,
        cache: &FileCache,
        runner: &dyn Runner,
        cancel: watch::Receiver<bool>,
    ) -> Result<Arc<Built>, String> {
        let dir = self.root.join(&key);
        let marker = dir.join(".built");
        if let Ok(text) = tokio::fs::read_to_string(&marker).await {
            return Ok(Arc::new(Built {
                dir,
                argv: text.lines().map(str::to_string).collect(),
            }));
        }
        let _ = tokio::fs::remove_dir_all(&dir).await;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("validator dir: {e}"))?;
        for f in &spec.files {
            let file = f
                .file
                .as_ref()
                .ok_or_else(|| format!("validator file {} has no content", f.path))?;
            if !valid_path(&f.path) {
                return Err(format!("validator file {:?}: bad path", f.path));
            }
            let pinned = cache
                .acquire(file)
                .await
                .map_err(|e| format!("validator file {}: {e}", f.path))?;
            let dest = dir.join(&f.path);
            if let Some(parent) = dest.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            tokio::fs::copy(&pinned.path, &dest)
                .await
                .map_err(|e| format!("validator file {}: {e}", f.path))?;
        }
        let recipe = build::recipe(spec)?;
        let spec = super::tool_spec(recipe.build, dir.clone(), None, limits);
        let run = runner
            .run(spec, cancel)
            .await
            .map_err(|e| format!("building the program: {e}"))?;
        if !run.success() {
            let mut text = String::from_utf8_lossy(&run.stderr).into_owned();
            text.push_str(&String::from_utf8_lossy(&run.stdout));
            return Err(format!(
                "the program does not build: {}",
                text.chars().take(2000).collect::<String>()
            ));
        }
        let argv = recipe.run;
        tokio::fs::write(&marker, argv.join("\n"))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Arc::new(Built { dir, argv }))
    }
}

/// The files of one test, as the validator sees them (absolute paths).
pub struct Case<'a> {
    pub input: &'a Path,
    pub answer: &'a Path,
    /// The submission's output, fed to the validator's standard input.
    pub output: &'a Path,
    pub feedback: &'a Path,
}

impl Built {
    /// The validator's run for one test: `validator input answer feedback_dir [flags]`,
    /// reading its own files and the test's, writing only into its feedback dir (made here).
    /// Standard input is left to the caller (the output, or the submission's pipe).
    pub async fn spec(
        &self,
        runner: &dyn Runner,
        input: &Path,
        answer: &Path,
        feedback: &Path,
        flags: &[String],
        limits: ToolLimits,
    ) -> Result<RunSpec, String> {
        tokio::fs::create_dir_all(feedback)
            .await
            .map_err(|e| format!("feedback dir: {e}"))?;
        let binds = [
            (input, rootfs::INPUT, false),
            (answer, rootfs::ANSWER, false),
            (feedback, rootfs::FEEDBACK, true),
        ]
        .map(|(host, inside, writable)| Bind {
            host: host.to_path_buf(),
            inside,
            writable,
        });
        let mut argv = self.argv.clone();
        argv.extend(binds.iter().map(|b| path_in_run(runner, b)));
        argv.extend(flags.iter().cloned());
        let mut spec = super::tool_spec(argv, self.dir.clone(), None, limits);
        spec.dir_writable = false;
        spec.binds = binds.to_vec();
        Ok(spec)
    }

    /// Runs the validator on one test's output.
    pub async fn judge(
        &self,
        runner: &dyn Runner,
        case: Case<'_>,
        flags: &[String],
        limits: ToolLimits,
        cancel: watch::Receiver<bool>,
    ) -> Judgement {
        let Case {
            input,
            answer,
            output,
            feedback,
        } = case;
        let mut spec = match self
            .spec(runner, input, answer, feedback, flags, limits)
            .await
        {
            Ok(s) => s,
            Err(e) => return Judgement::Broken(e),
        };
        spec.stdin = Some(output.to_path_buf());
        let run = match runner.run(spec, cancel).await {
            Ok(r) => r,
            Err(e) => return Judgement::Broken(format!("running the validator: {e}")),
        };
        let said = Feedback::read(feedback).await;
        match (run.limit, run.exit_code) {
            (None, Some(EXIT_ACCEPT)) => said.accepted(),
            (None, Some(EXIT_REJECT)) => Judgement::Rejected(said.message),
            (limit, code) => Judgement::Broken(format!(
                "the validator failed (exit {code:?}, signal {:?}, limit {limit:?}): {}",
                run.signal,
                String::from_utf8_lossy(&run.stderr)
                    .chars()
                    .take(500)
                    .collect::<String>()
            )),
        }
    }
}

impl Built {
    /// Runs the package's grader on one group's results (`stdin`, a file of `VERDICT score`
    /// lines) with the group's flags: its one-line answer, or why it is a judge error (a
    /// crash, a limit, an exit other than 0, garbage), in its own words.
    pub async fn grade(
        &self,
        runner: &dyn Runner,
        stdin: &Path,
        flags: &[String],
        limits: ToolLimits,
        cancel: watch::Receiver<bool>,
    ) -> Result<String, String> {
        let mut argv = self.argv.clone();
        argv.extend(flags.iter().cloned());
        let mut spec = super::tool_spec(argv, self.dir.clone(), Some(stdin.to_path_buf()), limits);
        spec.dir_writable = false;
        let run = runner
            .run(spec, cancel)
            .await
            .map_err(|e| format!("running the grader: {e}"))?;
        if !run.success() {
            return Err(format!(
                "the grader failed (exit {:?}, signal {:?}, limit {:?}): {}",
                run.exit_code,
                run.signal,
                run.limit,
                String::from_utf8_lossy(&run.stderr)
                    .chars()
                    .take(500)
                    .collect::<String>()
            ));
        }
        Ok(String::from_utf8_lossy(&run.stdout).into_owned())
    }
}

/// What a validator left in its feedback dir.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The start of `judgemessage.txt`.
    pub message: String,
    /// `score.txt`: none, a number, or why what it holds is not one.
    pub score: Result<Option<f64>, String>,
}

impl Feedback {
    /// Reads `judgemessage.txt` and `score.txt`, each only up to its cap.
    pub async fn read(dir: &Path) -> Feedback {
        let message = read_capped(&dir.join("judgemessage.txt"), MESSAGE_CAP as u64)
            .await
            .unwrap_or_default();
        let mut message = String::from_utf8_lossy(&message).into_owned();
        if message.len() > MESSAGE_CAP {
            let mut end = MESSAGE_CAP;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let score = match read_capped(&dir.join("score.txt"), SCORE_CAP).await {
            None => Ok(None),
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                match text.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x.abs() <= SCORE_MAX => Ok(Some(x)),
                    _ => Err(format!(
                        "score.txt holds {:?}, not a number within ±{SCORE_MAX}",
                        text.trim().chars().take(64).collect::<String>()
                    )),
                }
            }
        };
        Feedback { message, score }
    }

    /// An accepting validator's judgement: a bad `score.txt` makes it the judge's fault.
    pub fn accepted(self) -> Judgement {
        match self.score {
            Ok(score) => Judgement::Accepted {
                message: self.message,
                score,
            },
            Err(why) => Judgement::Broken(format!("{why}; the validator said: {}", self.message)),
        }
    }
}

/// The first `cap` bytes of a file, or none if it cannot be opened.
async fn read_capped(path: &Path, cap: u64) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await.ok()?;
    let mut out = Vec::new();
    file.take(cap).read_to_end(&mut out).await.ok()?;
    Some(out)
}
