//! The test problem packages under `tests/packages/`, and `judgectl problem verify` run on
//! them as a person runs it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::{bin, workspace, Cluster};

/// A test package's folder.
pub fn package(name: &str) -> PathBuf {
    workspace().join("tests/packages").join(name)
}

/// Copies a test package into `to`, to change it.
pub fn copy_package(name: &str, to: &Path) -> Result<PathBuf> {
    let dest = to.join(name);
    let status = std::process::Command::new("cp")
        .args(["-rL"])
        .arg(package(name))
        .arg(&dest)
        .status()?;
    anyhow::ensure!(status.success(), "cp failed");
    Ok(dest)
}

/// `judgectl problem verify DIR --json --id ID [extra]`: its exit status and the report.
pub fn verify(c: &Cluster, dir: &Path, id: &str, extra: &[&str]) -> Result<(bool, Value)> {
    let out = std::process::Command::new(bin("judgectl"))
        .args(["--scheduler", &c.sched.url(), "--token", &c.admin])
        .args(["problem", "verify", "--json", "--id", id])
        .arg(dir)
        .args(extra)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        anyhow::anyhow!(
            "verify printed no JSON ({e}): {stdout}\nstderr: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            c.logs()
        )
    })?;
    Ok((out.status.success(), report))
}

/// file → verdict ("-" when skipped), from a verify report.
pub fn verdicts(report: &Value) -> Vec<(String, String)> {
    report["submissions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["file"].as_str().unwrap_or_default().to_string(),
                s["verdict"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect()
}
