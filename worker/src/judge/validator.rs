//! Custom output validators: built once per distinct validator on each worker and kept (on
//! disk, across restarts), run per test as `validator input answer feedback_dir [flags] <
//! output`. Exit 42 accepts, 43 rejects, anything else is the judge's fault (JE).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use judge_common::pb;
use judge_common::problem::valid_path;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, OnceCell};

use super::ToolLimits;
use crate::cache::FileCache;
use crate::sandbox::rootfs::{self, Bind};
use crate::sandbox::{path_in_run, Runner};

const EXIT_ACCEPT: i32 = 42;
const EXIT_REJECT: i32 = 43;
/// How much of `judgemessage.txt` a test result keeps.
const MESSAGE_CAP: usize = 4 * 1024;

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
    Accepted(String),
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
    h.update(b"v2\0");
    h.update(spec.language.as_bytes());
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
        let sources = |exts: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = spec
                .files
                .iter()
                .map(|f| f.path.clone())
                .filter(|p| exts.iter().any(|e| p.ends_with(e)))
                .collect();
            v.sort();
            v
        };
        let (compile, argv): (Option<Vec<String>>, Vec<String>) = match spec.language.as_str() {
            "cpp" => {
                let mut cmd = vec![
                    "g++".into(),
                    "-std=c++20".into(),
                    "-O2".into(),
                    "-o".into(),
                    "validator".into(),
                ];
                cmd.extend(sources(&[".cpp", ".cc", ".cxx"]));
                (Some(cmd), vec!["./validator".into()])
            }
            "c" => {
                let mut cmd = vec![
                    "gcc".into(),
                    "-std=c17".into(),
                    "-O2".into(),
                    "-o".into(),
                    "validator".into(),
                ];
                cmd.extend(sources(&[".c"]));
                cmd.push("-lm".into());
                (Some(cmd), vec!["./validator".into()])
            }
            "python3" => {
                let py = sources(&[".py"]);
                let main = py
                    .iter()
                    .find(|p| p.ends_with("validate.py"))
                    .or(py.first())
                    .cloned();
                let main = main.ok_or("python validator without a .py file")?;
                (None, vec!["/usr/bin/python3".into(), main])
            }
            other => return Err(format!("validators in {other:?} are not supported")),
        };
        if let Some(argv) = compile {
            let spec = super::tool_spec(argv, dir.clone(), None, limits);
            let run = runner
                .run(spec, cancel)
                .await
                .map_err(|e| format!("building the validator: {e}"))?;
            if !run.success() {
                let text = String::from_utf8_lossy(&run.stderr);
                return Err(format!(
                    "the validator does not build: {}",
                    text.chars().take(2000).collect::<String>()
                ));
            }
        }
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
        if let Err(e) = tokio::fs::create_dir_all(feedback).await {
            return Judgement::Broken(format!("feedback dir: {e}"));
        }
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
        let mut spec = super::tool_spec(argv, self.dir.clone(), Some(output.to_path_buf()), limits);
        // It reads its own files and the test's, and writes only its feedback.
        spec.dir_writable = false;
        spec.binds = binds.to_vec();
        let run = match runner.run(spec, cancel).await {
            Ok(r) => r,
            Err(e) => return Judgement::Broken(format!("running the validator: {e}")),
        };
        let message = tokio::fs::read(feedback.join("judgemessage.txt"))
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
        match (run.limit, run.exit_code) {
            (None, Some(EXIT_ACCEPT)) => Judgement::Accepted(message),
            (None, Some(EXIT_REJECT)) => Judgement::Rejected(message),
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
