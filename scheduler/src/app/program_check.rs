//! A pushed package's own programs (output validator or interactor, grader) built once on
//! the scheduler, by the recipe workers use (`problem::build`), before the package is
//! stored: a program that does not compile is refused at push with the compiler's words,
//! not found later as a judge error on every submission.
//!
//! Only an admin token may push, and pushing already decides what every worker runs; the
//! build runs as the scheduler's own user, in a scratch folder of the data dir, with
//! resource limits (CPU time, address space, file size), a wall-clock limit and an empty
//! environment. Where the scheduler has no compiler for the program's language, the check
//! is skipped and push says so in a note.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use judge_common::problem::build;
use judge_common::problem::{valid_path, Program};

use crate::store::blobs::StagedBlob;

/// How much of the compiler's output a refusal carries.
const MESSAGE_CAP: usize = 4000;

/// Why a program was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The package's fault: it does not build (the compiler's words).
    #[error("{what} does not build: {words}")]
    DoesNotBuild { what: String, words: String },
    /// The scheduler's fault: it could not try (a full disk, say).
    #[error("trying to build {what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// The limits of one build: the package's validator limits, as on workers.
#[derive(Debug, Clone, Copy)]
pub struct BuildLimits {
    pub time: Duration,
    pub memory_bytes: u64,
}

/// Builds `program` from the staged files of its package (by package path) in a scratch
/// folder under `scratch`. `Ok(Some(note))`: not checked, and why.
pub async fn check(
    program: &Program,
    staged: &BTreeMap<String, StagedBlob>,
    scratch: &Path,
    limits: BuildLimits,
) -> Result<Option<String>, CheckError> {
    let what = format!("the {} ({})", program.what, program.place());
    let io = |source| CheckError::Io {
        what: what.clone(),
        source,
    };
    let refuse = |words: String| CheckError::DoesNotBuild {
        what: what.clone(),
        words,
    };
    let recipe = build::recipe(&program.spec).map_err(refuse)?;
    let dir = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(scratch)
        .map_err(io)?;
    for f in &program.spec.files {
        let blob = staged
            .get(&format!("{}{}", program.dir, f.path))
            .filter(|_| valid_path(&f.path))
            .ok_or_else(|| refuse(format!("{}: not in the package", f.path)))?;
        let dest = dir.path().join(&f.path);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        blob.copy_to(&dest).await.map_err(io)?;
    }
    let Some((program_name, args)) = recipe.build.split_first() else {
        return Ok(None);
    };
    let mut cmd = tokio::process::Command::new(program_name);
    cmd.args(args)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("TMPDIR", dir.path())
        // Plain ASCII quotes in the compiler's words.
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let cpu_seconds = limits.time.as_secs().max(1);
    let memory = limits.memory_bytes;
    // SAFETY: only async-signal-safe calls (setrlimit, setsid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            use nix::sys::resource::{setrlimit, Resource};
            setrlimit(Resource::RLIMIT_CPU, cpu_seconds, cpu_seconds)?;
            setrlimit(Resource::RLIMIT_AS, memory, memory)?;
            setrlimit(Resource::RLIMIT_FSIZE, 1 << 30, 1 << 30)?;
            // Its own process group, so that a timeout kills the compiler's children too.
            nix::unistd::setsid()?;
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(format!(
                "{what} was not built at push: this scheduler has no {program_name:?}; \
                 workers will build it"
            )))
        }
        Err(e) => return Err(io(e)),
    };
    let pid = child.id();
    let wall = limits.time.saturating_mul(2) + Duration::from_secs(5);
    let out = match tokio::time::timeout(wall, child.wait_with_output()).await {
        Ok(out) => out.map_err(io)?,
        Err(_) => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(refuse(format!("the build ran past {} s", wall.as_secs())));
        }
    };
    if out.status.success() {
        return Ok(None);
    }
    let mut words = String::from_utf8_lossy(&out.stderr).into_owned();
    words.push_str(&String::from_utf8_lossy(&out.stdout));
    // The scratch folder's name means nothing to the person who pushed.
    let words = words.replace(&format!("{}/", dir.path().display()), "");
    Err(refuse(words.trim().chars().take(MESSAGE_CAP).collect()))
}
