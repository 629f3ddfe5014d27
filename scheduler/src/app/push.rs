//! Pushing a problem package: its files staged as they arrive, the manifest built from
//! them, the package's own programs built as workers will, then everything stored as the
//! problem's next version. Nothing is kept of an upload that fails.

use std::collections::BTreeMap;

use judge_common::pb;
use judge_common::problem::{build_manifest, is_small_file, valid_path, PackageFile};

use super::{check_ident, io_error, App, AppError};
use crate::store::blobs::{BlobStore, BlobWriter, StagedBlob};

/// A package's messages: a header, then its files' chunks (the gRPC stream, or an archive
/// uploaded over HTTP, translated). An error is the upload breaking off.
pub type PushItems = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::PushProblemRequest, AppError>> + Send>,
>;

fn io_status(e: std::io::Error) -> AppError {
    io_error("storing the file failed", e)
}

/// The largest file read as text to decide the manifest (problem.yaml, group settings...).
const SMALL_FILE_MAX: u64 = 1 << 20;

/// An upload in progress: files staged so far and the one being written. Dropping it (on any
/// error) deletes everything staged.
#[derive(Default)]
struct Upload {
    header: Option<pb::ProblemHeader>,
    staged: BTreeMap<String, StagedBlob>,
    current: Option<(String, BlobWriter)>,
}

impl Upload {
    async fn take(
        &mut self,
        item: pb::push_problem_request::Item,
        blobs: &BlobStore,
    ) -> Result<(), AppError> {
        use pb::push_problem_request::Item;
        match item {
            Item::Header(h) => {
                if self.header.is_some() {
                    return Err(AppError::invalid("a second header in one upload"));
                }
                check_ident("problem id", &h.id)?;
                if let Some(t) = h.time_limit_seconds {
                    judge_common::limits::TIME_LIMIT
                        .check(Some(t))
                        .map_err(|e| AppError::Invalid(format!("time_limit_seconds: {e}")))?;
                }
                self.header = Some(h);
            }
            Item::File(f) => {
                if self.header.is_none() {
                    return Err(AppError::invalid("the first message must be the header"));
                }
                if !valid_path(&f.path) {
                    return Err(AppError::Invalid(format!(
                        "{:?}: bad path (relative, '/'-separated, no '..')",
                        f.path
                    )));
                }
                let writer = match self.current.take() {
                    Some((path, w)) if path == f.path => w,
                    Some((path, _)) => {
                        return Err(AppError::Invalid(format!(
                            "{}: chunks of {path} not finished (set `last` on its final chunk)",
                            f.path
                        )))
                    }
                    None if self.staged.contains_key(&f.path) => {
                        return Err(AppError::Invalid(format!("{}: sent twice", f.path)))
                    }
                    None => blobs.writer().await.map_err(io_status)?,
                };
                let mut writer = writer;
                writer.write(&f.data).await.map_err(io_status)?;
                if f.last {
                    let staged = writer.finish().await.map_err(io_status)?;
                    self.staged.insert(f.path, staged);
                } else {
                    self.current = Some((f.path, writer));
                }
            }
        }
        Ok(())
    }

    /// Checks the finished upload and builds the manifest; stores nothing.
    async fn manifest(
        &self,
    ) -> Result<
        (
            pb::ProblemHeader,
            judge_common::problem::Manifest,
            Vec<PackageFile>,
        ),
        AppError,
    > {
        let header = self
            .header
            .clone()
            .ok_or_else(|| AppError::invalid("empty upload: no header"))?;
        if let Some((path, _)) = &self.current {
            return Err(AppError::Invalid(format!(
                "{path}: upload ended before its last chunk"
            )));
        }
        let mut small = BTreeMap::new();
        for (name, b) in &self.staged {
            if is_small_file(name) {
                if b.size > SMALL_FILE_MAX {
                    return Err(AppError::Invalid(format!(
                        "{name} is {} bytes; at most {SMALL_FILE_MAX} bytes are read",
                        b.size
                    )));
                }
                let text = b
                    .read_to_string()
                    .await
                    .map_err(|e| AppError::Invalid(format!("{name}: not UTF-8 text ({e})")))?;
                small.insert(name.clone(), text);
            }
        }
        let files: Vec<PackageFile> = self
            .staged
            .iter()
            .map(|(path, b)| PackageFile {
                path: path.clone(),
                sha256: b.sha256.clone(),
                size: b.size,
            })
            .collect();
        let manifest = build_manifest(
            &header.id,
            &files,
            |p| small.get(p).cloned(),
            header.time_limit_seconds,
        )
        .map_err(|e| AppError::invalid(e.to_string()))?;
        Ok((header, manifest, files))
    }
}

impl App {
    /// Stores a pushed package: a header, then its files' chunks (the gRPC stream, or an
    /// archive uploaded over HTTP, translated).
    pub async fn push(&self, mut stream: PushItems) -> Result<pb::PushProblemResponse, AppError> {
        use tokio_stream::StreamExt;
        let mut upload = Upload::default();
        let received: Result<(), AppError> = async {
            while let Some(msg) = stream.next().await.transpose()? {
                let item = msg
                    .item
                    .ok_or_else(|| AppError::invalid("empty upload message"))?;
                upload.take(item, &self.blobs).await?;
            }
            Ok(())
        }
        .await;
        let checked = match received {
            Ok(()) => upload.manifest().await,
            Err(e) => Err(e),
        };
        let (header, manifest, files) = checked?;
        let notes = self.build_programs(&manifest, &upload.staged).await?;
        for (_, blob) in std::mem::take(&mut upload.staged) {
            blob.commit(self.driver.now_ms()).await.map_err(io_status)?;
        }
        let version = self
            .store
            .insert_problem(&header.id, &manifest, &files, self.driver.now_ms())
            .await?;
        // Submissions from now on get this version.
        self.catalog.pushed(&header.id, version);
        tracing::info!(problem = %header.id, version, tests = manifest.tests.len(), "problem stored");
        Ok(pb::PushProblemResponse {
            id: header.id,
            version,
            test_count: manifest.tests.len() as u32,
            notes,
        })
    }

    /// Builds the package's own programs as workers will, refusing one that does not
    /// build with the compiler's words; what could not be tried comes back as notes.
    async fn build_programs(
        &self,
        manifest: &judge_common::problem::Manifest,
        staged: &BTreeMap<String, StagedBlob>,
    ) -> Result<Vec<String>, AppError> {
        use super::program_check::{check, BuildLimits, CheckError};
        let limits = BuildLimits {
            time: std::time::Duration::from_millis(u64::from(manifest.validator_time_limit_ms)),
            memory_bytes: manifest.validator_memory_limit_bytes,
        };
        let scratch = self.blobs.root().join("tmp");
        let mut notes = Vec::new();
        for program in &manifest.programs {
            match check(program, staged, &scratch, limits).await {
                Ok(None) => {}
                Ok(Some(note)) => {
                    tracing::warn!(%note, "package program not checked");
                    notes.push(note);
                }
                Err(e @ CheckError::DoesNotBuild { .. }) => {
                    return Err(AppError::invalid(e.to_string()))
                }
                Err(CheckError::Io { what, source }) => {
                    return Err(io_error(&format!("trying to build {what}"), source))
                }
            }
        }
        Ok(notes)
    }
}
