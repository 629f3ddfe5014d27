//! The NoCloud seed a VM boots with: `deploy/cloud-init/worker.yaml` as its user-data,
//! changed only where the file says CHANGE ME, on a small FAT disk labelled `CIDATA`.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// The token's placeholder in `worker.yaml`: a seed may keep it for a script to fill (as
/// `deploy/scale/qemu-up.sh` does).
pub const TOKEN_PLACEHOLDER: &str = "CHANGE-ME-the-worker-token-from-judge-scheduler-token-create";

/// The values `worker.yaml` leaves for its user to set.
#[derive(Debug, Clone)]
pub struct Variables {
    /// Where the guest downloads `judge-worker`, and the SHA-256 it must have.
    pub worker_url: String,
    pub worker_sha256: String,
    /// The scheduler's URL as the guest dials it.
    pub scheduler: String,
    pub token: String,
}

/// `deploy/cloud-init/worker.yaml` with `vars` filled in. Each placeholder must be found
/// exactly once: a change to the file that moves one fails here, not as a VM that never
/// joins.
pub fn user_data(vars: &Variables) -> Result<String> {
    let path = crate::workspace().join("deploy/cloud-init/worker.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let mut out = String::with_capacity(text.len());
    let mut replaced = [0u32; 4];
    for line in text.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let trimmed = line.trim_start();
        let new = if trimmed.starts_with("JUDGE_WORKER_URL=") {
            replaced[0] += 1;
            format!("{indent}JUDGE_WORKER_URL={}", vars.worker_url)
        } else if trimmed.starts_with("JUDGE_WORKER_SHA256=") {
            replaced[1] += 1;
            format!("{indent}JUDGE_WORKER_SHA256={}", vars.worker_sha256)
        } else if trimmed.starts_with("JUDGE_SCHEDULER=") {
            replaced[2] += 1;
            format!("{indent}JUDGE_SCHEDULER={}", vars.scheduler)
        } else if trimmed == TOKEN_PLACEHOLDER {
            replaced[3] += 1;
            format!("{indent}{}", vars.token)
        } else {
            line.to_string()
        };
        out.push_str(&new);
        out.push('\n');
    }
    if replaced != [1; 4] {
        bail!(
            "{} no longer has each of its four CHANGE ME values once (url, sha256, scheduler, \
             token found {replaced:?} times)",
            path.display()
        );
    }
    Ok(out)
}

/// Writes the seed disk `image` with `user_data` and a meta-data naming the instance and its
/// host name (which is the worker's name: the unit is `judge-worker@<host name>`).
pub fn write(image: &Path, user_data: &str, host: &str) -> Result<()> {
    let dir = image.parent().context("seed has a parent dir")?;
    let user = dir.join("user-data");
    let meta = dir.join("meta-data");
    std::fs::write(&user, user_data)?;
    std::fs::write(
        &meta,
        format!("instance-id: {host}\nlocal-hostname: {host}\n"),
    )?;
    let _ = std::fs::remove_file(image);
    let status = Command::new("mkfs.vfat")
        .args(["-n", "CIDATA", "-C"])
        .arg(image)
        .arg("1024")
        .stdout(std::process::Stdio::null())
        .status()
        .context("mkfs.vfat (dosfstools)")?;
    if !status.success() {
        bail!("mkfs.vfat failed: {status}");
    }
    let status = Command::new("mcopy")
        .arg("-i")
        .arg(image)
        .arg(&user)
        .arg(&meta)
        .arg("::")
        .status()
        .context("mcopy (mtools)")?;
    if !status.success() {
        bail!("mcopy failed: {status}");
    }
    Ok(())
}
