//! `judgectl problem push`: streams a package directory in chunks, so memory stays flat
//! whatever the size of the test data.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use judge_common::pb;
use judge_common::pb::admin_service_client::AdminServiceClient;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::Authed;

const CHUNK: usize = 1 << 20;

/// Every regular file under `root` as (package path, file). Symlinks are followed only while
/// they stay inside the package. `submissions/` is the problem setter's (what `problem
/// verify` judges), not the judge's: it is not sent.
fn list_files(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let canon_root = root
        .canonicalize()
        .with_context(|| format!("reading {}", root.display()))?;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            if name == ".git" || (dir == root && name == "submissions") {
                continue;
            }
            let rel = path.strip_prefix(root).map_err(|e| anyhow!("{e}"))?;
            let rel_str = rel
                .to_str()
                .ok_or_else(|| anyhow!("{}: file name is not UTF-8", path.display()))?
                .replace('\\', "/");
            let target = path
                .canonicalize()
                .with_context(|| format!("{rel_str}: broken symlink"))?;
            if !target.starts_with(&canon_root) {
                bail!("{rel_str}: symlink points outside the package");
            }
            let meta = std::fs::metadata(&target)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                out.push((rel_str, target));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A bar on standard error while the package goes up (files, bytes, rate, time left); drawn
/// only on a terminal, so piped output and scripts see nothing of it.
fn progress_bar(files: &[(String, PathBuf)]) -> indicatif::ProgressBar {
    let total: u64 = files
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "pushing {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// The server stopped reading the upload (it refused it: its status says why).
#[derive(Debug, thiserror::Error)]
#[error("the scheduler stopped reading the upload")]
struct UploadStopped;

pub async fn push(
    client: &mut AdminServiceClient<Authed>,
    dir: &Path,
    id: Option<String>,
    time_limit: Option<f64>,
) -> Result<pb::PushProblemResponse> {
    let id = match id {
        Some(id) => id,
        None => dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .ok_or_else(|| anyhow!("cannot take a problem id from {}; pass --id", dir.display()))?,
    };
    let files = list_files(dir)?;
    let progress = progress_bar(&files);
    let bar = progress.clone();
    let (tx, rx) = mpsc::channel(4);
    let header = pb::PushProblemRequest {
        item: Some(pb::push_problem_request::Item::Header(pb::ProblemHeader {
            id,
            time_limit_seconds: time_limit,
        })),
    };
    let producer = tokio::spawn(async move {
        tx.send(header).await.map_err(|_| UploadStopped)?;
        let count = files.len();
        for (done, (rel, path)) in files.into_iter().enumerate() {
            bar.set_message(format!("file {}/{count}", done + 1));
            let mut f = tokio::fs::File::open(&path)
                .await
                .with_context(|| format!("opening {rel}"))?;
            let mut buf = vec![0u8; CHUNK];
            let mut pending: Option<Vec<u8>> = None;
            loop {
                let n = f
                    .read(&mut buf)
                    .await
                    .with_context(|| format!("reading {rel}"))?;
                // Send the previous chunk once we know whether it was the last.
                if let Some(data) = pending.take() {
                    bar.inc(data.len() as u64);
                    let item = pb::FileData {
                        path: rel.clone(),
                        data: data.into(),
                        last: n == 0,
                    };
                    let msg = pb::PushProblemRequest {
                        item: Some(pb::push_problem_request::Item::File(item)),
                    };
                    tx.send(msg).await.map_err(|_| UploadStopped)?;
                } else if n == 0 {
                    let item = pb::FileData {
                        path: rel.clone(),
                        data: Default::default(),
                        last: true,
                    };
                    let msg = pb::PushProblemRequest {
                        item: Some(pb::push_problem_request::Item::File(item)),
                    };
                    tx.send(msg).await.map_err(|_| UploadStopped)?;
                }
                if n == 0 {
                    break;
                }
                pending = Some(buf[..n].to_vec());
            }
        }
        Ok::<(), anyhow::Error>(())
    });
    let result = client.push_problem(ReceiverStream::new(rx)).await;
    progress.finish_and_clear();
    // A local read error explains a broken upload better than the server's view of it; an
    // upload the server stopped reading is explained by the server's answer.
    match producer.await {
        Ok(Err(e)) if !e.is::<UploadStopped>() => return Err(e),
        Err(e) => return Err(anyhow!("upload task failed: {e}")),
        Ok(_) => {}
    }
    result
        .map(|r| r.into_inner())
        .map_err(|s| anyhow!(crate::status_line(&s)))
}
